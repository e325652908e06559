/* SPDX-License-Identifier: MIT */
/* test_dialback.c -- unit tests: dialback, keys, certificate matching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "dialback/dialback.h"
#include "stanza/stanza.h"
#include "tls/tls.h"
#include "tls/tls_int.h"
#include "xml/xml.h"

#include "ct_count.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

/* Build an identity list from "D:dns", "S:srv", "X:xmppaddr" strings,
 * ending with NULL. */
static struct tls_identities
ids_make(const char *const *spec)
{
    struct tls_identities ids;
    memset(&ids, 0, sizeof ids);
    size_t n = 0;
    while (spec[n] != NULL)
        n++;
    ids.v = x_calloc(n ? n : 1, sizeof *ids.v);
    for (size_t i = 0; i < n; i++) {
        switch (spec[i][0]) {
        case 'D':
            ids.v[i].type = TLS_ID_DNS;
            break;
        case 'S':
            ids.v[i].type = TLS_ID_SRV;
            break;
        default:
            ids.v[i].type = TLS_ID_XMPPADDR;
            break;
        }
        ids.v[i].value = x_strdup(spec[i] + 2);
    }
    ids.n = n;
    return ids;
}

/* Does a list of one identity cover domain for svc? */
static bool
one_covers(const char *spec, const char *domain, enum tls_match_service svc)
{
    const char *const v[] = {spec, NULL};
    struct tls_identities ids = ids_make(v);
    bool ok = tls_identities_cover(&ids, domain, svc);
    tls_identities_fini(&ids);
    return ok;
}

#define COVERS(spec, dom)     assert_true(one_covers(spec, dom, TLS_MATCH_S2S))
#define NO_COVER(spec, dom)   assert_false(one_covers(spec, dom, TLS_MATCH_S2S))
#define COVERS_C(spec, dom)   assert_true(one_covers(spec, dom, TLS_MATCH_C2S))
#define NO_COVER_C(spec, dom) assert_false(one_covers(spec, dom, TLS_MATCH_C2S))

/* Reads one depth-1 element from XML text after an s2s stream header. */
struct reader {
    struct stanza_builder b;
    struct stanza *st;
};

static int
rd_start(void *arg,
         unsigned depth,
         const struct xml_name *el,
         const struct xml_attr *attrs,
         size_t nattrs)
{
    struct reader *r = arg;
    stanza_builder_start(&r->b, depth, el, attrs, nattrs);
    return 0;
}

static int
rd_text(void *arg, unsigned depth, const char *s, size_t len)
{
    struct reader *r = arg;
    stanza_builder_text(&r->b, depth, s, len);
    return 0;
}

static int
rd_end(void *arg, unsigned depth)
{
    struct reader *r = arg;
    struct stanza *st = stanza_builder_end(&r->b, depth);
    if (st != NULL && r->st == NULL)
        r->st = st;
    else
        stanza_unref(st);
    return 0;
}

static const struct xml_handler rd_handler = {NULL, rd_start, rd_text, rd_end,
                                              NULL};

static const struct xml_limits rd_limits = {
    .max_depth = 16,
    .max_attrs = 16,
    .max_name = 1024,
    .max_text = 1 << 16,
    .max_stanza = 1 << 18,
};

#define S2S_HDR                                        \
    "<stream:stream xmlns='jabber:server' "            \
    "xmlns:stream='http://etherx.jabber.org/streams' " \
    "xmlns:db='jabber:server:dialback'>"

static struct stanza *
read_xml(const char *xml)
{
    struct reader r;
    memset(&r, 0, sizeof r);
    stanza_builder_init(&r.b);
    struct xml_reader *xr = xml_reader_new(&rd_limits, &rd_handler, &r);
    size_t used = 0;
    assert_int_equal(xml_reader_feed(xr, S2S_HDR, strlen(S2S_HDR), &used), 0);
    assert_int_equal(xml_reader_feed(xr, xml, strlen(xml), &used), 0);
    xml_reader_free(xr);
    stanza_builder_fini(&r.b);
    assert_non_null(r.st);
    return r.st;
}

/* Parse XML text with dialback_parse; returns its result code. */
static int
parse_xml(const char *xml, struct dialback_elem *e, enum stream_cond *sc)
{
    struct stanza *st = read_xml(xml);
    int rc = dialback_parse(st, e, sc);
    stanza_unref(st);
    return rc;
}

static const struct stanza_wctx s2s_wctx = {
    NS_SERVER, 2, {"stream", "db"}, {XML_NS_STREAM, NS_DIALBACK}};

/* Serialise st as on an s2s stream, compare with want, and free st. */
static void
assert_xml(struct stanza *st, const char *want)
{
    struct buf out;
    buf_init(&out, 1 << 16);
    assert_int_equal(stanza_write(st, &s2s_wctx, &out), 0);
    assert_string_equal(buf_ptr(&out), want);
    buf_fini(&out);
    stanza_unref(st);
}

static struct dialback_elem *
elem_new(void)
{
    return x_calloc(1, sizeof(struct dialback_elem));
}

/* A parsed db:result request (sender -> target) with key. */
static struct dialback_elem *
result_req(const char *sender, const char *target, const char *key)
{
    struct dialback_elem *e = elem_new();
    struct stanza *st =
        dialback_request(DIALBACK_RESULT, sender, target, NULL, key);
    enum stream_cond sc;
    assert_int_equal(dialback_parse(st, e, &sc), 0);
    stanza_unref(st);
    return e;
}

static const unsigned char SECRET[] = "s3cr3tf0rd14lb4ck";
#define SECRET_LEN (sizeof SECRET - 1)

/* ------------------------------------------------------------------ */
/* Certificate identity matching (RFC 9525, XEP-0178, MUX.md §5.2)     */

static void
test_match_dns_exact(void **state)
{
    (void)state;
    COVERS("D:example.com", "example.com");
    COVERS("D:EXAMPLE.Com", "example.com");
    COVERS("D:example.com", "EXAMPLE.COM");
    NO_COVER("D:example.com", "www.example.com");
    NO_COVER("D:www.example.com", "example.com");
    NO_COVER("D:example.com", "example.org");
    NO_COVER("D:example.com", "");
    NO_COVER("D:example.co", "example.com");
    NO_COVER("D:", "example.com");
    /* DNS-IDs count for both services. */
    COVERS_C("D:example.com", "example.com");
}

static void
test_match_trailing_dot(void **state)
{
    (void)state;
    COVERS("D:example.com.", "example.com");
    COVERS("D:*.example.com.", "a.example.com");
    COVERS("S:_xmpp-server.example.com.", "example.com");
    COVERS("X:example.com.", "example.com");
    NO_COVER("D:example.com..", "example.com");
}

static void
test_match_wildcard(void **state)
{
    (void)state;
    COVERS("D:*.example.com", "a.example.com");
    COVERS("D:*.capulet.example", "rooms.capulet.example");
    NO_COVER("D:*.example.com", "example.com");
    NO_COVER("D:*.example.com", "a.b.example.com");
    NO_COVER("D:*.example.com", "a.example.org");
    /* Fewer than two labels after the star. */
    NO_COVER("D:*.com", "example.com");
    NO_COVER("D:*", "example");
    NO_COVER("D:*.", "example.com");
    /* Two labels are enough (no public suffix list). */
    COVERS("D:*.co.uk", "example.co.uk");
    /* Partial-label wildcards and stars elsewhere. */
    NO_COVER("D:f*.example.com", "foo.example.com");
    NO_COVER("D:*o.example.com", "foo.example.com");
    NO_COVER("D:f*o.example.com", "foo.example.com");
    NO_COVER("D:a.*.example.com", "a.b.example.com");
    NO_COVER("D:*.*.example.com", "a.b.example.com");
    NO_COVER("D:**.example.com", "a.example.com");
    /* The pattern is not a literal domain either. */
    NO_COVER("D:*.example.com", "*.example.com");
}

static void
test_match_wildcard_fn(void **state)
{
    (void)state;
    assert_true(tls_wildcard_match("*.example.com", "a.example.com"));
    assert_false(tls_wildcard_match("*.example.com", "example.com"));
    assert_false(tls_wildcard_match("*.example.com", ".example.com"));
    assert_false(tls_wildcard_match("*.example.com", "a.b.example.com"));
    assert_false(tls_wildcard_match("example.com", "example.com"));
    assert_false(tls_wildcard_match(NULL, "a.example.com"));
    assert_false(tls_wildcard_match("*.example.com", NULL));
}

static void
test_match_idn(void **state)
{
    (void)state;
    /* bücher.example = xn--bcher-kva.example; café = xn--caf-dma. */
    COVERS("D:xn--bcher-kva.example", "xn--bcher-kva.example");
    COVERS("D:XN--BCHER-KVA.example", "xn--bcher-kva.example");
    COVERS("D:*.xn--bcher-kva.example", "xn--caf-dma.xn--bcher-kva.example");
    COVERS("D:*.example.com", "xn--caf-dma.example.com");
    NO_COVER("D:xn--bcher-kva.example", "bcher.example");
    /* A dNSName (IA5String) holds A-labels only: a U-label is malformed. */
    NO_COVER("D:b\303\274cher.example", "xn--bcher-kva.example");
    /* A partial wildcard inside an A-label. */
    NO_COVER("D:xn--*.example", "xn--bcher-kva.example");
    /* An XmppAddr is UTF-8 and is prepared to A-labels. */
    COVERS("X:b\303\274cher.example", "xn--bcher-kva.example");
    COVERS("X:B\303\234CHER.example", "xn--bcher-kva.example");
    COVERS("X:xn--bcher-kva.example", "xn--bcher-kva.example");
    COVERS("S:_xmpp-server.xn--bcher-kva.example", "xn--bcher-kva.example");
    /* An invalid A-label never matches. */
    NO_COVER("D:xn--zz.example", "xn--zz.example");
}

