/* SPDX-License-Identifier: MIT */
/* services.c -- what streams ask of the server: accounts and routing. */
#include "io/io_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/err.h"
#include "io/resolve.h"
#include "route/route.h"
#include "store/store.h"

/* Failed logins are remembered for 15 minutes, in 4096 counters each
 * for addresses and for accounts. */
#define THROTTLE_WINDOW_MS ((uint64_t)15 * 60 * 1000)
#define THROTTLE_SLOTS     4096

static struct conn *
conn_of(struct stream *s)
{
    return (struct conn *)(void *)((char *)s - offsetof(struct conn, st));
}

/* --- credentials ------------------------------------------------------- */

/* On c's own worker: each worker has its store, whose answers come back
 * on the worker's loop. */
static void
on_account(void *arg, int status, const struct store_account *acct)
{
    struct conn *c = arg;
    struct server *srv = c->srv;
    server__lock(srv);
    c->creds_req = NULL;
    if (status != 0 && status != XE_NOTFOUND)
        log_msg_errno(&c->srv->log, LOG_WARN, c->id, status,
                      "event=store-failed op=account-get");
    const struct sasl_creds *creds =
        status == 0 && acct && !acct->disabled ? &acct->creds : NULL;
    stream_provide_creds(&c->st, creds);
    conn__flush(c);
    server__unlock(srv);
}

static void
ops_need_creds(void *arg, struct stream *s, const char *host,
               const char *user)
{
    struct server *srv = arg;
    struct conn *c = conn_of(s);
    struct store_req *req = NULL;
    int rc = store_account_get(c->w->store, host, user ? user : "",
                               on_account, c, &req);
    if (rc != 0) {
        /* The lookup cannot even start: answer "no such account" so the
         * attempt fails cleanly, but from the loop, never from here. */
        log_msg_errno(&srv->log, LOG_WARN, c->id, rc,
                      "event=store-failed op=account-get");
        conn__defer_no_creds(c);
        return;
    }
    c->creds_req = req;
}

void
conn__cancel_creds(struct conn *c)
{
    if (c->creds_req) {
        store_req_cancel(c->creds_req);
        c->creds_req = NULL;
    }
}

/* Failed logins slow the peer down: its next bytes are read only after a
 * delay that grows with the failures from its address and for the
 * account (250 ms doubling to 8 s, within a 15-minute window). A failed
 * channel binding or a malformed request is not a password guess. */
static void
ops_auth_failed(void *arg, struct stream *s, const char *user,
                enum sasl_why why)
{
    struct server *srv = arg;
    struct conn *c = conn_of(s);
    if (why != SASL_WHY_CREDENTIALS)
        return;
    uint64_t now = server__now(srv);
    uint32_t n_ip = throttle_hit(&srv->fail_ip, c->ip, now);
    uint32_t n_acct = 0;
    if (user && s->host) {
        char key[2 * JID_DOMAIN_BUFSZ + 2];
        snprintf(key, sizeof(key), "%s@%s", user, s->host->domain);
        n_acct = throttle_hit(&srv->fail_account, key, now);
    }
    uint64_t d_ip = throttle_delay_ms(n_ip);
    uint64_t d_acct = throttle_delay_ms(n_acct);
    uint64_t delay = d_ip > d_acct ? d_ip : d_acct;
    if (delay == 0)
        return;
    log_msg(&srv->log, LOG_INFO, c->id,
            "event=login-throttle delay_ms=%llu failures_ip=%u "
            "failures_account=%u",
            (unsigned long long)delay, n_ip, n_acct);
    conn__throttle(c, delay);
}

/* --- routing ------------------------------------------------------------ */

static int
ops_bind(void *arg, struct stream *s)
{
    struct server *srv = arg;
    return router_bind(srv->router, s);
}

static int
ops_bind_also(void *arg, struct stream *s, const struct jid *full)
{
    struct server *srv = arg;
    return router_bind_also(srv->router, s, full);
}

static bool
ops_is_bound(void *arg, const struct jid *full)
{
    struct server *srv = arg;
    return router_is_bound(srv->router, full);
}

static void
ops_unbind(void *arg, struct stream *s)
{
    struct server *srv = arg;
    router_unbind(srv->router, s);
}

static void
ops_stanza(void *arg, struct stream *s, struct stanza *st)
{
    struct server *srv = arg;
    router_stanza(srv->router, s, st);
}

static void
ops_wake(void *arg, struct stream *s)
{
    struct conn *c = conn_of(s);
    if (c->parked) {
        /* Too much waits for a detached session: end it now. */
        if (stream_sm_overflow(s))
            conn__park_expire_soon(c);
        return;
    }
    server__flush_later(arg, c);
}

static int
ops_sm_s2s_previous(void *arg, struct stream *s, const char **previd,
                    uint32_t *h)
{
    struct server *srv = arg;
    return router_sm_s2s_previous(srv->router, s, previd, h);
}

static int
ops_sm_s2s_resumed(void *arg, struct stream *s, bool ok, uint32_t h)
{
    struct server *srv = arg;
    return router_sm_s2s_resumed(srv->router, s, ok, h);
}

/* XEP-0198 resumption: the detached (or still attached: the client saw
 * the drop first) session previd of the same account moves to s. */
