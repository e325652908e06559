/* SPDX-License-Identifier: MIT */
/* route.h -- local delivery between c2s sessions on all local hosts. */
#ifndef XMUX_ROUTE_H
#define XMUX_ROUTE_H

#include <stddef.h>

#include "base/log.h"
#include "config/config.h"
#include "stanza/stanza.h"
#include "stream/stream.h"

/* Bytes of the SipHash key that makes table positions unpredictable to
 * peers who choose JIDs (hash flooding). */
#define ROUTE_HASH_KEY_BYTES 16
/* Full JIDs one session may have sent directed presence to; beyond this,
 * new targets are not recorded (and logged once per session). */
#define ROUTE_DIRECTED_MAX 1024
/* Resources bound to one account at the same time. */
#define ROUTE_ACCOUNT_SESSIONS_MAX 128

/* The delivery tables of one server: full JID -> session, bare JID ->
 * the account's sessions. The router borrows streams (STYLE.md §3): it
 * never frees one, and forgets a stream in router_unbind. It delivers
 * with stream_deliver and stream_kill, which may call ops->wake; wake
 * must not unbind or free streams synchronously (STYLE.md §6). */
struct router;

/* New, empty router. cfg and log are borrowed and must outlive it; key
 * (ROUTE_HASH_KEY_BYTES, e.g. from a CSPRNG at start-up) is copied. */
struct router *router_new(const struct config *cfg,
                          const struct logger *log,
                          const unsigned char key[ROUTE_HASH_KEY_BYTES]);
/* Free the router; accepts NULL. Sessions still bound are forgotten
 * without presence broadcasts and their streams' route_data is cleared;
 * call it only once no stream will call router_unbind any more. */
void router_free(struct router *r);
/* Bind s->jid, a full JID on a local host, to s (RFC 6120 §7). An older
 * stream holding the same full JID is unbound (its unavailable presence
 * is broadcast) and ended with <conflict/> (RFC 6120 §7.7.2.2, override
 * policy). Returns 0, XE_INVAL (not a full JID with a localpart),
 * XE_STATE (s is already bound) or XE_LIMIT (the account already has
 * ROUTE_ACCOUNT_SESSIONS_MAX other resources). */
int router_bind(struct router *r, struct stream *s);
/* Bind one more full JID to s, already bound (c2s mux, MUX.md §10.4):
 * stanzas to it are delivered over s, and it has its own availability.
 * Same errors as router_bind. */
int router_bind_also(struct router *r, struct stream *s,
                     const struct jid *full);
/* True if a stream holds the full JID. */
bool router_is_bound(const struct router *r, const struct jid *full);
/* s goes away: if it was available, its other available resources get
 * unavailable presence; every full JID it sent available directed
 * presence to gets it too (RFC 6121 §4.6.3). Then s is forgotten; s is
 * not touched after return. A stream that is not bound is ignored. */
void router_unbind(struct router *r, struct stream *s);
/* A resumed session (XEP-0198) moves from the detached stream old to s:
 * every identity of old is now reached through s. */
void router_rebind(struct router *r, struct stream *old, struct stream *s);
/* End one extra identity of s (c2s mux): its session ends with
 * unavailable presence; the primary stays. */
void router_unbind_also(struct router *r, struct stream *s,
                        const struct jid *full);
/* What happened to stanzas that could not simply be delivered, since
 * start (xmuxctl stats, docs/control.md). */
struct router_counts {
    uint64_t bounced;        /* s2s stanzas answered with an error */
    uint64_t sm_requeued;    /* unacknowledged s2s stanzas queued again */
    uint64_t sm_rerouted;    /* unacknowledged c2s stanzas routed again */
    uint64_t sm_s2s_resumed; /* broken s2s streams resumed (initiating) */
    uint64_t sm_s2s_spared;  /* stanzas not sent twice thanks to that */
    uint64_t sm_c2s_resumed; /* client sessions resumed */
    /* The router's own limits hit (the others are the server's). */
    uint64_t limit_hits[CFG_LIMIT_COUNT];
};
const struct router_counts *router_counts(const struct router *r);

