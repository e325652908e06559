/* SPDX-License-Identifier: MIT */
/* test_stream.c -- the sans-I/O receiving stream: headers, features, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "stream/stream.h"

static const char cfg_text[] =
    "state_dir = \"/tmp/xmux-test\";\n"
    "listen = ( { kind = \"c2s\"; address = \"127.0.0.1\"; port = 5222; },\n"
    "           { kind = \"s2s\"; address = \"127.0.0.1\"; port = 5269; } );\n"
    "hosts = ( { domain = \"localhost\"; },\n"
    "          { domain = \"montague.example\"; } );\n";

#define C2S_HDR                                                               \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "              \
    "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' "         \
    "version='1.0'>"
#define S2S_HDR                                                               \
    "<stream:stream xmlns='jabber:server' "                                   \
    "xmlns:stream='http://etherx.jabber.org/streams' "                        \
    "xmlns:db='jabber:server:dialback' from='Capulet.Example' "               \
    "to='montague.example' version='1.0'>"
#define FEATURES                                                              \
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"    \
    "<required/></starttls></stream:features>"
#define ID36 "000102030405060708090a0b0c0d0e0f1011"

struct fixture {
    struct config *cfg;
    struct logger log;
    struct stream_ctx ctx;
    unsigned char counter;
};

/* Deterministic "random" bytes: 00 01 02 ... so ids can be asserted. */
static void
fake_random(void *arg, void *buf, size_t n)
{
    struct fixture *f = arg;
    unsigned char *p = buf;
    for (size_t i = 0; i < n; i++)
        p[i] = f->counter++;
}

static int
setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    struct buf err;
    buf_init(&err, 1024);
    int rc = config_load_string(cfg_text, "test.conf", &f.cfg, &err);
    if (rc != 0)
        fprintf(stderr, "config: %s\n", buf_ptr(&err));
    buf_fini(&err);
    f.log.level = LOG_ERROR;
    f.ctx.cfg = f.cfg;
    f.ctx.log = &f.log;
    f.ctx.random = fake_random;
    f.ctx.random_arg = &f;
    *state = &f;
    return rc;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    config_free(f->cfg);
    return 0;
}

static void
open_stream(struct fixture *f, struct stream *s, enum cfg_listen_kind kind)
{
    f->counter = 0;
    stream_init(s, &f->ctx, 1, kind, NULL);
}

static void
test_CORE_01_c2s_header_and_CORE_04_features(void **state)
{
    struct fixture *f = *state;
    struct stream s;
    open_stream(f, &s, CFG_LISTEN_C2S);
    assert_int_equal(stream_feed(&s, C2S_HDR, strlen(C2S_HDR)), 0);
    assert_string_equal(
        buf_ptr(&s.out),
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streams' id='" ID36 "' "
        "from='localhost' version='1.0' xml:lang='en'>" FEATURES);
    assert_int_equal(s.state, STREAM_ST_PRETLS);
    assert_false(stream_finished(&s));
    stream_fini(&s);
}

static void
test_CORE_01_s2s_header_to_is_peer_from(void **state)
{
    struct fixture *f = *state;
    struct stream s;
    open_stream(f, &s, CFG_LISTEN_S2S);
    assert_int_equal(stream_feed(&s, S2S_HDR, strlen(S2S_HDR)), 0);
    assert_string_equal(
        buf_ptr(&s.out),
        "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
        "xmlns:stream='http://etherx.jabber.org/streams' "
        "xmlns:db='jabber:server:dialback' id='" ID36 "' "
        "from='montague.example' to='capulet.example' version='1.0' "
        "xml:lang='en'>" FEATURES);
    stream_fini(&s);
}

/* Feeding one byte at a time gives exactly the same output. */
static void
test_byte_by_byte_same_output(void **state)
{
    struct fixture *f = *state;
    struct stream a, b;
    const char in[] = S2S_HDR "<db:result from='capulet.example' "
                              "to='montague.example'>k</db:result>";
    open_stream(f, &a, CFG_LISTEN_S2S);
    assert_int_equal(stream_feed(&a, in, strlen(in)), 0);
    open_stream(f, &b, CFG_LISTEN_S2S);
    for (size_t i = 0; i < strlen(in); i++)
        assert_int_equal(stream_feed(&b, in + i, 1), 0);
    assert_string_equal(buf_ptr(&a.out), buf_ptr(&b.out));
    stream_fini(&a);
    stream_fini(&b);
}

