# SPDX-License-Identifier: MIT
"""xmuxtest -- start a real xmuxd on loopback and talk XMPP to it over raw
sockets. Used by the system tests (one CTest test per scenario)."""

import base64
import os
import random
import re
import resource
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

NS_STREAM = "http://etherx.jabber.org/streams"
NS_STREAMS_ERR = "urn:ietf:params:xml:ns:xmpp-streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_XML = "http://www.w3.org/XML/1998/namespace"

C2S_HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
              "xmlns:stream='http://etherx.jabber.org/streams' "
              "to='{to}' version='1.0'>")
S2S_HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
              "xmlns:stream='http://etherx.jabber.org/streams' "
              "xmlns:db='jabber:server:dialback' "
              "from='{frm}' to='{to}' version='1.0'>")


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


_handed_out = set()


def free_port(*addrs):
    """A TCP port that every address in addrs (default 127.0.0.1) can bind
    now, chosen below the kernel's ephemeral range (32768-60999): a port
    the kernel hands out for outgoing connections could be taken again
    between this check and xmuxd's bind when tests run in parallel. A port
    is never handed out twice by one test process: two listeners of one
    config would otherwise clash when the draw repeats."""
    addrs = addrs or ("127.0.0.1",)
    for _ in range(200):
        port = random.randint(10000, 32000)
        if port in _handed_out:
            continue
        ok = True
        for addr in addrs:
            s = socket.socket()
            try:
                s.bind((addr, port))
            except OSError:
                ok = False
            finally:
                s.close()
        if ok:
            _handed_out.add(port)
            return port
    raise TestFailure("no free port")


def host_config(h):
    """One hosts[] group: h is a domain, or a dict of its keys (domain,
    cert, key, ...; strings and booleans)."""
    if isinstance(h, str):
        h = {"domain": h}
    items = []
    for k, v in h.items():
        if isinstance(v, bool):
            v = "true" if v else "false"
        else:
            v = '"%s"' % v
        items.append(f"{k} = {v};")
    return "  { " + " ".join(items) + " }"


