/* SPDX-License-Identifier: MIT */
/* stream_out.c -- initiating role, s2s: header, STARTTLS, the receiving
 * server's certificate (CORE-24), SASL EXTERNAL with fallback to dialback,
 * bidi, dialback piggybacking and db:verify (RFC 6120 §4-§6, XEP-0178,
 * XEP-0220, XEP-0288, MUX.md §12.2). */
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "stream/stream_int.h"

void
stream_init_out(struct stream *s,
                const struct stream_ctx *ctx,
                uint64_t conn,
                const struct cfg_host *from,
                const char *to)
{
    stream_init(s, ctx, conn, CFG_LISTEN_S2S, NULL);
    s->initiating = true;
    s->state = STREAM_ST_I_CONNECT;
    s->host = from;
    s->peer_domain = x_strdup(to);
    /* Without mux: the stream's own pair (MUX.md §6.1). */
    domset_add(&s->snd, from->domain);
    domset_add(&s->tgt, to);
    /* Until it is negotiated, a stream that ends leaves its stanzas with
     * a server that could not be reached. */
    s->fail_cond = XC_REMOTE_SERVER_NOT_FOUND;
}

static void
send_header(struct stream *s)
{
    stream__send_header(s, true);
    stream__set_state(s, STREAM_ST_I_HEADER);
}

void
stream_connected(struct stream *s, bool direct_tls)
{
    if (s->state != STREAM_ST_I_CONNECT)
        return;
    s->direct_tls = direct_tls;
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=s2s-connected from=%s to=%s direct_tls=%s", s->host->domain,
            s->peer_domain, direct_tls ? "yes" : "no");
    if (!direct_tls)
        send_header(s);
}

/* End an initiating stream before (or instead of) a header: there is no
 * stream to put an error on, so it just stops (CORE-24). */
static int
abort_out(struct stream *s, enum stanza_cond cond, const char *reason)
{
    if (s->state == STREAM_ST_CLOSED)
        return XE_CLOSED;
    log_msg(s->ctx->log, LOG_INFO, s->conn, "event=s2s-abort reason=%s to=%s",
            reason, s->peer_domain);
    s->fail_cond = cond;
    s->close_reason = reason;
    stream__set_state(s, STREAM_ST_CLOSED);
    return XE_CLOSED;
}

void
stream_fail_setup(struct stream *s, enum stanza_cond cond, const char *reason)
{
    abort_out(s, cond, reason);
}

/* The receiving server's certificate (MUX.md §5.1): when it validates it
 * must cover the stream 'to', or we leave (CORE-24); one that does not
 * validate proves nothing, and only dialback can then authenticate the
 * peer, if the operator allows it. */
int
stream_tls_up(struct stream *s, struct tls_conn *tls)
{
    if (s->state == STREAM_ST_CLOSED)
        return XE_CLOSED;
    s->tls = true;
    s->tls_conn = tls;
    const struct tls_peer *p = tls_conn_peer(tls);
    s->peer_checked = true;
    if (p && p->present && p->verified &&
        tls_conn_peer_identities(tls, STREAM_IDS_MAX, &s->peer_ids) == 0) {
        if (!tls_identities_cover(&s->peer_ids, s->peer_domain,
                                  TLS_MATCH_S2S))
            return abort_out(s, XC_REMOTE_SERVER_NOT_FOUND,
                             "certificate-name-mismatch");
        s->peer_valid = true;
    } else if (s->ctx->cfg->s2s.require_valid_certificates) {
        log_msg(s->ctx->log, LOG_INFO, s->conn,
                "event=s2s-certificate-invalid error=%s",
                p && p->present ? tls_verify_error_str(p->verify_error)
                                : "no-certificate");
        return abort_out(s, XC_REMOTE_SERVER_NOT_FOUND, "certificate-invalid");
    }
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=s2s-tls to=%s certificate=%s", s->peer_domain,
            s->peer_valid ? "valid" : "unverified");
    send_header(s);
    return 0;
}

/* --- the response header ------------------------------------------------ */

static const char *
attr_of(const struct stream_header *h, const char *name)
{
    for (size_t i = 0; i < h->nattrs; i++)
        if (h->attrs[i].name.ns[0] == '\0' &&
            strcmp(h->attrs[i].name.local, name) == 0)
            return h->attrs[i].value;
    return NULL;
}

