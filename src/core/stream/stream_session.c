/* SPDX-License-Identifier: MIT */
/* stream_session.c -- receiving role, c2s: resource binding and stanzas. */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "stream/stream_int.h"

/* Reply to an IQ with an error (RFC 6120 §8.3) and keep the stream. */
static int
iq_error(struct stream *s, const struct stanza *iq, enum stanza_cond c)
{
    struct stanza *e = stanza_error_reply(iq, c, NULL);
    return stream__send_take(s, e);
}

/* A resource the client left to us: 16 random bytes, hex. */
static void
random_resource(struct stream *s, char *out, size_t outlen)
{
    unsigned char r[8];
    s->ctx->random(s->ctx->random_arg, r, sizeof(r));
    snprintf(out, outlen, "xmux-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7]);
}

/* <iq type='set'><bind><resource>R</resource></bind></iq> (RFC 6120 §7). */
static int
bind_resource(struct stream *s, struct stanza *iq, struct stanza *bind)
{
    /* c2s mux: the other identities' accounts first (MUX-40). */
    if (stream__mux_check_accounts(s, iq))
        return 0;
    struct stanza *res = stanza_child(bind, NS_BIND, "resource");
    char gen[32];
    const char *r = NULL;
    size_t rlen = 0;
    if (res) {
        r = stanza_text(res, &rlen);
        if (r == NULL)
            return iq_error(s, iq, XC_BAD_REQUEST);
    }
    if (rlen == 0 || stream__mux_resource_busy(s, r, rlen)) {
        random_resource(s, gen, sizeof(gen));
        r = gen;
        rlen = strlen(gen);
    }
    struct jid full;
    if (jid_with_resource(&full, &s->jid, r, rlen) != 0)
        return iq_error(s, iq, XC_BAD_REQUEST);
    struct jid bare = s->jid;
    s->jid = full;
    int rc = s->ctx->ops->bind(s->ctx->ops_arg, s);
    if (rc != 0) {
        s->jid = bare;
        jid_fini(&full);
        /* RFC 6120 §7.6.2.1: too many resources for the account. */
        return iq_error(s, iq,
                        rc == XE_LIMIT ? XC_RESOURCE_CONSTRAINT : XC_CONFLICT);
    }
    jid_fini(&bare);
    s->bound = true;
    stream_identity_add(s, &s->jid);
    stream__mux_bind_also(s, r, rlen);
    log_msg(s->ctx->log, LOG_INFO, s->conn, "event=bound jid=%s",
            jid_str(&s->jid));
    struct stanza *reply = stanza_new(NS_CLIENT, "iq");
    stanza_set_attr(reply, "type", "result");
    const char *id = stanza_attr(iq, "id");
    if (id)
        stanza_set_attr(reply, "id", id);
    struct stanza *b = stanza_add_child(reply, NS_BIND, "bind");
    struct stanza *j = stanza_add_child(b, NULL, "jid");
    stanza_add_text(j, jid_str(&s->jid), jid_len(&s->jid));
    stream__send_take(s, reply);
    stream__set_state(s, STREAM_ST_SESSION);
    return 0;
}

/* The legacy session IQ (RFC 3921 §3): an empty result. */
static int
session_result(struct stream *s, const struct stanza *iq)
{
    struct stanza *reply = stanza_new(NS_CLIENT, "iq");
    stanza_set_attr(reply, "type", "result");
    const char *id = stanza_attr(iq, "id");
    if (id)
        stanza_set_attr(reply, "id", id);
    return stream__send_take(s, reply);
}

/* An IQ set addressed to the stream itself (no 'to') carrying bind or
 * session, or NULL. */
static struct stanza *
negotiation_iq(const struct stanza *el, const char *ns, const char *name)
{
    if (!stanza_is(el, NS_CLIENT, "iq"))
        return NULL;
    const char *type = stanza_attr(el, "type");
    if (type == NULL || strcmp(type, "set") != 0 ||
        stanza_attr(el, "to") != NULL)
        return NULL;
    return stanza_child(el, ns, name);
}

int
stream__bind_element(struct stream *s, struct stanza *el)
{
    struct stanza *b = negotiation_iq(el, NS_BIND, "bind");
    if (b)
        return bind_resource(s, el, b);
    if (negotiation_iq(el, NS_SESSION, "session"))
        return session_result(s, el);
    /* RFC 6120 §7.1: no stanzas before a resource is bound. */
    if (stanza_is_stanza(el))
        return stream__fail(s, SC_NOT_AUTHORIZED, "bind a resource first");
    return stream__fail(s, SC_UNSUPPORTED_STANZA_TYPE, NULL);
}

/* Check and stamp 'from' against the session's identity set (CORE-13,
 * CORE-14, MUX.md D-05): absent → the primary full JID; a bare JID of the
 * set → that identity's full JID; a full JID of the set → kept; anything
 * else ends the stream with <invalid-from/>. */
static int
check_from(struct stream *s, struct stanza *st)
{
    const char *from = stanza_attr(st, "from");
    if (from == NULL) {
        stanza_set_attr_n(st, "from", jid_str(&s->jid), jid_len(&s->jid));
        return 0;
    }
    struct jid j;
    if (jid_parse(&j, from, strlen(from)) != 0)
        return XE_PROTO;
    const struct jid *id = stream_identity_find(s, &j);
    bool bare = !jid_has_resource(&j);
    jid_fini(&j);
    if (id == NULL)
        return XE_PROTO;
    if (bare)
        stanza_set_attr_n(st, "from", jid_str(id), jid_len(id));
    return 0;
}

/* A malformed 'to' gets <jid-malformed/> (RFC 6120 §8.3.3.8); a valid
 * one stays parsed in s->stanza_to for the router. */
static bool
to_valid(struct stream *s, const struct stanza *st)
{
    const char *to = stanza_attr(st, "to");
    return to == NULL || jid_parse(&s->stanza_to, to, strlen(to)) == 0;
}

int
stream__session_element(struct stream *s, struct stanza *el)
{
    if (negotiation_iq(el, NS_BIND, "bind")) {
        /* One resource per stream (RFC 6120 §7.7.2.2). */
        return iq_error(s, el, XC_NOT_ALLOWED);
    }
    if (negotiation_iq(el, NS_SESSION, "session"))
        return session_result(s, el);
    if (!stanza_is_stanza(el))
        return stream__fail(s, SC_UNSUPPORTED_STANZA_TYPE, NULL);
    if (strcmp(stanza_ns(el), NS_CLIENT) != 0)
        return stream__fail(s, SC_INVALID_NAMESPACE, NULL);
    if (check_from(s, el) != 0)
        return stream__fail(s, SC_INVALID_FROM, NULL);
    if (!to_valid(s, el)) {
        const char *type = stanza_attr(el, "type");
        if (type && strcmp(type, "error") == 0)
            return 0; /* never answer an error with an error */
        return stream__send_take(
            s, stanza_error_reply(el, XC_JID_MALFORMED, NULL));
    }
    s->ctx->ops->stanza(s->ctx->ops_arg, s, el);
    jid_fini(&s->stanza_to);
    return 0;
}
