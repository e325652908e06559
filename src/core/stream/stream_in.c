/* SPDX-License-Identifier: MIT */
/* stream_in.c -- receiving role: the initiating header and what may follow. */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "stream/stream_int.h"

/* --- the initiating stream header (RFC 6120 §4.7, §4.8) ----------------- */

static const char *
header_attr(const struct stream_header *h, const char *ns, const char *name)
{
    for (size_t i = 0; i < h->nattrs; i++) {
        const struct xml_attr *a = &h->attrs[i];
        if (strcmp(a->name.local, name) == 0 && strcmp(a->name.ns, ns) == 0)
            return a->value;
    }
    return NULL;
}

static const char *
header_default_ns(const struct stream_header *h)
{
    for (size_t i = 0; i < h->ndecls; i++)
        if (h->decls[i].prefix[0] == '\0')
            return h->decls[i].uri;
    return NULL;
}

/* Parse "major.minor" (RFC 6120 §4.7.5: two non-negative integers).
 * Returns false if malformed. */
static bool
parse_version(const char *v, unsigned *major, unsigned *minor)
{
    unsigned parts[2] = {0, 0};
    const char *p = v;
    for (int i = 0; i < 2; i++) {
        size_t digits = 0;
        while (*p >= '0' && *p <= '9') {
            if (++digits > 9)
                return false;
            parts[i] = parts[i] * 10 + (unsigned)(*p - '0');
            p++;
        }
        if (digits == 0)
            return false;
        if (i == 0 && *p++ != '.')
            return false;
    }
    if (*p != '\0')
        return false;
    *major = parts[0];
    *minor = parts[1];
    return true;
}

/* Find the host the stream is addressed to; NULL if we do not serve it. */
static const struct cfg_host *
lookup_to(const struct stream *s, const char *to)
{
    if (to == NULL)
        return NULL;
    char dom[JID_DOMAIN_BUFSZ];
    size_t n;
    if (jid_domain_prep(to, strlen(to), dom, sizeof(dom), &n) != 0)
        return NULL;
    return config_host(s->ctx->cfg, dom);
}

/* On s2s the header's 'from' names the initiating server (optional before
 * TLS, RFC 6120 §4.7.1); when present it must be a domain. */
static int
check_s2s_from(struct stream *s, const char *from)
{
    if (from == NULL)
        return 0;
    char dom[JID_DOMAIN_BUFSZ];
    size_t n;
    if (jid_domain_prep(from, strlen(from), dom, sizeof(dom), &n) != 0)
        return XE_JID_DOMAIN;
    x_free(s->peer_domain);
    s->peer_domain = x_strndup(dom, n);
    return 0;
}

static void
log_header(const struct stream *s,
           const char *to,
           const char *from,
           const char *version)
{
    char eto[96], efrom[96], ever[32];
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=stream-open kind=%s to=%s from=%s version=%s",
            config_listen_kind_name(s->kind),
            to ? log_escape(eto, sizeof(eto), to, strlen(to)) : "-",
            from ? log_escape(efrom, sizeof(efrom), from, strlen(from)) : "-",
            version ? log_escape(ever, sizeof(ever), version, strlen(version))
                    : "-");
}

static int check_restart(struct stream *s, const char *from);
static int restart_refused(struct stream *s);
static int send_features(struct stream *s);

/* Checks in the order RFC 6120 §4.9.1.2 implies: the stream and content
 * namespaces, the served host, the version, the peer's 'from'. Every
 * error is preceded by a response header (from only for a served host). */
int
stream__on_header(struct stream *s, const struct stream_header *h)
{
    const char *to = header_attr(h, "", "to");
    const char *from = header_attr(h, "", "from");
    const char *version = header_attr(h, "", "version");
    log_header(s, to, from, version);
    s->host = lookup_to(s, to);

    bool is_stream = strcmp(h->el->local, "stream") == 0;
    if (!is_stream && s->authenticated)
        /* After <success/> only a new header may come (MUX.md D-11):
         * an element pipelined behind <auth/> lands here. */
        return stream__fail(s, SC_NOT_WELL_FORMED,
                            "a stream header was expected");
    if (strcmp(h->el->ns, XML_NS_STREAM) != 0 || !is_stream)
        return stream__fail(s, SC_INVALID_NAMESPACE, NULL);
    if (strcmp(h->el->prefix, "stream") != 0)
        return stream__fail(s, SC_BAD_NAMESPACE_PREFIX, NULL);
    const char *content = header_default_ns(h);
    if (content == NULL || strcmp(content, s->s2s ? NS_SERVER : NS_CLIENT) != 0)
        return stream__fail(s, SC_INVALID_NAMESPACE, NULL);
    if (s->host == NULL)
        return stream__fail(s, SC_HOST_UNKNOWN, NULL);

    unsigned major = 0, minor = 0;
    if (version != NULL && !parse_version(version, &major, &minor))
        return stream__fail(s, SC_UNSUPPORTED_VERSION, NULL);
    if (major == 0) {
        /* A pre-1.0 stream gets no features (CORE-03), so it could never
         * negotiate the TLS we require: refuse it at once. */
        stream__send_header(s, false);
        return stream__fail(s, SC_UNSUPPORTED_VERSION,
                            "version 1.0 or later is required");
    }
    if (major > 1)
        return stream__fail(s, SC_UNSUPPORTED_VERSION, NULL);
    s->version_major = major;
    s->version_minor = minor;

    if (s->s2s && check_s2s_from(s, from) != 0)
        return stream__fail(s, SC_INVALID_FROM, NULL);
    if (check_restart(s, from) != 0)
        return restart_refused(s);
    s->headers++;
    stream__send_header(s, true);
    return send_features(s);
}

