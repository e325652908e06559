/* SPDX-License-Identifier: MIT */
/* test_xml.c -- unit tests for the streaming XML reader and escaping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "xml/xml.h"

#define HDR                                                                 \
    "<stream:stream xmlns='jabber:client' "                                 \
    "xmlns:stream='http://etherx.jabber.org/streams' to='capulet.example' " \
    "version='1.0'>"

/* A header with two declarations and nothing long, for tight limits. */
#define H0 "<s:s xmlns:s='urn:s' xmlns='jc'>"

static const struct xml_limits test_limits = {
    .max_depth = 16,
    .max_attrs = 16,
    .max_name = 256,
    .max_text = 4096,
    .max_stanza = 16384,
};

/* Records every event as one line of text, merging split text, so two
 * feeds can be compared. */
struct rec {
    struct xml_reader *r;
    struct buf log;
    struct buf text; /* pending text run */
    int text_depth;
    char el1[64];           /* local name of the open depth-1 element */
    const char *stop_end;   /* xml_reader_stop when this depth-1 ends */
    const char *stop_start; /* xml_reader_stop when this starts */
    bool stop_close;        /* xml_reader_stop on </stream:stream> */
    int fail_start;         /* returned by start, if not 0 */
    bool stopped;           /* this test called xml_reader_stop */
    bool log_raw;           /* log each stanza's raw bytes ("R ...") */
    unsigned opens;
};

static void
rec_stop(struct rec *c)
{
    c->stopped = true;
    xml_reader_stop(c->r);
}

static void
flush_text(struct rec *c)
{
    if (buf_len(&c->text) == 0)
        return;
    buf_printf(&c->log, "T%d %s\n", c->text_depth, buf_ptr(&c->text));
    buf_reset(&c->text);
}

static void
log_name(struct rec *c, const struct xml_name *n)
{
    buf_printf(&c->log, "{%s}%s", n->ns, n->local);
    if (n->prefix[0])
        buf_printf(&c->log, "@%s", n->prefix);
}

static void
log_attrs(struct rec *c, const struct xml_attr *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        buf_appendz(&c->log, " ");
        log_name(c, &a[i].name);
        assert_int_equal(strlen(a[i].value), a[i].value_len);
        buf_printf(&c->log, "=%s", a[i].value);
    }
}

static int
rec_open(void *arg,
         const struct xml_name *el,
         const struct xml_attr *attrs,
         size_t nattrs,
         const struct xml_nsdecl *decls,
         size_t ndecls)
{
    struct rec *c = arg;
    flush_text(c);
    c->opens++;
    buf_appendz(&c->log, "O ");
    log_name(c, el);
    log_attrs(c, attrs, nattrs);
    for (size_t i = 0; i < ndecls; i++)
        buf_printf(&c->log, " d:%s=%s", decls[i].prefix, decls[i].uri);
    buf_appendz(&c->log, "\n");
    return 0;
}

static int
rec_start(void *arg,
          unsigned depth,
          const struct xml_name *el,
          const struct xml_attr *attrs,
          size_t nattrs)
{
    struct rec *c = arg;
    flush_text(c);
    buf_printf(&c->log, "S%u ", depth);
    log_name(c, el);
    log_attrs(c, attrs, nattrs);
    buf_appendz(&c->log, "\n");
    if (depth == 1)
        snprintf(c->el1, sizeof(c->el1), "%s", el->local);
    if (c->stop_start && strcmp(el->local, c->stop_start) == 0)
        rec_stop(c);
    return c->fail_start;
}

static int
rec_text(void *arg, unsigned depth, const char *s, size_t len)
{
    struct rec *c = arg;
    if (buf_len(&c->text) && c->text_depth != (int)depth)
        flush_text(c);
    c->text_depth = (int)depth;
    assert_int_equal(buf_append(&c->text, s, len), 0);
    return 0;
}

static int
rec_end(void *arg, unsigned depth)
{
    struct rec *c = arg;
    flush_text(c);
    buf_printf(&c->log, "E%u\n", depth);
    if (depth == 1 && c->log_raw) {
        size_t n;
        const char *raw = xml_reader_element_raw(c->r, &n);
        if (raw == NULL)
            buf_appendz(&c->log, "R -\n");
        else
            buf_printf(&c->log, "R %.*s\n", (int)n, raw);
    }
    if (depth == 1 && c->stop_end && strcmp(c->el1, c->stop_end) == 0)
        rec_stop(c);
    return 0;
}

static int
rec_close(void *arg)
{
    struct rec *c = arg;
    flush_text(c);
    buf_appendz(&c->log, "C\n");
    if (c->stop_close)
        rec_stop(c);
    return 0;
}

static const struct xml_handler rec_handler = {
    rec_open, rec_start, rec_text, rec_end, rec_close,
};

