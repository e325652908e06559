# SPDX-License-Identifier: MIT
"""System tests: client-to-server multiplexing (MUX.md §10) over real TLS
with a raw client presenting a certificate with several XmppAddr JIDs
(CONFORMANCE.md MUX-30..46)."""

import base64
import tempfile
import time
import xml.etree.ElementTree as ET

from xmuxtest import NS_SASL, NS_STREAM, NS_TLS, Server, check, run, server_test
from peers import TestCA
from test_c2s import login

NS_MUX = "urn:xmpp:mux:0"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
C, M = "capulet.example", "montague.example"
XMPP = "otherName:1.3.6.1.5.5.7.8.5;UTF8:"
PW = "pw"

CERTS = None


def certs():
    global CERTS
    if CERTS is None:
        CERTS = tempfile.mkdtemp(prefix="xmux-c2smux-")
        ca = TestCA(CERTS)
        ca.issue_sans("two", [XMPP + "juliet@" + C, XMPP + "juliet@" + M,
                              XMPP + "ghost@" + M], eku="clientAuth")
        ca.issue_sans("domain", [XMPP + "juliet@" + C, XMPP + M],
                      eku="clientAuth")
        ca.issue_sans("conly", [XMPP + "juliet@" + C], eku="clientAuth")
    return CERTS


def server(extra="", negotiation=60):
    d = certs()
    srv = Server(hosts=(C, M), negotiation=negotiation,
                 extra=f'tls = {{ ca_file = "{d}/ca.crt"; }};\n' + extra)
    for j in ("juliet@" + C, "juliet@" + M, "romeo@" + M, "nurse@" + C):
        srv.add_user(j, PW)
    return srv.start()


def with_server(fn, **kw):
    return server_test(server, fn, **kw)


def tls(srv, cert="two"):
    d = certs()
    c = srv.client("c2s")
    c.open_stream(C)
    c.send(f"<starttls xmlns='{NS_TLS}'/>")
    check(c.next_element().tag == f"{{{NS_TLS}}}proceed", "proceed")
    c.wrap_tls(C, cert=f"{d}/{cert}.crt", key=f"{d}/{cert}.key")
    _, f = c.open_stream(C)
    return c, f


def external(c, authzid):
    b = base64.b64encode(authzid.encode()).decode() if authzid else "="
    c.send(f"<auth xmlns='{NS_SASL}' mechanism='EXTERNAL'>{b}</auth>")
    return c.next_element()


def mux_session(srv, resource="balcony", cert="two"):
    """<mux/>, EXTERNAL as juliet@capulet.example, bind: (client, bound
    JID, post-auth features)."""
    c, f = tls(srv, cert)
    check(f.find(f"{{{NS_MUX}}}mux") is not None, "MUX-30: <mux/> offered")
    c.send(f"<mux xmlns='{NS_MUX}'/>")
    r = external(c, "juliet@" + C)
    check(r.tag == f"{{{NS_SASL}}}success", f"auth: {ET.tostring(r)!r}")
    c.restart()
    _, f = c.open_stream(C)
    c.send(f"<iq type='set' id='b1'><bind xmlns='{NS_BIND}'>"
           f"<resource>{resource}</resource></bind></iq>")
    r = c.next_element()
    check(r.get("type") == "result", f"bind: {ET.tostring(r)!r}")
    return c, r.find(f"{{{NS_BIND}}}bind/{{{NS_BIND}}}jid").text, f


def got(c, body=None, timeout=5):
    """The next element; with body, the next message (presence echoes of
    the account's own broadcast are skipped) with that body."""
    el = c.next_element(timeout)
    while body is not None and el.tag == "{jabber:client}presence":
        el = c.next_element(timeout)
    if body is not None:
        check(el.findtext("{jabber:client}body") == body,
              f"expected {body!r}: {ET.tostring(el)!r}")
    return el