static void
test_match_srv(void **state)
{
    (void)state;
    COVERS("S:_xmpp-server.example.com", "example.com");
    NO_COVER_C("S:_xmpp-server.example.com", "example.com");
    COVERS_C("S:_xmpp-client.example.com", "example.com");
    NO_COVER("S:_xmpp-client.example.com", "example.com");
    NO_COVER("S:_xmpps-server.example.com", "example.com");
    NO_COVER("S:_xmpp-server.example.com", "a.example.com");
    NO_COVER("S:_xmpp-server.example.com", "_xmpp-server.example.com");
    NO_COVER("S:_xmpp-server.*.example.com", "a.example.com");
    NO_COVER("S:_xmpp-server.", "example.com");
    NO_COVER("S:_xmpp-server", "example.com");
    /* An SRV-ID is no DNS-ID and the reverse. */
    NO_COVER("D:_xmpp-server.example.com", "example.com");
    NO_COVER("S:example.com", "example.com");
}

static void
test_match_xmppaddr(void **state)
{
    (void)state;
    COVERS("X:example.com", "example.com");
    COVERS("X:Example.COM", "example.com");
    COVERS_C("X:example.com", "example.com");
    /* A JID with a localpart or resourcepart names an account. */
    NO_COVER("X:user@example.com", "example.com");
    NO_COVER("X:@example.com", "example.com");
    NO_COVER("X:example.com/res", "example.com");
    NO_COVER("X:user@example.com/res", "example.com");
    /* Never a wildcard. */
    NO_COVER("X:*.example.com", "a.example.com");
    NO_COVER("X:example.com", "a.example.com");
}

static void
test_match_not_mux_domains(void **state)
{
    (void)state;
    /* MUX.md §3.3: single labels and IP literals are never covered. */
    NO_COVER("D:localhost", "localhost");
    NO_COVER("D:127.0.0.1", "127.0.0.1");
    NO_COVER("X:[::1]", "[::1]");
    NO_COVER("D:under_score.example", "under_score.example");
    char big[300];
    memset(big, 'a', sizeof big);
    for (size_t i = 60; i < sizeof big - 1; i += 61)
        big[i] = '.';
    big[sizeof big - 1] = '\0';
    char spec[310];
    snprintf(spec, sizeof spec, "D:%s", big);
    NO_COVER(spec, big); /* 299 octets > 253 */
}

static void
test_match_many_and_null(void **state)
{
    (void)state;
    const char *const v[] = {
        "D:a.example",   "X:user@b.example", "S:_xmpp-client.c.example",
        "D:*.d.example", "X:e.example",      NULL};
    struct tls_identities ids = ids_make(v);
    assert_true(tls_identities_cover(&ids, "a.example", TLS_MATCH_S2S));
    assert_false(tls_identities_cover(&ids, "b.example", TLS_MATCH_S2S));
    assert_false(tls_identities_cover(&ids, "c.example", TLS_MATCH_S2S));
    assert_true(tls_identities_cover(&ids, "c.example", TLS_MATCH_C2S));
    assert_true(tls_identities_cover(&ids, "x.d.example", TLS_MATCH_S2S));
    assert_true(tls_identities_cover(&ids, "e.example", TLS_MATCH_S2S));
    assert_false(tls_identities_cover(&ids, NULL, TLS_MATCH_S2S));
    assert_false(tls_identities_cover(NULL, "a.example", TLS_MATCH_S2S));
    /* The cap flag is for callers (MUX.md §3.4): what is listed counts. */
    ids.truncated = true;
    assert_true(tls_identities_cover(&ids, "a.example", TLS_MATCH_S2S));
    tls_identities_fini(&ids);
    struct tls_identities none;
    memset(&none, 0, sizeof none);
    assert_false(tls_identities_cover(&none, "a.example", TLS_MATCH_S2S));
}

/* A certificate (unsigned: only its extensions are read) with a subject
 * CN and, if san is not NULL, a subjectAltName. */
static X509 *
cert_make(const char *cn, const char *san)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_NAME *name = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                                (const unsigned char *)cn, -1,
                                                -1, 0),
                     1);
    if (san != NULL) {
        X509V3_CTX v3;
        X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
        X509_EXTENSION *ext =
            X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, san);
        assert_non_null(ext);
        assert_int_equal(X509_add_ext(x, ext, -1), 1);
        X509_EXTENSION_free(ext);
    }
    return x;
}

static void
test_match_never_cn(void **state)
{
    (void)state;
    struct tls_identities ids;
    X509 *x = cert_make("cn.example", NULL);
    assert_int_equal(tls__cert_identities(x, 256, &ids), 0);
    assert_false(tls_identities_cover(&ids, "cn.example", TLS_MATCH_S2S));
    tls_identities_fini(&ids);
    X509_free(x);

    x = cert_make("cn.example", "DNS:san.example");
    assert_int_equal(tls__cert_identities(x, 256, &ids), 0);
    assert_false(tls_identities_cover(&ids, "cn.example", TLS_MATCH_S2S));
    assert_true(tls_identities_cover(&ids, "san.example", TLS_MATCH_S2S));
    tls_identities_fini(&ids);
    X509_free(x);
}

/* certM of CONFORMANCE.md, extracted from a real certificate. */
static void
test_match_cert_m(void **state)
{
    (void)state;
    X509 *x = cert_make(
        "montague.example",
        "DNS:montague.example,DNS:chat.montague.example,"
        "otherName:1.3.6.1.5.5.7.8.7;IA5:_xmpp-server.montague.example,"
        "otherName:1.3.6.1.5.5.7.8.5;UTF8:montague.example,"
        "otherName:1.3.6.1.5.5.7.8.5;UTF8:romeo@montague.example,"
        "IP:127.0.0.1,email:romeo@montague.example");
    struct tls_identities ids;
    assert_int_equal(tls__cert_identities(x, 256, &ids), 0);
    assert_true(tls_identities_cover(&ids, "montague.example", TLS_MATCH_S2S));
    assert_true(
        tls_identities_cover(&ids, "chat.montague.example", TLS_MATCH_S2S));
    assert_false(
        tls_identities_cover(&ids, "rooms.montague.example", TLS_MATCH_S2S));
    assert_false(tls_identities_cover(&ids, "127.0.0.1", TLS_MATCH_S2S));
    char **d = NULL;
    size_t n = tls_identities_domains(&ids, TLS_MATCH_S2S, &d);
    assert_int_equal(n, 2);
    assert_string_equal(d[0], "montague.example");
    assert_string_equal(d[1], "chat.montague.example");
    tls_domains_free(d, n);
    char **w = NULL;
    assert_int_equal(tls_identities_wildcards(&ids, &w), 0);
    assert_null(w);
    tls_identities_fini(&ids);
    X509_free(x);
}

static void
test_match_domains(void **state)
{
    (void)state;
    const char *const v[] = {"D:Capulet.Example.",
                             "D:*.capulet.example",
                             "D:*.Capulet.example.",
                             "D:f*.capulet.example",
                             "D:*.example",
                             "S:_xmpp-server.capulet.example",
                             "S:_xmpp-server.verona.example",
                             "S:_xmpp-client.balcony.example",
                             "X:b\303\274cher.example",
                             "X:juliet@capulet.example",
                             "D:xn--bcher-kva.example",
                             "D:localhost",
                             "D:10.0.0.1",
                             NULL};
    struct tls_identities ids = ids_make(v);
    char **d = NULL;
    size_t n = tls_identities_domains(&ids, TLS_MATCH_S2S, &d);
    assert_int_equal(n, 3);
    assert_string_equal(d[0], "capulet.example");
    assert_string_equal(d[1], "verona.example");
    assert_string_equal(d[2], "xn--bcher-kva.example");
    tls_domains_free(d, n);

    n = tls_identities_domains(&ids, TLS_MATCH_C2S, &d);
    assert_int_equal(n, 3);
    assert_string_equal(d[1], "balcony.example");
    tls_domains_free(d, n);

    char **w = NULL;
    n = tls_identities_wildcards(&ids, &w);
    assert_int_equal(n, 1);
    assert_string_equal(w[0], "*.capulet.example");
    assert_true(tls_wildcard_match(w[0], "rooms.capulet.example"));
    tls_domains_free(w, n);
    tls_identities_fini(&ids);

    assert_int_equal(tls_identities_domains(NULL, TLS_MATCH_S2S, &d), 0);
    assert_null(d);
    tls_domains_free(NULL, 0);
}

/* ------------------------------------------------------------------ */
/* Keys (XEP-0185)                                                     */

static void
test_dialback_DB_03_key_vector(void **state)
{
    (void)state;
    char key[DIALBACK_KEY_HEX + 1];
    /* MUX.md §9: "xmpp.example.com example.org D60000229F". */
    assert_int_equal(dialback_key(SECRET, SECRET_LEN, "xmpp.example.com",
                                  "example.org", "D60000229F", key),
                     0);
    assert_string_equal(
        key,
        "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643");
    assert_true(dialback_key_check(SECRET, SECRET_LEN, "xmpp.example.com",
                                   "example.org", "D60000229F", key,
                                   DIALBACK_KEY_HEX));
    /* The order is receiving SP originating: swapped, it differs. */
    char other[DIALBACK_KEY_HEX + 1];
    assert_int_equal(dialback_key(SECRET, SECRET_LEN, "example.org",
                                  "xmpp.example.com", "D60000229F", other),
                     0);
    assert_string_not_equal(key, other);
}

