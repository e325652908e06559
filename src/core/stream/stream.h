/* SPDX-License-Identifier: MIT */
/* stream.h -- sans-I/O XMPP stream: bytes in, bytes and a close decision out. */
#ifndef XMUX_STREAM_H
#define XMUX_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/log.h"
#include "config/config.h"
#include "dialback/dialback.h"
#include "jid/jid.h"
#include "sasl/sasl.h"
#include "tls/tls.h"
#include "stanza/stanza.h"
#include "xml/xml.h"

#define NS_MUX           "urn:xmpp:mux:0"
#define NS_BIDI          "urn:xmpp:bidi"
#define NS_BIDI_FEATURE  "urn:xmpp:features:bidi"
#define NS_DB_FEATURE    "urn:xmpp:features:dialback"
#define NS_BIND          "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION       "urn:ietf:params:xml:ns:xmpp-session"
#define NS_SASL_CB       "urn:xmpp:sasl-cb:0"
#define NS_SM            "urn:xmpp:sm:3"
#define NS_STREAM_LIMITS "urn:xmpp:stream-limits:0"
#define NS_STANZAS       NS_STANZAS_ERR

struct stream;
struct stream_sm;

/* A set of domains: exact ones and "*.rest" wildcard patterns (MUX.md
 * §5.2), all normalised. */
struct domset {
    char **v;
    size_t n;
    char **w;
    size_t nw;
};
void domset_add(struct domset *d, const char *dom);
bool domset_has(const struct domset *d, const char *dom);
void domset_fini(struct domset *d);
/* A host a mux element may name: two labels or more, no IP literal. */
bool mux_hostname(const char *d);

/* Fills buf with n bytes from a CSPRNG (stream ids). */
typedef void stream_random_fn(void *arg, void *buf, size_t n);

/* What a stream asks of the server around it. Every callback receives
 * the ctx's ops_arg. */
struct stream_ops {
    /* SASL needs the credentials of user@host: answer later (never from
     * inside this call) with stream_provide_creds. */
    void (*need_creds)(void *arg, struct stream *s, const char *host,
                       const char *user);
    /* Bind the full JID s->jid to s. Returns 0, XE_LIMIT (too many
     * resources: <resource-constraint/>) or another error (<conflict/>).
     * The server may end an older session with the same full JID first. */
    int (*bind)(void *arg, struct stream *s);
    /* s is going away: drop it from every table. */
    void (*unbind)(void *arg, struct stream *s);
    /* A validated stanza from the peer ('from' stamped). Borrowed. */
    void (*stanza)(void *arg, struct stream *s, struct stanza *st);
    /* An authentication attempt failed; user may be NULL. The server
     * may slow the peer down (only why == SASL_WHY_CREDENTIALS counts as
     * a guess). May be NULL. */
    void (*auth_failed)(void *arg, struct stream *s, const char *user,
                        enum sasl_why why);
    /* Output was queued on s outside stream_feed (a delivery): flush. */
    void (*wake)(void *arg, struct stream *s);
    /* s2s: what s may carry changed (negotiated, a dialback pair
     * answered, closing): the server looks at the pairs waiting on it. */
    void (*s2s_changed)(void *arg, struct stream *s);
    /* s2s receiving: ask the authoritative server of e->from whether the
     * key of db:result e, received on s, is right (over another stream,
     * DB-15); answer later with stream_db_complete. */
    void (*db_verify)(void *arg, struct stream *s,
                      const struct dialback_elem *e);
    /* s2s initiating: the answer to a db:verify we sent on s. */
    void (*db_verified)(void *arg, struct stream *s,
                        const struct dialback_elem *ans);
    /* c2s mux: bind one more full JID to s (router_bind_also); errors as
     * bind. */
    int (*bind_also)(void *arg, struct stream *s, const struct jid *full);
    /* True if some stream holds the full JID. */
    bool (*is_bound)(void *arg, const struct jid *full);
    /* s2s receiving: a valid connection-authorization request (F4,
     * MUX.md §8.4) for our host via arrived on s with secret[0..len):
     * send the F5 IQ; answer later with stream_mux_authz_done. Returns
     * 0, or XE_LIMIT when the account asked too often (D-01: the stream
     * ends with <policy-violation/>). */
    int (*mux_authz)(void *arg, struct stream *s, const char *via,
                     const char *secret, size_t len);
    /* c2s: <resume previd h/> (XEP-0198) on s, authenticated and not
     * bound: find the detached session previd of the same account, move
     * it here (stream_sm_take_over) and release the old stream. Returns 0,
     * or an error (the client gets <failed><item-not-found/>). */
    int (*sm_resume)(void *arg, struct stream *s, const char *previd,
                     uint32_t h);
    /* s2s initiating, negotiated: the state of a broken stream to the
     * same peer that may be resumed (*previd, our handled count *h).
     * Returns 0 if there is one. */
    int (*sm_s2s_previous)(void *arg, struct stream *s, const char **previd,
                           uint32_t *h);
    /* s2s initiating: the peer resumed it (ok, it handled h of that
     * stream's stanzas) or refused. Returns 0, or an error if h does not
     * fit (then as refused). */
    int (*sm_s2s_resumed)(void *arg, struct stream *s, bool ok, uint32_t h);
    /* A limit of docs/limits.md was hit on s: the server counts it and
     * logs it with detail (key=value words, or ""). May be NULL: the
     * stream then logs it itself. */
    void (*limit)(void *arg, struct stream *s, enum cfg_limit what,
                  const char *detail);
};

