/* SPDX-License-Identifier: MIT */
/* test_stanza.c -- unit tests for stanza trees, builders, writer, errors. */
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
#include "stanza/stanza.h"
#include "xml/xml.h"

#define HDR_C                               \
    "<stream:stream xmlns='jabber:client' " \
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"

static const struct stanza_wctx wc_client = {
    .default_ns = NS_CLIENT,
    .nprefixes = 1,
    .prefix = {"stream"},
    .prefix_ns = {XML_NS_STREAM},
};

static const struct stanza_wctx wc_server = {
    .default_ns = NS_SERVER,
    .nprefixes = 2,
    .prefix = {"stream", "db"},
    .prefix_ns = {XML_NS_STREAM, NS_DIALBACK},
};

/* Serialises st into a static-sized buffer the test frees. */
static char *
write_str(const struct stanza *st, const struct stanza_wctx *w)
{
    struct buf b;
    buf_init(&b, 1 << 26);
    assert_int_equal(stanza_write(st, w, &b), 0);
    return buf_take(&b, NULL);
}

static void
assert_writes(const struct stanza *st,
              const struct stanza_wctx *w,
              const char *want)
{
    char *s = write_str(st, w);
    assert_string_equal(s, want);
    x_free(s);
}

/* --- parsing stanzas through the reader and a builder --------------------- */

/* Collects the serialisation of every stanza of a stream. */
struct collect {
    struct stanza_builder b;
    struct buf out;
    const struct stanza_wctx *w;
    size_t n;
    struct stanza *last; /* last finished stanza, kept */
    struct xml_reader *r;
    bool keep_raw; /* stanza_keep_raw what the reader offers */
};

static int
c_start(void *arg,
        unsigned depth,
        const struct xml_name *el,
        const struct xml_attr *attrs,
        size_t nattrs)
{
    struct collect *c = arg;
    stanza_builder_start(&c->b, depth, el, attrs, nattrs);
    return 0;
}

static int
c_text(void *arg, unsigned depth, const char *s, size_t len)
{
    struct collect *c = arg;
    stanza_builder_text(&c->b, depth, s, len);
    return 0;
}

static int
c_end(void *arg, unsigned depth)
{
    struct collect *c = arg;
    struct stanza *st = stanza_builder_end(&c->b, depth);
    if (st == NULL)
        return 0;
    assert_int_equal(depth, 1);
    c->n++;
    size_t rawlen;
    const char *raw = xml_reader_element_raw(c->r, &rawlen);
    if (c->keep_raw && raw != NULL)
        stanza_keep_raw(st, raw, rawlen);
    assert_int_equal(stanza_write(st, c->w, &c->out), 0);
    assert_int_equal(buf_appendz(&c->out, "\n"), 0);
    stanza_unref(c->last);
    c->last = st;
    return 0;
}

static const struct xml_handler c_handler = {NULL, c_start, c_text, c_end,
                                             NULL};

static const struct xml_limits big_limits = {64, 64, 1024, 1 << 20, 1 << 22};

static uint32_t
rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (uint32_t)((*s * 0x2545F4914F6CDD1DULL) >> 32);
}

/* Parses s (chunks of at most maxchunk bytes, random if seed is set; 0 =
 * whole) and serialises every stanza with w. */
static char *
parse_write_raw(const char *s,
                const struct stanza_wctx *w,
                size_t maxchunk,
                uint64_t *seed,
                struct stanza **last,
                bool keep_raw)
{
    struct collect c = {.w = w, .keep_raw = keep_raw};
    stanza_builder_init(&c.b);
    buf_init(&c.out, 1 << 26);
    struct xml_reader *r = xml_reader_new(&big_limits, &c_handler, &c);
    c.r = r;
    size_t len = strlen(s), off = 0;
    while (off < len) {
        size_t n = len - off;
        if (maxchunk) {
            size_t k = seed ? 1 + rnd(seed) % maxchunk : maxchunk;
            n = n < k ? n : k;
        }
        size_t used;
        assert_int_equal(xml_reader_feed(r, s + off, n, &used), 0);
        assert_int_equal(used, n);
        off += n;
    }
    xml_reader_free(r);
    stanza_builder_fini(&c.b);
    if (last)
        *last = c.last;
    else
        stanza_unref(c.last);
    return buf_take(&c.out, NULL);
}

static char *
parse_write(const char *s,
            const struct stanza_wctx *w,
            size_t maxchunk,
            uint64_t *seed,
            struct stanza **last)
{
    return parse_write_raw(s, w, maxchunk, seed, last, false);
}