def m30_31_negotiation(srv):
    """<mux/> + EXTERNAL with the primary authzid; post-auth features list
    montague.example with bind (MUX-30); bind gives the primary full JID
    (MUX-31)."""
    c, full, f = mux_session(srv)
    kids = [k.tag for k in f]
    check(kids[:2] == [f"{{{NS_MUX}}}mux", f"{{{NS_BIND}}}bind"],
          f"MUX-30 features: {kids}")
    check([h.text for h in f[0]] == [M], "montague.example listed")
    check(full == f"juliet@{C}/balcony", f"MUX-31: {full}")


def m32_33_36_37_from_and_back(srv):
    """'from' of the other identity kept (MUX-32), bare stamped with the
    resource (MUX-33), none means the primary (MUX-36); stanzas to the
    other full JID come back over the stream (MUX-37)."""
    r, rj, _ = login(srv, "romeo@" + M, PW, "orchard")
    c, full, _ = mux_session(srv)
    c.send(f"<message from='juliet@{M}/balcony' to='{rj}' type='chat'>"
           "<body>one</body></message>")
    check(got(r, "one").get("from") == f"juliet@{M}/balcony", "MUX-32")
    c.send(f"<message from='juliet@{M}' to='{rj}' type='chat'>"
           "<body>two</body></message>")
    check(got(r, "two").get("from") == f"juliet@{M}/balcony", "MUX-33")
    c.send(f"<message to='{rj}' type='chat'><body>three</body></message>")
    check(got(r, "three").get("from") == f"juliet@{C}/balcony", "MUX-36")
    r.send(f"<message to='juliet@{M}/balcony' type='chat'>"
           "<body>back</body></message>")
    el = got(c, "back")
    check(el.get("to") == f"juliet@{M}/balcony", "MUX-37")


def m34_other_resource(srv):
    """A multiplexed JID with another resource → invalid-from (MUX-34)."""
    c, full, _ = mux_session(srv)
    c.send(f"<message from='juliet@{M}/other' to='romeo@{M}'/>")
    c.expect_stream_error("invalid-from")


def m35_not_in_cert(srv):
    """A JID not in the certificate → invalid-from (MUX-35)."""
    c, full, _ = mux_session(srv)
    c.send(f"<message from='nurse@{C}/x' to='romeo@{M}'/>")
    c.expect_stream_error("invalid-from")


def m40_no_account(srv):
    """A certificate JID without an account is no identity (MUX-40)."""
    c, full, _ = mux_session(srv)
    c.send(f"<message from='ghost@{M}/balcony' to='romeo@{M}'/>")
    c.expect_stream_error("invalid-from")
    check("event=mux-identity-dropped" in srv.logtext(), "logged")


def m41_domain_jid(srv):
    """A domain-only XmppAddr is ignored by default (MUX-41)."""
    c, full, _ = mux_session(srv, cert="domain")
    c.send(f"<message from='anyone@{M}/x' to='romeo@{M}'/>")
    c.expect_stream_error("invalid-from")


def m42_scram_after_mux(srv):
    """<mux/> then a password mechanism: no extra identities (MUX-42)."""
    c, f = tls(srv)
    c.send(f"<mux xmlns='{NS_MUX}'/>")
    r = c.auth_plain("juliet", PW)
    check(r.tag == f"{{{NS_SASL}}}success", "PLAIN")
    c.restart()
    c.open_stream(C)
    c.send(f"<iq type='set' id='b1'><bind xmlns='{NS_BIND}'>"
           "<resource>r</resource></bind></iq>")
    check(c.next_element().get("type") == "result", "bound")
    c.send(f"<message from='juliet@{M}/r' to='romeo@{M}'/>")
    c.expect_stream_error("invalid-from")


def m43_authzid(srv):
    """With two certificate JIDs an empty authzid, or one not in the
    certificate, gets invalid-authzid (MUX-43)."""
    c, f = tls(srv)
    c.send(f"<mux xmlns='{NS_MUX}'/>")
    r = external(c, None)
    check(r.find(f"{{{NS_SASL}}}invalid-authzid") is not None,
          f"empty: {ET.tostring(r)!r}")
    r = external(c, "nurse@" + C)
    check(r.find(f"{{{NS_SASL}}}invalid-authzid") is not None,
          f"not in the certificate: {ET.tostring(r)!r}")


