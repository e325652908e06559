/* SPDX-License-Identifier: MIT */
/* resolve.c -- s2s and c2s target resolution with c-ares, on the libuv loop. */
#include "io/resolve.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "base/alloc.h"
#include "base/err.h"

#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_TRIES      2

/* The two SRV services of XEP-0368, in the order they are asked. */
enum { SET_XMPPS = 0, SET_XMPP = 1, SET_COUNT };

/* What one SRV answer said. */
enum srv_kind {
    SRV_PENDING = 0,
    SRV_RECORDS,  /* usable records, copied into req->srv */
    SRV_NONE,     /* NXDOMAIN or NODATA: fall back to A/AAAA */
    SRV_NOTARGET, /* records, none usable ("." or bad names): no fallback */
    SRV_ERROR,    /* no answer (timeout, refused, SERVFAIL...) */
};

enum req_phase { PHASE_SRV, PHASE_ADDR };
enum req_source { SRC_LITERAL, SRC_ROUTE, SRC_SRV, SRC_FALLBACK };

static const char *const source_names[] = {"literal", "route", "srv",
                                           "fallback"};

struct resolve_set {
    struct resolve_req *req;
    enum srv_kind kind;
    int status; /* mapped c-ares status */
};

struct host_addr {
    int family;
    char s[INET6_ADDRSTRLEN];
};

/* The A/AAAA lookup of one SRV target (or route host, or the domain). */
struct resolve_host {
    struct resolve_req *req;
    int status; /* 0, XE_NOTFOUND or a DNS failure */
    size_t naddr;
    struct host_addr addr[RESOLVE_MAX_HOST_ADDR];
};

struct resolve_req {
    struct resolver *r;
    struct resolve_req *prev, *next; /* r->reqs: every live request */
    struct resolve_req *done_next;   /* r's queue of finished requests */
    resolve_done_fn *cb;
    void *arg;
    enum resolve_service svc;
    /* c-ares queries in flight, plus one while a phase is being started
     * (c-ares may answer inside ares_query: the phase must not end before
     * all its queries are out). */
    int pending;
    bool cancelled, queued;
    enum req_phase phase;
    enum req_source source;
    int status;
    int srv_status; /* why the SRV queries failed, if the fallback ran */
    char domain[RESOLVE_HOST_MAX];
    struct resolve_set sets[SET_COUNT];
    struct resolve_srv srv[SET_COUNT * RESOLVE_MAX_SRV_SET];
    size_t nsrv;
    struct resolve_host hosts[RESOLVE_MAX_SRV];
    size_t nhosts;
    struct resolve_target out[RESOLVE_MAX_TARGETS];
    size_t nout;
    size_t dropped; /* targets past RESOLVE_MAX_TARGETS */
};

/* A uv_poll_t for one c-ares socket. */
struct resolver_poll {
    uv_poll_t h;
    struct resolver *r;
    struct resolver_poll *next;
    ares_socket_t fd;
    int events;
    bool closing;
};

struct resolver {
    uv_loop_t *loop;
    const struct logger *log;
    ares_channel channel;
    uv_timer_t timeout; /* c-ares deadlines and retries (ares_timeout) */
    uv_timer_t deliver; /* runs finished requests' callbacks */
    struct resolver_poll *polls;
    struct resolve_req *reqs;
    struct resolve_req *done_head, *done_tail;
    uint64_t rng;
    int open_handles;
    bool closing;
    void (*closed)(void *);
    void *closed_arg;
};

static void req_release(struct resolve_req *q);
static void on_timeout(uv_timer_t *t);

/* --- c-ares status mapping --------------------------------------------- */

/* Only an answer that says the name or the records do not exist is "not
 * found"; anything else means we do not know (header: status mapping). */
static int
map_ares(int st)
{
    switch (st) {
    case ARES_SUCCESS:
        return 0;
    case ARES_ENODATA:
    case ARES_ENOTFOUND:
    case ARES_ENONAME:
        return XE_NOTFOUND;
    case ARES_ETIMEOUT:
        return -ETIMEDOUT;
    case ARES_ECONNREFUSED:
    case ARES_EREFUSED:
        return -ECONNREFUSED;
    case ARES_ENOMEM:
        return -ENOMEM;
    default:
        return XE_IO;
    }
}