/* What all streams of one server share; borrowed, outlives the streams. */
struct stream_ctx {
    const struct config *cfg;
    const struct logger *log;
    stream_random_fn *random;
    void *random_arg;
    struct sasl_server *sasl;
    bool tls_available; /* the server can do STARTTLS */
    const unsigned char *db_secret; /* dialback secret (XEP-0185) */
    size_t db_secret_len;
    const struct stream_ops *ops;
    void *ops_arg;
};

/* States, one element handler each (see stream_in.c's table). The
 * receiving role goes HEADER .. SESSION, the initiating role (s2s)
 * I_HEADER .. I_DIALBACK, then SESSION. */
enum stream_state {
    STREAM_ST_HEADER,   /* waiting for the initiating stream header */
    STREAM_ST_PRETLS,   /* features sent, STARTTLS required next */
    STREAM_ST_PREAUTH,  /* TLS on, mechanisms offered, <auth/> next */
    STREAM_ST_SASL,     /* an authentication exchange is running */
    STREAM_ST_BIND,     /* authenticated, resource binding next */
    STREAM_ST_SESSION,  /* negotiated: stanzas flow */
    STREAM_ST_CLOSED,   /* nothing more to read or write */
    STREAM_ST_I_CONNECT,  /* initiating: not connected (or TLS) yet */
    STREAM_ST_I_HEADER,   /* our header sent, the response header next */
    STREAM_ST_I_FEATURES, /* waiting for <stream:features/> */
    STREAM_ST_I_STARTTLS, /* <starttls/> sent, <proceed/> next */
    STREAM_ST_I_SASL,     /* <auth mechanism='EXTERNAL'/> sent */
    STREAM_ST_I_DIALBACK, /* db:result for the stream's pair sent */
};

/* How an s2s stream authenticated its peer (or, initiating, itself). */
enum stream_auth {
    STREAM_AUTH_NONE,
    STREAM_AUTH_SASL,     /* SASL (EXTERNAL on s2s) */
    STREAM_AUTH_DIALBACK, /* XEP-0220 for the stream's own pair */
};

/* Where a domain pair stands on one s2s stream (stream_s2s_pair). */
enum stream_pair {
    STREAM_PAIR_NONE,    /* not asked for here */
    STREAM_PAIR_PENDING, /* the stream or the pair is being negotiated */
    STREAM_PAIR_READY,   /* stanzas of the pair may go out now */
    STREAM_PAIR_FAILED,  /* refused: bounce, or try another stream */
};

/* What the I/O layer must do after a feed. */
enum stream_action {
    STREAM_ACT_NONE,
    STREAM_ACT_STARTTLS, /* flush s->out in the clear, then start TLS */
};

/* Least bytes queued for output before the stream is cut off (the limit
 * is limits.output_queue_max when that is larger). */
