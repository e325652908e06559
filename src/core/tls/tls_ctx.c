/* SPDX-License-Identifier: MIT */
/* tls_ctx.c -- server-wide TLS settings: one SSL_CTX per host, SNI, ALPN. */
#include "tls/tls_int.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "base/alloc.h"
#include "base/err.h"

/* ECDHE groups, in server preference order. */
#define TLS_GROUPS "X25519:P-256:P-384"
/* TLS 1.2: forward-secret AEAD suites only (Mozilla "intermediate"
 * without DHE, which costs CPU and needs parameters). */
#define TLS_CIPHERS_12                                           \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
/* TLS 1.3: AES-128 first, it is the cheapest with AES-NI. */
#define TLS_SUITES_13                                \
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
    "TLS_CHACHA20_POLY1305_SHA256"

/* Session-ID context. It must be set when peer certificates are requested,
 * or OpenSSL refuses to resume sessions, and it must be the same in every
 * SSL_CTX, because SSL_set_SSL_CTX copies it to the session. */
static const unsigned char tls_sid_ctx[] = "xmux";

void
tls__ossl_reason(char *dst, size_t n)
{
    unsigned long e = ERR_get_error();
    if (e == 0) {
        snprintf(dst, n, "unknown error");
    } else if (ERR_SYSTEM_ERROR(e)) {
        /* OpenSSL 3 keeps errno in the reason of system errors. */
        const char *desc = strerrordesc_np(ERR_GET_REASON(e));
        snprintf(dst, n, "system: %s", desc ? desc : "unknown error");
    } else {
        const char *lib = ERR_lib_error_string(e);
        const char *reason = ERR_reason_error_string(e);
        if (reason != NULL)
            snprintf(dst, n, "%s: %s", lib ? lib : "OpenSSL", reason);
        else
            ERR_error_string_n(e, dst, n);
    }
    ERR_clear_error();
}

static char
tls_lower(char c)
{
    return (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

/* Does name (from the network) designate domain (already lower case)?
 * ASCII case-insensitive; one trailing dot on name is ignored. */
static bool
tls_name_eq(const char *domain, const char *name)
{
    size_t n = strlen(name);
    if (n > 0 && name[n - 1] == '.')
        n--;
    if (strlen(domain) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (domain[i] != tls_lower(name[i]))
            return false;
    return true;
}

/* A linear scan: a server has a handful of hosts, and this runs once per
 * handshake. */
const struct tls_host *
tls__host_find(const struct tls_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->nhosts; i++)
        if (tls_name_eq(ctx->hosts[i].domain, name))
            return &ctx->hosts[i];
    return NULL;
}

/* Servername callback. OpenSSL calls it for every ClientHello, with or
 * without SNI, so it also places sessions whose client sent none. The
 * session keeps its initial (base) context as session context; only the
 * certificate and the SSL_CTX-level callbacks change. */
static int
tls_sni_cb(SSL *ssl, int *alert, void *arg)
{
    (void)arg;
    struct tls_conn *t = SSL_get_app_data(ssl);
    if (t == NULL || t->role != TLS_SERVER)
        return SSL_TLSEXT_ERR_NOACK;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    const struct tls_host *h = name ? tls__host_find(t->ctx, name) : NULL;
    bool served = h != NULL;
    if (h == NULL && t->default_host != NULL)
        h = tls__host_find(t->ctx, t->default_host);
    if (h == NULL && t->ctx->nhosts > 0)
        h = &t->ctx->hosts[0];
    if (h == NULL || SSL_set_SSL_CTX(ssl, h->ssl_ctx) == NULL) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    t->host = h->domain;
    /* An unknown name gets the default certificate rather than an alert:
     * the stream layer answers with <host-unknown/>, which says more. */
    return served ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_NOACK;
}

/* ALPN for Direct TLS (XEP-0368): a client that offers ALPN must offer our
 * protocol; one that offers none is let through (OpenSSL does not call
 * this callback then). */
static int
tls_alpn_cb(SSL *ssl,
            const unsigned char **out,
            unsigned char *outlen,
            const unsigned char *in,
            unsigned int inlen,
            void *arg)
{
    (void)arg;
    const struct tls_conn *t = SSL_get_app_data(ssl);
    if (t == NULL || t->alpn == NULL)
        return SSL_TLSEXT_ERR_NOACK;
    size_t want = strlen(t->alpn);
    unsigned int i = 0;
    while (i < inlen) {
        unsigned int n = in[i++];
        if (n > inlen - i)
            break;
        if (n == want && memcmp(in + i, t->alpn, n) == 0) {
            *out = in + i;
            *outlen = (unsigned char)n;
            return SSL_TLSEXT_ERR_OK;
        }
        i += n;
    }
    /* OpenSSL turns this into a no_application_protocol alert. */
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* Refuse to prompt for a key passphrase: the default callback would read
 * the terminal and block the server. */
static int
tls_no_passwd_cb(char *buf, int size, int rwflag, void *arg)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)arg;
    return 0;
}

/* An SSL_CTX with the settings every session shares. SSL_set_SSL_CTX
 * changes only the certificate, so per-session options come from the
 * context the session was created on; they are set on every context all
 * the same, so that no behaviour depends on which one that was. */
static SSL_CTX *
tls_ssl_ctx_new(const struct tls_ctx *ctx)
{
    SSL_CTX *c = SSL_CTX_new(TLS_method());
    if (c == NULL)
        return NULL;
    if (!SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(c, TLS_CIPHERS_12) ||
        !SSL_CTX_set_ciphersuites(c, TLS_SUITES_13) ||
        !SSL_CTX_set1_groups_list(c, TLS_GROUPS) ||
        !SSL_CTX_set_session_id_context(c, tls_sid_ctx,
                                        sizeof tls_sid_ctx - 1)) {
        SSL_CTX_free(c);
        return NULL;
    }
    SSL_CTX_set_options(
        c, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
               SSL_OP_PRIORITIZE_CHACHA | SSL_OP_NO_COMPRESSION);
    SSL_CTX_clear_options(c, SSL_OP_NO_TICKET);
    /* Read and write buffers (about 34 KiB) go back to the heap whenever
     * they are empty, which is nearly always for an idle stream. */
    SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    /* Resumption uses stateless tickets only: a server-side cache would
     * keep every session (and its peer certificate) in memory. */
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(c, 1);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, tls__verify_cb);
    SSL_CTX_set1_cert_store(c, ctx->store);
    SSL_CTX_set_default_passwd_cb(c, tls_no_passwd_cb);
    SSL_CTX_set_tlsext_servername_callback(c, tls_sni_cb);
    SSL_CTX_set_alpn_select_cb(c, tls_alpn_cb, NULL);
    return c;
}

