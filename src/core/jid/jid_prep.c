/* SPDX-License-Identifier: MIT */
/* jid_prep.c -- prepare localparts and resourceparts (stringprep). */
#include <string.h>

#include <stringprep.h>

#include "base/err.h"
#include "jid/jid.h"
#include "jid/jid_int.h"

/* Length of the well-formed multi-byte sequence at p (Unicode Table 3-7),
 * or 0 if it is ill-formed or cut short. */
static size_t
utf8_seq_len(const unsigned char *p, size_t avail)
{
    unsigned lo = 0x80;
    unsigned hi = 0xbf;
    size_t n;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3;
        if (p[0] == 0xe0)
            lo = 0xa0; /* overlong */
        else if (p[0] == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4;
        if (p[0] == 0xf0)
            lo = 0x90; /* overlong */
        else if (p[0] == 0xf4)
            hi = 0x8f; /* past U+10FFFF */
    } else {
        return 0;
    }
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++) {
        if (p[k] < 0x80 || p[k] > 0xbf)
            return 0;
    }
    return n;
}

enum jid__text
jid__utf8_scan(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    enum jid__text kind = JID__TEXT_ASCII;
    size_t i = 0;
    while (i < len) {
        if (p[i] == 0)
            return JID__TEXT_BAD;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_seq_len(p + i, len - i);
        if (n == 0)
            return JID__TEXT_BAD;
        kind = JID__TEXT_UTF8;
        i += n;
    }
    return kind;
}

/* On ASCII, nodeprep maps A-Z to a-z (table B.2), NFKC changes nothing,
 * and it prohibits space (C.1.1), controls (C.2.1) and the RFC 6122
 * Appendix A.5 characters " & ' / : < > @. Nothing else applies: no ASCII
 * character is unassigned, mapped to nothing or right-to-left. */
int
jid__node_prep_ascii(const char *in, size_t len, char *out)
{
    if (len == 0 || len > JID_PART_MAX)
        return XE_JID_NODE;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c <= 0x20 || c >= 0x7f || strchr("\"&'/:<>@", c) != NULL)
            return XE_JID_NODE;
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    out[len] = '\0';
    return 0;
}

/* On ASCII, resourceprep only prohibits controls (C.2.1): it has no case
 * folding, and unlike nodeprep it allows space (C.1.1 is not listed). */
int
jid__resource_prep_ascii(const char *in, size_t len, char *out)
{
    if (len == 0 || len > JID_PART_MAX)
        return XE_JID_RESOURCE;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x20 || c >= 0x7f)
            return XE_JID_RESOURCE;
        out[i] = (char)c;
    }
    out[len] = '\0';
    return 0;
}

/* Run a libidn stringprep profile over valid UTF-8 in[0..len), len <=
 * JID_PART_RAW_MAX, into tmp (JID_PART_RAW_MAX + 1 bytes). Returns the
 * prepared length, or 0 if the profile refuses the text or the result is
 * empty or longer than JID_PART_MAX. */
static size_t
prep_stringprep(const char *in,
                size_t len,
                const Stringprep_profile *profile,
                char *tmp)
{
    memcpy(tmp, in, len);
    tmp[len] = '\0';
    /* stringprep() works in place and fails with TOO_SMALL_BUFFER when the
     * result would not fit in maxlen bytes (NUL included): such a result is
     * too long for a JID anyway. */
    if (stringprep(tmp, JID_PART_RAW_MAX + 1, STRINGPREP_NO_UNASSIGNED,
                   profile) != STRINGPREP_OK)
        return 0;
    size_t n = strlen(tmp);
    return n <= JID_PART_MAX ? n : 0;
}

/* Shared body of jid_node_prep and jid_resource_prep; err is the part's
 * error code. */
static int
prep_part(
    const char *in, size_t len, char *out, size_t outlen, size_t *outn, int err)
{
    if (outn)
        *outn = 0;
    if (outlen > 0)
        out[0] = '\0';
    if (in == NULL || len == 0 || len > JID_PART_RAW_MAX)
        return err;
    enum jid__text kind = jid__utf8_scan(in, len);
    if (kind == JID__TEXT_BAD)
        return err;
    char tmp[JID_PART_RAW_MAX + 1];
    size_t n = len;
    int rc;
    if (kind == JID__TEXT_ASCII) {
        rc = err == XE_JID_NODE ? jid__node_prep_ascii(in, len, tmp)
                                : jid__resource_prep_ascii(in, len, tmp);
    } else {
        const Stringprep_profile *profile = err == XE_JID_NODE
                                                ? stringprep_xmpp_nodeprep
                                                : stringprep_xmpp_resourceprep;
        n = prep_stringprep(in, len, profile, tmp);
        rc = n == 0 ? err : 0;
    }
    if (rc != 0)
        return rc;
    if (n + 1 > outlen)
        return XE_LIMIT;
    memcpy(out, tmp, n + 1);
    if (outn)
        *outn = n;
    return 0;
}

int
jid_node_prep(
    const char *in, size_t len, char *out, size_t outlen, size_t *outn)
{
    return prep_part(in, len, out, outlen, outn, XE_JID_NODE);
}

int
jid_resource_prep(
    const char *in, size_t len, char *out, size_t outlen, size_t *outn)
{
    return prep_part(in, len, out, outlen, outn, XE_JID_RESOURCE);
}
