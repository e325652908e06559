# SPDX-License-Identifier: MIT
"""peers -- real XMPP peers for federation interop tests: a test CA, a
fresh loopback block per test, a dnsmasq answering for *.example, Prosody
instances with their own configuration, a count of the s2s TCP connections
between two servers, and a slixmpp client that logs in by address.

Every process started here is stopped by its owner's stop(); tests call
it in a finally block. Every wait has a timeout."""

import asyncio
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time

import slixmpp

from xmuxtest import TestFailure, check

PROSODY = "/usr/bin/prosody"
PROSODYCTL = "/usr/bin/prosodyctl"
DNSMASQ = "/usr/sbin/dnsmasq"
TIMEOUT = 15  # seconds, for one login, stanza or answer


def sh(*args, cwd=None):
    """Run a command (a list), fail with its output if it fails."""
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                         timeout=60)
    check(out.returncode == 0, "%s: %s" % (" ".join(args),
                                           out.stdout + out.stderr))
    return out.stdout


# --- Certificates ---------------------------------------------------------

class TestCA:
    """A certificate authority (EC P-256) in dir, made with the openssl
    CLI. Server certificates carry every domain as dNSName and, unless
    srv_id is false, the SRV-ID otherName _xmpp-server.<domain>; never
    id-on-xmppAddr (ejabberd 23.01 crashes on it)."""

    def __init__(self, dir, name="Test CA"):
        self.dir = dir
        os.makedirs(dir, exist_ok=True)
        self.cert = os.path.join(dir, "ca.crt")
        self.key = os.path.join(dir, "ca.key")
        self._stranger = None
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
           "ec_paramgen_curve:P-256", "-nodes", "-keyout", self.key,
           "-out", self.cert, "-subj", f"/CN={name}", "-days", "2",
           "-addext", "basicConstraints=critical,CA:TRUE",
           "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, name, domains, srv_id=True):
        """A server certificate for domains: (cert path, key path)."""
        sans = [f"DNS:{d}" for d in domains]
        if srv_id:
            sans += [f"otherName:1.3.6.1.5.5.7.8.7;IA5STRING:_xmpp-server.{d}"
                     for d in domains]
        return self.issue_sans(name, sans, cn=domains[0])

    def issue_sans(self, name, sans, cn="test", eku="serverAuth,clientAuth"):
        """A certificate with exactly these subjectAltName entries (openssl
        syntax, e.g. "DNS:*.example.org"; none at all for []) and EKU:
        (cert path, key path)."""
        base = os.path.join(self.dir, name)
        with open(base + ".cnf", "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    f"extendedKeyUsage={eku}\n"
                    "subjectKeyIdentifier=hash\n"
                    "authorityKeyIdentifier=keyid\n" +
                    (f"subjectAltName={','.join(sans)}\n" if sans else ""))
        sh("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
           "ec_paramgen_curve:P-256", "-nodes", "-keyout", base + ".key",
           "-out", base + ".csr", "-subj", f"/CN={cn}")
        sh("openssl", "x509", "-req", "-in", base + ".csr", "-CA", self.cert,
           "-CAkey", self.key, "-set_serial", str(random.getrandbits(63)),
           "-days", "2", "-sha256", "-extfile", base + ".cnf",
           "-out", base + ".crt")
        return base + ".crt", base + ".key"

    def stranger(self, name, domains, srv_id=True):
        """A certificate like issue() but from a second CA that nobody
        trusts (its own certificate is in self.stranger_ca.cert): a peer
        presenting it cannot use SASL EXTERNAL, so dialback is needed."""
        if self._stranger is None:
            self._stranger = TestCA(os.path.join(self.dir, "stranger"),
                                    "Unrelated CA")
        return self._stranger.issue(name, domains, srv_id)

    @property
    def stranger_ca(self):
        return self._stranger


# --- Addresses ------------------------------------------------------------