static const char *
status_name(int st)
{
    return st == 0 ? "ok" : xerr_name(st);
}

/* What one SRV answer said, for the log: records, none, notarget, or the
 * failure's name. */
static const char *
set_name(const struct resolve_set *set)
{
    switch (set->kind) {
    case SRV_RECORDS:
        return "records";
    case SRV_NONE:
        return "none";
    case SRV_NOTARGET:
        return "notarget";
    case SRV_ERROR:
        return status_name(set->status);
    default:
        return "pending";
    }
}

/* --- sockets and timers -------------------------------------------------- */

static void
handle_closed(struct resolver *r)
{
    if (--r->open_handles > 0 || !r->closing)
        return;
    void (*done)(void *) = r->closed;
    void *arg = r->closed_arg;
    x_free(r);
    ares_library_cleanup();
    if (done != NULL)
        done(arg);
}

static void
on_handle_close(uv_handle_t *h)
{
    handle_closed(h->data);
}

static void
on_poll_close(uv_handle_t *h)
{
    struct resolver_poll *p = h->data;
    struct resolver *r = p->r;
    x_free(p);
    handle_closed(r);
}

/* Unlink p at once, so that a new socket c-ares opens on the same fd
 * number gets a new poll handle while this one is still closing. */
static void
poll_close(struct resolver_poll *p)
{
    struct resolver_poll **pp = &p->r->polls;
    while (*pp != p)
        pp = &(*pp)->next;
    *pp = p->next;
    p->closing = true;
    uv_close((uv_handle_t *)&p->h, on_poll_close);
}

static void
timer_rearm(struct resolver *r)
{
    if (r->closing)
        return;
    struct timeval tv;
    if (ares_timeout(r->channel, NULL, &tv) == NULL) {
        uv_timer_stop(&r->timeout);
        return;
    }
    /* Round up: waking early only costs one more pass, but rounding down
     * to 0 could spin while c-ares still has microseconds to wait. */
    uint64_t ms =
        (uint64_t)tv.tv_sec * 1000 + ((uint64_t)tv.tv_usec + 999) / 1000;
    uv_timer_start(&r->timeout, on_timeout, ms, 0);
}

/* A c-ares deadline passed: let it retry or fail the queries concerned. */
static void
on_timeout(uv_timer_t *t)
{
    struct resolver *r = t->data;
    ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    timer_rearm(r);
}

static void
on_poll(uv_poll_t *h, int status, int events)
{
    struct resolver_poll *p = h->data;
    struct resolver *r = p->r;
    ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;
    if (status < 0) {
        /* An error on the socket (ICMP port unreachable on UDP, a reset
         * TCP connection): c-ares finds out by reading and writing. */
        rfd = wfd = p->fd;
    } else {
        if (events & UV_READABLE)
            rfd = p->fd;
        if (events & UV_WRITABLE)
            wfd = p->fd;
    }
    ares_process_fd(r->channel, rfd, wfd);
    /* libuv stops a poll handle that reported an error; if c-ares kept
     * the socket, keep watching it. */
    if (status < 0 && !p->closing)
        uv_poll_start(&p->h, p->events, on_poll);
    timer_rearm(r);
}

static struct resolver_poll *
poll_find(struct resolver *r, ares_socket_t fd)
{
    for (struct resolver_poll *p = r->polls; p != NULL; p = p->next)
        if (p->fd == fd)
            return p;
    return NULL;
}

/* ARES_OPT_SOCK_STATE_CB: c-ares opened, changed or is closing fd. */
static void
on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct resolver *r = data;
    struct resolver_poll *p = poll_find(r, fd);
    if (!readable && !writable) {
        if (p != NULL)
            poll_close(p);
        return;
    }
    if (p == NULL) {
        p = x_calloc(1, sizeof(*p));
        int rc = uv_poll_init_socket(r->loop, &p->h, fd);
        if (rc != 0) {
            /* The queries on fd then end by timeout: slow, not stuck. */
            log_msg(r->log, LOG_WARN, 0, "event=resolver-poll fd=%d err=%s", fd,
                    uv_err_name(rc));
            x_free(p);
            return;
        }
        p->h.data = p;
        p->r = r;
        p->fd = fd;
        p->next = r->polls;
        r->polls = p;
        r->open_handles++;
    }
    p->events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
    uv_poll_start(&p->h, p->events, on_poll);
}

