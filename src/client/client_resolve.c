/* SPDX-License-Identifier: MIT */
/* client_resolve.c -- where to connect: c2s SRV lookups on a private loop. */
#include "client/client_int.h"

#include <string.h>

#include <uv.h>

#include "base/err.h"

/* What the lookup callback hands back. */
struct client_lookup {
    bool done;
    int status;
    struct resolve_target *v;
    size_t cap, n;
};

static void
client_on_resolved(void *arg,
                   int status,
                   const struct resolve_target *v,
                   size_t n)
{
    struct client_lookup *lk = arg;
    lk->done = true;
    lk->status = status;
    lk->n = n < lk->cap ? n : lk->cap;
    if (lk->n > 0)
        memcpy(lk->v, v, lk->n * sizeof *v);
}

/* Why nothing was found, for the user. */
static void
client_resolve_error(struct buf *err, const char *domain, int status)
{
    if (status == XE_NOTFOUND)
        (void)buf_printf(err,
                         "%s: no XMPP client service in DNS "
                         "(_xmpps-client._tcp, _xmpp-client._tcp, A/AAAA)",
                         domain);
    else
        (void)buf_printf(err, "%s: DNS lookup failed: %s", domain,
                         xerr_str(status));
}

int
client__resolve(const struct client_cfg *cfg,
                const char *domain,
                struct resolve_target *v,
                size_t cap,
                size_t *n,
                struct buf *err)
{
    *n = 0;
    uv_loop_t loop;
    int rc = uv_loop_init(&loop);
    if (rc < 0) {
        (void)buf_printf(err, "event loop: %s", uv_strerror(rc));
        return rc;
    }
    /* c-ares doubles the timeout per try: two tries stay within about
     * the configured wait. */
    struct resolver_opts o = {
        .servers = cfg->resolver,
        .timeout_ms =
            (uint32_t)(cfg->timeout_ms / 3 > 100 ? cfg->timeout_ms / 3 : 100),
        .tries = 2,
    };
    static const struct logger quiet = {.level = LOG_ERROR};
    struct resolver *r = NULL;
    struct client_lookup lk = {.v = v, .cap = cap};
    rc = resolver_new(&loop, &o, &quiet, &r, err);
    if (rc == 0) {
        rc = resolve_c2s(r, domain, client_on_resolved, &lk, NULL);
        if (rc < 0)
            (void)buf_printf(err, "%s: not a name DNS can look up", domain);
    }
    if (rc == 0) {
        (void)uv_run(&loop, UV_RUN_DEFAULT);
        rc = lk.done ? lk.status : XE_IO;
        if (rc < 0)
            client_resolve_error(err, domain, rc);
    }
    /* Closing the resolver's handles takes one more turn of the loop. */
    resolver_free(r, NULL, NULL);
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&loop);
    *n = rc == 0 ? lk.n : 0;
    return rc;
}
