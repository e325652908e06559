/* SPDX-License-Identifier: MIT */
/* limits.c -- limits against denial of service on the I/O side: counting
 * and logging hits, connections per address, the descriptor budget,
 * pausing accept, and the byte rate of each connection (docs/limits.md). */
#include "io/io_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "base/alloc.h"
#include "base/err.h"
#include "route/route.h"

/* How long accepting stops after accept failed for want of descriptors:
 * long enough for connections to end, short enough not to be noticed. */
#define ACCEPT_PAUSE_MS 1000
/* Longest detail of a limit line. */
#define LIMIT_DETAIL_MAX 192

void
server__limit(struct server *srv,
              struct conn *c,
              enum cfg_limit what,
              const char *fmt,
              ...)
{
    if ((unsigned)what >= CFG_LIMIT_COUNT)
        return;
    srv->limit_hits[what]++;
    if (c != NULL) {
        uint32_t bit = (uint32_t)1 << what;
        if (c->limits_logged & bit)
            return;
        c->limits_logged |= bit;
    }
    char detail[LIMIT_DETAIL_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (n < 0)
        detail[0] = '\0';
    log_msg(&srv->log, LOG_WARN, c ? c->id : 0, "event=limit what=%s%s%s%s%s",
            config_limit_name(what), detail[0] ? " " : "", detail,
            c ? " peer=" : "", c ? (c->peer[0] ? c->peer : "-") : "");
}

/* --- descriptors and accepting ------------------------------------------ */

/* What each network thread beyond the first holds for itself: its loop's
 * epoll and eventfd, its store's database, WAL and shared-memory files,
 * and its resolver's sockets. */
#define WORKER_FDS 8

void
server__fd_budget(struct server *srv)
{
    const struct config *cfg = srv->cfg;
    size_t reserve = cfg->conn_limits.fd_reserve +
                     (size_t)(srv->nworkers - 1) * WORKER_FDS;
    srv->conn_cap = cfg->max_connections;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur != rl.rlim_max) {
        /* Raising the soft limit needs no privilege. */
        struct rlimit up = {rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            rl = up;
    }
    if (rl.rlim_cur == RLIM_INFINITY)
        return;
    size_t nofile = (size_t)rl.rlim_cur;
    size_t avail = nofile > reserve ? nofile - reserve : 0;
    if (avail < srv->conn_cap)
        srv->conn_cap = avail;
    log_msg(&srv->log,
            srv->conn_cap < cfg->max_connections ? LOG_WARN : LOG_INFO, 0,
            "event=fd-budget nofile=%zu fd_reserve=%zu max_connections=%zu "
            "effective=%zu",
            nofile, reserve, cfg->max_connections, srv->conn_cap);
}

/* The pause is over: watch the listeners again; what the kernel queued
 * meanwhile is accepted now. */
static void
on_accept_resume(uv_timer_t *t)
{
    struct server *srv = t->data;
    server__lock(srv);
    srv->accept_paused = false;
    if (!srv->stopping)
        server__listeners_poll(srv, true);
    server__unlock(srv);
}

/* accept(2) ran out of descriptors: stop accepting for a while (the
 * kernel queues connections meanwhile, up to the backlog). */
void
server__accept_pause(struct server *srv, int err)
{
    if (srv->accept_paused || srv->stopping) {
        srv->limit_hits[CFG_LIMIT_FDS]++;
        return;
    }
    server__limit(srv, NULL, CFG_LIMIT_FDS,
                  "err=%s conns=%zu action=pause-accept pause_ms=%d",
                  uv_err_name(err), srv->nconns, ACCEPT_PAUSE_MS);
    srv->accept_paused = true;
    server__listeners_poll(srv, false);
    uv_timer_start(&srv->accept_timer, on_accept_resume, ACCEPT_PAUSE_MS, 0);
}

/* --- connections per address -------------------------------------------- */

int
conn__admit_ip(struct conn *c)
{
    struct server *srv = c->srv;
    size_t max = srv->cfg->conn_limits.per_ip;
    if (max == 0 || !c->has_ipkey)
        return 0;
    size_t n = ipcount_add(&srv->per_ip, &c->ipkey);
    c->ip_counted = true;
    if (n <= max)
        return 0;
    server__limit(srv, c, CFG_LIMIT_PER_IP, "conns=%zu max=%zu", n, max);
    return XE_LIMIT;
}

void
conn__release_ip(struct conn *c)
{
    if (!c->ip_counted)
        return;
    c->ip_counted = false;
    ipcount_del(&c->srv->per_ip, &c->ipkey);
}

/* --- bytes per second ----------------------------------------------------- */

void
conn__rate_init(struct conn *c)
{
    const struct cfg_conn_limits *l = &c->srv->cfg->conn_limits;
    bool s2s = c->st.s2s;
    bucket_init(&c->rx, s2s ? l->s2s_rate : l->c2s_rate,
                s2s ? l->s2s_burst : l->c2s_burst, uv_now(c->w->loop));
}

size_t
conn__read_size(struct conn *c, size_t max)
{
    uint64_t avail = bucket_avail(&c->rx, uv_now(c->w->loop));
    if (avail >= max)
        return max;
    return avail < CONN_READ_MIN ? CONN_READ_MIN : (size_t)avail;
}

bool
conn__may_read(struct conn *c, size_t mark)
{
    return !c->closing && !c->finishing && !c->throttled && !c->rate_paused &&
           uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < mark;
}

static void
on_rate_done(uv_timer_t *t)
{
    struct conn *c = t->data;
    server__lock(c->srv);
    c->rate_paused = false;
    if (conn__may_read(c, CONN_WRITE_HIGH))
        conn__read_start(c);
    server__unlock(c->srv);
}

/* Reading stops rather than input being buffered: the peer's bytes wait
 * in its own socket buffers, and TCP slows it down. */
void
conn__rate_count(struct conn *c, size_t n)
{
    uint64_t wait = bucket_take(&c->rx, n, uv_now(c->w->loop));
    if (wait == 0 || c->closing || c->finishing)
        return;
    server__limit(c->srv, c, CFG_LIMIT_RATE, "rate=%llu pause_ms=%llu kind=%s",
                  (unsigned long long)c->rx.rate, (unsigned long long)wait,
                  c->st.s2s ? "s2s" : "c2s");
    if (c->rate_timer == NULL) {
        c->rate_timer = x_malloc(sizeof(*c->rate_timer));
        uv_timer_init(c->w->loop, c->rate_timer);
        c->rate_timer->data = c;
        c->open_handles++;
    }
    c->rate_paused = true;
    c->read_paused = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_timer_start(c->rate_timer, on_rate_done, wait, 0);
}

/* --- xmuxctl stats ------------------------------------------------------- */

void
server__stats(struct server *srv, struct buf *out)
{
    size_t c2s = 0, s2s_in = 0, s2s_out = 0;
    for (const struct conn *c = srv->conns; c; c = c->next) {
        if (!c->st.s2s)
            c2s++;
        else if (c->st.initiating)
            s2s_out++;
        else
            s2s_in++;
    }
    (void)buf_printf(out,
                     "connections=%zu\nconnections.c2s=%zu\n"
                     "connections.s2s-in=%zu\nconnections.s2s-out=%zu\n"
                     "connections.max=%zu\nconnections.parked=%zu\n",
                     srv->nconns, c2s, s2s_in, s2s_out, srv->conn_cap,
                     srv->nparked);
    const struct router_counts *rc = router_counts(srv->router);
    for (int i = 0; i < CFG_LIMIT_COUNT; i++)
        (void)buf_printf(out, "limit.%s=%llu\n",
                         config_limit_name((enum cfg_limit)i),
                         (unsigned long long)srv->limit_hits[i] +
                             (unsigned long long)rc->limit_hits[i]);
    (void)buf_printf(
        out,
        "stanzas.bounced=%llu\nsm.s2s-requeued=%llu\nsm.c2s-rerouted=%llu\n"
        "sm.s2s-resumed=%llu\nsm.s2s-spared=%llu\nsm.c2s-resumed=%llu\n",
        (unsigned long long)rc->bounced, (unsigned long long)rc->sm_requeued,
        (unsigned long long)rc->sm_rerouted,
        (unsigned long long)rc->sm_s2s_resumed,
        (unsigned long long)rc->sm_s2s_spared,
        (unsigned long long)rc->sm_c2s_resumed);
}