class Server:
    """An xmuxd process with its own config and state dir. hosts holds
    domains or dicts of hosts[] keys (see host_config); ports may fix
    the port of a listener kind ({"s2s": 5269}), the others are free
    ports picked at random. user is the config's user key; by default
    "root" when the tests run as root (xmuxd started as root refuses a
    file without it), else none. log_level is the config's log_level
    ("debug" unless a long run wants less)."""

    def __init__(self, hosts=("localhost", "montague.example"),
                 negotiation=60, extra="", addr="127.0.0.1", c2s_extra="",
                 timeouts="", close_wait=2, nofile=None,
                 ports=None, user=None, log_level="debug"):
        """close_wait: timeouts.close_wait; nofile: RLIMIT_NOFILE (soft
        and hard) for xmuxd, or None to inherit ours."""
        self.dir = tempfile.mkdtemp(prefix="xmux-sys-")
        self.addr = addr
        self.fixed = ports or {}
        self._pick_ports()
        self.hosts = tuple(h if isinstance(h, str) else h["domain"]
                           for h in hosts)
        self.binary = os.environ.get("XMUXD", "xmuxd")
        self.hosts_cfg = ",\n".join(host_config(h) for h in hosts)
        self.negotiation = negotiation
        self.timeouts = timeouts
        self.close_wait = close_wait
        self.nofile = nofile
        self.extra = extra
        self.log_level = log_level
        if user is None and os.geteuid() == 0:
            user = "root"
        self.user_line = f'user = "{user}";' if user else ""
        self.config = os.path.join(self.dir, "xmux.conf")
        self._write_config()
        self.log_path = os.path.join(self.dir, "xmuxd.log")
        self.proc = None

    @property
    def threads_line(self):
        """XMUX_TEST_THREADS=N runs every server with N network threads
        (CTest runs the system tests once more that way), unless the
        test's own extra config sets threads."""
        n = os.environ.get("XMUX_TEST_THREADS")
        if not n or "threads" in (self.extra or ""):
            return ""
        return f"threads = {int(n)};"

    def _pick_ports(self):
        ports, addr = self.fixed, self.addr
        self.c2s_port = ports.get("c2s") or free_port(addr)
        self.c2s_tls_port = ports.get("c2s-tls") or free_port(addr)
        self.s2s_port = ports.get("s2s") or free_port(addr)
        self.s2s_tls_port = ports.get("s2s-tls") or free_port(addr)

    def _write_config(self):
        addr = self.addr
        with open(self.config, "w") as f:
            f.write(f"""state_dir = "{self.dir}/state";
log_level = "{self.log_level}";
listen = ( {{ kind = "c2s"; address = "{addr}"; port = {self.c2s_port}; }},
           {{ kind = "c2s-tls"; address = "{addr}"; port = {self.c2s_tls_port}; }},
           {{ kind = "s2s"; address = "{addr}"; port = {self.s2s_port}; }},
           {{ kind = "s2s-tls"; address = "{addr}"; port = {self.s2s_tls_port}; }} );
hosts = (
{self.hosts_cfg}
);
timeouts = {{ negotiation = {self.negotiation}; close_wait = {self.close_wait}; {self.timeouts} }};
{self.user_line}
{self.threads_line}
{self.extra}
""")

    def add_user(self, jid, password):
        """Create an account with xmuxctl (env XMUXCTL)."""
        ctl = os.environ.get("XMUXCTL", "xmuxctl")
        out = subprocess.run([ctl, "--config", self.config, "user", "add",
                              jid], input=password + "\n", text=True,
                             capture_output=True, timeout=30)
        check(out.returncode == 0, "xmuxctl user add %s: %s" %
              (jid, out.stdout + out.stderr))
        return self

    def cert_path(self, host):
        return os.path.join(self.dir, "state", "certs", host + ".crt")

    def start(self, tries=3):
        """Start xmuxd and wait until it listens. A port another test took
        between our check and xmuxd's bind (parallel runs) means new ports
        and another try, unless the ports were fixed."""
        self.log = open(self.log_path, "w")
        nofile = self.nofile
        limit = (None if nofile is None else
                 lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                            (nofile, nofile)))
        self.proc = subprocess.Popen([self.binary, "--config", self.config],
                                     stdout=self.log, stderr=self.log,
                                     preexec_fn=limit)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                text = self.logtext()
                if (tries > 1 and "event=listen-failed" in text and
                        "EADDRINUSE" in text and len(self.fixed) < 4):
                    self.log.close()
                    self._pick_ports()
                    self._write_config()
                    return self.start(tries - 1)
                raise TestFailure("xmuxd exited early:\n" + text)
            try:
                socket.create_connection((self.addr, self.s2s_port), 0.2).close()
                socket.create_connection((self.addr, self.c2s_port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise TestFailure("xmuxd did not listen:\n" + self.logtext())

    def logtext(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, expect_code=0):
        """SIGTERM, wait, and require a clean exit (sanitizers report leaks
        and errors through the exit code)."""
        if self.proc is None or self.proc.poll() is not None:
            code = self.proc.returncode if self.proc else 0
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise TestFailure("xmuxd did not stop on SIGTERM")
        self.log.close()
        text = self.logtext()
        check("AddressSanitizer" not in text and "runtime error" not in text,
              "sanitizer report:\n" + text)
        check(code == expect_code,
              f"xmuxd exit code {code}, expected {expect_code}:\n" + text)
        return text

    def client(self, kind="c2s"):
        port = {"c2s": self.c2s_port, "c2s-tls": self.c2s_tls_port,
                "s2s": self.s2s_port, "s2s-tls": self.s2s_tls_port}[kind]
        return Client(self.addr, port)


class Client:
    """A raw XMPP endpoint: sends bytes, parses what comes back."""

    def __init__(self, addr, port, timeout=5.0):
        self.sock = socket.create_connection((addr, port), timeout)
        self.timeout = timeout
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.header = None        # root element (attributes only)
        self.elements = []        # complete first-level elements, in order
        self.closed_tag = False   # peer sent </stream:stream>
        self.eof = False
        self.raw = b""
        self.taken = 0

    def restart(self):
        """Forget the parsed stream: a new header is coming (after
        STARTTLS or SASL success)."""
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.header = None
        self.elements = []
        self.taken = 0
        self.closed_tag = False
        self.raw = b""

    def starttls(self, server_hostname=None, alpn=None):
        """Send <starttls/>, expect <proceed/>, and wrap the socket."""
        self.send(f"<starttls xmlns='{NS_TLS}'/>")
        el = self.next_element()
        check(el.tag == f"{{{NS_TLS}}}proceed", f"expected proceed, got {el.tag}")
        self.wrap_tls(server_hostname, alpn)

    def wrap_tls(self, server_hostname=None, alpn=None, cert=None, key=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if alpn:
            ctx.set_alpn_protocols(alpn)
        if cert:
            ctx.load_cert_chain(cert, key)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        self.restart()

    def open_stream(self, to, kind="c2s", frm=None):
        """Send a header and return (header, features)."""
        if kind == "c2s":
            hdr = C2S_HEADER.format(to=to)
            if frm:
                hdr = hdr.replace(" to=", f" from='{frm}' to=")
        else:
            hdr = S2S_HEADER.format(frm=frm, to=to)
        self.send(hdr)
        h = self.wait_header()
        return h, self.next_element()

    def auth_plain(self, user, password, authzid=""):
        payload = base64.b64encode(
            f"{authzid}\0{user}\0{password}".encode()).decode()
        self.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{payload}</auth>")
        return self.next_element()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _pump(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.time()))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return True
        self.raw += data
        self.parser.feed(data)
        for ev, el in self.parser.read_events():
            if ev == "start":
                if self.depth == 0:
                    self.header = el
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.elements.append(el)
                elif self.depth == 0:
                    self.closed_tag = True
        return True

    def wait(self, pred, what, timeout=None):
        deadline = time.time() + (timeout or self.timeout)
        while not pred():
            if self.eof or time.time() > deadline:
                if pred():
                    break
                raise TestFailure(f"timed out waiting for {what}; got "
                                  f"{self.raw[-2000:]!r}")
            self._pump(deadline)

    def wait_header(self):
        self.wait(lambda: self.header is not None, "stream header")
        return self.header

    def next_element(self, timeout=None):
        """The next first-level element not yet returned."""
        n = self.taken
        self.wait(lambda: len(self.elements) > n, "an element", timeout)
        self.taken += 1
        return self.elements[n]

    def wait_eof(self, timeout=None):
        self.wait(lambda: self.eof, "TCP close", timeout)

    def expect_stream_error(self, cond, timeout=None):
        """CORE-20: a stream error is followed by </stream:stream> and TCP
        close."""
        el = self.next_element(timeout)
        check(el.tag == f"{{{NS_STREAM}}}error",
              f"expected stream error {cond}, got {ET.tostring(el)!r}")
        conds = [c.tag for c in el if c.tag != f"{{{NS_STREAMS_ERR}}}text"]
        check(conds == [f"{{{NS_STREAMS_ERR}}}{cond}"],
              f"expected condition {cond}, got {conds}")
        self.wait(lambda: self.closed_tag, "</stream:stream> after error")
        self.wait_eof()
        check(b"</stream:stream>" in self.raw, "closing tag missing")
        check(self.raw.rstrip().endswith(b"</stream:stream>"),
              "bytes after the closing tag: %r" % self.raw[-200:])
        return el

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def header_checks(h, served_from, to=None):
    """CORE-01: from (or none), fresh id >= 128 bits, version, xml:lang."""
    check(h.tag == f"{{{NS_STREAM}}}stream", "root is not stream:stream")
    if served_from is None:
        check("from" not in h.attrib, "header claims a domain: %r" % h.attrib)
    else:
        check(h.get("from") == served_from, "header from=%r" % h.get("from"))
    sid = h.get("id") or ""
    check(re.fullmatch(r"[0-9a-f]{32,}", sid) is not None,
          "stream id %r is not >= 128 random bits in hex" % sid)
    check(h.get(f"{{{NS_XML}}}lang") is not None, "xml:lang missing")
    if to is not None:
        check(h.get("to") == to, "header to=%r, expected %r" % (h.get("to"), to))


def server_test(make, fn, **kw):
    """A test: fn runs on the server make(**kw) returns (started), which
    is stopped afterwards; on failure the tail of its log is printed."""
    def wrapped():
        srv = make(**kw)
        try:
            fn(srv)
        except Exception:
            print(srv.logtext()[-4000:])
            raise
        finally:
            srv.stop()
    return wrapped


def run(tests):
    """Run the test named by argv[1] (or all), print a summary, exit."""
    names = sys.argv[1:] or list(tests)
    failed = 0
    for name in names:
        try:
            tests[name]()
            print(f"ok   {name}")
        except TestFailure as e:
            failed += 1
            print(f"FAIL {name}: {e}")
    print(f"{len(names) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
