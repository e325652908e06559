# SPDX-License-Identifier: MIT
"""System tests: stanza multiplexing (XEP-0451, urn:xmpp:mux:0) on s2s,
receiving role, over real TLS with a scripted peer (CONFORMANCE.md
MUX-01..23, MUX-29, SEC-02..07, SEC-16, SEC-17, SEC-22). The peer is this
script, acting for montague.example with certificates from a test CA;
xmuxd serves capulet.example and rooms.capulet.example."""

import base64
import socket
import tempfile
import time
import xml.etree.ElementTree as ET

from xmuxtest import NS_SASL, NS_STREAM, NS_TLS, Server, check, run, server_test
from peers import TestCA
from test_c2s import login

NS_MUX = "urn:xmpp:mux:0"
NS_DB = "jabber:server:dialback"
C, RC = "capulet.example", "rooms.capulet.example"
M, CM = "montague.example", "chat.montague.example"

CERTS = None
SRV = "otherName:1.3.6.1.5.5.7.8.7;IA5STRING:_xmpp-server."


def certs():
    """The CA and one certificate per case, by name."""
    global CERTS
    if CERTS is None:
        CERTS = tempfile.mkdtemp(prefix="xmux-mux-certs-")
        ca = TestCA(CERTS)
        ca.issue("m", (M, CM))
        ca.issue_sans("srv", [f"DNS:{M}", SRV + CM])        # MUX-15
        ca.issue_sans("wild", [f"DNS:{M}", "DNS:*.montague.example"])
        ca.issue_sans("own", [f"DNS:{M}", f"DNS:{C}"])      # MUX-19
        ca.issue_sans("cn", [], cn=M)                       # SEC-02
        ca.issue_sans("partial", [f"DNS:{M}", "DNS:ch*.montague.example"])
        ca.issue_sans("tld", [f"DNS:{M}", "DNS:*.example"])  # SEC-04
        ca.issue_sans("ip", [f"DNS:{M}", "IP:127.0.0.9",
                             "URI:xmpp:chat.montague.example",
                             "email:chat.montague.example"])  # SEC-05
        ca.issue_sans("client", [f"DNS:{M}", "otherName:1.3.6.1.5.5.7.8.7;"
                                 "IA5STRING:_xmpp-client.chat.montague.example"])
        ca.issue_sans("local", [f"DNS:{M}", "otherName:1.3.6.1.5.5.7.8.5;"
                                "UTF8:admin@chat.montague.example"])  # SEC-07
        ca.issue_sans("server-only", [f"DNS:{M}", f"DNS:{CM}"],
                      eku="serverAuth")                     # SEC-22
        ca.issue_sans("many", [f"DNS:{M}"] +
                      [f"DNS:h{i}.montague.example" for i in range(300)])
        ca.issue("c", (C, RC))
    return CERTS


def server(hosts=(C, RC), extra="", timeouts=""):
    d = certs()
    hs = tuple({"domain": h, "cert": f"{d}/c.crt", "key": f"{d}/c.key"}
               for h in hosts)
    srv = Server(hosts=hs, timeouts=timeouts,
                 extra=f'tls = {{ ca_file = "{d}/ca.crt"; }};\n' + extra)
    srv.add_user("juliet@" + C, "pw")
    if RC in hosts:
        srv.add_user("nurse@" + RC, "pw")
    return srv.start()


def with_server(fn, **kw):
    return server_test(server, fn, **kw)


def tls_stream(srv, cert="m", frm=M, to=C):
    """STARTTLS with a client certificate, header #2: (client, features)."""
    c = srv.client("s2s")
    _, f = c.open_stream(to, kind="s2s", frm=frm)
    c.send(f"<starttls xmlns='{NS_TLS}'/>")
    check(c.next_element().tag == f"{{{NS_TLS}}}proceed", "proceed")
    kw = {}
    if cert:
        d = certs()
        kw = dict(cert=f"{d}/{cert}.crt", key=f"{d}/{cert}.key")
    c.wrap_tls(to, **kw)
    _, f = c.open_stream(to, kind="s2s", frm=frm)
    return c, f


def has_mux(f):
    return f.find(f"{{{NS_MUX}}}mux") is not None


def has_external(f):
    m = f.find(f"{{{NS_SASL}}}mechanisms")
    return m is not None and "EXTERNAL" in [x.text for x in m]


