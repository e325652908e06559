# SPDX-License-Identifier: MIT
"""System tests: stream management (XEP-0198) on c2s and s2s, over real
TLS: acknowledgements both ways, what happens to stanzas a client never
acknowledged, session resumption, and s2s streams that break under load
(their unacknowledged stanzas go out again on the next stream, nothing
is lost)."""

import socket
import threading
import time
import xml.etree.ElementTree as ET

from xmuxtest import NS_SASL, Server, check, run
from test_c2s import USERS, login, server, tls_stream, with_server
from test_mux import quiet

NS_SM = "urn:xmpp:sm:3"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
J, N, R = "juliet@capulet.example", "nurse@capulet.example", \
    "romeo@montague.example"


def user(srv, jid, res):
    c, full, _ = login(srv, jid, USERS[jid], res)
    return c, full


def enable(c, resume=False):
    c.send(f"<enable xmlns='{NS_SM}'" + (" resume='true'" if resume else "")
           + "/>")
    el = c.next_element()
    check(el.tag == f"{{{NS_SM}}}enabled" and el.get("id"),
          f"enabled: {ET.tostring(el)!r}")
    return el


def msg(to, body, mid):
    return (f"<message to='{to}' id='{mid}' type='chat'>"
            f"<body>{body}</body></message>")


def body_of(el):
    return el.findtext("{jabber:client}body")


def next_message(c, body):
    """Skip presence until the message with body arrives."""
    while True:
        el = c.next_element()
        if el.tag.endswith("}message"):
            check(body_of(el) == body, f"expected {body}: {ET.tostring(el)!r}")
            return el


def expect(c, tag, timeout=5):
    """The next element but the server's own <r/> (answered)."""
    el = c.next_element(timeout)
    while el.tag == f"{{{NS_SM}}}r" and tag != el.tag:
        el = c.next_element(timeout)
    check(el.tag == tag, f"expected {tag}, got {ET.tostring(el)!r}")
    return el


def sm_features_and_acks(srv):
    """<sm/> is offered after SASL; <enable/> before binding fails,
    after it succeeds; <r/> is answered with the number of stanzas
    handled since <enable/>; the server asks with <r/> once
    sm.request_every stanzas wait and accepts the answer; an answer
    acknowledging more than was sent ends the stream."""
    c, h1, f = tls_stream(srv, "capulet.example")
    check(c.auth_plain("juliet", USERS[J]).tag == f"{{{NS_SASL}}}success",
          "auth")
    c.restart()
    h, f = c.open_stream("capulet.example")
    check(f.find(f"{{{NS_SM}}}sm") is not None, "<sm/> offered after SASL")
    c.send(f"<enable xmlns='{NS_SM}'/>")
    el = expect(c, f"{{{NS_SM}}}failed")
    check(el.find(f"{{{NS_STANZAS}}}unexpected-request") is not None,
          "enable before bind: unexpected-request")
    c.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:"
           "xmpp-bind'/></iq>")
    full = c.next_element().find(".//{urn:ietf:params:xml:ns:xmpp-bind}jid")
    enable(c)
    c.send(f"<enable xmlns='{NS_SM}'/>")
    expect(c, f"{{{NS_SM}}}failed")
    for i in range(3):
        c.send(f"<presence/>" if i == 0 else msg(full.text, f"self {i}", i))
    c.send(f"<r xmlns='{NS_SM}'/>")
    # Own presence and two messages to itself come back first.
    got = [c.next_element() for _ in range(3)]
    a = expect(c, f"{{{NS_SM}}}a")
    check(a.get("h") == "3", f"h counts handled stanzas: {a.attrib}")
    r, rf = user(srv, R, "orchard")
    for i in range(40):
        r.send(msg(J, f"m{i}", f"x{i}"))
    seen, asked = 0, False
    while seen < 40:
        el = c.next_element()
        if el.tag == f"{{{NS_SM}}}r":
            asked = True
            c.send(f"<a xmlns='{NS_SM}' h='{3 + seen}'/>")
        else:
            seen += 1
    check(asked, "the server asked for an acknowledgement")
    c.send(f"<a xmlns='{NS_SM}' h='1000'/>")
    c.expect_stream_error("undefined-condition")
    check("event=sm-bad-ack" in srv.logtext(), "logged")


