/* SPDX-License-Identifier: MIT */
/* client.h -- a small blocking XMPP c2s client: TLS, SASL, bind, mux. */
#ifndef XMUX_CLIENT_H
#define XMUX_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "jid/jid.h"
#include "stanza/stanza.h"

#define NS_MUX  "urn:xmpp:mux:0"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SM   "urn:xmpp:sm:3"

/* Secrets a client keeps for c2s connection authorization (MUX.md
 * §10.6): 16 random bytes as 32 hex digits. */
#define CLIENT_SECRET_LEN  32
#define CLIENT_SECRETS_MAX 8

/* How to reach the server and what to trust. Strings are borrowed. */
struct client_cfg {
    const char *addr;      /* IP address or name of the server; NULL:
                              find it in DNS (SRV, then A/AAAA) */
    uint16_t port;         /* its c2s port (with addr) */
    bool direct_tls;       /* XEP-0368 Direct TLS instead of STARTTLS;
                              without addr: only _xmpps-client targets */
    const char *resolver;  /* DNS servers ("ADDR[:PORT],..."), NULL: the
                              system's (/etc/resolv.conf) */
    const char *ca_file;   /* PEM trust anchors (a CA or the server's own
                              certificate); NULL needs insecure */
    bool insecure;         /* accept any server certificate */
    const char *cert_file; /* client certificate for EXTERNAL, or NULL */
    const char *key_file;  /* its key */
    int timeout_ms;        /* bound on every single wait */
};

/* One c2s stream over its own TCP connection. */
struct client_conn;

/* Connect to cfg->addr:port, or to the targets DNS gives for domain (in
 * order, until one works), open a stream to domain, secure it (STARTTLS,
 * or Direct TLS with ALPN xmpp-client and SNI domain), check the server
 * certificate (verified by ca_file and naming domain, unless insecure) and
 * read the features of the encrypted stream. Stores the new connection in
 * *out. Returns 0, or -errno / XE_TLS / XE_PROTO / XE_CLOSED / a DNS
 * status with one line in err (naming every target tried). */
int client_connect(struct client_conn **out,
                   const struct client_cfg *cfg,
                   const char *domain,
                   struct buf *err);
/* The address and port connected to ("192.0.2.1:5222", "[::1]:5223"). */
const char *client_peer(const struct client_conn *c);
/* True if the connection uses Direct TLS. */
bool client_direct(const struct client_conn *c);
/* The negotiated ALPN protocol, or NULL. */
const char *client_alpn(const struct client_conn *c);
/* Send </stream:stream>, wait (bounded) for the server's, close the socket
 * and free everything. Accepts NULL. */
void client_close(struct client_conn *c);

/* True if the current features offer <mux xmlns='urn:xmpp:mux:0'/>. */
bool client_offers_mux(const struct client_conn *c);
/* The SASL mechanism to log in with a password, given the stream's
 * features: forced (if offered), or the best offered (SCRAM-SHA-256-PLUS,
 * SCRAM-SHA-1-PLUS, SCRAM-SHA-256, SCRAM-SHA-1, PLAIN). -PLUS needs
 * cb_type (the binding our TLS session has) and, if the features list
 * XEP-0440 channel-binding types, cb_type among them. A static string,
 * or NULL if there is none. */
const char *client_pick_mech(const struct stanza *features,
                             const char *cb_type,
                             const char *forced);
/* SASL with a password as user (jid's localpart): mech (NULL: the best
 * one, client_pick_mech), then the stream restart. SCRAM checks the
 * server's signature. Returns 0, XE_SASL (refused, or the server failed
 * to prove itself: err says why) or an I/O error. */
int client_auth_password(struct client_conn *c,
                         const char *user,
                         const char *password,
                         const char *mech,
                         struct buf *err);
/* The mechanism that succeeded ("SCRAM-SHA-256", "EXTERNAL"), or NULL. */
const char *client_mech(const struct client_conn *c);
/* Optionally <mux/> (F3, only if offered), then SASL EXTERNAL with authzid
 * (NULL or "" sends "="), then the restart. Errors as
 * client_auth_password. */
int client_auth_external(struct client_conn *c,
                         const char *authzid,
                         bool mux,
                         struct buf *err);
