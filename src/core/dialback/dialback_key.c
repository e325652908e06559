/* SPDX-License-Identifier: MIT */
/* dialback_key.c -- dialback keys after XEP-0185: HMAC-SHA256 over the pair. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "base/err.h"
#include "base/hex.h"
#include "dialback/dialback.h"

/* receiving SP originating SP stream_id, each part at its maximum, and a
 * NUL. */
#define DIALBACK_MSG_MAX (2 * JID_PART_MAX + DIALBACK_ID_MAX + 3)

/* Build "receiving SP originating SP stream_id" into msg
 * (DIALBACK_MSG_MAX bytes) and return its length; 0 if an input is empty
 * or too long. The domains cannot hold a space, so the message is
 * unambiguous even if the id (last) does. */
static size_t
dialback_msg(const char *receiving,
             const char *originating,
             const char *stream_id,
             char *msg)
{
    size_t rn = strlen(receiving);
    size_t on = strlen(originating);
    size_t in = strlen(stream_id);
    if (rn == 0 || on == 0 || in == 0 || rn > JID_PART_MAX ||
        on > JID_PART_MAX || in > DIALBACK_ID_MAX)
        return 0;
    int n = snprintf(msg, DIALBACK_MSG_MAX, "%s %s %s", receiving, originating,
                     stream_id);
    return n > 0 && (size_t)n < DIALBACK_MSG_MAX ? (size_t)n : 0;
}

/* The XEP-0185 convention (MUX.md §9 uses it too): HMAC-SHA256 keyed with
 * the lowercase hex of SHA-256(secret), over msg[0..mlen), written to out
 * as 64 hex digits and a NUL. Returns 0 or XE_TLS. */
static int
hmac_hex(const unsigned char *secret,
         size_t len,
         const char *msg,
         size_t mlen,
         char out[DIALBACK_KEY_HEX + 1])
{
    /* XEP-0185 §3: the HMAC key is the hex string of the secret's SHA-256,
     * not the raw digest; interoperable keys depend on that detail. */
    unsigned char digest[SHA256_DIGEST_LENGTH];
    char hkey[2 * SHA256_DIGEST_LENGTH + 1];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    bool ok = SHA256(secret, len, digest) != NULL;
    if (ok) {
        hex_lower(digest, sizeof digest, hkey);
        ok = HMAC(EVP_sha256(), hkey, (int)(sizeof hkey - 1),
                  (const unsigned char *)msg, mlen, mac, &maclen) != NULL &&
             maclen * 2 == DIALBACK_KEY_HEX;
    }
    if (ok)
        hex_lower(mac, maclen, out);
    else
        ERR_clear_error();
    /* The hashed secret is as good as the secret for forging keys. */
    OPENSSL_cleanse(digest, sizeof digest);
    OPENSSL_cleanse(hkey, sizeof hkey);
    OPENSSL_cleanse(mac, sizeof mac);
    return ok ? 0 : XE_TLS;
}

int
dialback_key(const unsigned char *secret,
             size_t len,
             const char *receiving,
             const char *originating,
             const char *stream_id,
             char out[DIALBACK_KEY_HEX + 1])
{
    out[0] = '\0';
    if (secret == NULL || len == 0 || receiving == NULL ||
        originating == NULL || stream_id == NULL)
        return XE_INVAL;
    char msg[DIALBACK_MSG_MAX];
    size_t mlen = dialback_msg(receiving, originating, stream_id, msg);
    if (mlen == 0)
        return XE_INVAL;
    return hmac_hex(secret, len, msg, mlen, out);
}

bool
dialback_key_check(const unsigned char *secret,
                   size_t len,
                   const char *receiving,
                   const char *originating,
                   const char *stream_id,
                   const char *key,
                   size_t key_len)
{
    char want[DIALBACK_KEY_HEX + 1];
    if (key == NULL ||
        dialback_key(secret, len, receiving, originating, stream_id, want) != 0)
        return false;
    /* The length of a key is no secret; its content is compared in
     * constant time so that a forger learns nothing from timing. */
    bool ok = key_len == DIALBACK_KEY_HEX &&
              CRYPTO_memcmp(want, key, DIALBACK_KEY_HEX) == 0;
    OPENSSL_cleanse(want, sizeof want);
    return ok;
}

