/* SPDX-License-Identifier: MIT */
/* test_jid.c -- unit tests for JID parsing, preparation and comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <stringprep.h>

#include "base/alloc.h"
#include "base/err.h"
#include "jid/jid.h"
#include "jid/jid_int.h"

/* Parse in and expect the prepared full JID want. */
static void
parse_ok(const char *in, const char *want)
{
    struct jid j;
    int rc = jid_parse(&j, in, strlen(in));
    if (rc != 0)
        fail_msg("jid_parse(\"%s\") = %s, want 0", in, xerr_name(rc));
    assert_string_equal(jid_str(&j), want);
    assert_int_equal(jid_len(&j), strlen(want));
    jid_fini(&j);
}

/* Parse in[0..len) and expect error want, with j left zeroed. */
static void
parse_err_n(const char *in, size_t len, int want)
{
    struct jid j;
    memset(&j, 0xa5, sizeof j);
    int rc = jid_parse(&j, in, len);
    if (rc != want)
        fail_msg("jid_parse(\"%.*s\") = %s, want %s", (int)len, in,
                 xerr_name(rc), xerr_name(want));
    assert_null(j.str);
    assert_int_equal(j.node_len + j.domain_len + j.res_len, 0);
    jid_fini(&j);
}

static void
parse_err(const char *in, int want)
{
    parse_err_n(in, strlen(in), want);
}

