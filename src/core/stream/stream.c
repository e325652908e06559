/* SPDX-License-Identifier: MIT */
/* stream.c -- the receiving side of an XMPP stream, sans I/O (RFC 6120 §4). */
#include "stream/stream.h"

#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/hex.h"
#include "stream/stream_int.h"

static const char *const state_names[] = {
    [STREAM_ST_HEADER] = "header",    [STREAM_ST_PRETLS] = "pre-tls",
    [STREAM_ST_PREAUTH] = "pre-auth", [STREAM_ST_SASL] = "sasl",
    [STREAM_ST_BIND] = "bind",        [STREAM_ST_SESSION] = "session",
    [STREAM_ST_CLOSED] = "closed",    [STREAM_ST_I_CONNECT] = "connect",
    [STREAM_ST_I_HEADER] = "out-header", [STREAM_ST_I_FEATURES] = "out-features",
    [STREAM_ST_I_STARTTLS] = "out-starttls", [STREAM_ST_I_SASL] = "out-sasl",
    [STREAM_ST_I_DIALBACK] = "out-dialback",
};

const char *
stream_state_name(enum stream_state st)
{
    if ((size_t)st >= sizeof(state_names) / sizeof(state_names[0]))
        return "?";
    return state_names[st];
}

void
stream__set_state(struct stream *s, enum stream_state st)
{
    if (s->state == st)
        return;
    log_msg(s->ctx->log, LOG_DEBUG, s->conn, "event=state from=%s to=%s",
            stream_state_name(s->state), stream_state_name(st));
    s->state = st;
}

/* --- output ------------------------------------------------------------- */

static void
stream_wctx(const struct stream *s, struct stanza_wctx *w)
{
    memset(w, 0, sizeof(*w));
    w->default_ns = s->s2s ? NS_SERVER : NS_CLIENT;
    w->prefix[0] = "stream";
    w->prefix_ns[0] = XML_NS_STREAM;
    w->nprefixes = 1;
    if (s->s2s) {
        w->prefix[1] = "db";
        w->prefix_ns[1] = NS_DIALBACK;
        w->nprefixes = 2;
    }
}

/* The peer does not read what we send: cut the stream off without further
 * ceremony (nothing more can be queued anyway). */
static int
stream_overflow(struct stream *s)
{
    stream__limit(s, CFG_LIMIT_OUTPUT_QUEUE, "bytes=%zu max=%zu",
                  buf_len(&s->out), s->out.max);
    s->cond = SC_RESOURCE_CONSTRAINT;
    s->close_reason = "output-overflow";
    stream__set_state(s, STREAM_ST_CLOSED);
    return XE_LIMIT;
}

/* Queue raw bytes for the peer. */
int
stream__send_raw(struct stream *s, const char *p, size_t n)
{
    if (s->state == STREAM_ST_CLOSED)
        return XE_CLOSED;
    if (buf_append(&s->out, p, n) != 0)
        return stream_overflow(s);
    return 0;
}

/* Queue one element, serialised for this stream. */
static int
stream_write(struct stream *s, const struct stanza *el)
{
    if (s->state == STREAM_ST_CLOSED)
        return XE_CLOSED;
    struct stanza_wctx w;
    stream_wctx(s, &w);
    size_t before = s->out.len;
    if (stanza_write(el, &w, &s->out) != 0) {
        s->out.len = before; /* drop the partial element */
        return stream_overflow(s);
    }
    return 0;
}

/* Queue one element (stream management counts a stanza). */
int
stream__send(struct stream *s, const struct stanza *el)
{
    int rc = stream_write(s, el);
    /* Counted for stream management once it is really on its way. */
    return rc == 0 && s->sm ? stream__sm_sent(s, el) : rc;
}

/* Queue one element and drop the caller's reference to it. */
int
stream__send_take(struct stream *s, struct stanza *el)
{
    int rc = stream__send(s, el);
    stanza_unref(el);
    return rc;
}

static void
new_stream_id(struct stream *s)
{
    unsigned char rnd[STREAM_ID_BYTES];
    s->ctx->random(s->ctx->random_arg, rnd, sizeof(rnd));
    hex_lower(rnd, sizeof(rnd), s->id);
}

