/* SPDX-License-Identifier: MIT */
/* route_mux.c -- connection authorization (M3) between servers, MUX.md
 * §8-§9: as receiving server we relay a secret from a secondary stream to
 * the initiating server's domain in an IQ; as initiating server we open
 * the secondary stream, send the secret, check the IQ that brings it
 * back, and move the new host's stanzas onto the primary stream. */
#include <string.h>

#include <openssl/crypto.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/hex.h"
#include "route/route_int.h"

#define NS_MUX_IQ "urn:xmpp:mux:0"
/* §9: a secret lives 60 s; its nonce stays in the replay cache 60 s more. */
#define SECRET_LIFE_S 60
#define REPLAY_KEEP_S 60
/* §13: authorizations pending per peer server (counted per P). */
#define PENDING_PER_PEER 8
/* D-01: c2s authorizations one account may ask for per minute. */
#define C2S_AUTHZ_PER_WINDOW 10
#define C2S_AUTHZ_WINDOW_MS  60000

static uint64_t
now_ms(const struct router *r)
{
    return r->s2s_ops && r->s2s_ops->now ? r->s2s_ops->now(r->s2s_arg) : 0;
}

static uint64_t
wall_s(const struct router *r)
{
    return r->s2s_ops && r->s2s_ops->wall ? r->s2s_ops->wall(r->s2s_arg) : 0;
}

static void
random_bytes(struct router *r, void *buf, size_t n)
{
    if (r->s2s_ops && r->s2s_ops->random)
        r->s2s_ops->random(r->s2s_arg, buf, n);
    else
        memset(buf, 0, n);
}

static const unsigned char *
mux_key(struct router *r)
{
    if (!r->mux_key_set) {
        random_bytes(r, r->mux_key, sizeof(r->mux_key));
        r->mux_key_set = true;
    }
    return r->mux_key;
}

/* --- receiving server: relay the secret (§8.4) ----------------------------- */

/* --- c2s: one client, several accounts (§10.6) ------------------------------- */

static void
authz_c_free(struct router *r, struct route_authz_c *a)
{
    struct route_authz_c **pp = &r->authz_c;
    while (*pp && *pp != a)
        pp = &(*pp)->next;
    if (*pp)
        *pp = a->next;
    jid_fini(&a->full);
    x_free(a);
}

/* F4 on the unbound stream s names the full JID host: the F5 IQ goes to
 * the one stream that holds it now, and to no other (MUX-88). */
static void
c2s_authz(struct router *r, struct stream *s, const char *host,
          const char *secret, size_t n)
{
    struct jid full;
    if (jid_parse(&full, host, strlen(host)) != 0)
        return;
    struct route_session *sess =
        route__session(r, jid_str(&full), jid_len(&full));
    struct route_authz_c *busy = r->authz_c;
    while (busy && !(sess && busy->p == sess->s))
        busy = busy->next;
    if (sess == NULL || !route__alive(sess) || sess->s->s2s || busy) {
        /* MUX-86, D-01: nothing is sent; S stays open and may bind. */
        log_msg(r->log, LOG_INFO, s->conn,
                "event=mux-authorization-ignored reason=%s",
                busy ? "pending" : "not-bound");
        jid_fini(&full);
        stream_mux_authz_done(s, false);
        return;
    }
    struct route_authz_c *a = x_calloc(1, sizeof(*a));
    a->p = sess->s;
    a->s = s;
    a->full = full;
    a->since = now_ms(r);
    unsigned char rnd[16];
    random_bytes(r, rnd, sizeof(rnd));
    hex_lower(rnd, sizeof(rnd), a->id);
    a->next = r->authz_c;
    r->authz_c = a;
    /* S is tied to the record: the router hears when it goes. */
    s->bound = true;
    size_t dn;
    const char *d = jid_domain(&full, &dn);
    struct stanza *iq = stanza_new(NS_CLIENT, "iq");
    stanza_set_attr(iq, "type", "set");
    stanza_set_attr(iq, "id", a->id);
    stanza_set_attr_n(iq, "from", d, dn);
    stanza_set_attr_n(iq, "to", jid_str(&full), jid_len(&full));
    stanza_add_text(stanza_add_child(iq, NS_MUX_IQ, "mux"), secret, n);
    char fp[9];
    mux_secret_fingerprint(secret, n, fp);
    log_msg(r->log, LOG_INFO, s->conn,
            "event=mux-authorization-relay to-conn=%llx secret_sha256=%s",
            (unsigned long long)sess->s->conn, fp);
    stream_deliver(sess->s, iq);
    stanza_unref(iq);
}