/* A restart check_restart refused: too many of them (limits.
 * stream_restarts), or addresses that changed. */
static int
restart_refused(struct stream *s)
{
    unsigned max = s->ctx->cfg->conn_limits.restarts;
    if (s->headers <= max)
        return stream__fail(s, SC_NOT_AUTHORIZED,
                            "stream addresses changed across a restart");
    stream__limit(s, CFG_LIMIT_RESTARTS, "restarts=%u max=%u", s->headers,
                  max);
    return stream__fail(s, SC_POLICY_VIOLATION, "too many stream restarts");
}

/* CORE-09 (MUX.md §4.4): 'to' never changes across restarts; 'from' may
 * appear with TLS but then stays the same. A restart past limits.
 * stream_restarts is refused too (XE_LIMIT). */
static int
check_restart(struct stream *s, const char *from)
{
    if (s->headers > s->ctx->cfg->conn_limits.restarts)
        return XE_LIMIT;
    if (s->headers == 0) {
        s->first_to = x_strdup(s->host->domain);
    } else if (strcmp(s->first_to, s->host->domain) != 0) {
        return XE_PROTO;
    }
    if (!s->tls)
        return 0;
    if (!s->tls_from_set) {
        s->tls_from_set = true;
        s->tls_from = from ? x_strdup(from) : NULL;
        return 0;
    }
    if ((s->tls_from == NULL) != (from == NULL))
        return XE_PROTO;
    if (from && strcmp(s->tls_from, from) != 0)
        return XE_PROTO;
    return 0;
}

/* The features of this phase (MUX.md §4.2). */
static int
send_features(struct stream *s)
{
    if (!s->tls) {
        /* TLS is mandatory (RFC 6120 §5.3.1): STARTTLS is all there is. */
        static const char features[] =
            "<stream:features><starttls xmlns='" NS_TLS "'><required/>"
            "</starttls></stream:features>";
        stream__send_raw(s, features, sizeof(features) - 1);
        stream__set_state(s, STREAM_ST_PRETLS);
        return 0;
    }
    if (s->s2s)
        return stream__s2s_features(s);
    if (!s->authenticated) {
        stream__set_state(s, STREAM_ST_PREAUTH);
        return stream__send_mechanisms(s);
    }
    /* MUX.md §4.2: F2 (other hosts), bind, session. */
    struct stanza *f = stanza_new(XML_NS_STREAM, "features");
    stream__c2s_mux_features(s, f);
    stanza_add_child(f, NS_BIND, "bind");
    stream__sm_feature(s, f);
    stanza_add_child(stanza_add_child(f, NS_SESSION, "session"), NULL,
                     "optional");
    stream__limits_feature(s, f);
    stream__set_state(s, STREAM_ST_BIND);
    return stream__send_take(s, f);
}

/* --- first-level elements before TLS (MUX.md §4.1) ---------------------- */

/* SASL before TLS: <encryption-required/>, and the stream stays usable
 * for STARTTLS (RFC 6120 §6.5.4, CORE-27). */
static int
pretls_sasl(struct stream *s, struct stanza *el)
{
    (void)el;
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=sasl-failure cond=encryption-required");
    static const char failure[] = "<failure xmlns='" NS_SASL "'>"
                                  "<encryption-required/></failure>";
    return stream__send_raw(s, failure, sizeof(failure) - 1);
}

/* Dialback before TLS: a dialback error, not a stream error (DB-18). */
static int
pretls_dialback(struct stream *s, struct stanza *el)
{
    struct stanza *r = stanza_new(NS_DIALBACK, stanza_name(el));
    const char *from = stanza_attr(el, "from");
    const char *to = stanza_attr(el, "to");
    const char *id = stanza_attr(el, "id");
    if (to)
        stanza_set_attr(r, "from", to);
    if (from)
        stanza_set_attr(r, "to", from);
    if (id)
        stanza_set_attr(r, "id", id);
    stanza_set_attr(r, "type", "error");
    struct stanza *e = stanza_add_child(r, NS_DIALBACK, "error");
    stanza_set_attr(e, "type", "cancel");
    stanza_add_child(e, NS_STANZAS_ERR, "policy-violation");
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=dialback-error cond=policy-violation reason=tls-required");
    return stream__send_take(s, r);
}