struct tls_ctx *
tls_ctx_new(const char *ca_file, struct buf *err)
{
    char why[256];
    struct tls_ctx *ctx = x_calloc(1, sizeof *ctx);
    ERR_clear_error();
    ctx->store = X509_STORE_new();
    if (ctx->store == NULL)
        goto fail;
    if (ca_file != NULL && X509_STORE_load_file(ctx->store, ca_file) != 1) {
        tls__ossl_reason(why, sizeof why);
        (void)buf_printf(err, "tls: ca_file=%s: %s", ca_file, why);
        tls_ctx_free(ctx);
        return NULL;
    }
    ctx->base = tls_ssl_ctx_new(ctx);
    if (ctx->base == NULL)
        goto fail;
    return ctx;
fail:
    tls__ossl_reason(why, sizeof why);
    (void)buf_printf(err, "tls: cannot create context: %s", why);
    tls_ctx_free(ctx);
    return NULL;
}

void
tls_ctx_free(struct tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    for (size_t i = 0; i < ctx->nhosts; i++) {
        SSL_CTX_free(ctx->hosts[i].ssl_ctx);
        x_free(ctx->hosts[i].domain);
    }
    x_free(ctx->hosts);
    SSL_CTX_free(ctx->base);
    X509_STORE_free(ctx->store);
    x_free(ctx);
}

/* Lower-case copy of domain without a trailing dot; NULL if empty. */
static char *
tls_domain_dup(const char *domain)
{
    size_t n = strlen(domain);
    if (n > 0 && domain[n - 1] == '.')
        n--;
    if (n == 0)
        return NULL;
    char *d = x_strndup(domain, n);
    for (size_t i = 0; i < n; i++)
        d[i] = tls_lower(d[i]);
    return d;
}

/* Load the chain and key into c; on failure writes one line naming the
 * file to err. */
static int
tls_load_pair(SSL_CTX *c,
              const char *domain,
              const char *cert_file,
              const char *key_file,
              struct buf *err)
{
    char why[256];
    const char *what = "cert_file";
    const char *path = cert_file;
    if (SSL_CTX_use_certificate_chain_file(c, cert_file) != 1)
        goto fail;
    what = "key_file";
    path = key_file;
    if (SSL_CTX_use_PrivateKey_file(c, key_file, SSL_FILETYPE_PEM) != 1)
        goto fail;
    if (SSL_CTX_check_private_key(c) != 1) {
        ERR_clear_error();
        (void)buf_printf(err,
                         "tls: host=%s key_file=%s does not match "
                         "cert_file=%s",
                         domain, key_file, cert_file);
        return XE_TLS;
    }
    return 0;
fail:
    tls__ossl_reason(why, sizeof why);
    (void)buf_printf(err, "tls: host=%s %s=%s: %s", domain, what, path, why);
    return XE_TLS;
}

int
tls_ctx_add_host(struct tls_ctx *ctx,
                 const char *domain,
                 const char *cert_file,
                 const char *key_file,
                 struct buf *err)
{
    char *dom = tls_domain_dup(domain);
    if (dom == NULL) {
        (void)buf_printf(err, "tls: empty host name");
        return XE_TLS;
    }
    if (tls__host_find(ctx, dom) != NULL) {
        (void)buf_printf(err, "tls: host=%s has a certificate already", dom);
        x_free(dom);
        return XE_TLS;
    }
    ERR_clear_error();
    SSL_CTX *c = tls_ssl_ctx_new(ctx);
    if (c == NULL) {
        char why[256];
        tls__ossl_reason(why, sizeof why);
        (void)buf_printf(err, "tls: host=%s: %s", dom, why);
        x_free(dom);
        return XE_TLS;
    }
    int rc = tls_load_pair(c, dom, cert_file, key_file, err);
    if (rc != 0) {
        SSL_CTX_free(c);
        x_free(dom);
        return rc;
    }
    ctx->hosts = x_realloc(ctx->hosts, (ctx->nhosts + 1) * sizeof *ctx->hosts);
    ctx->hosts[ctx->nhosts].domain = dom;
    ctx->hosts[ctx->nhosts].ssl_ctx = c;
    ctx->nhosts++;
    return 0;
}
