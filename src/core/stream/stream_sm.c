/* SPDX-License-Identifier: MIT */
/* stream_sm.c -- stream management (XEP-0198): acknowledgements in both
 * roles, on c2s and s2s, and the unacknowledged stanzas a stream leaves
 * behind (the router resends or bounces them; docs/sm.md). */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/hex.h"
#include "stream/stream_int.h"

/* The state of one stream's stream management. Stanza numbers are
 * counted mod 2^32 (XEP-0198 §4); q[i] (from qhead) is stanza number
 * acked + 1 + i. */
struct stream_sm {
    bool in_counting;  /* count what the peer sends */
    bool out_counting; /* count (and keep) what we send */
    bool requested;    /* our <r/> is out, its <a/> not yet in */
    bool answered;     /* initiating: <enabled/> or <failed/> came */
    bool resume;       /* the session may be resumed (c2s) */
    bool detached;     /* the connection is gone; waiting for a resume */
    bool overflow;     /* detached and more than max_unacked waiting */
    uint32_t h_in;     /* stanzas handled from the peer */
    uint32_t acked;    /* the last h the peer acknowledged */
    uint32_t since_r;  /* stanzas sent since our last <r/> */
    struct stanza **q; /* sent, not yet acknowledged: a ring */
    size_t qhead, qn, qcap;
    char id[2 * STREAM_ID_BYTES + 1];
};

static const char sm_r[] = "<r xmlns='" NS_SM "'/>";

static struct stream_sm *
sm_new(void)
{
    return x_calloc(1, sizeof(struct stream_sm));
}

void
stream__sm_free(struct stream *s)
{
    struct stream_sm *sm = s->sm;
    if (sm == NULL)
        return;
    for (size_t i = 0; i < sm->qn; i++)
        stanza_unref(sm->q[(sm->qhead + i) % sm->qcap]);
    x_free(sm->q);
    x_free(sm);
    s->sm = NULL;
}

static void
sm_push(struct stream_sm *sm, struct stanza *st)
{
    if (sm->qn == sm->qcap) {
        size_t ncap = sm->qcap ? 2 * sm->qcap : 32;
        struct stanza **nq = x_calloc(ncap, sizeof(struct stanza *));
        for (size_t i = 0; i < sm->qn; i++)
            nq[i] = sm->q[(sm->qhead + i) % sm->qcap];
        x_free(sm->q);
        sm->q = nq;
        sm->qcap = ncap;
        sm->qhead = 0;
    }
    sm->q[(sm->qhead + sm->qn) % sm->qcap] = stanza_ref(st);
    sm->qn++;
}

static void
sm_drop(struct stream_sm *sm, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        stanza_unref(sm->q[sm->qhead]);
        sm->q[sm->qhead] = NULL;
        sm->qhead = (sm->qhead + 1) % sm->qcap;
    }
    sm->qn -= n;
    if (sm->qn == 0 && sm->qcap > 256) {
        /* A burst is over: give the ring back. */
        x_free(sm->q);
        sm->q = NULL;
        sm->qcap = 0;
        sm->qhead = 0;
    }
}

static int
send_r(struct stream *s)
{
    s->sm->requested = true;
    s->sm->since_r = 0;
    return stream__send_raw(s, sm_r, sizeof(sm_r) - 1);
}

static int
send_a(struct stream *s)
{
    char a[64];
    int n = snprintf(a, sizeof(a), "<a xmlns='" NS_SM "' h='%u'/>",
                     (unsigned)s->sm->h_in);
    return stream__send_raw(s, a, (size_t)n);
}

static int
send_failed(struct stream *s, const char *cond)
{
    char f[160];
    int n = snprintf(f, sizeof(f),
                     "<failed xmlns='" NS_SM "'><%s xmlns='" NS_STANZAS
                     "'/></failed>",
                     cond);
    log_msg(s->ctx->log, LOG_INFO, s->conn, "event=sm-failed cond=%s", cond);
    return stream__send_raw(s, f, (size_t)n);
}

