/* SPDX-License-Identifier: MIT */
/* test_route.c -- local delivery: tables, RFC 6121 §8.5 rules, server IQs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "route/route.h"
#include "route/route_int.h"

static const char cfg_text[] =
    "state_dir = \"/tmp/xmux-test\";\n"
    "listen = ( { kind = \"c2s\"; address = \"127.0.0.1\"; port = 5222; } );\n"
    "hosts = ( { domain = \"montague.example\"; },\n"
    "          { domain = \"capulet.example\"; } );\n";

#define HDR                                 \
    "<stream:stream xmlns='jabber:client' " \
    "xmlns:stream='http://etherx.jabber.org/streams'>"

#define NSTREAMS 8

#define ROMEO   "romeo@montague.example/orchard"
#define BALCONY "juliet@capulet.example/balcony"
#define CHAMBER "juliet@capulet.example/chamber"
#define GARDEN  "juliet@capulet.example/garden"
#define JULIET  "juliet@capulet.example"
#define SVC_UNAVAILABLE                          \
    "<error type='cancel'><service-unavailable " \
    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"

struct fixture {
    struct config *cfg;
    struct logger log;
    struct buf logs; /* every log line, one per row */
    struct stream_ops ops;
    struct stream_ctx ctx;
    struct router *r;
    struct stream s[NSTREAMS];
    bool used[NSTREAMS];
    unsigned wakes;
};

static void
fake_random(void *arg, void *buf, size_t n)
{
    (void)arg;
    memset(buf, 0x5a, n);
}

static void
log_sink(void *arg, enum log_level lvl, const char *line, size_t len)
{
    (void)lvl;
    struct fixture *f = arg;
    buf_append(&f->logs, line, len);
    buf_appendz(&f->logs, "\n");
}

static void
on_wake(void *arg, struct stream *s)
{
    (void)s;
    struct fixture *f = arg;
    f->wakes++;
}

/* The router's stream_ops take the router as their argument; wake counts
 * into the fixture, so it needs its own adapter around the router's. */
static int
op_bind(void *arg, struct stream *s)
{
    struct fixture *f = arg;
    return router_bind(f->r, s);
}

static void
op_unbind(void *arg, struct stream *s)
{
    struct fixture *f = arg;
    router_unbind(f->r, s);
}

static int
setup(void **state)
{
    struct fixture *f = x_calloc(1, sizeof(*f));
    struct buf err;
    buf_init(&err, 1024);
    int rc = config_load_string(cfg_text, "test.conf", &f->cfg, &err);
    if (rc != 0)
        fprintf(stderr, "config: %s\n", buf_ptr(&err));
    buf_fini(&err);
    buf_init(&f->logs, (size_t)1 << 22);
    f->log.level = LOG_DEBUG;
    f->log.sink = log_sink;
    f->log.sink_arg = f;
    f->ops.bind = op_bind;
    f->ops.unbind = op_unbind;
    f->ops.wake = on_wake;
    f->ctx.cfg = f->cfg;
    f->ctx.log = &f->log;
    f->ctx.random = fake_random;
    f->ctx.ops = &f->ops;
    f->ctx.ops_arg = f;
    static const unsigned char key[ROUTE_HASH_KEY_BYTES] = "0123456789abcdef";
    f->r = router_new(f->cfg, &f->log, key);
    *state = f;
    return rc;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    for (size_t i = 0; i < NSTREAMS; i++)
        if (f->used[i])
            stream_fini(&f->s[i]);
    assert_int_equal(router_sessions(f->r), 0);
    router_free(f->r);
    config_free(f->cfg);
    buf_fini(&f->logs);
    x_free(f);
    return 0;
}

/* Set up a stream as the stream module leaves it once resource binding
 * has succeeded. */
static struct stream *
client(struct fixture *f, size_t i, const char *jid)
{
    struct stream *s = &f->s[i];
    assert_false(f->used[i]);
    stream_init(s, &f->ctx, 100 + i, CFG_LISTEN_C2S, NULL);
    f->used[i] = true;
    assert_int_equal(jid_parse(&s->jid, jid, strlen(jid)), 0);
    assert_int_equal(router_bind(f->r, s), 0);
    s->bound = true;
    return s;
}

/* End a client's stream the way the daemon does (stream_fini unbinds). */
static void
bye(struct fixture *f, size_t i)
{
    stream_fini(&f->s[i]);
    f->used[i] = false;
}

struct collect {
    struct stanza_builder b;
    struct stanza *st;
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
    if (st != NULL)
        c->st = st;
    return 0;
}

static const struct xml_handler c_handler = {NULL, c_start, c_text, c_end,
                                             NULL};
static const struct xml_limits limits = {32, 32, 1024, 1 << 16, 1 << 20};

static struct stanza *
parse(const char *xml)
{
    struct collect c = {0};
    stanza_builder_init(&c.b);
    struct xml_reader *xr = xml_reader_new(&limits, &c_handler, &c);
    size_t used;
    assert_int_equal(xml_reader_feed(xr, HDR, strlen(HDR), &used), 0);
    assert_int_equal(xml_reader_feed(xr, xml, strlen(xml), &used), 0);
    xml_reader_free(xr);
    stanza_builder_fini(&c.b);
    assert_non_null(c.st);
    return c.st;
}

/* The stream 'from' sent xml (with 'from' already stamped). */
static void
rx(struct fixture *f, struct stream *from, const char *xml)
{
    struct stanza *st = parse(xml);
    router_stanza(f->r, from, st);
    stanza_unref(st);
}

static const char *
out(const struct stream *s)
{
    return buf_ptr(&s->out);
}

static void
clear(struct fixture *f)
{
    for (size_t i = 0; i < NSTREAMS; i++)
        if (f->used[i])
            buf_reset(&f->s[i].out);
}