/* --- connection authorization secrets (MUX.md §9) ---------------------- */

int
mux_secret_make(const unsigned char *key,
                size_t len,
                const struct mux_secret_ctx *c,
                uint64_t expiry,
                const unsigned char nonce[MUX_NONCE_BYTES],
                char out[MUX_SECRET_LEN + 1])
{
    out[0] = '\0';
    if (key == NULL || len == 0 || c->origin == NULL || c->new_host == NULL ||
        c->via_host == NULL || c->p_id == NULL || c->s_id == NULL)
        return XE_INVAL;
    char nhex[2 * MUX_NONCE_BYTES + 1];
    hex_lower(nonce, MUX_NONCE_BYTES, nhex);
    char msg[4 * JID_PART_MAX + 2 * DIALBACK_ID_MAX + 96];
    int n = snprintf(msg, sizeof(msg), "%s %s %s %s %s %s %llu %s", NS_MUX_SECRET,
                     c->origin, c->new_host, c->via_host, c->p_id, c->s_id,
                     (unsigned long long)expiry, nhex);
    if (n <= 0 || (size_t)n >= sizeof(msg))
        return XE_INVAL;
    char mac[DIALBACK_KEY_HEX + 1];
    int rc = hmac_hex(key, len, msg, (size_t)n, mac);
    if (rc != 0)
        return rc;
    snprintf(out, MUX_SECRET_LEN + 1, "1-%llu-%s-%s",
             (unsigned long long)expiry, nhex, mac);
    OPENSSL_cleanse(mac, sizeof mac);
    return 0;
}

/* Read "1-E-N-MAC": the expiry and the nonce. */
static bool
secret_fields(const char *s,
              size_t n,
              uint64_t *expiry,
              unsigned char nonce[MUX_NONCE_BYTES])
{
    if (n < 4 || s[0] != '1' || s[1] != '-')
        return false;
    size_t i = 2;
    uint64_t e = 0;
    size_t digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && digits < 20) {
        e = e * 10 + (uint64_t)(s[i++] - '0');
        digits++;
    }
    if (digits == 0 || i >= n || s[i++] != '-' ||
        n - i != (size_t)2 * MUX_NONCE_BYTES + 1 + DIALBACK_KEY_HEX ||
        s[i + (size_t)2 * MUX_NONCE_BYTES] != '-')
        return false;
    for (size_t k = 0; k < MUX_NONCE_BYTES; k++) {
        unsigned v = 0;
        for (int h = 0; h < 2; h++) {
            char ch = s[i + 2 * k + (size_t)h];
            v <<= 4;
            if (ch >= '0' && ch <= '9')
                v |= (unsigned)(ch - '0');
            else if (ch >= 'a' && ch <= 'f')
                v |= (unsigned)(ch - 'a' + 10);
            else
                return false;
        }
        nonce[k] = (unsigned char)v;
    }
    *expiry = e;
    return true;
}

bool
mux_secret_check(const unsigned char *key,
                 size_t len,
                 const struct mux_secret_ctx *c,
                 uint64_t now,
                 const char *secret,
                 size_t n,
                 unsigned char nonce_out[MUX_NONCE_BYTES])
{
    uint64_t expiry = 0;
    unsigned char nonce[MUX_NONCE_BYTES];
    if (secret == NULL || !secret_fields(secret, n, &expiry, nonce))
        return false;
    /* §9: E in (now, now + 120 s]. */
    if (expiry <= now || expiry > now + 120)
        return false;
    char want[MUX_SECRET_LEN + 1];
    if (mux_secret_make(key, len, c, expiry, nonce, want) != 0)
        return false;
    bool ok = strlen(want) == n && CRYPTO_memcmp(want, secret, n) == 0;
    OPENSSL_cleanse(want, sizeof want);
    if (ok && nonce_out)
        memcpy(nonce_out, nonce, MUX_NONCE_BYTES);
    return ok;
}

void
mux_secret_fingerprint(const char *secret, size_t n, char out[9])
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    if (SHA256((const unsigned char *)secret, n, d) == NULL) {
        ERR_clear_error();
        memcpy(out, "--------", 9);
        return;
    }
    hex_lower(d, sizeof d, hex);
    memcpy(out, hex, 8);
    out[8] = '\0';
}
