# SPDX-License-Identifier: MIT
"""System tests: federation with a real Prosody 0.12 (Debian's package) on
loopback, names resolved by our own dnsmasq (SRV records), real TLS with
test CAs, and slixmpp clients logged in on both sides.

Side A serves montague.example (M) and chat.montague.example (CM), side B
capulet.example (C) and rooms.capulet.example (RC). Each test first lets
romeo@M and juliet@C exchange messages and IQs (ping, disco#info, version
of the other server, a client-to-client ping), then lets every user send to
the users of both remote domains, and counts the s2s TCP connections
between the two addresses after each step.

prosody-prosody-* run Prosody on both sides: they check the harness and
record what Prosody does. interop-* run xmuxd on side A.

What Prosody 0.12.3 does (files under /usr/lib/prosody; measured counts
are for the sequence above, each stanza delivered before the next is sent):

* Outgoing: one stream per (local host, remote host) pair; the session is
  hosts[from].s2sout[to] (modules/mod_s2s.lua:179, 212-240;
  core/s2smanager.lua:40-53). It never piggybacks: dialback sends one
  db:result, session.from_host to session.to_host (mod_dialback.lua:38-43).
  As initiator it uses SASL EXTERNAL when offered (mod_saslauth.lua:
  133-149), falls back to dialback if EXTERNAL fails and mod_dialback is
  loaded (mod_dialback.lua:177-183), else gives up (mod_s2s.lua:273-279).
* It offers EXTERNAL only when the peer's chain and identity are valid
  (mod_saslauth.lua:337-347); s2s_secure_auth = false lets a peer with an
  untrusted certificate use dialback (mod_s2s.lua:956-978).
* It advertises <dialback xmlns='urn:xmpp:features:dialback'/> WITHOUT
  <errors/> (mod_dialback.lua:200-202), on every features element, also
  after SASL. So by XEP-0220 §2.4 an initiator must not add further
  target domains to a stream to Prosody.
* On an incoming stream it accepts a db:result for any sender and for any
  host it serves, before or after authentication (types s2sin_unauthed and
  s2sin, mod_dialback.lua:79-121), so a second sender (piggybacking) and a
  second target both work. An unknown target closes the stream with
  <unsupported-stanza-type/>: the dialback handler runs on the host named
  by 'to', so nothing handles it (core/stanza_router.lua:130-146); no
  db:result type='error' ever. Every db:result is verified by calling
  back -- also when the certificate covers the sender (no XEP-0344 in
  0.12): a db:verify routed from `to` to `from` (mod_dialback.lua:114-118),
  i.e. over Prosody's own outgoing stream for that pair, opened if there
  is none. State is kept per sender, not per (sender, target):
  hosts[sender] is replaced by each db:result (:101), so a db:result for a
  second target from an already authorized sender revokes that sender
  until the answer (its stanzas meanwhile close the stream with
  <not-authorized/>), and pending requests are keyed by sender and stream
  id (:103, :128), so concurrent ones for two targets get one answer.
  Once valid, the sender may send to every host Prosody serves on that
  stream, with or without a db:result for it (session.hosts[sender].authed,
  mod_s2s.lua:379-382; core/stanza_router.lua:116-126).
  prosody-dialback-facts checks these on a raw stream.
* Bidi (XEP-0288): offered before authentication on TLS streams
  (mod_s2s_bidi.lua:15-20) and requested whenever offered (:22-31). An
  incoming bidi stream carries the reverse direction only for the pair of
  its stream header, and only if Prosody has no outgoing stream for that
  pair yet when it is authenticated (mod_s2s.lua:314-317); piggybacked
  senders do not get it. With dialback the callback for the first sender
  is routed before that (mod_dialback.lua:115), so Prosody opens its own
  stream for the reverse pair and bidi saves nothing.

Measured Prosody<->Prosody (2x2 domains, all 8 sender/target pairs):
8 connections without bidi; 4 with bidi and SASL EXTERNAL (one stream per
pair initiated by side A, reused by B); 8 with bidi and dialback. After
the romeo/juliet step: 2, 1 and 2.

The interop-* expectations follow from this and xmuxd's design as
initiating server: one stream per remote target domain, opened by its
first sender; further sender domains added to an existing stream by
dialback piggybacking; further target domains only on a peer advertising
dialback errors (not Prosody); with bidi, an incoming bidi stream is used
for the reverse direction when it already authorizes the pair."""