/* The client answered on P (MUX-84/85, D-02): a result from the stream
 * that got the IQ, still holding the JID, joins S's account to P under
 * P's resource, unless that full JID is taken; then S closes. */
bool
route__c2s_authz_answer(struct router *r,
                        struct stream *from,
                        const struct stanza *st)
{
    const char *id = stanza_attr(st, "id");
    const char *type = stanza_attr(st, "type");
    struct route_authz_c *a = r->authz_c;
    while (a && !(a->p == from && id && strcmp(id, a->id) == 0))
        a = a->next;
    if (a == NULL)
        return false;
    struct stream *s = a->s;
    struct route_session *held =
        route__session(r, jid_str(&a->full), jid_len(&a->full));
    bool ok = type != NULL && strcmp(type, "result") == 0 && s != NULL &&
              held != NULL && held->s == from;
    struct jid joined = {0};
    if (ok) {
        size_t rn;
        const char *res = jid_resource(&a->full, &rn);
        ok = jid_with_resource(&joined, &s->jid, res, rn) == 0 &&
             !router_is_bound(r, &joined) &&
             router_bind_also(r, from, &joined) == 0;
        if (ok) {
            stream_identity_add(from, &joined);
            log_msg(r->log, LOG_INFO, from->conn,
                    "event=mux-authorization-success joined=%s",
                    jid_str(&joined));
        }
        jid_fini(&joined);
    }
    authz_c_free(r, a);
    if (s != NULL)
        stream_mux_authz_done(s, ok);
    return true;
}

void
route__c2s_authz_gone(struct router *r, const struct stream *s)
{
    struct route_authz_c *a = r->authz_c;
    while (a != NULL) {
        struct route_authz_c *next = a->next;
        if (a->p == s || a->s == s) {
            /* MUX-91: P or S gone before the answer: nothing merges. */
            struct stream *sec = a->s == s ? NULL : a->s;
            authz_c_free(r, a);
            if (sec != NULL)
                stream_mux_authz_done(sec, false);
        }
        a = next;
    }
}

/* D-01: an account may ask for 10 connection authorizations a minute. */
static bool
c2s_rate_ok(struct router *r, const struct stream *s)
{
    uint64_t now = now_ms(r);
    size_t n;
    const char *bare = jid_bare(&s->jid, &n);
    struct route_rate **pp = &r->rates;
    struct route_rate *hit = NULL;
    while (*pp) {
        struct route_rate *x = *pp;
        if (now - x->start >= C2S_AUTHZ_WINDOW_MS) {
            *pp = x->next;
            x_free(x->bare);
            x_free(x);
            continue;
        }
        if (strlen(x->bare) == n && memcmp(x->bare, bare, n) == 0)
            hit = x;
        pp = &x->next;
    }
    if (hit == NULL) {
        hit = x_calloc(1, sizeof(*hit));
        hit->bare = x_strndup(bare, n);
        hit->start = now;
        hit->next = r->rates;
        r->rates = hit;
    }
    return ++hit->n <= C2S_AUTHZ_PER_WINDOW;
}

