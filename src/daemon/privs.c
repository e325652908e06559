/* SPDX-License-Identifier: MIT */
/* privs.c -- give up root after binding: plan, state directory, drop. */
#include "daemon/privs.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "store/store.h"

/* Where an error about the key at line belongs: "FILE:LINE: " or
 * "FILE: ". */
static void
where(struct buf *err, const struct config *cfg, int line)
{
    buf_reset(err);
    if (line > 0)
        (void)buf_printf(err, "%s:%d: ", cfg->file, line);
    else
        (void)buf_printf(err, "%s: ", cfg->file);
}

/* "no such user" needs errno 0 from getpwnam; anything else is a failed
 * lookup (an unreachable directory service, say). */
static int
lookup_failed(struct buf *err,
              const struct config *cfg,
              int line,
              const char *key,
              const char *name,
              int e)
{
    where(err, cfg, line);
    if (e == 0 || e == ENOENT || e == ESRCH)
        (void)buf_printf(err, "%s: no such %s \"%s\"", key, key, name);
    else
        (void)buf_printf(err, "%s: cannot look up \"%s\": %s", key, name,
                         strerror(e));
    return XE_CONFIG;
}

/* The configured user (and group): uid, gid and name into p. */
static int
resolve_user(const struct config *cfg, struct privs *p, struct buf *err)
{
    errno = 0;
    const struct passwd *pw = getpwnam(cfg->user);
    if (pw == NULL)
        return lookup_failed(err, cfg, cfg->user_line, "user", cfg->user,
                             errno);
    p->uid = pw->pw_uid;
    p->gid = pw->pw_gid;
    (void)snprintf(p->name, sizeof(p->name), "%s", cfg->user);
    if (cfg->group == NULL)
        return 0;
    errno = 0;
    const struct group *gr = getgrnam(cfg->group);
    if (gr == NULL)
        return lookup_failed(err, cfg, cfg->group_line, "group", cfg->group,
                             errno);
    p->gid = gr->gr_gid;
    return 0;
}

/* The ids the process has, named for the log. */
static void
current_ids(struct privs *p)
{
    p->uid = geteuid();
    p->gid = getegid();
    const struct passwd *pw = getpwuid(p->uid);
    if (pw != NULL)
        (void)snprintf(p->name, sizeof(p->name), "%s", pw->pw_name);
    else
        (void)snprintf(p->name, sizeof(p->name), "%lu", (unsigned long)p->uid);
}

int
privs_plan(const struct config *cfg,
           bool embedded,
           bool check,
           struct privs *p,
           struct buf *err)
{
    memset(p, 0, sizeof(*p));
    bool root = geteuid() == 0;
    if (cfg->user == NULL) {
        current_ids(p);
        if (root && !embedded) {
            where(err, cfg, 0);
            (void)buf_printf(err, "user: missing: xmuxd started as root needs "
                                  "an account to run as, e.g. user = \"xmux\"; "
                                  "(user = \"root\"; keeps root)");
            return XE_CONFIG;
        }
        if (root)
            p->keep_root = "embedded-default";
        return 0;
    }
    int rc = resolve_user(cfg, p, err);
    if (rc != 0)
        return rc;
    if (root) {
        p->drop = p->uid != 0;
        if (!p->drop) {
            current_ids(p);
            p->keep_root = "configured";
        }
        return 0;
    }
    if (!check && (p->uid != geteuid() || p->gid != getegid())) {
        /* Blame the group when the user is right. */
        bool grp = cfg->group != NULL && p->uid == geteuid();
        where(err, cfg, grp ? cfg->group_line : cfg->user_line);
        (void)buf_printf(err,
                         "%s: xmuxd runs as uid %lu gid %lu, not as "
                         "\"%s\" (uid %lu gid %lu), and only root can "
                         "switch",
                         grp ? "group" : "user", (unsigned long)geteuid(),
                         (unsigned long)getegid(), p->name,
                         (unsigned long)p->uid, (unsigned long)p->gid);
        return XE_CONFIG;
    }
    return 0;
}

/* --- the state directory ---------------------------------------------- */

/* Give the file name in directory dfd to p's ids if it is a regular file
 * with one link or a directory. O_PATH with O_NOFOLLOW opens a symbolic
 * link itself, and the checks and the chown apply to the inode opened:
 * nothing can be swapped in between. Anything else is left alone (the
 * unprivileged process meets it later with its own rights). */
static int
claim_at(int dfd, const char *name, const struct privs *p)
{
    int fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    struct stat st;
    int rc = fstat(fd, &st) == 0 ? 0 : -errno;
    bool ours = rc == 0 && (S_ISDIR(st.st_mode) ||
                            (S_ISREG(st.st_mode) && st.st_nlink == 1));
    if (ours && (st.st_uid != p->uid || st.st_gid != p->gid) &&
        fchownat(fd, "", p->uid, p->gid, AT_EMPTY_PATH) != 0)
        rc = -errno;
    (void)close(fd);
    return rc;
}

/* What failed, for the message: a path under state_dir. */
struct claim_fail {
    char name[512];
};

/* certs/ and the generated certificate and key of each host without a
 * configured one. */
