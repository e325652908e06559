/* SPDX-License-Identifier: MIT */
/* stream_mux.c -- stanza multiplexing on s2s streams, certificate-based
 * parts (XEP-0451, MUX.md §4-§7): the pre-auth offer F1 and request F3,
 * the authorized-sender set SND, the host list H (F2), and the sets each
 * end checks stanzas against. Connection authorization (M3) and c2s mux
 * come later. */
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "stream/stream_int.h"

/* --- domain sets ------------------------------------------------------------ */

void
domset_fini(struct domset *d)
{
    tls_domains_free(d->v, d->n);
    tls_domains_free(d->w, d->nw);
    memset(d, 0, sizeof(*d));
}

static bool
in_list(char *const *v, size_t n, const char *x)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], x) == 0)
            return true;
    return false;
}

void
domset_add(struct domset *d, const char *dom)
{
    if (dom == NULL || in_list(d->v, d->n, dom))
        return;
    d->v = x_realloc(d->v, (d->n + 1) * sizeof(*d->v));
    d->v[d->n++] = x_strdup(dom);
}

bool
domset_has(const struct domset *d, const char *dom)
{
    if (dom == NULL)
        return false;
    if (in_list(d->v, d->n, dom))
        return true;
    for (size_t i = 0; i < d->nw; i++)
        if (tls_wildcard_match(d->w[i], dom))
            return true;
    return false;
}

/* Add the identities a certificate carries: E as domains, W as patterns
 * (MUX.md §5.2). */
static void
domset_add_cert(struct domset *d, const struct tls_identities *ids)
{
    char **v = NULL;
    size_t n = tls_identities_domains(ids, TLS_MATCH_S2S, &v);
    for (size_t i = 0; i < n; i++)
        domset_add(d, v[i]);
    tls_domains_free(v, n);
    char **w = NULL;
    size_t nw = tls_identities_wildcards(ids, &w);
    for (size_t i = 0; i < nw; i++) {
        if (in_list(d->w, d->nw, w[i]))
            continue;
        d->w = x_realloc(d->w, (d->nw + 1) * sizeof(*d->w));
        d->w[d->nw++] = x_strdup(w[i]);
    }
    tls_domains_free(w, nw);
}

/* A host a mux element may name (MUX.md §3.3, SEC-14): a prepared
 * domain of two labels or more, not an IP literal. */
bool
mux_hostname(const char *d)
{
    if (d[0] == '[' || strchr(d, '.') == NULL)
        return false;
    return strspn(d, "0123456789.") != strlen(d);
}

/* --- receiving role ---------------------------------------------------------- */

/* F1 goes with EXTERNAL (MUX.md §5.5): mux enabled for the host and on
 * s2s, the certificate validated, at most 256 counted identities. */
bool
stream__mux_offer(struct stream *s)
{
    return s->ctx->cfg->s2s.mux && s->host->mux && s->peer_valid &&
           !s->peer_ids.truncated;
}

/* A top-level <mux/> (MUX.md §4.3), in the order of the table. */
int
stream__mux_element(struct stream *s, const struct stanza *el)
{
    if (xml_reader_element_bytes(s->xr) > MUX_ELEMENT_MAX)
        return stream__fail(s, SC_POLICY_VIOLATION, "mux element too large");
    if (!s->tls)
        return stream__fail(s, SC_POLICY_VIOLATION, "mux requires TLS");
    if (s->state == STREAM_ST_SASL)
        return stream__fail(s, SC_POLICY_VIOLATION,
                            "mux during authentication");
    bool host = stanza_attr(el, "host") != NULL;
    if (s->authenticated) {
        /* c2s: only before a resource is bound (state bind). */
        if (host && (s->s2s || s->state == STREAM_ST_BIND))
            return stream__mux_authorization(s, el);
        return stream__fail(s, SC_POLICY_VIOLATION,
                            host ? "a resource is bound on this stream"
                                 : "mux negotiated too late or twice");
    }
    if (!s->mux_offered)
        return stream__fail(s, SC_POLICY_VIOLATION, "mux was not offered");
    if (host)
        return stream__fail(s, SC_POLICY_VIOLATION,
                            "authorization requires a SASL-authenticated "
                            "stream");
    size_t n = 0;
    const char *t = stanza_text(el, &n);
    bool blank = stanza_first_child(el) == NULL && t != NULL;
    for (size_t i = 0; blank && i < n; i++)
        blank = t[i] == ' ' || t[i] == '\t' || t[i] == '\r' || t[i] == '\n';
    if (!blank)
        return stream__fail(s, SC_BAD_FORMAT, NULL);
    if (s->mux_requested)
        return stream__fail(s, SC_POLICY_VIOLATION, "mux already negotiated");
    s->mux_requested = true;
    log_msg(s->ctx->log, LOG_DEBUG, s->conn, "event=mux-requested");
    return 0;
}

