/* SPDX-License-Identifier: MIT */
/* tls_selfsigned.c -- create a self-signed ECDSA certificate and its key. */
#include "tls/tls_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/err.h"

#define TLS_SELF_DAYS  3650 /* ten years */
#define TLS_FP_LEN     96   /* 32 bytes as "AB:" x 32, less one, plus NUL */
#define TLS_CN_MAX     64   /* ub-common-name (RFC 5280) */
#define TLS_DOMAIN_MAX 253

/* 1 if path exists, 0 if not, -errno if it cannot be told. */
static int
tls_exists(const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return 1;
    return errno == ENOENT ? 0 : -errno;
}

/* A domain fit to be written into a configuration string such as
 * "DNS:<domain>": letters, digits, '-', '_' and '.', at most 253 octets
 * (IDNs arrive as A-labels). */
static bool
tls_domain_ok(const char *d)
{
    size_t n = strlen(d);
    if (n == 0 || n > TLS_DOMAIN_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = d[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        if (!ok)
            return false;
    }
    return true;
}

/* A random positive 128-bit serial number (RFC 5280 allows 20 octets). */
static bool
tls_set_serial(X509 *x)
{
    BIGNUM *bn = BN_new();
    bool ok = bn != NULL &&
              BN_rand(bn, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) == 1;
    if (ok && BN_is_zero(bn))
        ok = BN_set_word(bn, 1) == 1;
    if (ok)
        ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
    BN_free(bn);
    return ok;
}

static bool
tls_add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext == NULL)
        return false;
    bool ok = X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

/* Subject CN and validity; the CN is for humans only (identities come
 * from the SAN) and is left out when the name is longer than a CN may
 * be. */
static bool
tls_set_names(X509 *x, const char *domain)
{
    X509_NAME *name = X509_get_subject_name(x);
    if (strlen(domain) <= TLS_CN_MAX &&
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                   (const unsigned char *)domain, -1, -1,
                                   0) != 1)
        return false;
    return X509_set_issuer_name(x, name) == 1 &&
           X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL &&
           X509_time_adj_ex(X509_getm_notAfter(x), TLS_SELF_DAYS, 0, NULL) !=
               NULL;
}

/* An X.509 v3 end-entity certificate for domain, signed by its own key. */
static X509 *
tls_make_cert(const char *domain, EVP_PKEY *pk)
{
    char san[TLS_DOMAIN_MAX + 8];
    snprintf(san, sizeof san, "DNS:%s", domain);
    X509 *x = X509_new();
    if (x == NULL)
        return NULL;
    bool ok = X509_set_version(x, X509_VERSION_3) == 1 && tls_set_serial(x) &&
              tls_set_names(x, domain) && X509_set_pubkey(x, pk) == 1 &&
              tls_add_ext(x, NID_basic_constraints, "critical,CA:FALSE") &&
              tls_add_ext(x, NID_key_usage, "critical,digitalSignature") &&
              tls_add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth") &&
              tls_add_ext(x, NID_subject_key_identifier, "hash") &&
              tls_add_ext(x, NID_subject_alt_name, san) &&
              X509_sign(x, pk, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Write the key (pk) or the certificate (x) as PEM into a new file with
 * the given mode. O_EXCL: never replace a file, even one that appeared
 * since we looked. A partly written file is removed. */
static int
tls_write_pem(const char *path, mode_t mode, EVP_PKEY *pk, X509 *x)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno;
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        int e = errno;
        close(fd);
        unlink(path);
        return -e;
    }
    int ok = pk ? PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL)
                : PEM_write_X509(f, x);
    int e = 0;
    if (fclose(f) != 0)
        e = errno;
    if (ok != 1 || e != 0) {
        unlink(path);
        return e ? -e : XE_TLS;
    }
    return 0;
}

/* "AB:CD:..." (SHA-256 over the DER certificate) into fp. */
static void
tls_fingerprint(X509 *x, char *fp, size_t fplen)
{
    static const char hex[] = "0123456789ABCDEF";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (fp == NULL || fplen == 0)
        return;
    fp[0] = '\0';
    if (fplen < TLS_FP_LEN || X509_digest(x, EVP_sha256(), md, &n) != 1)
        return;
    size_t o = 0;
    for (unsigned int i = 0; i < n; i++) {
        if (i > 0)
            fp[o++] = ':';
        fp[o++] = hex[md[i] >> 4];
        fp[o++] = hex[md[i] & 0xf];
    }
    fp[o] = '\0';
}

/* Report an error for one of the files: -errno or XE_TLS. */
static int
tls_file_err(struct buf *err, const char *what, const char *path, int rc)
{
    char why[256];
    if (rc == XE_TLS)
        tls__ossl_reason(why, sizeof why);
    else
        snprintf(why, sizeof why, "%s", strerror(-rc));
    (void)buf_printf(err, "tls: %s=%s: %s", what, path, why);
    return rc;
}

/* Both files, neither, or an error: never overwrite one of a pair. */
static int
tls_check_pair(const char *cert_file, const char *key_file, struct buf *err)
{
    int hc = tls_exists(cert_file);
    if (hc < 0)
        return tls_file_err(err, "cert_file", cert_file, hc);
    int hk = tls_exists(key_file);
    if (hk < 0)
        return tls_file_err(err, "key_file", key_file, hk);
    if (hc && hk)
        return 1;
    if (hc || hk) {
        (void)buf_printf(
            err,
            "tls: %s=%s exists but %s=%s does not; "
            "refusing to overwrite",
            hc ? "cert_file" : "key_file", hc ? cert_file : key_file,
            hc ? "key_file" : "cert_file", hc ? key_file : cert_file);
        return XE_TLS;
    }
    return 0;
}

int
tls_selfsigned_ensure(const char *domain,
                      const char *cert_file,
                      const char *key_file,
                      char *fp,
                      size_t fplen,
                      struct buf *err)
{
    int rc = tls_check_pair(cert_file, key_file, err);
    if (rc != 0)
        return rc > 0 ? 0 : rc;
    if (!tls_domain_ok(domain)) {
        (void)buf_printf(err, "tls: cannot make a certificate for \"%s\"",
                         domain);
        return XE_TLS;
    }
    ERR_clear_error();
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = pk ? tls_make_cert(domain, pk) : NULL;
    if (x == NULL) {
        rc = tls_file_err(err, "cert_file", cert_file, XE_TLS);
        goto out;
    }
    rc = tls_write_pem(key_file, 0600, pk, NULL);
    if (rc != 0) {
        tls_file_err(err, "key_file", key_file, rc);
        goto out;
    }
    rc = tls_write_pem(cert_file, 0644, NULL, x);
    if (rc != 0) {
        /* Leave neither file, so that the next start tries again. */
        unlink(key_file);
        tls_file_err(err, "cert_file", cert_file, rc);
        goto out;
    }
    tls_fingerprint(x, fp, fplen);
    rc = 1;
out:
    X509_free(x);
    EVP_PKEY_free(pk);
    return rc;
}