static void
test_dialback_DB_03_key_inputs(void **state)
{
    (void)state;
    char a[DIALBACK_KEY_HEX + 1];
    char b[DIALBACK_KEY_HEX + 1];
    assert_int_equal(
        dialback_key(SECRET, SECRET_LEN, "r.example", "o.example", "id1", a),
        0);
    assert_int_equal(strlen(a), DIALBACK_KEY_HEX);
    assert_int_equal(strspn(a, "0123456789abcdef"), DIALBACK_KEY_HEX);
    /* Every input changes the key. */
    assert_int_equal(
        dialback_key(SECRET, SECRET_LEN, "r.example", "o.example", "id2", b),
        0);
    assert_string_not_equal(a, b);
    assert_int_equal(
        dialback_key(SECRET, SECRET_LEN, "r.example", "p.example", "id1", b),
        0);
    assert_string_not_equal(a, b);
    assert_int_equal(dialback_key(SECRET, SECRET_LEN - 1, "r.example",
                                  "o.example", "id1", b),
                     0);
    assert_string_not_equal(a, b);
    /* Invalid inputs. */
    assert_int_equal(dialback_key(SECRET, 0, "r.example", "o.example", "i", b),
                     XE_INVAL);
    assert_string_equal(b, "");
    assert_int_equal(dialback_key(NULL, 1, "r.example", "o.example", "i", b),
                     XE_INVAL);
    assert_int_equal(dialback_key(SECRET, SECRET_LEN, "", "o.example", "i", b),
                     XE_INVAL);
    assert_int_equal(dialback_key(SECRET, SECRET_LEN, "r.example", "", "i", b),
                     XE_INVAL);
    assert_int_equal(
        dialback_key(SECRET, SECRET_LEN, "r.example", "o.example", "", b),
        XE_INVAL);
    assert_int_equal(
        dialback_key(SECRET, SECRET_LEN, "r.example", NULL, "i", b), XE_INVAL);
}

static void
test_dialback_DB_03_key_limits(void **state)
{
    (void)state;
    char *id = x_malloc(DIALBACK_ID_MAX + 2);
    memset(id, 'i', DIALBACK_ID_MAX + 1);
    id[DIALBACK_ID_MAX] = '\0';
    char k[DIALBACK_KEY_HEX + 1];
    assert_int_equal(
        dialback_key(SECRET, SECRET_LEN, "r.example", "o.example", id, k), 0);
    id[DIALBACK_ID_MAX] = 'i';
    id[DIALBACK_ID_MAX + 1] = '\0';
    assert_int_equal(
        dialback_key(SECRET, SECRET_LEN, "r.example", "o.example", id, k),
        XE_INVAL);
    x_free(id);

    char *dom = x_malloc(JID_PART_MAX + 2);
    memset(dom, 'd', JID_PART_MAX + 1);
    dom[JID_PART_MAX] = '\0';
    assert_int_equal(dialback_key(SECRET, SECRET_LEN, dom, dom, "i", k), 0);
    dom[JID_PART_MAX] = 'd';
    dom[JID_PART_MAX + 1] = '\0';
    assert_int_equal(dialback_key(SECRET, SECRET_LEN, dom, "o.example", "i", k),
                     XE_INVAL);
    assert_int_equal(dialback_key(SECRET, SECRET_LEN, "r.example", dom, "i", k),
                     XE_INVAL);
    x_free(dom);
}

static void
test_dialback_DB_03_key_check(void **state)
{
    (void)state;
    char k[DIALBACK_KEY_HEX + 1];
    assert_int_equal(
        dialback_key(SECRET, SECRET_LEN, "r.example", "o.example", "sid", k),
        0);
    assert_true(dialback_key_check(SECRET, SECRET_LEN, "r.example", "o.example",
                                   "sid", k, DIALBACK_KEY_HEX));
    /* One character off, upper case, short, long, NULL. */
    char bad[DIALBACK_KEY_HEX + 2];
    memcpy(bad, k, sizeof k);
    bad[10] = bad[10] == 'a' ? 'b' : 'a';
    assert_false(dialback_key_check(SECRET, SECRET_LEN, "r.example",
                                    "o.example", "sid", bad, DIALBACK_KEY_HEX));
    memcpy(bad, k, sizeof k);
    for (size_t i = 0; i < DIALBACK_KEY_HEX; i++) {
        if (bad[i] >= 'a' && bad[i] <= 'f')
            bad[i] = (char)(bad[i] - 'a' + 'A');
    }
    assert_false(dialback_key_check(SECRET, SECRET_LEN, "r.example",
                                    "o.example", "sid", bad, DIALBACK_KEY_HEX));
    assert_false(dialback_key_check(SECRET, SECRET_LEN, "r.example",
                                    "o.example", "sid", k,
                                    DIALBACK_KEY_HEX - 1));
    memcpy(bad, k, sizeof k);
    bad[DIALBACK_KEY_HEX] = '0';
    bad[DIALBACK_KEY_HEX + 1] = '\0';
    assert_false(dialback_key_check(SECRET, SECRET_LEN, "r.example",
                                    "o.example", "sid", bad,
                                    DIALBACK_KEY_HEX + 1));
    assert_false(dialback_key_check(SECRET, SECRET_LEN, "r.example",
                                    "o.example", "sid", NULL, 0));
    assert_false(dialback_key_check(SECRET, SECRET_LEN, "r.example",
                                    "o.example", "", k, DIALBACK_KEY_HEX));
    /* Another secret. */
    assert_false(dialback_key_check((const unsigned char *)"x", 1, "r.example",
                                    "o.example", "sid", k, DIALBACK_KEY_HEX));
}

/* ------------------------------------------------------------------ */
/* Elements                                                            */

static void
test_dialback_parse_result_request(void **state)
{
    (void)state;
    struct dialback_elem *e = elem_new();
    enum stream_cond sc;
    assert_int_equal(
        parse_xml("<db:result from='Montague.Example.' to='capulet.example'>"
                  "\n  0123abcd \t</db:result>",
                  e, &sc),
        0);
    assert_int_equal(sc, SC_NONE);
    assert_int_equal(e->kind, DIALBACK_RESULT);
    assert_int_equal(e->type, DIALBACK_T_REQUEST);
    assert_string_equal(e->from, "montague.example");
    assert_string_equal(e->to, "capulet.example");
    assert_string_equal(e->key, "0123abcd");
    assert_int_equal(e->key_len, 8);
    assert_string_equal(e->id, "");
    /* An 'id' on db:result means nothing and is not kept. */
    assert_int_equal(parse_xml("<db:result from='a.example' to='b.example' "
                               "id='x'>k</db:result>",
                               e, &sc),
                     0);
    assert_string_equal(e->id, "");
    /* Any prefix (or none) for the namespace. */
    assert_int_equal(
        parse_xml("<result xmlns='jabber:server:dialback' from='a.example' "
                  "to='b.example'>k</result>",
                  e, &sc),
        0);
    assert_int_equal(e->kind, DIALBACK_RESULT);
    /* IDN domains are normalised to A-labels. */
    assert_int_equal(parse_xml("<db:result from='b\303\274cher.example' "
                               "to='b.example'>k</db:result>",
                               e, &sc),
                     0);
    assert_string_equal(e->from, "xn--bcher-kva.example");
    x_free(e);
}

static void
test_dialback_parse_verify(void **state)
{
    (void)state;
    struct dialback_elem *e = elem_new();
    enum stream_cond sc;
    assert_int_equal(
        parse_xml("<db:verify from='capulet.example' to='montague.example' "
                  "id='417GAF25'>b4835385f37fe2895af6c196b59097b16862406db80559"
                  "900d95ce8f5b9c2e31</db:verify>",
                  e, &sc),
        0);
    assert_int_equal(e->kind, DIALBACK_VERIFY);
    assert_int_equal(e->type, DIALBACK_T_REQUEST);
    assert_string_equal(e->id, "417GAF25");
    assert_int_equal(e->id_len, 8);
    assert_int_equal(e->key_len, 64);
    assert_int_equal(
        parse_xml("<db:verify from='montague.example' to='capulet.example' "
                  "id='417GAF25' type='valid'/>",
                  e, &sc),
        0);
    assert_int_equal(e->type, DIALBACK_T_VALID);
    assert_int_equal(e->key_len, 0);
    assert_int_equal(
        parse_xml("<db:verify from='montague.example' to='capulet.example' "
                  "id='417GAF25' type='invalid'/>",
                  e, &sc),
        0);
    assert_int_equal(e->type, DIALBACK_T_INVALID);
    x_free(e);
}

