/* SPDX-License-Identifier: MIT */
/* tls_conn.c -- one TLS session pumped through memory BIOs. */
#include "tls/tls_int.h"

#include <stdint.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "base/alloc.h"
#include "base/err.h"

/* Remember why the session failed (the first reason only), empty the
 * thread's error queue so that it cannot be blamed on another session, and
 * make every later call fail. */
static int
tls_conn_fail(struct tls_conn *t, const char *why)
{
    char reason[256];
    tls__ossl_reason(reason, sizeof reason);
    if (t->error == NULL)
        t->error = x_strdup(why ? why : reason);
    t->failed = true;
    return XE_TLS;
}

/* Classify the result r of an SSL call: 0 when it finished or waits for
 * more ciphertext, XE_CLOSED after close_notify, XE_TLS otherwise. */
static int
tls_conn_result(struct tls_conn *t, int r)
{
    switch (SSL_get_error(t->ssl, r)) {
    case SSL_ERROR_NONE:
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        /* Memory BIOs never refuse a write, so WANT_WRITE does not occur;
         * it would mean "call again", like WANT_READ. */
        ERR_clear_error();
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        t->closed = true;
        return XE_CLOSED;
    case SSL_ERROR_SYSCALL:
        /* A memory BIO has no system calls: this is an unexpected end of
         * input or an internal fault. */
        return tls_conn_fail(t, ERR_peek_error() ? NULL : "unexpected EOF");
    default:
        return tls_conn_fail(t, NULL);
    }
}

/* Give a hibernating session its memory BIOs back (tls_conn_hibernate
 * took them away) before anything may read or write ciphertext. */
static int
tls_conn_wake(struct tls_conn *t)
{
    if (t->rbio != NULL)
        return 0;
    BIO *r = BIO_new(BIO_s_mem());
    BIO *w = BIO_new(BIO_s_mem());
    if (r == NULL || w == NULL) {
        BIO_free(r);
        BIO_free(w);
        return tls_conn_fail(t, "out of memory for the memory BIOs");
    }
    SSL_set0_rbio(t->ssl, r);
    SSL_set0_wbio(t->ssl, w);
    t->rbio = r;
    t->wbio = w;
    return 0;
}

/* Replace a drained memory BIO whose buffer grew past keep: BIO_s_mem
 * never shrinks, and one large burst would otherwise stay with the
 * session for good. */
static void
bio_trim(struct tls_conn *t, BIO **bio, bool wbio, size_t keep)
{
    BUF_MEM *bm = NULL;
    if (BIO_ctrl_pending(*bio) != 0 || BIO_get_mem_ptr(*bio, &bm) <= 0 ||
        bm == NULL || bm->max <= keep)
        return;
    BIO *b = BIO_new(BIO_s_mem());
    if (b == NULL)
        return;
    if (wbio)
        SSL_set0_wbio(t->ssl, b);
    else
        SSL_set0_rbio(t->ssl, b);
    *bio = b;
}

/* Give back what a quiet session holds beyond keep bytes per buffer. Only
 * after the handshake: until then OpenSSL may wrap the write BIO in a
 * buffering one. */
static void
tls_conn_trim(struct tls_conn *t, size_t keep)
{
    if (!t->ready || t->wbio == NULL)
        return;
    bio_trim(t, &t->wbio, true, keep);
    bio_trim(t, &t->rbio, false, keep);
    /* SSL_MODE_RELEASE_BUFFERS frees the record buffers after application
     * data only; a session whose last record was a handshake message (a
     * client after NewSessionTicket) would keep ~17 KiB while idle. */
    if (!SSL_has_pending(t->ssl))
        (void)SSL_free_buffers(t->ssl);
    /* The output queue is empty once the I/O layer has taken everything,
     * so nobody can hold a pointer into it. */
    if (buf_len(&t->out) == 0 && t->out.cap > keep)
        buf_fini(&t->out);
    ERR_clear_error();
}

/* Move ciphertext from the write BIO to the output queue. What does not
 * fit stays in the BIO (nothing is lost) and moves at the next call;
 * XE_LIMIT tells the caller the peer is not keeping up. */
