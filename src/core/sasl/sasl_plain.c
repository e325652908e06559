/* SPDX-License-Identifier: MIT */
/* sasl_plain.c -- PLAIN (RFC 4616), checked against stored SCRAM keys. */
#include <string.h>

#include <openssl/crypto.h>

#include "base/alloc.h"
#include "jid/jid.h"
#include "sasl/sasl_int.h"

/* message = [authzid] UTF8NUL authcid UTF8NUL passwd (RFC 4616 §2). */
struct plain_msg {
    const char *authzid, *authcid, *passwd;
    size_t authzid_len, authcid_len, passwd_len;
};

/* Split data[0..len) (NUL-terminated at len) strictly: exactly two NULs,
 * a non-empty authcid and password, bounded lengths, UTF-8 throughout. */
static int
plain_split(const char *data, size_t len, struct plain_msg *m)
{
    const char *nul1 = memchr(data, '\0', len);
    if (nul1 == NULL)
        return -1;
    const char *rest = nul1 + 1;
    size_t rest_len = len - (size_t)(rest - data);
    const char *nul2 = memchr(rest, '\0', rest_len);
    if (nul2 == NULL)
        return -1;
    m->authzid = data;
    m->authzid_len = (size_t)(nul1 - data);
    m->authcid = rest;
    m->authcid_len = (size_t)(nul2 - rest);
    m->passwd = nul2 + 1;
    m->passwd_len = len - (size_t)(m->passwd - data);
    if (memchr(m->passwd, '\0', m->passwd_len) != NULL)
        return -1;
    if (m->authzid_len > SASL_AUTHZID_MAX || m->authcid_len == 0 ||
        m->authcid_len > SASL_PLAIN_PART_MAX || m->passwd_len == 0 ||
        m->passwd_len > SASL_PLAIN_PART_MAX)
        return -1;
    if (!sasl__utf8_ok(m->authzid, m->authzid_len) ||
        !sasl__utf8_ok(m->authcid, m->authcid_len) ||
        !sasl__utf8_ok(m->passwd, m->passwd_len))
        return -1;
    return 0;
}

enum sasl_status
sasl__plain_first(struct sasl_session *s,
                  const char *data,
                  size_t len,
                  struct buf *out)
{
    (void)out;
    struct plain_msg m;
    char user[JID_PART_BUFSZ];
    if (plain_split(data, len, &m) != 0)
        return sasl__fail(s, SASL_MALFORMED_REQUEST, SASL_WHY_PROTOCOL);
    /* As for SCRAM: a name nodeprep refuses names no account. */
    if (sasl__user_prep(m.authcid, m.authcid_len, user, sizeof user) != 0)
        return sasl__fail(s, SASL_NOT_AUTHORIZED, SASL_WHY_CREDENTIALS);
    /* data is NUL-terminated at the end of the authzid. */
    enum sasl_cond c = sasl__authz_user(s, user, m.authzid, &s->authzid);
    if (c != SASL_COND_NONE)
        return sasl__fail(s, c,
                          c == SASL_INVALID_AUTHZID ? SASL_WHY_PROTOCOL
                                                    : SASL_WHY_NONE);
    s->pending = x_strndup(m.passwd, m.passwd_len);
    s->pending_len = m.passwd_len;
    return sasl__need_creds(s, user);
}

/* The hash to check a password with: SHA-256 when the account has it. */
static bool
pick_hash(const struct sasl_creds *c, enum sasl_hash *h)
{
    if (c->has_sha256)
        *h = SASL_SHA256;
    else if (c->has_sha1)
        *h = SASL_SHA1;
    else
        return false;
    return true;
}

enum sasl_status
sasl__plain_provide(struct sasl_session *s,
                    const struct sasl_creds *creds,
                    struct buf *out)
{
    (void)out;
    enum sasl_hash h = SASL_SHA256;
    if (creds && !sasl__creds_ok(creds))
        return sasl__fail(s, SASL_TEMPORARY_AUTH_FAILURE, SASL_WHY_NONE);
    /* Without an account, derive from decoys all the same, so the answer
     * takes as long as for a wrong password. */
    if (creds && pick_hash(creds, &h)) {
        s->creds = *creds;
    } else {
        sasl__creds_decoy(s->srv, s->user, &s->creds);
        s->decoy = true;
    }
    char *pw = NULL;
    if (sasl__saslprep(s->pending, s->pending_len, true, &pw) != 0)
        return sasl__fail(s, SASL_NOT_AUTHORIZED, SASL_WHY_CREDENTIALS);
    unsigned char stored[SASL_KEY_MAX];
    int rc =
        sasl__scram_keys(h, pw, strlen(pw), s->creds.salt, s->creds.salt_len,
                         s->creds.iterations, stored, NULL);
    sasl__prepped_free(pw);
    if (rc != 0)
        return sasl__fail(s, SASL_TEMPORARY_AUTH_FAILURE, SASL_WHY_NONE);
    bool ok = CRYPTO_memcmp(stored, sasl__creds_stored(&s->creds, h),
                            sasl__hash_len(h)) == 0;
    OPENSSL_cleanse(stored, sizeof stored);
    if (!ok || s->decoy)
        return sasl__fail(s, SASL_NOT_AUTHORIZED, SASL_WHY_CREDENTIALS);
    return sasl__succeed(s);
}
