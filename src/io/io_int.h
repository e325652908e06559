/* SPDX-License-Identifier: MIT */
/* io_int.h -- io module internals shared between its files. */
#ifndef XMUX_IO_INT_H
#define XMUX_IO_INT_H

#include "io/bucket.h"
#include "io/io.h"
#include "io/resolve.h"

/* Outgoing connection attempts in flight at once (happy eyeballs). */
#define S2S_ATTEMPTS_MAX 4

/* Ciphertext queued inside a TLS session before it is written. */
#define CONN_TLS_OUT_MAX ((size_t)2 << 20)

/* Above this many bytes waiting in the kernel's and libuv's queues we
 * stop reading from the peer (STYLE.md §9): a slow reader must not make
 * us buffer without bound. Reading resumes below the low mark. The hard
 * mark is limits.output_queue_max. */
#define CONN_WRITE_HIGH ((size_t)256 << 10)
#define CONN_WRITE_LOW  ((size_t)64 << 10)
/* The smallest read of a rate-limited connection. */
#define CONN_READ_MIN ((size_t)1024)

/* Work a thread asks of a conn owned by another worker, done by the
 * owner in its next flush pass (worker.c), in this order. */
enum {
    CONN_REQ_PARK = 1 << 0,       /* the io half of conn__park */
    CONN_REQ_PARKED_END = 1 << 1, /* the io half of conn__parked_end */
    CONN_REQ_EXPIRE = 1 << 2,     /* conn__park_expire_soon */
};

struct conn {
    struct server *srv;
    struct worker *w; /* the owner: its thread alone touches tcp and tls */
    uint8_t req;      /* CONN_REQ_* asked by other threads (lock) */
    bool parse_ahead; /* parse before taking the lock (conn.c:on_read) */
    struct conn *prev, *next;
    uint64_t id;
    uv_tcp_t tcp;
    uv_timer_t timer; /* negotiation, then close-wait */
    uv_shutdown_t sreq;
    struct tls_conn *tls; /* NULL until STARTTLS, or from accept (Direct) */
    size_t inflight;      /* writes handed to libuv, not yet completed */
    bool read_paused;     /* output above the high mark */
    bool tls_closed;      /* close_notify queued */
    bool negotiated;      /* the negotiation timer is stopped */
    bool finishing, closing;
    bool parked; /* c2s session waiting for resumption (sm_park.c) */
    bool dirty;              /* on the server's list of conns to flush */
    bool active;             /* read something since the last idle sweep */
    struct conn *dirty_next;
    /* Read turns (conn.c): bytes read in loop iteration turn_iter; past
     * READ_TURN the conn stops reading until the iteration's check. */
    uint64_t turn_iter;
    size_t turn_bytes;
    bool read_yield;
    struct conn *yield_next;
    int open_handles;
    void *creds_req; /* pending account lookup, or NULL */
    uint64_t bytes_in, bytes_out, started;
    char peer[80];
    char ip[64];              /* the peer's address, for per-IP limits */
    uv_timer_t *delay_timer;  /* login throttling, created on first use */
    bool throttled;           /* not reading until delay_timer fires */
    uint64_t last_io;         /* loop time of the last read or write */
    struct ipkey ipkey;       /* the peer's address group (ipcount.h) */
    bool has_ipkey;
    bool ip_counted;          /* counted in srv->per_ip */
    uint32_t limits_logged;   /* bit 1 << enum cfg_limit: already logged */
    struct bucket rx;         /* bytes per second read (limits.*_rate) */
    uv_timer_t *rate_timer;   /* created on the first pause */
    bool rate_paused;         /* not reading until rate_timer fires */
    bool overflowed;          /* output past the hard mark: ending */
    /* Outgoing s2s: where to connect, tried in order. */
    bool outgoing;
    bool connected;
    struct resolve_req *resolve;
    struct resolve_target *targets;
    size_t ntargets, target_i;           /* next target to try */
    struct attempt *attempts[S2S_ATTEMPTS_MAX]; /* connects in flight */
    size_t nattempts;
    struct stream st;
};

