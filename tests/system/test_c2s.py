# SPDX-License-Identifier: MIT
"""System tests: client connections over real TLS — STARTTLS and Direct
TLS, SASL, resource binding, local delivery (CONFORMANCE.md CORE-02, -07,
-09, -13, -14, -18, -23, -25, -26)."""

import base64
import hashlib
import hmac
import os
import ssl
import time
import xml.etree.ElementTree as ET

from xmuxtest import (C2S_HEADER, NS_SASL, NS_STANZAS, NS_STREAM, NS_TLS,
                      S2S_HEADER, Client, Server, check, header_checks, run,
                      server_test)

FEATURES = f"{{{NS_STREAM}}}features"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"
HOSTS = ("capulet.example", "montague.example")
USERS = {"juliet@capulet.example": "r0m30myr0m30",
         "nurse@capulet.example": "n0rs3",
         "romeo@montague.example": "jul13t"}


def server(**kw):
    srv = Server(hosts=HOSTS, **kw)
    for jid, pw in USERS.items():
        srv.add_user(jid, pw)
    return srv.start()


def with_server(fn, **kw):
    return server_test(server, fn, **kw)


def mechanisms(features):
    m = features.find(f"{{{NS_SASL}}}mechanisms")
    return [] if m is None else [x.text for x in m]


def tls_stream(srv, to="capulet.example", frm=None, tls_max=None):
    """Plain connect, STARTTLS, second header: (client, header, features)."""
    c = srv.client("c2s")
    _, f = c.open_stream(to, frm=frm)
    if tls_max:
        c.send(f"<starttls xmlns='{NS_TLS}'/>")
        check(c.next_element().tag == f"{{{NS_TLS}}}proceed", "proceed")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.maximum_version = tls_max
        c.sock = ctx.wrap_socket(c.sock, server_hostname=to)
        c.restart()
    else:
        c.starttls(server_hostname=to)
    h, f = c.open_stream(to, frm=frm)
    return c, h, f


def login(srv, jid, password, resource=None):
    """Full negotiation to a bound resource: (client, full JID, ids)."""
    user, host = jid.split("@")
    c, h1, f = tls_stream(srv, host)
    ids = [c.header.get("id")]
    r = c.auth_plain(user, password)
    check(r.tag == f"{{{NS_SASL}}}success", f"auth failed: {ET.tostring(r)}")
    c.restart()
    h, f = c.open_stream(host)
    ids.append(h.get("id"))
    res = f"<resource>{resource}</resource>" if resource else ""
    c.send(f"<iq type='set' id='b1'><bind xmlns='{NS_BIND}'>{res}</bind></iq>")
    r = c.next_element()
    check(r.get("type") == "result", f"bind failed: {ET.tostring(r)}")
    full = r.find(f"{{{NS_BIND}}}bind/{{{NS_BIND}}}jid").text
    return c, full, ids


def core_07_starttls(srv):
    c = srv.client("c2s")
    h1, f = c.open_stream("capulet.example")
    c.starttls(server_hostname="capulet.example")
    h2, f2 = c.open_stream("capulet.example")
    header_checks(h2, "capulet.example")
    check(h1.get("id") != h2.get("id"), "same id after TLS")
    check(f2.find(f"{{{NS_TLS}}}starttls") is None, "starttls offered twice")
    mechs = mechanisms(f2)
    check("PLAIN" in mechs and "SCRAM-SHA-256" in mechs, f"mechanisms {mechs}")
    # STARTTLS again on the TLS stream is out of place.
    c.send(f"<starttls xmlns='{NS_TLS}'/>")
    c.expect_stream_error("policy-violation")


def core_02_three_ids(srv):
    c = srv.client("c2s")
    h0, _ = c.open_stream("capulet.example")
    c.starttls(server_hostname="capulet.example")
    h1, _ = c.open_stream("capulet.example")
    r = c.auth_plain("juliet", USERS["juliet@capulet.example"])
    check(r.tag == f"{{{NS_SASL}}}success", "auth")
    c.restart()
    h2, _ = c.open_stream("capulet.example")
    ids = [h.get("id") for h in (h0, h1, h2)]
    check(len(set(ids)) == 3 and None not in ids, f"ids {ids}")


