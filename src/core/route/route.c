/* SPDX-License-Identifier: MIT */
/* route.c -- the router object: binding and unbinding sessions. */
#include "route/route.h"

#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "route/route_int.h"

struct router *
router_new(const struct config *cfg,
           const struct logger *log,
           const unsigned char key[ROUTE_HASH_KEY_BYTES])
{
    struct router *r = x_calloc(1, sizeof(*r));
    r->cfg = cfg;
    r->log = log;
    memcpy(r->key, key, ROUTE_HASH_KEY_BYTES);
    route__tab_init(&r->sessions, r->key);
    route__tab_init(&r->accounts, r->key);
    route__tab_init(&r->pairs, r->key);
    return r;
}

/* Free the directed-presence set. */
static void
peers_free(struct rtab *t)
{
    size_t slot = 0;
    struct rtab_node *nd = route__tab_next(t, &slot, NULL);
    while (nd != NULL) {
        struct rtab_node *next = route__tab_next(t, &slot, nd);
        struct route_peer *p = (struct route_peer *)nd;
        x_free(p->jid);
        x_free(p);
        nd = next;
    }
    route__tab_fini(t);
}

static void
session_free(struct route_session *sess)
{
    stanza_unref(sess->presence);
    peers_free(&sess->directed);
    jid_fini(&sess->jid);
    x_free(sess);
}

static void
account_free(struct route_account *acct)
{
    x_free(acct->bare);
    x_free(acct);
}

void
router_free(struct router *r)
{
    if (r == NULL)
        return;
    route__s2s_free(r);
    size_t slot = 0;
    struct rtab_node *nd = route__tab_next(&r->sessions, &slot, NULL);
    while (nd != NULL) {
        struct rtab_node *next = route__tab_next(&r->sessions, &slot, nd);
        struct route_session *sess = (struct route_session *)nd;
        sess->s->route_data = NULL;
        sess->s->bound = false;
        session_free(sess);
        nd = next;
    }
    slot = 0;
    nd = route__tab_next(&r->accounts, &slot, NULL);
    while (nd != NULL) {
        struct rtab_node *next = route__tab_next(&r->accounts, &slot, nd);
        account_free((struct route_account *)nd);
        nd = next;
    }
    route__tab_fini(&r->sessions);
    route__tab_fini(&r->accounts);
    x_free(r);
}

size_t
router_sessions(const struct router *r)
{
    return r->sessions.count;
}

struct route_session *
route__session(const struct router *r, const char *k, size_t n)
{
    return (struct route_session *)route__tab_find(&r->sessions, k, n);
}

struct route_account *
route__account(const struct router *r, const char *k, size_t n)
{
    return (struct route_account *)route__tab_find(&r->accounts, k, n);
}

struct route_account *
route__dest_account(const struct route_ctx *rc)
{
    if (rc->dest == ROUTE_TO_NONE)
        return rc->from ? rc->from->acct : NULL;
    size_t n;
    const char *bare = jid_bare(&rc->to, &n);
    return route__account(rc->r, bare, n);
}

bool
route__alive(const struct route_session *sess)
{
    return !stream_finished(sess->s);
}

/* Log a session event at INFO with the JID escaped (resourceparts may
 * hold spaces and quotes). */
static void
log_session(const struct router *r,
            const struct route_session *sess,
            const char *event)
{
    if (r->log == NULL || r->log->level < LOG_INFO)
        return;
    char j[320];
    log_escape(j, sizeof(j), jid_str(&sess->jid), jid_len(&sess->jid));
    log_msg(r->log, LOG_INFO, sess->s->conn, "event=%s jid=%s resources=%zu",
            event, j, sess->acct != NULL ? sess->acct->nsessions : 0);
}

/* Take sess out of every table, tell others it is unavailable, free it
 * (and its account if it was the last resource). */
static void
session_end(struct router *r, struct route_session *sess)
{
    struct route_account *acct = sess->acct;
    route__tab_remove(&r->sessions, &sess->node);
    route__tab_shrink(&r->sessions);
    struct route_session **pp = &acct->sessions;
    while (*pp != sess)
        pp = &(*pp)->next;
    *pp = sess->next;
    acct->nsessions--;
    sess->next = NULL;
    route__presence_gone(r, sess, acct);
    if (acct->nsessions == 0) {
        route__tab_remove(&r->accounts, &acct->node);
        route__tab_shrink(&r->accounts);
        account_free(acct);
    }
    sess->acct = NULL;
    session_free(sess);
}

static struct route_account *
account_get(struct router *r, const struct jid *j)
{
    size_t n;
    const char *bare = jid_bare(j, &n);
    struct route_account *acct = route__account(r, bare, n);
    if (acct != NULL)
        return acct;
    acct = x_calloc(1, sizeof(*acct));
    acct->bare = x_strndup(bare, n);
    acct->len = n;
    route__tab_insert(&r->accounts, &acct->node, acct->bare, acct->len);
    return acct;
}

/* The older stream holding s's full JID loses it (RFC 6120 §7.7.2.2):
 * it leaves the tables first, so nothing routes to it any more, and is
 * killed last, so a wake that runs at once finds nothing to unbind. */
static void
replace_session(struct router *r, struct route_session *old)
{
    struct stream *os = old->s;
    log_session(r, old, "route-conflict");
    /* The whole older stream goes, with every identity it carries. */
    router_unbind(r, os);
    stream_kill(os, SC_CONFLICT, "replaced by a new session");
}