/* --- resolver ------------------------------------------------------------ */

static uint64_t
seed_from_kernel(const void *salt)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
        seed = uv_hrtime() ^ (uint64_t)(uintptr_t)salt;
    return seed;
}

static bool
port_ok(const char *p)
{
    unsigned long v = 0;
    size_t n = 0;
    for (; p[n] >= '0' && p[n] <= '9' && n < 6; n++)
        v = v * 10 + (unsigned long)(p[n] - '0');
    return n > 0 && p[n] == '\0' && v >= 1 && v <= 65535;
}

/* One server: "IPv4", "IPv4:port", "[IPv6]:port" or a bare IPv6 address
 * (c-ares wants a port after brackets). */
static bool
server_ok(const char *s, size_t n)
{
    char buf[RESOLVE_ADDR_MAX + 8], addr[RESOLVE_ADDR_MAX];
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    const char *port = NULL;
    int want = 0;
    char *c = strchr(buf, ']');
    if (buf[0] == '[' && c != NULL) {
        if (c[1] != ':')
            return false;
        port = c + 2;
        c[1] = '\0';
        want = AF_INET6;
    } else if ((c = strchr(buf, ':')) != NULL && strchr(c + 1, ':') == NULL) {
        *c = '\0';
        port = c + 1;
        want = AF_INET;
    }
    int family = resolve_ip_literal(buf, addr);
    return family != 0 && (want == 0 || family == want) &&
           (port == NULL || port_ok(port));
}

/* c-ares takes some malformed lists ("[::1" for one) without a word, so
 * the list is checked here first: comma-separated servers, none empty. */
static bool
servers_ok(const char *s)
{
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);
        if (!server_ok(s, n))
            return false;
        if (comma == NULL)
            return true;
        s = comma + 1;
    }
}

/* XMPP domains are fully qualified (RFC 6120 §3.2): no search list, so no
 * name is ever tried with a local suffix. With explicit servers, c-ares
 * reads neither /etc/resolv.conf nor /etc/hosts, so only they decide. */
static int
channel_init(struct resolver *r, const struct resolver_opts *o, struct buf *err)
{
    char lookups[] = "b";
    char devnull[] = "/dev/null";
    struct ares_options ao;
    memset(&ao, 0, sizeof(ao));
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
               ARES_OPT_DOMAINS;
    ao.sock_state_cb = on_sock_state;
    ao.sock_state_cb_data = r;
    ao.timeout = o->timeout_ms ? (int)o->timeout_ms : DEFAULT_TIMEOUT_MS;
    ao.tries = o->tries ? (int)o->tries : DEFAULT_TRIES;
    ao.domains = NULL;
    ao.ndomains = 0;
    if (o->servers != NULL) {
        mask |= ARES_OPT_LOOKUPS | ARES_OPT_RESOLVCONF;
        ao.lookups = lookups;
        ao.resolvconf_path = devnull;
    }
    int rc = ares_init_options(&r->channel, &ao, mask);
    if (rc != ARES_SUCCESS) {
        buf_printf(err, "resolver: %s", ares_strerror(rc));
        return rc == ARES_ENOMEM ? -ENOMEM : XE_IO;
    }
    if (o->servers == NULL)
        return 0;
    if (!servers_ok(o->servers))
        rc = ARES_EBADSTR;
    else
        rc = ares_set_servers_ports_csv(r->channel, o->servers);
    if (rc != ARES_SUCCESS) {
        buf_printf(err, "resolver: bad server list \"%.100s\": %s", o->servers,
                   ares_strerror(rc));
        ares_destroy(r->channel);
        r->channel = NULL;
        return rc == ARES_ENOMEM ? -ENOMEM : XE_CONFIG;
    }
    return 0;
}

