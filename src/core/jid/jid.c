/* SPDX-License-Identifier: MIT */
/* jid.c -- parse, normalise and compare XMPP addresses (RFC 7622). */
#include <stdint.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "jid/jid.h"
#include "jid/jid_int.h"

/* One part of an address before preparation; p == NULL means absent. */
struct span {
    const char *p;
    size_t n;
};

/* Prepared parts, kept on the stack until they are joined. */
struct parts {
    char node[JID_PART_BUFSZ];
    char domain[JID_DOMAIN_BUFSZ];
    char res[JID_PART_BUFSZ];
    size_t node_len, domain_len, res_len;
};

/* Join prepared parts into j with a single allocation. Preparation never
 * yields an empty part, so a length of 0 means the part is absent. */
static void
join(struct jid *j,
     const char *node,
     size_t node_len,
     const char *domain,
     size_t domain_len,
     const char *res,
     size_t res_len)
{
    size_t len = (node_len ? node_len + 1 : 0) + domain_len +
                 (res_len ? res_len + 1 : 0);
    char *p = x_malloc(len + 1);
    j->str = p;
    if (node_len) {
        memcpy(p, node, node_len);
        p[node_len] = '@';
        p += node_len + 1;
    }
    memcpy(p, domain, domain_len);
    p += domain_len;
    if (res_len) {
        *p++ = '/';
        memcpy(p, res, res_len);
        p += res_len;
    }
    *p = '\0';
    j->node_len = node_len;
    j->domain_len = domain_len;
    j->res_len = res_len;
}

/* Prepare each part (localpart, then domainpart, then resourcepart, so the
 * error names the first bad one) and join them into j. */
static int
build(struct jid *j, struct span node, struct span domain, struct span res)
{
    struct parts pp;
    pp.node_len = pp.res_len = 0;
    if (node.p && jid_node_prep(node.p, node.n, pp.node, sizeof pp.node,
                                &pp.node_len) != 0)
        return XE_JID_NODE;
    if (jid_domain_prep(domain.p, domain.n, pp.domain, sizeof pp.domain,
                        &pp.domain_len) != 0)
        return XE_JID_DOMAIN;
    if (res.p && jid_resource_prep(res.p, res.n, pp.res, sizeof pp.res,
                                   &pp.res_len) != 0)
        return XE_JID_RESOURCE;
    join(j, pp.node, pp.node_len, pp.domain, pp.domain_len, pp.res, pp.res_len);
    return 0;
}

/* Preparation (stringprep, IDNA) is most of a parse, and the same few
 * addresses come again and again on a stream: each thread keeps the last
 * JID_CACHE_SLOTS successful parses of short inputs, found by a hash of
 * the raw bytes and compared whole, so a hit is exactly what parsing the
 * same bytes again would give. A slot costs at most 2 * JID_CACHE_INPUT
 * bytes; anything longer or failing is parsed every time. */
#define JID_CACHE_SLOTS 256
#define JID_CACHE_INPUT 96

struct jid_cache_slot {
    unsigned char raw_len; /* 0: empty */
    char raw[JID_CACHE_INPUT];
    struct jid j; /* the parse; j.str owned by the cache */
};

static _Thread_local struct jid_cache_slot *jid_cache;

static size_t
jid_cache_index(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h % JID_CACHE_SLOTS;
}

static int jid_parse_uncached(struct jid *j, const char *s, size_t len);

int
jid_parse(struct jid *j, const char *s, size_t len)
{
    if (s == NULL || len == 0 || len >= JID_CACHE_INPUT)
        return jid_parse_uncached(j, s, len);
    if (jid_cache == NULL)
        jid_cache = x_calloc(JID_CACHE_SLOTS, sizeof(*jid_cache));
    struct jid_cache_slot *c = &jid_cache[jid_cache_index(s, len)];
    if (c->raw_len == len && memcmp(c->raw, s, len) == 0) {
        jid_dup(j, &c->j);
        return 0;
    }
    int rc = jid_parse_uncached(j, s, len);
    if (rc == 0 && jid_len(j) < JID_CACHE_INPUT) {
        jid_fini(&c->j);
        jid_dup(&c->j, j);
        memcpy(c->raw, s, len);
        c->raw_len = (unsigned char)len;
    }
    return rc;
}

