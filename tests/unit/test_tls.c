/* SPDX-License-Identifier: MIT */
/* test_tls.c -- unit tests for TLS over memory BIOs, certificates, bindings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "tls/tls.h"
#include "tls/tls_int.h"

#define OUT_MAX  ((size_t)256 * 1024)
#define GOT_MAX  ((size_t)4 * 1024 * 1024)
#define PATH_LEN 512
#define MIB      ((size_t)1024 * 1024)

/* ------------------------------------------------------------------ */
/* Test certificates, made at group setup in a temporary directory.    */

struct fx {
    char dir[64];
    X509 *ca;
    EVP_PKEY *ca_key;
    X509 *rogue; /* a CA the contexts do not trust */
    EVP_PKEY *rogue_key;
    long serial;
};

/* What one leaf certificate looks like. */
struct spec {
    const char *stem; /* files <stem>.crt and <stem>.key */
    const char *cn;
    const char *san; /* X509V3 configuration syntax */
    const char *eku;
    long from_days;    /* notBefore, relative to now */
    long to_days;      /* notAfter, relative to now */
    bool rogue;        /* issued by the untrusted CA */
    bool bad_xmppaddr; /* append an xmppAddr that is not UTF-8 */
};

static void
fx_path(const struct fx *f, const char *stem, const char *ext, char *out)
{
    snprintf(out, PATH_LEN, "%s/%s%s", f->dir, stem, ext);
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* Append an id-on-xmppAddr whose UTF8String holds invalid UTF-8: the
 * configuration syntax cannot produce one. */
static void
add_bad_xmppaddr(X509 *x)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    assert_non_null(gens);
    ASN1_TYPE *val = ASN1_TYPE_new();
    ASN1_UTF8STRING *s = ASN1_UTF8STRING_new();
    assert_int_equal(ASN1_STRING_set(s, "bad\xff\xfe.example", -1), 1);
    ASN1_TYPE_set(val, V_ASN1_UTF8STRING, s);
    GENERAL_NAME *g = GENERAL_NAME_new();
    assert_int_equal(
        GENERAL_NAME_set0_othername(g, OBJ_nid2obj(NID_XmppAddr), val), 1);
    assert_true(sk_GENERAL_NAME_push(gens, g) > 0);
    assert_int_equal(
        X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_REPLACE),
        1);
    GENERAL_NAMES_free(gens);
}

/* A certificate for key; self-signed when issuer is NULL. */
static X509 *
make_cert(struct fx *f,
          EVP_PKEY *key,
          const struct spec *sp,
          X509 *issuer,
          EVP_PKEY *ikey)
{
    X509 *x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), ++f->serial),
                     1);
    assert_non_null(
        X509_gmtime_adj(X509_getm_notBefore(x), sp->from_days * 86400L));
    assert_non_null(
        X509_gmtime_adj(X509_getm_notAfter(x), sp->to_days * 86400L));
    X509_NAME *name = X509_get_subject_name(x);
    if (sp->cn != NULL)
        assert_int_equal(X509_NAME_add_entry_by_txt(
                             name, "CN", MBSTRING_UTF8,
                             (const unsigned char *)sp->cn, -1, -1, 0),
                         1);
    assert_int_equal(
        X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name),
        1);
    assert_int_equal(X509_set_pubkey(x, key), 1);
    X509 *iss = issuer ? issuer : x;
    if (issuer == NULL) {
        add_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(x, iss, NID_key_usage, "critical,digitalSignature");
    }
    add_ext(x, iss, NID_subject_key_identifier, "hash");
    if (sp->eku != NULL)
        add_ext(x, iss, NID_ext_key_usage, sp->eku);
    if (sp->san != NULL)
        add_ext(x, iss, NID_subject_alt_name, sp->san);
    if (sp->bad_xmppaddr)
        add_bad_xmppaddr(x);
    assert_true(X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0);
    return x;
}

static void
write_pem(const char *path, EVP_PKEY *key, X509 *x)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    if (key != NULL)
        assert_int_equal(
            PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL), 1);
    if (x != NULL)
        assert_int_equal(PEM_write_X509(fp, x), 1);
    assert_int_equal(fclose(fp), 0);
}

/* Make a leaf per spec and write <stem>.crt and <stem>.key. */
static void
make_leaf(struct fx *f, const struct spec *sp)
{
    char path[PATH_LEN];
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    X509 *x = sp->rogue ? make_cert(f, key, sp, f->rogue, f->rogue_key)
                        : make_cert(f, key, sp, f->ca, f->ca_key);
    fx_path(f, sp->stem, ".crt", path);
    write_pem(path, NULL, x);
    fx_path(f, sp->stem, ".key", path);
    write_pem(path, key, NULL);
    X509_free(x);
    EVP_PKEY_free(key);
}

#define EKU_BOTH "serverAuth,clientAuth"
#define YEAR     .from_days = -1, .to_days = 365

static const struct spec leaves[] = {
    {.stem = "a",
     .cn = "a.example",
     .san = "DNS:a.example",
     .eku = EKU_BOTH,
     YEAR},
    {.stem = "b",
     .cn = "b.example",
     .san = "DNS:b.example",
     .eku = EKU_BOTH,
     YEAR},
    {.stem = "client",
     .cn = "client.example",
     .san = "DNS:client.example,"
            "otherName:1.3.6.1.5.5.7.8.5;UTF8:client.example",
     .eku = EKU_BOTH,
     YEAR},
    {.stem = "untrusted",
     .cn = "untrusted.example",
     .san = "DNS:untrusted.example",
     .eku = EKU_BOTH,
     .rogue = true,
     YEAR},
    {.stem = "expired",
     .cn = "expired.example",
     .san = "DNS:expired.example",
     .eku = EKU_BOTH,
     .from_days = -30,
     .to_days = -1},
    {.stem = "srvonly",
     .cn = "srvonly.example",
     .san = "DNS:srvonly.example",
     .eku = "serverAuth",
     YEAR},
    {.stem = "noeku", .cn = "noeku.example", .san = "DNS:noeku.example", YEAR},
    /* Every kind of SAN entry, some malformed, and a CN that must not
     * count. */
    {.stem = "ids",
     .cn = "cn-only.example",
     .san = "DNS:IDS.Example,DNS:*.wild.example,"
            "otherName:1.3.6.1.5.5.7.8.5;UTF8:ids.example,"
            "otherName:1.3.6.1.5.5.7.8.5;UTF8:user@ids.example,"
            "otherName:1.3.6.1.5.5.7.8.7;IA5:_xmpp-server.ids.example,"
            "email:admin@ids.example,URI:xmpp:ids.example,IP:127.0.0.9,"
            "DNS:bad name.example,"
            "otherName:1.3.6.1.5.5.7.8.5;IA5:wrongtype.example,"
            "otherName:1.3.6.1.5.5.7.8.7;IA5:noservice.example",
     .eku = EKU_BOTH,
     .bad_xmppaddr = true,
     YEAR},
    {.stem = "cnonly", .cn = "cnonly.example", .eku = EKU_BOTH, YEAR},
};

