/* SPDX-License-Identifier: MIT */
/* route_s2s.c -- stanzas to other servers: the domain-pair route table,
 * queues while a stream is set up, bounces, and dialback verification
 * through the authoritative server (RFC 6120 §8.3, §10.4; XEP-0220;
 * MUX.md §6.5, §11, §12.2). */
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "route/route_int.h"

/* --- streams the router knows ------------------------------------------- */

void
router_s2s_attach(struct router *r, struct stream *s)
{
    if (s->route_data != NULL)
        return;
    struct route_link *l = x_calloc(1, sizeof(*l));
    l->s = s;
    /* Oldest first: §6.5 prefers the oldest stream that may carry a pair. */
    l->prev = r->s2s_tail;
    if (r->s2s_tail)
        r->s2s_tail->next = l;
    else
        r->s2s_head = l;
    r->s2s_tail = l;
    s->route_data = l;
    s->bound = true;
}

static uint64_t
now_ms(const struct router *r)
{
    return r->s2s_ops && r->s2s_ops->now ? r->s2s_ops->now(r->s2s_arg) : 0;
}

/* --- pairs ---------------------------------------------------------------- */

static size_t
pair_key(char *k, const char *sender, const char *target)
{
    size_t a = strlen(sender), b = strlen(target);
    memcpy(k, sender, a);
    k[a] = ' ';
    memcpy(k + a + 1, target, b);
    k[a + 1 + b] = '\0';
    return a + 1 + b;
}

/* A pair's stream slot when max_connections_per_peer > 1 (MUX.md §6.6):
 * FNV-1a over "sender target", finished with murmur3's fmix32 so that
 * every bit counts. Deterministic, so a pair keeps its slot over time. */
static unsigned
pair_slot(const char *key, size_t n, unsigned max)
{
    if (max <= 1)
        return 0;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)key[i];
        h *= 16777619u;
    }
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h % max;
}

static struct route_pair *
pair_get(struct router *r, const char *sender, const char *target, bool make)
{
    /* Stanzas come in runs for one pair: comparing two short strings
     * costs less than hashing the key. */
    struct route_pair *last = r->last_pair;
    if (last != NULL && strcmp(last->target, target) == 0 &&
        strcmp(last->sender, sender) == 0)
        return last;
    char k[2 * JID_DOMAIN_BUFSZ + 2];
    size_t n = pair_key(k, sender, target);
    struct route_pair *p = (struct route_pair *)route__tab_find(&r->pairs, k, n);
    if (p != NULL)
        r->last_pair = p;
    if (p != NULL || !make)
        return p;
    p = x_calloc(1, sizeof(*p));
    p->key = x_strndup(k, n);
    p->klen = n;
    p->sender = x_strdup(sender);
    p->target = x_strdup(target);
    p->slot = pair_slot(k, n, r->cfg->s2s.max_connections_per_peer);
    route__tab_insert(&r->pairs, &p->node, p->key, p->klen);
    r->last_pair = p;
    return p;
}

struct route_pair *
route__pair_find(struct router *r, const char *sender, const char *target)
{
    return pair_get(r, sender, target, false);
}

void
route__pair_unqueue(struct route_pair *p, const struct stanza *st)
{
    for (size_t i = 0; i < p->qn; i++) {
        size_t at = (p->qhead + i) % p->qcap;
        if (p->q[at] != st)
            continue;
        stanza_unref(p->q[at]);
        for (size_t j = i; j + 1 < p->qn; j++)
            p->q[(p->qhead + j) % p->qcap] = p->q[(p->qhead + j + 1) % p->qcap];
        p->qn--;
        return;
    }
}

static void
pair_free(struct route_pair *p)
{
    for (size_t i = 0; i < p->qn; i++)
        stanza_unref(p->q[(p->qhead + i) % p->qcap]);
    x_free(p->q);
    x_free(p->key);
    x_free(p->sender);
    x_free(p->target);
    x_free(p);
}

/* Put p on carrier s (NULL: on none). */
static void
pair_attach(struct route_pair *p, struct stream *s)
{
    struct route_link *l = s ? s->route_data : NULL;
    if (p->carrier != NULL) {
        struct route_link *old = p->carrier->route_data;
        struct route_pair **pp = &old->pairs;
        while (*pp && *pp != p)
            pp = &(*pp)->next_on;
        if (*pp)
            *pp = p->next_on;
        p->next_on = NULL;
        p->carrier = NULL;
    }
    if (l == NULL)
        return;
    p->carrier = s;
    p->next_on = l->pairs;
    l->pairs = p;
}

