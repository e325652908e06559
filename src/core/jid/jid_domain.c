/* SPDX-License-Identifier: MIT */
/* jid_domain.c -- prepare domainparts: IP literals, LDH labels, IDNA2008. */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include <idn2.h>

#include "base/alloc.h"
#include "base/err.h"
#include "jid/jid.h"
#include "jid/jid_int.h"

/* RFC 1035 §2.3.4. */
#define LABEL_MAX 63

/* IDNA2008 lookup with UTS #46 non-transitional mapping (case, width,
 * U+3002 as a dot). Deliberately without IDN2_USE_STD3_ASCII_RULES: that
 * flag makes libidn2 delete '_' silently and accept empty labels, so the
 * output is checked here instead. */
#define IDN_FLAGS (IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL)

/* Output under construction: at most JID_PART_MAX octets plus a NUL. */
struct dom_out {
    char *p; /* JID_DOMAIN_BUFSZ bytes */
    size_t n;
};

/* Append s[0..n) to o; false if the domain would pass JID_PART_MAX. */
static bool
out_add(struct dom_out *o, const char *s, size_t n)
{
    if (n > JID_PART_MAX - o->n)
        return false;
    memcpy(o->p + o->n, s, n);
    o->n += n;
    o->p[o->n] = '\0';
    return true;
}

/* Is s[0..n) a lower-case LDH label (RFC 5890 §2.3.1)? Octets 3-4 may be
 * "--" only in an A-label ("xn--"), and then only if libidn2 produced or
 * checked it (allow_xn); other such R-LDH labels are reserved. */
