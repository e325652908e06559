/* SPDX-License-Identifier: MIT */
/* client_int.h -- client internals: the connection object and its I/O. */
#ifndef XMUX_CLIENT_INT_H
#define XMUX_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "client/client.h"
#include "io/resolve.h"
#include "stanza/stanza.h"
#include "tls/tls.h"
#include "xml/xml.h"

/* Top-level elements received and not yet taken. */
#define CLIENT_QUEUE_MAX 256
/* Identities one stream may act for (primary plus joined accounts). */
#define CLIENT_IDS_MAX (CLIENT_SECRETS_MAX + 1)
/* Hosts kept from a post-auth F2 list. */
#define CLIENT_HOSTS_MAX 16
/* XEP-0440: the channel-binding types a server supports. */
#define CLIENT_NS_SASL_CB "urn:xmpp:sasl-cb:0"
/* The ALPN protocol of Direct TLS for clients (XEP-0368). */
#define CLIENT_ALPN "xmpp-client"

/* Which stream management answer is expected. */
enum client_sm_wait {
    CLIENT_SM_IDLE,
    CLIENT_SM_WAIT_ENABLE, /* <enabled/> or <failed/> */
    CLIENT_SM_WAIT_RESUME, /* <resumed/> or <failed/> */
};

struct client_conn {
    int fd;
    const struct client_cfg *cfg;
    char *domain;
    struct resolve_target target;     /* where the connection goes */
    char peer[RESOLVE_ADDR_MAX + 16]; /* "addr:port" connected to */
    bool direct;                      /* Direct TLS, not STARTTLS */
    const char *mech; /* SASL mechanism that succeeded (static) */
    char *account;    /* bare JID authenticated as, once SASL succeeded */
    struct tls_ctx *tls_ctx;
    struct tls_conn *tls;
    struct xml_reader *reader;
    struct stanza_builder builder;
    struct buf in; /* plaintext received and not yet parsed */
    struct stanza *queue[CLIENT_QUEUE_MAX];
    size_t nqueue;
    struct stanza *features; /* the last <stream:features/> */
    bool header_seen;
    bool closed;  /* </stream:stream> or EOF from the server */
    bool ended;   /* </stream:stream> from the server */
    bool lost;    /* the transport broke (EOF, I/O error, client_drop) */
    bool closing; /* our </stream:stream> is out: nothing more to say */
    int failed;   /* sticky parse or I/O error */
    char *ids[CLIENT_IDS_MAX];
    size_t nids;
    char *hosts[CLIENT_HOSTS_MAX];
    size_t nhosts;
    unsigned next_id;
    /* How to log in again for resumption: a password (kept until the
     * connection is freed, then cleansed) or EXTERNAL. */
    char *auth_user;
    char *auth_password;
    char *auth_authzid;
    bool auth_external;
    bool auth_mux;
    struct client_sm sm;
    enum client_sm_wait sm_wait;
};

/* Milliseconds on a monotonic clock. */
long long client__now_ms(void);
/* A top-level element in urn:xmpp:sm:3 arrived: answer <r/>, check and
 * apply <a/>, take the answers to <enable/> and <resume/>. Returns 1 to
 * queue the element for client_next, 0 if it was consumed, or XE_PROTO
 * (the server broke the protocol; a stream error was sent). */
int client__sm_element(struct client_conn *c, const struct stanza *el);
/* Send <a h/> with the count of stanzas handled from the server (also
 * unasked, before closing). Returns 0, XE_STATE without stream
 * management, or an I/O error. */
int client__sm_send_a(struct client_conn *c);
/* Send the serialised stanza st = p[0..len); with stream management, keep
 * it until acknowledged (even if the write fails) and ask for an
 * acknowledgement when one is due. */
int client__send_stanza(struct client_conn *c,
                        const struct stanza *st,
                        const char *p,
                        size_t len);
/* Give up the transport (socket, TLS, parser input, features) and open a
 * new one to the same target, up to the features of the encrypted
 * stream. Queued elements and the session's state stay. */
int client__reopen(struct client_conn *c, struct buf *err);
/* Log in again as the last client_auth_* did, with the same mechanism. */
int client__relogin(struct client_conn *c, struct buf *err);

/* Where to connect for domain (RFC 6120 §3.2.1, XEP-0368): the c2s SRV
 * records in RFC 2782 order, or the domain's A/AAAA on port 5222, asked
 * of cfg->resolver (or the system's servers) from a private libuv loop.
 * Stores at most cap targets in v and their number in *n. Returns 0 or a
 * resolve_c2s status (XE_NOTFOUND, -ETIMEDOUT, ...) with err set. */
int client__resolve(const struct client_cfg *cfg,
                    const char *domain,
                    struct resolve_target *v,
                    size_t cap,
                    size_t *n,
                    struct buf *err);
/* Write plaintext (through TLS once it is up). Returns 0 or an error. */
int client__write(struct client_conn *c, const char *p, size_t len);
/* Send a stream header to c->domain and reset the parser for the reply. */
int client__open_stream(struct client_conn *c);
/* Wait for the next element and require it to be {ns}name. Returns 0 with
 * one reference in *out, or XE_PROTO / an I/O error with err set. */
int client__expect(struct client_conn *c,
                   const char *ns,
                   const char *name,
                   struct stanza **out,
                   struct buf *err);
/* Take out the first queued element for which match returns true, waiting
 * at most timeout_ms; *out is NULL on timeout. */
int client__wait_for(struct client_conn *c,
                     bool (*match)(const struct stanza *, const void *),
                     const void *arg,
                     int timeout_ms,
                     struct stanza **out);
/* Add an identity (a full JID) to c. */
void client__add_identity(struct client_conn *c, const char *jid);
/* A new stanza id, unique on c. */
void client__id(struct client_conn *c, char *out, size_t len);

#endif
