/* SPDX-License-Identifier: MIT */
/* config_limits.c -- the timeouts and limits groups, with their defaults. */
#include "config/config_int.h"

#include <stddef.h>

#include "base/err.h"

/* Defaults and bounds. The bounds refuse values that cannot work rather
 * than values that are merely unusual: XMPP needs stanzas of a few KiB
 * (a stream header, SASL with channel binding, a mux element of 4096
 * octets), and anything above 16 MiB per stanza invites memory
 * exhaustion by a single peer. */
#define LIM_STANZA_DEF    262144
#define LIM_STANZA_MIN    4096
#define LIM_STANZA_MAX    (16LL * 1024 * 1024)
#define LIM_PREAUTH_DEF   16384
#define LIM_DEPTH_DEF     32
#define LIM_DEPTH_MIN     8
#define LIM_DEPTH_MAX     256
#define LIM_PREAUTH_DEPTH 16
#define LIM_ATTRS_DEF     64
#define LIM_ATTRS_MIN     16
#define LIM_ATTRS_MAX     1024
#define LIM_PREAUTH_ATTRS 32
#define LIM_NAME_DEF      1024
#define LIM_NAME_MIN      256
#define LIM_NAME_MAX      65536
#define LIM_TEXT_MIN      256
#define LIM_CONNS_DEF     10000
#define LIM_CONNS_MAX     1000000
#define LIM_RATE_MAX      (1LL << 30)
#define LIM_BURST_MIN     1024

/* The limits of struct cfg_conn_limits, each read as an integer within
 * [min, max] (docs/limits.md gives the reasons for the defaults). */
enum conn_field { F_SIZE, F_U32, F_UNSIGNED };

static const struct {
    const char *name;
    size_t off;
    enum conn_field type;
    long long def, min, max;
} conn_keys[] = {
    {"connections_per_ip", offsetof(struct cfg_conn_limits, per_ip), F_SIZE,
     50, 0, LIM_CONNS_MAX},
    {"fd_reserve", offsetof(struct cfg_conn_limits, fd_reserve), F_SIZE, 32, 8,
     65536},
    {"c2s_rate", offsetof(struct cfg_conn_limits, c2s_rate), F_U32, 65536, 0,
     LIM_RATE_MAX},
    {"c2s_burst", offsetof(struct cfg_conn_limits, c2s_burst), F_U32, 262144,
     LIM_BURST_MIN, LIM_RATE_MAX},
    {"s2s_rate", offsetof(struct cfg_conn_limits, s2s_rate), F_U32, 0, 0,
     LIM_RATE_MAX},
    {"s2s_burst", offsetof(struct cfg_conn_limits, s2s_burst), F_U32,
     1LL << 20, LIM_BURST_MIN, LIM_RATE_MAX},
    {"stream_restarts", offsetof(struct cfg_conn_limits, restarts), F_UNSIGNED,
     4, 1, 16},
    /* RFC 6120 §6.4.5: at least 2 and no more than 5 retries. */
    {"sasl_failures", offsetof(struct cfg_conn_limits, sasl_failures),
     F_UNSIGNED, 5, 2, 5},
    {"output_queue_max", offsetof(struct cfg_conn_limits, output_queue),
     F_SIZE, 4LL << 20, 512LL << 10, 1LL << 30},
};
#define NCONNKEYS (sizeof(conn_keys) / sizeof(conn_keys[0]))

static void
conn_field_set(struct cfg_conn_limits *l, size_t i, long long v)
{
    void *p = (char *)l + conn_keys[i].off;
    switch (conn_keys[i].type) {
    case F_SIZE:
        *(size_t *)p = (size_t)v;
        break;
    case F_U32:
        *(uint32_t *)p = (uint32_t)v;
        break;
    case F_UNSIGNED:
    default:
        *(unsigned *)p = (unsigned)v;
        break;
    }
}