/* Parses one stanza from a jabber:client stream. */
static struct stanza *
parse_one(const char *stanza)
{
    size_t n = strlen(HDR_C) + strlen(stanza) + 1;
    char *s = x_malloc(n);
    snprintf(s, n, "%s%s", HDR_C, stanza);
    struct stanza *st = NULL;
    char *out = parse_write(s, &wc_client, 0, NULL, &st);
    x_free(out);
    x_free(s);
    assert_non_null(st);
    return st;
}

/* --- building and accessors ---------------------------------------------- */

/* <message to type xml:lang id><body>Hello, Juliet</body>between<active/>
 * </message>, built through the API. */
static struct stanza *
build_message(void)
{
    struct stanza *m = stanza_new(NS_CLIENT, "message");
    stanza_set_attr(m, "to", "juliet@capulet.example");
    stanza_set_attr(m, "type", "chat");
    stanza_set_attr_ns(m, XML_NS_XML, "lang", "en");
    stanza_set_attr_n(m, "id", "m1xyz", 2);
    struct stanza *body = stanza_add_child(m, NULL, "body");
    stanza_add_text(body, "Hello", 5);
    stanza_add_text(body, ", ", 2);
    stanza_add_text(body, "", 0);
    stanza_add_text(body, "Juliet", 6);
    stanza_add_text(m, "between", 7);
    stanza_add_child(m, "http://jabber.org/protocol/chatstates", "active");
    return m;
}

static void
test_stanza_build_and_attrs(void **state)
{
    (void)state;
    struct stanza *m = build_message();
    struct stanza *body = stanza_first_child(m);
    assert_string_equal(stanza_name(m), "message");
    assert_string_equal(stanza_ns(m), NS_CLIENT);
    assert_string_equal(stanza_ns(body), NS_CLIENT);
    assert_true(stanza_is(m, NS_CLIENT, "message"));
    assert_true(stanza_is(m, NULL, "message"));
    assert_false(stanza_is(m, NS_SERVER, "message"));
    assert_false(stanza_is(m, NS_CLIENT, "iq"));
    assert_string_equal(stanza_attr(m, "to"), "juliet@capulet.example");
    assert_string_equal(stanza_attr(m, "id"), "m1");
    assert_null(stanza_attr(m, "lang"));
    assert_string_equal(stanza_attr_ns(m, XML_NS_XML, "lang"), "en");
    assert_int_equal(stanza_attr_count(m), 4);
    const char *ns, *name, *value;
    stanza_attr_at(m, 2, &ns, &name, &value);
    assert_string_equal(ns, XML_NS_XML);
    assert_string_equal(name, "lang");
    assert_string_equal(value, "en");
    stanza_attr_at(m, 4, &ns, &name, &value);
    assert_null(ns);
    assert_null(name);
    assert_null(value);
    stanza_attr_at(m, 0, NULL, NULL, NULL);

    /* Replace and remove. */
    stanza_set_attr(m, "type", "normal");
    assert_string_equal(stanza_attr(m, "type"), "normal");
    stanza_set_attr(m, "to", NULL);
    assert_null(stanza_attr(m, "to"));
    assert_int_equal(stanza_attr_count(m), 3);
    stanza_set_attr(m, "nothere", NULL);
    stanza_set_attr_ns(m, XML_NS_XML, "lang", NULL);
    assert_int_equal(stanza_attr_count(m), 2);
    assert_string_equal(stanza_attr(m, "id"), "m1");
    stanza_unref(m);
}

static void
test_stanza_navigate_and_text(void **state)
{
    (void)state;
    struct stanza *m = build_message();
    struct stanza *body = stanza_first_child(m);
    struct stanza *act = stanza_next_sibling(body);
    assert_ptr_equal(stanza_parent(body), m);
    assert_null(stanza_parent(m));
    assert_ptr_equal(stanza_first_node(m), body);
    struct stanza *txt = stanza_next_node(body);
    size_t len;
    assert_string_equal(stanza_text_node(txt, &len), "between");
    assert_int_equal(len, 7);
    assert_null(stanza_text_node(body, &len));
    assert_null(stanza_name(txt));
    assert_ptr_equal(stanza_next_node(txt), act);
    assert_null(stanza_next_node(act));
    assert_null(stanza_next_sibling(act));
    assert_ptr_equal(stanza_child(m, NULL, "active"), act);
    assert_ptr_equal(
        stanza_child(m, "http://jabber.org/protocol/chatstates", "active"),
        act);
    assert_null(stanza_child(m, NS_CLIENT, "active"));
    assert_int_equal(stanza_child_count(m), 2);
    assert_int_equal(stanza_child_count(act), 0);
    assert_null(stanza_first_child(act));

    assert_string_equal(stanza_text(body, &len), "Hello, Juliet");
    assert_int_equal(len, 13);
    assert_string_equal(stanza_text(act, &len), "");
    assert_int_equal(len, 0);
    assert_null(stanza_text(m, &len));
    struct buf b;
    buf_init(&b, 64);
    stanza_add_text(act, "x", 1);
    assert_int_equal(stanza_text_copy(m, &b), 0);
    assert_string_equal(buf_ptr(&b), "between");
    buf_fini(&b);
    stanza_unref(m);
}