static void
test_dialback_parse_answers(void **state)
{
    (void)state;
    struct dialback_elem *e = elem_new();
    enum stream_cond sc;
    assert_int_equal(parse_xml("<db:result from='b.example' to='a.example' "
                               "type='valid'/>",
                               e, &sc),
                     0);
    assert_int_equal(e->type, DIALBACK_T_VALID);
    assert_int_equal(e->cond, DIALBACK_C_NONE);
    /* Content of an answer is ignored. */
    assert_int_equal(parse_xml("<db:result from='b.example' to='a.example' "
                               "type='invalid'>junk<x/></db:result>",
                               e, &sc),
                     0);
    assert_int_equal(e->type, DIALBACK_T_INVALID);
    assert_int_equal(e->key_len, 0);
    assert_int_equal(
        parse_xml("<db:result from='b.example' to='a.example' type='error'>"
                  "<error type='cancel'><item-not-found "
                  "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                  "</db:result>",
                  e, &sc),
        0);
    assert_int_equal(e->type, DIALBACK_T_ERROR);
    assert_int_equal(e->cond, DIALBACK_C_ITEM_NOT_FOUND);
    /* <text/> first, condition after it; <db:error/> accepted too. */
    assert_int_equal(
        parse_xml("<db:result from='b.example' to='a.example' type='error'>"
                  "<db:error type='wait'><text "
                  "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>busy</text>"
                  "<resource-constraint "
                  "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></db:error>"
                  "</db:result>",
                  e, &sc),
        0);
    assert_int_equal(e->cond, DIALBACK_C_RESOURCE_CONSTRAINT);
    /* No error child, an unknown condition, a condition in the wrong
     * namespace: undefined-condition. */
    assert_int_equal(parse_xml("<db:verify from='b.example' to='a.example' "
                               "id='i' type='error'/>",
                               e, &sc),
                     0);
    assert_int_equal(e->cond, DIALBACK_C_UNDEFINED_CONDITION);
    assert_int_equal(
        parse_xml("<db:result from='b.example' to='a.example' type='error'>"
                  "<error><no-such-thing "
                  "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                  "</db:result>",
                  e, &sc),
        0);
    assert_int_equal(e->cond, DIALBACK_C_UNDEFINED_CONDITION);
    assert_int_equal(
        parse_xml("<db:result from='b.example' to='a.example' type='error'>"
                  "<error><item-not-found/></error></db:result>",
                  e, &sc),
        0);
    assert_int_equal(e->cond, DIALBACK_C_UNDEFINED_CONDITION);
    x_free(e);
}

/* One malformed element and the stream error it must get. */
struct bad_case {
    const char *xml;
    int rc;
    enum stream_cond sc;
};

static void
test_dialback_parse_malformed(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        {"<db:foo from='a.example' to='b.example'>k</db:foo>", XE_PROTO,
         SC_UNSUPPORTED_STANZA_TYPE},
        {"<db:result to='b.example'>k</db:result>", XE_PROTO,
         SC_IMPROPER_ADDRESSING},
        {"<db:result from='a.example'>k</db:result>", XE_PROTO,
         SC_IMPROPER_ADDRESSING},
        {"<db:result from='' to='b.example'>k</db:result>", XE_PROTO,
         SC_IMPROPER_ADDRESSING},
        {"<db:result from='a.example' to='romeo@b.example'>k</db:result>",
         XE_PROTO, SC_IMPROPER_ADDRESSING},
        {"<db:result from='a.example/r' to='b.example'>k</db:result>", XE_PROTO,
         SC_IMPROPER_ADDRESSING},
        {"<db:result from='a..example' to='b.example'>k</db:result>", XE_PROTO,
         SC_IMPROPER_ADDRESSING},
        {"<db:result from='-a.example' to='b.example' type='valid'/>", XE_PROTO,
         SC_IMPROPER_ADDRESSING},
        {"<db:verify from='a.example' to='b.example' type='valid'/>", XE_PROTO,
         SC_BAD_FORMAT},
        {"<db:verify from='a.example' to='b.example' id=''>k</db:verify>",
         XE_PROTO, SC_BAD_FORMAT},
        {"<db:result from='a.example' to='b.example' type='Valid'/>", XE_PROTO,
         SC_BAD_FORMAT},
        {"<db:result from='a.example' to='b.example' type=''>k</db:result>",
         XE_PROTO, SC_BAD_FORMAT},
        {"<db:result from='a.example' to='b.example'>k<x/></db:result>",
         XE_PROTO, SC_BAD_FORMAT},
        {"<db:result from='a.example' to='b.example'><x/></db:result>",
         XE_PROTO, SC_BAD_FORMAT},
        {"<result from='a.example' to='b.example'>k</result>", XE_INVAL,
         SC_NONE},
    };
    struct dialback_elem *e = elem_new();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum stream_cond sc = SC_NONE;
        int rc = parse_xml(cases[i].xml, e, &sc);
        if (rc != cases[i].rc || sc != cases[i].sc)
            fail_msg("%s: rc %d sc %d", cases[i].xml, rc, (int)sc);
    }
    x_free(e);
}

static void
test_dialback_parse_empty_key(void **state)
{
    (void)state;
    struct dialback_elem *e = elem_new();
    enum stream_cond sc;
    assert_int_equal(
        parse_xml("<db:result from='a.example' to='b.example'/>", e, &sc), 0);
    assert_int_equal(e->key_len, 0);
    assert_int_equal(
        parse_xml("<db:result from='a.example' to='b.example'> \n</db:result>",
                  e, &sc),
        0);
    assert_int_equal(e->key_len, 0);
    x_free(e);
}

/* An element carrying a key of n octets (plus white space). */
static int
parse_key_of(size_t n,
             const char *id,
             struct dialback_elem *e,
             enum stream_cond *sc)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    assert_int_equal(buf_printf(&b,
                                "<db:verify from='a.example' to='b.example' "
                                "id='%s'> ",
                                id),
                     0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(buf_append(&b, "k", 1), 0);
    assert_int_equal(buf_appendz(&b, " </db:verify>"), 0);
    int rc = parse_xml(buf_ptr(&b), e, sc);
    buf_fini(&b);
    return rc;
}

static void
test_dialback_parse_limits(void **state)
{
    (void)state;
    struct dialback_elem *e = elem_new();
    enum stream_cond sc;
    assert_int_equal(parse_key_of(DIALBACK_KEY_MAX, "i", e, &sc), 0);
    assert_int_equal(e->key_len, DIALBACK_KEY_MAX);
    assert_int_equal(parse_key_of(DIALBACK_KEY_MAX + 1, "i", e, &sc), XE_LIMIT);
    assert_int_equal(sc, SC_POLICY_VIOLATION);

    char id[DIALBACK_ID_MAX + 2];
    memset(id, 'x', sizeof id);
    id[DIALBACK_ID_MAX] = '\0';
    assert_int_equal(parse_key_of(1, id, e, &sc), 0);
    assert_int_equal(e->id_len, DIALBACK_ID_MAX);
    id[DIALBACK_ID_MAX] = 'x';
    id[DIALBACK_ID_MAX + 1] = '\0';
    assert_int_equal(parse_key_of(1, id, e, &sc), XE_LIMIT);
    assert_int_equal(sc, SC_POLICY_VIOLATION);
    x_free(e);
}

static void
test_dialback_build_forms(void **state)
{
    (void)state;
    assert_xml(dialback_request(DIALBACK_RESULT, "montague.example",
                                "capulet.example", NULL, "KEY"),
               "<db:result from='montague.example' to='capulet.example'>KEY"
               "</db:result>");
    assert_xml(dialback_answer(DIALBACK_RESULT, "capulet.example",
                               "montague.example", NULL, true),
               "<db:result from='capulet.example' to='montague.example' "
               "type='valid'/>");
    assert_xml(dialback_answer(DIALBACK_RESULT, "capulet.example",
                               "montague.example", NULL, false),
               "<db:result from='capulet.example' to='montague.example' "
               "type='invalid'/>");
    assert_xml(dialback_error(DIALBACK_RESULT, "capulet.example",
                              "montague.example", NULL,
                              DIALBACK_C_ITEM_NOT_FOUND),
               "<db:result from='capulet.example' to='montague.example' "
               "type='error'><error type='cancel'><item-not-found "
               "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
               "</db:result>");
    assert_xml(dialback_request(DIALBACK_VERIFY, "capulet.example",
                                "montague.example", "417GAF25", "KEY"),
               "<db:verify from='capulet.example' to='montague.example' "
               "id='417GAF25'>KEY</db:verify>");
    assert_xml(dialback_answer(DIALBACK_VERIFY, "montague.example",
                               "capulet.example", "417GAF25", true),
               "<db:verify from='montague.example' to='capulet.example' "
               "id='417GAF25' type='valid'/>");
    assert_xml(dialback_answer(DIALBACK_VERIFY, "montague.example",
                               "capulet.example", "417GAF25", false),
               "<db:verify from='montague.example' to='capulet.example' "
               "id='417GAF25' type='invalid'/>");
    assert_xml(dialback_error(DIALBACK_VERIFY, "montague.example",
                              "capulet.example", "417GAF25",
                              DIALBACK_C_REMOTE_CONNECTION_FAILED),
               "<db:verify from='montague.example' to='capulet.example' "
               "id='417GAF25' type='error'><error type='cancel'>"
               "<remote-connection-failed "
               "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
               "</db:verify>");
    /* No condition is written as undefined-condition; a db:result never
     * carries an id. */
    assert_xml(dialback_error(DIALBACK_RESULT, "b.example", "a.example", "i",
                              DIALBACK_C_NONE),
               "<db:result from='b.example' to='a.example' type='error'>"
               "<error type='cancel'><undefined-condition "
               "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
               "</db:result>");
    /* Keys and ids are escaped like any text. */
    assert_xml(dialback_request(DIALBACK_VERIFY, "b.example", "a.example",
                                "<&'>", "<&>"),
               "<db:verify from='b.example' to='a.example' "
               "id='&lt;&amp;&apos;&gt;'>&lt;&amp;&gt;</db:verify>");
}

