/* SPDX-License-Identifier: MIT */
/* fuzz_client.c -- libFuzzer target: what the client library reads of a
 * server's elements: the connection-authorization answer (MUX.md §10.6:
 * any stanza gets no answer, a matching secret a result (once), anything
 * else not-acceptable), the SASL mechanism it picks from features, the
 * SCRAM client's handling of a challenge's data, and the stream
 * management counters (XEP-0198: <enabled/>, <a/>, <resumed/> and the
 * stanzas counted as handled). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "client/client.h"
#include "sasl/sasl.h"
#include "xml/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct xml_limits fuzz_limits = {
    .max_depth = 8,
    .max_attrs = 8,
    .max_name = 64,
    .max_text = 4096,
    .max_stanza = 8192,
};

static const char hdr[] = "<stream:stream xmlns='jabber:client' "
                          "xmlns:stream='http://etherx.jabber.org/streams'>";

/* The secrets the client would have sent: fixed, so that seeds can hold
 * them. */
static struct client_authz authz_template = {
    .secret = {"00112233445566778899aabbccddeeff",
               "ffeeddccbbaa99887766554433221100"},
    .n = 2,
};

struct run {
    struct stanza_builder b;
    struct client_authz a;
    struct client_sm sm;
};

static int
on_start(void *arg, unsigned depth, const struct xml_name *el,
         const struct xml_attr *attrs, size_t nattrs)
{
    struct run *r = arg;
    stanza_builder_start(&r->b, depth, el, attrs, nattrs);
    return 0;
}

static int
on_text(void *arg, unsigned depth, const char *s, size_t len)
{
    struct run *r = arg;
    stanza_builder_text(&r->b, depth, s, len);
    return 0;
}

/* Every element goes through the answer logic; its invariants: an answer
 * is an iq result only when a secret matched (and was used up), an error
 * otherwise; never an answer to a non-F5 stanza. */
/* The pick is NULL or a mechanism the client knows; -PLUS only with a
 * channel binding, the forced one only. */
static void
check_pick(const struct stanza *st, const char *cb, const char *forced)
{
    const char *m = client_pick_mech(st, cb, forced);
    if (m == NULL)
        return;
    const char *one = m;
    if (sasl_client_pick(&one, 1, true) != m)
        abort();
    if (cb == NULL && strstr(m, "-PLUS") != NULL)
        abort();
    if (forced != NULL && strcmp(m, forced) != 0)
        abort();
}

/* A SCRAM client given the element's text as the server-first-message:
 * it may go on or fail, never succeed at that step. */
static void
check_scram(const struct stanza *st)
{
    if (!stanza_is(st, NS_SASL, "challenge"))
        return;
    struct buf text, out;
    buf_init(&text, 16384);
    buf_init(&out, 16384);
    struct sasl_client_params p = {.authcid = "juliet", .password = "pw"};
    struct sasl_client *c = NULL;
    if (stanza_text_copy(st, &text) == 0 &&
        sasl_client_start("SCRAM-SHA-1", &p, &c) == 0 &&
        sasl_client_step(c, "", 0, &out) == SASL_CONTINUE &&
        sasl_client_step(c, buf_ptr(&text), buf_len(&text), &out) ==
            SASL_SUCCESS)
        abort();
    sasl_client_free(c);
    buf_fini(&out);
    buf_fini(&text);
}

/* <a/> and <resumed/>: an error changes nothing; otherwise exactly the
 * stanzas up to h leave the queue, in order. */
static void
check_sm_h(struct client_sm *sm, const struct stanza *st)
{
    size_t qn = client_sm_unacked(sm);
    uint32_t acked = sm->acked;
    size_t len = 0;
    const char *last = qn > 0 ? client_sm_item(sm, qn - 1, &len) : NULL;
    int rc = stanza_is(st, NS_SM, "a") ? client_sm_ack(sm, st)
                                       : client_sm_on_resumed(sm, st);
    if (rc < 0) {
        if (client_sm_unacked(sm) != qn || sm->acked != acked)
            abort();
        return;
    }
    size_t left = client_sm_unacked(sm);
    if (stanza_is(st, NS_SM, "a") ? left != qn - (size_t)rc
                                  : left != (size_t)rc)
        abort();
    if (sm->acked - acked != (uint32_t)(qn - left))
        abort();
    if (left > 0 && client_sm_item(sm, left - 1, &len) != last)
        abort();
}

/* Every element also goes through the stream management counters; what
 * is kept is the element's name, so that acknowledgements have
 * something to take. */
static void
check_sm(struct client_sm *sm, const struct stanza *st)
{
    if (stanza_is(st, NS_SM, "enabled")) {
        client_sm_on_enabled(sm, st);
        if (!sm->enabled || client_sm_unacked(sm) != 0 ||
            strlen(sm->id) > CLIENT_SM_ID_MAX || (sm->resume != !!sm->id[0]))
            abort();
        return;
    }
    if (stanza_is(st, NS_SM, "a") || stanza_is(st, NS_SM, "resumed")) {
        check_sm_h(sm, st);
        return;
    }
    uint32_t h = sm->h_in;
    client_sm_received(sm, st);
    if (sm->h_in - h > 1)
        abort();
    const char *name = stanza_name(st);
    if (sm->enabled && client_sm_keep(sm, name, strlen(name)) == XE_LIMIT &&
        client_sm_unacked(sm) != CLIENT_SM_MAX_UNACKED)
        abort();
}

static int
on_end(void *arg, unsigned depth)
{
    struct run *r = arg;
    struct stanza *st = stanza_builder_end(&r->b, depth);
    if (st == NULL)
        return 0;
    check_pick(st, NULL, NULL);
    check_pick(st, "tls-exporter", NULL);
    check_pick(st, "tls-unique", "SCRAM-SHA-1-PLUS");
    check_scram(st);
    check_sm(&r->sm, st);
    size_t before = r->a.n;
    bool matched = false;
    struct stanza *ans = client_authz_answer(&r->a, st, &matched);
    if (ans != NULL) {
        const char *type = stanza_attr(ans, "type");
        if (type == NULL || strcmp(type, matched ? "result" : "error") != 0)
            abort();
        if (matched && r->a.n != before - 1)
            abort();
        stanza_unref(ans);
    } else if (matched) {
        abort();
    }
    stanza_unref(st);
    return 0;
}

static const struct xml_handler handler = {NULL, on_start, on_text, on_end,
                                           NULL};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run r;
    memset(&r, 0, sizeof(r));
    r.a = authz_template;
    stanza_builder_init(&r.b);
    struct xml_reader *x = xml_reader_new(&fuzz_limits, &handler, &r);
    size_t used = 0;
    if (xml_reader_feed(x, hdr, sizeof(hdr) - 1, &used) == 0)
        xml_reader_feed(x, (const char *)data, size, &used);
    xml_reader_free(x);
    stanza_builder_fini(&r.b);
    client_sm_fini(&r.sm);
    return 0;
}