def m44_busy_resource(srv):
    """The resource taken for any identity: a generated one for all
    (MUX-44), and the other session is not disturbed."""
    o, oj, _ = login(srv, "juliet@" + M, PW, "balcony")
    c, full, _ = mux_session(srv)
    check(full.startswith(f"juliet@{C}/") and full != f"juliet@{C}/balcony",
          f"MUX-44: generated resource: {full}")
    o.send(f"<message to='{full}' type='chat'><body>still here</body>"
           "</message>")
    got(c, "still here")


def m38_46_presence(srv):
    """The other identity is an available resource only after presence
    from it (MUX-38); when the stream ends, unavailable presence goes out
    for every identity (MUX-46)."""
    r, rj, _ = login(srv, "romeo@" + M, PW, "orchard")
    c, full, _ = mux_session(srv)
    r.send(f"<message to='juliet@{M}' type='chat' id='b1'>"
           "<body>before</body></message>")
    el = got(r)
    check(el.get("type") == "error", f"MUX-38: not yet: {ET.tostring(el)!r}")
    c.send(f"<presence from='juliet@{M}/balcony'/>")
    time.sleep(0.2)
    r.send(f"<message to='juliet@{M}' type='chat'><body>after</body>"
           "</message>")
    got(c, "after")
    for frm in (f"juliet@{C}/balcony", f"juliet@{M}/balcony"):
        c.send(f"<presence from='{frm}' to='{rj}'/>")
        check(got(r).get("from") == frm, "directed presence")
    c.close()
    left = {got(r).get("from"), got(r).get("from")}
    check(left == {f"juliet@{C}/balcony", f"juliet@{M}/balcony"},
          f"MUX-46: unavailable for both: {left}")


def m39_48_iq_for_identity(srv):
    """An IQ without 'to' from the other identity is answered for that
    account (MUX-39); an F5-style IQ from a client gets
    service-unavailable (MUX-48)."""
    c, full, _ = mux_session(srv)
    c.send(f"<iq type='get' id='v1' from='juliet@{M}/balcony'>"
           "<ping xmlns='urn:xmpp:ping'/></iq>")
    el = got(c)
    check(el.get("type") == "result" and el.get("from") == f"juliet@{M}" and
          el.get("to") == f"juliet@{M}/balcony",
          f"MUX-39: {ET.tostring(el)!r}")
    c.send(f"<iq type='set' id='f5' to='{C}'><mux xmlns='{NS_MUX}'>abc"
           "</mux></iq>")
    el = got(c)
    check(el.get("type") == "error" and el.find(
        "{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}"
        "service-unavailable") is not None, f"MUX-48: {ET.tostring(el)!r}")


# --- c2s connection authorization (§10.6) -----------------------------------

def secondary(srv, jid="juliet@" + M, to=M):
    """S: logged in with a password as jid, no resource bound; returns
    (client, post-auth features)."""
    user = jid.split("@")[0]
    c = srv.client("c2s")
    c.open_stream(to)
    c.starttls(server_hostname=to)
    c.open_stream(to)
    r = c.auth_plain(user, PW)
    check(r.tag == f"{{{NS_SASL}}}success", "S auth")
    c.restart()
    _, f = c.open_stream(to)
    return c, f


def f4(host, secret="k-secret-1"):
    return f"<mux xmlns='{NS_MUX}' host='{host}'>{secret}</mux>"


def f5_on(p, secret="k-secret-1"):
    """The IQ on P: from P's domain to P's full JID, the secret."""
    el = got(p)
    check(el.tag == "{jabber:client}iq" and el.get("type") == "set" and
          el.findtext(f"{{{NS_MUX}}}mux") == secret,
          f"F5 on P: {ET.tostring(el)!r}")
    return el