def auth(c, authzid=M):
    b = base64.b64encode(authzid.encode()).decode() if authzid else "="
    c.send(f"<auth xmlns='{NS_SASL}' mechanism='EXTERNAL'>{b}</auth>")
    return c.next_element()


def negotiate(srv, cert="m", mux=True, frm=M, to=C, bidi=False):
    """Through SASL EXTERNAL (with <bidi/> and <mux/> first if asked) and
    the post-auth features: (client, post-auth features)."""
    c, f = tls_stream(srv, cert, frm, to)
    check(has_external(f), f"EXTERNAL offered for {cert}")
    if bidi:
        c.send("<bidi xmlns='urn:xmpp:bidi'/>")
    if mux:
        check(has_mux(f), f"<mux/> offered for {cert}")
        c.send(f"<mux xmlns='{NS_MUX}'/>")
    r = auth(c, frm)
    check(r.tag == f"{{{NS_SASL}}}success", f"auth: {ET.tostring(r)!r}")
    c.restart()
    _, f = c.open_stream(to, kind="s2s", frm=frm)
    return c, f


def msg(frm, to, mid="x1", body="hi"):
    return (f"<message from='{frm}' to='{to}' id='{mid}' type='chat'>"
            f"<body>{body}</body></message>")


def delivered(user, body, timeout=5):
    el = user.next_element(timeout)
    check(el.tag == "{jabber:client}message" and
          el.findtext("{jabber:client}body") == body,
          f"expected {body!r}, got {ET.tostring(el)!r}")
    return el


def quiet(c, secs=1.5):
    """Nothing arrives on c for secs."""
    n = len(c.elements)
    deadline = time.time() + secs
    while time.time() < deadline:
        c._pump(deadline)
    check(len(c.elements) == n and not c.eof,
          f"unexpected bytes: {c.raw[-300:]!r}")


# --- the offer and the request ----------------------------------------------

def mux_02_07_before_tls(srv):
    """No <mux/> before TLS (MUX-02); one sent then → policy-violation
    (MUX-07)."""
    c = srv.client("s2s")
    _, f = c.open_stream(C, kind="s2s", frm=M)
    check(not has_mux(f), "MUX-02: <mux/> before TLS")
    c.send(f"<mux xmlns='{NS_MUX}'/>")
    c.expect_stream_error("policy-violation")


def mux_01_08_not_offered(srv):
    """Without a client certificate: neither EXTERNAL nor <mux/> (MUX-01,
    SEC-25: TLS still completes); a <mux/> then → policy-violation
    (MUX-08)."""
    c, f = tls_stream(srv, cert=None)
    check(not has_mux(f) and not has_external(f), "nothing offered")
    c.send(f"<mux xmlns='{NS_MUX}'/>")
    c.expect_stream_error("policy-violation")


def mux_04_many_identities(srv):
    """A certificate with more than 256 identities: EXTERNAL may be
    offered, <mux/> is not (MUX-04)."""
    c, f = tls_stream(srv, cert="many")
    check(has_external(f), "EXTERNAL still offered")
    check(not has_mux(f), "MUX-04: no <mux/> past 256 identities")


def mux_05_no_reply(srv):
    """<mux/> gets no reply (MUX-05); <auth/> then succeeds."""
    c, f = tls_stream(srv)
    c.send(f"<mux xmlns='{NS_MUX}'/>")
    quiet(c)
    r = auth(c)
    check(r.tag == f"{{{NS_SASL}}}success", "success after <mux/>")


def mux_06_pipelined(srv):
    """<bidi/><mux/><auth/> in one write are all accepted (MUX-06)."""
    c, f = tls_stream(srv)
    b = base64.b64encode(M.encode()).decode()
    c.send(f"<bidi xmlns='urn:xmpp:bidi'/><mux xmlns='{NS_MUX}'/>"
           f"<auth xmlns='{NS_SASL}' mechanism='EXTERNAL'>{b}</auth>")
    r = c.next_element()
    check(r.tag == f"{{{NS_SASL}}}success", f"MUX-06: {ET.tostring(r)!r}")


def mux_09_twice(srv):
    """<mux/><mux/> → policy-violation (MUX-09)."""
    c, f = tls_stream(srv)
    c.send(f"<mux xmlns='{NS_MUX}'/><mux xmlns='{NS_MUX}'/>")
    c.expect_stream_error("policy-violation")


