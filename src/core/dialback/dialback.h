/* SPDX-License-Identifier: MIT */
/* dialback.h -- server dialback (XEP-0220) with XEP-0185 keys, sans I/O. */
#ifndef XMUX_DIALBACK_H
#define XMUX_DIALBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jid/jid.h"
#include "stanza/stanza.h"
#include "tls/tls.h"

/* A key is lowercase hex HMAC-SHA256: 64 characters (plus a NUL). */
#define DIALBACK_KEY_HEX 64
/* Longest key text accepted after trimming (XEP-0205 spirit; longer is a
 * policy-violation stream error). Real keys are 64 octets. */
#define DIALBACK_KEY_MAX 1024
/* Longest db:verify 'id' (a stream id) accepted. */
#define DIALBACK_ID_MAX 1024
/* Default bound on the pairs kept per stream (both roles together). */
#define DIALBACK_PAIRS_MAX 256

/* --- dialback error conditions (XEP-0220) -------------------------------- */

/* Conditions of a type='error' answer, written in the stanza-error
 * namespace. XEP-0220 adds remote-connection-failed (a stream condition in
 * RFC 6120), so these are not enum stanza_cond. The first seven are the
 * ones xmux sends; the others are only recognised when a peer sends
 * them. */
#define DIALBACK_COND_MAP(X)                                           \
    X(DIALBACK_C_ITEM_NOT_FOUND, "item-not-found")                     \
    X(DIALBACK_C_REMOTE_CONNECTION_FAILED, "remote-connection-failed") \
    X(DIALBACK_C_REMOTE_SERVER_TIMEOUT, "remote-server-timeout")       \
    X(DIALBACK_C_POLICY_VIOLATION, "policy-violation")                 \
    X(DIALBACK_C_RESOURCE_CONSTRAINT, "resource-constraint")           \
    X(DIALBACK_C_NOT_ACCEPTABLE, "not-acceptable")                     \
    X(DIALBACK_C_INTERNAL_SERVER_ERROR, "internal-server-error")       \
    X(DIALBACK_C_REMOTE_SERVER_NOT_FOUND, "remote-server-not-found")   \
    X(DIALBACK_C_NOT_AUTHORIZED, "not-authorized")                     \
    X(DIALBACK_C_UNDEFINED_CONDITION, "undefined-condition")

enum dialback_cond {
    DIALBACK_C_NONE = 0,
#define DIALBACK_COND_ENUM(c, s) c,
    DIALBACK_COND_MAP(DIALBACK_COND_ENUM)
#undef DIALBACK_COND_ENUM
        DIALBACK_C__COUNT
};

/* Element name of a condition; NULL for DIALBACK_C_NONE or out of range. */
const char *dialback_cond_name(enum dialback_cond c);
/* Condition for an element name; DIALBACK_C_UNDEFINED_CONDITION for a
 * name not in the table (an error stays an error). */
enum dialback_cond dialback_cond_parse(const char *name);

/* --- keys (XEP-0185) ------------------------------------------------------ */

/* Write the dialback key for a stream into out: lowercase hex of
 * HMAC-SHA256(key = lowercase hex of SHA-256(secret), message = receiving
 * SP originating SP stream_id), NUL-terminated. receiving is the target
 * domain, originating the sender domain (MUX.md §12.2 item 6), stream_id
 * the id of the receiving server's response header. Returns 0, or XE_INVAL
 * (an input empty, a domain over JID_PART_MAX or an id over
 * DIALBACK_ID_MAX octets; out is then "") or XE_TLS (libcrypto failed). */
int dialback_key(const unsigned char *secret,
                 size_t len,
                 const char *receiving,
                 const char *originating,
                 const char *stream_id,
                 char out[DIALBACK_KEY_HEX + 1]);
/* True if key[0..key_len) is the key dialback_key computes for these
 * inputs; compared in constant time. False on any error. */
bool dialback_key_check(const unsigned char *secret,
                        size_t len,
                        const char *receiving,
                        const char *originating,
                        const char *stream_id,
                        const char *key,
                        size_t key_len);

/* --- elements ------------------------------------------------------------- */

enum dialback_kind {
    DIALBACK_RESULT, /* <db:result/>: originating <-> receiving server */
    DIALBACK_VERIFY, /* <db:verify/>: receiving <-> authoritative server */
};