def core_25_feature_order(srv):
    c, h, f = tls_stream(srv)
    kids = [k.tag for k in f]
    check(kids == [f"{{{NS_SASL}}}mechanisms",
                   "{urn:xmpp:sasl-cb:0}sasl-channel-binding",
                   "{urn:xmpp:stream-limits:0}limits"],
          f"post-TLS features {kids}")
    cb = [x.get("type") for x in f[1]]
    check(cb == ["tls-exporter"], f"XEP-0440 binding types on TLS 1.3: {cb}")
    mechs = mechanisms(f)
    want = [m for m in ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS",
                        "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN") if m in mechs]
    check(mechs == want, f"mechanisms not best-first: {mechs}")
    r = c.auth_plain("juliet", USERS["juliet@capulet.example"])
    check(r.tag == f"{{{NS_SASL}}}success", "auth")
    c.restart()
    h, f = c.open_stream("capulet.example")
    kids = [k.tag for k in f]
    check(kids == ["{urn:xmpp:mux:0}mux", f"{{{NS_BIND}}}bind",
                   "{urn:xmpp:sm:3}sm", f"{{{NS_SESSION}}}session",
                   "{urn:xmpp:stream-limits:0}limits"],
          f"post-auth features {kids}")
    # MUX-82: the other local hosts, never the stream 'to'.
    hosts = [h.text for h in f[0]]
    check("capulet.example" not in hosts and hosts and
          set(hosts) <= set(srv.hosts), f"MUX-82: F2 hosts {hosts}")


def core_26_bind(srv):
    c, full, _ = login(srv, "juliet@capulet.example",
                       USERS["juliet@capulet.example"], "balcony")
    check(full == "juliet@capulet.example/balcony", f"bound {full}")
    c2, full2, _ = login(srv, "juliet@capulet.example",
                         USERS["juliet@capulet.example"])
    check(full2.startswith("juliet@capulet.example/") and full2 != full,
          f"generated resource {full2}")
    # Binding twice on one stream is not allowed.
    c.send(f"<iq type='set' id='b2'><bind xmlns='{NS_BIND}'/></iq>")
    r = c.next_element()
    check(r.get("type") == "error" and
          r.find(f"{{jabber:client}}error/{{{NS_STANZAS}}}not-allowed")
          is not None, f"second bind: {ET.tostring(r)}")


def resource_conflict(srv):
    pw = USERS["juliet@capulet.example"]
    old, full, _ = login(srv, "juliet@capulet.example", pw, "balcony")
    new, full2, _ = login(srv, "juliet@capulet.example", pw, "balcony")
    check(full == full2, "same full JID")
    old.expect_stream_error("conflict")


def sasl_failures(srv):
    c, h, f = tls_stream(srv)
    r = c.auth_plain("juliet", "wrong")
    check(r.tag == f"{{{NS_SASL}}}failure", "wrong password accepted")
    check([k.tag for k in r] == [f"{{{NS_SASL}}}not-authorized"],
          f"condition {[k.tag for k in r]}")
    r = c.auth_plain("nobody", "x")
    check([k.tag for k in r] == [f"{{{NS_SASL}}}not-authorized"],
          "unknown user")
    r = c.auth_plain("juliet", USERS["juliet@capulet.example"],
                     authzid="nurse@capulet.example")
    check([k.tag for k in r] == [f"{{{NS_SASL}}}invalid-authzid"],
          f"authzid {[k.tag for k in r]}")
    # A retry on the same stream succeeds (RFC 6120 §6.4.5).
    r = c.auth_plain("juliet", USERS["juliet@capulet.example"])
    check(r.tag == f"{{{NS_SASL}}}success", "retry failed")
    # Too many failures end the stream, and every failure from this
    # address (and for this account) delays the next attempt.
    c, h, f = tls_stream(srv, to="montague.example")
    took = []
    for _ in range(4):
        t0 = time.time()
        r = c.auth_plain("romeo", "wrong")
        took.append(time.time() - t0)
        check(r.tag == f"{{{NS_SASL}}}failure", "failure")
    check(took[-1] >= 0.2, f"no delay after repeated failures: {took}")
    c.auth_plain("romeo", "wrong")
    c.expect_stream_error("policy-violation", timeout=15)
    text = srv.logtext()
    check("event=login-throttle" in text, "throttling not logged")