#define STREAM_OUT_MAX ((size_t)1 << 20)
/* Identities one stream may carry (MUX.md §6.1, D-01). */
#define STREAM_IDS_MAX 256
/* Elements a paused stream keeps before it gives up on the peer. */
#define STREAM_QUEUE_MAX 8
/* MUX.md §3.4, §13: largest mux element (octets on the wire), hosts we
 * list in F2, hosts we read from a peer's F2. */
#define MUX_ELEMENT_MAX    4096
#define MUX_HOSTS_EMIT_MAX 256
#define MUX_HOSTS_READ_MAX 1024
/* §8.4: longest secret relayed; authorizations asked on one stream. */
#define MUX_SECRET_MAX     1024
#define MUX_F4_MAX         3
/* Stream ids carry this many random bytes (>= 128 bits, CORE-01). */
#define STREAM_ID_BYTES 18

struct stream {
    const struct stream_ctx *ctx;
    uint64_t conn;
    enum cfg_listen_kind kind;
    bool s2s;
    enum stream_state state;
    struct xml_reader *xr;
    struct stanza_builder sb;
    struct buf out;       /* bytes for the peer, drained by the I/O layer */
    bool header_sent;     /* our response header went out */
    bool restart_pending; /* reset the reader once the current feed ends */
    enum stream_cond cond; /* the stream error that ended it, or SC_NONE */
    const char *close_reason;
    char id[2 * STREAM_ID_BYTES + 1];
    const struct cfg_host *host; /* the served domain (stream 'to') */
    /* s2s: the peer's domain: the initiating header's 'from' when
     * receiving, the stream 'to' when initiating. */
    char *peer_domain;
    char *peer_id; /* initiating: the id of the peer's response header */
    unsigned version_major, version_minor;
    /* Negotiation. */
    enum stream_action action;
    bool tls;                  /* TLS is in force */
    struct tls_conn *tls_conn; /* borrowed from the I/O layer */
    bool authenticated;
    /* The SASL mechanism that authenticated the peer (static), or NULL. */
    const char *sasl_mech;
    unsigned headers;       /* header exchanges so far */
    char *first_to;         /* the 'to' of the first header (CORE-09) */
    char *tls_from;         /* the 'from' of the first post-TLS header */
    bool tls_from_set;
    struct sasl_session *sasl;
    unsigned sasl_failures;    /* attempts that failed, but ... */
    unsigned sasl_cb_failures; /* ... failed channel bindings apart */
    bool paused;  /* waiting for credentials: elements are queued */
    bool in_feed; /* inside stream_feed: the caller flushes */
    struct stream_parsed *collect; /* stream_parse: elements go there */
    struct stanza *queued[STREAM_QUEUE_MAX]; /* parsed while paused */
    size_t nqueued;
    char **cert_jids; /* XmppAddr JIDs of a verified client certificate */
    size_t ncert_jids; /* ... on the stream's host: EXTERNAL's choices */
    char **mux_jids;   /* c2s mux: every candidate of §5.6 (bare JIDs) */
    size_t nmux_jids;
    size_t mux_next;    /* next candidate whose account is looked up */
    bool mux_checking;  /* waiting for such a lookup */
    /* The session. */
    struct jid jid; /* authenticated bare JID, full once bound */
    /* The identities the peer may use as 'from' (MUX.md §6.1): a set from
     * the start, though a c2s session holds one full JID today; mux adds
     * more (issue #5). */
    struct jid *ids;
    size_t nids;
    bool bound;
    void *route_data; /* owned by the router */
    /* s2s, both roles. */
    enum stream_auth auth;
    enum stanza_cond fail_cond; /* why pairs on it failed (bounces) */
    /* s2s, initiating role. */
    bool initiating;
    bool direct_tls;     /* TLS from the first byte (XEP-0368) */
    bool peer_db_ns;     /* the response header declared xmlns:db */
    bool peer_db_errors; /* features had <dialback><errors/></dialback> */
    bool peer_dialback;  /* features had the dialback feature at all */
    bool peer_bidi_offer; /* features had urn:xmpp:features:bidi */
    bool can_verify;     /* post-TLS: db:verify may be sent */
    bool tried_external; /* EXTERNAL failed once: dialback next */
    /* s2s, receiving role (bidi: also the initiating side once sent). */
    bool bidi;           /* XEP-0288 bidi is on for this stream */
    bool s2s_backlog;    /* pair queues wait for this stream's output to
                            drain (router_s2s_drained) */
    bool bidi_closed;    /* <auth/> or a db:result came: too late now */
    bool peer_checked;   /* peer_ids computed */
    bool peer_valid;     /* the certificate validated (D-10) */
    struct tls_identities peer_ids;
    struct dialback_pairs db; /* dialback pairs, both directions */
    /* Mux (MUX.md §6.1). Receiving: snd = SND, hosts = H we listed, tgt
     * = RSND (what we may send from with bidi). Initiating: snd = our
     * senders, hosts = H the peer listed, tgt = TGT_I (= RSND). */
    bool mux_offered;   /* R: F1 was in the last features sent */
    bool mux_requested; /* R: F3 received; I: F3 sent */
    struct domset snd, hosts, tgt;
    struct domset granted; /* hosts in tgt by connection authorization */
    unsigned f4_count;  /* R: connection authorizations asked here */
    bool f4_pending;    /* R: one is waiting for its IQ answer */
    bool m3_hold;       /* I: F4 sent: nothing more goes out here (§8.7) */
    /* XEP-0478, initiating: what the peer's features announced; 0 when
     * it did not say. A stanza larger than peer_max_bytes is not sent. */
    size_t peer_max_bytes;
    uint32_t peer_idle_s;
    /* The stanza being handed to ops->stanza: its 'to', already parsed by
     * the checks (the router reuses it instead of parsing again). Set
     * only during that call. */
    struct jid stanza_to;
    /* Stream management (XEP-0198), once enabled; owned. */
    struct stream_sm *sm;
    bool sm_hold; /* initiating: <resume/> sent, nothing goes out yet */
};