def mux_10_after_success(srv):
    """<mux/> after <success/>, where only a new header may come →
    not-well-formed (MUX-10, D-11)."""
    c, f = tls_stream(srv)
    check(auth(c).tag == f"{{{NS_SASL}}}success", "success")
    c.restart()
    c.send(f"<mux xmlns='{NS_MUX}'/>")
    c.expect_stream_error("not-well-formed")


def mux_11_late(srv):
    """An empty <mux/> after the post-SASL restart → policy-violation
    (MUX-11)."""
    c, f = negotiate(srv)
    c.send(f"<mux xmlns='{NS_MUX}'/>")
    c.expect_stream_error("policy-violation")


def mux_12_malformed(srv):
    """A pre-auth <mux> with text or a child → bad-format (MUX-12)."""
    for body in ("x", "<x/>"):
        c, f = tls_stream(srv)
        c.send(f"<mux xmlns='{NS_MUX}'>{body}</mux>")
        c.expect_stream_error("bad-format")


def mux_13_host_too_early(srv):
    """A pre-auth <mux host='...'>secret</mux> → policy-violation
    (MUX-13)."""
    c, f = tls_stream(srv)
    c.send(f"<mux xmlns='{NS_MUX}' host='{C}'>abc</mux>")
    c.expect_stream_error("policy-violation")


def sec_16_oversized(srv):
    """A mux element over 4096 octets → policy-violation (SEC-16)."""
    c, f = tls_stream(srv)
    c.send(f"<mux xmlns='{NS_MUX}'>" + " " * 5000 + "</mux>")
    c.expect_stream_error("policy-violation")


def sec_17_other_namespace(srv):
    """mux in urn:xmpp:mux:1 is an unknown element (SEC-17)."""
    c, f = tls_stream(srv)
    c.send("<mux xmlns='urn:xmpp:mux:1'/>")
    c.expect_stream_error("unsupported-stanza-type")


# --- who may send (SND) --------------------------------------------------------

def sender_check(srv, cert, frm, ok, mux=True):
    """Negotiate with cert, send a message from frm to juliet: delivered
    (ok) or invalid-from."""
    j, jj, _ = login(srv, "juliet@" + C, "pw", "balcony")
    c, f = negotiate(srv, cert, mux)
    c.send(msg(f"room@{frm}", jj, body=f"from {frm}"))
    if ok:
        el = delivered(j, f"from {frm}")
        check(el.get("from") == f"room@{frm}", "from kept")
    else:
        c.expect_stream_error("invalid-from")


def mux_14_cert_domains(srv):
    """After <mux/> + EXTERNAL, stanzas from every DNS-ID domain of the
    certificate are delivered (MUX-14)."""
    sender_check(srv, "m", CM, True)


def mux_15_srv_id(srv):
    """An SRV-ID _xmpp-server.X authorizes X (MUX-15)."""
    sender_check(srv, "srv", CM, True)


def mux_16_without_mux(srv):
    """Without <mux/> the second certificate domain is not a sender
    (MUX-16)."""
    sender_check(srv, "m", CM, False, mux=False)


def mux_17_outside_cert(srv):
    """With mux, a 'from' outside the certificate → invalid-from
    (MUX-17)."""
    sender_check(srv, "m", "elsewhere.example", False)


def mux_18_wildcard_one_label(srv):
    """*.montague.example covers a.montague.example (MUX-18)..."""
    sender_check(srv, "wild", "a.montague.example", True)


def mux_18_wildcard_not_two(srv):
    """... but not b.a.montague.example (MUX-18)."""
    sender_check(srv, "wild", "b.a.montague.example", False)


def mux_19_own_domain(srv):
    """A 'from' in one of R's own domains is refused even if the peer's
    certificate covers it (MUX-19)."""
    sender_check(srv, "own", C, False)


def sec_03_partial_wildcard(srv):
    sender_check(srv, "partial", CM, False)


def sec_04_tld_wildcard(srv):
    sender_check(srv, "tld", "x.example", False)


def sec_05_ip_uri_email(srv):
    sender_check(srv, "ip", CM, False)


def sec_06_client_srv_id(srv):
    sender_check(srv, "client", CM, False)


def sec_07_xmppaddr_localpart(srv):
    sender_check(srv, "local", CM, False)


def sec_02_cn_only(srv):
    """A certificate with only a CN: no EXTERNAL, no <mux/> (SEC-02)."""
    c, f = tls_stream(srv, cert="cn")
    check(not has_external(f) and not has_mux(f), "CN is never used")


