/* SPDX-License-Identifier: MIT */
/* sasl_scram.c -- SCRAM-SHA-1/256(-PLUS) (RFC 5802, 7677) over GNU SASL. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/alloc.h"
#include "base/err.h"
#include "jid/jid.h"
#include "sasl/sasl_int.h"

/* GNU SASL asks for the account's keys from inside gsasl_step, through a
 * synchronous callback, while our store answers asynchronously. So the
 * client-first-message is parsed and checked here first; sasl_provide
 * then feeds it to GNU SASL with the credentials already at hand. The
 * checks here also tell a failed channel binding from a wrong password,
 * which GNU SASL reports alike. */

/* What the client-first-message says (RFC 5802 §7). */
struct cfirst {
    char flag;          /* gs2-cbind-flag: 'n', 'y' or 'p' */
    const char *cbname; /* 'p' only: the channel-binding type */
    size_t cbname_len;
    char *authzid; /* decoded, or NULL */
    char *user;    /* decoded, not yet prepared */
    size_t user_len;
    size_t gs2_len; /* the gs2-header, up to and including its second ',' */
};

/* A read position in the message. */
struct cur {
    const char *p, *end;
};

static bool
eat(struct cur *c, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* The bytes up to the next ',' (or the end). */
static size_t
field_len(const struct cur *c)
{
    const char *q = memchr(c->p, ',', (size_t)(c->end - c->p));
    return (size_t)((q ? q : c->end) - c->p);
}

static bool
is_hex2(const char *p, char a, char b)
{
    return p[0] == a && (p[1] == b || p[1] == (char)(b | 0x20));
}

/* saslname (RFC 5802 §5.1): decode "=2C" and "=3D" (ABNF literals are
 * case-insensitive), refuse any other '=' and an empty name. Returns a
 * fresh string and its length in *outn, or NULL. */
static char *
saslname(struct cur *c, size_t *outn)
{
    size_t n = field_len(c);
    if (n == 0)
        return NULL;
    char *out = x_malloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (c->p[i] != '=') {
            out[o++] = c->p[i];
        } else if (n - i >= 3 && is_hex2(c->p + i + 1, '2', 'C')) {
            out[o++] = ',';
            i += 2;
        } else if (n - i >= 3 && is_hex2(c->p + i + 1, '3', 'D')) {
            out[o++] = '=';
            i += 2;
        } else {
            x_free(out);
            return NULL;
        }
    }
    out[o] = '\0';
    c->p += n;
    *outn = o;
    return out;
}

/* gs2-header = gs2-cbind-flag "," [ authzid ] "," */
static int
parse_gs2(struct cur *c, struct cfirst *cf)
{
    if (eat(c, "n,") || eat(c, "y,")) {
        cf->flag = c->p[-2];
    } else if (eat(c, "p=")) {
        cf->flag = 'p';
        cf->cbname = c->p;
        cf->cbname_len = field_len(c);
        if (cf->cbname_len == 0)
            return -1;
        for (size_t i = 0; i < cf->cbname_len; i++) {
            char ch = cf->cbname[i];
            if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '-'))
                return -1;
        }
        c->p += cf->cbname_len;
        if (!eat(c, ","))
            return -1;
    } else {
        return -1;
    }
    if (eat(c, "a=")) {
        size_t n = 0;
        cf->authzid = saslname(c, &n);
        if (cf->authzid == NULL || n > SASL_AUTHZID_MAX ||
            !sasl__utf8_ok(cf->authzid, n))
            return -1;
    }
    return eat(c, ",") ? 0 : -1;
}

/* printable = %x21-2B / %x2D-7E: the nonce alphabet. */
static bool
nonce_ok(const char *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
            return false;
    return true;
}

/* extensions = attr-val *("," attr-val); attr-val = ALPHA "=" 1*value-char */
static int
parse_extensions(struct cur *c)
{
    while (c->p < c->end) {
        if (!eat(c, ","))
            return -1;
        size_t n = field_len(c);
        char a = '\0';
        if (n > 0)
            a = c->p[0];
        if (n < 3 || c->p[1] != '=' ||
            !((a >= 'A' && a <= 'Z') || (a >= 'a' && a <= 'z')))
            return -1;
        c->p += n;
    }
    return 0;
}

/* client-first-message-bare = [reserved-mext ","] username "," nonce
 * ["," extensions]. A mandatory extension ("m=") is one we do not know,
 * so RFC 5802 §5.1 says to fail. */
static int
parse_bare(struct cur *c, struct cfirst *cf)
{
    if (!eat(c, "n="))
        return -1;
    cf->user = saslname(c, &cf->user_len);
    if (cf->user == NULL || cf->user_len > JID_PART_RAW_MAX ||
        !sasl__utf8_ok(cf->user, cf->user_len))
        return -1;
    if (!eat(c, ",r="))
        return -1;
    size_t n = field_len(c);
    if (!nonce_ok(c->p, n))
        return -1;
    c->p += n;
    return parse_extensions(c);
}