static bool
queue_push(struct route_pair *p, struct stanza *st)
{
    if (p->qn == ROUTE_S2S_QUEUE_MAX)
        return false;
    if (p->qn == p->qcap) {
        size_t ncap = p->qcap ? 2 * p->qcap : 16;
        struct stanza **nq = x_calloc(ncap, sizeof(struct stanza *));
        for (size_t i = 0; i < p->qn; i++)
            nq[i] = p->q[(p->qhead + i) % p->qcap];
        x_free(p->q);
        p->q = nq;
        p->qcap = ncap;
        p->qhead = 0;
    }
    p->q[(p->qhead + p->qn) % p->qcap] = stanza_ref(st);
    p->qn++;
    return true;
}

/* Put st back before what waits (a stanza the broken stream never had
 * acknowledged goes first). */
static bool
queue_push_front(struct route_pair *p, struct stanza *st)
{
    if (!queue_push(p, st))
        return false;
    /* Rotate the newcomer from the tail to the head. */
    size_t tail = (p->qhead + p->qn - 1) % p->qcap;
    p->qhead = (p->qhead + p->qcap - 1) % p->qcap;
    struct stanza *x = p->q[tail];
    p->q[tail] = p->q[p->qhead];
    p->q[p->qhead] = x;
    return true;
}

static struct stanza *
queue_pop(struct route_pair *p)
{
    if (p->qn == 0)
        return NULL;
    struct stanza *st = p->q[p->qhead];
    p->qhead = (p->qhead + 1) % p->qcap;
    p->qn--;
    return st;
}

/* --- bounces ---------------------------------------------------------------- */

static void dispatch_remote_reply(struct router *r, struct stanza *st);

/* Tell the local sender of st that it could not be delivered (RFC 6120
 * §8.3); errors are never answered with errors, nor IQ results with
 * anything (RFC 6120 §8.2.3). */
static void
bounce(struct router *r, const struct stanza *st, enum stanza_cond c)
{
    const char *type = stanza_attr(st, "type");
    if (type != NULL &&
        (strcmp(type, "error") == 0 ||
         (strcmp(type, "result") == 0 && strcmp(stanza_name(st), "iq") == 0)))
        return;
    r->counts.bounced++;
    struct stanza *e = stanza_error_reply(st, c, NULL);
    dispatch_remote_reply(r, e);
    stanza_unref(e);
}

static void
pair_bounce_all(struct router *r, struct route_pair *p, enum stanza_cond c)
{
    if (p->qn > 0)
        log_msg(r->log, LOG_INFO, 0,
                "event=s2s-bounce sender=%s target=%s stanzas=%zu cond=%s",
                p->sender, p->target, p->qn, stanza_cond_name(c));
    struct stanza *st;
    while ((st = queue_pop(p)) != NULL) {
        bounce(r, st, c);
        stanza_unref(st);
    }
}

/* Drop a pair that has no stream and nothing queued. */
static void
pair_maybe_free(struct router *r, struct route_pair *p)
{
    if (p->carrier != NULL || p->qn > 0 || p->m3_wait)
        return;
    route__tab_remove(&r->pairs, &p->node);
    route__tab_shrink(&r->pairs);
    if (r->last_pair == p)
        r->last_pair = NULL;
    pair_free(p);
}

/* --- choosing a stream (MUX.md §6.5 without mux) ---------------------------- */

static void pair_flush(struct router *r, struct route_pair *p);

/* A stream of p's slot we are still setting up towards the server that
 * cover reaches, or NULL. */
static struct stream *
slot_opening(struct router *r,
             const struct route_pair *p,
             const struct stream *skip,
             const struct stream *cover)
{
    for (struct route_link *l = r->s2s_head; l; l = l->next) {
        struct stream *s = l->s;
        if (s != skip && s->initiating && l->slot == p->slot &&
            s->state != STREAM_ST_SESSION && !stream_finished(s) &&
            stream_s2s_covers(cover, s->peer_domain))
            return s;
    }
    return NULL;
}