def scram_login(c, user, password, mech, cb_type=None, cb_data=b"",
                tamper_cb=False):
    """RFC 5802 client, optionally with channel binding."""
    hname = "sha256" if "256" in mech else "sha1"
    gs2 = f"p={cb_type},," if cb_type else "n,,"
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n={user},r={nonce}"
    msg = base64.b64encode((gs2 + first_bare).encode()).decode()
    c.send(f"<auth xmlns='{NS_SASL}' mechanism='{mech}'>{msg}</auth>")
    ch = c.next_element()
    if ch.tag != f"{{{NS_SASL}}}challenge":
        return ch
    server_first = base64.b64decode(ch.text).decode()
    parts = dict(p.split("=", 1) for p in server_first.split(","))
    salt = base64.b64decode(parts["s"])
    it = int(parts["i"])
    check(parts["r"].startswith(nonce), "server nonce")
    salted = hashlib.pbkdf2_hmac(hname, password.encode(), salt, it)
    ckey = hmac.new(salted, b"Client Key", hname).digest()
    stored = hashlib.new(hname, ckey).digest()
    cbind = gs2.encode() + (cb_data if cb_type else b"")
    if tamper_cb:
        cbind = cbind[:-1] + bytes([cbind[-1] ^ 1])
    final_wo = f"c={base64.b64encode(cbind).decode()},r={parts['r']}"
    auth_msg = f"{first_bare},{server_first},{final_wo}".encode()
    sig = hmac.new(stored, auth_msg, hname).digest()
    proof = bytes(a ^ b for a, b in zip(ckey, sig))
    final = f"{final_wo},p={base64.b64encode(proof).decode()}"
    c.send(f"<response xmlns='{NS_SASL}'>"
           f"{base64.b64encode(final.encode()).decode()}</response>")
    r = c.next_element()
    if r.tag == f"{{{NS_SASL}}}success":
        skey = hmac.new(salted, b"Server Key", hname).digest()
        ssig = hmac.new(skey, auth_msg, hname).digest()
        got = base64.b64decode(r.text or "").decode()
        check(got == "v=" + base64.b64encode(ssig).decode(),
              "server signature does not verify")
    return r


def scram_mechanisms(srv):
    for mech in ("SCRAM-SHA-1", "SCRAM-SHA-256"):
        c, h, f = tls_stream(srv)
        r = scram_login(c, "juliet", USERS["juliet@capulet.example"], mech)
        check(r.tag == f"{{{NS_SASL}}}success", f"{mech}: {ET.tostring(r)}")
        c, h, f = tls_stream(srv)
        r = scram_login(c, "juliet", "wrong", mech)
        check(r.tag == f"{{{NS_SASL}}}failure", f"{mech} wrong password")


def scram_plus_tls_unique(srv):
    """SCRAM-*-PLUS is bound to this TLS channel (tls-unique on TLS 1.2)."""
    for mech in ("SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"):
        c, h, f = tls_stream(srv, tls_max=ssl.TLSVersion.TLSv1_2)
        check(mech in mechanisms(f), f"{mech} not offered on TLS 1.2")
        cb = c.sock.get_channel_binding("tls-unique")
        r = scram_login(c, "juliet", USERS["juliet@capulet.example"], mech,
                        "tls-unique", cb)
        check(r.tag == f"{{{NS_SASL}}}success", f"{mech}: {ET.tostring(r)}")
        # The binding of another channel fails, and cleanly.
        c, h, f = tls_stream(srv, tls_max=ssl.TLSVersion.TLSv1_2)
        cb = c.sock.get_channel_binding("tls-unique")
        r = scram_login(c, "juliet", USERS["juliet@capulet.example"], mech,
                        "tls-unique", cb, tamper_cb=True)
        check(r.tag == f"{{{NS_SASL}}}failure", f"{mech} accepted a bad cb")
        # Then the client may retry on the same stream (as slixmpp does).
        r = c.auth_plain("juliet", USERS["juliet@capulet.example"])
        check(r.tag == f"{{{NS_SASL}}}success", "retry after cb failure")