static int
parse_client_first(const char *data, size_t len, struct cfirst *cf)
{
    struct cur c = {data, data + len};
    memset(cf, 0, sizeof *cf);
    if (memchr(data, '\0', len) != NULL || parse_gs2(&c, cf) != 0)
        return -1;
    cf->gs2_len = (size_t)(c.p - data);
    return parse_bare(&c, cf);
}

static void
cfirst_fini(struct cfirst *cf)
{
    x_free(cf->authzid);
    if (cf->user)
        OPENSSL_cleanse(cf->user, cf->user_len);
    x_free(cf->user);
}

/* RFC 5802 §6 and RFC 5929/9266: 'p' only on -PLUS and only with the
 * binding type this TLS session has; 'n' never on -PLUS; 'y' means the
 * client thinks we cannot bind, which is a downgrade if we offered -PLUS.
 * slixmpp sends p=tls-unique on TLS 1.3 (PEERS.md): that fails here,
 * as a channel-binding failure and not as a password guess. */
static bool
cb_flag_ok(const struct sasl_session *s, const struct cfirst *cf)
{
    bool plus = s->mech->plus;
    switch (cf->flag) {
    case 'p':
        return plus && s->cb_type != NULL && cf->cbname != NULL &&
               strlen(s->cb_type) == cf->cbname_len &&
               memcmp(s->cb_type, cf->cbname, cf->cbname_len) == 0;
    case 'y':
        return !plus && !s->cb_offered;
    default:
        return !plus;
    }
}

enum sasl_status
sasl__scram_first(struct sasl_session *s,
                  const char *data,
                  size_t len,
                  struct buf *out)
{
    (void)out;
    struct cfirst cf;
    char user[JID_PART_BUFSZ];
    enum sasl_status st;
    enum sasl_cond c;
    memset(&cf, 0, sizeof cf);
    if (len == 0 || parse_client_first(data, len, &cf) != 0) {
        st = sasl__fail(s, SASL_MALFORMED_REQUEST, SASL_WHY_PROTOCOL);
        goto out;
    }
    if (!cb_flag_ok(s, &cf)) {
        st = sasl__fail(s, SASL_NOT_AUTHORIZED, SASL_WHY_CHANNEL_BINDING);
        goto out;
    }
    /* A name nodeprep refuses can name no account: fail as for an
     * unknown user, only sooner (that reveals nothing about accounts). */
    if (sasl__user_prep(cf.user, cf.user_len, user, sizeof user) != 0) {
        st = sasl__fail(s, SASL_NOT_AUTHORIZED, SASL_WHY_CREDENTIALS);
        goto out;
    }
    c = sasl__authz_user(s, user, cf.authzid, &s->authzid);
    if (c != SASL_COND_NONE) {
        st = sasl__fail(s, c,
                        c == SASL_INVALID_AUTHZID ? SASL_WHY_PROTOCOL
                                                  : SASL_WHY_NONE);
        goto out;
    }
    s->pending = x_memdup(data, len + 1);
    s->pending_len = len;
    s->gs2_len = cf.gs2_len;
    st = sasl__need_creds(s, user);
out:
    cfirst_fini(&cf);
    return st;
}

/* Take the account's credentials, or decoys. An account without keys for
 * this hash keeps its real salt and iteration count, so the
 * server-first-message does not differ between mechanisms and tells
 * nothing; the proof then cannot verify. */
static void
take_creds(struct sasl_session *s, const struct sasl_creds *creds)
{
    enum sasl_hash h = s->mech->hash;
    if (creds && sasl__creds_stored(creds, h)) {
        s->creds = *creds;
        return;
    }
    sasl__creds_decoy(s->srv, s->user, &s->creds);
    if (creds) {
        memcpy(s->creds.salt, creds->salt, creds->salt_len);
        s->creds.salt_len = creds->salt_len;
        s->creds.iterations = creds->iterations;
    }
    s->decoy = true;
}

/* What a GNU SASL error means for the client. */
static enum sasl_status
fail_gsasl(struct sasl_session *s, int rc)
{
    switch (rc) {
    case GSASL_MECHANISM_PARSE_ERROR:
    case GSASL_BASE64_ERROR:
        return sasl__fail(s, SASL_MALFORMED_REQUEST, SASL_WHY_PROTOCOL);
    case GSASL_AUTHENTICATION_ERROR:
        return sasl__fail(s, SASL_NOT_AUTHORIZED, SASL_WHY_CREDENTIALS);
    case GSASL_NO_CB_TLS_UNIQUE:
    case GSASL_NO_CB_TLS_EXPORTER:
        return sasl__fail(s, SASL_NOT_AUTHORIZED, SASL_WHY_CHANNEL_BINDING);
    default:
        return sasl__fail(s, SASL_TEMPORARY_AUTH_FAILURE, SASL_WHY_NONE);
    }
}

