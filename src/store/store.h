/* SPDX-License-Identifier: MIT */
/* store.h -- account storage (SQLite or memory) behind an asynchronous API. */
#ifndef XMUX_STORE_H
#define XMUX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "base/buf.h"
#include "sasl/sasl.h"

/* The database file inside the state directory. */
#define STORE_DB_FILE "xmux.db"
/* The schema version this build writes (see docs/store.md). */
#define STORE_SCHEMA_VERSION 1
/* Requests submitted and not yet answered (or cancelled and reaped) on one
 * asynchronous store; one more is refused with XE_LIMIT. */
#define STORE_QUEUE_MAX 4096
/* Most accounts one list call returns; page with "after" for more. */
#define STORE_LIST_MAX 1024
/* Longest host or node in bytes (RFC 7622: 1023 octets per part). */
#define STORE_PART_MAX 1023

/* One account, keyed by (host, node). Both are already prepared (host by
 * jid_domain_prep, node by jid_node_prep); the store compares bytes. */
struct store_account {
    const char *host; /* borrowed; see each call for whose it is */
    const char *node;
    struct sasl_creds creds; /* SCRAM keys; never a password */
    bool disabled;           /* refuse logins; the account still exists */
    int64_t created;         /* Unix seconds; set by the store on insert */
    int64_t updated;         /* Unix seconds; set by the store on each put */
};

/* Accounts of one host in byte order of node. Owns v and its strings. */
struct store_list {
    struct store_account *v;
    size_t n;
    size_t cap; /* allocated entries */
};

/* How a put treats an existing account. */
enum store_put_mode {
    STORE_PUT_UPSERT, /* create or replace */
    STORE_PUT_CREATE, /* create only: XE_STATE if the account exists */
    STORE_PUT_UPDATE, /* replace only: XE_NOTFOUND if it does not exist */
};

struct store;     /* a database handle with its back end */
struct store_req; /* one pending asynchronous request */

/* Completion of a get: status 0 with acct (borrowed for the call, strings
 * included), or an error with acct NULL: XE_NOTFOUND, XE_STORE, -errno. */
typedef void
store_get_fn(void *arg, int status, const struct store_account *acct);
/* Completion of a put or delete: 0 or an error (see each call). */
typedef void store_done_fn(void *arg, int status);
/* Completion of a list: v[0..n) borrowed for the call (n is 0 on error). */
typedef void
store_list_fn(void *arg, int status, const struct store_account *v, size_t n);
/* Completion of a count. */
typedef void store_count_fn(void *arg, int status, size_t count);
/* Called once a store has closed; the store is already freed. */
typedef void store_close_fn(void *arg);

/*
 * Asynchronous API, for the daemon. Every call is made on the thread that
 * runs loop. The SQLite back end answers on one worker thread that owns the
 * connection; the memory back end runs on such a thread too. Completions
 * run on the loop, in submission order, never inside the submitting call.
 * If a call returns an error, its callback never runs (STYLE.md §7). reqp
 * may be NULL; otherwise it receives a handle that stays valid until the
 * callback has returned or store_req_cancel has been called.
 */

/* Open (creating if needed) the SQLite database at path, mode 0600, and
 * migrate it to STORE_SCHEMA_VERSION. Blocks while doing so: call it before
 * the loop serves peers. Returns 0, XE_STORE (message in err), -errno. */
int store_open(uv_loop_t *loop,
               const char *path,
               struct store **out,
               struct buf *err);
/* Open an empty in-memory store (for tests). Returns 0 or -errno. */
int store_open_mem(uv_loop_t *loop, struct store **out);
/* Refuse new requests (XE_CLOSED), let the submitted ones complete and run
 * their callbacks, release the back end, then call done(arg) on the loop.
 * Returns 0, or XE_STATE if st is already closing or is not asynchronous
 * (done then never runs). */
int store_close(struct store *st, store_close_fn *done, void *arg);

