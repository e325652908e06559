/* SPDX-License-Identifier: MIT */
/* test_sasl.c -- unit tests for SASL: SCRAM against GNU SASL's client, PLAIN,
 * EXTERNAL, channel binding, encodings and key derivation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsasl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "sasl/sasl.h"
#include "sasl/sasl_int.h"

#define HOST "example.org"

/* Shared by all tests: one server, the account "user" with password
 * "pencil", and a GNU SASL handle for the client side. */
struct fx {
    struct sasl_server *srv;
    struct sasl_creds creds;
    Gsasl *client;
};

/* Channel-binding data as the TLS layer would hand it over. */
static const unsigned char cb_exp[32] = "exporter-0123456789abcdef-xyz-01";
static const unsigned char cb_exp_other[32] =
    "exporter-0123456789abcdef-xyz-02";
static const unsigned char cb_uniq[12] = "finished-abc";

/* ---- helpers ---------------------------------------------------------- */

static char *
b64(const void *p, size_t n)
{
    char *out = NULL;
    assert_int_equal(gsasl_base64_to(p, n, &out, NULL), GSASL_OK);
    return out;
}

static char *
unb64(const char *s, size_t *n)
{
    char *out = NULL;
    assert_int_equal(gsasl_base64_from(s, strlen(s), &out, n), GSASL_OK);
    return out;
}

static struct sasl_params
params_tls(void)
{
    struct sasl_params p;
    memset(&p, 0, sizeof p);
    p.tls = true;
    p.host = HOST;
    return p;
}

static struct sasl_params
params_cb(const char *type, const unsigned char *data, size_t len)
{
    struct sasl_params p = params_tls();
    p.cb_type = type;
    p.cb_data = data;
    p.cb_len = len;
    return p;
}

/* Step with raw data: base64-encode it first ("=" for empty data). */
static enum sasl_status
step_raw(struct sasl_session *s, const void *data, size_t n, struct buf *out)
{
    if (n == 0)
        return sasl_step(s, "=", 1, out);
    char *t = b64(data, n);
    enum sasl_status st = sasl_step(s, t, strlen(t), out);
    gsasl_free(t);
    return st;
}

static enum sasl_status
step_str(struct sasl_session *s, const char *text, struct buf *out)
{
    return step_raw(s, text, strlen(text), out);
}

static void
expect_failure(const struct sasl_session *s,
               enum sasl_cond cond,
               enum sasl_why why)
{
    if (sasl_session_cond(s) != cond || sasl_session_why(s) != why)
        fail_msg("failure %s/why=%d, want %s/why=%d",
                 sasl_cond_name(sasl_session_cond(s)), sasl_session_why(s),
                 sasl_cond_name(cond), why);
}

/* Start mech and run one step with the base64 text b64text (raw data if
 * raw); expect cond and why (SASL_COND_NONE: expect st instead). */
static void
one_step(struct fx *fx,
         const char *mech,
         const struct sasl_params *p,
         const char *text,
         size_t len,
         bool raw,
         enum sasl_cond cond,
         enum sasl_why why)
{
    struct buf out;
    buf_init(&out, 1024);
    struct sasl_session *s = sasl_start(fx->srv, mech, p);
    enum sasl_status st =
        raw ? step_raw(s, text, len, &out) : sasl_step(s, text, len, &out);
    if (st != SASL_FAILURE || sasl_session_cond(s) != cond ||
        sasl_session_why(s) != why)
        fail_msg("%s \"%.*s\": status %d %s, want %s", mech, (int)len, text, st,
                 sasl_cond_name(sasl_session_cond(s)), sasl_cond_name(cond));
    assert_int_equal(buf_len(&out), 0);
    sasl_session_free(s);
    buf_fini(&out);
}

/* ---- a SCRAM run with GNU SASL's client ------------------------------- */

/* What the client does. */
struct client {
    const char *mech;
    const char *user, *pass, *authzid;
    const unsigned char *cb_data; /* for -PLUS: the client's binding */
    size_t cb_len;
    const char *cb_prop; /* "tls-exporter" or "tls-unique" */
    char flag;           /* if set: replace the gs2 flag with this */
};

/* How far the exchange got, and how it ended. */
struct outcome {
    int stage; /* 1 client-first, 2 provide, 3 client-final */
    enum sasl_status st;
    bool verified; /* the client accepted the server's v= */
    char server_first[512];
};

/* Drive one exchange; creds NULL means "no such account". */
static struct sasl_session *
scram_run(struct fx *fx,
          const struct client *c,
          const struct sasl_params *p,
          const struct sasl_creds *creds,
          struct outcome *o)
{
    Gsasl_session *cs = NULL;
    char *msg = NULL, *raw = NULL;
    size_t len = 0;
    struct buf out;
    memset(o, 0, sizeof *o);
    buf_init(&out, 4096);
    assert_int_equal(gsasl_client_start(fx->client, c->mech, &cs), GSASL_OK);
    gsasl_property_set(cs, GSASL_AUTHID, c->user);
    gsasl_property_set(cs, GSASL_PASSWORD, c->pass);
    if (c->authzid)
        gsasl_property_set(cs, GSASL_AUTHZID, c->authzid);
    if (c->cb_data) {
        char *t = b64(c->cb_data, c->cb_len);
        gsasl_property_set(cs,
                           strcmp(c->cb_prop, "tls-unique") == 0
                               ? GSASL_CB_TLS_UNIQUE
                               : GSASL_CB_TLS_EXPORTER,
                           t);
        gsasl_free(t);
    }
    struct sasl_session *s = sasl_start(fx->srv, c->mech, p);
    assert_int_equal(gsasl_step(cs, NULL, 0, &msg, &len), GSASL_NEEDS_MORE);
    if (c->flag)
        msg[0] = c->flag;
    o->stage = 1;
    o->st = step_raw(s, msg, len, &out);
    gsasl_free(msg);
    if (o->st != SASL_NEED_CREDS)
        goto done;
    assert_string_equal(sasl_session_user(s), "user");
    o->stage = 2;
    o->st = sasl_provide(s, creds, &out);
    if (o->st != SASL_CONTINUE)
        goto done;
    raw = unb64(buf_ptr(&out), &len);
    assert_true(len < sizeof o->server_first);
    memcpy(o->server_first, raw, len);
    assert_int_equal(gsasl_step(cs, raw, len, &msg, &len), GSASL_NEEDS_MORE);
    gsasl_free(raw);
    buf_reset(&out);
    o->stage = 3;
    o->st = step_raw(s, msg, len, &out);
    gsasl_free(msg);
    if (o->st == SASL_SUCCESS) {
        raw = unb64(buf_ptr(&out), &len);
        o->verified = gsasl_step(cs, raw, len, &msg, &len) == GSASL_OK;
        gsasl_free(msg);
        gsasl_free(raw);
    }
done:
    gsasl_finish(cs);
    buf_fini(&out);
    return s;
}

static void
scram_ok(struct fx *fx, const struct client *c, const struct sasl_params *p)
{
    struct outcome o;
    struct sasl_session *s = scram_run(fx, c, p, &fx->creds, &o);
    if (o.st != SASL_SUCCESS)
        fail_msg("%s: stage %d status %d cond %s", c->mech, o.stage, o.st,
                 sasl_cond_name(sasl_session_cond(s)));
    assert_true(o.verified);
    assert_string_equal(sasl_session_authzid(s), "user@" HOST);
    assert_string_equal(sasl_session_user(s), "user");
    assert_string_equal(sasl_session_mech(s), c->mech);
    assert_int_equal(sasl_session_cond(s), SASL_COND_NONE);
    sasl_session_free(s);
}

static void
scram_fails(struct fx *fx,
            const struct client *c,
            const struct sasl_params *p,
            const struct sasl_creds *creds,
            int stage,
            enum sasl_cond cond,
            enum sasl_why why)
{
    struct outcome o;
    struct sasl_session *s = scram_run(fx, c, p, creds, &o);
    assert_int_equal(o.st, SASL_FAILURE);
    if (o.stage != stage)
        fail_msg("%s failed at stage %d, want %d", c->mech, o.stage, stage);
    expect_failure(s, cond, why);
    assert_null(sasl_session_authzid(s));
    sasl_session_free(s);
}

/* ---- a SCRAM client written from RFC 5802 §3 -------------------------- */

static const EVP_MD *
md_of(enum sasl_hash h)
{
    return h == SASL_SHA256 ? EVP_sha256() : EVP_sha1();
}