int
stream__out_header(struct stream *s, const struct stream_header *h)
{
    if (strcmp(h->el->ns, XML_NS_STREAM) != 0 ||
        strcmp(h->el->local, "stream") != 0)
        return stream__fail(s, SC_INVALID_NAMESPACE, NULL);
    bool server_ns = false;
    s->peer_db_ns = false;
    for (size_t i = 0; i < h->ndecls; i++) {
        if (h->decls[i].prefix[0] == '\0' &&
            strcmp(h->decls[i].uri, NS_SERVER) == 0)
            server_ns = true;
        if (strcmp(h->decls[i].prefix, "db") == 0 &&
            strcmp(h->decls[i].uri, NS_DIALBACK) == 0)
            s->peer_db_ns = true;
    }
    if (!server_ns)
        return stream__fail(s, SC_INVALID_NAMESPACE, NULL);
    const char *version = attr_of(h, "version");
    if (version == NULL || version[0] < '1' || version[0] > '9')
        return stream__fail(s, SC_UNSUPPORTED_VERSION,
                            "version 1.0 is required");
    const char *id = attr_of(h, "id");
    size_t idlen = id ? strlen(id) : 0;
    if (idlen == 0 || idlen > DIALBACK_ID_MAX)
        return stream__fail(s, SC_INVALID_XML, "the stream id is missing");
    x_free(s->peer_id);
    s->peer_id = x_strndup(id, idlen);
    s->headers++;
    stream__set_state(s, STREAM_ST_I_FEATURES);
    return 0;
}

/* --- features ------------------------------------------------------------ */

struct offer {
    bool starttls, external, bidi, dialback, db_errors, sm;
    const struct stanza *mux; /* F1 before SASL, F2 after, or NULL */
};

static void
read_features(const struct stanza *f, struct offer *o)
{
    memset(o, 0, sizeof(*o));
    for (const struct stanza *c = stanza_first_child(f); c;
         c = stanza_next_sibling(c)) {
        if (stanza_is(c, NS_TLS, "starttls")) {
            o->starttls = true;
        } else if (stanza_is(c, NS_SASL, "mechanisms")) {
            for (const struct stanza *m = stanza_first_child(c); m;
                 m = stanza_next_sibling(m)) {
                size_t n = 0;
                const char *t = stanza_text(m, &n);
                if (stanza_is(m, NS_SASL, "mechanism") && t && n == 8 &&
                    memcmp(t, "EXTERNAL", 8) == 0)
                    o->external = true;
            }
        } else if (stanza_is(c, NS_BIDI_FEATURE, "bidi")) {
            o->bidi = true;
        } else if (stanza_is(c, NS_SM, "sm")) {
            o->sm = true;
        } else if (stanza_is(c, NS_MUX, "mux")) {
            o->mux = c;
        } else if (stanza_is(c, NS_DB_FEATURE, "dialback")) {
            o->dialback = true;
            o->db_errors = stanza_child(c, NS_DB_FEATURE, "errors") != NULL;
        }
    }
}

/* Our db:result for (sender, target) on this stream, keyed to the
 * receiving server's stream id (XEP-0185, MUX.md §12.2 item 6). */
static int
send_db_result(struct stream *s, const char *sender, const char *target)
{
    char key[DIALBACK_KEY_HEX + 1];
    if (dialback_key(s->ctx->db_secret, s->ctx->db_secret_len, target, sender,
                     s->peer_id, key) != 0)
        return XE_INVAL;
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=dialback-request sender=%s target=%s", sender, target);
    return stream__send_take(
        s, dialback_request(DIALBACK_RESULT, sender, target, NULL, key));
}

static bool
dialback_possible(const struct stream *s)
{
    return s->ctx->cfg->s2s.dialback && (s->peer_dialback || s->peer_db_ns);
}

/* Authenticate the stream's own pair with dialback (after EXTERNAL was
 * not offered or failed). */
static int
start_dialback(struct stream *s)
{
    if (!dialback_possible(s))
        return stream__fail_out(s, XC_REMOTE_SERVER_NOT_FOUND,
                                "no-authentication-method");
    s->bidi_closed = true;
    dialback_out_begin(&s->db, s->host->domain, s->peer_domain);
    if (send_db_result(s, s->host->domain, s->peer_domain) != 0)
        return stream__fail_out(s, XC_INTERNAL_SERVER_ERROR, "dialback-key");
    stream__set_state(s, STREAM_ST_I_DIALBACK);
    return 0;
}

static int
send_external(struct stream *s)
{
    const char *d = s->host->domain;
    char b64[4 * ((JID_DOMAIN_BUFSZ + 2) / 3) + 1];
    sasl_b64_encode(d, strlen(d), b64);
    struct stanza *a = stanza_new(NS_SASL, "auth");
    stanza_set_attr(a, "mechanism", "EXTERNAL");
    stanza_add_text(a, b64, strlen(b64));
    log_msg(s->ctx->log, LOG_DEBUG, s->conn, "event=sasl-external-start");
    stream__set_state(s, STREAM_ST_I_SASL);
    return stream__send_take(s, a);
}