/* Every condition xmux sends survives build, write, read and parse. */
static void
test_dialback_build_roundtrip(void **state)
{
    (void)state;
    struct dialback_elem *e = elem_new();
    for (int c = DIALBACK_C_NONE + 1; c < DIALBACK_C__COUNT; c++) {
        for (int k = DIALBACK_RESULT; k <= DIALBACK_VERIFY; k++) {
            struct stanza *st =
                dialback_error((enum dialback_kind)k, "b.example", "a.example",
                               "sid", (enum dialback_cond)c);
            struct buf out;
            buf_init(&out, 4096);
            assert_int_equal(stanza_write(st, &s2s_wctx, &out), 0);
            stanza_unref(st);
            enum stream_cond sc;
            assert_int_equal(parse_xml(buf_ptr(&out), e, &sc), 0);
            buf_fini(&out);
            assert_int_equal(e->kind, k);
            assert_int_equal(e->type, DIALBACK_T_ERROR);
            assert_int_equal(e->cond, c);
            assert_string_equal(e->from, "b.example");
            assert_string_equal(e->id, k == DIALBACK_VERIFY ? "sid" : "");
        }
    }
    x_free(e);
}

static void
test_dialback_cond_names(void **state)
{
    (void)state;
    assert_null(dialback_cond_name(DIALBACK_C_NONE));
    assert_null(dialback_cond_name(DIALBACK_C__COUNT));
    assert_string_equal(dialback_cond_name(DIALBACK_C_ITEM_NOT_FOUND),
                        "item-not-found");
    assert_int_equal(dialback_cond_parse("not-acceptable"),
                     DIALBACK_C_NOT_ACCEPTABLE);
    assert_int_equal(dialback_cond_parse("gone"),
                     DIALBACK_C_UNDEFINED_CONDITION);
    assert_int_equal(dialback_cond_parse(NULL), DIALBACK_C_UNDEFINED_CONDITION);
}

static void
test_dialback_reply(void **state)
{
    (void)state;
    struct dialback_elem *req = elem_new();
    enum stream_cond sc;
    assert_int_equal(
        parse_xml("<db:verify from='capulet.example' to='montague.example' "
                  "id='417GAF25'>k</db:verify>",
                  req, &sc),
        0);
    assert_xml(dialback_reply(req, DIALBACK_T_VALID, DIALBACK_C_NONE),
               "<db:verify from='montague.example' to='capulet.example' "
               "id='417GAF25' type='valid'/>");
    assert_xml(dialback_reply(req, DIALBACK_T_INVALID, DIALBACK_C_NONE),
               "<db:verify from='montague.example' to='capulet.example' "
               "id='417GAF25' type='invalid'/>");
    assert_null(dialback_reply(req, DIALBACK_T_REQUEST, DIALBACK_C_NONE));
    x_free(req);

    req = result_req("montague.example", "nothere.example", "k");
    assert_xml(dialback_reply(req, DIALBACK_T_ERROR, DIALBACK_C_ITEM_NOT_FOUND),
               "<db:result from='nothere.example' to='montague.example' "
               "type='error'><error type='cancel'><item-not-found "
               "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
               "</db:result>");
    x_free(req);
}

/* ------------------------------------------------------------------ */
/* The pair table                                                      */

static void
test_dialback_pairs_basic(void **state)
{
    (void)state;
    struct dialback_pairs t;
    dialback_pairs_init(&t, 0);
    assert_int_equal(t.max, DIALBACK_PAIRS_MAX);
    assert_int_equal(
        dialback_pairs_get(&t, DIALBACK_IN, "a.example", "b.example"),
        DIALBACK_ST_NONE);
    assert_int_equal(dialback_pairs_set(&t, DIALBACK_IN, "a.example",
                                        "b.example", DIALBACK_ST_PENDING,
                                        DIALBACK_C_NONE),
                     0);
    assert_false(
        dialback_pairs_valid(&t, DIALBACK_IN, "a.example", "b.example"));
    assert_int_equal(dialback_pairs_set(&t, DIALBACK_IN, "a.example",
                                        "b.example", DIALBACK_ST_VALID,
                                        DIALBACK_C_NONE),
                     0);
    assert_true(
        dialback_pairs_valid(&t, DIALBACK_IN, "a.example", "b.example"));
    /* Roles and directions are distinct pairs. */
    assert_false(
        dialback_pairs_valid(&t, DIALBACK_OUT, "a.example", "b.example"));
    assert_false(
        dialback_pairs_valid(&t, DIALBACK_IN, "b.example", "a.example"));
    assert_false(dialback_pairs_valid(&t, DIALBACK_IN, NULL, "b.example"));
    assert_int_equal(t.n, 1);
    assert_int_equal(dialback_pairs_count(&t, DIALBACK_IN, DIALBACK_ST_VALID),
                     1);
    assert_int_equal(dialback_pairs_count(&t, DIALBACK_OUT, DIALBACK_ST_VALID),
                     0);
    /* Errors keep their condition; other states have none. */
    assert_int_equal(dialback_pairs_set(&t, DIALBACK_OUT, "a.example",
                                        "c.example", DIALBACK_ST_ERROR,
                                        DIALBACK_C_NOT_ACCEPTABLE),
                     0);
    assert_int_equal(t.v[1].cond, DIALBACK_C_NOT_ACCEPTABLE);
    assert_int_equal(dialback_pairs_set(&t, DIALBACK_OUT, "a.example",
                                        "c.example", DIALBACK_ST_INVALID,
                                        DIALBACK_C_NOT_ACCEPTABLE),
                     0);
    assert_int_equal(t.v[1].cond, DIALBACK_C_NONE);
    assert_int_equal(dialback_pairs_set(&t, DIALBACK_OUT, "a.example",
                                        "c.example", DIALBACK_ST_NONE,
                                        DIALBACK_C_NONE),
                     XE_INVAL);
    dialback_pairs_fini(&t);
    dialback_pairs_fini(&t);
    dialback_pairs_fini(NULL);
}

/* Fill a table of max pairs: at the limit and one past it. */
static void
test_dialback_pairs_limit(void **state)
{
    (void)state;
    struct dialback_pairs t;
    dialback_pairs_init(&t, 0);
    char d[64];
    for (size_t i = 0; i < DIALBACK_PAIRS_MAX; i++) {
        snprintf(d, sizeof d, "s%zu.example", i);
        assert_int_equal(dialback_pairs_set(
                             &t, i % 2 ? DIALBACK_IN : DIALBACK_OUT, d,
                             "t.example", DIALBACK_ST_PENDING, DIALBACK_C_NONE),
                         0);
    }
    assert_int_equal(t.n, DIALBACK_PAIRS_MAX);
    assert_int_equal(dialback_pairs_set(&t, DIALBACK_IN, "new.example",
                                        "t.example", DIALBACK_ST_PENDING,
                                        DIALBACK_C_NONE),
                     XE_LIMIT);
    assert_int_equal(t.n, DIALBACK_PAIRS_MAX);
    /* A pair already there may still change. */
    assert_int_equal(dialback_pairs_set(&t, DIALBACK_OUT, "s0.example",
                                        "t.example", DIALBACK_ST_VALID,
                                        DIALBACK_C_NONE),
                     0);
    assert_true(
        dialback_pairs_valid(&t, DIALBACK_OUT, "s0.example", "t.example"));
    dialback_pairs_fini(&t);
}

/* ------------------------------------------------------------------ */
/* Receiving server                                                    */

static const struct dialback_rx rx_ok = {true, true, NULL};

static void
test_dialback_DB_04_receive_verify_valid(void **state)
{
    (void)state;
    struct dialback_pairs t;
    dialback_pairs_init(&t, 0);
    struct dialback_elem *req =
        result_req("montague.example", "capulet.example", "0123");
    enum dialback_cond c;
    assert_int_equal(dialback_receive(&t, req, &rx_ok, &c), DIALBACK_DO_VERIFY);
    assert_int_equal(c, DIALBACK_C_NONE);
    assert_int_equal(dialback_pairs_get(&t, DIALBACK_IN, "montague.example",
                                        "capulet.example"),
                     DIALBACK_ST_PENDING);
    /* No stanza is accepted for the pair before the verdict. */
    assert_false(dialback_pairs_valid(&t, DIALBACK_IN, "montague.example",
                                      "capulet.example"));
    assert_int_equal(dialback_in_complete(&t, "montague.example",
                                          "capulet.example", DIALBACK_T_VALID,
                                          DIALBACK_C_NONE),
                     0);
    assert_true(dialback_pairs_valid(&t, DIALBACK_IN, "montague.example",
                                     "capulet.example"));
    assert_xml(dialback_reply(req, DIALBACK_T_VALID, DIALBACK_C_NONE),
               "<db:result from='capulet.example' to='montague.example' "
               "type='valid'/>");
    /* Asked again: valid at once, no second verification. */
    assert_int_equal(dialback_receive(&t, req, &rx_ok, &c), DIALBACK_DO_VALID);
    x_free(req);
    dialback_pairs_fini(&t);
}

static void
test_dialback_DB_05_receive_invalid(void **state)
{
    (void)state;
    struct dialback_pairs t;
    dialback_pairs_init(&t, 0);
    struct dialback_elem *req =
        result_req("montague.example", "capulet.example", "bad");
    enum dialback_cond c;
    assert_int_equal(dialback_receive(&t, req, &rx_ok, &c), DIALBACK_DO_VERIFY);
    assert_int_equal(dialback_in_complete(&t, "montague.example",
                                          "capulet.example", DIALBACK_T_INVALID,
                                          DIALBACK_C_NONE),
                     0);
    assert_int_equal(dialback_pairs_get(&t, DIALBACK_IN, "montague.example",
                                        "capulet.example"),
                     DIALBACK_ST_INVALID);
    /* No other valid pair: the caller closes the stream. */
    assert_int_equal(dialback_pairs_count(&t, DIALBACK_IN, DIALBACK_ST_VALID),
                     0);
    /* With another valid pair it stays open. */
    assert_int_equal(dialback_pairs_set(
                         &t, DIALBACK_IN, "chat.montague.example",
                         "capulet.example", DIALBACK_ST_VALID, DIALBACK_C_NONE),
                     0);
    assert_int_equal(dialback_pairs_count(&t, DIALBACK_IN, DIALBACK_ST_VALID),
                     1);
    /* A new attempt after invalid is verified afresh. */
    assert_int_equal(dialback_receive(&t, req, &rx_ok, &c), DIALBACK_DO_VERIFY);
    x_free(req);
    dialback_pairs_fini(&t);
}

