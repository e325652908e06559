# SPDX-License-Identifier: MIT
"""System tests: federation between two xmuxd, and xmuxd's initiating
role against a scripted peer where exact bytes matter (CONFORMANCE.md
CORE-24, DB-04/08/10/11/14/15/17, BIDI-06/09/10/11, and the delivery
guarantees: queued stanzas flushed in order, bounces with the right
stanza error, idle streams closed).

Servers: montague.example (+ chat.montague.example) on one loopback
address, capulet.example (+ rooms.capulet.example) on another. Each
xmuxd reaches the other by a static route (s2s.routes); the resolver is
pointed at a closed port so nothing ever leaves the machine."""

import os
import random
import socket
import ssl
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

from xmuxtest import (NS_SASL, NS_STANZAS, NS_STREAM, NS_TLS, Client, Server,
                      TestFailure, check, free_port, run)
from peers import Dns, Net, TestCA, count_conns
from test_c2s import login

NS_DB = "jabber:server:dialback"
NS_BIDI = "urn:xmpp:bidi"
M, CM = "montague.example", "chat.montague.example"
C, RC = "capulet.example", "rooms.capulet.example"

CERTS = None


def certs():
    """A test CA in a directory shared by the tests of one process, with
    m.crt/m.key (montague side), c.crt/c.key (capulet side) and
    o.crt/o.key (an unrelated domain): dNSName + SRV-ID, never XmppAddr."""
    global CERTS
    if CERTS is None:
        CERTS = tempfile.mkdtemp(prefix="xmux-fed-certs-")
        ca = TestCA(CERTS)
        ca.issue("m", (M, CM))
        ca.issue("c", (C, RC))
        ca.issue("o", ("other.example",))
        ca.issue("c1", (C,))
        ca.issue("r1", (RC,))
    return CERTS


def loopback_pair():
    """Two fresh loopback addresses, so parallel tests never meet."""
    x, y = random.randint(16, 250), random.randint(16, 250)
    return f"127.{x}.{y}.2", f"127.{x}.{y}.3"


def s2s_block(routes, extra=""):
    r = ", ".join(f'{{ domain = "{d}"; host = "{h}"; port = {p}; }}'
                  for d, h, p in routes)
    return (f's2s = {{ resolver = "127.0.0.1:1"; routes = ( {r} ); '
            f'{extra} }};\n')


def hosts_of(names, cert):
    d = certs()
    if cert is None:
        return names
    return tuple({"domain": n, "cert": f"{d}/{cert}.crt",
                  "key": f"{d}/{cert}.key"} for n in names)


class Pair:
    """xmuxd A (montague side) and B (capulet side), routed to each other."""

    def __init__(self, ca=True, a_s2s="", b_s2s="", timeouts="",
                 b_certs=None, a_extra="", b_extra=""):
        """timeouts: extra members of both servers' timeouts group;
        b_certs: a certificate name per B domain (default: c for both);
        a_extra, b_extra: more top-level settings of A or B."""
        self.aaddr, self.baddr = loopback_pair()
        tls = f'tls = {{ ca_file = "{certs()}/ca.crt"; }};\n' if ca else ""
        # One s2s port on both addresses: connections are counted by
        # their listening end.
        self.port = free_port(self.aaddr, self.baddr)
        ports_a = ports_b = {"s2s": self.port}
        cm, cc = ("m", "c") if ca else (None, None)
        routes_a = [(C, self.baddr, ports_b["s2s"]),
                    (RC, self.baddr, ports_b["s2s"])]
        routes_b = [(M, self.aaddr, ports_a["s2s"]),
                    (CM, self.aaddr, ports_a["s2s"])]
        self.a = Server(hosts=hosts_of((M, CM), cm), addr=self.aaddr,
                        ports=ports_a, timeouts=timeouts,
                        extra=tls + s2s_block(routes_a, a_s2s) + a_extra)
        b_hosts = hosts_of((C, RC), cc)
        if b_certs:
            d = certs()
            b_hosts = tuple({"domain": h, "cert": f"{d}/{b_certs[h]}.crt",
                             "key": f"{d}/{b_certs[h]}.key"} for h in (C, RC))
        self.b = Server(hosts=b_hosts, addr=self.baddr,
                        ports=ports_b, timeouts=timeouts,
                        extra=tls + s2s_block(routes_b, b_s2s) + b_extra)
        for u in ("romeo@" + M, "benvolio@" + CM):
            self.a.add_user(u, "pw")
        for u in ("juliet@" + C, "nurse@" + RC):
            self.b.add_user(u, "pw")
        self.a.start()
        self.b.start()

    def conns(self):
        """Established s2s TCP connections between the two servers."""
        return count_conns(self.aaddr, self.baddr, self.port)

    def stop(self):
        errs = []
        for s in (self.a, self.b):
            try:
                s.stop()
            except TestFailure as e:
                errs.append(str(e))
        if errs:
            raise TestFailure("\n".join(errs))


def with_pair(**kw):
    def deco(fn):
        def wrapped():
            p = Pair(**kw)
            try:
                fn(p)
            except TestFailure as e:
                raise TestFailure(f"{e}\n--- A ---\n{p.a.logtext()[-40000:]}"
                                  f"\n--- B ---\n{p.b.logtext()[-40000:]}")
            finally:
                p.stop()
        return wrapped
    return deco


def ctl_connections(srv):
    """The lines of `xmuxctl connections` for srv."""
    ctl = os.environ.get("XMUXCTL", "xmuxctl")
    out = subprocess.run([ctl, "--config", srv.config, "connections"],
                         capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, f"xmuxctl connections: {out.stderr}")
    return out.stdout.splitlines()


def chat(frm_client, to_jid, body, mid):
    frm_client.send(f"<message to='{to_jid}' id='{mid}' type='chat'>"
                    f"<body>{body}</body></message>")


def expect_message(c, body, timeout=10):
    el = c.next_element(timeout)
    check(el.tag.endswith("}message") and el.findtext("{jabber:client}body")
          == body, f"expected message {body!r}, got {ET.tostring(el)!r}")
    return el


def expect_error(c, cond, timeout=10):
    el = c.next_element(timeout)
    check(el.get("type") == "error" and
          el.find(f"{{jabber:client}}error/{{{NS_STANZAS}}}{cond}") is not None,
          f"expected a {cond} error, got {ET.tostring(el)!r}")
    return el


# --- xmuxd <-> xmuxd ---------------------------------------------------------

