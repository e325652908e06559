/* SPDX-License-Identifier: MIT */
/* sasl.c -- SASL sessions: mechanism list, step dispatch, shared checks. */
#include "sasl/sasl.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "base/alloc.h"
#include "base/err.h"
#include "jid/jid.h"
#include "sasl/sasl_int.h"

/* Best first (sasl_mechanisms keeps this order). EXTERNAL leads because a
 * verified certificate is the strongest proof on offer (MUX.md §4.2);
 * then channel binding, then the stronger hash, and PLAIN last. */
static const struct sasl_mech mechs[] = {
    {"EXTERNAL", SASL_KIND_EXTERNAL, SASL_SHA256, false, sasl__external_first,
     NULL, NULL},
    {"SCRAM-SHA-256-PLUS", SASL_KIND_SCRAM, SASL_SHA256, true,
     sasl__scram_first, sasl__scram_provide, sasl__scram_final},
    {"SCRAM-SHA-1-PLUS", SASL_KIND_SCRAM, SASL_SHA1, true, sasl__scram_first,
     sasl__scram_provide, sasl__scram_final},
    {"SCRAM-SHA-256", SASL_KIND_SCRAM, SASL_SHA256, false, sasl__scram_first,
     sasl__scram_provide, sasl__scram_final},
    {"SCRAM-SHA-1", SASL_KIND_SCRAM, SASL_SHA1, false, sasl__scram_first,
     sasl__scram_provide, sasl__scram_final},
    {"PLAIN", SASL_KIND_PLAIN, SASL_SHA256, false, sasl__plain_first,
     sasl__plain_provide, NULL},
};
#define NMECHS (sizeof mechs / sizeof mechs[0])
_Static_assert(NMECHS == SASL_MECH_MAX, "SASL_MECH_MAX must count mechs");

const char *
sasl_cond_name(enum sasl_cond c)
{
    switch (c) {
#define SASL_COND_CASE(cond, str) \
    case (cond):                  \
        return (str);
        SASL_COND_MAP(SASL_COND_CASE)
#undef SASL_COND_CASE
    default:
        return NULL;
    }
}

const struct sasl_mech *
sasl__mech_find(const char *name)
{
    for (size_t i = 0; i < NMECHS; i++)
        if (strcmp(mechs[i].name, name) == 0)
            return &mechs[i];
    return NULL;
}

const struct sasl_mech *
sasl__mech_nth(size_t i)
{
    return i < NMECHS ? &mechs[i] : NULL;
}

struct sasl_server *
sasl_server_new(struct buf *err)
{
    struct sasl_server *srv = x_calloc(1, sizeof *srv);
    int rc = gsasl_init(&srv->gs);
    if (rc != GSASL_OK) {
        if (err)
            buf_printf(err, "gsasl_init: %s", gsasl_strerror(rc));
        x_free(srv);
        return NULL;
    }
    /* A GNU SASL built without some SCRAM variant would only show up at
     * the first login; find out now. */
    for (size_t i = 0; i < NMECHS; i++) {
        if (mechs[i].kind != SASL_KIND_SCRAM ||
            gsasl_server_support_p(srv->gs, mechs[i].name))
            continue;
        if (err)
            buf_printf(err, "GNU SASL lacks %s", mechs[i].name);
        goto fail;
    }
    if (RAND_bytes(srv->secret, sizeof srv->secret) != 1) {
        if (err)
            buf_printf(err, "RAND_bytes failed");
        goto fail;
    }
    gsasl_callback_set(srv->gs, sasl__gsasl_cb);
    return srv;
fail:
    gsasl_done(srv->gs);
    x_free(srv);
    return NULL;
}

void
sasl_server_free(struct sasl_server *srv)
{
    if (srv == NULL)
        return;
    gsasl_done(srv->gs);
    OPENSSL_cleanse(srv->secret, sizeof srv->secret);
    x_free(srv);
}

/* A channel binding we can check: a known type and plausible data. */
static bool
cb_usable(const struct sasl_params *p)
{
    if (p->cb_type == NULL || p->cb_data == NULL || p->cb_len == 0 ||
        p->cb_len > SASL_CB_MAX)
        return false;
    return strcmp(p->cb_type, "tls-exporter") == 0 ||
           strcmp(p->cb_type, "tls-unique") == 0;
}

