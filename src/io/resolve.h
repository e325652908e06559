/* SPDX-License-Identifier: MIT */
/* resolve.h -- asynchronous s2s and c2s target resolution (RFC 6120 §3.2,
 * XEP-0368). */
#ifndef XMUX_IO_RESOLVE_H
#define XMUX_IO_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "base/buf.h"
#include "base/log.h"
#include "config/config.h"

/* Limits. Every list a lookup builds is bounded, whatever DNS returns. */
#define RESOLVE_MAX_TARGETS   32 /* entries handed to one callback */
#define RESOLVE_MAX_SRV       16 /* SRV records used, both services merged */
#define RESOLVE_MAX_SRV_SET   16 /* records kept from one SRV answer */
#define RESOLVE_MAX_HOST_ADDR 8  /* addresses kept per target host */
#define RESOLVE_HOST_MAX      256
#define RESOLVE_ADDR_MAX      64
#define RESOLVE_S2S_PORT      5269 /* RFC 6120 §3.2.2 fallback port */
#define RESOLVE_C2S_PORT      5222 /* RFC 6120 §3.2.1 fallback port */

/* Which XMPP service a lookup is for: its SRV names and fallback port. */
enum resolve_service {
    RESOLVE_SVC_S2S, /* _xmpps-server._tcp, _xmpp-server._tcp, 5269 */
    RESOLVE_SVC_C2S, /* _xmpps-client._tcp, _xmpp-client._tcp, 5222 */
};

struct resolver;
struct resolve_req;

/* One place to connect to. A callback gets these in the order to try. */
struct resolve_target {
    char host[RESOLVE_HOST_MAX]; /* SRV target, route host or the domain */
    char addr[RESOLVE_ADDR_MAX]; /* numeric IPv4 or IPv6, no brackets */
    int family;                  /* AF_INET or AF_INET6 */
    uint16_t port;
    bool direct_tls; /* XEP-0368: TLS from the first byte, no STARTTLS */
};

/* Set up a resolver. Zero fields take the defaults. */
struct resolver_opts {
    /* Comma-separated "IPv4", "IPv4:port", "[IPv6]:port" or a bare IPv6
     * address (port 53); NULL means the system's configuration
     * (/etc/resolv.conf; /etc/hosts as c-ares does). With explicit
     * servers only they are asked: neither file is read. */
    const char *servers;
    uint32_t timeout_ms; /* first try; c-ares doubles it per retry (2000) */
    uint32_t tries;      /* attempts per query (2) */
    uint64_t seed;       /* RFC 2782 weight draws; 0: from getrandom */
};

/* Receives the outcome of resolve_s2s: status 0 and n >= 1 targets to try
 * in order, or a negative status and n == 0. v is valid only during the
 * call. Statuses, and what the s2s layer makes of them:
 *   XE_NOTFOUND   every answer said nothing exists: NXDOMAIN or NODATA,
 *                 a "." SRV target (service decidedly not available), or
 *                 target names without addresses
 *                 -> <remote-server-not-found/>;
 *   -ETIMEDOUT    no answer within the timeouts;
 *   -ECONNREFUSED the server refused: a REFUSED rcode (what a dnsmasq
 *                 without local= for the name says) or ICMP unreachable;
 *   XE_IO         SERVFAIL, FORMERR, NOTIMP, a malformed answer;
 *   -ENOMEM       c-ares ran out of memory
 *                 -> each of these four: <remote-server-timeout/>.
 * A failure wins over "not found": if the SRV queries got no answer and
 * the A/AAAA fallback found nothing, the SRV failure is reported. */
typedef void resolve_done_fn(void *arg,
                             int status,
                             const struct resolve_target *v,
                             size_t n);

/* Create a resolver driven by loop (one per loop: a c-ares channel whose
 * sockets are watched with uv_poll_t and whose timeouts run on a
 * uv_timer_t). log is borrowed and must outlive it. Returns 0 and *out,
 * or XE_CONFIG (bad servers string), XE_IO or -ENOMEM with one line in
 * err. An idle resolver holds no active handle, so the loop can end.
 * c-ares 1.18's library init and cleanup are not thread-safe: create and
 * free resolvers in one thread at a time. */
