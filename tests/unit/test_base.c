/* SPDX-License-Identifier: MIT */
/* test_base.c -- unit tests for buffers, the error table and the logger. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"

static void
test_buf_limit_exact_and_one_past(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 11); /* 10 bytes + NUL */
    assert_int_equal(buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(buf_len(&b), 10);
    assert_string_equal(buf_ptr(&b), "0123456789");
    assert_int_equal(buf_append(&b, "x", 1), XE_LIMIT);
    assert_int_equal(buf_len(&b), 10); /* unchanged */
    buf_consume(&b, 4);
    assert_int_equal(buf_len(&b), 6);
    assert_int_equal(buf_append(&b, "abcd", 4), 0); /* compacts */
    assert_string_equal(buf_ptr(&b), "456789abcd");
    assert_int_equal(buf_printf(&b, "%d", 7), XE_LIMIT);
    buf_consume(&b, 100);
    assert_int_equal(buf_len(&b), 0);
    assert_int_equal(buf_printf(&b, "n=%d s=%s", 42, "ok"), 0);
    assert_string_equal(buf_ptr(&b), "n=42 s=ok");
    buf_fini(&b);
    buf_fini(NULL);
}

static void
test_buf_growth_and_take(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(buf_appendz(&b, "0123456789"), 0);
    assert_int_equal(buf_len(&b), 10000);
    buf_consume(&b, 5);
    size_t n;
    char *s = buf_take(&b, &n);
    assert_int_equal(n, 9995);
    assert_int_equal(strlen(s), 9995);
    assert_memory_equal(s, "56789", 5);
    assert_int_equal(buf_len(&b), 0);
    x_free(s);
    s = buf_take(&b, &n);
    assert_string_equal(s, "");
    x_free(s);
    buf_fini(&b);
}

static void
test_err_names(void **state)
{
    (void)state;
    assert_string_equal(xerr_name(XE_LIMIT), "XE_LIMIT");
    assert_string_equal(xerr_str(XE_LIMIT), "configured limit exceeded");
    assert_string_equal(xerr_name(-ENOMEM), "ENOMEM");
    assert_string_equal(xerr_name(0), "OK");
    assert_string_equal(xerr_name(-99999), "XE_UNKNOWN");
}

struct captured {
    char line[4096];
    int calls;
};

static void
capture_sink(void *arg, enum log_level lvl, const char *line, size_t len)
{
    (void)lvl;
    struct captured *c = arg;
    memcpy(c->line, line, len);
    c->line[len] = '\0';
    c->calls++;
}

static int evaluated;

static int
side_effect(void)
{
    evaluated++;
    return 1;
}

static void
test_log_levels_and_format(void **state)
{
    (void)state;
    struct captured c = {0};
    struct logger lg = {LOG_INFO, capture_sink, &c};
    log_msg(&lg, LOG_INFO, 0x7f3a2, "kind=s2s-in event=tls-ready");
    assert_int_equal(c.calls, 1);
    assert_string_equal(c.line, "level=info conn=7f3a2 kind=s2s-in "
                                "event=tls-ready");
    /* A disabled level neither emits nor evaluates its arguments. */
    log_msg(&lg, LOG_DEBUG, 1, "x=%d", side_effect());
    assert_int_equal(c.calls, 1);
    assert_int_equal(evaluated, 0);
    log_msg_errno(&lg, LOG_WARN, 0, ECONNRESET, "event=read-failed");
    assert_string_equal(c.line, "level=warn event=read-failed "
                                "err=ECONNRESET msg=\"Connection reset by "
                                "peer\"");
    assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
    assert_int_equal(log_level_parse("loud"), -1);
}

static void
test_log_escape(void **state)
{
    (void)state;
    char out[32];
    assert_string_equal(log_escape(out, sizeof(out), "example.org", 11),
                        "example.org");
    assert_string_equal(log_escape(out, sizeof(out), "a b\n\"", 5),
                        "\"a b\\x0a\\x22\"");
    char big[100];
    memset(big, 'a', sizeof(big));
    log_escape(out, sizeof(out), big, sizeof(big));
    assert_true(strlen(out) < sizeof(out));
    assert_non_null(strstr(out, "..."));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_limit_exact_and_one_past),
        cmocka_unit_test(test_buf_growth_and_take),
        cmocka_unit_test(test_err_names),
        cmocka_unit_test(test_log_levels_and_format),
        cmocka_unit_test(test_log_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
