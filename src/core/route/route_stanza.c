/* SPDX-License-Identifier: MIT */
/* route_stanza.c -- classify a stanza's address, dispatch, deliver, answer. */
#include <string.h>

#include "base/err.h"
#include "route/route_int.h"

/* --- logging ------------------------------------------------------------- */

void
route__log(const struct route_ctx *rc, const char *action, const char *reason)
{
    const struct logger *lg = rc->r->log;
    if (lg == NULL || lg->level < LOG_DEBUG)
        return;
    /* Addresses and types come from peers: escaped, and cut to a size
     * that keeps the line readable. */
    char to[320];
    char type[40];
    if (rc->dest == ROUTE_TO_NONE)
        memcpy(to, "-", 2);
    else
        log_escape(to, sizeof(to), jid_str(&rc->to), jid_len(&rc->to));
    if (rc->type != NULL)
        log_escape(type, sizeof(type), rc->type, strlen(rc->type));
    else
        memcpy(type, "-", 2);
    log_msg(lg, LOG_DEBUG, route__conn(rc),
            "event=route kind=%s type=%s to=%s action=%s%s%s",
            stanza_name(rc->st), type, to, action,
            reason != NULL ? " reason=" : "", reason != NULL ? reason : "");
}

void
route__drop(const struct route_ctx *rc, const char *reason)
{
    route__log(rc, "drop", reason);
}

/* --- delivery ------------------------------------------------------------ */

bool
route__deliver(struct route_ctx *rc,
               struct route_session *sess,
               const struct stanza *st)
{
    uint64_t conn = sess->s->conn;
    int err = stream_deliver(sess->s, st);
    if (err != 0) {
        /* The target's stream is closing or its output queue is full
         * (the stream then ends itself): nothing else to do here. */
        log_msg(rc->r->log, LOG_DEBUG, route__conn(rc),
                "event=route action=deliver-failed target-conn=%llx err=%s",
                (unsigned long long)conn, xerr_name(err));
        return false;
    }
    return true;
}

bool
route__deliver_to(struct route_ctx *rc,
                  struct route_session *sess,
                  const struct stanza *st)
{
    struct stanza *copy = stanza_dup(st);
    stanza_set_attr_n(copy, "to", jid_str(&sess->jid), jid_len(&sess->jid));
    bool ok = route__deliver(rc, sess, copy);
    stanza_unref(copy);
    return ok;
}

uint64_t
route__conn(const struct route_ctx *rc)
{
    return rc->stream ? rc->stream->conn : 0;
}

/* The domain of a JID attribute of st into d (JID_DOMAIN_BUFSZ). */
bool
route__attr_domain(const struct stanza *st, const char *attr, char *d)
{
    const char *v = stanza_attr(st, attr);
    struct jid j;
    if (v == NULL || jid_parse(&j, v, strlen(v)) != 0)
        return false;
    size_t n;
    const char *p = jid_domain(&j, &n);
    memcpy(d, p, n);
    d[n] = '\0';
    jid_fini(&j);
    return true;
}

/* A stanza from a local entity to a remote one: to the pair's stream. */
void
route__send_remote(struct router *r, struct stanza *st, uint64_t conn)
{
    char from[JID_DOMAIN_BUFSZ], to[JID_DOMAIN_BUFSZ];
    if (!route__attr_domain(st, "from", from) ||
        !route__attr_domain(st, "to", to) ||
        config_host(r->cfg, from) == NULL) {
        log_msg(r->log, LOG_DEBUG, conn,
                "event=route action=drop reason=bad-remote-address");
        return;
    }
    if (config_host(r->cfg, to) != NULL) {
        /* A reply (error or result) for a local sender of a stanza routed
         * again after stream management: to the session that sent it, or
         * nowhere (replies to a resource that is gone are dropped, RFC
         * 6121 §8.5.3.2.1); never answered, so routing cannot loop. */
        const char *t = stanza_attr(st, "to");
        struct route_session *sess = t ? route__session(r, t, strlen(t)) : NULL;
        if (sess == NULL || stream_deliver(sess->s, st) != 0)
            log_msg(r->log, LOG_DEBUG, conn,
                    "event=route action=drop reason=reply-to-gone-session");
        return;
    }
    route__s2s_send(r, st, from, to);
}