static void
rec_init(struct rec *c, const struct xml_limits *lim)
{
    memset(c, 0, sizeof(*c));
    buf_init(&c->log, 1 << 24);
    buf_init(&c->text, 1 << 24);
    c->r = xml_reader_new(lim ? lim : &test_limits, &rec_handler, c);
}

static void
rec_fini(struct rec *c)
{
    xml_reader_free(c->r);
    buf_fini(&c->log);
    buf_fini(&c->text);
}

static const char *
rec_log(struct rec *c)
{
    flush_text(c);
    return buf_ptr(&c->log);
}

static uint32_t
rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (uint32_t)((*s * 0x2545F4914F6CDD1DULL) >> 32);
}

/* Feeds data in chunks of 1..maxchunk bytes (all of it if maxchunk is 0);
 * a stop is handled like a stream restart: reset and feed the rest.
 * Returns the first error. */
static int
feed_split(struct rec *c,
           const char *data,
           size_t len,
           uint64_t *seed,
           size_t maxchunk)
{
    size_t off = 0;
    while (off < len) {
        size_t n = len - off;
        if (maxchunk && seed) {
            size_t k = 1 + rnd(seed) % maxchunk;
            n = n < k ? n : k;
        } else if (maxchunk && n > maxchunk) {
            n = maxchunk;
        }
        size_t used = 99999;
        int rc = xml_reader_feed(c->r, data + off, n, &used);
        if (rc)
            return rc;
        assert_true(used <= n);
        off += used;
        /* The handler knows it asked for a restart; used < n alone would
         * miss a stop at the very end of a chunk. */
        if (c->stopped) {
            c->stopped = false;
            xml_reader_reset(c->r);
        } else {
            assert_int_equal(used, n);
        }
    }
    return 0;
}

/* Parses s in one piece; returns the error and leaves the log in c. */
static int
parse(struct rec *c, const char *s, const struct xml_limits *lim)
{
    rec_init(c, lim);
    return feed_split(c, s, strlen(s), NULL, 0);
}

/* Expects s to fail with err however it is split. */
static void
expect_err(const char *s, const struct xml_limits *lim, int err)
{
    struct rec c;
    assert_int_equal(parse(&c, s, lim), err);
    rec_fini(&c);
    rec_init(&c, lim);
    assert_int_equal(feed_split(&c, s, strlen(s), NULL, 1), err);
    rec_fini(&c);
}

static void
expect_ok(const char *s, const struct xml_limits *lim)
{
    expect_err(s, lim, 0);
}

/* --- events ------------------------------------------------------------- */

static void
test_xml_events(void **state)
{
    (void)state;
    struct rec c;
    const char *s = HDR "\n <message to='a@b' xml:lang='en'><body>hi &amp; "
                        "bye</body><x xmlns='urn:x' xmlns:p='urn:p' "
                        "p:a='1'/></message>"
                        "<db:result xmlns:db='jabber:server:dialback'/>"
                        "</stream:stream>";
    assert_int_equal(parse(&c, s, NULL), 0);
    assert_string_equal(
        rec_log(&c),
        "O {http://etherx.jabber.org/streams}stream@stream {}to=capulet."
        "example {}version=1.0 d:=jabber:client "
        "d:stream=http://etherx.jabber.org/streams\n"
        "T0 \n \n"
        "S1 {jabber:client}message {}to=a@b "
        "{http://www.w3.org/XML/1998/namespace}lang@xml=en\n"
        "S2 {jabber:client}body\n"
        "T2 hi & bye\n"
        "E2\n"
        "S2 {urn:x}x {urn:p}a@p=1\n"
        "E2\n"
        "E1\n"
        "S1 {jabber:server:dialback}result@db\n"
        "E1\n"
        "C\n");
    assert_int_equal(xml_reader_bytes(c.r), strlen(s));
    rec_fini(&c);
}

static void
test_xml_entities_and_cdata(void **state)
{
    (void)state;
    struct rec c;
    assert_int_equal(
        parse(&c,
              HDR "<m a='&lt;&amp;&#x41;&quot;'>&amp;&lt;&gt;&quot;&apos;"
                  "&#65;&#x42;&#x1F600;<![CDATA[<x>&amp;]]></m>",
              NULL),
        0);
    assert_non_null(strstr(rec_log(&c), "S1 {jabber:client}m {}a=<&A\"\n"
                                        "T1 &<>\"'AB\xF0\x9F\x98\x80<x>&amp;"
                                        "\nE1\n"));
    rec_fini(&c);
}

/* Feeding byte by byte and in random splits yields the same events as
 * feeding in one piece. */