int
router_mux_authz(struct router *r,
                 struct stream *s,
                 const char *via,
                 const char *secret,
                 size_t n)
{
    if (!s->s2s) {
        if (!c2s_rate_ok(r, s)) {
            r->counts.limit_hits[CFG_LIMIT_C2S_AUTHORIZATIONS]++;
            log_msg(r->log, LOG_INFO, s->conn,
                    "event=limit what=c2s-authorizations max=%d",
                    C2S_AUTHZ_PER_WINDOW);
            return XE_LIMIT;
        }
        c2s_authz(r, s, via, secret, n);
        return 0;
    }
    struct route_authz_r *a = x_calloc(1, sizeof(*a));
    a->s = s;
    a->since = now_ms(r);
    unsigned char rnd[16];
    random_bytes(r, rnd, sizeof(rnd));
    hex_lower(rnd, sizeof(rnd), a->id);
    snprintf(a->via, sizeof(a->via), "%s", via);
    snprintf(a->peer, sizeof(a->peer), "%s", jid_str(&s->jid));
    snprintf(a->new_host, sizeof(a->new_host), "%s", s->host->domain);
    a->next = r->authz_r;
    r->authz_r = a;
    /* SEC-11: only to the authenticated domain of S, from the via host. */
    struct stanza *iq = stanza_new(NS_SERVER, "iq");
    stanza_set_attr(iq, "type", "set");
    stanza_set_attr(iq, "id", a->id);
    stanza_set_attr(iq, "from", via);
    stanza_set_attr(iq, "to", a->peer);
    stanza_add_text(stanza_add_child(iq, NS_MUX_IQ, "mux"), secret, n);
    char fp[9];
    mux_secret_fingerprint(secret, n, fp);
    log_msg(r->log, LOG_INFO, s->conn,
            "event=mux-authorization-relay via=%s to=%s secret_sha256=%s",
            via, a->peer, fp);
    route__s2s_send(r, iq, via, a->peer);
    stanza_unref(iq);
    return 0;
}

static void
authz_r_free(struct router *r, struct route_authz_r *a)
{
    struct route_authz_r **pp = &r->authz_r;
    while (*pp && *pp != a)
        pp = &(*pp)->next;
    if (*pp)
        *pp = a->next;
    x_free(a);
}

/* The initiating server answered our F5 IQ (§8.4): success adds the new
 * host to RSND of the bidi stream the result came on, and S closes. */
static bool
authz_r_answer(struct router *r, struct stream *in, const struct stanza *st)
{
    const char *id = stanza_attr(st, "id");
    const char *type = stanza_attr(st, "type");
    const char *from = stanza_attr(st, "from");
    const char *to = stanza_attr(st, "to");
    for (struct route_authz_r *a = r->authz_r; a; a = a->next) {
        if (id == NULL || strcmp(id, a->id) != 0 || from == NULL ||
            to == NULL || strcmp(from, a->peer) != 0 ||
            strcmp(to, a->via) != 0)
            continue;
        bool ok = type != NULL && strcmp(type, "result") == 0;
        if (ok && in && !in->initiating && in->bidi &&
            strcmp(in->peer_domain, a->peer) == 0 &&
            strcmp(in->host->domain, a->via) == 0)
        {
            domset_add(&in->tgt, a->new_host);
            domset_add(&in->granted, a->new_host);
        }
        struct stream *s = a->s;
        authz_r_free(r, a);
        if (s != NULL)
            stream_mux_authz_done(s, ok);
        return true;
    }
    return false;
}

/* --- initiating server: ask (§8.2, §8.3) ----------------------------------- */

static struct route_authz_i *
authz_i_find(const struct router *r, const struct stream *p, const char *host)
{
    for (struct route_authz_i *a = r->authz_i; a; a = a->next)
        if (a->p == p && strcmp(a->new_host, host) == 0)
            return a;
    return NULL;
}

static size_t
authz_i_count(const struct router *r, const struct stream *p)
{
    size_t n = 0;
    for (struct route_authz_i *a = r->authz_i; a; a = a->next)
        n += a->p == p && !a->granted;
    return n;
}

/* A primary stream P that lists target without its certificate covering
 * it, on which an authorization could run (the one of the pair's slot
 * when there are several, MUX.md §6.6); NULL if none. *full: one lists
 * it but has PENDING_PER_PEER authorizations running (SEC-19: wait). */
struct stream *
route__mux_primary(struct router *r, const char *target, unsigned slot,
                   bool *full)
{
    *full = false;
    if (!r->cfg->s2s.mux_authorization)
        return NULL;
    struct stream *any = NULL;
    for (struct route_link *l = r->s2s_head; l; l = l->next) {
        struct stream *p = l->s;
        if (p->initiating && p->state == STREAM_ST_SESSION &&
            p->auth == STREAM_AUTH_SASL && domset_has(&p->hosts, target) &&
            !domset_has(&p->tgt, target) && authz_i_find(r, p, target) == NULL) {
            if (authz_i_count(r, p) >= PENDING_PER_PEER) {
                *full = true;
                continue;
            }
            if (l->slot == slot)
                return p;
            if (any == NULL)
                any = p;
        }
    }
    return any;
}