static bool
mech_offered(const struct sasl_params *p, const struct sasl_mech *m)
{
    if (!p->tls)
        return false;
    switch (m->kind) {
    case SASL_KIND_EXTERNAL:
        return p->cert_jids != NULL && p->ncert_jids > 0;
    case SASL_KIND_PLAIN:
        return p->allow_plain;
    case SASL_KIND_SCRAM:
        return !m->plus || cb_usable(p);
    }
    return false;
}

size_t
sasl_mechanisms(const struct sasl_params *p, const char **names, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < NMECHS && n < cap; i++)
        if (mech_offered(p, &mechs[i]))
            names[n++] = mechs[i].name;
    if (n < cap)
        names[n] = NULL;
    return n;
}

/* Copy what the session needs from p: the caller's memory may be gone by
 * the time the store answers. */
static void
copy_params(struct sasl_session *s, const struct sasl_params *p)
{
    if (p->host)
        s->host = x_strdup(p->host);
    if (cb_usable(p)) {
        s->cb_offered = true;
        s->cb_type = x_strdup(p->cb_type);
        s->cb_data = x_memdup(p->cb_data, p->cb_len);
        s->cb_len = p->cb_len;
    }
    s->authzid_required = p->authzid_required;
    if (p->cert_jids && p->ncert_jids > 0) {
        s->cert_jids = x_calloc(p->ncert_jids, sizeof *s->cert_jids);
        for (size_t i = 0; i < p->ncert_jids; i++)
            if (p->cert_jids[i])
                s->cert_jids[s->ncert_jids++] = x_strdup(p->cert_jids[i]);
    }
}

/* Why an attempt cannot even begin, or SASL_COND_NONE. */
static enum sasl_cond
start_check(const struct sasl_session *s, const struct sasl_params *p)
{
    if (!p->tls)
        return SASL_ENCRYPTION_REQUIRED;
    if (s->srv == NULL)
        return SASL_TEMPORARY_AUTH_FAILURE;
    /* XEP-0178 and MUX.md §5.3: EXTERNAL without a usable certificate is
     * refused as not-authorized rather than as an unknown mechanism. */
    if (s->mech && s->mech->kind == SASL_KIND_EXTERNAL && s->ncert_jids == 0)
        return SASL_NOT_AUTHORIZED;
    if (s->mech == NULL || !mech_offered(p, s->mech))
        return SASL_INVALID_MECHANISM;
    return SASL_COND_NONE;
}

struct sasl_session *
sasl_start(struct sasl_server *srv,
           const char *mech,
           const struct sasl_params *p)
{
    struct sasl_session *s = x_calloc(1, sizeof *s);
    s->srv = srv;
    s->mech = mech ? sasl__mech_find(mech) : NULL;
    s->st = SASL_ST_INITIAL;
    copy_params(s, p);
    /* The first step reports what is wrong, so that every <auth/> gets
     * its <failure/> through the same path. */
    s->start_cond = start_check(s, p);
    s->start_why = s->start_cond == SASL_TEMPORARY_AUTH_FAILURE
                       ? SASL_WHY_NONE
                       : SASL_WHY_PROTOCOL;
    return s;
}

/* Wipe and free what only the running attempt needs. */
static void
scrub(struct sasl_session *s)
{
    if (s->pending) {
        OPENSSL_cleanse(s->pending, s->pending_len);
        x_free(s->pending);
        s->pending = NULL;
        s->pending_len = 0;
    }
    OPENSSL_cleanse(&s->creds, sizeof s->creds);
    if (s->gs) {
        gsasl_finish(s->gs);
        s->gs = NULL;
    }
    x_free(s->gs2_header);
    s->gs2_header = NULL;
    x_free(s->nonce);
    s->nonce = NULL;
}

enum sasl_status
sasl__fail(struct sasl_session *s, enum sasl_cond cond, enum sasl_why why)
{
    scrub(s);
    s->st = SASL_ST_DONE;
    s->status = SASL_FAILURE;
    s->cond = cond;
    s->why = why;
    return SASL_FAILURE;
}

