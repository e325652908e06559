/* SPDX-License-Identifier: MIT */
/* sasl_external.c -- EXTERNAL with a verified certificate (XEP-0178). */
#include <string.h>

#include "base/alloc.h"
#include "jid/jid.h"
#include "sasl/sasl_int.h"

/* Authorize as j: its localpart (if any) is the user, its bare JID the
 * authzid. For s2s the certificate JIDs are domains, so there is none. */
static enum sasl_status
authorize(struct sasl_session *s, const struct jid *j)
{
    size_t n = 0;
    const char *node = jid_node(j, &n);
    if (node)
        s->user = x_strndup(node, n);
    const char *bare = jid_bare(j, &n);
    s->authzid = x_strndup(bare, n);
    return sasl__succeed(s);
}

/* The certificate JID i of the session, prepared; false if it does not
 * parse (the caller vouched for it, so this is not the client's fault). */
static bool
cert_jid(const struct sasl_session *s, size_t i, struct jid *j)
{
    const char *c = s->cert_jids[i];
    return jid_parse(j, c, strlen(c)) == 0;
}

/* No authzid: XEP-0178 lets the server pick the identity only when the
 * certificate has exactly one; with several the client must choose
 * (MUX.md §10.2, conformance MUX-43: invalid-authzid). */
static enum sasl_status
external_implicit(struct sasl_session *s)
{
    struct jid j;
    if (s->ncert_jids != 1 || s->authzid_required)
        return sasl__fail(s, SASL_INVALID_AUTHZID, SASL_WHY_PROTOCOL);
    if (!cert_jid(s, 0, &j))
        return sasl__fail(s, SASL_NOT_AUTHORIZED, SASL_WHY_PROTOCOL);
    enum sasl_status st = authorize(s, &j);
    jid_fini(&j);
    return st;
}

/* An authzid: it must be one of the certificate's JIDs, compared in
 * prepared form; a full JID is never an authorization identity. */
static enum sasl_status
external_explicit(struct sasl_session *s, const char *data, size_t len)
{
    struct jid want;
    if (len > SASL_AUTHZID_MAX || jid_parse(&want, data, len) != 0)
        return sasl__fail(s, SASL_INVALID_AUTHZID, SASL_WHY_PROTOCOL);
    enum sasl_status st = SASL_FAILURE;
    bool found = false;
    for (size_t i = 0; i < s->ncert_jids && !found && !jid_has_resource(&want);
         i++) {
        struct jid j;
        if (!cert_jid(s, i, &j))
            continue;
        if (jid_bare_eq(&j, &want)) {
            found = true;
            st = authorize(s, &j);
        }
        jid_fini(&j);
    }
    jid_fini(&want);
    if (!found)
        st = sasl__fail(s, SASL_INVALID_AUTHZID, SASL_WHY_PROTOCOL);
    return st;
}

enum sasl_status
sasl__external_first(struct sasl_session *s,
                     const char *data,
                     size_t len,
                     struct buf *out)
{
    (void)out;
    return len == 0 ? external_implicit(s) : external_explicit(s, data, len);
}
