/* SPDX-License-Identifier: MIT */
/* test_client.c -- unit tests for the client's connection authorization. */
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_MUX_90_own_secret_result),
        cmocka_unit_test(test_client_MUX_90_foreign_secret_refused),
        cmocka_unit_test(test_client_MUX_90_not_f5),
        cmocka_unit_test(test_client_MUX_90_secrets_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