/* Prepare a domain and expect want, or an error when want is NULL. */
static void
dom(const char *in, const char *want)
{
    char out[JID_DOMAIN_BUFSZ];
    size_t n = 99;
    int rc = jid_domain_prep(in, strlen(in), out, sizeof out, &n);
    if (want == NULL) {
        if (rc != XE_JID_DOMAIN)
            fail_msg("jid_domain_prep(\"%s\") = %s (\"%s\"), want error", in,
                     xerr_name(rc), out);
        assert_int_equal(n, 0);
        assert_string_equal(out, "");
        return;
    }
    if (rc != 0)
        fail_msg("jid_domain_prep(\"%s\") = %s, want \"%s\"", in, xerr_name(rc),
                 want);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

/* Return a heap string of n copies of s followed by tail. */
static char *
repeat(const char *s, size_t n, const char *tail)
{
    size_t sl = strlen(s);
    size_t tl = strlen(tail);
    char *p = x_malloc(sl * n + tl + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(p + i * sl, s, sl + 1);
    memcpy(p + sl * n, tail, tl + 1);
    return p;
}

static void
test_jid_rfc7622_3_5_valid(void **state)
{
    (void)state;
    parse_ok("juliet@example.com", "juliet@example.com");
    parse_ok("juliet@example.com/foo", "juliet@example.com/foo");
    parse_ok("juliet@example.com/foo bar", "juliet@example.com/foo bar");
    parse_ok("juliet@example.com/foo@bar", "juliet@example.com/foo@bar");
    parse_ok("foo\\20bar@example.com", "foo\\20bar@example.com");
    parse_ok("fussball@example.com", "fussball@example.com");
    parse_ok("π@example.com", "π@example.com");
    parse_ok("σ@example.com/foo", "σ@example.com/foo");
    parse_ok("king@example.com/♚", "king@example.com/♚");
    parse_ok("example.com", "example.com");
    parse_ok("example.com/foobar", "example.com/foobar");
    parse_ok("a.example.com/b@example.net", "a.example.com/b@example.net");
}

/* RFC 7622 uses PRECIS; nodeprep (RFC 6122) case-folds instead of
 * lower-casing, and maps compatibility characters with NFKC rather than
 * refusing them. These are the §3.5 examples where the two differ. */
static void
test_jid_rfc7622_3_5_nodeprep_differences(void **state)
{
    (void)state;
    parse_ok("fußball@example.com", "fussball@example.com");
    parse_ok("Σ@example.com/foo", "σ@example.com/foo");
    parse_ok("ς@example.com/foo", "σ@example.com/foo");
    parse_ok("henry\xe2\x85\xa3@example.com", "henryiv@example.com");
    parse_ok("♚@example.com", "♚@example.com");
}

static void
test_jid_rfc7622_3_5_invalid(void **state)
{
    (void)state;
    parse_err("juliet@@example.com", XE_JID_DOMAIN);
    parse_err("foo bar@example.com", XE_JID_NODE);
    parse_err("juliet@", XE_JID_DOMAIN);
    parse_err("/foobar", XE_JID_DOMAIN);
}

static void
test_jid_rfc7622_3_1_split_and_empty_parts(void **state)
{
    (void)state;
    struct jid j;
    assert_int_equal(jid_parse(&j, "a/b@c", 5), 0);
    assert_false(jid_has_node(&j));
    assert_string_equal(jid_resource(&j, NULL), "b@c");
    jid_fini(&j);
    parse_ok("n@d/r/s@t", "n@d/r/s@t");
    parse_err("@d", XE_JID_NODE);
    parse_err("@", XE_JID_NODE);
    parse_err("@/r", XE_JID_NODE);
    parse_err("n@", XE_JID_DOMAIN);
    parse_err("n@/r", XE_JID_DOMAIN);
    parse_err("d/", XE_JID_RESOURCE);
    parse_err("n@d/", XE_JID_RESOURCE);
    parse_err("/", XE_JID_DOMAIN);
    parse_err("", XE_JID_DOMAIN);
    parse_err_n(NULL, 0, XE_JID_DOMAIN);
    parse_err_n(NULL, 3, XE_JID);
    /* The first bad part, in order, names the error. */
    parse_err("a b@c_d/\x01", XE_JID_NODE);
    parse_err("ab@c_d/\x01", XE_JID_DOMAIN);
}

static void
test_jid_case_folding(void **state)
{
    (void)state;
    parse_ok("JULIET@EXAMPLE.COM/Balcony", "juliet@example.com/Balcony");
    parse_ok("ÉLODIE@Example.Com/ÉTÉ", "élodie@example.com/ÉTÉ");
    /* Soft hyphen is mapped to nothing (table B.1) in both profiles. */
    parse_ok("a\xc2\xad"
             "b@example.com/c\xc2\xad"
             "d",
             "ab@example.com/cd");
    parse_err("\xc2\xad@example.com", XE_JID_NODE);
    /* Full-width '@' becomes '@' under NFKC, which nodeprep refuses. */
    parse_err("a\xef\xbc\xa0"
              "b@example.com",
              XE_JID_NODE);
}

/* SEC-13: domains compare after IDNA A-label conversion, lower-casing
 * and the stripping of one trailing dot: every spelling of a domain
 * prepares to the same string. */
static void
test_jid_SEC_13_domain_compare(void **state)
{
    (void)state;
    dom("Rooms.Capulet.Example.", "rooms.capulet.example");
    dom("rooms.capulet.example", "rooms.capulet.example");
    dom("ROOMS.CAPULET.EXAMPLE", "rooms.capulet.example");
    dom("räume.capulet.example", "xn--rume-loa.capulet.example");
    dom("xn--rume-loa.capulet.example", "xn--rume-loa.capulet.example");
    dom("RÄUME.Capulet.Example.", "xn--rume-loa.capulet.example");
}

static void
test_jid_domain_idn(void **state)
{
    (void)state;
    dom("ÉXAMPLE.com", "xn--xample-9ua.com");
    dom("münchen.de", "xn--mnchen-3ya.de");
    dom("MÜNCHEN.DE", "xn--mnchen-3ya.de");
    dom("xn--mnchen-3ya.de", "xn--mnchen-3ya.de");
    dom("XN--MNCHEN-3YA.De", "xn--mnchen-3ya.de");
    dom("münchen\xe3\x80\x82"
        "de",
        "xn--mnchen-3ya.de");
    dom("faß.de", "xn--fa-hia.de");
    dom("\xd8\xa7\xd8\xa8.example", "xn--mgbc.example");
    dom("xn--abc", NULL);          /* not valid Punycode */
    dom("xn--ls8h.example", NULL); /* an emoji A-label */
    dom("😀.example", NULL);        /* IDNA2008 disallows emoji */
    dom("\xd8\xa7"
        "a.example",
        NULL);                        /* bidi rule */
    dom("ü_x.de", NULL);              /* '_' inside an A-label */
    dom("ex_ample.münchen.de", NULL); /* ASCII label next to a U-label */
    dom("a\xef\xbc\xbf"
        "b.example",
        NULL);                        /* full-width '_' */
    dom("münchen\xe3\x80\x82", NULL); /* only '.' is stripped */
    dom("a\xef\xbc\x8f"
        "b.example",
        NULL); /* full-width '/' */
    parse_ok("user@münchen.de/r", "user@xn--mnchen-3ya.de/r");
}

static void
test_jid_domain_trailing_dot(void **state)
{
    (void)state;
    dom("example.com.", "example.com");
    dom("münchen.de.", "xn--mnchen-3ya.de");
    dom("example.com..", NULL);
    dom(".", NULL);
    dom("..", NULL);
    dom(".example.com", NULL);
    parse_ok("juliet@example.com./r", "juliet@example.com/r");
    parse_ok("example.com.", "example.com");
}

static void
test_jid_domain_ip_literals(void **state)
{
    (void)state;
    dom("127.0.0.1", "127.0.0.1");
    dom("127.0.0.1.", "127.0.0.1");
    dom("[::1]", "[::1]");
    dom("[0:0:0:0:0:0:0:1]", "[::1]");
    dom("[FE80::A]", "[fe80::a]");
    dom("[::ffff:192.0.2.1]", "[::ffff:192.0.2.1]");
    dom("[::1].", "[::1]");
    dom("[::1", NULL);
    dom("[]", NULL);
    dom("[1.2.3.4]", NULL);
    dom("[fe80::1%25eth0]", NULL);
    dom("::1", NULL);
    dom("[::1]x", NULL);
    /* Not dotted quads, and all-digit last labels are refused. */
    dom("256.1.1.1", NULL);
    dom("127.1", NULL);
    dom("1.2.3.04", NULL);
    dom("1.2.3.4.5", NULL);
    dom("1234", NULL);
    dom("example.123", NULL);
    dom("123.example", "123.example");
    dom("1.2.3.4a", "1.2.3.4a");
    parse_ok("a@[::1]/r", "a@[::1]/r");
}

static void
test_jid_domain_labels(void **state)
{
    (void)state;
    dom("ex_ample.com", NULL);
    dom("_xmpp-client._tcp.example.com", NULL);
    dom("a..b", NULL);
    dom("-a.com", NULL);
    dom("a-.com", NULL);
    dom("a.-com", NULL);
    dom("a-b.com", "a-b.com");
    dom("a--b.com", "a--b.com");
    dom("ab--c.com", NULL); /* reserved R-LDH label */
    dom("localhost", "localhost");
    dom("exa mple.com", NULL);
    dom("a/b", NULL);
    dom("a:5222", NULL);
    char *l63 = repeat("a", 63, ".com");
    char *l64 = repeat("a", 64, ".com");
    dom(l63, l63);
    dom(l64, NULL);
    x_free(l63);
    x_free(l64);
}

/* A host name of exactly n octets: 62-octet labels, then a shorter one. */
static char *
domain_of_len(size_t n)
{
    char *p = x_malloc(n + 1);
    memset(p, 'a', n);
    for (size_t i = 62; i + 1 < n; i += 63)
        p[i] = '.';
    p[n] = '\0';
    return p;
}

static void
test_jid_part_lengths_1023(void **state)
{
    (void)state;
    struct jid j;
    char *d = domain_of_len(JID_PART_MAX);
    dom(d, d);
    char *dot = repeat(d, 1, "."); /* the final dot is not counted */
    dom(dot, d);
    x_free(dot);
    x_free(d);
    d = domain_of_len(JID_PART_MAX + 1);
    dom(d, NULL);
    x_free(d);

    char *n = repeat("a", JID_PART_MAX, "@x");
    parse_ok(n, n);
    x_free(n);
    n = repeat("a", JID_PART_MAX + 1, "@x");
    parse_err(n, XE_JID_NODE);
    x_free(n);
    n = repeat("É", 511, "a@x"); /* 1023 octets once case-folded */
    assert_int_equal(jid_parse(&j, n, strlen(n)), 0);
    assert_int_equal(j.node_len, JID_PART_MAX);
    jid_fini(&j);
    x_free(n);
    n = repeat("é", 512, "@x");
    parse_err(n, XE_JID_NODE);
    x_free(n);

    char *r = repeat("a", JID_PART_MAX, "");
    char *full = repeat("x/", 1, r);
    parse_ok(full, full);
    x_free(full);
    x_free(r);
    r = repeat("a", JID_PART_MAX + 1, "");
    full = repeat("x/", 1, r);
    parse_err(full, XE_JID_RESOURCE);
    x_free(full);
    x_free(r);
    full = repeat("é", 511, "a");
    r = repeat("x/", 1, full);
    parse_ok(r, r);
    x_free(r);
    x_free(full);
}

/* Parts that shrink under preparation are bounded before it too. */
static void
test_jid_part_raw_limit(void **state)
{
    (void)state;
    char out[JID_PART_BUFSZ];
    size_t n;
    /* 1 + 2 * 1534 = 3069 octets of input, 1 octet prepared. */
    char *s = repeat("\xc2\xad", (JID_PART_RAW_MAX - 1) / 2, "a");
    assert_int_equal(strlen(s), JID_PART_RAW_MAX);
    assert_int_equal(jid_node_prep(s, strlen(s), out, sizeof out, &n), 0);
    assert_string_equal(out, "a");
    x_free(s);
    s = repeat("\xc2\xad", (JID_PART_RAW_MAX + 1) / 2, "a");
    assert_int_equal(jid_node_prep(s, strlen(s), out, sizeof out, &n),
                     XE_JID_NODE);
    assert_int_equal(jid_resource_prep(s, strlen(s), out, sizeof out, &n),
                     XE_JID_RESOURCE);
    x_free(s);
}

static void
test_jid_unassigned_refused(void **state)
{
    (void)state;
    parse_err("\xc8\xa1@example.com", XE_JID_NODE); /* U+0221, Unicode 4.0 */
    parse_err("a@example.com/\xc8\xa1", XE_JID_RESOURCE);
    parse_err("a@example.com/\xf0\x9f\x98\x80", XE_JID_RESOURCE); /* 6.1 */
    parse_err("\xf3\xa0\x80\x81@example.com", XE_JID_NODE);       /* tag, C.9 */
    parse_err("\xee\x80\x80@example.com", XE_JID_NODE); /* private use */
    /* Bidi: a string with right-to-left characters must start and end
     * with one. */
    parse_ok("\xd8\xa7\xd8\xa8@example.com", "\xd8\xa7\xd8\xa8@example.com");
    parse_err("\xd8\xa7"
              "1@example.com",
              XE_JID_NODE);
}

static void
test_jid_localpart_prohibited(void **state)
{
    (void)state;
    const char *bad[] = {"\"", "&", "'",  "/",    ":",    "<",   ">",
                         "@",  " ", "\t", "\x01", "\x1f", "\x7f"};
    char out[JID_PART_BUFSZ];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char in[8];
        size_t n = 0;
        in[0] = 'a';
        in[1] = bad[i][0];
        in[2] = 'b';
        in[3] = '\0';
        assert_int_equal(jid_node_prep(in, 3, out, sizeof out, &n),
                         XE_JID_NODE);
        struct jid j;
        assert_int_equal(jid_init_parts(&j, in, "example.com", NULL),
                         XE_JID_NODE);
        assert_null(j.str);
    }
    /* The resourcepart takes all of these but the controls. */
    char out2[JID_PART_BUFSZ];
    assert_int_equal(
        jid_resource_prep("\"&'/:<>@ x", 10, out2, sizeof out2, NULL), 0);
    assert_string_equal(out2, "\"&'/:<>@ x");
    assert_int_equal(jid_resource_prep("a\tb", 3, out2, sizeof out2, NULL),
                     XE_JID_RESOURCE);
    assert_int_equal(jid_resource_prep("\xc2\x85", 2, out2, sizeof out2, NULL),
                     XE_JID_RESOURCE); /* C.2.2 */
    assert_int_equal(
        jid_resource_prep("\xe1\x9a\x80", 3, out2, sizeof out2, NULL),
        XE_JID_RESOURCE); /* C.1.2, Ogham space mark */
    /* The ideographic space is C.1.2 too, but NFKC first makes it U+0020,
     * which resourceprep allows. */
    assert_int_equal(
        jid_resource_prep("\xe3\x80\x80", 3, out2, sizeof out2, NULL), 0);
    assert_string_equal(out2, " ");
}

static void
test_jid_nul_and_bad_utf8(void **state)
{
    (void)state;
    parse_err_n("a\0b@example.com", 15, XE_JID);
    parse_err_n("example.com\0", 12, XE_JID);
    parse_err_n("a@example.com/r\0", 16, XE_JID);
    parse_err_n("\0", 1, XE_JID);
    const char *bad[] = {
        "\xc3@example.com",         /* cut short */
        "a@example.com/\xc3",       /* cut short at the end */
        "\xc0\xaf@example.com",     /* overlong '/' */
        "\xe0\x80\xaf@example.com", /* overlong, 3 octets */
        "\xed\xa0\x80@example.com", /* surrogate */
        "\xf4\x90\x80\x80@x",       /* past U+10FFFF */
        "\xf8\x88\x80\x80\x80@x",   /* 5 octets */
        "\xff@x",
        "x/\x80",
        "ex\xc3\x28mple.com",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_err(bad[i], XE_JID);
    char out[JID_DOMAIN_BUFSZ];
    assert_int_equal(jid_domain_prep("a\0b", 3, out, sizeof out, NULL),
                     XE_JID_DOMAIN);
    assert_int_equal(jid_node_prep("a\0b", 3, out, sizeof out, NULL),
                     XE_JID_NODE);
    assert_int_equal(jid_resource_prep("\xc3", 1, out, sizeof out, NULL),
                     XE_JID_RESOURCE);
}

static void
test_jid_accessors(void **state)
{
    (void)state;
    struct jid j;
    size_t n;
    assert_int_equal(jid_parse(&j, "Juliet@Example.com/Balcony", 26), 0);
    assert_true(jid_has_node(&j));
    assert_true(jid_has_resource(&j));
    assert_memory_equal(jid_node(&j, &n), "juliet", 6);
    assert_int_equal(n, 6);
    assert_memory_equal(jid_domain(&j, &n), "example.com", 11);
    assert_int_equal(n, 11);
    assert_string_equal(jid_resource(&j, &n), "Balcony");
    assert_int_equal(n, 7);
    assert_memory_equal(jid_bare(&j, &n), "juliet@example.com", 18);
    assert_int_equal(n, 18);
    jid_fini(&j);

    assert_int_equal(jid_parse(&j, "example.com", 11), 0);
    assert_false(jid_has_node(&j));
    assert_false(jid_has_resource(&j));
    assert_null(jid_node(&j, &n));
    assert_int_equal(n, 0);
    assert_null(jid_resource(&j, &n));
    assert_int_equal(n, 0);
    assert_string_equal(jid_domain(&j, NULL), "example.com");
    jid_fini(&j);

    /* A zeroed struct is the unset JID. */
    memset(&j, 0, sizeof j);
    assert_string_equal(jid_str(&j), "");
    assert_int_equal(jid_len(&j), 0);
    assert_null(jid_domain(&j, &n));
    assert_int_equal(n, 0);
    assert_string_equal(jid_bare(&j, &n), "");
    jid_fini(&j);
    jid_fini(NULL);
}

static void
test_jid_compare(void **state)
{
    (void)state;
    struct jid a, b, c, d;
    assert_int_equal(jid_parse(&a, "Juliet@Example.COM/Foo", 22), 0);
    assert_int_equal(jid_parse(&b, "juliet@example.com./Foo", 23), 0);
    assert_int_equal(jid_parse(&c, "juliet@example.com/foo", 22), 0);
    assert_int_equal(jid_parse(&d, "example.com/juliet@example.com", 30), 0);
    assert_true(jid_eq(&a, &b));
    assert_false(jid_eq(&a, &c)); /* resources keep their case */
    assert_true(jid_bare_eq(&a, &c));
    assert_false(jid_bare_eq(&a, &d));
    assert_false(jid_eq(&a, &d));
    assert_true(jid_domain_eq(&a, "example.com", 11));
    assert_true(jid_domain_eq(&d, "example.com", 11));
    assert_false(jid_domain_eq(&a, "example.co", 10));
    assert_false(jid_domain_eq(&a, "EXAMPLE.COM", 11)); /* not prepared */
    assert_false(jid_domain_eq(&a, NULL, 0));
    struct jid z = {0};
    assert_true(jid_eq(&z, &z));
    assert_false(jid_eq(&a, &z));
    assert_false(jid_bare_eq(&z, &a));
    assert_false(jid_domain_eq(&z, "", 0));
    jid_fini(&a);
    jid_fini(&b);
    jid_fini(&c);
    jid_fini(&d);
}

static void
test_jid_build_copy_bare(void **state)
{
    (void)state;
    struct jid a, b, c;
    assert_int_equal(jid_init_parts(&a, "Juliet", "Example.com", NULL), 0);
    assert_string_equal(jid_str(&a), "juliet@example.com");
    assert_int_equal(jid_with_resource(&b, &a, "Balcony ", 8), 0);
    assert_string_equal(jid_str(&b), "juliet@example.com/Balcony ");
    assert_int_equal(jid_with_resource(&b, &b, "Orchard", 7), 0);
    assert_string_equal(jid_str(&b), "juliet@example.com/Orchard");
    assert_int_equal(jid_with_resource(&c, &a, "", 0), XE_JID_RESOURCE);
    assert_null(c.str);
    assert_int_equal(jid_with_resource(&b, &b, "\x01", 1), XE_JID_RESOURCE);
    assert_null(b.str);
    assert_int_equal(jid_with_resource(&b, &c, "r", 1), XE_JID);
    assert_int_equal(jid_init_parts(&b, NULL, "example.com", "r"), 0);
    assert_string_equal(jid_str(&b), "example.com/r");
    jid_fini(&b);
    assert_int_equal(jid_init_parts(&b, "a", NULL, "r"), XE_JID_DOMAIN);
    assert_int_equal(jid_init_parts(&b, "", "example.com", NULL), XE_JID_NODE);
    assert_int_equal(jid_init_parts(&b, "a", "example.com", ""),
                     XE_JID_RESOURCE);

    assert_int_equal(jid_parse(&b, "a@b/c/d", 7), 0);
    jid_dup(&c, &b);
    assert_true(jid_eq(&b, &c));
    assert_ptr_not_equal(b.str, c.str);
    jid_fini(&c);
    jid_to_bare(&c, &b);
    assert_string_equal(jid_str(&c), "a@b");
    assert_true(jid_bare_eq(&b, &c));
    assert_true(jid_eq(&a, &a));
    jid_fini(&c);
    jid_to_bare(&b, &b);
    assert_string_equal(jid_str(&b), "a@b");
    assert_false(jid_has_resource(&b));
    assert_int_equal(jid_len(&b), 3);
    jid_to_bare(&b, &b);
    assert_string_equal(jid_str(&b), "a@b");
    jid_fini(&b);
    memset(&b, 0, sizeof b);
    jid_to_bare(&c, &b);
    assert_null(c.str);
    jid_dup(&c, &b);
    assert_null(c.str);
    jid_fini(&a);
}

static void
test_jid_prep_buffer_limit(void **state)
{
    (void)state;
    char out[4];
    size_t n = 9;
    assert_int_equal(jid_domain_prep("abc", 3, out, sizeof out, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(jid_domain_prep("abcd", 4, out, sizeof out, &n), XE_LIMIT);
    assert_int_equal(n, 0);
    assert_string_equal(out, "");
    assert_int_equal(jid_node_prep("abcd", 4, out, sizeof out, &n), XE_LIMIT);
    assert_int_equal(jid_resource_prep("abcd", 4, out, sizeof out, &n),
                     XE_LIMIT);
    assert_int_equal(jid_resource_prep("abc", 3, out, sizeof out, &n), 0);
    assert_int_equal(jid_domain_prep("a_b", 3, out, 0, &n), XE_JID_DOMAIN);
}

/* xorshift64*: a fixed sequence, so failures reproduce. */
static uint64_t
rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* Fill s with 1..max random characters drawn from alphabet (or from all
 * of 0x00..0x7f when alphabet is NULL); returns the length. */
static size_t
rnd_str(uint64_t *seed, char *s, size_t max, const char *alphabet)
{
    size_t n = 1 + rnd(seed) % max;
    size_t an = alphabet ? strlen(alphabet) : 128;
    for (size_t i = 0; i < n; i++) {
        size_t k = rnd(seed) % an;
        s[i] = (char)(alphabet ? (unsigned char)alphabet[k] : k);
    }
    s[n] = '\0';
    return n;
}

/* Compare one ASCII fast path with libidn's profile on s[0..n). */
static void
check_fast_path(const char *s,
                size_t n,
                const Stringprep_profile *profile,
                int (*fast)(const char *, size_t, char *))
{
    char want[64];
    char got[64];
    int frc = fast(s, n, got);
    if (memchr(s, '\0', n) != NULL) {
        /* libidn cannot see past a NUL; no profile allows U+0000. */
        assert_int_not_equal(frc, 0);
        return;
    }
    memcpy(want, s, n + 1);
    int lrc = stringprep(want, sizeof want, STRINGPREP_NO_UNASSIGNED, profile);
    if ((lrc == STRINGPREP_OK) != (frc == 0))
        fail_msg("fast path %d, libidn %d on \"%s\"", frc, lrc, s);
    if (frc == 0)
        assert_string_equal(got, want);
}

static void
test_jid_ascii_fast_path_matches_libidn(void **state)
{
    (void)state;
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    char s[32];
    for (int i = 0; i < 200000; i++) {
        size_t n = rnd_str(&seed, s, 12, NULL);
        check_fast_path(s, n, stringprep_xmpp_nodeprep, jid__node_prep_ascii);
        check_fast_path(s, n, stringprep_xmpp_resourceprep,
                        jid__resource_prep_ascii);
    }
    /* Every single character, so none is missed by chance. */
    for (int c = 0; c < 128; c++) {
        s[0] = (char)c;
        s[1] = '\0';
        check_fast_path(s, 1, stringprep_xmpp_nodeprep, jid__node_prep_ascii);
        check_fast_path(s, 1, stringprep_xmpp_resourceprep,
                        jid__resource_prep_ascii);
    }
}

/* Compare the ASCII label path with libidn2 on the same domain. */
static void
check_domain_paths(const char *s, size_t n)
{
    char fast[JID_DOMAIN_BUFSZ];
    char idn[JID_DOMAIN_BUFSZ];
    size_t fn, in;
    int frc = jid__domain_prep(s, n, fast, sizeof fast, &fn, false);
    int irc = jid__domain_prep(s, n, idn, sizeof idn, &in, true);
    if (frc != irc)
        fail_msg("fast path %s, libidn2 %s on \"%s\"", xerr_name(frc),
                 xerr_name(irc), s);
    assert_string_equal(fast, idn);
}

static void
test_jid_ascii_domain_path_matches_libidn2(void **state)
{
    (void)state;
    uint64_t seed = 0x2545f4914f6cdd1dULL;
    char s[32];
    for (int i = 0; i < 30000; i++) {
        size_t n = rnd_str(&seed, s, 10, "aZ09-._xn");
        check_domain_paths(s, n);
    }
    for (int i = 0; i < 20000; i++) {
        size_t n = rnd_str(&seed, s, 8, NULL);
        if (memchr(s, '\0', n) == NULL)
            check_domain_paths(s, n);
    }
    for (int c = 1; c < 128; c++) {
        char t[4] = "a?b";
        t[1] = (char)c;
        check_domain_paths(t, 3);
    }
}

/* jid_parse's per-thread cache: a hit gives exactly the first parse, a
 * failure is never cached, long inputs bypass it, and after the cache is
 * freed everything still parses. */
static void
test_jid_parse_cache(void **state)
{
    (void)state;
    const char *in = "Juliet@Capulet.Example/Balcony";
    for (int round = 0; round < 2; round++) {
        for (int k = 0; k < 3; k++) {
            struct jid j;
            assert_int_equal(jid_parse(&j, in, strlen(in)), 0);
            assert_string_equal(jid_str(&j), "juliet@capulet.example/Balcony");
            assert_int_equal(j.node_len, 6);
            assert_int_equal(j.domain_len, 15);
            assert_int_equal(j.res_len, 7);
            jid_fini(&j);
            struct jid bad;
            assert_int_equal(jid_parse(&bad, "a@/x", 4), XE_JID_DOMAIN);
            assert_null(bad.str);
        }
        /* Many different addresses: slots are replaced, results stay. */
        for (int n = 0; n < 2000; n++) {
            char buf[64];
            int len = snprintf(buf, sizeof buf, "U%d@Host%d.Example", n, n % 7);
            char want[64];
            snprintf(want, sizeof want, "u%d@host%d.example", n, n % 7);
            struct jid j;
            assert_int_equal(jid_parse(&j, buf, (size_t)len), 0);
            assert_string_equal(jid_str(&j), want);
            jid_fini(&j);
        }
        char lng[200];
        memset(lng, 'a', sizeof lng);
        memcpy(lng + 150, "@b.example", 10);
        struct jid j;
        assert_int_equal(jid_parse(&j, lng, 160), 0);
        assert_int_equal(j.node_len, 150);
        jid_fini(&j);
        jid_cache_free();
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jid_rfc7622_3_5_valid),
        cmocka_unit_test(test_jid_parse_cache),
        cmocka_unit_test(test_jid_rfc7622_3_5_nodeprep_differences),
        cmocka_unit_test(test_jid_rfc7622_3_5_invalid),
        cmocka_unit_test(test_jid_rfc7622_3_1_split_and_empty_parts),
        cmocka_unit_test(test_jid_case_folding),
        cmocka_unit_test(test_jid_SEC_13_domain_compare),
        cmocka_unit_test(test_jid_domain_idn),
        cmocka_unit_test(test_jid_domain_trailing_dot),
        cmocka_unit_test(test_jid_domain_ip_literals),
        cmocka_unit_test(test_jid_domain_labels),
        cmocka_unit_test(test_jid_part_lengths_1023),
        cmocka_unit_test(test_jid_part_raw_limit),
        cmocka_unit_test(test_jid_unassigned_refused),
        cmocka_unit_test(test_jid_localpart_prohibited),
        cmocka_unit_test(test_jid_nul_and_bad_utf8),
        cmocka_unit_test(test_jid_accessors),
        cmocka_unit_test(test_jid_compare),
        cmocka_unit_test(test_jid_build_copy_bare),
        cmocka_unit_test(test_jid_prep_buffer_limit),
        cmocka_unit_test(test_jid_ascii_fast_path_matches_libidn),
        cmocka_unit_test(test_jid_ascii_domain_path_matches_libidn2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
