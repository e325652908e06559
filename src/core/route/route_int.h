/* SPDX-License-Identifier: MIT */
/* route_int.h -- router internals shared between the route module's files. */
#ifndef XMUX_ROUTE_INT_H
#define XMUX_ROUTE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "route/route.h"

/* --- keyed hash table (route_table.c) ------------------------------------ */

/* A member of a table, embedded as the first member of the object it
 * indexes; key points into memory the object owns. */
struct rtab_node {
    struct rtab_node *next; /* chain of the same slot */
    uint64_t hash;
    const char *key;
    size_t klen;
};

/* Chained hash table of string keys, hashed with SipHash-2-4 under a
 * per-router secret so that peers cannot aim JIDs at one chain. Grows to
 * keep chains short and shrinks after churn; owns only its slot array. */
struct rtab {
    struct rtab_node **slots;
    size_t nslots; /* 0 or a power of two */
    size_t count;
    const unsigned char *key; /* ROUTE_HASH_KEY_BYTES, borrowed */
};

/* SipHash-2-4 of p[0..n) under a 16-byte key. */
uint64_t route__siphash(const unsigned char *key, const void *p, size_t n);
/* Empty table hashing with key (borrowed); allocates nothing. */
void route__tab_init(struct rtab *t, const unsigned char *key);
/* Free the slot array; the nodes belong to their objects. */
void route__tab_fini(struct rtab *t);
/* The node with key k[0..n), or NULL. */
struct rtab_node *
route__tab_find(const struct rtab *t, const char *k, size_t n);
/* Insert nd under k[0..n) (borrowed, must stay valid while nd is in t);
 * the key must not be present yet. */
void route__tab_insert(struct rtab *t,
                       struct rtab_node *nd,
                       const char *k,
                       size_t n);
/* Remove nd, which must be in t. Never moves other nodes, so a walk
 * with route__tab_next survives it; call route__tab_shrink afterwards. */
void route__tab_remove(struct rtab *t, struct rtab_node *nd);
/* Shrink the slot array if the table has become sparse (frees it when
 * empty). Invalidates walks in progress. */
void route__tab_shrink(struct rtab *t);
/* Walk: the node after prev (NULL: the first), with *slot as cursor
 * (start at 0). To remove the current node, fetch the next one first. */
struct rtab_node *route__tab_next(const struct rtab *t,
                                  size_t *slot,
                                  const struct rtab_node *prev);

/* --- sessions and accounts (route.c) ------------------------------------- */

struct route_account;

/* One bound resource. */
struct route_session {
    struct rtab_node node;      /* in router.sessions, key = full JID */
    struct route_session *next; /* next resource of the same account */
    struct route_session *also; /* next identity of the same stream (c2s
                                   mux, MUX.md §10.5); the stream's
                                   route_data is the primary */
    struct route_account *acct; /* owner of the list this is on */
    struct stream *s;           /* borrowed */
    struct jid jid;             /* own copy of the full JID */
    bool available;             /* sent available presence, not since
                                   unavailable */
    int priority;               /* -128..127, from <priority/> */
    struct stanza *presence;    /* last available presence (a ref) */
    struct rtab directed;       /* struct route_peer by full JID */
    bool directed_limit_logged;
};

/* One account with at least one bound resource. */
struct route_account {
    struct rtab_node node; /* in router.accounts, key = bare */
    char *bare;            /* owned */
    size_t len;
    struct route_session *sessions;
    size_t nsessions;
};

/* A full JID a session sent available directed presence to. */
struct route_peer {
    struct rtab_node node; /* key = jid */
    char *jid;             /* owned */
    size_t len;
};

/* --- s2s (route_s2s.c) ----------------------------------------------------- */

/* One domain pair (sender served here, remote target) and the stream
 * that carries it (MUX.md §6.5: one stream at a time per pair, so order
 * holds). Stanzas wait in a FIFO while the stream is set up. */
