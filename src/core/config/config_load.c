/* SPDX-License-Identifier: MIT */
/* config_load.c -- the groups of the file: root, tls, c2s, listen, hosts. */
#include "config/config_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"

static const char *const kind_names[] = {"c2s", "c2s-tls", "s2s", "s2s-tls"};

const char *
config_listen_kind_name(enum cfg_listen_kind k)
{
    if ((unsigned)k >= sizeof(kind_names) / sizeof(kind_names[0]))
        return "?";
    return kind_names[k];
}

static int
load_log_level(struct cfg__ctx *cx, const config_setting_t *root)
{
    const char *v = NULL;
    int rc = cfg__get_str(cx, root, "", "log_level", 0, &v);
    if (rc <= 0)
        return rc;
    int lvl = log_level_parse(v);
    if (lvl < 0) {
        char q[80];
        return cfg__error(
            cx, cfg__line(config_setting_get_member(root, "log_level")),
            "log_level: unknown level %s (error, warn, info, "
            "debug or trace)",
            cfg__quote(q, sizeof(q), v));
    }
    cx->cfg->log_level = (enum log_level)lvl;
    return 0;
}

static int
load_tls(struct cfg__ctx *cx, const config_setting_t *root)
{
    static const char *const keys[] = {"ca_file", NULL};
    const config_setting_t *g = NULL;
    int rc = cfg__get_group(cx, root, "", "tls", &g);
    if (rc <= 0)
        return rc;
    rc = cfg__check_keys(cx, g, "tls", keys);
    if (rc != 0)
        return rc;
    rc = cfg__get_path(cx, g, "tls", "ca_file", &cx->cfg->tls_ca_file);
    return rc < 0 ? rc : 0;
}

static int
load_c2s(struct cfg__ctx *cx, const config_setting_t *root)
{
    static const char *const keys[] = {"mux", "mux_allow_domain_jids",
                                       "allow_plain", NULL};
    const config_setting_t *g = NULL;
    int rc = cfg__get_group(cx, root, "", "c2s", &g);
    if (rc <= 0)
        return rc;
    rc = cfg__check_keys(cx, g, "c2s", keys);
    if (rc == 0)
        rc = cfg__get_bool(cx, g, "c2s", "mux", &cx->cfg->c2s.mux);
    if (rc >= 0)
        rc = cfg__get_bool(cx, g, "c2s", "mux_allow_domain_jids",
                           &cx->cfg->c2s.mux_allow_domain_jids);
    if (rc >= 0)
        rc = cfg__get_bool(cx, g, "c2s", "allow_plain",
                           &cx->cfg->c2s.allow_plain);
    return rc < 0 ? rc : 0;
}

int
cfg__load_root(struct cfg__ctx *cx, const config_setting_t *root)
{
    static const char *const keys[] = {
        "state_dir", "log_level", "listen",   "tls",    "hosts",
        "s2s",       "c2s",       "timeouts", "limits", "control_socket",
        "sm",        "user",      "group",    "threads", "poll_spin", NULL};
    int rc = cfg__check_keys(cx, root, "", keys);
    if (rc == 0)
        rc = cfg__get_path(cx, root, "", "state_dir", &cx->cfg->state_dir);
    if (rc >= 0) {
        long long n = cx->cfg->threads;
        rc = cfg__get_int(cx, root, "", "threads", 0, 1, CFG_THREADS_MAX, &n);
        cx->cfg->threads = (unsigned)n;
    }
    if (rc >= 0) {
        long long n = cx->cfg->poll_spin_us;
        rc = cfg__get_int(cx, root, "", "poll_spin", 0, 0, 10000, &n);
        cx->cfg->poll_spin_us = (uint32_t)n;
    }
    if (rc >= 0)
        rc = load_log_level(cx, root);
    if (rc == 0)
        rc = cfg__load_user(cx, root);
    if (rc == 0)
        rc = load_tls(cx, root);
    if (rc == 0)
        rc = load_c2s(cx, root);
    if (rc == 0)
        rc = cfg__load_listen(cx, root);
    if (rc == 0)
        rc = cfg__load_hosts(cx, root);
    if (rc == 0)
        rc = cfg__load_s2s(cx, root);
    if (rc == 0)
        rc = cfg__load_timeouts(cx, root);
    if (rc == 0)
        rc = cfg__load_limits(cx, root);
    if (rc == 0)
        rc = cfg__load_control(cx, root);
    if (rc == 0)
        rc = cfg__load_sm(cx, root);
    return rc;
}

/* --- listen ------------------------------------------------------------ */

/* A listener's address in binary, to compare spellings of one address. */
struct bin_addr {
    int family;
    unsigned char a[16];
};