@with_pair(ca=False)
def db_04_15_dialback_both_ways(p):
    """Self-signed certificates: nothing validates, so dialback
    authenticates both directions (DB-04); the key is verified over a
    stream of the receiving server's own, never the one that carried the
    db:result (DB-15). Messages and an IQ cross in both directions."""
    r, rj, _ = login(p.a, "romeo@" + M, "pw", "orchard")
    j, jj, _ = login(p.b, "juliet@" + C, "pw", "balcony")
    chat(r, jj, "hello", "m1")
    expect_message(j, "hello")
    chat(j, rj, "hi", "m2")
    expect_message(r, "hi")
    j.send(f"<iq type='get' id='v1' to='{M}'>"
           "<query xmlns='jabber:iq:version'/></iq>")
    el = j.next_element(10)
    check(el.get("type") == "result" and el.get("id") == "v1",
          f"version answer over s2s: {ET.tostring(el)!r}")
    la, lb = p.a.logtext(), p.b.logtext()
    for log, side in ((la, "A"), (lb, "B")):
        check("event=dialback-verify sender=" in log,
              f"DB-04: {side} asked the authoritative server")
        check("answer=valid" in log, f"DB-04: {side} answered valid")
    # DB-15: B verified A's key on B's own outgoing stream.
    vreq = [x for x in lb.splitlines() if "event=dialback-verify-request" in x]
    vin = [x for x in lb.splitlines() if "event=dialback-verify sender" in x]
    check(vreq and vin, "DB-15: verify lines present")
    cid = lambda line: line.split("conn=")[1].split()[0]
    check(cid(vreq[0]) != cid(vin[0]),
          f"DB-15: db:verify on conn {cid(vreq[0])}, db:result on "
          f"{cid(vin[0])}")


@with_pair(ca=True)
def bidi_06_external_one_connection(p):
    """Certificates from a common CA: SASL EXTERNAL, bidi requested
    (BIDI-11) and the reverse direction uses the same stream (BIDI-06):
    one TCP connection for a conversation both ways."""
    r, rj, _ = login(p.a, "romeo@" + M, "pw", "orchard")
    j, jj, _ = login(p.b, "juliet@" + C, "pw", "balcony")
    chat(r, jj, "one", "m1")
    expect_message(j, "one")
    chat(j, rj, "two", "m2")
    expect_message(r, "two")
    chat(r, jj, "three", "m3")
    expect_message(j, "three")
    la = p.a.logtext()
    check("event=sasl-success mech=EXTERNAL" in la, "EXTERNAL used")
    check("auth=sasl-external bidi=yes" in la, "bidi negotiated")
    n = p.conns()
    check(n == 1, f"BIDI-06: {n} connections, expected 1")
    # The operator's view of both ends (xmuxctl connections).
    out = [x for x in ctl_connections(p.a) if "kind=s2s" in x]
    check(len(out) == 1 and "dir=out" in out[0] and
          "auth=sasl-external" in out[0] and "bidi=yes" in out[0] and
          f"pairs={M}>{C}" in out[0], f"A's stream: {out}")
    inc = [x for x in ctl_connections(p.b) if "kind=s2s" in x]
    check(len(inc) == 1 and "dir=in" in inc[0] and
          f"pairs={M}>{C}" in inc[0], f"B's stream: {inc}")


@with_pair(ca=True, a_s2s="mux = false;", b_s2s="mux = false;")
def db_08_sender_piggyback(p):
    """Without mux, two sender domains of A to one target: the second
    rides the first stream with a db:result (DB-08), no new connection."""
    r, rj, _ = login(p.a, "romeo@" + M, "pw", "orchard")
    b, bj, _ = login(p.a, "benvolio@" + CM, "pw", "street")
    j, jj, _ = login(p.b, "juliet@" + C, "pw", "balcony")
    chat(r, jj, "from montague", "m1")
    expect_message(j, "from montague")
    chat(b, jj, "from chat", "m2")
    el = expect_message(j, "from chat")
    check(el.get("from") == bj, f"from stamped: {el.get('from')}")
    la = p.a.logtext()
    check(f"event=dialback-request sender={CM} target={C}" in la,
          "DB-08: db:result for the second sender")
    n = p.conns()
    check(n == 1, f"DB-08: {n} connections, expected 1")


def two_by_two(expected, bidi_12=False):
    """2x2 domains, every user writes to both remote domains, both ways.
    With mux (MUX-28, MUX-25, BIDI-07): A's stream carries every sender
    of its certificate to capulet.example and to the listed
    rooms.capulet.example its peer's certificate covers: 1 with bidi, 2
    without (B opens its own). Without mux: A opens one stream per target
    domain (the second sender piggybacks with dialback, accepted at once
    because the certificate covers it, XEP-0344): 2 with bidi, 4
    without."""
    def test(p):
        converse_2x2(p)
        n = p.conns()
        print(f"2x2 xmuxd<->xmuxd connections: {n}")
        check(n == expected, f"{n} connections for 2x2, expected {expected}")
        if bidi_12:
            # Each direction its own stream, each multiplexed.
            for srv in (p.a, p.b):
                k = srv.logtext().count("event=mux-requested")
                check(k == 1, f"BIDI-12: <mux/> received {k} times")
        if expected == 1:
            out = [x for x in ctl_connections(p.a) if "kind=s2s" in x]
            check(len(out) == 1 and f" pairs={M}>{C}/host,{M}+{CM}>{C}+{RC}"
                  f"/cert back={C}>{M}/host,{C}+{RC}>{M}+{CM}/cert " in out[0],
                  f"xmuxctl: every pair on the one stream, by certificate: "
                  f"{out}")
    return test


def pair_slot(sender, target, n):
    """The stream slot xmuxd pins a domain pair to when
    max_connections_per_peer = n (route_s2s.c pair_slot: FNV-1a, fmix32)."""
    h = 0x811c9dc5
    for b in f"{sender} {target}".encode():
        h = ((h ^ b) * 0x01000193) & 0xffffffff
    h ^= h >> 16
    h = (h * 0x85ebca6b) & 0xffffffff
    h ^= h >> 13
    h = (h * 0xc2b2ae35) & 0xffffffff
    h ^= h >> 16
    return h % n


def two_streams_per_peer(p):
    """max_connections_per_peer = 2 on both servers (MUX.md §6.6): A pins
    each domain pair to one of two streams by hashing it, B spreads its
    pairs over A's two bidi streams without opening its own: 2
    connections for 2x2 both ways, every pair on one stream (its
    messages in order, also in bursts), and the streams as xmuxctl
    shows them."""
    slots = {pair_slot(s, t, 2) for s in (M, CM) for t in (C, RC)}
    check(slots == {0, 1}, f"the test's pairs use both slots: {slots}")
    converse_2x2(p)
    n = p.conns()
    check(n == 2, f"{n} connections for 2x2 with 2 per peer, expected 2")
    users_a = [login(p.a, "romeo@" + M, "pw", "r2"),
               login(p.a, "benvolio@" + CM, "pw", "b2")]
    users_b = [login(p.b, "juliet@" + C, "pw", "j2"),
               login(p.b, "nurse@" + RC, "pw", "n2")]
    for src, dst in ((users_a, users_b), (users_b, users_a)):
        for c, cj, _ in src:
            for _, dj, _ in dst:
                for i in range(20):
                    chat(c, dj, f"{cj} {i}", f"o{i}")
        for d, _, _ in dst:
            seen = {}
            for _ in range(40):
                el = d.next_element(timeout=10)
                body = el.findtext("{jabber:client}body") or ""
                frm, i = body.rsplit(" ", 1)
                check(int(i) == seen.get(frm, -1) + 1,
                      f"order from {frm}: {i} after {seen.get(frm)}")
                seen[frm] = int(i)
    check(p.conns() == 2, "still 2 connections after the bursts")
    out = [x for x in ctl_connections(p.a) if "kind=s2s" in x]
    check(len(out) == 2 and all("dir=out" in x and "bidi=yes" in x
                                for x in out), f"A's streams: {out}")