/* Open the secondary stream S to target for P (its own resolution and
 * SNI, from P's stream 'from', §8.2 items 2-3). */
struct stream *
route__mux_secondary(struct router *r, struct stream *p, const char *target)
{
    struct stream *s = r->s2s_ops->connect(r->s2s_arg, p->host, target);
    if (s == NULL || s->route_data == NULL)
        return NULL;
    struct route_authz_i *a = x_calloc(1, sizeof(*a));
    a->p = p;
    a->s = s;
    snprintf(a->via, sizeof(a->via), "%s", p->peer_domain);
    snprintf(a->new_host, sizeof(a->new_host), "%s", target);
    snprintf(a->origin, sizeof(a->origin), "%s", p->host->domain);
    a->since = now_ms(r);
    a->next = r->authz_i;
    r->authz_i = a;
    log_msg(r->log, LOG_INFO, s->conn,
            "event=mux-authorization-start new=%s via=%s primary=%llx",
            target, a->via, (unsigned long long)p->conn);
    return s;
}

static void
authz_i_free(struct router *r, struct route_authz_i *a)
{
    struct route_authz_i **pp = &r->authz_i;
    while (*pp && *pp != a)
        pp = &(*pp)->next;
    if (*pp)
        *pp = a->next;
    r->m3_freed = true;
    OPENSSL_cleanse(a->secret, sizeof(a->secret));
    x_free(a);
}

/* Give up: S becomes the new host's ordinary route (§8.5 item 5). */
static void
authz_i_fail(struct router *r, struct route_authz_i *a, const char *why)
{
    struct stream *s = a->s;
    log_msg(r->log, LOG_INFO, s ? s->conn : 0,
            "event=mux-authorization-failed new=%s via=%s reason=%s",
            a->new_host, a->via, why);
    authz_i_free(r, a);
    if (s != NULL)
        stream_mux_release(s);
}

/* S is negotiated: check §8.2 and send F4 with a fresh secret. */
void
route__mux_secondary_ready(struct router *r, struct stream *s)
{
    struct route_authz_i *a = r->authz_i;
    while (a && !(a->s == s && !a->sent))
        a = a->next;
    if (a == NULL || s->state != STREAM_ST_SESSION)
        return;
    struct stream *p = a->p;
    if (p == NULL || p->state != STREAM_ST_SESSION) {
        authz_i_fail(r, a, "primary-gone");
        return;
    }
    random_bytes(r, a->nonce, sizeof(a->nonce));
    a->expiry = wall_s(r) + SECRET_LIFE_S;
    struct mux_secret_ctx c = {a->origin, a->new_host, a->via, p->peer_id,
                               s->peer_id};
    if (mux_secret_make(mux_key(r), sizeof(r->mux_key), &c, a->expiry,
                        a->nonce, a->secret) != 0 ||
        stream_mux_request_authz(s, a->via, a->secret) != 0) {
        authz_i_fail(r, a, "preconditions");
        return;
    }
    a->sent = true;
    a->since = now_ms(r);
    char fp[9];
    mux_secret_fingerprint(a->secret, strlen(a->secret), fp);
    log_msg(r->log, LOG_INFO, s->conn,
            "event=mux-authorization-sent new=%s via=%s secret_sha256=%s",
            a->new_host, a->via, fp);
}

/* --- initiating server: the F5 IQ (§8.5) ----------------------------------- */

/* Forget nonces whose secrets can no longer be valid. */
static void
replay_prune(struct router *r, uint64_t now)
{
    struct route_nonce **pp = &r->replay;
    while (*pp) {
        struct route_nonce *n = *pp;
        if (n->until <= now) {
            *pp = n->next;
            x_free(n);
        } else {
            pp = &n->next;
        }
    }
}

static bool
replayed(struct router *r, const unsigned char *nonce, uint64_t now)
{
    replay_prune(r, now);
    for (const struct route_nonce *n = r->replay; n; n = n->next)
        if (memcmp(n->nonce, nonce, MUX_NONCE_BYTES) == 0)
            return true;
    return false;
}

static void
replay_add(struct router *r, const unsigned char *nonce, uint64_t until)
{
    struct route_nonce *n = x_calloc(1, sizeof(*n));
    memcpy(n->nonce, nonce, MUX_NONCE_BYTES);
    n->until = until;
    n->next = r->replay;
    r->replay = n;
}

