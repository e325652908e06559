/* SPDX-License-Identifier: MIT */
/* jid.h -- parse, prepare and compare XMPP addresses (RFC 7622). */
#ifndef XMUX_JID_H
#define XMUX_JID_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 7622: each part is at most 1023 octets once prepared. */
#define JID_PART_MAX 1023
/* Size of a buffer that can hold any prepared domainpart and its NUL. */
#define JID_DOMAIN_BUFSZ (JID_PART_MAX + 1)

/* Prepare a domainpart: strip one trailing '.', map U-labels to A-labels
 * (IDNA2008 via libidn2, without STD3 rules), lower-case ASCII, and check
 * every label (1..63 octets of letters, digits and '-', not starting or
 * ending with '-') or accept an IP literal ("127.0.0.1", "[::1]").
 * Writes the NUL-terminated result to out (outlen >= JID_DOMAIN_BUFSZ
 * always suffices). Returns 0 or XE_JID_DOMAIN. */
int jid_domain_prep(const char *in, size_t len, char *out, size_t outlen,
                    size_t *outn);

#endif