static int
group_setup(void **state)
{
    struct fx *f = x_calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/xmux-tls-XXXXXX",
             tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    const struct spec ca = {
        .stem = "ca", .cn = "xmux test CA", .to_days = 3650};
    f->ca_key = EVP_EC_gen("P-256");
    f->ca = make_cert(f, f->ca_key, &ca, NULL, NULL);
    char path[PATH_LEN];
    fx_path(f, "ca", ".pem", path);
    write_pem(path, NULL, f->ca);
    const struct spec rogue = {
        .stem = "rogue", .cn = "rogue CA", .to_days = 3650};
    f->rogue_key = EVP_EC_gen("P-256");
    f->rogue = make_cert(f, f->rogue_key, &rogue, NULL, NULL);
    for (size_t i = 0; i < sizeof leaves / sizeof leaves[0]; i++)
        make_leaf(f, &leaves[i]);
    *state = f;
    return 0;
}

static int
group_teardown(void **state)
{
    struct fx *f = *state;
    DIR *d = opendir(f->dir);
    if (d != NULL) {
        const struct dirent *e;
        char path[PATH_LEN];
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", f->dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(f->dir);
    X509_free(f->ca);
    X509_free(f->rogue);
    EVP_PKEY_free(f->ca_key);
    EVP_PKEY_free(f->rogue_key);
    x_free(f);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Contexts and pumping two sessions against each other.               */

/* A context trusting the test CA and serving the given hosts, each from
 * <stem>.crt/.key: pairs of (domain, stem), NULL-terminated. */
static struct tls_ctx *
ctx_make(const struct fx *f, const char *const *hosts)
{
    char ca[PATH_LEN];
    char crt[PATH_LEN];
    char key[PATH_LEN];
    struct buf err;
    buf_init(&err, 1024);
    fx_path(f, "ca", ".pem", ca);
    struct tls_ctx *ctx = tls_ctx_new(ca, &err);
    if (ctx == NULL)
        fail_msg("tls_ctx_new: %s", buf_ptr(&err));
    for (size_t i = 0; hosts && hosts[i]; i += 2) {
        fx_path(f, hosts[i + 1], ".crt", crt);
        fx_path(f, hosts[i + 1], ".key", key);
        if (tls_ctx_add_host(ctx, hosts[i], crt, key, &err) != 0)
            fail_msg("tls_ctx_add_host: %s", buf_ptr(&err));
    }
    buf_fini(&err);
    return ctx;
}

static struct tls_ctx *
server_ctx(const struct fx *f)
{
    static const char *const hosts[] = {"a.example", "a", "b.example", "b",
                                        NULL};
    return ctx_make(f, hosts);
}

/* One end of a connection and what it has received. */
struct side {
    struct tls_conn *t;
    struct buf got;
    int rc; /* first error from feed or read */
};

static void
side_fini(struct side *s)
{
    tls_conn_free(s->t);
    buf_fini(&s->got);
}

/* Read until nothing is left, as the I/O layer does. */
static void
drain(struct side *s)
{
    char tmp[8192];
    size_t n = 0;
    do {
        int rc = tls_conn_read(s->t, tmp, sizeof tmp, &n);
        if (rc != 0) {
            if (s->rc == 0)
                s->rc = rc;
            return;
        }
        assert_int_equal(buf_append(&s->got, tmp, n), 0);
    } while (n > 0);
}

static bool
xfer(struct side *from, struct side *to)
{
    struct buf *o = tls_conn_out(from->t);
    size_t n = buf_len(o);
    if (n == 0)
        return false;
    int rc = tls_conn_feed(to->t, buf_ptr(o), n);
    buf_consume(o, n);
    if (rc != 0 && to->rc == 0)
        to->rc = rc;
    if (tls_conn_ready(to->t))
        drain(to);
    return true;
}

/* Move ciphertext both ways until neither side has anything to send. */
static void
pump(struct side *c, struct side *s)
{
    for (int i = 0; i < 10000; i++) {
        bool a = xfer(c, s);
        bool b = xfer(s, c);
        if (!a && !b)
            return;
    }
    fail_msg("the sessions never went quiet");
}

/* How to set up a pair of sessions. */
struct pair_opt {
    const char *sni;         /* client default_host */
    const char *srv_default; /* server default_host */
    const char *calpn;
    const char *salpn;
    const char *client_cert; /* client: local host whose cert it shows */
    struct tls_conn_opt copt;
    size_t out_max; /* 0: OUT_MAX */
};

static void
pair_start(struct side *c,
           struct side *s,
           struct tls_ctx *cctx,
           struct tls_ctx *sctx,
           const struct pair_opt *o)
{
    size_t out_max = o->out_max ? o->out_max : OUT_MAX;
    memset(c, 0, sizeof *c);
    memset(s, 0, sizeof *s);
    buf_init(&c->got, GOT_MAX);
    buf_init(&s->got, GOT_MAX);
    c->t = tls__conn_new_opt(cctx, TLS_CLIENT, o->sni, o->calpn, OUT_MAX,
                             &o->copt);
    s->t = tls_conn_new(sctx, TLS_SERVER, o->srv_default, o->salpn, out_max);
    assert_non_null(c->t);
    assert_non_null(s->t);
    if (o->client_cert != NULL)
        assert_int_equal(tls_conn_set_client_cert(c->t, o->client_cert), 0);
}

/* Start and pump; both handshakes must succeed. */
static void
pair_connect(struct side *c,
             struct side *s,
             struct tls_ctx *cctx,
             struct tls_ctx *sctx,
             const struct pair_opt *o)
{
    pair_start(c, s, cctx, sctx, o);
    pump(c, s);
    if (c->rc != 0 || s->rc != 0)
        fail_msg("handshake: client %s (%s), server %s (%s)", xerr_name(c->rc),
                 tls_conn_error(c->t), xerr_name(s->rc), tls_conn_error(s->t));
    assert_true(tls_conn_ready(c->t));
    assert_true(tls_conn_ready(s->t));
}

/* Does ids hold an identity of this type and value? */
static bool
has_id(const struct tls_identities *ids,
       enum tls_id_type type,
       const char *value)
{
    for (size_t i = 0; i < ids->n; i++)
        if (ids->v[i].type == type && strcmp(ids->v[i].value, value) == 0)
            return true;
    return false;
}

/* The peer certificate of t carries dNSName dns. */
static void
assert_peer_dns(const struct tls_conn *t, const char *dns)
{
    struct tls_identities ids;
    assert_int_equal(tls_conn_peer_identities(t, 16, &ids), 0);
    if (!has_id(&ids, TLS_ID_DNS, dns))
        fail_msg("peer certificate lacks DNS:%s", dns);
    tls_identities_fini(&ids);
}

/* ------------------------------------------------------------------ */
/* Handshakes.                                                          */

static void
test_tls_13_handshake_and_data(void **state)
{
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, NULL);
    struct side c;
    struct side s;
    struct pair_opt o = {.sni = "a.example"};
    pair_connect(&c, &s, cctx, sctx, &o);
    assert_true(tls_conn_is_13(c.t));
    assert_true(tls_conn_is_13(s.t));
    assert_string_equal(tls_conn_version(s.t), "TLSv1.3");
    assert_string_equal(tls_conn_cipher(s.t), "TLS_AES_128_GCM_SHA256");
    assert_string_equal(tls_conn_host(s.t), "a.example");
    assert_string_equal(tls_conn_sni(s.t), "a.example");
    assert_null(tls_conn_alpn(s.t));
    /* The client checked the server's chain; the server saw no cert. */
    assert_true(tls_conn_peer(c.t)->present);
    assert_true(tls_conn_peer(c.t)->verified);
    assert_false(tls_conn_peer(s.t)->present);
    assert_false(tls_conn_peer(s.t)->verified);
    struct tls_identities ids;
    assert_int_equal(tls_conn_peer_identities(s.t, 8, &ids), XE_NOTFOUND);
    assert_int_equal(ids.n, 0);
    assert_peer_dns(c.t, "a.example");
    assert_int_equal(tls_conn_write(c.t, "<presence/>", 11), 0);
    assert_int_equal(tls_conn_write(s.t, "<message/>", 10), 0);
    pump(&c, &s);
    assert_int_equal(buf_len(&s.got), 11);
    assert_memory_equal(buf_ptr(&s.got), "<presence/>", 11);
    assert_int_equal(buf_len(&c.got), 10);
    assert_memory_equal(buf_ptr(&c.got), "<message/>", 10);
    assert_string_equal(tls_conn_error(s.t), "");
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

static void
test_tls_12_handshake(void **state)
{
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, NULL);
    struct side c;
    struct side s;
    struct pair_opt o = {.sni = "a.example",
                         .copt = {.max_version = TLS1_2_VERSION}};
    pair_connect(&c, &s, cctx, sctx, &o);
    assert_false(tls_conn_is_13(c.t));
    assert_false(tls_conn_is_13(s.t));
    assert_string_equal(tls_conn_version(s.t), "TLSv1.2");
    assert_string_equal(tls_conn_cipher(s.t), "ECDHE-ECDSA-AES128-GCM-SHA256");
    assert_true(tls_conn_peer(c.t)->verified);
    assert_int_equal(tls_conn_write(c.t, "ping", 4), 0);
    pump(&c, &s);
    assert_int_equal(buf_len(&s.got), 4);
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* CORE-24: the client sends SNI = stream 'to'; the server picks that
 * host's certificate, case-insensitively and ignoring a trailing dot. */
static void
test_tls_CORE_24_sni_selects_host(void **state)
{
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, NULL);
    struct side c;
    struct side s;
    struct pair_opt o = {.sni = "B.Example.", .srv_default = "a.example"};
    pair_connect(&c, &s, cctx, sctx, &o);
    assert_string_equal(tls_conn_host(s.t), "b.example");
    assert_string_equal(tls_conn_sni(s.t), "B.Example.");
    assert_string_equal(tls_conn_sni(c.t), "B.Example.");
    assert_peer_dns(c.t, "b.example");
    side_fini(&c);
    side_fini(&s);
    /* An unknown name gets the first host's certificate. */
    struct pair_opt u = {.sni = "unknown.example"};
    pair_connect(&c, &s, cctx, sctx, &u);
    assert_string_equal(tls_conn_host(s.t), "a.example");
    assert_string_equal(tls_conn_sni(s.t), "unknown.example");
    assert_peer_dns(c.t, "a.example");
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* STARTTLS: the stream 'to' is known before TLS and chooses the
 * certificate when the client sends no SNI. */
static void
test_tls_starttls_default_host_without_sni(void **state)
{
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, NULL);
    struct side c;
    struct side s;
    struct pair_opt o = {.srv_default = "b.example"};
    pair_connect(&c, &s, cctx, sctx, &o);
    assert_null(tls_conn_sni(s.t));
    assert_string_equal(tls_conn_host(s.t), "b.example");
    assert_peer_dns(c.t, "b.example");
    side_fini(&c);
    side_fini(&s);
    /* Unknown default and no SNI: the first host. */
    struct pair_opt u = {.srv_default = "nowhere.example"};
    pair_connect(&c, &s, cctx, sctx, &u);
    assert_string_equal(tls_conn_host(s.t), "a.example");
    assert_peer_dns(c.t, "a.example");
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* CORE-23: Direct TLS with ALPN (XEP-0368). */
static void
test_tls_CORE_23_alpn(void **state)
{
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, NULL);
    struct side c;
    struct side s;
    struct pair_opt o = {
        .sni = "a.example", .calpn = "xmpp-server", .salpn = "xmpp-server"};
    pair_connect(&c, &s, cctx, sctx, &o);
    assert_string_equal(tls_conn_alpn(s.t), "xmpp-server");
    assert_string_equal(tls_conn_alpn(c.t), "xmpp-server");
    side_fini(&c);
    side_fini(&s);
    /* No ALPN offered: accepted, nothing negotiated. */
    struct pair_opt none = {.sni = "a.example", .salpn = "xmpp-client"};
    pair_connect(&c, &s, cctx, sctx, &none);
    assert_null(tls_conn_alpn(s.t));
    assert_null(tls_conn_alpn(c.t));
    side_fini(&c);
    side_fini(&s);
    /* STARTTLS server (alpn NULL) ignores the client's offer. */
    struct pair_opt st = {.sni = "a.example", .calpn = "xmpp-client"};
    pair_connect(&c, &s, cctx, sctx, &st);
    assert_null(tls_conn_alpn(s.t));
    assert_null(tls_conn_alpn(c.t));
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

static void
test_tls_CORE_23_alpn_mismatch_fails(void **state)
{
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, NULL);
    struct side c;
    struct side s;
    struct pair_opt o = {
        .sni = "a.example", .calpn = "xmpp-client", .salpn = "xmpp-server"};
    pair_start(&c, &s, cctx, sctx, &o);
    pump(&c, &s);
    assert_int_equal(s.rc, XE_TLS);
    assert_int_equal(c.rc, XE_TLS); /* it received the alert */
    assert_false(tls_conn_ready(s.t));
    assert_false(tls_conn_ready(c.t));
    assert_non_null(strstr(tls_conn_error(s.t), "no application protocol"));
    assert_non_null(strstr(tls_conn_error(c.t), "no application protocol"));
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* ------------------------------------------------------------------ */
/* Client certificates (D-10).                                          */

/* Connect with the client showing the certificate in <stem>.crt, served
 * as domain, and return the server's view of it. */
static struct tls_peer
client_cert_peer(void **state,
                 const char *domain,
                 const char *stem,
                 int max_version)
{
    const char *const hosts[] = {domain, stem, NULL};
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, hosts);
    struct side c;
    struct side s;
    struct pair_opt o = {.sni = "a.example",
                         .client_cert = domain,
                         .copt = {.max_version = max_version}};
    pair_connect(&c, &s, cctx, sctx, &o);
    struct tls_peer p = *tls_conn_peer(s.t);
    /* Whatever the verdict, the session carries data. */
    assert_int_equal(tls_conn_write(c.t, "x", 1), 0);
    pump(&c, &s);
    assert_int_equal(buf_len(&s.got), 1);
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
    return p;
}

static void
test_tls_client_cert_valid(void **state)
{
    for (int v = 0; v <= 1; v++) {
        struct tls_peer p = client_cert_peer(state, "client.example", "client",
                                             v ? TLS1_2_VERSION : 0);
        assert_true(p.present);
        assert_true(p.verified);
        assert_int_equal(p.verify_error, X509_V_OK);
        assert_true(p.client_auth_eku);
    }
}

static void
test_tls_SEC_25_untrusted_client_cert(void **state)
{
    struct tls_peer p =
        client_cert_peer(state, "untrusted.example", "untrusted", 0);
    assert_true(p.present);
    assert_false(p.verified);
    assert_int_equal(p.verify_error,
                     X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    assert_string_equal(tls_verify_error_str(p.verify_error),
                        "unable to get local issuer certificate");
}

static void
test_tls_SEC_25_expired_client_cert(void **state)
{
    struct tls_peer p =
        client_cert_peer(state, "expired.example", "expired", TLS1_2_VERSION);
    assert_true(p.present);
    assert_false(p.verified);
    assert_int_equal(p.verify_error, X509_V_ERR_CERT_HAS_EXPIRED);
}

/* SEC-22 / D-10: the EKU is reported, not enforced. */
static void
test_tls_SEC_22_client_eku_reported(void **state)
{
    struct tls_peer p =
        client_cert_peer(state, "srvonly.example", "srvonly", 0);
    assert_true(p.present);
    assert_true(p.verified);
    assert_false(p.client_auth_eku);
    p = client_cert_peer(state, "noeku.example", "noeku", 0);
    assert_true(p.verified);
    assert_true(p.client_auth_eku);
}

/* The client presents default_host's certificate when it serves it, and
 * tls_conn_set_client_cert refuses what it cannot do. */
static void
test_tls_client_cert_selection(void **state)
{
    static const char *const hosts[] = {"client.example", "client", NULL};
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, hosts);
    struct side c;
    struct side s;
    struct pair_opt o = {.sni = "client.example"};
    pair_connect(&c, &s, cctx, sctx, &o);
    assert_true(tls_conn_peer(s.t)->verified);
    assert_peer_dns(s.t, "client.example");
    assert_int_equal(tls_conn_set_client_cert(c.t, "other.example"),
                     XE_NOTFOUND);
    assert_int_equal(tls_conn_set_client_cert(s.t, "client.example"),
                     XE_NOTFOUND);
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* ------------------------------------------------------------------ */
/* Identities (§5.2, §5.6).                                             */

static void
test_tls_identities_from_san_only(void **state)
{
    static const char *const hosts[] = {"ids.example", "ids", NULL};
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, hosts);
    struct side c;
    struct side s;
    struct pair_opt o = {.sni = "a.example", .client_cert = "ids.example"};
    pair_connect(&c, &s, cctx, sctx, &o);
    struct tls_identities ids;
    assert_int_equal(tls_conn_peer_identities(s.t, 64, &ids), 0);
    assert_false(ids.truncated);
    assert_int_equal(ids.n, 5);
    assert_true(has_id(&ids, TLS_ID_DNS, "ids.example")); /* lower-cased */
    assert_true(has_id(&ids, TLS_ID_DNS, "*.wild.example"));
    assert_true(has_id(&ids, TLS_ID_XMPPADDR, "ids.example"));
    assert_true(has_id(&ids, TLS_ID_XMPPADDR, "user@ids.example"));
    assert_true(has_id(&ids, TLS_ID_SRV, "_xmpp-server.ids.example"));
    /* SEC-05: e-mail, URI and IP are ignored; malformed entries are
     * skipped; the CN never counts. */
    for (size_t i = 0; i < ids.n; i++) {
        assert_null(strstr(ids.v[i].value, "cn-only"));
        assert_null(strstr(ids.v[i].value, "admin"));
        assert_null(strstr(ids.v[i].value, "wrongtype"));
        assert_null(strstr(ids.v[i].value, "noservice"));
        assert_null(strstr(ids.v[i].value, "bad"));
    }
    tls_identities_fini(&ids);
    tls_identities_fini(&ids); /* idempotent */
    assert_int_equal(tls_conn_peer_identities(s.t, 2, &ids), 0);
    assert_int_equal(ids.n, 2);
    assert_true(ids.truncated);
    tls_identities_fini(&ids);
    assert_int_equal(tls_conn_peer_identities(s.t, 5, &ids), 0);
    assert_int_equal(ids.n, 5);
    assert_false(ids.truncated);
    tls_identities_fini(&ids);
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* SEC-02: a certificate with only a subject CN has no identities. */
static void
test_tls_SEC_02_cn_only_cert_has_no_identities(void **state)
{
    static const char *const hosts[] = {"cnonly.example", "cnonly", NULL};
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, hosts);
    struct side c;
    struct side s;
    struct pair_opt o = {.sni = "a.example", .client_cert = "cnonly.example"};
    pair_connect(&c, &s, cctx, sctx, &o);
    assert_true(tls_conn_peer(s.t)->present);
    struct tls_identities ids;
    assert_int_equal(tls_conn_peer_identities(s.t, 64, &ids), 0);
    assert_int_equal(ids.n, 0);
    assert_false(ids.truncated);
    tls_identities_fini(&ids);
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* ------------------------------------------------------------------ */
/* Channel binding.                                                     */

static void
assert_same_binding(const struct side *c,
                    const struct side *s,
                    const char *type,
                    size_t want_len)
{
    unsigned char a[TLS_CB_MAX];
    unsigned char b[TLS_CB_MAX];
    size_t na = 0;
    size_t nb = 0;
    assert_int_equal(tls_conn_channel_binding(c->t, type, a, &na), 0);
    assert_int_equal(tls_conn_channel_binding(s->t, type, b, &nb), 0);
    assert_int_equal(na, want_len);
    assert_int_equal(nb, want_len);
    assert_memory_equal(a, b, na);
}

static void
assert_no_binding(const struct side *x, const char *type)
{
    unsigned char a[TLS_CB_MAX];
    size_t n = 99;
    assert_int_equal(tls_conn_channel_binding(x->t, type, a, &n), XE_NOTFOUND);
    assert_int_equal(n, 0);
}

static void
test_tls_channel_binding_13(void **state)
{
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, NULL);
    struct side c;
    struct side s;
    struct pair_opt o = {.sni = "a.example"};
    pair_start(&c, &s, cctx, sctx, &o);
    assert_no_binding(&c, "tls-exporter"); /* not before the handshake */
    pump(&c, &s);
    assert_same_binding(&c, &s, "tls-exporter", 32);
    assert_no_binding(&c, "tls-unique");
    assert_no_binding(&s, "tls-unique");
    assert_no_binding(&s, "tls-server-end-point");
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* tls-unique is the first Finished: the client's in a full handshake,
 * the server's in an abbreviated one. */
static void
test_tls_channel_binding_12_full_and_resumed(void **state)
{
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, NULL);
    struct side c;
    struct side s;
    struct pair_opt o = {.sni = "a.example",
                         .copt = {.max_version = TLS1_2_VERSION}};
    pair_connect(&c, &s, cctx, sctx, &o);
    assert_same_binding(&c, &s, "tls-unique", 12);
    assert_no_binding(&c, "tls-exporter");
    assert_no_binding(&s, "tls-exporter");
    unsigned char fin[TLS_CB_MAX];
    unsigned char cb[TLS_CB_MAX];
    size_t n = 0;
    assert_int_equal(SSL_get_finished(tls__conn_ssl(c.t), fin, sizeof fin), 12);
    assert_int_equal(tls_conn_channel_binding(s.t, "tls-unique", cb, &n), 0);
    assert_memory_equal(cb, fin, 12);
    o.copt.session = SSL_get1_session(tls__conn_ssl(c.t));
    assert_non_null(o.copt.session);
    /* OpenSSL drops the session of a connection freed without
     * close_notify (a truncation could have happened). */
    tls_conn_close(c.t);
    side_fini(&c);
    side_fini(&s);
    pair_connect(&c, &s, cctx, sctx, &o);
    assert_int_equal(SSL_session_reused(tls__conn_ssl(s.t)), 1);
    assert_int_equal(SSL_session_reused(tls__conn_ssl(c.t)), 1);
    assert_same_binding(&c, &s, "tls-unique", 12);
    assert_int_equal(SSL_get_finished(tls__conn_ssl(s.t), fin, sizeof fin), 12);
    assert_int_equal(tls_conn_channel_binding(c.t, "tls-unique", cb, &n), 0);
    assert_memory_equal(cb, fin, 12);
    SSL_SESSION_free(o.copt.session);
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* Tickets from one host resume on another (shared ticket keys), and a
 * resumed session keeps the verdict on the client certificate. */
static void
test_tls_13_resumption_keeps_peer_verdict(void **state)
{
    static const char *const hosts[] = {"client.example", "client", NULL};
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, hosts);
    struct side c;
    struct side s;
    struct pair_opt o = {.sni = "a.example", .client_cert = "client.example"};
    pair_connect(&c, &s, cctx, sctx, &o);
    /* The ticket arrived after the handshake and was read by drain. */
    o.copt.session = SSL_get1_session(tls__conn_ssl(c.t));
    tls_conn_close(c.t);
    side_fini(&c);
    assert_int_equal(SSL_SESSION_is_resumable(o.copt.session), 1);
    side_fini(&s);
    pair_connect(&c, &s, cctx, sctx, &o);
    assert_int_equal(SSL_session_reused(tls__conn_ssl(s.t)), 1);
    assert_true(tls_conn_peer(s.t)->present);
    assert_true(tls_conn_peer(s.t)->verified);
    assert_true(tls_conn_peer(s.t)->client_auth_eku);
    assert_same_binding(&c, &s, "tls-exporter", 32);
    SSL_SESSION_free(o.copt.session);
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* ------------------------------------------------------------------ */
/* Data, closing, errors and limits.                                    */

static void
fill_pattern(char *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)((i * 31 + seed) & 0xff);
}

/* Write total bytes from w to r in pieces of step, pumping between. */
static void
send_bulk(struct side *w,
          struct side *r,
          struct side *c,
          struct side *s,
          size_t total,
          size_t step)
{
    char *data = x_malloc(total);
    fill_pattern(data, total, 7);
    buf_reset(&r->got);
    for (size_t off = 0; off < total; off += step) {
        size_t k = total - off < step ? total - off : step;
        assert_int_equal(tls_conn_write(w->t, data + off, k), 0);
        pump(c, s);
    }
    assert_int_equal(buf_len(&r->got), total);
    assert_memory_equal(buf_ptr(&r->got), data, total);
    x_free(data);
}

static void
test_tls_data_1mib_both_ways(void **state)
{
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, NULL);
    struct side c;
    struct side s;
    struct pair_opt o = {.sni = "a.example", .out_max = (size_t)64 * 1024};
    pair_connect(&c, &s, cctx, sctx, &o);
    send_bulk(&c, &s, &c, &s, MIB, 10000);
    send_bulk(&s, &c, &c, &s, MIB, 40000);
    /* A burst of many records fed at once is read in several calls. */
    send_bulk(&s, &c, &c, &s, 60000, 60000);
    assert_int_equal(c.rc, 0);
    assert_int_equal(s.rc, 0);
    /* Once drained and quiet, the queues let go of the memory of the
     * bursts. */
    pump(&c, &s);
    tls_conn_hibernate(c.t);
    tls_conn_hibernate(s.t);
    assert_int_equal(tls_conn_out(c.t)->cap, 0);
    assert_int_equal(tls_conn_out(s.t)->cap, 0);
    assert_int_equal(SSL_has_pending(tls__conn_ssl(s.t)), 0);
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* An idle session gives its memory BIOs back and gets new ones as soon
 * as bytes move again, in either direction or for a close. */
static void
test_tls_hibernate_releases_bios(void **state)
{
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, NULL);
    struct side c;
    struct side s;
    struct pair_opt o = {.sni = "a.example"};
    pair_connect(&c, &s, cctx, sctx, &o);
    tls_conn_hibernate(s.t);
    tls_conn_hibernate(c.t);
    assert_null(SSL_get_rbio(tls__conn_ssl(s.t)));
    assert_null(SSL_get_wbio(tls__conn_ssl(s.t)));
    tls_conn_hibernate(s.t); /* twice is harmless */
    assert_int_equal(buf_len(tls_conn_out(s.t)), 0);
    assert_int_equal(tls_conn_write(c.t, "<presence/>", 11), 0);
    pump(&c, &s);
    assert_int_equal(buf_len(&s.got), 11);
    assert_memory_equal(buf_ptr(&s.got), "<presence/>", 11);
    tls_conn_hibernate(s.t);
    assert_int_equal(tls_conn_write(s.t, "<message/>", 10), 0);
    pump(&c, &s);
    assert_int_equal(buf_len(&c.got), 10);
    assert_memory_equal(buf_ptr(&c.got), "<message/>", 10);
    /* Half a record waits in the read BIO: the BIOs stay. */
    assert_int_equal(tls_conn_write(c.t, "<iq/>", 5), 0);
    struct buf *co = tls_conn_out(c.t);
    size_t n = buf_len(co);
    assert_int_equal(tls_conn_feed(s.t, buf_ptr(co), n / 2), 0);
    buf_consume(co, n / 2);
    tls_conn_hibernate(s.t);
    assert_non_null(SSL_get_rbio(tls__conn_ssl(s.t)));
    pump(&c, &s);
    assert_int_equal(buf_len(&s.got), 16);
    /* A close from hibernation still sends close_notify. */
    tls_conn_hibernate(s.t);
    tls_conn_close(s.t);
    pump(&c, &s);
    assert_int_equal(c.rc, XE_CLOSED);
    assert_int_equal(s.rc, 0);
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

static void
test_tls_write_before_handshake_is_held(void **state)
{
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, NULL);
    struct side c;
    struct side s;
    struct pair_opt o = {.sni = "a.example"};
    pair_start(&c, &s, cctx, sctx, &o);
    assert_int_equal(tls_conn_write(c.t, "<stream:stream>", 15), 0);
    assert_int_equal(tls_conn_write(s.t, "hello", 5), 0);
    assert_int_equal(tls_conn_write(s.t, " world", 6), 0);
    pump(&c, &s);
    assert_int_equal(buf_len(&s.got), 15);
    assert_memory_equal(buf_ptr(&s.got), "<stream:stream>", 15);
    assert_int_equal(buf_len(&c.got), 11);
    assert_memory_equal(buf_ptr(&c.got), "hello world", 11);
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* Held plaintext is bounded by out_max: at the limit, and one past. */
static void
test_tls_write_before_handshake_limit(void **state)
{
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_conn *t = tls_conn_new(sctx, TLS_SERVER, NULL, NULL, 1000);
    char data[1000];
    memset(data, 'x', sizeof data);
    assert_int_equal(tls_conn_write(t, data, 999), 0);
    assert_int_equal(tls_conn_write(t, data, 1), 0);
    assert_int_equal(tls_conn_write(t, data, 1), XE_LIMIT);
    tls_conn_free(t);
    tls_ctx_free(sctx);
}

static void
test_tls_close_notify(void **state)
{
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, NULL);
    struct side c;
    struct side s;
    struct pair_opt o = {.sni = "a.example"};
    pair_connect(&c, &s, cctx, sctx, &o);
    assert_int_equal(tls_conn_write(c.t, "</stream:stream>", 16), 0);
    tls_conn_close(c.t);
    pump(&c, &s);
    /* Data before the alert arrives, then XE_CLOSED, and it stays so. */
    assert_int_equal(buf_len(&s.got), 16);
    assert_int_equal(s.rc, XE_CLOSED);
    char tmp[16];
    size_t n = 99;
    assert_int_equal(tls_conn_read(s.t, tmp, sizeof tmp, &n), XE_CLOSED);
    assert_int_equal(n, 0);
    /* The server answers with its own close_notify. */
    tls_conn_close(s.t);
    pump(&c, &s);
    assert_int_equal(c.rc, XE_CLOSED);
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

static void
test_tls_garbage_ciphertext(void **state)
{
    static const char http[] = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_conn *t = tls_conn_new(sctx, TLS_SERVER, NULL, NULL, OUT_MAX);
    assert_int_equal(tls_conn_feed(t, http, sizeof http - 1), XE_TLS);
    assert_string_not_equal(tls_conn_error(t), "");
    assert_int_equal(tls_conn_feed(t, http, sizeof http - 1), XE_TLS);
    char tmp[64];
    size_t n = 0;
    assert_int_equal(tls_conn_read(t, tmp, sizeof tmp, &n), XE_TLS);
    assert_int_equal(tls_conn_write(t, "x", 1), XE_TLS);
    tls_conn_close(t);
    tls_conn_free(t);
    tls_ctx_free(sctx);
}

/* Garbage after the handshake: a record that fails to decrypt ends the
 * session with an alert for the peer. */
static void
test_tls_garbage_record_after_handshake(void **state)
{
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, NULL);
    struct side c;
    struct side s;
    struct pair_opt o = {.sni = "a.example"};
    pair_connect(&c, &s, cctx, sctx, &o);
    /* An application-data record header and junk in place of its body. */
    char rec[5 + 64] = {0x17, 0x03, 0x03, 0x00, 0x40};
    fill_pattern(rec + 5, 64, 3);
    assert_int_equal(tls_conn_feed(s.t, rec, sizeof rec), 0);
    char tmp[64];
    size_t n = 0;
    assert_int_equal(tls_conn_read(s.t, tmp, sizeof tmp, &n), XE_TLS);
    assert_int_equal(n, 0);
    assert_string_not_equal(tls_conn_error(s.t), "");
    assert_true(buf_len(tls_conn_out(s.t)) > 0); /* the alert */
    pump(&c, &s);
    assert_int_equal(c.rc, XE_TLS);
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* A full output queue gives XE_LIMIT, loses nothing, and the handshake
 * completes as the queue drains. */
static void
test_tls_output_limit(void **state)
{
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, NULL);
    struct side c;
    struct side s;
    struct pair_opt o = {.sni = "a.example", .out_max = 300};
    pair_start(&c, &s, cctx, sctx, &o);
    pump(&c, &s);
    assert_int_equal(s.rc, XE_LIMIT);
    assert_int_equal(c.rc, 0);
    assert_true(tls_conn_ready(c.t));
    assert_true(tls_conn_ready(s.t));
    /* Refused up front: the plaintext would not fit. */
    char data[400];
    memset(data, 'y', sizeof data);
    assert_int_equal(tls_conn_write(s.t, data, 301), XE_LIMIT);
    assert_int_equal(tls_conn_write(s.t, data, 300 - TLS_REC_OVERHEAD + 1),
                     XE_LIMIT);
    assert_int_equal(buf_len(tls_conn_out(s.t)), 0);
    assert_int_equal(tls_conn_write(s.t, data, 300 - TLS_REC_OVERHEAD), 0);
    assert_int_equal(tls_conn_write(s.t, data, 1), XE_LIMIT);
    pump(&c, &s);
    assert_int_equal(buf_len(&c.got), 300 - TLS_REC_OVERHEAD);
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* Ciphertext fed but never read is bounded too. */
static void
test_tls_input_limit(void **state)
{
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, NULL);
    struct side c;
    struct side s;
    struct pair_opt o = {.sni = "a.example"};
    pair_connect(&c, &s, cctx, sctx, &o);
    char *junk = x_calloc(1, TLS_IN_MAX);
    assert_int_equal(tls_conn_feed(s.t, junk, TLS_IN_MAX - 1), 0);
    assert_int_equal(tls_conn_feed(s.t, junk, 1), 0);
    assert_int_equal(tls_conn_feed(s.t, junk, 1), XE_LIMIT);
    x_free(junk);
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* SEC-20: renegotiation is refused. */
static void
test_tls_SEC_20_renegotiation_refused(void **state)
{
    struct tls_ctx *sctx = server_ctx(*state);
    struct tls_ctx *cctx = ctx_make(*state, NULL);
    struct side c;
    struct side s;
    struct pair_opt o = {.sni = "a.example",
                         .copt = {.max_version = TLS1_2_VERSION}};
    pair_connect(&c, &s, cctx, sctx, &o);
    SSL *cssl = tls__conn_ssl(c.t);
    /* Our own client refuses to start one at all. */
    assert_int_equal(SSL_renegotiate(cssl), 0);
    ERR_clear_error();
    SSL_clear_options(cssl, SSL_OP_NO_RENEGOTIATION);
    assert_int_equal(SSL_renegotiate(cssl), 1);
    (void)SSL_do_handshake(cssl);
    ERR_clear_error();
    pump(&c, &s);
    assert_int_equal(SSL_num_renegotiations(tls__conn_ssl(s.t)), 0);
    assert_int_equal(c.rc, XE_TLS);
    assert_non_null(strstr(tls_conn_error(c.t), "no renegotiation"));
    side_fini(&c);
    side_fini(&s);
    tls_ctx_free(cctx);
    tls_ctx_free(sctx);
}

/* ------------------------------------------------------------------ */
/* Contexts and self-signed certificates.                               */

static void
test_tls_add_host_errors(void **state)
{
    const struct fx *f = *state;
    char crt[PATH_LEN];
    char key[PATH_LEN];
    char other[PATH_LEN];
    char missing[PATH_LEN];
    struct buf err;
    buf_init(&err, 1024);
    fx_path(f, "a", ".crt", crt);
    fx_path(f, "a", ".key", key);
    fx_path(f, "b", ".key", other);
    fx_path(f, "missing", ".pem", missing);
    struct tls_ctx *ctx = tls_ctx_new(NULL, &err);
    assert_non_null(ctx);
    assert_int_equal(tls_ctx_add_host(ctx, "a.example", missing, key, &err),
                     XE_TLS);
    assert_non_null(strstr(buf_ptr(&err), missing));
    assert_non_null(strstr(buf_ptr(&err), "No such file or directory"));
    buf_reset(&err);
    assert_int_equal(tls_ctx_add_host(ctx, "a.example", crt, missing, &err),
                     XE_TLS);
    assert_non_null(strstr(buf_ptr(&err), missing));
    buf_reset(&err);
    assert_int_equal(tls_ctx_add_host(ctx, "a.example", crt, other, &err),
                     XE_TLS);
    assert_non_null(strstr(buf_ptr(&err), "mismatch"));
    assert_non_null(strstr(buf_ptr(&err), other));
    buf_reset(&err);
    assert_int_equal(tls_ctx_add_host(ctx, "A.Example.", crt, key, &err), 0);
    assert_int_equal(tls_ctx_add_host(ctx, "a.example", crt, key, &err),
                     XE_TLS);
    assert_int_equal(tls_ctx_add_host(ctx, ".", crt, key, &err), XE_TLS);
    tls_ctx_free(ctx);
    buf_reset(&err);
    assert_null(tls_ctx_new(missing, &err));
    assert_non_null(strstr(buf_ptr(&err), missing));
    tls_ctx_free(NULL);
    tls_conn_free(NULL);
    buf_fini(&err);
}

static void
assert_fingerprint(const char *fp)
{
    assert_int_equal(strlen(fp), 95);
    for (size_t i = 0; i < 95; i++) {
        char ch = fp[i];
        if (i % 3 == 2)
            assert_int_equal(ch, ':');
        else
            assert_true((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F'));
    }
}

/* The generated certificate: SAN, EKU, not a CA, and it loads. */
static void
check_selfsigned(const char *crt, const char *key)
{
    FILE *fp = fopen(crt, "r");
    assert_non_null(fp);
    X509 *x = PEM_read_X509(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(x);
    assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0), 1);
    assert_int_equal(X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, 0), 1);
    assert_int_equal(X509_check_ca(x), 0);
    assert_int_equal(X509_get_version(x), X509_VERSION_3);
    struct tls_identities ids;
    assert_int_equal(tls__cert_identities(x, 8, &ids), 0);
    assert_int_equal(ids.n, 1);
    assert_true(has_id(&ids, TLS_ID_DNS, "self.example"));
    tls_identities_fini(&ids);
    X509_free(x);
    struct buf err;
    buf_init(&err, 1024);
    struct tls_ctx *ctx = tls_ctx_new(NULL, &err);
    assert_int_equal(tls_ctx_add_host(ctx, "self.example", crt, key, &err), 0);
    tls_ctx_free(ctx);
    buf_fini(&err);
}

static void
test_tls_selfsigned_ensure(void **state)
{
    const struct fx *f = *state;
    char crt[PATH_LEN];
    char key[PATH_LEN];
    char fp[96];
    struct buf err;
    struct stat st;
    buf_init(&err, 1024);
    fx_path(f, "self", ".crt", crt);
    fx_path(f, "self", ".key", key);
    assert_int_equal(
        tls_selfsigned_ensure("self.example", crt, key, fp, sizeof fp, &err),
        1);
    assert_fingerprint(fp);
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    check_selfsigned(crt, key);
    /* Second call: found, nothing written. */
    fp[0] = '\0';
    assert_int_equal(
        tls_selfsigned_ensure("self.example", crt, key, fp, sizeof fp, &err),
        0);
    assert_string_equal(fp, "");
    /* Only the key left: an error naming it, and the key is kept. */
    assert_int_equal(unlink(crt), 0);
    assert_int_equal(
        tls_selfsigned_ensure("self.example", crt, key, fp, sizeof fp, &err),
        XE_TLS);
    assert_non_null(strstr(buf_ptr(&err), key));
    assert_int_equal(stat(key, &st), 0);
    unlink(key);
    buf_reset(&err);
    assert_int_equal(
        tls_selfsigned_ensure("bad,name", crt, key, fp, sizeof fp, &err),
        XE_TLS);
    assert_int_not_equal(stat(key, &st), 0);
    buf_fini(&err);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_13_handshake_and_data),
        cmocka_unit_test(test_tls_hibernate_releases_bios),
        cmocka_unit_test(test_tls_12_handshake),
        cmocka_unit_test(test_tls_CORE_24_sni_selects_host),
        cmocka_unit_test(test_tls_starttls_default_host_without_sni),
        cmocka_unit_test(test_tls_CORE_23_alpn),
        cmocka_unit_test(test_tls_CORE_23_alpn_mismatch_fails),
        cmocka_unit_test(test_tls_client_cert_valid),
        cmocka_unit_test(test_tls_SEC_25_untrusted_client_cert),
        cmocka_unit_test(test_tls_SEC_25_expired_client_cert),
        cmocka_unit_test(test_tls_SEC_22_client_eku_reported),
        cmocka_unit_test(test_tls_client_cert_selection),
        cmocka_unit_test(test_tls_identities_from_san_only),
        cmocka_unit_test(test_tls_SEC_02_cn_only_cert_has_no_identities),
        cmocka_unit_test(test_tls_channel_binding_13),
        cmocka_unit_test(test_tls_channel_binding_12_full_and_resumed),
        cmocka_unit_test(test_tls_13_resumption_keeps_peer_verdict),
        cmocka_unit_test(test_tls_data_1mib_both_ways),
        cmocka_unit_test(test_tls_write_before_handshake_is_held),
        cmocka_unit_test(test_tls_write_before_handshake_limit),
        cmocka_unit_test(test_tls_close_notify),
        cmocka_unit_test(test_tls_garbage_ciphertext),
        cmocka_unit_test(test_tls_garbage_record_after_handshake),
        cmocka_unit_test(test_tls_output_limit),
        cmocka_unit_test(test_tls_input_limit),
        cmocka_unit_test(test_tls_SEC_20_renegotiation_refused),
        cmocka_unit_test(test_tls_add_host_errors),
        cmocka_unit_test(test_tls_selfsigned_ensure),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
