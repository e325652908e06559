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
/* s goes away: if it was available, its other available resources get
 * unavailable presence; every full JID it sent available directed
 * presence to gets it too (RFC 6121 §4.6.3). Then s is forgotten; s is
 * not touched after return. A stream that is not bound is ignored. */
void router_unbind(struct router *r, struct stream *s);
/* Route one stanza that the bound stream 'from' sent; st is borrowed and
 * its 'from' is already validated and stamped with from->jid. Delivers
 * it, answers it on behalf of the server or an account, or drops it
 * (RFC 6120 §8.5, RFC 6121 §8.5; docs/routing.md). Replies and errors
 * go to 'from' with stream_deliver. */
void router_stanza(struct router *r, struct stream *from, struct stanza *st);
/* Number of bound sessions. */
size_t router_sessions(const struct router *r);
/* Point ops->bind, ops->unbind and ops->stanza at the router; the
 * stream_ctx's ops_arg must then be the struct router. Other members of
 * ops are left as they are. */
void router_set_ops(struct stream_ops *ops);

#endif