bool
stream__sm_on(const struct stream *s)
{
    return s->s2s ? s->ctx->cfg->sm.s2s : s->ctx->cfg->sm.c2s;
}

void
stream__sm_feature(struct stream *s, struct stanza *features)
{
    if (stream__sm_on(s))
        stanza_add_child(features, NS_SM, "sm");
}

/* <enable/> (receiving role): c2s once a resource is bound, s2s once
 * authenticated (XEP-0198 §3). Counting starts with it. */
static bool
attr_true(const struct stanza *el, const char *name)
{
    const char *v = stanza_attr(el, name);
    return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static int
sm_enable(struct stream *s, const struct stanza *el)
{
    if (!stream__sm_on(s) || s->initiating)
        return send_failed(s, "feature-not-implemented");
    if (s->sm != NULL || !s->authenticated || (!s->s2s && !s->bound) ||
        s->state != STREAM_ST_SESSION)
        return send_failed(s, "unexpected-request");
    s->sm = sm_new();
    unsigned char r[STREAM_ID_BYTES];
    s->ctx->random(s->ctx->random_arg, r, sizeof(r));
    hex_lower(r, sizeof(r), s->sm->id);
    s->sm->in_counting = true;
    s->sm->resume = attr_true(el, "resume");
    char e[192];
    int n = s->sm->resume
                ? snprintf(e, sizeof(e),
                           "<enabled xmlns='" NS_SM
                           "' id='%s' resume='true' max='%u'/>",
                           s->sm->id,
                           (unsigned)(s->ctx->cfg->sm.resume_timeout / 1000))
                : snprintf(e, sizeof(e), "<enabled xmlns='" NS_SM "' id='%s'/>",
                           s->sm->id);
    int rc = stream__send_raw(s, e, (size_t)n);
    s->sm->out_counting = true;
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=sm-enabled role=receiving resume=%s",
            s->sm->resume ? "yes" : "no");
    return rc;
}

/* <a h='N'/>: N - acked stanzas of ours arrived. More than we sent is a
 * stream error (XEP-0198 §4, handled-count-too-high). */
static int
sm_ack(struct stream *s, const struct stanza *el)
{
    struct stream_sm *sm = s->sm;
    uint32_t h;
    if (!stanza_attr_u32(el, "h", &h))
        return stream__fail(s, SC_UNDEFINED_CONDITION, "bad h");
    uint32_t n = h - sm->acked;
    if (n > sm->qn) {
        log_msg(s->ctx->log, LOG_INFO, s->conn,
                "event=sm-bad-ack h=%u acked=%u unacked=%zu", (unsigned)h,
                (unsigned)sm->acked, sm->qn);
        return stream__fail(s, SC_UNDEFINED_CONDITION,
                            "handled-count-too-high");
    }
    sm_drop(sm, n);
    sm->acked = h;
    sm->requested = false;
    return 0;
}

static int sm_resume_answer(struct stream *s, const struct stanza *el,
                            bool ok);

/* Initiating role: the answer to our <enable/>. */
static int
sm_answer(struct stream *s, const struct stanza *el, bool ok)
{
    if (!s->initiating || s->sm == NULL || s->sm->answered)
        return stream__fail(s, SC_UNSUPPORTED_STANZA_TYPE, NULL);
    s->sm->answered = true;
    if (!ok) {
        /* What we sent since <enable/> was not counted by the peer:
         * nothing to resend; stream management is off. */
        log_msg(s->ctx->log, LOG_INFO, s->conn, "event=sm-refused");
        stream__sm_free(s);
        return 0;
    }
    const char *id = stanza_attr(el, "id");
    if (id != NULL && strlen(id) < sizeof(s->sm->id))
        memcpy(s->sm->id, id, strlen(id) + 1);
    s->sm->resume = id != NULL && attr_true(el, "resume");
    s->sm->in_counting = true;
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=sm-enabled role=initiating resume=%s",
            s->sm->resume ? "yes" : "no");
    return 0;
}

/* <resume previd h/> on an authenticated c2s stream before binding: the
 * server finds the detached session (ops->sm_resume), which moves here
 * (stream_sm_take_over) or is not there: <failed/>, and the client may
 * bind anew. */
