/* SPDX-License-Identifier: MIT */
/* test_ipcount.c -- connections per address: grouping and exact counts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "io/ipcount.h"

/* The key of the IPv4 or IPv6 address ip. */
static struct ipkey
key(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (strchr(ip, ':') != NULL) {
        a6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &a6->sin6_addr), 1);
    } else {
        a4->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &a4->sin_addr), 1);
    }
    struct ipkey k;
    assert_true(ipkey_from_sockaddr((struct sockaddr *)&ss, &k));
    return k;
}

/* IPv6 counts per /64; IPv4-mapped addresses count as their IPv4 one. */
static void
test_ipkey_grouping(void **state)
{
    (void)state;
    struct ipkey a = key("2001:db8:1:2::1"), b = key("2001:db8:1:2:ffff::9");
    struct ipkey c = key("2001:db8:1:3::1");
    assert_memory_equal(a.b, b.b, sizeof(a.b));
    assert_memory_not_equal(a.b, c.b, sizeof(a.b));
    struct ipkey m = key("::ffff:192.0.2.7"), v4 = key("192.0.2.7");
    struct ipkey v4b = key("192.0.2.8");
    assert_memory_equal(m.b, v4.b, sizeof(m.b));
    assert_memory_not_equal(v4.b, v4b.b, sizeof(m.b));
    struct sockaddr sa = {.sa_family = AF_UNIX};
    struct ipkey k;
    assert_false(ipkey_from_sockaddr(&sa, &k));
}

static void
test_ipcount_add_del(void **state)
{
    (void)state;
    struct ipcount t;
    ipcount_init(&t, 10, 99);
    struct ipkey a = key("10.0.0.1"), b = key("10.0.0.2");
    assert_int_equal(ipcount_add(&t, &a), 1);
    assert_int_equal(ipcount_add(&t, &a), 2);
    assert_int_equal(ipcount_add(&t, &b), 1);
    assert_int_equal(t.n, 2);
    ipcount_del(&t, &a);
    assert_int_equal(ipcount_get(&t, &a), 1);
    ipcount_del(&t, &a);
    assert_int_equal(ipcount_get(&t, &a), 0);
    assert_int_equal(t.n, 1);
    ipcount_del(&t, &a); /* not counted: nothing happens */
    assert_int_equal(ipcount_get(&t, &b), 1);
    ipcount_fini(&t);
}

/* Many keys: every count exact, and the table empty once all go. */
static void
test_ipcount_many(void **state)
{
    (void)state;
    struct ipcount t;
    ipcount_init(&t, 100, 7);
    char ip[32];
    for (int round = 1; round <= 2; round++)
        for (int i = 0; i < 5000; i++) {
            (void)snprintf(ip, sizeof(ip), "10.%d.%d.1", i >> 8, i & 255);
            struct ipkey k = key(ip);
            assert_int_equal(ipcount_add(&t, &k), (size_t)round);
        }
    assert_int_equal(t.n, 5000);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 5000; i++) {
            (void)snprintf(ip, sizeof(ip), "10.%d.%d.1", i >> 8, i & 255);
            struct ipkey k = key(ip);
            ipcount_del(&t, &k);
        }
    assert_int_equal(t.n, 0);
    ipcount_fini(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipkey_grouping),
        cmocka_unit_test(test_ipcount_add_del),
        cmocka_unit_test(test_ipcount_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