static void
test_dialback_DB_06_receive_not_served(void **state)
{
    (void)state;
    struct dialback_pairs t;
    dialback_pairs_init(&t, 0);
    struct dialback_elem *req =
        result_req("montague.example", "nothere.example", "k");
    const struct dialback_rx rx = {true, false, NULL};
    enum dialback_cond c;
    assert_int_equal(dialback_receive(&t, req, &rx, &c), DIALBACK_DO_ERROR);
    assert_int_equal(c, DIALBACK_C_ITEM_NOT_FOUND);
    assert_int_equal(t.n, 0);
    x_free(req);
    dialback_pairs_fini(&t);
}

static void
test_dialback_DB_07_authoritative(void **state)
{
    (void)state;
    char key[DIALBACK_KEY_HEX + 1];
    /* The receiving server capulet asks montague (us) about the stream
     * montague opened to it, whose id it names. */
    assert_int_equal(dialback_key(SECRET, SECRET_LEN, "capulet.example",
                                  "montague.example", "417GAF25", key),
                     0);
    struct stanza *st = dialback_request(DIALBACK_VERIFY, "capulet.example",
                                         "montague.example", "417GAF25", key);
    struct dialback_elem *req = elem_new();
    enum stream_cond sc;
    assert_int_equal(dialback_parse(st, req, &sc), 0);
    stanza_unref(st);
    enum dialback_cond c;
    assert_int_equal(
        dialback_authoritative(SECRET, SECRET_LEN, req, &rx_ok, &c),
        DIALBACK_DO_VALID);
    assert_int_equal(c, DIALBACK_C_NONE);
    /* A wrong key, a wrong id, the wrong direction. */
    req->key[0] = req->key[0] == '0' ? '1' : '0';
    assert_int_equal(
        dialback_authoritative(SECRET, SECRET_LEN, req, &rx_ok, &c),
        DIALBACK_DO_INVALID);
    req->key[0] = key[0];
    memcpy(req->id, "417GAF26", 9);
    assert_int_equal(
        dialback_authoritative(SECRET, SECRET_LEN, req, &rx_ok, &c),
        DIALBACK_DO_INVALID);
    memcpy(req->id, "417GAF25", 9);
    char tmp[JID_DOMAIN_BUFSZ];
    memcpy(tmp, req->from, sizeof tmp);
    memcpy(req->from, req->to, sizeof tmp);
    memcpy(req->to, tmp, sizeof tmp);
    assert_int_equal(
        dialback_authoritative(SECRET, SECRET_LEN, req, &rx_ok, &c),
        DIALBACK_DO_INVALID);
    /* A domain not served here. */
    const struct dialback_rx rx = {true, false, NULL};
    assert_int_equal(dialback_authoritative(SECRET, SECRET_LEN, req, &rx, &c),
                     DIALBACK_DO_ERROR);
    assert_int_equal(c, DIALBACK_C_ITEM_NOT_FOUND);
    /* Not a db:verify request. */
    req->type = DIALBACK_T_VALID;
    assert_int_equal(
        dialback_authoritative(SECRET, SECRET_LEN, req, &rx_ok, &c),
        DIALBACK_DO_NOTHING);
    x_free(req);
}

static void
test_dialback_receive_duplicates(void **state)
{
    (void)state;
    struct dialback_pairs t;
    dialback_pairs_init(&t, 1);
    struct dialback_elem *req =
        result_req("montague.example", "capulet.example", "k");
    enum dialback_cond c;
    assert_int_equal(dialback_receive(&t, req, &rx_ok, &c), DIALBACK_DO_VERIFY);
    /* The same pair while pending: the pending answer serves both. */
    assert_int_equal(dialback_receive(&t, req, &rx_ok, &c),
                     DIALBACK_DO_NOTHING);
    assert_int_equal(t.n, 1);
    /* Table full (max 1): another pair is refused, non-fatally. */
    struct dialback_elem *other =
        result_req("chat.montague.example", "capulet.example", "k");
    assert_int_equal(dialback_receive(&t, other, &rx_ok, &c),
                     DIALBACK_DO_ERROR);
    assert_int_equal(c, DIALBACK_C_RESOURCE_CONSTRAINT);
    /* An empty key is invalid without asking anyone. */
    other->key_len = 0;
    other->key[0] = '\0';
    assert_int_equal(dialback_receive(&t, other, &rx_ok, &c),
                     DIALBACK_DO_INVALID);
    assert_int_equal(c, DIALBACK_C_NONE);
    /* Answers are not requests. */
    other->type = DIALBACK_T_VALID;
    assert_int_equal(dialback_receive(&t, other, &rx_ok, &c),
                     DIALBACK_DO_NOTHING);
    x_free(other);
    x_free(req);
    dialback_pairs_fini(&t);
}

static void
test_dialback_DB_12_unsolicited_result(void **state)
{
    (void)state;
    struct dialback_pairs t;
    dialback_pairs_init(&t, 0);
    struct dialback_elem *ans = elem_new();
    enum stream_cond sc;
    assert_int_equal(parse_xml("<db:result from='capulet.example' "
                               "to='montague.example' type='valid'/>",
                               ans, &sc),
                     0);
    /* An inbound stream asked for nothing: the answer changes nothing. */
    assert_int_equal(dialback_out_answer(&t, ans), XE_NOTFOUND);
    assert_int_equal(t.n, 0);
    assert_false(dialback_pairs_valid(&t, DIALBACK_IN, "capulet.example",
                                      "montague.example"));
    assert_false(dialback_pairs_valid(&t, DIALBACK_IN, "montague.example",
                                      "capulet.example"));
    /* A request handed to out_answer is a caller error. */
    struct dialback_elem *req =
        result_req("montague.example", "capulet.example", "k");
    assert_int_equal(dialback_out_answer(&t, req), XE_INVAL);
    x_free(req);
    x_free(ans);
    dialback_pairs_fini(&t);
}

static void
test_dialback_DB_13_unsolicited_verify(void **state)
{
    (void)state;
    struct dialback_pairs t;
    dialback_pairs_init(&t, 0);
    struct dialback_elem *ans = elem_new();
    enum stream_cond sc;
    assert_int_equal(parse_xml("<db:verify from='montague.example' "
                               "to='capulet.example' id='x' type='valid'/>",
                               ans, &sc),
                     0);
    assert_int_equal(dialback_out_answer(&t, ans), XE_INVAL);
    /* Nothing pending for the pair: no change. */
    assert_int_equal(dialback_in_complete(&t, "montague.example",
                                          "capulet.example", DIALBACK_T_VALID,
                                          DIALBACK_C_NONE),
                     XE_NOTFOUND);
    assert_int_equal(t.n, 0);
    /* An answer already given is not given twice. */
    assert_int_equal(dialback_pairs_set(&t, DIALBACK_IN, "montague.example",
                                        "capulet.example", DIALBACK_ST_INVALID,
                                        DIALBACK_C_NONE),
                     0);
    assert_int_equal(dialback_in_complete(&t, "montague.example",
                                          "capulet.example", DIALBACK_T_VALID,
                                          DIALBACK_C_NONE),
                     XE_NOTFOUND);
    assert_false(dialback_pairs_valid(&t, DIALBACK_IN, "montague.example",
                                      "capulet.example"));
    assert_int_equal(dialback_in_complete(&t, "montague.example",
                                          "capulet.example", DIALBACK_T_REQUEST,
                                          DIALBACK_C_NONE),
                     XE_INVAL);
    x_free(ans);
    dialback_pairs_fini(&t);
}

static void
test_dialback_DB_16_cert_covers_sender(void **state)
{
    (void)state;
    const char *const v[] = {"D:montague.example", "D:chat.montague.example",
                             "S:_xmpp-server.montague.example",
                             "X:montague.example", NULL};
    struct tls_identities ids = ids_make(v);
    const struct dialback_rx rx = {true, true, &ids};
    struct dialback_pairs t;
    dialback_pairs_init(&t, 0);
    struct dialback_elem *req =
        result_req("montague.example", "capulet.example", "k");
    enum dialback_cond c;
    assert_int_equal(dialback_receive(&t, req, &rx, &c), DIALBACK_DO_VALID);
    assert_true(dialback_pairs_valid(&t, DIALBACK_IN, "montague.example",
                                     "capulet.example"));
    x_free(req);
    /* A sender the certificate does not name is called back. */
    req = result_req("verona.example", "capulet.example", "k");
    assert_int_equal(dialback_receive(&t, req, &rx, &c), DIALBACK_DO_VERIFY);
    x_free(req);
    tls_identities_fini(&ids);
    dialback_pairs_fini(&t);
}