enum sasl_status
sasl__scram_provide(struct sasl_session *s,
                    const struct sasl_creds *creds,
                    struct buf *out)
{
    if (creds && !sasl__creds_ok(creds))
        return sasl__fail(s, SASL_TEMPORARY_AUTH_FAILURE, SASL_WHY_NONE);
    take_creds(s, creds);
    if (gsasl_server_start(s->srv->gs, s->mech->name, &s->gs) != GSASL_OK) {
        s->gs = NULL;
        return sasl__fail(s, SASL_TEMPORARY_AUTH_FAILURE, SASL_WHY_NONE);
    }
    gsasl_session_hook_set(s->gs, s);
    char *o = NULL;
    size_t olen = 0;
    int rc = gsasl_step(s->gs, s->pending, s->pending_len, &o, &olen);
    if (rc != GSASL_NEEDS_MORE) {
        gsasl_free(o);
        /* Before any proof, an authentication error is GNU SASL refusing
         * the message (its own SASLprep of the name, say). */
        if (rc == GSASL_AUTHENTICATION_ERROR)
            return sasl__fail(s, SASL_NOT_AUTHORIZED, SASL_WHY_PROTOCOL);
        return fail_gsasl(s, rc);
    }
    /* Keep what the client-final-message must repeat: the gs2-header
     * (inside c=) and the combined nonce (r=, the first attribute of the
     * server-first-message). */
    s->gs2_header = x_strndup(s->pending, s->gs2_len);
    const char *comma = memchr(o, ',', olen);
    if (olen < 2 || memcmp(o, "r=", 2) != 0 || comma == NULL) {
        gsasl_free(o);
        return sasl__fail(s, SASL_TEMPORARY_AUTH_FAILURE, SASL_WHY_NONE);
    }
    s->nonce = x_strndup(o + 2, (size_t)(comma - o - 2));
    rc = sasl__b64_append(out, o, olen);
    gsasl_free(o);
    if (rc != 0)
        return sasl__fail(s, SASL_TEMPORARY_AUTH_FAILURE, SASL_WHY_NONE);
    OPENSSL_cleanse(s->pending, s->pending_len);
    x_free(s->pending);
    s->pending = NULL;
    s->pending_len = 0;
    s->st = SASL_ST_NEXT;
    return SASL_CONTINUE;
}

/* The parts of client-final-message = "c=" base64 ",r=" nonce
 * ["," extensions] ",p=" base64 that we check ourselves. */
struct cfinal {
    const char *cbind, *nonce;
    size_t cbind_len, nonce_len;
};

static int
parse_client_final(const char *data, size_t len, struct cfinal *cl)
{
    struct cur c = {data, data + len};
    if (memchr(data, '\0', len) != NULL || !eat(&c, "c="))
        return -1;
    cl->cbind = c.p;
    cl->cbind_len = field_len(&c);
    c.p += cl->cbind_len;
    if (!eat(&c, ",r="))
        return -1;
    cl->nonce = c.p;
    cl->nonce_len = field_len(&c);
    c.p += cl->nonce_len;
    /* The proof is the last attribute; what lies between is extensions
     * (GNU SASL parses the rest again). */
    if (c.p == c.end)
        return -1;
    const char *last = c.p;
    for (const char *q = c.p; q < c.end; q++)
        if (*q == ',')
            last = q;
    struct cur proof = {last, c.end};
    if (!eat(&proof, ",p=") || proof.p == proof.end)
        return -1;
    return 0;
}

/* c= must be base64 of the gs2-header, followed by the channel-binding
 * data when the flag was 'p' (RFC 5802 §7). Returns 0, or -1 for bad
 * base64, or 1 for a mismatch. */
static int
check_cbind(const struct sasl_session *s, const struct cfinal *cl)
{
    char *got = x_malloc(cl->cbind_len / 4 * 3 + 1);
    size_t n = 0;
    if (sasl__b64_decode(cl->cbind, cl->cbind_len, got, &n) != 0) {
        x_free(got);
        return -1;
    }
    size_t hl = strlen(s->gs2_header);
    bool p = s->gs2_header[0] == 'p';
    size_t want = hl + (p ? s->cb_len : 0);
    int rc = 0;
    if (n != want || memcmp(got, s->gs2_header, hl) != 0 ||
        (p && CRYPTO_memcmp(got + hl, s->cb_data, s->cb_len) != 0))
        rc = 1;
    x_free(got);
    return rc;
}

