/* SPDX-License-Identifier: MIT */
/* sm_park.c -- XEP-0198 resumption on c2s: a session whose connection
 * dropped waits, without a socket, for the client to resume it (or for
 * sm.resume_timeout); then it moves to the new connection or ends, and
 * what the client never acknowledged is routed again (docs/sm.md).
 *
 * Parking and its end have two halves: what the session and the tables
 * see (done at once, with the lock) and what the conn's socket, timer and
 * TLS session need (done by the conn's own worker: at once when that is
 * the calling thread, else in its next flush pass, worker.c). A resumption
 * may take over a session of another worker. */
#include <string.h>

#include "base/err.h"
#include "io/io_int.h"
#include "route/route.h"

static void
on_park_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;
    server__lock(c->srv);
    conn__parked_end(c, stream_sm_overflow(&c->st) ? "overflow" : "timeout");
    server__unlock(c->srv);
}

void
conn__park_expire_io(struct conn *c)
{
    if (c->parked)
        uv_timer_start(&c->timer, on_park_timeout, 0, 0);
}

void
conn__park_expire_soon(struct conn *c)
{
    /* From the loop, not from inside the delivery that overflowed. */
    if (c->w == server__self())
        conn__park_expire_io(c);
    else
        conn__request(c, CONN_REQ_EXPIRE);
}

void
conn__park_io(struct conn *c)
{
    tls_conn_free(c->tls);
    c->tls = NULL;
    uv_close((uv_handle_t *)&c->tcp, conn__handle_closed);
    if (c->delay_timer)
        uv_close((uv_handle_t *)c->delay_timer, conn__handle_closed);
    if (c->rate_timer)
        uv_close((uv_handle_t *)c->rate_timer, conn__handle_closed);
    uv_timer_stop(&c->timer);
    uv_timer_start(&c->timer, on_park_timeout, c->srv->cfg->sm.resume_timeout,
                   0);
}

bool
conn__park(struct conn *c, const char *reason)
{
    if (c->closing || c->srv->stopping || !stream_sm_resumable(&c->st))
        return false;
    c->closing = true;
    c->parked = true;
    /* No socket any more: neither its address's share nor a connection
     * slot (docs/limits.md) stays taken. */
    conn__release_ip(c);
    c->srv->nparked++;
    conn__log_close(c, reason, true);
    stream_sm_detach(&c->st);
    if (c->w == server__self())
        conn__park_io(c);
    else
        conn__request(c, CONN_REQ_PARK);
    return true;
}

void
conn__parked_end_io(struct conn *c)
{
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, conn__handle_closed);
}

void
conn__parked_end(struct conn *c, const char *why)
{
    if (!c->parked)
        return;
    c->parked = false;
    c->srv->nparked--;
    log_msg(&c->srv->log, LOG_INFO, c->id, "event=sm-parked-end why=%s", why);
    server__conn_unlink(c->srv, c);
    /* Not resumed: the session ends, and what waited for the client is
     * routed again (router_unbind). */
    stream_unbind(&c->st);
    if (c->w == server__self())
        conn__parked_end_io(c);
    else
        conn__request(c, CONN_REQ_PARKED_END);
}
