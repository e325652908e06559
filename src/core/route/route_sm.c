/* SPDX-License-Identifier: MIT */
/* route_sm.c -- resumption of broken s2s streams (XEP-0198 between
 * servers, docs/sm.md): what each side keeps of a stream that broke, the
 * new stream's <resume/>, and the stanzas the peer turns out to have
 * handled already, taken back out of their pairs' queues. */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "route/route_int.h"

static uint64_t
now_ms(const struct router *r)
{
    return r->s2s_ops && r->s2s_ops->now ? r->s2s_ops->now(r->s2s_arg) : 0;
}

static void
rec_free(struct route_sm_rec *rec)
{
    for (size_t i = 0; i < rec->n; i++)
        stanza_unref(rec->v[i]);
    x_free(rec->v);
    x_free(rec);
}

static void
rec_unlink(struct router *r, struct route_sm_rec *rec)
{
    struct route_sm_rec **pp = &r->sm_recs;
    while (*pp && *pp != rec)
        pp = &(*pp)->next;
    if (*pp)
        *pp = rec->next;
}

void
route__sm_keep(struct router *r, struct stream *s, struct stanza **v, size_t n)
{
    const char *id;
    uint32_t h_in, acked;
    if (s->peer_domain == NULL || !stream_sm_state(s, &id, &h_in, &acked) ||
        (s->initiating && n == 0))
        return;
    struct route_sm_rec *rec = x_calloc(1, sizeof(*rec));
    rec->initiating = s->initiating;
    snprintf(rec->peer, sizeof(rec->peer), "%s", s->peer_domain);
    snprintf(rec->id, sizeof(rec->id), "%s", id);
    rec->h_in = h_in;
    rec->acked = acked;
    rec->deadline = now_ms(r) + r->cfg->sm.resume_timeout;
    if (s->initiating) {
        rec->v = x_calloc(n, sizeof(struct stanza *));
        for (size_t i = 0; i < n; i++)
            rec->v[i] = stanza_ref(v[i]);
        rec->n = n;
    }
    rec->next = r->sm_recs;
    r->sm_recs = rec;
    log_msg(r->log, LOG_INFO, s->conn,
            "event=sm-kept role=%s peer=%s unacked=%zu",
            s->initiating ? "initiating" : "receiving", rec->peer, n);
}

int
router_sm_s2s_previous(struct router *r,
                       struct stream *s,
                       const char **previd,
                       uint32_t *h)
{
    for (struct route_sm_rec *rec = r->sm_recs; rec; rec = rec->next) {
        /* The same peer server: the old stream's 'to', or a host the
         * new stream may reach (a multiplexed stream opened for another
         * pair of the same two servers). */
        if (!rec->initiating || rec->claim != NULL ||
            (strcmp(rec->peer, s->peer_domain) != 0 &&
             !domset_has(&s->tgt, rec->peer)))
            continue;
        rec->claim = s;
        *previd = rec->id;
        *h = rec->h_in;
        return 0;
    }
    return XE_NOTFOUND;
}

/* Take st out of its pair's queue if it is still waiting there. */
static void
unqueue(struct router *r, struct stanza *st)
{
    char sd[JID_DOMAIN_BUFSZ], td[JID_DOMAIN_BUFSZ];
    if (!route__attr_domain(st, "from", sd) ||
        !route__attr_domain(st, "to", td))
        return;
    struct route_pair *p = route__pair_find(r, sd, td);
    if (p != NULL)
        route__pair_unqueue(p, st);
}

int
router_sm_s2s_resumed(struct router *r, struct stream *s, bool ok, uint32_t h)
{
    struct route_sm_rec *rec = r->sm_recs;
    while (rec && rec->claim != s)
        rec = rec->next;
    if (rec == NULL)
        return XE_NOTFOUND;
    rec_unlink(r, rec);
    int rc = 0;
    uint32_t k = h - rec->acked;
    if (ok && k > rec->n) {
        rc = XE_PROTO; /* more than was sent: keep everything */
    } else if (ok) {
        /* The peer handled these before the break: not again. */
        for (uint32_t i = 0; i < k; i++)
            unqueue(r, rec->v[i]);
        r->counts.sm_s2s_resumed++;
        r->counts.sm_s2s_spared += k;
        log_msg(r->log, LOG_INFO, s->conn,
                "event=sm-resumed role=initiating peer=%s handled=%u "
                "resent=%zu",
                rec->peer, (unsigned)k, rec->n - k);
    }
    rec_free(rec);
    return rc;
}

int
router_sm_s2s_resume(struct router *r, struct stream *s, const char *previd)
{
    if (s->peer_domain == NULL)
        return XE_NOTFOUND;
    for (struct route_sm_rec *rec = r->sm_recs; rec; rec = rec->next) {
        /* Only for the same peer: the old stream's 'from' is this one's,
         * or a sender its certificate proved (mux). */
        if (rec->initiating || strcmp(rec->id, previd) != 0 ||
            (strcmp(rec->peer, s->peer_domain) != 0 &&
             !domset_has(&s->snd, rec->peer)))
            continue;
        rec_unlink(r, rec);
        int rc = stream_sm_s2s_resumed(s, rec->id, rec->h_in);
        rec_free(rec);
        return rc;
    }
    /* The old stream may still look alive here (the peer saw the break
     * first): it ends now, and its state goes on on s. */
    for (struct route_link *l = r->s2s_head; l; l = l->next) {
        struct stream *old = l->s;
        const char *id;
        uint32_t h_in, acked;
        if (old == s || old->initiating || old->peer_domain == NULL ||
            !stream_sm_state(old, &id, &h_in, &acked) ||
            strcmp(id, previd) != 0 ||
            (strcmp(old->peer_domain, s->peer_domain) != 0 &&
             !domset_has(&s->snd, old->peer_domain)))
            continue;
        char keep[2 * STREAM_ID_BYTES + 1];
        snprintf(keep, sizeof(keep), "%s", id);
        stream_sm_forget(old);
        stream_kill(old, SC_CONFLICT, "stream resumed elsewhere");
        return stream_sm_s2s_resumed(s, keep, h_in);
    }
    return XE_NOTFOUND;
}

void
route__sm_gone(struct router *r, const struct stream *s)
{
    for (struct route_sm_rec *rec = r->sm_recs; rec; rec = rec->next)
        if (rec->claim == s)
            rec->claim = NULL;
}

void
route__sm_tick(struct router *r)
{
    uint64_t now = now_ms(r);
    struct route_sm_rec **pp = &r->sm_recs;
    while (*pp) {
        struct route_sm_rec *rec = *pp;
        if (now < rec->deadline || rec->claim != NULL) {
            pp = &rec->next;
            continue;
        }
        *pp = rec->next;
        rec_free(rec);
    }
}

void
route__sm_free(struct router *r)
{
    while (r->sm_recs) {
        struct route_sm_rec *rec = r->sm_recs;
        r->sm_recs = rec->next;
        rec_free(rec);
    }
}
