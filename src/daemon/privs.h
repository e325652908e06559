/* SPDX-License-Identifier: MIT */
/* privs.h -- whom xmuxd runs as: the plan, the state directory, the drop. */
#ifndef XMUX_PRIVS_H
#define XMUX_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/log.h"
#include "config/config.h"

/* Longest account name kept for the log line. */
#define PRIVS_NAME_MAX 64

/* What start-up decided about the process's ids (docs/security.md). */
struct privs {
    bool drop; /* root now: switch to uid/gid for good after binding */
    uid_t uid; /* the ids xmuxd runs with after start-up */
    gid_t gid;
    char name[PRIVS_NAME_MAX]; /* the user's name, for the log */
    /* When root is kept: "configured" (user = "root") or
     * "embedded-default" (no configuration file); else NULL. */
    const char *keep_root;
};

/* Decide whom xmuxd runs as, from cfg's user and group (looked up in the
 * system's account database here) and the ids the process has. embedded:
 * cfg is the embedded default. check: --check-config, so a user other
 * than the current one is not an error when not root. Returns 0, or
 * XE_CONFIG with one line "FILE[:LINE]: message" in err: a user or group
 * that does not exist, root without user in a configuration file, a
 * user other than the current one when not root. */
int privs_plan(const struct config *cfg,
               bool embedded,
               bool check,
               struct privs *p,
               struct buf *err);
/* Create state_dir (mode 0700) if missing. When p drops root, give
 * state_dir, and the files xmuxd or xmuxctl made there before as root
 * (the database and its -wal and -shm, certs/ and the generated
 * certificates and keys), to p's user and group; never through a
 * symbolic link, and never a file with more than one link. Returns 0, or
 * -errno with one line in err. */
int privs_prepare_state(const struct config *cfg,
                        const struct privs *p,
                        struct buf *err);
/* When p drops root: clear the supplementary groups, set the real,
 * effective and saved group and user ids to p's, check that root cannot
 * be regained, and that state_dir is usable by the user. Returns 0
 * (also when nothing is to change), or an error with one line in err;
 * the caller must then exit. */
int
privs_drop(const struct config *cfg, const struct privs *p, struct buf *err);
/* The one line event=privileges (WARN when root is kept). */
void privs_log(const struct privs *p, const struct logger *log);

#endif
