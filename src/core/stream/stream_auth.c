/* SPDX-License-Identifier: MIT */
/* stream_auth.c -- receiving role: STARTTLS and SASL (RFC 6120 §5, §6). */
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "stream/stream_int.h"

/* --- STARTTLS ------------------------------------------------------------ */

int
stream__starttls(struct stream *s, struct stanza *el)
{
    (void)el;
    if (!s->ctx->tls_available) {
        /* RFC 6120 §5.4.2.2: failure, then the closing tag. */
        log_msg(s->ctx->log, LOG_WARN, s->conn,
                "event=starttls-failure reason=tls-unavailable");
        static const char failure[] = "<failure xmlns='" NS_TLS "'/>";
        stream__send_raw(s, failure, sizeof(failure) - 1);
        return stream__close(s, "tls-unavailable");
    }
    static const char proceed[] = "<proceed xmlns='" NS_TLS "'/>";
    stream__send_raw(s, proceed, sizeof(proceed) - 1);
    log_msg(s->ctx->log, LOG_DEBUG, s->conn, "event=starttls");
    s->action = STREAM_ACT_STARTTLS;
    s->restart_pending = true;
    xml_reader_stop(s->xr);
    return 0;
}

/* --- SASL ---------------------------------------------------------------- */

/* The XmppAddr JIDs of a verified client certificate (XEP-0178): those
 * on this host are what EXTERNAL may authorize; for c2s mux every bare
 * JID on a local host counts as a candidate (MUX.md §5.6; domain-only
 * JIDs only with c2s.mux_allow_domain_jids; accounts are checked at
 * bind). Computed once per stream. */
static void
collect_cert_jids(struct stream *s)
{
    if (s->cert_jids || s->tls_conn == NULL)
        return;
    const struct tls_peer *peer = tls_conn_peer(s->tls_conn);
    if (!peer || !peer->present || !peer->verified || !peer->client_auth_eku)
        return;
    struct tls_identities ids;
    if (tls_conn_peer_identities(s->tls_conn, STREAM_IDS_MAX + 1, &ids) != 0)
        return;
    size_t cap = ids.n ? ids.n : 1;
    s->cert_jids = x_calloc(cap, sizeof(char *));
    s->mux_jids = x_calloc(cap, sizeof(char *));
    const struct config *cfg = s->ctx->cfg;
    for (size_t i = 0; i < ids.n; i++) {
        if (ids.v[i].type != TLS_ID_XMPPADDR)
            continue;
        struct jid j;
        const char *v = ids.v[i].value;
        if (jid_parse(&j, v, strlen(v)) != 0)
            continue;
        size_t dlen;
        const char *d = jid_domain(&j, &dlen);
        char dom[JID_DOMAIN_BUFSZ];
        memcpy(dom, d, dlen);
        dom[dlen] = '\0';
        bool local = config_host(cfg, dom) != NULL;
        bool node = jid_has_node(&j);
        if (!jid_has_resource(&j) && local &&
            (node || cfg->c2s.mux_allow_domain_jids))
            s->mux_jids[s->nmux_jids++] = x_strdup(jid_str(&j));
        if (node && !jid_has_resource(&j) &&
            strcmp(dom, s->host->domain) == 0)
            s->cert_jids[s->ncert_jids++] = x_strdup(jid_str(&j));
        jid_fini(&j);
    }
    if (ids.truncated)
        stream__mux_jids_clear(s); /* too many: no mux (§5.5) */
    tls_identities_fini(&ids);
}

/* F1 on c2s (MUX.md §10.2): EXTERNAL offered, at most 256 candidates. */
static bool
c2s_mux_offer(const struct stream *s)
{
    return s->ctx->cfg->c2s.mux && s->host->mux && s->ncert_jids > 0 &&
           s->nmux_jids > 0 && s->nmux_jids <= STREAM_IDS_MAX;
}

/* Fill params for this stream; cb must hold TLS_CB_MAX bytes and live as
 * long as params are used. */
static void
sasl_params(struct stream *s, struct sasl_params *p, unsigned char *cb)
{
    memset(p, 0, sizeof(*p));
    p->tls = s->tls;
    p->allow_plain = s->ctx->cfg->c2s.allow_plain;
    p->host = s->host->domain;
    size_t n = TLS_CB_MAX;
    if (s->tls_conn &&
        tls_conn_channel_binding_best(s->tls_conn, &p->cb_type, cb, &n) == 0) {
        p->cb_data = cb;
        p->cb_len = n;
    }
    if (s->s2s) {
        /* s2s: EXTERNAL only, for the stream 'from' the certificate
         * covers (CORE-15..17, XEP-0178). */
        p->allow_plain = false;
        if (stream__s2s_external_ok(s)) {
            p->cert_jids = (const char *const *)&s->peer_domain;
            p->ncert_jids = 1;
        }
        return;
    }
    collect_cert_jids(s);
    p->cert_jids = (const char *const *)s->cert_jids;
    p->ncert_jids = s->ncert_jids;
    /* With mux the certificate's other JIDs count too: the client must
     * name its primary one (MUX-43). */
    p->authzid_required = s->mux_requested && s->nmux_jids > 1;
}