int
resolver_new(uv_loop_t *loop,
             const struct resolver_opts *opts,
             const struct logger *log,
             struct resolver **out,
             struct buf *err)
{
    static const struct resolver_opts defaults;
    const struct resolver_opts *o = opts != NULL ? opts : &defaults;
    *out = NULL;
    int rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc != ARES_SUCCESS) {
        buf_printf(err, "resolver: %s", ares_strerror(rc));
        return XE_IO;
    }
    struct resolver *r = x_calloc(1, sizeof(*r));
    r->loop = loop;
    r->log = log;
    r->rng = o->seed != 0 ? o->seed : seed_from_kernel(r);
    rc = channel_init(r, o, err);
    if (rc != 0) {
        x_free(r);
        ares_library_cleanup();
        return rc;
    }
    uv_timer_init(loop, &r->timeout);
    r->timeout.data = r;
    uv_timer_init(loop, &r->deliver);
    r->deliver.data = r;
    r->open_handles = 2;
    log_msg(log, LOG_DEBUG, 0,
            "event=resolver-ready servers=%s timeout_ms=%u tries=%u",
            o->servers ? o->servers : "system",
            o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS,
            o->tries ? o->tries : DEFAULT_TRIES);
    *out = r;
    return 0;
}

static void
req_unlink(struct resolve_req *q)
{
    struct resolver *r = q->r;
    if (q->prev != NULL)
        q->prev->next = q->next;
    else
        r->reqs = q->next;
    if (q->next != NULL)
        q->next->prev = q->prev;
    q->prev = q->next = NULL;
}

static void
req_destroy(struct resolve_req *q)
{
    req_unlink(q);
    x_free(q);
}

/* Take q off the queue of finished requests. */
static void
done_remove(struct resolver *r, struct resolve_req *q)
{
    struct resolve_req *prev = NULL;
    for (struct resolve_req *x = r->done_head; x != NULL; x = x->done_next) {
        if (x == q) {
            if (prev != NULL)
                prev->done_next = q->done_next;
            else
                r->done_head = q->done_next;
            if (r->done_tail == q)
                r->done_tail = prev;
            q->queued = false;
            q->done_next = NULL;
            return;
        }
        prev = x;
    }
}

void
resolver_free(struct resolver *r, void (*done)(void *), void *arg)
{
    if (r == NULL)
        return;
    r->closing = true;
    r->closed = done;
    r->closed_arg = arg;
    while (r->done_head != NULL) {
        struct resolve_req *q = r->done_head;
        done_remove(r, q);
        req_destroy(q);
    }
    for (struct resolve_req *q = r->reqs; q != NULL; q = q->next)
        q->cancelled = true;
    /* ares_destroy ends every query with ARES_EDESTRUCTION, which frees
     * the cancelled requests (req_release), and reports each socket it
     * closes to on_sock_state, which closes its poll handle. */
    ares_destroy(r->channel);
    r->channel = NULL;
    /* Nothing can answer the requests now; none should be left. */
    while (r->reqs != NULL)
        req_destroy(r->reqs);
    while (r->polls != NULL)
        poll_close(r->polls);
    uv_close((uv_handle_t *)&r->timeout, on_handle_close);
    uv_close((uv_handle_t *)&r->deliver, on_handle_close);
}

/* --- finishing a request ------------------------------------------------- */

/* Runs finished requests' callbacks from the loop, never from inside
 * resolve_s2s or c-ares: a callback may then start, cancel or free
 * anything, the resolver included. */
static void
on_deliver(uv_timer_t *t)
{
    struct resolver *r = t->data;
    while (r->done_head != NULL && !r->closing) {
        struct resolve_req *q = r->done_head;
        done_remove(r, q);
        req_unlink(q);
        q->cb(q->arg, q->status, q->status == 0 ? q->out : NULL,
              q->status == 0 ? q->nout : 0);
        x_free(q);
    }
}

static const char *
tls_name(bool direct)
{
    return direct ? "direct" : "starttls";
}

