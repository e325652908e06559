/* SPDX-License-Identifier: MIT */
/* jid.c -- parse, normalise and compare XMPP addresses (RFC 7622). */
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

int
jid_parse(struct jid *j, const char *s, size_t len)
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