/* Build client-final for server-first sf, with the given gs2-header and
 * binding data; the expected server signature goes to v. */
static void
manual_final(enum sasl_hash h,
             const char *password,
             const char *cf_bare,
             const char *sf,
             const char *gs2,
             const unsigned char *cb,
             size_t cblen,
             char *out,
             size_t cap)
{
    const EVP_MD *md = md_of(h);
    int hl = EVP_MD_size(md);
    const char *r = strstr(sf, "r="), *sp = strstr(sf, ",s="),
               *ip = strstr(sf, ",i=");
    assert_non_null(r);
    assert_non_null(sp);
    assert_non_null(ip);
    char nonce[256], salt_b64[128];
    snprintf(nonce, sizeof nonce, "%.*s", (int)(sp - r - 2), r + 2);
    snprintf(salt_b64, sizeof salt_b64, "%.*s", (int)(ip - sp - 3), sp + 3);
    size_t saltlen = 0;
    char *salt = unb64(salt_b64, &saltlen);
    int iter = (int)strtol(ip + 3, NULL, 10);
    unsigned char salted[64], ck[64], sk[64], csig[64], proof[64];
    unsigned int n = 0;
    assert_int_equal(PKCS5_PBKDF2_HMAC(password, (int)strlen(password),
                                       (unsigned char *)salt, (int)saltlen,
                                       iter, md, hl, salted),
                     1);
    gsasl_free(salt);
    HMAC(md, salted, hl, (const unsigned char *)"Client Key", 10, ck, &n);
    EVP_Digest(ck, (size_t)hl, sk, &n, md, NULL);
    unsigned char cbin[256];
    size_t gl = strlen(gs2);
    memcpy(cbin, gs2, gl + 1);
    if (cblen)
        memcpy(cbin + gl, cb, cblen);
    char *c = b64(cbin, gl + cblen);
    char without[512], am[2048];
    snprintf(without, sizeof without, "c=%s,r=%s", c, nonce);
    gsasl_free(c);
    snprintf(am, sizeof am, "%s,%s,%s", cf_bare, sf, without);
    HMAC(md, sk, hl, (unsigned char *)am, strlen(am), csig, &n);
    for (int i = 0; i < hl; i++)
        proof[i] = ck[i] ^ csig[i];
    char *pb = b64(proof, (size_t)hl);
    snprintf(out, cap, "%s,p=%s", without, pb);
    gsasl_free(pb);
}

/* Run SCRAM-SHA-256 with a hand-made client-first; the final message is
 * built by manual_final and then changed by edit (if given). */
static struct sasl_session *
manual_run(struct fx *fx,
           const struct sasl_params *p,
           const char *mech,
           const char *gs2,
           const unsigned char *cb,
           size_t cblen,
           void (*edit)(char *final, size_t cap),
           struct outcome *o)
{
    const char *bare = "n=user,r=manualnonce";
    char first[256], final[1024];
    struct buf out;
    memset(o, 0, sizeof *o);
    buf_init(&out, 4096);
    snprintf(first, sizeof first, "%s%s", gs2, bare);
    struct sasl_session *s = sasl_start(fx->srv, mech, p);
    o->stage = 1;
    o->st = step_str(s, first, &out);
    if (o->st != SASL_NEED_CREDS)
        goto done;
    o->stage = 2;
    o->st = sasl_provide(s, &fx->creds, &out);
    if (o->st != SASL_CONTINUE)
        goto done;
    size_t len = 0;
    char *sf = unb64(buf_ptr(&out), &len);
    snprintf(o->server_first, sizeof o->server_first, "%.*s", (int)len, sf);
    gsasl_free(sf);
    manual_final(strstr(mech, "SHA-1") ? SASL_SHA1 : SASL_SHA256, "pencil",
                 bare, o->server_first, gs2, cb, cblen, final, sizeof final);
    if (edit)
        edit(final, sizeof final);
    buf_reset(&out);
    o->stage = 3;
    o->st = step_str(s, final, &out);
done:
    buf_fini(&out);
    return s;
}

/* ---- fixture ---------------------------------------------------------- */

static int
group_setup(void **state)
{
    struct fx *fx = x_calloc(1, sizeof *fx);
    struct buf err;
    buf_init(&err, 256);
    fx->srv = sasl_server_new(&err);
    buf_fini(&err);
    if (fx->srv == NULL)
        return -1;
    if (sasl_creds_derive("pencil", 6, SASL_SCRAM_ITERATIONS, &fx->creds))
        return -1;
    if (gsasl_init(&fx->client) != GSASL_OK)
        return -1;
    *state = fx;
    return 0;
}

static int
group_teardown(void **state)
{
    struct fx *fx = *state;
    sasl_server_free(fx->srv);
    gsasl_done(fx->client);
    x_free(fx);
    return 0;
}

/* ---- mechanism lists -------------------------------------------------- */

/* The mechanisms offered with p, joined by spaces, must be want. */
static void
expect_mechs(const struct sasl_params *p, const char *want)
{
    const char *names[SASL_MECH_MAX + 1] = {NULL};
    size_t n = sasl_mechanisms(p, names, SASL_MECH_MAX + 1);
    char got[256] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s",
                 i ? " " : "", names[i]);
    assert_string_equal(got, want);
    assert_null(names[n]);
}

/* CORE-04: nothing before TLS, whatever else the parameters say. */
static void
test_sasl_CORE_04_no_mechanisms_without_tls(void **state)
{
    (void)state;
    static const char *const cert[] = {"juliet@capulet.example"};
    struct sasl_params p = params_cb("tls-exporter", cb_exp, sizeof cb_exp);
    p.tls = false;
    p.allow_plain = true;
    p.cert_jids = cert;
    p.ncert_jids = 1;
    const char *names[SASL_MECH_MAX];
    assert_int_equal(sasl_mechanisms(&p, names, SASL_MECH_MAX), 0);
}

static void
test_sasl_mechanism_lists(void **state)
{
    (void)state;
    static const char *const cert[] = {"juliet@capulet.example"};
    struct sasl_params p = params_tls();
    expect_mechs(&p, "SCRAM-SHA-256 SCRAM-SHA-1");
    p.allow_plain = true;
    expect_mechs(&p, "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN");
    p = params_cb("tls-exporter", cb_exp, sizeof cb_exp);
    expect_mechs(&p, "SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256 "
                     "SCRAM-SHA-1");
    p = params_cb("tls-unique", cb_uniq, sizeof cb_uniq);
    expect_mechs(&p, "SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS SCRAM-SHA-256 "
                     "SCRAM-SHA-1");
    /* A binding we cannot check, or no data: no -PLUS. */
    p = params_cb("tls-server-end-point", cb_exp, sizeof cb_exp);
    expect_mechs(&p, "SCRAM-SHA-256 SCRAM-SHA-1");
    p = params_cb("tls-exporter", cb_exp, 0);
    expect_mechs(&p, "SCRAM-SHA-256 SCRAM-SHA-1");
    p = params_tls();
    p.cert_jids = cert;
    p.ncert_jids = 1;
    expect_mechs(&p, "EXTERNAL SCRAM-SHA-256 SCRAM-SHA-1");
    p.ncert_jids = 0;
    expect_mechs(&p, "SCRAM-SHA-256 SCRAM-SHA-1");
    p = params_cb("tls-exporter", cb_exp, sizeof cb_exp);
    p.allow_plain = true;
    p.cert_jids = cert;
    p.ncert_jids = 1;
    expect_mechs(&p, "EXTERNAL SCRAM-SHA-256-PLUS SCRAM-SHA-1-PLUS "
                     "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN");
    /* A short array gets the best ones, and no terminator. */
    const char *names[2] = {"x", "x"};
    assert_int_equal(sasl_mechanisms(&p, names, 2), 2);
    assert_string_equal(names[0], "EXTERNAL");
    assert_string_equal(names[1], "SCRAM-SHA-256-PLUS");
}

/* ---- SCRAM ------------------------------------------------------------ */

static void
test_sasl_scram_success(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_tls();
    struct client c = {.mech = "SCRAM-SHA-1", .user = "user", .pass = "pencil"};
    scram_ok(fx, &c, &p);
    c.mech = "SCRAM-SHA-256";
    scram_ok(fx, &c, &p);
    /* Offering -PLUS does not stop a client without binding support. */
    p = params_cb("tls-exporter", cb_exp, sizeof cb_exp);
    scram_ok(fx, &c, &p);
}

