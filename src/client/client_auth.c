/* SPDX-License-Identifier: MIT */
/* client_auth.c -- SASL (SCRAM, PLAIN, EXTERNAL), <mux/>, resource binding. */
#include "client/client_int.h"

#include <string.h>

#include <openssl/crypto.h>

#include "base/alloc.h"
#include "base/err.h"
#include "sasl/sasl.h"

/* Longest SASL text (base64) sent or taken in one element. */
#define CLIENT_SASL_MAX 16384
/* Mechanisms read from the features, and the longest name kept (RFC 4422
 * §3.1: 20 characters). */
#define CLIENT_MECHS_MAX     32
#define CLIENT_MECH_NAME_MAX 21

bool
client_offers_mux(const struct client_conn *c)
{
    return c->features != NULL &&
           stanza_child(c->features, NS_MUX, "mux") != NULL;
}

size_t
client_mux_host_count(const struct client_conn *c)
{
    return c->nhosts;
}

const char *
client_mux_host(const struct client_conn *c, size_t i)
{
    return i < c->nhosts ? c->hosts[i] : NULL;
}

const char *
client_jid(const struct client_conn *c)
{
    return c->nids > 0 ? c->ids[0] : "";
}

size_t
client_identity_count(const struct client_conn *c)
{
    return c->nids;
}

const char *
client_identity(const struct client_conn *c, size_t i)
{
    return i < c->nids ? c->ids[i] : NULL;
}

int
client_send(struct client_conn *c, const struct stanza *st)
{
    struct stanza_wctx w = {.default_ns = NS_CLIENT};
    struct buf out;
    buf_init(&out, (size_t)1 << 20);
    int rc = stanza_write(st, &w, &out);
    if (rc == 0)
        rc = client__send_stanza(c, st, buf_ptr(&out), buf_len(&out));
    buf_fini(&out);
    return rc;
}

/* Replace *slot by a copy of v (which may be *slot itself); a secret
 * that is replaced is cleansed first. */
static void
client_keep(char **slot, const char *v, bool secret)
{
    char *copy = v != NULL ? x_strdup(v) : NULL;
    if (secret && *slot != NULL)
        OPENSSL_cleanse(*slot, strlen(*slot));
    x_free(*slot);
    *slot = copy;
}

/* Keep the host list of the post-auth F2. */
static void
client_take_hosts(struct client_conn *c)
{
    const struct stanza *mux = stanza_child(c->features, NS_MUX, "mux");
    if (mux == NULL)
        return;
    for (const struct stanza *h = stanza_first_child(mux);
         h != NULL && c->nhosts < CLIENT_HOSTS_MAX;
         h = stanza_next_sibling(h)) {
        size_t n = 0;
        const char *t = stanza_text(h, &n);
        if (stanza_is(h, NS_MUX, "host") && t != NULL && n > 0)
            c->hosts[c->nhosts++] = x_strndup(t, n);
    }
}

/* Send <name xmlns=sasl [mechanism=mech]>text</name>. */
static int
client_sasl_send(struct client_conn *c,
                 const char *name,
                 const char *mech,
                 const struct buf *text)
{
    struct stanza *el = stanza_new(NS_SASL, name);
    if (mech != NULL)
        stanza_set_attr(el, "mechanism", mech);
    if (buf_len(text) > 0)
        stanza_add_text(el, buf_ptr(text), buf_len(text));
    int rc = client_send(c, el);
    stanza_unref(el);
    return rc;
}

/* The base64 text of a SASL element into b. */
static int
client_sasl_text(const struct stanza *el, struct buf *b)
{
    buf_reset(b);
    return stanza_text_copy(el, b);
}

/* <success/>: with additional data (SCRAM's server signature) the last
 * step must verify it; without, our side must already be finished. */
static int
client_sasl_success(struct client_conn *c,
                    struct sasl_client *sc,
                    const struct stanza *r,
                    struct buf *text,
                    struct buf *err)
{
    struct buf out;
    buf_init(&out, CLIENT_SASL_MAX);
    int rc = client_sasl_text(r, text);
    bool ok = rc == 0 &&
              (buf_len(text) > 0
                   ? sasl_client_step(sc, buf_ptr(text), buf_len(text), &out) ==
                             SASL_SUCCESS &&
                         buf_len(&out) == 0
                   : sasl_client_done(sc));
    buf_fini(&out);
    if (!ok) {
        (void)buf_printf(err,
                         "%s: %s success without a valid server proof: "
                         "the server does not know the credentials",
                         c->domain, sasl_client_mech(sc));
        return XE_SASL;
    }
    c->mech = sasl_client_mech(sc);
    return 0;
}

/* One server answer during SASL: 1 to go on (a challenge was answered),
 * 0 on success, or an error. */