/* Post-TLS features: bidi first, then EXTERNAL if offered (our
 * certificate validated at the peer), else dialback (MUX.md §4.1). */
static int
authenticate(struct stream *s, const struct offer *o)
{
    s->can_verify = true;
    s->peer_dialback = o->dialback;
    s->peer_db_errors = o->db_errors;
    s->peer_bidi_offer = o->bidi;
    if (o->bidi && s->ctx->cfg->s2s.bidi && !s->bidi) {
        static const char bidi[] = "<bidi xmlns='" NS_BIDI "'/>";
        stream__send_raw(s, bidi, sizeof(bidi) - 1);
        s->bidi = true;
    }
    /* F3 after bidi, before <auth/>, once, only when offered with
     * EXTERNAL (MUX-27); host children of a pre-auth <mux/> are ignored
     * (MUX-81). */
    if (o->mux && o->external && s->ctx->cfg->s2s.mux && s->host->mux &&
        !s->mux_requested) {
        static const char mux[] = "<mux xmlns='" NS_MUX "'/>";
        stream__send_raw(s, mux, sizeof(mux) - 1);
        s->mux_requested = true;
    }
    int rc = o->external ? send_external(s) : start_dialback(s);
    /* db:verify requests may wait for this stream (DB-15). */
    if (rc == 0 && s->ctx->ops && s->ctx->ops->s2s_changed)
        s->ctx->ops->s2s_changed(s->ctx->ops_arg, s);
    return rc;
}

static int
out_features(struct stream *s, struct stanza *el)
{
    if (!stanza_is(el, XML_NS_STREAM, "features"))
        return stream__fail(s, SC_NOT_AUTHORIZED, NULL);
    struct offer o;
    read_features(el, &o);
    if (!s->tls) {
        if (!o.starttls)
            return stream__fail_out(s, XC_REMOTE_SERVER_NOT_FOUND,
                                    "tls-not-offered");
        static const char st[] = "<starttls xmlns='" NS_TLS "'/>";
        stream__set_state(s, STREAM_ST_I_STARTTLS);
        return stream__send_raw(s, st, sizeof(st) - 1);
    }
    stream__read_peer_limits(s, el);
    if (s->auth == STREAM_AUTH_NONE)
        return authenticate(s, &o);
    /* After SASL: negotiation is complete (D-07 may list dialback again);
     * with mux, our senders and the usable listed hosts (§5.4, §6.5). */
    if (o.dialback) {
        s->peer_dialback = true;
        s->peer_db_errors = o.db_errors;
    }
    stream__mux_out_senders(s);
    stream__mux_read_hosts(s, o.mux);
    stream__set_state(s, STREAM_ST_SESSION);
    /* Negotiated: a loss from now on times out what it carried (MUX.md
     * §11), the server was found. */
    s->fail_cond = XC_REMOTE_SERVER_TIMEOUT;
    if (o.sm)
        stream__sm_start(s); /* XEP-0198 before the first stanza */
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=s2s-ready from=%s to=%s auth=sasl-external bidi=%s",
            s->host->domain, s->peer_domain, s->bidi ? "yes" : "no");
    if (s->ctx->ops && s->ctx->ops->s2s_changed)
        s->ctx->ops->s2s_changed(s->ctx->ops_arg, s);
    return 0;
}

static int
out_starttls(struct stream *s, struct stanza *el)
{
    if (stanza_is(el, NS_TLS, "proceed")) {
        s->action = STREAM_ACT_STARTTLS;
        s->restart_pending = true;
        xml_reader_stop(s->xr);
        stream__set_state(s, STREAM_ST_I_CONNECT);
        return 0;
    }
    return stream__fail_out(s, XC_REMOTE_SERVER_NOT_FOUND, "starttls-failed");
}

static int
out_sasl(struct stream *s, struct stanza *el)
{
    if (stanza_is(el, NS_SASL, "success")) {
        s->authenticated = true;
        s->auth = STREAM_AUTH_SASL;
        s->sasl_mech = "EXTERNAL";
        s->bidi_closed = true;
        log_msg(s->ctx->log, LOG_INFO, s->conn,
                "event=sasl-success mech=EXTERNAL to=%s", s->peer_domain);
        s->restart_pending = true;
        xml_reader_stop(s->xr);
        send_header(s);
        return 0;
    }
    if (stanza_is(el, NS_SASL, "failure")) {
        /* The fallback users expect: dialback, when the peer has it. */
        const struct stanza *c = stanza_first_child(el);
        log_msg(s->ctx->log, LOG_INFO, s->conn,
                "event=sasl-failure mech=EXTERNAL cond=%s fallback=%s",
                c ? stanza_name(c) : "-",
                dialback_possible(s) ? "dialback" : "none");
        s->tried_external = true;
        return start_dialback(s);
    }
    return stream__s2s_session_element(s, el);
}