/* Look up (host, node). cb gets XE_NOTFOUND if there is no such account.
 * Returns 0, XE_INVAL (bad argument), XE_LIMIT (STORE_QUEUE_MAX requests
 * outstanding), XE_CLOSED (closing) or XE_STATE (synchronous store). */
int store_account_get(struct store *st,
                      const char *host,
                      const char *node,
                      store_get_fn *cb,
                      void *arg,
                      struct store_req **reqp);
/* Write acct (copied at once; created and updated are ignored) as mode
 * says. cb (may be NULL) gets 0, XE_STATE (exists, STORE_PUT_CREATE),
 * XE_NOTFOUND (STORE_PUT_UPDATE), XE_STORE or -errno; 0 means durable.
 * Returns like store_account_get; XE_INVAL also for unusable creds. */
int store_account_put(struct store *st,
                      const struct store_account *acct,
                      enum store_put_mode mode,
                      store_done_fn *cb,
                      void *arg,
                      struct store_req **reqp);
/* Delete (host, node). cb (may be NULL) gets 0 or XE_NOTFOUND, XE_STORE,
 * -errno. Returns like store_account_get. */
int store_account_del(struct store *st,
                      const char *host,
                      const char *node,
                      store_done_fn *cb,
                      void *arg,
                      struct store_req **reqp);
/* List up to limit (1..STORE_LIST_MAX) accounts of host whose node sorts
 * after "after" (NULL or "": from the start), in byte order. Fewer than
 * limit means the end. Returns like store_account_get. */
int store_account_list(struct store *st,
                       const char *host,
                       const char *after,
                       size_t limit,
                       store_list_fn *cb,
                       void *arg,
                       struct store_req **reqp);
/* Count the accounts of host (NULL: of all hosts). Returns like
 * store_account_get. */
int store_account_count(struct store *st,
                        const char *host,
                        store_count_fn *cb,
                        void *arg,
                        struct store_req **reqp);
/* Make sure req's callback never runs (an owner going away calls this so
 * that no callback gets a dangling arg). The operation itself may still
 * take effect. req is invalid afterwards. Call it only on the loop thread,
 * before the callback has run or from inside it (then it does nothing). */
void store_req_cancel(struct store_req *req);

/*
 * Synchronous API, for tools (xmuxctl) and tests: runs on the calling
 * thread, with the same schema code and back ends. A store opened here
 * refuses the asynchronous calls with XE_STATE, and vice versa.
 */

/* Like store_open, without a loop. */
int store_sync_open(const char *path, struct store **out, struct buf *err);
/* An empty in-memory store; never fails. */
struct store *store_sync_open_mem(void);
/* Close and free a synchronous store; accepts NULL. */
void store_sync_close(struct store *st);
/* Look up (host, node) into *out; out->host and out->node are set to the
 * host and node passed. Returns 0, XE_NOTFOUND, XE_INVAL, XE_STORE, -errno
 * (also XE_STATE on an asynchronous store, for each sync call). */
int store_sync_account_get(struct store *st,
                           const char *host,
                           const char *node,
                           struct store_account *out);
/* Write acct as mode says; same results as the callback of
 * store_account_put, plus XE_INVAL. */
int store_sync_account_put(struct store *st,
                           const struct store_account *acct,
                           enum store_put_mode mode);
/* Delete (host, node): 0, XE_NOTFOUND, XE_INVAL, XE_STORE, -errno. */
int
store_sync_account_del(struct store *st, const char *host, const char *node);
/* List as store_account_list into *out, which the caller releases with
 * store_list_fini (also after an error). */
int store_sync_account_list(struct store *st,
                            const char *host,
                            const char *after,
                            size_t limit,
                            struct store_list *out);
/* Count the accounts of host (NULL: all) into *out. */
int store_sync_account_count(struct store *st, const char *host, size_t *out);
/* Free a list's contents and empty it; accepts NULL. */
void store_list_fini(struct store_list *l);

#endif
