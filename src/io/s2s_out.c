/* SPDX-License-Identifier: MIT */
/* s2s_out.c -- outgoing s2s connections: resolve (static route or DNS
 * SRV, XEP-0368), connect to each target in turn, TLS as client. */
#include "io/io_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "route/route.h"

struct tls_conn *
conn__tls_client(struct conn *c, const char *alpn)
{
    struct tls_conn *t = tls_conn_new(c->srv->tls, TLS_CLIENT,
                                      c->st.peer_domain, alpn,
                                      CONN_TLS_OUT_MAX);
    if (t != NULL)
        tls_conn_set_client_cert(t, c->st.host->domain);
    return t;
}

static const struct cfg_route *
static_route(const struct config *cfg, const char *domain)
{
    for (size_t i = 0; i < cfg->s2s.nroutes; i++)
        if (strcmp(cfg->s2s.routes[i].domain, domain) == 0)
            return &cfg->s2s.routes[i];
    return NULL;
}

/* The stream could not be set up: its stanzas bounce with cond. */
static void
out_fail(struct conn *c, enum stanza_cond cond, const char *reason)
{
    stream_fail_setup(&c->st, cond, reason);
    conn__close(c, reason);
}

static void try_connect(struct conn *c);

static void
on_attempt_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    c->reconnecting = false;
    if (c->closing) {
        conn__handle_closed(h);
        return;
    }
    uv_tcp_init(c->srv->loop, &c->tcp);
    c->tcp.data = c;
    try_connect(c);
}

/* Give up on the current target and go on with the next one. */
static void
next_target(struct conn *c)
{
    if (c->delay_timer)
        uv_timer_stop(c->delay_timer);
    c->target_i++;
    c->reconnecting = true;
    uv_close((uv_handle_t *)&c->tcp, on_attempt_closed);
}

static void
on_attempt_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->closing || c->connected)
        return;
    const struct resolve_target *tg = &c->targets[c->target_i];
    log_msg(&c->srv->log, LOG_INFO, c->id,
            "event=connect-failed to=%s address=%s port=%u error=timeout",
            c->st.peer_domain, tg->addr, tg->port);
    next_target(c);
}

static void
on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    if (c->closing || status == UV_ECANCELED)
        return;
    const struct resolve_target *tg = &c->targets[c->target_i];
    if (status < 0) {
        log_msg(&c->srv->log, LOG_INFO, c->id,
                "event=connect-failed to=%s address=%s port=%u error=%s",
                c->st.peer_domain, tg->addr, tg->port, uv_err_name(status));
        next_target(c);
        return;
    }
    if (c->delay_timer)
        uv_timer_stop(c->delay_timer);
    c->connected = true;
    uv_tcp_nodelay(&c->tcp, 1);
    conn__peer_name(c);
    log_msg(&c->srv->log, LOG_INFO, c->id,
            "event=connect kind=s2s dir=out from=%s to=%s peer=%s host=%s "
            "direct_tls=%s",
            c->st.host->domain, c->st.peer_domain, c->peer, tg->host,
            tg->direct_tls ? "yes" : "no");
    if (tg->direct_tls) {
        c->tls = conn__tls_client(c, "xmpp-server");
        if (c->tls == NULL) {
            out_fail(c, XC_INTERNAL_SERVER_ERROR, "tls-failed");
            return;
        }
    }
    stream_connected(&c->st, tg->direct_tls);
    conn__read_start(c);
    conn__flush(c);
}

static void
try_connect(struct conn *c)
{
    if (c->target_i >= c->ntargets) {
        out_fail(c, XC_REMOTE_SERVER_NOT_FOUND, "connect-failed");
        return;
    }
    const struct resolve_target *tg = &c->targets[c->target_i];
    struct sockaddr_storage ss;
    int rc = tg->family == AF_INET6
                 ? uv_ip6_addr(tg->addr, tg->port, (struct sockaddr_in6 *)&ss)
                 : uv_ip4_addr(tg->addr, tg->port, (struct sockaddr_in *)&ss);
    if (rc == 0) {
        c->creq.data = c;
        rc = uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&ss,
                            on_connect);
    }
    if (rc != 0) {
        log_msg(&c->srv->log, LOG_INFO, c->id,
                "event=connect-failed to=%s address=%s port=%u error=%s",
                c->st.peer_domain, tg->addr, tg->port, uv_err_name(rc));
        next_target(c);
        return;
    }
    conn__delay_timer(c);
    uv_timer_start(c->delay_timer, on_attempt_timeout,
                   c->srv->cfg->timeouts.connect, 0);
}

static void
on_resolved(void *arg, int status, const struct resolve_target *v, size_t n)
{
    struct conn *c = arg;
    c->resolve = NULL;
    if (c->closing)
        return;
    if (status != 0 || n == 0) {
        log_msg(&c->srv->log, LOG_INFO, c->id,
                "event=resolve-failed to=%s error=%s", c->st.peer_domain,
                status == XE_NOTFOUND ? "not-found" : xerr_name(status));
        out_fail(c,
                 status == XE_NOTFOUND ? XC_REMOTE_SERVER_NOT_FOUND
                                       : XC_REMOTE_SERVER_TIMEOUT,
                 "resolve-failed");
        return;
    }
    c->targets = x_malloc(n * sizeof(*v));
    memcpy(c->targets, v, n * sizeof(*v));
    c->ntargets = n;
    c->target_i = 0;
    log_msg(&c->srv->log, LOG_DEBUG, c->id,
            "event=resolved to=%s targets=%zu first=%s:%u", c->st.peer_domain,
            n, v[0].addr, v[0].port);
    try_connect(c);
}

struct stream *
conn__connect(struct server *srv, const struct cfg_host *from, const char *to)
{
    if (srv->stopping || srv->resolver == NULL)
        return NULL;
    if (srv->nconns >= srv->cfg->max_connections) {
        log_msg(&srv->log, LOG_WARN, 0,
                "event=limit what=max-connections max=%zu dir=out",
                srv->cfg->max_connections);
        return NULL;
    }
    struct conn *c = x_calloc(1, sizeof(*c));
    c->srv = srv;
    c->id = ++srv->next_conn_id;
    c->started = uv_now(srv->loop);
    c->last_io = c->started;
    c->outgoing = true;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    stream_init_out(&c->st, &srv->sctx, c->id, from, to);
    server__conn_link(srv, c);
    router_s2s_attach(srv->router, &c->st);
    snprintf(c->peer, sizeof(c->peer), "-");
    log_msg(&srv->log, LOG_INFO, c->id, "event=s2s-out from=%s to=%s",
            from->domain, to);
    uv_timer_start(&c->timer, conn__on_negotiation_timeout,
                   srv->cfg->timeouts.negotiation, 0);
    int rc = resolve_s2s(srv->resolver, to, static_route(srv->cfg, to),
                         on_resolved, c, &c->resolve);
    if (rc != 0) {
        /* Not a name DNS can be asked about: fail from the loop, as the
         * caller still holds the stream. */
        c->resolve = NULL;
        stream_fail_setup(&c->st, XC_REMOTE_SERVER_NOT_FOUND,
                          "bad-domain");
        server__flush_later(srv, c);
    }
    return &c->st;
}