static int
pretls_element(struct stream *s, struct stanza *el)
{
    const char *ns = stanza_ns(el);
    const char *name = stanza_name(el);
    if (stanza_is(el, NS_TLS, "starttls"))
        return stream__starttls(s, el);
    if (strcmp(ns, NS_SASL) == 0)
        return pretls_sasl(s, el);
    if (s->s2s && strcmp(ns, NS_DIALBACK) == 0 &&
        (strcmp(name, "result") == 0 || strcmp(name, "verify") == 0))
        return pretls_dialback(s, el);
    if (stanza_is(el, NS_MUX, "mux"))
        return stream__fail(s, SC_POLICY_VIOLATION, "mux requires TLS");
    if (s->s2s && stanza_is(el, NS_BIDI, "bidi"))
        return stream__fail(s, SC_POLICY_VIOLATION, "bidi requires TLS");
    if (stanza_is_stanza(el))
        return stream__fail(s, SC_NOT_AUTHORIZED, NULL);
    return stream__fail(s, SC_UNSUPPORTED_STANZA_TYPE, NULL);
}

/* After TLS, before authentication (and during a SASL exchange). */
static int
preauth_element(struct stream *s, struct stanza *el)
{
    if (s->s2s) {
        int rc = stream__s2s_element(s, el);
        if (rc != 1)
            return rc;
    }
    if (strcmp(stanza_ns(el), NS_SASL) == 0)
        return stream__sasl_element(s, el);
    if (stanza_is(el, NS_TLS, "starttls"))
        return stream__fail(s, SC_POLICY_VIOLATION, "TLS is already on");
    if (stanza_is(el, NS_MUX, "mux"))
        return stream__mux_element(s, el);
    if (stanza_is_stanza(el))
        return stream__fail(s, SC_NOT_AUTHORIZED, NULL);
    return stream__fail(s, SC_UNSUPPORTED_STANZA_TYPE, NULL);
}

static int authed_dispatch(struct stream *s, struct stanza *el);

/* Authenticated: stream management first, then the stanza or element;
 * each stanza handled counts for XEP-0198. */
static int
authed_element(struct stream *s, struct stanza *el)
{
    int rc = stream__sm_element(s, el);
    if (rc != 1)
        return rc;
    rc = authed_dispatch(s, el);
    if (rc == 0 && s->sm != NULL && stanza_is_stanza(el))
        stream__sm_handled(s);
    return rc;
}

/* Anything SASL or TLS again is out of place. */
static int
authed_dispatch(struct stream *s, struct stanza *el)
{
    const char *ns = stanza_ns(el);
    if (stanza_is(el, NS_MUX, "mux"))
        return stream__mux_element(s, el);
    if (strcmp(ns, NS_SASL) == 0 || strcmp(ns, NS_TLS) == 0)
        return stream__fail(s, SC_POLICY_VIOLATION,
                            "negotiation is already complete");
    if (s->s2s)
        return stream__s2s_session_element(s, el);
    if (s->state == STREAM_ST_BIND)
        return stream__bind_element(s, el);
    return stream__session_element(s, el);
}

/* An element where none can be: the reader reports elements only after
 * the header, so this is a programming error turned into a stream error. */
static int
unexpected_element(struct stream *s, struct stanza *el)
{
    (void)el;
    return stream__fail(s, SC_INTERNAL_SERVER_ERROR, NULL);
}

static int
closed_element(struct stream *s, struct stanza *el)
{
    (void)s;
    (void)el;
    return XE_CLOSED;
}

/* One handler per state (STYLE.md §5). */
static int (*const element_handlers[])(struct stream *, struct stanza *) = {
    [STREAM_ST_HEADER] = unexpected_element,
    [STREAM_ST_PRETLS] = pretls_element,
    [STREAM_ST_PREAUTH] = preauth_element,
    [STREAM_ST_SASL] = preauth_element,
    [STREAM_ST_BIND] = authed_element,
    [STREAM_ST_SESSION] = authed_element,
    [STREAM_ST_CLOSED] = closed_element,
    [STREAM_ST_I_CONNECT] = unexpected_element,
    [STREAM_ST_I_HEADER] = unexpected_element,
    [STREAM_ST_I_FEATURES] = stream__out_element,
    [STREAM_ST_I_STARTTLS] = stream__out_element,
    [STREAM_ST_I_SASL] = stream__out_element,
    [STREAM_ST_I_DIALBACK] = stream__out_element,
};

int
stream__on_element(struct stream *s, struct stanza *el)
{
    return element_handlers[s->state](s, el);
}
