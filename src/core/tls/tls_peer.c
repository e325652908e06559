/* SPDX-License-Identifier: MIT */
/* tls_peer.c -- the peer certificate: verification, identities, bindings. */
#include "tls/tls_int.h"

#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "base/alloc.h"
#include "base/err.h"

/* RFC 9266 §2. */
#define TLS_EXPORTER_LABEL "EXPORTER-Channel-Binding"
#define TLS_EXPORTER_LEN   32
/* Longest identity kept: a DNS name is at most 253 octets, a JID at most
 * 3 x 1023; longer values are malformed and skipped. */
#define TLS_ID_MAX 3071

int
tls__verify_cb(int ok, X509_STORE_CTX *sctx)
{
    SSL *ssl =
        X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct tls_conn *t = ssl ? SSL_get_app_data(ssl) : NULL;
    if (t == NULL)
        return ok;
    t->verify_seen = true;
    if (!ok && t->peer.verify_error == X509_V_OK) {
        long e = X509_STORE_CTX_get_error(sctx);
        t->peer.verify_error = e != X509_V_OK ? e : X509_V_ERR_UNSPECIFIED;
    }
    /* D-10: an unverifiable certificate never ends the handshake; the
     * stream layer reads the verdict and offers fewer mechanisms. */
    return 1;
}

void
tls__peer_record(struct tls_conn *t)
{
    struct tls_peer *p = &t->peer;
    X509 *cert = SSL_get0_peer_certificate(t->ssl);
    p->present = cert != NULL;
    if (cert == NULL) {
        p->verified = false;
        p->verify_error = X509_V_OK;
        p->client_auth_eku = false;
        return;
    }
    /* A resumed session skips verification; OpenSSL kept the verdict of
     * the full handshake in the session. */
    if (!t->verify_seen && p->verify_error == X509_V_OK)
        p->verify_error = SSL_get_verify_result(t->ssl);
    p->verified = p->verify_error == X509_V_OK;
    /* The SSL-client purpose check passes a certificate without an EKU
     * extension, and one whose EKU lists clientAuth (keyUsage permitting
     * a signature). */
    p->client_auth_eku =
        X509_check_purpose(cert, X509_PURPOSE_SSL_CLIENT, 0) == 1;
    ERR_clear_error();
}

const struct tls_peer *
tls_conn_peer(const struct tls_conn *t)
{
    return &t->peer;
}

const char *
tls_verify_error_str(long verify_error)
{
    return X509_verify_cert_error_string(verify_error);
}

/* Copy an IA5String that must be printable ASCII without spaces, in lower
 * case; NULL if it is anything else. */