def bindable(addr, port, udp=False):
    """True if addr:port can be bound now (TCP, or UDP too)."""
    kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if udp else [])
    for kind in kinds:
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


class Net:
    """A fresh loopback block 127.X.Y.0/24 (X, Y random in 16..250) for
    one test, so that tests can run in parallel (ctest -j): .1 is the DNS
    server, server(n) is 127.X.Y.(n+1). Every address must be able to bind
    the given ports (53 TCP and UDP on the DNS address) when chosen."""

    def __init__(self, servers=2, ports=(5222, 5223, 5269)):
        for _ in range(100):
            x, y = random.randint(16, 250), random.randint(16, 250)
            self.prefix = f"127.{x}.{y}."
            if not bindable(self.dns, 53, udp=True):
                continue
            if all(bindable(self.server(n), p)
                   for n in range(1, servers + 1) for p in ports):
                return
        raise TestFailure("no free loopback block found")

    @property
    def dns(self):
        return self.prefix + "1"

    def server(self, n):
        """The address of server n (1..8)."""
        check(1 <= n <= 8, f"server {n} out of range")
        return self.prefix + str(n + 1)


# --- DNS ------------------------------------------------------------------

class Dns:
    """dnsmasq on addr:53, authoritative for *.example only (nothing is
    forwarded), with A records (host()) and _xmpp-server._tcp SRV records
    (server()). It listens on port 53 because Prosody's libunbound takes
    its servers from a resolv.conf, which has no port; a client that can
    be told a port (xmux-client --resolver) may use another one."""

    def __init__(self, dir, addr, port=53):
        self.dir = dir
        self.addr = addr
        self.port = port
        self.args = []
        self.proc = None
        self.log_path = os.path.join(dir, "dnsmasq.log")
        self.out_path = os.path.join(dir, "dnsmasq.out")
        os.makedirs(dir, exist_ok=True)

    def host(self, name, addr):
        self.args.append(f"--host-record={name},{addr}")
        return self

    def srv(self, domain, target, port=5269, service="_xmpp-server._tcp",
            priority=0, weight=0):
        self.args.append(f"--srv-host={service}.{domain},{target},{port},"
                         f"{priority},{weight}")
        return self

    def server(self, domains, target, addr, port=5269):
        """A server at addr:port named target, serving domains through
        SRV records."""
        self.host(target, addr)
        for d in domains:
            self.srv(d, target, port)
        return self

    def start(self):
        check(os.path.exists(DNSMASQ), f"{DNSMASQ} missing")
        check(bindable(self.addr, self.port, udp=True),
              f"{self.addr}:{self.port} is taken")
        self.out = open(self.out_path, "w")
        self.proc = subprocess.Popen(
            [DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null",
             "--pid-file=", "--user=root", "--group=root", "--no-resolv",
             "--no-hosts", "--local=/example/", f"--port={self.port}",
             f"--listen-address={self.addr}", "--bind-interfaces",
             "--log-queries", f"--log-facility={self.log_path}"]
            + self.args, stdout=self.out, stderr=self.out)
        _wait_listening(self.proc, [(self.addr, self.port)], "dnsmasq",
                        self.logtext)
        return self

    def logtext(self):
        return _read(self.out_path) + _read(self.log_path)

    def stop(self):
        try:
            _terminate(self.proc, "dnsmasq")
        finally:
            if self.proc is not None:
                self.out.close()


# --- Processes ------------------------------------------------------------