static void
test_stanza_refcount_and_dup(void **state)
{
    (void)state;
    struct stanza *st = parse_one(
        "<message to='a@b' xml:lang='en'><body>x &amp; y</body>"
        "<x xmlns='urn:x' xmlns:p='urn:p' p:a='1'>t<y/>u</x></message>");
    assert_ptr_equal(stanza_ref(st), st);
    stanza_unref(st);
    struct stanza *d = stanza_dup(st);
    char *a = write_str(st, &wc_client);
    char *b = write_str(d, &wc_client);
    assert_string_equal(a, b);
    x_free(b);
    /* The copy is independent. */
    stanza_set_attr(d, "to", "c@d");
    stanza_add_text(stanza_child(d, NULL, "body"), "!", 1);
    b = write_str(st, &wc_client);
    assert_string_equal(a, b);
    x_free(b);
    x_free(a);
    /* A subtree becomes a root. */
    struct stanza *sub = stanza_dup(stanza_child(st, "urn:x", "x"));
    assert_null(stanza_parent(sub));
    assert_writes(sub, &wc_client,
                  "<x xmlns='urn:x' xmlns:ns1='urn:p' ns1:a='1'>t<y/>u</x>");
    stanza_unref(sub);
    stanza_unref(d);
    stanza_unref(st);
    stanza_unref(NULL);
}

/* Large trees: the arena grows past its first chunk, walks are
 * iterative. */
static void
test_stanza_large_and_deep(void **state)
{
    (void)state;
    struct stanza *st = stanza_new("urn:x", "r");
    for (int i = 0; i < 5000; i++) {
        struct stanza *c = stanza_add_child(st, NULL, "item");
        stanza_set_attr(c, "n", "some value of a decent length");
        stanza_add_text(c, "t", 1);
    }
    assert_int_equal(stanza_child_count(st), 5000);
    char big[5000];
    memset(big, 'z', sizeof(big));
    struct stanza *t = stanza_add_child(st, NULL, "big");
    for (int i = 0; i < 300; i++)
        stanza_add_text(t, big, sizeof(big));
    size_t len;
    assert_non_null(stanza_text(t, &len));
    assert_int_equal(len, 300 * sizeof(big));
    struct stanza *d = stanza_dup(st);
    char *a = write_str(st, &wc_client);
    char *b = write_str(d, &wc_client);
    assert_string_equal(a, b);
    x_free(a);
    x_free(b);
    stanza_unref(d);
    stanza_unref(st);

    /* 100000 levels: no recursion anywhere. */
    st = stanza_new("urn:x", "d");
    struct stanza *cur = st;
    for (int i = 0; i < 100000; i++)
        cur = stanza_add_child(cur, i % 2 ? NULL : "urn:y", "d");
    stanza_add_text(cur, "leaf", 4);
    d = stanza_dup(st);
    a = write_str(d, &wc_client);
    assert_int_equal(strncmp(a, "<d xmlns='urn:x'><d xmlns='urn:y'><d>", 37),
                     0);
    assert_non_null(strstr(a, "leaf</d></d>"));
    x_free(a);
    stanza_unref(d);
    stanza_unref(st);
}

/* --- builder ----------------------------------------------------------------
 */

static void
test_stanza_builder(void **state)
{
    (void)state;
    struct stanza_builder b;
    stanza_builder_init(&b);
    struct xml_name el = {NS_CLIENT, "message", ""};
    struct xml_name body = {NS_CLIENT, "body", ""};
    struct xml_attr at = {{"", "to", ""}, "a@b", 3};
    stanza_builder_text(&b, 0, "  ", 2); /* ignored */
    stanza_builder_start(&b, 1, &el, &at, 1);
    stanza_builder_start(&b, 2, &body, NULL, 0);
    stanza_builder_text(&b, 2, "one ", 4);
    stanza_builder_text(&b, 2, "&", 1);
    stanza_builder_text(&b, 2, " two", 4);
    assert_null(stanza_builder_end(&b, 2));
    stanza_builder_text(&b, 1, "x", 1);
    struct stanza *st = stanza_builder_end(&b, 1);
    assert_non_null(st);
    assert_null(b.root);
    assert_writes(st, &wc_client,
                  "<message to='a@b'><body>one &amp; two</body>x</message>");
    /* One text node for the whole run. */
    struct stanza *bd = stanza_child(st, NULL, "body");
    assert_non_null(stanza_first_node(bd));
    assert_null(stanza_next_node(stanza_first_node(bd)));
    stanza_unref(st);
    /* Events without a start are ignored; a partial tree is freed. */
    assert_null(stanza_builder_end(&b, 2));
    stanza_builder_text(&b, 2, "x", 1);
    stanza_builder_start(&b, 2, &body, NULL, 0);
    stanza_builder_start(&b, 1, &el, NULL, 0);
    stanza_builder_start(&b, 1, &el, NULL, 0); /* replaces the first */
    stanza_builder_start(&b, 2, &body, NULL, 0);
    stanza_builder_fini(&b);
    stanza_builder_fini(&b);
}