/* A stream that carries p, or will once negotiated (MUX.md §6.5, §6.6).
 * With one stream per peer: the oldest that may. With more: the one we
 * opened for p's slot; else, if only the peer opened streams for it (bidi),
 * one of those by p's slot; else a stream of p's slot still being set up
 * towards the same server; else NULL with *more set when a stream for p's
 * slot should be opened (the server is reached by a name its certificate
 * covers and fewer than the limit are open), or the oldest one. */
static struct stream *
pair_existing(struct router *r,
              const struct route_pair *p,
              const struct stream *skip,
              bool *more)
{
    unsigned max = r->cfg->s2s.max_connections_per_peer;
    struct stream *first = NULL, *cover = NULL, *in[4];
    size_t nin = 0, nout = 0;
    *more = false;
    for (struct route_link *l = r->s2s_head; l; l = l->next) {
        struct stream *s = l->s;
        if (s == skip)
            continue;
        enum stream_pair sp = stream_s2s_pair(s, p->sender, p->target, NULL);
        if (sp != STREAM_PAIR_READY && sp != STREAM_PAIR_PENDING)
            continue;
        if (max <= 1)
            return s;
        if (!s->initiating) {
            if (nin < sizeof(in) / sizeof(in[0]))
                in[nin++] = s;
            continue;
        }
        if (l->slot == p->slot)
            return s;
        nout++;
        if (first == NULL)
            first = s;
        if (cover == NULL && stream_s2s_covers(s, p->target))
            cover = s;
    }
    if (nout == 0)
        return nin > 0 ? in[p->slot % nin] : NULL;
    if (cover == NULL || nout >= max)
        return first;
    struct stream *s = slot_opening(r, p, skip, cover);
    *more = s == NULL;
    return s;
}

/* Give p a carrier: a stream that may carry it or will once negotiated;
 * else sender piggybacking on a stream to the same target; else a new
 * stream. Returns false (after bouncing the queue) if none can be had. */
static bool
pair_place(struct router *r, struct route_pair *p, const struct stream *skip)
{
    p->requested = false;
    p->since = now_ms(r);
    bool more = false;
    struct stream *s = pair_existing(r, p, skip, &more);
    if (s != NULL) {
        pair_attach(p, s);
        return true;
    }
    bool pinned = r->cfg->s2s.max_connections_per_peer > 1;
    for (struct route_link *l = r->s2s_head; l; l = l->next) {
        s = l->s;
        if (s == skip || !s->initiating || stream_finished(s) ||
            (pinned && l->slot != p->slot) ||
            strcmp(s->peer_domain, p->target) != 0 ||
            stream_s2s_pair(s, p->sender, p->target, NULL) != STREAM_PAIR_NONE)
            continue;
        int rc = stream_s2s_request(s, p->sender, p->target);
        if (rc == 0 || rc == XE_STATE) {
            /* Asked now, or asked once the stream is negotiated. */
            p->requested = rc == 0;
            pair_attach(p, s);
            return true;
        }
    }
    const struct cfg_host *h = config_host(r->cfg, p->sender);
    s = NULL;
    /* A listed host the primary's certificate does not cover: a stream
     * of its own that asks to join the primary (M3, MUX.md §6.5 step 3),
     * or a wait while the peer has its share of them running (§13). */
    bool full = false;
    struct stream *prim = r->s2s_ops && !more ? route__mux_primary(
                                                    r, p->target, p->slot, &full)
                                              : NULL;
    if (prim == NULL && full) {
        p->m3_wait = true;
        p->wait_next = r->m3_waiting;
        r->m3_waiting = p;
        log_msg(r->log, LOG_DEBUG, 0,
                "event=route action=wait-authorization sender=%s target=%s",
                p->sender, p->target);
        return true;
    }
    if (prim != NULL)
        s = route__mux_secondary(r, prim, p->target);
    if (s == NULL && h != NULL && r->s2s_ops && r->s2s_ops->connect)
        s = r->s2s_ops->connect(r->s2s_arg, h, p->target);
    if (s == NULL || s->route_data == NULL) {
        pair_bounce_all(r, p, XC_REMOTE_SERVER_NOT_FOUND);
        return false;
    }
    ((struct route_link *)s->route_data)->slot = p->slot;
    pair_attach(p, s);
    return true;
}