enum dialback_type {
    DIALBACK_T_REQUEST, /* no 'type': carries a key */
    DIALBACK_T_VALID,   /* type='valid' */
    DIALBACK_T_INVALID, /* type='invalid' */
    DIALBACK_T_ERROR,   /* type='error' with a stanza-error condition */
};

/* A parsed first-level element of jabber:server:dialback. Domains are
 * normalised with jid_domain_prep; everything is copied out of the tree. */
struct dialback_elem {
    enum dialback_kind kind;
    enum dialback_type type;
    char from[JID_DOMAIN_BUFSZ];
    char to[JID_DOMAIN_BUFSZ];
    char id[DIALBACK_ID_MAX + 1]; /* db:verify only, else "" */
    size_t id_len;
    char key[DIALBACK_KEY_MAX + 1]; /* requests only; trimmed, may be "" */
    size_t key_len;
    enum dialback_cond cond; /* DIALBACK_T_ERROR only; undefined-condition
                                if the peer named none we know */
};

/* Parse el, a first-level element in NS_DIALBACK, into e. Returns 0, or
 * with the stream error the caller must send in *sc:
 *  XE_PROTO  SC_UNSUPPORTED_STANZA_TYPE  not result or verify;
 *  XE_PROTO  SC_IMPROPER_ADDRESSING      'from' or 'to' missing, empty or
 *                                        not a domain (an answer cannot
 *                                        be addressed, so no dialback
 *                                        error is possible);
 *  XE_PROTO  SC_BAD_FORMAT               unknown 'type', db:verify
 *                                        without 'id', child elements in
 *                                        a request;
 *  XE_LIMIT  SC_POLICY_VIOLATION         key or id over its maximum.
 * An empty key is not an error here (dialback_receive answers it
 * 'invalid'). XE_INVAL (SC_NONE) if el is not in NS_DIALBACK. */
int dialback_parse(const struct stanza *el,
                   struct dialback_elem *e,
                   enum stream_cond *sc);

/* <db:result from to>KEY</db:result> or <db:verify from to id>KEY
 * </db:verify> (id NULL for result). New root with one reference. */
struct stanza *dialback_request(enum dialback_kind kind,
                                const char *from,
                                const char *to,
                                const char *id,
                                const char *key);
/* The type='valid' or type='invalid' answer (id NULL for result). */
struct stanza *dialback_answer(enum dialback_kind kind,
                               const char *from,
                               const char *to,
                               const char *id,
                               bool valid);
/* The type='error' answer, <error type='cancel'><cond xmlns=stanzas-ns/>
 * </error> (id NULL for result); DIALBACK_C_NONE is written as
 * undefined-condition. */
struct stanza *dialback_error(enum dialback_kind kind,
                              const char *from,
                              const char *to,
                              const char *id,
                              enum dialback_cond cond);
/* The answer to the request req: its 'from' and 'to' swapped, its id, and
 * the type (DIALBACK_T_VALID, _INVALID or _ERROR with cond). NULL if type is
 * DIALBACK_T_REQUEST. */
struct stanza *dialback_reply(const struct dialback_elem *req,
                              enum dialback_type type,
                              enum dialback_cond cond);

/* --- domain pairs of one stream ------------------------------------------- */

/* Whose request a pair is. */
enum dialback_role {
    DIALBACK_OUT, /* we are the originating server and asked the peer */
    DIALBACK_IN,  /* the peer is the originating server and asked us */
};

enum dialback_state {
    DIALBACK_ST_NONE, /* no such pair */
    DIALBACK_ST_PENDING,
    DIALBACK_ST_VALID,
    DIALBACK_ST_INVALID,
    DIALBACK_ST_ERROR,
};

struct dialback_pair {
    enum dialback_role role;
    enum dialback_state state;
    enum dialback_cond cond; /* why DIALBACK_ST_ERROR */
    char *sender;            /* originating domain, owned */
    char *target;            /* receiving domain, owned */
};

/* The pairs of one stream, for both roles (a bidi stream carries both).
 * Embedded in the stream; at most max pairs. */
struct dialback_pairs {
    struct dialback_pair *v;
    size_t n;   /* pairs in v */
    size_t cap; /* pairs allocated */
    size_t max; /* pairs allowed */
};

/* Set up an empty table of at most max pairs (0: DIALBACK_PAIRS_MAX). */
void dialback_pairs_init(struct dialback_pairs *t, size_t max);
/* Free the pairs; accepts NULL. */
void dialback_pairs_fini(struct dialback_pairs *t);
/* The state of (role, sender, target), DIALBACK_ST_NONE if absent. Domains
 * are normalised; compared byte for byte. */