int
stream__send_mechanisms(struct stream *s)
{
    struct sasl_params p;
    unsigned char cb[TLS_CB_MAX];
    sasl_params(s, &p, cb);
    const char *names[16];
    size_t n = sasl_mechanisms(&p, names, 16);
    struct stanza *f = stanza_new(XML_NS_STREAM, "features");
    s->mux_offered = c2s_mux_offer(s);
    if (s->mux_offered)
        stanza_add_child(f, NS_MUX, "mux");
    if (n > 0) {
        struct stanza *m = stanza_add_child(f, NS_SASL, "mechanisms");
        for (size_t i = 0; i < n; i++) {
            struct stanza *one = stanza_add_child(m, NULL, "mechanism");
            stanza_add_text(one, names[i], strlen(names[i]));
        }
    }
    if (p.cb_type) {
        /* XEP-0440: which channel binding the -PLUS mechanisms use here. */
        struct stanza *cbs =
            stanza_add_child(f, NS_SASL_CB, "sasl-channel-binding");
        struct stanza *one = stanza_add_child(cbs, NULL, "channel-binding");
        stanza_set_attr(one, "type", p.cb_type);
    }
    stream__limits_feature(s, f);
    return stream__send_take(s, f);
}

/* <name xmlns=sasl>text</name>, text may be empty. */
static int
send_sasl(struct stream *s, const char *name, const struct buf *text)
{
    struct stanza *el = stanza_new(NS_SASL, name);
    if (text && buf_len(text) > 0)
        stanza_add_text(el, buf_ptr(text), buf_len(text));
    return stream__send_take(s, el);
}

/* One more failed attempt in counter n: past limits.sasl_failures the
 * stream ends (RFC 6120 §6.4.5). */
static int
count_failure(struct stream *s, unsigned *n)
{
    unsigned max = s->ctx->cfg->conn_limits.sasl_failures;
    if (++*n < max)
        return 0;
    stream__limit(s, CFG_LIMIT_SASL_FAILURES, "failures=%u max=%u", *n, max);
    return stream__fail(s, SC_POLICY_VIOLATION,
                        "too many authentication attempts");
}

static int
sasl_failed(struct stream *s)
{
    enum sasl_cond c = sasl_session_cond(s->sasl);
    static const char *const why[] = {"none", "credentials", "channel-binding",
                                      "protocol"};
    enum sasl_why w = sasl_session_why(s->sasl);
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=sasl-failure mech=%s cond=%s why=%s",
            sasl_session_mech(s->sasl), sasl_cond_name(c),
            (size_t)w < sizeof(why) / sizeof(why[0]) ? why[w] : "?");
    if (s->ctx->ops && s->ctx->ops->auth_failed)
        s->ctx->ops->auth_failed(s->ctx->ops_arg, s, sasl_session_user(s->sasl),
                                 w);
    sasl_session_free(s->sasl);
    s->sasl = NULL;
    struct stanza *f = stanza_new(NS_SASL, "failure");
    stanza_add_child(f, NULL, sasl_cond_name(c));
    stream__send_take(s, f);
    stream__set_state(s, STREAM_ST_PREAUTH);
    /* A failed channel binding is no guess (slixmpp fails up to four of
     * them on TLS 1.3 before it tries PLAIN): it has its own budget. */
    unsigned *n = w == SASL_WHY_CHANNEL_BINDING ? &s->sasl_cb_failures
                                                : &s->sasl_failures;
    return count_failure(s, n);
}

static int
sasl_succeeded(struct stream *s, const struct buf *out)
{
    const char *authzid = sasl_session_authzid(s->sasl);
    if (authzid == NULL || jid_parse(&s->jid, authzid, strlen(authzid)) != 0)
        return stream__fail(s, SC_INTERNAL_SERVER_ERROR, NULL);
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=authenticated mech=%s jid=%s", sasl_session_mech(s->sasl),
            jid_str(&s->jid));
    s->sasl_mech = sasl_session_mech(s->sasl);
    sasl_session_free(s->sasl);
    s->sasl = NULL;
    s->authenticated = true;
    if (s->s2s)
        stream__mux_sasl_done(s);
    else if (!s->mux_requested || strcmp(s->sasl_mech, "EXTERNAL") != 0)
        stream__mux_jids_clear(s); /* §10.2 item 4: no extra identities */
    send_sasl(s, "success", out);
    /* The initiating entity now sends a new header (RFC 6120 §6.4.6). */
    s->restart_pending = true;
    if (s->in_feed)
        xml_reader_stop(s->xr);
    else
        stream__restart(s);
    return 0;
}