enum sasl_status
sasl__succeed(struct sasl_session *s)
{
    scrub(s);
    s->st = SASL_ST_DONE;
    s->status = SASL_SUCCESS;
    return SASL_SUCCESS;
}

enum sasl_status
sasl__need_creds(struct sasl_session *s, const char *user)
{
    x_free(s->user);
    s->user = x_strdup(user);
    s->st = SASL_ST_CREDS;
    return SASL_NEED_CREDS;
}

/* Decode the base64 text b64[0..len) and hand the data to fn. "=" is
 * data of length zero (RFC 6120 §6.4.2); so is an empty response. */
static enum sasl_status
run_data(struct sasl_session *s,
         const char *b64,
         size_t len,
         struct buf *out,
         sasl_data_fn *fn)
{
    if (len == 1 && b64[0] == '=')
        len = 0;
    if (len > SASL_B64_MAX)
        return sasl__fail(s, SASL_MALFORMED_REQUEST, SASL_WHY_PROTOCOL);
    char *data = x_malloc(len / 4 * 3 + 1);
    size_t n = 0;
    if (sasl__b64_decode(len ? b64 : "", len, data, &n) != 0) {
        x_free(data);
        return sasl__fail(s, SASL_INCORRECT_ENCODING, SASL_WHY_PROTOCOL);
    }
    enum sasl_status st =
        n > SASL_DATA_MAX
            ? sasl__fail(s, SASL_MALFORMED_REQUEST, SASL_WHY_PROTOCOL)
            : fn(s, data, n, out);
    /* The data may hold a password (PLAIN). */
    OPENSSL_cleanse(data, n);
    x_free(data);
    return st;
}

/* One function per state; sasl_step picks one from step_table. */
typedef enum sasl_status sasl_state_fn(struct sasl_session *s,
                                       const char *b64,
                                       size_t len,
                                       struct buf *out);

/* <auth/>: report what sasl_start found wrong, or start the mechanism.
 * Without an initial response, send an empty challenge (RFC 6120
 * §6.4.2), which the stream writes as <challenge/>. */
static enum sasl_status
st_initial(struct sasl_session *s, const char *b64, size_t len, struct buf *out)
{
    if (s->start_cond != SASL_COND_NONE)
        return sasl__fail(s, s->start_cond, s->start_why);
    if (len == 0) {
        s->st = SASL_ST_FIRST;
        return SASL_CONTINUE;
    }
    return run_data(s, b64, len, out, s->mech->first);
}

/* The response to our empty challenge carries what the initial response
 * would have. */
static enum sasl_status
st_first(struct sasl_session *s, const char *b64, size_t len, struct buf *out)
{
    return run_data(s, b64, len, out, s->mech->first);
}

/* We are waiting for the store and have sent nothing the client could
 * answer: a response now is out of turn. */
static enum sasl_status
st_creds(struct sasl_session *s, const char *b64, size_t len, struct buf *out)
{
    (void)b64;
    (void)len;
    (void)out;
    return sasl__fail(s, SASL_MALFORMED_REQUEST, SASL_WHY_PROTOCOL);
}

static enum sasl_status
st_next(struct sasl_session *s, const char *b64, size_t len, struct buf *out)
{
    return run_data(s, b64, len, out, s->mech->next);
}

/* A finished attempt repeats its outcome and does nothing else. */
static enum sasl_status
st_done(struct sasl_session *s, const char *b64, size_t len, struct buf *out)
{
    (void)b64;
    (void)len;
    (void)out;
    return s->status;
}

static sasl_state_fn *const step_table[SASL_ST_COUNT] = {
    [SASL_ST_INITIAL] = st_initial, [SASL_ST_FIRST] = st_first,
    [SASL_ST_CREDS] = st_creds,     [SASL_ST_NEXT] = st_next,
    [SASL_ST_DONE] = st_done,
};

enum sasl_status
sasl_step(struct sasl_session *s, const char *b64, size_t len, struct buf *out)
{
    if (b64 == NULL)
        len = 0;
    return step_table[s->st](s, b64, len, out);
}