struct route_pair {
    struct rtab_node node; /* in router.pairs, key = "sender target" */
    char *key;
    size_t klen;
    char *sender, *target;
    struct stream *carrier;       /* borrowed; NULL: none yet */
    struct route_pair *next_on;   /* next pair on the same carrier */
    struct route_pair *late_next; /* scratch list of router_s2s_tick */
    bool requested;               /* piggybacked db:result sent on carrier */
    bool retried;                 /* moved once after its stream broke */
    bool requeued; /* scratch of requeue_unacked */
    unsigned slot; /* which of max_connections_per_peer streams (§6.6) */
    bool m3_wait;  /* no carrier: waits for a free authorization slot */
    struct route_pair *wait_next; /* router.m3_waiting */
    uint64_t since;               /* when it began waiting (ms) */
    struct stanza **q;            /* ring of qcap, qn from qhead */
    size_t qhead, qn, qcap;
};

/* An s2s stream the router knows (its stream's route_data). */
struct route_link {
    struct stream *s;
    struct route_link *prev, *next; /* router.s2s_head.., oldest first */
    struct route_pair *pairs;       /* pairs it carries or will */
    unsigned slot; /* we opened it for pairs of this slot (§6.6) */
};

/* A db:result key waiting for the authoritative server's answer. */
struct route_verify {
    struct route_verify *next;
    struct stream *in;  /* where the db:result came (borrowed) */
    struct stream *out; /* the stream to the authoritative server */
    bool sent;
    uint64_t since;
    char sender[JID_DOMAIN_BUFSZ]; /* originating domain (remote) */
    char target[JID_DOMAIN_BUFSZ]; /* receiving domain (ours) */
    char id[2 * STREAM_ID_BYTES + 1];
    char key[DIALBACK_KEY_MAX + 1];
};

/* The stream management state of a broken s2s stream that may be
 * resumed (XEP-0198, docs/sm.md): as initiating server, what it sent and
 * the peer did not acknowledge (also requeued on their pairs); as
 * receiving server, only how much it handled. */
struct route_sm_rec {
    struct route_sm_rec *next;
    bool initiating;
    struct stream *claim; /* initiating: the stream asking to resume it */
    char peer[JID_DOMAIN_BUFSZ];
    char id[2 * STREAM_ID_BYTES + 1];
    uint32_t h_in, acked;
    struct stanza **v; /* initiating: refs, oldest first */
    size_t n;
    uint64_t deadline; /* ms */
};

/* Receiving server: an F5 IQ we sent for an F4 received on s. */
struct route_authz_r {
    struct route_authz_r *next;
    struct stream *s; /* S; NULL once it has gone */
    uint64_t since;
    char id[33];
    char via[JID_DOMAIN_BUFSZ];      /* our host that vouches */
    char peer[JID_DOMAIN_BUFSZ];     /* S's authenticated domain (I) */
    char new_host[JID_DOMAIN_BUFSZ]; /* S's stream 'to' */
};

/* Initiating server: an authorization of new_host via P's peer. */
struct route_authz_i {
    struct route_authz_i *next;
    struct stream *p, *s; /* primary and secondary; NULL once gone */
    bool sent;            /* F4 went out on S */
    bool granted;         /* success: waiting for S to be closed */
    uint64_t since;       /* ms: created, F4 sent, or granted */
    uint64_t expiry;      /* E, Unix seconds */
    unsigned char nonce[MUX_NONCE_BYTES];
    char secret[MUX_SECRET_LEN + 1];
    char via[JID_DOMAIN_BUFSZ], new_host[JID_DOMAIN_BUFSZ];
    char origin[JID_DOMAIN_BUFSZ];
};

/* c2s connection authorization (MUX.md §10.6): an F5 IQ sent to the
 * stream p that held full when the F4 came on s. */
struct route_authz_c {
    struct route_authz_c *next;
    struct stream *p, *s; /* NULL once gone */
    uint64_t since;
    char id[33];
    struct jid full; /* p's full JID named by the F4 */
};

/* How many c2s connection authorizations an account asked for since
 * start (ms), D-01. */
struct route_rate {
    struct route_rate *next;
    char *bare;
    uint64_t start;
    unsigned n;
};