static bool
parse_addr(const char *s, struct bin_addr *out)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, s, out->a) == 1) {
        out->family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, out->a) == 1) {
        out->family = AF_INET6;
        return true;
    }
    return false;
}

static bool
addr_is_any(const struct bin_addr *b)
{
    static const unsigned char zero[16];
    return memcmp(b->a, zero, b->family == AF_INET ? 4 : 16) == 0;
}

static int
load_kind(struct cfg__ctx *cx,
          const config_setting_t *g,
          const char *key,
          enum cfg_listen_kind *out)
{
    const char *v = NULL;
    int rc = cfg__get_str(cx, g, key, "kind", CFG_REQ, &v);
    if (rc < 0)
        return rc;
    for (unsigned k = 0; k < sizeof(kind_names) / sizeof(kind_names[0]); k++) {
        if (strcmp(v, kind_names[k]) == 0) {
            *out = (enum cfg_listen_kind)k;
            return 0;
        }
    }
    char q[80];
    return cfg__error(cx, cfg__line(config_setting_get_member(g, "kind")),
                      "%s.kind: unknown kind %s (c2s, c2s-tls, s2s or "
                      "s2s-tls)",
                      key, cfg__quote(q, sizeof(q), v));
}

static int
load_listener(struct cfg__ctx *cx, const config_setting_t *l, unsigned i)
{
    static const char *const keys[] = {"kind", "address", "port", NULL};
    const config_setting_t *g = NULL;
    char key[CFG_KEY_MAX];
    int rc = cfg__list_group(cx, l, "listen", i, &g, key, sizeof(key));
    if (rc != 0)
        return rc;
    struct cfg_listen *ls = &cx->cfg->listen[i];
    ls->line = cfg__line(g);
    rc = cfg__check_keys(cx, g, key, keys);
    if (rc == 0)
        rc = load_kind(cx, g, key, &ls->kind);
    const char *addr = NULL;
    if (rc == 0)
        rc = cfg__get_str(cx, g, key, "address", CFG_REQ, &addr);
    long long port = 0;
    if (rc >= 0)
        rc = cfg__get_int(cx, g, key, "port", CFG_REQ, 1, 65535, &port);
    if (rc < 0)
        return rc;
    struct bin_addr b;
    if (!parse_addr(addr, &b)) {
        char q[80];
        return cfg__error(cx,
                          cfg__line(config_setting_get_member(g, "address")),
                          "%s.address: not an IPv4 or IPv6 address %s", key,
                          cfg__quote(q, sizeof(q), addr));
    }
    ls->address = x_strdup(addr);
    ls->port = (uint16_t)port;
    return 0;
}

/* Two listeners clash on one port if their addresses are equal or one is
 * the wildcard of the same family: bind() would fail for the second. */
static int
check_listen_dups(struct cfg__ctx *cx)
{
    const struct config *cfg = cx->cfg;
    for (size_t i = 1; i < cfg->nlisten; i++) {
        struct bin_addr a;
        parse_addr(cfg->listen[i].address, &a);
        for (size_t j = 0; j < i; j++) {
            struct bin_addr b;
            parse_addr(cfg->listen[j].address, &b);
            if (cfg->listen[i].port != cfg->listen[j].port ||
                a.family != b.family)
                continue;
            if (memcmp(a.a, b.a, sizeof(a.a)) != 0 && !addr_is_any(&a) &&
                !addr_is_any(&b))
                continue;
            bool v6 = a.family == AF_INET6;
            return cfg__error(cx, cfg->listen[i].line,
                              "listen[%zu]: %s%s%s:%u clashes with "
                              "listen[%zu] (line %d)",
                              i, v6 ? "[" : "", cfg->listen[i].address,
                              v6 ? "]" : "", (unsigned)cfg->listen[i].port, j,
                              cfg->listen[j].line);
        }
    }
    return 0;
}

int
cfg__load_listen(struct cfg__ctx *cx, const config_setting_t *root)
{
    const config_setting_t *l = NULL;
    int rc = cfg__get_list(cx, root, "", "listen", &l);
    if (rc < 0)
        return rc;
    if (l == NULL)
        return cfg__error(cx, 0, "listen: missing (no listeners)");
    unsigned n = (unsigned)config_setting_length(l);
    if (n == 0)
        return cfg__error(cx, cfg__line(l), "listen: no listeners");
    cx->cfg->listen = x_calloc(n, sizeof(*cx->cfg->listen));
    for (unsigned i = 0; i < n; i++) {
        /* Counted first, so config_free releases a half-filled entry. */
        cx->cfg->nlisten = i + 1;
        rc = load_listener(cx, l, i);
        if (rc != 0)
            return rc;
    }
    return check_listen_dups(cx);
}