def sec_22_eku(srv):
    """A serverAuth-only certificate gets no EXTERNAL with
    s2s.require_client_eku = true (the default) (SEC-22)."""
    c, f = tls_stream(srv, cert="server-only")
    check(not has_external(f) and not has_mux(f), "no clientAuth: nothing")


def sec_22_eku_relaxed(srv):
    """... and EXTERNAL with <mux/> when it is false (SEC-22)."""
    c, f = tls_stream(srv, cert="server-only")
    check(has_external(f) and has_mux(f), "relaxed: offered")


def mux_20_retry(srv):
    """<mux/>, a failed EXTERNAL (wrong authzid), a retry that succeeds:
    the certificate set applies (MUX-20)."""
    j, jj, _ = login(srv, "juliet@" + C, "pw", "balcony")
    c, f = tls_stream(srv)
    c.send(f"<mux xmlns='{NS_MUX}'/>")
    r = auth(c, CM)
    check(r.tag == f"{{{NS_SASL}}}failure" and
          r.find(f"{{{NS_SASL}}}invalid-authzid") is not None,
          f"invalid-authzid: {ET.tostring(r)!r}")
    check(auth(c, M).tag == f"{{{NS_SASL}}}success", "retry")
    c.restart()
    c.open_stream(C, kind="s2s", frm=M)
    c.send(msg(f"room@{CM}", jj, body="after retry"))
    delivered(j, "after retry")


def mux_21_dialback_instead(srv):
    """<mux/> then dialback instead of SASL: only the verified pair may
    send (MUX-21)."""
    j, jj, _ = login(srv, "juliet@" + C, "pw", "balcony")
    c, f = tls_stream(srv)
    c.send(f"<mux xmlns='{NS_MUX}'/>")
    c.send(f"<db:result xmlns:db='{NS_DB}' from='{M}' to='{C}'>"
           f"{'a' * 64}</db:result>")
    r = c.next_element()
    check(r.get("type") == "valid", f"XEP-0344 valid: {ET.tostring(r)!r}")
    c.send(msg(f"romeo@{M}", jj, body="verified pair"))
    delivered(j, "verified pair")
    c.send(msg(f"room@{CM}", jj, body="not verified"))
    c.expect_stream_error("invalid-from")


# --- the host list (F2) and targets ----------------------------------------------

def mux_22_host_list(srv):
    """Post-auth features list the other hosts, never the stream 'to'
    (MUX-22); stanzas to a listed host are accepted (MUX-23)."""
    n, nj, _ = login(srv, "nurse@" + RC, "pw", "kitchen")
    c, f = negotiate(srv)
    m = f.find(f"{{{NS_MUX}}}mux")
    check(m is not None, f"F2 present: {ET.tostring(f)!r}")
    hosts = [h.text for h in m]
    check(hosts == [RC], f"MUX-22: hosts {hosts}")
    c.send(msg(f"romeo@{M}", nj, body="to the listed host"))
    delivered(n, "to the listed host")


def mux_22_no_host_list():
    """One host: no F2 at all, never an empty post-auth <mux/>."""
    srv = server(hosts=(C,))
    try:
        c, f = negotiate(srv)
        check(f.find(f"{{{NS_MUX}}}mux") is None,
              f"MUX-22: no F2 with one host: {ET.tostring(f)!r}")
    finally:
        srv.stop()


def mux_29_state_dies(srv):
    """Mux state dies with the stream: reconnect without <mux/>, and the
    second domain is no sender any more (MUX-29)."""
    j, jj, _ = login(srv, "juliet@" + C, "pw", "balcony")
    c, f = negotiate(srv)
    c.send(msg(f"room@{CM}", jj, body="with mux"))
    delivered(j, "with mux")
    c.send("</stream:stream>")
    c.wait_eof()
    c, f = negotiate(srv, mux=False)
    c.send(msg(f"room@{CM}", jj, body="without"))
    c.expect_stream_error("invalid-from")


# --- connection authorization, xmuxd receiving (MUX.md §8.4) ----------------

def primary_and_secondary(srv):
    """P: montague.example -> capulet.example with bidi and mux; S:
    montague.example -> rooms.capulet.example, whose host list names
    capulet.example. Returns (P, S)."""
    pc, f = negotiate(srv, bidi=True)
    sc, f2 = negotiate(srv, to=RC, mux=False)
    hosts = [h.text for h in f2.find(f"{{{NS_MUX}}}mux")]
    check(hosts == [C], f"S lists the via host: {hosts}")
    return pc, sc


