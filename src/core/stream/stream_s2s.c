/* SPDX-License-Identifier: MIT */
/* stream_s2s.c -- receiving role, s2s: features, EXTERNAL, bidi, dialback
 * answers and the addressing checks on stanzas (RFC 6120, XEP-0220,
 * XEP-0288, MUX.md §4, §6.2, §12.2). */
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "stream/stream_int.h"

/* What the peer's certificate proved, computed once per stream. */
static void
peer_check(struct stream *s)
{
    if (s->peer_checked || s->tls_conn == NULL)
        return;
    s->peer_checked = true;
    const struct tls_peer *p = tls_conn_peer(s->tls_conn);
    if (!p || !p->present || !p->verified)
        return;
    if (s->ctx->cfg->s2s.require_client_eku && !p->client_auth_eku)
        return;
    if (tls_conn_peer_identities(s->tls_conn, 256, &s->peer_ids) == 0)
        s->peer_valid = true;
}

bool
stream__s2s_external_ok(struct stream *s)
{
    peer_check(s);
    return s->peer_valid && s->peer_domain != NULL &&
           tls_identities_cover(&s->peer_ids, s->peer_domain, TLS_MATCH_S2S);
}

/* Post-TLS and post-SASL features of an s2s stream (MUX.md §4.2). */
int
stream__s2s_features(struct stream *s)
{
    const struct config *cfg = s->ctx->cfg;
    struct stanza *f = stanza_new(XML_NS_STREAM, "features");
    s->mux_offered = false;
    if (!s->authenticated) {
        bool external = stream__s2s_external_ok(s);
        /* F1 only alongside EXTERNAL (MUX.md §5.5, MUX-01..04). */
        s->mux_offered = external && stream__mux_offer(s);
        if (s->mux_offered)
            stanza_add_child(f, NS_MUX, "mux");
        if (external) {
            struct stanza *m = stanza_add_child(f, NS_SASL, "mechanisms");
            stanza_add_text(stanza_add_child(m, NULL, "mechanism"), "EXTERNAL",
                            8);
        }
        if (cfg->s2s.bidi)
            stanza_add_child(f, NS_BIDI_FEATURE, "bidi");
    } else {
        stream__mux_post_features(s, f); /* F2 (MUX-22) */
        stream__sm_feature(s, f);
    }
    /* D-07: dialback errors also after SASL, for piggybacking. */
    if (cfg->s2s.dialback)
        stanza_add_child(stanza_add_child(f, NS_DB_FEATURE, "dialback"), NULL,
                         "errors");
    stream__limits_feature(s, f);
    stream__set_state(s,
                      s->authenticated ? STREAM_ST_SESSION : STREAM_ST_PREAUTH);
    return stream__send_take(s, f);
}

/* <bidi xmlns='urn:xmpp:bidi'/> (XEP-0288, MUX.md §7, D-06): recorded
 * silently; twice → policy-violation; after <auth/> or a db:result it is
 * ignored. */
static int
s2s_bidi(struct stream *s)
{
    if (!s->ctx->cfg->s2s.bidi)
        return stream__fail(s, SC_POLICY_VIOLATION, "bidi was not offered");
    if (s->bidi_closed || s->authenticated) {
        log_msg(s->ctx->log, LOG_INFO, s->conn,
                "event=bidi-ignored "
                "reason=late");
        return 0;
    }
    if (s->bidi)
        return stream__fail(s, SC_POLICY_VIOLATION, "bidi requested twice");
    s->bidi = true;
    log_msg(s->ctx->log, LOG_DEBUG, s->conn, "event=bidi");
    return 0;
}

static bool
has_valid_pair(const struct stream *s)
{
    return dialback_pairs_count(&s->db, DIALBACK_IN, DIALBACK_ST_VALID) > 0;
}

static const char *
type_name(enum dialback_type t)
{
    return t == DIALBACK_T_VALID     ? "valid"
           : t == DIALBACK_T_INVALID ? "invalid"
                                     : "error";
}