/* Feed, and require the output to end with the error and closing tag. */
static void
expect_error(struct fixture *f, enum cfg_listen_kind kind, const char *in,
             const char *cond)
{
    struct stream s;
    open_stream(f, &s, kind);
    assert_int_equal(stream_feed(&s, in, strlen(in)), XE_CLOSED);
    assert_true(stream_finished(&s));
    char want[256];
    snprintf(want, sizeof(want),
             "<stream:error><%s xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>",
             cond);
    const char *out = buf_ptr(&s.out);
    const char *e = strstr(out, "<stream:error>");
    if (e == NULL || strncmp(e, want, strlen(want)) != 0)
        fail_msg("expected %s, got %s", want, out);
    const char *tail = "</stream:error></stream:stream>";
    size_t n = strlen(out), w = strlen(tail);
    assert_true(n > w);
    assert_string_equal(out + n - w, tail);
    /* Every error comes after a response header. */
    assert_non_null(strstr(out, "<stream:stream "));
    /* Nothing more is accepted. */
    assert_int_equal(stream_feed(&s, "<a/>", 4), XE_CLOSED);
    assert_string_equal(buf_ptr(&s.out), out);
    stream_fini(&s);
}

static void
test_CORE_06_host_unknown_header_without_from(void **state)
{
    struct fixture *f = *state;
    struct stream s;
    const char in[] = "<stream:stream xmlns='jabber:client' "
                      "xmlns:stream='http://etherx.jabber.org/streams' "
                      "to='unknown.example' version='1.0'>";
    expect_error(f, CFG_LISTEN_C2S, in, "host-unknown");
    open_stream(f, &s, CFG_LISTEN_C2S);
    stream_feed(&s, in, strlen(in));
    assert_null(strstr(buf_ptr(&s.out), "from="));
    stream_fini(&s);
}

static void
test_header_errors(void **state)
{
    struct fixture *f = *state;
    expect_error(f, CFG_LISTEN_C2S,
                 "<stream:stream xmlns='jabber:server' "
                 "xmlns:stream='http://etherx.jabber.org/streams' "
                 "to='localhost' version='1.0'>",
                 "invalid-namespace");
    expect_error(f, CFG_LISTEN_C2S,
                 "<x:stream xmlns='jabber:client' "
                 "xmlns:x='http://etherx.jabber.org/streams' "
                 "to='localhost' version='1.0'>",
                 "bad-namespace-prefix");
    expect_error(f, CFG_LISTEN_C2S,
                 "<stream:stream xmlns='jabber:client' "
                 "xmlns:stream='http://etherx.jabber.org/streams' "
                 "to='localhost' version='2.0'>",
                 "unsupported-version");
    expect_error(f, CFG_LISTEN_C2S,
                 "<stream:stream xmlns='jabber:client' "
                 "xmlns:stream='http://etherx.jabber.org/streams' "
                 "to='localhost'>",
                 "unsupported-version");
    expect_error(f, CFG_LISTEN_S2S,
                 "<stream:stream xmlns='jabber:server' "
                 "xmlns:stream='http://etherx.jabber.org/streams' "
                 "from='a b' to='localhost' version='1.0'>",
                 "invalid-from");
}

static void
test_CORE_22_and_pre_tls_elements(void **state)
{
    struct fixture *f = *state;
    expect_error(f, CFG_LISTEN_C2S, C2S_HDR "<!-- x -->", "restricted-xml");
    expect_error(f, CFG_LISTEN_C2S, "<!DOCTYPE x>", "restricted-xml");
    expect_error(f, CFG_LISTEN_C2S, C2S_HDR "<a></b>", "not-well-formed");
    expect_error(f, CFG_LISTEN_C2S, C2S_HDR "<message/>", "not-authorized");
    expect_error(f, CFG_LISTEN_C2S, C2S_HDR "<mux xmlns='urn:xmpp:mux:0'/>",
                 "policy-violation");
    expect_error(f, CFG_LISTEN_S2S, S2S_HDR "<bidi xmlns='urn:xmpp:bidi'/>",
                 "policy-violation");
    expect_error(f, CFG_LISTEN_S2S, S2S_HDR "<mux xmlns='urn:xmpp:mux:1'/>",
                 "unsupported-stanza-type");
}