/* While our own pair's db:result is out: its answer decides the stream;
 * other dialback traffic is handled as in the session. */
static int
out_dialback(struct stream *s, struct stanza *el)
{
    return stream__s2s_session_element(s, el);
}

int
stream__out_element(struct stream *s, struct stanza *el)
{
    switch (s->state) {
    case STREAM_ST_I_FEATURES:
        return out_features(s, el);
    case STREAM_ST_I_STARTTLS:
        return out_starttls(s, el);
    case STREAM_ST_I_SASL:
        return out_sasl(s, el);
    case STREAM_ST_I_DIALBACK:
        return out_dialback(s, el);
    default:
        return stream__s2s_session_element(s, el);
    }
}

/* The answer to the db:result for the stream's own pair. */
void
stream__out_primary_answer(struct stream *s, enum dialback_state st)
{
    if (s->state != STREAM_ST_I_DIALBACK)
        return;
    if (st == DIALBACK_ST_VALID) {
        s->authenticated = true;
        s->auth = STREAM_AUTH_DIALBACK;
        xml_reader_set_limits(s->xr, &s->ctx->cfg->limits);
        stream__set_state(s, STREAM_ST_SESSION);
        s->fail_cond = XC_REMOTE_SERVER_TIMEOUT; /* as after SASL */
        log_msg(s->ctx->log, LOG_INFO, s->conn,
                "event=s2s-ready from=%s to=%s auth=dialback bidi=%s",
                s->host->domain, s->peer_domain, s->bidi ? "yes" : "no");
        return;
    }
    s->fail_cond = dialback_bounce_cond(st);
    stream__close(s, st == DIALBACK_ST_INVALID ? "dialback-invalid"
                                                : "dialback-error");
}

/* Close an initiating stream that cannot carry what waits for it. */
int
stream__fail_out(struct stream *s, enum stanza_cond cond, const char *reason)
{
    s->fail_cond = cond;
    log_msg(s->ctx->log, LOG_INFO, s->conn, "event=s2s-failed reason=%s to=%s",
            reason, s->peer_domain);
    return stream__close(s, reason);
}

/* --- pairs ----------------------------------------------------------------- */

static bool
eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Why the OUT pair failed: the bounce condition, or XC_NONE if the
 * peer refused piggybacking only. */
static enum stanza_cond
pair_fail_cond(const struct stream *s, const char *sender, const char *target)
{
    for (size_t i = 0; i < s->db.n; i++) {
        const struct dialback_pair *p = &s->db.v[i];
        if (p->role != DIALBACK_OUT || !eq(p->sender, sender) ||
            !eq(p->target, target))
            continue;
        if (p->state == DIALBACK_ST_ERROR &&
            dialback_refuses_piggyback(p->cond))
            return XC_NONE;
        return dialback_bounce_cond(p->state);
    }
    return XC_REMOTE_SERVER_TIMEOUT;
}

/* A stream we opened: its own pair, SND x TGT_I (D-08), or a
 * piggybacked dialback pair. */
static enum stream_pair
out_pair(const struct stream *s,
         const char *sender,
         const char *target,
         enum stanza_cond *cond)
{
    /* While connection authorization runs nothing goes out (§8.7), nor
     * while a stream management resumption is asked for. */
    bool ready = s->state == STREAM_ST_SESSION && !s->m3_hold && !s->sm_hold;
    if (eq(sender, s->host->domain) && eq(target, s->peer_domain))
        return ready ? STREAM_PAIR_READY : STREAM_PAIR_PENDING;
    if (s->state == STREAM_ST_SESSION && s->authenticated &&
        domset_has(&s->snd, sender) && domset_has(&s->tgt, target))
        return ready ? STREAM_PAIR_READY : STREAM_PAIR_PENDING;
    switch (dialback_pairs_get(&s->db, DIALBACK_OUT, sender, target)) {
    case DIALBACK_ST_VALID:
        return ready ? STREAM_PAIR_READY : STREAM_PAIR_PENDING;
    case DIALBACK_ST_PENDING:
        return STREAM_PAIR_PENDING;
    case DIALBACK_ST_INVALID:
    case DIALBACK_ST_ERROR:
        if (cond)
            *cond = pair_fail_cond(s, sender, target);
        return STREAM_PAIR_FAILED;
    default:
        return STREAM_PAIR_NONE;
    }
}