static void
test_xml_random_splits(void **state)
{
    (void)state;
    const char *s =
        "<?xml version='1.0' encoding='UTF-8'?>" HDR
        "<message from='romeo@montague.example/orchard' id='m1' "
        "type='chat'><body>Wherefore art thou, Romeo? &amp; &#x263A; "
        "\xc3\xa9t\xc3\xa9\r\nline two</body><thread>t1</thread>"
        "<active xmlns='http://jabber.org/protocol/chatstates'/></message>\n"
        "<presence><show>away</show><c xmlns='http://jabber.org/protocol/"
        "caps' hash='sha-1' node='n' ver='v'/></presence>  \t\r\n"
        "<iq type='get' id='d1'><query xmlns='http://jabber.org/protocol/"
        "disco#info'/></iq><x:y xmlns:x='urn:x' x:a='&lt;'><x:z/>t</x:y>"
        "</stream:stream>";
    size_t len = strlen(s);
    struct rec whole;
    assert_int_equal(parse(&whole, s, NULL), 0);
    const char *want = rec_log(&whole);
    uint64_t seed = 42;
    for (int iter = 0; iter < 2000; iter++) {
        struct rec c;
        rec_init(&c, NULL);
        size_t maxchunk = iter == 0 ? 1 : 1 + rnd(&seed) % 64;
        assert_int_equal(feed_split(&c, s, len, &seed, maxchunk), 0);
        assert_string_equal(rec_log(&c), want);
        rec_fini(&c);
    }
    rec_fini(&whole);
}

/* Each stanza's bytes as received, for forwarding unchanged: the same
 * however the input is split, hibernation included, and withheld where
 * the bytes would mean something else on another stream. */
static void
test_xml_element_raw(void **state)
{
    (void)state;
    static const char *const stanzas[] = {
        /* forwardable as received */
        "<message to='juliet@capulet.example' id='m1' type='chat'><body>"
        "Wherefore &amp; &#x263A; \xc3\xa9</body><thread>t1</thread>"
        "<active xmlns='http://jabber.org/protocol/chatstates'/></message>",
        "<presence/>",
        "<presence\t xml:lang='en'><status>x</status></presence>",
        "<iq type='get' id='d1'><query xmlns='http://jabber.org/protocol/"
        "disco#info'><x xmlns=''/></query></iq>",
        "<message><body><![CDATA[<a>]]></body></message>",
        /* not forwardable: a namespace on the stanza itself, a prefix,
         * a prefix declared inside, a content namespace declared inside */
        "<message xmlns='jabber:client'><body>b</body></message>",
        "<stream:x><y/></stream:x>",
        "<message><x:y xmlns:x='urn:x'/></message>",
        "<message><body stream:a='1'>b</body></message>",
        "<message><x xmlns='urn:x'><message xmlns='jabber:client'/></x>"
        "</message>",
    };
    const size_t nstanzas = sizeof(stanzas) / sizeof(stanzas[0]);
    const size_t nforward = 5;
    struct buf in, want;
    buf_init(&in, 1 << 20);
    buf_init(&want, 1 << 20);
    buf_appendz(&in, HDR);
    for (size_t i = 0; i < nstanzas; i++) {
        buf_appendz(&in, stanzas[i]);
        buf_appendz(&in, i % 2 ? " \n" : "");
    }
    struct rec whole;
    rec_init(&whole, NULL);
    whole.log_raw = true;
    assert_int_equal(
        feed_split(&whole, buf_ptr(&in), buf_len(&in), NULL, 0), 0);
    /* The expected R lines, in order. */
    const char *log = rec_log(&whole);
    size_t k = 0;
    for (const char *p = strstr(log, "R "); p; p = strstr(p + 1, "\nR ")) {
        if (p != log && p[0] == '\n')
            p++;
        const char *e = strchr(p, '\n');
        assert_non_null(e);
        assert_true(k < nstanzas);
        if (k < nforward) {
            assert_int_equal((size_t)(e - p - 2), strlen(stanzas[k]));
            assert_memory_equal(p + 2, stanzas[k], strlen(stanzas[k]));
        } else {
            assert_int_equal(e - p, 3); /* "R -" */
        }
        k++;
    }
    assert_int_equal(k, nstanzas);
    uint64_t seed = 7;
    for (int iter = 0; iter < 3000; iter++) {
        struct rec c;
        rec_init(&c, NULL);
        c.log_raw = true;
        size_t maxchunk = iter == 0 ? 1 : 1 + rnd(&seed) % 80;
        const char *p = buf_ptr(&in);
        size_t len = buf_len(&in), off = 0;
        while (off < len) {
            size_t n = 1 + rnd(&seed) % maxchunk;
            n = n < len - off ? n : len - off;
            size_t used;
            assert_int_equal(xml_reader_feed(c.r, p + off, n, &used), 0);
            off += used;
            if (iter % 3 == 0)
                xml_reader_hibernate(c.r); /* only at boundaries */
        }
        assert_string_equal(rec_log(&c), log);
        rec_fini(&c);
    }
    rec_fini(&whole);
    buf_fini(&in);
    buf_fini(&want);
}

