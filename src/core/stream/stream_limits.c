/* SPDX-License-Identifier: MIT */
/* stream_limits.c -- limits hit on a stream, and the limits a stream
 * announces and learns (XEP-0478 Stream Limits Advertisement). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "stream/stream_int.h"

/* Longest detail of a limit line. */
#define LIMIT_DETAIL_MAX 160
/* Digits of a number in <max-bytes/> or <idle-seconds/> we read: more
 * than any limit we could keep to (a peer saying 10^12 says "none"). */
#define PEER_LIMIT_DIGITS 9

void
stream__limit(struct stream *s, enum cfg_limit what, const char *fmt, ...)
{
    char detail[LIMIT_DETAIL_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (n < 0)
        detail[0] = '\0';
    if (s->ctx->ops && s->ctx->ops->limit) {
        s->ctx->ops->limit(s->ctx->ops_arg, s, what, detail);
        return;
    }
    log_msg(s->ctx->log, LOG_WARN, s->conn, "event=limit what=%s %s",
            config_limit_name(what), detail);
}

static void
add_number(struct stanza *parent, const char *name, unsigned long long v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%llu", v);
    stanza_add_text(stanza_add_child(parent, NULL, name), num, (size_t)n);
}

/* What the peer may send us from now on: before authentication the
 * tighter preauth stanza size. idle-seconds only where an idle stream
 * is closed (s2s, timeouts.idle); a client stream is never closed for
 * being quiet. */
void
stream__limits_feature(struct stream *s, struct stanza *features)
{
    const struct config *cfg = s->ctx->cfg;
    const struct xml_limits *lim =
        s->authenticated ? &cfg->limits : &cfg->limits_preauth;
    struct stanza *l = stanza_add_child(features, NS_STREAM_LIMITS, "limits");
    add_number(l, "max-bytes", lim->max_stanza);
    if (s->s2s)
        add_number(l, "idle-seconds", cfg->timeouts.idle / 1000);
}

/* A positive decimal of at most PEER_LIMIT_DIGITS digits (XML
 * whitespace around it allowed); 0 if the text is anything else. */
static unsigned long
peer_number(const struct stanza *el)
{
    size_t n = 0;
    const char *t = stanza_text(el, &n);
    size_t i = 0, digits = 0;
    unsigned long v = 0;
    while (t && i < n && strchr(" \t\r\n", t[i]) != NULL)
        i++;
    for (; t && i < n && t[i] >= '0' && t[i] <= '9'; i++) {
        if (++digits > PEER_LIMIT_DIGITS)
            return 0;
        v = v * 10 + (unsigned long)(t[i] - '0');
    }
    while (t && i < n && strchr(" \t\r\n", t[i]) != NULL)
        i++;
    return i == n ? v : 0;
}

/* Each announcement replaces the previous one (the limits may change
 * after authentication); a value missing or unreadable means none. */
void
stream__read_peer_limits(struct stream *s, const struct stanza *features)
{
    const struct stanza *l = stanza_child(features, NS_STREAM_LIMITS, "limits");
    if (l == NULL)
        return;
    const struct stanza *mb = stanza_child(l, NS_STREAM_LIMITS, "max-bytes");
    const struct stanza *idle =
        stanza_child(l, NS_STREAM_LIMITS, "idle-seconds");
    s->peer_max_bytes = mb ? peer_number(mb) : 0;
    s->peer_idle_s = idle ? (uint32_t)peer_number(idle) : 0;
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=peer-limits max_bytes=%zu idle_seconds=%u to=%s",
            s->peer_max_bytes, (unsigned)s->peer_idle_s,
            s->peer_domain ? s->peer_domain : "-");
}
