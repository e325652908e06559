/* SPDX-License-Identifier: MIT */
/* test_client.c -- unit tests for the client's connection authorization
 * and its stream management counters (XEP-0198). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "client/client.h"
#include "stanza/stanza.h"

#include "ct_count.h"

/* An F5 IQ as the server sends it on P (MUX.md §10.6 step 4). */
static struct stanza *
f5(const char *secret)
{
    struct stanza *iq = stanza_new(NS_CLIENT, "iq");
    stanza_set_attr(iq, "type", "set");
    stanza_set_attr(iq, "id", "mux1");
    stanza_set_attr(iq, "from", "capulet.example");
    stanza_set_attr(iq, "to", "juliet@capulet.example/balcony");
    struct stanza *m = stanza_add_child(iq, NS_MUX, "mux");
    stanza_add_text(m, secret, strlen(secret));
    return iq;
}

static bool
is_error(const struct stanza *r, const char *cond)
{
    const struct stanza *e = stanza_child(r, NS_CLIENT, "error");
    return e != NULL && strcmp(stanza_attr(r, "type"), "error") == 0 &&
           strcmp(stanza_attr(e, "type"), "modify") == 0 &&
           stanza_child(e, NS_STANZAS_ERR, cond) != NULL;
}

static void
test_client_MUX_90_own_secret_result(void **state)
{
    (void)state;
    struct client_authz a = {0};
    char s[CLIENT_SECRET_LEN + 1];
    assert_int_equal(client_authz_new_secret(&a, s), 0);
    assert_int_equal(strlen(s), CLIENT_SECRET_LEN);
    /* Surrounding whitespace is trimmed, as the server does. */
    char padded[CLIENT_SECRET_LEN + 8];
    snprintf(padded, sizeof padded, " \n%s\t ", s);
    struct stanza *iq = f5(padded);
    bool ok = false;
    ct_calls = ct_bytes = 0;
    struct stanza *r = client_authz_answer(&a, iq, &ok);
    assert_non_null(r);
    assert_true(ok);
    assert_string_equal(stanza_attr(r, "type"), "result");
    assert_string_equal(stanza_attr(r, "id"), "mux1");
    assert_string_equal(stanza_attr(r, "to"), "capulet.example");
    assert_null(stanza_first_child(r));
    stanza_unref(r);
    /* SEC-09: compared with CRYPTO_memcmp, in full. */
    assert_int_equal(ct_calls, 1);
    assert_int_equal(ct_bytes, CLIENT_SECRET_LEN);
    /* A secret is good once: a replay is refused. */
    r = client_authz_answer(&a, iq, &ok);
    assert_false(ok);
    assert_true(is_error(r, "not-acceptable"));
    stanza_unref(r);
    stanza_unref(iq);
}

static void
test_client_MUX_90_foreign_secret_refused(void **state)
{
    (void)state;
    struct client_authz a = {0};
    char s[CLIENT_SECRET_LEN + 1];
    assert_int_equal(client_authz_new_secret(&a, s), 0);
    const char *bad[] = {"", "abc", "0123456789abcdef0123456789abcdef"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct stanza *iq = f5(bad[i]);
        bool ok = true;
        struct stanza *r = client_authz_answer(&a, iq, &ok);
        assert_false(ok);
        assert_true(is_error(r, "not-acceptable"));
        assert_string_equal(stanza_attr(r, "id"), "mux1");
        assert_string_equal(stanza_attr(r, "to"), "capulet.example");
        stanza_unref(r);
        stanza_unref(iq);
    }
    /* One character off. */
    s[CLIENT_SECRET_LEN - 1] = s[CLIENT_SECRET_LEN - 1] == '0' ? '1' : '0';
    struct stanza *iq = f5(s);
    bool ok = true;
    struct stanza *r = client_authz_answer(&a, iq, &ok);
    assert_false(ok);
    stanza_unref(r);
    stanza_unref(iq);
    /* With no secret pending at all. */
    struct client_authz none = {0};
    iq = f5("anything");
    r = client_authz_answer(&none, iq, &ok);
    assert_false(ok);
    assert_true(is_error(r, "not-acceptable"));
    stanza_unref(r);
    stanza_unref(iq);
}

static void
test_client_MUX_90_not_f5(void **state)
{
    (void)state;
    struct client_authz a = {0};
    bool ok = true;
    struct stanza *iq = f5("x");
    stanza_set_attr(iq, "type", "get");
    assert_null(client_authz_answer(&a, iq, &ok));
    assert_false(ok);
    stanza_unref(iq);
    struct stanza *m = stanza_new(NS_CLIENT, "message");
    stanza_add_child(m, NS_MUX, "mux");
    assert_null(client_authz_answer(&a, m, &ok));
    stanza_unref(m);
}