def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _terminate(proc, what, timeout=15):
    """SIGTERM, wait, then SIGKILL: never leave a child behind."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        raise TestFailure(f"{what} did not stop on SIGTERM")
    except BaseException:
        proc.kill()  # interrupted while waiting: do not leave it behind
        proc.wait(5)
        raise


def _wait_listening(proc, endpoints, what, logtext, timeout=15):
    """Wait until proc accepts TCP connections on every (addr, port);
    if it does not, kill it and fail with the end of its log."""
    deadline = time.time() + timeout
    pending = list(endpoints)
    while pending and time.time() < deadline:
        if proc.poll() is not None:
            raise TestFailure(f"{what} exited early:\n" + logtext()[-5000:])
        try:
            socket.create_connection(pending[0], 0.2).close()
            pending.pop(0)
        except OSError:
            time.sleep(0.05)
    if pending:
        proc.kill()
        proc.wait(5)
        raise TestFailure(f"{what} did not listen on {pending}:\n" +
                          logtext()[-5000:])


def kill_on_failure(proc):
    """Kill proc (a Popen or None) if it still runs: for start() methods
    that fail after starting their process."""
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait(5)


def lua_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Prosody:
    """A Prosody 0.12 in the foreground with its own configuration, data
    dir and debug log, on addr (c2s_port/s2s_port), serving hosts, TLS
    required on c2s and s2s, plain-text password storage (so prosodyctl
    register works), its resolver pointed at dns_addr:53.

    bidi loads mod_s2s_bidi (XEP-0288), dialback mod_dialback (XEP-0220);
    secure_auth sets s2s_secure_auth (certificates must validate)."""

    def __init__(self, dir, addr, hosts, cert, key, cafile, dns_addr,
                 bidi=True, dialback=True, secure_auth=False,
                 c2s_port=5222, s2s_port=5269, extra=""):
        self.dir = dir
        self.addr = addr
        self.hosts = tuple(hosts)
        self.cafile = cafile
        self.c2s_port = c2s_port
        self.s2s_port = s2s_port
        os.makedirs(os.path.join(dir, "data"), exist_ok=True)
        self.config = os.path.join(dir, "prosody.cfg.lua")
        self.log_path = os.path.join(dir, "prosody.log")
        self.out_path = os.path.join(dir, "prosody.out")
        resolv = os.path.join(dir, "resolv.conf")
        with open(resolv, "w") as f:
            f.write(f"nameserver {dns_addr}\n")
        hoststxt = os.path.join(dir, "hosts")
        open(hoststxt, "w").close()
        modules = ["roster", "saslauth", "tls", "disco", "ping", "version"]
        if dialback:
            modules.append("dialback")
        if bidi:
            modules.append("s2s_bidi")
        vhosts = "".join(f"VirtualHost {lua_str(h)}\n" for h in self.hosts)
        with open(self.config, "w") as f:
            f.write(f"""-- Generated for one interop test.
run_as_root = true
daemonize = false
pidfile = {lua_str(os.path.join(dir, "prosody.pid"))}
data_path = {lua_str(os.path.join(dir, "data"))}
interfaces = {{ {lua_str(addr)} }}
c2s_ports = {{ {c2s_port} }}
s2s_ports = {{ {s2s_port} }}
c2s_direct_tls_ports = {{ }}
s2s_direct_tls_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = {str(secure_auth).lower()}
authentication = "internal_plain"
storage = "internal"
modules_enabled = {{ {", ".join(lua_str(m) for m in modules)} }}
ssl = {{ certificate = {lua_str(cert)}; key = {lua_str(key)};
        cafile = {lua_str(cafile)}; }}
