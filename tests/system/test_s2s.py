# SPDX-License-Identifier: MIT
"""System tests: the receiving side of server-to-server streams over real
TLS — features, SASL EXTERNAL, bidi, dialback answers and the addressing
checks on stanzas (CONFORMANCE.md CORE-10/11/12/15/16/17, BIDI-01/02/04/13,
DB-01/02/06/07/12/16/19). The peer is this script, acting as
montague.example; xmuxd serves capulet.example. Outgoing federation (and
so dialback verification through the authoritative server) is not built
yet."""

import base64
import os
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

from xmuxtest import (NS_SASL, NS_STANZAS, NS_STREAM, NS_TLS, S2S_HEADER,
                      Server, check, run, server_test)

NS_DB = "jabber:server:dialback"
HOST = "capulet.example"
PEER = "montague.example"


def make_certs(d):
    """A test CA; certM (DNS montague.example + chat.montague.example) and
    certV (DNS verona.example), both for server and client auth."""
    def sh(*args):
        subprocess.run(args, check=True, capture_output=True, cwd=d)
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out",
       "ca.crt", "-subj", "/CN=Test CA", "-days", "2")
    for name, sans in (("m", "DNS:montague.example,DNS:chat.montague.example"),
                       ("v", "DNS:verona.example")):
        with open(os.path.join(d, f"{name}.cnf"), "w") as f:
            f.write(f"subjectAltName={sans}\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n")
        sh("openssl", "req", "-newkey", "ec", "-pkeyopt",
           "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
           "-out", f"{name}.csr", "-subj", f"/CN={name}")
        sh("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt",
           "-CAkey", "ca.key", "-CAcreateserial", "-out", f"{name}.crt",
           "-days", "2", "-extfile", f"{name}.cnf")


CERTS = None


def server():
    global CERTS
    if CERTS is None:
        CERTS = tempfile.mkdtemp(prefix="xmux-s2s-certs-")
        make_certs(CERTS)
    return Server(hosts=(HOST,),
                  extra=f'tls = {{ ca_file = "{CERTS}/ca.crt"; }};').start()


def with_server(fn, **kw):
    return server_test(server, fn, **kw)


def tls_stream(srv, cert="m", frm=PEER):
    """Plain s2s stream, STARTTLS with a client certificate, header #2:
    (client, features)."""
    c = srv.client("s2s")
    h, f = c.open_stream(HOST, kind="s2s", frm=frm)
    check(b"xmlns:db='jabber:server:dialback'" in c.raw, "DB-01: no xmlns:db")
    c.send(f"<starttls xmlns='{NS_TLS}'/>")
    check(c.next_element().tag == f"{{{NS_TLS}}}proceed", "proceed")
    kw = {}
    if cert:
        kw = dict(cert=f"{CERTS}/{cert}.crt", key=f"{CERTS}/{cert}.key")
    c.wrap_tls(HOST, **kw)
    h, f = c.open_stream(HOST, kind="s2s", frm=frm)
    check(f.tag == f"{{{NS_STREAM}}}features", "features after TLS")
    return c, f


def mechs(f):
    m = f.find(f"{{{NS_SASL}}}mechanisms")
    return [] if m is None else [x.text for x in m]


def has_db_errors(f):
    return f.find("{urn:xmpp:features:dialback}dialback/"
                  "{urn:xmpp:features:dialback}errors") is not None


def external(c, authzid="="):
    c.send(f"<auth xmlns='{NS_SASL}' mechanism='EXTERNAL'>{authzid}</auth>")
    return c.next_element()


def features_after_tls(srv):
    """Post-TLS features in the order of MUX.md §4.2 (CORE-25): mux (the
    certificate validated and EXTERNAL is offered, MUX-01; empty, MUX-03),
    mechanisms, bidi, dialback with errors."""
    c, f = tls_stream(srv)
    kids = [k.tag for k in f]
    check(kids == ["{urn:xmpp:mux:0}mux",
                   f"{{{NS_SASL}}}mechanisms",
                   "{urn:xmpp:features:bidi}bidi",
                   "{urn:xmpp:features:dialback}dialback",
                   "{urn:xmpp:stream-limits:0}limits"],
          f"BIDI-01/DB-02 features {kids}")
    mux = f.find("{urn:xmpp:mux:0}mux")
    check(len(mux) == 0 and not mux.attrib and not (mux.text or "").strip(),
          "MUX-03: pre-auth <mux/> is empty")
    check(mechs(f) == ["EXTERNAL"], f"only EXTERNAL on s2s: {mechs(f)}")
    check(has_db_errors(f), "dialback <errors/>")


def core_15_no_external(srv):
    # certV does not cover the stream 'from' montague.example.
    c, f = tls_stream(srv, cert="v")
    check(mechs(f) == [], f"CORE-15: EXTERNAL offered: {mechs(f)}")
    r = external(c)
    check(r.tag == f"{{{NS_SASL}}}failure", "EXTERNAL accepted")
    # No certificate at all.
    c, f = tls_stream(srv, cert=None)
    check(mechs(f) == [], "EXTERNAL without a certificate")