def sm_not_enabled(srv):
    """<r/> on a stream without stream management is a stream error."""
    c, full = user(srv, J, "balcony")
    c.send(f"<r xmlns='{NS_SM}'/>")
    c.expect_stream_error("unsupported-stanza-type")


def sm_unacked_rerouted(srv):
    """Juliet's client drops without acknowledging two messages and
    without resumption: the one sent while another resource of hers is
    online goes to it; with none left, romeo gets service-unavailable
    for what juliet never acknowledged. Nothing vanishes."""
    c, full = user(srv, J, "balcony")
    c.send("<presence/>")
    c.next_element()
    enable(c)
    c2, full2 = user(srv, J, "garden")
    c2.send("<presence/>")
    r, rf = user(srv, R, "orchard")
    r.send(msg(full, "to balcony", "u1"))
    next_message(c, "to balcony")
    c.close()  # no ack, no closing tag, no resumption
    deadline = time.time() + 5
    while time.time() < deadline:
        el = c2.next_element()
        if el.tag.endswith("}message") and body_of(el) == "to balcony":
            break
    else:
        check(False, "the unacknowledged message reached the other resource")
    c2.send("<presence type='unavailable'/>")
    c3, full3 = user(srv, J, "tower")
    c3.send("<presence/>")
    c3.next_element()
    enable(c3)
    c2.close()
    r.send(msg(full3, "to tower", "u2"))
    next_message(c3, "to tower")
    c3.close()
    while True:
        el = r.next_element()
        if el.get("type") == "error" and el.get("id") == "u2":
            break
    check(el.find(f".//{{{NS_STANZAS}}}service-unavailable") is not None,
          f"romeo learns: {ET.tostring(el)!r}")
    check("event=sm-reroute stanzas=" in srv.logtext(), "logged")
    from test_limits import stats
    check(stats(srv)["sm.c2s-rerouted"] >= 2, "counted")


def resume_login(srv, jid, previd, h):
    user_, host = jid.split("@")
    c, h1, f = tls_stream(srv, host)
    check(c.auth_plain(user_, USERS[jid]).tag == f"{{{NS_SASL}}}success",
          "auth")
    c.restart()
    c.open_stream(host)
    c.send(f"<resume xmlns='{NS_SM}' previd='{previd}' h='{h}'/>")
    return c, c.next_element()


def sm_resume(srv):
    """Juliet enables resumption, gets m1 and acknowledges it, gets m2
    without acknowledging, and her connection drops. Romeo sends m3 and
    m4 meanwhile: no error, no unavailable presence. Juliet resumes with
    h=1: <resumed/> with the server's count of her stanzas, then m2, m3,
    m4 in order, and the session goes on under the same full JID."""
    c, full = user(srv, J, "balcony")
    c.send("<presence/>")
    c.next_element()
    en = enable(c, resume=True)
    check(en.get("resume") == "true" and int(en.get("max")) > 0,
          f"resumption offered: {en.attrib}")
    r, rf = user(srv, R, "orchard")
    r.send("<presence/>")
    r.next_element()
    r.send(f"<presence to='{full}'/>")  # directed: juliet learns of romeo
    c.next_element()
    r.send(msg(full, "m1", "r1"))
    check(body_of(c.next_element()) == "m1", "m1")
    c.send(f"<a xmlns='{NS_SM}' h='2'/>")  # presence + m1
    r.send(msg(full, "m2", "r2"))
    check(body_of(c.next_element()) == "m2", "m2")
    c.close()
    time.sleep(0.5)
    check("parked=yes" in srv.logtext(), "session parked")
    r.send(msg(full, "m3", "r3"))
    r.send(msg(J, "m4", "r4"))
    c2, el = resume_login(srv, J, en.get("id"), 2)
    check(el.tag == f"{{{NS_SM}}}resumed" and el.get("previd") == en.get("id")
          and el.get("h") == "0", f"resumed: {ET.tostring(el)!r}")
    bodies = [body_of(c2.next_element()) for _ in range(3)]
    check(bodies == ["m2", "m3", "m4"], f"resent in order: {bodies}")
    c2.send(msg(rf, "back", "j1"))
    el = r.next_element()
    check(body_of(el) == "back" and el.get("from") == full,
          f"same full JID after resumption: {ET.tostring(el)!r}")
    quiet(r, 1)  # romeo gets nothing else
    # The counters go on.
    c2.send(f"<r xmlns='{NS_SM}'/>")
    a = expect(c2, f"{{{NS_SM}}}a")
    check(a.get("h") == "1", f"h goes on: {a.attrib}")