unbound = {{ resolvconf = {lua_str(resolv)}; hoststxt = {lua_str(hoststxt)} }}
log = {{ {{ levels = {{ min = "debug" }}; to = "file";
          filename = {lua_str(self.log_path)} }} }}
{extra}
{vhosts}""")
        self.proc = None

    def register(self, user, host, password):
        """Create user@host with prosodyctl (the server need not run)."""
        out = subprocess.run([PROSODYCTL, "--config", self.config,
                              "register", user, host, password],
                             capture_output=True, text=True, timeout=30)
        check(out.returncode == 0, "prosodyctl register %s@%s: %s" %
              (user, host, out.stdout + out.stderr))
        return self

    def start(self):
        check(os.path.exists(PROSODY), f"{PROSODY} missing")
        self.out = open(self.out_path, "w")
        self.proc = subprocess.Popen([PROSODY, "--config", self.config, "-F"],
                                     stdout=self.out, stderr=self.out,
                                     cwd=self.dir)
        _wait_listening(self.proc, [(self.addr, self.c2s_port),
                                    (self.addr, self.s2s_port)],
                        "prosody", self.logtext)
        return self

    def logtext(self):
        return _read(self.out_path) + _read(self.log_path)

    def stop(self):
        """SIGTERM (Prosody closes its streams, up to ~6 s), then kill."""
        try:
            _terminate(self.proc, "prosody", timeout=20)
        finally:
            if self.proc is not None:
                self.out.close()
        return self.logtext()


# --- Connections ----------------------------------------------------------

_ENDPOINT = re.compile(r"^(?:\[?([0-9a-fA-F:.]+?)\]?):(\d+)$")


def _endpoints(line):
    eps = []
    for field in line.split():
        m = _ENDPOINT.match(field)
        if m:
            eps.append((m.group(1), int(m.group(2))))
    return eps


def conns(addr_a, addr_b, port=5269):
    """The established TCP connections that end at addr_a:port or
    addr_b:port (the s2s listeners of two servers), each listed once as
    (initiator "ip:port", listener "ip:port"). A connection to a 127/8
    address from an unbound socket comes from 127.0.0.1, whichever
    server made it: the listener end tells the direction."""
    out = subprocess.run(["ss", "-Htn", "state", "established"],
                         capture_output=True, text=True, timeout=10).stdout
    listeners = {(addr_a, port), (addr_b, port)}
    seen = set()
    for line in out.splitlines():
        eps = _endpoints(line)
        if len(eps) < 2:
            continue
        local, peer = eps[-2], eps[-1]
        if peer in listeners and local not in listeners:
            seen.add((local, peer))
        elif local in listeners and peer not in listeners:
            seen.add((peer, local))
    return sorted(("%s:%d" % i, "%s:%d" % l) for i, l in seen)


def count_conns(addr_a, addr_b, port=5269):
    """Number of distinct established s2s connections between the
    servers on addr_a and addr_b (either direction)."""
    return len(conns(addr_a, addr_b, port))


def settled_conns(addr_a, addr_b, port=5269, quiet=1.0, timeout=10):
    """conns() once it has not changed for `quiet` seconds (streams being
    closed or opened have finished), or after `timeout`."""
    deadline = time.time() + timeout
    last, since = conns(addr_a, addr_b, port), time.time()
    while time.time() < deadline and time.time() - since < quiet:
        time.sleep(0.1)
        now = conns(addr_a, addr_b, port)
        if now != last:
            last, since = now, time.time()
    return last


def describe_conns(cs, names):
    """'to A: 2, to B: 4' from conns() output; names maps a listener
    address to a server name."""
    per = {}
    for _, listener in cs:
        addr = listener.rsplit(":", 1)[0]
        name = names.get(addr, addr)
        per[name] = per.get(name, 0) + 1
    return ", ".join(f"to {n}: {c}" for n, c in sorted(per.items()))


# --- Clients --------------------------------------------------------------

class User(slixmpp.ClientXMPP):
    """A slixmpp client that connects by address (names resolve only in
    our dnsmasq), does STARTTLS trusting cafile (or verifying nothing when
    cafile is None), answers pings, and queues the messages it gets."""

    def __init__(self, jid, password, cafile=None, mechanism=None):
        super().__init__(jid, password)
        if cafile:
            self.ssl_context = ssl.create_default_context(cafile=cafile)
        else:
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE
        if mechanism:
            self["feature_mechanisms"].use_mechanisms = [mechanism]
        for plugin in ("xep_0030", "xep_0092", "xep_0199"):
            self.register_plugin(plugin)
        self.messages = asyncio.Queue()
        self.started = asyncio.Event()
        self.failed = asyncio.Event()
        self.add_event_handler("session_start",
                               lambda _: self.started.set())
        self.add_event_handler("failed_all_auth",
                               lambda _: self.failed.set())
        self.add_event_handler("message", self._on_message)

    def abort_quietly(self):
        try:
            self.abort()
        except Exception:
            pass  # slixmpp 1.8.3 trips over a transport already closed

    def _on_message(self, msg):
        if msg["type"] in ("chat", "normal", "error"):
            self.messages.put_nowait(msg)

    async def expect_message(self, body, frm=None, timeout=TIMEOUT):
        """The next message; it must carry body (and come from the bare
        JID frm, if given)."""
        try:
            m = await asyncio.wait_for(self.messages.get(), timeout)
        except asyncio.TimeoutError:
            raise TestFailure(f"{self.boundjid}: no message {body!r} "
                              f"within {timeout} s")
        check(m["type"] != "error",
              f"{self.boundjid}: error instead of {body!r}: {m}")
        check(m["body"] == body, f"{self.boundjid}: got {m['body']!r}, "
              f"expected {body!r}")
        if frm is not None:
            check(m["from"].bare == frm,
                  f"{self.boundjid}: {body!r} from {m['from']}, not {frm}")
        return m

    async def ping(self, jid, timeout=TIMEOUT):
        """XEP-0199 ping; fails on an error or no answer."""
        try:
            await self["xep_0199"].ping(jid=jid, timeout=timeout)
        except (slixmpp.exceptions.IqError,
                slixmpp.exceptions.IqTimeout) as e:
            raise TestFailure(f"{self.boundjid}: ping {jid}: {e!r}")

    async def version(self, jid, timeout=TIMEOUT):
        """XEP-0092 software version of jid: the name."""
        try:
            v = await self["xep_0092"].get_version(jid, timeout=timeout)
        except (slixmpp.exceptions.IqError,
                slixmpp.exceptions.IqTimeout) as e:
            raise TestFailure(f"{self.boundjid}: version {jid}: {e!r}")
        return v["software_version"]["name"]

    async def disco_features(self, jid, timeout=TIMEOUT):
        """XEP-0030 disco#info of jid: its features."""
        try:
            info = await self["xep_0030"].get_info(jid=jid, timeout=timeout)
        except (slixmpp.exceptions.IqError,
                slixmpp.exceptions.IqTimeout) as e:
            raise TestFailure(f"{self.boundjid}: disco#info {jid}: {e!r}")
        return info["disco_info"]["features"]


