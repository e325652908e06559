/* SPDX-License-Identifier: MIT */
/* describe.c -- one key=value line per connection (xmuxctl connections). */
#include "io/io_int.h"

#include <stdarg.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"

/* A line being written: after the first failed append nothing more is
 * added, so a line cut by the buffer's limit never ends in '\n'. */
struct line {
    struct buf *out;
    int rc;
};

static void line_printf(struct line *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
line_printf(struct line *l, const char *fmt, ...)
{
    if (l->rc != 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    l->rc = buf_vprintf(l->out, fmt, ap);
    va_end(ap);
}

/* Append s (from a peer) as log_escape renders it: never a space, a
 * newline or a quote of its own, so the line stays one line of keys. */
static void
line_escaped(struct line *l, const char *s)
{
    if (l->rc != 0)
        return;
    size_t n = strlen(s);
    size_t cap = 4 * n + 8; /* every byte as \xNN, quotes, NUL */
    char *v = x_malloc(cap);
    line_printf(l, "%s", log_escape(v, cap, s, n));
    x_free(v);
}

/* "in" for a connection we accepted, "out" for one we initiated. */
static const char *
conn_dir(const struct conn *c)
{
    return c->st.initiating ? "out" : "in";
}

/* How the peer authenticated: the SASL mechanism that succeeded, else
 * dialback if some pair is valid, else none. */
static const char *
stream_auth_name(const struct stream *s)
{
    if (s->authenticated && s->sasl_mech != NULL) {
        if (strcmp(s->sasl_mech, "PLAIN") == 0)
            return "sasl-plain";
        if (strncmp(s->sasl_mech, "SCRAM-", 6) == 0)
            return "sasl-scram";
        if (strcmp(s->sasl_mech, "EXTERNAL") == 0)
            return "sasl-external";
        return "sasl";
    }
    if (s->auth == STREAM_AUTH_DIALBACK ||
        (s->s2s && !s->initiating &&
         dialback_pairs_count(&s->db, DIALBACK_IN, DIALBACK_ST_VALID) > 0))
        return "dialback";
    return "none";
}

static void
line_pair(struct line *l, bool *first, const char *sender, const char *target)
{
    if (!*first)
        line_printf(l, ",");
    *first = false;
    line_escaped(l, sender);
    line_printf(l, ">");
    line_escaped(l, target);
}

/* The domain pairs the peer may send over an incoming s2s stream: the
 * one SASL EXTERNAL authenticated, and every valid dialback pair. */
static void
line_pairs_in(struct line *l, const struct stream *s, bool *first)
{
    const char *sasl_from = NULL;
    if (s->authenticated && s->jid.str != NULL) {
        sasl_from = jid_str(&s->jid);
        line_pair(l, first, sasl_from, s->host->domain);
    }
    for (size_t i = 0; i < s->db.n; i++) {
        const struct dialback_pair *p = &s->db.v[i];
        if (p->role != DIALBACK_IN || p->state != DIALBACK_ST_VALID)
            continue;
        if (sasl_from != NULL && strcmp(p->sender, sasl_from) == 0 &&
            strcmp(p->target, s->host->domain) == 0)
            continue; /* already listed */
        line_pair(l, first, p->sender, p->target);
    }
}

/* The pairs we may send over a stream we initiated: its own once
 * negotiated, and every valid piggybacked one. */
static void
line_pairs_out(struct line *l, const struct stream *s, bool *first)
{
    if (s->state == STREAM_ST_SESSION)
        line_pair(l, first, s->host->domain, s->peer_domain);
    for (size_t i = 0; i < s->db.n; i++) {
        const struct dialback_pair *p = &s->db.v[i];
        if (p->role != DIALBACK_OUT || p->state != DIALBACK_ST_VALID ||
            (strcmp(p->sender, s->host->domain) == 0 &&
             strcmp(p->target, s->peer_domain) == 0))
            continue;
        line_pair(l, first, p->sender, p->target);
    }
}

/* " pairs=...": what the peer may send to us over a stream it opened,
 * what we may send over one we opened. */
static void
line_pairs(struct line *l, const struct stream *s)
{
    line_printf(l, " pairs=");
    bool first = true;
    if (s->s2s && s->initiating)
        line_pairs_out(l, s, &first);
    else if (s->s2s)
        line_pairs_in(l, s, &first);
    if (first)
        line_printf(l, "-");
}

/* Appends one line describing c, ending in '\n' (docs/control.md):
 *   conn=ID kind=c2s|s2s dir=in|out peer=IP:PORT state=S tls=yes|no
 *   auth=A mech=M bidi=yes|no jid=J pairs=P age_s=N bytes_in=N bytes_out=N
 * What came from the peer (JIDs, domains) is escaped with log_escape. If
 * out's limit is reached, out holds a part of the line without the final
 * '\n'. */
void
conn__describe(const struct conn *c, struct buf *out)
{
    const struct stream *s = &c->st;
    struct line l = {.out = out, .rc = 0};
    line_printf(&l, "conn=%llx kind=%s dir=%s peer=%s state=%s tls=%s auth=%s",
                (unsigned long long)c->id, s->s2s ? "s2s" : "c2s", conn_dir(c),
                c->peer[0] ? c->peer : "-", stream_state_name(s->state),
                s->tls ? "yes" : "no", stream_auth_name(s));
    line_printf(&l, " mech=%s bidi=%s jid=",
                s->authenticated && s->sasl_mech && s->sasl_mech[0]
                    ? s->sasl_mech
                    : "-",
                s->bidi ? "yes" : "no");
    if (s->jid.str != NULL)
        line_escaped(&l, jid_str(&s->jid));
    else if (s->initiating)
        line_escaped(&l, s->peer_domain); /* the domain we connected to */
    else
        line_printf(&l, "-");
    line_pairs(&l, s);
    uint64_t now = uv_now(c->srv->loop);
    line_printf(
        &l, " age_s=%llu bytes_in=%llu bytes_out=%llu\n",
        (unsigned long long)(now > c->started ? (now - c->started) / 1000 : 0),
        (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out);
}