def f4(host, secret):
    return f"<mux xmlns='{NS_MUX}' host='{host}'>{secret}</mux>"


def relayed_iq(pc, secret):
    """MUX-53/54/76, SEC-11: the IQ on P, exactly."""
    iq = pc.next_element()
    check(iq.tag == "{jabber:server}iq" and iq.get("type") == "set" and
          iq.get("from") == C and iq.get("to") == M and iq.get("id"),
          f"F5 IQ: {ET.tostring(iq)!r}")
    m = iq.find(f"{{{NS_MUX}}}mux")
    check(m is not None and not m.attrib and len(m) == 0 and
          m.text == secret and len(iq) == 1, f"payload: {ET.tostring(iq)!r}")
    return iq


def m3_r_success(srv):
    """A valid F4 on S: the IQ over the bidi primary (MUX-53, MUX-54),
    secret trimmed (MUX-76); the result closes S (MUX-56), and rooms may
    then send to montague over P (RSND)."""
    n, nj, _ = login(srv, "nurse@" + RC, "pw", "kitchen")
    pc, sc = primary_and_secondary(srv)
    sc.send(f4(C, "\n   the-secret-1234  \n"))
    iq = relayed_iq(pc, "the-secret-1234")
    pc.send(f"<iq type='result' id='{iq.get('id')}' from='{M}' to='{C}'/>")
    sc.wait(lambda: sc.closed_tag, "MUX-56: S closed", timeout=5)
    n.send(f"<message to='romeo@{M}/x' id='r1' type='chat'>"
           "<body>over P</body></message>")
    el = pc.next_element()
    check(el.get("id") == "r1" and el.get("from") == nj,
          f"rooms now sends over P: {ET.tostring(el)!r}")


def m3_r_error(srv):
    """An error answer keeps S open as an ordinary stream (MUX-57)."""
    n, nj, _ = login(srv, "nurse@" + RC, "pw", "kitchen")
    pc, sc = primary_and_secondary(srv)
    sc.send(f4(C, "s3cr3t"))
    iq = relayed_iq(pc, "s3cr3t")
    pc.send(f"<iq type='error' id='{iq.get('id')}' from='{M}' to='{C}'>"
            "<error type='modify'><not-acceptable xmlns='urn:ietf:params:"
            "xml:ns:xmpp-stanzas'/></error></iq>")
    time.sleep(0.3)
    sc.send(msg(f"romeo@{M}", nj, body="still open"))
    delivered(n, "still open")


def m3_r_timeout(srv):
    """No answer within T_iq_R: S stays open (MUX-58)."""
    n, nj, _ = login(srv, "nurse@" + RC, "pw", "kitchen")
    pc, sc = primary_and_secondary(srv)
    sc.send(f4(C, "s3cr3t"))
    relayed_iq(pc, "s3cr3t")
    time.sleep(2.5)
    sc.send(msg(f"romeo@{M}", nj, body="after the timeout"))
    delivered(n, "after the timeout")
    check("result=failed" in srv.logtext(), "the attempt timed out")


def m3_r_unlisted(srv):
    """A host not listed on S: no IQ, S stays open (MUX-70)."""
    n, nj, _ = login(srv, "nurse@" + RC, "pw", "kitchen")
    pc, sc = primary_and_secondary(srv)
    sc.send(f4("unlisted.example", "s3cr3t"))
    quiet(pc)
    sc.send(msg(f"romeo@{M}", nj, body="open"))
    delivered(n, "open")


def f4_error(srv, element, cond):
    pc, sc = primary_and_secondary(srv)
    sc.send(element)
    sc.expect_stream_error(cond)


def m3_r_bad_host(srv):
    """host invalid (MUX-71) or an IP literal (SEC-14) → bad-format."""
    f4_error(srv, f4("not a domain", "x"), "bad-format")
    f4_error(srv, f4("[::1]", "x"), "bad-format")


def m3_r_blank(srv):
    """Empty or whitespace-only secret → bad-format (MUX-72)."""
    f4_error(srv, f4(C, "   "), "bad-format")


def m3_r_long(srv):
    """A 1025-octet secret → policy-violation (MUX-73)."""
    f4_error(srv, f4(C, "a" * 1025), "policy-violation")


def m3_r_child(srv):
    """A child element → bad-format (MUX-74)."""
    f4_error(srv, f4(C, "<x/>"), "bad-format")


