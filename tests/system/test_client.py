# SPDX-License-Identifier: MIT
"""System tests: xmux-client, the project's own c2s client (docs/client.md),
against a real xmuxd: STARTTLS and Direct TLS (XEP-0368), SCRAM with and
without channel binding, SRV lookups against a dnsmasq on loopback, c2s
connection authorization as the client with a password or EXTERNAL on the
secondary stream (MUX.md §10.6, CONFORMANCE.md MUX-90), stream management
as the client (XEP-0198: acknowledgements, resumption after a break)."""

import base64
import os
import queue
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

from xmuxtest import Server, check, free_port, run, server_test
from peers import Dns, TestCA, bindable, conns
from test_c2s import login

C, M = "capulet.example", "montague.example"
PW = "pw"
NS_MUX = "urn:xmpp:mux:0"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"


XMPP = "otherName:1.3.6.1.5.5.7.8.5;UTF8:"


def server(extra=""):
    srv = Server(hosts=(C, M), extra=extra)
    for j in ("juliet@" + C, "juliet@" + M, "romeo@" + M):
        srv.add_user(j, PW)
    return srv.start()


def ca_file(srv):
    """Both hosts' self-signed certificates, as trust anchors."""
    path = os.path.join(srv.dir, "trust.pem")
    with open(path, "w") as out:
        for h in (C, M):
            with open(srv.cert_path(h)) as f:
                out.write(f.read())
    return path


def client_binary():
    binary = os.environ.get("XMUX_CLIENT", "xmux-client")
    if shutil.which(binary) is None and not os.path.exists(binary):
        raise SystemExit(77)
    return binary