/* The secret of an F4: the element's text, trimmed. NULL (bad-format)
 * if it has children or no text. */
static const char *
f4_secret(const struct stanza *el, size_t *n)
{
    if (stanza_first_child(el) != NULL)
        return NULL;
    const char *t = stanza_text(el, n);
    if (t == NULL)
        return NULL;
    while (*n > 0 && (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n')) {
        t++;
        (*n)--;
    }
    while (*n > 0 && (t[*n - 1] == ' ' || t[*n - 1] == '\t' ||
                      t[*n - 1] == '\r' || t[*n - 1] == '\n'))
        (*n)--;
    return *n > 0 ? t : NULL;
}

/* F4 on an authenticated s2s stream (MUX.md §8.4), checks in order: SASL
 * (dialback-only streams never get here: they are not authenticated),
 * size (done by the caller), host, secret, attempts; a host not listed
 * on this stream is logged and ignored (MUX-70), else the router sends
 * the F5 IQ. The secret is never logged (SEC-10). */
/* The host of an F4, prepared into via: a domain on s2s, a full JID on
 * c2s (MUX.md §10.6: the session to join). Returns false if invalid. On
 * c2s *listed tells whether its domain is one of the hosts listed on s. */
static bool
f4_host(const struct stream *s, const char *host, char *via, size_t cap,
        bool *listed)
{
    if (s->s2s) {
        *listed = true;
        return jid_domain_prep(host, strlen(host), via, cap, NULL) == 0 &&
               mux_hostname(via);
    }
    struct jid j;
    if (jid_parse(&j, host, strlen(host)) != 0)
        return false;
    bool ok = jid_has_node(&j) && jid_has_resource(&j) && jid_len(&j) < cap;
    if (ok) {
        memcpy(via, jid_str(&j), jid_len(&j) + 1);
        size_t n;
        const char *d = jid_domain(&j, &n);
        char dom[JID_DOMAIN_BUFSZ];
        memcpy(dom, d, n);
        dom[n] = '\0';
        *listed = s->ctx->cfg->c2s.mux && s->host->mux &&
                  config_host(s->ctx->cfg, dom) != NULL &&
                  strcmp(dom, s->host->domain) != 0;
    }
    jid_fini(&j);
    return ok;
}

/* Whether a valid F4 for via goes on: its host listed here, the feature
 * enabled; else it is logged and ignored (MUX-70, MUX-86). */
static bool
f4_relayed(const struct stream *s, const char *via, bool listed)
{
    bool enabled = (!s->s2s || s->ctx->cfg->s2s.mux_authorization) &&
                   s->ctx->ops != NULL && s->ctx->ops->mux_authz != NULL;
    if (listed && enabled)
        return true;
    char e[3 * JID_PART_BUFSZ];
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=mux-authorization-ignored host=%s reason=%s",
            log_escape(e, sizeof(e), via, strlen(via)),
            listed ? "disabled" : "not-listed");
    return false;
}

int
stream__mux_authorization(struct stream *s, const struct stanza *el)
{
    const char *host = stanza_attr(el, "host");
    char via[3 * JID_PART_BUFSZ];
    bool listed = false;
    if (!f4_host(s, host, via, sizeof(via), &listed))
        return stream__fail(s, SC_BAD_FORMAT, "invalid host");
    size_t n = 0;
    const char *secret = f4_secret(el, &n);
    if (secret == NULL)
        return stream__fail(s, SC_BAD_FORMAT, "no secret");
    if (n > MUX_SECRET_MAX)
        return stream__fail(s, SC_POLICY_VIOLATION, "secret too long");
    if (s->f4_pending || s->f4_count >= MUX_F4_MAX)
        return stream__fail(s, SC_POLICY_VIOLATION,
                            "too many authorization attempts");
    s->f4_count++;
    if (s->s2s)
        listed = domset_has(&s->hosts, via);
    if (!f4_relayed(s, via, listed))
        return 0;
    s->f4_pending = true;
    char e[3 * JID_PART_BUFSZ];
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=mux-authorization-request via=%s new=%s from=%s",
            log_escape(e, sizeof(e), via, strlen(via)), s->host->domain,
            s->s2s ? s->peer_domain : jid_str(&s->jid));
    if (s->ctx->ops->mux_authz(s->ctx->ops_arg, s, via, secret, n) != 0) {
        s->f4_pending = false;
        return stream__fail(s, SC_POLICY_VIOLATION,
                            "too many authorization attempts for the account");
    }
    return 0;
}