static bool
ldh_label_ok(const char *s, size_t n, bool allow_xn)
{
    if (n == 0 || n > LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    if (n >= 4 && s[2] == '-' && s[3] == '-')
        return allow_xn && s[0] == 'x' && s[1] == 'n';
    return true;
}

/* Check the labels of libidn2's output s[0..n), which can hold several
 * labels when the input had an ideographic full stop, and append it. */
static bool
add_idn_output(struct dom_out *o, const char *s, size_t n)
{
    size_t i = 0;
    for (;;) {
        const char *dot = memchr(s + i, '.', n - i);
        size_t end = dot ? (size_t)(dot - s) : n;
        if (!ldh_label_ok(s + i, end - i, true))
            return false;
        if (!dot)
            break;
        i = end + 1;
    }
    return out_add(o, s, n);
}

/* Map one label through libidn2 (validating A-labels too) and append it. */
static bool
prep_label_idn(struct dom_out *o, const char *s, size_t n)
{
    char *in = x_strndup(s, n);
    uint8_t *res = NULL;
    int rc = idn2_lookup_u8((const uint8_t *)in, &res, IDN_FLAGS);
    x_free(in);
    bool ok = rc == IDN2_OK &&
              add_idn_output(o, (const char *)res, strlen((char *)res));
    idn2_free(res);
    return ok;
}

/* Prepare one label s[0..n) and append it to o. Plain ASCII labels are
 * lower-cased and checked here: libidn2 would only do the same, slowly.
 * A-labels and non-ASCII labels go through libidn2. */
static bool
prep_label(struct dom_out *o, const char *s, size_t n, bool force_idn)
{
    bool ascii = true;
    for (size_t i = 0; i < n && ascii; i++)
        ascii = (unsigned char)s[i] < 0x80;
    bool xn = n >= 4 && (s[0] | 0x20) == 'x' && (s[1] | 0x20) == 'n' &&
              s[2] == '-' && s[3] == '-';
    if (!ascii || xn || force_idn)
        return prep_label_idn(o, s, n);
    if (n == 0 || n > LABEL_MAX)
        return false;
    char lab[LABEL_MAX];
    for (size_t i = 0; i < n; i++)
        lab[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + ('a' - 'A') : s[i]);
    return ldh_label_ok(lab, n, false) && out_add(o, lab, n);
}

/* True if s[0..n) is all digits. */
static bool
all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

/* Prepare a host name label by label into o. */
static bool
prep_hostname(struct dom_out *o, const char *in, size_t len, bool force_idn)
{
    size_t i = 0;
    for (;;) {
        const char *dot = memchr(in + i, '.', len - i);
        size_t end = dot ? (size_t)(dot - in) : len;
        if (i > 0 && !out_add(o, ".", 1))
            return false;
        if (!prep_label(o, in + i, end - i, force_idn))
            return false;
        if (!dot)
            break;
        i = end + 1;
    }
    /* No top-level domain is all digits (RFC 3696 §2). Refusing such names
     * keeps "127.1" or "1.2.3.04", which resolvers read as IPv4 addresses,
     * from passing for host names. */
    const char *last = memrchr(o->p, '.', o->n);
    size_t off = last ? (size_t)(last - o->p) + 1 : 0;
    return !all_digits(o->p + off, o->n - off);
}

/* An IPv4 literal in dotted-quad form; inet_pton refuses leading zeros and
 * short forms, so the accepted text is already canonical. */
static bool
prep_ipv4(struct dom_out *o, const char *in, size_t len)
{
    char tmp[INET_ADDRSTRLEN];
    struct in_addr a;
    if (len >= sizeof tmp)
        return false;
    memcpy(tmp, in, len);
    tmp[len] = '\0';
    return inet_pton(AF_INET, tmp, &a) == 1 && out_add(o, in, len);
}

/* An IPv6 literal "[...]" (RFC 3986 IP-literal, without zone or IPvFuture),
 * rewritten in RFC 5952 form so that equal addresses compare equal. */
static bool
prep_ipv6(struct dom_out *o, const char *in, size_t len)
{
    char tmp[INET6_ADDRSTRLEN + 2];
    struct in6_addr a;
    if (len < 3 || in[len - 1] != ']' || len - 2 >= INET6_ADDRSTRLEN)
        return false;
    memcpy(tmp, in + 1, len - 2);
    tmp[len - 2] = '\0';
    if (inet_pton(AF_INET6, tmp, &a) != 1)
        return false;
    tmp[0] = '[';
    if (inet_ntop(AF_INET6, &a, tmp + 1, INET6_ADDRSTRLEN) == NULL)
        return false;
    size_t n = strlen(tmp);
    tmp[n] = ']';
    return out_add(o, tmp, n + 1);
}

int
jid__domain_prep(const char *in,
                 size_t len,
                 char *out,
                 size_t outlen,
                 size_t *outn,
                 bool force_idn)
{
    if (outn)
        *outn = 0;
    if (outlen > 0)
        out[0] = '\0';
    if (in == NULL)
        return XE_JID_DOMAIN;
    /* RFC 7622 §3.2: a final dot is stripped before anything else. */
    if (len > 0 && in[len - 1] == '.')
        len--;
    if (len == 0 || len > JID_PART_RAW_MAX)
        return XE_JID_DOMAIN;
    enum jid__text kind = jid__utf8_scan(in, len);
    if (kind == JID__TEXT_BAD)
        return XE_JID_DOMAIN;
    char buf[JID_DOMAIN_BUFSZ];
    struct dom_out o = {buf, 0};
    bool ok;
    if (kind == JID__TEXT_ASCII && in[0] == '[')
        ok = prep_ipv6(&o, in, len);
    else if (kind == JID__TEXT_ASCII && prep_ipv4(&o, in, len))
        ok = true;
    else
        ok = prep_hostname(&o, in, len, force_idn);
    if (!ok)
        return XE_JID_DOMAIN;
    if (o.n + 1 > outlen)
        return XE_LIMIT;
    memcpy(out, buf, o.n + 1);
    if (outn)
        *outn = o.n;
    return 0;
}

int
jid_domain_prep(
    const char *in, size_t len, char *out, size_t outlen, size_t *outn)
{
    return jid__domain_prep(in, len, out, outlen, outn, false);
}