/* Feeding byte by byte and in random splits gives the same stanzas. */
static void
test_stanza_random_splits(void **state)
{
    (void)state;
    const char *s = HDR_C
        "<message from='romeo@montague.example/orchard' id='m1' "
        "xml:lang='en'><body>Wherefore art thou &amp; &lt;Romeo&gt;? "
        "\xe2\x98\xba</body><thread>t</thread><active "
        "xmlns='http://jabber.org/protocol/chatstates'/></message>\n"
        "<presence><show>away</show><c xmlns='http://jabber.org/"
        "protocol/caps' hash='sha-1' node='n' ver='v='/></presence>"
        "<iq type='result' id='i'><query xmlns='http://jabber.org/"
        "protocol/disco#items'><item jid='a' name='&apos;&quot;'/>"
        "</query></iq><x:y xmlns:x='urn:x' xmlns:q='urn:q' q:z='1'>a<![CDATA[<"
        "]]>b</x:y></stream:stream>";
    char *want = parse_write(s, &wc_server, 0, NULL, NULL);
    uint64_t seed = 1234;
    for (int i = 0; i < 1000; i++) {
        char *got = parse_write(s, &wc_server, i == 0 ? 1 : 1 + i % 50,
                                i == 0 ? NULL : &seed, NULL);
        assert_string_equal(got, want);
        x_free(got);
    }
    assert_string_equal(
        want,
        "<message from='romeo@montague.example/orchard' id='m1' "
        "xml:lang='en'><body>Wherefore art thou &amp; &lt;Romeo&gt;? "
        "\xe2\x98\xba</body><thread>t</thread><active "
        "xmlns='http://jabber.org/protocol/chatstates'/></message>\n"
        "<presence><show>away</show><c xmlns='http://jabber.org/protocol/caps' "
        "hash='sha-1' node='n' ver='v='/></presence>\n"
        "<iq type='result' id='i'><query xmlns='http://jabber.org/protocol/"
        "disco#items'><item jid='a' name='&apos;&quot;'/></query></iq>\n"
        "<y xmlns='urn:x' xmlns:ns1='urn:q' ns1:z='1'>a&lt;b</y>\n");
    x_free(want);
}

/* --- writer ----------------------------------------------------------------
 */

static void
test_stanza_write_client_server_mapping(void **state)
{
    (void)state;
    const char *in = "<message to='juliet@capulet.example' id='x1'><body>Hi "
                     "&amp; &lt;bye&gt;</body><thread>th</thread><active "
                     "xmlns='http://jabber.org/protocol/chatstates'/>"
                     "</message>";
    struct stanza *st = parse_one(in);
    /* On an s2s stream: no xmlns on the top element or its jabber:client
     * children. */
    assert_writes(st, &wc_server, in);
    /* And back on a c2s stream. */
    assert_writes(st, &wc_client, in);
    /* Round trip: what is written parses back to the same tree. */
    char *once = write_str(st, &wc_server);
    size_t dn = strlen(once) + 200;
    char *doc = x_malloc(dn);
    snprintf(doc, dn,
             "<stream:stream xmlns='jabber:server' "
             "xmlns:stream='http://etherx.jabber.org/streams'>%s",
             once);
    struct stanza *back = NULL;
    char *again = parse_write(doc, &wc_server, 0, NULL, &back);
    assert_string_equal(stanza_ns(back), NS_SERVER);
    assert_string_equal(stanza_attr(back, "id"), "x1");
    assert_int_equal(strlen(again), strlen(once) + 1);
    assert_memory_equal(again, once, strlen(once));
    stanza_unref(back);
    x_free(again);
    x_free(doc);
    x_free(once);
    stanza_unref(st);
}