static int
client_sasl_answer(struct client_conn *c,
                   struct sasl_client *sc,
                   const struct stanza *r,
                   struct buf *text,
                   struct buf *err)
{
    const char *mech = sasl_client_mech(sc);
    if (stanza_is(r, NS_SASL, "success"))
        return client_sasl_success(c, sc, r, text, err);
    if (stanza_is(r, NS_SASL, "failure")) {
        const struct stanza *why = stanza_first_child(r);
        (void)buf_printf(err, "%s: %s refused: <%s/>", c->domain, mech,
                         why ? stanza_name(why) : "failure");
        return XE_SASL;
    }
    if (!stanza_is(r, NS_SASL, "challenge")) {
        (void)buf_printf(err, "%s: expected a SASL answer, got <%s/>",
                         c->domain, stanza_name(r));
        return XE_PROTO;
    }
    struct buf out;
    buf_init(&out, CLIENT_SASL_MAX);
    int rc = client_sasl_text(r, text);
    if (rc == 0 && sasl_client_step(sc, buf_ptr(text), buf_len(text), &out) !=
                       SASL_CONTINUE) {
        (void)buf_printf(err,
                         "%s: %s: the server's challenge is not "
                         "acceptable",
                         c->domain, mech);
        rc = XE_SASL;
    }
    if (rc == 0)
        rc = client_sasl_send(c, "response", NULL, &out);
    buf_fini(&out);
    return rc < 0 ? rc : 1;
}

/* Run the exchange of sc: <auth/> with the initial response, the
 * challenges, the outcome; on success restart the stream. */
static int
client_sasl(struct client_conn *c, struct sasl_client *sc, struct buf *err)
{
    const char *mech = sasl_client_mech(sc);
    struct buf text;
    buf_init(&text, CLIENT_SASL_MAX);
    int rc = 0;
    if (sasl_client_step(sc, "", 0, &text) == SASL_FAILURE) {
        (void)buf_printf(err, "%s: %s: cannot start", c->domain, mech);
        rc = XE_SASL;
    }
    /* RFC 6120 §6.4.2: an empty initial response is "=". */
    if (rc == 0 && buf_len(&text) == 0)
        rc = buf_appendz(&text, "=");
    if (rc == 0)
        rc = client_sasl_send(c, "auth", mech, &text);
    while (rc >= 0) {
        struct stanza *r = NULL;
        rc = client_next(c, c->cfg->timeout_ms, &r);
        if (rc < 0 || r == NULL) {
            (void)buf_printf(err, "%s: no SASL outcome: %s", c->domain,
                             rc < 0 ? xerr_str(rc) : "timeout");
            rc = rc < 0 ? rc : XE_PROTO;
            break;
        }
        rc = client_sasl_answer(c, sc, r, &text, err);
        stanza_unref(r);
        if (rc == 0)
            break;
    }
    buf_fini(&text);
    if (rc < 0)
        return rc;
    stanza_unref(c->features);
    c->features = NULL;
    rc = client__open_stream(c);
    if (rc == 0)
        rc = client__expect(c, XML_NS_STREAM, "features", &c->features, err);
    if (rc == 0)
        client_take_hosts(c);
    return rc;
}

/* Start sc for mech with p and run it. */
static int
client_sasl_run(struct client_conn *c,
                const char *mech,
                const struct sasl_client_params *p,
                struct buf *err)
{
    struct sasl_client *sc = NULL;
    int rc = sasl_client_start(mech, p, &sc);
    if (rc < 0) {
        (void)buf_printf(err, "%s: cannot use %s: %s", c->domain, mech,
                         xerr_str(rc));
        return rc;
    }
    rc = client_sasl(c, sc, err);
    sasl_client_free(sc);
    return rc;
}

/* The XEP-0440 channel-binding types the features list, if any: true if
 * type is among them or none are listed. */
static bool
client_cb_listed(const struct stanza *features, const char *type)
{
    const struct stanza *cbs =
        stanza_child(features, CLIENT_NS_SASL_CB, "sasl-channel-binding");
    if (cbs == NULL)
        return true;
    for (const struct stanza *t = stanza_first_child(cbs); t != NULL;
         t = stanza_next_sibling(t)) {
        const char *v = stanza_attr(t, "type");
        if (stanza_is(t, CLIENT_NS_SASL_CB, "channel-binding") && v != NULL &&
            strcmp(v, type) == 0)
            return true;
    }
    return false;
}