/* Set up a receiving stream for a connection accepted on a listener of
 * the given kind. ctx is borrowed. With Direct TLS, tls is the session
 * the bytes already pass through (borrowed), else NULL. */
void stream_init(struct stream *s, const struct stream_ctx *ctx,
                 uint64_t conn, enum cfg_listen_kind kind,
                 struct tls_conn *tls);
/* Release everything the stream owns (stream_unbind first). */
void stream_fini(struct stream *s);
/* Leave the server's tables (ops->unbind) if it is in them: at once when
 * the connection closes, before the memory goes. */
void stream_unbind(struct stream *s);
/* Process len bytes from the peer. Output accumulates in s->out. Returns
 * 0 while the stream lives, XE_CLOSED once it has finished (flush
 * s->out, then close the connection). */
int stream_feed(struct stream *s, const char *data, size_t len);

/* Parsing apart from handling, for a caller that parses without the lock
 * its threads share and handles with it (io/worker.c). Only in the
 * session state, where no restart can change how the rest of the bytes
 * are read: stream_parse_ahead says whether it may be used now. */
struct stream_parsed {
    struct stanza **v; /* complete first-level elements, in order */
    size_t n, cap;
    bool closed; /* the peer's </stream:stream> came after them */
    int rc;      /* a reader error after them, or 0 */
};
bool stream_parse_ahead(const struct stream *s);
/* Parse len bytes into p (emptied first); touches only the stream's
 * reader and tree builder. */
void stream_parse(struct stream *s, const char *data, size_t len,
                  struct stream_parsed *p);
/* Handle what stream_parse gave, as stream_feed would have; empties p.
 * Returns as stream_feed. */
int stream_dispatch(struct stream *s, struct stream_parsed *p);
void stream_parsed_fini(struct stream_parsed *p);
/* The negotiation timer ran out: <connection-timeout/> unless done. */
void stream_timeout(struct stream *s);
/* The server is shutting down: <system-shutdown/>. */
void stream_shutdown(struct stream *s);
/* The peer closed its side of the TCP connection. */
void stream_eof(struct stream *s);
/* After STREAM_ACT_STARTTLS: the TLS session now carries the stream. */
void stream_starttls_done(struct stream *s, struct tls_conn *tls);
/* Take (and clear) the pending action. */
enum stream_action stream_take_action(struct stream *s);
/* Answer need_creds: creds NULL means no such account. Then handles the
 * elements queued meanwhile. Returns like stream_feed. */