/* --- restricted XML (RFC 6120 §11.1) -------------------------------------- */

static void
test_xml_CORE_22_restricted(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "<!DOCTYPE stream>" HDR,
        "<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>",
        "<!DOCTYPE x [<!ENTITY % p 'b'>]><x/>",
        "<!-- x -->" HDR,
        HDR "<!-- x -->",
        HDR "<message><!-- x --></message>",
        "<?foo bar?>" HDR,
        HDR "<?foo bar?>",
        HDR "<message><?foo?></message>",
        HDR "</stream:stream><!-- after -->",
        "<?xml version='1.0' encoding='ISO-8859-1'?>" HDR,
        "<?xml version='1.0' encoding='UTF-16'?>" HDR,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rec c;
        assert_int_equal(parse(&c, bad[i], NULL), XE_RESTRICTED);
        bool enc = strstr(bad[i], "encoding=") != NULL;
        assert_int_equal(xml_reader_unsupported_encoding(c.r), enc);
        assert_non_null(xml_reader_error_text(c.r));
        /* Sticky until reset. */
        size_t used = 7;
        assert_int_equal(xml_reader_feed(c.r, "<a/>", 4, &used), XE_RESTRICTED);
        assert_int_equal(used, 0);
        rec_fini(&c);
        expect_err(bad[i], NULL, XE_RESTRICTED);
    }
    expect_ok("<?xml version='1.0' encoding='utf-8'?>" HDR, NULL);
    expect_ok("<?xml version='1.0' encoding='UTF-8'?>" HDR, NULL);
    expect_ok("<?xml version='1.0'?>" HDR, NULL);
    expect_ok("\xEF\xBB\xBF" HDR, NULL); /* a UTF-8 byte order mark */
}

/* --- not well-formed ------------------------------------------------------ */

static void
test_xml_CORE_22_not_well_formed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        HDR "<message>\xff</message>",
        HDR "<message>\xc0\xaf</message>",     /* overlong */
        HDR "<message>\xed\xa0\x80</message>", /* surrogate */
        HDR "<message>\xe2\x82</message>",     /* truncated */
        HDR "<message a='\xfe'/>",
        HDR "<mess\xc3\x28ge/>",
        HDR "<message>&#0;</message>",
        HDR "<message>&#1;</message>",
        HDR "<message></presence>",
        HDR "</message>",
        HDR "<message>&foo;</message>",
        HDR "<message a='1' a='2'/>",
        HDR "<x xmlns:p='u' xmlns:q='u' p:a='1' q:a='2'/>",
        HDR "<foo:bar/>",
        HDR "</stream:stream><stream:stream>",
        HDR "</stream:stream>junk",
        "<a/><b/>",
        "plain text",
        HDR "<message",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct rec c;
        rec_init(&c, NULL);
        size_t used;
        int rc = xml_reader_feed(c.r, bad[i], strlen(bad[i]), &used);
        if (i == sizeof(bad) / sizeof(bad[0]) - 1) {
            /* An unfinished tag is not an error until more comes. */
            assert_int_equal(rc, 0);
            rc = xml_reader_feed(c.r, "<", 1, &used);
        }
        assert_int_equal(rc, XE_XML);
        assert_false(xml_reader_unsupported_encoding(c.r));
        assert_int_equal(xml_reader_feed(c.r, "x", 1, &used), XE_XML);
        assert_int_equal(used, 0);
        xml_reader_reset(c.r);
        assert_int_equal(xml_reader_feed(c.r, HDR, strlen(HDR), &used), 0);
        rec_fini(&c);
    }
}

static void
test_xml_nul_byte(void **state)
{
    (void)state;
    static const char s[] = HDR "<message>a\0b</message>";
    struct rec c;
    rec_init(&c, NULL);
    size_t used;
    assert_int_equal(xml_reader_feed(c.r, s, sizeof(s) - 1, &used), XE_XML);
    rec_fini(&c);
}

static void
test_xml_stream_close(void **state)
{
    (void)state;
    struct rec c;
    assert_int_equal(parse(&c, HDR " </stream:stream> \n", NULL), 0);
    assert_non_null(strstr(rec_log(&c), "C\n"));
    rec_fini(&c);
}

/* --- limits: each at the limit and one past it ------------------------------
 */

static struct xml_limits
lim_with(size_t depth, size_t attrs, size_t name, size_t text, size_t stanza)
{
    struct xml_limits l = test_limits;
    if (depth)
        l.max_depth = depth;
    if (attrs)
        l.max_attrs = attrs;
    if (name)
        l.max_name = name;
    if (text)
        l.max_text = text;
    if (stanza)
        l.max_stanza = stanza;
    return l;
}

