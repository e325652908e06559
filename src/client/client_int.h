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

struct client_conn {
    int fd;
    const struct client_cfg *cfg;
    char *domain;
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
    bool closed; /* </stream:stream> or EOF from the server */
    int failed;  /* sticky parse or I/O error */
    char *ids[CLIENT_IDS_MAX];
    size_t nids;
    char *hosts[CLIENT_HOSTS_MAX];
    size_t nhosts;
    unsigned next_id;
};

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