void
stream_mux_authz_done(struct stream *s, bool ok)
{
    if (!s->f4_pending)
        return;
    s->f4_pending = false;
    log_msg(s->ctx->log, LOG_INFO, s->conn,
            "event=mux-authorization-done result=%s", ok ? "success" : "failed");
    if (ok && s->state != STREAM_ST_CLOSED) {
        /* §8.4: S has served its purpose; what I still sends before its
         * closing tag is processed (CORE-19). */
        stream__close(s, "mux-authorized");
        if (!s->in_feed && s->ctx->ops && s->ctx->ops->wake)
            s->ctx->ops->wake(s->ctx->ops_arg, s);
    }
}

int
stream_mux_request_authz(struct stream *s, const char *via, const char *secret)
{
    if (s->state == STREAM_ST_CLOSED)
        return XE_CLOSED;
    if (!s->initiating || s->state != STREAM_ST_SESSION ||
        s->auth != STREAM_AUTH_SASL || !s->peer_valid ||
        !domset_has(&s->hosts, via))
        return XE_STATE;
    struct stanza *m = stanza_new(NS_MUX, "mux");
    stanza_set_attr(m, "host", via);
    stanza_add_text(m, secret, strlen(secret));
    s->m3_hold = true;
    int rc = stream__send_take(s, m);
    if (!s->in_feed && s->ctx->ops && s->ctx->ops->wake)
        s->ctx->ops->wake(s->ctx->ops_arg, s);
    return rc;
}

void
stream_mux_release(struct stream *s)
{
    if (!s->m3_hold)
        return;
    s->m3_hold = false;
    if (s->ctx->ops && s->ctx->ops->s2s_changed)
        s->ctx->ops->s2s_changed(s->ctx->ops_arg, s);
}

/* After SASL EXTERNAL on s2s (MUX.md §5.4): SND = {stream from}, plus
 * the certificate's E and W if F3 came first. R's own domains are never
 * senders; that is checked where SND is used. */
void
stream__mux_sasl_done(struct stream *s)
{
    domset_fini(&s->snd);
    domset_add(&s->snd, s->peer_domain);
    if (s->mux_requested && s->peer_valid) {
        domset_add_cert(&s->snd, &s->peer_ids);
        log_msg(s->ctx->log, LOG_INFO, s->conn,
                "event=mux-senders domains=%zu wildcards=%zu", s->snd.n,
                s->snd.nw);
    }
}

/* H (MUX.md §6.4): the hosts configured for the stream's 'to' (all local
 * hosts by default), without the 'to' itself, at most 256, listed in F2.
 * R accepts the 'to' and H as targets (TGT_R); s->tgt becomes RSND, what
 * R may send from with bidi: the 'to' and the hosts of H its own
 * certificate covers. */
void
stream__mux_post_features(struct stream *s, struct stanza *features)
{
    const struct config *cfg = s->ctx->cfg;
    const struct cfg_host *h = s->host;
    domset_fini(&s->hosts);
    domset_fini(&s->tgt);
    domset_add(&s->tgt, h->domain);
    if (!cfg->s2s.mux || !h->mux)
        return;
    size_t n = h->mux_advertise ? h->nmux_advertise : cfg->nhosts;
    struct stanza *m = NULL;
    for (size_t i = 0; i < n && s->hosts.n < MUX_HOSTS_EMIT_MAX; i++) {
        const char *d = h->mux_advertise ? h->mux_advertise[i]
                                         : cfg->hosts[i].domain;
        if (strcmp(d, h->domain) == 0)
            continue;
        domset_add(&s->hosts, d);
        if (m == NULL)
            m = stanza_add_child(features, NS_MUX, "mux");
        stanza_add_text(stanza_add_child(m, NULL, "host"), d, strlen(d));
    }
    /* With bidi we send from the 'to' and the listed hosts our own
     * certificate on this stream covers (RSND, §6.1). */
    struct tls_identities ids;
    if (s->hosts.n == 0 || s->tls_conn == NULL ||
        tls_conn_local_identities(s->tls_conn, STREAM_IDS_MAX, &ids) != 0)
        return;
    for (size_t i = 0; i < s->hosts.n; i++)
        if (tls_identities_cover(&ids, s->hosts.v[i], TLS_MATCH_S2S))
            domset_add(&s->tgt, s->hosts.v[i]);
    tls_identities_fini(&ids);
}