static void
test_xml_limit_depth(void **state)
{
    (void)state;
    struct xml_limits l = lim_with(3, 0, 0, 0, 0);
    expect_ok(HDR "<a><b><c/></b></a>", &l);
    expect_err(HDR "<a><b><c><d/></c></b></a>", &l, XE_LIMIT);
    l = lim_with(1, 0, 0, 0, 0);
    expect_ok(HDR "<a>t</a>", &l);
    expect_err(HDR "<a><b/></a>", &l, XE_LIMIT);
}

static void
test_xml_limit_attrs(void **state)
{
    (void)state;
    struct xml_limits l = lim_with(0, 3, 0, 0, 0);
    expect_ok(H0 "<a x='1' y='2' z='3'/>", &l);
    expect_err(H0 "<a x='1' y='2' z='3' w='4'/>", &l, XE_LIMIT);
    /* Namespace declarations count too. */
    expect_ok(H0 "<a xmlns='u' xmlns:p='v' p:x='1'/>", &l);
    expect_err(H0 "<a xmlns='u' xmlns:p='v' p:x='1' y='2'/>", &l, XE_LIMIT);
    expect_err(H0 "<a xmlns='u' xmlns:p='v' xmlns:q='w' xmlns:r='x'/>", &l,
               XE_LIMIT);
    /* The stream header: three declarations/attributes, then four. */
    expect_ok("<s:s xmlns:s='u' xmlns='c' to='x'>", &l);
    expect_err("<s:s xmlns:s='u' xmlns='c' to='x' version='1.0'>", &l,
               XE_LIMIT);
}

static void
test_xml_limit_name(void **state)
{
    (void)state;
    struct xml_limits l = lim_with(0, 0, 8, 0, 0);
    const char *h = "<s xmlns='jc'>";
    char buf[256];
    static const char *const ok[] = {
        "<abcdefgh/>",
        "<a abcdefgh='1'/>",
        "<a xmlns='urn:abcd'/>",
        "<p2345678:a xmlns:p2345678='u'/>",
        "<a xmlns:p='urn:abcd' p:abcdefgh='1'/>",
    };
    static const char *const bad[] = {
        "<abcdefghi/>",
        "<a abcdefghi='1'/>",
        "<a xmlns='urn:abcde'/>",
        "<p23456789:a xmlns:p23456789='u'/>",
        "<a xmlns:p='urn:abcd' p:abcdefghi='1'/>",
        "<a xmlns:p='urn:abcde'/>",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        snprintf(buf, sizeof(buf), "%s%s", h, ok[i]);
        expect_ok(buf, &l);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(buf, sizeof(buf), "%s%s", h, bad[i]);
        expect_err(buf, &l, XE_LIMIT);
    }
}

static void
test_xml_limit_text(void **state)
{
    (void)state;
    struct xml_limits l = lim_with(0, 0, 0, 8, 0);
    expect_ok(H0 "<a x='12345678'/>", &l);
    expect_err(H0 "<a x='123456789'/>", &l, XE_LIMIT);
    expect_ok(H0 "<a x='&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;'/>", &l);
    expect_err(H0 "<a x='&amp;&amp;&amp;&amp;&amp;&amp;&amp;&amp;9'/>", &l,
               XE_LIMIT);
    expect_ok(H0 "<a>12345678</a>", &l);
    expect_err(H0 "<a>123456789</a>", &l, XE_LIMIT);
    /* A run split by entities and line ends is one run. */
    expect_ok(H0 "<a>1&amp;3\n5&#54;78</a>", &l);
    expect_err(H0 "<a>1&amp;3\n5&#54;789</a>", &l, XE_LIMIT);
    /* Runs separated by an element are separate. */
    expect_ok(H0 "<a>12345678<b/>12345678</a>", &l);
    /* Text at depth 0 other than whitespace is a run too. */
    expect_ok(H0 "12345678<a/>", &l);
    expect_err(H0 "123456789<a/>", &l, XE_LIMIT);
    /* A run split over two feeds. */
    struct rec c;
    rec_init(&c, &l);
    size_t used;
    assert_int_equal(xml_reader_feed(c.r, H0 "<a>1234", strlen(H0) + 7, &used),
                     0);
    assert_int_equal(xml_reader_feed(c.r, "56789</a>", 9, &used), XE_LIMIT);
    rec_fini(&c);
}

/* Builds HDR + a depth-1 element of exactly n bytes. */
static char *
stanza_of(size_t n)
{
    const char *open = "<message>", *close = "</message>";
    size_t fixed = strlen(open) + strlen(close);
    assert_true(n >= fixed);
    size_t hl = strlen(HDR);
    char *s = x_malloc(hl + n + 1);
    memcpy(s, HDR, hl);
    memcpy(s + hl, open, strlen(open));
    memset(s + hl + strlen(open), 'x', n - fixed);
    memcpy(s + hl + n - strlen(close), close, strlen(close));
    s[hl + n] = '\0';
    return s;
}