/* Answer the IQ st with an error of condition c (type modify), routed
 * back like any reply. */
static void
iq_error(struct router *r, const struct stanza *st, enum stanza_cond c)
{
    struct stanza *e = stanza_error_reply(st, c, NULL);
    route__send_remote(r, e, 0);
    stanza_unref(e);
}

/* The secret of an F5 payload, trimmed; NULL if malformed. */
static const char *
f5_secret(const struct stanza *st, size_t *n)
{
    const struct stanza *m = stanza_first_child(st);
    if (m == NULL || stanza_next_sibling(m) != NULL ||
        !stanza_is(m, NS_MUX_IQ, "mux") || stanza_first_child(m) != NULL)
        return NULL;
    const char *t = stanza_text(m, n);
    while (t && *n > 0 && (*t == ' ' || *t == '\n' || *t == '\t' ||
                           *t == '\r')) {
        t++;
        (*n)--;
    }
    while (t && *n > 0 && (t[*n - 1] == ' ' || t[*n - 1] == '\n' ||
                           t[*n - 1] == '\t' || t[*n - 1] == '\r'))
        (*n)--;
    return t && *n > 0 ? t : NULL;
}

/* The pending authorization whose secret this is (constant time). */
static struct route_authz_i *
authz_i_by_secret(struct router *r, const char *secret, size_t n)
{
    struct route_authz_i *hit = NULL;
    for (struct route_authz_i *a = r->authz_i; a; a = a->next) {
        size_t len = strlen(a->secret);
        if (a->sent && len == n && CRYPTO_memcmp(a->secret, secret, n) == 0)
            hit = a;
    }
    return hit;
}

/* Success: the result over P itself, the new host into TGT_I(P) (and so
 * RSND with bidi), its waiting stanzas moved from S to P in order; S
 * waits for the peer to close it (T_secondary_close). */
static void
authz_i_grant(struct router *r, struct route_authz_i *a, const char *id)
{
    struct stream *p = a->p, *s = a->s;
    domset_add(&p->tgt, a->new_host);
    domset_add(&p->granted, a->new_host);
    struct stanza *res = stanza_new(NS_SERVER, "iq");
    stanza_set_attr(res, "type", "result");
    if (id)
        stanza_set_attr(res, "id", id);
    stanza_set_attr(res, "from", a->origin);
    stanza_set_attr(res, "to", a->via);
    stream_deliver(p, res);
    stanza_unref(res);
    log_msg(r->log, LOG_INFO, p->conn,
            "event=mux-authorization-success new=%s via=%s", a->new_host,
            a->via);
    a->granted = true;
    r->m3_freed = true;
    a->since = now_ms(r);
    if (s != NULL)
        route__s2s_move(r, s, p, a->new_host);
}

/* An IQ that carries F5 (§8.5). Returns true if it was one. */
static bool
authz_i_iq(struct router *r, struct stream *in, const struct stanza *st)
{
    const struct stanza *m = stanza_first_child(st);
    if (m == NULL || strcmp(stanza_ns(m), NS_MUX_IQ) != 0)
        return false;
    const char *type = stanza_attr(st, "type");
    if (type == NULL || (strcmp(type, "set") != 0 && strcmp(type, "get") != 0))
        return false;
    size_t n = 0;
    const char *secret = f5_secret(st, &n);
    if (strcmp(type, "get") == 0 || secret == NULL) {
        iq_error(r, st, XC_BAD_REQUEST);
        return true;
    }
    struct route_authz_i *a = authz_i_by_secret(r, secret, n);
    const char *from = stanza_attr(st, "from");
    const char *to = stanza_attr(st, "to");
    uint64_t now = wall_s(r);
    unsigned char nonce[MUX_NONCE_BYTES];
    bool ok = a != NULL && !a->granted && from && to &&
              strcmp(from, a->via) == 0 && strcmp(to, a->origin) == 0 &&
              a->p != NULL && a->p->state == STREAM_ST_SESSION;
    if (ok) {
        struct mux_secret_ctx c = {a->origin, a->new_host, a->via,
                                   a->p->peer_id, a->s ? a->s->peer_id : ""};
        ok = a->s != NULL &&
             mux_secret_check(mux_key(r), sizeof(r->mux_key), &c, now, secret,
                              n, nonce) &&
             !replayed(r, nonce, now);
    }
    (void)in;
    if (!ok) {
        iq_error(r, st, XC_NOT_ACCEPTABLE);
        if (a != NULL && !a->granted) {
            replay_add(r, a->nonce, a->expiry + REPLAY_KEEP_S);
            authz_i_fail(r, a, "bad-secret");
        }
        return true;
    }
    replay_add(r, nonce, a->expiry + REPLAY_KEEP_S);
    authz_i_grant(r, a, stanza_attr(st, "id"));
    return true;
}