async def login(jid, password, addr, port=5222, cafile=None,
                mechanism=None, timeout=TIMEOUT):
    """A logged-in, available User on the server at addr:port."""
    u = User(jid, password, cafile, mechanism)
    u.connect((addr, port))
    waits = [asyncio.ensure_future(u.started.wait()),
             asyncio.ensure_future(u.failed.wait())]
    await asyncio.wait(waits, timeout=timeout,
                       return_when=asyncio.FIRST_COMPLETED)
    for w in waits:
        w.cancel()
    if not u.started.is_set():
        u.abort_quietly()
        check(False, f"{jid} did not log in at {addr}:{port} "
              f"({'auth failed' if u.failed.is_set() else 'timeout'})")
    u.send_presence()
    return u


async def logout(*users):
    """Disconnect, bounded: whatever does not close in time is aborted."""
    for u in users:
        try:
            u.disconnect(wait=1.0)
        except Exception:
            pass
    await asyncio.sleep(0.3)
    for u in users:
        u.abort_quietly()


def run_async(coro, timeout):
    """asyncio.run(coro) bounded by timeout; a timeout is a TestFailure."""
    async def bounded():
        try:
            return await asyncio.wait_for(coro, timeout)
        except asyncio.TimeoutError:
            raise TestFailure(f"timed out after {timeout} s")
    return asyncio.run(bounded())


def remove_dir(path):
    shutil.rmtree(path, ignore_errors=True)