struct listener {
    struct server *srv;
    int fd;        /* the listening socket */
    uv_poll_t poll; /* readable: connections wait (server.c) */
    bool polling;  /* poll initialised (after listen) */
    const struct cfg_listen *cfg;
    bool active;   /* bound and not closed */
};
/* Watch (on) or stop watching every listener: a pause of accepting. */
void server__listeners_poll(struct server *srv, bool on);

/* The accepted socket fd becomes a connection of worker w (on w's
 * thread). */
int conn__accept(struct worker *w, int fd, enum cfg_listen_kind kind);
/* worker.c: the workers. */
/* The worker whose thread runs this (NULL outside every worker). */
struct worker *server__self(void);
/* The loop time of the calling thread's worker (else the main loop). */
uint64_t server__now(struct server *srv);
void server__lock(struct server *srv);
void server__unlock(struct server *srv);
/* Set up the workers and their loops (threads start later). */
void server__workers_init(struct server *srv);
/* Open each worker's store and resolver. */
int server__workers_open(struct server *srv, struct buf *err);
/* Start the threads of workers 1... */
int server__workers_start(struct server *srv);
/* Ask every worker to stop (with the lock held). */
void server__workers_stop(struct server *srv);
/* Wait for the threads, finish the loops that never ran, free. */
void server__workers_fini(struct server *srv);
/* Keep w's loop polling without sleeping for poll_spin after I/O. */
void server__spin(struct worker *w);
/* The worker the next accepted connection goes to. */
struct worker *server__pick_worker(struct server *srv);
/* Hand the accepted socket fd to worker w (another thread). */
void server__handoff(struct worker *w, int fd, enum cfg_listen_kind kind);
/* Ask c's owner to do req (CONN_REQ_*) in its next flush pass. */
void conn__request(struct conn *c, uint8_t req);
/* The io halves of parking, for the owner (sm_park.c). */
void conn__park_io(struct conn *c);
void conn__parked_end_io(struct conn *c);
void conn__park_expire_io(struct conn *c);
void conn__flush(struct conn *c);
/* A write in two halves: handing the bytes to libuv (c's own thread, no
 * lock needed) and accounting for them (with the lock). */
ssize_t conn__write_nolock(struct conn *c, struct buf *b);
int conn__write_done(struct conn *c, ssize_t n);
/* Flush c once the loop has handled this round of input: deliveries
 * from many stanzas then leave in one write. */
void server__flush_later(struct server *srv, struct conn *c);
/* With the lock, at a point where nothing is half done: write what this
 * worker's conns were given so far, now rather than at the end of the
 * loop iteration. */
void server__flush_now(struct worker *w);
/* In the check: conns that yielded their read turn read again. */
void conn__turns_resume(struct worker *w);
/* Answer c's pending credential request with "no such account" from the
 * loop (the lookup could not be started). */
void conn__defer_no_creds(struct conn *c);
/* One log line for a connection that ends (or is parked). */
void conn__log_close(struct conn *c, const char *reason, bool parked);
/* sm_park.c: the transport of a resumable c2s session is gone: keep the
 * session for sm.resume_timeout (true), or false (close as usual). */
bool conn__park(struct conn *c, const char *reason);
/* End a parked connection: its session ends (unless it was resumed
 * elsewhere) and the memory goes. */
void conn__parked_end(struct conn *c, const char *why);
/* A parked session has too much waiting: end it from the loop. */
void conn__park_expire_soon(struct conn *c);
/* Stop reading from c for ms milliseconds (failed-login throttling). */
void conn__throttle(struct conn *c, uint64_t ms);
/* Cancel c's pending account lookup, if any (creds.c). */
void conn__cancel_creds(struct conn *c);
void conn__shutdown(struct conn *c);
void conn__close(struct conn *c, const char *reason);
void conn__handle_closed(uv_handle_t *h);
void conn__read_start(struct conn *c);
void conn__delay_timer(struct conn *c);
void conn__peer_name(struct conn *c);
void conn__on_negotiation_timeout(uv_timer_t *t);