static void
test_xml_limit_stanza(void **state)
{
    (void)state;
    struct xml_limits l = lim_with(0, 0, 0, 100000, 300);
    for (int past = 0; past <= 1; past++) {
        char *s = stanza_of(300 + (size_t)past);
        expect_err(s, &l, past ? XE_LIMIT : 0);
        /* Random splits agree. */
        uint64_t seed = 7;
        for (int i = 0; i < 50; i++) {
            struct rec c;
            rec_init(&c, &l);
            assert_int_equal(feed_split(&c, s, strlen(s), &seed, 40),
                             past ? XE_LIMIT : 0);
            rec_fini(&c);
        }
        x_free(s);
    }
    /* Two stanzas of the limit back to back, with and without
     * whitespace between them. */
    char *one = stanza_of(300);
    size_t hl = strlen(HDR);
    size_t sl = strlen(one) - hl;
    char *two = x_malloc(hl + 2 * sl + 2);
    memcpy(two, one, hl + sl);
    two[hl + sl] = ' ';
    memcpy(two + hl + sl + 1, one + hl, sl + 1);
    expect_ok(two, &l);
    memmove(two + hl + sl, two + hl + sl + 1, sl + 1);
    expect_ok(two, &l);
    x_free(two);
    x_free(one);
    /* The stream header is bounded too. */
    l = lim_with(0, 0, 0, 0, strlen(HDR));
    expect_ok(HDR, &l);
    l.max_stanza--;
    expect_err(HDR, &l, XE_LIMIT);
}

/* A start tag that never ends is refused once it passes max_stanza,
 * before the rest of the input is handed to expat. */
static void
test_xml_limit_pending_start_tag(void **state)
{
    (void)state;
    struct xml_limits l = lim_with(0, 100000, 100000, 100000, 1024);
    size_t n = 1 << 20;
    char *s = x_malloc(n);
    memset(s, ' ', n);
    memcpy(s, HDR "<message a='", strlen(HDR) + 12);
    struct rec c;
    rec_init(&c, &l);
    size_t used = 0;
    assert_int_equal(xml_reader_feed(c.r, s, n, &used), XE_LIMIT);
    assert_true(used <= strlen(HDR) + 1024);
    assert_true(xml_reader_bytes(c.r) <= strlen(HDR) + 1024);
    rec_fini(&c);
    x_free(s);
}

/* Whitespace keepalives between stanzas never add up to a limit. */
static void
test_xml_keepalives(void **state)
{
    (void)state;
    struct xml_limits l = lim_with(0, 0, 0, 16, 256);
    struct rec c;
    rec_init(&c, &l);
    size_t used;
    assert_int_equal(xml_reader_feed(c.r, HDR, strlen(HDR), &used), 0);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(xml_reader_feed(c.r, " \n", 2, &used), 0);
    char sp[4096];
    memset(sp, ' ', sizeof(sp));
    assert_int_equal(xml_reader_feed(c.r, sp, sizeof(sp), &used), 0);
    assert_int_equal(used, sizeof(sp));
    assert_int_equal(xml_reader_feed(c.r, "<a/>", 4, &used), 0);
    rec_fini(&c);
}

static void
test_xml_set_limits(void **state)
{
    (void)state;
    struct rec c;
    struct xml_limits l = lim_with(2, 0, 0, 0, 0);
    rec_init(&c, &l);
    size_t used;
    assert_int_equal(
        xml_reader_feed(c.r, HDR "<a><b/></a>", strlen(HDR) + 11, &used), 0);
    l.max_depth = 1;
    xml_reader_set_limits(c.r, &l);
    assert_int_equal(xml_reader_feed(c.r, "<a><b/></a>", 11, &used), XE_LIMIT);
    rec_fini(&c);
}

/* --- stop, reset, pipelining ---------------------------------------------- */

#define PROCEED  "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
#define STARTTLS "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
#define SUCCESS \
    "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>dg==</success>"

static void
check_pipelined(struct rec *c, const char *s, size_t stop_off)
{
    size_t used = 0;
    assert_int_equal(xml_reader_feed(c->r, s, strlen(s), &used), 0);
    assert_int_equal(used, stop_off);
    /* Nothing more until the restart. */
    size_t again = 9;
    assert_int_equal(xml_reader_feed(c->r, s + used, 1, &again), XE_STATE);
    assert_int_equal(again, 0);
    xml_reader_reset(c->r);
    assert_int_equal(xml_reader_feed(c->r, s + used, strlen(s) - used, &again),
                     0);
    assert_int_equal(again, strlen(s) - used);
    assert_int_equal(c->opens, 2);
}

