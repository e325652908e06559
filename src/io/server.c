/* SPDX-License-Identifier: MIT */
/* server.c -- listeners, the connection list and clean shutdown. */
#include "io/io_int.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/err.h"
#include "route/route.h"


/* The kernel's CSPRNG; getrandom on an initialised pool never fails for
 * requests this small, but EINTR is retried and anything else aborts:
 * stream ids must never be predictable. */
void
server__random(void *arg, void *buf, size_t n)
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

/* Hosts with a configured certificate: read while xmuxd may still be
 * root, since the operator's key files may be readable by root only. */
static int
load_configured_certs(struct server *srv, struct buf *err)
{
    const struct config *cfg = srv->cfg;
    for (size_t i = 0; i < cfg->nhosts; i++) {
        const struct cfg_host *h = &cfg->hosts[i];
        if (h->cert == NULL)
            continue;
        int rc = tls_ctx_add_host(srv->tls, h->domain, h->cert, h->key, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Hosts without one: generated once into state_dir/certs so that a fresh
 * server works out of the box. This runs as the user xmuxd runs as, so
 * the files are that user's (the key 0600), and root never opens a file
 * in a directory that user may change (docs/security.md). */
static int
load_generated_certs(struct server *srv, struct buf *err)
{
    const struct config *cfg = srv->cfg;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/certs", cfg->state_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        buf_printf(err, "%s: %s", dir, strerror(errno));
        return -errno;
    }
    for (size_t i = 0; i < cfg->nhosts; i++) {
        const struct cfg_host *h = &cfg->hosts[i];
        char cert[4352], key[4352], fp[128];
        if (h->cert != NULL)
            continue;
        snprintf(cert, sizeof(cert), "%s/%s.crt", dir, h->domain);
        snprintf(key, sizeof(key), "%s/%s.key", dir, h->domain);
        int rc =
            tls_selfsigned_ensure(h->domain, cert, key, fp, sizeof(fp), err);
        if (rc < 0)
            return rc;
        if (rc == 1)
            log_msg(&srv->log, LOG_WARN, 0,
                    "event=certificate-created host=%s file=%s "
                    "sha256=%s self-signed=yes",
                    h->domain, cert, fp);
        rc = tls_ctx_add_host(srv->tls, h->domain, cert, key, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int
server_init(struct server *srv,
            uv_loop_t *loop,
            const struct config *cfg,
            struct buf *err)
{
    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    srv->cfg = cfg;
    srv->log.level = cfg->log_level;
    srv->log.sink = log_sink_stderr;
    srv->listeners =
        x_calloc(cfg->nlisten ? cfg->nlisten : 1, sizeof(*srv->listeners));
    server__workers_init(srv);
    uv_timer_init(loop, &srv->accept_timer);
    srv->accept_timer.data = srv;
    uv_unref((uv_handle_t *)&srv->accept_timer);
    srv->conn_cap = cfg->max_connections;
    server__control_init(srv);

    srv->tls = tls_ctx_new(cfg->tls_ca_file, err);
    if (srv->tls == NULL || load_configured_certs(srv, err) != 0)
        return XE_TLS;
    srv->sasl = sasl_server_new(err);
    if (srv->sasl == NULL)
        return XE_SASL;
    srv->sctx.cfg = cfg;
    srv->sctx.log = &srv->log;
    srv->sctx.random = server__random;
    srv->sctx.sasl = srv->sasl;
    srv->sctx.tls_available = true;
    server__random(NULL, srv->db_secret, sizeof(srv->db_secret));
    srv->sctx.db_secret = srv->db_secret;
    srv->sctx.db_secret_len = sizeof(srv->db_secret);
    srv->sctx.ops = &server__stream_ops;
    srv->sctx.ops_arg = srv;
    return 0;
}

void
server__conn_link(struct server *srv, struct conn *c)
{
    c->w->nconns++;
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
    c->w->nconns--;
}

/* Accepting is ours rather than libuv's: each accepted socket goes to
 * the worker whose turn it is (round robin), and a libuv handle cannot
 * change loops. At most this many per wake-up, so that a flood of
 * connections does not starve the streams of this loop. */
#define ACCEPT_BATCH 64

/* Past the connection cap, a connection is closed as soon as it is
 * accepted, before any worker sees it: a flood must not hold descriptors
 * while it waits to be refused (docs/limits.md). */
static bool
accept_over_cap(struct server *srv, int fd, const struct sockaddr_storage *ss)
{
    size_t n = srv->nconns + srv->nhandoffs - srv->nparked;
    if (n < srv->conn_cap)
        return false;
    char ip[64] = "-";
    int port = 0;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
    } else if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, ip, sizeof(ip));
        port = ntohs(a->sin_port);
    }
    server__limit(srv, NULL, CFG_LIMIT_MAX_CONNECTIONS,
                  "conns=%zu max=%zu peer=%s:%d action=close", n,
                  srv->conn_cap, ip, port);
    close(fd);
    return true;
}

static void
accept_ready_locked(struct listener *l)
{
    struct server *srv = l->srv;
    for (int i = 0; i < ACCEPT_BATCH && !srv->accept_paused; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        ss.ss_family = AF_UNSPEC;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            if (e == EINTR || e == ECONNABORTED)
                continue;
            if (e == EMFILE || e == ENFILE)
                server__accept_pause(srv, -e);
            else if (e != EAGAIN && e != EWOULDBLOCK)
                log_msg_errno(&srv->log, LOG_WARN, 0, -e,
                              "event=listen-error address=%s port=%u",
                              l->cfg->address, l->cfg->port);
            return;
        }
        if (accept_over_cap(srv, fd, &ss))
            continue;
        struct worker *w = server__pick_worker(srv);
        if (w == server__self())
            conn__accept(w, fd, l->cfg->kind);
        else
            server__handoff(w, fd, l->cfg->kind);
    }
}

static void
on_accept_ready(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    struct listener *l = h->data;
    struct server *srv = l->srv;
    server__lock(srv);
    accept_ready_locked(l);
    server__unlock(srv);
}

void
server__listeners_poll(struct server *srv, bool on)
{
    for (size_t i = 0; i < srv->nlisteners; i++) {
        struct listener *l = &srv->listeners[i];
        if (!l->polling || uv_is_closing((uv_handle_t *)&l->poll))
            continue;
        if (on)
            uv_poll_start(&l->poll, UV_READABLE, on_accept_ready);
        else
            uv_poll_stop(&l->poll);
    }
}

static int
parse_addr(const struct cfg_listen *cl, struct sockaddr_storage *ss)
{
    if (strchr(cl->address, ':'))
        return uv_ip6_addr(cl->address, cl->port, (struct sockaddr_in6 *)ss);
    return uv_ip4_addr(cl->address, cl->port, (struct sockaddr_in *)ss);
}

/* Bind one listener: while xmuxd may still be root, for ports below
 * 1024. */
static int
listener_bind(struct server *srv,
              struct listener *l,
              const struct cfg_listen *cl)
{
    struct sockaddr_storage ss;
    l->srv = srv;
    l->cfg = cl;
    l->fd = -1;
    int rc = parse_addr(cl, &ss);
    if (rc != 0)
        return rc;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    if (fd < 0)
        return -errno;
    int one = 1;
    socklen_t len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                             : sizeof(struct sockaddr_in);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&ss, len) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    l->fd = fd;
    l->active = true;
    return 0;
}

