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
#include "dialback/dialback.h"

/* receiving SP originating SP stream_id, each part at its maximum, and a
 * NUL. */
#define DIALBACK_MSG_MAX (2 * JID_PART_MAX + DIALBACK_ID_MAX + 3)

/* Write the lowercase hex of p[0..n) and a NUL to out (2n + 1 bytes). */
static void
dialback_hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

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

    /* XEP-0185 §3: the HMAC key is the hex string of the secret's SHA-256,
     * not the raw digest; interoperable keys depend on that detail. */
    unsigned char digest[SHA256_DIGEST_LENGTH];
    char hkey[2 * SHA256_DIGEST_LENGTH + 1];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    bool ok = SHA256(secret, len, digest) != NULL;
    if (ok) {
        dialback_hex(digest, sizeof digest, hkey);
        ok = HMAC(EVP_sha256(), hkey, (int)(sizeof hkey - 1),
                  (const unsigned char *)msg, mlen, mac, &maclen) != NULL &&
             maclen * 2 == DIALBACK_KEY_HEX;
    }
    if (ok)
        dialback_hex(mac, maclen, out);
    else
        ERR_clear_error();
    /* The hashed secret is as good as the secret for forging keys. */
    OPENSSL_cleanse(digest, sizeof digest);
    OPENSSL_cleanse(hkey, sizeof hkey);
    OPENSSL_cleanse(mac, sizeof mac);
    return ok ? 0 : XE_TLS;
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
