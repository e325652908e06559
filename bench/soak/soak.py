# SPDX-License-Identifier: MIT
"""soak.py -- a soak test of mixed c2s and s2s traffic with churn
(docs/soak.md).

Two xmuxd on a fresh loopback block: A serves montague.example and
chat.montague.example, B capulet.example and rooms.capulet.example, with
certificates from a test CA (SASL EXTERNAL, mux, bidi and stream
management on the s2s stream) and static routes to each other through a
TCP proxy per direction that resets its connections at random intervals.
Clients log in to both servers (some with stream management, some with
resumption too), send chat messages, pings and presence to each other
across all four domains, and come and go: a clean close, a dropped TCP
connection, a dropped connection resumed a moment later, or a dropped
session left to expire. Every message carries a unique id and ends up
delivered, bounced (its sender got an error for it) or lost.

Every few seconds a row of samples: RSS and open fds of both servers,
their c2s and s2s connections (xmuxctl connections) and the running
counters; the rows also go to a CSV file. Exit status 0 when nothing was
lost, every IQ was answered, both servers exited cleanly and neither RSS
nor fds grew beyond the tolerances below; 1 otherwise.

Usage: soak.py --build BUILD_DIR --seconds N [options]; the servers'
binaries may also come from the environment (XMUXD, XMUXCTL), as in the
system tests."""

import argparse
import asyncio
import base64
import collections
import csv
import os
import random
import shutil
import signal
import socket
import ssl
import struct
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "system"))

from xmuxtest import (C2S_HEADER, NS_SASL, NS_STANZAS, NS_STREAM,  # noqa: E402
                      NS_TLS, Server, TestFailure, free_port)
from peers import TestCA  # noqa: E402
from test_federation import loopback_pair, s2s_block  # noqa: E402
from test_sm import NS_SM, Proxy  # noqa: E402

NS_CLIENT = "jabber:client"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_PING = "urn:xmpp:ping"
M, CM = "montague.example", "chat.montague.example"
C, RC = "capulet.example", "rooms.capulet.example"
PASSWORD = "soak-pw"
STANZAS = {f"{{{NS_CLIENT}}}{t}" for t in ("message", "presence", "iq")}
TIMEOUT = 20  # seconds for one negotiation step


def log(msg):
    print(msg, flush=True)


# --- one client connection -------------------------------------------------