static void
test_stanza_write_forwarded(void **state)
{
    (void)state;
    struct stanza *st = parse_one(
        "<message to='romeo@montague.example'><result xmlns='urn:xmpp:mam:2' "
        "id='r'><forwarded xmlns='urn:xmpp:forward:0'><delay "
        "xmlns='urn:xmpp:delay' stamp='2010-07-10T23:08:25Z'/><message "
        "xmlns='jabber:client' from='juliet@capulet.example' "
        "type='chat'><body>Hail</body></message></forwarded></result>"
        "<body>outer</body></message>");
    const char *want =
        "<message to='romeo@montague.example'><result xmlns='urn:xmpp:mam:2' "
        "id='r'><forwarded xmlns='urn:xmpp:forward:0'><delay "
        "xmlns='urn:xmpp:delay' stamp='2010-07-10T23:08:25Z'/><message "
        "xmlns='jabber:client' from='juliet@capulet.example' "
        "type='chat'><body>Hail</body></message></forwarded></result>"
        "<body>outer</body></message>";
    assert_writes(st, &wc_server, want);
    assert_writes(st, &wc_client, want);
    stanza_unref(st);

    /* A stanza built in jabber:server comes out in jabber:client. */
    st = stanza_new(NS_SERVER, "iq");
    stanza_set_attr(st, "type", "get");
    stanza_add_child(stanza_add_child(st, "urn:x", "q"), NS_SERVER, "inner");
    assert_writes(st, &wc_client,
                  "<iq type='get'><q xmlns='urn:x'><inner "
                  "xmlns='jabber:server'/></q></iq>");
    stanza_unref(st);
}

static void
test_stanza_write_prefixes_and_attrs(void **state)
{
    (void)state;
    /* Dialback with the stream's db prefix. */
    struct stanza *st = stanza_new(NS_DIALBACK, "result");
    stanza_set_attr(st, "from", "capulet.example");
    stanza_set_attr(st, "to", "montague.example");
    stanza_add_text(st, "b4835385f37fe2895af6c196b59097b16862406db80559", 46);
    assert_writes(st, &wc_server,
                  "<db:result from='capulet.example' to='montague.example'>"
                  "b4835385f37fe2895af6c196b59097b16862406db80559"
                  "</db:result>");
    assert_writes(st, &wc_client,
                  "<result xmlns='jabber:server:dialback' "
                  "from='capulet.example' to='montague.example'>"
                  "b4835385f37fe2895af6c196b59097b16862406db80559</result>");
    stanza_unref(st);

    /* Namespaced attributes: xml:, a stream prefix, generated prefixes
     * (shared by attributes of one namespace, avoiding the stream's). */
    st = stanza_new("urn:a", "e");
    stanza_set_attr_ns(st, XML_NS_XML, "lang", "de");
    stanza_set_attr_ns(st, "urn:p", "x", "1");
    stanza_set_attr_ns(st, NS_DIALBACK, "y", "2");
    stanza_set_attr_ns(st, "urn:q", "z", "3");
    stanza_set_attr_ns(st, "urn:p", "w", "4");
    stanza_set_attr(st, "plain", "a\tb\n'\"<&>");
    stanza_set_attr(st, "xmlns", "urn:ignored");
    struct stanza_wctx w = {.default_ns = NS_SERVER,
                            .nprefixes = 2,
                            .prefix = {"ns2", "db"},
                            .prefix_ns = {"urn:unused", NS_DIALBACK}};
    assert_writes(st, &w,
                  "<e xmlns='urn:a' xml:lang='de' xmlns:ns10='urn:p' "
                  "ns10:x='1' db:y='2' xmlns:ns4='urn:q' ns4:z='3' ns10:w='4' "
                  "plain='a&#9;b&#10;&apos;&quot;&lt;&amp;&gt;'/>");
    stanza_unref(st);
}

static void
test_stanza_write_defaults_and_escaping(void **state)
{
    (void)state;
    struct stanza *st;
    /* No namespace under a default one; text escaping; empty elements. */
    st = stanza_new(NS_CLIENT, "message");
    stanza_add_child(st, "", "raw");
    struct stanza *b = stanza_add_child(st, NULL, "body");
    stanza_add_text(b, "a<b>&c]]>'\"", 11);
    stanza_add_child(b, "urn:x", "x");
    assert_writes(st, &wc_client,
                  "<message><raw xmlns=''/><body>a&lt;b&gt;&amp;c]]&gt;'\""
                  "<x xmlns='urn:x'/></body></message>");
    stanza_unref(st);

    /* A prefixed element's children see the default namespace. */
    st = stanza_new(XML_NS_STREAM, "features");
    stanza_add_child(st, NS_TLS, "starttls");
    stanza_add_child(st, XML_NS_STREAM, "x");
    assert_writes(st, &wc_client,
                  "<stream:features><starttls "
                  "xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><stream:x/>"
                  "</stream:features>");
    struct stanza_wctx none = {.default_ns = NS_CLIENT};
    assert_writes(
        st, &none,
        "<features xmlns='http://etherx.jabber.org/streams'><starttls "
        "xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><x/></features>");
    stanza_unref(st);
}

