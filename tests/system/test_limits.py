# SPDX-License-Identifier: MIT
"""System tests: the limits against denial of service (docs/limits.md,
XEP-0205, RFC 6120 §13) and their advertisement (XEP-0478). Each limit is
hit by one peer while a well-behaved session on the same server keeps
exchanging messages; each hit gives the documented error, one
event=limit log line per connection, and a count in `xmuxctl stats`."""

import os
import re
import socket
import subprocess
import time
import xml.etree.ElementTree as ET

from xmuxtest import (C2S_HEADER, NS_SASL, NS_STREAM, Server, TestFailure,
                      check, run, server_test)
from test_c2s import login, tls_stream
from test_federation import M, C, chat, expect_message, with_pair

NS_LIMITS = "urn:xmpp:stream-limits:0"
HOSTS = ("capulet.example", "montague.example")
USERS = {"juliet@capulet.example": "r0m30myr0m30",
         "nurse@capulet.example": "n0rs3",
         "romeo@montague.example": "jul13t",
         "tybalt@capulet.example": "pr1nc3"}


def server(limits="", **kw):
    """A started server with USERS and `limits = { LIMITS };`."""
    extra = kw.pop("extra", "")
    if limits:
        extra += f"limits = {{ {limits} }};\n"
    srv = Server(hosts=HOSTS, extra=extra, **kw)
    for jid, pw in USERS.items():
        srv.add_user(jid, pw)
    return srv.start()


def with_server(fn, **kw):
    return server_test(server, fn, **kw)


def stats(srv):
    """`xmuxctl stats` as a dict of ints."""
    ctl = os.environ.get("XMUXCTL", "xmuxctl")
    out = subprocess.run([ctl, "--config", srv.config, "stats"],
                         capture_output=True, text=True, timeout=30)
    check(out.returncode == 0, f"xmuxctl stats: {out.stdout}{out.stderr}")
    return {k: int(v) for k, v in
            (line.split("=", 1) for line in out.stdout.splitlines())}


def limit_lines(srv, what):
    return [l for l in srv.logtext().splitlines()
            if "event=limit" in l and f" what={what} " in l + " "]


def check_logged_once(srv, what, conns=1):
    """what was logged once per connection, for conns connections, each
    line with the peer's address."""
    lines = limit_lines(srv, what)
    ids = [re.search(r" conn=(\w+) ", l).group(1) for l in lines]
    check(len(ids) == conns and len(set(ids)) == conns,
          f"{what}: {len(lines)} log lines for {conns} connection(s):\n"
          + "\n".join(lines))
    check(all(re.search(r" peer=127\.0\.0\.1:\d+", l) for l in lines),
          f"{what}: peer missing:\n" + "\n".join(lines))


class Pair2:
    """Two logged-in sessions that keep talking while a limit is hit."""

    def __init__(self, srv):
        self.a, self.afull, _ = login(srv, "nurse@capulet.example",
                                      USERS["nurse@capulet.example"], "n")
        self.b, self.bfull, _ = login(srv, "tybalt@capulet.example",
                                      USERS["tybalt@capulet.example"], "t")
        self.n = 0

    def exchange(self, within=3.0):
        """One message each way, each delivered within `within` s."""
        self.n += 1
        for frm, to, tofull in ((self.a, self.b, self.bfull),
                                (self.b, self.a, self.afull)):
            t0 = time.time()
            chat(frm, tofull, f"alive{self.n}", f"m{self.n}")
            expect_message(to, f"alive{self.n}", timeout=within + 2)
            check(time.time() - t0 < within,
                  f"the good session waited {time.time() - t0:.1f} s")


# --- connections ----------------------------------------------------------

def per_ip(srv):
    good = Pair2(srv)            # two connections from 127.0.0.1
    idle = [srv.client("c2s") for _ in range(2)]   # four now: the limit
    time.sleep(0.3)
    over = srv.client("c2s")
    over.sock.settimeout(5)
    data = over.sock.recv(100)   # accepted, then closed unread
    check(data == b"", f"the connection over the limit got {data!r}")
    good.exchange()
    check_logged_once(srv, "connections-per-ip")
    check(stats(srv)["limit.connections-per-ip"] == 1, "not counted")
    # One of them goes: there is room for exactly one again.
    idle[0].close()
    time.sleep(0.3)
    again = srv.client("c2s")
    again.send(C2S_HEADER.format(to="capulet.example"))
    check(again.wait_header() is not None, "no room after a close")
    good.exchange()
    s = stats(srv)
    check(s["limit.connections-per-ip"] == 1, f"counted again: {s}")
    check(s["connections.c2s"] == 4, f"connections: {s}")


