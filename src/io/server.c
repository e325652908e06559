/* SPDX-License-Identifier: MIT */
/* server.c -- listeners, the connection list and clean shutdown. */
#include "io/io_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/alloc.h"
#include "base/err.h"

#define READ_BUF_SIZE ((size_t)64 << 10)

/* The kernel's CSPRNG; getrandom on an initialised pool never fails for
 * requests this small, but EINTR is retried and anything else aborts:
 * stream ids must never be predictable. */
static void
random_bytes(void *arg, void *buf, size_t n)
{
    (void)arg;
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            abort();
        }
        p += r;
        n -= (size_t)r;
    }
}

int
server_init(struct server *srv, uv_loop_t *loop, const struct config *cfg)
{
    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    srv->cfg = cfg;
    srv->log.level = cfg->log_level;
    srv->log.sink = log_sink_stderr;
    srv->sctx.cfg = cfg;
    srv->sctx.log = &srv->log;
    srv->sctx.random = random_bytes;
    srv->readbuf_size = READ_BUF_SIZE;
    srv->readbuf = x_malloc(READ_BUF_SIZE);
    srv->listeners = x_calloc(cfg->nlisten ? cfg->nlisten : 1,
                              sizeof(*srv->listeners));
    uv_timer_init(loop, &srv->stop_timer);
    srv->stop_timer.data = srv;
    uv_unref((uv_handle_t *)&srv->stop_timer);
    return 0;
}

void
server__conn_link(struct server *srv, struct conn *c)
{
    c->prev = NULL;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
}

void
server__conn_unlink(struct server *srv, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    srv->nconns--;
}

/* Called when a connection's memory is gone; ends a shutdown when it was
 * the last one. */
void
server__conn_gone(struct server *srv)
{
    if (srv->stopping && srv->conns == NULL &&
        !uv_is_closing((uv_handle_t *)&srv->stop_timer))
        uv_close((uv_handle_t *)&srv->stop_timer, NULL);
}

static void
on_connection(uv_stream_t *h, int status)
{
    struct listener *l = h->data;
    if (status < 0) {
        log_msg_errno(&l->srv->log, LOG_WARN, 0, status,
                      "event=listen-error address=%s port=%u", l->cfg->address,
                      l->cfg->port);
        return;
    }
    conn__accept(l->srv, h, l->cfg->kind);
}

static int
parse_addr(const struct cfg_listen *cl, struct sockaddr_storage *ss)
{
    if (strchr(cl->address, ':'))
        return uv_ip6_addr(cl->address, cl->port, (struct sockaddr_in6 *)ss);
    return uv_ip4_addr(cl->address, cl->port, (struct sockaddr_in *)ss);
}

static int
listener_start(struct server *srv, struct listener *l,
               const struct cfg_listen *cl)
{
    struct sockaddr_storage ss;
    l->srv = srv;
    l->cfg = cl;
    int rc = parse_addr(cl, &ss);
    if (rc == 0) {
        uv_tcp_init(srv->loop, &l->tcp);
        l->tcp.data = l;
        l->active = true;
        rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0);
    }
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
    if (rc < 0) {
        log_msg_errno(&srv->log, LOG_ERROR, 0, rc,
                      "event=listen-failed kind=%s address=%s port=%u "
                      "config=%s:%d",
                      config_listen_kind_name(cl->kind), cl->address,
                      cl->port, srv->cfg->file, cl->line);
        return rc;
    }
    log_msg(&srv->log, LOG_INFO, 0, "event=listening kind=%s address=%s port=%u",
            config_listen_kind_name(cl->kind), cl->address, cl->port);
    return 0;
}

int
server_listen(struct server *srv)
{
    for (size_t i = 0; i < srv->cfg->nlisten; i++) {
        const struct cfg_listen *cl = &srv->cfg->listen[i];
        if (cl->kind == CFG_LISTEN_C2S_TLS || cl->kind == CFG_LISTEN_S2S_TLS) {
            /* Direct TLS needs the TLS layer (issue #3). */
            log_msg(&srv->log, LOG_WARN, 0,
                    "event=listener-skipped kind=%s address=%s port=%u "
                    "reason=tls-unavailable",
                    config_listen_kind_name(cl->kind), cl->address, cl->port);
            continue;
        }
        int rc = listener_start(srv, &srv->listeners[srv->nlisteners], cl);
        srv->nlisteners++;
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void
on_stop_timeout(uv_timer_t *t)
{
    struct server *srv = t->data;
    while (srv->conns)
        conn__force_close(srv->conns);
}

void
server_stop(struct server *srv)
{
    if (srv->stopping)
        return;
    srv->stopping = true;
    log_msg(&srv->log, LOG_INFO, 0, "event=shutdown conns=%zu", srv->nconns);
    for (size_t i = 0; i < srv->nlisteners; i++)
        if (srv->listeners[i].active &&
            !uv_is_closing((uv_handle_t *)&srv->listeners[i].tcp))
            uv_close((uv_handle_t *)&srv->listeners[i].tcp, NULL);
    /* conn__shutdown may close a conn and unlink it: walk with care. */
    struct conn *c = srv->conns;
    while (c) {
        struct conn *next = c->next;
        conn__shutdown(c);
        c = next;
    }
    if (srv->conns == NULL) {
        uv_close((uv_handle_t *)&srv->stop_timer, NULL);
        return;
    }
    uv_ref((uv_handle_t *)&srv->stop_timer);
    uv_timer_start(&srv->stop_timer, on_stop_timeout,
                   srv->cfg->timeouts.close_wait, 0);
}

void
server_fini(struct server *srv)
{
    x_free(srv->listeners);
    x_free(srv->readbuf);
    srv->listeners = NULL;
    srv->readbuf = NULL;
}