static void
put_attr(struct buf *b, const char *name, const char *value)
{
    buf_printf(b, " %s='", name);
    xml_escape_attr(b, value, strlen(value));
    buf_appendz(b, "'");
}

/* Send our response header (RFC 6120 §4.7): a fresh id, 'from' only for a
 * domain we serve (D-13), 'to' = the peer's 'from' on s2s, version only
 * when the peer spoke 1.x or later. */
int
stream__send_header(struct stream *s, bool with_version)
{
    struct buf h;
    /* Attribute values are escaped: up to 6 bytes per input byte. */
    buf_init(&h, (size_t)4096 + (size_t)JID_DOMAIN_BUFSZ * 12);
    if (!s->initiating)
        new_stream_id(s); /* the receiving entity names the stream */
    buf_appendz(&h, "<?xml version='1.0'?><stream:stream");
    put_attr(&h, "xmlns", s->s2s ? NS_SERVER : NS_CLIENT);
    put_attr(&h, "xmlns:stream", XML_NS_STREAM);
    if (s->s2s)
        put_attr(&h, "xmlns:db", NS_DIALBACK);
    if (!s->initiating)
        put_attr(&h, "id", s->id);
    if (s->host)
        put_attr(&h, "from", s->host->domain);
    if (s->peer_domain)
        put_attr(&h, "to", s->peer_domain);
    if (with_version)
        put_attr(&h, "version", "1.0");
    put_attr(&h, "xml:lang", "en");
    buf_appendz(&h, ">");
    s->header_sent = true;
    int rc = stream__send_raw(s, buf_ptr(&h), buf_len(&h));
    buf_fini(&h);
    return rc;
}

/* End the stream with a stream error (RFC 6120 §4.9): a response header
 * first if none went out yet, then the error and the closing tag. */
int
stream__fail(struct stream *s, enum stream_cond cond, const char *text)
{
    if (s->state == STREAM_ST_CLOSED)
        return XE_CLOSED;
    if (!s->header_sent)
        stream__send_header(s, true);
    log_msg(s->ctx->log, LOG_INFO, s->conn, "event=stream-error cond=%s",
            stream_cond_name(cond));
    s->cond = cond;
    s->close_reason = stream_cond_name(cond);
    stream__send_take(s, stanza_stream_error(cond, text));
    stream__send_raw(s, "</stream:stream>", 16);
    stream__set_state(s, STREAM_ST_CLOSED);
    return XE_CLOSED;
}

/* Close the stream gracefully with our closing tag. */
int
stream__close(struct stream *s, const char *reason)
{
    if (s->state == STREAM_ST_CLOSED)
        return XE_CLOSED;
    if (!s->header_sent)
        stream__send_header(s, true);
    s->close_reason = reason;
    stream__send_raw(s, "</stream:stream>", 16);
    stream__set_state(s, STREAM_ST_CLOSED);
    return XE_CLOSED;
}

/* --- XML reader callbacks ----------------------------------------------- */

static int
on_stream_open(void *arg,
               const struct xml_name *el,
               const struct xml_attr *attrs,
               size_t nattrs,
               const struct xml_nsdecl *decls,
               size_t ndecls)
{
    struct stream *s = arg;
    struct stream_header h = {el, attrs, nattrs, decls, ndecls};
    if (s->initiating && s->state == STREAM_ST_I_HEADER)
        return stream__out_header(s, &h);
    if (s->state != STREAM_ST_HEADER)
        return stream__fail(s, SC_NOT_WELL_FORMED, NULL);
    return stream__on_header(s, &h);
}

static int
on_start(void *arg,
         unsigned depth,
         const struct xml_name *el,
         const struct xml_attr *attrs,
         size_t nattrs)
{
    struct stream *s = arg;
    stanza_builder_start(&s->sb, depth, el, attrs, nattrs);
    return 0;
}

static int
on_text(void *arg, unsigned depth, const char *text, size_t len)
{
    struct stream *s = arg;
    stanza_builder_text(&s->sb, depth, text, len);
    return 0;
}

/* The peer ended the stream with an error (RFC 6120 §4.9): log its
 * condition and close our side; nothing after it is processed. */