/* One line per lookup outcome at INFO; the whole list at DEBUG. */
static void
req_log(const struct resolve_req *q)
{
    const struct logger *lg = q->r->log;
    if (q->nout > 0)
        log_msg(lg, LOG_INFO, 0,
                "event=resolve domain=%s source=%s targets=%zu status=ok "
                "first=%s port=%u tls=%s",
                q->domain, source_names[q->source], q->nout, q->out[0].addr,
                q->out[0].port, tls_name(q->out[0].direct_tls));
    else
        log_msg(lg, LOG_INFO, 0,
                "event=resolve domain=%s source=%s targets=0 status=%s",
                q->domain, source_names[q->source], status_name(q->status));
    if (lg == NULL || lg->level < LOG_DEBUG)
        return;
    for (size_t i = 0; i < q->nout; i++) {
        const struct resolve_target *t = &q->out[i];
        log_msg(lg, LOG_DEBUG, 0,
                "event=resolve-target domain=%s n=%zu host=%s addr=%s "
                "port=%u tls=%s",
                q->domain, i, t->host, t->addr, t->port,
                tls_name(t->direct_tls));
    }
    if (q->dropped > 0)
        log_msg(lg, LOG_DEBUG, 0,
                "event=resolve-limit domain=%s dropped=%zu max=%d", q->domain,
                q->dropped, RESOLVE_MAX_TARGETS);
}

static void
req_complete(struct resolve_req *q, int status)
{
    struct resolver *r = q->r;
    q->status = status;
    if (status != 0)
        q->nout = 0;
    req_log(q);
    q->queued = true;
    q->done_next = NULL;
    if (r->done_tail != NULL)
        r->done_tail->done_next = q;
    else
        r->done_head = q;
    r->done_tail = q;
    uv_timer_start(&r->deliver, on_deliver, 0, 0);
}

/* Append one target unless it is already listed or the list is full. */
static void
add_target(struct resolve_req *q,
           const char *host,
           uint16_t port,
           bool tls,
           int family,
           const char *addr)
{
    for (size_t i = 0; i < q->nout; i++) {
        const struct resolve_target *t = &q->out[i];
        if (t->port == port && t->direct_tls == tls &&
            strcmp(t->addr, addr) == 0)
            return;
    }
    if (q->nout == RESOLVE_MAX_TARGETS) {
        q->dropped++;
        return;
    }
    struct resolve_target *t = &q->out[q->nout++];
    snprintf(t->host, sizeof(t->host), "%s", host);
    snprintf(t->addr, sizeof(t->addr), "%s", addr);
    t->family = family;
    t->port = port;
    t->direct_tls = tls;
}

/* Every address lookup is done: expand the targets in SRV order. */
static void
addr_phase_end(struct resolve_req *q)
{
    int err = 0;
    for (size_t i = 0; i < q->nhosts; i++) {
        const struct resolve_host *h = &q->hosts[i];
        const struct resolve_srv *s = &q->srv[i];
        for (size_t j = 0; j < h->naddr; j++)
            add_target(q, s->host, s->port, s->direct_tls, h->addr[j].family,
                       h->addr[j].s);
        if (err == 0 && h->status != 0 && h->status != XE_NOTFOUND)
            err = h->status;
    }
    if (q->nout > 0) {
        req_complete(q, 0);
        return;
    }
    /* Not found only if every answer said so: a target that did not
     * answer, or SRV queries that did not before the fallback, might
     * have led somewhere. */
    if (err == 0)
        err = q->srv_status != 0 ? q->srv_status : XE_NOTFOUND;
    req_complete(q, err);
}

/* --- address lookups ----------------------------------------------------- */

static void
host_add(struct host_addr *v, size_t *n, int family, const void *bin)
{
    char s[INET6_ADDRSTRLEN];
    if (*n == RESOLVE_MAX_HOST_ADDR ||
        inet_ntop(family, bin, s, sizeof(s)) == NULL)
        return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(v[i].s, s) == 0)
            return;
    v[*n].family = family;
    memcpy(v[*n].s, s, sizeof(s));
    (*n)++;
}

/* Keep up to RESOLVE_MAX_HOST_ADDR addresses of h, IPv6 and IPv4
 * alternating with IPv6 first (RFC 8305 §4), each family in the order of
 * the answer. */