int stream_provide_creds(struct stream *s, const struct sasl_creds *creds);
/* True while waiting for credentials (the I/O layer may stop reading). */
bool stream_paused(const struct stream *s);
/* Queue a stanza for the peer (a delivery from the router). Returns 0,
 * XE_CLOSED, XE_LIMIT, or XE_TOO_LARGE when it exceeds the peer's
 * advertised max-bytes (XEP-0478: nothing is queued, bounce it with
 * <policy-violation/>). Calls ops->wake unless inside a feed. */
int stream_deliver(struct stream *s, const struct stanza *st);
/* End the stream with a stream error from outside (e.g. <conflict/>
 * when another session takes its resource). */
void stream_kill(struct stream *s, enum stream_cond cond, const char *text);
/* The peer has been quiet: release what parsing holds between stanzas
 * (see xml_reader_hibernate). Returns true if memory was released. */
bool stream_hibernate(struct stream *s);
/* Add a full JID to the set of identities s may send from (a copy is
 * kept). Returns 0, or XE_LIMIT past STREAM_IDS_MAX. */
int stream_identity_add(struct stream *s, const struct jid *full);
/* Drop identity i of the set. */
void stream_identity_remove(struct stream *s, size_t i);
/* True if the client certificate s authenticated with (c2s mux) names
 * j's bare JID. */
bool stream_cert_names(const struct stream *s, const struct jid *j);
/* The identity of the set that a 'from' JID names: the same full JID,
 * or (MUX.md D-05) the bare JID of one, which then stands for it. NULL if
 * the set holds none. */
const struct jid *stream_identity_find(const struct stream *s,
                                       const struct jid *from);
/* True once nothing more will be written: flush s->out, then close. */
bool stream_finished(const struct stream *s);
/* Name of a state, for logs. */
const char *stream_state_name(enum stream_state st);

/* --- s2s, initiating role (stream_out.c) ------------------------------- */

/* Set up an initiating s2s stream from the served host 'from' to the
 * remote domain 'to' (both normalised). Nothing is sent until
 * stream_connected. conn identifies it in logs. */
void stream_init_out(struct stream *s, const struct stream_ctx *ctx,
                     uint64_t conn, const struct cfg_host *from,
                     const char *to);
/* The TCP connection is up. With direct_tls the I/O layer starts TLS and
 * calls stream_tls_up once the handshake is done; otherwise the stream
 * sends its header now. */
void stream_connected(struct stream *s, bool direct_tls);
/* Initiating: the TLS handshake finished on tls (after STARTTLS or Direct
 * TLS). Checks the peer certificate (CORE-24) and sends the header, or
 * ends the stream. Returns like stream_feed. */
int stream_tls_up(struct stream *s, struct tls_conn *tls);
/* The stream could not be set up (resolution, connection): remember why,
 * for the stanzas waiting on it, and close it. */
void stream_fail_setup(struct stream *s, enum stanza_cond cond,
                       const char *reason);
/* May the pair (sender, target) use s, in the direction we send? For
 * STREAM_PAIR_FAILED, *cond (may be NULL) is the stanza error to bounce
 * with, or XC_NONE when the peer only refused piggybacking (MUX.md §12.2
 * item 5: use a stream of the pair's own). */
enum stream_pair stream_s2s_pair(const struct stream *s, const char *sender,
                                 const char *target, enum stanza_cond *cond);
/* Whether a stream we opened reaches the server that hosts target: its
 * stream 'to', or a name its validated certificate covers (a fresh
 * stream to target would meet the same server). */
bool stream_s2s_covers(const struct stream *s, const char *target);
/* Ask for the pair (sender, target) on s by dialback piggybacking
 * (MUX.md §12.2). Returns 0 (asked; wait for s2s_changed), XE_STATE (s
 * is not negotiated yet: ask again later), XE_PROTO (the peer cannot
 * take it here: open another stream) or XE_LIMIT. */
