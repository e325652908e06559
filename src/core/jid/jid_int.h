/* SPDX-License-Identifier: MIT */
/* jid_int.h -- internals shared by the jid module's files and its tests. */
#ifndef XMUX_JID_INT_H
#define XMUX_JID_INT_H

#include <stdbool.h>
#include <stddef.h>

/* What jid__utf8_scan found. */
enum jid__text {
    JID__TEXT_BAD = -1, /* ill-formed UTF-8, or a NUL byte */
    JID__TEXT_ASCII,    /* only bytes 0x01..0x7f */
    JID__TEXT_UTF8,     /* well-formed UTF-8 with non-ASCII characters */
};

/* Classify s[0..len) as strict UTF-8 (no overlong forms, surrogates or
 * code points past U+10FFFF) without NUL bytes. */
enum jid__text jid__utf8_scan(const char *s, size_t len);

/* nodeprep for ASCII input: the fast path of jid_node_prep, kept separate
 * so tests can compare it with libidn. Writes len + 1 bytes to out.
 * Returns 0 or XE_JID_NODE (empty, too long, or a prohibited byte). */
int jid__node_prep_ascii(const char *in, size_t len, char *out);
/* resourceprep for ASCII input, like jid__node_prep_ascii. Returns 0 or
 * XE_JID_RESOURCE. */
int jid__resource_prep_ascii(const char *in, size_t len, char *out);

/* jid_domain_prep; with force_idn every label goes through libidn2, which
 * lets tests check the ASCII fast path against it. */
int jid__domain_prep(const char *in,
                     size_t len,
                     char *out,
                     size_t outlen,
                     size_t *outn,
                     bool force_idn);

#endif