bool
route__mux_iq(struct router *r, struct stream *in, const struct stanza *st)
{
    const char *type = stanza_attr(st, "type");
    if (type && (strcmp(type, "result") == 0 || strcmp(type, "error") == 0))
        return authz_r_answer(r, in, st);
    return authz_i_iq(r, in, st);
}

/* --- lifetimes ----------------------------------------------------------------- */

/* Releasing S re-enters the router (s2s_changed), which may change
 * these lists: every loop that acts starts over afterwards. */
void
route__mux_gone(struct router *r, const struct stream *s)
{
    for (struct route_authz_r *a = r->authz_r; a; a = a->next)
        if (a->s == s)
            a->s = NULL; /* its answer still comes; nothing to close */
    struct route_authz_i *a = r->authz_i;
    while (a != NULL) {
        if (a->s == s)
            a->s = NULL;
        if (a->p == s)
            a->p = NULL;
        if ((a->s == NULL || a->p == NULL) && a->granted) {
            authz_i_free(r, a);
        } else if (a->p == NULL) {
            authz_i_fail(r, a, "primary-gone");
        } else {
            a = a->next;
            continue;
        }
        a = r->authz_i;
    }
}

void
route__mux_tick(struct router *r)
{
    uint64_t now = now_ms(r);
    const struct cfg_timeouts *t = &r->cfg->timeouts;
    struct route_authz_r *ar = r->authz_r;
    while (ar != NULL) {
        struct route_authz_r *next = ar->next;
        if (now - ar->since >= t->iq_response) {
            struct stream *s = ar->s;
            authz_r_free(r, ar);
            if (s != NULL)
                stream_mux_authz_done(s, false); /* MUX-58 */
        }
        ar = next;
    }
    struct route_authz_c *ac = r->authz_c;
    while (ac != NULL) {
        struct route_authz_c *next = ac->next;
        if (now - ac->since >= t->iq_response) {
            struct stream *sec = ac->s;
            authz_c_free(r, ac);
            if (sec != NULL)
                stream_mux_authz_done(sec, false); /* MUX-85 */
        }
        ac = next;
    }
    struct route_authz_i *a = r->authz_i;
    while (a != NULL) {
        if (a->granted && now - a->since >= t->secondary_close) {
            /* MUX-61: the peer did not close S: we do. */
            struct stream *s = a->s;
            authz_i_free(r, a);
            if (s != NULL)
                stream_idle_close(s);
        } else if (!a->granted && a->sent && now - a->since >= t->authz) {
            authz_i_fail(r, a, "timeout"); /* MUX-68 */
        } else if (!a->sent && now - a->since >= t->negotiation) {
            authz_i_fail(r, a, "secondary-not-ready");
        } else {
            a = a->next;
            continue;
        }
        a = r->authz_i;
    }
    replay_prune(r, wall_s(r));
}

void
route__mux_free(struct router *r)
{
    while (r->authz_r) {
        struct route_authz_r *a = r->authz_r;
        r->authz_r = a->next;
        x_free(a);
    }
    while (r->authz_i) {
        struct route_authz_i *a = r->authz_i;
        r->authz_i = a->next;
        OPENSSL_cleanse(a->secret, sizeof(a->secret));
        x_free(a);
    }
    while (r->authz_c)
        authz_c_free(r, r->authz_c);
    while (r->rates) {
        struct route_rate *x = r->rates;
        r->rates = x->next;
        x_free(x->bare);
        x_free(x);
    }
    while (r->replay) {
        struct route_nonce *n = r->replay;
        r->replay = n->next;
        x_free(n);
    }
    OPENSSL_cleanse(r->mux_key, sizeof(r->mux_key));
}