/* A used or expired nonce, refused until 'until' (Unix seconds). */
struct route_nonce {
    struct route_nonce *next;
    unsigned char nonce[MUX_NONCE_BYTES];
    uint64_t until;
};

/* Stanzas waiting for one pair's stream, at most. */
#define ROUTE_S2S_QUEUE_MAX 10000
/* A pair's queue goes into its stream's output up to this many bytes;
 * the rest waits for the stream to drain (router_s2s_drained), so that
 * a queue put back after a break, however long, never makes the new
 * stream's output overflow. */
#define ROUTE_S2S_FLUSH_MARK ((size_t)256 * 1024)

struct router {
    const struct config *cfg;
    const struct logger *log;
    unsigned char key[ROUTE_HASH_KEY_BYTES];
    struct rtab sessions; /* struct route_session by full JID */
    struct rtab accounts; /* struct route_account by bare JID */
    struct rtab pairs;    /* struct route_pair by "sender target" */
    struct route_pair *last_pair; /* the pair pair_get found last */
    struct route_link *s2s_head, *s2s_tail;
    struct route_verify *verifies;
    const struct router_s2s_ops *s2s_ops;
    void *s2s_arg;
    struct route_authz_r *authz_r;
    struct route_authz_i *authz_i;
    struct route_pair *m3_waiting; /* pairs waiting for an M3 slot */
    struct route_sm_rec *sm_recs;  /* broken s2s streams to resume */
    struct router_counts counts;
    bool m3_freed;                 /* an authorization slot came free */
    struct route_authz_c *authz_c;
    struct route_rate *rates;
    struct route_nonce *replay;
    unsigned char mux_key[32]; /* K of MUX.md §9, drawn at first use */
    bool mux_key_set;
};

/* Where a stanza's 'to' points (RFC 6120 §8.5, RFC 6121 §8.5). */
enum route_dest {
    ROUTE_TO_NONE,   /* no 'to': the sender's own account */
    ROUTE_TO_DOMAIN, /* a local domain (with or without resource) */
    ROUTE_TO_BARE,   /* account@local-domain */
    ROUTE_TO_FULL,   /* account@local-domain/resource */
    ROUTE_TO_REMOTE, /* a domain not served here */
};

/* A stanza being routed, with its parsed addresses. */
struct route_ctx {
    struct router *r;
    struct route_session *from; /* the sender's session; NULL: remote */
    struct stream *stream;      /* the stream it came on, or NULL */
    struct stanza *st;          /* borrowed, never modified (may be shared) */
    const char *type;           /* the 'type' attribute, or NULL */
    enum route_dest dest;
    struct jid to; /* prepared 'to' (unset for ROUTE_TO_NONE) */
    bool to_borrowed; /* to is the stream's stanza_to: not ours to free */
};

/* The identity of stream s that 'from' (stamped by the stream) names:
 * with c2s mux a stream carries several; the primary otherwise. */
struct route_session *route__session_of(struct stream *s, const char *from);
/* The session bound to full JID k[0..n), or NULL. */
struct route_session *
route__session(const struct router *r, const char *k, size_t n);
/* The account with bare JID k[0..n), or NULL. */
struct route_account *
route__account(const struct router *r, const char *k, size_t n);
/* The account a stanza for rc->to (or the sender, without 'to') is for;
 * NULL when no resource of it is bound. */
struct route_account *route__dest_account(const struct route_ctx *rc);
/* True if sess can take stanzas (its stream has not finished). */
bool route__alive(const struct route_session *sess);

/* --- delivery helpers (route_stanza.c) ----------------------------------- */

/* Log a routing decision at DEBUG: event=route kind=... to=... action=...
 * [reason=...]; to is escaped. Cheap when DEBUG is off. */
void
route__log(const struct route_ctx *rc, const char *action, const char *reason);
/* Deliver st unchanged to sess. Returns true if it was queued. */
bool route__deliver(struct route_ctx *rc,
                    struct route_session *sess,
                    const struct stanza *st);
/* Deliver a copy of st whose 'to' is sess's full JID. */
bool route__deliver_to(struct route_ctx *rc,
                       struct route_session *sess,
                       const struct stanza *st);
