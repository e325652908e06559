# SPDX-License-Identifier: MIT
"""System test: the xmuxctl binary (path in $XMUXCTL) against a temporary
configuration and state directory: accounts added, listed, changed and
deleted, and every refusal with exit code 1 or 2 and a message."""

import os
import pty
import select
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time

XMUXCTL = os.environ.get("XMUXCTL", "xmuxctl")
HOST = "capulet.example"

CONFIG = """state_dir = "{state}";
listen = ( {{ kind = "c2s"; address = "127.0.0.1"; port = 15222; }} );
hosts = ( {{ domain = "capulet.example"; }} );
"""


class Env:
    """A temporary directory with a config whose state_dir does not exist
    yet (xmuxctl creates it)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="xmux-ctl-")
        self.state = os.path.join(self.dir, "state")
        self.config = os.path.join(self.dir, "xmux.conf")
        with open(self.config, "w") as f:
            f.write(CONFIG.format(state=self.state))
        self.db = os.path.join(self.state, "xmux.db")

    def run(self, *args, stdin="", config=True, env=None):
        argv = [XMUXCTL] + (["--config", self.config] if config else [])
        argv += list(args)
        return subprocess.run(argv, input=stdin.encode(), capture_output=True,
                              timeout=60, env=env)

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def out(p):
    return p.stdout.decode()


def err(p):
    return p.stderr.decode()


def expect(p, code, stdout=None, stderr_has=None):
    what = f"exit {p.returncode}, stdout {out(p)!r}, stderr {err(p)!r}"
    assert p.returncode == code, f"want exit {code}: {what}"
    if stdout is not None:
        assert out(p) == stdout, f"want stdout {stdout!r}: {what}"
    if stderr_has is not None:
        assert stderr_has in err(p), f"want {stderr_has!r} on stderr: {what}"
    if code != 0:
        assert err(p).startswith("xmuxctl: ") or code == 2, what


def creds(env, node):
    with sqlite3.connect(env.db) as db:
        return db.execute(
            "SELECT salt, sha256_stored FROM accounts WHERE host = ? AND "
            "node = ?", (HOST, node)).fetchone()


def t_add_list_passwd_del(env):
    expect(env.run("user", "add", "juliet@capulet.example",
                   stdin="s3cret-pw\n"),
           0, "added juliet@capulet.example\n")
    # The JID is prepared: case-folded localpart and domain.
    expect(env.run("user", "add", "Romeo@Capulet.Example", stdin="pw2\n"),
           0, "added romeo@capulet.example\n")
    expect(env.run("user", "list", HOST), 0,
           "juliet@capulet.example\nromeo@capulet.example\n")
    before = creds(env, "juliet")
    expect(env.run("user", "passwd", "juliet@capulet.example",
                   stdin="other\n"),
           0, "password changed for juliet@capulet.example\n")
    after = creds(env, "juliet")
    assert before is not None and after is not None
    assert before != after, "passwd did not change the credentials"
    expect(env.run("user", "del", "juliet@capulet.example"), 0,
           "deleted juliet@capulet.example\n")
    expect(env.run("user", "list", HOST), 0, "romeo@capulet.example\n")


def t_add_twice(env):
    expect(env.run("user", "add", "juliet@capulet.example", stdin="a\n"), 0)
    p = env.run("user", "add", "juliet@capulet.example", stdin="b\n")
    expect(p, 1, "", "already exists")


def t_del_twice(env):
    expect(env.run("user", "add", "juliet@capulet.example", stdin="a\n"), 0)
    expect(env.run("user", "del", "juliet@capulet.example"), 0)
    expect(env.run("user", "del", "juliet@capulet.example"), 1, "",
           "no such account")


def t_passwd_missing(env):
    expect(env.run("user", "passwd", "nobody@capulet.example", stdin="x\n"),
           1, "", "no such account")


def t_bad_jids(env):
    for jid, msg in (("a@@b", "invalid JID"),
                     ("capulet.example", "localpart"),
                     ("juliet@capulet.example/balcony", "bare JID"),
                     ("@capulet.example", "invalid JID"),
                     ("", "invalid JID")):
        expect(env.run("user", "add", jid, stdin="pw\n"), 1, "", msg)
    expect(env.run("user", "list", "bad..host"), 1, "", "invalid JID")
    expect(env.run("user", "list", HOST), 0, "")


def t_unknown_host(env):
    expect(env.run("user", "add", "romeo@montague.example", stdin="pw\n"), 1,
           "", "montague.example is not a host")
    expect(env.run("user", "list", "montague.example"), 1, "",
           "not a host")


def t_password_rules(env):
    expect(env.run("user", "add", "a@capulet.example", stdin="\n"), 1, "",
           "empty password")
    expect(env.run("user", "add", "a@capulet.example", stdin=""), 1, "",
           "empty password")
    expect(env.run("user", "add", "a@capulet.example", stdin="x" * 2000),
           1, "", "too long")
    # Only the first line counts; "\r\n" is stripped like "\n".
    expect(env.run("user", "add", "b@capulet.example",
                   stdin="pw\r\nignored\n"), 0)
    expect(env.run("user", "list", HOST), 0, "b@capulet.example\n")


def t_usage(env):
    for args in ((), ("user",), ("user", "add"), ("user", "frob", "x"),
                 ("group", "add", "x"), ("user", "add", "a", "b"),
                 ("--bogus",)):
        expect(env.run(*args), 2, "", "usage:")
    p = env.run("--version", config=False)
    expect(p, 0)
    assert out(p).startswith("xmuxctl "), out(p)
    p = env.run("--help", config=False)
    expect(p, 0)
    assert "user add JID" in out(p), out(p)


def t_bad_config(env):
    p = env.run("--config", os.path.join(env.dir, "missing.conf"), "user",
                "list", HOST, config=False)
    expect(p, 1, "", "missing.conf")


def t_files(env):
    expect(env.run("user", "add", "juliet@capulet.example",
                   stdin="sekrit-pass\n"), 0)
    assert stat.S_IMODE(os.stat(env.state).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(env.db).st_mode) == 0o600
    with sqlite3.connect(env.db) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT version FROM schema_version").fetchone() \
            == (1,)
        it, = db.execute("SELECT iterations FROM accounts").fetchone()
        assert it >= 4096, it
    # The password itself is stored nowhere.
    for name in os.listdir(env.state):
        with open(os.path.join(env.state, name), "rb") as f:
            assert b"sekrit-pass" not in f.read(), name


def t_default_config(env):
    # Without --config: the embedded default (host localhost), state in
    # $XMUX_STATE_DIR, exactly as xmuxd does.
    e = dict(os.environ, XMUX_STATE_DIR=env.state)
    expect(env.run("user", "add", "juliet@localhost", stdin="pw\n",
                   config=False, env=e), 0, "added juliet@localhost\n")
    expect(env.run("user", "list", "localhost", config=False, env=e), 0,
           "juliet@localhost\n")
    assert os.path.exists(env.db)
    expect(env.run("user", "add", "juliet@capulet.example", stdin="pw\n",
                   config=False, env=e), 1, "", "not a host")


def read_until(fd, want, deadline):
    got = b""
    while want not in got:
        left = deadline - time.time()
        assert left > 0, f"timed out waiting for {want!r}, got {got!r}"
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 1024)
            assert chunk, f"EOF waiting for {want!r}, got {got!r}"
            got += chunk
    return got


def tty_add(env, node, first, second):
    """Run "user add" with a terminal as stdin and stderr, typing first and
    second at the two prompts. Returns (exit code, terminal output)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([XMUXCTL, "--config", env.config, "user", "add",
                          f"{node}@{HOST}"], stdin=slave, stdout=slave,
                         stderr=slave, close_fds=True)
    os.close(slave)
    deadline = time.time() + 30
    seen = read_until(master, b"Password: ", deadline)
    os.write(master, first)
    if second is not None:
        seen += read_until(master, b"Repeat password: ", deadline)
        os.write(master, second)
    rc = p.wait(timeout=30)
    try:
        while True:
            r, _, _ = select.select([master], [], [], 0.2)
            if not r:
                break
            chunk = os.read(master, 1024)
            if not chunk:
                break
            seen += chunk
    except OSError:
        pass
    os.close(master)
    return rc, seen.decode(errors="replace")