def core_16_17_external(srv):
    c, f = tls_stream(srv)
    authz = base64.b64encode(b"chat.montague.example").decode()
    r = external(c, authz)
    check([k.tag for k in r] == [f"{{{NS_SASL}}}invalid-authzid"],
          f"CORE-16: {ET.tostring(r)}")
    # BIDI-02: <bidi/> gets no reply.
    c.send("<bidi xmlns='urn:xmpp:bidi'/>")
    n = len(c.raw)
    time.sleep(1)
    try:
        c.sock.settimeout(0.2)
        extra = c.sock.recv(100)
    except OSError:
        extra = b""
    check(extra == b"" and len(c.raw) == n, f"BIDI-02: got {extra!r}")
    r = external(c)
    check(r.tag == f"{{{NS_SASL}}}success", f"CORE-17: {ET.tostring(r)}")
    c.restart()
    h, f = c.open_stream(HOST, kind="s2s", frm=PEER)
    check(h.get("to") == PEER and h.get("from") == HOST, "header #3")
    check(has_db_errors(f), "DB-19: post-SASL features lack dialback errors")
    check(mechs(f) == [], "mechanisms after SASL")
    # BIDI-13: a late <bidi/> is ignored, the stream stays up.
    c.send("<bidi xmlns='urn:xmpp:bidi'/>")
    # CORE-10..12 on the authenticated stream.
    c.send(f"<message to='juliet@nothere.example' from='romeo@{PEER}'/>")
    c.expect_stream_error("host-unknown")
    for st, cond in (
            (f"<message to='juliet@{HOST}'/>", "improper-addressing"),
            (f"<message from='x@evil.example' to='juliet@{HOST}'/>",
             "invalid-from")):
        c, f = tls_stream(srv)
        check(external(c).tag == f"{{{NS_SASL}}}success", "EXTERNAL")
        c.restart()
        c.open_stream(HOST, kind="s2s", frm=PEER)
        c.send(st)
        c.expect_stream_error(cond)


def bidi_04_twice(srv):
    c, f = tls_stream(srv)
    c.send("<bidi xmlns='urn:xmpp:bidi'/><bidi xmlns='urn:xmpp:bidi'/>")
    c.expect_stream_error("policy-violation")


def dialback_answers(srv):
    c, f = tls_stream(srv)
    # DB-06: a target we do not serve → item-not-found, stream stays open.
    c.send(f"<db:result from='{PEER}' to='nothere.example'>k</db:result>")
    r = c.next_element()
    check(r.tag == f"{{{NS_DB}}}result" and r.get("type") == "error",
          f"DB-06: {ET.tostring(r)}")
    check(r.find(f"{{{NS_DB}}}error/{{{NS_STANZAS}}}item-not-found")
          is not None or r.find(f"{{jabber:server}}error/{{{NS_STANZAS}}}"
                                "item-not-found") is not None,
          f"DB-06 condition: {ET.tostring(r)}")
    # DB-12: an unsolicited answer changes nothing...
    c.send(f"<db:result from='verona.example' to='{HOST}' type='valid'/>")
    # DB-16: the certificate covers the sender: valid without calling back.
    c.send(f"<db:result from='{PEER}' to='{HOST}'>k</db:result>")
    r = c.next_element()
    check(r.get("type") == "valid" and r.get("from") == HOST and
          r.get("to") == PEER, f"DB-16: {ET.tostring(r)}")
    # DB-07: as authoritative server, a wrong key is invalid and an
    # unknown domain is item-not-found.
    c.send(f"<db:verify from='{PEER}' to='{HOST}' id='abc'>00</db:verify>")
    r = c.next_element()
    check(r.tag == f"{{{NS_DB}}}verify" and r.get("type") == "invalid" and
          r.get("id") == "abc", f"DB-07 invalid: {ET.tostring(r)}")
    c.send(f"<db:verify from='{PEER}' to='nothere.example' id='x'>0"
           "</db:verify>")
    r = c.next_element()
    check(r.get("type") == "error", f"DB-07 unknown: {ET.tostring(r)}")
    # ... so a stanza from verona.example is still refused (DB-12).
    c.send(f"<message from='a@verona.example' to='juliet@{HOST}'/>")
    c.expect_stream_error("invalid-from")


def db_05_invalid_closes(srv):
    c, f = tls_stream(srv)
    c.send(f"<db:result from='{PEER}' to='{HOST}'></db:result>")
    r = c.next_element()
    check(r.get("type") == "invalid", f"DB-05: {ET.tostring(r)}")
    c.wait(lambda: c.closed_tag, "closing tag after invalid")
    c.wait_eof()


TESTS = {
    "BIDI-01-DB-01-DB-02-MUX-01-03-features": with_server(features_after_tls),
    "CORE-15-no-external": with_server(core_15_no_external),
    "CORE-16-CORE-17-DB-19-BIDI-02-BIDI-13-CORE-10-11-12":
        with_server(core_16_17_external),
    "BIDI-04-bidi-twice": with_server(bidi_04_twice),
    "DB-06-DB-07-DB-12-DB-16-dialback": with_server(dialback_answers),
    "DB-05-invalid-closes": with_server(db_05_invalid_closes),
}

if __name__ == "__main__":
    run(TESTS)