/* A new session for full on s; an older holder of the same full JID is
 * replaced (RFC 6120 §7.7.2.2). Returns it, or NULL with *err set. */
static struct route_session *
session_new(struct router *r, struct stream *s, const struct jid *full,
            int *err)
{
    if (!jid_has_node(full) || !jid_has_resource(full)) {
        *err = XE_INVAL;
        return NULL;
    }
    struct route_session *old =
        route__session(r, jid_str(full), jid_len(full));
    size_t n;
    const char *bare = jid_bare(full, &n);
    const struct route_account *cur = route__account(r, bare, n);
    if (old == NULL && cur != NULL &&
        cur->nsessions >= ROUTE_ACCOUNT_SESSIONS_MAX) {
        r->counts.limit_hits[CFG_LIMIT_ACCOUNT_SESSIONS]++;
        log_msg(r->log, LOG_INFO, s->conn,
                "event=limit what=account-sessions max=%d",
                ROUTE_ACCOUNT_SESSIONS_MAX);
        *err = XE_LIMIT;
        return NULL;
    }
    if (old != NULL)
        replace_session(r, old);
    struct route_session *sess = x_calloc(1, sizeof(*sess));
    sess->s = s;
    jid_dup(&sess->jid, full);
    route__tab_init(&sess->directed, r->key);
    struct route_account *acct = account_get(r, &sess->jid);
    sess->acct = acct;
    sess->next = acct->sessions;
    acct->sessions = sess;
    acct->nsessions++;
    route__tab_insert(&r->sessions, &sess->node, jid_str(&sess->jid),
                      jid_len(&sess->jid));
    log_session(r, sess, "route-bind");
    return sess;
}

int
router_bind(struct router *r, struct stream *s)
{
    if (s->route_data != NULL)
        return XE_STATE;
    int err = 0;
    struct route_session *sess = session_new(r, s, &s->jid, &err);
    if (sess == NULL)
        return err;
    s->route_data = sess;
    return 0;
}

int
router_bind_also(struct router *r, struct stream *s, const struct jid *full)
{
    struct route_session *prim = s->route_data;
    if (prim == NULL)
        return XE_STATE;
    int err = 0;
    struct route_session *sess = session_new(r, s, full, &err);
    if (sess == NULL)
        return err;
    sess->also = prim->also;
    prim->also = sess;
    return 0;
}

bool
router_is_bound(const struct router *r, const struct jid *full)
{
    return route__session(r, jid_str(full), jid_len(full)) != NULL;
}

struct route_session *
route__session_of(struct stream *s, const char *from)
{
    struct route_session *sess = s->route_data;
    if (from == NULL)
        return sess;
    for (struct route_session *x = sess; x; x = x->also)
        if (strcmp(jid_str(&x->jid), from) == 0)
            return x;
    return sess;
}

void
router_unbind(struct router *r, struct stream *s)
{
    if (r != NULL && s->s2s) {
        router_s2s_gone(r, s);
        return;
    }
    if (r != NULL)
        route__c2s_authz_gone(r, s);
    struct route_session *sess = s->route_data;
    if (r == NULL || sess == NULL)
        return;
    s->route_data = NULL;
    /* Every identity of the stream ends, each with its own unavailable
     * presence (MUX.md §10.5). */
    while (sess != NULL) {
        struct route_session *also = sess->also;
        sess->also = NULL;
        log_session(r, sess, "route-unbind");
        session_end(r, sess);
        sess = also;
    }
    /* XEP-0198: what the client never acknowledged is routed again as if
     * it had just arrived for a resource that is gone (RFC 6121 §8.5.3:
     * another resource, or an error to the sender; IQs get their error). */
    struct stanza **v = NULL;
    size_t n = stream_sm_take_unacked(s, &v);
    if (n > 0)
        log_msg(r->log, LOG_INFO, s->conn, "event=sm-reroute stanzas=%zu", n);
    r->counts.sm_rerouted += n;
    for (size_t i = 0; i < n; i++) {
        route__dispatch(r, NULL, NULL, v[i]);
        stanza_unref(v[i]);
    }
    x_free(v);
}

const struct router_counts *
router_counts(const struct router *r)
{
    return &r->counts;
}

void
router_rebind(struct router *r, struct stream *old, struct stream *s)
{
    r->counts.sm_c2s_resumed++;
    route__c2s_authz_gone(r, old);
    struct route_session *sess = old->route_data;
    old->route_data = NULL;
    s->route_data = sess;
    for (struct route_session *x = sess; x; x = x->also)
        x->s = s;
}

void
router_unbind_also(struct router *r, struct stream *s, const struct jid *full)
{
    struct route_session *prim = s->route_data;
    for (struct route_session **pp = prim ? &prim->also : NULL; pp && *pp;
         pp = &(*pp)->also) {
        struct route_session *x = *pp;
        if (!jid_eq(&x->jid, full))
            continue;
        *pp = x->also;
        x->also = NULL;
        log_session(r, x, "route-unbind");
        session_end(r, x);
        return;
    }
}

/* --- stream_ops adapters ------------------------------------------------- */

static int
op_bind(void *arg, struct stream *s)
{
    return router_bind(arg, s);
}

static void
op_unbind(void *arg, struct stream *s)
{
    router_unbind(arg, s);
}

static void
op_stanza(void *arg, struct stream *s, struct stanza *st)
{
    router_stanza(arg, s, st);
}

void
router_set_ops(struct stream_ops *ops)
{
    ops->bind = op_bind;
    ops->unbind = op_unbind;
    ops->stanza = op_stanza;
}