/* Answer rc->st with an error of condition c from the addressed entity
 * (the sender's bare JID without 'to'), unless it is an error itself. */
void route__error(struct route_ctx *rc, enum stanza_cond c);
/* New <iq type='result'/> answering rc->st: same id, 'to' and 'from'
 * swapped ('from' the sender's bare JID without 'to'). */
struct stanza *route__result_new(const struct route_ctx *rc);
/* Send reply (taken) to the sender and log the decision. */
void route__reply_take(struct route_ctx *rc, struct stanza *reply);
/* Log that rc->st was dropped, and why. */
void route__drop(const struct route_ctx *rc, const char *reason);

/* Route st: from the local session sess, or (sess NULL) from a remote
 * entity, having come on stream s (NULL for the server's own bounces). */
/* The domain of address attribute attr of st into d (JID_DOMAIN_BUFSZ);
 * false if absent or not a JID. */
bool route__attr_domain(const struct stanza *st, const char *attr, char *d);
void route__dispatch(struct router *r,
                     struct route_session *sess,
                     struct stream *s,
                     struct stanza *st);
/* Send st (borrowed), from a local entity, to its remote 'to' domain;
 * conn is for logs. Dropped (logged) if its addresses are not that. */
void route__send_remote(struct router *r, struct stanza *st, uint64_t conn);
/* Send rc->st, from a local entity, to its remote domain. */
void route__remote(struct route_ctx *rc);
/* route_s2s.c: st (from sender, a local domain) to target, remote. */
void route__s2s_send(struct router *r,
                     struct stanza *st,
                     const char *sender,
                     const char *target);
/* route_s2s.c: move the pairs to target waiting on from onto to (after
 * a connection authorization), flushing what may leave. */
void route__s2s_move(struct router *r, struct stream *from, struct stream *to,
                     const char *target);
/* route_mux.c: connection authorization (M3). */
/* route_sm.c: resumption of broken s2s streams. */
void route__sm_keep(struct router *r, struct stream *s, struct stanza **v,
                    size_t n);
void route__sm_gone(struct router *r, const struct stream *s);
void route__sm_tick(struct router *r);
void route__sm_free(struct router *r);
/* route_s2s.c: the pair (sender, target) if it exists; take st out of
 * p's queue if it waits there. */
struct route_pair *route__pair_find(struct router *r, const char *sender,
                                    const char *target);
void route__pair_unqueue(struct route_pair *p, const struct stanza *st);

struct stream *route__mux_primary(struct router *r, const char *target,
                                  unsigned slot, bool *full);
struct stream *route__mux_secondary(struct router *r, struct stream *p,
                                    const char *target);
void route__mux_secondary_ready(struct router *r, struct stream *s);
bool route__mux_iq(struct router *r, struct stream *in,
                   const struct stanza *st);
void route__mux_gone(struct router *r, const struct stream *s);
/* route_mux.c: c2s connection authorization. */
bool route__c2s_authz_answer(struct router *r, struct stream *from,
                             const struct stanza *st);
void route__c2s_authz_gone(struct router *r, const struct stream *s);
void route__mux_tick(struct router *r);
void route__mux_free(struct router *r);
/* route_s2s.c: free the s2s tables (router_free). */
void route__s2s_free(struct router *r);
/* Connection id for logs of rc (0 for the server's own stanzas). */
uint64_t route__conn(const struct route_ctx *rc);

/* --- per kind ------------------------------------------------------------ */

/* route_message.c: RFC 6121 §8.5 for <message/>. */
void route__message(struct route_ctx *rc);
/* route_iq.c: RFC 6120 §8.2.3 checks, then delivery or server IQs. */
void route__iq(struct route_ctx *rc);
/* route_presence.c: broadcast and directed presence (RFC 6121 §4). */
void route__presence(struct route_ctx *rc);
/* route_presence.c: the session is gone from the tables; tell its other
 * resources and directed-presence targets it is unavailable. */
void route__presence_gone(struct router *r,
                          struct route_session *sess,
                          struct route_account *acct);

#endif