/* A parsed stanza that is forwarded unchanged is written as received
 * (plus at most one attribute added to its root, such as a stamped
 * 'from'); any other change, a subtree, or a stream without a content
 * namespace gets the serialiser. Either way the receiving end reads the
 * same element. */
static void
test_stanza_write_raw(void **state)
{
    (void)state;
    static const char msg[] =
        "<message to=\"juliet@capulet.example\" id='m1'>"
        "<body>a &amp; b &#x263A;</body><x xmlns='urn:x'/></message>";
    char *in = x_malloc(strlen(HDR_C) + sizeof(msg));
    strcpy(in, HDR_C);
    strcat(in, msg);
    struct stanza *st = NULL;
    x_free(parse_write_raw(in, &wc_client, 0, NULL, &st, true));
    assert_non_null(st);
    assert_writes(st, &wc_server, msg);
    assert_writes(st, &wc_client, msg);

    /* A subtree, or no content namespace: serialised. */
    struct stanza *body = stanza_child(st, NULL, "body");
    assert_writes(body, &wc_server, "<body>a &amp; b \xe2\x98\xba</body>");
    struct stanza_wctx none = wc_server;
    none.default_ns = NULL;
    char *w = write_str(st, &none);
    assert_null(strstr(w, "&#x263A;"));
    x_free(w);

    /* One added root attribute is spliced in, escaped. */
    stanza_set_attr(st, "from", "romeo@montague.example/a'&<");
    assert_writes(st, &wc_server,
                  "<message from='romeo@montague.example/a&apos;&amp;&lt;' "
                  "to=\"juliet@capulet.example\" id='m1'>"
                  "<body>a &amp; b &#x263A;</body><x xmlns='urn:x'/>"
                  "</message>");
    /* A second change: serialised from the tree. */
    stanza_set_attr(st, "type", "chat");
    assert_writes(st, &wc_server,
                  "<message to='juliet@capulet.example' id='m1' "
                  "from='romeo@montague.example/a&apos;&amp;&lt;' "
                  "type='chat'><body>a &amp; b \xe2\x98\xba</body>"
                  "<x xmlns='urn:x'/></message>");
    stanza_unref(st);

    /* Replacing an attribute, adding a child or text anywhere: the
     * tree is written. */
    for (int change = 0; change < 3; change++) {
        st = NULL;
        x_free(parse_write_raw(in, &wc_client, 0, NULL, &st, true));
        if (change == 0)
            stanza_set_attr(st, "id", "m2");
        else if (change == 1)
            stanza_add_child(stanza_child(st, "urn:x", "x"), NULL, "y");
        else
            stanza_add_text(stanza_child(st, NULL, "body"), "!", 1);
        w = write_str(st, &wc_server);
        assert_null(strstr(w, "&#x263A;"));
        assert_non_null(strstr(w, "to='juliet@capulet.example'"));
        x_free(w);
        stanza_unref(st);
    }
    x_free(in);

    /* Raw and serialised forms of many stanzas read back the same. */
    static const char stream[] =
        HDR_C "<message to='a@b' xml:lang='en'><body>\r\n &lt;x&gt; "
              "<![CDATA[<&>]]></body><thread parent='p'>t</thread>"
              "<c xmlns='urn:c' v='\t1'/><d xmlns='urn:d'><e xmlns=''/></d>"
              "</message><presence><status>s</status></presence>"
              "<iq type='get' id='q'><query xmlns='jabber:iq:version'/></iq>"
              "<message><x xmlns='urn:x'><message xmlns='jabber:client'>"
              "<body>fwd</body></message></x></message>";
    char *raw = parse_write_raw(stream, &wc_server, 0, NULL, NULL, true);
    char *ser = parse_write_raw(stream, &wc_server, 0, NULL, NULL, false);
    assert_string_not_equal(raw, ser); /* the raw path was taken */
    static const char hdr_s[] =
        "<stream:stream xmlns='jabber:server' "
        "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
    char *again[2];
    for (int i = 0; i < 2; i++) {
        const char *src = i ? ser : raw;
        char *s2 = x_malloc(strlen(hdr_s) + strlen(src) + 1);
        strcpy(s2, hdr_s);
        strcat(s2, src);
        again[i] = parse_write(s2, &wc_client, 0, NULL, NULL);
        x_free(s2);
    }
    assert_string_equal(again[0], again[1]);
    x_free(again[0]);
    x_free(again[1]);
    x_free(raw);
    x_free(ser);
}

