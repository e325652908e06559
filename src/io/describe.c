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

/* A domain set as NAME+NAME..., wildcards as their pattern, without the
 * members of minus; false (nothing written) if it is empty. */
static bool
line_set(struct line *l, const struct domset *d, const struct domset *minus)
{
    bool any = false;
    for (size_t i = 0; i < d->n; i++) {
        if (minus != NULL && domset_has(minus, d->v[i]))
            continue;
        line_printf(l, any ? "+" : "");
        line_escaped(l, d->v[i]);
        any = true;
    }
    for (size_t i = 0; i < d->nw; i++) {
        line_printf(l, any ? "+" : "");
        line_escaped(l, d->w[i]);
        any = true;
    }
    return any;
}

static bool
set_is(const struct domset *d, const struct domset *minus, const char *one)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++)
        if (minus == NULL || !domset_has(minus, d->v[i]))
            n += strcmp(d->v[i], one) == 0 ? 1 : 2;
    return n == 1 && d->nw == 0;
}

static void
line_sep(struct line *l, bool *first)
{
    if (!*first)
        line_printf(l, ",");
    *first = false;
}

static bool
set_empty(const struct domset *d, const struct domset *minus)
{
    if (d->nw > 0)
        return false;
    for (size_t i = 0; i < d->n; i++)
        if (minus == NULL || !domset_has(minus, d->v[i]))
            return false;
    return true;
}

/* One entry SENDERS>TARGETS/how, the product of two sets less what minus
 * holds (MUX.md §6): skipped if empty, or if it is the stream's own pair
 * alone (listed as /host already). */
static void
line_product(struct line *l,
             bool *first,
             const struct domset *snd,
             const struct domset *tgt,
             const struct domset *minus,
             const char *own_s,
             const char *own_t,
             const char *how)
{
    if (set_empty(snd, minus) || set_empty(tgt, minus))
        return;
    if (own_s != NULL && own_t != NULL && set_is(snd, minus, own_s) &&
        set_is(tgt, minus, own_t))
        return;
    line_sep(l, first);
    line_set(l, snd, minus);
    line_printf(l, ">");
    line_set(l, tgt, minus);
    line_printf(l, "/%s", how);
}

static void
line_pair(struct line *l,
          bool *first,
          const char *sender,
          const char *target,
          const char *how)
{
    line_sep(l, first);
    line_escaped(l, sender);
    line_printf(l, ">");
    line_escaped(l, target);
    line_printf(l, "/%s", how);
}

/* Dialback pairs of a role that are valid; reversed for the other
 * direction of a bidi stream. Skips the stream's own pair if skip. */
static void
line_dialback(struct line *l,
              bool *first,
              const struct stream *s,
              enum dialback_role role,
              bool reverse,
              const char *skip_s,
              const char *skip_t)
{
    for (size_t i = 0; i < s->db.n; i++) {
        const struct dialback_pair *p = &s->db.v[i];
        if (p->role != role || p->state != DIALBACK_ST_VALID)
            continue;
        if (skip_s != NULL && skip_t != NULL &&
            strcmp(p->sender, skip_s) == 0 &&
            strcmp(p->target, skip_t) == 0)
            continue; /* already listed */
        if (reverse)
            line_pair(l, first, p->target, p->sender, "dialback");
        else
            line_pair(l, first, p->sender, p->target, "dialback");
    }
}

/* The multiplexed pairs of an authenticated stream in one direction. The
 * initiator's side is snd, the receiver's tgt (which holds the hosts
 * joined by a secret too); own_a>own_b is the stream's own pair. */
static void
line_mux_pairs(struct line *l,
               bool *first,
               const struct stream *s,
               bool back,
               const char *own_a,
               const char *own_b)
{
    const struct domset *a = &s->snd, *b = &s->tgt, *g = &s->granted;
    if (!back) {
        line_product(l, first, a, b, g, own_a, own_b, "cert");
        if (g->n > 0)
            line_product(l, first, a, g, NULL, NULL, NULL, "secret");
    } else {
        line_product(l, first, b, a, g, own_b, own_a, "cert");
        if (g->n > 0)
            line_product(l, first, g, a, NULL, NULL, NULL, "secret");
    }
}

/* What travels over an s2s stream, in one direction: SENDER>TARGET/how,
 * how being host (the stream's own pair: its 'from' authenticated by SASL
 * or dialback and its 'to'), cert (multiplexed by the certificate and
 * host list, SND x TGT), secret (a host joined by connection
 * authorization) or dialback (a piggybacked pair). back: the reverse
 * direction of a bidi stream. */
static void
line_pairs_dir(struct line *l, const struct stream *s, bool back)
{
    bool first = true;
    const char *us = s->host->domain, *them = NULL;
    if (s->initiating && s->state == STREAM_ST_SESSION)
        them = s->peer_domain;
    else if (!s->initiating && s->authenticated && s->jid.str != NULL)
        them = jid_str(&s->jid);
    bool ours = s->initiating != back; /* our domains send */
    if (them != NULL)
        line_pair(l, &first, ours ? us : them, ours ? them : us, "host");
    if (s->authenticated && s->state == STREAM_ST_SESSION)
        line_mux_pairs(l, &first, s, back, s->initiating ? us : them,
                       s->initiating ? them : us);
    enum dialback_role role = s->initiating ? DIALBACK_OUT : DIALBACK_IN;
    line_dialback(l, &first, s, role, back,
                  s->initiating ? us : them, s->initiating ? them : us);
    if (first)
        line_printf(l, "-");
}

/* " pairs=... back=...": what goes over an s2s stream in the direction
 * of whoever opened it, and back over it with bidi. */
static void
line_pairs(struct line *l, const struct stream *s)
{
    line_printf(l, " pairs=");
    if (!s->s2s) {
        line_printf(l, "- back=-");
        return;
    }
    line_pairs_dir(l, s, false);
    line_printf(l, " back=");
    if (s->bidi)
        line_pairs_dir(l, s, true);
    else
        line_printf(l, "-");
}

/* Appends one line describing c, ending in '\n' (docs/control.md):
 *   conn=ID kind=c2s|s2s dir=in|out peer=IP:PORT state=S tls=yes|no
 *   auth=A mech=M bidi=yes|no jid=J pairs=P back=P age_s=N bytes_in=N
 *   bytes_out=N worker=N
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
    uint64_t now = server__now(c->srv);
    line_printf(
        &l, " age_s=%llu bytes_in=%llu bytes_out=%llu worker=%u\n",
        (unsigned long long)(now > c->started ? (now - c->started) / 1000 : 0),
        (unsigned long long)c->bytes_in, (unsigned long long)c->bytes_out,
        c->w->idx);
}