def m83_84_89_merge(srv):
    """F4 on S naming P's full JID: one IQ on P from P's domain (MUX-83);
    P's result merges the account and closes S; P sends and receives as
    juliet@montague.example/balcony (MUX-84); ending P ends both (MUX-89)."""
    r, rj, _ = login(srv, "romeo@" + M, PW, "orchard")
    p, pj, _ = login(srv, "juliet@" + C, PW, "balcony")
    s, f = secondary(srv)
    check([h.text for h in f.find(f"{{{NS_MUX}}}mux")] == [C],
          "MUX-82: S lists capulet.example")
    s.send(f4(pj))
    iq = f5_on(p)
    check(iq.get("from") == C and iq.get("to") == pj, f"MUX-83: {iq.attrib}")
    p.send(f"<iq type='result' id='{iq.get('id')}' to='{C}'/>")
    s.wait(lambda: s.closed_tag, "S closed", timeout=5)
    p.send(f"<message from='juliet@{M}/balcony' to='{rj}' type='chat'>"
           "<body>merged</body></message>")
    check(got(r, "merged").get("from") == f"juliet@{M}/balcony", "MUX-84")
    r.send(f"<message to='juliet@{M}/balcony' type='chat'><body>to P</body>"
           "</message>")
    got(p, "to P")
    p.close()
    time.sleep(0.5)
    q, qj, _ = login(srv, "juliet@" + M, PW, "balcony")
    check(qj == f"juliet@{M}/balcony", f"MUX-89: JID free again: {qj}")


def m85_refused(srv):
    """not-acceptable from P: nothing merged, S can bind (MUX-85)."""
    p, pj, _ = login(srv, "juliet@" + C, PW, "balcony")
    s, f = secondary(srv)
    s.send(f4(pj))
    iq = f5_on(p)
    p.send(f"<iq type='error' id='{iq.get('id')}' to='{C}'><error "
           "type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:"
           "xmpp-stanzas'/></error></iq>")
    time.sleep(0.3)
    s.send(f"<iq type='set' id='b2'><bind xmlns='{NS_BIND}'/></iq>")
    check(got(s).get("type") == "result", "S binds normally")
    p.send(f"<message from='juliet@{M}/balcony' to='romeo@{M}'/>")
    p.expect_stream_error("invalid-from")


def m86_not_bound(srv):
    """A full JID nobody holds: no IQ anywhere, S stays open (MUX-86)."""
    s, f = secondary(srv)
    s.send(f4(f"nobody@{C}/x"))
    time.sleep(0.5)
    s.send(f"<iq type='set' id='b3'><bind xmlns='{NS_BIND}'/></iq>")
    check(got(s).get("type") == "result", "S still usable")


def m87_pending(srv):
    """A second F4 while one is pending → policy-violation (MUX-87)."""
    p, pj, _ = login(srv, "juliet@" + C, PW, "balcony")
    s, f = secondary(srv)
    s.send(f4(pj) + f4(pj, "k2"))
    s.expect_stream_error("policy-violation")


def m88_only_named(srv):
    """The IQ reaches only the named stream (MUX-88): another device of the
    same account gets nothing."""
    p, pj, _ = login(srv, "juliet@" + C, PW, "balcony")
    o, oj, _ = login(srv, "juliet@" + C, PW, "garden")
    s, f = secondary(srv)
    s.send(f4(pj))
    f5_on(p)
    n = len(o.elements)
    deadline = time.time() + 1
    while time.time() < deadline:
        o._pump(deadline)
    check(len(o.elements) == n, "the other device got something")


def m45_bad_host(srv):
    """After binding on S: policy-violation; on an unbound S a bare JID or
    domain → bad-format (MUX-45)."""
    s, f = secondary(srv)
    s.send(f4(M))
    s.expect_stream_error("bad-format")
    s, f = secondary(srv)
    s.send(f"<iq type='set' id='b4'><bind xmlns='{NS_BIND}'/></iq>")
    got(s)
    s.send(f4(f"juliet@{C}/balcony"))
    s.expect_stream_error("policy-violation")


