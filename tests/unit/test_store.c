/* SPDX-License-Identifier: MIT */
/* test_store.c -- unit tests for the account store, both back ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>
#include <uv.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "store/store.h"

/* A back end under test; every generic test runs once per entry. */
struct backend {
    const char *name;
    bool sqlite;
};

static const struct backend be_mem = {"memory", false};
static const struct backend be_sqlite = {"sqlite", true};

/* Per-test state: a private directory for the SQLite file. */
struct fx {
    const struct backend *be;
    char dir[64];
    char path[128];
};

static int
setup(void **state)
{
    struct fx *f = x_calloc(1, sizeof(*f));
    f->be = *state;
    (void)snprintf(f->dir, sizeof(f->dir), "/tmp/xmux-test-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    (void)snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, STORE_DB_FILE);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        char p[160];
        (void)snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
        (void)unlink(p);
    }
    (void)rmdir(f->dir);
    x_free(f);
    return 0;
}

static struct store *
open_sync(const struct fx *f)
{
    if (!f->be->sqlite)
        return store_sync_open_mem();
    struct buf err;
    buf_init(&err, 1024);
    struct store *st = NULL;
    int rc = store_sync_open(f->path, &st, &err);
    if (rc != 0)
        fail_msg("store_sync_open: %s", buf_ptr(&err));
    buf_fini(&err);
    return st;
}

static struct store *
open_async(const struct fx *f, uv_loop_t *loop)
{
    struct store *st = NULL;
    int rc;
    if (f->be->sqlite) {
        struct buf err;
        buf_init(&err, 1024);
        rc = store_open(loop, f->path, &st, &err);
        if (rc != 0)
            fail_msg("store_open: %s", buf_ptr(&err));
        buf_fini(&err);
    } else {
        rc = store_open_mem(loop, &st);
    }
    assert_int_equal(rc, 0);
    return st;
}

/* Synthetic credentials: distinct bytes per seed, zeros included, so that
 * BLOB handling (not strings) is exercised. */
static void
make_account(struct store_account *a,
             const char *host,
             const char *node,
             unsigned seed)
{
    memset(a, 0, sizeof(*a));
    a->host = host;
    a->node = node;
    struct sasl_creds *c = &a->creds;
    size_t k = seed;
    c->iterations = 4096 + seed;
    c->salt_len = 16;
    for (size_t i = 0; i < sizeof(c->salt); i++)
        c->salt[i] = (unsigned char)(i * 7 + k);
    c->salt[3] = 0;
    c->has_sha1 = c->has_sha256 = true;
    for (size_t i = 0; i < 20; i++) {
        c->sha1_stored[i] = (unsigned char)(k + i);
        c->sha1_server[i] = (unsigned char)(k * 3 + i);
    }
    for (size_t i = 0; i < 32; i++) {
        c->sha256_stored[i] = (unsigned char)(k * 5 + i);
        c->sha256_server[i] = (unsigned char)(k * 11 + i);
    }
    c->sha256_stored[0] = 0;
}

static void
assert_creds_equal(const struct sasl_creds *a, const struct sasl_creds *b)
{
    assert_int_equal(a->iterations, b->iterations);
    assert_int_equal(a->salt_len, b->salt_len);
    assert_memory_equal(a->salt, b->salt, a->salt_len);
    assert_int_equal(a->has_sha1, b->has_sha1);
    assert_int_equal(a->has_sha256, b->has_sha256);
    if (a->has_sha1) {
        assert_memory_equal(a->sha1_stored, b->sha1_stored, 20);
        assert_memory_equal(a->sha1_server, b->sha1_server, 20);
    }
    if (a->has_sha256) {
        assert_memory_equal(a->sha256_stored, b->sha256_stored, 32);
        assert_memory_equal(a->sha256_server, b->sha256_server, 32);
    }
}

static void
put_ok(struct store *st, const char *host, const char *node, unsigned seed)
{
    struct store_account a;
    make_account(&a, host, node, seed);
    assert_int_equal(store_sync_account_put(st, &a, STORE_PUT_CREATE), 0);
}

/* ---- synchronous API, both back ends ---- */

