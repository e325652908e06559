# SPDX-License-Identifier: MIT
"""System tests: the control socket of a running xmuxd and `xmuxctl
connections` (docs/control.md): one line per live stream with its kind,
direction, authentication and the domain pairs it carries; the socket's
mode, stale sockets, a second xmuxd, unknown commands and timeouts."""

import os
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
import time

import test_s2s
from test_c2s import login
from test_s2s import external, tls_stream
from xmuxtest import NS_SASL, Server, TestFailure, check, run, server_test

HOST = "capulet.example"
PEER = "montague.example"
USER, PASSWORD = "juliet@capulet.example", "r0m30myr0m30"
XMUXCTL = os.environ.get("XMUXCTL", "xmuxctl")


def server(extra="", start=True):
    if test_s2s.CERTS is None:
        test_s2s.CERTS = tempfile.mkdtemp(prefix="xmux-ctl-certs-")
        test_s2s.make_certs(test_s2s.CERTS)
    srv = Server(hosts=(HOST,), extra=f'tls = {{ ca_file = '
                 f'"{test_s2s.CERTS}/ca.crt"; }};\n' + extra)
    srv.add_user(USER, PASSWORD)
    return srv.start() if start else srv


def sock_path(srv):
    return os.path.join(srv.dir, "state", "xmuxd.sock")


def ctl(srv, *args):
    return subprocess.run([XMUXCTL, "--config", srv.config] + list(args),
                          capture_output=True, text=True, timeout=60)


def parse(line):
    """A key=value line as a dict. A value from a peer is in double
    quotes if it holds a space or an odd byte (which are then \\xNN): it
    never holds a quote or a backslash of its own, so shlex splits it."""
    return dict(kv.split("=", 1) for kv in shlex.split(line))


def connections(srv, n):
    """Run xmuxctl connections until it lists n streams (streams come and
    go asynchronously); return their dicts, oldest first."""
    deadline = time.time() + 10
    while True:
        p = ctl(srv, "connections")
        check(p.returncode == 0 and p.stderr == "",
              f"xmuxctl connections: {p.returncode} {p.stderr!r}")
        lines = p.stdout.splitlines()
        check(p.stdout == "" or p.stdout.endswith("\n"), "last line cut")
        if len(lines) == n or time.time() > deadline:
            break
        time.sleep(0.1)
    check(len(lines) == n, f"want {n} lines, got {p.stdout!r}")
    return [parse(x) for x in lines]