def m3_r_pending(srv):
    """A second F4 while one is pending → policy-violation (MUX-75)."""
    f4_error(srv, f4(C, "one") + f4(C, "two"), "policy-violation")


def m3_r_fourth(srv):
    """The fourth F4 on one stream → policy-violation (MUX-75, D-12:
    ignored ones count)."""
    f4_error(srv, f4("unlisted.example", "1") + f4("unlisted.example", "2") +
             f4("unlisted.example", "3") + f4("unlisted.example", "4"),
             "policy-violation")


def m3_r_dialback_only(srv):
    """F4 on a dialback-only stream → policy-violation (MUX-77)."""
    c, f = tls_stream(srv)
    c.send(f"<db:result xmlns:db='{NS_DB}' from='{M}' to='{C}'>"
           f"{'a' * 64}</db:result>")
    check(c.next_element().get("type") == "valid", "dialback valid")
    c.send(f4(RC, "x"))
    c.expect_stream_error("policy-violation")


def sec_21_isolation(srv):
    """A stream error on one s2s stream leaves the others working: another
    s2s stream and a c2s session keep exchanging (SEC-21)."""
    j, jj, _ = login(srv, "juliet@" + C, "pw", "balcony")
    good, _ = negotiate(srv, bidi=True)
    bad, _ = negotiate(srv, mux=False)
    bad.send(msg(f"x@{CM}", jj, body="spoofed"))
    bad.expect_stream_error("invalid-from")
    good.send(msg(f"romeo@{M}", jj, body="unaffected"))
    delivered(j, "unaffected")
    j.send(f"<message to='romeo@{M}/x' id='back' type='chat'>"
           "<body>reply</body></message>")
    el = good.next_element()
    check(el.get("id") == "back", f"reply over the good stream: {el}")


def short_lived(name, secs):
    """A certificate for montague.example (and chat) from the test CA that
    expires secs seconds from now (already expired if secs < 0)."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    d = certs()
    with open(f"{d}/ca.key", "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    with open(f"{d}/ca.crt", "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                        M)]))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=2))
            .not_valid_after(now + datetime.timedelta(seconds=secs))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(M), x509.DNSName(CM)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH,
                 ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    with open(f"{d}/{name}.crt", "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(f"{d}/{name}.key", "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


def sec_01_expired(srv):
    """An expired peer certificate: TLS completes (D-10), but neither
    EXTERNAL nor <mux/> is offered (SEC-01)."""
    short_lived("expired", -60)
    c, f = tls_stream(srv, cert="expired")
    check(not has_external(f) and not has_mux(f),
          f"SEC-01: {ET.tostring(f)!r}")


def sec_12_expiry(srv):
    """A peer certificate that expires while its mux stream is open: the
    stream ends with <reset/> (SEC-12, MUX.md §11)."""
    short_lived("soon", 3)
    c, f = negotiate(srv, cert="soon")
    el = c.next_element(timeout=10)
    check(el.tag == f"{{{NS_STREAM}}}error" and
          el.find("{urn:ietf:params:xml:ns:xmpp-streams}reset") is not None,
          f"SEC-12: {ET.tostring(el)!r}")


def bidi_05_nothing_before_auth():
    """BIDI-05: stanzas for montague.example wait (xmuxd's own stream to
    it hangs on a port that never answers); the peer opens a stream from
    montague.example with <bidi/> and <mux/> and delays its <auth/>: a
    stanza written meanwhile does not come over it, nothing does before
    <success/>. Once authenticated, a stanza from a listed host xmuxd's
    certificate covers, to another domain of the peer's certificate,
    comes over it (BIDI-08)."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(8)
    port = hole.getsockname()[1]
    srv = server(extra=f's2s = {{ resolver = "127.0.0.1:1"; routes = ( '
                 f'{{ domain = "{M}"; host = "127.0.0.1"; port = {port}; }}'
                 ' ); };\n')
    try:
        j, _, _ = login(srv, "juliet@" + C, "pw", "balcony")
        n, _, _ = login(srv, "nurse@" + RC, "pw", "kitchen")
        j.send(f"<message to='romeo@{M}/orchard' id='e1' type='chat'>"
               "<body>early</body></message>")
        c, f = tls_stream(srv)
        c.send("<bidi xmlns='urn:xmpp:bidi'/>")
        c.send(f"<mux xmlns='{NS_MUX}'/>")
        time.sleep(0.3)
        n.send(f"<message to='romeo@{M}/orchard' id='e2' type='chat'>"
               "<body>meanwhile</body></message>")
        quiet(c, 1.5)
        r = auth(c, M)
        check(r.tag == f"{{{NS_SASL}}}success",
              f"BIDI-05: <success/> comes first: {ET.tostring(r)!r}")
        c.restart()
        c.open_stream(C, kind="s2s", frm=M)
        n.send(f"<message to='benvolio@{CM}/street' id='n1' type='chat'>"
               "<body>after</body></message>")
        el = c.next_element()
        check(el.get("id") == "n1" and el.get("from") == f"nurse@{RC}/kitchen",
              f"BIDI-08: from the listed host over bidi: {ET.tostring(el)!r}")
    finally:
        hole.close()
        srv.stop()