static void
test_dialback_DB_18_before_tls(void **state)
{
    (void)state;
    const struct dialback_rx rx = {false, true, NULL};
    struct dialback_pairs t;
    dialback_pairs_init(&t, 0);
    struct dialback_elem *req =
        result_req("montague.example", "capulet.example", "k");
    enum dialback_cond c;
    assert_int_equal(dialback_receive(&t, req, &rx, &c), DIALBACK_DO_ERROR);
    assert_int_equal(c, DIALBACK_C_POLICY_VIOLATION);
    assert_int_equal(t.n, 0);
    assert_xml(dialback_reply(req, DIALBACK_T_ERROR, c),
               "<db:result from='capulet.example' to='montague.example' "
               "type='error'><error type='cancel'><policy-violation "
               "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
               "</db:result>");
    x_free(req);
    struct dialback_elem *v = elem_new();
    enum stream_cond sc;
    assert_int_equal(parse_xml("<db:verify from='capulet.example' "
                               "to='montague.example' id='i'>k</db:verify>",
                               v, &sc),
                     0);
    assert_int_equal(dialback_authoritative(SECRET, SECRET_LEN, v, &rx, &c),
                     DIALBACK_DO_ERROR);
    assert_int_equal(c, DIALBACK_C_POLICY_VIOLATION);
    x_free(v);
    dialback_pairs_fini(&t);
}

static void
test_dialback_DB_20_pair_only(void **state)
{
    (void)state;
    struct dialback_pairs t;
    dialback_pairs_init(&t, 0);
    struct dialback_elem *req =
        result_req("montague.example", "capulet.example", "k");
    enum dialback_cond c;
    assert_int_equal(dialback_receive(&t, req, &rx_ok, &c), DIALBACK_DO_VERIFY);
    assert_int_equal(dialback_in_complete(&t, "montague.example",
                                          "capulet.example", DIALBACK_T_VALID,
                                          DIALBACK_C_NONE),
                     0);
    assert_true(dialback_pairs_valid(&t, DIALBACK_IN, "montague.example",
                                     "capulet.example"));
    assert_false(dialback_pairs_valid(&t, DIALBACK_IN, "montague.example",
                                      "rooms.capulet.example"));
    assert_false(dialback_pairs_valid(&t, DIALBACK_IN, "chat.montague.example",
                                      "capulet.example"));
    x_free(req);
    dialback_pairs_fini(&t);
}

/* ------------------------------------------------------------------ */
/* Originating server                                                  */

/* The peer's answer to our request sender -> target. */
static struct dialback_elem *
answer_of(const char *sender,
          const char *target,
          enum dialback_type type,
          enum dialback_cond cond)
{
    struct dialback_elem *req = result_req(sender, target, "k");
    struct stanza *st = dialback_reply(req, type, cond);
    x_free(req);
    struct dialback_elem *e = elem_new();
    enum stream_cond sc;
    assert_int_equal(dialback_parse(st, e, &sc), 0);
    stanza_unref(st);
    return e;
}

static void
test_dialback_DB_08_sender_piggyback(void **state)
{
    (void)state;
    const struct dialback_peer peer = {true, false, false};
    assert_int_equal(dialback_plan(&peer, "montague.example", "capulet.example",
                                   "montague.example", "capulet.example"),
                     DIALBACK_PLAN_PRIMARY);
    assert_int_equal(dialback_plan(&peer, "montague.example", "capulet.example",
                                   "chat.montague.example", "capulet.example"),
                     DIALBACK_PLAN_PIGGYBACK);
    struct dialback_pairs t;
    dialback_pairs_init(&t, 0);
    assert_int_equal(
        dialback_out_begin(&t, "chat.montague.example", "capulet.example"), 0);
    /* Nothing is sent from the domain before the answer. */
    assert_false(dialback_pairs_valid(&t, DIALBACK_OUT, "chat.montague.example",
                                      "capulet.example"));
    assert_int_equal(
        dialback_out_begin(&t, "chat.montague.example", "capulet.example"),
        XE_STATE);
    struct dialback_elem *ans =
        answer_of("chat.montague.example", "capulet.example", DIALBACK_T_VALID,
                  DIALBACK_C_NONE);
    assert_int_equal(dialback_out_answer(&t, ans), 0);
    assert_true(dialback_pairs_valid(&t, DIALBACK_OUT, "chat.montague.example",
                                     "capulet.example"));
    /* A second answer is unsolicited. */
    assert_int_equal(dialback_out_answer(&t, ans), XE_NOTFOUND);
    assert_int_equal(
        dialback_out_begin(&t, "chat.montague.example", "capulet.example"),
        XE_STATE);
    x_free(ans);
    dialback_pairs_fini(&t);
}

static void
test_dialback_DB_09_target_piggyback(void **state)
{
    (void)state;
    const char *f = "montague.example";
    const char *to = "capulet.example";
    const char *rooms = "rooms.capulet.example";
    const struct dialback_peer both = {true, true, true};
    const struct dialback_peer no_errors = {true, false, true};
    const struct dialback_peer elsewhere = {true, true, false};
    assert_int_equal(dialback_plan(&both, f, to, f, rooms),
                     DIALBACK_PLAN_PIGGYBACK);
    assert_int_equal(
        dialback_plan(&both, f, to, "chat.montague.example", rooms),
        DIALBACK_PLAN_PIGGYBACK);
    assert_int_equal(dialback_plan(&no_errors, f, to, f, rooms),
                     DIALBACK_PLAN_NEW);
    assert_int_equal(dialback_plan(&elsewhere, f, to, f, rooms),
                     DIALBACK_PLAN_NEW);
}

static void
test_dialback_DB_11_no_dialback_peer(void **state)
{
    (void)state;
    /* DB-10/DB-11: a peer without mux uses db:result for extra senders if
     * it speaks dialback, else every pair gets its own stream. */
    const struct dialback_peer none = {false, false, false};
    assert_int_equal(dialback_plan(&none, "montague.example", "capulet.example",
                                   "chat.montague.example", "capulet.example"),
                     DIALBACK_PLAN_NEW);
    assert_int_equal(dialback_plan(NULL, "montague.example", "capulet.example",
                                   "chat.montague.example", "capulet.example"),
                     DIALBACK_PLAN_NEW);
    assert_int_equal(dialback_plan(&none, "montague.example", "capulet.example",
                                   "montague.example", "capulet.example"),
                     DIALBACK_PLAN_PRIMARY);
    /* A full table also means another stream. */
    struct dialback_pairs t;
    dialback_pairs_init(&t, 1);
    assert_int_equal(dialback_out_begin(&t, "a.example", "capulet.example"), 0);
    assert_int_equal(dialback_out_begin(&t, "b.example", "capulet.example"),
                     XE_LIMIT);
    dialback_pairs_fini(&t);
}

static void
test_dialback_DB_14_bounce(void **state)
{
    (void)state;
    struct dialback_pairs t;
    dialback_pairs_init(&t, 0);
    assert_int_equal(dialback_out_begin(&t, "a.example", "capulet.example"), 0);
    assert_int_equal(dialback_out_begin(&t, "b.example", "capulet.example"), 0);
    struct dialback_elem *inv = answer_of("a.example", "capulet.example",
                                          DIALBACK_T_INVALID, DIALBACK_C_NONE);
    struct dialback_elem *err =
        answer_of("b.example", "capulet.example", DIALBACK_T_ERROR,
                  DIALBACK_C_REMOTE_CONNECTION_FAILED);
    assert_int_equal(dialback_out_answer(&t, inv), 0);
    assert_int_equal(dialback_out_answer(&t, err), 0);
    enum dialback_state sa =
        dialback_pairs_get(&t, DIALBACK_OUT, "a.example", "capulet.example");
    enum dialback_state sb =
        dialback_pairs_get(&t, DIALBACK_OUT, "b.example", "capulet.example");
    assert_int_equal(sa, DIALBACK_ST_INVALID);
    assert_int_equal(sb, DIALBACK_ST_ERROR);
    assert_int_equal(t.v[1].cond, DIALBACK_C_REMOTE_CONNECTION_FAILED);
    assert_int_equal(dialback_bounce_cond(sa), XC_INTERNAL_SERVER_ERROR);
    assert_int_equal(dialback_bounce_cond(sb), XC_REMOTE_SERVER_TIMEOUT);
    assert_int_equal(dialback_bounce_cond(DIALBACK_ST_VALID), XC_NONE);
    assert_int_equal(dialback_bounce_cond(DIALBACK_ST_PENDING), XC_NONE);
    assert_false(dialback_refuses_piggyback(t.v[1].cond));
    /* A refusal of piggybacking means: try a stream of its own. */
    assert_true(dialback_refuses_piggyback(DIALBACK_C_RESOURCE_CONSTRAINT));
    assert_true(dialback_refuses_piggyback(DIALBACK_C_NOT_ACCEPTABLE));
    assert_false(dialback_refuses_piggyback(DIALBACK_C_ITEM_NOT_FOUND));
    /* After invalid or error a pair may be asked for again. */
    assert_int_equal(dialback_out_begin(&t, "a.example", "capulet.example"), 0);
    assert_int_equal(dialback_out_begin(&t, "b.example", "capulet.example"), 0);
    x_free(inv);
    x_free(err);
    dialback_pairs_fini(&t);
}

static void
test_dialback_DB_17_timeout(void **state)
{
    (void)state;
    struct dialback_pairs t;
    dialback_pairs_init(&t, 0);
    assert_int_equal(dialback_out_timeout(&t, "a.example", "b.example"),
                     XE_NOTFOUND);
    assert_int_equal(dialback_out_begin(&t, "a.example", "b.example"), 0);
    assert_int_equal(dialback_out_timeout(&t, "a.example", "b.example"), 0);
    enum dialback_state st =
        dialback_pairs_get(&t, DIALBACK_OUT, "a.example", "b.example");
    assert_int_equal(st, DIALBACK_ST_ERROR);
    assert_int_equal(t.v[0].cond, DIALBACK_C_REMOTE_SERVER_TIMEOUT);
    assert_int_equal(dialback_bounce_cond(st), XC_REMOTE_SERVER_TIMEOUT);
    /* A late answer finds nothing pending. */
    struct dialback_elem *ans =
        answer_of("a.example", "b.example", DIALBACK_T_VALID, DIALBACK_C_NONE);
    assert_int_equal(dialback_out_answer(&t, ans), XE_NOTFOUND);
    assert_false(
        dialback_pairs_valid(&t, DIALBACK_OUT, "a.example", "b.example"));
    x_free(ans);
    dialback_pairs_fini(&t);
}