enum dialback_state dialback_pairs_get(const struct dialback_pairs *t,
                                       enum dialback_role role,
                                       const char *sender,
                                       const char *target);
/* "May this pair send?": true only if the pair is DIALBACK_ST_VALID. */
bool dialback_pairs_valid(const struct dialback_pairs *t,
                          enum dialback_role role,
                          const char *sender,
                          const char *target);
/* Number of pairs of role in state st. */
size_t dialback_pairs_count(const struct dialback_pairs *t,
                            enum dialback_role role,
                            enum dialback_state st);
/* Set the state of a pair, adding it if absent. Returns 0 or XE_LIMIT
 * (table full; nothing changed). */
int dialback_pairs_set(struct dialback_pairs *t,
                       enum dialback_role role,
                       const char *sender,
                       const char *target,
                       enum dialback_state st,
                       enum dialback_cond cond);

/* --- originating server (outgoing requests) ------------------------------- */

/* We want to send from sender to target over this stream: record an OUT
 * pair as PENDING. Returns 0 (send the db:result now), XE_STATE (already
 * pending or valid: send nothing; see dialback_pairs_get) or XE_LIMIT
 * (table full: use another stream, MUX.md §12.2 item 5). A pair that was
 * invalid or in error is asked for again. */
int dialback_out_begin(struct dialback_pairs *t,
                       const char *sender,
                       const char *target);
/* The peer answered a db:result we sent (ans->type is not REQUEST; its
 * 'from' is our target, its 'to' our sender). Moves the PENDING OUT pair
 * to VALID, INVALID or ERROR. Returns 0, or XE_NOTFOUND for an answer we
 * did not ask for or already have (log and ignore it: DB-12) or XE_INVAL
 * for a request or a db:verify. */
int dialback_out_answer(struct dialback_pairs *t,
                        const struct dialback_elem *ans);
/* T_dialback ran out for a PENDING OUT pair: it becomes ERROR with
 * remote-server-timeout (DB-17). Returns 0 or XE_NOTFOUND. */
int dialback_out_timeout(struct dialback_pairs *t,
                         const char *sender,
                         const char *target);
/* The condition to bounce stanzas queued for a pair that ended in st
 * (DB-14): internal-server-error after INVALID, remote-server-timeout
 * after ERROR (timeouts included); XC_NONE otherwise. */
enum stanza_cond dialback_bounce_cond(enum dialback_state st);
/* True if an error answer with cond refuses piggybacking, so the pair
 * should get a stream of its own instead of bouncing (MUX.md §12.2 item
 * 5): resource-constraint and not-acceptable. */
bool dialback_refuses_piggyback(enum dialback_cond cond);

/* What the peer of an outgoing stream supports (MUX.md §12.2). */
struct dialback_peer {
    bool db_ns;         /* its header declared xmlns:db (sender piggyback) */
    bool errors;        /* it advertised <dialback><errors/></dialback> */
    bool same_endpoint; /* the target resolves to this stream's host:port */
};

/* How to reach the pair (sender, target) from a stream opened from
 * stream_from to stream_to (all normalised). */
enum dialback_plan {
    DIALBACK_PLAN_PRIMARY,   /* the stream's own pair: no dialback needed
                                beyond the stream's authentication */
    DIALBACK_PLAN_PIGGYBACK, /* send a db:result on this stream */
    DIALBACK_PLAN_NEW,       /* open a stream of its own */
};

/* Sender piggybacking (same target, other sender) needs only the dialback
 * namespace; target piggybacking (other target) also needs dialback
 * errors and the same endpoint (DB-08, DB-09, DB-11). */
enum dialback_plan dialback_plan(const struct dialback_peer *p,
                                 const char *stream_from,
                                 const char *stream_to,
                                 const char *sender,
                                 const char *target);

/* --- receiving and authoritative server ----------------------------------- */

/* What the stream the request came in on knows. */
struct dialback_rx {
    bool tls;      /* TLS is in force (else policy-violation, DB-18) */
    bool to_local; /* the request's 'to' is a domain served here */
    /* Identities of the peer's certificate if it validated (XEP-0344,
     * DB-16), else NULL. A truncated list still covers what it holds. */
    const struct tls_identities *peer_ids;
};