def raw(path, data, timeout=5):
    """Connect to the control socket, send data, read until EOF."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    if data:
        s.sendall(data)
    got = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    s.close()
    return got


def connections_lines(srv):
    c2s, full, _ = login(srv, USER, PASSWORD, resource="the balcony")
    # An s2s stream authenticated with SASL EXTERNAL that asked for bidi,
    # then got chat.montague.example through dialback: the certificate
    # covers it (XEP-0344), so the answer comes without calling back.
    s1, _ = tls_stream(srv)
    s1.send("<bidi xmlns='urn:xmpp:bidi'/>")
    check(external(s1).tag == f"{{{NS_SASL}}}success", "EXTERNAL")
    s1.restart()
    s1.open_stream(HOST, kind="s2s", frm=PEER)
    s1.send(f"<db:result from='chat.{PEER}' to='{HOST}'>k</db:result>")
    check(s1.next_element().get("type") == "valid", "dialback on s1")
    # An s2s stream authenticated by dialback only.
    s2, _ = tls_stream(srv)
    s2.send(f"<db:result from='{PEER}' to='{HOST}'>k</db:result>")
    check(s2.next_element().get("type") == "valid", "dialback on s2")
    # A client that has only sent its header.
    c0 = srv.client("c2s")
    c0.open_stream(HOST)

    rows = connections(srv, 4)
    p = ctl(srv, "connections")
    check(f' jid="{USER}/the balcony" ' in p.stdout, "quoted JID: " + p.stdout)
    a, b, c, d = rows
    check(int(a["conn"], 16) < int(b["conn"], 16) < int(c["conn"], 16)
          < int(d["conn"], 16), f"not oldest first: {rows}")
    want_keys = ["conn", "kind", "dir", "peer", "state", "tls", "auth",
                 "mech", "bidi", "jid", "pairs", "back", "age_s", "bytes_in",
                 "bytes_out", "worker"]
    for r in rows:
        check(list(r) == want_keys, f"keys {list(r)}")
        check(r["dir"] == "in", f"dir {r}")
        check(r["peer"].startswith("127.0.0.1:"), f"peer {r}")
        check(int(r["bytes_in"]) > 0 and int(r["age_s"]) >= 0, f"counts {r}")
    check(a["kind"] == "c2s" and a["auth"] == "sasl-plain" and
          a["mech"] == "PLAIN" and a["jid"] == full and
          a["jid"] == f"{USER}/the balcony" and a["pairs"] == "-" and
          a["back"] == "-" and
          a["tls"] == "yes" and a["state"] == "session" and
          a["bidi"] == "no", f"c2s line {a}")
    check(b["kind"] == "s2s" and b["auth"] == "sasl-external" and
          b["mech"] == "EXTERNAL" and b["bidi"] == "yes" and
          b["jid"] == PEER and
          b["pairs"] == f"{PEER}>{HOST}/host,chat.{PEER}>{HOST}/dialback" and
          b["back"] == f"{HOST}>{PEER}/host,{HOST}>chat.{PEER}/dialback",
          f"s2s EXTERNAL line {b}")
    check(c["kind"] == "s2s" and c["auth"] == "dialback" and
          c["mech"] == "-" and c["bidi"] == "no" and c["jid"] == "-" and
          c["pairs"] == f"{PEER}>{HOST}/dialback" and c["back"] == "-",
          f"s2s dialback line {c}")
    check(d["kind"] == "c2s" and d["auth"] == "none" and d["tls"] == "no"
          and d["jid"] == "-" and d["pairs"] == "-", f"fresh c2s line {d}")

    # Streams that end leave the list.
    for x in (c0, s2):
        x.close()
    rows = connections(srv, 2)
    check([r["conn"] for r in rows] == [a["conn"], b["conn"]],
          f"after close: {rows}")
    for x in (c2s, s1):
        x.close()
    text = srv.logtext()
    check("event=control " in text and "cmd=connections result=ok" in text,
          "control log line missing:\n" + text[-2000:])


def with_server(fn, **kw):
    return server_test(server, fn, **kw)


def socket_file():
    srv = server()
    path = sock_path(srv)
    try:
        mode = os.lstat(path).st_mode
        check(stat.S_ISSOCK(mode), "not a socket")
        check(stat.S_IMODE(mode) == 0o600, f"mode {oct(stat.S_IMODE(mode))}")
        # No streams: an empty answer, exit 0.
        p = ctl(srv, "connections")
        check(p.returncode == 0 and p.stdout == "" and p.stderr == "",
              f"empty: {p}")
    finally:
        srv.stop()
    check(not os.path.exists(path), "socket left after a clean stop")


def unknown_command(srv):
    path = sock_path(srv)
    check(raw(path, b"frobnicate\n") == b"error unknown-command\n",
          "unknown command")
    check(raw(path, b"connections extra\n") == b"error unknown-command\n",
          "command with arguments")
    check(raw(path, b"x" * 300) == b"error line-too-long\n", "long line")
    # "\r\n" ends a line too, and so does the client's end of input.
    check(raw(path, b"connections\r\n") == b"", "crlf")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall(b"connections")
    s.shutdown(socket.SHUT_WR)
    check(s.recv(100) == b"", "EOF as end of line")
    s.close()
    # Nothing sent: closed after the read timeout (2 s).
    t0 = time.time()
    check(raw(path, b"", timeout=10) == b"", "silent client")
    check(1.5 < time.time() - t0 < 8, f"timeout {time.time() - t0:.1f} s")
    text = srv.logtext()
    for want in ("cmd=frobnicate result=unknown-command",
                 "result=line-too-long", "result=read-timeout"):
        check(want in text, f"log lacks {want!r}")


def not_running():
    srv = server(start=False)
    path = sock_path(srv)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        p = ctl(srv, "connections")
        check(p.returncode == 1 and p.stdout == "" and p.stderr ==
              f"xmuxctl: cannot connect to {path}: No such file or directory"
              " (is xmuxd running?)\n", f"no socket: {p}")
        # A socket left behind by an xmuxd that did not stop cleanly.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.close()
        p = ctl(srv, "connections")
        check(p.returncode == 1 and p.stderr ==
              f"xmuxctl: cannot connect to {path}: Connection refused"
              " (is xmuxd running?)\n", f"stale socket: {p}")
        p = ctl(srv, "connections", "extra")
        check(p.returncode == 2 and "usage:" in p.stderr, f"usage: {p}")
        p = ctl(srv, "--help")
        check(p.returncode == 0 and "  connections " in p.stdout, "help")
        # xmuxd replaces it.
        srv.start()
        check("event=control-stale-socket" in srv.logtext(), "stale log")
        p = ctl(srv, "connections")
        check(p.returncode == 0, f"after replacing: {p}")
    finally:
        if srv.proc is not None:
            srv.stop()


def configured_path():
    # A relative control_socket is resolved against the config's directory.
    srv = server(extra='control_socket = "ctl.sock";\n')
    other = None
    try:
        path = os.path.join(srv.dir, "ctl.sock")
        check(stat.S_ISSOCK(os.lstat(path).st_mode), "ctl.sock")
        check(not os.path.exists(sock_path(srv)), "default path used")
        check(ctl(srv, "connections").returncode == 0, "xmuxctl")
        # A second xmuxd on the same socket refuses to start, and leaves
        # the first one's socket alone.
        other = Server(hosts=(HOST,),
                       extra=f'control_socket = "{path}";\n')
        try:
            other.start()
        except TestFailure as e:
            check("exited early" in str(e), str(e))
        check(other.proc.wait(10) == 1, "a second xmuxd started")
        check("reason=another-xmuxd-listens" in other.logtext(),
              other.logtext())
        other.stop(expect_code=1)
        check(os.path.exists(path) and
              ctl(srv, "connections").returncode == 0, "first xmuxd hurt")
    finally:
        srv.stop()
        if other is not None:
            shutil.rmtree(other.dir, ignore_errors=True)


TESTS = {
    "control-connections": with_server(connections_lines),
    "control-socket-file": socket_file,
    "control-unknown-command": with_server(unknown_command),
    "control-not-running": not_running,
    "control-configured-path": configured_path,
}


if __name__ == "__main__":
    run(TESTS)