static void
host_store(struct resolve_host *h, const struct ares_addrinfo *res)
{
    struct host_addr v6[RESOLVE_MAX_HOST_ADDR], v4[RESOLVE_MAX_HOST_ADDR];
    size_t n6 = 0, n4 = 0;
    for (const struct ares_addrinfo_node *a = res ? res->nodes : NULL;
         a != NULL; a = a->ai_next) {
        if (a->ai_family == AF_INET6 &&
            a->ai_addrlen >= (ares_socklen_t)sizeof(struct sockaddr_in6)) {
            struct sockaddr_in6 sa;
            memcpy(&sa, a->ai_addr, sizeof(sa));
            host_add(v6, &n6, AF_INET6, &sa.sin6_addr);
        } else if (a->ai_family == AF_INET &&
                   a->ai_addrlen >=
                       (ares_socklen_t)sizeof(struct sockaddr_in)) {
            struct sockaddr_in sa;
            memcpy(&sa, a->ai_addr, sizeof(sa));
            host_add(v4, &n4, AF_INET, &sa.sin_addr);
        }
    }
    size_t i6 = 0, i4 = 0;
    while (h->naddr < RESOLVE_MAX_HOST_ADDR && (i6 < n6 || i4 < n4)) {
        if (i6 < n6)
            h->addr[h->naddr++] = v6[i6++];
        if (h->naddr < RESOLVE_MAX_HOST_ADDR && i4 < n4)
            h->addr[h->naddr++] = v4[i4++];
    }
    h->status = h->naddr > 0 ? 0 : XE_NOTFOUND;
}

static void
on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    (void)timeouts;
    struct resolve_host *h = arg;
    struct resolve_req *q = h->req;
    if (!q->cancelled) {
        if (status == ARES_SUCCESS)
            host_store(h, res);
        else
            h->status = map_ares(status);
    }
    if (res != NULL)
        ares_freeaddrinfo(res);
    req_release(q);
}

/* Look up the addresses of q->srv[0..n) in parallel. */
static void
start_hosts(struct resolve_req *q, size_t n)
{
    struct ares_addrinfo_hints hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = ARES_AI_NOSORT; /* we order the families ourselves */
    q->phase = PHASE_ADDR;
    q->nhosts = n;
    q->pending++;
    for (size_t i = 0; i < n; i++) {
        q->hosts[i].req = q;
        q->pending++;
        ares_getaddrinfo(q->r->channel, q->srv[i].host, NULL, &hints,
                         on_addrinfo, &q->hosts[i]);
    }
    q->pending--; /* the caller's req_run takes it from here */
}

/* Use domain:port as the only target host (route name or fallback). */
static void
start_single_host(struct resolve_req *q,
                  const char *host,
                  uint16_t port,
                  bool direct_tls)
{
    struct resolve_srv *s = &q->srv[0];
    memset(s, 0, sizeof(*s));
    snprintf(s->host, sizeof(s->host), "%s", host);
    s->port = port;
    s->direct_tls = direct_tls;
    q->nsrv = 1;
    start_hosts(q, 1);
}

/* --- SRV lookups --------------------------------------------------------- */

/* Where the next record of an answer goes among the kept v[0..*kept):
 * a new slot while there is room, then the slot of the kept record with
 * the highest priority value if the new one is preferred, else NULL.
 * Whatever a large answer holds, the records dropped are the least
 * preferred ones. */
static struct resolve_srv *
srv_slot(struct resolve_srv *v, size_t *kept, uint16_t priority)
{
    if (*kept < RESOLVE_MAX_SRV_SET)
        return &v[(*kept)++];
    struct resolve_srv *worst = &v[0];
    for (size_t i = 1; i < *kept; i++)
        if (v[i].priority > worst->priority)
            worst = &v[i];
    return priority < worst->priority ? worst : NULL;
}