enum sasl_status
sasl_provide(struct sasl_session *s,
             const struct sasl_creds *creds,
             struct buf *out)
{
    if (s->st == SASL_ST_DONE)
        return s->status;
    /* Credentials nobody asked for mean the caller lost track of the
     * attempt: our fault, not the client's. */
    if (s->st != SASL_ST_CREDS || s->mech->provide == NULL)
        return sasl__fail(s, SASL_TEMPORARY_AUTH_FAILURE, SASL_WHY_NONE);
    return s->mech->provide(s, creds, out);
}

const char *
sasl_session_user(const struct sasl_session *s)
{
    return s->user;
}

const char *
sasl_session_authzid(const struct sasl_session *s)
{
    return s->status == SASL_SUCCESS && s->st == SASL_ST_DONE ? s->authzid
                                                              : NULL;
}

const char *
sasl_session_mech(const struct sasl_session *s)
{
    return s->mech ? s->mech->name : "";
}

enum sasl_cond
sasl_session_cond(const struct sasl_session *s)
{
    return s->st == SASL_ST_DONE && s->status == SASL_FAILURE ? s->cond
                                                              : SASL_COND_NONE;
}

enum sasl_why
sasl_session_why(const struct sasl_session *s)
{
    return s->st == SASL_ST_DONE && s->status == SASL_FAILURE ? s->why
                                                              : SASL_WHY_NONE;
}

void
sasl_session_free(struct sasl_session *s)
{
    if (s == NULL)
        return;
    scrub(s);
    x_free(s->host);
    x_free(s->cb_type);
    x_free(s->cb_data);
    for (size_t i = 0; i < s->ncert_jids; i++)
        x_free(s->cert_jids[i]);
    x_free(s->cert_jids);
    x_free(s->user);
    x_free(s->authzid);
    x_free(s);
}

int
sasl__user_prep(const char *in, size_t len, char *out, size_t outlen)
{
    size_t n = 0;
    if (len == 0 || jid_node_prep(in, len, out, outlen, &n) != 0 || n == 0)
        return XE_JID_NODE;
    return 0;
}

enum sasl_cond
sasl__authz_user(const struct sasl_session *s,
                 const char *user,
                 const char *authzid,
                 char **jid)
{
    struct jid self, req;
    *jid = NULL;
    if (s->host == NULL || jid_init_parts(&self, user, s->host, NULL) != 0)
        return SASL_TEMPORARY_AUTH_FAILURE;
    enum sasl_cond c = SASL_COND_NONE;
    if (authzid && authzid[0] != '\0') {
        /* RFC 6120 §6.3.8: a client may only name itself; compare the
         * prepared forms so "Juliet@Capulet.example" is fine. */
        bool ok = jid_parse(&req, authzid, strlen(authzid)) == 0 &&
                  !jid_has_resource(&req) && jid_bare_eq(&req, &self);
        jid_fini(&req);
        if (!ok)
            c = SASL_INVALID_AUTHZID;
    }
    if (c == SASL_COND_NONE)
        *jid = x_strdup(jid_str(&self));
    jid_fini(&self);
    return c;
}

/* Length of the UTF-8 sequence led by byte c, or 0 if c cannot lead. */
static size_t
utf8_seq_len(unsigned char c)
{
    if (c >= 0x01 && c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return 2;
    if (c >= 0xe0 && c <= 0xef)
        return 3;
    if (c >= 0xf0 && c <= 0xf4)
        return 4;
    return 0;
}

bool
sasl__utf8_ok(const char *str, size_t len)
{
    const unsigned char *p = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        size_t k = utf8_seq_len(p[i]);
        if (k == 0 || k > len - i)
            return false;
        for (size_t j = 1; j < k; j++)
            if ((p[i + j] & 0xc0) != 0x80)
                return false;
        /* Overlong 3/4-byte forms, surrogates, and past U+10FFFF. */
        if ((p[i] == 0xe0 && p[i + 1] < 0xa0) ||
            (p[i] == 0xed && p[i + 1] >= 0xa0) ||
            (p[i] == 0xf0 && p[i + 1] < 0x90) ||
            (p[i] == 0xf4 && p[i + 1] >= 0x90))
            return false;
        i += k;
    }
    return true;
}