static void
test_client_MUX_90_secrets_limit(void **state)
{
    (void)state;
    struct client_authz a = {0};
    char s[CLIENT_SECRETS_MAX][CLIENT_SECRET_LEN + 1];
    for (size_t i = 0; i < CLIENT_SECRETS_MAX; i++)
        assert_int_equal(client_authz_new_secret(&a, s[i]), 0);
    char extra[CLIENT_SECRET_LEN + 1];
    assert_int_equal(client_authz_new_secret(&a, extra), XE_LIMIT);
    assert_string_not_equal(s[0], s[1]);
    /* Dropping one leaves the others usable. */
    client_authz_drop(&a, s[3]);
    assert_int_equal(a.n, CLIENT_SECRETS_MAX - 1);
    struct stanza *iq = f5(s[3]);
    bool ok = true;
    struct stanza *r = client_authz_answer(&a, iq, &ok);
    assert_false(ok);
    stanza_unref(r);
    stanza_unref(iq);
    iq = f5(s[CLIENT_SECRETS_MAX - 1]);
    r = client_authz_answer(&a, iq, &ok);
    assert_true(ok);
    stanza_unref(r);
    stanza_unref(iq);
    assert_int_equal(a.n, CLIENT_SECRETS_MAX - 2);
}

/* --- stream management ------------------------------------------------- */

static struct stanza *
sm_el(const char *name, const char *h)
{
    struct stanza *el = stanza_new(NS_SM, name);
    if (h != NULL)
        stanza_set_attr(el, "h", h);
    return el;
}

/* An <enabled/> granting resumption. */
static void
sm_enable(struct client_sm *sm)
{
    struct stanza *en = stanza_new(NS_SM, "enabled");
    stanza_set_attr(en, "id", "abc");
    stanza_set_attr(en, "resume", "true");
    stanza_set_attr(en, "max", "300");
    client_sm_on_enabled(sm, en);
    stanza_unref(en);
}

/* Keep n stanzas "s<i>". */
static void
sm_send(struct client_sm *sm, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char s[16];
        int len = snprintf(s, sizeof s, "s%zu", client_sm_unacked(sm));
        assert_true(client_sm_keep(sm, s, (size_t)len) >= 0);
    }
}

static int
sm_take(struct client_sm *sm, const char *name, const char *h)
{
    struct stanza *el = sm_el(name, h);
    int rc = strcmp(name, "a") == 0 ? client_sm_ack(sm, el)
                                    : client_sm_on_resumed(sm, el);
    stanza_unref(el);
    return rc;
}

static void
test_client_sm_enabled_and_counting(void **state)
{
    (void)state;
    struct client_sm sm;
    client_sm_init(&sm);
    struct stanza *m = stanza_new(NS_CLIENT, "message");
    struct stanza *other = stanza_new(NS_SM, "r");
    client_sm_received(&sm, m); /* before <enabled/>: not counted */
    assert_int_equal(sm.h_in, 0);
    sm_enable(&sm);
    assert_true(sm.enabled && sm.resume);
    assert_string_equal(sm.id, "abc");
    assert_int_equal(sm.max, 300);
    client_sm_received(&sm, m);
    client_sm_received(&sm, other); /* only stanzas count */
    assert_int_equal(sm.h_in, 1);
    /* h_in wraps at 2^32 (XEP-0198 §4). */
    sm.h_in = UINT32_MAX;
    client_sm_received(&sm, m);
    assert_int_equal(sm.h_in, 0);
    /* No resume='true', or an id too long: no resumption. */
    struct stanza *en = stanza_new(NS_SM, "enabled");
    stanza_set_attr(en, "id", "abc");
    client_sm_on_enabled(&sm, en);
    assert_true(sm.enabled);
    assert_false(sm.resume);
    assert_int_equal(sm.h_in, 0);
    char longid[CLIENT_SM_ID_MAX + 2];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    stanza_set_attr(en, "id", longid);
    stanza_set_attr(en, "resume", "1");
    client_sm_on_enabled(&sm, en);
    assert_false(sm.resume);
    stanza_unref(en);
    stanza_unref(m);
    stanza_unref(other);
    client_sm_fini(&sm);
}

