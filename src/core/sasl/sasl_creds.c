/* SPDX-License-Identifier: MIT */
/* sasl_creds.c -- SCRAM key derivation, SASLprep and decoy credentials. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stringprep.h>

#include "base/alloc.h"
#include "base/err.h"
#include "sasl/sasl_int.h"

size_t
sasl__hash_len(enum sasl_hash h)
{
    return h == SASL_SHA256 ? 32 : 20;
}

static const EVP_MD *
hash_md(enum sasl_hash h)
{
    return h == SASL_SHA256 ? EVP_sha256() : EVP_sha1();
}

const unsigned char *
sasl__creds_stored(const struct sasl_creds *c, enum sasl_hash h)
{
    if (h == SASL_SHA256)
        return c->has_sha256 ? c->sha256_stored : NULL;
    return c->has_sha1 ? c->sha1_stored : NULL;
}

const unsigned char *
sasl__creds_server(const struct sasl_creds *c, enum sasl_hash h)
{
    if (h == SASL_SHA256)
        return c->has_sha256 ? c->sha256_server : NULL;
    return c->has_sha1 ? c->sha1_server : NULL;
}

bool
sasl__creds_ok(const struct sasl_creds *c)
{
    return c->iterations >= SASL_ITER_MIN_STORED &&
           c->iterations <= SASL_ITER_MAX && c->salt_len > 0 &&
           c->salt_len <= SASL_SALT_MAX;
}

int
sasl__scram_keys(enum sasl_hash h,
                 const char *pw,
                 size_t pwlen,
                 const unsigned char *salt,
                 size_t saltlen,
                 unsigned iter,
                 unsigned char *stored,
                 unsigned char *server)
{
    static const char client_key_label[] = "Client Key";
    static const char server_key_label[] = "Server Key";
    const EVP_MD *md = hash_md(h);
    int hl = (int)sasl__hash_len(h);
    unsigned char salted[EVP_MAX_MD_SIZE], client_key[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int rc = XE_SASL;
    if (pwlen > SASL_PREP_MAX || saltlen > SASL_SALT_MAX ||
        iter < SASL_ITER_MIN_STORED || iter > SASL_ITER_MAX)
        return XE_SASL;
    if (PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, (int)saltlen, (int)iter, md, hl,
                          salted) != 1)
        goto out;
    if (!HMAC(md, salted, hl, (const unsigned char *)client_key_label,
              sizeof client_key_label - 1, client_key, &n) ||
        n != (unsigned)hl)
        goto out;
    if (EVP_Digest(client_key, (size_t)hl, stored, &n, md, NULL) != 1)
        goto out;
    if (server &&
        (!HMAC(md, salted, hl, (const unsigned char *)server_key_label,
               sizeof server_key_label - 1, server, &n) ||
         n != (unsigned)hl))
        goto out;
    rc = 0;
out:
    OPENSSL_cleanse(salted, sizeof salted);
    OPENSSL_cleanse(client_key, sizeof client_key);
    return rc;
}

int
sasl__saslprep(const char *password, size_t len, bool query, char **out)
{
    *out = NULL;
    if (len == 0 || len > SASL_PLAIN_PART_MAX ||
        memchr(password, '\0', len) != NULL || !sasl__utf8_ok(password, len))
        return XE_INVAL;
    /* libidn directly, not gsasl_saslprep: GNU SASL 2.2.0 has its flag
     * backwards (GSASL_ALLOW_UNASSIGNED refuses unassigned code points,
     * 0 allows them). RFC 4013 §2: stored strings refuse them, queries
     * allow them. stringprep works in place; NFKC may lengthen the text,
     * and a result that does not fit is refused. */
    char *buf = x_malloc(SASL_PREP_MAX + 1);
    memcpy(buf, password, len);
    buf[len] = '\0';
    int rc =
        stringprep(buf, SASL_PREP_MAX + 1, query ? 0 : STRINGPREP_NO_UNASSIGNED,
                   stringprep_saslprep);
    if (rc != STRINGPREP_OK || buf[0] == '\0') {
        sasl__prepped_free(buf);
        return XE_INVAL;
    }
    *out = buf;
    return 0;
}

