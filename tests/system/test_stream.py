# SPDX-License-Identifier: MIT
"""System tests: stream headers and stream errors of a live xmuxd, over real
sockets (CONFORMANCE.md CORE-01, -03, -04, -05, -06, -19, -20, -21, -22,
-27 (pre-TLS half), MUX-02, MUX-07, BIDI-03, DB-18, SEC-17)."""

import os
import signal
import socket
import subprocess
import time
import xml.etree.ElementTree as ET

from xmuxtest import (C2S_HEADER, S2S_HEADER, NS_SASL, NS_STANZAS, NS_STREAM,
                      NS_TLS, Server, check, header_checks, run)

FEATURES = f"{{{NS_STREAM}}}features"


def with_server(fn, **kw):
    def wrapped():
        srv = Server(**kw).start()
        try:
            fn(srv)
        finally:
            srv.stop()
    return wrapped


def core_01_c2s(srv):
    ids = set()
    for _ in range(3):
        c = srv.client("c2s")
        c.send(C2S_HEADER.format(to="localhost"))
        h = c.wait_header()
        header_checks(h, "localhost")
        check(h.get("version") == "1.0", "version=%r" % h.get("version"))
        ids.add(h.get("id"))
        c.close()
    check(len(ids) == 3, "stream ids repeat: %r" % ids)


def core_01_s2s(srv):
    c = srv.client("s2s")
    c.send(S2S_HEADER.format(frm="capulet.example", to="montague.example"))
    h = c.wait_header()
    header_checks(h, "montague.example", to="capulet.example")
    check(h.get("version") == "1.0", "version=%r" % h.get("version"))
    # The response declares the dialback prefix for s2s.
    check(b"xmlns:db='jabber:server:dialback'" in c.raw, "no xmlns:db")


def core_03_04_features(srv):
    for kind, hdr in (("c2s", C2S_HEADER.format(to="localhost")),
                      ("s2s", S2S_HEADER.format(frm="capulet.example",
                                                to="localhost"))):
        c = srv.client(kind)
        c.send(hdr)
        f = c.next_element()
        check(f.tag == FEATURES, f"{kind}: first element is {f.tag}")
        # CORE-04 / MUX-02 / BIDI-01: only <starttls><required/>.
        kids = [k.tag for k in f]
        check(kids == [f"{{{NS_TLS}}}starttls"], f"{kind}: features {kids}")
        req = [k.tag for k in f[0]]
        check(req == [f"{{{NS_TLS}}}required"], f"{kind}: starttls {req}")
        c.close()


def core_03_no_version(srv):
    c = srv.client("c2s")
    c.send("<stream:stream xmlns='jabber:client' "
           "xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>")
    h = c.wait_header()
    check(h.get("version") is None, "version echoed to a pre-1.0 stream")
    el = c.expect_stream_error("unsupported-version")
    check(not any(e.tag == FEATURES for e in c.elements),
          "features sent to a stream without version")


def unsupported_version(srv):
    for v in ("2.0", "abc", "1", "1.x"):
        c = srv.client("c2s")
        c.send(C2S_HEADER.replace("'1.0'", f"'{v}'").format(to="localhost"))
        c.expect_stream_error("unsupported-version")
    c = srv.client("c2s")
    c.send(C2S_HEADER.replace("'1.0'", "'1.5'").format(to="localhost"))
    h = c.wait_header()
    check(h.get("version") == "1.0", "1.5 must be answered with 1.0")
    check(c.next_element().tag == FEATURES, "1.5 gets features")


def core_05_stanza_before_negotiation(srv):
    for kind, hdr, st in (
            ("c2s", C2S_HEADER.format(to="localhost"), "<message/>"),
            ("c2s", C2S_HEADER.format(to="localhost"),
             "<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>"),
            ("s2s", S2S_HEADER.format(frm="capulet.example", to="localhost"),
             "<presence from='a@capulet.example' to='b@localhost'/>")):
        c = srv.client(kind)
        c.send(hdr)
        check(c.next_element().tag == FEATURES, "features")
        c.send(st)
        c.expect_stream_error("not-authorized")


def core_06_host_unknown(srv):
    for kind, hdr in (("c2s", C2S_HEADER.format(to="unknown.example")),
                      ("s2s", S2S_HEADER.format(frm="capulet.example",
                                                to="unknown.example")),
                      ("c2s", C2S_HEADER.replace(" to='{to}'", "")),
                      ("c2s", C2S_HEADER.format(to="ex_ample.com"))):
        c = srv.client(kind)
        c.send(hdr)
        h = c.wait_header()
        header_checks(h, None)  # D-13: no 'from' for a domain we don't serve
        c.expect_stream_error("host-unknown")
    # The domain is compared in its normalised form.
    c = srv.client("c2s")
    c.send(C2S_HEADER.format(to="LocalHost."))
    header_checks(c.wait_header(), "localhost")