def t_tty(env):
    rc, text = tty_add(env, "juliet", b"Tty-Pass\r", b"Tty-Pass\r")
    assert rc == 0, text
    assert "added juliet@capulet.example" in text, text
    assert "Tty-Pass" not in text, "password echoed: " + text
    # Erase works: "Tty-Passx<DEL>" is "Tty-Pass".
    rc, text = tty_add(env, "nurse", b"Tty-Passx\x7f\r", b"Tty-Pass\r")
    assert rc == 0, text
    rc, text = tty_add(env, "romeo", b"one\r", b"two\r")
    assert rc == 1 and "do not match" in text, text
    rc, text = tty_add(env, "tybalt", b"ab\x03", None)
    assert rc == 1 and "interrupted" in text, text
    expect(env.run("user", "list", HOST), 0,
           "juliet@capulet.example\nnurse@capulet.example\n")


TESTS = [
    t_add_list_passwd_del, t_add_twice, t_del_twice, t_passwd_missing,
    t_bad_jids, t_unknown_host, t_password_rules, t_usage, t_bad_config,
    t_files, t_default_config, t_tty,
]


def main():
    passed = failed = 0
    for t in TESTS:
        env = Env()
        try:
            t(env)
            passed += 1
            print(f"ok {t.__name__}")
        except Exception as e:  # report every failure, then go on
            failed += 1
            print(f"FAIL {t.__name__}: {type(e).__name__}: {e}")
        finally:
            env.close()
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