static int
tls_conn_flush(struct tls_conn *t)
{
    char chunk[4096];
    size_t pend;
    /* Hibernating: nothing can be pending. */
    if (t->wbio == NULL)
        return 0;
    while ((pend = BIO_ctrl_pending(t->wbio)) > 0) {
        size_t room = t->out_max - buf_len(&t->out);
        if (room == 0)
            return XE_LIMIT;
        size_t k = pend < room ? pend : room;
        if (k > sizeof chunk)
            k = sizeof chunk;
        int r = BIO_read(t->wbio, chunk, (int)k);
        if (r <= 0)
            break;
        /* Cannot fail: k is within the room left. */
        (void)buf_append(&t->out, chunk, (size_t)r);
    }
    /* A busy session keeps its buffers (reallocating them for every
     * burst cost more than the bytes): the idle sweep trims it once it
     * is quiet (tls_conn_hibernate). Only an exceptional burst is given
     * back at once. */
    if (t->ready)
        bio_trim(t, &t->wbio, true, TLS_BIO_BURST);
    return 0;
}

/* Encrypt the plaintext written while the handshake was running. */
static int
tls_conn_send_pending(struct tls_conn *t)
{
    size_t n = buf_len(&t->pending);
    if (n == 0)
        return 0;
    size_t done = 0;
    ERR_clear_error();
    int r = SSL_write_ex(t->ssl, buf_ptr(&t->pending), n, &done);
    if (r != 1) {
        int rc = tls_conn_result(t, r);
        return rc ? rc : tls_conn_fail(t, "write of held plaintext failed");
    }
    buf_fini(&t->pending);
    return 0;
}

/* Advance the handshake with whatever ciphertext the read BIO holds. */
static int
tls_conn_handshake(struct tls_conn *t)
{
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r != 1) {
        int rc = tls_conn_result(t, r);
        if (rc == XE_CLOSED)
            rc = tls_conn_fail(t, "peer closed during the handshake");
        return rc;
    }
    t->ready = true;
    tls__peer_record(t);
    return tls_conn_send_pending(t);
}

/* Server side: the certificate of default_host (or of the first host)
 * until the servername callback has seen the ClientHello. */
static void
tls_conn_setup_server(struct tls_conn *t)
{
    SSL_set_accept_state(t->ssl);
    /* OpenSSL would reject a client certificate that lacks the clientAuth
     * purpose. D-10 wants the chain and validity judged on their own and
     * the purpose reported separately (client_auth_eku), so the stream
     * layer can apply s2s_require_client_eku. */
    (void)SSL_set_purpose(t->ssl, X509_PURPOSE_ANY);
    const struct tls_host *h =
        t->default_host ? tls__host_find(t->ctx, t->default_host) : NULL;
    if (h == NULL && t->ctx->nhosts > 0)
        h = &t->ctx->hosts[0];
    t->host = h ? h->domain : NULL;
}

/* Client side: SNI and ALPN, an optional session to resume, and the
 * ClientHello queued at once. */
static int
tls_conn_setup_client(struct tls_conn *t, const struct tls_conn_opt *opt)
{
    SSL_set_connect_state(t->ssl);
    t->host = t->default_host;
    if (t->default_host != NULL &&
        SSL_set_tlsext_host_name(t->ssl, t->default_host) != 1)
        return XE_TLS;
    if (t->alpn != NULL) {
        unsigned char wire[256];
        size_t n = strlen(t->alpn);
        if (n == 0 || n > 255)
            return XE_TLS;
        wire[0] = (unsigned char)n;
        memcpy(wire + 1, t->alpn, n);
        /* Unlike most of OpenSSL, this returns 0 on success. */
        if (SSL_set_alpn_protos(t->ssl, wire, (unsigned int)n + 1) != 0)
            return XE_TLS;
    }
    if (opt != NULL && opt->session != NULL &&
        SSL_set_session(t->ssl, opt->session) != 1)
        return XE_TLS;
    int rc = tls_conn_handshake(t);
    (void)tls_conn_flush(t);
    return rc;
}