static void
listen_failed(struct server *srv, const struct cfg_listen *cl, int rc)
{
    log_msg_errno(&srv->log, LOG_ERROR, 0, rc,
                  "event=listen-failed kind=%s address=%s port=%u "
                  "config=%s:%d",
                  config_listen_kind_name(cl->kind), cl->address, cl->port,
                  srv->cfg->file, cl->line);
}

int
server_bind(struct server *srv)
{
    for (size_t i = 0; i < srv->cfg->nlisten; i++) {
        const struct cfg_listen *cl = &srv->cfg->listen[i];
        int rc = listener_bind(srv, &srv->listeners[srv->nlisteners], cl);
        srv->nlisteners++;
        if (rc < 0) {
            listen_failed(srv, cl, rc);
            return rc;
        }
    }
    return 0;
}

int
server_open_state(struct server *srv, struct buf *err)
{
    if (load_generated_certs(srv, err) != 0)
        return XE_TLS;
    int rc = server__services_init(srv, err);
    if (rc == 0)
        rc = server__workers_open(srv, err);
    if (rc == 0)
        rc = server__control_listen(srv);
    return rc;
}

int
server_listen(struct server *srv)
{
    server__fd_budget(srv);
    for (size_t i = 0; i < srv->nlisteners; i++) {
        struct listener *l = &srv->listeners[i];
        int rc = listen(l->fd, 511) == 0 ? 0 : -errno;
        if (rc == 0)
            rc = uv_poll_init_socket(srv->loop, &l->poll, l->fd);
        if (rc < 0) {
            listen_failed(srv, l->cfg, rc);
            return rc;
        }
        l->poll.data = l;
        l->polling = true;
        uv_poll_start(&l->poll, UV_READABLE, on_accept_ready);
        log_msg(&srv->log, LOG_INFO, 0,
                "event=listening kind=%s address=%s port=%u",
                config_listen_kind_name(l->cfg->kind), l->cfg->address,
                l->cfg->port);
    }
    return server__workers_start(srv);
}

static void
listener_closed(uv_handle_t *h)
{
    struct listener *l = h->data;
    close(l->fd);
    l->fd = -1;
}

static void
listener_close(struct listener *l)
{
    if (!l->active)
        return;
    l->active = false;
    if (l->polling) {
        uv_close((uv_handle_t *)&l->poll, listener_closed);
    } else {
        close(l->fd);
        l->fd = -1;
    }
}

void
server_stop(struct server *srv)
{
    if (srv->stopping)
        return;
    srv->stopping = true;
    log_msg(&srv->log, LOG_INFO, 0, "event=shutdown conns=%zu", srv->nconns);
    for (size_t i = 0; i < srv->nlisteners; i++)
        listener_close(&srv->listeners[i]);
    server__control_stop(srv);
    server__workers_stop(srv);
}

void
server_fini(struct server *srv)
{
    server__workers_fini(srv);
    server__services_fini(srv);
    server__control_fini(srv);
    sasl_server_free(srv->sasl);
    tls_ctx_free(srv->tls);
    x_free(srv->listeners);
    srv->sasl = NULL;
    srv->tls = NULL;
    srv->listeners = NULL;
}