/* Send our answer for the IN pair (sender, target) and act on it. */
static int
answer_result(struct stream *s,
              const char *sender,
              const char *target,
              enum dialback_type t,
              enum dialback_cond cond)
{
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=dialback-result sender=%s target=%s answer=%s%s%s", sender,
            target, type_name(t), t == DIALBACK_T_ERROR ? " cond=" : "",
            t == DIALBACK_T_ERROR ? dialback_cond_name(cond) : "");
    struct stanza *a =
        t == DIALBACK_T_ERROR
            ? dialback_error(DIALBACK_RESULT, target, sender, NULL, cond)
            : dialback_answer(DIALBACK_RESULT, target, sender, NULL,
                              t == DIALBACK_T_VALID);
    stream__send_take(s, a);
    /* DB-05: an invalid key with nothing else valid ends the stream. */
    if (t == DIALBACK_T_INVALID && !has_valid_pair(s) && !s->authenticated)
        return stream__close(s, "dialback-invalid");
    if (t == DIALBACK_T_VALID && !s->initiating) {
        xml_reader_set_limits(s->xr, &s->ctx->cfg->limits);
        stream__set_state(s, STREAM_ST_SESSION);
    }
    if (t == DIALBACK_T_VALID && s->ctx->ops && s->ctx->ops->s2s_changed)
        s->ctx->ops->s2s_changed(s->ctx->ops_arg, s);
    return 0;
}

/* A db:result request: answer it by the decision of dialback_receive;
 * a key we cannot judge ourselves goes to the authoritative server over
 * another stream (ops->db_verify, DB-15) and is answered later by
 * stream_db_complete. On a stream we initiated, only a bidi peer may ask
 * (for its reverse traffic, MUX.md §12.2 item 4). */
static int
s2s_db_result(struct stream *s, const struct dialback_elem *e)
{
    s->bidi_closed = true;
    if (s->initiating && !s->bidi)
        return answer_result(s, e->from, e->to, DIALBACK_T_ERROR,
                             DIALBACK_C_NOT_ACCEPTABLE);
    peer_check(s);
    struct dialback_rx rx = {
        .tls = s->tls,
        .to_local = config_host(s->ctx->cfg, e->to) != NULL,
        .peer_ids = s->peer_valid ? &s->peer_ids : NULL,
    };
    if (s->ctx->cfg->s2s.require_valid_certificates && !s->peer_valid)
        return answer_result(s, e->from, e->to, DIALBACK_T_ERROR,
                             DIALBACK_C_NOT_ACCEPTABLE);
    enum dialback_cond cond = DIALBACK_C_NONE;
    enum dialback_verdict v = dialback_receive(&s->db, e, &rx, &cond);
    switch (v) {
    case DIALBACK_DO_NOTHING:
        return 0;
    case DIALBACK_DO_VALID:
        return answer_result(s, e->from, e->to, DIALBACK_T_VALID, cond);
    case DIALBACK_DO_INVALID:
        return answer_result(s, e->from, e->to, DIALBACK_T_INVALID, cond);
    case DIALBACK_DO_VERIFY:
        if (s->ctx->ops && s->ctx->ops->db_verify) {
            log_msg(s->ctx->log, LOG_INFO, s->conn,
                    "event=dialback-verify sender=%s target=%s", e->from,
                    e->to);
            s->ctx->ops->db_verify(s->ctx->ops_arg, s, e);
            return 0;
        }
        cond = DIALBACK_C_REMOTE_CONNECTION_FAILED;
        dialback_in_complete(&s->db, e->from, e->to, DIALBACK_T_ERROR, cond);
        return answer_result(s, e->from, e->to, DIALBACK_T_ERROR, cond);
    case DIALBACK_DO_ERROR:
    default:
        return answer_result(s, e->from, e->to, DIALBACK_T_ERROR, cond);
    }
}

void
stream_db_complete(struct stream *s,
                   const char *sender,
                   const char *target,
                   enum dialback_type outcome,
                   enum dialback_cond cond)
{
    if (s->state == STREAM_ST_CLOSED ||
        dialback_in_complete(&s->db, sender, target, outcome, cond) != 0)
        return;
    answer_result(s, sender, target, outcome, cond);
    if (!s->in_feed && s->ctx->ops && s->ctx->ops->wake)
        s->ctx->ops->wake(s->ctx->ops_arg, s);
}