import base64
import logging
import os
import re
import signal
import sys
import tempfile
import time

from peers import (DNSMASQ, PROSODY, PROSODYCTL, Dns, Net, Prosody, TestCA,
                   describe_conns, kill_on_failure, login, logout,
                   remove_dir, run_async, settled_conns)
from xmuxtest import NS_SASL, NS_TLS, Client, Server, TestFailure, check, run

M, CM = "montague.example", "chat.montague.example"
C, RC = "capulet.example", "rooms.capulet.example"
SIDE_A, SIDE_B = (M, CM), (C, RC)
USERS = {"romeo@" + M: "r0m30", "mercutio@" + CM: "m3rcut10",
         "juliet@" + C: "jul13t", "nurse@" + RC: "n0rs3"}
ROMEO, MERCUTIO, JULIET, NURSE = USERS
S2S_PORT = 5269
NS_DB_FEAT = "urn:xmpp:features:dialback"


class Setup:
    """Everything one test starts, in a fresh directory and loopback
    block: side A on net.server(1), side B on net.server(2), dnsmasq on
    net.dns with SRV records for all four domains. stop() stops all of it
    (in reverse order) even if some stop fails."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="xmux-interop-")
        self.net = Net()
        self.a, self.b = self.net.server(1), self.net.server(2)
        self.ca = TestCA(os.path.join(self.dir, "ca"))
        self.stops = []
        self.logs = {}
        dns = Dns(os.path.join(self.dir, "dns"), self.net.dns)
        dns.server(SIDE_A, "xmpp." + M, self.a, S2S_PORT)
        dns.server(SIDE_B, "xmpp." + C, self.b, S2S_PORT)
        self.started(dns.start(), "dnsmasq", dns.log_path)

    def started(self, thing, name, log_path):
        self.stops.append(thing.stop)
        self.logs[name] = log_path
        return thing

    def certs(self, name, domains, trusted):
        """(cert, key, ca file) for a server: from the shared CA if
        trusted, else from a CA of its own that the other side does not
        trust (so only dialback can authenticate it)."""
        if trusted:
            cert, key = self.ca.issue(name, domains)
            return cert, key, self.ca.cert
        own = TestCA(os.path.join(self.dir, "ca-" + name), f"CA {name}")
        cert, key = own.issue(name, domains)
        return cert, key, own.cert

    def prosody(self, name, addr, hosts, trusted, bidi, dialback=True):
        """A Prosody serving hosts with the test users registered."""
        cert, key, cafile = self.certs(name, hosts, trusted)
        p = Prosody(os.path.join(self.dir, name), addr, hosts, cert, key,
                    cafile, self.net.dns, bidi=bidi, dialback=dialback)
        for jid, pw in USERS.items():
            user, host = jid.split("@")
            if host in hosts:
                p.register(user, host, pw)
        p.software = "Prosody"
        return self.started(p.start(), name, p.log_path)

    def xmuxd(self, trusted, bidi, dialback=True):
        """xmuxd serving side A; s2s.require_valid_certificates stays at
        its default (false), so an untrusted peer may use dialback."""
        cert, key, cafile = self.certs("xmuxd", SIDE_A, trusted)
        s2s = (f"bidi = {str(bidi).lower()}; "
               f"dialback = {str(dialback).lower()}; "
               f'resolver = "{self.net.dns}:53";')
        srv = Server(hosts=[{"domain": d, "cert": cert, "key": key}
                            for d in SIDE_A],
                     addr=self.a,
                     ports={"c2s": 5222, "c2s-tls": 5223, "s2s": S2S_PORT},
                     extra=f'tls = {{ ca_file = "{cafile}"; }};\n'
                           f"s2s = {{ {s2s} }};")
        for jid, pw in USERS.items():
            if jid.split("@")[1] in SIDE_A:
                srv.add_user(jid, pw)
        srv.cafile, srv.software = cafile, "xmux"
        try:
            srv.start()
        except BaseException:
            kill_on_failure(srv.proc)
            raise
        return self.started(srv, "xmuxd", srv.log_path)

    def stop(self):
        errors = []
        for stop in reversed(self.stops):
            try:
                stop()
            except BaseException as e:  # keep stopping the others
                errors.append(e)
        if errors:
            raise errors[0]


def with_setup(fn):
    """Run fn(setup); always stop everything; keep the directory (and say
    where the logs are) only on failure."""
    def wrapped():
        setup = Setup()
        ok = False
        try:
            fn(setup)
            ok = True
        finally:
            try:
                setup.stop()
            except BaseException:
                ok = False
                raise
            finally:
                if ok:
                    remove_dir(setup.dir)
                else:
                    for name, path in setup.logs.items():
                        print(f"  {name} log: {path}", file=sys.stderr)
    return wrapped


def check_count(setup, step, expect, names):
    """Print the s2s connections between the sides; check their number
    (an int, or a (low, high) bound, or None to only print)."""
    cs = settled_conns(setup.a, setup.b, S2S_PORT)
    print(f"  {step}: {len(cs)} s2s connections "
          f"({describe_conns(cs, names)})")
    if expect is None:
        return len(cs)
    lo, hi = expect if isinstance(expect, tuple) else (expect, expect)
    check(lo <= len(cs) <= hi, f"{step}: {len(cs)} s2s connections, "
          f"expected {expect}: {cs}")
    return len(cs)


async def deliver(sender, recipient, to, body):
    """sender sends body to the JID `to` (recipient's account); wait for
    it. On a timeout, say whether the sender got an error back."""
    sender.send_message(mto=to, mbody=body, mtype="chat")
    try:
        return await recipient.expect_message(body, sender.boundjid.bare)
    except TestFailure as e:
        while not sender.messages.empty():
            m = sender.messages.get_nowait()
            if m["type"] == "error":
                raise TestFailure(f"{e}; {sender.boundjid} got an error: "
                                  f"{m['error']['condition']} "
                                  f"{m['error']['text']!r}")
        raise


async def converse(setup, side_a, side_b, expect_pair, expect_all):
    """Log in the four users (side_a/side_b: servers with addr, c2s_port,
    cafile, and software: their XEP-0092 name), run the romeo/juliet step
    and the 2x2 step, check the connection counts after each."""
    names = {setup.a: "A", setup.b: "B"}
    users = {}
    try:
        for jid, side in ((ROMEO, side_a), (MERCUTIO, side_a),
                          (JULIET, side_b), (NURSE, side_b)):
            users[jid] = await login(jid, USERS[jid], side.addr,
                                     side.c2s_port, side.cafile)
        r, j = users[ROMEO], users[JULIET]
        # One pair of domains: messages both ways...
        m = await deliver(r, j, JULIET, "wherefore")
        check(m["from"] == r.boundjid, f"from {m['from']}")
        await deliver(j, r, m["from"], "deny thy father")
        # ... IQs to the remote server both ways, and between clients.
        for u, domain, side in ((r, C, side_b), (j, M, side_a)):
            await u.ping(domain)
            feats = await u.disco_features(domain)
            check("urn:xmpp:ping" in feats, f"disco#info {domain}: {feats}")
            name = await u.version(domain)
            check(name == side.software, f"version of {domain}: {name!r}")
        await r.ping(j.boundjid)
        await j.ping(r.boundjid)
        check_count(setup, "romeo<->juliet", expect_pair, names)
        # Every user to the users of both remote domains, A's first.
        for frm, to in ((ROMEO, NURSE), (MERCUTIO, JULIET),
                        (MERCUTIO, NURSE), (JULIET, MERCUTIO),
                        (NURSE, ROMEO), (NURSE, MERCUTIO)):
            body = f"{frm.split('@')[0]} to {to.split('@')[0]}"
            await deliver(users[frm], users[to], to, body)
        check_count(setup, "2x2 domains", expect_all, names)
    finally:
        await logout(*users.values())


# --- Prosody <-> Prosody --------------------------------------------------

def prosody_pair(trusted, bidi, expect_pair, expect_all):
    """Prosody on both sides, certificates from the shared CA (trusted)
    or each from a CA of its own, bidi on both or neither."""
    def test(setup):
        pa = setup.prosody("prosody-a", setup.a, SIDE_A, trusted, bidi)
        pb = setup.prosody("prosody-b", setup.b, SIDE_B, trusted, bidi)
        run_async(converse(setup, pa, pb, expect_pair, expect_all), 120)
        log_a, log_b = pa.logtext(), pb.logtext()
        if trusted:
            check(f"Accepting SASL EXTERNAL identity from {M}" in log_b,
                  "B did not accept EXTERNAL from M")
        else:
            check("Accepting SASL EXTERNAL" not in log_a + log_b,
                  "EXTERNAL used with untrusted certificates")
            check(f"asking {M} if key" in log_b, "B did not call back M")
        if bidi:
            check("Requested bidirectional stream" in log_b,
                  "A did not request bidi")
        if bidi and trusted:
            check(f"Setting up to handle route from {C} to {M}" in log_b,
                  "B did not use A's bidi stream")
    return with_setup(test)


def prosody_dialback_facts(setup):
    """Prosody's receiving side as the module docstring describes it,
    seen from a raw s2s stream for M with a certificate it trusts."""
    p = setup.prosody("prosody", setup.b, SIDE_B, True, True)
    cert, key = setup.ca.issue("raw", SIDE_A)

    def stream():
        c = Client(setup.b, S2S_PORT)
        c.open_stream(C, kind="s2s", frm=M)
        c.send(f"<starttls xmlns='{NS_TLS}'/>")
        check(c.next_element().tag == f"{{{NS_TLS}}}proceed", "proceed")
        c.wrap_tls(C, cert=cert, key=key)
        _, f = c.open_stream(C, kind="s2s", frm=M)
        return c, f

    c, f = stream()
    check(f.find(f"{{{NS_DB_FEAT}}}dialback") is not None and
          f.find(f"{{{NS_DB_FEAT}}}dialback/{{{NS_DB_FEAT}}}errors") is None,
          "dialback feature without <errors/> expected")
    check(f.find("{urn:xmpp:features:bidi}bidi") is not None, "bidi offered")
    c.send(f"<auth xmlns='{NS_SASL}' mechanism='EXTERNAL'>"
           f"{base64.b64encode(M.encode()).decode()}</auth>")
    check(c.next_element().tag == f"{{{NS_SASL}}}success", "EXTERNAL")
    c.restart()
    _, f = c.open_stream(C, kind="s2s", frm=M)
    check(f.find(f"{{{NS_DB_FEAT}}}dialback") is not None,
          "dialback feature after SASL")
    # A stanza to another host it serves needs no db:result for it.
    c.send(f"<message from='{ROMEO}/x' to='{NURSE}' type='chat' id='f1'>"
           "<body>1</body></message>")
    # A second sender and a second target are both taken up (and called
    # back: nothing listens on side A, so no answer comes)...
    c.send(f"<db:result from='{CM}' to='{C}'>k1</db:result>"
           f"<db:result from='{M}' to='{RC}'>k2</db:result>")
    wait_log(p, f"asking {CM} if key k1")
    wait_log(p, f"asking {M} if key k2")
    check(re.search(r"Saved to offline storage: <message [^>]*id='f1'",
                    p.logtext()), "stanza to the other host not accepted")
    # ... but the db:result for M replaced M's authorization on this
    # stream (mod_dialback.lua:101): M's stanzas are now refused.
    c.send(f"<message from='{ROMEO}/x' to='{JULIET}' type='chat'/>")
    c.expect_stream_error("not-authorized")
    # An unknown target closes the stream.
    c, f = stream()
    c.send(f"<db:result from='{M}' to='nothere.example'>k3</db:result>")
    c.expect_stream_error("unsupported-stanza-type")


def wait_log(p, text, timeout=10):
    deadline = time.time() + timeout
    while text not in p.logtext():
        check(time.time() < deadline, f"Prosody never logged {text!r}")
        time.sleep(0.1)


# --- xmuxd <-> Prosody ----------------------------------------------------

def xmuxd_prosody(trusted, bidi, expect_pair, expect_all):
    """xmuxd on side A, Prosody on side B, both with bidi on or off."""
    def test(setup):
        x = setup.xmuxd(trusted, bidi)
        p = setup.prosody("prosody", setup.b, SIDE_B, trusted, bidi)
        run_async(converse(setup, x, p, expect_pair, expect_all), 120)
        log = p.logtext()
        if trusted:
            # Both directions with SASL EXTERNAL (mod_saslauth.lua:89, 194).
            check(f"Accepting SASL EXTERNAL identity from {M}" in log,
                  "Prosody did not accept EXTERNAL from xmuxd")
            # With bidi Prosody opens streams only to CM (see below).
            check(re.search(r"SASL EXTERNAL with (chat\.)?montague\.example "
                            "succeeded", log),
                  "xmuxd did not accept EXTERNAL from Prosody")
        else:
            # Dialback both ways: Prosody called xmuxd back, and answered
            # xmuxd's db:verify (mod_dialback.lua:70, 114).
            check("Accepting SASL EXTERNAL" not in log,
                  "EXTERNAL used with untrusted certificates")
            check(f"asking {M} if key" in log,
                  "xmuxd did not use dialback towards Prosody")
            check("verified dialback key... it is valid" in log,
                  "xmuxd did not verify Prosody's dialback key")
        if bidi:
            check("Requested bidirectional stream" in log,
                  "xmuxd did not request bidi")
        if bidi and trusted:
            # Prosody sends C->M on xmuxd's stream (mod_s2s.lua:315).
            check(f"Setting up to handle route from {C} to {M}" in log,
                  "Prosody did not use xmuxd's bidi stream")
    return with_setup(test)


# Expected s2s connections (X = xmuxd on A, P = Prosody on B), for the
# sequence in converse(). X(->C) [M] is xmuxd's stream to target C opened
# by sender M; P(C->M) is Prosody's stream for that pair.
#
# No bidi, EXTERNAL (interop-sasl-external) or dialback (interop-dialback):
#   romeo->juliet opens X(->C) [M]; juliet's reply needs P(C->M) (with
#   dialback Prosody opens it earlier, to call M back) ............ 2
#   romeo->nurse opens X(->RC) [M] (dialback: and P(RC->M)); mercutio's
#   CM joins X(->C) and X(->RC) by a db:result each, which Prosody
#   verifies over new P(C->CM) and P(RC->CM); nurse->romeo needs
#   P(RC->M) (EXTERNAL case); the rest reuse streams. With dialback,
#   the db:verify xmuxd sends (as receiving server) to check Prosody's
#   key goes over its stream to that domain, which exists by then:
#   one stream per remote domain .................................. 6
#   (A separate verification stream CM->C, CM->RC would make it 8.)
# Bidi and EXTERNAL (interop-bidi):
#   X(->C) [M] is a bidi stream: Prosody sends C->M on it ......... 1
#   X(->RC) [M] (carries RC->M too); CM piggybacked on both, each
#   verified over a new P(C->CM), P(RC->CM), which carry C->CM and
#   RC->CM (and, being bidi, may carry CM->C and CM->RC) .......... 4
# Bidi and dialback (interop-bidi-dialback): as without bidi, since
#   Prosody's callback for M opens P(C->M) before X(->C) is
#   authenticated, and likewise P(RC->M) .................... 2, then 6
TESTS = {
    "prosody-prosody-smoke": prosody_pair(True, True, 1, 4),
    "prosody-prosody-nobidi": prosody_pair(True, False, 2, 8),
    "prosody-prosody-dialback": prosody_pair(False, True, 2, 8),
    "prosody-dialback-facts": with_setup(prosody_dialback_facts),
    "interop-sasl-external": xmuxd_prosody(True, False, 2, 6),
    "interop-dialback": xmuxd_prosody(False, False, 2, 6),
    "interop-bidi": xmuxd_prosody(True, True, 1, 4),
    "interop-bidi-dialback": xmuxd_prosody(False, True, 2, 6),
}

if __name__ == "__main__":
    missing = [p for p in (PROSODY, PROSODYCTL, DNSMASQ)
               if not os.path.exists(p)]
    if missing:
        # CTest counts exit code 77 as skipped (SKIP_RETURN_CODE).
        print(f"SKIP {' '.join(sys.argv[1:]) or 'all'}: "
              f"{', '.join(missing)} missing")
        sys.exit(77)
    # SIGTERM (a test runner giving up) unwinds like an error, so the
    # finally blocks stop every server this process started.
    def terminated(*_):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once is enough
        sys.exit(143)
    signal.signal(signal.SIGTERM, terminated)
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    run(TESTS)