static char *
tls_ascii_dup(const ASN1_STRING *s)
{
    const unsigned char *d = ASN1_STRING_get0_data(s);
    int n = ASN1_STRING_length(s);
    if (d == NULL || n <= 0 || n > TLS_ID_MAX)
        return NULL;
    char *v = x_malloc((size_t)n + 1);
    for (int i = 0; i < n; i++) {
        unsigned char c = d[i];
        if (c <= 0x20 || c >= 0x7f) {
            x_free(v);
            return NULL;
        }
        v[i] = (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
    }
    v[n] = '\0';
    return v;
}

/* Copy a UTF8String, checked by OpenSSL's decoder, without NULs; NULL if
 * it is malformed. Case is left alone: the JID code prepares it. */
static char *
tls_utf8_dup(const ASN1_STRING *s)
{
    unsigned char *u = NULL;
    int n = ASN1_STRING_to_UTF8(&u, s);
    if (n <= 0) {
        ERR_clear_error();
        return NULL;
    }
    char *v = NULL;
    if (n <= TLS_ID_MAX && memchr(u, 0, (size_t)n) == NULL)
        v = x_strndup((const char *)u, (size_t)n);
    OPENSSL_free(u);
    return v;
}

/* id-on-xmppAddr (UTF8String) or SRVName (IA5String "_service.name"). */
static bool
tls_othername_identity(const OTHERNAME *on, struct tls_identity *id)
{
    if (on == NULL || on->type_id == NULL || on->value == NULL)
        return false;
    int nid = OBJ_obj2nid(on->type_id);
    const ASN1_TYPE *val = on->value;
    if (nid == NID_XmppAddr && val->type == V_ASN1_UTF8STRING) {
        id->type = TLS_ID_XMPPADDR;
        id->value = tls_utf8_dup(val->value.utf8string);
    } else if (nid == NID_SRVName && val->type == V_ASN1_IA5STRING) {
        id->type = TLS_ID_SRV;
        id->value = tls_ascii_dup(val->value.ia5string);
        if (id->value != NULL &&
            (id->value[0] != '_' || strchr(id->value, '.') == NULL)) {
            x_free(id->value);
            id->value = NULL;
        }
    } else {
        return false;
    }
    return id->value != NULL;
}

/* The identity one subjectAltName entry carries; false for entries of
 * other types and for malformed ones. */
static bool
tls_gen_identity(const GENERAL_NAME *g, struct tls_identity *id)
{
    id->value = NULL;
    switch (g->type) {
    case GEN_DNS:
        id->type = TLS_ID_DNS;
        id->value = tls_ascii_dup(g->d.dNSName);
        return id->value != NULL;
    case GEN_OTHERNAME:
        return tls_othername_identity(g->d.otherName, id);
    default:
        return false;
    }
}

/* subjectAltName only: RFC 9525 drops the subject CN as an identity. */
int
tls__cert_identities(X509 *cert, size_t cap, struct tls_identities *ids)
{
    memset(ids, 0, sizeof *ids);
    GENERAL_NAMES *gens =
        X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    /* A missing or undecodable extension both leave an empty list. */
    ERR_clear_error();
    if (gens == NULL)
        return 0;
    int count = sk_GENERAL_NAME_num(gens);
    size_t want = count > 0 ? (size_t)count : 0;
    if (want > cap)
        want = cap;
    if (want > 0)
        ids->v = x_calloc(want, sizeof *ids->v);
    for (int i = 0; i < count; i++) {
        struct tls_identity id;
        if (!tls_gen_identity(sk_GENERAL_NAME_value(gens, i), &id))
            continue;
        if (ids->n == cap) {
            x_free(id.value);
            ids->truncated = true;
            break;
        }
        ids->v[ids->n++] = id;
    }
    GENERAL_NAMES_free(gens);
    return 0;
}

bool
tls_conn_peer_expired(const struct tls_conn *t)
{
    X509 *cert = t ? SSL_get0_peer_certificate(t->ssl) : NULL;
    return cert != NULL &&
           X509_cmp_current_time(X509_get0_notAfter(cert)) < 0;
}

static int
identities_of(X509 *cert, size_t cap, struct tls_identities *ids)
{
    memset(ids, 0, sizeof *ids);
    if (cert == NULL)
        return XE_NOTFOUND;
    return tls__cert_identities(cert, cap, ids);
}

int
tls_conn_peer_identities(const struct tls_conn *t,
                         size_t cap,
                         struct tls_identities *ids)
{
    return identities_of(SSL_get0_peer_certificate(t->ssl), cap, ids);
}

int
tls_conn_local_identities(const struct tls_conn *t,
                          size_t cap,
                          struct tls_identities *ids)
{
    return identities_of(SSL_get_certificate(t->ssl), cap, ids);
}

void
tls_identities_fini(struct tls_identities *ids)
{
    if (ids == NULL)
        return;
    for (size_t i = 0; i < ids->n; i++)
        x_free(ids->v[i].value);
    x_free(ids->v);
    memset(ids, 0, sizeof *ids);
}

/* tls-unique (RFC 5929 §3.1): the first Finished message of the latest
 * handshake (renegotiation is off, so there is one). A full handshake
 * starts with the client's Finished, an abbreviated one with the
 * server's. */
static int
tls_cb_unique(const struct tls_conn *t, unsigned char *out, size_t *len)
{
    bool resumed = SSL_session_reused(t->ssl) == 1;
    bool ours = (t->role == TLS_CLIENT) != resumed;
    size_t n = ours ? SSL_get_finished(t->ssl, out, TLS_CB_MAX)
                    : SSL_get_peer_finished(t->ssl, out, TLS_CB_MAX);
    if (n == 0 || n > TLS_CB_MAX)
        return XE_NOTFOUND;
    *len = n;
    return 0;
}

int
tls_conn_channel_binding(const struct tls_conn *t,
                         const char *type,
                         unsigned char *out,
                         size_t *len)
{
    *len = 0;
    if (!t->ready || t->failed)
        return XE_NOTFOUND;
    bool is13 = SSL_version(t->ssl) == TLS1_3_VERSION;
    if (strcmp(type, "tls-exporter") == 0) {
        /* RFC 9266 defines it for TLS 1.3; for 1.2 it would need the
         * extended master secret, and tls-unique serves there. */
        if (!is13)
            return XE_NOTFOUND;
        if (SSL_export_keying_material(
                t->ssl, out, TLS_EXPORTER_LEN, TLS_EXPORTER_LABEL,
                sizeof TLS_EXPORTER_LABEL - 1, NULL, 0, 0) != 1) {
            ERR_clear_error();
            return XE_TLS;
        }
        *len = TLS_EXPORTER_LEN;
        return 0;
    }
    /* RFC 9266 §3: tls-unique is undefined for TLS 1.3. */
    if (strcmp(type, "tls-unique") == 0)
        return is13 ? XE_NOTFOUND : tls_cb_unique(t, out, len);
    return XE_NOTFOUND;
}

int
tls_conn_channel_binding_best(const struct tls_conn *t,
                              const char **type,
                              unsigned char *out,
                              size_t *len)
{
    const char *name = tls_conn_is_13(t) ? "tls-exporter" : "tls-unique";
    int rc = tls_conn_channel_binding(t, name, out, len);
    *type = rc == 0 ? name : NULL;
    return rc;
}
