/* SPDX-License-Identifier: MIT */
/* s2s_out.c -- outgoing s2s connections: resolve (static route or DNS
 * SRV, XEP-0368), connect to each target in turn, TLS as client. */
#include "io/io_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* Happy eyeballs (RFC 8305 §5): attempts start one Connection Attempt
 * Delay apart, in resolution order, without waiting for the earlier ones
 * to fail; the first to connect wins and the others are dropped. Each
 * attempt is a non-blocking socket watched with uv_poll_t; the winner's
 * descriptor becomes the connection's uv_tcp_t (uv_tcp_open). */
#define HE_DELAY_MS 250

struct attempt {
    uv_poll_t poll;
    struct server *srv;
    struct conn *c; /* NULL once the conn no longer waits for it */
    int fd;         /* -1 once adopted by the conn */
    size_t target;
};

static void
on_attempt_closed(uv_handle_t *h)
{
    struct attempt *a = h->data;
    if (a->fd >= 0)
        close(a->fd);
    x_free(a);
}

static void
attempt_drop(struct conn *c, size_t i)
{
    struct attempt *a = c->attempts[i];
    c->attempts[i] = c->attempts[--c->nattempts];
    a->c = NULL;
    uv_close((uv_handle_t *)&a->poll, on_attempt_closed);
}

void
conn__attempts_drop(struct conn *c)
{
    while (c->nattempts > 0)
        attempt_drop(c, c->nattempts - 1);
}

static void start_next(struct conn *c);

static void
log_attempt_failed(struct conn *c, size_t target, const char *error)
{
    const struct resolve_target *tg = &c->targets[target];
    log_msg(&c->srv->log, LOG_INFO, c->id,
            "event=connect-failed to=%s address=%s port=%u error=%s",
            c->st.peer_domain, tg->addr, tg->port, error);
}

/* Every target was tried and none is still connecting. */
static void
maybe_exhausted(struct conn *c)
{
    if (c->nattempts == 0 && c->target_i >= c->ntargets)
        out_fail(c, XC_REMOTE_SERVER_NOT_FOUND, "connect-failed");
}