/* --- initiating role ----------------------------------------------------------- */

/* Read a peer's F2 (MUX.md §6.4): trimmed, normalised, invalid entries,
 * duplicates and the stream 'to' dropped, at most 1024 read; then the
 * targets we may use: the 'to' and the hosts the peer's certificate
 * covers (M2). */
void
stream__mux_read_hosts(struct stream *s, const struct stanza *mux)
{
    domset_fini(&s->hosts);
    size_t seen = 0;
    for (const struct stanza *c = mux ? stanza_first_child(mux) : NULL;
         c != NULL && seen < MUX_HOSTS_READ_MAX; c = stanza_next_sibling(c)) {
        if (!stanza_is(c, NS_MUX, "host"))
            continue;
        seen++;
        size_t n = 0;
        const char *t = stanza_text(c, &n);
        while (t && n > 0 && (*t == ' ' || *t == '\t' || *t == '\n' ||
                              *t == '\r')) {
            t++;
            n--;
        }
        while (t && n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t' ||
                              t[n - 1] == '\n' || t[n - 1] == '\r'))
            n--;
        char d[JID_DOMAIN_BUFSZ];
        if (t == NULL || n == 0 ||
            jid_domain_prep(t, n, d, sizeof(d), NULL) != 0 ||
            !mux_hostname(d) || strcmp(d, s->peer_domain) == 0)
            continue;
        domset_add(&s->hosts, d);
    }
    domset_fini(&s->tgt);
    domset_add(&s->tgt, s->peer_domain);
    for (size_t i = 0; i < s->hosts.n && s->peer_valid; i++)
        if (tls_identities_cover(&s->peer_ids, s->hosts.v[i], TLS_MATCH_S2S))
            domset_add(&s->tgt, s->hosts.v[i]);
    if (s->hosts.n > 0)
        log_msg(s->ctx->log, LOG_INFO, s->conn,
                "event=mux-hosts listed=%zu usable=%zu", s->hosts.n,
                s->tgt.n - 1);
}

/* Our senders on a stream we opened (MUX.md §5.4 from I's side): the
 * stream 'from', plus every domain we serve that our certificate covers
 * (E or W, as R computes it) if we sent F3 and SASL EXTERNAL succeeded;
 * never a domain the peer hosts. */
void
stream__mux_out_senders(struct stream *s)
{
    domset_fini(&s->snd);
    domset_add(&s->snd, s->host->domain);
    if (!s->mux_requested || s->tls_conn == NULL)
        return;
    struct tls_identities ids;
    if (tls_conn_local_identities(s->tls_conn, STREAM_IDS_MAX, &ids) != 0)
        return;
    const struct config *cfg = s->ctx->cfg;
    for (size_t i = 0; i < cfg->nhosts; i++) {
        const char *d = cfg->hosts[i].domain;
        if (tls_identities_cover(&ids, d, TLS_MATCH_S2S) &&
            !domset_has(&s->tgt, d))
            domset_add(&s->snd, d);
    }
    tls_identities_fini(&ids);
    log_msg(s->ctx->log, LOG_INFO, s->conn, "event=mux-senders domains=%zu",
            s->snd.n);
}

/* --- c2s (MUX.md §10) ---------------------------------------------------------- */

/* Skip the primary's own JID and keep domain-only candidates (allowed by
 * config when collected) without a lookup; stop at one to look up. */
static void
mux_skip(struct stream *s)
{
    size_t n;
    const char *bare = jid_bare(&s->jid, &n);
    while (s->mux_next < s->nmux_jids) {
        const char *c = s->mux_jids[s->mux_next];
        if (strlen(c) == n && memcmp(c, bare, n) == 0) {
            s->mux_next++;
        } else if (strchr(c, '@') == NULL) {
            domset_add(&s->snd, c);
            s->mux_next++;
        } else {
            break;
        }
    }
}

