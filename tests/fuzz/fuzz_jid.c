/* SPDX-License-Identifier: MIT */
/* fuzz_jid.c -- libFuzzer target: JID parsing, idempotence, accessors. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "jid/jid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fuzz checks must survive NDEBUG builds, so no assert(). */
static void
check(bool ok)
{
    if (!ok)
        abort();
}

/* The parts, the bare prefix and the full string must agree. */
static void
check_layout(const struct jid *j)
{
    size_t nn, dn, rn, bn;
    const char *s = jid_str(j);
    const char *node = jid_node(j, &nn);
    const char *dom = jid_domain(j, &dn);
    const char *res = jid_resource(j, &rn);
    const char *bare = jid_bare(j, &bn);
    check(strlen(s) == jid_len(j));
    check(bare == s && bn <= jid_len(j));
    check(dom != NULL && dn > 0 && dn <= JID_PART_MAX);
    check(memchr(dom, '@', dn) == NULL && memchr(dom, '/', dn) == NULL);
    check(dom + dn == s + bn);
    check((node != NULL) == jid_has_node(j));
    if (node) {
        check(node == s && nn <= JID_PART_MAX && node[nn] == '@');
        check(memchr(node, '@', nn) == NULL && memchr(node, '/', nn) == NULL);
        check(dom == s + nn + 1);
    } else {
        check(dom == s);
    }
    check((res != NULL) == jid_has_resource(j));
    if (res) {
        check(rn <= JID_PART_MAX && res[-1] == '/' && res == s + bn + 1);
        check(res[rn] == '\0');
    } else {
        check(bn == jid_len(j));
    }
    check(jid_domain_eq(j, dom, dn));
}

/* Preparing a prepared part again must change nothing. */
static void
check_parts_idempotent(const struct jid *j)
{
    char buf[JID_DOMAIN_BUFSZ];
    size_t n, dn;
    const char *dom = jid_domain(j, &dn);
    check(jid_domain_prep(dom, dn, buf, sizeof buf, &n) == 0);
    check(n == dn && memcmp(buf, dom, n) == 0);
    const char *node = jid_node(j, &dn);
    if (node) {
        check(jid_node_prep(node, dn, buf, sizeof buf, &n) == 0);
        check(n == dn && memcmp(buf, node, n) == 0);
    }
}

/* Copies, bare forms and rebuilt JIDs must compare as they should. */
static void
check_derived(const struct jid *j)
{
    struct jid c, b;
    jid_dup(&c, j);
    check(jid_eq(&c, j) && jid_bare_eq(&c, j));
    jid_to_bare(&b, j);
    check(jid_bare_eq(&b, j) && !jid_has_resource(&b));
    check(jid_eq(&b, j) == !jid_has_resource(j));
    jid_to_bare(&c, &c);
    check(jid_eq(&b, &c));
    size_t rn;
    const char *res = jid_resource(j, &rn);
    if (res) {
        check(jid_with_resource(&c, &c, res, rn) == 0);
        check(jid_eq(&c, j));
    }
    size_t nn, dn;
    const char *node = jid_node(j, &nn);
    const char *dom = jid_domain(j, &dn);
    char *ncopy = node ? x_strndup(node, nn) : NULL;
    char *dcopy = x_strndup(dom, dn);
    struct jid r;
    check(jid_init_parts(&r, ncopy, dcopy, res) == 0);
    check(jid_eq(&r, j));
    x_free(ncopy);
    x_free(dcopy);
    jid_fini(&r);
    jid_fini(&b);
    jid_fini(&c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jid j;
    if (jid_parse(&j, (const char *)data, size) != 0) {
        check(j.str == NULL && j.node_len == 0 && j.domain_len == 0 &&
              j.res_len == 0);
        return 0;
    }
    check_layout(&j);
    struct jid again;
    check(jid_parse(&again, jid_str(&j), jid_len(&j)) == 0);
    check(jid_eq(&again, &j));
    check(again.node_len == j.node_len && again.domain_len == j.domain_len &&
          again.res_len == j.res_len);
    check_parts_idempotent(&j);
    check_derived(&j);
    jid_fini(&again);
    jid_fini(&j);
    return 0;
}
