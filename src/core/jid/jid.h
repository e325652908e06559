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
/* Size of a buffer that can hold any prepared localpart or resourcepart. */
#define JID_PART_BUFSZ (JID_PART_MAX + 1)
/* Longest part accepted before preparation. Preparation can shrink text
 * (composition, characters mapped to nothing), but libidn's stringprep is
 * super-linear, so raw parts are bounded too; 3x covers decomposed Hangul,
 * the largest composition ratio. */
#define JID_PART_RAW_MAX ((size_t)3 * JID_PART_MAX)

/* A prepared address, held in one allocation "node@domain/resource" so that
 * the full JID is a C string and the bare JID is its prefix. Comparisons
 * are byte comparisons of prepared forms and never allocate. A zeroed
 * struct is the empty (unset) JID; read the fields through the accessors. */
struct jid {
    char *str;         /* NUL-terminated full JID; owned; NULL when unset */
    size_t node_len;   /* 0: no localpart */
    size_t domain_len; /* 0 only when unset */
    size_t res_len;    /* 0: no resourcepart */
};

/* Parse and prepare s[0..len) per RFC 7622 §3.1: the first '/' starts the
 * resourcepart, and the localpart ends at the first '@' before it. The
 * localpart goes through nodeprep, the resourcepart through resourceprep
 * (libidn, unassigned code points refused) and the domainpart through
 * jid_domain_prep. j is overwritten and zeroed on failure. Returns 0, XE_JID
 * (invalid UTF-8 or a NUL byte), or XE_JID_NODE / XE_JID_DOMAIN /
 * XE_JID_RESOURCE for the first part (in that order) that is empty, longer
 * than JID_PART_MAX once prepared (or than JID_PART_RAW_MAX before), or
 * refused by its profile. */
int jid_parse(struct jid *j, const char *s, size_t len);
/* Free the calling thread's cache of recent parses (jid_parse keeps one
 * per thread); the next parse starts a new one. For a thread that ends,
 * and for leak checkers at exit. */
void jid_cache_free(void);
/* Build j from separate NUL-terminated parts; node and resource may be NULL
 * (absent). Same preparation and errors as jid_parse. */
int jid_init_parts(struct jid *j,
                   const char *node,
                   const char *domain,
                   const char *resource);
/* Make out the bare JID of j plus the resource res[0..len), prepared with
 * resourceprep. out is overwritten, not freed, unless it is j: then j's old
 * string is released. Returns 0 or XE_JID (j unset) / XE_JID_RESOURCE; out
 * is zeroed on failure. */
int jid_with_resource(struct jid *out,
                      const struct jid *j,
                      const char *res,
                      size_t len);
/* Make dst the bare JID of src. dst may be src: then the resource is cut
 * off in place, without allocating. */
void jid_to_bare(struct jid *dst, const struct jid *src);
/* Make dst a deep copy of src; dst must not be src and is overwritten,
 * not freed. */
void jid_dup(struct jid *dst, const struct jid *src);
/* Free j's memory and zero it; accepts NULL and zeroed structs. */
void jid_fini(struct jid *j);

/* True if a and b are the same full JID (prepared forms, byte for byte). */
bool jid_eq(const struct jid *a, const struct jid *b);
/* True if a and b have the same bare JID (resources ignored). */
bool jid_bare_eq(const struct jid *a, const struct jid *b);
/* True if j's domainpart is d[0..len), which must already be prepared
 * (jid_domain_prep); unprepared input simply does not match. */
bool jid_domain_eq(const struct jid *j, const char *d, size_t len);

/* Prepare a domainpart: strip one trailing '.', map U-labels to A-labels
 * (IDNA2008 via libidn2, without STD3 rules), lower-case ASCII, and check
 * every label (1..63 octets of letters, digits and '-', not starting or
 * ending with '-', no "--" in octets 3-4 except in A-labels; the last label
 * not all digits) or accept an IP literal ("127.0.0.1", "[::1]"; IPv6 is
 * written in RFC 5952 form). Writes the NUL-terminated result to out
 * (outlen >= JID_DOMAIN_BUFSZ always suffices) and its length to *outn
 * (outn may be NULL). Returns 0, XE_JID_DOMAIN, or XE_LIMIT if a valid
 * result does not fit in outlen. */
int jid_domain_prep(
    const char *in, size_t len, char *out, size_t outlen, size_t *outn);
/* Prepare a localpart with nodeprep (unassigned code points refused), as
 * jid_domain_prep does a domainpart (JID_PART_BUFSZ suffices). Returns 0,
 * XE_JID_NODE or XE_LIMIT. Also suits user names in SASL. */
int jid_node_prep(
    const char *in, size_t len, char *out, size_t outlen, size_t *outn);
/* Prepare a resourcepart with resourceprep, like jid_node_prep. Returns 0,
 * XE_JID_RESOURCE or XE_LIMIT. */
int jid_resource_prep(
    const char *in, size_t len, char *out, size_t outlen, size_t *outn);

/* Offset of the domainpart in j->str. */
static inline size_t
jid__domain_off(const struct jid *j)
{
    return j->node_len ? j->node_len + 1 : 0;
}

/* Length of the bare JID "node@domain" (0 when unset). */
static inline size_t
jid_bare_len(const struct jid *j)
{
    return jid__domain_off(j) + j->domain_len;
}

/* Length of the full JID. */
static inline size_t
jid_len(const struct jid *j)
{
    return jid_bare_len(j) + (j->res_len ? j->res_len + 1 : 0);
}

/* The full JID as a C string, borrowed from j; "" when unset. */
static inline const char *
jid_str(const struct jid *j)
{
    return j->str ? j->str : "";
}

/* The bare JID: a prefix of jid_str, not NUL-terminated unless j has no
 * resource. Stores its length in *lenp (if not NULL). */
static inline const char *
jid_bare(const struct jid *j, size_t *lenp)
{
    if (lenp)
        *lenp = jid_bare_len(j);
    return jid_str(j);
}

/* The localpart (not NUL-terminated), or NULL with length 0 if absent. */
static inline const char *
jid_node(const struct jid *j, size_t *lenp)
{
    if (lenp)
        *lenp = j->node_len;
    return j->node_len ? j->str : NULL;
}

/* The domainpart (not NUL-terminated), or NULL with length 0 if unset. */
static inline const char *
jid_domain(const struct jid *j, size_t *lenp)
{
    if (lenp)
        *lenp = j->domain_len;
    return j->str ? j->str + jid__domain_off(j) : NULL;
}

/* The resourcepart (NUL-terminated), or NULL with length 0 if absent. */
static inline const char *
jid_resource(const struct jid *j, size_t *lenp)
{
    if (lenp)
        *lenp = j->res_len;
    return j->res_len ? j->str + jid_bare_len(j) + 1 : NULL;
}

/* True if j has a localpart. */
static inline bool
jid_has_node(const struct jid *j)
{
    return j->node_len != 0;
}

/* True if j has a resourcepart (is a full JID). */
static inline bool
jid_has_resource(const struct jid *j)
{
    return j->res_len != 0;
}

#endif