void
jid_cache_free(void)
{
    if (jid_cache == NULL)
        return;
    for (size_t i = 0; i < JID_CACHE_SLOTS; i++)
        jid_fini(&jid_cache[i].j);
    x_free(jid_cache);
    jid_cache = NULL;
}

static int
jid_parse_uncached(struct jid *j, const char *s, size_t len)
{
    memset(j, 0, sizeof *j);
    if (len == 0)
        return XE_JID_DOMAIN;
    if (s == NULL || jid__utf8_scan(s, len) == JID__TEXT_BAD)
        return XE_JID;
    /* RFC 7622 §3.1: the first '/' starts the resourcepart (which may hold
     * '@' and '/'), and the first '@' before it ends the localpart. */
    const char *slash = memchr(s, '/', len);
    size_t head = slash ? (size_t)(slash - s) : len;
    const char *at = memchr(s, '@', head);
    struct span node = {NULL, 0};
    struct span domain = {s, head};
    struct span res = {NULL, 0};
    if (at) {
        node = (struct span){s, (size_t)(at - s)};
        domain = (struct span){at + 1, head - node.n - 1};
    }
    if (slash)
        res = (struct span){slash + 1, len - head - 1};
    return build(j, node, domain, res);
}

int
jid_init_parts(struct jid *j,
               const char *node,
               const char *domain,
               const char *resource)
{
    memset(j, 0, sizeof *j);
    struct span n = {node, node ? strlen(node) : 0};
    struct span d = {domain, domain ? strlen(domain) : 0};
    struct span r = {resource, resource ? strlen(resource) : 0};
    return build(j, n, d, r);
}

int
jid_with_resource(struct jid *out,
                  const struct jid *j,
                  const char *res,
                  size_t len)
{
    char buf[JID_PART_BUFSZ];
    size_t n;
    int rc = jid_resource_prep(res, len, buf, sizeof buf, &n);
    struct jid tmp = {0};
    /* The bare part of j is already prepared: copy it as it is. */
    if (rc == 0 && j->str)
        join(&tmp, j->str, j->node_len, jid_domain(j, NULL), j->domain_len, buf,
             n);
    else if (rc == 0)
        rc = XE_JID;
    if (out == j)
        jid_fini(out); /* only now that j has been read */
    *out = tmp;
    return rc;
}

void
jid_to_bare(struct jid *dst, const struct jid *src)
{
    if (dst == src) {
        if (dst->res_len) {
            dst->str[jid_bare_len(dst)] = '\0';
            dst->res_len = 0;
        }
        return;
    }
    memset(dst, 0, sizeof *dst);
    if (src->str == NULL)
        return;
    dst->str = x_strndup(src->str, jid_bare_len(src));
    dst->node_len = src->node_len;
    dst->domain_len = src->domain_len;
}

void
jid_dup(struct jid *dst, const struct jid *src)
{
    *dst = *src;
    if (src->str)
        dst->str = x_memdup(src->str, jid_len(src) + 1);
}

void
jid_fini(struct jid *j)
{
    if (j == NULL)
        return;
    x_free(j->str);
    memset(j, 0, sizeof *j);
}

/* Equal byte strings of prepared forms are equal JIDs, part by part too:
 * localparts and domainparts never contain '@' or '/', so the split of a
 * prepared string is unique. */
static bool
bytes_eq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

bool
jid_eq(const struct jid *a, const struct jid *b)
{
    return bytes_eq(jid_str(a), jid_len(a), jid_str(b), jid_len(b));
}

bool
jid_bare_eq(const struct jid *a, const struct jid *b)
{
    return bytes_eq(jid_str(a), jid_bare_len(a), jid_str(b), jid_bare_len(b));
}

bool
jid_domain_eq(const struct jid *j, const char *d, size_t len)
{
    size_t n;
    const char *jd = jid_domain(j, &n);
    return jd != NULL && d != NULL && bytes_eq(jd, n, d, len);
}
