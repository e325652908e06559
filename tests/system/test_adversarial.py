# SPDX-License-Identifier: MIT
"""System test: the adversarial corpus (tests/adversarial/*.case, see its
README) against one live xmuxd. Each attack must get exactly the answer
its file names; meanwhile a well-behaved pair of sessions (romeo writing
to juliet every 20 ms) must never stall, and at the end the server's RSS
must come back near where it was before the attacks."""

import os
import re
import threading
import time
import xml.etree.ElementTree as ET

from xmuxtest import (C2S_HEADER, NS_STANZAS, S2S_HEADER, TestFailure, check,
                      run)
from test_c2s import USERS, login, server

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "..", "adversarial")
C, M = "capulet.example", "montague.example"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"

# RSS may grow by this much over the attacks and must come back within it
# once they are over (parsers and buffers given back).
RSS_SLACK_KIB = 8192
RSS_SLACK_RATIO = 0.25


def load_case(path):
    """(fields, payload bytes) of one corpus file."""
    raw = open(path, "rb").read()
    head, sep, payload = raw.partition(b"\n---\n")
    check(sep, f"{path}: no '---' line")
    fields = {}
    for line in head.decode().splitlines():
        k, _, v = line.partition(":")
        fields[k.strip()] = v.strip()
    for k in ("what", "stage", "expect"):
        check(k in fields, f"{path}: no {k}")
    return fields, expand(payload.rstrip(b"\n"))


def expand(p):
    p = p.replace(b"S2S_HEADER",
                  S2S_HEADER.format(frm=M, to=C).encode())
    p = p.replace(b"HEADER", C2S_HEADER.format(to=C).encode())
    p = re.sub(rb"\{\{repeat (\d+) (.*?)\}\}",
               lambda m: m.group(2) * int(m.group(1)), p, flags=re.S)
    p = re.sub(rb"\{\{each (\d+) (.*?)\}\}",
               lambda m: b"".join(m.group(2).replace(b"%d", str(i).encode())
                                  for i in range(int(m.group(1)))),
               p, flags=re.S)
    return re.sub(rb"\{\{hex ([0-9a-fA-F]+)\}\}",
                  lambda m: bytes.fromhex(m.group(1).decode()), p)


def connect(srv, stage):
    """A client at the stage the attack starts from."""
    if stage == "c2s-session":
        c, _, _ = login(srv, "nurse@" + C, USERS["nurse@" + C], "attic")
        return c
    kind = "s2s" if stage.endswith("s2s") or stage.startswith("s2s") else "c2s"
    c = srv.client(kind)
    if stage.startswith("raw-"):
        return c
    frm = M if kind == "s2s" else None
    c.open_stream(C, kind=kind, frm=frm)
    c.starttls(server_hostname=C)
    c.open_stream(C, kind=kind, frm=frm)
    return c


def send(c, payload):
    """Send it all: after an error the server keeps reading (and
    discarding) until the peer closes, so this does not block; a TLS
    socket must not be read and written from two threads at once."""
    try:
        c.sock.sendall(payload)
    except OSError:
        pass


def expect(c, how):
    kind, _, cond = how.partition(" ")
    # A stream header in the payload is answered with features first.
    while (len(c.elements) > c.taken and
           c.elements[c.taken].tag == "{http://etherx.jabber.org/streams}"
           "features") or (c.header is None and kind != "closed"):
        if c.header is None:
            c.wait_header()
            continue
        c.taken += 1
    if kind == "stream-error":
        c.expect_stream_error(cond, timeout=15)
    elif kind == "sasl-failure":
        el = c.next_element(10)
        check(el.tag == f"{{{NS_SASL}}}failure" and
              el.find(f"{{{NS_SASL}}}{cond}") is not None,
              f"expected SASL failure {cond}: {ET.tostring(el)!r}")
    elif kind == "stanza-error":
        el = c.next_element(10)
        while el.tag.endswith("}presence"):
            el = c.next_element(10)
        check(el.get("type") == "error" and
              el.find(f".//{{{NS_STANZAS}}}{cond}") is not None,
              f"expected stanza error {cond}: {ET.tostring(el)!r}")
    elif kind == "closed":
        c.wait_eof(10)
    else:
        raise TestFailure(f"unknown expectation {how!r}")