int
stream__sasl_status(struct stream *s, enum sasl_status st, struct buf *out)
{
    switch (st) {
    case SASL_CONTINUE:
        stream__set_state(s, STREAM_ST_SASL);
        return send_sasl(s, "challenge", out);
    case SASL_NEED_CREDS:
        stream__set_state(s, STREAM_ST_SASL);
        s->paused = true;
        s->ctx->ops->need_creds(s->ctx->ops_arg, s, s->host->domain,
                                sasl_session_user(s->sasl));
        return 0;
    case SASL_SUCCESS:
        return sasl_succeeded(s, out);
    case SASL_FAILURE:
    default:
        return sasl_failed(s);
    }
}

/* Bytes of base64 a challenge or success may carry. */
#define SASL_OUT_MAX 16384

/* One SASL step with the text of el (<auth/> or <response/>). */
static int
sasl_run(struct stream *s, const struct stanza *el)
{
    size_t len;
    const char *text = stanza_text(el, &len);
    if (text == NULL)
        return stream__fail(s, SC_BAD_FORMAT, NULL);
    struct buf out;
    buf_init(&out, SASL_OUT_MAX);
    int rc = stream__sasl_status(s, sasl_step(s->sasl, text, len, &out), &out);
    buf_fini(&out);
    return rc;
}

static int
sasl_auth(struct stream *s, struct stanza *el)
{
    if (s->state == STREAM_ST_SASL)
        return stream__fail(s, SC_POLICY_VIOLATION,
                            "an authentication exchange is running");
    const char *mech = stanza_attr(el, "mechanism");
    if (s->s2s) {
        s->bidi_closed = true;
        if (mech == NULL || strcmp(mech, "EXTERNAL") != 0)
            mech = "(not offered on s2s)";
    }
    struct sasl_params p;
    unsigned char cb[TLS_CB_MAX];
    sasl_params(s, &p, cb);
    s->sasl = sasl_start(s->ctx->sasl, mech ? mech : "", &p);
    return sasl_run(s, el);
}

static int
sasl_response(struct stream *s, struct stanza *el)
{
    if (s->state != STREAM_ST_SASL || s->sasl == NULL)
        return stream__fail(s, SC_POLICY_VIOLATION,
                            "no authentication exchange is running");
    return sasl_run(s, el);
}

/* <abort/> ends a running exchange with <failure><aborted/> (RFC 6120
 * §6.4.4); it counts as an attempt. */
static int
sasl_abort(struct stream *s)
{
    if (s->sasl == NULL)
        return stream__fail(s, SC_POLICY_VIOLATION,
                            "no authentication exchange is running");
    log_msg(s->ctx->log, LOG_INFO, s->conn, "event=sasl-abort");
    sasl_session_free(s->sasl);
    s->sasl = NULL;
    static const char failure[] =
        "<failure xmlns='" NS_SASL "'><aborted/></failure>";
    stream__send_raw(s, failure, sizeof(failure) - 1);
    stream__set_state(s, STREAM_ST_PREAUTH);
    return count_failure(s, &s->sasl_failures);
}

int
stream__sasl_element(struct stream *s, struct stanza *el)
{
    const char *name = stanza_name(el);
    if (strcmp(name, "auth") == 0)
        return sasl_auth(s, el);
    if (strcmp(name, "response") == 0)
        return sasl_response(s, el);
    if (strcmp(name, "abort") == 0)
        return sasl_abort(s);
    return stream__fail(s, SC_UNSUPPORTED_STANZA_TYPE, NULL);
}

int
stream_provide_creds(struct stream *s, const struct sasl_creds *creds)
{
    if (s->mux_checking && s->state != STREAM_ST_CLOSED)
        return stream__mux_account(s, creds != NULL);
    if (!s->paused || s->sasl == NULL || s->state == STREAM_ST_CLOSED)
        return s->state == STREAM_ST_CLOSED ? XE_CLOSED : 0;
    s->paused = false;
    struct buf out;
    buf_init(&out, SASL_OUT_MAX);
    s->in_feed = false;
    stream__sasl_status(s, sasl_provide(s->sasl, creds, &out), &out);
    buf_fini(&out);
    return stream__resume(s);
}
