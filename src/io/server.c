/* SPDX-License-Identifier: MIT */
/* server.c -- listeners, the connection list and clean shutdown. */
#include "io/io_int.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "base/err.h"
#include "route/route.h"

#define READ_BUF_SIZE  ((size_t)64 << 10)
#define PLAIN_BUF_SIZE ((size_t)16 << 10)

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

static void on_flush_check(uv_check_t *h);
static void on_idle_sweep(uv_timer_t *t);

/* Every second, connections that read nothing since the last sweep give
 * their XML parser back (about 10 KiB each); it comes back with the next
 * bytes. */
#define IDLE_SWEEP_MS 1000
/* A connection without reads or writes for this long is idle at the next
 * sweep even if it read something since the previous one: a session that
 * has just logged in then gives back its parser and buffers within about
 * 0.25-1.25 s instead of 1-2 s, and a burst of logins leaves fewer holes
 * between the allocations that stay. */
#define IDLE_QUIET_MS 250

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
    srv->readbuf_size = READ_BUF_SIZE;
    srv->readbuf = x_malloc(READ_BUF_SIZE);
    srv->plainbuf_size = PLAIN_BUF_SIZE;
    srv->plainbuf = x_malloc(PLAIN_BUF_SIZE);
    srv->listeners =
        x_calloc(cfg->nlisten ? cfg->nlisten : 1, sizeof(*srv->listeners));
    uv_timer_init(loop, &srv->stop_timer);
    srv->stop_timer.data = srv;
    uv_unref((uv_handle_t *)&srv->stop_timer);
    uv_check_init(loop, &srv->flush_check);
    srv->flush_check.data = srv;
    uv_check_start(&srv->flush_check, on_flush_check);
    uv_unref((uv_handle_t *)&srv->flush_check);
    uv_timer_init(loop, &srv->idle_sweep);
    srv->idle_sweep.data = srv;
    uv_timer_start(&srv->idle_sweep, on_idle_sweep, IDLE_SWEEP_MS,
                   IDLE_SWEEP_MS);
    uv_unref((uv_handle_t *)&srv->idle_sweep);
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

/* Runs once per loop iteration, after I/O: every conn that received
 * deliveries during this round writes them in one go. Conns closed
 * meanwhile are still in memory (they are freed in the loop's closing
 * phase, which comes later) and flush does nothing for them. */
static void
on_flush_check(uv_check_t *h)
{
    struct server *srv = h->data;
    while (srv->dirty) {
        struct conn *c = srv->dirty;
        srv->dirty = c->dirty_next;
        c->dirty = false;
        c->dirty_next = NULL;
        conn__flush(c);
    }
}

/* s2s streams with no traffic for timeouts.idle close gracefully; the
 * next stanza for their pairs opens a new one. */
static void
close_idle_s2s(struct server *srv)
{
    uint64_t now = uv_now(srv->loop);
    struct conn *c = srv->conns;
    while (c != NULL) {
        struct conn *next = c->next;
        if (c->st.s2s && !c->closing && !c->finishing &&
            c->st.state == STREAM_ST_SESSION &&
            now - c->last_io >= srv->cfg->timeouts.idle) {
            stream_idle_close(&c->st);
            server__flush_later(srv, c);
        }
        c = next;
    }
}

static void
on_idle_sweep(uv_timer_t *t)
{
    struct server *srv = t->data;
    router_s2s_tick(srv->router);
    close_idle_s2s(srv);
    size_t released = 0;
    uint64_t now = uv_now(srv->loop);
    for (struct conn *c = srv->conns; c; c = c->next) {
        if (!c->closing && stream_check_expiry(&c->st))
            server__flush_later(srv, c);
        if (!c->closing && c->st.sm != NULL)
            stream_sm_tick(&c->st);
        bool quiet = !c->active || now - c->last_io >= IDLE_QUIET_MS;
        if (quiet && !c->closing && stream_hibernate(&c->st)) {
            tls_conn_hibernate(c->tls);
            released++;
        }
        c->active = false;
    }
    if (released == 0)
        return;
    log_msg(&srv->log, LOG_DEBUG, 0, "event=idle-sweep conns=%zu released=%zu",
            srv->nconns, released);
#ifdef __GLIBC__
    /* Freed parsers sit between live allocations: give the pages back. */
    malloc_trim(0);
#endif
}

void
server__flush_later(struct server *srv, struct conn *c)
{
    if (c->dirty || c->closing)
        return;
    c->dirty = true;
    c->dirty_next = srv->dirty;
    srv->dirty = c;
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

/* The last step of a stop: the server's own handles and services. */
static void
server_close_handles(struct server *srv)
{
    uv_close((uv_handle_t *)&srv->stop_timer, NULL);
    uv_close((uv_handle_t *)&srv->flush_check, NULL);
    uv_close((uv_handle_t *)&srv->idle_sweep, NULL);
    uv_close((uv_handle_t *)&srv->accept_timer, NULL);
    server__services_close(srv);
}

/* Called when a connection's memory is gone; ends a shutdown when it was
 * the last one. */
void
server__conn_gone(struct server *srv)
{
    if (srv->stopping && srv->conns == NULL &&
        !uv_is_closing((uv_handle_t *)&srv->stop_timer))
        server_close_handles(srv);
}

static void
on_connection(uv_stream_t *h, int status)
{
    struct listener *l = h->data;
    if (status == UV_EMFILE || status == UV_ENFILE) {
        server__accept_pause(l->srv, status);
        return;
    }
    if (l->srv->accept_paused) {
        /* Not taken: libuv stops polling the listener until it is. */
        l->held = true;
        return;
    }
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

/* Bind one listener: while xmuxd may still be root, for ports below
 * 1024. libuv reports EADDRINUSE only at uv_listen. */
static int
listener_bind(struct server *srv,
              struct listener *l,
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
    return rc;
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
        rc = server__control_listen(srv);
    return rc;
}

int
server_listen(struct server *srv)
{
    server__fd_budget(srv);
    for (size_t i = 0; i < srv->nlisteners; i++) {
        struct listener *l = &srv->listeners[i];
        int rc = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
        if (rc < 0) {
            listen_failed(srv, l->cfg, rc);
            return rc;
        }
        log_msg(&srv->log, LOG_INFO, 0,
                "event=listening kind=%s address=%s port=%u",
                config_listen_kind_name(l->cfg->kind), l->cfg->address,
                l->cfg->port);
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
    server__control_stop(srv);
    /* conn__shutdown may close a conn and unlink it: walk with care. */
    struct conn *c = srv->conns;
    while (c) {
        struct conn *next = c->next;
        conn__shutdown(c);
        c = next;
    }
    if (srv->conns == NULL) {
        server_close_handles(srv);
        return;
    }
    uv_ref((uv_handle_t *)&srv->stop_timer);
    uv_timer_start(&srv->stop_timer, on_stop_timeout,
                   srv->cfg->timeouts.close_wait, 0);
}

void
server_fini(struct server *srv)
{
    server__services_fini(srv);
    server__control_fini(srv);
    sasl_server_free(srv->sasl);
    tls_ctx_free(srv->tls);
    x_free(srv->listeners);
    x_free(srv->readbuf);
    x_free(srv->plainbuf);
    srv->sasl = NULL;
    srv->tls = NULL;
    srv->listeners = NULL;
    srv->readbuf = srv->plainbuf = NULL;
}
