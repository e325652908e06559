/* SPDX-License-Identifier: MIT */
/* sasl_b64.c -- strict base64 for SASL data (RFC 6120 §6.4.2, RFC 4648). */
#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "sasl/sasl_int.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of one alphabet character, or -1 (padding, whitespace and anything
 * else all count as outside the alphabet). */
static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode the last quantum q[0..4), which may end in one or two '='. The
 * bits the padding leaves unused must be zero: RFC 4648 §3.5 lets a
 * decoder refuse other encodings, and accepting them would give one
 * message several spellings. Returns the byte count (1..3) or -1. */
static int
b64_last(const unsigned char *q, unsigned char *out)
{
    int a = b64_value(q[0]), b = b64_value(q[1]);
    if (a < 0 || b < 0)
        return -1;
    if (q[2] == '=') {
        if (q[3] != '=' || (b & 0x0f) != 0)
            return -1;
        out[0] = (unsigned char)(a << 2 | b >> 4);
        return 1;
    }
    int c = b64_value(q[2]);
    if (c < 0)
        return -1;
    if (q[3] == '=') {
        if ((c & 0x03) != 0)
            return -1;
        out[0] = (unsigned char)(a << 2 | b >> 4);
        out[1] = (unsigned char)((b & 0x0f) << 4 | c >> 2);
        return 2;
    }
    int d = b64_value(q[3]);
    if (d < 0)
        return -1;
    uint32_t v =
        (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
    out[0] = (unsigned char)(v >> 16);
    out[1] = (unsigned char)(v >> 8);
    out[2] = (unsigned char)v;
    return 3;
}

int
sasl__b64_decode(const char *in, size_t len, char *out, size_t *outn)
{
    const unsigned char *p = (const unsigned char *)in;
    unsigned char *o = (unsigned char *)out;
    *outn = 0;
    if (len % 4 != 0)
        return XE_INVAL;
    size_t n = 0;
    for (size_t i = 0; i + 4 < len; i += 4) {
        int a = b64_value(p[i]), b = b64_value(p[i + 1]);
        int c = b64_value(p[i + 2]), d = b64_value(p[i + 3]);
        if ((a | b | c | d) < 0)
            return XE_INVAL;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 |
                     (uint32_t)d;
        o[n++] = (unsigned char)(v >> 16);
        o[n++] = (unsigned char)(v >> 8);
        o[n++] = (unsigned char)v;
    }
    if (len > 0) {
        int k = b64_last(p + len - 4, o + n);
        if (k < 0)
            return XE_INVAL;
        n += (size_t)k;
    }
    o[n] = '\0';
    *outn = n;
    return 0;
}

size_t
sasl__b64_encode(const void *in, size_t n, char *out)
{
    const unsigned char *p = in;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 0x3f];
        out[o++] = b64_alphabet[(v >> 6) & 0x3f];
        out[o++] = b64_alphabet[v & 0x3f];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 0x3f];
        if (i + 1 < n)
            out[o++] = b64_alphabet[(v >> 6) & 0x3f];
        else
            out[o++] = '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

int
sasl__b64_append(struct buf *b, const void *in, size_t n)
{
    /* Encode in chunks of 48 bytes (64 characters) so no allocation is
     * needed; undo a partial append so b is unchanged on XE_LIMIT. The
     * buffer may compact itself while growing, which keeps the unread
     * bytes but moves them to offset 0: measure from b->off. */
    const unsigned char *p = in;
    size_t before = buf_len(b);
    char chunk[65];
    while (n > 0) {
        size_t k = n < 48 ? n : 48;
        size_t m = sasl__b64_encode(p, k, chunk);
        if (buf_append(b, chunk, m) != 0) {
            b->len = b->off + before;
            if (b->data)
                b->data[b->len] = '\0';
            return XE_LIMIT;
        }
        p += k;
        n -= k;
    }
    return 0;
}

size_t
sasl_b64_encode(const void *in, size_t n, char *out)
{
    return sasl__b64_encode(in, n, out);
}