static void
test_sasl_scram_plus_success(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_cb("tls-exporter", cb_exp, sizeof cb_exp);
    struct client c = {.mech = "SCRAM-SHA-256-PLUS",
                       .user = "user",
                       .pass = "pencil",
                       .cb_data = cb_exp,
                       .cb_len = sizeof cb_exp,
                       .cb_prop = "tls-exporter"};
    scram_ok(fx, &c, &p);
    c.mech = "SCRAM-SHA-1-PLUS";
    scram_ok(fx, &c, &p);
    p = params_cb("tls-unique", cb_uniq, sizeof cb_uniq);
    c.cb_data = cb_uniq;
    c.cb_len = sizeof cb_uniq;
    c.cb_prop = "tls-unique";
    scram_ok(fx, &c, &p);
    c.mech = "SCRAM-SHA-256-PLUS";
    scram_ok(fx, &c, &p);
}

/* ---- the client side -------------------------------------------------- */

static void
test_sasl_client_pick(void **state)
{
    (void)state;
    const char *all[] = {"PLAIN",         "SCRAM-SHA-1",
                         "EXTERNAL",      "SCRAM-SHA-256-PLUS",
                         "SCRAM-SHA-256", "X-OTHER"};
    assert_string_equal(sasl_client_pick(all, 6, true), "SCRAM-SHA-256-PLUS");
    assert_string_equal(sasl_client_pick(all, 6, false), "SCRAM-SHA-256");
    assert_string_equal(sasl_client_pick(all, 2, false), "SCRAM-SHA-1");
    assert_string_equal(sasl_client_pick(all, 1, true), "PLAIN");
    /* Never EXTERNAL (no password involved) nor an unknown name. */
    const char *ext[] = {"EXTERNAL", "X-OTHER", "scram-sha-1"};
    assert_null(sasl_client_pick(ext, 3, true));
    assert_null(sasl_client_pick(NULL, 0, true));
}

/* Our client against our server: SCRAM with mech, the binding cb (NULL
 * for none); forge changes the server's last message. Returns the
 * client's status at the <success/> data. */
static enum sasl_status
client_vs_server(struct fx *fx, const char *mech, const char *cb, bool forge)
{
    struct sasl_params p =
        cb ? params_cb(cb, cb_exp, sizeof cb_exp) : params_tls();
    struct sasl_client_params cp = {.authcid = "user",
                                    .password = "pencil",
                                    .cb_type = cb,
                                    .cb_data = cb ? cb_exp : NULL,
                                    .cb_len = cb ? sizeof cb_exp : 0};
    struct sasl_client *c = NULL;
    assert_int_equal(sasl_client_start(mech, &cp, &c), 0);
    assert_string_equal(sasl_client_mech(c), mech);
    struct sasl_session *s = sasl_start(fx->srv, mech, &p);
    struct buf a, b;
    buf_init(&a, 4096);
    buf_init(&b, 4096);
    assert_int_equal(sasl_client_step(c, "", 0, &a), SASL_CONTINUE);
    assert_int_equal(sasl_step(s, buf_ptr(&a), buf_len(&a), &b),
                     SASL_NEED_CREDS);
    assert_int_equal(sasl_provide(s, &fx->creds, &b), SASL_CONTINUE);
    buf_reset(&a);
    assert_int_equal(sasl_client_step(c, buf_ptr(&b), buf_len(&b), &a),
                     SASL_CONTINUE);
    buf_reset(&b);
    assert_int_equal(sasl_step(s, buf_ptr(&a), buf_len(&a), &b), SASL_SUCCESS);
    if (forge) /* another valid base64 digit in the signature */
        b.data[b.off + 4] = b.data[b.off + 4] == 'A' ? 'B' : 'A';
    buf_reset(&a);
    enum sasl_status st = sasl_client_step(c, buf_ptr(&b), buf_len(&b), &a);
    assert_int_equal(buf_len(&a), 0);
    assert_int_equal(sasl_client_done(c), st == SASL_SUCCESS);
    buf_fini(&a);
    buf_fini(&b);
    sasl_session_free(s);
    sasl_client_free(c);
    return st;
}

static void
test_sasl_client_scram(void **state)
{
    struct fx *fx = *state;
    assert_int_equal(client_vs_server(fx, "SCRAM-SHA-256", NULL, false),
                     SASL_SUCCESS);
    assert_int_equal(client_vs_server(fx, "SCRAM-SHA-1", NULL, false),
                     SASL_SUCCESS);
    assert_int_equal(
        client_vs_server(fx, "SCRAM-SHA-256-PLUS", "tls-exporter", false),
        SASL_SUCCESS);
    /* A server signature that does not verify is refused. */
    assert_int_equal(client_vs_server(fx, "SCRAM-SHA-256", NULL, true),
                     SASL_FAILURE);
}

static void
test_sasl_client_bad_start(void **state)
{
    (void)state;
    struct sasl_client *c = NULL;
    struct sasl_client_params p = {.authcid = "user", .password = "pencil"};
    assert_int_equal(sasl_client_start("DIGEST-MD5", &p, &c), XE_INVAL);
    /* -PLUS without channel-binding data. */
    assert_int_equal(sasl_client_start("SCRAM-SHA-256-PLUS", &p, &c), XE_INVAL);
    p.cb_type = "tls-server-end-point";
    p.cb_data = (const unsigned char *)"x";
    p.cb_len = 1;
    assert_int_equal(sasl_client_start("SCRAM-SHA-1-PLUS", &p, &c), XE_INVAL);
    p.password = NULL;
    assert_int_equal(sasl_client_start("PLAIN", &p, &c), XE_INVAL);
    assert_null(c);
    /* EXTERNAL: the authzid alone, no password. */
    struct sasl_client_params e = {.authzid = "juliet@capulet.example"};
    assert_int_equal(sasl_client_start("EXTERNAL", &e, &c), 0);
    struct buf out;
    buf_init(&out, 256);
    assert_int_equal(sasl_client_step(c, "", 0, &out), SASL_SUCCESS);
    assert_string_equal(buf_ptr(&out), "anVsaWV0QGNhcHVsZXQuZXhhbXBsZQ==");
    /* Nothing after success. */
    assert_int_equal(sasl_client_step(c, "", 0, &out), SASL_FAILURE);
    buf_fini(&out);
    sasl_client_free(c);
}

static void
test_sasl_scram_wrong_password(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_cb("tls-exporter", cb_exp, sizeof cb_exp);
    struct client c = {.mech = "SCRAM-SHA-256", .user = "user", .pass = "pen"};
    scram_fails(fx, &c, &p, &fx->creds, 3, SASL_NOT_AUTHORIZED,
                SASL_WHY_CREDENTIALS);
    c.mech = "SCRAM-SHA-256-PLUS";
    c.cb_data = cb_exp;
    c.cb_len = sizeof cb_exp;
    c.cb_prop = "tls-exporter";
    scram_fails(fx, &c, &p, &fx->creds, 3, SASL_NOT_AUTHORIZED,
                SASL_WHY_CREDENTIALS);
}

/* The salt in the server-first-message, decoded. */
static size_t
sf_salt(const char *sf, unsigned char *salt)
{
    const char *sp = strstr(sf, ",s="), *ip = strstr(sf, ",i=");
    char t[128];
    snprintf(t, sizeof t, "%.*s", (int)(ip - sp - 3), sp + 3);
    size_t n = 0;
    char *bin = unb64(t, &n);
    memcpy(salt, bin, n);
    gsasl_free(bin);
    return n;
}

/* An unknown user gets a plausible, stable server-first-message and fails
 * only at the proof, like a wrong password. */
static void
test_sasl_scram_unknown_user(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_tls();
    struct client c = {.mech = "SCRAM-SHA-256", .user = "user", .pass = "x"};
    struct outcome o1, o2, o3;
    struct sasl_session *s = scram_run(fx, &c, &p, NULL, &o1);
    assert_int_equal(o1.stage, 3);
    assert_int_equal(o1.st, SASL_FAILURE);
    expect_failure(s, SASL_NOT_AUTHORIZED, SASL_WHY_CREDENTIALS);
    sasl_session_free(s);
    assert_non_null(strstr(o1.server_first, ",i=4096"));
    /* The same decoy salt next time, with any mechanism. */
    c.mech = "SCRAM-SHA-1";
    s = scram_run(fx, &c, &p, NULL, &o2);
    sasl_session_free(s);
    unsigned char s1[64], s2[64], s3[64];
    assert_int_equal(sf_salt(o1.server_first, s1), SASL_SALT_NEW);
    assert_int_equal(sf_salt(o2.server_first, s2), SASL_SALT_NEW);
    assert_memory_equal(s1, s2, SASL_SALT_NEW);
    /* Even the right password cannot log in to an account that is not
     * there. */
    c.pass = "pencil";
    s = scram_run(fx, &c, &p, NULL, &o3);
    assert_int_equal(o3.st, SASL_FAILURE);
    expect_failure(s, SASL_NOT_AUTHORIZED, SASL_WHY_CREDENTIALS);
    sasl_session_free(s);
    sf_salt(o3.server_first, s3);
    assert_memory_equal(s1, s3, SASL_SALT_NEW);
}