def core_09_restart_addresses(srv):
    # 'to' changed after TLS → not-authorized.
    c = srv.client("c2s")
    c.open_stream("capulet.example")
    c.starttls()
    c.send(C2S_HEADER.format(to="montague.example"))
    c.expect_stream_error("not-authorized")
    # 'from' absent before TLS and present after it: accepted; a changed
    # 'from' after SASL: not-authorized.
    c = srv.client("c2s")
    c.open_stream("capulet.example")
    c.starttls()
    h, f = c.open_stream("capulet.example", frm="juliet@capulet.example")
    check(f.tag == FEATURES, "features after TLS with from")
    r = c.auth_plain("juliet", USERS["juliet@capulet.example"])
    check(r.tag == f"{{{NS_SASL}}}success", "auth")
    c.restart()
    c.send(C2S_HEADER.format(to="capulet.example").replace(
        " to=", " from='nurse@capulet.example' to="))
    c.expect_stream_error("not-authorized")


def core_23_direct_tls(srv):
    c = srv.client("c2s-tls")
    c.wrap_tls(server_hostname="capulet.example", alpn=["xmpp-client"])
    check(c.sock.selected_alpn_protocol() == "xmpp-client", "ALPN")
    h, f = c.open_stream("capulet.example")
    header_checks(h, "capulet.example")
    check(f.find(f"{{{NS_TLS}}}starttls") is None, "starttls on Direct TLS")
    check("PLAIN" in mechanisms(f), "mechanisms on Direct TLS")
    # Without ALPN it works too; with the wrong ALPN the handshake fails.
    c = srv.client("c2s-tls")
    c.wrap_tls(server_hostname="montague.example")
    h, f = c.open_stream("montague.example")
    check("PLAIN" in mechanisms(f), "no-ALPN Direct TLS")
    c = srv.client("c2s-tls")
    try:
        c.wrap_tls(server_hostname="capulet.example", alpn=["xmpp-server"])
        c.sock.send(b"<x/>")
        data = c.sock.recv(100)
        check(not data, "wrong ALPN accepted")
    except (ssl.SSLError, ConnectionError, OSError):
        pass


def core_13_14_18_delivery(srv):
    j, jfull, _ = login(srv, "juliet@capulet.example",
                        USERS["juliet@capulet.example"], "balcony")
    r, rfull, _ = login(srv, "romeo@montague.example",
                        USERS["romeo@montague.example"], "orchard")
    # CORE-13: no 'from' → stamped with the full JID, across hosts.
    j.send(f"<message to='{rfull}' type='chat' id='m1'><body>hi</body>"
           f"</message>")
    m = r.next_element()
    check(m.tag == "{jabber:client}message", f"got {m.tag}")
    check(m.get("from") == jfull, f"from={m.get('from')}")
    check(m.findtext("{jabber:client}body") == "hi", "body")
    # Bare JID delivery needs available presence.
    r.send("<presence/>")
    j.send("<message to='romeo@montague.example' type='chat'><body>b</body>"
           "</message>")
    while True:
        m = r.next_element()
        if m.tag == "{jabber:client}message":
            break
    check(m.findtext("{jabber:client}body") == "b", "bare delivery")
    # CORE-18: an unknown IQ gets exactly one error.
    j.send("<iq type='get' id='u1' to='capulet.example'>"
           "<query xmlns='urn:example:unknown'/></iq>")
    e = j.next_element()
    check(e.get("type") == "error" and e.get("id") == "u1", "iq error")
    check(e.find(f"{{jabber:client}}error/{{{NS_STANZAS}}}"
                 "service-unavailable") is not None, "service-unavailable")
    j.send("<iq type='get' id='p1' to='capulet.example'>"
           "<ping xmlns='urn:xmpp:ping'/></iq>")
    e = j.next_element()
    check(e.get("type") == "result" and e.get("id") == "p1",
          "one answer per IQ, in order")
    # CORE-14: a 'from' the session may not use → invalid-from.
    j.send("<message from='romeo@montague.example/orchard' "
           f"to='{rfull}'><body>x</body></message>")
    j.expect_stream_error("invalid-from")