static int
peer_stream_error(struct stream *s, const struct stanza *el)
{
    const char *cond = "-";
    for (const struct stanza *c = stanza_first_child(el); c;
         c = stanza_next_sibling(c)) {
        if (strcmp(stanza_ns(c), NS_STREAMS_ERR) == 0 &&
            strcmp(stanza_name(c), "text") != 0) {
            cond = stanza_name(c);
            break;
        }
    }
    char ec[64];
    log_msg(s->ctx->log, LOG_INFO, s->conn, "event=peer-stream-error cond=%s",
            log_escape(ec, sizeof(ec), cond, strlen(cond)));
    return stream__close(s, "peer-stream-error");
}

static void
parsed_push(struct stream_parsed *p, struct stanza *el)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->v = x_realloc(p->v, p->cap * sizeof(struct stanza *));
    }
    p->v[p->n++] = el;
}

static int
on_end(void *arg, unsigned depth)
{
    struct stream *s = arg;
    struct stanza *el = stanza_builder_end(&s->sb, depth);
    if (el == NULL)
        return 0;
    size_t rawlen;
    const char *raw = xml_reader_element_raw(s->xr, &rawlen);
    if (raw != NULL)
        stanza_keep_raw(el, raw, rawlen);
    if (s->collect != NULL) {
        parsed_push(s->collect, el); /* handled by stream_dispatch */
        return 0;
    }
    int rc;
    if (stanza_is(el, XML_NS_STREAM, "error"))
        rc = peer_stream_error(s, el);
    else
        rc = s->paused ? stream__queue(s, el) : stream__on_element(s, el);
    stanza_unref(el);
    return rc;
}

static int
on_stream_close(void *arg)
{
    struct stream *s = arg;
    if (s->collect != NULL) {
        s->collect->closed = true;
        return 0;
    }
    log_msg(s->ctx->log, LOG_INFO, s->conn, "event=peer-closed-stream");
    return stream__close(s, "peer-closed-stream");
}

static const struct xml_handler stream_xml_handler = {
    .stream_open = on_stream_open,
    .start = on_start,
    .text = on_text,
    .end = on_end,
    .stream_close = on_stream_close,
};

/* --- public API ----------------------------------------------------------- */

void
stream_init(struct stream *s,
            const struct stream_ctx *ctx,
            uint64_t conn,
            enum cfg_listen_kind kind,
            struct tls_conn *tls)
{
    memset(s, 0, sizeof(*s));
    s->ctx = ctx;
    s->conn = conn;
    s->kind = kind;
    s->s2s = kind == CFG_LISTEN_S2S || kind == CFG_LISTEN_S2S_TLS;
    s->state = STREAM_ST_HEADER;
    s->tls = tls != NULL;
    s->tls_conn = tls;
    s->xr = xml_reader_new(&ctx->cfg->limits_preauth, &stream_xml_handler, s);
    stanza_builder_init(&s->sb);
    /* Deliveries from another worker's threads can pile up here until
     * this stream's own thread flushes: as much as may wait for the
     * kernel (output_queue_max), and never less than STREAM_OUT_MAX. */
    size_t outmax = ctx->cfg->conn_limits.output_queue;
    buf_init(&s->out, outmax > STREAM_OUT_MAX ? outmax : STREAM_OUT_MAX);
    dialback_pairs_init(&s->db, DIALBACK_PAIRS_MAX);
}

void
stream__mux_jids_clear(struct stream *s)
{
    for (size_t i = 0; i < s->nmux_jids; i++)
        x_free(s->mux_jids[i]);
    x_free(s->mux_jids);
    s->mux_jids = NULL;
    s->nmux_jids = 0;
    s->mux_next = 0;
}

void
stream_unbind(struct stream *s)
{
    if (s->bound && s->ctx->ops && s->ctx->ops->unbind)
        s->ctx->ops->unbind(s->ctx->ops_arg, s);
    s->bound = false;
}