def core_19_peer_closes(srv):
    c = srv.client("c2s")
    c.send(C2S_HEADER.format(to="localhost"))
    c.next_element()
    c.send("</stream:stream>")
    c.wait(lambda: c.closed_tag, "closing tag in reply")
    c.wait_eof()


def core_20_error_then_close(srv):
    # Every stream error test checks this; here the error comes mid-stanza.
    c = srv.client("c2s")
    c.send(C2S_HEADER.format(to="localhost"))
    c.next_element()
    c.send("<message><body>unfinished</bod></message>")
    c.expect_stream_error("not-well-formed")


def core_21_negotiation_timeout(srv):
    c = srv.client("c2s")
    c.send(C2S_HEADER.format(to="localhost"))
    c.next_element()
    start = time.time()
    c.expect_stream_error("connection-timeout", timeout=10)
    took = time.time() - start
    check(0.5 < took < 5, f"timeout fired after {took:.2f}s, configured 1s")
    # Silent from the first byte: the timer runs from accept.
    c = srv.client("c2s")
    c.wait_header()
    c.expect_stream_error("connection-timeout", timeout=10)


def core_22_restricted_and_broken(srv):
    cases = [
        ("<!-- x -->", "restricted-xml"),
        ("<?foo bar?>", "restricted-xml"),
        ("<!DOCTYPE x>",
         "not-well-formed"),
        ("<message><body>a</body></mes>", "not-well-formed"),
        ("<message><body>\xff</body></message>".encode("latin-1"),
         "not-well-formed"),
        (b"<message>\x00</message>", "not-well-formed"),
        ("<message><body>&xxe;</body></message>", "not-well-formed"),
    ]
    for payload, cond in cases:
        c = srv.client("c2s")
        c.send(C2S_HEADER.format(to="localhost"))
        c.next_element()
        c.send(payload)
        c.expect_stream_error(cond)
    # Before any header: DTD and entity declarations, and plain junk.
    for payload, cond in (
            ("<?xml version='1.0'?><!DOCTYPE lol [<!ENTITY lol 'lol'>]>",
             "restricted-xml"),
            ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "not-well-formed"),
            ("<?xml version='1.0' encoding='ISO-8859-1'?>",
             "unsupported-encoding")):
        c = srv.client("c2s")
        c.send(payload)
        h = c.wait_header()
        header_checks(h, None)
        c.expect_stream_error(cond)


def namespaces(srv):
    for kind, hdr, cond in (
            ("c2s", C2S_HEADER.replace("jabber:client", "jabber:server"),
             "invalid-namespace"),
            ("s2s", S2S_HEADER.replace("'jabber:server'", "'jabber:client'"),
             "invalid-namespace"),
            ("c2s", C2S_HEADER.replace("xmlns='jabber:client' ", ""),
             "invalid-namespace"),
            ("c2s", C2S_HEADER.replace(NS_STREAM, "http://wrong.example/"),
             "invalid-namespace"),
            ("c2s", "<stream xmlns='jabber:client' to='{to}' version='1.0'>",
             "invalid-namespace"),
            ("c2s", C2S_HEADER.replace("stream:", "s:").replace(
                "xmlns:stream", "xmlns:s"), "bad-namespace-prefix")):
        c = srv.client(kind)
        c.send(hdr.format(to="localhost", frm="capulet.example"))
        c.expect_stream_error(cond)


def s2s_bad_from(srv):
    c = srv.client("s2s")
    c.send(S2S_HEADER.format(frm="not a domain", to="localhost"))
    c.expect_stream_error("invalid-from")
    # 'from' may be absent before TLS (RFC 6120 §4.7.1, CORE-09).
    c = srv.client("s2s")
    c.send(S2S_HEADER.replace("from='{frm}' ", "").format(to="localhost"))
    check(c.next_element().tag == FEATURES, "features without from")