static void
test_put_get(void **state)
{
    struct fx *f = *state;
    struct store *st = open_sync(f);
    struct store_account a, got;
    make_account(&a, "capulet.example", "juliet", 1);
    a.disabled = true;
    assert_int_equal(store_sync_account_put(st, &a, STORE_PUT_UPSERT), 0);
    assert_int_equal(
        store_sync_account_get(st, "capulet.example", "juliet", &got), 0);
    assert_string_equal(got.host, "capulet.example");
    assert_string_equal(got.node, "juliet");
    assert_creds_equal(&got.creds, &a.creds);
    assert_true(got.disabled);
    assert_true(got.created > 0);
    assert_int_equal(got.created, got.updated);
    /* The key is (host, node): other hosts and nodes do not match. */
    assert_int_equal(
        store_sync_account_get(st, "montague.example", "juliet", &got),
        XE_NOTFOUND);
    assert_int_equal(
        store_sync_account_get(st, "capulet.example", "juliet2", &got),
        XE_NOTFOUND);
    store_sync_close(st);
}

static void
test_key_variants(void **state)
{
    struct fx *f = *state;
    struct store *st = open_sync(f);
    struct store_account a, got;
    /* Only SHA-256 keys, the largest salt. */
    make_account(&a, "capulet.example", "nurse", 9);
    a.creds.has_sha1 = false;
    a.creds.salt_len = SASL_SALT_MAX;
    assert_int_equal(store_sync_account_put(st, &a, STORE_PUT_CREATE), 0);
    assert_int_equal(
        store_sync_account_get(st, "capulet.example", "nurse", &got), 0);
    assert_creds_equal(&got.creds, &a.creds);
    /* Only SHA-1 keys, a one-byte salt. */
    make_account(&a, "capulet.example", "tybalt", 10);
    a.creds.has_sha256 = false;
    a.creds.salt_len = 1;
    assert_int_equal(store_sync_account_put(st, &a, STORE_PUT_CREATE), 0);
    assert_int_equal(
        store_sync_account_get(st, "capulet.example", "tybalt", &got), 0);
    assert_creds_equal(&got.creds, &a.creds);
    store_sync_close(st);
}

static void
test_replace(void **state)
{
    struct fx *f = *state;
    struct store *st = open_sync(f);
    struct store_account a, got;
    make_account(&a, "capulet.example", "juliet", 1);
    assert_int_equal(store_sync_account_put(st, &a, STORE_PUT_UPSERT), 0);
    assert_int_equal(
        store_sync_account_get(st, "capulet.example", "juliet", &got), 0);
    int64_t created = got.created;
    make_account(&a, "capulet.example", "juliet", 2);
    assert_int_equal(store_sync_account_put(st, &a, STORE_PUT_UPSERT), 0);
    assert_int_equal(
        store_sync_account_get(st, "capulet.example", "juliet", &got), 0);
    assert_creds_equal(&got.creds, &a.creds);
    assert_int_equal(got.created, created);
    assert_true(got.updated >= created);
    make_account(&a, "capulet.example", "juliet", 3);
    assert_int_equal(store_sync_account_put(st, &a, STORE_PUT_UPDATE), 0);
    assert_int_equal(
        store_sync_account_get(st, "capulet.example", "juliet", &got), 0);
    assert_creds_equal(&got.creds, &a.creds);
    size_t n;
    assert_int_equal(store_sync_account_count(st, NULL, &n), 0);
    assert_int_equal(n, 1);
    store_sync_close(st);
}

static void
test_create_conflict(void **state)
{
    struct fx *f = *state;
    struct store *st = open_sync(f);
    struct store_account a, got;
    make_account(&a, "capulet.example", "juliet", 1);
    assert_int_equal(store_sync_account_put(st, &a, STORE_PUT_CREATE), 0);
    make_account(&a, "capulet.example", "juliet", 2);
    assert_int_equal(store_sync_account_put(st, &a, STORE_PUT_CREATE),
                     XE_STATE);
    /* The first account is untouched. */
    assert_int_equal(
        store_sync_account_get(st, "capulet.example", "juliet", &got), 0);
    make_account(&a, "capulet.example", "juliet", 1);
    assert_creds_equal(&got.creds, &a.creds);
    store_sync_close(st);
}

static void
test_update_missing(void **state)
{
    struct fx *f = *state;
    struct store *st = open_sync(f);
    struct store_account a, got;
    make_account(&a, "capulet.example", "romeo", 1);
    assert_int_equal(store_sync_account_put(st, &a, STORE_PUT_UPDATE),
                     XE_NOTFOUND);
    assert_int_equal(
        store_sync_account_get(st, "capulet.example", "romeo", &got),
        XE_NOTFOUND);
    store_sync_close(st);
}