/* An account with SHA-1 keys only shows its real salt to SCRAM-SHA-256
 * and fails at the proof. */
static void
test_sasl_scram_missing_hash(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_tls();
    struct sasl_creds only1 = fx->creds;
    only1.has_sha256 = false;
    struct client c = {.mech = "SCRAM-SHA-1", .user = "user", .pass = "pencil"};
    struct outcome o;
    struct sasl_session *s = scram_run(fx, &c, &p, &only1, &o);
    assert_int_equal(o.st, SASL_SUCCESS);
    sasl_session_free(s);
    c.mech = "SCRAM-SHA-256";
    s = scram_run(fx, &c, &p, &only1, &o);
    assert_int_equal(o.st, SASL_FAILURE);
    expect_failure(s, SASL_NOT_AUTHORIZED, SASL_WHY_CREDENTIALS);
    sasl_session_free(s);
    unsigned char salt[64];
    assert_int_equal(sf_salt(o.server_first, salt), fx->creds.salt_len);
    assert_memory_equal(salt, fx->creds.salt, fx->creds.salt_len);
}

static void
test_sasl_scram_bad_creds_from_store(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_tls();
    struct client c = {
        .mech = "SCRAM-SHA-256", .user = "user", .pass = "pencil"};
    struct sasl_creds bad[3] = {fx->creds, fx->creds, fx->creds};
    bad[0].iterations = 0;
    bad[1].iterations = SASL_ITER_MAX + 1;
    bad[2].salt_len = 0;
    for (size_t i = 0; i < 3; i++)
        scram_fails(fx, &c, &p, &bad[i], 2, SASL_TEMPORARY_AUTH_FAILURE,
                    SASL_WHY_NONE);
}

/* Different binding data on the two ends: a man in the middle. */
static void
test_sasl_scram_cb_mismatch(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_cb("tls-exporter", cb_exp, sizeof cb_exp);
    struct client c = {.mech = "SCRAM-SHA-256-PLUS",
                       .user = "user",
                       .pass = "pencil",
                       .cb_data = cb_exp_other,
                       .cb_len = sizeof cb_exp_other,
                       .cb_prop = "tls-exporter"};
    scram_fails(fx, &c, &p, &fx->creds, 3, SASL_NOT_AUTHORIZED,
                SASL_WHY_CHANNEL_BINDING);
    /* A wrong password does not turn this into a password guess. */
    c.pass = "wrong";
    scram_fails(fx, &c, &p, &fx->creds, 3, SASL_NOT_AUTHORIZED,
                SASL_WHY_CHANNEL_BINDING);
}

/* slixmpp on TLS 1.3 (PEERS.md): p=tls-unique where we bind with
 * tls-exporter. Refused before any credentials are looked up. */
static void
test_sasl_scram_tls_unique_on_exporter(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_cb("tls-exporter", cb_exp, sizeof cb_exp);
    struct client c = {.mech = "SCRAM-SHA-256-PLUS",
                       .user = "user",
                       .pass = "pencil",
                       .cb_data = cb_uniq,
                       .cb_len = sizeof cb_uniq,
                       .cb_prop = "tls-unique"};
    scram_fails(fx, &c, &p, &fx->creds, 1, SASL_NOT_AUTHORIZED,
                SASL_WHY_CHANNEL_BINDING);
    /* And the other way round. */
    p = params_cb("tls-unique", cb_uniq, sizeof cb_uniq);
    c.cb_data = cb_exp;
    c.cb_len = sizeof cb_exp;
    c.cb_prop = "tls-exporter";
    scram_fails(fx, &c, &p, &fx->creds, 1, SASL_NOT_AUTHORIZED,
                SASL_WHY_CHANNEL_BINDING);
}

/* RFC 5802 §6: 'y' while we offer -PLUS is a downgrade. */
static void
test_sasl_scram_y_downgrade(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_cb("tls-exporter", cb_exp, sizeof cb_exp);
    struct client c = {
        .mech = "SCRAM-SHA-256", .user = "user", .pass = "pencil", .flag = 'y'};
    scram_fails(fx, &c, &p, &fx->creds, 1, SASL_NOT_AUTHORIZED,
                SASL_WHY_CHANNEL_BINDING);
    /* Without a binding on offer, 'y' is honest and works. */
    p = params_tls();
    struct outcome o;
    struct sasl_session *s =
        manual_run(fx, &p, "SCRAM-SHA-256", "y,,", NULL, 0, NULL, &o);
    assert_int_equal(o.st, SASL_SUCCESS);
    sasl_session_free(s);
    /* But c= must then repeat "y,,", not "n,,". */
    c.flag = 'y';
    scram_fails(fx, &c, &p, &fx->creds, 3, SASL_NOT_AUTHORIZED,
                SASL_WHY_CHANNEL_BINDING);
}