static void
test_stanza_write_limit(void **state)
{
    (void)state;
    struct stanza *st =
        parse_one("<message to='a'><body>hello</body></message>");
    const char *full = "<message to='a'><body>hello</body></message>";
    size_t n = strlen(full);
    for (size_t max = 1; max <= n + 1; max++) {
        struct buf b;
        buf_init(&b, max);
        int rc = stanza_write(st, &wc_client, &b);
        /* max counts the NUL: n + 1 is the first size that fits. */
        assert_int_equal(rc, max >= n + 1 ? 0 : XE_LIMIT);
        if (rc == 0)
            assert_string_equal(buf_ptr(&b), full);
        buf_fini(&b);
    }
    /* A text node on its own. */
    struct stanza *body = stanza_child(st, NULL, "body");
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(stanza_write(stanza_first_node(body), &wc_client, &b), 0);
    assert_string_equal(buf_ptr(&b), "hello");
    buf_fini(&b);
    stanza_unref(st);
}

/* --- errors ----------------------------------------------------------------
 */

static void
test_stanza_stream_conditions(void **state)
{
    (void)state;
    static const struct {
        enum stream_cond c;
        const char *name;
    } all[] = {
#define STREAM_COND_ROW(c, s) {(c), (s)},
        STREAM_COND_MAP(STREAM_COND_ROW)
#undef STREAM_COND_ROW
    };
    assert_int_equal(sizeof(all) / sizeof(all[0]), 25); /* RFC 6120 §4.9.3 */
    assert_int_equal(SC__COUNT, 26);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        assert_string_equal(stream_cond_name(all[i].c), all[i].name);
        assert_int_equal(stream_cond_parse(all[i].name), all[i].c);
        struct stanza *e = stanza_stream_error(all[i].c, NULL);
        char want[512];
        snprintf(want, sizeof(want),
                 "<stream:error><%s "
                 "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                 "</stream:error>",
                 all[i].name);
        assert_writes(e, &wc_client, want);
        assert_writes(e, &wc_server, want);
        assert_true(stanza_is(e, XML_NS_STREAM, "error"));
        assert_true(
            stanza_is(stanza_first_child(e), NS_STREAMS_ERR, all[i].name));
        stanza_unref(e);
        e = stanza_stream_error(all[i].c, "Bye & <out>");
        snprintf(want, sizeof(want),
                 "<stream:error><%s "
                 "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text "
                 "xmlns='urn:ietf:params:xml:ns:xmpp-streams' "
                 "xml:lang='en'>Bye &amp; &lt;out&gt;</text></stream:error>",
                 all[i].name);
        assert_writes(e, &wc_server, want);
        stanza_unref(e);
    }
    assert_null(stream_cond_name(SC_NONE));
    assert_null(stream_cond_name(SC__COUNT));
    assert_int_equal(stream_cond_parse("nope"), SC_NONE);
    assert_int_equal(stream_cond_parse(""), SC_NONE);
    struct stanza *e = stanza_stream_error(SC_NONE, NULL);
    assert_non_null(stanza_child(e, NS_STREAMS_ERR, "undefined-condition"));
    stanza_unref(e);
}

static void
test_stanza_stanza_conditions(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        enum stanza_cond c;
        enum stanza_err_type t;
    } all[] = {
#define STANZA_COND_ROW(c, s, t) {(s), (c), (t)},
        STANZA_COND_MAP(STANZA_COND_ROW)
#undef STANZA_COND_ROW
    };
    assert_int_equal(sizeof(all) / sizeof(all[0]), 22); /* RFC 6120 §8.3.3 */
    struct stanza *iq = parse_one(
        "<iq from='romeo@montague.example/orchard' to='capulet.example' "
        "id='d1' type='get'><query "
        "xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        assert_string_equal(stanza_cond_name(all[i].c), all[i].name);
        assert_int_equal(stanza_cond_parse(all[i].name), all[i].c);
        assert_int_equal(stanza_cond_type(all[i].c), all[i].t);
        struct stanza *r = stanza_error_reply(iq, all[i].c, NULL);
        char want[1024];
        snprintf(want, sizeof(want),
                 "<iq id='d1' to='romeo@montague.example/orchard' "
                 "from='capulet.example' type='error'><error type='%s'><%s "
                 "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
                 stanza_err_type_name(all[i].t), all[i].name);
        assert_writes(r, &wc_client, want);
        assert_writes(r, &wc_server, want);
        stanza_unref(r);
    }
    assert_string_equal(stanza_err_type_name(SET_AUTH), "auth");
    assert_string_equal(stanza_err_type_name(SET_CANCEL), "cancel");
    assert_string_equal(stanza_err_type_name(SET_CONTINUE), "continue");
    assert_string_equal(stanza_err_type_name(SET_MODIFY), "modify");
    assert_string_equal(stanza_err_type_name(SET_WAIT), "wait");
    assert_null(stanza_cond_name(XC_NONE));
    assert_null(stanza_cond_name(XC__COUNT));
    assert_int_equal(stanza_cond_parse("nope"), XC_NONE);
    /* Spot checks against RFC 6120 §8.3.3. */
    assert_int_equal(stanza_cond_type(XC_SERVICE_UNAVAILABLE), SET_CANCEL);
    assert_int_equal(stanza_cond_type(XC_FORBIDDEN), SET_AUTH);
    assert_int_equal(stanza_cond_type(XC_RESOURCE_CONSTRAINT), SET_WAIT);
    assert_int_equal(stanza_cond_type(XC_BAD_REQUEST), SET_MODIFY);

    stanza_unref(iq);
}