def fd_reserve(srv):
    """RLIMIT_NOFILE 64 with 32 kept in reserve (and 8 more for each
    network thread beyond the first): at most 32 connections (24 with two
    threads), and accept never fails for want of descriptors."""
    cap = 32 - 8 * (int(os.environ.get("XMUX_TEST_THREADS") or 1) - 1)
    check(f"event=fd-budget nofile=64 fd_reserve={64 - cap} "
          f"max_connections=10000 effective={cap}" in srv.logtext(),
          "fd budget not logged")
    good = Pair2(srv)
    held = []
    for _ in range(40):
        c = srv.client("c2s")
        held.append(c)
    time.sleep(0.5)
    good.exchange()
    s = stats(srv)
    check(s["connections.max"] == cap, f"stats: {s}")
    check(s["connections"] <= cap, f"over the cap: {s}")
    check(s["limit.max-connections"] >= 40 - cap,
          f"refusals not counted: {s}")
    check(s["limit.fds"] == 0, f"accept ran out of descriptors: {s}")
    check(not limit_lines(srv, "fds"), "EMFILE hit")
    for c in held:
        c.close()
    time.sleep(0.5)
    good.exchange()
    check(stats(srv)["connections"] == 2, "connections not released")


# --- bytes per second ---------------------------------------------------------

def rate_paused(srv):
    """c2s_rate 8192 B/s, burst 8192: 96 KiB of messages take about ten
    seconds to be read (each read takes what the bucket holds, the rest
    waits in the kernel), one event=limit line; others are not slowed."""
    good = Pair2(srv)
    j, jfull, _ = login(srv, "juliet@capulet.example",
                        USERS["juliet@capulet.example"], "balcony")
    r, rfull, _ = login(srv, "romeo@montague.example",
                        USERS["romeo@montague.example"], "orchard")
    body = "x" * 900
    n = 100
    t0 = time.time()
    j.send("".join(f"<message to='{rfull}' id='r{i}'><body>{body}</body>"
                   "</message>" for i in range(n)))
    got = 0
    while got < n:
        el = r.next_element(timeout=30)
        if el.tag.endswith("}message"):
            got += 1
        if got % 25 == 0:
            good.exchange(within=2.0)
    took = time.time() - t0
    check(took >= 8, f"{n} messages of 900 bytes read in {took:.1f} s")
    check(took < 25, f"too slow: {took:.1f} s")
    check_logged_once(srv, "rate")
    check(stats(srv)["limit.rate"] >= 3, "each pause counts")
    good.exchange()


# --- timeouts -------------------------------------------------------------

def slowloris(srv):
    """A header one byte every 0.4 s: <connection-timeout/> after the
    negotiation timeout (2 s) however much it trickles."""
    good = Pair2(srv)
    c = srv.client("c2s")
    hdr = C2S_HEADER.format(to="capulet.example")
    t0 = time.time()
    for ch in hdr:
        if _readable(c.sock):
            break               # the server has answered: cut off
        c.send(ch)
        time.sleep(0.4)
        if time.time() - t0 > 1:
            good.exchange(within=1.0)
    c.expect_stream_error("connection-timeout", timeout=5)
    took = time.time() - t0
    check(1.8 <= took <= 4.5, f"cut after {took:.1f} s")
    check_logged_once(srv, "negotiation-timeout")
    check(stats(srv)["limit.negotiation-timeout"] == 1, "not counted")
    good.exchange()


def _readable(sock):
    import select
    return bool(select.select([sock], [], [], 0)[0])


# --- stream restarts and SASL ---------------------------------------------

def restarts(srv):
    """stream_restarts = 1: STARTTLS restarts once, so the header after
    SASL success is one too many. Direct TLS needs only one."""
    c, _, _ = tls_stream(srv)
    r = c.auth_plain("juliet", USERS["juliet@capulet.example"])
    check(r.tag == f"{{{NS_SASL}}}success", "auth")
    c.restart()
    c.send(C2S_HEADER.format(to="capulet.example"))
    c.wait_header()
    el = c.expect_stream_error("policy-violation")
    text = el.findtext("{urn:ietf:params:xml:ns:xmpp-streams}text") or ""
    check("restart" in text, f"text {text!r}")
    # The same account over Direct TLS: one restart, allowed.
    d = srv.client("c2s-tls")
    d.wrap_tls(server_hostname="capulet.example", alpn=["xmpp-client"])
    d.open_stream("capulet.example")
    r = d.auth_plain("juliet", USERS["juliet@capulet.example"])
    check(r.tag == f"{{{NS_SASL}}}success", "auth on Direct TLS")
    d.restart()
    _, f = d.open_stream("capulet.example")
    check(f.tag == f"{{{NS_STREAM}}}features", "features after SASL")
    check_logged_once(srv, "restarts")
    check(stats(srv)["limit.restarts"] == 1, "not counted")


def sasl_failures(srv):
    """sasl_failures = 2: the second failure ends the stream."""
    good = Pair2(srv)
    c, _, _ = tls_stream(srv)
    r = c.auth_plain("juliet", "wrong")
    check(r.tag == f"{{{NS_SASL}}}failure", "failure")
    good.exchange()
    r = c.auth_plain("juliet", "wrong again")
    check(r.tag == f"{{{NS_SASL}}}failure", "failure")
    c.expect_stream_error("policy-violation", timeout=15)
    check_logged_once(srv, "sasl-failures")
    check(stats(srv)["limit.sasl-failures"] == 1, "not counted")
    good.exchange()