static void
mux_ask(struct stream *s)
{
    const char *c = s->mux_jids[s->mux_next];
    const char *at = strchr(c, '@');
    char node[JID_PART_BUFSZ];
    size_t nn = (size_t)(at - c);
    memcpy(node, c, nn);
    node[nn] = '\0';
    s->ctx->ops->need_creds(s->ctx->ops_arg, s, at + 1, node);
}

/* Before the first bind: the certificate's other JIDs count only for
 * accounts that exist (MUX-40). Returns true if a lookup started: el
 * waits in the queue, the stream is paused. */
bool
stream__mux_check_accounts(struct stream *s, struct stanza *el)
{
    mux_skip(s);
    if (s->mux_next >= s->nmux_jids || s->ctx->ops == NULL ||
        s->ctx->ops->need_creds == NULL)
        return false;
    stream__queue(s, el);
    s->paused = true;
    s->mux_checking = true;
    mux_ask(s);
    return true;
}

/* The answer to one lookup. */
int
stream__mux_account(struct stream *s, bool exists)
{
    if (exists) {
        domset_add(&s->snd, s->mux_jids[s->mux_next]);
    } else {
        char e[320];
        const char *c = s->mux_jids[s->mux_next];
        log_msg(s->ctx->log, LOG_INFO, s->conn,
                "event=mux-identity-dropped jid=%s reason=no-account",
                log_escape(e, sizeof(e), c, strlen(c)));
    }
    s->mux_next++;
    mux_skip(s);
    if (s->mux_next < s->nmux_jids) {
        mux_ask(s);
        return 0;
    }
    s->mux_checking = false;
    s->paused = false;
    return stream__resume(s);
}

/* F2 after SASL on c2s (MUX.md §10.3): the other local hosts (the
 * domains of the certificate's identities are among them), never the
 * stream 'to'. */
void
stream__c2s_mux_features(struct stream *s, struct stanza *features)
{
    const struct config *cfg = s->ctx->cfg;
    if (!cfg->c2s.mux || !s->host->mux)
        return;
    struct stanza *m = NULL;
    for (size_t i = 0; i < cfg->nhosts && i < MUX_HOSTS_EMIT_MAX; i++) {
        const char *d = cfg->hosts[i].domain;
        if (strcmp(d, s->host->domain) == 0)
            continue;
        if (m == NULL)
            m = stanza_add_child(features, NS_MUX, "mux");
        stanza_add_text(stanza_add_child(m, NULL, "host"), d, strlen(d));
    }
}

/* True if resource r is taken for the primary or any other identity
 * (§10.4: then a generated resource serves all of them). */
bool
stream__mux_resource_busy(struct stream *s, const char *r, size_t rlen)
{
    if (s->snd.n == 0 || s->ctx->ops->is_bound == NULL)
        return false;
    for (size_t i = 0; i <= s->snd.n; i++) {
        struct jid bare, full;
        const char *b = i == 0 ? NULL : s->snd.v[i - 1];
        if (b != NULL && jid_parse(&bare, b, strlen(b)) != 0)
            continue;
        int rc = jid_with_resource(&full, b ? &bare : &s->jid, r, rlen);
        if (b != NULL)
            jid_fini(&bare);
        if (rc != 0)
            continue;
        bool busy = s->ctx->ops->is_bound(s->ctx->ops_arg, &full);
        jid_fini(&full);
        if (busy)
            return true;
    }
    return false;
}

/* Bind resource r for every other identity too, after the primary. */
int
stream__mux_bind_also(struct stream *s, const char *r, size_t rlen)
{
    for (size_t i = 0; i < s->snd.n; i++) {
        struct jid bare, full;
        if (jid_parse(&bare, s->snd.v[i], strlen(s->snd.v[i])) != 0)
            continue;
        int rc = jid_with_resource(&full, &bare, r, rlen);
        jid_fini(&bare);
        if (rc != 0)
            continue;
        rc = s->ctx->ops->bind_also ? s->ctx->ops->bind_also(s->ctx->ops_arg,
                                                             s, &full)
                                    : XE_STATE;
        if (rc == 0) {
            stream_identity_add(s, &full);
            log_msg(s->ctx->log, LOG_INFO, s->conn, "event=bound-also jid=%s",
                    jid_str(&full));
        }
        jid_fini(&full);
    }
    return 0;
}