class Stream:
    """A client TCP connection: STARTTLS, stream restarts, and a pull
    parser that hands out complete first-level elements (and forgets
    them, so a long-lived stream keeps no tree)."""

    def __init__(self, reader, writer):
        self.r, self.w = reader, writer
        self.eof = False
        self.restart()

    @classmethod
    async def open(cls, addr, port):
        r, w = await asyncio.open_connection(addr, port)
        return cls(r, w)

    def restart(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.root = None
        self.ready = collections.deque()
        self.closed_tag = False

    def send(self, text):
        if not self.w.is_closing():
            self.w.write(text.encode())

    async def element(self, timeout=TIMEOUT):
        """The next first-level element, or None at the end of the
        stream (closing tag or EOF)."""
        while not self.ready:
            if self.eof or self.closed_tag:
                return None
            try:
                data = await asyncio.wait_for(self.r.read(65536), timeout)
            except (ConnectionError, ssl.SSLError, OSError):
                data = b""
            if not data:
                self.eof = True
                return None
            self.parser.feed(data)
            for ev, el in self.parser.read_events():
                if ev == "start":
                    if self.depth == 0:
                        self.root = el
                    self.depth += 1
                    continue
                self.depth -= 1
                if self.depth == 1:
                    self.ready.append(el)
                    self.root.remove(el)
                elif self.depth == 0:
                    self.closed_tag = True
        return self.ready.popleft()

    async def expect(self, tag, what):
        el = await self.element()
        if el is None or el.tag != tag:
            raise TestFailure(f"{what}: got "
                              f"{'EOF' if el is None else ET.tostring(el)!r}")
        return el

    async def open_stream(self, domain):
        """Header out, header and features in."""
        self.send(C2S_HEADER.format(to=domain))
        return await self.expect(f"{{{NS_STREAM}}}features", "features")

    async def starttls(self, domain):
        self.send(f"<starttls xmlns='{NS_TLS}'/>")
        await self.expect(f"{{{NS_TLS}}}proceed", "starttls")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        await self.w.start_tls(ctx, server_hostname=domain)
        self.restart()

    def abort(self):
        """Drop the connection at once, with a TCP reset, unread data and
        unsent bytes included: a client that vanishes."""
        sock = self.w.get_extra_info("socket")
        try:
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.w.transport.abort()

    def close(self):
        try:
            self.w.close()
        except (OSError, RuntimeError):
            pass


# --- the bookkeeping --------------------------------------------------------

class Msg:
    """One message: who sent it, where, and what became of it."""
    __slots__ = ("sender", "to", "t", "recips", "copies", "bounces",
                 "cond", "cross")

    def __init__(self, sender, to, cross):
        self.sender, self.to, self.cross = sender, to, cross
        self.t = time.monotonic()
        self.recips = set()   # full JIDs that received it
        self.copies = 0       # receipts by a full JID that had it already
        self.bounces = 0
        self.cond = None

    def resolved(self):
        return bool(self.recips) or self.bounces > 0


class Iq:
    __slots__ = ("sender", "to", "t", "answer")

    def __init__(self, sender, to):
        self.sender, self.to = sender, to
        self.t = time.monotonic()
        self.answer = None    # "result" or the error condition

    def resolved(self):
        return self.answer is not None


def error_cond(el):
    err = el.find(f"{{{NS_CLIENT}}}error")
    if err is None:
        return "no-error-element"
    for c in err:
        if c.tag.startswith(f"{{{NS_STANZAS}}}") and not c.tag.endswith(
                "}text"):
            return c.tag.split("}")[1]
    return "unknown"


# --- clients ----------------------------------------------------------------

class Client:
    """One client session from login to its end. profile: "plain" (no
    stream management), "sm" (acknowledgements, no resumption) or
    "resume" (acknowledgements and resumption)."""

    def __init__(self, soak, srv, account, profile):
        self.soak, self.srv = soak, srv
        self.account = account
        self.user, self.domain = account.split("@")
        self.profile = profile
        self.sm = profile != "plain"
        self.full = None
        self.stream = None
        self.pump_task = None
        self.sm_id = None
        self.h_in = 0          # stanzas handled from the server
        self.out_seq = 0       # stanzas sent since <enable/>
        self.acked = 0         # the server's last h
        self.unacked = collections.deque()  # (seq, stanza text)
        self.outstanding = set()  # message and IQ ids not yet resolved
        self.show = None

    # -- negotiation --

    async def _authenticated_stream(self):
        st = await Stream.open(self.srv.addr, self.srv.c2s_port)
        self.stream = st
        await st.open_stream(self.domain)
        await st.starttls(self.domain)
        await st.open_stream(self.domain)
        token = base64.b64encode(
            f"\0{self.user}\0{PASSWORD}".encode()).decode()
        st.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{token}</auth>")
        await st.expect(f"{{{NS_SASL}}}success", "SASL PLAIN")
        st.restart()
        await st.open_stream(self.domain)
        return st

    async def login(self):
        """Connect, authenticate, bind a fresh resource, enable stream
        management as the profile says, send initial presence."""
        st = await self._authenticated_stream()
        res = f"soak{self.soak.next_id('r')}"
        st.send(f"<iq type='set' id='bind'><bind xmlns='{NS_BIND}'>"
                f"<resource>{res}</resource></bind></iq>")
        el = await st.expect(f"{{{NS_CLIENT}}}iq", "bind")
        jid = el.find(f"{{{NS_BIND}}}bind/{{{NS_BIND}}}jid")
        if el.get("type") != "result" or jid is None:
            raise TestFailure(f"bind: {ET.tostring(el)!r}")
        self.full = jid.text
        if self.sm:
            resume = " resume='true'" if self.profile == "resume" else ""
            st.send(f"<enable xmlns='{NS_SM}'{resume}/>")
            en = await st.expect(f"{{{NS_SM}}}enabled", "enable")
            self.sm_id = en.get("id")
        self.start_pump()
        self.send_stanza("<presence/>")
        self.soak.online[self.full] = self

    async def resume(self):
        """Reconnect and resume the parked session: True if resumed; on
        failed, the session is gone (what it had was rerouted or bounced)
        and the caller logs in afresh."""
        st = await self._authenticated_stream()
        st.send(f"<resume xmlns='{NS_SM}' previd='{self.sm_id}' "
                f"h='{self.h_in}'/>")
        el = await st.element()
        if el is None or el.tag != f"{{{NS_SM}}}resumed":
            self.soak.count("resume_failed")
            st.close()
            return False
        h = int(el.get("h"))
        if h < self.acked or h > self.out_seq:
            self.soak.anomaly(f"{self.full}: resumed h={h}, acked "
                              f"{self.acked}, sent {self.out_seq}")
        self.ack(h)
        self.start_pump()
        for _, text in list(self.unacked):   # XEP-0198 §5: send again
            st.send(text)
            self.soak.count("resent_after_resume")
        self.soak.count("resumed")
        return True

    def start_pump(self):
        self.pump_task = asyncio.get_running_loop().create_task(
            self.pump(self.stream))

    # -- traffic --

    def send_stanza(self, text):
        self.stream.send(text)
        if self.sm:
            self.out_seq += 1
            self.unacked.append((self.out_seq, text))
            if self.out_seq % 8 == 0:
                self.stream.send(f"<r xmlns='{NS_SM}'/>")

    def ack(self, h):
        if h > self.out_seq:
            self.soak.anomaly(f"{self.full}: <a h={h}/> beyond "
                              f"{self.out_seq} sent")
        self.acked = max(self.acked, h)
        while self.unacked and self.unacked[0][0] <= h:
            self.unacked.popleft()

    def send_message(self, to, cross):
        mid = self.soak.new_msg(self, to, cross)
        self.outstanding.add(mid)
        self.send_stanza(f"<message to='{to}' id='{mid}' type='chat'>"
                         f"<body>{mid} from {self.full}</body></message>")

    def send_ping(self, to):
        iid = self.soak.new_iq(self, to)
        self.outstanding.add(iid)
        self.send_stanza(f"<iq type='get' to='{to}' id='{iid}'>"
                         f"<ping xmlns='{NS_PING}'/></iq>")

    def send_presence(self, to=None):
        if to:
            self.send_stanza(f"<presence to='{to}'/>")
        else:
            self.show = None if self.show else "away"
            body = f"<show>{self.show}</show>" if self.show else ""
            self.send_stanza(f"<presence>{body}</presence>")
        self.soak.count("presence_out")

    def act(self):
        """One random action: mostly a message, else a ping or presence."""
        soak = self.soak
        x = random.random()
        if x < 0.70:
            to, cross = soak.pick_target(self)
            if to:
                self.send_message(to, cross)
        elif x < 0.85:
            peer = soak.pick_peer(self)
            to = random.choice([self.domain, soak.remote_domain(self),
                                peer.full if peer else self.domain])
            self.send_ping(to)
        else:
            peer = soak.pick_peer(self)
            self.send_presence(peer.full if peer and random.random() < 0.5
                               else None)

    # -- what comes in --

    async def pump(self, st):
        while True:
            try:
                el = await st.element(timeout=None)
            except ET.ParseError as e:
                self.soak.anomaly(f"{self.full}: not XML: {e}")
                st.abort()
                return
            if el is None:
                return
            self.handle(el)

    def handle(self, el):
        tag = el.tag
        if tag in STANZAS:
            if self.sm:
                self.h_in += 1
            if tag.endswith("}message"):
                self.soak.on_message(self, el)
            elif tag.endswith("}iq"):
                self.on_iq(el)
            else:
                self.soak.count("presence_in")
        elif tag == f"{{{NS_SM}}}r":
            self.stream.send(f"<a xmlns='{NS_SM}' h='{self.h_in}'/>")
        elif tag == f"{{{NS_SM}}}a":
            self.ack(int(el.get("h")))
        elif tag == f"{{{NS_STREAM}}}error":
            self.soak.count("stream_errors_c2s")
            self.soak.anomaly(f"{self.full}: stream error "
                              f"{[c.tag for c in el]}")
        else:
            self.soak.count("unexpected_elements")

    def on_iq(self, el):
        typ, iid = el.get("type"), el.get("id")
        if typ in ("get", "set"):
            frm = el.get("from")
            if el.find(f"{{{NS_PING}}}ping") is not None:
                self.send_stanza(f"<iq type='result' to='{frm}' id='{iid}'/>")
            else:
                self.send_stanza(
                    f"<iq type='error' to='{frm}' id='{iid}'><error "
                    f"type='cancel'><service-unavailable xmlns="
                    f"'{NS_STANZAS}'/></error></iq>")
            return
        self.soak.on_iq_answer(el, "result" if typ == "result"
                               else error_cond(el))

    # -- leaving --

    async def drain(self):
        """Wait until every message and IQ this client sent is resolved:
        a careful client does not leave before its answers are in."""
        deadline = time.monotonic() + self.soak.drain_timeout
        while self.outstanding and time.monotonic() < deadline:
            if self.pump_task.done():
                break
            await asyncio.sleep(0.05)
        if self.outstanding:
            self.soak.count("drain_timeouts")

    async def sync_acks(self):
        """<r/> until the server has acknowledged all this client sent."""
        deadline = time.monotonic() + TIMEOUT
        while self.acked < self.out_seq and time.monotonic() < deadline:
            self.stream.send(f"<r xmlns='{NS_SM}'/>")
            await asyncio.sleep(0.1)
            if self.pump_task.done():
                break

    def forget(self):
        self.soak.online.pop(self.full, None)

    async def leave_clean(self):
        """Unavailable, drain, ack, </stream:stream>, and read until the
        server's closing tag: what arrives until then is delivered."""
        self.forget()
        await self.drain()
        if self.sm:
            self.stream.send(f"<a xmlns='{NS_SM}' h='{self.h_in}'/>")
        self.stream.send("</stream:stream>")
        try:
            await asyncio.wait_for(asyncio.shield(self.pump_task), TIMEOUT)
        except asyncio.TimeoutError:
            self.soak.count("close_timeouts")
        self.stream.close()
        self.soak.count("left_clean")

    async def leave_drop(self):
        """Vanish without a closing tag once all sent is acknowledged and
        answered: what the server sent and this client never acknowledged
        goes elsewhere, bounces, or (resumable) waits for the park to
        expire."""
        self.forget()
        await self.drain()
        await self.sync_acks()
        self.stream.abort()
        await self.pump_task
        self.soak.count("left_dropped" if self.profile == "sm"
                        else "left_abandoned")

    async def drop_and_resume(self):
        """Vanish mid-traffic (unacknowledged stanzas both ways) and
        resume a moment later."""
        self.stream.abort()
        await self.pump_task
        self.soak.count("dropped_for_resume")
        await asyncio.sleep(random.uniform(0.1, self.soak.resume_gap))
        if not await self.resume():
            # The session ended: what it had was rerouted or bounced; what
            # it sent and nobody acknowledged is sent again, same ids.
            self.forget()
            pending = list(self.unacked)
            self.sm, self.h_in, self.out_seq, self.acked = True, 0, 0, 0
            self.unacked.clear()
            await self.login()
            for _, text in pending:
                self.send_stanza(text)

    # -- a whole life --

    async def live(self, lifetime):
        soak = self.soak
        await self.login()
        soak.count("logins")
        end = time.monotonic() + lifetime
        while time.monotonic() < end and not soak.stopping:
            await asyncio.sleep(random.expovariate(soak.rate))
            if self.pump_task.done():
                soak.anomaly(f"{self.full}: the server closed the stream")
                self.forget()
                return
            if (self.profile == "resume" and
                    random.random() < soak.resume_chance):
                await self.drop_and_resume()
            else:
                self.act()
        if soak.stopping or self.profile == "plain" or random.random() < 0.5:
            await self.leave_clean()
        else:
            await self.leave_drop()


# --- the soak ---------------------------------------------------------------

class Soak:
    def __init__(self, args):
        self.args = args
        self.rate = args.rate
        self.resume_timeout = args.resume_timeout
        self.resume_gap = min(2.0, args.resume_timeout / 2)
        # Actions between two drop-and-resume of a "resume" client.
        self.resume_chance = 1 / (args.rate * 8)
        self.drain_timeout = args.resume_timeout + 20
        self.stopping = False
        self.online = {}       # full JID -> Client
        self.msgs = {}
        self.iqs = {}
        self.counters = collections.Counter()
        self.bounce_conds = collections.Counter()
        self.iq_answers = collections.Counter()
        self.anomalies = []
        self.ids = collections.Counter()
        self.samples = []
        self.cuts = 0

    # -- ids and counters --

    def next_id(self, kind):
        self.ids[kind] += 1
        return self.ids[kind]

    def count(self, what, n=1):
        self.counters[what] += n

    def anomaly(self, text):
        self.counters["anomalies"] += 1
        if len(self.anomalies) < 50:
            self.anomalies.append(text)

    # -- targets --

    def remote_domain(self, c):
        return random.choice((C, RC) if c.srv is self.a else (M, CM))

    def pick_peer(self, c):
        """Another online client, or None."""
        if len(self.online) < 2:
            return None
        for _ in range(4):
            peer = random.choice(list(self.online.values()))
            if peer is not c:
                return peer
        return None

    def pick_target(self, c):
        """(to, crosses s2s): mostly another client's full JID, sometimes
        an account's bare JID (which may have nobody online)."""
        if random.random() < 0.2 or len(self.online) < 2:
            acct = random.choice(self.accounts)
            return acct, acct.split("@")[1] not in c.srv.hosts
        peer = self.pick_peer(c)
        if peer is None:
            return None, False
        return peer.full, peer.srv is not c.srv

    # -- accounting --

    def new_msg(self, sender, to, cross):
        mid = f"m{self.next_id('m')}"
        self.msgs[mid] = Msg(sender, to, cross)
        self.count("sent")
        return mid

    def new_iq(self, sender, to):
        iid = f"q{self.next_id('q')}"
        self.iqs[iid] = Iq(sender, to)
        self.count("iq_sent")
        return iid

    def lookup(self, table, el, unknown):
        """The record of el's id in table, or None (counted as unknown)."""
        rec = table.get(el.get("id"))
        if rec is None:
            self.count(unknown)
        return rec

    def on_message(self, c, el):
        mid = el.get("id")
        m = self.lookup(self.msgs, el, "unknown_messages")
        if m is None:
            return
        if el.get("type") == "error":
            m.bounces += 1
            m.cond = error_cond(el)
            if m.bounces == 1:
                self.bounce_conds[m.cond] += 1
        else:
            body = el.findtext(f"{{{NS_CLIENT}}}body") or ""
            if not body.startswith(mid + " "):
                self.anomaly(f"{mid}: body {body[:60]!r}")
            if c.full in m.recips:
                m.copies += 1
            else:
                m.recips.add(c.full)
        m.sender.outstanding.discard(mid)

    def on_iq_answer(self, el, answer):
        q = self.lookup(self.iqs, el, "unknown_iq_answers")
        if q is None:
            return
        if q.answer is not None:
            self.count("iq_duplicate_answers")
            return
        q.answer = answer
        self.iq_answers[answer] += 1
        q.sender.outstanding.discard(el.get("id"))

    def tally(self):
        """Running totals over all messages so far."""
        t = collections.Counter()
        for m in self.msgs.values():
            if m.recips:
                t["delivered"] += 1
                t["extra"] += len(m.recips) - 1
                t["dup"] += m.copies
                if m.bounces:
                    t["delivered_and_bounced"] += 1
            elif m.bounces:
                t["bounced"] += 1
            else:
                t["pending"] += 1
            if m.cross and m.recips:
                t["cross_delivered"] += 1
        t["iq_answered"] = sum(1 for q in self.iqs.values() if q.answer)
        return t

    # -- servers --

    def setup(self):
        args = self.args
        self.dir = tempfile.mkdtemp(prefix="xmux-soak-")
        ca = TestCA(os.path.join(self.dir, "ca"))
        ca_a = ca.issue("a", (M, CM))
        ca_b = ca.issue("b", (C, RC))
        aaddr, baddr = loopback_pair()
        aport, bport = free_port(aaddr), free_port(baddr)
        # A reaches B through proxy_ab (listening on A's address), B
        # reaches A through proxy_ba.
        self.proxy_ab = Proxy(aaddr, (baddr, bport))
        self.proxy_ba = Proxy(baddr, (aaddr, aport))
        tls = f'tls = {{ ca_file = "{ca.cert}"; }};\n'
        sm = f"sm = {{ resume_timeout = {args.resume_timeout}; }};\n"

        def hosts(names, cert):
            return tuple({"domain": n, "cert": cert[0], "key": cert[1]}
                         for n in names)
        self.a = Server(hosts=hosts((M, CM), ca_a), addr=aaddr,
                        ports={"s2s": aport}, log_level="info",
                        extra=tls + sm + s2s_block(
                            [(d, aaddr, self.proxy_ab.port)
                             for d in (C, RC)]))
        self.b = Server(hosts=hosts((C, RC), ca_b), addr=baddr,
                        ports={"s2s": bport}, log_level="info",
                        extra=tls + sm + s2s_block(
                            [(d, baddr, self.proxy_ba.port)
                             for d in (M, CM)]))
        self.accounts = []
        for srv, domains in ((self.a, (M, CM)), (self.b, (C, RC))):
            for d in domains:
                for i in range(1, args.accounts + 1):
                    srv.add_user(f"user{i}@{d}", PASSWORD)
                    self.accounts.append(f"user{i}@{d}")
        self.a.start()
        self.b.start()
        self.sanitized = any(self._sanitized(s) for s in (self.a, self.b))

    @staticmethod
    def _sanitized(srv):
        path = shutil.which(srv.binary) or srv.binary
        with open(path, "rb") as f:
            return b"AddressSanitizer" in f.read()

    def teardown(self):
        """Stop the proxies and both servers; the servers' exit must be
        clean (Server.stop checks the code and sanitizer reports)."""
        errors = []
        for p in (self.proxy_ab, self.proxy_ba):
            p.close()
        for name, s in (("A", self.a), ("B", self.b)):
            try:
                s.stop()
            except TestFailure as e:
                errors.append(f"xmuxd {name}: {str(e)[:3000]}")
        return errors

    # -- the processes, sampled --

    @staticmethod
    def proc_stats(srv):
        pid = srv.proc.pid
        try:
            with open(f"/proc/{pid}/status") as f:
                rss = next(int(line.split()[1]) for line in f
                           if line.startswith("VmRSS:"))
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except (OSError, StopIteration):
            return -1, -1
        return rss, fds

    async def conn_counts(self, srv):
        """(c2s, s2s) streams from xmuxctl connections."""
        ctl = os.environ.get("XMUXCTL", "xmuxctl")
        try:
            p = await asyncio.create_subprocess_exec(
                ctl, "--config", srv.config, "connections",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL)
            out, _ = await asyncio.wait_for(p.communicate(), 10)
        except (OSError, asyncio.TimeoutError):
            return -1, -1
        lines = out.decode(errors="replace").splitlines()
        return (sum(" kind=c2s " in ln for ln in lines),
                sum(" kind=s2s " in ln for ln in lines))

    COLUMNS = ("t", "rss_a", "rss_b", "fds_a", "fds_b", "c2s_a", "c2s_b",
               "s2s_a", "s2s_b", "clients", "sent", "delivered", "bounced",
               "pending", "dup", "extra", "iq_sent", "iq_answered", "cuts",
               "logins", "resumed")

    async def sample(self, t):
        row = {"t": round(t)}
        for k, s in (("a", self.a), ("b", self.b)):
            if s.proc.poll() is not None:
                raise TestFailure(f"xmuxd {k.upper()} exited with "
                                  f"{s.proc.returncode}:\n"
                                  f"{s.logtext()[-3000:]}")
            row["rss_" + k], row["fds_" + k] = self.proc_stats(s)
            row["c2s_" + k], row["s2s_" + k] = await self.conn_counts(s)
        tally = self.tally()
        row.update(clients=len(self.online), sent=self.counters["sent"],
                   delivered=tally["delivered"], bounced=tally["bounced"],
                   pending=tally["pending"], dup=tally["dup"],
                   extra=tally["extra"], iq_sent=self.counters["iq_sent"],
                   iq_answered=tally["iq_answered"], cuts=self.cuts,
                   logins=self.counters["logins"],
                   resumed=self.counters["resumed"])
        self.samples.append(row)
        if self.csv_writer:
            self.csv_writer.writerow([row[c] for c in self.COLUMNS])
            self.csv_file.flush()
        if len(self.samples) % 20 == 1:
            log(self.row_text(dict((c, c) for c in self.COLUMNS)))
        log(self.row_text(row))
        return row

    @staticmethod
    def row_text(r):
        return ("{t:>5} {rss_a:>7} {rss_b:>7} {fds_a:>5} {fds_b:>5} "
                "{c2s_a:>5} {c2s_b:>5} {s2s_a:>5} {s2s_b:>5} {clients:>7} "
                "{sent:>7} {delivered:>9} {bounced:>7} {pending:>7} "
                "{dup:>5} {extra:>5} {iq_sent:>7} {iq_answered:>11} "
                "{cuts:>4} {logins:>6} {resumed:>7}").format(**r)

    # -- tasks --

    async def slot(self, srv, n):
        """One client place: a client lives, leaves, and another takes
        its place until the soak stops."""
        profiles = ("plain", "sm", "resume")
        domains = [h for h in srv.hosts]
        while not self.stopping:
            acct = (f"user{random.randint(1, self.args.accounts)}@"
                    f"{random.choice(domains)}")
            c = Client(self, srv, acct, random.choice(profiles))
            try:
                await c.live(random.uniform(self.args.life_min,
                                            self.args.life_max))
            except (TestFailure, asyncio.TimeoutError, OSError,
                    ssl.SSLError, ET.ParseError) as e:
                self.count("client_failures")
                self.anomaly(f"{c.full or acct}: {type(e).__name__}: "
                             f"{str(e)[:300]}")
                c.forget()
                if c.stream:
                    c.stream.abort()
                await asyncio.sleep(1)

    async def cutter(self):
        """Break the s2s connections at random intervals."""
        while not self.stopping:
            await asyncio.sleep(random.uniform(self.args.cut_min,
                                               self.args.cut_max))
            if self.stopping:
                return
            # One proxy or both, among those that carry a connection.
            live = [p for p in (self.proxy_ab, self.proxy_ba) if p.socks]
            if not live:
                continue
            for p in random.sample(live, random.randint(1, len(live))):
                p.cut()
            self.cuts += 1

    async def sampler(self, t0):
        while True:
            await asyncio.sleep(self.args.sample)
            await self.sample(time.monotonic() - t0)

    @staticmethod
    async def watch(sampler, seconds, task=None):
        """Wait seconds, or for task; a failed sample (a server died)
        ends the soak at once."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if sampler.done():
                sampler.result()
            if task is not None and task.done():
                return task.result()
            await asyncio.sleep(0.2)
        if task is not None:
            task.cancel()
            raise TestFailure(f"clients did not finish within {seconds} s")

    async def main(self):
        args = self.args
        t0 = time.monotonic()
        start = await self.sample(0)
        sampler = asyncio.create_task(self.sampler(t0))
        slots = [asyncio.create_task(self.slot(s, i))
                 for s in (self.a, self.b) for i in range(args.clients)]
        cutter = asyncio.create_task(self.cutter())
        await self.watch(sampler, args.seconds)
        traffic_end = self.samples[-1]
        self.stopping = True
        log(f"-- {args.seconds} s over: clients leave cleanly once "
            f"their messages are answered")
        clients = asyncio.gather(*slots, cutter)
        await self.watch(sampler, self.drain_timeout + 2 * TIMEOUT, clients)
        # Parked sessions of abandoned clients end after resume_timeout;
        # then nothing should be left but the s2s stream.
        deadline = time.monotonic() + self.resume_timeout + 10
        while time.monotonic() < deadline:
            if not self.tally()["pending"]:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(self.resume_timeout + 1)
        sampler.cancel()
        end = await self.sample(time.monotonic() - t0)
        return start, traffic_end, end


# --- verdict ---------------------------------------------------------------

LOG_EVENTS = ("sm-enabled role=initiating", "sm-requeue", "sm-reroute",
              "sm-resumed", "sm-parked-end", "parked=yes", "mux-senders")


def log_summary(srv):
    text = srv.logtext()
    counts = {e: text.count("event=" + e if not e.startswith("parked")
                            else e) for e in LOG_EVENTS}
    bad = [ln for ln in text.splitlines()
           if " ERROR " in ln or "AddressSanitizer" in ln
           or "runtime error" in ln]
    return counts, bad


def warm_sample(soak, seconds):
    """The first sample at or after the warm-up (20 % of the run, at
    least 10 s)."""
    warm = max(10, 0.2 * seconds)
    for r in soak.samples:
        if r["t"] >= warm:
            return r
    return soak.samples[-1]


def unresolved(soak, table, what, label):
    """Failure lines for the unresolved records of table: their number,
    then the first ten with sender, addressee and time."""
    left = [(k, v) for k, v in table.items() if not v.resolved()]
    if not left:
        return []
    return [f"{len(left)} {what}"] + [
        f"  {label} {k}: {v.sender.full} -> {v.to}, sent at "
        f"{v.t - soak.t0:.1f} s" for k, v in left[:10]]


def verdict(soak, start, traffic_end, end, errors):
    args = soak.args
    t = soak.tally()
    lost = t["pending"]
    iq_lost = sum(1 for q in soak.iqs.values() if q.answer is None)
    warm = warm_sample(soak, args.seconds)
    fails = list(errors)
    fails += unresolved(soak, soak.msgs, "message(s) lost", "lost")
    fails += unresolved(soak, soak.iqs, "IQ(s) never answered",
                        "unanswered")
    if t["delivered"] == 0 or t["cross_delivered"] == 0:
        fails.append("no message crossed the servers")
    for k in ("a", "b"):
        grow = end["fds_" + k] - start["fds_" + k]
        if grow > args.fd_tolerance:
            fails.append(f"fds of {k.upper()} grew by {grow} "
                         f"(> {args.fd_tolerance})")
        w, e = warm["rss_" + k], traffic_end["rss_" + k]
        allowed = w + max(w * args.rss_pct / 100, args.rss_kib)
        if e > allowed and not soak.sanitized:
            fails.append(f"RSS of {k.upper()} grew from {w} KiB after the "
                         f"warm-up to {e} KiB (> {allowed:.0f})")
    return t, lost, iq_lost, warm, fails


def report(soak, start, traffic_end, end, errors):
    args = soak.args
    t, lost, iq_lost, warm, fails = verdict(soak, start, traffic_end, end,
                                            errors)
    c = soak.counters
    log("")
    log(f"messages: sent={c['sent']} delivered={t['delivered']} "
        f"(cross-server {t['cross_delivered']}) bounced={t['bounced']} "
        f"lost={lost} dup={t['dup']} extra-copies={t['extra']} "
        f"delivered-and-bounced={t['delivered_and_bounced']}")
    log(f"bounces by condition: {dict(soak.bounce_conds)}")
    log(f"iq: sent={c['iq_sent']} answered={t['iq_answered']} "
        f"unanswered={iq_lost} {dict(soak.iq_answers)}")
    keys = ("logins", "left_clean", "left_dropped", "left_abandoned",
            "dropped_for_resume", "resumed", "resume_failed",
            "resent_after_resume", "presence_out", "presence_in",
            "drain_timeouts", "close_timeouts", "client_failures",
            "unknown_messages", "unexpected_elements", "anomalies")
    log("clients: " + " ".join(f"{k}={c[k]}" for k in keys))
    log(f"s2s cuts: {soak.cuts} (proxy connections A->B "
        f"{soak.proxy_ab.accepted}, B->A {soak.proxy_ba.accepted})")
    for name, s in (("A", soak.a), ("B", soak.b)):
        counts, bad = log_summary(s)
        log(f"log {name}: " + " ".join(f"{k.split()[0]}={v}"
                                       for k, v in counts.items())
            + f" error-lines={len(bad)}")
        for ln in bad[:5]:
            log("   " + ln[:300])
    for a in soak.anomalies[:20]:
        log(f"anomaly: {a}")
    rss_note = " (RSS not judged: sanitizer build)" if soak.sanitized else ""
    log(f"RSS KiB start/warm/end-of-traffic/after: "
        f"A {start['rss_a']}/{warm['rss_a']}/{traffic_end['rss_a']}/"
        f"{end['rss_a']}, B {start['rss_b']}/{warm['rss_b']}/"
        f"{traffic_end['rss_b']}/{end['rss_b']}{rss_note}")
    for f in fails:
        log("FAIL: " + f)
    log(f"soak: {args.seconds} s, sent={c['sent']}, "
        f"delivered={t['delivered']}, bounced={t['bounced']}, lost={lost}, "
        f"dup={t['dup']}, iq={t['iq_answered']}/{c['iq_sent']}, "
        f"cuts={soak.cuts}, resumed={c['resumed']}, "
        f"rss_a start/end={warm['rss_a']}/{traffic_end['rss_a']} KiB, "
        f"rss_b start/end={warm['rss_b']}/{traffic_end['rss_b']} KiB, "
        f"fds_a start/end={start['fds_a']}/{end['fds_a']}, "
        f"fds_b start/end={start['fds_b']}/{end['fds_b']}: "
        f"{'FAIL' if fails else 'ok'}")
    return not fails


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", help="build directory (xmuxd, xmuxctl)")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--clients", type=int, default=16,
                   help="client places per server (default 16)")
    p.add_argument("--accounts", type=int, default=4,
                   help="accounts per domain (default 4)")
    p.add_argument("--rate", type=float, default=2.0,
                   help="actions per second per client (default 2)")
    p.add_argument("--life-min", type=float, default=5)
    p.add_argument("--life-max", type=float, default=30)
    p.add_argument("--cut-min", type=float, default=5,
                   help="seconds between s2s resets, at least (default 5)")
    p.add_argument("--cut-max", type=float, default=20)
    p.add_argument("--resume-timeout", type=int, default=5,
                   help="the servers' sm.resume_timeout (default 5)")
    p.add_argument("--sample", type=float, default=5,
                   help="seconds between samples (default 5)")
    p.add_argument("--csv", help="write the samples here")
    p.add_argument("--rss-pct", type=float, default=20)
    p.add_argument("--rss-kib", type=int, default=4096)
    p.add_argument("--fd-tolerance", type=int, default=8)
    p.add_argument("--seed", type=int)
    p.add_argument("--keep", action="store_true",
                   help="keep the servers' directories (kept anyway on "
                   "failure)")
    args = p.parse_args()
    if args.build:
        b = os.path.abspath(args.build)
        os.environ["XMUXD"] = os.path.join(b, "xmuxd")
        os.environ["XMUXCTL"] = os.path.join(b, "xmuxctl")
    for k in ("XMUXD", "XMUXCTL"):
        if not shutil.which(os.environ.get(k, k.lower())):
            p.error(f"{os.environ.get(k, k.lower())} not found: give "
                    f"--build or {k}")
    return args


def run(args):
    if args.seed is not None:
        random.seed(args.seed)
    soak = Soak(args)
    soak.csv_writer = None
    # The default SIGTERM would leave both servers running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    log(f"== soak: {args.seconds:g} s, {args.clients} clients per server, "
        f"{args.rate:g} actions/s each, s2s reset every "
        f"{args.cut_min:g}-{args.cut_max:g} s")
    errors, ok = [], False
    try:
        soak.setup()
        log(f"   A {soak.a.addr} ({M}, {CM}) pid {soak.a.proc.pid}, "
            f"B {soak.b.addr} ({C}, {RC}) pid {soak.b.proc.pid}, "
            f"logs in {soak.a.dir} and {soak.b.dir}")
        if args.csv:
            os.makedirs(os.path.dirname(os.path.abspath(args.csv)),
                        exist_ok=True)
            soak.csv_file = open(args.csv, "w", newline="")
            soak.csv_writer = csv.writer(soak.csv_file)
            soak.csv_writer.writerow(Soak.COLUMNS)
        soak.t0 = time.monotonic()
        start, traffic_end, end = asyncio.run(soak.main())
    except (TestFailure, asyncio.TimeoutError) as e:
        errors.append(f"{type(e).__name__}: {e}")
        start = traffic_end = end = None
    finally:
        if hasattr(soak, "a"):
            errors += soak.teardown()
    if start is None:
        for e in errors:
            log("FAIL: " + e)
        log(f"soak: {args.seconds:g} s: FAIL (see above)")
    else:
        ok = report(soak, start, traffic_end, end, errors)
    if args.csv:
        log(f"samples: {args.csv}")
    if hasattr(soak, "a"):
        dirs = (soak.dir, soak.a.dir, soak.b.dir)
        if ok and not args.keep:
            for d in dirs:
                shutil.rmtree(d, ignore_errors=True)
        else:
            log("kept: " + " ".join(dirs))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(run(parse_args()))