static int
sm_resume(struct stream *s, const struct stanza *el)
{
    uint32_t h;
    const char *previd = stanza_attr(el, "previd");
    if (s->initiating || s->sm != NULL ||
        s->state != (s->s2s ? STREAM_ST_SESSION : STREAM_ST_BIND) ||
        !s->authenticated)
        return send_failed(s, "unexpected-request");
    if (previd == NULL || !stanza_attr_u32(el, "h", &h))
        return send_failed(s, "bad-request");
    if (!stream__sm_on(s) || s->ctx->ops->sm_resume == NULL ||
        s->ctx->ops->sm_resume(s->ctx->ops_arg, s, previd, h) != 0)
        return send_failed(s, "item-not-found");
    return 0;
}

int
stream__sm_element(struct stream *s, struct stanza *el)
{
    if (strcmp(stanza_ns(el), NS_SM) != 0)
        return 1;
    const char *name = stanza_name(el);
    if (strcmp(name, "enable") == 0)
        return sm_enable(s, el);
    if (strcmp(name, "resume") == 0)
        return sm_resume(s, el);
    if (strcmp(name, "enabled") == 0)
        return sm_answer(s, el, true);
    if (strcmp(name, "failed") == 0 && s->initiating)
        return s->sm_hold ? sm_resume_answer(s, el, false)
                          : sm_answer(s, el, false);
    if (strcmp(name, "resumed") == 0 && s->initiating)
        return sm_resume_answer(s, el, true);
    if (s->sm == NULL || (s->initiating && !s->sm->answered))
        return stream__fail(s, SC_UNSUPPORTED_STANZA_TYPE,
                            "stream management is not enabled");
    if (strcmp(name, "r") == 0)
        return s->sm->in_counting ? send_a(s) : 0;
    if (strcmp(name, "a") == 0)
        return sm_ack(s, el);
    return stream__fail(s, SC_UNSUPPORTED_STANZA_TYPE, NULL);
}

/* Initiating role: the peer offered <sm/> after authentication. Counting
 * of what we send starts with <enable/>. */
static int
send_enable(struct stream *s)
{
    static const char en[] = "<enable xmlns='" NS_SM "' resume='true'/>";
    int rc = stream__send_raw(s, en, sizeof(en) - 1);
    s->sm = sm_new();
    s->sm->out_counting = true;
    return rc;
}

int
stream__sm_start(struct stream *s)
{
    if (!stream__sm_on(s) || s->sm != NULL)
        return 0;
    /* A stream to this peer broke with stanzas unacknowledged: resume its
     * state (the peer says what it handled) before anything is sent. */
    const char *previd = NULL;
    uint32_t h = 0;
    if (s->ctx->ops && s->ctx->ops->sm_s2s_previous &&
        s->ctx->ops->sm_s2s_previous(s->ctx->ops_arg, s, &previd, &h) == 0) {
        char e[160];
        int n = snprintf(e, sizeof(e),
                         "<resume xmlns='" NS_SM "' previd='%s' h='%u'/>",
                         previd, (unsigned)h);
        s->sm_hold = true;
        /* The counters go on from the old stream's (XEP-0198 §5). */
        s->sm = sm_new();
        s->sm->h_in = h;
        s->sm->resume = true;
        snprintf(s->sm->id, sizeof(s->sm->id), "%s", previd);
        log_msg(s->ctx->log, LOG_INFO, s->conn,
                "event=sm-resume-request previd=%s h=%u", previd, (unsigned)h);
        return stream__send_raw(s, e, (size_t)n);
    }
    return send_enable(s);
}

/* Initiating: <resumed h/> (the peer handled h of the old stream's
 * stanzas: the router drops those from what it requeued, and the rest
 * goes out here) or <failed/> (everything goes out here again: at least
 * once). Either way stanzas may flow now. */