/* The peer answered a db:result we sent: the pair moved on. */
static void
result_answered(struct stream *s, const struct dialback_elem *e)
{
    enum dialback_state st =
        dialback_pairs_get(&s->db, DIALBACK_OUT, e->to, e->from);
    bool err = e->type == DIALBACK_T_ERROR;
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=dialback-answer sender=%s target=%s answer=%s%s%s", e->to,
            e->from, type_name(e->type), err ? " cond=" : "",
            err ? dialback_cond_name(e->cond) : "");
    if (s->initiating && strcmp(e->to, s->host->domain) == 0 &&
        strcmp(e->from, s->peer_domain) == 0)
        stream__out_primary_answer(s, st);
    if (s->ctx->ops && s->ctx->ops->s2s_changed)
        s->ctx->ops->s2s_changed(s->ctx->ops_arg, s);
}

/* An answer (valid, invalid, error) to a db:result or db:verify: ours if
 * we asked, else logged and ignored (DB-12, DB-13). */
static int
s2s_db_answer(struct stream *s, const struct dialback_elem *e)
{
    if (e->kind == DIALBACK_VERIFY && s->initiating && s->ctx->ops &&
        s->ctx->ops->db_verified) {
        s->ctx->ops->db_verified(s->ctx->ops_arg, s, e);
        return 0;
    }
    if (e->kind == DIALBACK_RESULT && dialback_out_answer(&s->db, e) == 0) {
        result_answered(s, e);
        return 0;
    }
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=dialback-unsolicited kind=%s from=%s to=%s",
            e->kind == DIALBACK_VERIFY ? "verify" : "result", e->from, e->to);
    return 0;
}

/* A db:verify request: we are the authoritative server (DB-07). */
static int
s2s_db_verify(struct stream *s, const struct dialback_elem *e)
{
    struct dialback_rx rx = {
        .tls = s->tls,
        .to_local = config_host(s->ctx->cfg, e->to) != NULL,
    };
    enum dialback_cond cond = DIALBACK_C_NONE;
    enum dialback_verdict v = dialback_authoritative(
        s->ctx->db_secret, s->ctx->db_secret_len, e, &rx, &cond);
    enum dialback_type t = v == DIALBACK_DO_VALID     ? DIALBACK_T_VALID
                           : v == DIALBACK_DO_INVALID ? DIALBACK_T_INVALID
                                                      : DIALBACK_T_ERROR;
    if (v == DIALBACK_DO_NOTHING)
        return 0;
    return stream__send_take(s, dialback_reply(e, t, cond));
}

static int
s2s_dialback(struct stream *s, const struct stanza *el)
{
    if (!s->ctx->cfg->s2s.dialback)
        return stream__fail(s, SC_UNSUPPORTED_STANZA_TYPE, NULL);
    struct dialback_elem *e = x_malloc(sizeof(*e));
    enum stream_cond sc = SC_NONE;
    int rc;
    if (dialback_parse(el, e, &sc) != 0) {
        rc = stream__fail(s, sc != SC_NONE ? sc : SC_BAD_FORMAT, NULL);
    } else if (e->type != DIALBACK_T_REQUEST) {
        rc = s2s_db_answer(s, e);
    } else if (e->kind == DIALBACK_RESULT) {
        rc = s2s_db_result(s, e);
    } else {
        rc = s2s_db_verify(s, e);
    }
    x_free(e);
    return rc;
}

/* Elements of the s2s protocol itself, in any state after TLS. Returns
 * 1 if el was not one of them. */
int
stream__s2s_element(struct stream *s, struct stanza *el)
{
    if (stanza_is(el, NS_BIDI, "bidi"))
        return s->initiating
                   ? stream__fail(s, SC_UNSUPPORTED_STANZA_TYPE, NULL)
                   : s2s_bidi(s);
    if (strcmp(stanza_ns(el), NS_DIALBACK) == 0)
        return s2s_dialback(s, el);
    return 1;
}

/* The domain of a JID attribute, or NULL if absent or invalid. */
static bool
jid_domain_of(const struct stanza *st, const char *attr, struct jid *j)
{
    const char *v = stanza_attr(st, attr);
    return v != NULL && jid_parse(j, v, strlen(v)) == 0;
}

