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
    return s->peer_valid && s->peer_from != NULL &&
           tls_identities_cover(&s->peer_ids, s->peer_from, TLS_MATCH_S2S);
}

/* Post-TLS and post-SASL features of an s2s stream (MUX.md §4.2; mux
 * comes with issue #5). */
int
stream__s2s_features(struct stream *s)
{
    const struct config *cfg = s->ctx->cfg;
    struct stanza *f = stanza_new(XML_NS_STREAM, "features");
    if (!s->authenticated) {
        if (stream__s2s_external_ok(s)) {
            struct stanza *m = stanza_add_child(f, NS_SASL, "mechanisms");
            stanza_add_text(stanza_add_child(m, NULL, "mechanism"), "EXTERNAL",
                            8);
        }
        if (cfg->s2s.bidi)
            stanza_add_child(f, NS_BIDI_FEATURE, "bidi");
    }
    /* D-07: dialback errors also after SASL, for piggybacking. */
    if (cfg->s2s.dialback)
        stanza_add_child(stanza_add_child(f, NS_DB_FEATURE, "dialback"), NULL,
                         "errors");
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
    return dialback_pairs_count(&s->db_in, DIALBACK_IN, DIALBACK_ST_VALID) > 0;
}

/* A db:result request: answer it by the decision of dialback_receive.
 * Verifying through the authoritative server needs outgoing streams,
 * which arrive with federation (issue #4): until then such a request is
 * answered with <remote-connection-failed/>. */
static int
s2s_db_result(struct stream *s, const struct dialback_elem *e)
{
    s->bidi_closed = true;
    peer_check(s);
    struct dialback_rx rx = {
        .tls = s->tls,
        .to_local = config_host(s->ctx->cfg, e->to) != NULL,
        .peer_ids = s->peer_valid ? &s->peer_ids : NULL,
    };
    enum dialback_cond cond = DIALBACK_C_NONE;
    enum dialback_verdict v = dialback_receive(&s->db_in, e, &rx, &cond);
    enum dialback_type t = DIALBACK_T_ERROR;
    switch (v) {
    case DIALBACK_DO_NOTHING:
        return 0;
    case DIALBACK_DO_VALID:
        t = DIALBACK_T_VALID;
        break;
    case DIALBACK_DO_INVALID:
        t = DIALBACK_T_INVALID;
        break;
    case DIALBACK_DO_VERIFY:
        cond = DIALBACK_C_REMOTE_CONNECTION_FAILED;
        dialback_in_complete(&s->db_in, e->from, e->to, DIALBACK_T_ERROR, cond);
        break;
    case DIALBACK_DO_ERROR:
    default:
        break;
    }
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=dialback-result sender=%s target=%s answer=%s%s%s", e->from,
            e->to,
            t == DIALBACK_T_VALID     ? "valid"
            : t == DIALBACK_T_INVALID ? "invalid"
                                      : "error",
            t == DIALBACK_T_ERROR ? " cond=" : "",
            t == DIALBACK_T_ERROR ? dialback_cond_name(cond) : "");
    stream__send_take(s, dialback_reply(e, t, cond));
    /* DB-05: an invalid key with nothing else valid ends the stream. */
    if (t == DIALBACK_T_INVALID && !has_valid_pair(s) && !s->authenticated)
        return stream__close(s, "dialback-invalid");
    if (t == DIALBACK_T_VALID)
        stream__set_state(s, STREAM_ST_SESSION);
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
        /* DB-12, DB-13: answers nobody asked for change nothing. */
        log_msg(s->ctx->log, LOG_INFO, s->conn,
                "event=dialback-unsolicited from=%s to=%s", e->from, e->to);
        rc = 0;
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
        return s2s_bidi(s);
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

/* CORE-10..12 (MUX.md §6.2, D-08): 'from' and 'to' present and valid,
 * the sender authorized on this stream (SASL, or a dialback pair for
 * exactly this target), the target served here. */
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
    jid_fini(&to);
    bool sasl_ok = s->authenticated && strcmp(fd, jid_str(&s->jid)) == 0 &&
                   strcmp(td, s->host->domain) == 0;
    bool db_ok = dialback_pairs_valid(&s->db_in, DIALBACK_IN, fd, td);
    if (!sasl_ok && !db_ok) {
        bool known_sender =
            (s->authenticated && strcmp(fd, jid_str(&s->jid)) == 0) ||
            dialback_pairs_get(&s->db_in, DIALBACK_IN, fd, s->host->domain) ==
                DIALBACK_ST_VALID;
        if (config_host(s->ctx->cfg, td) == NULL || known_sender)
            return stream__fail(s, SC_HOST_UNKNOWN, NULL);
        return stream__fail(s, SC_INVALID_FROM, NULL);
    }
    return 0;
}

/* A stanza on an authenticated s2s stream. Delivery of stanzas from other
 * servers arrives with federation routing (issue #4); until then they are
 * checked and logged as dropped. */
int
stream__s2s_session_element(struct stream *s, struct stanza *el)
{
    int rc = stream__s2s_element(s, el);
    if (rc != 1)
        return rc;
    if (!stream__is_stanza(el))
        return stream__fail(s, SC_UNSUPPORTED_STANZA_TYPE, NULL);
    if (strcmp(stanza_ns(el), NS_SERVER) != 0)
        return stream__fail(s, SC_INVALID_NAMESPACE, NULL);
    if (s2s_check_addresses(s, el) != 0)
        return XE_CLOSED;
    log_msg(
        s->ctx->log, LOG_WARN, s->conn,
        "event=s2s-stanza-dropped kind=%s reason=federation-routing-not-built",
        stanza_name(el));
    return 0;
}