enum stream_pair
stream_s2s_pair(const struct stream *s,
                const char *sender,
                const char *target,
                enum stanza_cond *cond)
{
    if (cond)
        *cond = XC_NONE;
    if (!s->s2s || s->state == STREAM_ST_CLOSED || s->host == NULL)
        return STREAM_PAIR_NONE;
    if (s->initiating)
        return out_pair(s, sender, target, cond);
    /* Receiving with bidi: the inverse of what the peer proved (XEP-0288,
     * MUX.md §7: RSND x SND, never to one of our own domains), and
     * nothing before it is authenticated (BIDI-05). */
    if (!s->bidi || s->state != STREAM_ST_SESSION)
        return STREAM_PAIR_NONE;
    if (s->authenticated && domset_has(&s->tgt, sender) &&
        domset_has(&s->snd, target) &&
        config_host(s->ctx->cfg, target) == NULL)
        return STREAM_PAIR_READY;
    if (dialback_pairs_valid(&s->db, DIALBACK_IN, target, sender))
        return STREAM_PAIR_READY;
    return STREAM_PAIR_NONE;
}

bool
stream_s2s_covers(const struct stream *s, const char *target)
{
    if (!s->s2s || !s->initiating || s->host == NULL)
        return false;
    if (eq(target, s->peer_domain))
        return true;
    return s->peer_valid &&
           tls_identities_cover(&s->peer_ids, target, TLS_MATCH_S2S);
}

int
stream_s2s_request(struct stream *s, const char *sender, const char *target)
{
    if (!s->initiating || s->state == STREAM_ST_CLOSED)
        return XE_PROTO;
    if (s->state != STREAM_ST_SESSION || s->m3_hold)
        return XE_STATE;
    /* Sender piggybacking needs the dialback namespace only; target
     * piggybacking is not used (a stream per target, DB-09). */
    if (!eq(target, s->peer_domain) || !s->ctx->cfg->s2s.dialback ||
        !s->peer_db_ns || config_host(s->ctx->cfg, sender) == NULL)
        return XE_PROTO;
    int rc = dialback_out_begin(&s->db, sender, target);
    if (rc != 0)
        return rc == XE_STATE ? 0 : rc;
    if (send_db_result(s, sender, target) != 0)
        return XE_PROTO;
    if (!s->in_feed && s->ctx->ops && s->ctx->ops->wake)
        s->ctx->ops->wake(s->ctx->ops_arg, s);
    return 0;
}

void
stream_s2s_timeout(struct stream *s, const char *sender, const char *target)
{
    if (dialback_out_timeout(&s->db, sender, target) != 0)
        return;
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=dialback-timeout sender=%s target=%s", sender, target);
    if (eq(sender, s->host->domain) && eq(target, s->peer_domain))
        stream__out_primary_answer(s, DIALBACK_ST_ERROR);
    if (s->ctx->ops && s->ctx->ops->s2s_changed)
        s->ctx->ops->s2s_changed(s->ctx->ops_arg, s);
    if (!s->in_feed && s->ctx->ops && s->ctx->ops->wake)
        s->ctx->ops->wake(s->ctx->ops_arg, s);
}

int
stream_db_verify(struct stream *s,
                 const char *from,
                 const char *to,
                 const char *id,
                 const char *key)
{
    if (s->state == STREAM_ST_CLOSED)
        return XE_CLOSED;
    if (!s->initiating || !s->can_verify)
        return XE_STATE;
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=dialback-verify-request receiving=%s originating=%s", from,
            to);
    int rc = stream__send_take(
        s, dialback_request(DIALBACK_VERIFY, from, to, id, key));
    if (!s->in_feed && s->ctx->ops && s->ctx->ops->wake)
        s->ctx->ops->wake(s->ctx->ops_arg, s);
    return rc;
}

void
stream_idle_close(struct stream *s)
{
    if (s->state == STREAM_ST_CLOSED)
        return;
    log_msg(s->ctx->log, LOG_INFO, s->conn, "event=idle-close");
    s->fail_cond = XC_REMOTE_SERVER_TIMEOUT;
    stream__close(s, "idle");
    if (!s->in_feed && s->ctx->ops && s->ctx->ops->wake)
        s->ctx->ops->wake(s->ctx->ops_arg, s);
}