/* s2s_out.c: outgoing s2s connections. */
/* Start an outgoing stream from host 'from' to remote domain 'to':
 * resolve, connect, then negotiate. NULL if it cannot start. */
struct stream *conn__connect(struct server *srv, const struct cfg_host *from,
                             const char *to);
/* A TLS client session for c's stream: SNI = the stream 'to', our
 * certificate for the stream 'from', ALPN alpn (NULL for STARTTLS). */
struct tls_conn *conn__tls_client(struct conn *c, const char *alpn);
/* Abandon c's connection attempts still in flight. */
void conn__attempts_drop(struct conn *c);
void conn__force_close(struct conn *c);
void server__conn_link(struct server *srv, struct conn *c);
void server__conn_unlink(struct server *srv, struct conn *c);
/* A conn of w is gone: ends w's stop when it was its last one. */
void server__conn_gone(struct worker *w);

/* limits.c: counting limits, per-address and descriptor limits, the
 * byte rate (docs/limits.md). */
/* Count a hit of what; log it as one event=limit line with the detail
 * fmt (key=value words), once per connection when c is not NULL. */
void server__limit(struct server *srv, struct conn *c, enum cfg_limit what,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Set conn_cap from max_connections and RLIMIT_NOFILE less fd_reserve
 * (raising the soft limit to the hard one first); logs the outcome. */
void server__fd_budget(struct server *srv);
/* accept failed for want of descriptors (UV_EMFILE, UV_ENFILE): stop
 * accepting for a while. */
void server__accept_pause(struct server *srv, int err);
/* Whether c may stay by the per-address limit; counts it if so. Returns
 * 0, or XE_LIMIT (logged and counted) when over it. */
int conn__admit_ip(struct conn *c);
/* Stop counting c in the per-address table (at close). */
void conn__release_ip(struct conn *c);
/* Fill the bucket of c by its kind's rate (after stream_init). */
void conn__rate_init(struct conn *c);
/* How many bytes the next read of c may take, at most max: what its
 * bucket holds (at least CONN_READ_MIN), so that input beyond the rate
 * stays in the kernel rather than in our buffers. */
size_t conn__read_size(struct conn *c, size_t max);
/* n bytes were read from c: past its rate, stop reading until the bucket
 * has credit again. */
void conn__rate_count(struct conn *c, size_t n);
/* Whether reading c may resume: no pause is pending and its output is
 * below mark. */
bool conn__may_read(struct conn *c, size_t mark);
/* Append the xmuxctl stats lines (docs/control.md) to out. */
void server__stats(struct server *srv, struct buf *out);

/* describe.c: append one key=value line about c, ending in '\n', to out
 * (docs/control.md); a line cut by out's limit lacks the '\n'. */
void conn__describe(const struct conn *c, struct buf *out);

/* control.c: the control socket xmuxctl talks to (docs/control.md). */
/* Set up the control state (nothing is opened yet). */
void server__control_init(struct server *srv);
/* Bind cfg->control_socket (mode 0600, replacing a stale socket) and
 * listen. Returns 0, or an error after logging it (another xmuxd is
 * listening there: -EADDRINUSE). */
int server__control_listen(struct server *srv);
/* Close the socket (libuv unlinks the path) and every control client. */
void server__control_stop(struct server *srv);
/* Free the control state; after the loop has ended. */
void server__control_fini(struct server *srv);

/* services.c: the account store and the router, and the stream_ops that
 * connect streams to them. */
extern const struct stream_ops server__stream_ops;
int server__services_init(struct server *srv, struct buf *err);
int server__services_open_worker(struct worker *w, struct buf *err);
/* Close the store (its pending callbacks still run): part of a stop. */
void server__services_close_worker(struct worker *w);
void server__services_fini(struct server *srv);
/* The kernel's CSPRNG (stream_random_fn). */
void server__random(void *arg, void *buf, size_t n);

#endif