def stanza_before_bind(srv):
    c, h, f = tls_stream(srv)
    r = c.auth_plain("juliet", USERS["juliet@capulet.example"])
    c.restart()
    c.open_stream("capulet.example")
    c.send("<message to='romeo@montague.example'><body>x</body></message>")
    c.expect_stream_error("not-authorized")


def make_client_certs(d):
    """A test CA, a client certificate with XmppAddr juliet@capulet.example
    signed by it, and one signed by nobody we trust."""
    import subprocess

    def sh(*args):
        subprocess.run(args, check=True, capture_output=True, cwd=d)
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out",
       "ca.crt", "-subj", "/CN=Test CA", "-days", "2")
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=otherName:1.3.6.1.5.5.7.8.5;UTF8:"
                "juliet@capulet.example\nextendedKeyUsage=clientAuth\n")
    for name in ("juliet", "rogue"):
        sh("openssl", "req", "-newkey", "ec", "-pkeyopt",
           "ec_paramgen_curve:P-256", "-nodes", "-keyout", f"{name}.key",
           "-out", f"{name}.csr", "-subj", f"/CN={name}")
    sh("openssl", "x509", "-req", "-in", "juliet.csr", "-CA", "ca.crt",
       "-CAkey", "ca.key", "-CAcreateserial", "-out", "juliet.crt", "-days",
       "2", "-extfile", "ext.cnf")
    sh("openssl", "x509", "-req", "-in", "rogue.csr", "-signkey",
       "rogue.key", "-out", "rogue.crt", "-days", "2", "-extfile", "ext.cnf")


def sasl_external():
    import tempfile
    d = tempfile.mkdtemp(prefix="xmux-certs-")
    make_client_certs(d)
    srv = server(extra=f'tls = {{ ca_file = "{d}/ca.crt"; }};')
    try:
        # XEP-0178: a verified client certificate naming the account.
        c = srv.client("c2s")
        c.open_stream("capulet.example")
        c.send(f"<starttls xmlns='{NS_TLS}'/>")
        c.next_element()
        c.wrap_tls("capulet.example", cert=f"{d}/juliet.crt",
                   key=f"{d}/juliet.key")
        h, f = c.open_stream("capulet.example")
        check("EXTERNAL" in mechanisms(f), f"mechanisms {mechanisms(f)}")
        c.send(f"<auth xmlns='{NS_SASL}' mechanism='EXTERNAL'>=</auth>")
        r = c.next_element()
        check(r.tag == f"{{{NS_SASL}}}success", f"EXTERNAL: {ET.tostring(r)}")
        c.restart()
        c.open_stream("capulet.example")
        c.send(f"<iq type='set' id='b'><bind xmlns='{NS_BIND}'/></iq>")
        jid = c.next_element().find(f"{{{NS_BIND}}}bind/{{{NS_BIND}}}jid")
        check(jid.text.startswith("juliet@capulet.example/"), "bound JID")
        # An authzid that is not in the certificate.
        c = srv.client("c2s")
        c.open_stream("capulet.example")
        c.send(f"<starttls xmlns='{NS_TLS}'/>")
        c.next_element()
        c.wrap_tls("capulet.example", cert=f"{d}/juliet.crt",
                   key=f"{d}/juliet.key")
        c.open_stream("capulet.example")
        authz = base64.b64encode(b"nurse@capulet.example").decode()
        c.send(f"<auth xmlns='{NS_SASL}' mechanism='EXTERNAL'>{authz}</auth>")
        r = c.next_element()
        check([k.tag for k in r] == [f"{{{NS_SASL}}}invalid-authzid"],
              f"authzid: {ET.tostring(r)}")
        # D-10: an untrusted certificate does not fail the handshake; it
        # just gets no EXTERNAL.
        c = srv.client("c2s")
        c.open_stream("capulet.example")
        c.send(f"<starttls xmlns='{NS_TLS}'/>")
        c.next_element()
        c.wrap_tls("capulet.example", cert=f"{d}/rogue.crt",
                   key=f"{d}/rogue.key")
        h, f = c.open_stream("capulet.example")
        check("EXTERNAL" not in mechanisms(f) and "PLAIN" in mechanisms(f),
              f"untrusted cert: {mechanisms(f)}")
    finally:
        srv.stop()