static int
claim_certs(const struct config *cfg,
            int dfd,
            const struct privs *p,
            struct claim_fail *f)
{
    (void)snprintf(f->name, sizeof(f->name), "certs");
    int rc = claim_at(dfd, "certs", p);
    if (rc != 0)
        return rc;
    int cfd =
        openat(dfd, "certs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (cfd < 0)
        return errno == ENOENT || errno == ELOOP || errno == ENOTDIR ? 0
                                                                     : -errno;
    static const char *const ext[] = {".crt", ".key"};
    for (size_t i = 0; i < 2 * cfg->nhosts && rc == 0; i++) {
        const struct cfg_host *h = &cfg->hosts[i / 2];
        if (h->cert != NULL)
            continue;
        char name[300];
        (void)snprintf(name, sizeof(name), "%s%s", h->domain, ext[i % 2]);
        (void)snprintf(f->name, sizeof(f->name), "certs/%s", name);
        rc = claim_at(cfd, name, p);
    }
    (void)close(cfd);
    return rc;
}

/* state_dir itself (its parent belongs to the operator, so the path may
 * be followed), then what xmuxd keeps in it. */
static int
claim_state(const struct config *cfg, const struct privs *p, struct buf *err)
{
    int dfd = open(cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        int e = errno;
        (void)buf_printf(err, "%s: %s", cfg->state_dir, strerror(e));
        return -e;
    }
    /* -journal: a hot rollback journal, left when an xmuxctl run as root
     * was killed while it created the database (before WAL was on). */
    static const char *const files[] = {STORE_DB_FILE, STORE_DB_FILE "-wal",
                                        STORE_DB_FILE "-shm",
                                        STORE_DB_FILE "-journal", NULL};
    struct claim_fail f = {.name = "."};
    int rc = fchown(dfd, p->uid, p->gid) == 0 ? 0 : -errno;
    for (size_t i = 0; rc == 0 && files[i] != NULL; i++) {
        (void)snprintf(f.name, sizeof(f.name), "%s", files[i]);
        rc = claim_at(dfd, files[i], p);
    }
    if (rc == 0)
        rc = claim_certs(cfg, dfd, p, &f);
    (void)close(dfd);
    if (rc != 0)
        (void)buf_printf(err, "%s/%s: cannot give it to user %s: %s",
                         cfg->state_dir, f.name, p->name, strerror(-rc));
    return rc;
}

int
privs_prepare_state(const struct config *cfg,
                    const struct privs *p,
                    struct buf *err)
{
    if (mkdir(cfg->state_dir, 0700) != 0 && errno != EEXIST) {
        int e = errno;
        (void)buf_printf(err, "%s: %s", cfg->state_dir, strerror(e));
        return -e;
    }
    return p->drop ? claim_state(cfg, p, err) : 0;
}

/* --- the drop ----------------------------------------------------------- */

/* The switch took, all of it, and cannot be undone. */
static bool
dropped_for_good(const struct privs *p)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    gid_t groups[2];
    if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0)
        return false;
    if (ru != p->uid || eu != p->uid || su != p->uid || rg != p->gid ||
        eg != p->gid || sg != p->gid)
        return false;
    int n = getgroups(2, groups);
    if (n != 1 || groups[0] != p->gid)
        return false;
    /* Each of these must fail now; if one succeeds we are root again. */
    return setuid(0) != 0 && seteuid(0) != 0 && setgid(0) != 0 &&
           setegid(0) != 0;
}

int
privs_drop(const struct config *cfg, const struct privs *p, struct buf *err)
{
    if (!p->drop)
        return 0;
    /* Groups first: once the uid is not 0, they cannot change any more.
     * Only the one group: the process needs no other. */
    if (setgroups(1, &p->gid) != 0 || setresgid(p->gid, p->gid, p->gid) != 0 ||
        setresuid(p->uid, p->uid, p->uid) != 0) {
        int e = errno;
        (void)buf_printf(err, "cannot switch to user %s (uid %lu gid %lu): %s",
                         p->name, (unsigned long)p->uid, (unsigned long)p->gid,
                         strerror(e));
        return -e;
    }
    if (!dropped_for_good(p)) {
        (void)buf_printf(err,
                         "switched to user %s, but root can come back: "
                         "refusing to run",
                         p->name);
        return XE_STATE;
    }
    /* access() checks the real ids, which are the user's now. */
    if (access(cfg->state_dir, R_OK | W_OK | X_OK) != 0) {
        int e = errno;
        (void)buf_printf(err,
                         "%s: %s as user %s (the directory and every one "
                         "above it must be searchable by that user)",
                         cfg->state_dir, strerror(e), p->name);
        return -e;
    }
    return 0;
}

void
privs_log(const struct privs *p, const struct logger *log)
{
    if (p->keep_root != NULL)
        log_msg(log, LOG_WARN, 0,
                "event=privileges user=%s uid=%lu gid=%lu dropped=no "
                "reason=%s running-as-root=yes",
                p->name, (unsigned long)p->uid, (unsigned long)p->gid,
                p->keep_root);
    else
        log_msg(log, LOG_INFO, 0,
                "event=privileges user=%s uid=%lu gid=%lu dropped=%s", p->name,
                (unsigned long)p->uid, (unsigned long)p->gid,
                p->drop ? "yes" : "no");
}