void
sasl__prepped_free(char *p)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, SASL_PREP_MAX + 1);
    x_free(p);
}

int
sasl__creds_derive_salt(const char *password,
                        size_t len,
                        unsigned iterations,
                        const unsigned char *salt,
                        size_t saltlen,
                        struct sasl_creds *out)
{
    memset(out, 0, sizeof *out);
    if (iterations < SASL_SCRAM_ITERATIONS || iterations > SASL_ITER_MAX ||
        saltlen == 0 || saltlen > SASL_SALT_MAX)
        return XE_INVAL;
    /* A password is a stored string here: RFC 4013 refuses unassigned code
     * points in those, so later Unicode versions cannot change it. */
    char *pw = NULL;
    if (sasl__saslprep(password, len, false, &pw) != 0)
        return XE_INVAL;
    size_t pwlen = strlen(pw);
    out->iterations = iterations;
    memcpy(out->salt, salt, saltlen);
    out->salt_len = saltlen;
    int rc = sasl__scram_keys(SASL_SHA1, pw, pwlen, salt, saltlen, iterations,
                              out->sha1_stored, out->sha1_server);
    if (rc == 0)
        rc = sasl__scram_keys(SASL_SHA256, pw, pwlen, salt, saltlen, iterations,
                              out->sha256_stored, out->sha256_server);
    sasl__prepped_free(pw);
    if (rc != 0) {
        OPENSSL_cleanse(out, sizeof *out);
        return XE_SASL;
    }
    out->has_sha1 = out->has_sha256 = true;
    return 0;
}

int
sasl_creds_derive(const char *password,
                  size_t len,
                  unsigned iterations,
                  struct sasl_creds *out)
{
    unsigned char salt[SASL_SALT_NEW];
    memset(out, 0, sizeof *out);
    if (RAND_bytes(salt, sizeof salt) != 1)
        return XE_SASL;
    return sasl__creds_derive_salt(password, len, iterations, salt, sizeof salt,
                                   out);
}

/* HMAC-SHA-256(secret, label || user) into out[0..n), n <= 32. */
static void
decoy_bytes(const struct sasl_server *srv,
            const char *label,
            const char *user,
            unsigned char *out,
            size_t n)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    /* One-shot HMAC over two pieces: hash a buffer with both. The label
     * ends with its NUL, so "a" + "bc" and "ab" + "c" differ. */
    size_t ll = strlen(label) + 1, ul = strlen(user);
    unsigned char *msg = x_malloc(ll + ul);
    memcpy(msg, label, ll - 1);
    msg[ll - 1] = '\0';
    memcpy(msg + ll, user, ul);
    if (!HMAC(EVP_sha256(), srv->secret, sizeof srv->secret, msg, ll + ul, md,
              &mdlen))
        memset(md, 0, sizeof md); /* decoy sessions fail whatever it is */
    x_free(msg);
    memcpy(out, md, n);
    OPENSSL_cleanse(md, sizeof md);
}

void
sasl__creds_decoy(const struct sasl_server *srv,
                  const char *user,
                  struct sasl_creds *out)
{
    memset(out, 0, sizeof *out);
    /* Real accounts get SASL_SCRAM_ITERATIONS and a 16-byte salt, so the
     * decoy looks the same on the wire (server-first-message). */
    out->iterations = SASL_SCRAM_ITERATIONS;
    out->salt_len = SASL_SALT_NEW;
    decoy_bytes(srv, "salt", user, out->salt, SASL_SALT_NEW);
    decoy_bytes(srv, "sha1-stored", user, out->sha1_stored, 20);
    decoy_bytes(srv, "sha1-server", user, out->sha1_server, 20);
    decoy_bytes(srv, "sha256-stored", user, out->sha256_stored, 32);
    decoy_bytes(srv, "sha256-server", user, out->sha256_server, 32);
    out->has_sha1 = out->has_sha256 = true;
}
