# SPDX-License-Identifier: MIT
"""System tests: xmuxd started as root gives up root (docs/security.md).
It binds, reads its keys, then runs as the configured user: the ids in
/proc, a login over TLS and a message, the control socket for root, the
owner of every state file; a missing user, root without `user`, an
unreachable state directory and links planted in the state directory."""

import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys

from xmuxtest import Server, TestFailure, check, run
from test_c2s import login

XMUXCTL = os.environ.get("XMUXCTL", "xmuxctl")
XMUXD = os.environ.get("XMUXD", "xmuxd")
HOST = "capulet.example"
USERS = {"juliet@capulet.example": "r0m30myr0m30",
         "nurse@capulet.example": "n0rs3"}
# The unprivileged account the tests drop to; created when missing.
TEST_USER = "xmux-test"


def need_root():
    if os.geteuid() != 0:
        print("skip: these tests start xmuxd as root")
        sys.exit(77)


def test_user():
    """(name, uid, gid): TEST_USER, created as a system account with its
    own group if missing; nobody/nogroup if that cannot be done."""
    try:
        pw = pwd.getpwnam(TEST_USER)
    except KeyError:
        r = subprocess.run(["useradd", "--system", "--user-group",
                            "--no-create-home", "--home-dir", "/nonexistent",
                            "--shell", "/usr/sbin/nologin", TEST_USER],
                           capture_output=True, text=True)
        try:
            pw = pwd.getpwnam(TEST_USER)
        except KeyError:
            print(f"useradd failed ({r.stderr.strip()}): using nobody")
            pw = pwd.getpwnam("nobody")
    return pw.pw_name, pw.pw_uid, pw.pw_gid


def ctl(srv, *args, **kw):
    return subprocess.run([XMUXCTL, "--config", srv.config] + list(args),
                          capture_output=True, text=True, timeout=60, **kw)