static int
read_conn_limits(struct cfg__ctx *cx,
                 const config_setting_t *g,
                 struct cfg_conn_limits *l)
{
    int rc = 0;
    for (size_t i = 0; i < NCONNKEYS && rc >= 0; i++) {
        long long v = conn_keys[i].def;
        rc = g ? cfg__get_int(cx, g, "limits", conn_keys[i].name, 0,
                              conn_keys[i].min, conn_keys[i].max, &v)
               : 0;
        if (rc >= 0)
            conn_field_set(l, i, v);
    }
    return rc < 0 ? rc : 0;
}

static const struct {
    const char *name;
    size_t off;
    uint32_t def_ms;
} timeout_keys[] = {
    {"negotiation", offsetof(struct cfg_timeouts, negotiation), 60000},
    {"close_wait", offsetof(struct cfg_timeouts, close_wait), 10000},
    {"idle", offsetof(struct cfg_timeouts, idle), 300000},
    {"dialback", offsetof(struct cfg_timeouts, dialback), 30000},
    {"authz", offsetof(struct cfg_timeouts, authz), 30000},
    {"iq_response", offsetof(struct cfg_timeouts, iq_response), 30000},
    {"secondary_close", offsetof(struct cfg_timeouts, secondary_close), 30000},
    {"connect", offsetof(struct cfg_timeouts, connect), 10000},
};
#define NTIMEOUTS (sizeof(timeout_keys) / sizeof(timeout_keys[0]))

static uint32_t *
timeout_field(struct cfg_timeouts *t, size_t i)
{
    return (uint32_t *)(void *)((char *)t + timeout_keys[i].off);
}

int
cfg__load_timeouts(struct cfg__ctx *cx, const config_setting_t *root)
{
    struct cfg_timeouts *t = &cx->cfg->timeouts;
    for (size_t i = 0; i < NTIMEOUTS; i++)
        *timeout_field(t, i) = timeout_keys[i].def_ms;
    const config_setting_t *g = NULL;
    int rc = cfg__get_group(cx, root, "", "timeouts", &g);
    if (rc <= 0)
        return rc;
    const char *keys[NTIMEOUTS + 1];
    for (size_t i = 0; i < NTIMEOUTS; i++)
        keys[i] = timeout_keys[i].name;
    keys[NTIMEOUTS] = NULL;
    rc = cfg__check_keys(cx, g, "timeouts", keys);
    for (size_t i = 0; i < NTIMEOUTS && rc >= 0; i++)
        rc = cfg__get_ms(cx, g, "timeouts", timeout_keys[i].name,
                         timeout_field(t, i));
    return rc < 0 ? rc : 0;
}

/* The limits as read, before they are split into pre- and post-auth. */
struct raw_limits {
    long long conns, stanza, preauth, depth, attrs, name, text;
};

/* A limit bounded by stanza_size, which is read first: the preauth stanza
 * size and the text length cannot exceed it. */
static int
get_below_stanza(struct cfg__ctx *cx,
                 const config_setting_t *g,
                 const char *name,
                 long long min,
                 long long stanza,
                 long long *out)
{
    int rc = cfg__get_int(cx, g, "limits", name, 0, min, LIM_STANZA_MAX, out);
    if (rc > 0 && *out > stanza)
        return cfg__error(cx, cfg__line(config_setting_get_member(g, name)),
                          "limits.%s: must be at most limits.stanza_size "
                          "(%lld), got %lld",
                          name, stanza, *out);
    return rc;
}

static const char *const limit_names[] = {
#define CFG_LIMIT_NAME(id, name) [CFG_LIMIT_##id] = (name),
    CFG_LIMIT_MAP(CFG_LIMIT_NAME)
#undef CFG_LIMIT_NAME
};

const char *
config_limit_name(enum cfg_limit l)
{
    if ((unsigned)l >= CFG_LIMIT_COUNT)
        return "?";
    return limit_names[l];
}

