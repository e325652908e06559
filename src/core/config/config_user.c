/* SPDX-License-Identifier: MIT */
/* config_user.c -- user and group: whom xmuxd runs as once it has started. */
#include "config/config_int.h"

#include <string.h>

#include "base/alloc.h"
#include "base/err.h"

/* Longest user or group name we accept (Debian's useradd allows 32). */
#define CFG_ACCOUNT_MAX 32

/* A name as useradd and groupadd make them: letters, digits, '.', '_'
 * and '-', not starting with '-' (it would read as an option) and not
 * all digits (it would read as an id). The names are looked up when
 * xmuxd starts (src/daemon/privs.c), not here: loading touches no
 * system database. */
static bool
account_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CFG_ACCOUNT_MAX || s[0] == '-')
        return false;
    bool digits_only = true;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool digit = c >= '0' && c <= '9';
        bool ok = digit || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
        digits_only = digits_only && digit;
    }
    return !digits_only;
}

/* Read one of the two keys into *dst and *line. */
static int
load_name(struct cfg__ctx *cx,
          const config_setting_t *root,
          const char *key,
          char **dst,
          int *line)
{
    const char *v = NULL;
    int rc = cfg__get_str(cx, root, "", key, 0, &v);
    if (rc <= 0)
        return rc;
    *line = cfg__line(config_setting_get_member(root, key));
    if (!account_name_ok(v)) {
        char q[80];
        return cfg__error(cx, *line,
                          "%s: invalid name %s (letters, digits, '.', '_' "
                          "and '-', at most %d, not all digits)",
                          key, cfg__quote(q, sizeof(q), v), CFG_ACCOUNT_MAX);
    }
    *dst = x_strdup(v);
    return 0;
}

int
cfg__load_user(struct cfg__ctx *cx, const config_setting_t *root)
{
    struct config *cfg = cx->cfg;
    int rc = load_name(cx, root, "user", &cfg->user, &cfg->user_line);
    if (rc == 0)
        rc = load_name(cx, root, "group", &cfg->group, &cfg->group_line);
    if (rc == 0 && cfg->group != NULL && cfg->user == NULL)
        rc = cfg__error(cx, cfg->group_line,
                        "group: needs user (the group alone is never "
                        "switched to)");
    return rc;
}