int stream_s2s_request(struct stream *s, const char *sender,
                       const char *target);
/* A pending piggybacked pair saw no answer within T_dialback (DB-17). */
void stream_s2s_timeout(struct stream *s, const char *sender,
                        const char *target);
/* Initiating: send <db:verify from to id>key</db:verify> (we are the
 * receiving server asking the authoritative one). Returns 0, XE_STATE
 * (not past TLS yet) or XE_CLOSED. */
int stream_db_verify(struct stream *s, const char *from, const char *to,
                     const char *id, const char *key);
/* Receiving: the authoritative server's verdict on the db:result for
 * (sender, target) that ops->db_verify asked about. Answers the peer. */
void stream_db_complete(struct stream *s, const char *sender,
                        const char *target, enum dialback_type outcome,
                        enum dialback_cond cond);
/* Initiating, on a secondary stream S: ask for connection authorization
 * of S's host via P's host 'via' with secret (F4, MUX.md §8.3); from now
 * on stanzas wait (m3_hold). Returns 0, XE_STATE (S not negotiated with
 * SASL, or via not listed on it) or XE_CLOSED. */
int stream_mux_request_authz(struct stream *s, const char *via,
                             const char *secret);
/* Initiating: the authorization ended; stanzas may use s again (failure)
 * or s is done with (success: the peer closes it). */
void stream_mux_release(struct stream *s);
/* Receiving: the authorization asked on s ended: success closes s
 * gracefully (§8.4), failure keeps it as an ordinary stream. */
void stream_mux_authz_done(struct stream *s, bool ok);
/* Called now and then (every second): a stream whose authorization
 * rests on the peer's certificate (SASL EXTERNAL, mux sets, covered
 * targets) ends with <reset/> once that certificate has expired (MUX.md
 * §11, SEC-12). Returns true if it did. */
bool stream_check_expiry(struct stream *s);
/* The stream went quiet for the idle timeout: close it gracefully. */
void stream_idle_close(struct stream *s);

/* --- stream management (XEP-0198, stream_sm.c) ------------------------- */

/* Called now and then (every second): ask the peer to acknowledge what
 * waits for it, if nothing asked yet. */
void stream_sm_tick(struct stream *s);
/* The stanzas sent over s that the peer has not acknowledged, oldest
 * first, in *out (free it with x_free); the caller takes the references.
 * Returns how many (0: *out is NULL). */
size_t stream_sm_take_unacked(struct stream *s, struct stanza ***out);
/* How many stanzas wait for the peer's acknowledgement. */
size_t stream_sm_unacked(const struct stream *s);
/* The resumable state of s: its id, what it handled from the peer, the
 * peer's last acknowledgement. False if it has none. */
bool stream_sm_state(const struct stream *s, const char **id, uint32_t *h_in,
                     uint32_t *acked);
/* s's state moves to another stream: it is no longer to be kept. */
void stream_sm_forget(struct stream *s);
/* s2s receiving: resume the state previd (handled count h_in) on s and
 * answer <resumed/>. */
int stream_sm_s2s_resumed(struct stream *s, const char *previd, uint32_t h_in);
/* c2s: the client asked for resumption and its session is bound: when
 * the connection drops, the session may wait for it (stream_sm_detach). */
bool stream_sm_resumable(const struct stream *s);
/* The connection is gone (TLS freed): stanzas for the session queue up
 * until it is resumed or ends. */
void stream_sm_detach(struct stream *s);
bool stream_sm_detached(const struct stream *s);
/* Detached, and more than sm.max_unacked stanzas wait: end it now. */
bool stream_sm_overflow(const struct stream *s);
/* The id a client resumes with, or NULL if it cannot. */
const char *stream_sm_id(const struct stream *s);
/* True if h is an acknowledgement old's state can take (not more than
 * it sent). */
bool stream_sm_check_h(const struct stream *old, uint32_t h);
/* Move the session of the detached stream old onto s (its JID, its
 * identities, its counters and what the client did not get: resent now
 * after <resumed/>); the router moves its tables with router_rebind. */
int stream_sm_take_over(struct stream *s, struct stream *old, uint32_t h);

#endif