/* Send what waits for p while its carrier takes it. */
static void
pair_flush(struct router *r, struct route_pair *p)
{
    (void)r;
    /* A carrier took it after a break: the retry worked, and the next
     * break gets one of its own (MUX.md §11: once per loss, not once per
     * pair). */
    p->retried = false;
    struct stanza *st;
    while (p->carrier && p->qn > 0) {
        if (p->carrier->s2s_backlog ||
            buf_len(&p->carrier->out) >= ROUTE_S2S_FLUSH_MARK) {
            p->carrier->s2s_backlog = true;
            return;
        }
        st = queue_pop(p);
        int rc = stream_deliver(p->carrier, st);
        if (rc == XE_TOO_LARGE) {
            bounce(r, st, XC_POLICY_VIOLATION); /* XEP-0478 §3.1 */
        } else if (rc != 0) {
            /* The carrier broke under us: the stanza waits, first in
             * line, for the stream router_s2s_gone finds next. */
            log_msg(r->log, LOG_DEBUG, p->carrier->conn,
                    "event=route action=deliver-failed target=%s", p->target);
            queue_push_front(p, st);
            stanza_unref(st);
            return;
        }
        stanza_unref(st);
    }
}

void
router_s2s_drained(struct router *r, struct stream *s)
{
    s->s2s_backlog = false;
    size_t slot = 0;
    for (struct rtab_node *nd = route__tab_next(&r->pairs, &slot, NULL); nd;
         nd = route__tab_next(&r->pairs, &slot, nd)) {
        struct route_pair *p = (struct route_pair *)nd;
        if (p->carrier != s || p->qn == 0 ||
            stream_s2s_pair(s, p->sender, p->target, NULL) !=
                STREAM_PAIR_READY)
            continue;
        pair_flush(r, p);
        if (s->s2s_backlog)
            return; /* full again: the rest at the next drain */
    }
}

/* pair_place, and if the stream it found can carry p now, send what
 * waits (stanzas put back after a break included): nothing else would
 * flush them before the pair's next stanza. */
static bool
pair_replace(struct router *r, struct route_pair *p, const struct stream *skip)
{
    if (!pair_place(r, p, skip))
        return false;
    if (p->carrier != NULL && stream_s2s_pair(p->carrier, p->sender, p->target,
                                              NULL) == STREAM_PAIR_READY)
        pair_flush(r, p);
    return true;
}

void
route__s2s_send(struct router *r,
                struct stanza *st,
                const char *sender,
                const char *target)
{
    struct route_pair *p = pair_get(r, sender, target, true);
    if (p->carrier != NULL && p->qn == 0 && !p->carrier->s2s_backlog &&
        buf_len(&p->carrier->out) < ROUTE_S2S_FLUSH_MARK &&
        stream_s2s_pair(p->carrier, sender, target, NULL) ==
            STREAM_PAIR_READY) {
        int rc = stream_deliver(p->carrier, st);
        if (rc == XE_TOO_LARGE) /* XEP-0478 §3.1: the peer would refuse it */
            bounce(r, st, XC_POLICY_VIOLATION);
        if (rc == 0 || rc == XE_TOO_LARGE)
            return;
        pair_attach(p, NULL); /* it broke under us: find another */
    }
    if (p->carrier != NULL && stream_finished(p->carrier))
        pair_attach(p, NULL);
    if (!queue_push(p, st)) {
        r->counts.limit_hits[CFG_LIMIT_S2S_QUEUE]++;
        log_msg(r->log, LOG_INFO, 0,
                "event=limit what=s2s-queue sender=%s target=%s max=%d",
                sender, target, ROUTE_S2S_QUEUE_MAX);
        bounce(r, st, XC_RESOURCE_CONSTRAINT);
        return;
    }
    if (p->m3_wait)
        return;
    if (p->carrier == NULL && !pair_place(r, p, NULL)) {
        pair_maybe_free(r, p);
        return;
    }
    if (p->carrier != NULL &&
        stream_s2s_pair(p->carrier, sender, target, NULL) == STREAM_PAIR_READY)
        pair_flush(r, p);
}

/* Pairs that waited for an authorization slot try again (when one came
 * free), or bounce once they have waited timeouts.authz. */