/* What to do with a request. */
enum dialback_verdict {
    DIALBACK_DO_VERIFY,  /* the pair is PENDING: ask the authoritative
                            server on another stream (DB-15), then call
                            dialback_in_complete */
    DIALBACK_DO_VALID,   /* answer type='valid' now */
    DIALBACK_DO_INVALID, /* answer type='invalid' now */
    DIALBACK_DO_ERROR,   /* answer type='error' with the condition */
    DIALBACK_DO_NOTHING, /* same pair already pending: its answer will
                            answer this request too */
};

/* Decide the answer to a db:result request req received on an incoming
 * stream and record the IN pair (sender req->from, target req->to). In
 * order: no TLS -> ERROR policy-violation; 'to' not served -> ERROR
 * item-not-found (DB-06); empty key -> INVALID; pair already valid ->
 * VALID; pair pending -> NOTHING; certificate covers the sender -> VALID
 * (pair recorded valid); table full -> ERROR resource-constraint;
 * otherwise VERIFY (pair recorded pending). *cond is set for ERROR,
 * else DIALBACK_C_NONE. Anything but a db:result request gets NOTHING. */
enum dialback_verdict dialback_receive(struct dialback_pairs *t,
                                       const struct dialback_elem *req,
                                       const struct dialback_rx *rx,
                                       enum dialback_cond *cond);
/* The authoritative server answered (or failed to) for the IN pair
 * (sender, target): outcome is DIALBACK_T_VALID, _INVALID, or _ERROR with
 * cond (e.g. remote-connection-failed, remote-server-timeout). Returns 0
 * if the pair was PENDING (answer the peer now with dialback_reply), else
 * XE_NOTFOUND (unsolicited: nothing changes, DB-13), or XE_INVAL for
 * DIALBACK_T_REQUEST. */
int dialback_in_complete(struct dialback_pairs *t,
                         const char *sender,
                         const char *target,
                         enum dialback_type outcome,
                         enum dialback_cond cond);
/* As authoritative server, decide the answer to a db:verify request req
 * (DB-07): no TLS -> ERROR policy-violation; 'to' not served -> ERROR
 * item-not-found; else VALID if req->key is the key for (receiving
 * req->from, originating req->to, req->id) under secret, INVALID if not.
 * *cond is set for ERROR, else DIALBACK_C_NONE. Anything but a db:verify
 * request gets NOTHING. */
enum dialback_verdict dialback_authoritative(const unsigned char *secret,
                                             size_t len,
                                             const struct dialback_elem *req,
                                             const struct dialback_rx *rx,
                                             enum dialback_cond *cond);

/* --- connection authorization secrets (MUX.md §9) --------------------- */

#define NS_MUX_SECRET "urn:xmpp:mux:0"
/* Nonce bytes, and the length of a secret: "1-" E "-" 32 hex "-" 64 hex
 * with E at most 20 digits. */
#define MUX_NONCE_BYTES 16
#define MUX_SECRET_LEN  (2 + 20 + 1 + 2 * MUX_NONCE_BYTES + 1 + DIALBACK_KEY_HEX)

/* What a secret is bound to: I's domain (origin), the new host, the via
 * host and the ids of R's latest response headers on P and S. */
struct mux_secret_ctx {
    const char *origin, *new_host, *via_host, *p_id, *s_id;
};

/* SECRET = "1-" E "-" hex(N) "-" MAC, MAC = HMAC-SHA256 keyed with the hex
 * of SHA-256(key) over "urn:xmpp:mux:0 origin new_host via_host P_id S_id
 * E hex(N)" (the test vector of §9 is a unit test). Returns 0, XE_INVAL or
 * XE_TLS. */
int mux_secret_make(const unsigned char *key,
                    size_t len,
                    const struct mux_secret_ctx *c,
                    uint64_t expiry,
                    const unsigned char nonce[MUX_NONCE_BYTES],
                    char out[MUX_SECRET_LEN + 1]);
/* True if secret[0..n) is version 1, unexpired (now < E <= now + 120)
 * and its MAC verifies for c, compared in constant time (SEC-09); its
 * nonce is written to nonce_out (may be NULL) for the replay cache. */
bool mux_secret_check(const unsigned char *key,
                      size_t len,
                      const struct mux_secret_ctx *c,
                      uint64_t now,
                      const char *secret,
                      size_t n,
                      unsigned char nonce_out[MUX_NONCE_BYTES]);

/* For logs (SEC-10): the first 8 hex digits of SHA-256(secret), never
 * the secret itself. */
void mux_secret_fingerprint(const char *secret, size_t n, char out[9]);

#endif