/* May the peer send from domain fd to domain td on this stream? As
 * receiving server (MUX.md §6.2, D-08): a sender of SND (the SASL
 * authenticated stream 'from', with mux also the certificate's domains;
 * never one of ours) to the stream 'to' or a listed host (TGT_R), or a
 * dialback-verified pair. As initiating server with bidi (§6.3, §12.2
 * item 4): a sender of RSND (the stream 'to' and the listed hosts its
 * certificate covers) to one of our senders, the inverse of each
 * piggybacked pair, and pairs the peer verified with us on it. */
static bool
may_receive(const struct stream *s, const char *fd, const char *td)
{
    if (s->initiating) {
        if (!s->bidi || s->state != STREAM_ST_SESSION)
            return false;
        if (s->authenticated && domset_has(&s->tgt, fd) &&
            domset_has(&s->snd, td))
            return true;
        if (dialback_pairs_valid(&s->db, DIALBACK_OUT, td, fd))
            return true;
        return dialback_pairs_valid(&s->db, DIALBACK_IN, fd, td);
    }
    if (s->authenticated && domset_has(&s->snd, fd) &&
        config_host(s->ctx->cfg, fd) == NULL &&
        (strcmp(td, s->host->domain) == 0 || domset_has(&s->hosts, td)))
        return true;
    return dialback_pairs_valid(&s->db, DIALBACK_IN, fd, td);
}

/* A sender the stream knows, so that a wrong target is the problem. */
static bool
known_sender(const struct stream *s, const char *fd)
{
    if (s->initiating)
        return s->bidi && domset_has(&s->tgt, fd);
    return (s->authenticated && domset_has(&s->snd, fd) &&
            config_host(s->ctx->cfg, fd) == NULL) ||
           dialback_pairs_get(&s->db, DIALBACK_IN, fd, s->host->domain) ==
               DIALBACK_ST_VALID;
}

/* CORE-10..12, BIDI-09/10: 'from' and 'to' present and valid, the pair
 * allowed on this stream (else invalid-from, or host-unknown when the
 * sender is known but the target is not served here for it). */
static int
s2s_check_addresses(struct stream *s, const struct stanza *st)
{
    struct jid from, to;
    if (!jid_domain_of(st, "from", &from))
        return stream__fail(s, SC_IMPROPER_ADDRESSING, NULL);
    if (!jid_domain_of(st, "to", &to)) {
        jid_fini(&from);
        return stream__fail(s, SC_IMPROPER_ADDRESSING, NULL);
    }
    char fd[JID_DOMAIN_BUFSZ], td[JID_DOMAIN_BUFSZ];
    size_t fn, tn;
    const char *f = jid_domain(&from, &fn);
    const char *t = jid_domain(&to, &tn);
    memcpy(fd, f, fn);
    fd[fn] = '\0';
    memcpy(td, t, tn);
    td[tn] = '\0';
    jid_fini(&from);
    if (may_receive(s, fd, td)) {
        s->stanza_to = to; /* for the router, during ops->stanza */
        return 0;
    }
    jid_fini(&to);
    if (config_host(s->ctx->cfg, td) == NULL || known_sender(s, fd))
        return stream__fail(s, SC_HOST_UNKNOWN, NULL);
    return stream__fail(s, SC_INVALID_FROM, NULL);
}

/* A stanza on a negotiated s2s stream, either role: checked, then handed
 * to the router. */
int
stream__s2s_session_element(struct stream *s, struct stanza *el)
{
    int rc = stream__s2s_element(s, el);
    if (rc != 1)
        return rc;
    if (!stanza_is_stanza(el))
        return stream__fail(s, SC_UNSUPPORTED_STANZA_TYPE, NULL);
    if (s->state != STREAM_ST_SESSION)
        return stream__fail(s, SC_NOT_AUTHORIZED, NULL);
    if (strcmp(stanza_ns(el), NS_SERVER) != 0)
        return stream__fail(s, SC_INVALID_NAMESPACE, NULL);
    if (s2s_check_addresses(s, el) != 0)
        return XE_CLOSED;
    if (s->ctx->ops && s->ctx->ops->stanza)
        s->ctx->ops->stanza(s->ctx->ops_arg, s, el);
    jid_fini(&s->stanza_to);
    return 0;
}