static void
test_xml_stop_pipelined_restart(void **state)
{
    (void)state;
    const char *s =
        HDR STARTTLS " " PROCEED HDR "<message><body>x</body></message>";
    size_t stop_off = strlen(HDR STARTTLS " " PROCEED);
    struct rec c;
    rec_init(&c, NULL);
    c.stop_end = "proceed";
    check_pipelined(&c, s, stop_off);
    /* The prefix survives the reset (namespace triplets stay on). */
    assert_string_equal(
        strstr(rec_log(&c), "S1 {urn:ietf:params:xml:ns:xmpp-tls}proceed"),
        "S1 {urn:ietf:params:xml:ns:xmpp-tls}proceed\nE1\n"
        "O {http://etherx.jabber.org/streams}stream@stream {}to=capulet."
        "example {}version=1.0 d:=jabber:client "
        "d:stream=http://etherx.jabber.org/streams\n"
        "S1 {jabber:client}message\nS2 {jabber:client}body\nT2 x\nE2\nE1\n");
    assert_int_equal(xml_reader_bytes(c.r), strlen(s));
    rec_fini(&c);

    /* Stopping from the start of an empty element still reports its end:
     * its bytes were consumed. */
    rec_init(&c, NULL);
    c.stop_start = "proceed";
    check_pipelined(&c, s, stop_off);
    assert_non_null(strstr(rec_log(&c), "proceed\nE1\nO "));
    rec_fini(&c);

    /* A non-empty element, and a stop after </stream:stream>. */
    const char *t = HDR SUCCESS HDR "</stream:stream>" HDR;
    rec_init(&c, NULL);
    c.stop_end = "success";
    c.stop_close = true;
    size_t used;
    size_t first = strlen(HDR SUCCESS);
    assert_int_equal(xml_reader_feed(c.r, t, strlen(t), &used), 0);
    assert_int_equal(used, first);
    xml_reader_reset(c.r);
    assert_int_equal(xml_reader_feed(c.r, t + first, strlen(t) - first, &used),
                     0);
    assert_int_equal(used, strlen(HDR) + 16);
    xml_reader_reset(c.r);
    assert_int_equal(xml_reader_feed(c.r, HDR, strlen(HDR), &used), 0);
    assert_int_equal(c.opens, 3);
    rec_fini(&c);
}

/* A restart in the middle of randomly split input gives the same events
 * as feeding it whole. */
static void
test_xml_stop_random_splits(void **state)
{
    (void)state;
    const char *s = HDR STARTTLS PROCEED HDR
        "<auth mechanism='PLAIN'>AGp1bGlldAA=</auth>"
        "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" HDR
        "<iq type='set' id='b'><bind/></iq>";
    struct rec whole;
    rec_init(&whole, NULL);
    whole.stop_end = "proceed";
    assert_int_equal(feed_split(&whole, s, strlen(s), NULL, 0), 0);
    assert_int_equal(whole.opens, 2); /* "success" is not a stop here */
    uint64_t seed = 3;
    for (int i = 0; i < 500; i++) {
        struct rec c;
        rec_init(&c, NULL);
        c.stop_end = "proceed";
        assert_int_equal(feed_split(&c, s, strlen(s), &seed, 1 + i % 37), 0);
        assert_string_equal(rec_log(&c), rec_log(&whole));
        rec_fini(&c);
    }
    rec_fini(&whole);
}

static void
test_xml_callback_error(void **state)
{
    (void)state;
    struct rec c;
    rec_init(&c, NULL);
    c.fail_start = XE_PROTO;
    size_t used;
    assert_int_equal(
        xml_reader_feed(c.r, HDR "<message/>", strlen(HDR) + 10, &used),
        XE_PROTO);
    assert_int_equal(xml_reader_feed(c.r, "<a/>", 4, &used), XE_PROTO);
    assert_false(xml_reader_unsupported_encoding(c.r));
    xml_reader_reset(c.r);
    c.fail_start = 0;
    assert_int_equal(
        xml_reader_feed(c.r, HDR "<message/>", strlen(HDR) + 10, &used), 0);
    assert_string_equal(xml_reader_error_text(c.r), "no error");
    rec_fini(&c);
}

/* Handlers may be left out. */
static void
test_xml_null_handlers(void **state)
{
    (void)state;
    const struct xml_handler none = {0};
    struct xml_reader *r = xml_reader_new(&test_limits, &none, NULL);
    size_t used;
    const char *s = HDR "<a>t</a> </stream:stream>";
    assert_int_equal(xml_reader_feed(r, s, strlen(s), &used), 0);
    assert_int_equal(used, strlen(s));
    xml_reader_free(r);
    xml_reader_free(NULL);
}