static size_t
count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Available presence with a priority from the stream's own JID. */
static void
available(struct fixture *f, struct stream *s, int prio)
{
    char xml[256];
    snprintf(xml, sizeof(xml),
             "<presence from='%s'><priority>%d</priority></presence>",
             jid_str(&s->jid), prio);
    rx(f, s, xml);
}

/* --- tables -------------------------------------------------------------- */

/* SipHash-2-4 reference vector (key 00..0f, message 00..0e). */
static void
test_route_siphash_vector(void **state)
{
    (void)state;
    unsigned char key[16], msg[64];
    for (unsigned i = 0; i < sizeof(key); i++)
        key[i] = (unsigned char)i;
    for (unsigned i = 0; i < sizeof(msg); i++)
        msg[i] = (unsigned char)i;
    assert_true(route__siphash(key, msg, 15) == 0xa129ca6149be45e5ULL);
    assert_true(route__siphash(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
    assert_true(route__siphash(key, msg, 8) == 0x93f5f5799a932462ULL);
    assert_true(route__siphash(key, msg, 63) == 0x958a324ceb064572ULL);
}

static void
test_route_table_grow_shrink(void **state)
{
    (void)state;
    static const unsigned char key[16] = "fedcba9876543210";
    enum { N = 1000 };
    struct rtab t;
    route__tab_init(&t, key);
    struct rtab_node *nodes = x_calloc(N, sizeof(*nodes));
    char(*keys)[16] = x_calloc(N, sizeof(*keys));
    for (size_t i = 0; i < N; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%zu@x/y", i);
        route__tab_insert(&t, &nodes[i], keys[i], strlen(keys[i]));
    }
    assert_int_equal(t.count, N);
    assert_true(t.nslots >= N);
    for (size_t i = 0; i < N; i++)
        assert_ptr_equal(route__tab_find(&t, keys[i], strlen(keys[i])),
                         &nodes[i]);
    assert_null(route__tab_find(&t, "k0@x/", 5));
    /* A walk sees every node once, and survives removing as it goes. */
    size_t slot = 0, seen = 0;
    struct rtab_node *nd = route__tab_next(&t, &slot, NULL);
    while (nd != NULL) {
        struct rtab_node *next = route__tab_next(&t, &slot, nd);
        if ((nd - nodes) % 2 == 0)
            route__tab_remove(&t, nd);
        seen++;
        nd = next;
    }
    assert_int_equal(seen, N);
    route__tab_shrink(&t);
    assert_int_equal(t.count, N / 2);
    for (size_t i = 0; i < N; i++)
        assert_true((route__tab_find(&t, keys[i], strlen(keys[i])) != NULL) ==
                    (i % 2 == 1));
    for (size_t i = 1; i < N; i += 2) {
        route__tab_remove(&t, &nodes[i]);
        route__tab_shrink(&t);
    }
    assert_int_equal(t.count, 0);
    assert_null(t.slots);
    route__tab_fini(&t);
    x_free(nodes);
    x_free(keys);
}

static void
test_route_bind_unbind_counts(void **state)
{
    struct fixture *f = *state;
    client(f, 0, ROMEO);
    struct stream *b = client(f, 1, BALCONY);
    client(f, 2, CHAMBER);
    assert_int_equal(router_sessions(f->r), 3);
    assert_int_equal(router_bind(f->r, b), XE_STATE);
    bye(f, 1);
    assert_int_equal(router_sessions(f->r), 2);
    assert_null(b->route_data);
    /* A bare JID cannot be bound. */
    struct stream *x = &f->s[3];
    stream_init(x, &f->ctx, 9, CFG_LISTEN_C2S, NULL);
    f->used[3] = true;
    assert_int_equal(jid_parse(&x->jid, JULIET, strlen(JULIET)), 0);
    assert_int_equal(router_bind(f->r, x), XE_INVAL);
    /* Unbinding a stream the router never bound is harmless. */
    router_unbind(f->r, x);
    assert_int_equal(router_sessions(f->r), 2);
}

/* Resources per account are capped; replacing one at the cap is fine. */
static void
test_route_account_sessions_limit(void **state)
{
    struct fixture *f = *state;
    enum { N = ROUTE_ACCOUNT_SESSIONS_MAX + 1 };
    struct stream *s = x_calloc(N, sizeof(*s));
    for (size_t i = 0; i < N; i++) {
        char j[64];
        snprintf(j, sizeof(j), "juliet@capulet.example/r%zu", i);
        stream_init(&s[i], &f->ctx, i, CFG_LISTEN_C2S, NULL);
        assert_int_equal(jid_parse(&s[i].jid, j, strlen(j)), 0);
        int rc = router_bind(f->r, &s[i]);
        assert_int_equal(rc, i < ROUTE_ACCOUNT_SESSIONS_MAX ? 0 : XE_LIMIT);
        s[i].bound = rc == 0;
    }
    assert_int_equal(router_sessions(f->r), ROUTE_ACCOUNT_SESSIONS_MAX);
    struct stream again;
    stream_init(&again, &f->ctx, 999, CFG_LISTEN_C2S, NULL);
    assert_int_equal(jid_parse(&again.jid, "juliet@capulet.example/r0", 25), 0);
    assert_int_equal(router_bind(f->r, &again), 0);
    again.bound = true;
    assert_true(stream_finished(&s[0]));
    assert_int_equal(router_sessions(f->r), ROUTE_ACCOUNT_SESSIONS_MAX);
    for (size_t i = 0; i < N; i++)
        stream_fini(&s[i]);
    stream_fini(&again);
    x_free(s);
}

/* --- messages ------------------------------------------------------------ */

static void
test_route_full_jid_across_hosts(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    struct stream *balcony = client(f, 1, BALCONY);
    rx(f, romeo,
       "<message from='" ROMEO "' to='Juliet@Capulet.Example/balcony' "
       "type='chat'><body>hi</body></message>");
    assert_string_equal(out(balcony),
                        "<message from='" ROMEO "' to='Juliet@Capulet."
                        "Example/balcony' type='chat'><body>hi</body>"
                        "</message>");
    assert_string_equal(out(romeo), "");
    assert_int_equal(f->wakes, 1);
    clear(f);
    /* And back, with an IQ that the resource answers itself. */
    rx(f, balcony,
       "<iq from='" BALCONY "' to='" ROMEO "' type='get' id='v1'>"
       "<query xmlns='jabber:iq:version'/></iq>");
    assert_string_equal(out(romeo), "<iq from='" BALCONY "' to='" ROMEO
                                    "' type='get' id='v1'><query "
                                    "xmlns='jabber:iq:version'/></iq>");
    rx(f, romeo,
       "<iq from='" ROMEO "' to='" BALCONY "' type='result' id='v1'/>");
    assert_string_equal(out(balcony), "<iq from='" ROMEO "' to='" BALCONY
                                      "' type='result' id='v1'/>");
    /* The body never reaches the log. */
    assert_null(strstr(buf_ptr(&f->logs), "hi</body>"));
    assert_non_null(strstr(buf_ptr(&f->logs),
                           "event=route kind=message type=chat "
                           "to=juliet@capulet.example/balcony "
                           "action=deliver"));
}

#define CHAT_TO_JULIET                                       \
    "<message from='" ROMEO "' to='" JULIET "' type='chat'>" \
    "<body>x</body></message>"

static void
test_route_bare_message_highest_priority(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    struct stream *balcony = client(f, 1, BALCONY);
    struct stream *chamber = client(f, 2, CHAMBER);
    struct stream *garden = client(f, 3, GARDEN);
    available(f, balcony, 5);
    available(f, chamber, 1);
    available(f, garden, -1);
    clear(f);
    rx(f, romeo, CHAT_TO_JULIET);
    assert_string_equal(out(balcony), CHAT_TO_JULIET);
    assert_string_equal(out(chamber), "");
    assert_string_equal(out(garden), "");
    assert_string_equal(out(romeo), "");
    /* A tie: both resources of the highest priority get it. */
    available(f, chamber, 5);
    clear(f);
    rx(f, romeo, CHAT_TO_JULIET);
    assert_string_equal(out(balcony), CHAT_TO_JULIET);
    assert_string_equal(out(chamber), CHAT_TO_JULIET);
    assert_string_equal(out(garden), "");
    /* Headline goes to every non-negative resource. */
    available(f, chamber, 0);
    clear(f);
    rx(f, romeo, "<message from='" ROMEO "' to='" JULIET "' type='headline'/>");
    assert_int_equal(count(out(balcony), "<message"), 1);
    assert_int_equal(count(out(chamber), "<message"), 1);
    assert_string_equal(out(garden), "");
}

/* An out-of-range or malformed priority counts as 0. */
static void
test_route_priority_malformed_is_zero(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    struct stream *balcony = client(f, 1, BALCONY);
    struct stream *chamber = client(f, 2, CHAMBER);
    rx(f, balcony, "<presence><priority>200</priority></presence>");
    rx(f, chamber, "<presence><priority> +1 </priority></presence>");
    clear(f);
    rx(f, romeo, CHAT_TO_JULIET);
    assert_string_equal(out(balcony), "");
    assert_string_equal(out(chamber), CHAT_TO_JULIET);
    rx(f, chamber, "<presence><priority>x</priority></presence>");
    rx(f, balcony, "<presence><priority>-128</priority></presence>");
    clear(f);
    rx(f, romeo, CHAT_TO_JULIET);
    assert_string_equal(out(balcony), "");
    assert_string_equal(out(chamber), CHAT_TO_JULIET);
}

static void
test_route_bare_message_no_resource_service_unavailable(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    struct stream *balcony = client(f, 1, BALCONY);
    /* Bound but never available (MUX-38): not a target. */
    rx(f, romeo, CHAT_TO_JULIET);
    assert_string_equal(out(romeo),
                        "<message to='" ROMEO "' from='" JULIET
                        "' type='error'>" SVC_UNAVAILABLE "</message>");
    assert_string_equal(out(balcony), "");
    clear(f);
    /* Only a negative priority: still nobody. */
    available(f, balcony, -5);
    clear(f);
    rx(f, romeo,
       "<message from='" ROMEO "' to='nobody@capulet.example' id='m1'>"
       "<body>x</body></message>");
    assert_string_equal(out(romeo),
                        "<message id='m1' to='" ROMEO
                        "' from='nobody@capulet.example' "
                        "type='error'>" SVC_UNAVAILABLE "</message>");
    clear(f);
    rx(f, romeo, CHAT_TO_JULIET);
    assert_int_equal(count(out(romeo), "service-unavailable"), 1);
    assert_string_equal(out(balcony), "");
    clear(f);
    /* Headline and error messages vanish; groupchat bounces. */
    rx(f, romeo, "<message from='" ROMEO "' to='" JULIET "' type='headline'/>");
    rx(f, romeo, "<message from='" ROMEO "' to='" JULIET "' type='error'/>");
    assert_string_equal(out(romeo), "");
    rx(f, romeo,
       "<message from='" ROMEO "' to='" JULIET "' type='groupchat'/>");
    assert_int_equal(count(out(romeo), "service-unavailable"), 1);
    assert_string_equal(out(balcony), "");
}

/* RFC 6121 §8.5.3.2.1: a message to an unbound full JID is treated as
 * sent to the bare JID, except groupchat (error) and error (dropped). */
static void
test_route_full_jid_unbound_message(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    struct stream *balcony = client(f, 1, BALCONY);
    available(f, balcony, 0);
    clear(f);
    const char *m = "<message from='" ROMEO "' to='" GARDEN "'>"
                    "<body>x</body></message>";
    rx(f, romeo, m);
    assert_string_equal(out(balcony), m);
    assert_string_equal(out(romeo), "");
    clear(f);
    rx(f, romeo,
       "<message from='" ROMEO "' to='" GARDEN "' type='groupchat'/>");
    assert_string_equal(out(romeo),
                        "<message to='" ROMEO "' from='" GARDEN
                        "' type='error'>" SVC_UNAVAILABLE "</message>");
    clear(f);
    rx(f, romeo, "<message from='" ROMEO "' to='" GARDEN "' type='error'/>");
    assert_string_equal(out(romeo), "");
    assert_string_equal(out(balcony), "");
    /* A bound full JID gets groupchat and errors. */
    rx(f, romeo,
       "<message from='" ROMEO "' to='" BALCONY "' type='groupchat'/>");
    rx(f, romeo, "<message from='" ROMEO "' to='" BALCONY "' type='error'/>");
    assert_int_equal(count(out(balcony), "<message"), 2);
}

/* Without 'to', a message goes to the sender's own bare JID. */
static void
test_route_message_without_to_own_account(void **state)
{
    struct fixture *f = *state;
    struct stream *balcony = client(f, 1, BALCONY);
    struct stream *chamber = client(f, 2, CHAMBER);
    available(f, balcony, 1);
    available(f, chamber, 2);
    clear(f);
    rx(f, balcony, "<message from='" BALCONY "'><body>x</body></message>");
    assert_string_equal(out(chamber),
                        "<message from='" BALCONY "'><body>x</body></message>");
    assert_string_equal(out(balcony), "");
}

static void
test_route_message_to_domain(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    rx(f, romeo,
       "<message from='" ROMEO "' to='capulet.example' type='chat'/>");
    assert_string_equal(out(romeo),
                        "<message to='" ROMEO "' from='capulet.example' "
                        "type='error'>" SVC_UNAVAILABLE "</message>");
    clear(f);
    rx(f, romeo,
       "<message from='" ROMEO "' to='capulet.example' type='headline'/>");
    rx(f, romeo,
       "<message from='" ROMEO "' to='capulet.example' type='groupchat'/>");
    assert_string_equal(out(romeo), "");
}

/* --- addressing errors ---------------------------------------------------- */

static void
test_route_remote_domain_remote_server_not_found(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    rx(f, romeo,
       "<message from='" ROMEO "' to='nurse@verona.example' type='chat' "
       "id='r1'><body>x</body></message>");
    assert_string_equal(
        out(romeo),
        "<message id='r1' to='" ROMEO "' from='nurse@verona.example' "
        "type='error'><error type='cancel'><remote-server-not-found "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
    clear(f);
    rx(f, romeo,
       "<iq from='" ROMEO "' to='verona.example' type='get' id='p'>"
       "<ping xmlns='urn:xmpp:ping'/></iq>");
    assert_int_equal(count(out(romeo), "<iq"), 1);
    assert_int_equal(count(out(romeo), "remote-server-not-found"), 1);
    clear(f);
    /* Directed presence bounces too; results and errors never do. */
    rx(f, romeo, "<presence from='" ROMEO "' to='nurse@verona.example'/>");
    assert_int_equal(count(out(romeo), "<presence"), 1);
    assert_int_equal(count(out(romeo), "remote-server-not-found"), 1);
    clear(f);
    rx(f, romeo,
       "<iq from='" ROMEO "' to='verona.example' type='result' id='p'/>");
    rx(f, romeo,
       "<message from='" ROMEO "' to='verona.example' type='error'/>");
    assert_string_equal(out(romeo), "");
}

/* No error answers an error, whatever its destination. */
static void
test_route_error_stanzas_never_answered(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    static const char *const in[] = {
        "<message from='" ROMEO "' to='nobody@capulet.example' "
        "type='error'/>",
        "<message from='" ROMEO "' to='capulet.example' type='error'/>",
        "<message from='" ROMEO "' to='a@verona.example' type='error'/>",
        "<message from='" ROMEO "' type='error'/>",
        "<iq from='" ROMEO "' to='" BALCONY "' type='error' id='1'/>",
        "<iq from='" ROMEO "' to='capulet.example' type='error'/>",
        "<iq from='" ROMEO "' type='error'/>",
        "<presence from='" ROMEO "' to='" BALCONY "' type='error'/>",
        "<presence from='" ROMEO "' to='" JULIET "' type='error'/>",
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        rx(f, romeo, in[i]);
        assert_string_equal(out(romeo), "");
    }
}

/* --- IQs the server answers ----------------------------------------------- */

#define DISCO_INFO_Q  "<query xmlns='http://jabber.org/protocol/disco#info'/>"
#define DISCO_ITEMS_Q "<query xmlns='http://jabber.org/protocol/disco#items'/>"

static void
test_route_CORE_18_domain_disco_info(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    rx(f, romeo,
       "<iq from='" ROMEO
       "' to='capulet.example' type='get' id='d1'>" DISCO_INFO_Q "</iq>");
    assert_string_equal(
        out(romeo),
        "<iq type='result' id='d1' from='capulet.example' to='" ROMEO "'>"
        "<query xmlns='http://jabber.org/protocol/disco#info'>"
        "<identity category='server' type='im' name='xmux'/>"
        "<feature var='http://jabber.org/protocol/disco#info'/>"
        "<feature var='http://jabber.org/protocol/disco#items'/>"
        "<feature var='urn:xmpp:ping'/>"
        "<feature var='jabber:iq:version'/></query></iq>");
    clear(f);
    /* A node we do not have. */
    rx(f, romeo,
       "<iq from='" ROMEO "' to='capulet.example' type='get' id='d2'>"
       "<query xmlns='http://jabber.org/protocol/disco#info' node='x'/>"
       "</iq>");
    assert_int_equal(count(out(romeo), "<iq"), 1);
    assert_int_equal(count(out(romeo), "<item-not-found"), 1);
}

static void
test_route_CORE_18_domain_disco_items_ping_version(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    rx(f, romeo,
       "<iq from='" ROMEO
       "' to='montague.example' type='get' id='i1'>" DISCO_ITEMS_Q "</iq>");
    assert_string_equal(out(romeo), "<iq type='result' id='i1' "
                                    "from='montague.example' to='" ROMEO
                                    "'>" DISCO_ITEMS_Q "</iq>");
    clear(f);
    rx(f, romeo,
       "<iq from='" ROMEO "' to='montague.example' type='get' id='p1'>"
       "<ping xmlns='urn:xmpp:ping'/></iq>");
    assert_string_equal(out(romeo), "<iq type='result' id='p1' "
                                    "from='montague.example' to='" ROMEO "'/>");
    clear(f);
    rx(f, romeo,
       "<iq from='" ROMEO "' to='montague.example' type='get' id='v1'>"
       "<query xmlns='jabber:iq:version'/></iq>");
    assert_string_equal(out(romeo),
                        "<iq type='result' id='v1' from='montague.example' "
                        "to='" ROMEO "'><query xmlns='jabber:iq:version'>"
                        "<name>xmux</name><version>" XMUX_VERSION
                        "</version></query></iq>");
}

static void
test_route_CORE_18_account_iqs(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    /* Another account: answered by the server on its behalf. */
    rx(f, romeo,
       "<iq from='" ROMEO "' to='" JULIET "' type='get' id='a1'>" DISCO_INFO_Q
       "</iq>");
    assert_string_equal(
        out(romeo),
        "<iq type='result' id='a1' from='" JULIET "' to='" ROMEO "'>"
        "<query xmlns='http://jabber.org/protocol/disco#info'>"
        "<identity category='account' type='registered'/>"
        "<feature var='http://jabber.org/protocol/disco#info'/>"
        "<feature var='http://jabber.org/protocol/disco#items'/>"
        "<feature var='urn:xmpp:ping'/></query></iq>");
    clear(f);
    rx(f, romeo,
       "<iq from='" ROMEO "' to='" JULIET "' type='get' id='a2'>" DISCO_ITEMS_Q
       "</iq>");
    assert_string_equal(out(romeo), "<iq type='result' id='a2' from='" JULIET
                                    "' to='" ROMEO "'>" DISCO_ITEMS_Q "</iq>");
    clear(f);
    rx(f, romeo,
       "<iq from='" ROMEO "' to='" JULIET "' type='get' id='a3'>"
       "<ping xmlns='urn:xmpp:ping'/></iq>");
    assert_string_equal(out(romeo), "<iq type='result' id='a3' from='" JULIET
                                    "' to='" ROMEO "'/>");
    clear(f);
    /* No 'to': on behalf of the sender's account, from its bare JID. */
    rx(f, romeo,
       "<iq from='" ROMEO "' type='get' id='a4'>"
       "<ping xmlns='urn:xmpp:ping'/></iq>");
    assert_string_equal(out(romeo), "<iq type='result' id='a4' to='" ROMEO
                                    "' from='romeo@montague.example'/>");
    clear(f);
    /* Version is the server's, not an account's. */
    rx(f, romeo,
       "<iq from='" ROMEO "' to='" JULIET "' type='get' id='a5'>"
       "<query xmlns='jabber:iq:version'/></iq>");
    assert_int_equal(count(out(romeo), "<iq"), 1);
    assert_int_equal(count(out(romeo), "service-unavailable"), 1);
}

static void
test_route_CORE_18_unknown_iq_one_error(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    static const char *const to[] = {
        " to='capulet.example'",
        " to='" JULIET "'",
        " to='romeo@montague.example'",
        "",
        " to='" GARDEN "'",
    };
    for (size_t i = 0; i < sizeof(to) / sizeof(to[0]); i++) {
        char xml[256];
        snprintf(xml, sizeof(xml),
                 "<iq from='" ROMEO "'%s type='get' id='u%zu'>"
                 "<query xmlns='jabber:iq:roster'/></iq>",
                 to[i], i);
        rx(f, romeo, xml);
        assert_int_equal(count(out(romeo), "<iq"), 1);
        assert_int_equal(count(out(romeo), "type='error'"), 1);
        assert_int_equal(count(out(romeo), "<service-unavailable"), 1);
        clear(f);
    }
    /* A roster request without 'to' is answered from the bare JID. */
    rx(f, romeo,
       "<iq from='" ROMEO "' type='get' id='r'>"
       "<query xmlns='jabber:iq:roster'/></iq>");
    assert_string_equal(
        out(romeo), "<iq id='r' to='" ROMEO "' type='error' "
                    "from='romeo@montague.example'>" SVC_UNAVAILABLE "</iq>");
}

/* A 'set' of a namespace the server answers only to 'get'. */
static void
test_route_CORE_18_set_of_known_ns_one_error(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    rx(f, romeo,
       "<iq from='" ROMEO "' to='capulet.example' type='set' id='s1'>"
       "<ping xmlns='urn:xmpp:ping'/></iq>");
    assert_int_equal(count(out(romeo), "<iq"), 1);
    assert_int_equal(count(out(romeo), "<service-unavailable"), 1);
}

static void
test_route_CORE_18_iq_to_unbound_full_jid(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    struct stream *balcony = client(f, 1, BALCONY);
    available(f, balcony, 0);
    clear(f);
    rx(f, romeo,
       "<iq from='" ROMEO "' to='" GARDEN "' type='get' id='g'>"
       "<ping xmlns='urn:xmpp:ping'/></iq>");
    assert_string_equal(out(romeo), "<iq id='g' to='" ROMEO "' from='" GARDEN
                                    "' type='error'>" SVC_UNAVAILABLE "</iq>");
    assert_string_equal(out(balcony), "");
}

/* A bound resource whose output queue overflows, or whose stream has
 * ended, cannot take an IQ: the requester still gets exactly one error. */
static void
test_route_CORE_18_delivery_failure_one_error(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    struct stream *balcony = client(f, 1, BALCONY);
    struct stream *chamber = client(f, 2, CHAMBER);
    available(f, chamber, 0);
    clear(f);
    size_t fill = balcony->out.max - 16;
    char *junk = x_malloc(fill);
    memset(junk, ' ', fill);
    assert_int_equal(buf_append(&balcony->out, junk, fill), 0);
    x_free(junk);
    const char *iq = "<iq from='" ROMEO "' to='" BALCONY "' type='get' "
                     "id='q'><ping xmlns='urn:xmpp:ping'/></iq>";
    rx(f, romeo, iq);
    assert_true(stream_finished(balcony));
    assert_int_equal(count(out(romeo), "<iq"), 1);
    assert_int_equal(count(out(romeo), "<service-unavailable"), 1);
    clear(f);
    /* Now finished but still bound: treated as not bound at all. */
    rx(f, romeo, iq);
    assert_int_equal(count(out(romeo), "<service-unavailable"), 1);
    rx(f, romeo, "<message from='" ROMEO "' to='" BALCONY "' type='chat'/>");
    assert_int_equal(count(out(chamber), "<message"), 1);
    assert_string_equal(out(balcony), "");
}

static void
test_route_iq_result_to_nowhere_dropped(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    rx(f, romeo, "<iq from='" ROMEO "' to='" GARDEN "' type='result' id='1'/>");
    rx(f, romeo, "<iq from='" ROMEO "' to='" JULIET "' type='result' id='2'/>");
    rx(f, romeo,
       "<iq from='" ROMEO "' to='capulet.example' type='result' id='3'/>");
    rx(f, romeo, "<iq from='" ROMEO "' type='result' id='4'/>");
    rx(f, romeo, "<iq from='" ROMEO "' to='" GARDEN "' type='error' id='5'/>");
    assert_string_equal(out(romeo), "");
}

static void
test_route_iq_bad_request(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    static const char *const in[] = {
        /* No id. */
        "<iq from='" ROMEO "' to='capulet.example' type='get'>"
        "<ping xmlns='urn:xmpp:ping'/></iq>",
        /* No id on a result. */
        "<iq from='" ROMEO "' to='" BALCONY "' type='result'/>",
        /* No type, and an unknown one. */
        "<iq from='" ROMEO "' to='capulet.example' id='1'>"
        "<ping xmlns='urn:xmpp:ping'/></iq>",
        "<iq from='" ROMEO "' to='capulet.example' id='1' type='fetch'>"
        "<ping xmlns='urn:xmpp:ping'/></iq>",
        /* No payload, and two. */
        "<iq from='" ROMEO "' to='capulet.example' id='1' type='get'/>",
        "<iq from='" ROMEO "' to='capulet.example' id='1' type='get'>"
        "<ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/></iq>",
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        rx(f, romeo, in[i]);
        assert_int_equal(count(out(romeo), "<iq"), 1);
        assert_int_equal(count(out(romeo), "<error type='modify'><bad-request"),
                         1);
        clear(f);
    }
}

/* --- presence ------------------------------------------------------------ */

static void
test_route_initial_presence_broadcast(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    struct stream *balcony = client(f, 1, BALCONY);
    struct stream *chamber = client(f, 2, CHAMBER);
    struct stream *garden = client(f, 3, GARDEN);
    rx(f, balcony,
       "<presence from='" BALCONY "'><show>away</show>"
       "</presence>");
    /* The sender gets its own presence back (RFC 6121 §4.2.2). */
    assert_string_equal(out(balcony),
                        "<presence from='" BALCONY "' to='" BALCONY
                        "'><show>away</show></presence>");
    assert_string_equal(out(chamber), "");
    clear(f);
    rx(f, chamber, "<presence from='" CHAMBER "'/>");
    assert_string_equal(out(balcony),
                        "<presence from='" CHAMBER "' to='" BALCONY "'/>");
    /* Its own echo, then the presence of the other available resource. */
    assert_string_equal(out(chamber),
                        "<presence from='" CHAMBER "' to='" CHAMBER "'/>"
                        "<presence from='" BALCONY "' to='" CHAMBER
                        "'><show>away</show></presence>");
    /* Neither the unavailable resource nor another account hears it. */
    assert_string_equal(out(garden), "");
    assert_string_equal(out(romeo), "");
    clear(f);
    /* An update is broadcast, but the others' presence is not resent. */
    rx(f, chamber,
       "<presence from='" CHAMBER "'><show>dnd</show>"
       "</presence>");
    assert_int_equal(count(out(balcony), "<presence"), 1);
    assert_int_equal(count(out(chamber), "<presence"), 1);
    assert_non_null(strstr(out(chamber), "<show>dnd</show>"));
}

static void
test_route_unavailable_on_unbind(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    struct stream *balcony = client(f, 1, BALCONY);
    struct stream *chamber = client(f, 2, CHAMBER);
    struct stream *garden = client(f, 3, GARDEN);
    available(f, balcony, 0);
    available(f, chamber, 0);
    rx(f, balcony, "<presence from='" BALCONY "' to='" ROMEO "'/>");
    assert_string_equal(out(romeo),
                        "<presence from='" BALCONY "' to='" ROMEO "'/>");
    clear(f);
    bye(f, 1);
#define GONE(to) "<presence from='" BALCONY "' type='unavailable' to='" to "'/>"
    assert_string_equal(out(chamber), GONE(CHAMBER));
    assert_string_equal(out(romeo), GONE(ROMEO));
#undef GONE
    assert_string_equal(out(garden), "");
    /* A session that was never available leaves quietly. */
    clear(f);
    bye(f, 3);
    assert_string_equal(out(chamber), "");
    assert_string_equal(out(romeo), "");
}

static void
test_route_directed_presence(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    struct stream *balcony = client(f, 1, BALCONY);
    struct stream *chamber = client(f, 2, CHAMBER);
    struct stream *garden = client(f, 3, GARDEN);
    available(f, balcony, 0);
    available(f, chamber, -1);
    clear(f);
    /* To the bare JID: every available resource, negative or not. */
    const char *p = "<presence from='" ROMEO "' to='" JULIET "'>"
                    "<status>hello</status></presence>";
    rx(f, romeo, p);
    assert_string_equal(out(balcony), p);
    assert_string_equal(out(chamber), p);
    assert_string_equal(out(garden), "");
    assert_string_equal(out(romeo), "");
    clear(f);
    /* Directed unavailable to one resource: it is forgotten there. */
    rx(f, romeo,
       "<presence from='" ROMEO "' to='" BALCONY "' type='unavailable'/>");
    assert_int_equal(count(out(balcony), "type='unavailable'"), 1);
    clear(f);
    /* Presence to an unbound full JID, the server, or nobody vanishes. */
    rx(f, romeo, "<presence from='" ROMEO "' to='juliet@capulet.example/x'/>");
    rx(f, romeo, "<presence from='" ROMEO "' to='capulet.example'/>");
    rx(f, romeo, "<presence from='" ROMEO "' to='nobody@capulet.example'/>");
    assert_string_equal(out(romeo), "");
    bye(f, 0);
    assert_string_equal(out(balcony), "");
    assert_string_equal(out(chamber),
                        "<presence from='" ROMEO "' type='unavailable' "
                        "to='" CHAMBER "'/>");
}

/* Broadcast unavailable reaches the account's resources, the sender, and
 * directed-presence targets, which are then forgotten. */
static void
test_route_broadcast_unavailable(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    struct stream *balcony = client(f, 1, BALCONY);
    struct stream *chamber = client(f, 2, CHAMBER);
    available(f, romeo, 0);
    available(f, balcony, 0);
    available(f, chamber, 0);
    rx(f, romeo, "<presence from='" ROMEO "' to='" BALCONY "'/>");
    clear(f);
    rx(f, romeo, "<presence from='" ROMEO "' type='unavailable'/>");
    assert_string_equal(out(romeo), "<presence from='" ROMEO
                                    "' type='unavailable' to='" ROMEO "'/>");
    assert_string_equal(out(balcony),
                        "<presence from='" ROMEO
                        "' type='unavailable' to='" BALCONY "'/>");
    assert_string_equal(out(chamber), "");
    clear(f);
    /* Unavailable now: bare-JID messages bounce, and leaving says
     * nothing more. */
    rx(f, balcony,
       "<message from='" BALCONY "' to='romeo@montague.example' "
       "type='chat'/>");
    assert_int_equal(count(out(balcony), "service-unavailable"), 1);
    clear(f);
    bye(f, 0);
    assert_string_equal(out(balcony), "");
    assert_string_equal(out(chamber), "");
    /* Presence of a resource of the same account is not remembered. */
    rx(f, balcony, "<presence from='" BALCONY "' to='" CHAMBER "'/>");
    assert_int_equal(count(out(chamber), "<presence"), 1);
    clear(f);
    bye(f, 1);
    assert_int_equal(count(out(chamber), "<presence"), 1);
    assert_non_null(strstr(out(chamber), "type='unavailable'"));
}

static void
test_route_presence_types(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    struct stream *balcony = client(f, 1, BALCONY);
    available(f, balcony, 0);
    clear(f);
    static const char *const types[] = {"subscribe", "subscribed",
                                        "unsubscribe", "unsubscribed", "probe"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        char xml[160];
        snprintf(xml, sizeof(xml),
                 "<presence from='" ROMEO "' to='" JULIET "' type='%s'/>",
                 types[i]);
        rx(f, romeo, xml);
        snprintf(xml, sizeof(xml),
                 "<presence from='" ROMEO "' to='" BALCONY "' type='%s'/>",
                 types[i]);
        rx(f, romeo, xml);
    }
    assert_string_equal(out(romeo), "");
    assert_string_equal(out(balcony), "");
    rx(f, romeo, "<presence from='" ROMEO "' to='" JULIET "' type='online'/>");
    assert_int_equal(count(out(romeo), "<bad-request"), 1);
    assert_string_equal(out(balcony), "");
    clear(f);
    /* A presence error reaches a bound full JID. */
    rx(f, romeo, "<presence from='" ROMEO "' to='" BALCONY "' type='error'/>");
    assert_int_equal(count(out(balcony), "type='error'"), 1);
}

/* The directed-presence set holds ROUTE_DIRECTED_MAX targets; the next
 * one is not recorded, so it misses the final unavailable. */
static void
test_route_directed_presence_limit(void **state)
{
    struct fixture *f = *state;
    enum { N = ROUTE_DIRECTED_MAX + 1 };
    struct stream *romeo = client(f, 0, ROMEO);
    struct stream *s = x_calloc(N, sizeof(*s));
    for (size_t i = 0; i < N; i++) {
        char j[64];
        snprintf(j, sizeof(j), "u%zu@capulet.example/r", i);
        stream_init(&s[i], &f->ctx, 1000 + i, CFG_LISTEN_C2S, NULL);
        assert_int_equal(jid_parse(&s[i].jid, j, strlen(j)), 0);
        assert_int_equal(router_bind(f->r, &s[i]), 0);
        s[i].bound = true;
        char xml[128];
        snprintf(xml, sizeof(xml), "<presence from='" ROMEO "' to='%s'/>", j);
        rx(f, romeo, xml);
        assert_int_equal(count(buf_ptr(&s[i].out), "<presence"), 1);
        buf_reset(&s[i].out);
    }
    const struct route_session *me = romeo->route_data;
    assert_int_equal(me->directed.count, ROUTE_DIRECTED_MAX);
    assert_int_equal(count(buf_ptr(&f->logs), "what=directed-presence"), 1);
    bye(f, 0);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(count(buf_ptr(&s[i].out), "type='unavailable'"),
                         i < ROUTE_DIRECTED_MAX ? 1 : 0);
        stream_fini(&s[i]);
    }
    x_free(s);
}

/* --- conflict ------------------------------------------------------------ */

static void
test_route_conflict_override(void **state)
{
    struct fixture *f = *state;
    struct stream *romeo = client(f, 0, ROMEO);
    struct stream *old = client(f, 1, BALCONY);
    struct stream *chamber = client(f, 2, CHAMBER);
    available(f, old, 0);
    available(f, chamber, 0);
    clear(f);
    unsigned wakes = f->wakes;
    struct stream *new = client(f, 3, BALCONY);
    assert_int_equal(router_sessions(f->r), 3);
    assert_true(stream_finished(old));
    assert_non_null(strstr(out(old),
                           "<stream:error><conflict "
                           "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"));
    assert_non_null(strstr(out(old), "</stream:stream>"));
    assert_null(old->route_data);
    assert_true(f->wakes > wakes);
    /* The other resource learns that the old session went away. */
    assert_string_equal(out(chamber),
                        "<presence from='" BALCONY
                        "' type='unavailable' to='" CHAMBER "'/>");
    clear(f);
    rx(f, romeo, "<message from='" ROMEO "' to='" BALCONY "'/>");
    assert_int_equal(count(out(new), "<message"), 1);
    assert_string_equal(out(old), "");
    /* The old stream's end does not disturb the new session. */
    bye(f, 1);
    assert_int_equal(router_sessions(f->r), 3);
    assert_ptr_equal(route__session(f->r, BALCONY, strlen(BALCONY)),
                     new->route_data);
    /* Nor does a stanza it might still have produced. */
    struct stanza *st = parse("<message from='" BALCONY "' to='" ROMEO "'/>");
    struct stream gone;
    stream_init(&gone, &f->ctx, 77, CFG_LISTEN_C2S, NULL);
    router_stanza(f->r, &gone, st);
    stanza_unref(st);
    stream_fini(&gone);
    assert_string_equal(out(romeo), "");
}

/* router_free forgets sessions still bound and clears their streams. */
static void
test_route_free_with_sessions(void **state)
{
    struct fixture *f = *state;
    static const unsigned char key[ROUTE_HASH_KEY_BYTES] = {1};
    struct router *r = router_new(f->cfg, &f->log, key);
    struct stream s;
    stream_init(&s, &f->ctx, 5, CFG_LISTEN_C2S, NULL);
    assert_int_equal(jid_parse(&s.jid, ROMEO, strlen(ROMEO)), 0);
    assert_int_equal(router_bind(r, &s), 0);
    struct stanza *st = parse("<presence from='" ROMEO "'/>");
    router_stanza(r, &s, st);
    stanza_unref(st);
    router_free(r);
    assert_null(s.route_data);
    stream_fini(&s);
    router_free(NULL);
}

static void
test_route_set_ops(void **state)
{
    (void)state;
    struct stream_ops ops = {0};
    router_set_ops(&ops);
    assert_non_null(ops.bind);
    assert_non_null(ops.unbind);
    assert_non_null(ops.stanza);
    assert_null(ops.wake);
    assert_null(ops.need_creds);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_siphash_vector),
        cmocka_unit_test(test_route_table_grow_shrink),
        T(test_route_bind_unbind_counts),
        T(test_route_account_sessions_limit),
        T(test_route_full_jid_across_hosts),
        T(test_route_bare_message_highest_priority),
        T(test_route_priority_malformed_is_zero),
        T(test_route_bare_message_no_resource_service_unavailable),
        T(test_route_full_jid_unbound_message),
        T(test_route_message_without_to_own_account),
        T(test_route_message_to_domain),
        T(test_route_remote_domain_remote_server_not_found),
        T(test_route_error_stanzas_never_answered),
        T(test_route_CORE_18_domain_disco_info),
        T(test_route_CORE_18_domain_disco_items_ping_version),
        T(test_route_CORE_18_account_iqs),
        T(test_route_CORE_18_unknown_iq_one_error),
        T(test_route_CORE_18_set_of_known_ns_one_error),
        T(test_route_CORE_18_iq_to_unbound_full_jid),
        T(test_route_CORE_18_delivery_failure_one_error),
        T(test_route_iq_result_to_nowhere_dropped),
        T(test_route_iq_bad_request),
        T(test_route_initial_presence_broadcast),
        T(test_route_unavailable_on_unbind),
        T(test_route_directed_presence),
        T(test_route_broadcast_unavailable),
        T(test_route_presence_types),
        T(test_route_directed_presence_limit),
        T(test_route_conflict_override),
        T(test_route_free_with_sessions),
        cmocka_unit_test(test_route_set_ops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
