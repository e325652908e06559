# SPDX-License-Identifier: MIT
"""System tests with a real XMPP client library (Debian's python3-slixmpp)
against a live xmuxd over real TLS: login with each way slixmpp knows,
messages, presence and IQs between users on one host and across hosts."""

import asyncio
import logging
import ssl
import sys

import slixmpp
from slixmpp.exceptions import IqError

from xmuxtest import Server, check, run

HOSTS = ("capulet.example", "montague.example")
USERS = {"juliet@capulet.example": "r0m30myr0m30",
         "nurse@capulet.example": "n0rs3",
         "romeo@montague.example": "jul13t"}
TIMEOUT = 15


def server():
    srv = Server(hosts=HOSTS)
    for jid, pw in USERS.items():
        srv.add_user(jid, pw)
    return srv.start()


class Client(slixmpp.ClientXMPP):
    """A slixmpp client that trusts the test server's self-signed cert and
    records what it receives."""

    def __init__(self, jid, password, mechanism=None):
        super().__init__(jid, password)
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        if mechanism:
            self["feature_mechanisms"].use_mechanisms = [mechanism]
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        self.register_plugin("xep_0092")
        self.messages = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.started = asyncio.Event()
        self.failed = asyncio.Event()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("failed_all_auth",
                               lambda _: self.failed.set())
        self.add_event_handler("message", self.messages.put_nowait)
        self.add_event_handler("presence_available",
                               self.presences.put_nowait)

    async def on_start(self, _):
        self.started.set()


async def connect(srv, jid, password, mechanism=None, send_presence=True,
                  direct_tls=False):
    c = Client(jid, password, mechanism)
    if direct_tls:
        c.connect((srv.addr, srv.c2s_tls_port), use_ssl=True)
    else:
        c.connect((srv.addr, srv.c2s_port))
    done, _ = await asyncio.wait(
        [asyncio.ensure_future(c.started.wait()),
         asyncio.ensure_future(c.failed.wait())],
        timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    check(c.started.is_set(), f"{jid} did not log in "
          f"({'auth failed' if c.failed.is_set() else 'timeout'})")
    if send_presence:
        c.send_presence()
    return c


async def disconnect(*clients):
    for c in clients:
        c.disconnect()
    await asyncio.sleep(0.2)


def asynctest(fn):
    def wrapped():
        srv = server()
        try:
            asyncio.run(asyncio.wait_for(fn(srv), 60))
        finally:
            srv.stop()
    return wrapped


async def login_each_mechanism(srv):
    # slixmpp's default choice first: on TLS 1.3 it sends tls-unique with
    # SCRAM-*-PLUS, which fails cleanly, and it retries the next
    # mechanism on the same stream (PEERS.md).
    c = await connect(srv, "juliet@capulet.example",
                      USERS["juliet@capulet.example"])
    await disconnect(c)
    for mech in ("SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"):
        c = await connect(srv, "juliet@capulet.example",
                          USERS["juliet@capulet.example"], mech)
        await disconnect(c)
    c = await connect(srv, "romeo@montague.example",
                      USERS["romeo@montague.example"], direct_tls=True)
    await disconnect(c)


async def wrong_password(srv):
    c = Client("juliet@capulet.example", "not-the-password", "PLAIN")
    gone = asyncio.Event()
    c.add_event_handler("disconnected", lambda _: gone.set())
    c.connect((srv.addr, srv.c2s_port))
    await asyncio.wait(
        [asyncio.ensure_future(c.failed.wait()),
         asyncio.ensure_future(gone.wait())],
        timeout=30, return_when=asyncio.FIRST_COMPLETED)
    try:
        c.abort()
    except AttributeError:
        pass  # slixmpp 1.8.3 trips over a transport the server closed
    check(not c.started.is_set(), "logged in with a wrong password")
    text = srv.logtext()
    check("event=sasl-failure mech=PLAIN cond=not-authorized" in text,
          "no not-authorized failure in the log:\n" + text[-3000:])


async def messages_both_ways(srv):
    j = await connect(srv, "juliet@capulet.example",
                      USERS["juliet@capulet.example"])
    n = await connect(srv, "nurse@capulet.example",
                      USERS["nurse@capulet.example"])
    r = await connect(srv, "romeo@montague.example",
                      USERS["romeo@montague.example"])
    # Same host, bare JID (the nurse is available).
    j.send_message(mto="nurse@capulet.example", mbody="anon", mtype="chat")
    m = await asyncio.wait_for(n.messages.get(), TIMEOUT)
    check(m["body"] == "anon", "body")
    check(m["from"] == j.boundjid, f"from {m['from']} != {j.boundjid}")
    # Across hosts, full JID, and back.
    j.send_message(mto=r.boundjid, mbody="wherefore", mtype="chat")
    m = await asyncio.wait_for(r.messages.get(), TIMEOUT)
    check(m["body"] == "wherefore", "cross-host body")
    r.send_message(mto=m["from"], mbody="here", mtype="chat")
    m = await asyncio.wait_for(j.messages.get(), TIMEOUT)
    check(m["body"] == "here" and m["from"] == r.boundjid, "reply")
    await disconnect(j, n, r)


async def presence_and_iqs(srv):
    a = await connect(srv, "juliet@capulet.example",
                      USERS["juliet@capulet.example"])
    r = await connect(srv, "romeo@montague.example",
                      USERS["romeo@montague.example"])
    # A second resource of the same account sees the first one's presence.
    b = await connect(srv, "juliet@capulet.example/window",
                      USERS["juliet@capulet.example"])
    # (RFC 6121 §4.2.2: it gets its own presence back too.)
    seen = set()
    while a.boundjid not in seen:
        p = await asyncio.wait_for(b.presences.get(), TIMEOUT)
        seen.add(p["from"])
    check(seen <= {a.boundjid, b.boundjid}, f"presences from {seen}")
    # Directed presence reaches the other account.
    a.send_presence(pto=r.boundjid)
    while True:
        p = await asyncio.wait_for(r.presences.get(), TIMEOUT)
        if p["from"] != r.boundjid:  # its own initial presence comes back
            break
    check(p["from"] == a.boundjid, f"directed presence from {p['from']}")
    # Server IQs: ping, disco#info, version; client-to-client ping.
    await a["xep_0199"].ping(jid="capulet.example", timeout=TIMEOUT)
    info = await a["xep_0030"].get_info(jid="capulet.example",
                                        timeout=TIMEOUT)
    feats = info["disco_info"]["features"]
    check("urn:xmpp:ping" in feats, f"features {feats}")
    v = await a["xep_0092"].get_version("capulet.example", timeout=TIMEOUT)
    check(v["software_version"]["name"] == "xmux", "version name")
    await a["xep_0199"].ping(jid=r.boundjid, timeout=TIMEOUT)
    # An unknown IQ gets one error (CORE-18).
    iq = a.make_iq_get(queryxmlns="urn:example:unknown",
                       ito="capulet.example")
    try:
        await iq.send(timeout=TIMEOUT)
        check(False, "unknown IQ answered with a result")
    except IqError as e:
        check(e.iq["error"]["condition"] == "service-unavailable",
              f"condition {e.iq['error']['condition']}")
    await disconnect(a, b, r)


TESTS = {
    "slixmpp-login-each-mechanism": asynctest(login_each_mechanism),
    "slixmpp-wrong-password": asynctest(wrong_password),
    "slixmpp-messages": asynctest(messages_both_ways),
    "slixmpp-presence-iqs": asynctest(presence_and_iqs),
}

if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    run(TESTS)