enum sasl_status
sasl__scram_final(struct sasl_session *s,
                  const char *data,
                  size_t len,
                  struct buf *out)
{
    struct cfinal cl;
    if (len == 0 || parse_client_final(data, len, &cl) != 0)
        return sasl__fail(s, SASL_MALFORMED_REQUEST, SASL_WHY_PROTOCOL);
    int cb = check_cbind(s, &cl);
    if (cb < 0)
        return sasl__fail(s, SASL_MALFORMED_REQUEST, SASL_WHY_PROTOCOL);
    if (cb > 0)
        return sasl__fail(s, SASL_NOT_AUTHORIZED, SASL_WHY_CHANNEL_BINDING);
    if (cl.nonce_len != strlen(s->nonce) ||
        memcmp(cl.nonce, s->nonce, cl.nonce_len) != 0)
        return sasl__fail(s, SASL_NOT_AUTHORIZED, SASL_WHY_PROTOCOL);
    char *o = NULL;
    size_t olen = 0;
    int rc = gsasl_step(s->gs, data, len, &o, &olen);
    /* A decoy never succeeds, however unlikely a match would be. */
    if (rc == GSASL_OK && s->decoy)
        rc = GSASL_AUTHENTICATION_ERROR;
    if (rc != GSASL_OK) {
        gsasl_free(o);
        return fail_gsasl(s, rc);
    }
    /* RFC 6120 §6.3.10: the server-final-message (v=) goes with
     * <success/> as additional data. */
    rc = sasl__b64_append(out, o, olen);
    gsasl_free(o);
    if (rc != 0)
        return sasl__fail(s, SASL_TEMPORARY_AUTH_FAILURE, SASL_WHY_NONE);
    return sasl__succeed(s);
}

/* The longest binary property value: salts, keys, channel bindings. */
#define PROP_BIN_MAX 64
_Static_assert(SASL_SALT_MAX <= PROP_BIN_MAX && SASL_CB_MAX <= PROP_BIN_MAX &&
                   SASL_KEY_MAX <= PROP_BIN_MAX,
               "property values must fit set_b64's buffer");

int
sasl__gsasl_set_b64(Gsasl_session *gs,
                    Gsasl_property prop,
                    const unsigned char *bin,
                    size_t n)
{
    char text[4 * ((PROP_BIN_MAX + 2) / 3) + 1];
    if (bin == NULL || n > PROP_BIN_MAX)
        return GSASL_NO_CALLBACK;
    sasl__b64_encode(bin, n, text);
    int rc = gsasl_property_set(gs, prop, text);
    OPENSSL_cleanse(text, sizeof text);
    return rc;
}

/* Channel-binding data, only for the type this TLS session has. */
static int
set_cb(const struct sasl_session *s,
       Gsasl_session *gs,
       Gsasl_property prop,
       const char *type)
{
    if (s->cb_type == NULL || strcmp(s->cb_type, type) != 0)
        return GSASL_NO_CALLBACK;
    return sasl__gsasl_set_b64(gs, prop, s->cb_data, s->cb_len);
}

int
sasl__gsasl_cb(Gsasl *ctx, Gsasl_session *gs, Gsasl_property prop)
{
    (void)ctx;
    const struct sasl_session *s = gs ? gsasl_session_hook_get(gs) : NULL;
    if (s == NULL || s->mech == NULL || s->mech->kind != SASL_KIND_SCRAM)
        return GSASL_NO_CALLBACK;
    enum sasl_hash h = s->mech->hash;
    char iter[16];
    /* GNU SASL's header calls the keys hex; they are base64, as is the
     * salt (DEPENDENCIES.md, gotcha 3). */
    switch (prop) {
    case GSASL_SCRAM_ITER:
        snprintf(iter, sizeof iter, "%u", s->creds.iterations);
        return gsasl_property_set(gs, prop, iter);
    case GSASL_SCRAM_SALT:
        return sasl__gsasl_set_b64(gs, prop, s->creds.salt, s->creds.salt_len);
    case GSASL_SCRAM_STOREDKEY:
        return sasl__gsasl_set_b64(gs, prop, sasl__creds_stored(&s->creds, h),
                                   sasl__hash_len(h));
    case GSASL_SCRAM_SERVERKEY:
        return sasl__gsasl_set_b64(gs, prop, sasl__creds_server(&s->creds, h),
                                   sasl__hash_len(h));
    case GSASL_CB_TLS_UNIQUE:
        return set_cb(s, gs, prop, "tls-unique");
    case GSASL_CB_TLS_EXPORTER:
        return set_cb(s, gs, prop, "tls-exporter");
    default:
        /* Never a password: GNU SASL must use the stored keys. */
        return GSASL_NO_CALLBACK;
    }
}