/* --- connection authorization secrets (MUX.md §9) ------------------------ */

static const unsigned char vec_key[32] = {
    0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31};
static const unsigned char vec_nonce[MUX_NONCE_BYTES] = {
    0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18,
    0x29, 0x3a, 0x4b, 0x5c, 0x6d, 0x7e, 0x8f, 0x90};
static const struct mux_secret_ctx vec_ctx = {
    "montague.example", "rooms.capulet.example", "capulet.example",
    "p-5f1c2a9e07", "s-0b7d44e1c3"};
#define VEC_SECRET                                                         \
    "1-1767225600-a1b2c3d4e5f60718293a4b5c6d7e8f90-bf04d5eec3be35f85ece1b1" \
    "1addfbcd2d182f66f7f9152f84f68808d781ff5a6"

/* MUX-51: the §9 test vector, exactly. */
static void
test_mux_MUX_51_secret_vector(void **state)
{
    (void)state;
    char out[MUX_SECRET_LEN + 1];
    assert_int_equal(mux_secret_make(vec_key, sizeof(vec_key), &vec_ctx,
                                     1767225600, vec_nonce, out),
                     0);
    assert_string_equal(out, VEC_SECRET);
    assert_int_equal(strlen(out), 110);
}

/* Verification: right inputs pass before E; a changed digit, another
 * context, an expired or too distant E, another version all fail. */
static void
test_mux_secret_check_MUX_62_63(void **state)
{
    (void)state;
    const char *sec = VEC_SECRET;
    size_t n = strlen(sec);
    unsigned char nonce[MUX_NONCE_BYTES];
    assert_true(mux_secret_check(vec_key, sizeof(vec_key), &vec_ctx,
                                 1767225600 - 60, sec, n, nonce));
    assert_memory_equal(nonce, vec_nonce, MUX_NONCE_BYTES);
    char bad[MUX_SECRET_LEN + 1];
    memcpy(bad, sec, n + 1);
    bad[n - 1] = bad[n - 1] == '6' ? '7' : '6'; /* MUX-62 */
    assert_false(mux_secret_check(vec_key, sizeof(vec_key), &vec_ctx,
                                  1767225600 - 60, bad, n, NULL));
    memcpy(bad, sec, n + 1);
    bad[0] = '2';
    assert_false(mux_secret_check(vec_key, sizeof(vec_key), &vec_ctx,
                                  1767225600 - 60, bad, n, NULL));
    /* MUX-63: expired; and E more than 120 s ahead. */
    assert_false(mux_secret_check(vec_key, sizeof(vec_key), &vec_ctx,
                                  1767225600, sec, n, NULL));
    assert_false(mux_secret_check(vec_key, sizeof(vec_key), &vec_ctx,
                                  1767225600 - 121, sec, n, NULL));
    struct mux_secret_ctx other = vec_ctx;
    other.via_host = "rooms.capulet.example";
    assert_false(mux_secret_check(vec_key, sizeof(vec_key), &other,
                                  1767225600 - 60, sec, n, NULL));
    assert_false(mux_secret_check(vec_key, sizeof(vec_key), &vec_ctx,
                                  1767225600 - 60, sec, n - 1, NULL));
    assert_false(mux_secret_check(vec_key, sizeof(vec_key), &vec_ctx,
                                  1767225600 - 60, "1-", 2, NULL));
}

/* SEC-09: a connection-authorization secret and a dialback key are
 * compared in full with CRYPTO_memcmp, whether they match or differ in
 * their first byte of MAC. */
static void
test_mux_SEC_09_constant_time(void **state)
{
    (void)state;
    const char *sec = VEC_SECRET;
    size_t n = strlen(sec);
    ct_calls = ct_bytes = 0;
    assert_true(mux_secret_check(vec_key, sizeof(vec_key), &vec_ctx,
                                 1767225600 - 60, sec, n, NULL));
    assert_int_equal(ct_calls, 1);
    assert_int_equal(ct_bytes, n);
    char bad[MUX_SECRET_LEN + 1];
    memcpy(bad, sec, n + 1);
    bad[n - 64] = bad[n - 64] == '0' ? '1' : '0';
    ct_calls = ct_bytes = 0;
    assert_false(mux_secret_check(vec_key, sizeof(vec_key), &vec_ctx,
                                  1767225600 - 60, bad, n, NULL));
    assert_int_equal(ct_calls, 1);
    assert_int_equal(ct_bytes, n);

    const unsigned char k[] = "s3cr3tf0rd1alb4ck";
    char key[DIALBACK_KEY_HEX + 1];
    assert_int_equal(dialback_key(k, sizeof k - 1, "capulet.example",
                                  "montague.example", "D60000229F", key),
                     0);
    for (int wrong = 0; wrong < 2; wrong++) {
        key[0] = wrong ? (key[0] == 'a' ? 'b' : 'a') : key[0];
        ct_calls = ct_bytes = 0;
        assert_true(dialback_key_check(k, sizeof k - 1, "capulet.example",
                                       "montague.example", "D60000229F", key,
                                       DIALBACK_KEY_HEX) == !wrong);
        assert_int_equal(ct_calls, 1);
        assert_int_equal(ct_bytes, DIALBACK_KEY_HEX);
    }
}

/* SEC-08: 10^5 secrets from CSPRNG nonces are all distinct. */
static int
cmp_secret(const void *a, const void *b)
{
    return memcmp(a, b, MUX_SECRET_LEN + 1);
}

static void
test_mux_SEC_08_distinct(void **state)
{
    (void)state;
    enum { N = 100000 };
    char(*v)[MUX_SECRET_LEN + 1] = x_calloc(N, sizeof(*v));
    for (size_t i = 0; i < N; i++) {
        unsigned char nonce[MUX_NONCE_BYTES];
        assert_int_equal(RAND_bytes(nonce, sizeof(nonce)), 1);
        assert_int_equal(mux_secret_make(vec_key, sizeof(vec_key), &vec_ctx,
                                         1767225600, nonce, v[i]),
                         0);
    }
    qsort(v, N, sizeof(*v), cmp_secret);
    for (size_t i = 1; i < N; i++)
        assert_int_not_equal(memcmp(v[i - 1], v[i], sizeof(*v)), 0);
    x_free(v);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_dns_exact),
        cmocka_unit_test(test_match_trailing_dot),
        cmocka_unit_test(test_match_wildcard),
        cmocka_unit_test(test_match_wildcard_fn),
        cmocka_unit_test(test_match_idn),
        cmocka_unit_test(test_match_srv),
        cmocka_unit_test(test_match_xmppaddr),
        cmocka_unit_test(test_match_not_mux_domains),
        cmocka_unit_test(test_match_many_and_null),
        cmocka_unit_test(test_match_never_cn),
        cmocka_unit_test(test_match_cert_m),
        cmocka_unit_test(test_match_domains),
        cmocka_unit_test(test_dialback_DB_03_key_vector),
        cmocka_unit_test(test_dialback_DB_03_key_inputs),
        cmocka_unit_test(test_dialback_DB_03_key_limits),
        cmocka_unit_test(test_dialback_DB_03_key_check),
        cmocka_unit_test(test_dialback_parse_result_request),
        cmocka_unit_test(test_dialback_parse_verify),
        cmocka_unit_test(test_dialback_parse_answers),
        cmocka_unit_test(test_dialback_parse_malformed),
        cmocka_unit_test(test_dialback_parse_empty_key),
        cmocka_unit_test(test_dialback_parse_limits),
        cmocka_unit_test(test_dialback_build_forms),
        cmocka_unit_test(test_dialback_build_roundtrip),
        cmocka_unit_test(test_dialback_cond_names),
        cmocka_unit_test(test_dialback_reply),
        cmocka_unit_test(test_dialback_pairs_basic),
        cmocka_unit_test(test_dialback_pairs_limit),
        cmocka_unit_test(test_dialback_DB_04_receive_verify_valid),
        cmocka_unit_test(test_dialback_DB_05_receive_invalid),
        cmocka_unit_test(test_dialback_DB_06_receive_not_served),
        cmocka_unit_test(test_dialback_DB_07_authoritative),
        cmocka_unit_test(test_dialback_receive_duplicates),
        cmocka_unit_test(test_dialback_DB_12_unsolicited_result),
        cmocka_unit_test(test_dialback_DB_13_unsolicited_verify),
        cmocka_unit_test(test_dialback_DB_16_cert_covers_sender),
        cmocka_unit_test(test_dialback_DB_18_before_tls),
        cmocka_unit_test(test_dialback_DB_20_pair_only),
        cmocka_unit_test(test_dialback_DB_08_sender_piggyback),
        cmocka_unit_test(test_dialback_DB_09_target_piggyback),
        cmocka_unit_test(test_dialback_DB_11_no_dialback_peer),
        cmocka_unit_test(test_dialback_DB_14_bounce),
        cmocka_unit_test(test_dialback_DB_17_timeout),
        cmocka_unit_test(test_mux_MUX_51_secret_vector),
        cmocka_unit_test(test_mux_secret_check_MUX_62_63),
        cmocka_unit_test(test_mux_SEC_09_constant_time),
        cmocka_unit_test(test_mux_SEC_08_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