static void
m3_waiting_retry(struct router *r)
{
    uint64_t now = now_ms(r);
    bool freed = r->m3_freed;
    r->m3_freed = false;
    struct route_pair *list = r->m3_waiting, *keep = NULL;
    r->m3_waiting = NULL;
    while (list != NULL) {
        struct route_pair *p = list;
        list = p->wait_next;
        p->wait_next = NULL;
        if (now - p->since >= r->cfg->timeouts.authz) {
            p->m3_wait = false;
            pair_bounce_all(r, p, XC_REMOTE_SERVER_TIMEOUT);
            pair_maybe_free(r, p);
        } else if (freed) {
            p->m3_wait = false;
            if (!pair_replace(r, p, NULL))
                pair_maybe_free(r, p);
        } else {
            p->wait_next = keep;
            keep = p;
        }
    }
    /* pair_place may have queued some again meanwhile. */
    while (keep != NULL) {
        struct route_pair *p = keep;
        keep = p->wait_next;
        p->wait_next = r->m3_waiting;
        r->m3_waiting = p;
    }
}

/* --- what streams tell the router -------------------------------------------- */

/* Pending db:verify requests for out that can go now. */
static void
verifies_send(struct router *r, struct stream *out)
{
    for (struct route_verify *v = r->verifies; v; v = v->next) {
        if (v->out != out || v->sent)
            continue;
        if (stream_db_verify(out, v->target, v->sender, v->id, v->key) == 0)
            v->sent = true;
    }
}

void
route__s2s_move(struct router *r,
                struct stream *from,
                struct stream *to,
                const char *target)
{
    struct route_link *l = from->route_data;
    struct route_pair *p = l ? l->pairs : NULL;
    while (p != NULL) {
        struct route_pair *next = p->next_on;
        if (strcmp(p->target, target) == 0) {
            pair_attach(p, to);
            if (stream_s2s_pair(to, p->sender, p->target, NULL) ==
                STREAM_PAIR_READY)
                pair_flush(r, p);
        }
        p = next;
    }
    router_s2s_changed(r, to);
}

/* What a change of s means for one of its pairs: flush it, ask for it by
 * piggybacking, move it to another stream, or bounce what waits. */
static void
pair_changed(struct router *r, struct stream *s, struct route_pair *p)
{
    enum stanza_cond cond = XC_NONE;
    enum stream_pair sp = stream_s2s_pair(s, p->sender, p->target, &cond);
    if (sp == STREAM_PAIR_READY) {
        pair_flush(r, p);
        return;
    }
    if (sp == STREAM_PAIR_NONE && s->state == STREAM_ST_SESSION) {
        if (stream_s2s_request(s, p->sender, p->target) == 0) {
            p->requested = true;
            p->since = now_ms(r);
            return;
        }
        cond = XC_NONE; /* another stream, below */
    } else if (sp != STREAM_PAIR_FAILED) {
        return; /* still pending */
    }
    pair_attach(p, NULL);
    if (cond != XC_NONE) {
        pair_bounce_all(r, p, cond);
        pair_maybe_free(r, p);
    } else if (!pair_place(r, p, s)) {
        /* Piggybacking refused or impossible: a stream of its own. */
        pair_maybe_free(r, p);
    }
}

void
router_s2s_changed(struct router *r, struct stream *s)
{
    struct route_link *l = s->route_data;
    if (l == NULL)
        return;
    if (s->can_verify)
        verifies_send(r, s);
    if (s->initiating && s->state == STREAM_ST_SESSION)
        route__mux_secondary_ready(r, s);
    struct route_pair *p = l->pairs;
    while (p != NULL) {
        struct route_pair *next = p->next_on;
        pair_changed(r, s, p);
        p = next;
    }
    if (r->m3_freed && r->m3_waiting != NULL)
        m3_waiting_retry(r);
}

/* The pairs requeue_unacked touched: those on s move with the others
 * (router_s2s_gone); one that moved to another stream meanwhile (M3)
 * sends now, one on none finds a stream. */
static void
requeued_place(struct router *r, const struct stream *s,
               struct route_pair *touched)
{
    while (touched != NULL) {
        struct route_pair *p = touched;
        touched = p->late_next;
        p->requeued = false;
        if (p->carrier == s)
            continue;
        if (p->carrier == NULL) {
            p->retried = true;
            if (!p->m3_wait && !pair_replace(r, p, s))
                pair_maybe_free(r, p);
        } else if (stream_s2s_pair(p->carrier, p->sender, p->target, NULL) ==
                   STREAM_PAIR_READY) {
            pair_flush(r, p);
        }
    }
}

/* What s sent and its peer never acknowledged (XEP-0198) goes back to the
 * front of its pair's queue, in order, for the next stream; a full queue
 * bounces it. Nothing is dropped without an error. */