struct tls_conn *
tls__conn_new_opt(struct tls_ctx *ctx,
                  enum tls_role role,
                  const char *default_host,
                  const char *alpn,
                  size_t out_max,
                  const struct tls_conn_opt *opt)
{
    struct tls_conn *t = x_calloc(1, sizeof *t);
    t->ctx = ctx;
    t->role = role;
    t->default_host = default_host ? x_strdup(default_host) : NULL;
    t->alpn = alpn ? x_strdup(alpn) : NULL;
    t->out_max = out_max < SIZE_MAX ? out_max : SIZE_MAX - 1;
    /* buf counts the NUL it keeps after the data against its maximum. */
    buf_init(&t->out, t->out_max + 1);
    buf_init(&t->pending, t->out_max + 1);
    /* A client presents the certificate of default_host if it serves it;
     * tls_conn_set_client_cert picks another. */
    const struct tls_host *h =
        default_host ? tls__host_find(ctx, default_host) : NULL;
    SSL_CTX *initial = role == TLS_CLIENT && h ? h->ssl_ctx : ctx->base;
    ERR_clear_error();
    t->ssl = SSL_new(initial);
    if (t->ssl == NULL)
        goto fail;
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (t->rbio == NULL || t->wbio == NULL) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        goto fail;
    }
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_app_data(t->ssl, t);
    if (opt != NULL && opt->max_version != 0 &&
        SSL_set_max_proto_version(t->ssl, opt->max_version) != 1)
        goto fail;
    if (role == TLS_SERVER)
        tls_conn_setup_server(t);
    else if (tls_conn_setup_client(t, opt) == XE_TLS)
        goto fail;
    return t;
fail:
    ERR_clear_error();
    tls_conn_free(t);
    return NULL;
}

struct tls_conn *
tls_conn_new(struct tls_ctx *ctx,
             enum tls_role role,
             const char *default_host,
             const char *alpn,
             size_t out_max)
{
    return tls__conn_new_opt(ctx, role, default_host, alpn, out_max, NULL);
}

void
tls_conn_free(struct tls_conn *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl); /* frees both BIOs */
    x_free(t->default_host);
    x_free(t->alpn);
    x_free(t->error);
    buf_fini(&t->out);
    buf_fini(&t->pending);
    x_free(t);
}

int
tls_conn_set_client_cert(struct tls_conn *t, const char *local_host)
{
    const struct tls_host *h = tls__host_find(t->ctx, local_host);
    if (t->role != TLS_CLIENT || h == NULL)
        return XE_NOTFOUND;
    ERR_clear_error();
    if (SSL_set_SSL_CTX(t->ssl, h->ssl_ctx) == NULL)
        return tls_conn_fail(t, NULL);
    return 0;
}

int
tls_conn_feed(struct tls_conn *t, const char *data, size_t len)
{
    if (t->failed || tls_conn_wake(t) != 0)
        return XE_TLS;
    if (len > 0) {
        size_t held = BIO_ctrl_pending(t->rbio);
        if (held > TLS_IN_MAX || len > TLS_IN_MAX - held)
            return XE_LIMIT;
        ERR_clear_error();
        if (BIO_write(t->rbio, data, (int)len) != (int)len)
            return tls_conn_fail(t, NULL);
    }
    /* After the handshake the ciphertext waits in the BIO for
     * tls_conn_read, so that plaintext lands in the caller's buffer. */
    int rc = t->ready ? 0 : tls_conn_handshake(t);
    /* Flush even after a failure: a fatal alert tells the peer why. */
    int frc = tls_conn_flush(t);
    return rc ? rc : frc;
}

int
tls_conn_read(struct tls_conn *t, char *p, size_t cap, size_t *n)
{
    *n = 0;
    if (t->failed || tls_conn_wake(t) != 0)
        return XE_TLS;
    if (t->closed)
        return XE_CLOSED;
    if (!t->ready)
        return 0;
    size_t got = 0;
    int rc = 0;
    while (got < cap) {
        size_t k = 0;
        ERR_clear_error();
        int r = SSL_read_ex(t->ssl, p + got, cap - got, &k);
        if (r != 1) {
            rc = tls_conn_result(t, r);
            break;
        }
        got += k;
    }
    *n = got;
    /* Reading can produce output (alerts, key updates); XE_LIMIT is not
     * reported here, the bytes move at the next call. */
    (void)tls_conn_flush(t);
    /* Plaintext that arrived before a close or an error is genuine: hand
     * it over now; the state is sticky and reported by the next call. */
    return got > 0 ? 0 : rc;
}