static void
test_stanza_error_reply_text_and_none(void **state)
{
    (void)state;
    struct stanza *iq = parse_one(
        "<iq from='romeo@montague.example/orchard' to='capulet.example' "
        "id='d1' type='get'><query "
        "xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    /* With text; a stanza without id, to or from; XC_NONE. */
    struct stanza *r = stanza_error_reply(iq, XC_ITEM_NOT_FOUND, "No <such>");
    assert_writes(r, &wc_client,
                  "<iq id='d1' to='romeo@montague.example/orchard' "
                  "from='capulet.example' type='error'><error "
                  "type='cancel'><item-not-found "
                  "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text "
                  "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' "
                  "xml:lang='en'>No &lt;such&gt;</text></error></iq>");
    stanza_unref(r);
    stanza_unref(iq);
    struct stanza *m = stanza_new(NS_SERVER, "message");
    r = stanza_error_reply(m, XC_NONE, NULL);
    assert_writes(r, &wc_client,
                  "<message type='error'><error type='cancel'>"
                  "<undefined-condition "
                  "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                  "</message>");
    assert_string_equal(stanza_ns(stanza_child(r, NULL, "error")), NS_SERVER);
    stanza_unref(r);
    stanza_unref(m);
}

/* stanza_attr_u32: whole decimal numbers 0..2^32-1 only (XEP-0198 h). */
static void
test_stanza_attr_u32(void **state)
{
    (void)state;
    struct stanza *a = stanza_new("urn:xmpp:sm:3", "a");
    uint32_t v = 7;
    assert_false(stanza_attr_u32(a, "h", &v));
    const char *good[] = {"0", "1", "42", "4294967295"};
    const uint32_t want[] = {0, 1, 42, UINT32_MAX};
    for (size_t i = 0; i < 4; i++) {
        stanza_set_attr(a, "h", good[i]);
        assert_true(stanza_attr_u32(a, "h", &v));
        assert_int_equal(v, want[i]);
    }
    const char *bad[] = {"",   "-1",   "+1",         "01",          " 1",
                         "1 ", "0x10", "4294967296", "99999999999", "1a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 7;
        stanza_set_attr(a, "h", bad[i]);
        assert_false(stanza_attr_u32(a, "h", &v));
        assert_int_equal(v, 7);
    }
    stanza_unref(a);
}

/* stanza_is_stanza: message, presence, iq in the two content namespaces. */
static void
test_stanza_is_stanza(void **state)
{
    (void)state;
    const char *ns[] = {NS_CLIENT, NS_SERVER, "urn:xmpp:sm:3"};
    const char *names[] = {"message", "presence", "iq", "a"};
    for (size_t i = 0; i < 3; i++)
        for (size_t k = 0; k < 4; k++) {
            struct stanza *st = stanza_new(ns[i], names[k]);
            assert_int_equal(stanza_is_stanza(st), i < 2 && k < 3);
            stanza_unref(st);
        }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stanza_build_and_attrs),
        cmocka_unit_test(test_stanza_navigate_and_text),
        cmocka_unit_test(test_stanza_refcount_and_dup),
        cmocka_unit_test(test_stanza_large_and_deep),
        cmocka_unit_test(test_stanza_builder),
        cmocka_unit_test(test_stanza_random_splits),
        cmocka_unit_test(test_stanza_write_client_server_mapping),
        cmocka_unit_test(test_stanza_write_forwarded),
        cmocka_unit_test(test_stanza_write_prefixes_and_attrs),
        cmocka_unit_test(test_stanza_write_defaults_and_escaping),
        cmocka_unit_test(test_stanza_write_raw),
        cmocka_unit_test(test_stanza_write_limit),
        cmocka_unit_test(test_stanza_stream_conditions),
        cmocka_unit_test(test_stanza_stanza_conditions),
        cmocka_unit_test(test_stanza_error_reply_text_and_none),
        cmocka_unit_test(test_stanza_attr_u32),
        cmocka_unit_test(test_stanza_is_stanza),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