def sm_resume_refused(srv):
    """Another account cannot take juliet's session; a wrong id gets
    item-not-found and the client may bind instead; after the resumption
    window the session is gone and romeo learns about what waited."""
    c, full = user(srv, J, "balcony")
    en = enable(c, resume=True)
    c.close()
    n, el = resume_login(srv, N, en.get("id"), 0)
    check(el.tag == f"{{{NS_SM}}}failed" and
          el.find(f"{{{NS_STANZAS}}}item-not-found") is not None,
          f"other account: {ET.tostring(el)!r}")
    x, el = resume_login(srv, J, "nope", 0)
    check(el.tag == f"{{{NS_SM}}}failed", "unknown id")
    x.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:"
           "xmpp-bind'/></iq>")
    check(x.next_element().get("type") == "result", "bind after failed")
    x.close()
    r, rf = user(srv, R, "orchard")
    r.send(msg(full, "late", "l1"))
    time.sleep(2.5)  # sm.resume_timeout = 1 s
    el = r.next_element()
    check(el.get("type") == "error" and el.get("id") == "l1",
          f"error after the window: {ET.tostring(el)!r}")
    y, el = resume_login(srv, J, en.get("id"), 0)
    check(el.tag == f"{{{NS_SM}}}failed", "too late to resume")
    check("event=sm-parked-end why=timeout" in srv.logtext(), "logged")




# --- s2s ----------------------------------------------------------------------