static void
requeue_unacked(struct router *r, struct stream *s)
{
    struct stanza **v = NULL;
    size_t n = stream_sm_take_unacked(s, &v);
    /* Kept for a resumption, which may spare sending some again. */
    route__sm_keep(r, s, v, n);
    if (n == 0)
        return;
    r->counts.sm_requeued += n;
    log_msg(r->log, LOG_INFO, s->conn, "event=sm-requeue stanzas=%zu to=%s",
            n, s->peer_domain ? s->peer_domain : "-");
    struct route_pair *touched = NULL; /* each pair once, by late_next */
    for (size_t i = n; i-- > 0;) {
        struct stanza *st = v[i];
        char sd[JID_DOMAIN_BUFSZ], td[JID_DOMAIN_BUFSZ];
        struct route_pair *p = NULL;
        if (route__attr_domain(st, "from", sd) &&
            route__attr_domain(st, "to", td))
            p = pair_get(r, sd, td, true);
        if (p == NULL || !queue_push_front(p, st)) {
            bounce(r, st, XC_REMOTE_SERVER_TIMEOUT);
        } else if (!p->requeued) {
            p->requeued = true;
            p->late_next = touched;
            touched = p;
        }
        stanza_unref(st);
    }
    x_free(v);
    requeued_place(r, s, touched);
}

/* s is gone (or going): its pairs find other streams once, or bounce
 * (MUX.md §11); its verifications fail. */
void
router_s2s_gone(struct router *r, struct stream *s)
{
    struct route_link *l = s->route_data;
    if (l == NULL)
        return;
    route__mux_gone(r, s);
    route__sm_gone(r, s);
    requeue_unacked(r, s);
    struct route_pair *p = l->pairs;
    while (p != NULL) {
        struct route_pair *next = p->next_on;
        pair_attach(p, NULL);
        if (p->qn > 0 && s->authenticated && !p->retried) {
            p->retried = true;
            if (!pair_replace(r, p, s))
                pair_maybe_free(r, p);
        } else {
            pair_bounce_all(r, p, s->fail_cond != XC_NONE
                                      ? s->fail_cond
                                      : XC_REMOTE_SERVER_TIMEOUT);
            pair_maybe_free(r, p);
        }
        p = next;
    }
    struct route_verify **vp = &r->verifies;
    while (*vp) {
        struct route_verify *v = *vp;
        if (v->in == s || v->out == s) {
            *vp = v->next;
            if (v->out == s)
                stream_db_complete(v->in, v->sender, v->target,
                                   DIALBACK_T_ERROR,
                                   DIALBACK_C_REMOTE_CONNECTION_FAILED);
            x_free(v);
            continue;
        }
        vp = &v->next;
    }
    if (l->prev)
        l->prev->next = l->next;
    else
        r->s2s_head = l->next;
    if (l->next)
        l->next->prev = l->prev;
    else
        r->s2s_tail = l->prev;
    x_free(l);
    s->route_data = NULL;
}

/* --- dialback verification (we are the receiving server) ------------------- */

/* An outgoing stream to remote that can carry db:verify (from local if
 * there is one, else from any of our domains: XEP-0220 ties db:verify to
 * no stream 'from'), or a new one from local (never the stream the
 * db:result came on, DB-15). */
static struct stream *
verify_carrier(struct router *r, const char *local, const char *remote)
{
    struct stream *any = NULL;
    for (struct route_link *l = r->s2s_head; l; l = l->next) {
        struct stream *s = l->s;
        if (!s->initiating || stream_finished(s) ||
            strcmp(s->peer_domain, remote) != 0)
            continue;
        if (strcmp(s->host->domain, local) == 0)
            return s;
        if (any == NULL)
            any = s;
    }
    if (any != NULL)
        return any;
    const struct cfg_host *h = config_host(r->cfg, local);
    if (h == NULL || r->s2s_ops == NULL || r->s2s_ops->connect == NULL)
        return NULL;
    struct stream *s = r->s2s_ops->connect(r->s2s_arg, h, remote);
    return s && s->route_data ? s : NULL;
}

