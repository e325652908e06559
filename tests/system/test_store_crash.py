# SPDX-License-Identifier: MIT
"""System test: the account store survives SIGKILL (docs/store.md).

For about 25 s ($XMUX_STORE_KILL_SECONDS), rounds of: start xmuxd, change
accounts with xmuxctl (add, passwd, del; xmuxctl writes the database
itself), SIGKILL some xmuxctl runs at random moments (late in the run
more often, where the write is), and SIGKILL xmuxd at a random moment,
sometimes while an xmuxctl writes, sometimes while xmuxd is still
starting. After each kill of xmuxd: PRAGMA integrity_check says ok, every
change xmuxctl acknowledged (exit 0 and its line) is there, a change
whose xmuxctl was killed is either wholly there or wholly absent, and
xmuxd starts again and logs in an account. Started as root, xmuxd runs as
an unprivileged user while root's xmuxctl writes beside it."""

import base64
import hashlib
import hmac
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import time

from xmuxtest import Server, check, run
from test_c2s import login
import test_security

XMUXCTL = os.environ.get("XMUXCTL", "xmuxctl")
HOST = "capulet.example"
NODES = [f"u{i}" for i in range(12)]
ABSENT = None


def stored_key(password, salt, iterations):
    """SCRAM-SHA-256 StoredKey for an ASCII password (SASLprep keeps it)."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt,
                                 iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest()


class Model:
    """What each account may hold: a set of possible values, ABSENT or a
    password. One value once an acknowledged change or a check settled
    it; two after a killed change (before or after)."""

    def __init__(self):
        self.states = {n: {ABSENT} for n in NODES}
        self.acked = 0
        self.killed = 0
        self.pending = {}  # node -> what its killed change would write
        self.applied = 0   # killed changes found done ...
        self.lost = 0      # ... and found not done

    def pick(self, rng):
        """A settled account and a change that fits it."""
        settled = [n for n in NODES if len(self.states[n]) == 1]
        if not settled:
            return None, None
        node = rng.choice(settled)
        (cur,) = self.states[node]
        if cur is ABSENT:
            return node, "add"
        return node, rng.choice(("passwd", "passwd", "del"))


def read_db(path):
    """integrity_check, then {node: (salt, iterations, sha256_stored)}."""
    db = sqlite3.connect(path, timeout=10)
    try:
        res = db.execute("PRAGMA integrity_check").fetchall()
        check(res == [("ok",)], f"integrity_check: {res}")
        rows = db.execute("SELECT host, node, salt, iterations, "
                          "sha256_stored FROM accounts").fetchall()
    finally:
        db.close()
    out = {}
    for host, node, salt, it, key in rows:
        check(host == HOST and node in NODES, f"stray row {host} {node}")
        out[node] = (salt, it, key)
    return out


def verify(model, path):
    """Every account holds one of its possible values; settle them."""
    rows = read_db(path)
    for node in NODES:
        row = rows.get(node)
        found = None
        for v in model.states[node]:
            if v is ABSENT and row is None:
                found = (v,)
            elif v is not ABSENT and row is not None and \
                    stored_key(v, row[0], row[1]) == row[2]:
                found = (v,)
            if found:
                break
        check(found is not None,
              f"{node}@{HOST}: database has "
              f"{'nothing' if row is None else 'other keys'}, expected one "
              f"of {sorted(map(str, model.states[node]))}")
        if node in model.pending:
            if model.pending.pop(node) == found[0]:
                model.applied += 1
            else:
                model.lost += 1
        model.states[node] = {found[0]}


class Ctl:
    """One xmuxctl change in flight."""

    def __init__(self, srv, node, op, password):
        self.node, self.op, self.password = node, op, password
        self.started = time.time()
        self.p = subprocess.Popen(
            [XMUXCTL, "--config", srv.config, "user", op, f"{node}@{HOST}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        if op != "del":
            self.p.stdin.write(password + "\n")
        self.p.stdin.close()
        self.p.stdin = None  # communicate() must not touch it again

    def finish(self, model):
        """Wait; record the outcome in model. True if acknowledged."""
        out, err = self.p.communicate(timeout=60)
        jid = f"{self.node}@{HOST}"
        want = {"add": f"added {jid}\n",
                "passwd": f"password changed for {jid}\n",
                "del": f"deleted {jid}\n"}[self.op]
        new = ABSENT if self.op == "del" else self.password
        if self.p.returncode == -signal.SIGKILL:
            model.states[self.node] |= {new}
            model.pending[self.node] = new
            model.killed += 1
            return False
        check(self.p.returncode == 0 and out == want,
              f"xmuxctl user {self.op} {jid}: exit {self.p.returncode} "
              f"{out!r} {err!r}")
        model.states[self.node] = {new}
        model.acked += 1
        return True


def kill_xmuxd(srv):
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(15)
    srv.log.close()


def early_kill(srv, rng):
    """SIGKILL xmuxd while it starts (the store opening, the WAL set up),
    before it serves."""
    log = open(srv.log_path, "w")
    p = subprocess.Popen([srv.binary, "--config", srv.config], stdout=log,
                         stderr=log)
    time.sleep(rng.uniform(0, 0.15))
    p.send_signal(signal.SIGKILL)
    p.wait(15)
    log.close()


def one_round(srv, model, rng, avg):
    """Changes until xmuxd is killed; returns the durations of the
    acknowledged changes."""
    kill_at = rng.randint(0, 12)
    took = []
    for i in range(kill_at + 1):
        node, op = model.pick(rng)
        if node is None:
            break
        pw = "pw-%08x" % rng.getrandbits(32)
        c = Ctl(srv, node, op, pw)
        if i == kill_at:
            # xmuxd dies while this xmuxctl may be writing.
            time.sleep(rng.uniform(0, avg))
            kill_xmuxd(srv)
        elif rng.random() < 0.3:
            # Late in the run more often: the write comes last.
            time.sleep(rng.uniform(0.2 * avg, avg))
            c.p.send_signal(signal.SIGKILL)
        if c.finish(model):
            took.append(time.time() - c.started)
    if srv.proc.poll() is None:
        kill_xmuxd(srv)
    return took


def serves(srv, model, rng):
    """xmuxd answers a login with an account's settled password."""
    present = [n for n in NODES if len(model.states[n]) == 1 and
               next(iter(model.states[n])) is not ABSENT]
    if not present:
        return
    node = rng.choice(present)
    c, _, _ = login(srv, f"{node}@{HOST}", next(iter(model.states[node])))
    c.close()


