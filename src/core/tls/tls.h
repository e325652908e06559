/* SPDX-License-Identifier: MIT */
/* tls.h -- OpenSSL on memory BIOs: ciphertext <-> plaintext, never an fd. */
#ifndef XMUX_TLS_H
#define XMUX_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Channel-binding data is at most this long (tls-exporter: 32 bytes,
 * tls-unique: the Finished message, 12 bytes for TLS 1.2). */
#define TLS_CB_MAX 64

enum tls_role { TLS_SERVER, TLS_CLIENT };

/* Certificate identities of RFC 6125 / XEP-0178, from subjectAltName only
 * (never the subject CN). Strings are NUL-terminated, owned by the list. */
enum tls_id_type {
    TLS_ID_DNS,     /* dNSName, may be a "*.example" wildcard */
    TLS_ID_SRV,     /* SRVName "_xmpp-server.example" */
    TLS_ID_XMPPADDR /* id-on-xmppAddr (1.3.6.1.5.5.7.8.5), a JID */
};
struct tls_identity {
    enum tls_id_type type;
    char *value;
};
struct tls_identities {
    struct tls_identity *v;
    size_t n;
    bool truncated; /* more than the cap given to the extractor */
};

/* The peer certificate as the handshake saw it (D-10: an unverifiable
 * certificate never fails the handshake; it is recorded here). */
struct tls_peer {
    bool present;         /* the peer sent a certificate */
    bool verified;        /* chains to a trust anchor, in its validity */
    long verify_error;    /* X509_V_* when !verified */
    bool client_auth_eku; /* carries clientAuth (or no EKU at all) */
};

struct tls_ctx;  /* per server: certificates by host, CA store, options */
struct tls_conn; /* one TLS session over memory BIOs */

/* A server-wide TLS context: TLS 1.2+, server cipher preference,
 * SSL_MODE_RELEASE_BUFFERS, session tickets, ECDHE groups, peer
 * certificates requested but never required. ca_file may be NULL (no peer
 * certificate verifies then). On error returns NULL and writes one line
 * to err. */
struct tls_ctx *tls_ctx_new(const char *ca_file, struct buf *err);
/* Free the context; accepts NULL. Conns made from it must be gone. */
void tls_ctx_free(struct tls_ctx *ctx);
/* Serve domain with the PEM certificate chain and key at the given paths.
 * The first host added is the default for unknown SNI. Returns 0 or
 * XE_TLS with one line in err naming the file. */
int tls_ctx_add_host(struct tls_ctx *ctx,
                     const char *domain,
                     const char *cert_file,
                     const char *key_file,
                     struct buf *err);
/* Create a self-signed ECDSA P-256 certificate for domain (dNSName SAN,
 * 10 years) and its key (mode 0600) at the given paths, unless both
 * already exist. Writes the SHA-256 fingerprint ("AB:CD:...") to fp
 * (>= 96 bytes) if a new one was made; returns 1 if created, 0 if it
 * existed, or XE_TLS / -errno with err set. */
int tls_selfsigned_ensure(const char *domain,
                          const char *cert_file,
                          const char *key_file,
                          char *fp,
                          size_t fplen,
                          struct buf *err);

/* A new TLS session. Server: default_host picks the certificate when the
 * client sends no (served) SNI; alpn is NULL (STARTTLS) or "xmpp-client" /
 * "xmpp-server" for Direct TLS (XEP-0368), which the client must offer if
 * it offers ALPN at all. Client: default_host is the SNI and alpn is
 * offered; the ClientHello is queued at once. out_max bounds the
 * ciphertext queued for the network. NULL if OpenSSL fails. */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx,
                              enum tls_role role,
                              const char *default_host,
                              const char *alpn,
                              size_t out_max);
/* The connection has been quiet: give back every buffer that holds
 * nothing (the output queue, record buffers) and, when nothing is in
 * flight, the memory BIOs themselves; the next call that moves bytes
 * makes new ones. Accepts NULL. */
void tls_conn_hibernate(struct tls_conn *t);
/* Free the session; accepts NULL. */
void tls_conn_free(struct tls_conn *t);
/* Client: present the certificate of served host local_host (the stream
 * 'from', for s2s SASL EXTERNAL) instead of default_host's. Call before
 * feeding the server's first flight. Returns 0, or XE_NOTFOUND (not a
 * client, or the host is not served). */
int tls_conn_set_client_cert(struct tls_conn *t, const char *local_host);
/* Ciphertext from the network. Drives the handshake; the plaintext it
 * yields is read with tls_conn_read. Returns 0, or XE_TLS (handshake or
 * record failure: the connection is over; a TLS alert may be queued in
 * the output) or XE_LIMIT (output full, or more than 256 KiB of
 * ciphertext fed and not yet read). */
int tls_conn_feed(struct tls_conn *t, const char *data, size_t len);
/* Decrypt into p (at most cap bytes); *n = 0 when nothing is buffered.
 * Call until *n is 0: OpenSSL may hold plaintext that wakes nothing.
 * Returns 0, XE_CLOSED after the peer's close_notify, or XE_TLS. */
int tls_conn_read(struct tls_conn *t, char *p, size_t cap, size_t *n);
/* Encrypt plaintext into the output queue. Before the handshake is done
 * the bytes are held and sent after it. Returns 0, XE_LIMIT, or XE_TLS. */