void
stream_fini(struct stream *s)
{
    stream_unbind(s);
    xml_reader_free(s->xr);
    s->xr = NULL;
    stanza_builder_fini(&s->sb);
    buf_fini(&s->out);
    for (size_t i = 0; i < s->nqueued; i++)
        stanza_unref(s->queued[i]);
    s->nqueued = 0;
    for (size_t i = 0; i < s->ncert_jids; i++)
        x_free(s->cert_jids[i]);
    x_free(s->cert_jids);
    s->cert_jids = NULL;
    s->ncert_jids = 0;
    stream__mux_jids_clear(s);
    sasl_session_free(s->sasl);
    s->sasl = NULL;
    jid_fini(&s->jid);
    for (size_t i = 0; i < s->nids; i++)
        jid_fini(&s->ids[i]);
    x_free(s->ids);
    s->ids = NULL;
    s->nids = 0;
    dialback_pairs_fini(&s->db);
    domset_fini(&s->snd);
    domset_fini(&s->hosts);
    domset_fini(&s->tgt);
    domset_fini(&s->granted);
    jid_fini(&s->stanza_to);
    stream__sm_free(s);
    tls_identities_fini(&s->peer_ids);
    x_free(s->peer_domain);
    x_free(s->peer_id);
    s->peer_id = NULL;
    x_free(s->first_to);
    x_free(s->tls_from);
    s->peer_domain = s->first_to = s->tls_from = NULL;
}

/* Map a reader failure to the stream error RFC 6120 §4.9.3 names. */
static int
fail_xml(struct stream *s, int rc)
{
    switch (rc) {
    case XE_RESTRICTED:
        if (xml_reader_unsupported_encoding(s->xr))
            return stream__fail(s, SC_UNSUPPORTED_ENCODING, NULL);
        return stream__fail(s, SC_RESTRICTED_XML, NULL);
    case XE_LIMIT:
        stream__limit(s, CFG_LIMIT_XML, "max_bytes=%zu",
                      s->authenticated ? s->ctx->cfg->limits.max_stanza
                                       : s->ctx->cfg->limits_preauth.max_stanza);
        return stream__fail(s, SC_POLICY_VIOLATION,
                            "stanza too large or too deeply nested");
    default:
        return stream__fail(s, SC_NOT_WELL_FORMED, NULL);
    }
}

/* Start the next header exchange: a fresh parser, and (after SASL) the
 * looser post-authentication limits. Elements parsed but not handled
 * yet are dropped (MUX.md §4.4: nothing pipelined after <success/>). */
void
stream__restart(struct stream *s)
{
    s->restart_pending = false;
    xml_reader_reset(s->xr);
    if (s->authenticated)
        xml_reader_set_limits(s->xr, &s->ctx->cfg->limits);
    stanza_builder_fini(&s->sb);
    stanza_builder_init(&s->sb);
    for (size_t i = 0; i < s->nqueued; i++)
        stanza_unref(s->queued[i]);
    s->nqueued = 0;
    if (s->initiating)
        return; /* it sent (or will send) its header itself */
    s->header_sent = false;
    stream__set_state(s, STREAM_ST_HEADER);
}

/* Parse one chunk. After <starttls/> or SASL success the reader stops
 * and restarts; bytes after that point in the chunk are dropped, never
 * parsed: nothing may follow <starttls/> in the clear (RFC 6120 §5.4.3.3)
 * nor <success/> before the new header (MUX.md §4.4). */
static int
stream_feed_chunk(struct stream *s, const char *data, size_t len)
{
    size_t used = 0;
    int rc = xml_reader_feed(s->xr, data, len, &used);
    if (s->state == STREAM_ST_CLOSED)
        return XE_CLOSED;
    if (rc)
        return fail_xml(s, rc);
    if (s->restart_pending) {
        if (used < len)
            log_msg(s->ctx->log, LOG_INFO, s->conn,
                    "event=dropped-before-restart bytes=%zu", len - used);
        stream__restart(s);
    }
    return 0;
}

int
stream_feed(struct stream *s, const char *data, size_t len)
{
    if (s->state == STREAM_ST_CLOSED)
        return XE_CLOSED;
    s->in_feed = true;
    stream_feed_chunk(s, data, len);
    s->in_feed = false;
    return s->state == STREAM_ST_CLOSED ? XE_CLOSED : 0;
}

bool
stream_parse_ahead(const struct stream *s)
{
    return s->state == STREAM_ST_SESSION && !s->restart_pending &&
           s->xr != NULL;
}