/* --- escaping ------------------------------------------------------------- */

static void
test_xml_escape(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1024);
    const char *in = "a&b<c>d'e\"f\tg\nh\ri";
    assert_int_equal(xml_escape_text(&b, in, strlen(in)), 0);
    assert_string_equal(buf_ptr(&b), "a&amp;b&lt;c&gt;d'e\"f\tg\nh&#13;i");
    buf_reset(&b);
    assert_int_equal(xml_escape_attr(&b, in, strlen(in)), 0);
    assert_string_equal(buf_ptr(&b), "a&amp;b&lt;c&gt;d&apos;e&quot;f&#9;g&#10;"
                                     "h&#13;i");
    buf_reset(&b);
    assert_int_equal(xml_escape_text(&b, "", 0), 0);
    assert_int_equal(xml_escape_text(&b, "plain \xc3\xa9", 8), 0);
    assert_string_equal(buf_ptr(&b), "plain \xc3\xa9");
    buf_fini(&b);
    /* Full output: XE_LIMIT. */
    buf_init(&b, 9); /* 8 bytes and the NUL */
    assert_int_equal(xml_escape_text(&b, "<<", 2), 0);
    assert_int_equal(xml_escape_text(&b, "<", 1), XE_LIMIT);
    assert_int_equal(xml_escape_attr(&b, "abcdefgh", 8), XE_LIMIT);
    buf_fini(&b);
}

/* Hibernating between stanzas changes nothing the handler sees, in any
 * split of the input; it is refused inside a stanza or with bytes pending. */
static void
test_xml_hibernate_between_stanzas(void **state)
{
    (void)state;
    static const char *const parts[] = {
        HDR,
        "<message to='a@b'><body>x &amp; y</body></message>",
        " ",
        "<iq type='get' id='1'><q xmlns='urn:x'/></iq>",
        "<stream:features/>",
        "</stream:stream>"};
    struct rec a, b;
    rec_init(&a, NULL);
    rec_init(&b, NULL);
    size_t used;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        assert_int_equal(
            xml_reader_feed(a.r, parts[i], strlen(parts[i]), &used), 0);
        assert_int_equal(
            xml_reader_feed(b.r, parts[i], strlen(parts[i]), &used), 0);
        if (i > 0 && i < 5)
            assert_true(xml_reader_hibernate(b.r));
    }
    assert_string_equal(rec_log(&a), rec_log(&b));
    assert_int_equal(b.opens, 1);
    rec_fini(&a);
    rec_fini(&b);

    /* Not inside a stanza, nor with a partial tag pending, nor before
     * the stream header. */
    rec_init(&a, NULL);
    assert_false(xml_reader_hibernate(a.r));
    assert_int_equal(xml_reader_feed(a.r, HDR "<message><bo",
                                     strlen(HDR "<message><bo"), &used),
                     0);
    assert_false(xml_reader_hibernate(a.r));
    assert_int_equal(xml_reader_feed(a.r, "dy/></message><pres",
                                     strlen("dy/></message><pres"), &used),
                     0);
    assert_false(xml_reader_hibernate(a.r));
    assert_int_equal(xml_reader_feed(a.r, "ence/>", 6, &used), 0);
    assert_true(xml_reader_hibernate(a.r));
    /* Limits still count from the boundary after waking. */
    static const char big[] = "<message><body>0123456789</body></message>";
    assert_int_equal(xml_reader_feed(a.r, big, strlen(big), &used), 0);
    rec_fini(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xml_events),
        cmocka_unit_test(test_xml_entities_and_cdata),
        cmocka_unit_test(test_xml_random_splits),
        cmocka_unit_test(test_xml_element_raw),
        cmocka_unit_test(test_xml_CORE_22_restricted),
        cmocka_unit_test(test_xml_CORE_22_not_well_formed),
        cmocka_unit_test(test_xml_nul_byte),
        cmocka_unit_test(test_xml_stream_close),
        cmocka_unit_test(test_xml_limit_depth),
        cmocka_unit_test(test_xml_limit_attrs),
        cmocka_unit_test(test_xml_limit_name),
        cmocka_unit_test(test_xml_limit_text),
        cmocka_unit_test(test_xml_limit_stanza),
        cmocka_unit_test(test_xml_limit_pending_start_tag),
        cmocka_unit_test(test_xml_keepalives),
        cmocka_unit_test(test_xml_set_limits),
        cmocka_unit_test(test_xml_stop_pipelined_restart),
        cmocka_unit_test(test_xml_stop_random_splits),
        cmocka_unit_test(test_xml_callback_error),
        cmocka_unit_test(test_xml_null_handlers),
        cmocka_unit_test(test_xml_escape),
        cmocka_unit_test(test_xml_hibernate_between_stanzas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