/* s2s stream management resumption (docs/sm.md). Initiating: the state
 * of a broken stream to s's peer (0, *previd and our handled count *h),
 * or XE_NOTFOUND; then the peer's answer: ok with its handled count h
 * (those stanzas are not sent again), or refused (all are). Receiving:
 * resume previd on s if it was s's peer's; 0 or XE_NOTFOUND. */
int router_sm_s2s_previous(struct router *r, struct stream *s,
                           const char **previd, uint32_t *h);
int router_sm_s2s_resumed(struct router *r, struct stream *s, bool ok,
                          uint32_t h);
int router_sm_s2s_resume(struct router *r, struct stream *s,
                         const char *previd);
/* Route one stanza that the bound stream 'from' sent; st is borrowed and
 * its 'from' is already validated and stamped with from->jid. Delivers
 * it, answers it on behalf of the server or an account, or drops it
 * (RFC 6120 §8.5, RFC 6121 §8.5; docs/routing.md). Replies and errors
 * go to 'from' with stream_deliver. */
void router_stanza(struct router *r, struct stream *from, struct stanza *st);
/* Number of bound sessions. */
size_t router_sessions(const struct router *r);
/* --- other servers (route_s2s.c) ----------------------------------------- */

/* What the router needs from the server around it for s2s. */
struct router_s2s_ops {
    /* Start an outgoing stream from the served host 'from' to the remote
     * domain 'to' and attach it (router_s2s_attach) before returning it;
     * NULL if none can be started (its stanzas bounce). */
    struct stream *(*connect)(void *arg, const struct cfg_host *from,
                              const char *to);
    /* Milliseconds of a monotonic clock. */
    uint64_t (*now)(void *arg);
    /* Seconds since the Unix epoch (secret expiry, MUX.md §9). */
    uint64_t (*wall)(void *arg);
    /* n bytes from a CSPRNG (secrets, nonces, IQ ids). */
    void (*random)(void *arg, void *buf, size_t n);
};
/* Use ops (borrowed) for s2s; without them remote stanzas bounce with
 * remote-server-not-found. */
void router_set_s2s(struct router *r, const struct router_s2s_ops *ops,
                    void *arg);
/* Know the s2s stream s (either role) from now on: it may carry pairs.
 * router_unbind forgets it. */
void router_s2s_attach(struct router *r, struct stream *s);
/* s (attached) changed what it may carry (stream_ops.s2s_changed). */
void router_s2s_changed(struct router *r, struct stream *s);
/* s (s2s_backlog set) has written what it had: the pairs it carries
 * send what waits in their queues, up to the mark again. */
void router_s2s_drained(struct router *r, struct stream *s);
/* s is closing: its pairs move to another stream once or bounce, its
 * pending verifications fail. (router_unbind calls it.) */
void router_s2s_gone(struct router *r, struct stream *s);
/* stream_ops.db_verify: send db:verify for e (received on in) to the
 * authoritative server over an outgoing stream (DB-15). */
void router_s2s_verify(struct router *r, struct stream *in,
                       const struct dialback_elem *e);
/* stream_ops.db_verified: the authoritative server answered on out. */
void router_s2s_verified(struct router *r, struct stream *out,
                         const struct dialback_elem *ans);
/* stream_ops.mux_authz: an F4 for our host via came on s: send the F5 IQ
 * with the secret to s's authenticated domain (MUX.md §8.4), or on c2s
 * to the stream holding the full JID via (§10.6). Returns 0, or XE_LIMIT
 * past 10 c2s attempts of one account within a minute (D-01). */
int router_mux_authz(struct router *r, struct stream *s, const char *via,
                     const char *secret, size_t len);
/* Once a second: T_dialback for piggybacked pairs and verifications. */
void router_s2s_tick(struct router *r);

/* Point ops->bind, ops->unbind and ops->stanza at the router; the
 * stream_ctx's ops_arg must then be the struct router. Other members of
 * ops are left as they are. */
void router_set_ops(struct stream_ops *ops);

#endif