void
stream_parse(struct stream *s, const char *data, size_t len,
             struct stream_parsed *p)
{
    p->n = 0;
    p->closed = false;
    p->rc = 0;
    size_t used = 0;
    s->collect = p;
    int rc = xml_reader_feed(s->xr, data, len, &used);
    s->collect = NULL;
    p->rc = rc;
}

/* The same handling as on_end and on_stream_close, in order, then the
 * reader's error; what follows the stream's end is dropped. */
int
stream_dispatch(struct stream *s, struct stream_parsed *p)
{
    s->in_feed = true;
    for (size_t i = 0; i < p->n; i++) {
        struct stanza *el = p->v[i];
        if (s->state != STREAM_ST_CLOSED) {
            if (stanza_is(el, XML_NS_STREAM, "error"))
                peer_stream_error(s, el);
            else if (s->paused)
                stream__queue(s, el);
            else
                stream__on_element(s, el);
        }
        stanza_unref(el);
    }
    p->n = 0;
    if (p->closed && s->state != STREAM_ST_CLOSED) {
        log_msg(s->ctx->log, LOG_INFO, s->conn, "event=peer-closed-stream");
        stream__close(s, "peer-closed-stream");
    } else if (p->rc != 0 && s->state != STREAM_ST_CLOSED) {
        fail_xml(s, p->rc);
    }
    s->in_feed = false;
    if (s->restart_pending && s->state != STREAM_ST_CLOSED)
        stream__restart(s);
    return s->state == STREAM_ST_CLOSED ? XE_CLOSED : 0;
}

void
stream_parsed_fini(struct stream_parsed *p)
{
    for (size_t i = 0; i < p->n; i++)
        stanza_unref(p->v[i]);
    x_free(p->v);
    p->v = NULL;
    p->n = p->cap = 0;
}

/* Keep an element that arrived while waiting for credentials. */
int
stream__queue(struct stream *s, struct stanza *el)
{
    if (s->nqueued == STREAM_QUEUE_MAX) {
        stream__limit(s, CFG_LIMIT_AUTH_QUEUE, "max=%d", STREAM_QUEUE_MAX);
        return stream__fail(s, SC_POLICY_VIOLATION,
                            "too many elements during authentication");
    }
    s->queued[s->nqueued++] = stanza_ref(el);
    return 0;
}

/* Handle the elements queued while paused, in order, until one pauses
 * the stream again. */
int
stream__resume(struct stream *s)
{
    s->in_feed = true;
    while (!s->paused && s->nqueued > 0 && s->state != STREAM_ST_CLOSED) {
        struct stanza *el = s->queued[0];
        s->nqueued--;
        for (size_t i = 0; i < s->nqueued; i++)
            s->queued[i] = s->queued[i + 1];
        stream__on_element(s, el);
        stanza_unref(el);
    }
    s->in_feed = false;
    if (s->restart_pending && s->state != STREAM_ST_CLOSED)
        stream__restart(s);
    return s->state == STREAM_ST_CLOSED ? XE_CLOSED : 0;
}

enum stream_action
stream_take_action(struct stream *s)
{
    enum stream_action a = s->action;
    s->action = STREAM_ACT_NONE;
    return a;
}

void
stream_starttls_done(struct stream *s, struct tls_conn *tls)
{
    s->tls = true;
    s->tls_conn = tls;
}

bool
stream_paused(const struct stream *s)
{
    return s->paused;
}

/* XEP-0478 §3: a stanza larger than the peer said it accepts is taken
 * back out of the queue; the caller bounces it. */
static int
check_peer_max(struct stream *s, size_t before)
{
    size_t n = s->out.len - before;
    if (s->peer_max_bytes == 0 || n <= s->peer_max_bytes)
        return 0;
    s->out.len = before;
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=peer-limit what=max-bytes bytes=%zu max=%zu", n,
            s->peer_max_bytes);
    return XE_TOO_LARGE;
}

int
stream_deliver(struct stream *s, const struct stanza *st)
{
    if (s->state == STREAM_ST_CLOSED)
        return XE_CLOSED;
    if (stream_sm_detached(s))
        return stream__sm_park(s, st);
    size_t before = s->out.len;
    int rc = stream_write(s, st);
    if (rc == 0)
        rc = check_peer_max(s, before);
    if (rc == 0 && s->sm)
        rc = stream__sm_sent(s, st);
    if (!s->in_feed && s->ctx->ops && s->ctx->ops->wake)
        s->ctx->ops->wake(s->ctx->ops_arg, s);
    return rc;
}