class Pair:
    """Romeo writes to juliet every 20 ms; juliet notes when each
    arrives."""

    def __init__(self, srv):
        self.r, _, _ = login(srv, "romeo@" + M, USERS["romeo@" + M], "orchard")
        self.j, self.jj, _ = login(srv, "juliet@" + C, USERS["juliet@" + C],
                                   "balcony")
        self.sent = 0
        self.arrivals = []
        self.stop = threading.Event()
        self.error = None
        self.ts = [threading.Thread(target=f, daemon=True)
                   for f in (self._send, self._recv)]
        for t in self.ts:
            t.start()

    def _send(self):
        try:
            while not self.stop.is_set():
                self.r.send(f"<message to='{self.jj}' type='chat'>"
                            f"<body>{self.sent}</body></message>")
                self.sent += 1
                time.sleep(0.02)
        except Exception as e:  # noqa: BLE001
            self.error = f"romeo: {e}"

    def _recv(self):
        try:
            while not self.stop.is_set() or len(self.arrivals) < self.sent:
                el = self.j.next_element(10)
                if el.tag.endswith("}message"):
                    self.arrivals.append((int(el.findtext(
                        "{jabber:client}body")), time.time()))
        except Exception as e:  # noqa: BLE001
            if not self.stop.is_set() or len(self.arrivals) < self.sent:
                self.error = f"juliet: {e}"

    def finish(self):
        self.stop.set()
        for t in self.ts:
            t.join(15)
        check(self.error is None, f"the well-behaved pair: {self.error}")
        nums = [n for n, _ in self.arrivals]
        check(nums == list(range(self.sent)),
              f"juliet got {len(nums)} of {self.sent}, in order")
        gaps = [b - a for (_, a), (_, b) in zip(self.arrivals,
                                                 self.arrivals[1:])]
        worst = max(gaps) if gaps else 0
        check(worst < 2.0, f"the pair stalled for {worst:.2f} s")
        return len(nums), worst


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def adversarial_corpus():
    # ASan keeps freed memory in quarantine: keep it small so that RSS
    # says what xmuxd holds.
    os.environ["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") +
                                  ":quarantine_size_mb=1").lstrip(":")
    srv = server()
    try:
        pair = Pair(srv)
        time.sleep(1.5)
        base = rss_kib(srv.proc.pid)
        peak = base
        cases = sorted(f for f in os.listdir(CORPUS) if f.endswith(".case"))
        check(len(cases) >= 30, f"corpus: {len(cases)} files")
        failures = []
        for name in cases:
            fields, payload = load_case(os.path.join(CORPUS, name))
            try:
                c = connect(srv, fields["stage"])
                send(c, payload)
                expect(c, fields["expect"])
                c.close()
                print(f"ok   {name}: {fields['expect']}")
            except TestFailure as e:
                failures.append(f"{name} ({fields['what']}): {e}")
                print(f"FAIL {name}: {e}")
            peak = max(peak, rss_kib(srv.proc.pid))
        n, worst = pair.finish()
        check(not failures, "\n".join(failures))
        time.sleep(3)  # idle sweep: parsers and TLS buffers go back
        end = rss_kib(srv.proc.pid)
        print(f"rss KiB: before {base}, peak {peak}, after {end}; "
              f"pair: {n} messages, worst gap {worst * 1000:.0f} ms")
        check(end <= base + max(RSS_SLACK_KIB, base * RSS_SLACK_RATIO),
              f"RSS did not come back: {base} -> {end} KiB")
    except TestFailure as e:
        raise TestFailure(f"{e}\n--- xmuxd ---\n{srv.logtext()[-3000:]}")
    finally:
        srv.stop()


TESTS = {"adversarial-corpus": adversarial_corpus}

if __name__ == "__main__":
    run(TESTS)