def m91_p_gone(srv):
    """P closes before answering: nothing merges (MUX-91)."""
    p, pj, _ = login(srv, "juliet@" + C, PW, "balcony")
    s, f = secondary(srv)
    s.send(f4(pj))
    f5_on(p)
    p.close()
    time.sleep(0.5)
    s.send(f"<iq type='set' id='b5'><bind xmlns='{NS_BIND}'>"
           "<resource>balcony</resource></bind></iq>")
    el = got(s)
    check(el.get("type") == "result", f"S binds: {ET.tostring(el)!r}")


def m93_taken_jid(srv):
    """The merged JID is held by another stream: nothing merges, S stays
    open, nobody is kicked (MUX-93, D-02)."""
    p, pj, _ = login(srv, "juliet@" + C, PW, "balcony")
    o, oj, _ = login(srv, "juliet@" + M, PW, "balcony")
    s, f = secondary(srv)
    s.send(f4(pj))
    iq = f5_on(p)
    p.send(f"<iq type='result' id='{iq.get('id')}' to='{C}'/>")
    time.sleep(0.3)
    s.send(f"<iq type='set' id='b6'><bind xmlns='{NS_BIND}'/></iq>")
    check(got(s).get("type") == "result", "S still open and usable")
    p.send(f"<message to='{oj}' type='chat'><body>other intact</body>"
           "</message>")
    got(o, "other intact")


def m94_not_timed_out(srv):
    """An authenticated, unbound S outlives T_negotiation (MUX-94, D-04)."""
    s, f = secondary(srv)
    time.sleep(2.0)
    s.send(f"<iq type='set' id='b7'><bind xmlns='{NS_BIND}'/></iq>")
    check(got(s).get("type") == "result", "still open after T_negotiation")


def m92_one_pending_per_p(srv):
    """Two secondaries naming the same P at once: one IQ on P (MUX-92,
    D-01)."""
    p, pj, _ = login(srv, "juliet@" + C, PW, "balcony")
    s1, _ = secondary(srv)
    s2, _ = secondary(srv, jid="romeo@" + M)
    s1.send(f4(pj, "first"))
    f5_on(p, "first")
    s2.send(f4(pj, "second"))
    n = len(p.elements)
    deadline = time.time() + 1
    while time.time() < deadline:
        p._pump(deadline)
    check(len(p.elements) == n, "a second IQ reached P")


def m92_rate(srv):
    """The 11th authorization request of one account within a minute ends
    its stream with policy-violation (MUX-92, D-01)."""
    three = "".join(f4(f"nobody@{C}/x", f"k{i}") for i in range(3))
    for _ in range(3):
        s, _ = secondary(srv)
        s.send(three)
        time.sleep(0.2)
        check(not s.eof, "within the limit")
    s, _ = secondary(srv)
    s.send(f4(f"nobody@{C}/x", "k10") + f4(f"nobody@{C}/x", "k11"))
    s.expect_stream_error("policy-violation")


NS_SM = "urn:xmpp:sm:3"


def resume_mux(srv, cert, previd, h):
    """A new connection with cert: <mux/>, EXTERNAL as juliet@capulet,
    then <resume/>: (client, the answer)."""
    c, f = tls(srv, cert)
    c.send(f"<mux xmlns='{NS_MUX}'/>")
    r = external(c, "juliet@" + C)
    check(r.tag == f"{{{NS_SASL}}}success", f"auth: {ET.tostring(r)!r}")
    c.restart()
    c.open_stream(C)
    c.send(f"<resume xmlns='{NS_SM}' previd='{previd}' h='{h}'/>")
    return c, c.next_element()


def wait_log(srv, needle, count, timeout=15):
    """Until srv's log holds needle count times (instead of a fixed
    sleep, which a loaded machine may outlast)."""
    deadline = time.time() + timeout
    while srv.logtext().count(needle) < count and time.time() < deadline:
        time.sleep(0.05)
    check(srv.logtext().count(needle) >= count, f"log: {needle!r} x{count}")