def converse_2x2(p):
    users_a = [login(p.a, "romeo@" + M, "pw", "r"),
               login(p.a, "benvolio@" + CM, "pw", "b")]
    users_b = [login(p.b, "juliet@" + C, "pw", "j"),
               login(p.b, "nurse@" + RC, "pw", "n")]
    k = 0
    for src, dst in ((users_a, users_b), (users_b, users_a)):
        for c, _, _ in src:
            for d, dj, _ in dst:
                k += 1
                chat(c, dj, f"m{k}", f"id{k}")
                expect_message(d, f"m{k}")


@with_pair(ca=True, b_certs={C: "c1", RC: "r1"})
def m3_connection_authorization(p):
    """B uses one certificate per domain, so A's stream to capulet.example
    lists rooms.capulet.example without covering it. A stanza for it makes
    A open a secondary stream to rooms.capulet.example, send the secret
    there (F4), get it back from capulet.example in an IQ over the bidi
    primary stream (MUX-53, MUX-54), answer it over P (MUX-59, MUX-79) and
    send the stanza over P (MUX-60); B closes the secondary stream
    (MUX-56), the answer comes back over P too: one connection. No log
    holds the secret, only its fingerprint (SEC-10)."""
    r, rj, _ = login(p.a, "romeo@" + M, "pw", "orchard")
    j, jj, _ = login(p.b, "juliet@" + C, "pw", "balcony")
    n, nj, _ = login(p.b, "nurse@" + RC, "pw", "kitchen")
    chat(r, jj, "to capulet", "a1")
    expect_message(j, "to capulet")
    chat(r, nj, "to rooms", "a2")
    expect_message(n, "to rooms")
    chat(n, rj, "from rooms", "a3")
    expect_message(r, "from rooms")
    la, lb = p.a.logtext(), p.b.logtext()
    check("event=mux-authorization-success new=rooms.capulet.example" in la,
          "M3 succeeded at A")
    check("event=mux-authorization-done result=success" in lb,
          "MUX-56: B ended the authorization")
    deadline = time.time() + 5
    while p.conns() > 1 and time.time() < deadline:
        time.sleep(0.1)
    check(p.conns() == 1, f"one connection after M3, got {p.conns()}")
    import re
    secret = re.compile(r"1-[0-9]{10}-[0-9a-f]{32}-[0-9a-f]{64}")
    check(not secret.search(la + lb), "SEC-10: a secret in the logs")
    check("secret_sha256=" in la and "secret_sha256=" in lb,
          "SEC-10: fingerprints logged")


@with_pair(ca=True, b_certs={C: "c1", RC: "r1"}, a_s2s="bidi = false;")
def m3_without_bidi(p):
    """A does not ask for bidi: B sends the F5 IQ over its own stream to
    montague.example, opened for it (MUX-55), and A accepts it there, the
    via host being a sender on it (MUX-78); the result still goes over P
    (MUX-79)."""
    r, rj, _ = login(p.a, "romeo@" + M, "pw", "orchard")
    j, jj, _ = login(p.b, "juliet@" + C, "pw", "balcony")
    n, nj, _ = login(p.b, "nurse@" + RC, "pw", "kitchen")
    chat(r, jj, "to capulet", "a1")
    expect_message(j, "to capulet")
    chat(r, nj, "to rooms", "a2")
    expect_message(n, "to rooms")
    la, lb = p.a.logtext(), p.b.logtext()
    check("event=mux-authorization-success" in la, "M3 succeeded")
    check(f"event=s2s-out from={C} to={M}" in lb, "MUX-55: B's own stream")


@with_pair(ca=True, b_certs={C: "c1", RC: "r1"}, timeouts="idle = 1;")
def m3_grant_ends_with_p(p):
    """The grant belongs to P: once P is gone (idle), a stanza for the
    authorized host needs a stream again (MUX-69)."""
    r, rj, _ = login(p.a, "romeo@" + M, "pw", "orchard")
    n, nj, _ = login(p.b, "nurse@" + RC, "pw", "kitchen")
    j, jj, _ = login(p.b, "juliet@" + C, "pw", "balcony")
    chat(r, jj, "to capulet", "a1")
    expect_message(j, "to capulet")
    chat(r, nj, "to rooms", "a2")
    expect_message(n, "to rooms")
    deadline = time.time() + 8
    while p.conns() > 0 and time.time() < deadline:
        time.sleep(0.2)
    check(p.conns() == 0, "P closed when idle")
    chat(r, nj, "again", "a3")
    expect_message(n, "again")
    starts = p.a.logtext().count(f"event=s2s-out from={M} to={RC}")
    check(starts == 2, f"MUX-69: a new stream for {RC} ({starts})")


@with_pair(ca=True, b_certs={C: "c1", RC: "r1"},
           a_s2s="max_connections_per_peer = 2;")
def m3_two_streams(p):
    """Two streams from A to B (max_connections_per_peer = 2: montague >
    capulet and chat.montague > capulet are pinned to different ones).
    A stanza from montague.example to rooms.capulet.example, which B's
    certificate for capulet does not cover, starts connection
    authorization on the stream of its pair's slot, P (from
    chat.montague.example). B sends the F5 IQ to chat.montague.example by
    ordinary routing, over the other stream; A still answers over P
    itself (MUX-79), and B adds rooms.capulet.example to what it may send
    over P only: nurse's answer comes back over P."""
    check(pair_slot(M, C, 2) != pair_slot(CM, C, 2), "pairs on two slots")
    r, rj, _ = login(p.a, "romeo@" + M, "pw", "orchard")
    b, bj, _ = login(p.a, "benvolio@" + CM, "pw", "street")
    j, jj, _ = login(p.b, "juliet@" + C, "pw", "balcony")
    n, nj, _ = login(p.b, "nurse@" + RC, "pw", "kitchen")
    chat(r, jj, "from montague", "t1")
    expect_message(j, "from montague")
    chat(b, jj, "from chat", "t2")
    expect_message(j, "from chat")
    check(p.conns() == 2, f"two streams to B: {p.conns()}")
    la = p.a.logtext()
    import re
    conn_of = dict(re.findall(r"conn=(\w+) event=s2s-out from=(\S+) to=", la))
    conn_of = {v: k for k, v in conn_of.items()}
    check(set(conn_of) == {M, CM}, f"A's streams: {conn_of}")
    prim = conn_of[pair_slot(M, RC, 2) == pair_slot(CM, C, 2) and CM or M]
    chat(r, nj, "to rooms", "t3")
    expect_message(n, "to rooms")
    chat(n, rj, "from rooms", "t4")
    expect_message(r, "from rooms")
    la = p.a.logtext()
    check(f"event=mux-authorization-start new={RC} via={C} primary={prim}"
          in la, f"M3 on the pair's slot stream {prim}")
    check(f"conn={prim} event=mux-authorization-success new={RC}" in la,
          "MUX-79: the result over P")
    deadline = time.time() + 5
    while p.conns() > 2 and time.time() < deadline:
        time.sleep(0.1)
    check(p.conns() == 2, f"S closed: {p.conns()}")
    inc = [x for x in ctl_connections(p.b) if "kind=s2s" in x]
    peer_p = CM if conn_of[CM] == prim else M
    on_p = [x for x in inc if f" jid={peer_p} " in x]
    other = [x for x in inc if f" jid={peer_p} " not in x]
    check(len(on_p) == 1 and f"{RC}>" in on_p[0].split(" back=")[1] and
          "/secret" in on_p[0], f"MUX-79: RSND of P holds {RC}: {on_p}")
    check(len(other) == 1 and RC not in other[0],
          f"MUX-79: not the other stream's: {other}")
    out = [x for x in ctl_connections(p.a) if f"conn={prim} " in x]
    check(len(out) == 1 and f">{RC}/secret" in out[0],
          f"A's P carries {RC} by secret: {out}")