static void
test_CORE_27_auth_before_tls_keeps_stream(void **state)
{
    struct fixture *f = *state;
    struct stream s;
    open_stream(f, &s, CFG_LISTEN_C2S);
    const char in[] = C2S_HDR "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                              "mechanism='EXTERNAL'>=</auth>";
    assert_int_equal(stream_feed(&s, in, strlen(in)), 0);
    assert_non_null(strstr(buf_ptr(&s.out),
                           "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                           "<encryption-required/></failure>"));
    assert_false(stream_finished(&s));
    stream_fini(&s);
}

static void
test_DB_18_dialback_before_tls(void **state)
{
    struct fixture *f = *state;
    struct stream s;
    open_stream(f, &s, CFG_LISTEN_S2S);
    const char in[] = S2S_HDR "<db:result from='capulet.example' "
                              "to='montague.example'>key</db:result>";
    assert_int_equal(stream_feed(&s, in, strlen(in)), 0);
    assert_non_null(
        strstr(buf_ptr(&s.out),
               "<db:result from='montague.example' to='capulet.example' "
               "type='error'><db:error type='cancel'><policy-violation "
               "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></db:error>"
               "</db:result>"));
    assert_false(stream_finished(&s));
    stream_fini(&s);
}

static void
test_CORE_19_peer_close_is_answered(void **state)
{
    struct fixture *f = *state;
    struct stream s;
    open_stream(f, &s, CFG_LISTEN_C2S);
    const char in[] = C2S_HDR "</stream:stream>";
    assert_int_equal(stream_feed(&s, in, strlen(in)), XE_CLOSED);
    const char *out = buf_ptr(&s.out);
    assert_string_equal(out + strlen(out) - 16, "</stream:stream>");
    assert_null(strstr(out, "<stream:error>"));
    stream_fini(&s);
}

static void
test_CORE_21_timeout_and_shutdown(void **state)
{
    struct fixture *f = *state;
    struct stream s;
    open_stream(f, &s, CFG_LISTEN_C2S);
    stream_timeout(&s); /* no header yet: a header goes out first */
    assert_true(stream_finished(&s));
    assert_non_null(strstr(buf_ptr(&s.out), "<stream:stream "));
    assert_non_null(strstr(buf_ptr(&s.out), "<connection-timeout "));
    stream_fini(&s);

    open_stream(f, &s, CFG_LISTEN_C2S);
    stream_feed(&s, C2S_HDR, strlen(C2S_HDR));
    stream_shutdown(&s);
    assert_non_null(strstr(buf_ptr(&s.out), "<system-shutdown "));
    stream_fini(&s);
}

/* MUX.md §6.1: the usable 'from' identities are a set, bounded. */
static void
test_identity_set_and_limit(void **state)
{
    struct fixture *f = *state;
    struct stream s;
    open_stream(f, &s, CFG_LISTEN_C2S);
    struct jid a, b, q;
    assert_int_equal(jid_parse(&a, "juliet@localhost/balcony", 24), 0);
    assert_int_equal(jid_parse(&b, "juliet@montague.example/r", 25), 0);
    assert_int_equal(stream_identity_add(&s, &a), 0);
    assert_int_equal(stream_identity_add(&s, &b), 0);
    assert_int_equal(jid_parse(&q, "Juliet@LocalHost/balcony", 24), 0);
    assert_true(stream_identity_find(&s, &q) == &s.ids[0]);
    jid_fini(&q);
    assert_int_equal(jid_parse(&q, "juliet@montague.example", 23), 0);
    assert_true(stream_identity_find(&s, &q) == &s.ids[1]); /* bare → full */
    jid_fini(&q);
    assert_int_equal(jid_parse(&q, "juliet@localhost/other", 22), 0);
    assert_null(stream_identity_find(&s, &q));
    jid_fini(&q);
    for (size_t i = 2; i < STREAM_IDS_MAX; i++)
        assert_int_equal(stream_identity_add(&s, &a), 0);
    assert_int_equal(stream_identity_add(&s, &a), XE_LIMIT); /* one past */
    jid_fini(&a);
    jid_fini(&b);
    stream_fini(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_CORE_01_c2s_header_and_CORE_04_features),
        cmocka_unit_test(test_CORE_01_s2s_header_to_is_peer_from),
        cmocka_unit_test(test_byte_by_byte_same_output),
        cmocka_unit_test(test_CORE_06_host_unknown_header_without_from),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_CORE_22_and_pre_tls_elements),
        cmocka_unit_test(test_CORE_27_auth_before_tls_keeps_stream),
        cmocka_unit_test(test_DB_18_dialback_before_tls),
        cmocka_unit_test(test_CORE_19_peer_close_is_answered),
        cmocka_unit_test(test_CORE_21_timeout_and_shutdown),
        cmocka_unit_test(test_identity_set_and_limit),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
