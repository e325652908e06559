# SPDX-License-Identifier: MIT
"""System tests: xmux-client, the project's own c2s client (docs/client.md),
against a real xmuxd: password login over STARTTLS, c2s connection
authorization as the client (MUX.md §10.6, CONFORMANCE.md MUX-90)."""

import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
import xml.etree.ElementTree as ET

from xmuxtest import Server, check, run, server_test
from peers import TestCA, conns
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


class Tool:
    """xmux-client in the background; its stdout lines arrive in a
    queue."""

    def __init__(self, srv, *args):
        binary = os.environ.get("XMUX_CLIENT", "xmux-client")
        if shutil.which(binary) is None and not os.path.exists(binary):
            raise SystemExit(77)
        self.proc = subprocess.Popen(
            [binary, "--host", srv.addr, "--port", str(srv.c2s_port),
             "--ca", ca_file(srv), "--timeout", "5", *args],
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
    check(code != 0 and "PLAIN refused" in err, f"exit {code}: {err!r}")


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


TESTS = {
    "MUX-90-client-join-and-talk": with_server(m90_join_and_talk),
    "MUX-90-client-foreign-secret": with_server(m90_foreign_secret),
    "MUX-30-client-external-mux": m30_external_mux,
    "client-bad-password": with_server(bad_password),
    "client-untrusted-cert": with_server(untrusted),
}

if __name__ == "__main__":
    run(TESTS)