static int
sm_resume_answer(struct stream *s, const struct stanza *el, bool ok)
{
    uint32_t h = 0;
    if (!s->sm_hold)
        return stream__fail(s, SC_UNSUPPORTED_STANZA_TYPE, NULL);
    if (ok && !stanza_attr_u32(el, "h", &h))
        return stream__fail(s, SC_UNDEFINED_CONDITION, "bad h");
    s->sm_hold = false;
    int rc = 0;
    if (s->ctx->ops && s->ctx->ops->sm_s2s_resumed)
        rc = s->ctx->ops->sm_s2s_resumed(s->ctx->ops_arg, s, ok, h);
    log_msg(s->ctx->log, LOG_INFO, s->conn, "event=sm-resume-%s h=%u",
            ok && rc == 0 ? "ok" : "failed", (unsigned)h);
    if (ok && rc == 0) {
        s->sm->acked = h;
        s->sm->out_counting = true;
        s->sm->in_counting = true;
        s->sm->answered = true;
    } else {
        stream__sm_free(s);
        send_enable(s);
    }
    if (s->ctx->ops && s->ctx->ops->s2s_changed)
        s->ctx->ops->s2s_changed(s->ctx->ops_arg, s);
    return 0;
}

/* Receiving s2s: the router found the state of the broken stream previd
 * of the same peer: counting goes on from h_in. */
int
stream_sm_s2s_resumed(struct stream *s, const char *previd, uint32_t h_in)
{
    s->sm = sm_new();
    s->sm->in_counting = true;
    s->sm->resume = true;
    s->sm->h_in = h_in;
    snprintf(s->sm->id, sizeof(s->sm->id), "%s", previd);
    char e[160];
    int n = snprintf(e, sizeof(e),
                     "<resumed xmlns='" NS_SM "' previd='%s' h='%u'/>",
                     previd, (unsigned)h_in);
    int rc = stream__send_raw(s, e, (size_t)n);
    s->sm->out_counting = true;
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=sm-resumed previd=%s h=%u role=receiving", previd,
            (unsigned)h_in);
    return rc;
}

bool
stream_sm_state(const struct stream *s, const char **id, uint32_t *h_in,
                uint32_t *acked)
{
    if (s->sm == NULL || !s->sm->resume || s->sm->id[0] == '\0')
        return false;
    *id = s->sm->id;
    *h_in = s->sm->h_in;
    *acked = s->sm->acked;
    return true;
}

void
stream__sm_handled(struct stream *s)
{
    if (s->sm != NULL && s->sm->in_counting)
        s->sm->h_in++;
}

int
stream__sm_sent(struct stream *s, const struct stanza *el)
{
    struct stream_sm *sm = s->sm;
    if (sm == NULL || !sm->out_counting || !stanza_is_stanza(el))
        return 0;
    if (sm->qn >= s->ctx->cfg->sm.max_unacked) {
        stream__limit(s, CFG_LIMIT_SM_UNACKED, "max=%u",
                      (unsigned)s->ctx->cfg->sm.max_unacked);
        return stream__fail(s, SC_RESOURCE_CONSTRAINT,
                            "too many unacknowledged stanzas");
    }
    /* The tree is never changed once sent: keeping a reference is
     * enough. */
    sm_push(sm, (struct stanza *)el);
    /* Every request_every stanzas, whether an answer is out or not: the
     * answers then follow the peer's progress through a long burst, and
     * a broken stream leaves little to send twice. */
    if (++sm->since_r >= s->ctx->cfg->sm.request_every)
        return send_r(s);
    return 0;
}

void
stream_sm_tick(struct stream *s)
{
    struct stream_sm *sm = s->sm;
    if (sm == NULL || sm->qn == 0 || sm->requested ||
        s->state != STREAM_ST_SESSION || (s->initiating && !sm->answered))
        return;
    send_r(s);
    if (!s->in_feed && s->ctx->ops && s->ctx->ops->wake)
        s->ctx->ops->wake(s->ctx->ops_arg, s);
}

