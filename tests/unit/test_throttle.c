/* SPDX-License-Identifier: MIT */
/* test_throttle.c -- failed-login counters: windows, eviction, delays. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "io/throttle.h"

static void
test_counts_within_window_and_forgets_after(void **state)
{
    (void)state;
    struct throttle t;
    throttle_init(&t, 64, 42, 1000);
    assert_int_equal(throttle_hit(&t, "127.0.0.1", 0), 1);
    assert_int_equal(throttle_hit(&t, "127.0.0.1", 10), 2);
    assert_int_equal(throttle_hit(&t, "127.0.0.2", 10), 1);
    assert_int_equal(throttle_hit(&t, "127.0.0.1", 1000), 3); /* at the edge */
    assert_int_equal(throttle_hit(&t, "127.0.0.1", 1001), 1); /* one past */
    throttle_fini(&t);
}

/* A flood of distinct keys never grows the table and never loses the
 * counter of a key that keeps failing for good. */
static void
test_bounded_under_many_keys(void **state)
{
    (void)state;
    struct throttle t;
    throttle_init(&t, 16, 7, 60000);
    char key[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof(key), "10.0.%d.%d", i >> 8, i & 255);
        assert_true(throttle_hit(&t, key, (uint64_t)i) >= 1);
    }
    assert_int_equal(t.cap, 16);
    throttle_fini(&t);
}

static void
test_delays(void **state)
{
    (void)state;
    assert_int_equal(throttle_delay_ms(0), 0);
    assert_int_equal(throttle_delay_ms(1), 0);
    assert_int_equal(throttle_delay_ms(2), 250);
    assert_int_equal(throttle_delay_ms(3), 500);
    assert_int_equal(throttle_delay_ms(7), 8000);
    assert_int_equal(throttle_delay_ms(1000), 8000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_within_window_and_forgets_after),
        cmocka_unit_test(test_bounded_under_many_keys),
        cmocka_unit_test(test_delays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
