/* SPDX-License-Identifier: MIT */
/* tls_int.h -- TLS module internals: context, session and test hooks. */
#ifndef XMUX_TLS_INT_H
#define XMUX_TLS_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "base/buf.h"
#include "tls/tls.h"

/* Ciphertext fed but not yet taken in by OpenSSL. The I/O layer feeds one
 * read's worth and then reads until nothing is left, so this only trips
 * when the caller stops reading. */
#define TLS_IN_MAX ((size_t)256 * 1024)
/* A write BIO whose buffer grew past this (one exceptional burst) is
 * replaced as soon as it is empty; smaller ones stay until the session
 * is quiet (tls_conn_hibernate). */
#define TLS_BIO_BURST ((size_t)256 * 1024)
/* Upper bound on the bytes a TLS record adds to its plaintext (header,
 * explicit nonce, tag, content type), used to refuse a write up front. */
#define TLS_REC_OVERHEAD ((size_t)64)
/* Plaintext per TLS record. */
#define TLS_REC_MAX ((size_t)16384)

/* One served domain: its own SSL_CTX holding its certificate chain. */
struct tls_host {
    char *domain; /* lower case, no trailing dot */
    SSL_CTX *ssl_ctx;
};

struct tls_ctx {
    /* Every server session starts on base, which has no certificate; the
     * servername callback then moves it to a host. base stays the
     * session's "session context", so all hosts share its ticket keys. */
    SSL_CTX *base;
    X509_STORE *store; /* trust anchors, shared by every SSL_CTX */
    struct tls_host *hosts;
    size_t nhosts;
};

struct tls_conn {
    struct tls_ctx *ctx;
    SSL *ssl;
    BIO *rbio; /* ciphertext in; owned by ssl; NULL while hibernating */
    BIO *wbio; /* ciphertext out; owned by ssl; NULL while hibernating */
    enum tls_role role;
    bool ready;  /* handshake complete */
    bool failed; /* fatal TLS error: every call returns XE_TLS */
    bool closed; /* close_notify received */
    struct tls_peer peer;
    bool verify_seen; /* the verify callback ran in this handshake */
    char *default_host;
    char *alpn;
    const char *host; /* served host (server) or SNI sent (client) */
    char *error;      /* first failure, for logs */
    size_t out_max;
    struct buf out;     /* ciphertext for the network */
    struct buf pending; /* plaintext written before the handshake ended */
};

/* Extra settings for tls__conn_new_opt; zero means "default". */
struct tls_conn_opt {
    int max_version;      /* e.g. TLS1_2_VERSION */
    SSL_SESSION *session; /* client: offer this session for resumption */
};

/* tls_conn_new with extra settings (tests use it to force TLS 1.2 and to
 * resume a session). opt may be NULL. */
struct tls_conn *tls__conn_new_opt(struct tls_ctx *ctx,
                                   enum tls_role role,
                                   const char *default_host,
                                   const char *alpn,
                                   size_t out_max,
                                   const struct tls_conn_opt *opt);
/* The OpenSSL session under t, for tests. */
SSL *tls__conn_ssl(const struct tls_conn *t);

/* The host serving name (case-insensitive, one trailing dot ignored), or
 * NULL. */
const struct tls_host *tls__host_find(const struct tls_ctx *ctx,
                                      const char *name);
/* Format the oldest queued OpenSSL error as "library: reason" into dst and
 * empty the thread's error queue. Writes "unknown error" if none. */
void tls__ossl_reason(char *dst, size_t n);
/* SSL verify callback (D-10): records the first error in the session's
 * tls_peer and always returns 1. */
int tls__verify_cb(int ok, X509_STORE_CTX *sctx);
/* Fill t->peer once the handshake has completed. */
void tls__peer_record(struct tls_conn *t);
/* Identities from the subjectAltName of cert (see tls.h). */
int tls__cert_identities(X509 *cert, size_t cap, struct tls_identities *ids);

#endif