int resolver_new(uv_loop_t *loop,
                 const struct resolver_opts *opts,
                 const struct logger *log,
                 struct resolver **out,
                 struct buf *err);
/* Cancel every pending lookup (their callbacks never run, as after
 * resolve_cancel), close the handles and free r from the loop; done(arg)
 * runs once that is finished (done may be NULL). Call it from the loop's
 * thread, also from a resolve_done_fn; never twice. r may be NULL, and
 * then nothing happens and done is not called. */
void resolver_free(struct resolver *r, void (*done)(void *), void *arg);

/* Find where to connect for the remote domain (a prepared JID domainpart:
 * A-labels, or an IP literal such as "192.0.2.1" or "[2001:db8::1]").
 * route, when not NULL, is the configured static route for domain: it
 * wins, its host (IP literal: no DNS; name: A/AAAA) is used with its port
 * and its direct_tls, and no SRV. Otherwise _xmpps-server._tcp and _xmpp-server._tcp SRV
 * records are looked up in parallel, merged and ordered (RFC 2782: by
 * priority, weighted random within one), and each target is expanded
 * into its addresses, IPv6 and IPv4 interleaved with IPv6 first (RFC 8305
 * §4). With no SRV record, or no answer at all to the SRV queries (RFC
 * 6120 §3.2.1), the A/AAAA of domain on port 5269 are used. cb runs
 * exactly once, from the loop, never inside this call, unless the request
 * is cancelled. *reqp (may be NULL) identifies the request until cb
 * starts. Returns 0, XE_INVAL (domain or route host not usable in DNS) or
 * XE_STATE (r is being freed); on error cb never runs. */
int resolve_s2s(struct resolver *r,
                const char *domain,
                const struct cfg_route *route,
                resolve_done_fn *cb,
                void *arg,
                struct resolve_req **reqp);
/* Like resolve_s2s, for a client: _xmpps-client._tcp and
 * _xmpp-client._tcp SRV records, falling back to the A/AAAA of domain on
 * port 5222; no static routes. Same callback, returns and rules. */
int resolve_c2s(struct resolver *r,
                const char *domain,
                resolve_done_fn *cb,
                void *arg,
                struct resolve_req **reqp);
/* Cancel a pending request: its callback never runs. Queries already sent
 * finish in the background (c-ares cannot withdraw one), then the request
 * is freed. Accepts NULL; never call it once the callback has started. */
void resolve_cancel(struct resolve_req *req);

/* --- pure helpers (resolve_order.c), public for tests ------------------ */

/* One SRV record as the ordering sees it. */
struct resolve_srv {
    char host[RESOLVE_HOST_MAX];
    uint16_t priority, weight, port;
    bool direct_tls; /* from _xmpps-server._tcp (_xmpps-client._tcp) */
};

/* Next number of a splitmix64 generator whose state is *state. Not for
 * secrets: it only spreads load over SRV targets. */
uint64_t resolve_rand(uint64_t *state);
/* Put v[0..n) in RFC 2782 order: ascending priority, and within one
 * priority a weighted random order, drawn from *rng: each pick takes a
 * number in [0, sum of weights] and the first record whose running sum
 * reaches it, with weight-0 records first (so they win only on a draw of
 * 0). When every remaining weight is 0 the pick is uniform. Records of
 * both services compete alike (XEP-0368 merge). */
void resolve_srv_order(struct resolve_srv *v, size_t n, uint64_t *rng);
/* If s is an IPv4 or IPv6 literal (IPv6 optionally in brackets), write
 * the bare address to addr (RESOLVE_ADDR_MAX bytes) and return AF_INET or
 * AF_INET6; otherwise return 0. */
int resolve_ip_literal(const char *s, char *addr);
/* True if name can be asked of DNS: 1..253 octets of dot-separated
 * labels of 1..63 letters, digits, '-' or '_', one trailing dot allowed. */
bool resolve_name_ok(const char *name);

#endif
