/* SPDX-License-Identifier: MIT */
/* sasl_client.c -- the client side: picking a mechanism, GNU SASL steps. */
#include "sasl/sasl.h"

#include <string.h>

#include <openssl/crypto.h>

#include "base/alloc.h"
#include "base/err.h"
#include "sasl/sasl_int.h"

struct sasl_client {
    Gsasl *gs;
    Gsasl_session *sess;
    const struct sasl_mech *mech;
    bool done; /* GNU SASL returned GSASL_OK: nothing more to check */
};

const char *
sasl_client_pick(const char *const *offered, size_t n, bool cb)
{
    for (size_t m = 0; m < SASL_MECH_MAX; m++) {
        const struct sasl_mech *mech = sasl__mech_nth(m);
        if (mech->kind == SASL_KIND_EXTERNAL || (mech->plus && !cb))
            continue;
        for (size_t i = 0; i < n; i++)
            if (offered[i] != NULL && strcmp(offered[i], mech->name) == 0)
                return mech->name;
    }
    return NULL;
}

/* Hand GNU SASL what the mechanism asks for. Properties are set before
 * the first step, so no callback is needed (and none could hand a
 * channel binding to a mechanism that must not use one). */
static int
client_props(struct sasl_client *c, const struct sasl_client_params *p)
{
    int rc = GSASL_OK;
    if (p->authcid != NULL)
        rc = gsasl_property_set(c->sess, GSASL_AUTHID, p->authcid);
    if (rc == GSASL_OK && p->password != NULL)
        rc = gsasl_property_set(c->sess, GSASL_PASSWORD, p->password);
    if (rc == GSASL_OK && p->authzid != NULL && p->authzid[0] != '\0')
        rc = gsasl_property_set(c->sess, GSASL_AUTHZID, p->authzid);
    if (rc != GSASL_OK || !c->mech->plus)
        return rc;
    /* -PLUS: exactly the binding the TLS session has. */
    Gsasl_property prop = GSASL_CB_TLS_UNIQUE;
    if (p->cb_type != NULL && strcmp(p->cb_type, "tls-exporter") == 0)
        prop = GSASL_CB_TLS_EXPORTER;
    else if (p->cb_type == NULL || strcmp(p->cb_type, "tls-unique") != 0)
        return GSASL_NO_CB_TLS_UNIQUE;
    if (p->cb_data == NULL || p->cb_len == 0)
        return GSASL_NO_CB_TLS_UNIQUE;
    return sasl__gsasl_set_b64(c->sess, prop, p->cb_data, p->cb_len);
}

int
sasl_client_start(const char *mech,
                  const struct sasl_client_params *p,
                  struct sasl_client **out)
{
    *out = NULL;
    const struct sasl_mech *m = sasl__mech_find(mech);
    if (m == NULL || (m->kind != SASL_KIND_EXTERNAL && p->password == NULL))
        return XE_INVAL;
    struct sasl_client *c = x_calloc(1, sizeof *c);
    c->mech = m;
    int rc = gsasl_init(&c->gs);
    if (rc != GSASL_OK) {
        c->gs = NULL;
        sasl_client_free(c);
        return XE_SASL;
    }
    rc = gsasl_client_start(c->gs, m->name, &c->sess);
    if (rc != GSASL_OK)
        c->sess = NULL;
    else
        rc = client_props(c, p);
    if (rc != GSASL_OK) {
        sasl_client_free(c);
        return rc == GSASL_NO_CB_TLS_UNIQUE || rc == GSASL_NO_CALLBACK
                   ? XE_INVAL
                   : XE_SASL;
    }
    *out = c;
    return 0;
}

const char *
sasl_client_mech(const struct sasl_client *c)
{
    return c->mech->name;
}

bool
sasl_client_done(const struct sasl_client *c)
{
    return c->done;
}

/* Decode the server's base64 into a fresh buffer (*data NULL for none:
 * "" or "="). Returns 0 or XE_INVAL. */
static int
client_decode(const char *b64, size_t len, char **data, size_t *n)
{
    *data = NULL;
    *n = 0;
    if (len == 0 || (len == 1 && b64[0] == '='))
        return 0;
    if (len > SASL_B64_MAX)
        return XE_INVAL;
    *data = x_malloc(len / 4 * 3 + 1);
    if (sasl__b64_decode(b64, len, *data, n) != 0) {
        x_free(*data);
        *data = NULL;
        return XE_INVAL;
    }
    return 0;
}

enum sasl_status
sasl_client_step(struct sasl_client *c,
                 const char *b64,
                 size_t len,
                 struct buf *out)
{
    char *in = NULL;
    size_t n = 0;
    if (c->done || client_decode(b64, len, &in, &n) != 0)
        return SASL_FAILURE;
    char *o = NULL;
    size_t olen = 0;
    int rc = gsasl_step(c->sess, in, n, &o, &olen);
    x_free(in);
    if ((rc == GSASL_OK || rc == GSASL_NEEDS_MORE) && olen > 0 &&
        sasl__b64_append(out, o, olen) != 0)
        rc = GSASL_MALLOC_ERROR;
    if (o != NULL) {
        OPENSSL_cleanse(o, olen);
        gsasl_free(o);
    }
    if (rc == GSASL_OK) {
        c->done = true;
        return SASL_SUCCESS;
    }
    return rc == GSASL_NEEDS_MORE ? SASL_CONTINUE : SASL_FAILURE;
}

void
sasl_client_free(struct sasl_client *c)
{
    if (c == NULL)
        return;
    if (c->sess != NULL)
        gsasl_finish(c->sess);
    if (c->gs != NULL)
        gsasl_done(c->gs);
    x_free(c);
}