int
tls_conn_write(struct tls_conn *t, const char *p, size_t len)
{
    if (t->failed)
        return XE_TLS;
    if (len == 0)
        return 0;
    if (tls_conn_wake(t) != 0)
        return XE_TLS;
    if (!t->ready)
        return buf_append(&t->pending, p, len);
    /* Refuse up front rather than encrypt what cannot be queued: then
     * XE_LIMIT means nothing was written and the caller may retry. */
    if (len > t->out_max)
        return XE_LIMIT;
    size_t need = len + (len / TLS_REC_MAX + 1) * TLS_REC_OVERHEAD;
    size_t queued = buf_len(&t->out) + BIO_ctrl_pending(t->wbio);
    if (need > t->out_max || queued > t->out_max - need)
        return XE_LIMIT;
    size_t done = 0;
    ERR_clear_error();
    int r = SSL_write_ex(t->ssl, p, len, &done);
    if (r != 1) {
        int rc = tls_conn_result(t, r);
        (void)tls_conn_flush(t);
        return rc == XE_TLS ? rc : tls_conn_fail(t, "write failed");
    }
    return tls_conn_flush(t);
}

void
tls_conn_close(struct tls_conn *t)
{
    if (t->failed || !t->ready || tls_conn_wake(t) != 0)
        return;
    ERR_clear_error();
    /* Returns 0 (our alert is queued, the peer's not yet seen): that is
     * all we want, the transport closes after the output drains. */
    (void)SSL_shutdown(t->ssl);
    ERR_clear_error();
    (void)tls_conn_flush(t);
}

struct buf *
tls_conn_out(struct tls_conn *t)
{
    /* Top up from the write BIO: after XE_LIMIT, ciphertext may still
     * wait there for room. */
    (void)tls_conn_flush(t);
    return &t->out;
}

bool
tls_conn_ready(const struct tls_conn *t)
{
    return t->ready;
}

const char *
tls_conn_host(const struct tls_conn *t)
{
    return t->host;
}

const char *
tls_conn_sni(const struct tls_conn *t)
{
    if (t->role == TLS_CLIENT)
        return t->default_host;
    return SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name);
}

const char *
tls_conn_alpn(const struct tls_conn *t)
{
    const unsigned char *p = NULL;
    unsigned int n = 0;
    SSL_get0_alpn_selected(t->ssl, &p, &n);
    /* Only our one protocol can have been selected, either way round. */
    return n > 0 ? t->alpn : NULL;
}

const char *
tls_conn_version(const struct tls_conn *t)
{
    return SSL_get_version(t->ssl);
}

const char *
tls_conn_cipher(const struct tls_conn *t)
{
    return SSL_get_cipher_name(t->ssl);
}

bool
tls_conn_is_13(const struct tls_conn *t)
{
    return t->ready && SSL_version(t->ssl) == TLS1_3_VERSION;
}

const char *
tls_conn_error(const struct tls_conn *t)
{
    return t->error ? t->error : "";
}

SSL *
tls__conn_ssl(const struct tls_conn *t)
{
    return t->ssl;
}

void
tls_conn_hibernate(struct tls_conn *t)
{
    if (t == NULL || !t->ready || t->failed || t->wbio == NULL)
        return;
    tls_conn_trim(t, 0);
    /* With nothing in flight either way, the two memory BIOs (about
     * 0.5 KiB with their locks and buffers) can go as well: tls_conn_wake
     * makes new ones when bytes move again. */
    if (BIO_ctrl_pending(t->rbio) == 0 && BIO_ctrl_pending(t->wbio) == 0 &&
        !SSL_has_pending(t->ssl) && buf_len(&t->out) == 0) {
        SSL_set0_rbio(t->ssl, NULL);
        SSL_set0_wbio(t->ssl, NULL);
        t->rbio = NULL;
        t->wbio = NULL;
    }
    ERR_clear_error();
}