/* 'n' on -PLUS, and 'p' on a mechanism without -PLUS. */
static void
test_sasl_scram_flag_mechanism_mismatch(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_cb("tls-exporter", cb_exp, sizeof cb_exp);
    static const struct {
        const char *mech, *gs2;
        int stage;
        enum sasl_status st;
    } cases[] = {
        {"SCRAM-SHA-256-PLUS", "n,,", 1, SASL_FAILURE},
        {"SCRAM-SHA-256", "p=tls-exporter,,", 1, SASL_FAILURE},
        /* The hand-made client works where it should. */
        {"SCRAM-SHA-256-PLUS", "p=tls-exporter,,", 3, SASL_SUCCESS},
        {"SCRAM-SHA-1-PLUS", "p=tls-exporter,,", 3, SASL_SUCCESS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct outcome o;
        struct sasl_session *s = manual_run(fx, &p, cases[i].mech, cases[i].gs2,
                                            cb_exp, sizeof cb_exp, NULL, &o);
        assert_int_equal(o.stage, cases[i].stage);
        assert_int_equal(o.st, cases[i].st);
        if (o.st == SASL_FAILURE)
            expect_failure(s, SASL_NOT_AUTHORIZED, SASL_WHY_CHANNEL_BINDING);
        sasl_session_free(s);
    }
}

static void
edit_nonce(char *final, size_t cap)
{
    (void)cap;
    char *r = strstr(final, ",r=");
    r[3] = r[3] == 'X' ? 'Y' : 'X';
}

static void
edit_extension(char *final, size_t cap)
{
    /* Insert ",x=1" before ",p=": the proof no longer matches, but the
     * message is well-formed. */
    char *pp = strstr(final, ",p=");
    char tail[256];
    snprintf(tail, sizeof tail, "%s", pp);
    snprintf(pp, cap - (size_t)(pp - final), ",x=1%s", tail);
}

static void
edit_drop_proof(char *final, size_t cap)
{
    (void)cap;
    *strstr(final, ",p=") = '\0';
}

static void
edit_bad_c(char *final, size_t cap)
{
    (void)cap;
    final[2] = '*';
}

static void
test_sasl_scram_final_checks(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_tls();
    static const struct {
        void (*edit)(char *final, size_t cap);
        enum sasl_cond cond;
        enum sasl_why why;
    } cases[] = {
        {edit_nonce, SASL_NOT_AUTHORIZED, SASL_WHY_PROTOCOL},
        {edit_extension, SASL_NOT_AUTHORIZED, SASL_WHY_CREDENTIALS},
        {edit_drop_proof, SASL_MALFORMED_REQUEST, SASL_WHY_PROTOCOL},
        {edit_bad_c, SASL_MALFORMED_REQUEST, SASL_WHY_PROTOCOL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct outcome o;
        struct sasl_session *s = manual_run(fx, &p, "SCRAM-SHA-256", "n,,",
                                            NULL, 0, cases[i].edit, &o);
        assert_int_equal(o.stage, 3);
        expect_failure(s, cases[i].cond, cases[i].why);
        sasl_session_free(s);
    }
}

static void
test_sasl_scram_authzid(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_tls();
    struct client c = {.mech = "SCRAM-SHA-256",
                       .user = "user",
                       .pass = "pencil",
                       .authzid = "user@" HOST};
    scram_ok(fx, &c, &p);
    c.authzid = "User@EXAMPLE.org";
    scram_ok(fx, &c, &p);
    c.authzid = "romeo@" HOST;
    scram_fails(fx, &c, &p, &fx->creds, 1, SASL_INVALID_AUTHZID,
                SASL_WHY_PROTOCOL);
    c.authzid = "user@" HOST "/balcony";
    scram_fails(fx, &c, &p, &fx->creds, 1, SASL_INVALID_AUTHZID,
                SASL_WHY_PROTOCOL);
    c.authzid = "user@other.example";
    scram_fails(fx, &c, &p, &fx->creds, 1, SASL_INVALID_AUTHZID,
                SASL_WHY_PROTOCOL);
}

/* The username is a localpart: prepared with nodeprep. */
static void
test_sasl_scram_username_prep(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_tls();
    struct client c = {
        .mech = "SCRAM-SHA-256", .user = "USER", .pass = "pencil"};
    scram_ok(fx, &c, &p);
    one_step(fx, "SCRAM-SHA-256", &p, "n,,n=a b,r=abc", 14, true,
             SASL_NOT_AUTHORIZED, SASL_WHY_CREDENTIALS);
    /* "=2C" and "=3D" decode before preparation. */
    struct buf out;
    buf_init(&out, 1024);
    struct sasl_session *s = sasl_start(fx->srv, "SCRAM-SHA-256", &p);
    assert_int_equal(step_str(s, "n,,n=A=2Cb=3dc,r=abc", &out),
                     SASL_NEED_CREDS);
    assert_string_equal(sasl_session_user(s), "a,b=c");
    sasl_session_free(s);
    buf_fini(&out);
}

static void
test_sasl_scram_malformed_first(void **state)
{
    struct fx *fx = *state;
    static const char *const bad[] = {
        "x,,n=user,r=abc",
        "n,n=user,r=abc",
        "n,,n=,r=abc",
        "n,,n=us=2Xer,r=abc",
        "n,,n=user=,r=abc",
        "n,,m=ext,n=user,r=a",
        "n,,n=user,r=",
        "n,,n=user",
        "n,a=,n=user,r=abc",
        "n,,n=user,r=abc,",
        "n,,n=user,r=a\001b",
        "n,,n=user,r=abc,1=x",
        "p=,,n=user,r=abc",
        "p=tls_unique,,n=u,r=a",
        "n,,r=abc,n=user",
        "n,,n=user,r=abc,x=",
        "n,,n=user,r=a b",
        "n,,n=\xff,r=abc",
        "n,a=\xc3(,n=user,r=a",
        "n,,n=user,r=abc,x",
        "",
    };
    struct sasl_params p = params_tls();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        one_step(fx, "SCRAM-SHA-1", &p, bad[i], strlen(bad[i]), true,
                 SASL_MALFORMED_REQUEST, SASL_WHY_PROTOCOL);
    one_step(fx, "SCRAM-SHA-1", &p, "n,,n=us\0er,r=abc", 16, true,
             SASL_MALFORMED_REQUEST, SASL_WHY_PROTOCOL);
    /* Extensions after the nonce are allowed (RFC 5802 §7). */
    struct buf out;
    buf_init(&out, 1024);
    struct sasl_session *s = sasl_start(fx->srv, "SCRAM-SHA-1", &p);
    assert_int_equal(step_str(s, "n,,n=user,r=abc,x=1,y=a=b", &out),
                     SASL_NEED_CREDS);
    sasl_session_free(s);
    buf_fini(&out);
}

/* No initial response: an empty challenge, then the client-first. */
static void
test_sasl_scram_no_initial_response(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_tls();
    struct buf out;
    buf_init(&out, 1024);
    struct sasl_session *s = sasl_start(fx->srv, "SCRAM-SHA-1", &p);
    assert_int_equal(sasl_step(s, "", 0, &out), SASL_CONTINUE);
    assert_int_equal(buf_len(&out), 0);
    assert_int_equal(step_str(s, "n,,n=user,r=abc", &out), SASL_NEED_CREDS);
    assert_int_equal(sasl_provide(s, &fx->creds, &out), SASL_CONTINUE);
    assert_true(buf_len(&out) > 0);
    sasl_session_free(s);
    buf_fini(&out);
}

/* Steps and provides in the wrong order. */
static void
test_sasl_out_of_turn(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_tls();
    struct buf out;
    buf_init(&out, 1024);
    /* A response while the store is being asked: out of turn. */
    struct sasl_session *s = sasl_start(fx->srv, "SCRAM-SHA-1", &p);
    assert_int_equal(step_str(s, "n,,n=user,r=abc", &out), SASL_NEED_CREDS);
    assert_int_equal(step_str(s, "c=biws", &out), SASL_FAILURE);
    expect_failure(s, SASL_MALFORMED_REQUEST, SASL_WHY_PROTOCOL);
    /* Finished: the same answer, nothing else. */
    assert_int_equal(sasl_provide(s, &fx->creds, &out), SASL_FAILURE);
    assert_int_equal(buf_len(&out), 0);
    sasl_session_free(s);
    /* Credentials nobody asked for. */
    s = sasl_start(fx->srv, "SCRAM-SHA-1", &p);
    assert_int_equal(sasl_provide(s, &fx->creds, &out), SASL_FAILURE);
    expect_failure(s, SASL_TEMPORARY_AUTH_FAILURE, SASL_WHY_NONE);
    sasl_session_free(s);
    s = sasl_start(fx->srv, "EXTERNAL", &p);
    assert_int_equal(sasl_provide(s, NULL, &out), SASL_FAILURE);
    sasl_session_free(s);
    buf_fini(&out);
}

/* A finished session repeats its outcome without doing anything. */
static void
test_sasl_finished_session_repeats(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_tls();
    p.allow_plain = true;
    struct buf out;
    buf_init(&out, 1024);
    struct sasl_session *s = sasl_start(fx->srv, "PLAIN", &p);
    assert_int_equal(step_raw(s, "\0user\0pencil", 12, &out), SASL_NEED_CREDS);
    assert_int_equal(sasl_provide(s, &fx->creds, &out), SASL_SUCCESS);
    assert_int_equal(step_str(s, "anything", &out), SASL_SUCCESS);
    assert_int_equal(sasl_step(s, "!!", 2, &out), SASL_SUCCESS);
    assert_int_equal(sasl_provide(s, NULL, &out), SASL_SUCCESS);
    assert_int_equal(buf_len(&out), 0);
    assert_string_equal(sasl_session_authzid(s), "user@" HOST);
    sasl_session_free(s);
    s = sasl_start(fx->srv, "PLAIN", &p);
    assert_int_equal(sasl_step(s, "!!!!", 4, &out), SASL_FAILURE);
    assert_int_equal(step_raw(s, "\0user\0pencil", 12, &out), SASL_FAILURE);
    expect_failure(s, SASL_INCORRECT_ENCODING, SASL_WHY_PROTOCOL);
    sasl_session_free(s);
    buf_fini(&out);
}

/* An output buffer too small for the challenge. */
static void
test_sasl_output_limit(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_tls();
    struct buf out;
    buf_init(&out, 16);
    struct sasl_session *s = sasl_start(fx->srv, "SCRAM-SHA-1", &p);
    assert_int_equal(step_str(s, "n,,n=user,r=abc", &out), SASL_NEED_CREDS);
    assert_int_equal(sasl_provide(s, &fx->creds, &out), SASL_FAILURE);
    expect_failure(s, SASL_TEMPORARY_AUTH_FAILURE, SASL_WHY_NONE);
    assert_int_equal(buf_len(&out), 0);
    sasl_session_free(s);
    buf_fini(&out);
}

/* ---- mechanism selection and encodings -------------------------------- */

static void
test_sasl_invalid_mechanism(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_tls();
    static const char *const names[] = {
        "DIGEST-MD5", "scram-sha-1", "", "SCRAM-SHA-256-PLUS", "PLAIN", NULL};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        one_step(fx, names[i], &p, "", 0, false, SASL_INVALID_MECHANISM,
                 SASL_WHY_PROTOCOL);
    struct sasl_session *s = sasl_start(fx->srv, NULL, &p);
    assert_string_equal(sasl_session_mech(s), "");
    sasl_session_free(s);
}

/* CORE-27: <auth/> before TLS gets encryption-required. */
static void
test_sasl_CORE_27_encryption_required(void **state)
{
    struct fx *fx = *state;
    static const char *const cert[] = {"montague.example"};
    struct sasl_params p = params_tls();
    p.tls = false;
    p.cert_jids = cert;
    p.ncert_jids = 1;
    static const char *const names[] = {"EXTERNAL", "SCRAM-SHA-1", "BOGUS"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        one_step(fx, names[i], &p, "=", 1, false, SASL_ENCRYPTION_REQUIRED,
                 SASL_WHY_PROTOCOL);
}

static void
test_sasl_incorrect_encoding(void **state)
{
    struct fx *fx = *state;
    static const char *const bad[] = {
        "abc",  "ab=c",         "a b=",   "YQ==\n",   "YR==",  "====",
        "Y===", "YWJj\r\nZA==", "YW=j",   "YWI=YWI=", "YW\nJ", "YWJ\x80",
        "-_-_", "=a==",         "YWJjZA", " YWJj",
    };
    struct sasl_params p = params_tls();
    p.allow_plain = true;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        one_step(fx, "PLAIN", &p, bad[i], strlen(bad[i]), false,
                 SASL_INCORRECT_ENCODING, SASL_WHY_PROTOCOL);
}

/* Our base64 against GNU SASL's, both ways, on every length up to 64. */
static void
test_sasl_b64_roundtrip(void **state)
{
    (void)state;
    unsigned char bin[64];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof bin; n++) {
        char ours[100], dec[100];
        size_t len = sasl__b64_encode(bin, n, ours), m = 0;
        char *theirs = n ? b64(bin, n) : NULL;
        assert_string_equal(ours, n ? theirs : "");
        gsasl_free(theirs);
        assert_int_equal(sasl__b64_decode(ours, len, dec, &m), 0);
        assert_int_equal(m, n);
        assert_memory_equal(dec, bin, n);
    }
    struct buf b;
    buf_init(&b, 100);
    assert_int_equal(sasl__b64_append(&b, bin, 64), 0);
    char *theirs = b64(bin, 64);
    assert_string_equal(buf_ptr(&b), theirs);
    gsasl_free(theirs);
    /* Past the limit: b is left as it was. */
    assert_int_equal(sasl__b64_append(&b, bin, 64), XE_LIMIT);
    assert_int_equal(buf_len(&b), 88);
    buf_fini(&b);
}

/* 8 KiB of decoded data is the limit; one byte more is malformed. EXTERNAL
 * shows which check fired: a long authzid is invalid-authzid. */
static void
test_sasl_size_limit(void **state)
{
    struct fx *fx = *state;
    static const char *const cert[] = {"juliet@capulet.example"};
    struct sasl_params p = params_tls();
    p.cert_jids = cert;
    p.ncert_jids = 1;
    char *big = x_malloc(SASL_B64_MAX + 4);
    memset(big, 'a', SASL_B64_MAX + 4);
    one_step(fx, "EXTERNAL", &p, big, SASL_DATA_MAX, true, SASL_INVALID_AUTHZID,
             SASL_WHY_PROTOCOL);
    one_step(fx, "EXTERNAL", &p, big, SASL_DATA_MAX + 1, true,
             SASL_MALFORMED_REQUEST, SASL_WHY_PROTOCOL);
    /* Text longer than any 8 KiB could encode to, even if invalid. */
    memset(big, '!', SASL_B64_MAX + 4);
    one_step(fx, "EXTERNAL", &p, big, SASL_B64_MAX + 4, false,
             SASL_MALFORMED_REQUEST, SASL_WHY_PROTOCOL);
    x_free(big);
}

/* ---- PLAIN ------------------------------------------------------------ */

static struct sasl_session *
plain(struct fx *fx,
      const char *msg,
      size_t len,
      const struct sasl_creds *creds,
      enum sasl_status *st)
{
    struct sasl_params p = params_tls();
    p.allow_plain = true;
    struct buf out;
    buf_init(&out, 1024);
    struct sasl_session *s = sasl_start(fx->srv, "PLAIN", &p);
    *st = step_raw(s, msg, len, &out);
    if (*st == SASL_NEED_CREDS)
        *st = sasl_provide(s, creds, &out);
    assert_int_equal(buf_len(&out), 0);
    buf_fini(&out);
    return s;
}

/* PLAIN with msg[0..len) must fail with cond and why. */
static void
plain_fails(struct fx *fx,
            const char *msg,
            size_t len,
            const struct sasl_creds *creds,
            enum sasl_cond cond,
            enum sasl_why why)
{
    enum sasl_status st;
    struct sasl_session *s = plain(fx, msg, len, creds, &st);
    assert_int_equal(st, SASL_FAILURE);
    expect_failure(s, cond, why);
    sasl_session_free(s);
}

#define PLAIN_MSG(lit) (lit), sizeof(lit) - 1

static void
test_sasl_plain(void **state)
{
    struct fx *fx = *state;
    enum sasl_status st;
    struct sasl_session *s =
        plain(fx, PLAIN_MSG("\0user\0pencil"), &fx->creds, &st);
    assert_int_equal(st, SASL_SUCCESS);
    assert_string_equal(sasl_session_authzid(s), "user@" HOST);
    assert_string_equal(sasl_session_user(s), "user");
    sasl_session_free(s);
    plain_fails(fx, PLAIN_MSG("\0user\0pencil!"), &fx->creds,
                SASL_NOT_AUTHORIZED, SASL_WHY_CREDENTIALS);
    s = plain(fx, PLAIN_MSG("\0user\0pencil"), NULL, &st);
    expect_failure(s, SASL_NOT_AUTHORIZED, SASL_WHY_CREDENTIALS);
    assert_string_equal(sasl_session_user(s), "user");
    sasl_session_free(s);
    /* SHA-1 keys only still check the password; no keys at all cannot. */
    struct sasl_creds only1 = fx->creds, none = fx->creds;
    only1.has_sha256 = false;
    none.has_sha1 = none.has_sha256 = false;
    s = plain(fx, PLAIN_MSG("\0USER\0pencil"), &only1, &st);
    assert_int_equal(st, SASL_SUCCESS);
    sasl_session_free(s);
    plain_fails(fx, PLAIN_MSG("\0user\0pencil"), &none, SASL_NOT_AUTHORIZED,
                SASL_WHY_CREDENTIALS);
    /* A name nodeprep refuses. */
    plain_fails(fx, PLAIN_MSG("\0us er\0pencil"), &fx->creds,
                SASL_NOT_AUTHORIZED, SASL_WHY_CREDENTIALS);
}

static void
test_sasl_plain_authzid(void **state)
{
    struct fx *fx = *state;
    enum sasl_status st;
    struct sasl_session *s =
        plain(fx, PLAIN_MSG("user@" HOST "\0user\0pencil"), &fx->creds, &st);
    assert_int_equal(st, SASL_SUCCESS);
    assert_string_equal(sasl_session_authzid(s), "user@" HOST);
    sasl_session_free(s);
    s = plain(fx, PLAIN_MSG("USER@Example.ORG\0user\0pencil"), &fx->creds, &st);
    assert_int_equal(st, SASL_SUCCESS);
    sasl_session_free(s);
    static const char *const bad[] = {"romeo@" HOST, HOST, "user@" HOST "/r",
                                      "user@other.example", "@@"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char msg[128];
        int n = snprintf(msg, sizeof msg, "%s%cuser%cpencil", bad[i], 0, 0);
        plain_fails(fx, msg, (size_t)n, &fx->creds, SASL_INVALID_AUTHZID,
                    SASL_WHY_PROTOCOL);
    }
}

static void
test_sasl_plain_malformed(void **state)
{
    struct fx *fx = *state;
    static const struct {
        const char *msg;
        size_t len;
    } bad[] = {
        {PLAIN_MSG("user\0pencil")},               /* one NUL */
        {PLAIN_MSG("\0user\0pencil\0")},           /* three NULs */
        {PLAIN_MSG("\0user\0pen\0cil")},           /* three NULs */
        {PLAIN_MSG("\0user\0")},                   /* empty password */
        {PLAIN_MSG("\0\0pencil")},                 /* empty authcid */
        {PLAIN_MSG("\0us\xffr\0pencil")},          /* not UTF-8 */
        {PLAIN_MSG("\0user\0pen\xc0\xafl")},       /* overlong */
        {PLAIN_MSG("\xed\xa0\x80\0user\0pencil")}, /* surrogate */
        {PLAIN_MSG("userpencil")},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        plain_fails(fx, bad[i].msg, bad[i].len, &fx->creds,
                    SASL_MALFORMED_REQUEST, SASL_WHY_PROTOCOL);
}

/* 1023 octets of authcid and of password pass; 1024 do not. */
static void
test_sasl_plain_length_limits(void **state)
{
    struct fx *fx = *state;
    char msg[2 + 1024 + 1024];
    for (size_t n = 1023; n <= 1024; n++) {
        enum sasl_cond c =
            n == 1023 ? SASL_NOT_AUTHORIZED : SASL_MALFORMED_REQUEST;
        enum sasl_why w = n == 1023 ? SASL_WHY_CREDENTIALS : SASL_WHY_PROTOCOL;
        msg[0] = '\0';
        memset(msg + 1, 'u', n);
        msg[1 + n] = '\0';
        memcpy(msg + 2 + n, "pencil", 6);
        plain_fails(fx, msg, 2 + n + 6, NULL, c, w);
        memcpy(msg, "\0user\0", 6);
        memset(msg + 6, 'p', n);
        plain_fails(fx, msg, 6 + n, &fx->creds, c, w);
    }
}

static void
test_sasl_plain_no_initial_response_and_host(void **state)
{
    struct fx *fx = *state;
    struct sasl_params p = params_tls();
    p.allow_plain = true;
    struct buf out;
    buf_init(&out, 1024);
    struct sasl_session *s = sasl_start(fx->srv, "PLAIN", &p);
    assert_int_equal(sasl_step(s, "", 0, &out), SASL_CONTINUE);
    assert_int_equal(buf_len(&out), 0);
    assert_int_equal(step_raw(s, "\0user\0pencil", 12, &out), SASL_NEED_CREDS);
    assert_int_equal(sasl_provide(s, &fx->creds, &out), SASL_SUCCESS);
    sasl_session_free(s);
    /* Without a host there is no JID to authorize: our problem. */
    p.host = NULL;
    s = sasl_start(fx->srv, "PLAIN", &p);
    assert_int_equal(step_raw(s, "\0user\0pencil", 12, &out), SASL_FAILURE);
    expect_failure(s, SASL_TEMPORARY_AUTH_FAILURE, SASL_WHY_NONE);
    sasl_session_free(s);
    buf_fini(&out);
}

/* ---- EXTERNAL --------------------------------------------------------- */

/* EXTERNAL with certificate JIDs certs[0..n) and the authzid given (""
 * sends "="): expect success as want (user: its localpart, or NULL), or
 * failure with cond if want is NULL. */
static void
external(struct fx *fx,
         const char *const *certs,
         size_t n,
         const char *authzid,
         const char *want,
         const char *user,
         enum sasl_cond cond)
{
    struct sasl_params p = params_tls();
    p.host = "capulet.example";
    p.cert_jids = certs;
    p.ncert_jids = n;
    struct buf out;
    buf_init(&out, 1024);
    struct sasl_session *s = sasl_start(fx->srv, "EXTERNAL", &p);
    enum sasl_status st = step_str(s, authzid, &out);
    assert_int_equal(buf_len(&out), 0);
    if (want) {
        if (st != SASL_SUCCESS)
            fail_msg("EXTERNAL \"%s\": %s", authzid,
                     sasl_cond_name(sasl_session_cond(s)));
        assert_string_equal(sasl_session_authzid(s), want);
        if (user)
            assert_string_equal(sasl_session_user(s), user);
        else
            assert_null(sasl_session_user(s));
    } else {
        assert_int_equal(st, SASL_FAILURE);
        expect_failure(s, cond, SASL_WHY_PROTOCOL);
    }
    sasl_session_free(s);
    buf_fini(&out);
}

static void
test_sasl_external_single(void **state)
{
    struct fx *fx = *state;
    static const char *const one[] = {"juliet@capulet.example"};
    const char *jul = one[0];
    external(fx, one, 1, "", jul, "juliet", SASL_COND_NONE);
    external(fx, one, 1, jul, jul, "juliet", SASL_COND_NONE);
    /* Compared in prepared form; a full JID is no authzid. */
    external(fx, one, 1, "Juliet@Capulet.Example", jul, "juliet",
             SASL_COND_NONE);
    external(fx, one, 1, "juliet@capulet.example/balcony", NULL, NULL,
             SASL_INVALID_AUTHZID);
    /* No initial response: empty challenge, then "=" or nothing. */
    struct sasl_params p = params_tls();
    p.cert_jids = one;
    p.ncert_jids = 1;
    struct buf out;
    buf_init(&out, 64);
    struct sasl_session *s = sasl_start(fx->srv, "EXTERNAL", &p);
    assert_int_equal(sasl_step(s, "", 0, &out), SASL_CONTINUE);
    assert_int_equal(buf_len(&out), 0);
    assert_int_equal(sasl_step(s, "", 0, &out), SASL_SUCCESS);
    assert_string_equal(sasl_session_authzid(s), jul);
    sasl_session_free(s);
    s = sasl_start(fx->srv, "EXTERNAL", &p);
    assert_int_equal(sasl_step(s, "", 0, &out), SASL_CONTINUE);
    assert_int_equal(step_str(s, jul, &out), SASL_SUCCESS);
    sasl_session_free(s);
    buf_fini(&out);
}

/* MUX-43 and MUX-30 (EXAMPLES c-11): two JIDs need an authzid, which
 * must be one of them. */
static void
test_sasl_MUX_43_external_multiple(void **state)
{
    struct fx *fx = *state;
    static const char *const two[] = {"juliet@capulet.example",
                                      "juliet@montague.example"};
    external(fx, two, 2, "", NULL, NULL, SASL_INVALID_AUTHZID);
    external(fx, two, 2, two[0], two[0], "juliet", SASL_COND_NONE);
    external(fx, two, 2, two[1], two[1], "juliet", SASL_COND_NONE);
    external(fx, two, 2, "romeo@montague.example", NULL, NULL,
             SASL_INVALID_AUTHZID);
    external(fx, two, 2, "a@@b", NULL, NULL, SASL_INVALID_AUTHZID);
}

/* CORE-16/17: s2s, where the certificate names a domain. */
static void
test_sasl_CORE_17_external_s2s(void **state)
{
    struct fx *fx = *state;
    static const char *const dom[] = {"montague.example"};
    external(fx, dom, 1, "", dom[0], NULL, SASL_COND_NONE);
    external(fx, dom, 1, dom[0], dom[0], NULL, SASL_COND_NONE);
    external(fx, dom, 1, "chat.montague.example", NULL, NULL,
             SASL_INVALID_AUTHZID);
}

/* EXTERNAL without certificate JIDs: not-authorized (XEP-0178). */
static void
test_sasl_external_no_cert(void **state)
{
    struct fx *fx = *state;
    external(fx, NULL, 0, "", NULL, NULL, SASL_NOT_AUTHORIZED);
    /* A certificate JID the caller got wrong is not used. */
    static const char *const junk[] = {"@@"};
    external(fx, junk, 1, "", NULL, NULL, SASL_NOT_AUTHORIZED);
}

/* ---- credentials ------------------------------------------------------ */

/* Check StoredKey and ServerKey derived with a given salt against an RFC
 * exchange: the client's proof must verify against StoredKey, and
 * HMAC(ServerKey, AuthMessage) must be the server signature. */
static void
check_vector(enum sasl_hash h,
             const char *salt_b64,
             const char *cf_bare,
             const char *sf,
             const char *cfinal_noproof,
             const char *proof_b64,
             const char *v_b64)
{
    size_t saltlen = 0, prooflen = 0, vlen = 0;
    char *salt = unb64(salt_b64, &saltlen);
    struct sasl_creds c;
    assert_int_equal(sasl__creds_derive_salt(
                         "pencil", 6, 4096, (unsigned char *)salt, saltlen, &c),
                     0);
    gsasl_free(salt);
    const EVP_MD *md = md_of(h);
    int hl = EVP_MD_size(md);
    char am[512];
    snprintf(am, sizeof am, "%s,%s,%s", cf_bare, sf, cfinal_noproof);
    unsigned char csig[64], ck[64], sk[64], ssig[64];
    unsigned int n = 0;
    HMAC(md, sasl__creds_stored(&c, h), hl, (unsigned char *)am, strlen(am),
         csig, &n);
    char *proof = unb64(proof_b64, &prooflen);
    assert_int_equal(prooflen, (size_t)hl);
    for (int i = 0; i < hl; i++)
        ck[i] = (unsigned char)proof[i] ^ csig[i];
    gsasl_free(proof);
    EVP_Digest(ck, (size_t)hl, sk, &n, md, NULL);
    assert_memory_equal(sk, sasl__creds_stored(&c, h), (size_t)hl);
    HMAC(md, sasl__creds_server(&c, h), hl, (unsigned char *)am, strlen(am),
         ssig, &n);
    char *v = unb64(v_b64, &vlen);
    assert_int_equal(vlen, (size_t)hl);
    assert_memory_equal(ssig, v, (size_t)hl);
    gsasl_free(v);
}

static void
test_sasl_creds_rfc5802_vector(void **state)
{
    (void)state;
    check_vector(
        SASL_SHA1, "QSXCR+Q6sek8bf92", "n=user,r=fyko+d2lbbFgONRv9qkxdawL",
        "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
        "s=QSXCR+Q6sek8bf92,i=4096",
        "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j",
        "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", "rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

static void
test_sasl_creds_rfc7677_vector(void **state)
{
    (void)state;
    check_vector(SASL_SHA256,
                 "W22ZaJ0SNY7soEsUEjb6gQ==", "n=user,r=rOprNGfwEbeRWgbNEkqO",
                 "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                 "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                 "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
                 "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
                 "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

/* The keys agree with GNU SASL's own derivation. */
static void
test_sasl_creds_match_gsasl(void **state)
{
    struct fx *fx = *state;
    const struct sasl_creds *c = &fx->creds;
    for (int i = 0; i < 2; i++) {
        enum sasl_hash h = i ? SASL_SHA256 : SASL_SHA1;
        char salted[32], ck[32], sk[32], st[32];
        assert_int_equal(gsasl_scram_secrets_from_password(
                             i ? GSASL_HASH_SHA256 : GSASL_HASH_SHA1, "pencil",
                             c->iterations, (const char *)c->salt, c->salt_len,
                             salted, ck, sk, st),
                         GSASL_OK);
        assert_memory_equal(st, sasl__creds_stored(c, h), sasl__hash_len(h));
        assert_memory_equal(sk, sasl__creds_server(c, h), sasl__hash_len(h));
    }
}

static void
test_sasl_creds_derive(void **state)
{
    (void)state;
    struct sasl_creds a, b;
    assert_int_equal(sasl_creds_derive("pencil", 6, 4096, &a), 0);
    assert_int_equal(sasl_creds_derive("pencil", 6, 4096, &b), 0);
    assert_int_equal(a.salt_len, 16);
    assert_int_equal(a.iterations, 4096);
    assert_true(a.has_sha1 && a.has_sha256);
    assert_memory_not_equal(a.salt, b.salt, 16);
    assert_memory_not_equal(a.sha256_stored, b.sha256_stored, 32);
    /* aioxmpp refuses fewer than 4096 iterations (PEERS.md). */
    assert_int_equal(sasl_creds_derive("pencil", 6, 4095, &a), XE_INVAL);
    assert_int_equal(sasl_creds_derive("pencil", 6, SASL_ITER_MAX + 1, &a),
                     XE_INVAL);
    assert_int_equal(sasl_creds_derive("", 0, 4096, &a), XE_INVAL);
    assert_int_equal(sasl_creds_derive("a\0b", 3, 4096, &a), XE_INVAL);
    /* SASLprep refuses control characters and, for stored strings,
     * unassigned code points (U+0221 was unassigned in Unicode 3.2). */
    assert_int_equal(sasl_creds_derive("a\x07", 2, 4096, &a), XE_INVAL);
    assert_int_equal(sasl_creds_derive("\xc8\xa1", 2, 4096, &a), XE_INVAL);
    char big[1024];
    memset(big, 'p', sizeof big);
    assert_int_equal(sasl_creds_derive(big, 1024, 4096, &a), XE_INVAL);
    assert_int_equal(sasl_creds_derive(big, 1023, 4096, &a), 0);
    assert_int_equal(a.salt_len, 16);
}

/* SASLprep maps before hashing: U+00A0 (no-break space) is a space, and
 * U+00AD (soft hyphen) vanishes, on both the derive and the PLAIN side. */
static void
test_sasl_creds_saslprep(void **state)
{
    struct fx *fx = *state;
    struct sasl_creds c;
    assert_int_equal(sasl_creds_derive("a\xc2\xa0"
                                       "b\xc2\xad",
                                       6, 4096, &c),
                     0);
    enum sasl_status st;
    struct sasl_session *s = plain(fx, PLAIN_MSG("\0user\0a b"), &c, &st);
    assert_int_equal(st, SASL_SUCCESS);
    sasl_session_free(s);
}

static void
test_sasl_cond_names(void **state)
{
    (void)state;
    assert_string_equal(sasl_cond_name(SASL_NOT_AUTHORIZED), "not-authorized");
    assert_string_equal(sasl_cond_name(SASL_INCORRECT_ENCODING),
                        "incorrect-encoding");
    assert_string_equal(sasl_cond_name(SASL_TEMPORARY_AUTH_FAILURE),
                        "temporary-auth-failure");
    assert_null(sasl_cond_name(SASL_COND_NONE));
    assert_null(sasl_cond_name((enum sasl_cond)99));
    sasl_session_free(NULL);
    sasl_server_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sasl_CORE_04_no_mechanisms_without_tls),
        cmocka_unit_test(test_sasl_mechanism_lists),
        cmocka_unit_test(test_sasl_scram_success),
        cmocka_unit_test(test_sasl_scram_plus_success),
        cmocka_unit_test(test_sasl_client_pick),
        cmocka_unit_test(test_sasl_client_scram),
        cmocka_unit_test(test_sasl_client_bad_start),
        cmocka_unit_test(test_sasl_scram_wrong_password),
        cmocka_unit_test(test_sasl_scram_unknown_user),
        cmocka_unit_test(test_sasl_scram_missing_hash),
        cmocka_unit_test(test_sasl_scram_bad_creds_from_store),
        cmocka_unit_test(test_sasl_scram_cb_mismatch),
        cmocka_unit_test(test_sasl_scram_tls_unique_on_exporter),
        cmocka_unit_test(test_sasl_scram_y_downgrade),
        cmocka_unit_test(test_sasl_scram_flag_mechanism_mismatch),
        cmocka_unit_test(test_sasl_scram_final_checks),
        cmocka_unit_test(test_sasl_scram_authzid),
        cmocka_unit_test(test_sasl_scram_username_prep),
        cmocka_unit_test(test_sasl_scram_malformed_first),
        cmocka_unit_test(test_sasl_scram_no_initial_response),
        cmocka_unit_test(test_sasl_out_of_turn),
        cmocka_unit_test(test_sasl_finished_session_repeats),
        cmocka_unit_test(test_sasl_output_limit),
        cmocka_unit_test(test_sasl_invalid_mechanism),
        cmocka_unit_test(test_sasl_CORE_27_encryption_required),
        cmocka_unit_test(test_sasl_incorrect_encoding),
        cmocka_unit_test(test_sasl_b64_roundtrip),
        cmocka_unit_test(test_sasl_size_limit),
        cmocka_unit_test(test_sasl_plain),
        cmocka_unit_test(test_sasl_plain_authzid),
        cmocka_unit_test(test_sasl_plain_malformed),
        cmocka_unit_test(test_sasl_plain_length_limits),
        cmocka_unit_test(test_sasl_plain_no_initial_response_and_host),
        cmocka_unit_test(test_sasl_external_single),
        cmocka_unit_test(test_sasl_MUX_43_external_multiple),
        cmocka_unit_test(test_sasl_CORE_17_external_s2s),
        cmocka_unit_test(test_sasl_external_no_cert),
        cmocka_unit_test(test_sasl_creds_rfc5802_vector),
        cmocka_unit_test(test_sasl_creds_rfc7677_vector),
        cmocka_unit_test(test_sasl_creds_match_gsasl),
        cmocka_unit_test(test_sasl_creds_derive),
        cmocka_unit_test(test_sasl_creds_saslprep),
        cmocka_unit_test(test_sasl_cond_names),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