@with_pair(ca=True, timeouts="idle = 1;")
def idle_close_and_reopen(p):
    """An s2s stream with no traffic for timeouts.idle closes gracefully;
    the next stanza opens a new one."""
    r, rj, _ = login(p.a, "romeo@" + M, "pw", "orchard")
    j, jj, _ = login(p.b, "juliet@" + C, "pw", "balcony")
    chat(r, jj, "before", "i1")
    expect_message(j, "before")
    deadline = time.time() + 8
    while p.conns() > 0 and time.time() < deadline:
        time.sleep(0.2)
    check(p.conns() == 0, "idle stream still open")
    check("event=idle-close" in p.a.logtext() + p.b.logtext(), "logged")
    chat(r, jj, "after", "i2")
    expect_message(j, "after")


def one_way(a_s2s, b=None, dns=None, net_addrs=None):
    """A (montague.example, romeo) and B (capulet.example, juliet) with
    certificates from the test CA; a_s2s is A's s2s group body. Romeo's
    message must reach Juliet; returns A's log. b may be given (to learn
    its ports first), dns is started and stopped around the run."""
    aaddr, baddr = net_addrs or loopback_pair()
    tls = f'tls = {{ ca_file = "{certs()}/ca.crt"; }};\n'
    b = b or Server(hosts=hosts_of((C,), "c"), addr=baddr, extra=tls)
    a = Server(hosts=hosts_of((M,), "m"), addr=aaddr,
               extra=tls + f"s2s = {{ {a_s2s} }};\n")
    a.add_user("romeo@" + M, "pw")
    b.add_user("juliet@" + C, "pw")
    if dns:
        dns.start()
    try:
        a.start()
        b.start()
        r, rj, _ = login(a, "romeo@" + M, "pw", "orchard")
        j, jj, _ = login(b, "juliet@" + C, "pw", "balcony")
        chat(r, jj, "over there", "t1")
        expect_message(j, "over there")
        return a.logtext()
    finally:
        for x in (a, b):
            if x.proc is not None:
                x.stop()
        if dns:
            dns.stop()


def capulet(addr):
    tls = f'tls = {{ ca_file = "{certs()}/ca.crt"; }};\n'
    return Server(hosts=hosts_of((C,), "c"), addr=addr, extra=tls)


def route_direct_tls():
    """A static route with direct_tls = true: TLS from the first byte to
    the peer's s2s-tls listener (XEP-0368), then EXTERNAL."""
    aaddr, baddr = loopback_pair()
    b = capulet(baddr)
    la = one_way(f'resolver = "127.0.0.1:1"; routes = ( {{ domain = "{C}"; '
                 f'host = "{baddr}"; port = {b.s2s_tls_port}; '
                 'direct_tls = true; } );', b=b, net_addrs=(aaddr, baddr))
    check("direct_tls=yes" in la and "mech=EXTERNAL" in la,
          "Direct TLS and EXTERNAL:\n" + la[-3000:])


def srv_fallback_across_targets():
    """SRV targets in priority order: the first refuses the connection,
    the next takes it; both attempts are logged (happy-eyeballs
    fallback)."""
    net = Net(servers=3, ports=())
    b = capulet(net.server(2))
    dead = net.server(3)
    dns = Dns(tempfile.mkdtemp(prefix="xmux-fed-dns-"), net.dns)
    dns.host("dead.capulet.example", dead)
    dns.host("xmpp.capulet.example", net.server(2))
    dns.args.append(f"--srv-host=_xmpp-server._tcp.{C},dead.capulet.example,"
                    f"{b.s2s_port},0")
    dns.args.append(f"--srv-host=_xmpp-server._tcp.{C},xmpp.capulet.example,"
                    f"{b.s2s_port},10")
    la = one_way(f'resolver = "{net.dns}:53";', b=b, dns=dns,
                 net_addrs=(net.server(1), net.server(2)))
    check(f"event=connect-failed to={C} address={dead}" in la,
          "first target tried:\n" + la[-3000:])
    check(f"peer={net.server(2)}:{b.s2s_port} host=xmpp.capulet.example"
          in la, "second target used")


def srv_direct_tls():
    """Resolution through DNS: _xmpps-server._tcp (XEP-0368, Direct TLS)
    preferred by priority over _xmpp-server._tcp, both from a dnsmasq on
    loopback that xmuxd asks (s2s.resolver)."""
    net = Net(servers=2, ports=())
    b = capulet(net.server(2))
    dns = Dns(tempfile.mkdtemp(prefix="xmux-fed-dns-"), net.dns)
    dns.host("xmpp.capulet.example", net.server(2))
    dns.srv(C, "xmpp.capulet.example", b.s2s_tls_port, "_xmpps-server._tcp")
    dns.args.append(f"--srv-host=_xmpp-server._tcp.{C},xmpp.capulet.example,"
                    f"{b.s2s_port},20")
    la = one_way(f'resolver = "{net.dns}:53";', b=b, dns=dns,
                 net_addrs=(net.server(1), net.server(2)))
    check(f"port={b.s2s_tls_port}" in la and "direct_tls=yes" in la,
          "Direct TLS target chosen:\n" + la[-3000:])


@with_pair(ca=True)
def queue_order_and_flush(p):
    """Stanzas sent while the stream is set up wait and leave in order."""
    r, rj, _ = login(p.a, "romeo@" + M, "pw", "orchard")
    j, jj, _ = login(p.b, "juliet@" + C, "pw", "balcony")
    for i in range(50):
        chat(r, jj, f"n{i}", f"q{i}")
    for i in range(50):
        expect_message(j, f"n{i}")


def bounce_not_found():
    """A remote domain with no server: the sender gets
    remote-server-not-found, never silence."""
    aaddr, _ = loopback_pair()
    port = random.randint(20000, 60000)
    a = Server(hosts=(M,), addr=aaddr,
               extra=s2s_block([("nowhere.example", aaddr, port)]))
    a.add_user("romeo@" + M, "pw")
    a.start()
    try:
        r, rj, _ = login(a, "romeo@" + M, "pw", "orchard")
        chat(r, "x@nowhere.example", "lost?", "b1")
        el = expect_error(r, "remote-server-not-found")
        check(el.get("id") == "b1", "bounce keeps the id")
        r.send("<iq type='get' id='p1' to='nowhere.example'>"
               "<ping xmlns='urn:xmpp:ping'/></iq>")
        expect_error(r, "remote-server-not-found")
    finally:
        a.stop()