static int
ops_sm_resume(void *arg, struct stream *s, const char *previd, uint32_t h)
{
    struct server *srv = arg;
    if (s->s2s)
        return router_sm_s2s_resume(srv->router, s, previd);
    (void)h;
    struct conn *me = conn_of(s), *old = NULL;
    for (struct conn *c = srv->conns; c && old == NULL; c = c->next) {
        const char *id = stream_sm_id(&c->st);
        if (c != me && id != NULL && strcmp(id, previd) == 0)
            old = c;
    }
    if (old == NULL || !jid_bare_eq(&old->st.jid, &s->jid) ||
        !stream_sm_check_h(&old->st, h))
        return XE_NOTFOUND;
    if (!old->parked && !conn__park(old, "replaced"))
        return XE_STATE; /* old may be another worker's: see sm_park.c */
    router_rebind(srv->router, &old->st, s);
    stream_sm_take_over(s, &old->st, h);
    conn__parked_end(old, "resumed");
    /* MUX-47: the other identities stay only if the certificate of the
     * new stream still names them; the others end (a password login, or
     * an identity joined by connection authorization, proves none). */
    for (size_t i = s->nids; i-- > 0;) {
        const struct jid *id = &s->ids[i];
        if (jid_bare_eq(id, &s->jid) || stream_cert_names(s, id))
            continue;
        log_msg(&srv->log, LOG_INFO, me->id,
                "event=sm-identity-dropped jid=%s", jid_str(id));
        router_unbind_also(srv->router, s, id);
        stream_identity_remove(s, i);
    }
    return 0;
}

/* A limit hit inside the stream: counted and logged with the peer. */
static void
ops_limit(void *arg, struct stream *s, enum cfg_limit what, const char *detail)
{
    server__limit(arg, conn_of(s), what, "%s", detail);
}

/* --- s2s ---------------------------------------------------------------- */

static void
ops_s2s_changed(void *arg, struct stream *s)
{
    struct server *srv = arg;
    router_s2s_changed(srv->router, s);
}

static void
ops_db_verify(void *arg, struct stream *s, const struct dialback_elem *e)
{
    struct server *srv = arg;
    router_s2s_verify(srv->router, s, e);
}

static void
ops_db_verified(void *arg, struct stream *s, const struct dialback_elem *ans)
{
    struct server *srv = arg;
    router_s2s_verified(srv->router, s, ans);
}

static struct stream *
s2s_connect(void *arg, const struct cfg_host *from, const char *to)
{
    return conn__connect(arg, from, to);
}

static uint64_t
s2s_now(void *arg)
{
    return server__now(arg);
}

static uint64_t
s2s_wall(void *arg)
{
    (void)arg;
    return (uint64_t)time(NULL);
}

static int
ops_mux_authz(void *arg, struct stream *s, const char *via, const char *secret,
              size_t len)
{
    struct server *srv = arg;
    return router_mux_authz(srv->router, s, via, secret, len);
}

static const struct router_s2s_ops s2s_ops = {
    .connect = s2s_connect,
    .now = s2s_now,
    .wall = s2s_wall,
    .random = server__random,
};

const struct stream_ops server__stream_ops = {
    .need_creds = ops_need_creds,
    .bind = ops_bind,
    .bind_also = ops_bind_also,
    .is_bound = ops_is_bound,
    .unbind = ops_unbind,
    .stanza = ops_stanza,
    .auth_failed = ops_auth_failed,
    .wake = ops_wake,
    .s2s_changed = ops_s2s_changed,
    .db_verify = ops_db_verify,
    .db_verified = ops_db_verified,
    .mux_authz = ops_mux_authz,
    .sm_resume = ops_sm_resume,
    .sm_s2s_previous = ops_sm_s2s_previous,
    .sm_s2s_resumed = ops_sm_s2s_resumed,
    .limit = ops_limit,
};

int
server__services_init(struct server *srv, struct buf *err)
{
    (void)err;
    unsigned char key[16];
    server__random(NULL, key, sizeof(key));
    srv->router = router_new(srv->cfg, &srv->log, key);
    router_set_s2s(srv->router, &s2s_ops, srv);
    uint64_t seed;
    server__random(NULL, &seed, sizeof(seed));
    throttle_init(&srv->fail_ip, THROTTLE_SLOTS, seed, THROTTLE_WINDOW_MS);
    throttle_init(&srv->fail_account, THROTTLE_SLOTS,
                  seed ^ 0x9e3779b97f4a7c15ULL, THROTTLE_WINDOW_MS);
    ipcount_init(&srv->per_ip, srv->cfg->max_connections,
                 seed ^ 0xc2b2ae3d27d4eb4fULL);
    return 0;
}

/* Each worker has its own account store (an SQLite connection and its
 * thread; WAL lets them read side by side) and resolver, so that their
 * answers come back on the thread of the connection that asked. */
int
server__services_open_worker(struct worker *w, struct buf *err)
{
    struct server *srv = w->srv;
    char path[4352];
    snprintf(path, sizeof(path), "%s/%s", srv->cfg->state_dir, STORE_DB_FILE);
    int rc = store_open(w->loop, path, &w->store, err);
    if (rc != 0)
        return rc;
    struct resolver_opts ro = {.servers = srv->cfg->s2s.resolver};
    return resolver_new(w->loop, &ro, &srv->log, &w->resolver, err);
}

void
server__services_close_worker(struct worker *w)
{
    if (w->resolver) {
        resolver_free(w->resolver, NULL, NULL);
        w->resolver = NULL;
    }
    if (w->store) {
        store_close(w->store, NULL, NULL);
        w->store = NULL;
    }
}

void
server__services_fini(struct server *srv)
{
    router_free(srv->router);
    srv->router = NULL;
    throttle_fini(&srv->fail_ip);
    throttle_fini(&srv->fail_account);
    ipcount_fini(&srv->per_ip);
}