size_t
stream_sm_take_unacked(struct stream *s, struct stanza ***out)
{
    struct stream_sm *sm = s->sm;
    *out = NULL;
    if (sm == NULL || sm->qn == 0)
        return 0;
    struct stanza **v = x_calloc(sm->qn, sizeof(struct stanza *));
    size_t n = sm->qn;
    for (size_t i = 0; i < n; i++)
        v[i] = sm->q[(sm->qhead + i) % sm->qcap];
    x_free(sm->q);
    sm->q = NULL;
    sm->qn = sm->qcap = sm->qhead = 0;
    *out = v;
    return n;
}

size_t
stream_sm_unacked(const struct stream *s)
{
    return s->sm ? s->sm->qn : 0;
}

/* --- resumption (c2s) ------------------------------------------------------ */

bool
stream_sm_resumable(const struct stream *s)
{
    return !s->s2s && s->sm != NULL && s->sm->resume && !s->sm->detached &&
           s->bound && s->state == STREAM_ST_SESSION;
}

void
stream_sm_detach(struct stream *s)
{
    s->sm->detached = true;
    s->sm->requested = false;
    buf_reset(&s->out);
    s->tls_conn = NULL;
    s->tls = false;
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=sm-detached jid=%s unacked=%zu", jid_str(&s->jid),
            s->sm->qn);
}

bool
stream_sm_detached(const struct stream *s)
{
    return s->sm != NULL && s->sm->detached;
}

bool
stream_sm_overflow(const struct stream *s)
{
    return s->sm != NULL && s->sm->overflow;
}

const char *
stream_sm_id(const struct stream *s)
{
    return s->sm != NULL && s->sm->resume ? s->sm->id : NULL;
}

int
stream__sm_park(struct stream *s, const struct stanza *st)
{
    struct stream_sm *sm = s->sm;
    sm_push(sm, (struct stanza *)st);
    if (sm->qn > s->ctx->cfg->sm.max_unacked && !sm->overflow) {
        /* The session ends now and all of it is routed again: nothing
         * is dropped. */
        sm->overflow = true;
        stream__limit(s, CFG_LIMIT_SM_DETACHED_QUEUE, "max=%u",
                      (unsigned)s->ctx->cfg->sm.max_unacked);
        if (s->ctx->ops && s->ctx->ops->wake)
            s->ctx->ops->wake(s->ctx->ops_arg, s);
    }
    return 0;
}

bool
stream_sm_check_h(const struct stream *old, uint32_t h)
{
    return old->sm != NULL && h - old->sm->acked <= old->sm->qn;
}

int
stream_sm_take_over(struct stream *s, struct stream *old, uint32_t h)
{
    struct stream_sm *sm = old->sm;
    jid_fini(&s->jid);
    s->jid = old->jid;
    memset(&old->jid, 0, sizeof(old->jid));
    for (size_t i = 0; i < s->nids; i++)
        jid_fini(&s->ids[i]);
    x_free(s->ids);
    s->ids = old->ids;
    s->nids = old->nids;
    old->ids = NULL;
    old->nids = 0;
    s->bound = true;
    old->bound = false;
    s->sm = sm;
    old->sm = NULL;
    sm->detached = false;
    sm->overflow = false;
    sm->requested = false;
    sm->since_r = 0;
    stream__set_state(s, STREAM_ST_SESSION);
    char e[160];
    int n = snprintf(e, sizeof(e), "<resumed xmlns='" NS_SM "' previd='%s' h='%u'/>",
                     sm->id, (unsigned)sm->h_in);
    stream__send_raw(s, e, (size_t)n);
    /* What the client has: gone; the rest again, in order. */
    uint32_t got = h - sm->acked;
    sm_drop(sm, got);
    sm->acked = h;
    struct stanza **v = NULL;
    size_t k = stream_sm_take_unacked(s, &v);
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=sm-resumed jid=%s from-conn=%llx acked=%u resent=%zu",
            jid_str(&s->jid), (unsigned long long)old->conn, (unsigned)got, k);
    int rc = 0;
    for (size_t i = 0; i < k; i++) {
        if (rc == 0)
            rc = stream__send(s, v[i]);
        stanza_unref(v[i]);
    }
    x_free(v);
    return rc;
}

void
stream_sm_forget(struct stream *s)
{
    if (s->sm != NULL)
        s->sm->resume = false;
}