def m47_resume(srv):
    """MUX-47: a multiplexed session resumed (XEP-0198) with the same
    certificate keeps both identities; resumed with a certificate that
    no longer names juliet@montague.example, that identity ends: a
    stanza from it ends the stream, one to it bounces."""
    r, rj, _ = login(srv, "romeo@" + M, PW, "orchard")
    for cert, keeps in (("two", True), ("conly", False)):
        c, full, _ = mux_session(srv)
        c.send(f"<enable xmlns='{NS_SM}' resume='true'/>")
        en = c.next_element()
        check(en.tag == f"{{{NS_SM}}}enabled", f"enabled: {ET.tostring(en)!r}")
        parked = srv.logtext().count("parked=yes")
        c.close()
        wait_log(srv, "parked=yes", parked + 1)
        c2, el = resume_mux(srv, cert, en.get("id"), 0)
        check(el.tag == f"{{{NS_SM}}}resumed", f"resumed: {ET.tostring(el)!r}")
        if keeps:
            c2.send(f"<message from='juliet@{M}/balcony' to='{rj}' "
                    "type='chat'><body>still</body></message>")
            check(got(r, "still").get("from") == f"juliet@{M}/balcony",
                  "MUX-47: the identity stays")
            closed = srv.logtext().count("event=close ")
            c2.send("</stream:stream>")
            c2.close()
            wait_log(srv, "event=close ", closed + 1)
        else:
            r.send(f"<message to='juliet@{M}/balcony' id='g1' type='chat'>"
                   "<body>gone?</body></message>")
            el = r.next_element()
            while el.tag == "{jabber:client}presence":
                el = r.next_element()
            check(el.get("type") == "error" and el.get("id") == "g1",
                  f"MUX-47: no session for it: {ET.tostring(el)!r}")
            c2.send(f"<message from='juliet@{M}/balcony' to='{rj}'/>")
            c2.expect_stream_error("invalid-from")
            check("event=sm-identity-dropped jid=juliet@montague.example/"
                  "balcony" in srv.logtext(), "logged")


TESTS = {
    "MUX-47-c2s-mux-resume": with_server(m47_resume),
    "MUX-92-c2s-authz-rate": with_server(m92_rate),
    "MUX-93-c2s-authz-taken-jid": with_server(m93_taken_jid),
    "MUX-94-c2s-secondary-no-timeout": with_server(m94_not_timed_out,
                                                   negotiation=1),
    "MUX-92-c2s-authz-one-per-p": with_server(m92_one_pending_per_p),
    "MUX-82-83-84-89-c2s-authz-merge": with_server(m83_84_89_merge),
    "MUX-85-c2s-authz-refused": with_server(m85_refused),
    "MUX-86-c2s-authz-not-bound": with_server(m86_not_bound),
    "MUX-87-c2s-authz-pending": with_server(m87_pending),
    "MUX-88-c2s-authz-only-named": with_server(m88_only_named),
    "MUX-45-c2s-authz-bad-host": with_server(m45_bad_host),
    "MUX-91-c2s-authz-p-gone": with_server(m91_p_gone),
    "MUX-39-48-c2s-iq": with_server(m39_48_iq_for_identity),
    "MUX-30-31-c2s-negotiation": with_server(m30_31_negotiation),
    "MUX-32-33-36-37-c2s-from": with_server(m32_33_36_37_from_and_back),
    "MUX-34-c2s-other-resource": with_server(m34_other_resource),
    "MUX-35-c2s-not-in-cert": with_server(m35_not_in_cert),
    "MUX-38-46-c2s-presence": with_server(m38_46_presence),
    "MUX-40-c2s-no-account": with_server(m40_no_account),
    "MUX-41-c2s-domain-jid": with_server(m41_domain_jid),
    "MUX-42-c2s-scram": with_server(m42_scram_after_mux),
    "MUX-43-c2s-authzid": with_server(m43_authzid),
    "MUX-44-c2s-busy-resource": with_server(m44_busy_resource),
}

if __name__ == "__main__":
    run(TESTS)