def s(fn, **kw):
    return with_server(fn, **kw)


TESTS = {
    "MUX-02-MUX-07-before-tls": s(mux_02_07_before_tls),
    "MUX-01-MUX-08-SEC-25-not-offered": s(mux_01_08_not_offered),
    "MUX-04-many-identities": s(mux_04_many_identities),
    "MUX-05-no-reply": s(mux_05_no_reply),
    "MUX-06-pipelined": s(mux_06_pipelined),
    "MUX-09-twice": s(mux_09_twice),
    "MUX-10-after-success": s(mux_10_after_success),
    "MUX-11-late": s(mux_11_late),
    "MUX-12-malformed": s(mux_12_malformed),
    "MUX-13-host-too-early": s(mux_13_host_too_early),
    "SEC-16-oversized": s(sec_16_oversized),
    "SEC-17-other-namespace": s(sec_17_other_namespace),
    "MUX-14-cert-domains": s(mux_14_cert_domains),
    "MUX-15-srv-id": s(mux_15_srv_id),
    "MUX-16-without-mux": s(mux_16_without_mux),
    "MUX-17-outside-cert": s(mux_17_outside_cert),
    "MUX-18-wildcard-one-label": s(mux_18_wildcard_one_label),
    "MUX-18-wildcard-not-two": s(mux_18_wildcard_not_two),
    "MUX-19-own-domain": s(mux_19_own_domain),
    "MUX-20-retry": s(mux_20_retry),
    "MUX-21-dialback-instead": s(mux_21_dialback_instead),
    "MUX-22-MUX-23-host-list": s(mux_22_host_list),
    "MUX-22-no-host-list": mux_22_no_host_list,
    "BIDI-05-BIDI-08-nothing-before-auth": bidi_05_nothing_before_auth,
    "MUX-29-state-dies": s(mux_29_state_dies),
    "SEC-02-cn-only": s(sec_02_cn_only),
    "SEC-03-partial-wildcard": s(sec_03_partial_wildcard),
    "SEC-04-tld-wildcard": s(sec_04_tld_wildcard),
    "SEC-05-ip-uri-email": s(sec_05_ip_uri_email),
    "SEC-06-client-srv-id": s(sec_06_client_srv_id),
    "SEC-07-xmppaddr-localpart": s(sec_07_xmppaddr_localpart),
    "MUX-53-54-56-76-SEC-11-m3-relay": s(m3_r_success),
    "MUX-57-m3-error": s(m3_r_error),
    "MUX-58-m3-timeout": s(m3_r_timeout, timeouts="iq_response = 1;"),
    "MUX-70-m3-unlisted": s(m3_r_unlisted),
    "MUX-71-SEC-14-m3-bad-host": s(m3_r_bad_host),
    "MUX-72-m3-blank": s(m3_r_blank),
    "MUX-73-m3-long": s(m3_r_long),
    "MUX-74-m3-child": s(m3_r_child),
    "MUX-75-m3-pending": s(m3_r_pending),
    "MUX-75-m3-fourth": s(m3_r_fourth),
    "MUX-77-m3-dialback-only": s(m3_r_dialback_only),
    "SEC-21-isolation": s(sec_21_isolation),
    "SEC-12-certificate-expiry": s(sec_12_expiry),
    "SEC-01-expired-certificate": s(sec_01_expired),
    "SEC-22-eku-required": s(sec_22_eku),
    "SEC-22-eku-relaxed": s(sec_22_eku_relaxed,
                            extra="s2s = { require_client_eku = false; };\n"),
}

if __name__ == "__main__":
    run(TESTS)