const char *
client_pick_mech(const struct stanza *features,
                 const char *cb_type,
                 const char *forced)
{
    const struct stanza *m =
        features ? stanza_child(features, NS_SASL, "mechanisms") : NULL;
    if (m == NULL)
        return NULL;
    char names[CLIENT_MECHS_MAX][CLIENT_MECH_NAME_MAX];
    const char *offered[CLIENT_MECHS_MAX];
    size_t n = 0;
    for (const struct stanza *one = stanza_first_child(m);
         one != NULL && n < CLIENT_MECHS_MAX; one = stanza_next_sibling(one)) {
        size_t len = 0;
        const char *t = stanza_text(one, &len);
        if (!stanza_is(one, NS_SASL, "mechanism") || t == NULL || len == 0 ||
            len >= CLIENT_MECH_NAME_MAX)
            continue;
        memcpy(names[n], t, len);
        names[n][len] = '\0';
        if (forced != NULL && strcmp(names[n], forced) != 0)
            continue;
        offered[n] = names[n];
        n++;
    }
    bool cb = cb_type != NULL && client_cb_listed(features, cb_type);
    return sasl_client_pick(offered, n, cb);
}

const char *
client_mech(const struct client_conn *c)
{
    return c->mech;
}

int
client_auth_password(struct client_conn *c,
                     const char *user,
                     const char *password,
                     const char *mech,
                     struct buf *err)
{
    x_free(c->account);
    c->account = x_malloc(strlen(user) + strlen(c->domain) + 2);
    memcpy(c->account, user, strlen(user));
    c->account[strlen(user)] = '@';
    memcpy(c->account + strlen(user) + 1, c->domain, strlen(c->domain) + 1);
    client_keep(&c->auth_user, user, false);
    client_keep(&c->auth_password, password, true);
    c->auth_external = false;
    unsigned char cb[TLS_CB_MAX];
    size_t cblen = 0;
    struct sasl_client_params p = {.authcid = c->auth_user,
                                   .password = c->auth_password};
    if (tls_conn_channel_binding_best(c->tls, &p.cb_type, cb, &cblen) == 0) {
        p.cb_data = cb;
        p.cb_len = cblen;
    }
    const char *use = client_pick_mech(c->features, p.cb_type, mech);
    if (use == NULL) {
        (void)buf_printf(err, "%s: %s", c->domain,
                         mech ? "the mechanism asked for is not offered "
                                "(or needs a channel binding)"
                              : "no SASL mechanism for a password offered");
        if (mech != NULL)
            (void)buf_printf(err, ": %s", mech);
        return XE_SASL;
    }
    int rc = client_sasl_run(c, use, &p, err);
    OPENSSL_cleanse(cb, sizeof cb);
    return rc;
}

int
client_auth_external(struct client_conn *c,
                     const char *authzid,
                     bool mux,
                     struct buf *err)
{
    if (mux && client_offers_mux(c)) {
        static const char f3[] = "<mux xmlns='" NS_MUX "'/>";
        int rc = client__write(c, f3, sizeof f3 - 1);
        if (rc < 0)
            return rc;
    }
    client_keep(&c->auth_authzid, authzid ? authzid : "", false);
    c->auth_external = true;
    c->auth_mux = mux;
    x_free(c->account);
    c->account = x_strdup(c->auth_authzid);
    struct sasl_client_params p = {.authzid = c->auth_authzid};
    return client_sasl_run(c, "EXTERNAL", &p, err);
}

int
client__relogin(struct client_conn *c, struct buf *err)
{
    if (c->auth_external)
        return client_auth_external(c, c->auth_authzid, c->auth_mux, err);
    if (c->auth_user == NULL || c->auth_password == NULL) {
        (void)buf_printf(err, "%s: never logged in", c->domain);
        return XE_STATE;
    }
    return client_auth_password(c, c->auth_user, c->auth_password, c->mech,
                                err);
}

int
client_bind(struct client_conn *c, const char *resource, struct buf *err)
{
    char id[32];
    client__id(c, id, sizeof id);
    struct stanza *iq = stanza_new(NS_CLIENT, "iq");
    stanza_set_attr(iq, "type", "set");
    stanza_set_attr(iq, "id", id);
    struct stanza *b = stanza_add_child(iq, NS_BIND, "bind");
    if (resource != NULL && resource[0] != '\0')
        stanza_add_text(stanza_add_child(b, NULL, "resource"), resource,
                        strlen(resource));
    int rc = client_send(c, iq);
    stanza_unref(iq);
    struct stanza *r = NULL;
    if (rc == 0)
        rc = client__expect(c, NS_CLIENT, "iq", &r, err);
    if (rc < 0)
        return rc;
    const struct stanza *rb = stanza_child(r, NS_BIND, "bind");
    const struct stanza *j = rb ? stanza_child(rb, NS_BIND, "jid") : NULL;
    size_t n = 0;
    const char *t = j ? stanza_text(j, &n) : NULL;
    struct jid full = {0};
    if (t == NULL || jid_parse(&full, t, n) < 0 || !jid_has_resource(&full)) {
        (void)buf_printf(err, "%s: bind failed (type=%s)", c->domain,
                         stanza_attr(r, "type") ? stanza_attr(r, "type") : "?");
        stanza_unref(r);
        return XE_PROTO;
    }
    stanza_unref(r);
    client__add_identity(c, jid_str(&full));
    jid_fini(&full);
    return 0;
}