static void
test_delete(void **state)
{
    struct fx *f = *state;
    struct store *st = open_sync(f);
    struct store_account got;
    put_ok(st, "capulet.example", "juliet", 1);
    put_ok(st, "capulet.example", "romeo", 2);
    assert_int_equal(store_sync_account_del(st, "capulet.example", "juliet"),
                     0);
    assert_int_equal(
        store_sync_account_get(st, "capulet.example", "juliet", &got),
        XE_NOTFOUND);
    assert_int_equal(store_sync_account_del(st, "capulet.example", "juliet"),
                     XE_NOTFOUND);
    assert_int_equal(store_sync_account_del(st, "montague.example", "romeo"),
                     XE_NOTFOUND);
    assert_int_equal(
        store_sync_account_get(st, "capulet.example", "romeo", &got), 0);
    store_sync_close(st);
}

static void
test_list_sorted(void **state)
{
    struct fx *f = *state;
    struct store *st = open_sync(f);
    static const char *const nodes[] = {"romeo", "balthasar", "zed",
                                        "abram", "b",         "\xc3\xa9tienne"};
    for (unsigned i = 0; i < 6; i++)
        put_ok(st, "montague.example", nodes[i], i);
    put_ok(st, "capulet.example", "juliet", 7);
    put_ok(st, "montague.examplf", "aaa", 8);
    struct store_list l;
    assert_int_equal(
        store_sync_account_list(st, "montague.example", NULL, 100, &l), 0);
    /* Byte order: UTF-8 sorts after ASCII. */
    static const char *const want[] = {"abram", "b",   "balthasar",
                                       "romeo", "zed", "\xc3\xa9tienne"};
    assert_int_equal(l.n, 6);
    for (size_t i = 0; i < l.n; i++) {
        assert_string_equal(l.v[i].node, want[i]);
        assert_string_equal(l.v[i].host, "montague.example");
    }
    struct store_account a;
    make_account(&a, "montague.example", "romeo", 0);
    assert_creds_equal(&l.v[3].creds, &a.creds);
    store_list_fini(&l);
    /* Pages: two at a time, after the last node seen. */
    assert_int_equal(
        store_sync_account_list(st, "montague.example", "b", 2, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.v[0].node, "balthasar");
    assert_string_equal(l.v[1].node, "romeo");
    store_list_fini(&l);
    assert_int_equal(
        store_sync_account_list(st, "montague.example", "zed", 2, &l), 0);
    assert_int_equal(l.n, 1);
    store_list_fini(&l);
    assert_int_equal(store_sync_account_list(st, "nowhere.example", "", 2, &l),
                     0);
    assert_int_equal(l.n, 0);
    store_list_fini(&l);
    store_sync_close(st);
}

static void
test_list_limits(void **state)
{
    struct fx *f = *state;
    struct store *st = open_sync(f);
    char node[16];
    for (unsigned i = 0; i <= STORE_LIST_MAX; i++) {
        (void)snprintf(node, sizeof(node), "u%05u", i);
        put_ok(st, "capulet.example", node, i);
    }
    struct store_list l;
    assert_int_equal(store_sync_account_list(st, "capulet.example", NULL,
                                             STORE_LIST_MAX, &l),
                     0);
    assert_int_equal(l.n, STORE_LIST_MAX);
    store_list_fini(&l);
    assert_int_equal(store_sync_account_list(st, "capulet.example", NULL,
                                             STORE_LIST_MAX + 1, &l),
                     XE_INVAL);
    assert_int_equal(
        store_sync_account_list(st, "capulet.example", NULL, 0, &l), XE_INVAL);
    store_list_fini(&l);
    store_sync_close(st);
}

static void
test_count(void **state)
{
    struct fx *f = *state;
    struct store *st = open_sync(f);
    size_t n = 99;
    assert_int_equal(store_sync_account_count(st, NULL, &n), 0);
    assert_int_equal(n, 0);
    put_ok(st, "capulet.example", "juliet", 1);
    put_ok(st, "capulet.example", "nurse", 2);
    put_ok(st, "montague.example", "romeo", 3);
    assert_int_equal(store_sync_account_count(st, "capulet.example", &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(store_sync_account_count(st, "montague.example", &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(store_sync_account_count(st, "verona.example", &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(store_sync_account_count(st, NULL, &n), 0);
    assert_int_equal(n, 3);
    store_sync_close(st);
}

static void
test_invalid_args(void **state)
{
    struct fx *f = *state;
    struct store *st = open_sync(f);
    struct store_account a, got;
    char longp[STORE_PART_MAX + 2];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    /* One past the limit. */
    make_account(&a, "capulet.example", longp, 1);
    assert_int_equal(store_sync_account_put(st, &a, STORE_PUT_UPSERT),
                     XE_INVAL);
    assert_int_equal(store_sync_account_get(st, longp, "x", &got), XE_INVAL);
    /* At the limit. */
    longp[STORE_PART_MAX] = '\0';
    assert_int_equal(store_sync_account_put(st, &a, STORE_PUT_UPSERT), 0);
    assert_int_equal(store_sync_account_get(st, "capulet.example", longp, &got),
                     0);
    make_account(&a, "", "juliet", 1);
    assert_int_equal(store_sync_account_put(st, &a, STORE_PUT_UPSERT),
                     XE_INVAL);
    make_account(&a, "capulet.example", "", 1);
    assert_int_equal(store_sync_account_put(st, &a, STORE_PUT_UPSERT),
                     XE_INVAL);
    assert_int_equal(store_sync_account_del(st, "capulet.example", NULL),
                     XE_INVAL);
    make_account(&a, "capulet.example", "juliet", 1);
    a.creds.has_sha1 = a.creds.has_sha256 = false;
    assert_int_equal(store_sync_account_put(st, &a, STORE_PUT_UPSERT),
                     XE_INVAL);
    make_account(&a, "capulet.example", "juliet", 1);
    a.creds.salt_len = 0;
    assert_int_equal(store_sync_account_put(st, &a, STORE_PUT_UPSERT),
                     XE_INVAL);
    a.creds.salt_len = SASL_SALT_MAX + 1;
    assert_int_equal(store_sync_account_put(st, &a, STORE_PUT_UPSERT),
                     XE_INVAL);
    make_account(&a, "capulet.example", "juliet", 1);
    a.creds.iterations = 0;
    assert_int_equal(store_sync_account_put(st, &a, STORE_PUT_UPSERT),
                     XE_INVAL);
    size_t n;
    assert_int_equal(store_sync_account_count(st, NULL, &n), 0);
    assert_int_equal(n, 1);
    store_sync_close(st);
}

/* ---- asynchronous API, both back ends ---- */

/* What the callbacks saw. */
struct rec {
    bool in_call;   /* set around each submitting call */
    bool sync_seen; /* a callback ran inside a submitting call */
    int order[16];  /* tags in callback order */
    int status[16];
    size_t n;
    size_t count; /* from a count callback */
    size_t list_n;
    char first[32]; /* first node of a list, or the node got */
    bool closed;
    size_t calls; /* all callbacks, for the limit test */
};

/* Each callback's arg points into this table: the record and a tag. */
struct tag {
    struct rec *r;
    int tag;
    struct store_req *cancel; /* cancelled from the callback */
};

/* A function, so that static analysis sees the flag escape to the
 * callbacks. */
static void
set_in_call(struct rec *r, bool on)
{
    r->in_call = on;
}

static void
note(struct tag *t, int status)
{
    struct rec *r = t->r;
    if (r->in_call)
        r->sync_seen = true;
    r->calls++;
    if (r->n < 16) {
        r->order[r->n] = t->tag;
        r->status[r->n] = status;
        r->n++;
    }
    if (t->cancel)
        store_req_cancel(t->cancel);
}

static void
on_get(void *arg, int status, const struct store_account *a)
{
    struct tag *t = arg;
    note(t, status);
    assert_true((status == 0) == (a != NULL));
    if (a)
        (void)snprintf(t->r->first, sizeof(t->r->first), "%s", a->node);
}

static void
on_done(void *arg, int status)
{
    note(arg, status);
}

static void
on_list(void *arg, int status, const struct store_account *v, size_t n)
{
    struct tag *t = arg;
    note(t, status);
    t->r->list_n = n;
    if (n > 0)
        (void)snprintf(t->r->first, sizeof(t->r->first), "%s", v[0].node);
}

static void
on_count(void *arg, int status, size_t n)
{
    struct tag *t = arg;
    note(t, status);
    t->r->count = n;
}

static void
on_closed(void *arg)
{
    struct rec *r = arg;
    r->closed = true;
}

/* Close st and run the loop until it has closed. */
static void
close_and_run(uv_loop_t *loop, struct store *st, struct rec *r)
{
    assert_int_equal(store_close(st, on_closed, r), 0);
    assert_false(r->closed);
    assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
    assert_true(r->closed);
}

static void
test_async_order(void **state)
{
    struct fx *f = *state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct store *st = open_async(f, &loop);
    struct rec r = {0};
    struct tag t[7];
    for (int i = 0; i < 7; i++)
        t[i] = (struct tag){&r, i, NULL};
    struct store_account a;
    make_account(&a, "capulet.example", "juliet", 1);
    set_in_call(&r, true);
    assert_int_equal(
        store_account_put(st, &a, STORE_PUT_CREATE, on_done, &t[0], NULL), 0);
    assert_int_equal(
        store_account_put(st, &a, STORE_PUT_CREATE, on_done, &t[1], NULL), 0);
    assert_int_equal(
        store_account_get(st, "capulet.example", "juliet", on_get, &t[2], NULL),
        0);
    assert_int_equal(store_account_list(st, "capulet.example", NULL, 10,
                                        on_list, &t[3], NULL),
                     0);
    assert_int_equal(store_account_count(st, NULL, on_count, &t[4], NULL), 0);
    assert_int_equal(store_account_del(st, "capulet.example", "juliet", on_done,
                                       &t[5], NULL),
                     0);
    assert_int_equal(
        store_account_get(st, "capulet.example", "juliet", on_get, &t[6], NULL),
        0);
    set_in_call(&r, false);
    /* Nothing is delivered before the loop runs. */
    assert_int_equal(r.n, 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_false(r.sync_seen);
    assert_int_equal(r.n, 7);
    static const int want[] = {0, XE_STATE, 0, 0, 0, 0, XE_NOTFOUND};
    for (int i = 0; i < 7; i++) {
        assert_int_equal(r.order[i], i);
        assert_int_equal(r.status[i], want[i]);
    }
    assert_int_equal(r.list_n, 1);
    assert_string_equal(r.first, "juliet");
    assert_int_equal(r.count, 1);
    close_and_run(&loop, st, &r);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* Even with nothing else to do, a callback waits for the loop. */
static void
test_async_never_sync(void **state)
{
    struct fx *f = *state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct store *st = open_async(f, &loop);
    struct rec r = {0};
    struct tag t = {&r, 0, NULL};
    for (int i = 0; i < 3; i++) {
        set_in_call(&r, true);
        assert_int_equal(store_account_count(st, NULL, on_count, &t, NULL), 0);
        /* Give the worker time to finish: the answer is ready, yet it must
         * not be delivered before the loop runs. */
        usleep(20000);
        set_in_call(&r, false);
        assert_int_equal(r.calls, (size_t)i);
        assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
        assert_int_equal(r.calls, (size_t)i + 1);
    }
    assert_false(r.sync_seen);
    close_and_run(&loop, st, &r);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void
test_async_cancel(void **state)
{
    struct fx *f = *state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct store *st = open_async(f, &loop);
    struct rec r = {0};
    struct tag t[4];
    for (int i = 0; i < 4; i++)
        t[i] = (struct tag){&r, i, NULL};
    struct store_req *q0, *q2, *q3;
    struct store_account a;
    make_account(&a, "capulet.example", "juliet", 1);
    /* A cancelled write still takes effect; only its callback is gone. */
    assert_int_equal(
        store_account_put(st, &a, STORE_PUT_CREATE, on_done, &t[0], &q0), 0);
    assert_int_equal(
        store_account_get(st, "capulet.example", "juliet", on_get, &t[1], NULL),
        0);
    assert_int_equal(store_account_count(st, NULL, on_count, &t[2], &q2), 0);
    assert_int_equal(store_account_count(st, NULL, on_count, &t[3], &q3), 0);
    store_req_cancel(q0);
    /* Cancelled from the callback of an earlier request. */
    t[1].cancel = q2;
    /* Cancelled once it has surely run, before delivery. */
    usleep(20000);
    store_req_cancel(q3);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.order[0], 1);
    assert_int_equal(r.status[0], 0);
    assert_string_equal(r.first, "juliet");
    store_req_cancel(NULL);
    close_and_run(&loop, st, &r);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* STORE_QUEUE_MAX outstanding requests are accepted, one more is refused
 * with XE_LIMIT and its callback never runs; once delivered, the queue
 * takes requests again. */
static void
test_async_queue_limit(void **state)
{
    struct fx *f = *state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct store *st = open_async(f, &loop);
    struct rec r = {0};
    struct tag t = {&r, 0, NULL};
    for (size_t i = 0; i < STORE_QUEUE_MAX; i++)
        assert_int_equal(store_account_get(st, "capulet.example", "juliet",
                                           on_get, &t, NULL),
                         0);
    assert_int_equal(store_account_count(st, NULL, on_count, &t, NULL),
                     XE_LIMIT);
    struct store_account a;
    make_account(&a, "capulet.example", "juliet", 1);
    assert_int_equal(
        store_account_put(st, &a, STORE_PUT_UPSERT, on_done, &t, NULL),
        XE_LIMIT);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(r.calls, STORE_QUEUE_MAX);
    assert_int_equal(store_account_count(st, NULL, on_count, &t, NULL), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(r.calls, STORE_QUEUE_MAX + 1);
    assert_int_equal(r.count, 0);
    close_and_run(&loop, st, &r);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* store_close lets submitted requests finish and run their callbacks
 * before its own; new requests are refused. */
static void
test_async_close_waits(void **state)
{
    struct fx *f = *state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct store *st = open_async(f, &loop);
    struct rec r = {0};
    struct tag t[10];
    char nodes[10][8];
    for (int i = 0; i < 10; i++) {
        t[i] = (struct tag){&r, i, NULL};
        (void)snprintf(nodes[i], sizeof(nodes[i]), "n%d", i);
        struct store_account a;
        make_account(&a, "capulet.example", nodes[i], (unsigned)i);
        assert_int_equal(
            store_account_put(st, &a, STORE_PUT_CREATE, on_done, &t[i], NULL),
            0);
    }
    assert_int_equal(store_close(st, on_closed, &r), 0);
    assert_int_equal(store_close(st, on_closed, &r), XE_STATE);
    struct tag late = {&r, 99, NULL};
    assert_int_equal(store_account_count(st, NULL, on_count, &late, NULL),
                     XE_CLOSED);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_true(r.closed);
    assert_int_equal(r.n, 10);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(r.order[i], i);
        assert_int_equal(r.status[i], 0);
    }
    assert_int_equal(uv_loop_close(&loop), 0);
    if (!f->be->sqlite)
        return;
    /* The acknowledged writes are in the file. */
    struct store *s2 = open_sync(f);
    size_t n;
    assert_int_equal(store_sync_account_count(s2, "capulet.example", &n), 0);
    assert_int_equal(n, 10);
    store_sync_close(s2);
}

/* Each API refuses a store of the other kind, and bad arguments. */
static void
test_async_wrong_kind(void **state)
{
    struct fx *f = *state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct store *sync = open_sync(f);
    struct rec r = {0};
    struct tag t = {&r, 0, NULL};
    assert_int_equal(store_account_count(sync, NULL, on_count, &t, NULL),
                     XE_STATE);
    assert_int_equal(store_close(sync, on_closed, &r), XE_STATE);
    store_sync_close(sync);
    struct store *st = open_async(f, &loop);
    size_t n;
    assert_int_equal(store_sync_account_count(st, NULL, &n), XE_STATE);
    assert_int_equal(store_account_get(st, "", "x", on_get, &t, NULL),
                     XE_INVAL);
    assert_int_equal(
        store_account_get(st, "capulet.example", "x", NULL, &t, NULL),
        XE_INVAL);
    assert_int_equal(
        store_account_list(st, "capulet.example", NULL, 0, on_list, &t, NULL),
        XE_INVAL);
    struct store_account a;
    make_account(&a, "capulet.example", "juliet", 1);
    a.creds.salt_len = 0;
    assert_int_equal(
        store_account_put(st, &a, STORE_PUT_UPSERT, NULL, NULL, NULL),
        XE_INVAL);
    /* A put without a callback. */
    make_account(&a, "capulet.example", "juliet", 1);
    assert_int_equal(
        store_account_put(st, &a, STORE_PUT_UPSERT, NULL, NULL, NULL), 0);
    assert_int_equal(
        store_account_count(st, "capulet.example", on_count, &t, NULL), 0);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.count, 1);
    close_and_run(&loop, st, &r);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- SQLite only ---- */

static void
sql_int(const char *path, const char *sql, int64_t *out)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
                     SQLITE_OK);
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    int rc = sqlite3_step(s);
    if (out) {
        assert_int_equal(rc, SQLITE_ROW);
        *out = sqlite3_column_int64(s, 0);
    } else {
        assert_int_equal(rc, SQLITE_DONE);
    }
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void
sql_text(const char *path, const char *sql, char *out, size_t cap)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    (void)snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void
assert_mode(const char *path, mode_t want)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        fail_msg("%s: %s", path, strerror(errno));
    if ((sb.st_mode & 07777) != want)
        fail_msg("%s: mode %04o, want %04o", path,
                 (unsigned)(sb.st_mode & 07777), (unsigned)want);
}

static void
test_sqlite_file(void **state)
{
    struct fx *f = *state;
    /* A permissive umask must not leak into the database's mode. */
    mode_t old = umask(0);
    struct store *st = open_sync(f);
    umask(old);
    put_ok(st, "capulet.example", "juliet", 1);
    assert_mode(f->path, 0600);
    char p[160];
    (void)snprintf(p, sizeof(p), "%s-wal", f->path);
    assert_mode(p, 0600);
    (void)snprintf(p, sizeof(p), "%s-shm", f->path);
    assert_mode(p, 0600);
    char mode[16];
    sql_text(f->path, "PRAGMA journal_mode", mode, sizeof(mode));
    assert_string_equal(mode, "wal");
    int64_t v = 0;
    sql_int(f->path, "SELECT version FROM schema_version", &v);
    assert_int_equal(v, STORE_SCHEMA_VERSION);
    sql_int(f->path, "SELECT count(*) FROM schema_version", &v);
    assert_int_equal(v, 1);
    /* Salts and keys are BLOBs. */
    sql_text(f->path,
             "SELECT typeof(salt) || typeof(sha256_stored) FROM "
             "accounts",
             mode, sizeof(mode));
    assert_string_equal(mode, "blobblob");
    store_sync_close(st);
}

static void
test_sqlite_reopen(void **state)
{
    struct fx *f = *state;
    struct store *st = open_sync(f);
    put_ok(st, "capulet.example", "juliet", 1);
    put_ok(st, "capulet.example", "romeo", 2);
    assert_int_equal(store_sync_account_del(st, "capulet.example", "romeo"), 0);
    store_sync_close(st);
    st = open_sync(f);
    struct store_account a, got;
    make_account(&a, "capulet.example", "juliet", 1);
    assert_int_equal(
        store_sync_account_get(st, "capulet.example", "juliet", &got), 0);
    assert_creds_equal(&got.creds, &a.creds);
    assert_int_equal(
        store_sync_account_get(st, "capulet.example", "romeo", &got),
        XE_NOTFOUND);
    store_sync_close(st);
    int64_t v = 0;
    sql_int(f->path, "SELECT version FROM schema_version", &v);
    assert_int_equal(v, STORE_SCHEMA_VERSION);
}

/* Two handles on one file, as xmuxctl beside xmuxd: each sees the other's
 * writes. */
static void
test_sqlite_two_handles(void **state)
{
    struct fx *f = *state;
    struct store *a = open_sync(f);
    struct store *b = open_sync(f);
    put_ok(a, "capulet.example", "juliet", 1);
    put_ok(b, "capulet.example", "romeo", 2);
    struct store_account got;
    assert_int_equal(
        store_sync_account_get(b, "capulet.example", "juliet", &got), 0);
    assert_int_equal(store_sync_account_del(a, "capulet.example", "romeo"), 0);
    assert_int_equal(
        store_sync_account_get(b, "capulet.example", "romeo", &got),
        XE_NOTFOUND);
    store_sync_close(a);
    store_sync_close(b);
}

static void
test_sqlite_newer_schema(void **state)
{
    struct fx *f = *state;
    store_sync_close(open_sync(f));
    sql_int(f->path, "UPDATE schema_version SET version = 99", NULL);
    struct buf err;
    buf_init(&err, 1024);
    struct store *st = NULL;
    assert_int_equal(store_sync_open(f->path, &st, &err), XE_STORE);
    assert_null(st);
    assert_non_null(strstr(buf_ptr(&err), "schema version 99"));
    buf_fini(&err);
}

/* A row that does not hold usable credentials is a storage error, not a
 * crash or a half-filled account. */
static void
test_sqlite_damaged_row(void **state)
{
    struct fx *f = *state;
    struct store *st = open_sync(f);
    put_ok(st, "capulet.example", "juliet", 1);
    sql_int(f->path, "UPDATE accounts SET sha1_stored = x'00'", NULL);
    struct store_account got;
    assert_int_equal(
        store_sync_account_get(st, "capulet.example", "juliet", &got),
        XE_STORE);
    store_sync_close(st);
}

static void
test_sqlite_bad_path(void **state)
{
    struct fx *f = *state;
    struct buf err;
    buf_init(&err, 1024);
    struct store *st = NULL;
    char p[160];
    (void)snprintf(p, sizeof(p), "%s/missing/xmux.db", f->dir);
    assert_int_equal(store_sync_open(p, &st, &err), -ENOENT);
    assert_non_null(strstr(buf_ptr(&err), "missing/xmux.db: "));
    buf_reset(&err);
    /* Not a database. */
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    (void)fputs("this is not an SQLite database, just some text\n", fp);
    for (int i = 0; i < 100; i++)
        (void)fputs("padding padding padding padding padding\n", fp);
    (void)fclose(fp);
    assert_int_equal(store_sync_open(f->path, &st, &err), XE_STORE);
    assert_non_null(strstr(buf_ptr(&err), f->path));
    buf_fini(&err);
}

/* A process killed (SIGKILL) while writing loses no acknowledged write
 * and leaves a consistent file. */
static void
test_sqlite_sigkill(void **state)
{
    struct fx *f = *state;
    store_sync_close(open_sync(f));
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        (void)close(fds[0]);
        struct store *st = open_sync(f);
        for (unsigned i = 0;; i++) {
            char node[16];
            (void)snprintf(node, sizeof(node), "u%06u", i);
            put_ok(st, "capulet.example", node, i);
            /* Acknowledge only after the put has returned. */
            if (write(fds[1], &i, sizeof(i)) != (ssize_t)sizeof(i))
                _exit(1);
        }
    }
    (void)close(fds[1]);
    unsigned last = 0, i;
    size_t acks = 0;
    while (acks < 200 && read(fds[0], &i, sizeof(i)) == (ssize_t)sizeof(i)) {
        last = i;
        acks++;
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFSIGNALED(ws));
    /* Acknowledgements written before the kill. */
    while (read(fds[0], &i, sizeof(i)) == (ssize_t)sizeof(i)) {
        last = i;
        acks++;
    }
    (void)close(fds[0]);
    assert_true(acks >= 200);
    char ok[16];
    sql_text(f->path, "PRAGMA integrity_check", ok, sizeof(ok));
    assert_string_equal(ok, "ok");
    struct store *st = open_sync(f);
    size_t n;
    assert_int_equal(store_sync_account_count(st, "capulet.example", &n), 0);
    assert_true(n >= (size_t)last + 1);
    struct store_account a, got;
    char node[16];
    (void)snprintf(node, sizeof(node), "u%06u", last);
    make_account(&a, "capulet.example", node, last);
    assert_int_equal(store_sync_account_get(st, "capulet.example", node, &got),
                     0);
    assert_creds_equal(&got.creds, &a.creds);
    store_sync_close(st);
}

/* Each generic test runs once per back end, named after both. */
#define ONE(fn, be)                                                   \
    {                                                                 \
        .name = #fn "/" #be, .test_func = (fn), .setup_func = setup,  \
        .teardown_func = teardown, .initial_state = (void *)&be_##be, \
    }
#define BOTH(fn)   ONE(fn, mem), ONE(fn, sqlite)
#define SQLITE(fn) ONE(fn, sqlite)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_put_get),
        BOTH(test_key_variants),
        BOTH(test_replace),
        BOTH(test_create_conflict),
        BOTH(test_update_missing),
        BOTH(test_delete),
        BOTH(test_list_sorted),
        BOTH(test_list_limits),
        BOTH(test_count),
        BOTH(test_invalid_args),
        BOTH(test_async_order),
        BOTH(test_async_never_sync),
        BOTH(test_async_cancel),
        BOTH(test_async_queue_limit),
        BOTH(test_async_close_waits),
        BOTH(test_async_wrong_kind),
        SQLITE(test_sqlite_file),
        SQLITE(test_sqlite_reopen),
        SQLITE(test_sqlite_two_handles),
        SQLITE(test_sqlite_newer_schema),
        SQLITE(test_sqlite_damaged_row),
        SQLITE(test_sqlite_bad_path),
        SQLITE(test_sqlite_sigkill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