/* A prepared JID's domain as a C string in d (JID_DOMAIN_BUFSZ). */
static const char *
domain_of(const struct jid *j, char *d)
{
    size_t n;
    const char *p = jid_domain(j, &n);
    memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

void
route__remote(struct route_ctx *rc)
{
    route__log(rc, "s2s", NULL);
    const char *f = stanza_attr(rc->st, "from");
    if (rc->from == NULL || f == NULL ||
        strcmp(f, jid_str(&rc->from->jid)) != 0) {
        route__send_remote(rc->r, rc->st, route__conn(rc));
        return;
    }
    /* Both addresses are parsed already: 'from' is the session's own
     * JID (as the stream stamped it), and classify prepared 'to'. */
    char from[JID_DOMAIN_BUFSZ], to[JID_DOMAIN_BUFSZ];
    route__s2s_send(rc->r, rc->st, domain_of(&rc->from->jid, from),
                    domain_of(&rc->to, to));
}

/* Queue a stanza for the sender: its session (inside its feed, so no
 * wake), or its server over s2s. */
static void
to_sender(struct route_ctx *rc, struct stanza *reply)
{
    if (rc->from == NULL)
        route__send_remote(rc->r, reply, route__conn(rc));
    else if (stream_deliver(rc->from->s, reply) != 0)
        log_msg(rc->r->log, LOG_DEBUG, route__conn(rc),
                "event=route action=reply-failed");
    stanza_unref(reply);
}

/* Without a 'to', the server answered on behalf of the sender's own
 * account: the reply comes from its bare JID (RFC 6120 §8.1.2.1). */
static void
stamp_from(const struct route_ctx *rc, struct stanza *reply)
{
    if (rc->from == NULL || stanza_attr(reply, "from") != NULL)
        return;
    size_t n;
    const char *bare = jid_bare(&rc->from->jid, &n);
    stanza_set_attr_n(reply, "from", bare, n);
}

void
route__error(struct route_ctx *rc, enum stanza_cond c)
{
    if (rc->type != NULL && strcmp(rc->type, "error") == 0) {
        /* Never answer an error with an error (RFC 6120 §8.3.1). */
        route__drop(rc, "error-not-answered");
        return;
    }
    struct stanza *e = stanza_error_reply(rc->st, c, NULL);
    stamp_from(rc, e);
    route__log(rc, "error", stanza_cond_name(c));
    to_sender(rc, e);
}

struct stanza *
route__result_new(const struct route_ctx *rc)
{
    struct stanza *reply = stanza_new(stanza_ns(rc->st), "iq");
    stanza_set_attr(reply, "type", "result");
    const char *v = stanza_attr(rc->st, "id");
    if (v != NULL)
        stanza_set_attr(reply, "id", v);
    if ((v = stanza_attr(rc->st, "to")) != NULL)
        stanza_set_attr(reply, "from", v);
    if ((v = stanza_attr(rc->st, "from")) != NULL)
        stanza_set_attr(reply, "to", v);
    stamp_from(rc, reply);
    return reply;
}

void
route__reply_take(struct route_ctx *rc, struct stanza *reply)
{
    route__log(rc, "reply", NULL);
    to_sender(rc, reply);
}

/* --- dispatch ------------------------------------------------------------ */

/* True if the JID's domain is one we serve. The domain is already
 * prepared, and comparing in place avoids copying it out to call
 * config_host. */
static bool
local_domain(const struct config *cfg, const struct jid *j)
{
    for (size_t i = 0; i < cfg->nhosts; i++) {
        const char *d = cfg->hosts[i].domain;
        if (d != NULL && jid_domain_eq(j, d, strlen(d)))
            return true;
    }
    return false;
}

/* Parse 'to' into rc->to and decide which rules apply. Returns 0 or
 * XE_JID (the stream checks 'to', so only a caller that skipped it). */
static int
classify(struct route_ctx *rc)
{
    const char *to = stanza_attr(rc->st, "to");
    if (to == NULL) {
        rc->dest = ROUTE_TO_NONE;
        return 0;
    }
    /* The stream parsed it while checking the stanza: borrow that. */
    const struct jid *hint = rc->stream ? &rc->stream->stanza_to : NULL;
    if (hint && hint->str && strcmp(hint->str, to) == 0) {
        rc->to = *hint;
        rc->to_borrowed = true;
    } else if (jid_parse(&rc->to, to, strlen(to)) != 0) {
        rc->dest = ROUTE_TO_NONE;
        return XE_JID;
    }
    if (!local_domain(rc->r->cfg, &rc->to))
        rc->dest = ROUTE_TO_REMOTE;
    else if (!jid_has_node(&rc->to))
        rc->dest = ROUTE_TO_DOMAIN;
    else if (jid_has_resource(&rc->to))
        rc->dest = ROUTE_TO_FULL;
    else
        rc->dest = ROUTE_TO_BARE;
    return 0;
}

void
route__dispatch(struct router *r,
                struct route_session *sess,
                struct stream *s,
                struct stanza *st)
{
    struct route_ctx rc = {
        .r = r,
        .from = sess,
        .stream = s,
        .st = st,
        .type = stanza_attr(st, "type"),
    };
    if (classify(&rc) != 0) {
        route__error(&rc, XC_JID_MALFORMED);
        return;
    }
    const char *name = stanza_name(st);
    if (rc.dest == ROUTE_TO_REMOTE && sess == NULL)
        route__drop(&rc, "remote-to-remote"); /* we relay for no one */
    else if (strcmp(name, "presence") == 0)
        route__presence(&rc);
    else if (rc.dest == ROUTE_TO_REMOTE)
        route__remote(&rc);
    else if (strcmp(name, "message") == 0)
        route__message(&rc);
    else if (strcmp(name, "iq") == 0)
        route__iq(&rc);
    else
        route__drop(&rc, "not-a-stanza");
    if (!rc.to_borrowed)
        jid_fini(&rc.to);
}

void
router_stanza(struct router *r, struct stream *from, struct stanza *st)
{
    if (from->s2s) {
        /* From another server: its stream checked the addresses. An IQ
         * may belong to a connection authorization (MUX.md §8). */
        if (strcmp(stanza_name(st), "iq") == 0 && route__mux_iq(r, from, st))
            return;
        route__dispatch(r, NULL, from, st);
        return;
    }
    struct route_session *sess =
        from->route_data ? route__session_of(from, stanza_attr(st, "from"))
                         : NULL;
    if (sess != NULL && strcmp(stanza_name(st), "iq") == 0 &&
        route__c2s_authz_answer(r, from, st))
        return; /* the answer to a connection authorization (§10.6) */
    if (sess == NULL) {
        /* Only a stream the router has let go of (replaced, or not bound
         * through it) gets here; it has no session to act for. */
        log_msg(r->log, LOG_DEBUG, from->conn,
                "event=route action=drop reason=sender-not-bound");
        return;
    }
    route__dispatch(r, sess, from, st);
}