class Proxy:
    """TCP from (addr, port) to target, both ways; cut() breaks every
    connection at once with a reset, as a failing network does."""

    def __init__(self, addr, target):
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((addr, 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.target = target
        self.socks = []
        self.cut_socks = set()  # being reset: no FIN of ours first
        self.accepted = 0
        self.flowing = threading.Event()  # cleared: hold what comes back
        self.flowing.set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                a, _ = self.lsock.accept()
            except OSError:
                return
            try:
                b = socket.create_connection(self.target)
            except OSError:
                a.close()  # the target is down: so is the path through us
                continue
            with self.lock:
                self.socks += [a, b]
                self.accepted += 1
            for x, y, gate in ((a, b, None), (b, a, self.flowing)):
                threading.Thread(target=self._pump, args=(x, y, gate),
                                 daemon=True).start()

    def _pump(self, x, y, gate):
        try:
            while True:
                d = x.recv(65536)
                if not d:
                    break
                if gate is not None:
                    gate.wait()
                y.sendall(d)
        except OSError:
            pass
        with self.lock:
            if y in self.cut_socks:
                return
        try:
            y.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def cut(self):
        """Reset every connection now. A socket closed while another
        thread waits in recv() on it stays open until that recv returns:
        shutdown(SHUT_RD) wakes the waiting pump first (and sends
        nothing), then close() with a zero linger time sends the RST."""
        with self.lock:
            socks, self.socks = self.socks, []
            self.cut_socks = set(socks)
        self.flowing.set()
        for s in socks:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        for s in socks:
            s.close()

    def close(self):
        try:
            self.lsock.shutdown(socket.SHUT_RD)  # wakes accept()
        except OSError:
            pass
        self.lsock.close()
        self.cut()


M, C = "montague.example", "capulet.example"


def sm_log_lines(a, b):
    """The stream management and close lines of both servers' logs, for
    a failure message."""
    lines = [x for x in (a.logtext() + "--- B ---\n" +
                         b.logtext()).splitlines()
             if "sm-" in x or "close" in x or "--- B" in x]
    return "--- A ---\n" + "\n".join(lines[-60:])


def two_servers(with_proxy, a_extra="", b_extra=""):
    """A (montague.example, romeo) and B (capulet.example, juliet) with
    test-CA certificates, started; A reaches B through a Proxy if asked;
    a_extra and b_extra go into their configurations. Returns (a, b,
    proxy or None)."""
    from test_federation import certs, hosts_of, loopback_pair, s2s_block
    from xmuxtest import free_port
    aaddr, baddr = loopback_pair()
    port = free_port(aaddr, baddr)
    tls = f'tls = {{ ca_file = "{certs()}/ca.crt"; }};\n'
    b = Server(hosts=hosts_of((C,), "c"), addr=baddr, ports={"s2s": port},
               extra=tls + s2s_block([(M, aaddr, port)]) + b_extra)
    proxy = Proxy(aaddr, (baddr, port)) if with_proxy else None
    route = (C, aaddr, proxy.port) if proxy else (C, baddr, port)
    a = Server(hosts=hosts_of((M,), "m"), addr=aaddr, ports={"s2s": port},
               extra=tls + s2s_block([route]) + a_extra)
    a.add_user("romeo@" + M, "pw")
    b.add_user("juliet@" + C, "pw")
    a.start()
    b.start()
    return a, b, proxy


def s2s_break_resends(breaks=1):
    """Romeo (montague.example on A) sends 300 messages to juliet
    (capulet.example on B); A's stream to B goes through a proxy that
    holds B's answers back from the start of the burst and breaks the
    stream when juliet has 100. Stream management is on for the stream:
    A puts what B had not acknowledged back in front of the pair's queue;
    its next stream resumes the old one, B says how much it handled, and
    A sends only the rest. Juliet gets every message exactly once, in
    order; romeo no error. With breaks > 1 the burst and the break happen
    again on each new stream: a pair that was moved once after a break
    is moved (and its stream resumed) again after the next one."""
    a, b, proxy = two_servers(with_proxy=True)
    try:
        r, rj, _ = login(a, "romeo@" + M, "pw", "orchard")
        j, jj, _ = login(b, "juliet@" + C, "pw", "balcony")
        r.send(msg(jj, "hello", "h0"))
        check(body_of(j.next_element(10)) == "hello", "first message")
        total, dups = 300, 0
        for n in range(breaks):
            def streams():
                la = a.logtext()
                return (la.count("event=sm-enabled role=initiating") +
                        la.count("event=sm-resume-ok"))
            deadline = time.time() + 15
            while streams() <= n and time.time() < deadline:
                time.sleep(0.05)
            check(streams() > n, f"stream management on A's stream {n + 1}")
            dups += s2s_burst_and_break(r, j, jj, proxy, n * total, total)
        deadline = time.time() + 15
        while (a.logtext().count("event=sm-resume-ok") < breaks and
               time.time() < deadline):
            time.sleep(0.1)
        # Anything sent twice would come now.
        while True:
            try:
                el = j.next_element(1)
            except Exception:  # noqa: BLE001
                break
            if (body_of(el) or "").startswith("n"):
                dups += 1
        la, lb = a.logtext(), b.logtext()
        check("event=sm-requeue stanzas=" in la, "A requeued what was unacked")
        check("event=s2s-bounce" not in la, "nothing bounced")
        check(la.count("event=sm-resume-ok") == breaks and
              lb.count("event=sm-resumed previd=") == breaks,
              "each new stream resumed the old one")
        check(dups == 0, f"exactly once after resumption: {dups} twice")
        check(proxy.accepted == breaks + 1,
              f"a new stream after each break: {proxy.accepted}")
        quiet(r, 1)  # romeo gets no error
        print(f"resent after {breaks} break(s); duplicates at juliet: {dups}")
    except Exception as e:
        raise type(e)(f"{e}\n{sm_log_lines(a, b)}")
    finally:
        proxy.close()
        a.stop()
        b.stop()


def s2s_burst_and_break(r, j, jj, proxy, first, total):
    """Romeo sends messages first..first+total-1 with B's answers held
    back; the stream breaks when juliet has 100 of them; juliet must get
    all of them, each first time in order. Returns the duplicates."""
    proxy.flowing.clear()  # B's acknowledgements stay in the proxy
    for i in range(first, first + total):
        r.send(msg(jj, f"n{i}", f"i{i}"))

    def number(el):  # "hello" or an earlier burst may come again
        b = body_of(el)
        k = int(b[1:]) if b.startswith("n") else -1
        return k if k >= first else None
    got = []
    while len(got) < 100:
        k = number(j.next_element(10))
        if k is not None:
            got.append(k)
    proxy.cut()
    firsts = list(got)
    seen = set(got)
    while len(seen) < total:
        el = j.next_element(20)
        check(el.get("type") != "error", f"juliet got {ET.tostring(el)!r}")
        k = number(el)
        if k is None:
            continue
        got.append(k)
        if k not in seen:
            seen.add(k)
            firsts.append(k)
    check(firsts == list(range(first, first + total)),
          f"every message, in order: {firsts[:20]}...")
    return len(got) - total


def s2s_kill_either_end():
    """No proxy: the kernel kills the s2s connection's socket (ss -K)
    under load, first at the receiving server B, then at the sending
    server A. Each time the stream management state survives, the next
    stream resumes it, and juliet gets every message of the burst exactly
    once, in order; nothing bounces."""
    import subprocess
    a, b, _ = two_servers(with_proxy=False)
    baddr, port = b.addr, b.s2s_port
    try:
        r, rj, _ = login(a, "romeo@" + M, "pw", "orchard")
        j, jj, _ = login(b, "juliet@" + C, "pw", "balcony")
        r.send(msg(jj, "hello", "h0"))
        check(body_of(j.next_element(10)) == "hello", "first message")
        total, seen = 1000, []
        kills = (["src", baddr, "sport", "=", str(port)],   # B's socket
                 ["dst", baddr, "dport", "=", str(port)])   # A's socket
        for n, where in enumerate(kills):
            first = n * total
            for i in range(first, first + total):
                r.send(msg(jj, f"n{i}", f"k{i}"))
            got = 0
            while got < 150:
                if (body_of(j.next_element(10)) or "").startswith("n"):
                    got += 1
            out = subprocess.run(["ss", "-K"] + where, capture_output=True,
                                 text=True)
            check(out.returncode == 0, f"ss -K: {out.stderr}")
            seen += [first + i for i in range(got)]
            while len(seen) < first + total:
                el = j.next_element(20)
                check(el.get("type") != "error", f"error: {ET.tostring(el)!r}")
                b_ = body_of(el) or ""
                if b_.startswith("n"):
                    seen.append(int(b_[1:]))
        # Anything twice would come now.
        while True:
            try:
                el = j.next_element(1)
            except Exception:  # noqa: BLE001
                break
            if (body_of(el) or "").startswith("n"):
                seen.append(int(body_of(el)[1:]))
        check(seen == list(range(2 * total)),
              f"every message once, in order ({len(seen)} received)")
        la, lb = a.logtext(), b.logtext()
        check("event=s2s-bounce" not in la, "nothing bounced")
        check(la.count("event=sm-resume-ok") == 2,
              f"both breaks resumed: {la.count('event=sm-resume-ok')}")
        from test_limits import stats
        st = stats(a)
        check(st["sm.s2s-resumed"] == 2 and st["stanzas.bounced"] == 0 and
              st["sm.s2s-requeued"] >= st["sm.s2s-spared"],
              f"counted: {st}")
    except Exception as e:
        raise type(e)(f"{e}\n{sm_log_lines(a, b)}")
    finally:
        a.stop()
        b.stop()


def s2s_backpressure_peer_stopped():
    """B stops reading (SIGSTOP) while romeo on A sends juliet on B a
    burst much larger than the kernel's socket buffers, A's output queue
    limit (output_queue_max) and a stream's output buffer together. A does
    not end the s2s stream for it: once the socket backs up, what romeo
    sends waits in the pair's queue (the stream takes more as it drains).
    When B goes on, juliet gets every message exactly once, in order, and
    romeo gets no error. (Romeo may send fast, and B lets juliet, a slow
    Python reader, have a long output queue.)"""
    import signal
    a, b, _ = two_servers(
        with_proxy=False, a_extra="limits = { c2s_rate = 0; };\n",
        b_extra="limits = { output_queue_max = 268435456; };\n")
    try:
        r, rj, _ = login(a, "romeo@" + M, "pw", "orchard")
        j, jj, _ = login(b, "juliet@" + C, "pw", "balcony")
        r.send(msg(jj, "hello", "h0"))
        check(body_of(j.next_element(10)) == "hello", "first message")
        total, pad = 9000, "x" * 2000
        b.proc.send_signal(signal.SIGSTOP)
        try:
            for i in range(total):
                r.send(msg(jj, f"n{i} {pad}", f"p{i}"))
            time.sleep(3)  # A routes the burst into the stalled stream
        finally:
            b.proc.send_signal(signal.SIGCONT)
        seen = []
        while len(seen) < total:
            el = j.next_element(30)
            check(el.get("type") != "error", f"error: {ET.tostring(el)!r}")
            b_ = body_of(el) or ""
            if b_.startswith("n"):
                seen.append(int(b_[1:].split()[0]))
        quiet(j, 1)
        check(seen == list(range(total)),
              f"every message once, in order ({len(seen)} received)")
        quiet(r, 1)  # romeo gets no error
        la = a.logtext()
        check("what=output-queue" not in la and "what=sm-unacked" not in la,
              "A kept the stream: " + " ".join(
                  ln for ln in la.splitlines() if "event=limit" in ln))
        check("event=s2s-bounce" not in la, "nothing bounced")
        check(la.count("event=s2s-ready") <= 2, "one stream (each way)")
    except Exception as e:
        raise type(e)(f"{e}\n{sm_log_lines(a, b)}")
    finally:
        a.stop()
        b.stop()


def sm_parked_hold_no_slot(srv):
    """A parked session holds no socket: it takes neither a share of its
    address (connections_per_ip = 3 here) nor a connection slot, so the
    client can come back even after dropping more sessions than the
    limit allows at once; xmuxctl stats shows them parked."""
    for i in range(4):
        c, full = user(srv, J, f"r{i}")
        enable(c, resume=True)
        c.close()
        time.sleep(0.2)
    c, full = user(srv, J, "again")
    from test_limits import stats
    st = stats(srv)
    check(st["connections.parked"] == 4, f"parked: {st}")
    check(st["limit.connections-per-ip"] == 0, f"no address limit hit: {st}")


def worker_of(srv, full_or_bare):
    """The worker= of the connection whose jid= is full_or_bare."""
    import shlex
    from test_federation import ctl_connections
    for line in ctl_connections(srv):
        kv = dict(w.split("=", 1) for w in shlex.split(line))
        if kv.get("jid") == full_or_bare:
            return int(kv["worker"])
    raise AssertionError(f"no connection for {full_or_bare}")


def sm_resume_across_workers(srv):
    """threads = 2: connections go to the two workers in turn. Juliet's
    session lives on one worker; she resumes it from a connection that the
    other worker owns, twice: once after her old connection dropped (the
    parked session ends on its own worker, asked by the other: a request
    in the owner's flush pass), once while the old one is still open (the
    resuming worker parks it: the old socket is closed by its owner). No
    stanza is lost or doubled, and the session keeps its full JID."""
    c, full = user(srv, J, "balcony")
    c.send("<presence/>")
    c.next_element()
    en = enable(c, resume=True)
    r, rf = user(srv, R, "orchard")
    wj, wr = worker_of(srv, full), worker_of(srv, rf)
    check(wj != wr, f"juliet and romeo on one worker: {wj} {wr}")
    r.send(msg(full, "m1", "r1"))
    check(body_of(c.next_element()) == "m1", "m1 across workers")
    c.send(f"<a xmlns='{NS_SM}' h='1'/>")  # m1
    c.close()
    time.sleep(0.5)
    check("parked=yes" in srv.logtext(), "session parked")
    r.send(msg(full, "m2", "r2"))
    # Round robin: juliet's was the 1st connection, romeo's the 2nd; with
    # a 3rd in between, the resuming one is the 4th, on the other worker.
    spare = srv.client("c2s")
    spare.open_stream("capulet.example")
    c2, el = resume_login(srv, J, en.get("id"), 1)
    check(el.tag == f"{{{NS_SM}}}resumed", f"resumed: {ET.tostring(el)!r}")
    check(body_of(c2.next_element()) == "m2", "m2 after resumption")
    w2 = worker_of(srv, full)
    check(w2 != wj, f"resumed on the parked session's worker: {wj} {w2}")
    # Resumed while the old connection is still attached: the client saw
    # the drop first.
    c2.send(f"<a xmlns='{NS_SM}' h='2'/>")  # m1, m2
    c3, el = resume_login(srv, J, en.get("id"), 2)
    check(el.tag == f"{{{NS_SM}}}resumed", f"resumed again: {ET.tostring(el)!r}")
    w3 = worker_of(srv, full)
    check(w3 != w2, f"second resumption on the same worker: {w2} {w3}")
    c2.wait_eof(5)  # the replaced connection is closed by its own worker
    r.send(msg(full, "m3", "r3"))
    check(body_of(c3.next_element()) == "m3", "m3 after the second resumption")
    c3.send(msg(rf, "back", "j1"))
    el = r.next_element()
    check(body_of(el) == "back" and el.get("from") == full,
          f"same full JID: {ET.tostring(el)!r}")
    quiet(r, 1)
    spare.close()


TESTS = {
    "sm-c2s-parked-hold-no-slot": with_server(
        sm_parked_hold_no_slot, extra="limits = { connections_per_ip = 3; };\n"),
    "sm-s2s-break-resends": s2s_break_resends,
    "sm-s2s-kill-either-end": s2s_kill_either_end,
    "s2s-backpressure-peer-stopped": s2s_backpressure_peer_stopped,
    "sm-s2s-breaks-resend-each-time": lambda: s2s_break_resends(breaks=3),
    "sm-c2s-features-and-acks": with_server(sm_features_and_acks),
    "sm-c2s-not-enabled": with_server(sm_not_enabled),
    "sm-c2s-unacked-rerouted": with_server(sm_unacked_rerouted),
    "sm-c2s-resume": with_server(sm_resume),
    "sm-c2s-resume-across-workers": with_server(
        sm_resume_across_workers, extra="threads = 2;\n"),
    "sm-c2s-resume-refused": with_server(
        sm_resume_refused, extra="sm = { resume_timeout = 1; };\n"),
}

if __name__ == "__main__":
    run(TESTS)
