/* SPDX-License-Identifier: MIT */
/* tls_match.c -- certificate identities vs. domains (RFC 9525, XEP-0178). */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "jid/jid.h"
#include "tls/tls.h"

/* MUX.md §3.3: a mux domain is a resolvable DNS name, at most 253 octets. */
#define TLS_DNS_MAX 253

/* SRV-ID service labels with their dot (RFC 9525 §7.2, XEP-0178). */
#define TLS_SRV_S2S "_xmpp-server."
#define TLS_SRV_C2S "_xmpp-client."

/* What one identity contributes, normalised: a domain or a "*.rest"
 * pattern. */
struct tls_norm {
    bool wild;
    char name[JID_DOMAIN_BUFSZ];
};

/* True if the prepared domain d[0..n) is an IP literal: jid_domain_prep
 * accepts "[v6]" and dotted quads, whose last label is all digits (a host
 * name's never is). */
static bool
tls_ip_literal(const char *d, size_t n)
{
    if (n > 0 && d[0] == '[')
        return true;
    const char *dot = memrchr(d, '.', n);
    size_t off = dot ? (size_t)(dot - d) + 1 : 0;
    if (off == n)
        return false;
    for (size_t i = off; i < n; i++) {
        if (d[i] < '0' || d[i] > '9')
            return false;
    }
    return true;
}

/* Normalise s[0..n) per MUX.md §3.3 into out (JID_DOMAIN_BUFSZ bytes):
 * jid_domain_prep (one trailing dot stripped, U-labels to A-labels, lower
 * case, LDH labels), then at most 253 octets, at least two labels and no
 * IP literal. False if the name is not a usable domain. */
static bool
tls_domain_norm(const char *s, size_t n, char *out)
{
    size_t len = 0;
    if (jid_domain_prep(s, n, out, JID_DOMAIN_BUFSZ, &len) != 0)
        return false;
    return len <= TLS_DNS_MAX && memchr(out, '.', len) != NULL &&
           !tls_ip_literal(out, len);
}

/* True if s is printable ASCII. IA5String identities (DNS-ID, SRV-ID) can
 * only be A-labels; a U-label there is malformed, not to be converted. */
static bool
tls_ascii(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    }
    return true;
}

/* A dNSName: a plain DNS-ID, or a wildcard whose complete left-most label
 * is "*" with at least two labels after it. Partial-label wildcards
 * ("f*.example.com"), stars in other labels and "*.tld" contribute
 * nothing (RFC 9525 §6.3, MUX.md §5.2). */
static bool
tls_norm_dns(const char *v, struct tls_norm *out)
{
    if (!tls_ascii(v))
        return false;
    out->wild = v[0] == '*';
    if (!out->wild)
        return tls_domain_norm(v, strlen(v), out->name);
    if (v[1] != '.')
        return false;
    /* The rest is an ordinary domain: a second star fails the LDH check
     * of jid_domain_prep, and "at least two labels" is tls_domain_norm's. */
    out->name[0] = '*';
    out->name[1] = '.';
    return tls_domain_norm(v + 2, strlen(v + 2), out->name + 2);
}

/* An SRVName "_service.domain": only the service of svc counts, and its
 * domain is never a wildcard (the LDH check refuses '*'). */
static bool
tls_norm_srv(const char *v, enum tls_match_service svc, struct tls_norm *out)
{
    const char *pre = svc == TLS_MATCH_S2S ? TLS_SRV_S2S : TLS_SRV_C2S;
    size_t plen = strlen(pre);
    if (!tls_ascii(v) || strncasecmp(v, pre, plen) != 0)
        return false;
    out->wild = false;
    return tls_domain_norm(v + plen, strlen(v + plen), out->name);
}

/* An id-on-xmppAddr (UTF-8, unprepared): it names a domain only if it is a
 * domain JID. Any '@' or '/' means a localpart or resourcepart (RFC 7622
 * §3.1), and such a JID identifies an account, never the domain. */
static bool
tls_norm_xmppaddr(const char *v, struct tls_norm *out)
{
    if (strpbrk(v, "@/") != NULL)
        return false;
    out->wild = false;
    return tls_domain_norm(v, strlen(v), out->name);
}

/* The normalised contribution of one identity; false if it has none. */
static bool
tls_norm_identity(const struct tls_identity *id,
                  enum tls_match_service svc,
                  struct tls_norm *out)
{
    if (id->value == NULL)
        return false;
    switch (id->type) {
    case TLS_ID_DNS:
        return tls_norm_dns(id->value, out);
    case TLS_ID_SRV:
        return tls_norm_srv(id->value, svc, out);
    case TLS_ID_XMPPADDR:
        return tls_norm_xmppaddr(id->value, out);
    }
    return false;
}

bool
tls_wildcard_match(const char *pattern, const char *domain)
{
    if (pattern == NULL || domain == NULL || pattern[0] != '*' ||
        pattern[1] != '.')
        return false;
    /* The star stands for exactly one non-empty LDH label in front of the
     * pattern's rest; a '*' in the domain is no label, should a caller
     * pass "*.example.com" unnormalised. */
    size_t label = strspn(domain, "abcdefghijklmnopqrstuvwxyz"
                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-");
    if (label == 0 || domain[label] != '.')
        return false;
    return strcasecmp(domain + label + 1, pattern + 2) == 0;
}

bool
tls_identities_cover(const struct tls_identities *ids,
                     const char *domain,
                     enum tls_match_service svc)
{
    if (ids == NULL || domain == NULL || domain[0] == '\0')
        return false;
    for (size_t i = 0; i < ids->n; i++) {
        struct tls_norm nm;
        if (!tls_norm_identity(&ids->v[i], svc, &nm))
            continue;
        if (nm.wild ? tls_wildcard_match(nm.name, domain)
                    : strcasecmp(nm.name, domain) == 0)
            return true;
    }
    return false;
}

/* True if s is one of v[0..n). */
static bool
tls_domains_has(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v[i], s) == 0)
            return true;
    }
    return false;
}

/* Collect the domains (wild false) or the patterns (wild true) of ids,
 * normalised and deduplicated, into a new array. */
static size_t
tls_collect(const struct tls_identities *ids,
            enum tls_match_service svc,
            bool wild,
            char ***out)
{
    *out = NULL;
    if (ids == NULL || ids->n == 0)
        return 0;
    char **v = x_calloc(ids->n, sizeof *v);
    size_t n = 0;
    for (size_t i = 0; i < ids->n; i++) {
        struct tls_norm nm;
        if (!tls_norm_identity(&ids->v[i], svc, &nm) || nm.wild != wild ||
            tls_domains_has(v, n, nm.name))
            continue;
        v[n++] = x_strdup(nm.name);
    }
    if (n == 0) {
        x_free(v);
        return 0;
    }
    *out = v;
    return n;
}

size_t
tls_identities_domains(const struct tls_identities *ids,
                       enum tls_match_service svc,
                       char ***out)
{
    return tls_collect(ids, svc, false, out);
}

size_t
tls_identities_wildcards(const struct tls_identities *ids, char ***out)
{
    /* Only DNS-IDs carry wildcards, so the service does not matter. */
    return tls_collect(ids, TLS_MATCH_S2S, true, out);
}

void
tls_domains_free(char **v, size_t n)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        x_free(v[i]);
    x_free(v);
}