void
stream_kill(struct stream *s, enum stream_cond cond, const char *text)
{
    if (s->state == STREAM_ST_CLOSED)
        return;
    stream__fail(s, cond, text);
    if (!s->in_feed && s->ctx->ops && s->ctx->ops->wake)
        s->ctx->ops->wake(s->ctx->ops_arg, s);
}

void
stream_timeout(struct stream *s)
{
    if (s->state == STREAM_ST_CLOSED)
        return;
    log_msg(s->ctx->log, LOG_INFO, s->conn, "event=timeout what=negotiation");
    if (s->initiating) {
        s->fail_cond = XC_REMOTE_SERVER_TIMEOUT;
        if (s->state == STREAM_ST_I_CONNECT) {
            /* Not connected, or TLS not up yet: no stream to end. */
            s->close_reason = "connect-timeout";
            stream__set_state(s, STREAM_ST_CLOSED);
            return;
        }
    }
    stream__fail(s, SC_CONNECTION_TIMEOUT, NULL);
}

void
stream_shutdown(struct stream *s)
{
    if (s->state == STREAM_ST_CLOSED)
        return;
    stream__fail(s, SC_SYSTEM_SHUTDOWN, NULL);
}

void
stream_eof(struct stream *s)
{
    if (s->state == STREAM_ST_CLOSED)
        return;
    s->close_reason = "peer-eof";
    stream__set_state(s, STREAM_ST_CLOSED);
}

void
stream_identity_remove(struct stream *s, size_t i)
{
    jid_fini(&s->ids[i]);
    memmove(&s->ids[i], &s->ids[i + 1], (s->nids - i - 1) * sizeof(*s->ids));
    s->nids--;
}

bool
stream_cert_names(const struct stream *s, const struct jid *j)
{
    size_t n;
    const char *bare = jid_bare(j, &n);
    for (size_t i = 0; i < s->nmux_jids; i++)
        if (strlen(s->mux_jids[i]) == n && memcmp(s->mux_jids[i], bare, n) == 0)
            return true;
    return false;
}

int
stream_identity_add(struct stream *s, const struct jid *full)
{
    if (s->nids == STREAM_IDS_MAX)
        return XE_LIMIT;
    s->ids = x_realloc(s->ids, (s->nids + 1) * sizeof(*s->ids));
    jid_dup(&s->ids[s->nids++], full);
    return 0;
}

const struct jid *
stream_identity_find(const struct stream *s, const struct jid *from)
{
    for (size_t i = 0; i < s->nids; i++) {
        if (jid_has_resource(from) ? jid_eq(from, &s->ids[i])
                                   : jid_bare_eq(from, &s->ids[i]))
            return &s->ids[i];
    }
    return NULL;
}

bool
stream_hibernate(struct stream *s)
{
    if (s->state == STREAM_ST_CLOSED || s->paused || s->in_feed ||
        s->sb.root != NULL)
        return false;
    /* The output buffer keeps the size of its largest burst (1 KiB after
     * the features of a login, more after a burst of deliveries); with
     * TLS the I/O layer empties it without freeing it. Nobody holds a
     * pointer into it between flushes, and buf_fini keeps its maximum. */
    if (buf_len(&s->out) == 0)
        buf_fini(&s->out);
    return xml_reader_hibernate(s->xr);
}

bool
stream_check_expiry(struct stream *s)
{
    if (s->state == STREAM_ST_CLOSED || s->tls_conn == NULL)
        return false;
    bool relies = s->s2s ? s->peer_valid
                         : s->authenticated && s->sasl_mech != NULL &&
                               strcmp(s->sasl_mech, "EXTERNAL") == 0;
    if (!relies || !tls_conn_peer_expired(s->tls_conn))
        return false;
    log_msg(s->ctx->log, LOG_INFO, s->conn, "event=certificate-expired");
    stream_kill(s, SC_RESET, "the peer certificate has expired");
    return true;
}

bool
stream_finished(const struct stream *s)
{
    return s->state == STREAM_ST_CLOSED;
}