int tls_conn_write(struct tls_conn *t, const char *p, size_t len);
/* Queue a close_notify alert. */
void tls_conn_close(struct tls_conn *t);
/* Ciphertext waiting for the network (the I/O layer drains it). */
struct buf *tls_conn_out(struct tls_conn *t);
/* True once the handshake has completed. */
bool tls_conn_ready(const struct tls_conn *t);
/* The served host the certificate was chosen for (SNI or default). */
const char *tls_conn_host(const struct tls_conn *t);
/* The SNI the client sent, or NULL. */
const char *tls_conn_sni(const struct tls_conn *t);
/* Negotiated ALPN protocol, or NULL. */
const char *tls_conn_alpn(const struct tls_conn *t);
/* "TLSv1.3" / "TLSv1.2" and the cipher name, for logs. */
const char *tls_conn_version(const struct tls_conn *t);
const char *tls_conn_cipher(const struct tls_conn *t);
/* True for TLS 1.3. */
bool tls_conn_is_13(const struct tls_conn *t);
/* Channel binding: "tls-exporter" (RFC 9266, TLS 1.3 only) or
 * "tls-unique" (RFC 5929, TLS 1.2 only). Writes up to TLS_CB_MAX bytes;
 * XE_NOTFOUND if the type does not apply to this session. */
int tls_conn_channel_binding(const struct tls_conn *t,
                             const char *type,
                             unsigned char *out,
                             size_t *len);
/* The channel binding this session has: tls-exporter on TLS 1.3,
 * tls-unique on TLS 1.2 (as tls_conn_channel_binding). Stores its name (a
 * static string) in *type, or NULL on error. Returns 0, XE_NOTFOUND or
 * XE_TLS. */
int tls_conn_channel_binding_best(const struct tls_conn *t,
                                  const char **type,
                                  unsigned char *out,
                                  size_t *len);
/* What the handshake learnt of the peer's certificate. */
const struct tls_peer *tls_conn_peer(const struct tls_conn *t);
/* Text for a tls_peer verify_error ("certificate has expired"), for logs;
 * static storage. */
const char *tls_verify_error_str(long verify_error);
/* Why the session failed ("SSL routines: no application protocol"), for
 * logs; "" if it has not. Owned by t. */
const char *tls_conn_error(const struct tls_conn *t);
/* Identities of the peer certificate (at most cap; truncated is set if
 * there were more). Returns 0 or XE_NOTFOUND (no certificate). Free with
 * tls_identities_fini. */
int tls_conn_peer_identities(const struct tls_conn *t,
                             size_t cap,
                             struct tls_identities *ids);
/* True if the peer presented a certificate whose notAfter has passed
 * (MUX.md §11: a stream relying on it must end). */
bool tls_conn_peer_expired(const struct tls_conn *t);
/* Identities of the certificate this session presents (ours: the one
 * chosen by SNI, or set with tls_conn_set_client_cert), like
 * tls_conn_peer_identities. */
int tls_conn_local_identities(const struct tls_conn *t,
                              size_t cap,
                              struct tls_identities *ids);
/* Free an identity list. */
void tls_identities_fini(struct tls_identities *ids);

/* --- service identity matching (RFC 9525, XEP-0178, MUX.md §5.2) --------- */

/* Which SRV-ID service counts: "_xmpp-server" for s2s, "_xmpp-client" for
 * c2s. DNS-IDs and domain XmppAddrs count for both. */
enum tls_match_service { TLS_MATCH_S2S, TLS_MATCH_C2S };

/* True if the certificate identities cover domain, which must be
 * normalised per MUX.md §3.3 (jid_domain_prep, >= 2 labels, no IP
 * literal). Covered means: a DNS-ID equal to domain; a wildcard DNS-ID
 * whose whole left-most label is "*", with >= 2 labels after it, that
 * matches exactly one extra left-most label; the SRV-ID of svc for domain
 * (never a wildcard); or an XmppAddr that is the bare domain (one with a
 * localpart or resourcepart covers nothing). The subject CN is never
 * consulted. ids->truncated is not looked at: callers that apply the
 * identity cap of MUX.md §3.4 check it themselves (a truncated list then
 * counts for the stream 'to' only). NULL ids or domain cover nothing. */
bool tls_identities_cover(const struct tls_identities *ids,
                          const char *domain,
                          enum tls_match_service svc);
/* True if the normalised wildcard pattern "*.rest" (as made by
 * tls_identities_wildcards) matches the normalised domain: exactly one
 * label in front of rest. */
bool tls_wildcard_match(const char *pattern, const char *domain);
/* The concrete domains the identities name (the set E of MUX.md §5.2):
 * DNS-IDs without a wildcard, the domains of SRV-IDs for svc, and domain
 * XmppAddrs, each normalised per §3.3 (identities that fail are skipped)
 * and without duplicates, in certificate order. Stores a new array of new
 * strings in *out (NULL when none) and returns their number; free with
 * tls_domains_free. ids->truncated is not looked at (see above). */
size_t tls_identities_domains(const struct tls_identities *ids,
                              enum tls_match_service svc,
                              char ***out);
/* The wildcard patterns the DNS-IDs carry (the set W of §5.2), as
 * normalised "*.rest" strings, deduplicated, like tls_identities_domains. */
size_t tls_identities_wildcards(const struct tls_identities *ids, char ***out);
/* Free an array made by tls_identities_domains or tls_identities_wildcards;
 * accepts NULL. */
void tls_domains_free(char **v, size_t n);

#endif
