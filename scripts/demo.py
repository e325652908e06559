#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""demo.py BUILD_DIR -- what stanza multiplexing saves, shown on loopback.

Two xmuxd servers: 127.0.0.2 serves montague.example and
chat.montague.example, 127.0.0.3 serves capulet.example and
rooms.capulet.example, with certificates from a test CA made here. A user
on every domain writes to a user on every domain of the other server,
in both directions, and the demo counts the TCP connections between the
two servers. Then the same with multiplexing, bidi and dialback
piggybacking off (one stream per domain pair and direction, as most
servers do today), and both again with 20 + 20 domains."""

import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "system"))

from xmuxtest import Server, TestFailure  # noqa: E402
from peers import TestCA, bindable, count_conns  # noqa: E402
from test_c2s import login  # noqa: E402

A_ADDR, B_ADDR, S2S_PORT = "127.0.0.2", "127.0.0.3", 5269


def domains(base, first_extra, n):
    """base, first_extra.base, then d3.base ... (n in all)."""
    out = [base, f"{first_extra}.{base}"]
    out += [f"d{i}.{base}" for i in range(3, n + 1)]
    return out[:n]


def server(tmp, ca, name, addr, doms, peer_addr, peer_doms, s2s):
    cert, key = ca.issue(name, doms)
    routes = ", ".join(f'{{ domain = "{d}"; host = "{peer_addr}"; '
                       f'port = {S2S_PORT}; }}' for d in peer_doms)
    srv = Server(hosts=tuple({"domain": d, "cert": cert, "key": key}
                             for d in doms),
                 addr=addr, ports={"s2s": S2S_PORT},
                 extra=f'tls = {{ ca_file = "{ca.cert}"; }};\n'
                 f's2s = {{ resolver = "127.0.0.1:1"; {s2s} '
                 f'routes = ( {routes} ); }};\n'
                 # Without mux, hundreds of s2s connections come from
                 # one address: no per-address limit here.
                 'limits = { max_connections = 5000; '
                 'connections_per_ip = 0; };\n')
    for d in doms:
        srv.add_user(f"user@{d}", "pw")
    return srv


def exchange(n, s2s):
    """Run one scenario; returns (connections, messages delivered)."""
    tmp = tempfile.mkdtemp(prefix="xmux-demo-")
    ca = TestCA(os.path.join(tmp, "ca"))
    a_doms = domains("montague.example", "chat", n)
    b_doms = domains("capulet.example", "rooms", n)
    a = server(tmp, ca, "a", A_ADDR, a_doms, B_ADDR, b_doms, s2s)
    b = server(tmp, ca, "b", B_ADDR, b_doms, A_ADDR, a_doms, s2s)
    clients = []
    try:
        a.start()
        b.start()
        users = {}
        for srv, doms in ((a, a_doms), (b, b_doms)):
            for d in doms:
                c, full, _ = login(srv, f"user@{d}", "pw", "demo")
                c.timeout = 30.0
                users[d] = (c, full)
                clients.append(c)
        # One direction, then the other: with bidi the answer rides the
        # stream the first direction opened.
        sent = got = 0
        for src, dst in ((a_doms, b_doms), (b_doms, a_doms)):
            for s in src:
                for t in dst:
                    sent += 1
                    users[s][0].send(
                        f"<message to='{users[t][1]}' id='m{sent}' "
                        "type='chat'>"
                        f"<body>from {s}</body></message>")
            for t in dst:
                for _ in src:
                    el = users[t][0].next_element(timeout=60)
                    if el.tag.endswith("}message") and el.get("type") == "chat":
                        got += 1
        time.sleep(0.5)
        return count_conns(A_ADDR, B_ADDR, S2S_PORT), got, sent
    finally:
        for c in clients:
            c.close()
        for srv in (a, b):
            if srv.proc is not None:
                srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if len(sys.argv) != 2:
        print("usage: demo.py BUILD_DIR", file=sys.stderr)
        return 2
    build = os.path.abspath(sys.argv[1])
    os.environ["XMUXD"] = os.path.join(build, "xmuxd")
    os.environ["XMUXCTL"] = os.path.join(build, "xmuxctl")
    for addr in (A_ADDR, B_ADDR):
        if not bindable(addr, S2S_PORT):
            print(f"demo: {addr}:{S2S_PORT} is in use", file=sys.stderr)
            return 1
    on = "mux = true; bidi = true; dialback = true;"
    off = "mux = false; bidi = false; dialback = false;"
    rows = []
    for n in (2, 20):
        for label, s2s in (("mux + bidi", on), ("everything off", off)):
            t0 = time.time()
            conns, got, sent = exchange(n, s2s)
            rows.append((n, label, conns, got, sent, time.time() - t0))
            print(f"{n}+{n} domains, {label:14}: {conns:4} TCP connection(s) "
                  f"between the servers; {got}/{sent} messages delivered "
                  f"({time.time() - t0:.1f} s)", flush=True)
    print()
    for n in (2, 20):
        on_c = next(r[2] for r in rows if r[0] == n and r[1] == "mux + bidi")
        off_c = next(r[2] for r in rows if r[0] == n and r[1] != "mux + bidi")
        print(f"{n}+{n} domains, both directions: {on_c} connection(s) with "
              f"multiplexing vs {off_c} without")
    ok = all(r[3] == r[4] for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except TestFailure as e:
        print(f"demo failed: {e}", file=sys.stderr)
        sys.exit(1)