# --- xmuxd against a scripted receiving server ------------------------------

class Peer:
    """A scripted receiving server on addr: accepts xmuxd's connection and
    lets the test answer step by step."""

    def __init__(self, addr, cert="c"):
        self.lsock = socket.socket()
        self.lsock.bind((addr, 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.cert = cert

    def accept(self, timeout=10):
        self.lsock.settimeout(timeout)
        s, _ = self.lsock.accept()
        return PeerConn(s, self.cert)


class PeerConn(Client):
    """The receiving end of xmuxd's connection: the Client parser, on an
    accepted socket, with server-side STARTTLS."""

    def __init__(self, sock, cert):
        self.sock = sock
        self.sock.settimeout(10)
        self.timeout = 10.0
        self.cert = cert
        self.raw = b""
        self.eof = False
        self.restart()

    def respond(self, frm, to, features, sid="peer-stream-id-1", db=True):
        dbns = f" xmlns:db='{NS_DB}'" if db else ""
        self.send("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                  f"xmlns:stream='{NS_STREAM}'{dbns} id='{sid}' from='{frm}' "
                  f"to='{to}' version='1.0'><stream:features>{features}"
                  "</stream:features>")

    def tls(self):
        el = self.next_element()
        check(el.tag == f"{{{NS_TLS}}}starttls", f"starttls: {el.tag}")
        self.send(f"<proceed xmlns='{NS_TLS}'/>")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        d = certs()
        ctx.load_cert_chain(f"{d}/{self.cert}.crt", f"{d}/{self.cert}.key")
        ctx.load_verify_locations(f"{d}/ca.crt")
        ctx.verify_mode = ssl.CERT_OPTIONAL
        self.sock = ctx.wrap_socket(self.sock, server_side=True)
        self.restart()


STARTTLS_F = f"<starttls xmlns='{NS_TLS}'><required/></starttls>"
EXTERNAL_F = (f"<mechanisms xmlns='{NS_SASL}'><mechanism>EXTERNAL"
              "</mechanism></mechanisms>")
BIDI_F = "<bidi xmlns='urn:xmpp:features:bidi'/>"
DB_F = ("<dialback xmlns='urn:xmpp:features:dialback'><errors/>"
        "</dialback>")


def with_peer(cert="c", extra="", timeouts="", rooms_cert=None, more=(),
              negotiation=60):
    """xmuxd A (montague, chat.montague) whose route to capulet and
    rooms.capulet leads to a Peer; with rooms_cert, rooms.capulet has a
    Peer of its own (another port, that certificate) and fn gets both.
    timeouts: extra members of the timeouts group ("dialback = 1;");
    more: further domains routed to the rooms Peer; negotiation: the
    negotiation timeout (s)."""
    def deco(fn):
        def wrapped():
            aaddr, baddr = loopback_pair()
            peer = Peer(baddr, cert)
            rooms = Peer(baddr, rooms_cert) if rooms_cert else peer
            tls = f'tls = {{ ca_file = "{certs()}/ca.crt"; }};\n'
            a = Server(hosts=hosts_of((M, CM), "m"), addr=aaddr,
                       timeouts=timeouts, negotiation=negotiation,
                       extra=tls + s2s_block([(C, baddr, peer.port),
                                              (RC, baddr, rooms.port)] +
                                             [(d, baddr, rooms.port)
                                              for d in more], extra))
            a.add_user("romeo@" + M, "pw")
            a.add_user("benvolio@" + CM, "pw")
            a.start()
            try:
                if rooms_cert:
                    fn(a, peer, rooms)
                else:
                    fn(a, peer)
            except TestFailure as e:
                raise TestFailure(f"{e}\n--- xmuxd ---\n{a.logtext()[-5000:]}")
            finally:
                peer.lsock.close()
                rooms.lsock.close()
                a.stop()
        return wrapped
    return deco


def to_tls(pc, features):
    """Header, STARTTLS, second header: returns after the post-TLS
    features went out."""
    h = pc.wait_header()
    check(h.get("from") == M and h.get("to") == C,
          f"header from/to: {h.attrib}")
    pc.respond(C, M, STARTTLS_F)
    pc.tls()
    pc.wait_header()
    pc.respond(C, M, features, sid="peer-stream-id-2")


@with_peer(cert="o")
def core_24_wrong_certificate(a, peer):
    """The peer's certificate validates but names another domain: xmuxd
    leaves before sending a header over TLS (CORE-24), and the sender's
    stanza bounces."""
    r, rj, _ = login(a, "romeo@" + M, "pw", "orchard")
    chat(r, "juliet@" + C, "hello", "w1")
    pc = peer.accept()
    pc.wait_header()
    pc.respond(C, M, STARTTLS_F)
    try:
        pc.tls()
        pc.wait(lambda: pc.eof, "xmuxd to close", 10)
    except (ssl.SSLError, OSError):
        pass
    check(pc.header is None, "CORE-24: no header after TLS")
    expect_error(r, "remote-server-not-found")
    check("reason=certificate-name-mismatch" in a.logtext(), "logged")


@with_peer()
def bidi_11_and_external(a, peer):
    """Offered bidi and EXTERNAL: <bidi/> goes before <auth/> (BIDI-11),
    authzid is the stream 'from'; then the stanza flows, and reverse
    stanzas from a wrong sender or to a wrong target end the stream
    (BIDI-09)."""
    r, rj, _ = login(a, "romeo@" + M, "pw", "orchard")
    chat(r, "juliet@" + C, "hello", "x1")
    pc = peer.accept()
    to_tls(pc, EXTERNAL_F + BIDI_F + DB_F)
    e1 = pc.next_element()
    check(e1.tag == f"{{{NS_BIDI}}}bidi", f"BIDI-11: first {e1.tag}")
    e2 = pc.next_element()
    check(e2.tag == f"{{{NS_SASL}}}auth" and e2.get("mechanism") ==
          "EXTERNAL", f"auth: {ET.tostring(e2)!r}")
    import base64
    check(base64.b64decode(e2.text or "").decode() == M, "authzid")
    pc.send(f"<success xmlns='{NS_SASL}'/>")
    pc.restart()
    pc.wait_header()
    pc.respond(C, M, "", sid="peer-stream-id-3")
    el = pc.next_element()
    check(el.tag == "{jabber:server}message" and el.get("id") == "x1",
          f"stanza after negotiation: {ET.tostring(el)!r}")
    # Reverse direction over bidi: allowed pair, then a spoofed sender.
    pc.send(f"<message from='juliet@{C}/b' to='{rj}' type='chat' id='y1'>"
            "<body>back</body></message>")
    expect_message(r, "back")
    pc.send(f"<message from='x@other.example' to='{rj}' id='y2'/>")
    pc.expect_stream_error("invalid-from")


@with_peer()
def bidi_10_wrong_target(a, peer):
    """Over bidi, a reverse stanza to a domain not authorized on the
    stream → host-unknown (BIDI-10)."""
    r, rj, _ = login(a, "romeo@" + M, "pw", "orchard")
    chat(r, "juliet@" + C, "hello", "x1")
    pc = peer.accept()
    to_tls(pc, EXTERNAL_F + BIDI_F + DB_F)
    pc.next_element()
    pc.next_element()
    pc.send(f"<success xmlns='{NS_SASL}'/>")
    pc.restart()
    pc.wait_header()
    pc.respond(C, M, "", sid="peer-stream-id-3")
    pc.next_element()
    pc.send(f"<message from='juliet@{C}' to='x@unlisted.{M}' id='y3'/>")
    pc.expect_stream_error("host-unknown")


@with_peer()
def external_failure_falls_back(a, peer):
    """EXTERNAL refused by the peer: the same stream goes on with
    dialback (the fallback operators expect), and the stanza flows once
    the key is accepted."""
    r, rj, _ = login(a, "romeo@" + M, "pw", "orchard")
    chat(r, "juliet@" + C, "after fallback", "e1")
    pc = peer.accept()
    to_tls(pc, EXTERNAL_F + DB_F)
    check(pc.next_element().tag == f"{{{NS_SASL}}}auth", "auth first")
    pc.send(f"<failure xmlns='{NS_SASL}'><not-authorized/></failure>")
    el = pc.next_element()
    check(el.tag == f"{{{NS_DB}}}result" and el.get("from") == M,
          f"dialback after EXTERNAL failed: {ET.tostring(el)!r}")
    pc.send(f"<db:result from='{C}' to='{M}' type='valid'/>")
    el = pc.next_element()
    check(el.get("id") == "e1", f"stanza after dialback: {ET.tostring(el)!r}")
    check("fallback=dialback" in a.logtext(), "logged")


MUX_F = "<mux xmlns='urn:xmpp:mux:0'/>"


def host_list(*hosts):
    return ("<mux xmlns='urn:xmpp:mux:0'>" +
            "".join(f"<host>{h}</host>" for h in hosts) + "</mux>")


def mux_peer(a, peer, post_features, pre=MUX_F + EXTERNAL_F + BIDI_F + DB_F):
    """Romeo writes to juliet; the peer offers pre (mux, EXTERNAL, bidi,
    dialback by default), checks that xmuxd sends <bidi/>, <mux/> and
    <auth/> in that order (MUX-27, BIDI-11), accepts, and sends
    post_features. Returns (romeo's client, the connection) once the
    first message arrived on it."""
    r, rj, _ = login(a, "romeo@" + M, "pw", "orchard")
    chat(r, "juliet@" + C, "first", "f1")
    pc = peer.accept()
    to_tls(pc, pre)
    tags = [pc.next_element().tag for _ in range(3)]
    check(tags == [f"{{{NS_BIDI}}}bidi", "{urn:xmpp:mux:0}mux",
                   f"{{{NS_SASL}}}auth"], f"MUX-27 order: {tags}")
    pc.send(f"<success xmlns='{NS_SASL}'/>")
    pc.restart()
    pc.wait_header()
    pc.respond(C, M, post_features, sid="peer-stream-id-3")
    el = pc.next_element()
    check(el.get("id") == "f1", f"first message: {ET.tostring(el)!r}")
    return r, pc


@with_peer()
def mux_25_28_covered_host(a, peer):
    """The peer lists rooms.capulet.example, which its certificate covers:
    a stanza to it goes over the same stream (MUX-25, M2), and so does one
    from our other certificate domain (MUX-28), with no db:result."""
    r, pc = mux_peer(a, peer, host_list(RC))
    chat(r, "nurse@" + RC, "to rooms", "f2")
    el = pc.next_element()
    check(el.get("to") == "nurse@" + RC and el.get("id") == "f2",
          f"MUX-25: {ET.tostring(el)!r}")
    b, bj, _ = login(a, "benvolio@" + CM, "pw", "street")
    chat(b, "juliet@" + C, "from chat", "f3")
    el = pc.next_element()
    check(el.get("from") == bj and el.get("id") == "f3",
          f"MUX-28: {ET.tostring(el)!r}")
    check(f"dialback-request sender={CM}" not in a.logtext(),
          "no dialback needed under mux")


@with_peer(cert="c1")
def mux_24_uncovered_host(a, peer):
    """A listed host the peer's certificate does not cover is not routed
    over the stream: a connection of its own is opened for it (MUX-24)."""
    r, pc = mux_peer(a, peer, host_list(RC))
    chat(r, "nurse@" + RC, "to rooms", "g2")
    pc2 = peer.accept()
    h = pc2.wait_header()
    check(h.get("to") == RC, f"MUX-24: new stream to {RC}: {h.attrib}")
    check(len(pc.elements) == pc.taken, "nothing more on the first stream")


@with_peer()
def mux_26_host_list_cleaned(a, peer):
    """Invalid, duplicate and self entries of the peer's list are dropped
    (MUX-26)."""
    mux_peer(a, peer, host_list("", "1.2.3.4", "[::1]", "single", C, RC,
                                " Rooms.Capulet.Example. ", RC))
    check("event=mux-hosts listed=1 usable=1" in a.logtext(),
          "MUX-26: one usable host:\n" + a.logtext()[-2000:])


@with_peer()
def mux_81_preauth_children(a, peer):
    """A pre-auth <mux> with host children is a plain offer: xmuxd sends
    <mux/> and never routes to the hosts named there (MUX-81)."""
    pre = host_list("x.example") + EXTERNAL_F + BIDI_F + DB_F
    r, pc = mux_peer(a, peer, "", pre=pre)
    check("event=mux-hosts" not in a.logtext(), "no hosts taken")


@with_peer()
def sec_15_long_host_list(a, peer):
    """A host list of 5000 entries is read safely, the first 1024 used
    (SEC-15); the stream goes on."""
    hosts = [f"h{i}.capulet.example" for i in range(5000)]
    r, pc = mux_peer(a, peer, host_list(*hosts))
    chat(r, "juliet@" + C, "still here", "h2")
    el = pc.next_element()
    check(el.get("id") == "h2", "stream still works")
    # The certificate covers none of them: read, then not used.
    check("event=mux-hosts listed=1024 usable=0" in a.logtext(),
          "SEC-15: 1024 read")


@with_peer(cert="c1")
def sec_24_listed_not_sender(a, peer):
    """Over bidi, a listed host the peer's certificate does not cover is
    no sender (SEC-24): invalid-from."""
    r, pc = mux_peer(a, peer, host_list(RC))
    rj = f"romeo@{M}/orchard"
    pc.send(f"<message from='nurse@{RC}' to='{rj}' id='z1'/>")
    pc.expect_stream_error("invalid-from")


# --- connection authorization, xmuxd initiating (MUX.md §8.5) -------------

def m3_start(a, peer, rooms, s_hosts=(C,)):
    """P to capulet.example (certificate c1: rooms not covered, listed),
    then a stanza for nurse@rooms.capulet.example: xmuxd opens S to the
    rooms peer (its own route, MUX-80), which lists s_hosts. Returns
    (romeo, P, S, the element xmuxd sent after S's post-auth features or
    None)."""
    r, pc = mux_peer(a, peer, host_list(RC))
    chat(r, "nurse@" + RC, "to rooms", "n1")
    sc = rooms.accept()
    h = sc.wait_header()
    check(h.get("to") == RC and h.get("from") == M,
          f"MUX-80: S to {RC} from {M}: {h.attrib}")
    sc.respond(RC, M, STARTTLS_F)
    sc.tls()
    sc.wait_header()
    sc.respond(RC, M, MUX_F + EXTERNAL_F + BIDI_F + DB_F, sid="s-stream-2")
    tags = [sc.next_element().tag for _ in range(3)]
    check(tags[-1] == f"{{{NS_SASL}}}auth", f"S auth: {tags}")
    sc.send(f"<success xmlns='{NS_SASL}'/>")
    sc.restart()
    sc.wait_header()
    sc.respond(RC, M, host_list(*s_hosts), sid="s-stream-3")
    try:
        el = sc.next_element(timeout=3)
    except TestFailure:
        el = None
    return r, pc, sc, el


def f5(secret, frm=C, to=M, iid="q1", typ="set"):
    return (f"<iq type='{typ}' id='{iid}' from='{frm}' to='{to}'>"
            f"<mux xmlns='urn:xmpp:mux:0'>{secret}</mux></iq>")


def expect_iq(pc, iid, typ, cond=None):
    el = pc.next_element()
    check(el.tag == "{jabber:server}iq" and el.get("id") == iid and
          el.get("type") == typ, f"iq {iid} {typ}: {ET.tostring(el)!r}")
    if cond:
        check(el.find(f"{{jabber:server}}error/{{{NS_STANZAS}}}{cond}")
              is not None, f"{cond}: {ET.tostring(el)!r}")
        check(el.find("{jabber:server}error").get("type") == "modify",
              "type modify")
    return el


def f4_of(el):
    check(el is not None and el.tag == "{urn:xmpp:mux:0}mux" and
          el.get("host") == C and len(el.text or "") == 110,
          f"F4 on S: {el if el is None else ET.tostring(el)!r}")
    return el.text


@with_peer(cert="c1", rooms_cert="r1")
def m3_i_success(a, peer, rooms):
    """The secret comes back from capulet.example over P: an empty result
    from our domain over P (MUX-59), then the waiting stanza over P
    (MUX-60, MUX-52: nothing more on S); a replay is refused (MUX-64)."""
    r, pc, sc, el = m3_start(a, peer, rooms)
    secret = f4_of(el)
    pc.send(f5(secret))
    res = expect_iq(pc, "q1", "result")
    check(res.get("from") == M and res.get("to") == C and len(res) == 0,
          f"MUX-59: {ET.tostring(res)!r}")
    msg = pc.next_element()
    check(msg.get("id") == "n1" and msg.get("to") == "nurse@" + RC,
          f"MUX-60: {ET.tostring(msg)!r}")
    check(len(sc.elements) == sc.taken, "MUX-52: nothing more on S")
    pc.send(f5(secret, iid="q2"))
    expect_iq(pc, "q2", "error", "not-acceptable")


@with_peer(cert="c1", rooms_cert="r1",
           timeouts="secondary_close = 1;")
def m3_i_secondary_close(a, peer, rooms):
    """If the receiving server does not close S after the result, xmuxd
    does within T_secondary_close (MUX-61)."""
    r, pc, sc, el = m3_start(a, peer, rooms)
    pc.send(f5(f4_of(el)))
    expect_iq(pc, "q1", "result")
    sc.wait(lambda: sc.closed_tag, "xmuxd's closing tag on S", timeout=5)


@with_peer(cert="c1", rooms_cert="r1")
def m3_i_wrong_secret(a, peer, rooms):
    """A wrong secret → not-acceptable (modify) (MUX-62); the stanzas
    then go over S (MUX-68 path)."""
    r, pc, sc, el = m3_start(a, peer, rooms)
    secret = f4_of(el)
    bad = secret[:-1] + ("0" if secret[-1] != "0" else "1")
    pc.send(f5(bad))
    expect_iq(pc, "q1", "error", "not-acceptable")


@with_peer(cert="c1", rooms_cert="r1")
def m3_i_wrong_from_to(a, peer, rooms):
    """IQ from a domain other than the via host, or to another of our
    domains → not-acceptable (MUX-65, MUX-66)."""
    r, pc, sc, el = m3_start(a, peer, rooms)
    secret = f4_of(el)
    pc.send(f5(secret, to=CM, iid="q3"))
    expect_iq(pc, "q3", "error", "not-acceptable")


@with_peer(cert="c1", rooms_cert="r1")
def m3_i_malformed(a, peer, rooms):
    """No text, a child, or type get → bad-request (MUX-67)."""
    r, pc, sc, el = m3_start(a, peer, rooms)
    pc.send(f"<iq type='set' id='b1' from='{C}' to='{M}'>"
            "<mux xmlns='urn:xmpp:mux:0'/></iq>")
    expect_iq(pc, "b1", "error", "bad-request")
    pc.send(f"<iq type='set' id='b2' from='{C}' to='{M}'>"
            "<mux xmlns='urn:xmpp:mux:0'><x/></mux></iq>")
    expect_iq(pc, "b2", "error", "bad-request")
    pc.send(f5(f4_of(el), typ="get", iid="b3"))
    expect_iq(pc, "b3", "error", "bad-request")


@with_peer(cert="c1", rooms_cert="r1", timeouts="authz = 1;")
def m3_i_timeout(a, peer, rooms):
    """No IQ within T_authz_I: the waiting stanza goes over S (MUX-68)."""
    r, pc, sc, el = m3_start(a, peer, rooms)
    f4_of(el)
    msg = sc.next_element(timeout=5)
    check(msg.get("id") == "n1", f"MUX-68: over S: {ET.tostring(msg)!r}")


@with_peer(cert="c1", rooms_cert="r1")
def m3_i_not_listed(a, peer, rooms):
    """S does not list the via host: no F4, S is an ordinary stream
    (MUX-50); the stanza goes over it."""
    r, pc, sc, el = m3_start(a, peer, rooms, s_hosts=())
    check(el is not None and el.get("id") == "n1",
          f"MUX-50: no F4, the stanza instead: {el}")


def dialback_peer(a, peer, answer):
    """Dialback-only peer: answers our db:result with answer (a string
    fragment) and returns the connection."""
    r, rj, _ = login(a, "romeo@" + M, "pw", "orchard")
    chat(r, "juliet@" + C, "hello", "d1")
    pc = peer.accept()
    to_tls(pc, DB_F)
    el = pc.next_element()
    check(el.tag == f"{{{NS_DB}}}result" and el.get("from") == M and
          el.get("to") == C and len(el.text or "") == 64,
          f"db:result: {ET.tostring(el)!r}")
    if answer:
        pc.send(answer)
    return r, pc


@with_peer()
def db_14_invalid_bounces(a, peer):
    """db:result answered invalid → internal-server-error (DB-14)."""
    r, pc = dialback_peer(a, peer, f"<db:result from='{C}' to='{M}' "
                          "type='invalid'/>")
    expect_error(r, "internal-server-error")


@with_peer()
def db_14_error_bounces(a, peer):
    """db:result answered with an error → remote-server-timeout (DB-14)."""
    r, pc = dialback_peer(a, peer, f"<db:result from='{C}' to='{M}' "
                          "type='error'><error type='cancel'>"
                          f"<item-not-found xmlns='{NS_STANZAS}'/></error>"
                          "</db:result>")
    expect_error(r, "remote-server-timeout")


@with_peer(timeouts="dialback = 1;")
def db_17_timeout_bounces(a, peer):
    """No answer within T_dialback → remote-server-timeout (DB-17)."""
    r, pc = dialback_peer(a, peer, None)
    expect_error(r, "remote-server-timeout", timeout=10)


@with_peer()
def db_10_11_piggyback_needs_dialback_ns(a, peer):
    """DB-10: a peer that declares the dialback namespace gets the second
    sender domain as a db:result on the same stream. DB-11: one that
    neither declares it nor offers dialback gets a stream per pair."""
    r, rj, _ = login(a, "romeo@" + M, "pw", "orchard")
    b, bj, _ = login(a, "benvolio@" + CM, "pw", "street")
    chat(r, "juliet@" + C, "one", "p1")
    pc = peer.accept()
    h = pc.wait_header()
    pc.respond(C, M, STARTTLS_F, db=False)
    pc.tls()
    pc.wait_header()
    pc.respond(C, M, EXTERNAL_F, sid="peer-stream-id-2", db=False)
    check(pc.next_element().tag == f"{{{NS_SASL}}}auth", "auth")
    pc.send(f"<success xmlns='{NS_SASL}'/>")
    pc.restart()
    pc.wait_header()
    pc.respond(C, M, "", sid="peer-stream-id-3", db=False)
    check(pc.next_element().get("id") == "p1", "first message")
    chat(b, "juliet@" + C, "two", "p2")
    pc2 = peer.accept()
    h2 = pc2.wait_header()
    check(h2.get("from") == CM and h2.get("to") == C,
          f"DB-11: a stream of its own from {CM}: {h2.attrib}")


@with_peer(cert="c1", negotiation=3,
           more=tuple(f"h{i}.capulet.example" for i in range(10)))
def sec_19_pending_per_peer(a, peer):
    """The peer lists ten hosts its certificate does not cover; a stanza
    for each starts connection authorization for at most eight at once
    (SEC-19); the other two wait (no stream of their own meanwhile) and
    start when an authorization ends (here: the secondary streams never
    get an answer and time out)."""
    hosts = [f"h{i}.capulet.example" for i in range(10)]
    r, pc = mux_peer(a, peer, host_list(*hosts))
    for i, h in enumerate(hosts):
        chat(r, f"x@{h}", f"to {h}", f"w{i}")
    time.sleep(1.5)
    la = a.logtext()
    starts = la.count("event=mux-authorization-start")
    waits = la.count("action=wait-authorization")
    outs = sum(la.count(f"event=s2s-out from={M} to={h}") for h in hosts)
    check(starts == 8 and outs == 8 and waits >= 2,
          f"SEC-19: {starts} started, {outs} streams, {waits} waiting")
    deadline = time.time() + 10
    while time.time() < deadline:
        if a.logtext().count("event=mux-authorization-start") == 10:
            break
        time.sleep(0.2)
    la = a.logtext()
    check(la.count("event=mux-authorization-start") == 10,
          "the waiting two started once slots came free")
    check(la.count("reason=secondary-not-ready") >= 8, "the first eight ended")


TESTS = {
    "DB-04-DB-15-dialback-both-ways": db_04_15_dialback_both_ways,
    "BIDI-06-external-one-connection": bidi_06_external_one_connection,
    "DB-08-sender-piggyback": db_08_sender_piggyback,
    "MUX-28-BIDI-07-BIDI-08-2x2-one-connection": with_pair(ca=True)(
        two_by_two(1)),
    "MUX-28-BIDI-12-2x2-no-bidi": with_pair(
        ca=True, a_s2s="bidi = false;", b_s2s="bidi = false;")(
        two_by_two(2, bidi_12=True)),
    "s2s-2x2-no-mux-bidi": with_pair(
        ca=True, a_s2s="mux = false;", b_s2s="mux = false;")(two_by_two(2)),
    "s2s-2x2-no-mux-no-bidi": with_pair(
        ca=True, a_s2s="mux = false; bidi = false;",
        b_s2s="mux = false; bidi = false;")(two_by_two(4)),
    "s2s-idle-close": idle_close_and_reopen,
    "MUX-79-m3-two-streams": m3_two_streams,
    "s2s-two-streams-per-peer": with_pair(
        ca=True, a_s2s="max_connections_per_peer = 2;",
        b_s2s="max_connections_per_peer = 2;")(two_streams_per_peer),
    "SEC-19-pending-per-peer": sec_19_pending_per_peer,
    "MUX-53-54-56-59-60-SEC-10-m3": m3_connection_authorization,
    "MUX-55-78-79-m3-without-bidi": m3_without_bidi,
    "MUX-69-grant-ends-with-p": m3_grant_ends_with_p,
    "s2s-srv-direct-tls": srv_direct_tls,
    "s2s-srv-fallback": srv_fallback_across_targets,
    "s2s-route-direct-tls": route_direct_tls,
    "s2s-queue-order": queue_order_and_flush,
    "s2s-bounce-not-found": bounce_not_found,
    "CORE-24-wrong-certificate": core_24_wrong_certificate,
    "BIDI-09-BIDI-11-external-bidi": bidi_11_and_external,
    "BIDI-10-wrong-target": bidi_10_wrong_target,
    "s2s-external-failure-dialback": external_failure_falls_back,
    "MUX-25-MUX-28-MUX-27-covered-host": mux_25_28_covered_host,
    "MUX-24-uncovered-host": mux_24_uncovered_host,
    "MUX-26-host-list-cleaned": mux_26_host_list_cleaned,
    "MUX-81-preauth-children": mux_81_preauth_children,
    "SEC-15-long-host-list": sec_15_long_host_list,
    "SEC-24-listed-not-sender": sec_24_listed_not_sender,
    "MUX-59-60-52-64-80-SEC-23-m3-success": m3_i_success,
    "MUX-61-secondary-close": m3_i_secondary_close,
    "MUX-62-wrong-secret": m3_i_wrong_secret,
    "MUX-65-66-wrong-from-to": m3_i_wrong_from_to,
    "MUX-67-malformed": m3_i_malformed,
    "MUX-68-timeout": m3_i_timeout,
    "MUX-50-not-listed": m3_i_not_listed,
    "DB-14-invalid": db_14_invalid_bounces,
    "DB-14-error": db_14_error_bounces,
    "DB-17-timeout": db_17_timeout_bounces,
    "DB-10-DB-11-piggyback-needs-dialback": db_10_11_piggyback_needs_dialback_ns,
}

if __name__ == "__main__":
    run(TESTS)