# --- output queue -----------------------------------------------------------

def output_hard_mark(srv):
    """A client that stops reading: once more than output_queue_max (512
    KiB) waits for it beyond what the kernel holds, its stream ends with
    <resource-constraint/>, behind what was queued."""
    good = Pair2(srv)
    j, jfull, _ = login(srv, "juliet@capulet.example",
                        USERS["juliet@capulet.example"], "balcony")
    r, _, _ = login(srv, "romeo@montague.example",
                    USERS["romeo@montague.example"], "orchard")
    batch = "".join(f"<message to='{jfull}'><body>{'x' * 1000}</body>"
                    "</message>" for _ in range(100))
    deadline = time.time() + 60
    while not limit_lines(srv, "output-queue"):
        check(time.time() < deadline, "the slow reader was never cut")
        r.send(batch)
        good.exchange(within=5.0)
    # Now it reads: everything queued, then the stream error.
    el = j.next_element(timeout=20)
    while el.tag.endswith("}message"):
        el = j.next_element(timeout=20)
    check(el.tag == f"{{{NS_STREAM}}}error", f"got {el.tag}")
    conds = [k.tag for k in el]
    check("{urn:ietf:params:xml:ns:xmpp-streams}resource-constraint" in conds,
          f"conditions {conds}")
    j.wait(lambda: j.closed_tag, "closing tag")
    check_logged_once(srv, "output-queue")
    check(stats(srv)["limit.output-queue"] == 1, "not counted")
    good.exchange()


# --- XEP-0478 ------------------------------------------------------------------

def limits_of(features):
    el = features.find(f"{{{NS_LIMITS}}}limits")
    check(el is not None, "no <limits/> in features")
    return {k.tag.split("}")[1]: int(k.text) for k in el}


def xep_0478_advertised(srv):
    c, _, f = tls_stream(srv)
    check(limits_of(f) == {"max-bytes": 16384}, f"pre-auth {limits_of(f)}")
    r = c.auth_plain("juliet", USERS["juliet@capulet.example"])
    check(r.tag == f"{{{NS_SASL}}}success", "auth")
    c.restart()
    _, f = c.open_stream("capulet.example")
    check(limits_of(f) == {"max-bytes": 65536}, f"post-auth {limits_of(f)}")
    # s2s: idle-seconds is timeouts.idle.
    s = srv.client("s2s")
    s.open_stream("capulet.example", kind="s2s", frm="verona.example")
    s.starttls(server_hostname="capulet.example")
    _, f = s.open_stream("capulet.example", kind="s2s", frm="verona.example")
    check(limits_of(f) == {"max-bytes": 16384, "idle-seconds": 300},
          f"s2s {limits_of(f)}")


@with_pair(b_extra="limits = { stanza_size = 8192; };\n")
def xep_0478_peer_max_bytes(p):
    """A learns B's max-bytes (8192) and bounces a larger stanza with
    <policy-violation/> instead of sending it; B's stream stays up."""
    r, rj, _ = login(p.a, "romeo@" + M, "pw", "orchard")
    j, jj, _ = login(p.b, "juliet@" + C, "pw", "balcony")
    chat(r, jj, "hello", "m1")
    expect_message(j, "hello")
    check(re.search(r"event=peer-limits max_bytes=8192 idle_seconds=300",
                    p.a.logtext()), "peer limits not logged")
    chat(r, jj, "y" * 9000, "big")
    el = r.next_element(10)
    check(el.get("type") == "error" and el.get("id") == "big",
          f"no bounce: {ET.tostring(el)!r}")
    err = el.find("{jabber:client}error")
    check(err.find("{urn:ietf:params:xml:ns:xmpp-stanzas}policy-violation")
          is not None, f"condition: {ET.tostring(el)!r}")
    check(err.get("by") is None, "the bounce names a 'by'")
    chat(r, jj, "still here", "m2")
    expect_message(j, "still here")
    check("event=limit what=xml" not in p.b.logtext(), "B saw it")


TESTS = {
    "limits-per-ip": with_server(per_ip, limits="connections_per_ip = 4;"),
    "limits-fd-reserve": with_server(
        fd_reserve, nofile=64,
        limits="connections_per_ip = 0; fd_reserve = 32;"),
    "limits-rate-paused": with_server(
        rate_paused, limits="c2s_rate = 8192; c2s_burst = 8192;"),
    "limits-slowloris": with_server(slowloris, negotiation=2),
    "limits-restarts": with_server(restarts, limits="stream_restarts = 1;"),
    "limits-sasl-failures": with_server(sasl_failures,
                                        limits="sasl_failures = 2;"),
    "limits-output-hard-mark": with_server(
        output_hard_mark, close_wait=10,
        limits="c2s_rate = 0; output_queue_max = 524288;"),
    "xep-0478-advertised": with_server(xep_0478_advertised,
                                       limits="stanza_size = 65536;"),
    "xep-0478-peer-max-bytes": xep_0478_peer_max_bytes,
}

if __name__ == "__main__":
    run(TESTS)