/* The post-auth F2 host list: number of hosts, and the i-th one. */
size_t client_mux_host_count(const struct client_conn *c);
const char *client_mux_host(const struct client_conn *c, size_t i);
/* Bind resource (NULL: the server picks one). Returns 0 or XE_PROTO. */
int client_bind(struct client_conn *c, const char *resource, struct buf *err);
/* The bound full JID ("" before binding). */
const char *client_jid(const struct client_conn *c);
/* The identities this stream acts for: the primary full JID first, then
 * the ones joined by client_join. */
size_t client_identity_count(const struct client_conn *c);
const char *client_identity(const struct client_conn *c, size_t i);

/* Serialise st and send it. Returns 0 or an I/O error. */
int client_send(struct client_conn *c, const struct stanza *st);
/* Wait at most timeout_ms for the next top-level element; *out gets one
 * reference (NULL on timeout, return value 0). Returns 0, XE_CLOSED when
 * the server ended the stream, or an error. */
int client_next(struct client_conn *c, int timeout_ms, struct stanza **out);
/* True once the server sent </stream:stream> or closed the socket. */
bool client_closed(const struct client_conn *c);

/* The secrets sent on secondary streams, kept until used. */
struct client_authz {
    char secret[CLIENT_SECRETS_MAX][CLIENT_SECRET_LEN + 1];
    size_t n;
};

/* Make a fresh random secret, remember it, and copy it to out (at least
 * CLIENT_SECRET_LEN + 1 bytes). Returns 0, XE_LIMIT (too many pending)
 * or XE_TLS (no randomness). */
int client_authz_new_secret(struct client_authz *a, char *out);
/* Forget a secret (after its authorization ended, either way). */
void client_authz_drop(struct client_authz *a, const char *secret);
/* If st is an F5 IQ (<iq type='set'><mux xmlns='urn:xmpp:mux:0'>SECRET
 * </mux></iq>), return the answer to send: an empty result if SECRET
 * (trimmed) is one of ours, compared in constant time, which is then
 * forgotten; else a not-acceptable error (MUX-90). *matched tells which.
 * Returns NULL if st is not an F5 IQ. The caller owns the answer. */
struct stanza *client_authz_answer(struct client_authz *a,
                                   const struct stanza *st,
                                   bool *matched);
/* c2s connection authorization (MUX.md §10.6): secondary, authenticated
 * and not bound, asks to be joined onto primary's bound full JID; the F5
 * IQ arriving on primary is answered from a; success is the server
 * closing secondary. Other stanzas on primary stay queued. On success
 * primary acts for secondary's account with its own resource, and
 * secondary is closed and freed (also on failure). Returns 0, XE_PROTO
 * (refused or no IQ in time) or an I/O error, with err set. */
int client_join(struct client_conn *primary,
                struct client_conn *secondary,
                struct client_authz *a,
                struct buf *err);

/* --- stream management (XEP-0198) ------------------------------------------
 */

/* Longest resumption id kept (a longer one: no resumption). */
#define CLIENT_SM_ID_MAX 256
/* Stanzas kept unacknowledged before the stream counts as stuck. */
#define CLIENT_SM_MAX_UNACKED 1000
/* Stanzas sent between two <r/> of ours. */
#define CLIENT_SM_REQUEST_EVERY 8

/* One stanza sent and not yet acknowledged: its serialised bytes. */
struct client_sm_item {
    char *p;
    size_t len;
};

/* The counters of stream management on one session, kept across
 * resumptions. Numbers are mod 2^32 (XEP-0198 §4); q[i] is the stanza
 * number acked + 1 + i. Embedded: zero it (or client_sm_init) first. */
struct client_sm {
    bool enabled;     /* <enabled/> (or <resumed/>) came: counting */
    bool resume;      /* the server granted resumption, id is set */
    uint32_t max;     /* seconds the server keeps a dropped session */
    uint32_t h_in;    /* stanzas handled from the server */
    uint32_t acked;   /* the server's last h */
    uint32_t since_r; /* stanzas sent since our last <r/> */
    struct client_sm_item *q;
    size_t qn, qcap;
    char id[CLIENT_SM_ID_MAX + 1];
};

