/* SPDX-License-Identifier: MIT */
/* test_bucket.c -- the token bucket of the byte rate (docs/limits.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "io/bucket.h"

/* The burst is available at once; one byte past it waits for the rate. */
static void
test_bucket_burst_at_and_past(void **state)
{
    (void)state;
    struct bucket b;
    bucket_init(&b, 1000, 4000, 0);
    assert_int_equal(bucket_avail(&b, 0), 4000);
    assert_int_equal(bucket_take(&b, 3999, 0), 0);
    assert_int_equal(bucket_avail(&b, 0), 1);
    /* Exactly empty: zero credit is a pause until one unit comes. */
    assert_int_equal(bucket_take(&b, 1, 0), 1);
    assert_int_equal(bucket_avail(&b, 0), 0);
    /* 1000 B/s: one millisecond gives one byte back. */
    assert_int_equal(bucket_avail(&b, 1), 1);
}

/* A read larger than the credit leaves a debt; the pause covers it. */
static void
test_bucket_debt_and_refill(void **state)
{
    (void)state;
    struct bucket b;
    bucket_init(&b, 2048, 1024, 0);
    /* 3072 bytes with 1024 of credit: 2048 owed, one second at 2 KiB/s. */
    assert_int_equal(bucket_take(&b, 3072, 0), 1001);
    assert_int_equal(bucket_avail(&b, 500), 0);
    assert_int_equal(bucket_avail(&b, 1001), 2);
    /* A long quiet spell fills it to the burst, never beyond. */
    assert_int_equal(bucket_avail(&b, 1000000000), 1024);
    assert_int_equal(bucket_take(&b, 1024, 1000000000), 1);
}

/* Slow rates lose nothing to rounding over many small refills. */
static void
test_bucket_slow_rate_exact(void **state)
{
    (void)state;
    struct bucket b;
    bucket_init(&b, 3, 1024, 0);
    assert_int_equal(bucket_take(&b, 1024, 0), 1);
    for (uint64_t t = 1; t <= 1000; t++)
        (void)bucket_avail(&b, t);
    assert_int_equal(bucket_avail(&b, 1000), 3);
}

/* Rate 0 never limits; time going backwards is ignored. */
static void
test_bucket_unlimited_and_clock(void **state)
{
    (void)state;
    struct bucket b;
    bucket_init(&b, 0, 1024, 0);
    assert_int_equal(bucket_take(&b, (uint64_t)1 << 40, 0), 0);
    assert_int_equal(bucket_avail(&b, 0), UINT64_MAX);
    bucket_init(&b, 1000, 1024, 5000);
    assert_int_equal(bucket_take(&b, 1024, 4000), 1);
    assert_int_equal(bucket_avail(&b, 4000), 0);
    /* The largest burst and rate do not overflow. */
    bucket_init(&b, (uint64_t)1 << 30, (uint64_t)1 << 30, 0);
    assert_int_equal(bucket_take(&b, (uint64_t)1 << 30, 0), 1);
    assert_int_equal(bucket_avail(&b, UINT64_MAX / 2), (uint64_t)1 << 30);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_burst_at_and_past),
        cmocka_unit_test(test_bucket_debt_and_refill),
        cmocka_unit_test(test_bucket_slow_rate_exact),
        cmocka_unit_test(test_bucket_unlimited_and_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