/* Copy the usable records of one SRV answer into q->srv. */
static void
srv_store(struct resolve_req *q,
          struct resolve_set *set,
          bool tls,
          const unsigned char *abuf,
          int alen)
{
    struct ares_srv_reply *list = NULL;
    int rc = ares_parse_srv_reply(abuf, alen, &list);
    if (rc != ARES_SUCCESS) {
        set->status = map_ares(rc);
        set->kind = set->status == XE_NOTFOUND ? SRV_NONE : SRV_ERROR;
        return;
    }
    struct resolve_srv *base = &q->srv[q->nsrv];
    size_t total = 0, kept = 0;
    for (const struct ares_srv_reply *p = list; p != NULL; p = p->next) {
        total++;
        /* "." (RFC 2782: decidedly not available) comes as an empty name;
         * a target that is no host name, or port 0, is no use either. */
        if (p->port == 0 || !resolve_name_ok(p->host))
            continue;
        struct resolve_srv *s = srv_slot(base, &kept, p->priority);
        if (s == NULL)
            continue;
        snprintf(s->host, sizeof(s->host), "%s", p->host);
        size_t n = strlen(s->host);
        if (n > 0 && s->host[n - 1] == '.')
            s->host[n - 1] = '\0';
        s->priority = p->priority;
        s->weight = p->weight;
        s->port = p->port;
        s->direct_tls = tls;
    }
    ares_free_data(list);
    q->nsrv += kept;
    set->kind = kept > 0 ? SRV_RECORDS : total > 0 ? SRV_NOTARGET : SRV_NONE;
    set->status = set->kind == SRV_RECORDS ? 0 : XE_NOTFOUND;
    if (total > kept)
        log_msg(q->r->log, LOG_DEBUG, 0,
                "event=resolve-srv-skip domain=%s tls=%s records=%zu kept=%zu",
                q->domain, tls_name(tls), total, kept);
}

static void
on_srv(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void)timeouts;
    struct resolve_set *set = arg;
    struct resolve_req *q = set->req;
    if (!q->cancelled) {
        if (status == ARES_SUCCESS) {
            srv_store(q, set, set == &q->sets[SET_XMPPS], abuf, alen);
        } else {
            set->status = map_ares(status);
            set->kind = set->status == XE_NOTFOUND ? SRV_NONE : SRV_ERROR;
        }
    }
    req_release(q);
}

/* Both SRV answers are in: use the records, or fall back to A/AAAA. */
static void
srv_phase_end(struct resolve_req *q)
{
    const struct resolve_set *xs = &q->sets[SET_XMPPS];
    const struct resolve_set *x = &q->sets[SET_XMPP];
    log_msg(q->r->log, LOG_DEBUG, 0,
            "event=resolve-srv domain=%s records=%zu xmpps=%s xmpp=%s",
            q->domain, q->nsrv, set_name(xs), set_name(x));
    if (q->nsrv > 0) {
        resolve_srv_order(q->srv, q->nsrv, &q->r->rng);
        q->source = SRC_SRV;
        start_hosts(q, q->nsrv < RESOLVE_MAX_SRV ? q->nsrv : RESOLVE_MAX_SRV);
        return;
    }
    /* "." for _xmpp-server (_xmpp-client) means the domain takes no such
     * connections at all (RFC 6120 §3.2.1); for _xmpps-server
     * (_xmpps-client) it only rules out Direct TLS, which has no fallback
     * of its own. */
    if (x->kind == SRV_NOTARGET) {
        req_complete(q, XE_NOTFOUND);
        return;
    }
    /* No records, or no answer: RFC 6120 §3.2.1 falls back in both cases.
     * Remember the failure in case the fallback finds nothing either. */
    q->srv_status = x->kind == SRV_ERROR    ? x->status
                    : xs->kind == SRV_ERROR ? xs->status
                                            : 0;
    q->source = SRC_FALLBACK;
    start_single_host(
        q, q->domain,
        q->svc == RESOLVE_SVC_C2S ? RESOLVE_C2S_PORT : RESOLVE_S2S_PORT, false);
}

static void
start_srv(struct resolve_req *q)
{
    static const char *const prefix[2][SET_COUNT] = {
        [RESOLVE_SVC_S2S] = {[SET_XMPPS] = "_xmpps-server._tcp.",
                             [SET_XMPP] = "_xmpp-server._tcp."},
        [RESOLVE_SVC_C2S] = {[SET_XMPPS] = "_xmpps-client._tcp.",
                             [SET_XMPP] = "_xmpp-client._tcp."},
    };
    q->phase = PHASE_SRV;
    q->source = SRC_SRV;
    q->pending++;
    for (int i = 0; i < SET_COUNT; i++) {
        char name[RESOLVE_HOST_MAX + 32];
        snprintf(name, sizeof(name), "%s%s", prefix[q->svc][i], q->domain);
        q->sets[i].req = q;
        q->pending++;
        ares_query(q->r->channel, name, ns_c_in, ns_t_srv, on_srv, &q->sets[i]);
    }
    q->pending--; /* the caller's req_run takes it from here */
}