def sasl_abort_and_retry(srv):
    """RFC 6120 §6.4.4: <abort/> mid-exchange → <failure><aborted/>, and the
    client may start again on the same stream."""
    c, h, f = tls_stream(srv)
    first = base64.b64encode(b"n,,n=juliet,r=abcdefgh").decode()
    c.send(f"<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-1'>{first}</auth>")
    ch = c.next_element()
    check(ch.tag == f"{{{NS_SASL}}}challenge", f"got {ch.tag}")
    c.send(f"<abort xmlns='{NS_SASL}'/>")
    r = c.next_element()
    check([k.tag for k in r] == [f"{{{NS_SASL}}}aborted"],
          f"abort: {ET.tostring(r)}")
    r = scram_login(c, "juliet", USERS["juliet@capulet.example"],
                    "SCRAM-SHA-1")
    check(r.tag == f"{{{NS_SASL}}}success", "retry after abort")


def slow_reader_is_cut(srv):
    """A client that stops reading while others send to it is cut off at
    the hard mark; the sender and the server carry on (STYLE.md §9)."""
    import socket as so
    j, jfull, _ = login(srv, "juliet@capulet.example",
                        USERS["juliet@capulet.example"], "balcony")
    j.sock.setsockopt(so.SOL_SOCKET, so.SO_RCVBUF, 4096)
    r, rfull, _ = login(srv, "romeo@montague.example",
                        USERS["romeo@montague.example"], "orchard")
    body = "x" * 1000
    batch = "".join(f"<message to='{jfull}'><body>{body}</body></message>"
                    for _ in range(100))
    deadline = time.time() + 60
    while "what=output-queue" not in srv.logtext():
        check(time.time() < deadline, "the slow reader was never cut")
        r.send(batch)
    # The sender's stream still works.
    r.send("<iq type='get' id='alive' to='montague.example'>"
           "<ping xmlns='urn:xmpp:ping'/></iq>")
    while True:
        e = r.next_element(timeout=15)
        if e.get("id") == "alive":
            break
    check(e.get("type") == "result", "sender stopped working")
    rss = int([l for l in open(f"/proc/{srv.proc.pid}/status")
               if l.startswith("VmRSS:")][0].split()[1])
    check(rss < 400 * 1024, f"xmuxd RSS {rss} KiB after the flood")


TESTS = {
    "CORE-07-starttls": with_server(core_07_starttls),
    "CORE-02-new-ids": with_server(core_02_three_ids),
    "CORE-08-CORE-25-MUX-82-feature-order": with_server(core_25_feature_order),
    "CORE-26-bind": with_server(core_26_bind),
    "resource-conflict": with_server(resource_conflict),
    "sasl-plain-failures": with_server(sasl_failures),
    "sasl-scram": with_server(scram_mechanisms),
    "sasl-scram-plus-tls-unique": with_server(scram_plus_tls_unique),
    "CORE-09-restart-addresses": with_server(core_09_restart_addresses),
    "CORE-23-direct-tls": with_server(core_23_direct_tls),
    "CORE-13-CORE-14-CORE-18-delivery": with_server(core_13_14_18_delivery),
    "stanza-before-bind": with_server(stanza_before_bind),
    "sasl-external-client-cert": sasl_external,
    "sasl-abort-and-retry": with_server(sasl_abort_and_retry),
    # Without the c2s byte rate, which would slow the flood down.
    "slow-reader-is-cut": with_server(slow_reader_is_cut,
                                      extra="limits = { c2s_rate = 0; };"),
}

if __name__ == "__main__":
    run(TESTS)