def core_27_auth_before_tls(srv):
    c = srv.client("c2s")
    c.send(C2S_HEADER.format(to="localhost"))
    c.next_element()
    c.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>AGp1bGlldAByMG0zMA==</auth>")
    f = c.next_element()
    check(f.tag == f"{{{NS_SASL}}}failure", f"got {f.tag}")
    check([k.tag for k in f] == [f"{{{NS_SASL}}}encryption-required"],
          "failure condition")
    # No stream error: the stream is still open and answers a close.
    c.send("</stream:stream>")
    c.wait(lambda: c.closed_tag, "closing tag")
    check(not any(e.tag == f"{{{NS_STREAM}}}error" for e in c.elements),
          "stream error after encryption-required")


def mux_07_bidi_03_pre_tls(srv):
    for kind, hdr, el, cond in (
            ("s2s", S2S_HEADER, "<mux xmlns='urn:xmpp:mux:0'/>",
             "policy-violation"),
            ("c2s", C2S_HEADER, "<mux xmlns='urn:xmpp:mux:0'/>",
             "policy-violation"),
            ("s2s", S2S_HEADER, "<bidi xmlns='urn:xmpp:bidi'/>",
             "policy-violation"),
            ("s2s", S2S_HEADER, "<mux xmlns='urn:xmpp:mux:1'/>",
             "unsupported-stanza-type"),
            ("c2s", C2S_HEADER, "<foo xmlns='urn:example:foo'/>",
             "unsupported-stanza-type")):
        c = srv.client(kind)
        c.send(hdr.format(frm="capulet.example", to="localhost"))
        c.next_element()
        c.send(el)
        c.expect_stream_error(cond)


def db_18_dialback_before_tls(srv):
    c = srv.client("s2s")
    c.send(S2S_HEADER.format(frm="capulet.example", to="montague.example"))
    c.next_element()
    c.send("<db:result from='capulet.example' to='montague.example'>"
           "b4835385f37fe2895af6c196b59097b16862406db80559900d596b3b22b0b10b"
           "</db:result>")
    r = c.next_element()
    check(r.tag == "{jabber:server:dialback}result", f"got {r.tag}")
    check(r.get("type") == "error", "type=%r" % r.get("type"))
    check(r.get("from") == "montague.example" and
          r.get("to") == "capulet.example", "addresses not swapped")
    err = r.find("{jabber:server:dialback}error")
    check(err is not None and err.get("type") == "cancel", "error type")
    check(err.find(f"{{{NS_STANZAS}}}policy-violation") is not None,
          "policy-violation missing")
    check(b"<db:result" in c.raw, "dialback element not written with db:")
    # Still no stream error: the stream goes on.
    c.send("</stream:stream>")
    c.wait(lambda: c.closed_tag, "closing tag")


def limits_preauth_stanza_size(srv):
    c = srv.client("c2s")
    c.send(C2S_HEADER.format(to="localhost"))
    c.next_element()
    c.send("<message><body>" + "x" * 70000 + "</body></message>")
    c.expect_stream_error("policy-violation")
    # A huge start tag is refused before it is buffered whole.
    c = srv.client("c2s")
    c.send(C2S_HEADER.format(to="localhost"))
    c.next_element()
    c.send("<message a='" + "y" * 200000)
    c.expect_stream_error("policy-violation")


def byte_by_byte(srv):
    c = srv.client("s2s")
    hdr = S2S_HEADER.format(frm="capulet.example", to="montague.example")
    for ch in hdr:
        c.send(ch)
    header_checks(c.wait_header(), "montague.example", to="capulet.example")
    check(c.next_element().tag == FEATURES, "features")


def others_unaffected(srv):
    good = srv.client("c2s")
    good.send(C2S_HEADER.format(to="localhost"))
    good.next_element()
    for junk in ("<a><b></a>", "<!-- c -->", "<message/>"):
        bad = srv.client("c2s")
        bad.send(C2S_HEADER.format(to="localhost"))
        bad.next_element()
        bad.send(junk)
        bad.wait_eof()
    good.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>AA==</auth>")
    check(good.next_element().tag == f"{{{NS_SASL}}}failure",
          "the good stream stopped answering")


def shutdown_sends_system_shutdown():
    srv = Server().start()
    c = srv.client("c2s")
    c.send(C2S_HEADER.format(to="localhost"))
    c.next_element()
    srv.proc.send_signal(signal.SIGTERM)
    c.expect_stream_error("system-shutdown")
    code = srv.proc.wait(10)
    text = srv.stop()
    check(code == 0, f"exit code {code}")
    check("event=stopped" in text, "no stopped line in the log")