class Tool:
    """xmux-client in the background; its stdout lines arrive in a
    queue."""

    def __init__(self, srv, *args, where=None, ca=None):
        """where: how to reach srv (default --host and its STARTTLS
        port); ca: the trust anchors (default both hosts' certificates)."""
        if where is None:
            where = ["--host", srv.addr, "--port", str(srv.c2s_port)]
        self.proc = subprocess.Popen(
            [client_binary(), *where, "--ca", ca or ca_file(srv),
             "--timeout", "5", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix, timeout=10):
        """The first line starting with prefix (earlier lines are kept in
        seen)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01,
                                                  deadline - time.time()))
            except queue.Empty:
                break
            if line is None:
                break
            self.seen.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"xmux-client: no {prefix!r} line; saw "
                             f"{self.seen}; stderr: {self.stderr()}")

    def stderr(self):
        if self.proc.poll() is None:
            return "(running)"
        return self.proc.stderr.read()

    def finish(self, timeout=20):
        code = self.proc.wait(timeout)
        err = self.proc.stderr.read()
        check("AddressSanitizer" not in err and "runtime error" not in err,
              "sanitizer report:\n" + err)
        return code, err


def with_server(fn, **kw):
    return server_test(server, fn, **kw)


def got_message(c, body, timeout=5):
    el = c.next_element(timeout)
    while el.tag == "{jabber:client}presence":
        el = c.next_element(timeout)
    check(el.findtext("{jabber:client}body") == body,
          f"expected {body!r}: {ET.tostring(el)!r}")
    return el


def m90_join_and_talk(srv):
    """xmux-client logs juliet@capulet.example in with a password and joins
    juliet@montague.example by connection authorization: one TCP
    connection remains, and both accounts send and receive over it
    (MUX-90, with MUX-82..84 seen from the client)."""
    r, rj, _ = login(srv, "romeo@" + M, PW, "orchard")
    t = Tool(srv, "--jid", "juliet@" + C, "--password", PW,
             "--resource", "balcony", "--also", "juliet@" + M,
             "--also-password", PW, "--send", rj, "hello from montague",
             "--from", f"juliet@{M}/balcony", "--listen", "4")
    check(t.expect("bound=") == f"bound=juliet@{C}/balcony", "bound")
    check(t.expect("mux-hosts=") == f"mux-hosts={C}",
          "MUX-82: S lists capulet.example")
    check(t.expect("joined=") == f"joined=juliet@{M}/balcony", "joined")
    t.expect("connections=1")
    t.expect("ready")
    ours = [c for c in conns(srv.addr, srv.addr, srv.c2s_port)]
    check(len(ours) == 2, f"romeo and one xmux-client connection: {ours}")
    el = got_message(r, "hello from montague")
    check(el.get("from") == f"juliet@{M}/balcony", f"from: {el.attrib}")
    r.send(f"<message to='juliet@{M}/balcony' type='chat'>"
           "<body>back to montague</body></message>")
    line = t.expect("from=")
    check(line == f"from={rj} to=juliet@{M}/balcony body=back to montague",
          f"printed: {line!r}")
    code, err = t.finish()
    check(code == 0, f"exit {code}: {err}")


def secondary(srv):
    """A raw S: juliet@montague.example logged in, no resource bound."""
    c = srv.client("c2s")
    c.open_stream(M)
    c.starttls(server_hostname=M)
    c.open_stream(M)
    r = c.auth_plain("juliet", PW)
    check(r.tag == f"{{{NS_SASL}}}success", "S auth")
    c.restart()
    c.open_stream(M)
    return c


def m90_foreign_secret(srv):
    """An F5 IQ carrying a secret xmux-client never sent is answered with
    not-acceptable: nothing is merged and S can still bind (MUX-90)."""
    t = Tool(srv, "--jid", "juliet@" + C, "--password", PW,
             "--resource", "balcony", "--listen", "3")
    t.expect("ready")
    s = secondary(srv)
    s.send(f"<mux xmlns='{NS_MUX}' host='juliet@{C}/balcony'>"
           "not-a-secret-of-the-client</mux>")
    check(t.expect("authz=") == f"authz=refused from={C}", "refused")
    time.sleep(0.3)
    s.send(f"<iq type='set' id='b1'><bind xmlns='{NS_BIND}'/></iq>")
    el = s.next_element()
    check(el.get("type") == "result", f"S binds: {ET.tostring(el)!r}")
    code, err = t.finish()
    check(code == 0, f"exit {code}: {err}")


def m30_external_mux():
    """With a certificate naming juliet@capulet.example and
    juliet@montague.example, --mux sends <mux/> before EXTERNAL with the
    primary authzid; the client then speaks for the second JID on the same
    stream (MUX-30..32 from the client's side)."""
    d = tempfile.mkdtemp(prefix="xmux-client-ca-")
    ca = TestCA(d)
    ca.issue_sans("two", [XMPP + "juliet@" + C, XMPP + "juliet@" + M],
                  eku="clientAuth")
    srv = server(f'tls = {{ ca_file = "{d}/ca.crt"; }};\n')
    try:
        r, rj, _ = login(srv, "romeo@" + M, PW, "orchard")
        t = Tool(srv, "--jid", "juliet@" + C, "--cert", f"{d}/two.crt",
                 "--key", f"{d}/two.key", "--mux", "--resource", "balcony",
                 "--send", rj, "via cert", "--from", f"juliet@{M}/balcony",
                 "--listen", "1")
        check(t.expect("auth=") ==
              f"auth=external jid=juliet@{C} mux=yes", "EXTERNAL with mux")
        check(t.expect("mux-hosts=") == f"mux-hosts={M}", "F2")
        t.expect("ready")
        el = got_message(r, "via cert")
        check(el.get("from") == f"juliet@{M}/balcony", f"from: {el.attrib}")
        code, err = t.finish()
        check(code == 0, f"exit {code}: {err}")
    except Exception:
        print(srv.logtext()[-4000:])
        raise
    finally:
        srv.stop()


def bad_password(srv):
    """A refused login exits non-zero with a clear message."""
    t = Tool(srv, "--jid", "juliet@" + C, "--password", "wrong")
    code, err = t.finish()
    check(code == 1 and "xmux-client: error:" in err and
          "SCRAM-SHA-256-PLUS refused: <not-authorized/>" in err,
          f"exit {code}: {err!r}")


def untrusted(srv):
    """A server certificate outside --ca is refused."""
    d = tempfile.mkdtemp(prefix="xmux-client-")
    other = os.path.join(d, "other.pem")
    with open(srv.cert_path(M)) as f, open(other, "w") as out:
        out.write(f.read())
    binary = os.environ.get("XMUX_CLIENT", "xmux-client")
    p = subprocess.run([binary, "--host", srv.addr, "--port",
                        str(srv.c2s_port), "--ca", other, "--timeout", "5",
                        "--jid", "juliet@" + C, "--password", PW],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode != 0 and "not trusted" in p.stderr,
          f"exit {p.returncode}: {p.stderr!r}")


def authenticated(srv, jid):
    """The mechanisms the server logged for jid's logins, in order."""
    return re.findall(r"event=authenticated mech=(\S+) jid=" + re.escape(jid)
                      + r"\b", srv.logtext())


# --- Direct TLS (XEP-0368) --------------------------------------------------

def core23_direct_tls(srv):
    """--direct-tls: TLS from the first byte on the c2s-tls listener, ALPN
    xmpp-client and SNI = the domain; the first features are post-TLS and
    the login works (CORE-23 from the client's side)."""
    t = Tool(srv, "--direct-tls", "--jid", "juliet@" + C, "--password", PW,
             "--resource", "balcony",
             where=["--host", srv.addr, "--port", str(srv.c2s_tls_port)])
    line = t.expect("connected=")
    check(line == f"connected={srv.addr}:{srv.c2s_tls_port} tls=direct "
          "alpn=xmpp-client", f"Direct TLS with ALPN: {line!r}")
    check(t.expect("bound=") == f"bound=juliet@{C}/balcony", "bound")
    code, err = t.finish()
    check(code == 0, f"exit {code}: {err}")
    log = srv.logtext()
    check("event=accept kind=c2s-tls" in log, "accepted on c2s-tls")
    check("event=tls-ready version=TLSv1.3" in log and f"sni={C}" in log,
          "SNI = the domain")
    check(authenticated(srv, "juliet@" + C) == ["SCRAM-SHA-256-PLUS"],
          f"mechanisms: {authenticated(srv, 'juliet@' + C)}")


def core24_direct_tls_wrong_name(srv):
    """A Direct TLS server whose certificate (trusted, but for
    capulet.example) does not name the stream's domain is left before any
    stream header (CORE-24 from the client's side)."""
    t = Tool(srv, "--direct-tls", "--jid", "juliet@verona.example",
             "--password", PW,
             where=["--host", srv.addr, "--port", str(srv.c2s_tls_port)])
    code, err = t.finish()
    check(code == 1 and err.startswith("xmux-client: error:") and
          "verona.example: server certificate does not name it" in err,
          f"exit {code}: {err!r}")
    check("event=authenticated" not in srv.logtext(), "no login")


def direct_tls_on_starttls_port(srv):
    """--direct-tls against a STARTTLS port fails with a clear message."""
    t = Tool(srv, "--direct-tls", "--jid", "juliet@" + C, "--password", PW)
    code, err = t.finish()
    check(code == 1 and "TLS handshake" in err, f"exit {code}: {err!r}")


# --- SCRAM ------------------------------------------------------------------

def scram_best(srv):
    """Without --mech the strongest offered mechanism is used: SCRAM-SHA-
    256-PLUS with the tls-exporter binding of TLS 1.3 (the server checks
    the binding)."""
    t = Tool(srv, "--jid", "juliet@" + C, "--password", PW)
    check(t.expect("auth=") == f"auth=scram-sha-256-plus jid=juliet@{C} "
          "mux=no", "auth line")
    code, err = t.finish()
    check(code == 0, f"exit {code}: {err}")
    check(authenticated(srv, "juliet@" + C) == ["SCRAM-SHA-256-PLUS"],
          "server saw SCRAM-SHA-256-PLUS")


def scram_forced(srv):
    """--mech picks each mechanism (any case); the server logs the one the
    client named on its auth= line."""
    want = ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]
    for mech in want:
        t = Tool(srv, "--jid", "juliet@" + C, "--password", PW,
                 "--mech", mech.lower())
        check(t.expect("auth=") ==
              f"auth={mech.lower()} jid=juliet@{C} mux=no", mech)
        code, err = t.finish()
        check(code == 0, f"{mech}: exit {code}: {err}")
    check(authenticated(srv, "juliet@" + C) == want,
          f"server saw {authenticated(srv, 'juliet@' + C)}")


def scram_not_offered(srv):
    """A server without PLAIN: --mech plain fails clearly; without --mech
    SCRAM is used."""
    t = Tool(srv, "--jid", "juliet@" + C, "--password", PW, "--mech", "PLAIN")
    code, err = t.finish()
    check(code == 1 and "not offered" in err and "PLAIN" in err,
          f"exit {code}: {err!r}")
    t = Tool(srv, "--jid", "juliet@" + C, "--password", PW)
    t.expect("auth=scram-sha-256-plus")
    code, err = t.finish()
    check(code == 0, f"exit {code}: {err}")


def forged_server_proof():
    """A server that does not know the password cannot fake SCRAM's
    server signature: a <success/> with a wrong v= is refused (RFC 5802
    §5), as is one with none."""
    d = tempfile.mkdtemp(prefix="xmux-client-fake-")
    ca = TestCA(d)
    cert, key = ca.issue("fake", [C])
    for final in (b"v=" + base64.b64encode(bytes(32)), None):
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        port = lsock.getsockname()[1]
        t = threading.Thread(target=fake_scram_server,
                             args=(lsock, cert, key, final), daemon=True)
        t.start()
        p = subprocess.run(
            [client_binary(), "--host", "127.0.0.1", "--port", str(port),
             "--direct-tls", "--ca", ca.cert, "--timeout", "5",
             "--jid", "juliet@" + C, "--password", PW],
            capture_output=True, text=True, timeout=30)
        t.join(10)
        lsock.close()
        check(p.returncode == 1 and "SCRAM-SHA-256 success without a valid "
              "server proof" in p.stderr and "bound=" not in p.stdout,
              f"exit {p.returncode}: {p.stderr!r}")


def _read_until(c, pattern, buf=b""):
    while not re.search(pattern, buf):
        more = c.recv(4096)
        if not more:
            raise AssertionError(f"fake server: EOF waiting for {pattern}")
        buf += more
    return buf


def fake_scram_server(lsock, cert, key, final):
    """Direct TLS, SCRAM-SHA-256 only, a challenge with a fresh nonce, and
    a success carrying final (or nothing)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["xmpp-client"])
    raw, _ = lsock.accept()
    raw.settimeout(10)
    with ctx.wrap_socket(raw, server_side=True) as c:
        _read_until(c, rb"<stream:stream[^>]*>")
        c.sendall(b"<stream:stream xmlns='jabber:client' xmlns:stream="
                  b"'http://etherx.jabber.org/streams' id='f1' from='"
                  + C.encode() + b"' version='1.0'><stream:features>"
                  b"<mechanisms xmlns='" + NS_SASL.encode() + b"'>"
                  b"<mechanism>SCRAM-SHA-256</mechanism></mechanisms>"
                  b"</stream:features>")
        m = re.search(rb"<auth[^>]*>([^<]*)</auth>", _read_until(
            c, rb"</auth>"))
        first = base64.b64decode(m.group(1)).decode()
        nonce = re.search(r"r=([^,]+)", first).group(1)
        sfirst = (f"r={nonce}fake,s={base64.b64encode(b'salt').decode()},"
                  "i=4096")
        c.sendall(f"<challenge xmlns='{NS_SASL}'>"
                  f"{base64.b64encode(sfirst.encode()).decode()}"
                  "</challenge>".encode())
        _read_until(c, rb"</response>")
        text = base64.b64encode(final).decode() if final else ""
        c.sendall(f"<success xmlns='{NS_SASL}'>{text}</success>".encode())
        try:
            _read_until(c, rb"</stream:stream>")
            c.sendall(b"</stream:stream>")
        except (OSError, AssertionError):
            pass


# --- SRV (RFC 6120 §3.2, XEP-0368) -----------------------------------------

def dns(records, hosts):
    """dnsmasq on a free port of 127.0.0.1 with these SRV records
    (service, domain, target, port, priority) and A records
    (name -> address); returns it started."""
    d = tempfile.mkdtemp(prefix="xmux-client-dns-")
    for _ in range(20):
        port = free_port()
        if bindable("127.0.0.1", port, udp=True):
            break
    ns = Dns(d, "127.0.0.1", port)
    for name, addr in hosts.items():
        ns.host(name, addr)
    for service, domain, target, tport, prio in records:
        ns.srv(domain, target, tport, service=service, priority=prio)
    return ns.start()


def srv_test(fn, records=None, hosts=None):
    """A test with a server and a dnsmasq for it; fn(srv, ns)."""
    def wrapped():
        srv = server()
        ns = None
        try:
            ns = dns(records(srv), hosts(srv))
            fn(srv, ns)
        except Exception:
            print(srv.logtext()[-4000:])
            if ns is not None:
                print(ns.logtext()[-3000:])
            raise
        finally:
            if ns is not None:
                ns.stop()
            srv.stop()
    return wrapped


def srv_order_records(srv):
    dead = free_port()
    return [("_xmpps-client._tcp", C, "dead." + C, dead, 0),
            ("_xmpp-client._tcp", C, "xmpp." + C, srv.c2s_port, 20),
            ("_xmpps-client._tcp", C, "xmpp." + C, srv.c2s_tls_port, 10)]


def srv_hosts(srv):
    return {"dead." + C: "127.0.0.1", "xmpp." + C: srv.addr}


def via_dns(srv, ns, *args):
    """Log in as juliet@capulet.example through DNS (ns); the connected=
    line, after a successful run."""
    t = Tool(srv, "--jid", "juliet@" + C, "--password", PW, *args,
             where=["--resolver", f"{ns.addr}:{ns.port}"])
    line = t.expect("connected=")
    code, err = t.finish()
    check(code == 0, f"exit {code}: {err}")
    return line


def srv_order(srv, ns):
    """Without --host both SRV services are asked; targets are tried in
    RFC 2782 order: the priority-0 Direct TLS target refuses, the
    priority-10 Direct TLS one works (the STARTTLS one at 20 is not
    needed)."""
    line = via_dns(srv, ns)
    check(line == f"connected={srv.addr}:{srv.c2s_tls_port} tls=direct "
          "alpn=xmpp-client", f"second target, Direct TLS: {line!r}")
    log = ns.logtext()
    for q in ("_xmpps-client._tcp." + C, "_xmpp-client._tcp." + C):
        check(f"query[SRV] {q}" in log, f"dnsmasq was asked {q}")


def srv_starttls_records(srv):
    dead = free_port()
    return [("_xmpps-client._tcp", C, "dead." + C, dead, 0),
            ("_xmpp-client._tcp", C, "xmpp." + C, srv.c2s_port, 5)]


def srv_starttls(srv, ns):
    """The two services' records are merged by priority (XEP-0368): the
    Direct TLS target at priority 0 refuses, so the STARTTLS one at 5 is
    used; with --direct-tls only Direct TLS targets count, and none
    works."""
    line = via_dns(srv, ns)
    check(line == f"connected={srv.addr}:{srv.c2s_port} tls=starttls "
          "alpn=-", f"STARTTLS target: {line!r}")
    t = Tool(srv, "--direct-tls", "--jid", "juliet@" + C, "--password", PW,
             where=["--resolver", f"{ns.addr}:{ns.port}"])
    code, err = t.finish()
    check(code == 1 and "Connection refused" in err, f"exit {code}: {err!r}")


def srv_none(srv, ns):
    """A domain with neither SRV nor A records: a clear error."""
    t = Tool(srv, "--jid", "juliet@verona.example", "--password", PW,
             where=["--resolver", f"{ns.addr}:{ns.port}"])
    code, err = t.finish()
    check(code == 1 and "verona.example: no XMPP client service in DNS"
          in err, f"exit {code}: {err!r}")


def srv_fallback():
    """No SRV records: the domain's A record on port 5222 (RFC 6120
    §3.2.1). The server gets a loopback address of its own, so port 5222
    is free there."""
    addr = "127.0.78.2"
    srv = Server(hosts=(C, M), addr=addr, ports={"c2s": 5222})
    srv.add_user("juliet@" + C, PW)
    srv.start()
    ns = None
    try:
        ns = dns([], {C: addr})
        t = Tool(srv, "--jid", "juliet@" + C, "--password", PW,
                 where=["--resolver", f"{ns.addr}:{ns.port}"])
        line = t.expect("connected=")
        check(line == f"connected={addr}:5222 tls=starttls alpn=-",
              f"A record, port 5222: {line!r}")
        code, err = t.finish()
        check(code == 0, f"exit {code}: {err}")
        check(f"query[SRV] _xmpp-client._tcp.{C}" in ns.logtext(),
              "SRV asked first")
    except Exception:
        print(srv.logtext()[-4000:])
        raise
    finally:
        if ns is not None:
            ns.stop()
        srv.stop()


# --- EXTERNAL on the secondary stream ---------------------------------------

def m90_join_external():
    """--also with --also-cert: S authenticates with SASL EXTERNAL with a
    certificate for juliet@montague.example, then asks to be joined onto P
    (MUX.md §10.6): one connection remains and the account talks over it
    (MUX-90)."""
    d = tempfile.mkdtemp(prefix="xmux-client-ext-")
    ca = TestCA(d)
    ca.issue_sans("jm", [XMPP + "juliet@" + M], eku="clientAuth")
    srv = server(f'tls = {{ ca_file = "{d}/ca.crt"; }};\n')
    try:
        r, rj, _ = login(srv, "romeo@" + M, PW, "orchard")
        t = Tool(srv, "--jid", "juliet@" + C, "--password", PW,
                 "--resource", "balcony", "--also", "juliet@" + M,
                 "--also-cert", f"{d}/jm.crt", "--also-key", f"{d}/jm.key",
                 "--send", rj, "via external", "--from",
                 f"juliet@{M}/balcony", "--listen", "3")
        check(t.expect("auth=") ==
              f"auth=scram-sha-256-plus jid=juliet@{C} mux=no", "P")
        check(t.expect("auth=") == f"auth=external jid=juliet@{M} mux=no",
              "S over EXTERNAL")
        check(t.expect("joined=") == f"joined=juliet@{M}/balcony", "joined")
        check(t.expect("connections=") == "connections=1 identities=2",
              "one connection, two identities")
        t.expect("ready")
        ours = conns(srv.addr, srv.addr, srv.c2s_port)
        check(len(ours) == 2, f"romeo and one xmux-client connection: {ours}")
        el = got_message(r, "via external")
        check(el.get("from") == f"juliet@{M}/balcony", f"from: {el.attrib}")
        code, err = t.finish()
        check(code == 0, f"exit {code}: {err}")
        check(authenticated(srv, "juliet@" + M) == ["EXTERNAL"],
              f"S: {authenticated(srv, 'juliet@' + M)}")
        check("event=mux-authorization-done result=success" in
              srv.logtext(), "authorized")
    except Exception:
        print(srv.logtext()[-4000:])
        raise
    finally:
        srv.stop()


# --- stream management (XEP-0198) -------------------------------------------

def quiet(c, what, timeout=1.0):
    """Nothing but presence arrives on raw client c for timeout seconds."""
    try:
        while True:
            el = c.next_element(timeout)
            check(el.tag == "{jabber:client}presence",
                  f"{what}: {ET.tostring(el)!r}")
    except Exception as e:  # noqa: BLE001
        check(str(e).startswith("timed out"), f"{what}: {e}")


def sm_lines(t):
    """Every line xmux-client printed, once it has exited."""
    code, err = t.finish()
    while True:
        line = t.lines.get(timeout=5)
        if line is None:
            break
        t.seen.append(line)
    check(code == 0, f"exit {code}: {err}\n{t.seen}")
    return t.seen


def sm_tool(srv, body, *args):
    """Romeo (raw) and juliet's xmux-client --sm as balcony, which sends
    him body: (romeo, his full JID, the tool)."""
    r, rj, _ = login(srv, "romeo@" + M, PW, "orchard")
    t = Tool(srv, "--jid", "juliet@" + C, "--password", PW,
             "--resource", "balcony", "--sm", "--send", rj, body, *args)
    return r, rj, t


def sm_acks(srv):
    """xmux-client --sm enables stream management with resumption after
    binding, answers the server's <r/> (sm.request_every = 2: asked
    often) and asks for acknowledgements itself before it finishes. Five
    messages from romeo arrive; the server sees them all acknowledged
    (nothing routed again when the client leaves, so romeo gets no
    error), and the client sees its presence and message acknowledged."""
    r, rj, t = sm_tool(srv, "hello", "--listen", "3")
    line = t.expect("sm=")
    check(re.fullmatch(r"sm=enabled id=\S+ resume=yes max=\d+", line) and
          not line.startswith("sm=enabled id=- "), f"enabled: {line!r}")
    t.expect("ready")
    got_message(r, "hello")
    for i in range(5):
        r.send(f"<message to='juliet@{C}/balcony' type='chat' id='a{i}'>"
               f"<body>n{i}</body></message>")
    for i in range(5):
        check(t.expect("from=") ==
              f"from={rj} to=juliet@{C}/balcony body=n{i}", f"n{i}")
    lines = sm_lines(t)
    acked = [x for x in lines if x.startswith("sm-acked h=")]
    check(acked and acked[-1] == "sm-acked h=2",
          f"presence and message acknowledged at the end: {lines}")
    check(not any(x.startswith("sm-unacked") for x in lines), f"{lines}")
    log = srv.logtext()
    check("event=sm-enabled role=receiving resume=yes" in log,
          "the server enabled it")
    check("event=sm-bad-ack" not in log and "event=sm-reroute" not in log,
          "every stanza the server sent was acknowledged")
    quiet(r, "romeo gets no error")


def wait_log(srv, text, timeout=5):
    deadline = time.time() + timeout
    while text not in srv.logtext() and time.time() < deadline:
        time.sleep(0.05)
    return text in srv.logtext()


def sm_resume(srv):
    """--drop-after-send: the message goes out, then the TCP connection
    closes without </stream:stream>; the server parks the session. Romeo
    writes to juliet meanwhile. xmux-client reconnects, logs in again and
    resumes: <resumed h='2'/> (presence and message handled, nothing to
    resend), romeo's message arrives once, after the resumption, under the
    same full JID, and romeo has the first one once."""
    r, rj, t = sm_tool(srv, "before", "--drop-after-send", "--listen", "3")
    t.expect("sm=enabled")
    t.expect("dropped")
    wait_log(srv, "parked=yes", 0.8)
    r.send(f"<message to='juliet@{C}/balcony' type='chat' id='m1'>"
           "<body>meanwhile</body></message>")
    check(t.expect("sm=") == "sm=resumed h=2 resent=0",
          f"resumed: {t.seen[-1]!r}")
    check(t.expect("from=") ==
          f"from={rj} to=juliet@{C}/balcony body=meanwhile",
          "the message sent during the break")
    lines = sm_lines(t)
    check(sum(1 for x in lines if "body=meanwhile" in x) == 1,
          f"exactly once: {lines}")
    check(len(authenticated(srv, "juliet@" + C)) == 2 and
          len(set(authenticated(srv, "juliet@" + C))) == 1,
          f"logged in again, same mechanism: "
          f"{authenticated(srv, 'juliet@' + C)}")
    log = srv.logtext()
    check(f"event=sm-resumed jid=juliet@{C}/balcony" in log, "resumed")
    check("event=sm-reroute" not in log, "nothing routed again")
    got_message(r, "before")
    quiet(r, "romeo gets 'before' once and no error")


def sm_resend(srv):
    """--drop-before-send: the connection breaks before the message is
    written; the client keeps it, and after <resumed h='1'/> (only the
    presence arrived) sends it again: romeo gets it once."""
    r, rj, t = sm_tool(srv, "kept", "--drop-before-send", "--listen", "1")
    t.expect("dropped")
    t.expect("sent to=")
    check(t.expect("sm=") == "sm=resumed h=1 resent=1",
          f"resent: {t.seen[-1]!r}")
    got_message(r, "kept")
    lines = sm_lines(t)
    check(lines[-2:] == ["sm-acked h=2", "done"], f"acknowledged: {lines}")
    quiet(r, "romeo gets 'kept' once")
    log = srv.logtext()
    check("event=sm-resumed" in log, "resumed")
    check("event=sm-reroute" not in log, "the client acknowledged all")


# --- usage -----------------------------------------------------------------

def usage_errors():
    """Combinations that make no sense exit with 2 and say why."""
    j, j2 = "juliet@" + C, "juliet@" + M
    base = ["--jid", j, "--ca", "/dev/null"]
    cases = [
        (base + ["--password", PW, "--port", "5222"],
         "--host and --port go together"),
        (base + ["--password", PW, "--host", "127.0.0.1"],
         "--host and --port go together"),
        (base + ["--password", PW, "--host", "127.0.0.1", "--port", "5222",
                 "--resolver", "127.0.0.1"], "--resolver is for DNS lookups"),
        (base + ["--password", PW, "--mech", "DIGEST-MD5"], "unknown --mech"),
        (base + ["--cert", "c.pem", "--key", "k.pem", "--mech", "PLAIN"],
         "--mech is for password logins"),
        (base + ["--password", PW, "--cert", "c.pem"], "not both"),
        (base + ["--password", PW, "--key", "k.pem"], "--key needs --cert"),
        (base + ["--key", "k.pem"], "--password or --cert is required"),
        (base + ["--password", PW, "--also-password", PW],
         "follow the --also JID"),
        (base + ["--password", PW, "--also", j2],
         "--also needs --also-password or --also-cert"),
        (base + ["--password", PW, "--also", j2, "--also-password", PW,
                 "--also-cert", "c.pem"], "not both"),
        (base + ["--password", PW, "--also", j2, "--also-password", PW,
                 "--also-password", PW], "given twice"),
        (base + ["--password", PW, "--also", j2, "--also-password", PW,
                 "--also-key", "k.pem"], "--also-key needs --also-cert"),
        (["--jid", j, "--password", PW], "give --ca FILE"),
        (base + ["--password", PW, "--port", "0", "--host", "x"],
         "--port takes 1..65535"),
        (base + ["--password", PW, "--send", j2, "x", "--drop-after-send"],
         "need --sm and --send"),
        (base + ["--password", PW, "--sm", "--drop-before-send"],
         "need --sm and --send"),
    ]
    for args, want in cases:
        p = subprocess.run([client_binary(), *args], capture_output=True,
                           text=True, timeout=30)
        check(p.returncode == 2 and "xmux-client: error: " in p.stderr and
              want in p.stderr and "usage:" in p.stderr,
              f"{args}: exit {p.returncode}: {p.stderr!r}")
    p = subprocess.run([client_binary(), *base, "--password", PW,
                        "--resolver", "not an address", "--timeout", "2"],
                       capture_output=True, text=True, timeout=30)
    check(p.returncode == 1 and p.stderr.startswith("xmux-client: error: "),
          f"bad resolver: exit {p.returncode}: {p.stderr!r}")


TESTS = {
    "MUX-90-client-join-and-talk": with_server(m90_join_and_talk),
    "MUX-90-client-foreign-secret": with_server(m90_foreign_secret),
    "MUX-30-client-external-mux": m30_external_mux,
    "client-bad-password": with_server(bad_password),
    "client-untrusted-cert": with_server(untrusted),
    "CORE-23-client-direct-tls": with_server(core23_direct_tls),
    "CORE-24-client-direct-tls-wrong-name":
        with_server(core24_direct_tls_wrong_name),
    "client-direct-tls-on-starttls-port":
        with_server(direct_tls_on_starttls_port),
    "client-scram-best": with_server(scram_best),
    "client-scram-forced-mech": with_server(scram_forced),
    "client-scram-plain-not-offered":
        server_test(server, scram_not_offered,
                    extra="c2s = { allow_plain = false; };\n"),
    "client-scram-forged-server-proof": forged_server_proof,
    "client-srv-order": srv_test(srv_order, srv_order_records, srv_hosts),
    "client-srv-starttls-merge":
        srv_test(srv_starttls, srv_starttls_records, srv_hosts),
    "client-srv-none": srv_test(srv_none, lambda srv: [], lambda srv: {}),
    "client-srv-fallback-a": srv_fallback,
    "MUX-90-client-join-external": m90_join_external,
    "client-usage-errors": usage_errors,
    "client-sm-acks":
        server_test(server, sm_acks, extra="sm = { request_every = 2; };\n"),
    "client-sm-resume": with_server(sm_resume),
    "client-sm-resend": with_server(sm_resend),
}

if __name__ == "__main__":
    run(TESTS)