/* Zero sm; client_sm_fini frees the kept stanzas (and zeroes it again). */
void client_sm_init(struct client_sm *sm);
void client_sm_fini(struct client_sm *sm);
/* <enabled id resume max/> arrived: counting starts at 0 both ways; id
 * and resume are kept if the server granted resumption. */
void client_sm_on_enabled(struct client_sm *sm, const struct stanza *el);
/* An element arrived from the server: a stanza counts as handled. */
void client_sm_received(struct client_sm *sm, const struct stanza *el);
/* The stanza p[0..len) was sent: keep a copy until it is acknowledged.
 * Returns 1 if an <r/> is due now, 0 if not, or XE_LIMIT with
 * CLIENT_SM_MAX_UNACKED waiting (nothing kept). */
int client_sm_keep(struct client_sm *sm, const char *p, size_t len);
/* <a h/> from the server: the stanzas up to h leave the queue. Returns
 * the number acknowledged by it, or XE_PROTO for a missing or malformed
 * h or one acknowledging more than was sent (nothing changes). */
int client_sm_ack(struct client_sm *sm, const struct stanza *a);
/* <resumed h/>: as client_sm_ack, and counting goes on. Returns the
 * number of kept stanzas the server has not handled (to be sent again,
 * client_sm_item 0..n-1) or XE_PROTO. */
int client_sm_on_resumed(struct client_sm *sm, const struct stanza *el);
/* Stanzas sent and not yet acknowledged, and the i-th oldest of them. */
size_t client_sm_unacked(const struct client_sm *sm);
const char *client_sm_item(const struct client_sm *sm, size_t i, size_t *len);

/* True if the features after SASL offer <sm xmlns='urn:xmpp:sm:3'/>. */
bool client_sm_offered(const struct client_conn *c);
/* After binding: if offered, send <enable/> (with resume='true' if
 * resume) and wait for the answer. Returns 0 whether the server enabled
 * it or answered <failed/> (client_sm_state says which), XE_PROTO if no
 * answer came in time, or an I/O error, with err set. From then on
 * stanzas from the server are counted, every <r/> is answered, every
 * <a/> is checked (a bad one fails the connection with XE_PROTO) and
 * still returned by client_next, and client_send keeps each stanza sent
 * until acknowledged, asking with <r/> every CLIENT_SM_REQUEST_EVERY. */
int client_sm_enable(struct client_conn *c, bool resume, struct buf *err);
/* The counters of c (read only). */
const struct client_sm *client_sm_state(const struct client_conn *c);
/* Ask for an acknowledgement (<r/>). Returns 0, XE_STATE without stream
 * management, or an I/O error. */
int client_sm_request(struct client_conn *c);
/* Before finishing: ask with <r/> and wait at most timeout_ms until the
 * server acknowledged every stanza sent. Other elements stay queued.
 * Returns 0, XE_PROTO if some remain unacknowledged, or an error. */
int client_sm_sync(struct client_conn *c, int timeout_ms);
/* For tests: close the TCP connection at once, without </stream:stream>
 * or TLS close_notify, as a network failure would. */
void client_drop(struct client_conn *c);
/* True if the connection broke (end of file, I/O error, client_drop)
 * without the server closing the stream, and the server granted
 * resumption. */
bool client_sm_resumable(const struct client_conn *c);

/* What client_sm_resume did. */
struct client_sm_outcome {
    bool resumed;  /* <resumed/>: nothing lost */
    uint32_t h;    /* the server's count of our stanzas */
    size_t resent; /* stanzas sent again (the server had not handled) */
    size_t lost;   /* <failed/>: stanzas sent that may never have
                      arrived (the session was bound afresh) */
};

/* After the connection broke: connect again to the same address (same
 * TLS kind), log in again with the same mechanism and credentials, and
 * send <resume previd h/> instead of binding. On <resumed h/> the kept
 * stanzas after h go out again, in order, and the session goes on (the
 * identities joined by client_join are gone). On <failed/> the unacked
 * stanzas are given up (counted in out->lost), the resource is bound
 * afresh and stream management enabled again. Returns 0, or an error of
 * the steps above with err set. */
int client_sm_resume(struct client_conn *c,
                     struct client_sm_outcome *out,
                     struct buf *err);

#endif