static int
read_limits(struct cfg__ctx *cx,
            const config_setting_t *g,
            struct raw_limits *r)
{
    static const char *const xml_keys[] = {
        "max_connections", "stanza_size", "stanza_size_preauth", "depth",
        "attributes",      "name_length", "text_length"};
    const char *keys[sizeof(xml_keys) / sizeof(xml_keys[0]) + NCONNKEYS + 1];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(xml_keys) / sizeof(xml_keys[0]); i++)
        keys[n++] = xml_keys[i];
    for (size_t i = 0; i < NCONNKEYS; i++)
        keys[n++] = conn_keys[i].name;
    keys[n] = NULL;
    int rc = cfg__check_keys(cx, g, "limits", keys);
    if (rc == 0)
        rc = cfg__get_int(cx, g, "limits", "max_connections", 0, 1,
                          LIM_CONNS_MAX, &r->conns);
    if (rc >= 0)
        rc = cfg__get_int(cx, g, "limits", "stanza_size", 0, LIM_STANZA_MIN,
                          LIM_STANZA_MAX, &r->stanza);
    if (rc >= 0)
        rc = get_below_stanza(cx, g, "stanza_size_preauth", LIM_STANZA_MIN,
                              r->stanza, &r->preauth);
    if (rc >= 0)
        rc = cfg__get_int(cx, g, "limits", "depth", 0, LIM_DEPTH_MIN,
                          LIM_DEPTH_MAX, &r->depth);
    if (rc >= 0)
        rc = cfg__get_int(cx, g, "limits", "attributes", 0, LIM_ATTRS_MIN,
                          LIM_ATTRS_MAX, &r->attrs);
    if (rc >= 0)
        rc = cfg__get_int(cx, g, "limits", "name_length", 0, LIM_NAME_MIN,
                          LIM_NAME_MAX, &r->name);
    if (rc >= 0)
        rc = get_below_stanza(cx, g, "text_length", LIM_TEXT_MIN, r->stanza,
                              &r->text);
    return rc < 0 ? rc : 0;
}

static size_t
min_sz(long long a, long long b)
{
    return (size_t)(a < b ? a : b);
}

int
cfg__load_limits(struct cfg__ctx *cx, const config_setting_t *root)
{
    /* -1: not given; derived from stanza_size below. */
    struct raw_limits r = {LIM_CONNS_DEF, LIM_STANZA_DEF, -1, LIM_DEPTH_DEF,
                           LIM_ATTRS_DEF, LIM_NAME_DEF,   -1};
    const config_setting_t *g = NULL;
    int rc = cfg__get_group(cx, root, "", "limits", &g);
    if (rc < 0)
        return rc;
    if (g != NULL && (rc = read_limits(cx, g, &r)) != 0)
        return rc;
    if ((rc = read_conn_limits(cx, g, &cx->cfg->conn_limits)) != 0)
        return rc;
    if (r.preauth < 0)
        r.preauth = (long long)min_sz(LIM_PREAUTH_DEF, r.stanza);
    /* A text run can never be longer than its stanza, so by default only
     * the stanza size bounds it. */
    if (r.text < 0)
        r.text = r.stanza;
    struct config *cfg = cx->cfg;
    cfg->max_connections = (size_t)r.conns;
    cfg->limits = (struct xml_limits){
        .max_depth = (size_t)r.depth,
        .max_attrs = (size_t)r.attrs,
        .max_name = (size_t)r.name,
        .max_text = (size_t)r.text,
        .max_stanza = (size_t)r.stanza,
    };
    /* Before authentication a peer is anonymous: nothing it may send then
     * (stream header, STARTTLS, SASL, dialback) nests deeply or carries
     * many attributes, and no name or text can exceed the preauth stanza
     * size. */
    cfg->limits_preauth = (struct xml_limits){
        .max_depth = min_sz(r.depth, LIM_PREAUTH_DEPTH),
        .max_attrs = min_sz(r.attrs, LIM_PREAUTH_ATTRS),
        .max_name = min_sz(r.name, r.preauth),
        .max_text = min_sz(r.text, r.preauth),
        .max_stanza = (size_t)r.preauth,
    };
    return 0;
}