def proc_ids(pid):
    """Uid, Gid (real, effective, saved, fs), Groups and the capability
    sets of a process, from /proc/PID/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Uid", "Gid", "Groups", "CapEff", "CapPrm", "CapAmb"):
                out[k] = v.split()
    return out


def state_files(srv):
    d = os.path.join(srv.dir, "state")
    return [d] + [os.path.join(d, n) for n in
                  ("xmux.db", "xmux.db-wal", "xmux.db-shm", "xmuxd.sock",
                   "certs", f"certs/{HOST}.crt", f"certs/{HOST}.key")]


def unprivileged_server(user):
    srv = Server(hosts=(HOST,), user=user)
    # mkdtemp made the test directory 0700 for root: the user must be
    # able to reach state/ through it.
    os.chmod(srv.dir, 0o711)
    return srv


def drops_privileges():
    need_root()
    name, uid, gid = test_user()
    srv = unprivileged_server(name)
    # Accounts made by root before the first start: the database is
    # root's until xmuxd hands it over.
    for jid, pw in USERS.items():
        srv.add_user(jid, pw)
    srv.start()
    try:
        ids = proc_ids(srv.proc.pid)
        check(ids["Uid"] == [str(uid)] * 4, f"Uid {ids['Uid']}")
        check(ids["Gid"] == [str(gid)] * 4, f"Gid {ids['Gid']}")
        check(ids["Groups"] == [str(gid)], f"Groups {ids['Groups']}")
        for cap in ("CapEff", "CapPrm", "CapAmb"):
            check(int(ids[cap][0], 16) == 0, f"{cap} {ids[cap]}")
        # Not dumpable after the change of ids: /proc/PID/mem stays
        # root's, so the user cannot read the process's memory (its keys).
        st = os.stat(f"/proc/{srv.proc.pid}/mem")
        check(st.st_uid == 0, f"/proc/PID/mem owned by {st.st_uid}")
        log = srv.logtext()
        check(f"event=privileges user={name} uid={uid} gid={gid} "
              "dropped=yes" in log, "privileges line:\n" + log)
        # Bound before the drop, served after it.
        j, jfull, _ = login(srv, "juliet@capulet.example",
                            USERS["juliet@capulet.example"], "balcony")
        n, nfull, _ = login(srv, "nurse@capulet.example",
                            USERS["nurse@capulet.example"], "n")
        j.send(f"<message to='{nfull}' type='chat'><body>hi</body>"
               "</message>")
        m = n.next_element()
        check(m.get("from") == jfull and
              m.findtext("{jabber:client}body") == "hi", "message")
        # The control socket is the user's, and root may use it.
        p = ctl(srv, "connections")
        check(p.returncode == 0 and p.stdout.count("\n") == 2,
              f"xmuxctl connections as root: {p}")
        check(f"event=control ctl=1 uid=0 cmd=connections result=ok"
              in srv.logtext(), "control log line")
        # root's xmuxctl writes beside the unprivileged server, which
        # reads what it wrote.
        p = ctl(srv, "user", "add", "tybalt@capulet.example",
                input="pr1nc3 of cats\n")
        check(p.returncode == 0, f"user add while running: {p}")
        t, _, _ = login(srv, "tybalt@capulet.example", "pr1nc3 of cats")
        for path in state_files(srv):
            st = os.lstat(path)
            check((st.st_uid, st.st_gid) == (uid, gid),
                  f"{path} owned by {st.st_uid}:{st.st_gid}")
        key = os.lstat(state_files(srv)[-1])
        check(stat.S_IMODE(key.st_mode) == 0o600, "key mode %o" %
              stat.S_IMODE(key.st_mode))
        for c in (j, n, t):
            c.close()
    except Exception:
        print(srv.logtext()[-4000:])
        raise
    finally:
        srv.stop()
    sock = os.path.join(srv.dir, "state", "xmuxd.sock")
    check(not os.path.exists(sock), "socket left after a clean stop")
    shutil.rmtree(srv.dir, ignore_errors=True)


def start_fails(srv, want, before_start=True):
    """xmuxd --config exits 1 with the error line want. before_start: the
    line is all it prints (nothing was opened), and --check-config says
    the same; else it comes among the log lines of the start-up."""
    args = [["--config", srv.config]]
    if before_start:
        args.append(["--config", srv.config, "--check-config"])
    for a in args:
        p = subprocess.run([XMUXD] + a, capture_output=True, text=True,
                           timeout=30)
        check(p.returncode == 1, f"{a}: exit {p.returncode}: {p.stderr}")
        if before_start:
            check(p.stderr == f"xmuxd: {want}\n", f"{a}: {p.stderr!r}")
        else:
            check(f"\nxmuxd: {want}\n" in p.stderr, f"{a}: {p.stderr!r}")


def config_line(srv, key):
    with open(srv.config) as f:
        for i, line in enumerate(f, 1):
            if line.startswith(key + " ="):
                return i
    raise TestFailure(f"{key} not in the config")


def missing_user():
    need_root()
    srv = Server(hosts=(HOST,), user="no-such-user-xmux")
    start_fails(srv, f"{srv.config}:{config_line(srv, 'user')}: user: no "
                "such user \"no-such-user-xmux\"")
    name, _, _ = test_user()
    srv = Server(hosts=(HOST,), user=name,
                 extra='group = "no-such-group-xmux";')
    start_fails(srv, f"{srv.config}:{config_line(srv, 'group')}: group: no "
                "such group \"no-such-group-xmux\"")
    check(not os.path.exists(os.path.join(srv.dir, "state")),
          "state dir created by a server that refused to start")


def root_needs_user():
    need_root()
    srv = Server(hosts=(HOST,), user="")
    start_fails(srv, f"{srv.config}: user: missing: xmuxd started as root "
                "needs an account to run as, e.g. user = \"xmux\"; "
                "(user = \"root\"; keeps root)")
    # Explicitly root: runs, and says so.
    srv = Server(hosts=(HOST,), user="root").start()
    text = srv.stop()
    check("level=warn event=privileges user=root uid=0 gid=0 dropped=no "
          "reason=configured running-as-root=yes" in text, text)


def unreachable_state_dir():
    """The state directory under a directory only root may enter: the
    dropped process could not use it, and says so before serving."""
    need_root()
    name, _, _ = test_user()
    srv = Server(hosts=(HOST,), user=name)   # srv.dir stays 0700, root's
    state = os.path.join(srv.dir, "state")
    start_fails(srv, f"{state}: Permission denied as user {name} (the "
                "directory and every one above it must be searchable by "
                "that user)", before_start=False)


def planted_links():
    """Links left in the state directory (by a compromised unprivileged
    process, say) never make root chown or open another file."""
    need_root()
    name, uid, gid = test_user()
    srv = unprivileged_server(name)
    state = os.path.join(srv.dir, "state")
    os.makedirs(os.path.join(state, "certs"))
    victims = []
    for v in ("sym", "hard"):
        path = os.path.join(srv.dir, f"victim-{v}")
        with open(path, "w") as f:
            f.write("root's secret\n")
        os.chmod(path, 0o600)
        victims.append(path)
    os.symlink(victims[0], os.path.join(state, "xmux.db"))
    os.link(victims[1], os.path.join(state, "certs", f"{HOST}.key"))
    p = subprocess.run([XMUXD, "--config", srv.config], capture_output=True,
                       text=True, timeout=30)
    check(p.returncode == 1, f"started on planted links: {p.stderr}")
    for v in victims:
        st = os.lstat(v)
        check((st.st_uid, st.st_gid) == (0, 0), f"{v} chowned")
        with open(v) as f:
            check(f.read() == "root's secret\n", f"{v} changed")
    st = os.lstat(state)
    check((st.st_uid, st.st_gid) == (uid, gid), "state dir not handed over")
    shutil.rmtree(srv.dir, ignore_errors=True)


TESTS = {
    "privileges-drop": drops_privileges,
    "privileges-missing-user": missing_user,
    "privileges-root-needs-user": root_needs_user,
    "privileges-state-dir-unreachable": unreachable_state_dir,
    "privileges-planted-links": planted_links,
}


if __name__ == "__main__":
    run(TESTS)
