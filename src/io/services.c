/* SPDX-License-Identifier: MIT */
/* services.c -- what streams ask of the server: accounts and routing. */
#include "io/io_int.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "route/route.h"
#include "store/store.h"

static struct conn *
conn_of(struct stream *s)
{
    return (struct conn *)(void *)((char *)s - offsetof(struct conn, st));
}

/* --- credentials ------------------------------------------------------- */

static void
on_account(void *arg, int status, const struct store_account *acct)
{
    struct conn *c = arg;
    c->creds_req = NULL;
    if (status != 0 && status != XE_NOTFOUND)
        log_msg_errno(&c->srv->log, LOG_WARN, c->id, status,
                      "event=store-failed op=account-get");
    const struct sasl_creds *creds =
        status == 0 && acct && !acct->disabled ? &acct->creds : NULL;
    stream_provide_creds(&c->st, creds);
    conn__flush(c);
}

static void
ops_need_creds(void *arg, struct stream *s, const char *host,
               const char *user)
{
    struct server *srv = arg;
    struct conn *c = conn_of(s);
    struct store_req *req = NULL;
    int rc = store_account_get(srv->store, host, user ? user : "",
                               on_account, c, &req);
    if (rc != 0) {
        /* The lookup cannot even start: answer "no such account" so the
         * attempt fails cleanly, but from the loop, never from here. */
        log_msg_errno(&srv->log, LOG_WARN, c->id, rc,
                      "event=store-failed op=account-get");
        stream_provide_creds(&c->st, NULL);
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

/* --- routing ------------------------------------------------------------ */

static int
ops_bind(void *arg, struct stream *s)
{
    struct server *srv = arg;
    return router_bind(srv->router, s);
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
    (void)arg;
    conn__flush(conn_of(s));
}

const struct stream_ops server__stream_ops = {
    .need_creds = ops_need_creds,
    .bind = ops_bind,
    .unbind = ops_unbind,
    .stanza = ops_stanza,
    .wake = ops_wake,
};

int
server__services_init(struct server *srv, struct buf *err)
{
    char path[4352];
    snprintf(path, sizeof(path), "%s/%s", srv->cfg->state_dir, STORE_DB_FILE);
    int rc = store_open(srv->loop, path, &srv->store, err);
    if (rc != 0)
        return rc;
    unsigned char key[16];
    server__random(NULL, key, sizeof(key));
    srv->router = router_new(srv->cfg, &srv->log, key);
    return 0;
}

void
server__services_close(struct server *srv)
{
    if (srv->store) {
        store_close(srv->store, NULL, NULL);
        srv->store = NULL;
    }
}

void
server__services_fini(struct server *srv)
{
    router_free(srv->router);
    srv->router = NULL;
}