static void
test_client_sm_acks_and_requests(void **state)
{
    (void)state;
    struct client_sm sm;
    client_sm_init(&sm);
    /* An <a/> before enabling is an error. */
    assert_int_equal(sm_take(&sm, "a", "0"), XE_PROTO);
    sm_enable(&sm);
    /* Nothing sent, nothing kept yet: h='0' is right (a fuzz find). */
    assert_int_equal(sm_take(&sm, "a", "0"), 0);
    assert_int_equal(sm_take(&sm, "a", "1"), XE_PROTO);
    int due = 0;
    for (size_t i = 0; i < CLIENT_SM_REQUEST_EVERY; i++)
        due = client_sm_keep(&sm, "x", 1);
    assert_int_equal(due, 1); /* an <r/> every CLIENT_SM_REQUEST_EVERY */
    assert_int_equal(client_sm_keep(&sm, "y", 1), 0);
    assert_int_equal(client_sm_unacked(&sm), CLIENT_SM_REQUEST_EVERY + 1);
    assert_int_equal(sm_take(&sm, "a", "3"), 3);
    assert_int_equal(sm.acked, 3);
    assert_int_equal(sm_take(&sm, "a", "3"), 0); /* the same again: fine */
    size_t left = CLIENT_SM_REQUEST_EVERY + 1 - 3;
    assert_int_equal(client_sm_unacked(&sm), left);
    /* More than was sent: an error, and nothing changes. */
    char h[16];
    snprintf(h, sizeof h, "%zu", 3 + left + 1);
    assert_int_equal(sm_take(&sm, "a", h), XE_PROTO);
    assert_int_equal(sm_take(&sm, "a", "2"), XE_PROTO); /* backwards */
    assert_int_equal(sm_take(&sm, "a", NULL), XE_PROTO);
    assert_int_equal(sm_take(&sm, "a", "-1"), XE_PROTO);
    assert_int_equal(client_sm_unacked(&sm), left);
    assert_int_equal(sm.acked, 3);
    /* Exactly all. */
    snprintf(h, sizeof h, "%zu", 3 + left);
    assert_int_equal(sm_take(&sm, "a", h), (int)left);
    assert_int_equal(client_sm_unacked(&sm), 0);
    client_sm_fini(&sm);
}

static void
test_client_sm_ack_wraps(void **state)
{
    (void)state;
    struct client_sm sm;
    client_sm_init(&sm);
    sm_enable(&sm);
    sm.acked = UINT32_MAX - 1;
    sm_send(&sm, 4); /* stanzas 2^32-1, 0, 1, 2 */
    assert_int_equal(sm_take(&sm, "a", "4294967295"), 1);
    assert_int_equal(sm_take(&sm, "a", "1"), 2);
    assert_int_equal(client_sm_unacked(&sm), 1);
    size_t len = 0;
    assert_string_equal(client_sm_item(&sm, 0, &len), "s3");
    assert_int_equal(len, 2);
    assert_null(client_sm_item(&sm, 1, &len));
    /* One past what was sent, across the wrap. */
    assert_int_equal(sm_take(&sm, "a", "3"), XE_PROTO);
    assert_int_equal(sm_take(&sm, "a", "2"), 1);
    assert_int_equal(sm.acked, 2);
    client_sm_fini(&sm);
}

static void
test_client_sm_limit(void **state)
{
    (void)state;
    struct client_sm sm;
    client_sm_init(&sm);
    sm_enable(&sm);
    for (size_t i = 0; i < CLIENT_SM_MAX_UNACKED; i++)
        assert_true(client_sm_keep(&sm, "x", 1) >= 0);
    assert_int_equal(client_sm_keep(&sm, "x", 1), XE_LIMIT);
    assert_int_equal(client_sm_unacked(&sm), CLIENT_SM_MAX_UNACKED);
    assert_int_equal(sm_take(&sm, "a", "1"), 1);
    assert_true(client_sm_keep(&sm, "x", 1) >= 0);
    client_sm_fini(&sm);
}

static void
test_client_sm_resumed(void **state)
{
    (void)state;
    struct client_sm sm;
    client_sm_init(&sm);
    sm_enable(&sm);
    sm_send(&sm, 5);
    assert_int_equal(sm_take(&sm, "a", "1"), 1);
    sm.enabled = false; /* as while waiting for <resumed/> */
    /* The server handled 3: s3 and s4 go out again, in order. */
    assert_int_equal(sm_take(&sm, "resumed", "6"), XE_PROTO);
    assert_int_equal(sm_take(&sm, "resumed", "0"), XE_PROTO);
    assert_false(sm.enabled);
    assert_int_equal(sm_take(&sm, "resumed", "3"), 2);
    assert_true(sm.enabled);
    size_t len = 0;
    assert_string_equal(client_sm_item(&sm, 0, &len), "s3");
    assert_string_equal(client_sm_item(&sm, 1, &len), "s4");
    assert_string_equal(sm.id, "abc");
    client_sm_fini(&sm);
    assert_int_equal(client_sm_unacked(&sm), 0);
    assert_false(sm.enabled);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_MUX_90_own_secret_result),
        cmocka_unit_test(test_client_MUX_90_foreign_secret_refused),
        cmocka_unit_test(test_client_MUX_90_not_f5),
        cmocka_unit_test(test_client_MUX_90_secrets_limit),
        cmocka_unit_test(test_client_sm_enabled_and_counting),
        cmocka_unit_test(test_client_sm_acks_and_requests),
        cmocka_unit_test(test_client_sm_ack_wraps),
        cmocka_unit_test(test_client_sm_limit),
        cmocka_unit_test(test_client_sm_resumed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
