/* SPDX-License-Identifier: MIT */
/* client_auth.c -- SASL PLAIN and EXTERNAL, <mux/>, resource binding. */
#include "client/client_int.h"

#include <string.h>

#include <openssl/evp.h>

#include "base/alloc.h"
#include "base/err.h"

/* Longest SASL message built here, before base64. */
#define CLIENT_SASL_MAX 3072

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
        rc = client__write(c, buf_ptr(&out), buf_len(&out));
    buf_fini(&out);
    return rc;
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

/* Send <auth/> with the base64 of msg[0..len), read the outcome and on
 * success restart the stream. */
static int
client_sasl(struct client_conn *c,
            const char *mech,
            const unsigned char *msg,
            size_t len,
            struct buf *err)
{
    unsigned char b64[CLIENT_SASL_MAX * 4 / 3 + 8];
    if (len > CLIENT_SASL_MAX)
        return XE_LIMIT;
    int n = len ? EVP_EncodeBlock(b64, msg, (int)len) : 0;
    if (n == 0)
        b64[n++] = '=';
    struct buf a;
    buf_init(&a, sizeof b64 + 128);
    (void)buf_printf(&a, "<auth xmlns='%s' mechanism='%s'>%.*s</auth>", NS_SASL,
                     mech, n, (const char *)b64);
    int rc = client__write(c, buf_ptr(&a), buf_len(&a));
    buf_fini(&a);
    struct stanza *r = NULL;
    if (rc == 0)
        rc = client_next(c, c->cfg->timeout_ms, &r);
    if (rc < 0 || r == NULL) {
        (void)buf_printf(err, "%s: no SASL outcome: %s", c->domain,
                         rc < 0 ? xerr_str(rc) : "timeout");
        return rc < 0 ? rc : XE_PROTO;
    }
    if (!stanza_is(r, NS_SASL, "success")) {
        const struct stanza *why = stanza_first_child(r);
        (void)buf_printf(err, "%s: %s refused: <%s/>", c->domain, mech,
                         why ? stanza_name(why) : stanza_name(r));
        stanza_unref(r);
        return XE_SASL;
    }
    stanza_unref(r);
    stanza_unref(c->features);
    c->features = NULL;
    rc = client__open_stream(c);
    if (rc == 0)
        rc = client__expect(c, XML_NS_STREAM, "features", &c->features, err);
    if (rc == 0)
        client_take_hosts(c);
    return rc;
}

int
client_auth_plain(struct client_conn *c,
                  const char *user,
                  const char *password,
                  struct buf *err)
{
    x_free(c->account);
    c->account = x_malloc(strlen(user) + strlen(c->domain) + 2);
    memcpy(c->account, user, strlen(user));
    c->account[strlen(user)] = '@';
    memcpy(c->account + strlen(user) + 1, c->domain, strlen(c->domain) + 1);
    size_t ul = strlen(user);
    size_t pl = strlen(password);
    if (ul + pl + 2 > CLIENT_SASL_MAX) {
        (void)buf_printf(err, "user name or password too long");
        return XE_LIMIT;
    }
    unsigned char msg[CLIENT_SASL_MAX];
    msg[0] = '\0';
    memcpy(msg + 1, user, ul);
    msg[ul + 1] = '\0';
    memcpy(msg + ul + 2, password, pl);
    int rc = client_sasl(c, "PLAIN", msg, ul + pl + 2, err);
    OPENSSL_cleanse(msg, sizeof msg);
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
    const char *z = authzid ? authzid : "";
    x_free(c->account);
    c->account = x_strdup(z);
    return client_sasl(c, "EXTERNAL", (const unsigned char *)z, strlen(z), err);
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