void
router_s2s_verify(struct router *r,
                  struct stream *in,
                  const struct dialback_elem *e)
{
    struct stream *out = verify_carrier(r, e->to, e->from);
    if (out == NULL) {
        stream_db_complete(in, e->from, e->to, DIALBACK_T_ERROR,
                           DIALBACK_C_REMOTE_CONNECTION_FAILED);
        return;
    }
    struct route_verify *v = x_calloc(1, sizeof(*v));
    v->in = in;
    v->out = out;
    memcpy(v->sender, e->from, sizeof(v->sender));
    memcpy(v->target, e->to, sizeof(v->target));
    memcpy(v->key, e->key, e->key_len + 1);
    memcpy(v->id, in->id, sizeof(v->id));
    v->since = now_ms(r);
    v->next = r->verifies;
    r->verifies = v;
    if (out->can_verify)
        verifies_send(r, out);
}

void
router_s2s_verified(struct router *r,
                    struct stream *out,
                    const struct dialback_elem *ans)
{
    /* The answer comes from the originating domain to us: its 'from' is
     * the sender, its 'to' the target, its id the incoming stream's. */
    for (struct route_verify **vp = &r->verifies; *vp; vp = &(*vp)->next) {
        struct route_verify *v = *vp;
        if (v->out != out || !v->sent || strcmp(v->sender, ans->from) != 0 ||
            strcmp(v->target, ans->to) != 0 || strcmp(v->id, ans->id) != 0)
            continue;
        *vp = v->next;
        stream_db_complete(v->in, v->sender, v->target, ans->type, ans->cond);
        x_free(v);
        return;
    }
    log_msg(r->log, LOG_INFO, out->conn,
            "event=dialback-unsolicited kind=verify from=%s to=%s", ans->from,
            ans->to);
}

/* --- the clock --------------------------------------------------------------- */

void
router_s2s_tick(struct router *r)
{
    route__mux_tick(r);
    route__sm_tick(r);
    if (r->m3_waiting != NULL)
        m3_waiting_retry(r);
    uint64_t now = now_ms(r);
    uint64_t limit = r->cfg->timeouts.dialback;
    size_t slot = 0;
    struct rtab_node *nd = route__tab_next(&r->pairs, &slot, NULL);
    /* Timing a pair out may change the table: collect first. */
    struct route_pair *late = NULL;
    while (nd != NULL) {
        struct route_pair *p = (struct route_pair *)nd;
        /* A db:result out for the pair (its stream's own or a
         * piggybacked one) and no answer yet. */
        if (p->carrier && now - p->since >= limit &&
            dialback_pairs_get(&p->carrier->db, DIALBACK_OUT, p->sender,
                               p->target) == DIALBACK_ST_PENDING) {
            p->late_next = late;
            late = p;
        }
        nd = route__tab_next(&r->pairs, &slot, nd);
    }
    while (late != NULL) {
        struct route_pair *p = late;
        late = p->late_next;
        /* DB-17: treated as an error; s2s_changed bounces the queue. */
        stream_s2s_timeout(p->carrier, p->sender, p->target);
    }
    struct route_verify **vp = &r->verifies;
    while (*vp) {
        struct route_verify *v = *vp;
        if (now - v->since < limit) {
            vp = &v->next;
            continue;
        }
        *vp = v->next;
        stream_db_complete(v->in, v->sender, v->target, DIALBACK_T_ERROR,
                           DIALBACK_C_REMOTE_SERVER_TIMEOUT);
        x_free(v);
    }
}

void
route__s2s_free(struct router *r)
{
    route__mux_free(r);
    route__sm_free(r);
    size_t slot = 0;
    struct rtab_node *nd = route__tab_next(&r->pairs, &slot, NULL);
    while (nd != NULL) {
        struct rtab_node *next = route__tab_next(&r->pairs, &slot, nd);
        pair_free((struct route_pair *)nd);
        nd = next;
    }
    r->last_pair = NULL;
    route__tab_fini(&r->pairs);
    while (r->verifies) {
        struct route_verify *v = r->verifies;
        r->verifies = v->next;
        x_free(v);
    }
    while (r->s2s_head) {
        struct route_link *l = r->s2s_head;
        r->s2s_head = l->next;
        l->s->route_data = NULL;
        x_free(l);
    }
    r->s2s_tail = NULL;
}

/* A reply or bounce from a remote entity to a local one: routed as if it
 * had come in over s2s. */
static void
dispatch_remote_reply(struct router *r, struct stanza *st)
{
    route__dispatch(r, NULL, NULL, st);
}

void
router_set_s2s(struct router *r, const struct router_s2s_ops *ops, void *arg)
{
    r->s2s_ops = ops;
    r->s2s_arg = arg;
}