def logs_are_key_value():
    srv = Server().start()
    c = srv.client("c2s")
    c.send(C2S_HEADER.format(to="unknown.example"))
    c.expect_stream_error("host-unknown")
    text = srv.stop()
    check("event=accept kind=c2s" in text, "no accept line")
    check("event=stream-error cond=host-unknown" in text, "no error line")
    check("event=close reason=host-unknown" in text, "no close line")
    for line in text.splitlines():
        check(line.startswith("ts=") and " level=" in line,
              f"not a key=value line: {line!r}")


def check_config_and_version():
    xmuxd = os.environ.get("XMUXD", "xmuxd")
    out = subprocess.run([xmuxd, "--version"], capture_output=True,
                         text=True, timeout=10)
    check(out.returncode == 0 and out.stdout.startswith("xmuxd "),
          "--version: %r" % out.stdout)
    srv = Server()
    out = subprocess.run([xmuxd, "--config", srv.config, "--check-config"],
                         capture_output=True, text=True, timeout=10)
    check(out.returncode == 0, "--check-config on a good file: %r" %
          (out.stdout + out.stderr))
    with open(srv.config, "a") as f:
        f.write("\nbogus_key = 1;\n")
    lines = open(srv.config).read().count("\n")
    out = subprocess.run([xmuxd, "--config", srv.config, "--check-config"],
                         capture_output=True, text=True, timeout=10)
    check(out.returncode == 1, "bad config accepted")
    check(f"{srv.config}:{lines}:" in out.stderr,
          f"error does not name file:line {lines}: {out.stderr!r}")


def default_config_runs():
    """`make run`'s configuration: the embedded default serves localhost."""
    xmuxd = os.environ.get("XMUXD", "xmuxd")
    import tempfile
    d = tempfile.mkdtemp(prefix="xmux-default-")
    env = dict(os.environ, XMUX_STATE_DIR=d + "/state")
    try:
        socket.create_connection(("127.0.0.1", 5222), 0.2).close()
        print("skip: something already listens on 127.0.0.1:5222")
        return
    except OSError:
        pass
    p = subprocess.Popen([xmuxd], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 10
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", 5222), 0.2)
                break
            except OSError:
                check(time.time() < deadline and p.poll() is None,
                      "default config did not listen on 5222")
                time.sleep(0.05)
        s.close()
        from xmuxtest import Client
        c = Client("127.0.0.1", 5222)
        c.send(C2S_HEADER.format(to="localhost"))
        header_checks(c.wait_header(), "localhost")
        check(c.next_element().tag == FEATURES, "features")
        check(os.path.isdir(d + "/state"), "state dir not created")
        c.close()
    finally:
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=15)
    check(p.returncode == 0, "exit %r: %s" % (p.returncode, err))
    # Started as root, the embedded default keeps root, and says so.
    if os.geteuid() == 0:
        check("level=warn event=privileges user=root uid=0 gid=0 dropped=no "
              "reason=embedded-default" in err, "no privileges warning")


TESTS = {
    "CORE-01-c2s-header": with_server(core_01_c2s),
    "CORE-01-s2s-header": with_server(core_01_s2s),
    "CORE-03-CORE-04-MUX-02-features": with_server(core_03_04_features),
    "CORE-03-no-version": with_server(core_03_no_version),
    "unsupported-version": with_server(unsupported_version),
    "CORE-05-stanza-before-negotiation":
        with_server(core_05_stanza_before_negotiation),
    "CORE-06-host-unknown": with_server(core_06_host_unknown),
    "CORE-19-peer-closes": with_server(core_19_peer_closes),
    "CORE-20-error-then-close": with_server(core_20_error_then_close),
    "CORE-21-negotiation-timeout":
        with_server(core_21_negotiation_timeout, negotiation=1),
    "CORE-22-restricted-xml-not-well-formed":
        with_server(core_22_restricted_and_broken),
    "invalid-namespace-bad-prefix": with_server(namespaces),
    "s2s-header-from": with_server(s2s_bad_from),
    "CORE-27-auth-before-tls": with_server(core_27_auth_before_tls),
    "MUX-07-BIDI-03-SEC-17-pre-tls": with_server(mux_07_bidi_03_pre_tls),
    "DB-18-dialback-before-tls": with_server(db_18_dialback_before_tls),
    "policy-violation-preauth-size": with_server(limits_preauth_stanza_size),
    "byte-by-byte-header": with_server(byte_by_byte),
    "others-unaffected": with_server(others_unaffected),
    "shutdown-system-shutdown": shutdown_sends_system_shutdown,
    "logs-key-value": logs_are_key_value,
    "check-config-version": check_config_and_version,
    "default-config": default_config_runs,
}

if __name__ == "__main__":
    run(TESTS)