def fresh_starts(srv, rng, tries=6):
    """xmuxctl killed while it creates the state directory and the
    database (the first write of a new server); xmuxd then starts on
    whatever is left, and the account is there or not."""
    state = os.path.join(srv.dir, "state")
    db = os.path.join(state, "xmux.db")
    for _ in range(tries):
        shutil.rmtree(state, ignore_errors=True)
        model = Model()
        c = Ctl(srv, NODES[0], "add", "pw-first")
        time.sleep(rng.uniform(0, 0.05))
        c.p.send_signal(signal.SIGKILL)
        c.finish(model)
        srv.start()
        verify(model, db)
        serves(srv, model, rng)
        srv.stop()
    shutil.rmtree(state, ignore_errors=True)


def sigkill_loop():
    seconds = float(os.environ.get("XMUX_STORE_KILL_SECONDS", "25"))
    seed = int(os.environ.get("XMUX_STORE_KILL_SEED", str(time.time_ns())))
    rng = random.Random(seed)
    print(f"seed {seed}")
    user = None
    if os.geteuid() == 0:
        user = test_security.test_user()[0]
    srv = Server(hosts=(HOST,), user=user)
    os.chmod(srv.dir, 0o711)
    db = os.path.join(srv.dir, "state", "xmux.db")
    model = Model()
    avg, rounds, early = 0.2, 0, 0
    end = time.time() + seconds
    try:
        fresh_starts(srv, rng)
        while time.time() < end:
            if rounds > 0 and rng.random() < 0.2:
                early_kill(srv, rng)
                early += 1
                verify(model, db)
            srv.start()
            serves(srv, model, rng)
            took = one_round(srv, model, rng, avg)
            if took:
                avg = 0.8 * avg + 0.2 * (sum(took) / len(took))
            rounds += 1
            verify(model, db)
        srv.start()
        serves(srv, model, rng)
        srv.stop()
        verify(model, db)
    except Exception:
        print(srv.logtext()[-4000:])
        if srv.proc is not None and srv.proc.poll() is None:
            srv.proc.kill()
        raise
    print(f"{rounds} rounds ({early} kills while starting), "
          f"{model.acked} changes acknowledged, {model.killed} xmuxctl "
          f"killed ({model.applied} of them had written, {model.lost} "
          f"not), mean change {avg * 1000:.0f} ms")
    check(rounds >= 5 and model.acked >= 20 and model.killed >= 3,
          "too little happened to mean anything")


TESTS = {
    "store-sigkill-loop": sigkill_loop,
}


if __name__ == "__main__":
    run(TESTS)