static void
connected(struct conn *c, struct attempt *a)
{
    const struct resolve_target *tg = &c->targets[a->target];
    int fd = a->fd;
    a->fd = -1;
    for (size_t i = 0; i < c->nattempts; i++) {
        if (c->attempts[i] == a) {
            attempt_drop(c, i);
            break;
        }
    }
    conn__attempts_drop(c);
    if (c->delay_timer)
        uv_timer_stop(c->delay_timer);
    if (uv_tcp_open(&c->tcp, fd) != 0) {
        close(fd);
        out_fail(c, XC_REMOTE_SERVER_NOT_FOUND, "connect-failed");
        return;
    }
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
on_attempt_locked(struct attempt *a, int status)
{
    struct conn *c = a->c;
    if (c == NULL || c->closing)
        return;
    int err = 0;
    socklen_t len = sizeof(err);
    if (status < 0)
        err = -status;
    else if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        err = errno;
    if (err == 0) {
        connected(c, a);
        return;
    }
    log_attempt_failed(c, a->target, uv_err_name(-err));
    for (size_t i = 0; i < c->nattempts; i++) {
        if (c->attempts[i] == a) {
            attempt_drop(c, i);
            break;
        }
    }
    /* No need to wait out the delay when nothing else is connecting. */
    if (c->nattempts == 0 && c->target_i < c->ntargets)
        start_next(c);
    else
        maybe_exhausted(c);
}

static void
on_attempt(uv_poll_t *h, int status, int events)
{
    (void)events;
    struct attempt *a = h->data;
    /* A attempt's conn is on this thread; the server outlives both. */
    struct server *srv = a->srv;
    server__lock(srv);
    on_attempt_locked(a, status);
    server__unlock(srv);
}

/* Start a non-blocking connect to target i. Returns 0 or an errno. */
static int
attempt_start(struct conn *c, size_t i)
{
    const struct resolve_target *tg = &c->targets[i];
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    if (tg->family == AF_INET6) {
        if (uv_ip6_addr(tg->addr, tg->port, (struct sockaddr_in6 *)&ss) != 0)
            return EINVAL;
        sl = sizeof(struct sockaddr_in6);
    } else {
        if (uv_ip4_addr(tg->addr, tg->port, (struct sockaddr_in *)&ss) != 0)
            return EINVAL;
        sl = sizeof(struct sockaddr_in);
    }
    int fd = socket(tg->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    if (connect(fd, (struct sockaddr *)&ss, sl) != 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return e;
    }
    struct attempt *a = x_calloc(1, sizeof(*a));
    a->c = c;
    a->srv = c->srv;
    a->fd = fd;
    a->target = i;
    if (uv_poll_init_socket(c->w->loop, &a->poll, fd) != 0) {
        close(fd);
        x_free(a);
        return EIO;
    }
    a->poll.data = a;
    uv_poll_start(&a->poll, UV_WRITABLE, on_attempt);
    c->attempts[c->nattempts++] = a;
    return 0;
}

static void
on_attempt_timer_locked(struct conn *c)
{
    if (c->closing || c->connected)
        return;
    if (c->target_i < c->ntargets) {
        start_next(c);
        return;
    }
    /* The last attempt had timeouts.connect: give up on what is left. */
    for (size_t i = 0; i < c->nattempts; i++)
        log_attempt_failed(c, c->attempts[i]->target, "timeout");
    conn__attempts_drop(c);
    out_fail(c, XC_REMOTE_SERVER_TIMEOUT, "connect-timeout");
}

static void
on_attempt_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    server__lock(c->srv);
    on_attempt_timer_locked(c);
    server__unlock(c->srv);
}

/* Start the next target (and any that fail at once); then wait either
 * the attempt delay for the next one, or timeouts.connect after the
 * last. */
static void
start_next(struct conn *c)
{
    while (c->target_i < c->ntargets && c->nattempts < S2S_ATTEMPTS_MAX) {
        size_t i = c->target_i++;
        int e = attempt_start(c, i);
        if (e == 0)
            break;
        log_attempt_failed(c, i, uv_err_name(-e));
    }
    if (c->nattempts == 0) {
        maybe_exhausted(c);
        return;
    }
    conn__delay_timer(c);
    uint64_t wait = c->target_i < c->ntargets && c->nattempts < S2S_ATTEMPTS_MAX
                        ? HE_DELAY_MS
                        : c->srv->cfg->timeouts.connect;
    uv_timer_start(c->delay_timer, on_attempt_timer, wait, 0);
}

static void
on_resolved_locked(struct conn *c, int status, const struct resolve_target *v,
                   size_t n)
{
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
    start_next(c);
}

static void
on_resolved(void *arg, int status, const struct resolve_target *v, size_t n)
{
    struct conn *c = arg;
    server__lock(c->srv);
    on_resolved_locked(c, status, v, n);
    server__unlock(c->srv);
}

/* The new conn belongs to the worker whose thread asks for it: the one
 * that routed the stanza needing it. */
struct stream *
conn__connect(struct server *srv, const struct cfg_host *from, const char *to)
{
    struct worker *w = server__self();
    if (srv->stopping || w == NULL || w->stopping || w->resolver == NULL)
        return NULL;
    if (srv->nconns - srv->nparked >= srv->conn_cap) {
        server__limit(srv, NULL, CFG_LIMIT_MAX_CONNECTIONS,
                      "conns=%zu max=%zu dir=out to=%s", srv->nconns,
                      srv->conn_cap, to);
        return NULL;
    }
    struct conn *c = x_calloc(1, sizeof(*c));
    c->srv = srv;
    c->w = w;
    c->id = ++srv->next_conn_id;
    c->started = uv_now(w->loop);
    c->last_io = c->started;
    c->outgoing = true;
    uv_tcp_init(w->loop, &c->tcp);
    uv_timer_init(w->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->open_handles = 2;
    stream_init_out(&c->st, &srv->sctx, c->id, from, to);
    conn__rate_init(c);
    server__conn_link(srv, c);
    router_s2s_attach(srv->router, &c->st);
    snprintf(c->peer, sizeof(c->peer), "-");
    log_msg(&srv->log, LOG_INFO, c->id, "event=s2s-out from=%s to=%s",
            from->domain, to);
    uv_timer_start(&c->timer, conn__on_negotiation_timeout,
                   srv->cfg->timeouts.negotiation, 0);
    int rc = resolve_s2s(w->resolver, to, static_route(srv->cfg, to),
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