/* Move q on while nothing of its phase is in flight: the phase that
 * ended decides what comes next, which may start queries that c-ares
 * answers at once (hence the loop). A cancelled q is freed here. */
static void
req_run(struct resolve_req *q)
{
    while (q->pending == 0 && !q->queued) {
        if (q->cancelled) {
            req_destroy(q);
            return;
        }
        if (q->phase == PHASE_SRV)
            srv_phase_end(q);
        else
            addr_phase_end(q);
    }
}

/* One query of q answered. */
static void
req_release(struct resolve_req *q)
{
    q->pending--;
    req_run(q);
}

/* --- public requests ----------------------------------------------------- */

/* resolve_s2s and resolve_c2s: route is NULL for c2s. */
static int
resolve_start(struct resolver *r,
              enum resolve_service svc,
              const char *domain,
              const struct cfg_route *route,
              resolve_done_fn *cb,
              void *arg,
              struct resolve_req **reqp)
{
    if (reqp != NULL)
        *reqp = NULL;
    if (r->closing)
        return XE_STATE;
    char addr[RESOLVE_ADDR_MAX];
    if (resolve_ip_literal(domain, addr) == 0 && !resolve_name_ok(domain))
        return XE_INVAL;
    const char *host = route != NULL ? route->host : domain;
    uint16_t port = route != NULL && route->port != 0 ? route->port
                    : svc == RESOLVE_SVC_C2S          ? RESOLVE_C2S_PORT
                                                      : RESOLVE_S2S_PORT;
    int family = resolve_ip_literal(host, addr);
    if (family == 0 && !resolve_name_ok(host))
        return XE_INVAL;

    struct resolve_req *q = x_calloc(1, sizeof(*q));
    q->r = r;
    q->cb = cb;
    q->arg = arg;
    q->svc = svc;
    snprintf(q->domain, sizeof(q->domain), "%s", domain);
    size_t n = strlen(q->domain);
    if (n > 1 && q->domain[n - 1] == '.')
        q->domain[n - 1] = '\0';
    q->next = r->reqs;
    if (r->reqs != NULL)
        r->reqs->prev = q;
    r->reqs = q;

    if (family != 0) {
        q->source = route != NULL ? SRC_ROUTE : SRC_LITERAL;
        add_target(q, host, port, route != NULL && route->direct_tls, family,
                   addr);
        req_complete(q, 0);
    } else if (route != NULL) {
        q->source = SRC_ROUTE;
        start_single_host(q, host, port, route->direct_tls);
        req_run(q);
    } else {
        start_srv(q);
        req_run(q);
    }
    timer_rearm(r);
    if (reqp != NULL)
        *reqp = q;
    return 0;
}

int
resolve_s2s(struct resolver *r,
            const char *domain,
            const struct cfg_route *route,
            resolve_done_fn *cb,
            void *arg,
            struct resolve_req **reqp)
{
    return resolve_start(r, RESOLVE_SVC_S2S, domain, route, cb, arg, reqp);
}

int
resolve_c2s(struct resolver *r,
            const char *domain,
            resolve_done_fn *cb,
            void *arg,
            struct resolve_req **reqp)
{
    return resolve_start(r, RESOLVE_SVC_C2S, domain, NULL, cb, arg, reqp);
}

void
resolve_cancel(struct resolve_req *q)
{
    if (q == NULL)
        return;
    log_msg(q->r->log, LOG_DEBUG, 0, "event=resolve-cancel domain=%s",
            q->domain);
    q->cb = NULL;
    q->cancelled = true;
    if (q->queued) {
        done_remove(q->r, q);
        req_destroy(q);
    }
    /* Otherwise req_release frees q when its last query answers. */
}
