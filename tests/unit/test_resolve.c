/* SPDX-License-Identifier: MIT */
/* test_resolve.c -- s2s resolution against a dnsmasq of our own on loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "io/resolve.h"

#ifndef DNSMASQ
#define DNSMASQ "/usr/sbin/dnsmasq"
#endif
#define WATCHDOG_MS 15000

extern char **environ;

/* The test DNS: every name is under .example, answered by dnsmasq from
 * these records only (--local=/example/, no upstream, no /etc/hosts). */
static const char *const dns_records[] = {
    /* Priority order: b (10), c (20), a (30). */
    "--srv-host=_xmpp-server._tcp.order.example,a.order.example,5269,30,0",
    "--srv-host=_xmpp-server._tcp.order.example,b.order.example,5270,10,0",
    "--srv-host=_xmpp-server._tcp.order.example,c.order.example,5271,20,0",
    "--host-record=a.order.example,127.0.0.11",
    "--host-record=b.order.example,127.0.0.12",
    "--host-record=c.order.example,127.0.0.13",
    /* XEP-0368: Direct TLS at 10 between STARTTLS at 5 and 20. */
    "--srv-host=_xmpps-server._tcp.merge.example,tls.merge.example,5223,10,0",
    "--srv-host=_xmpp-server._tcp.merge.example,plain.merge.example,5269,5,0",
    "--srv-host=_xmpp-server._tcp.merge.example,plain.merge.example,5270,20,0",
    "--host-record=tls.merge.example,127.0.0.21",
    "--host-record=plain.merge.example,127.0.0.22,::1",
    "--host-record=plain.merge.example,127.0.0.23",
    /* "." target: not available, even though the domain has an A. */
    "--srv-host=_xmpp-server._tcp.dot.example",
    "--host-record=dot.example,127.0.0.31",
    /* "." for Direct TLS only: STARTTLS records still count. */
    "--srv-host=_xmpps-server._tcp.tlsdot.example",
    "--srv-host=_xmpp-server._tcp.tlsdot.example,x.tlsdot.example,5269,0,0",
    "--host-record=x.tlsdot.example,127.0.0.32",
    /* No SRV at all: A/AAAA of the domain on 5269. */
    "--host-record=fallback.example,127.0.0.41",
    /* A target without addresses. */
    "--srv-host=_xmpp-server._tcp.noaddr.example,ghost.noaddr.example,5269",
    /* Static route host. */
    "--host-record=relay.example,127.0.0.51",
    /* MUX-80: a subdomain has SRV records of its own. */
    "--srv-host=_xmpp-server._tcp.capulet.example,capulet.example,5269",
    ("--srv-host=_xmpp-server._tcp.rooms.capulet.example,"
     "rooms.capulet.example,5299"),
    "--host-record=capulet.example,127.0.0.61",
    "--host-record=rooms.capulet.example,127.0.0.61",
};

struct dns {
    pid_t pid;
    char dir[64];
    char servers[64];
    bool ready;
};

struct result {
    int calls;
    int status;
    size_t n;
    struct resolve_target v[RESOLVE_MAX_TARGETS];
};

struct fixture {
    uv_loop_t loop;
    uv_timer_t watchdog;
    bool expired;
    bool in_call; /* inside resolve_s2s */
    struct resolver *r;
    struct logger log;
    struct buf lines; /* everything logged, one line each */
};

/* --- helpers ------------------------------------------------------------- */

/* A UDP port on 127.0.0.1 that is free now (TCP too, for dnsmasq). */
static int
free_port(void)
{
    for (int attempt = 0; attempt < 20; attempt++) {
        int u = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(sa);
        if (u < 0 || bind(u, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
            getsockname(u, (struct sockaddr *)&sa, &len) != 0)
            return -1;
        int t = socket(AF_INET, SOCK_STREAM, 0);
        int ok = t >= 0 && bind(t, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        int port = ntohs(sa.sin_port);
        close(t);
        close(u);
        if (ok)
            return port;
    }
    return -1;
}

/* A UDP socket on 127.0.0.1 that never answers: queries sent to it time
 * out. Returns the fd and writes "127.0.0.1:port" to servers. */
static int
blackhole(char *servers, size_t len)
{
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    assert_true(u >= 0);
    assert_int_equal(bind(u, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(u, (struct sockaddr *)&sa, &sl), 0);
    snprintf(servers, len, "127.0.0.1:%d", ntohs(sa.sin_port));
    return u;
}

/* big.example: more SRV records than one UDP answer holds (c-ares goes
 * over to TCP) and than RESOLVE_MAX_SRV_SET, listed worst first; hI has
 * priority I and three addresses, so the list is cut at
 * RESOLVE_MAX_TARGETS. */
#define BIG_RECORDS 20

static int
dns_write_conf(const char *path)
{
    FILE *fp = fopen(path, "w");
    if (fp == NULL)
        return -1;
    for (size_t i = 0; i < sizeof(dns_records) / sizeof(dns_records[0]); i++)
        fprintf(fp, "%s\n", dns_records[i] + 2); /* without "--" */
    for (int i = BIG_RECORDS - 1; i >= 0; i--) {
        fprintf(fp,
                "srv-host=_xmpp-server._tcp.big.example,h%d.big.example,"
                "%d,%d,0\n",
                i, 6000 + i, i);
        for (int j = 1; j <= 3; j++)
            fprintf(fp, "host-record=h%d.big.example,127.0.%d.%d\n", i, j,
                    i + 1);
    }
    return fclose(fp) == 0 ? 0 : -1;
}

/* Start dnsmasq on a free port of 127.0.0.1, answering from our records
 * only, and wait until it serves. */
static int
dns_start(struct dns *d)
{
    int port = free_port();
    snprintf(d->dir, sizeof(d->dir), "/tmp/xmux-resolve-XXXXXX");
    if (port < 0 || mkdtemp(d->dir) == NULL)
        return -1;
    snprintf(d->servers, sizeof(d->servers), "127.0.0.1:%d", port);
    char a_port[32], a_pid[128], a_log[128], a_conf[128];
    snprintf(a_port, sizeof(a_port), "--port=%d", port);
    snprintf(a_pid, sizeof(a_pid), "--pid-file=%s/pid", d->dir);
    snprintf(a_log, sizeof(a_log), "--log-facility=%s/log", d->dir);
    snprintf(a_conf, sizeof(a_conf), "%s/dnsmasq.conf", d->dir);
    if (dns_write_conf(a_conf) != 0)
        return -1;
    snprintf(a_conf, sizeof(a_conf), "--conf-file=%s/dnsmasq.conf", d->dir);
    /* Root (as in CI) keeps its identity, so that dnsmasq can still
     * write into our directory. */
    char *argv[] = {DNSMASQ,
                    "--listen-address=127.0.0.1",
                    "--bind-interfaces",
                    "--no-resolv",
                    "--no-hosts",
                    "--local=/example/",
                    "--keep-in-foreground",
                    "--log-queries",
                    a_port,
                    a_pid,
                    a_log,
                    a_conf,
                    geteuid() == 0 ? "--user=root" : NULL,
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&d->pid, DNSMASQ, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    /* dnsmasq writes its pid file once its sockets are bound. */
    char pidfile[96];
    snprintf(pidfile, sizeof(pidfile), "%s/pid", d->dir);
    for (int i = 0; i < 250; i++) {
        struct stat st;
        if (stat(pidfile, &st) == 0 && st.st_size > 0)
            return 0;
        if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
            d->pid = 0;
            return -1;
        }
        struct timespec ts = {0, 20000000L}; /* 20 ms */
        nanosleep(&ts, NULL);
    }
    return -1;
}

static void
dns_stop(struct dns *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        waitpid(d->pid, NULL, 0);
        d->pid = 0;
    }
    char path[96];
    snprintf(path, sizeof(path), "%s/pid", d->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/log", d->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/dnsmasq.conf", d->dir);
    unlink(path);
    rmdir(d->dir);
}

static struct dns the_dns;

static int
group_setup(void **state)
{
    (void)state;
    if (access(DNSMASQ, X_OK) != 0) {
        fprintf(stderr,
                "test_resolve: %s not found (Debian package "
                "dnsmasq-base): DNS tests are skipped\n",
                DNSMASQ);
        return 0;
    }
    if (dns_start(&the_dns) != 0) {
        fprintf(stderr, "test_resolve: could not start %s\n", DNSMASQ);
        dns_stop(&the_dns);
        return -1;
    }
    the_dns.ready = true;
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    if (the_dns.ready)
        dns_stop(&the_dns);
    return 0;
}

static void
sink(void *arg, enum log_level lvl, const char *line, size_t len)
{
    (void)lvl;
    struct buf *b = arg;
    buf_append(b, line, len);
    buf_append(b, "\n", 1);
}

static void
on_watchdog(uv_timer_t *t)
{
    struct fixture *f = t->data;
    f->expired = true;
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    buf_init(&f->lines, 1 << 20);
    f->log.level = LOG_DEBUG;
    f->log.sink = sink;
    f->log.sink_arg = &f->lines;
    uv_timer_init(&f->loop, &f->watchdog);
    f->watchdog.data = f;
    *state = f;
    return 0;
}

static void
on_freed(void *arg)
{
    (*(int *)arg)++;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    int freed = 0;
    if (f->r != NULL)
        resolver_free(f->r, on_freed, &freed);
    uv_close((uv_handle_t *)&f->watchdog, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(freed, f->r != NULL ? 1 : 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    if (getenv("XMUX_TEST_LOG") != NULL) /* the resolver's lines, to debug */
        fprintf(stderr, "%s", buf_ptr(&f->lines));
    buf_fini(&f->lines);
    free(f);
    return 0;
}

/* A resolver on servers with short timeouts (tests never wait long). */
static void
make_resolver(struct fixture *f,
              const char *servers,
              uint32_t timeout_ms,
              uint32_t tries)
{
    struct resolver_opts o = {.servers = servers,
                              .timeout_ms = timeout_ms,
                              .tries = tries,
                              .seed = 42};
    struct buf err;
    buf_init(&err, 256);
    int rc = resolver_new(&f->loop, &o, &f->log, &f->r, &err);
    if (rc != 0)
        fail_msg("resolver_new: %s", buf_ptr(&err));
    buf_fini(&err);
}

static struct fixture *the_fixture; /* for on_result's in_call check */

static void
on_result(void *arg, int status, const struct resolve_target *v, size_t n)
{
    struct result *res = arg;
    assert_false(the_fixture->in_call);
    res->calls++;
    uv_stop(&the_fixture->loop); /* lookup() stops waiting at once */
    res->status = status;
    res->n = n;
    if (n > 0)
        memcpy(res->v, v, n * sizeof(*v));
}

static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Resolve domain and run the loop until the callback ran. */
static uint64_t
lookup(struct fixture *f,
       const char *domain,
       const struct cfg_route *route,
       struct result *res)
{
    memset(res, 0, sizeof(*res));
    the_fixture = f;
    uint64_t t0 = now_ms();
    f->in_call = true;
    int rc = resolve_s2s(f->r, domain, route, on_result, res, NULL);
    f->in_call = false;
    assert_int_equal(rc, 0);
    assert_int_equal(res->calls, 0); /* never inside the call */
    f->expired = false;
    uv_timer_start(&f->watchdog, on_watchdog, WATCHDOG_MS, 0);
    while (res->calls == 0 && !f->expired)
        uv_run(&f->loop, UV_RUN_ONCE);
    uv_timer_stop(&f->watchdog);
    assert_false(f->expired);
    assert_int_equal(res->calls, 1);
    return now_ms() - t0;
}

static void
need_dns(void **state)
{
    struct fixture *f = *state;
    if (!the_dns.ready)
        skip();
    make_resolver(f, the_dns.servers, 1000, 2);
}

static void
expect_target(const struct result *res,
              size_t i,
              const char *host,
              const char *addr,
              uint16_t port,
              bool tls)
{
    assert_true(i < res->n);
    assert_string_equal(res->v[i].host, host);
    assert_string_equal(res->v[i].addr, addr);
    assert_int_equal(res->v[i].port, port);
    assert_int_equal(res->v[i].direct_tls, tls);
}

/* --- pure: ordering and names -------------------------------------------- */

static void
srv_set(struct resolve_srv *s, const char *host, uint16_t prio, uint16_t weight)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->host, sizeof(s->host), "%s", host);
    s->priority = prio;
    s->weight = weight;
    s->port = 5269;
}

static void
test_resolve_order_by_priority(void **state)
{
    (void)state;
    struct resolve_srv v[5];
    srv_set(&v[0], "p30", 30, 5);
    srv_set(&v[1], "p10", 10, 0);
    srv_set(&v[2], "p65535", 65535, 1);
    srv_set(&v[3], "p0", 0, 100);
    srv_set(&v[4], "p20", 20, 65535);
    for (uint64_t seed = 1; seed < 50; seed++) {
        struct resolve_srv w[5];
        memcpy(w, v, sizeof(v));
        uint64_t rng = seed;
        resolve_srv_order(w, 5, &rng);
        assert_string_equal(w[0].host, "p0");
        assert_string_equal(w[1].host, "p10");
        assert_string_equal(w[2].host, "p20");
        assert_string_equal(w[3].host, "p30");
        assert_string_equal(w[4].host, "p65535");
    }
    uint64_t rng = 1;
    resolve_srv_order(v, 0, &rng); /* nothing to do */
    resolve_srv_order(v, 1, &rng);
    assert_string_equal(v[0].host, "p30");
}

/* RFC 2782 weights: over many draws, who comes first follows the weights
 * (60:40), and a weight-0 record is first only on a draw of 0 (1 in 101).
 * The generator is seeded, so the counts are the same on every run; the
 * bounds are loose so that they say what the algorithm promises. */
static void
test_resolve_order_weights(void **state)
{
    (void)state;
    enum { DRAWS = 20000 };
    int first[3] = {0, 0, 0}, second_a = 0;
    uint64_t rng = 12345;
    for (int i = 0; i < DRAWS; i++) {
        struct resolve_srv v[4];
        srv_set(&v[0], "zero", 10, 0);
        srv_set(&v[1], "a", 10, 60);
        srv_set(&v[2], "b", 10, 40);
        srv_set(&v[3], "later", 11, 1000);
        resolve_srv_order(v, 4, &rng);
        assert_string_equal(v[3].host, "later"); /* priority first */
        first[v[0].host[0] == 'z' ? 0 : v[0].host[0] == 'a' ? 1 : 2]++;
        if (v[0].host[0] == 'b' && v[1].host[0] == 'a')
            second_a++;
    }
    assert_in_range(first[0], DRAWS / 101 / 3, DRAWS / 101 * 3);
    assert_in_range(first[1], DRAWS * 55 / 100, DRAWS * 65 / 100);
    assert_in_range(first[2], DRAWS * 35 / 100, DRAWS * 45 / 100);
    /* After b is drawn, a (60) beats zero (0) almost always. */
    assert_in_range(second_a, first[2] * 95 / 100, first[2]);
}

/* All weights 0: every record gets its turn at the front. */
static void
test_resolve_order_zero_weights(void **state)
{
    (void)state;
    int first[4] = {0};
    uint64_t rng = 7;
    for (int i = 0; i < 4000; i++) {
        struct resolve_srv v[4];
        for (int j = 0; j < 4; j++) {
            char name[8];
            snprintf(name, sizeof(name), "%d", j);
            srv_set(&v[j], name, 5, 0);
        }
        resolve_srv_order(v, 4, &rng);
        first[v[0].host[0] - '0']++;
    }
    for (int j = 0; j < 4; j++)
        assert_in_range(first[j], 800, 1200);
}

/* The same seed gives the same order; another seed may not. */
static void
test_resolve_order_deterministic(void **state)
{
    (void)state;
    struct resolve_srv a[8], b[8];
    for (int j = 0; j < 8; j++) {
        char name[8];
        snprintf(name, sizeof(name), "h%d", j);
        srv_set(&a[j], name, (uint16_t)(j % 2), (uint16_t)(10 * j));
    }
    memcpy(b, a, sizeof(a));
    uint64_t r1 = 99, r2 = 99;
    resolve_srv_order(a, 8, &r1);
    resolve_srv_order(b, 8, &r2);
    for (int j = 0; j < 8; j++)
        assert_string_equal(a[j].host, b[j].host);
    assert_true(r1 == r2);
}

static void
test_resolve_names_and_literals(void **state)
{
    (void)state;
    char addr[RESOLVE_ADDR_MAX];
    assert_int_equal(resolve_ip_literal("127.0.0.1", addr), AF_INET);
    assert_string_equal(addr, "127.0.0.1");
    assert_int_equal(resolve_ip_literal("[::1]", addr), AF_INET6);
    assert_string_equal(addr, "::1");
    assert_int_equal(resolve_ip_literal("2001:db8::5", addr), AF_INET6);
    assert_int_equal(resolve_ip_literal("[127.0.0.1]", addr), 0);
    assert_int_equal(resolve_ip_literal("[::1", addr), 0);
    assert_int_equal(resolve_ip_literal("[]", addr), 0);
    assert_int_equal(resolve_ip_literal("montague.example", addr), 0);
    assert_int_equal(resolve_ip_literal("", addr), 0);

    assert_true(resolve_name_ok("montague.example"));
    assert_true(resolve_name_ok("montague.example."));
    assert_true(resolve_name_ok("localhost"));
    assert_true(resolve_name_ok("_xmpp-server._tcp.x.example"));
    assert_false(resolve_name_ok(""));
    assert_false(resolve_name_ok("."));
    assert_false(resolve_name_ok("a..b"));
    assert_false(resolve_name_ok(".a"));
    assert_false(resolve_name_ok("a b.example"));
    assert_false(resolve_name_ok("a/b.example"));
    char label[80];
    memset(label, 'x', 63);
    snprintf(label + 63, sizeof(label) - 63, ".example");
    assert_true(resolve_name_ok(label)); /* 63 octets: at the limit */
    memset(label, 'x', 64);
    snprintf(label + 64, sizeof(label) - 64, ".example");
    assert_false(resolve_name_ok(label)); /* one past */
    char name[260];
    for (int i = 0; i < 253; i++)
        name[i] = i % 2 ? '.' : 'a';
    name[253] = '\0';
    assert_true(resolve_name_ok(name)); /* 253 octets */
    name[252] = 'a';
    name[253] = 'a';
    name[254] = '\0';
    assert_false(resolve_name_ok(name));
}

/* --- resolver setup ------------------------------------------------------ */

static void
test_resolve_bad_servers(void **state)
{
    struct fixture *f = *state;
    const char *bad[] = {"",           "not-an-ip",      "127.0.0.1:x",
                         "[::1",       "127.0.0.1:0",    "127.0.0.1:65536",
                         "127.0.0.1,", "[127.0.0.1]:53", "localhost:53",
                         "[::1]"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct resolver_opts o = {.servers = bad[i]};
        struct resolver *r = NULL;
        struct buf err;
        buf_init(&err, 256);
        assert_int_equal(resolver_new(&f->loop, &o, &f->log, &r, &err),
                         XE_CONFIG);
        assert_null(r);
        assert_non_null(strstr(buf_ptr(&err), "bad server list"));
        buf_fini(&err);
    }
    const char *good[] = {"127.0.0.53", "127.0.0.1:5353", "[::1]:53", "::1",
                          "127.0.0.1:65535,[::1]:53"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct resolver_opts o = {.servers = good[i]};
        struct resolver *r = NULL;
        struct buf err;
        buf_init(&err, 256);
        assert_int_equal(resolver_new(&f->loop, &o, &f->log, &r, &err), 0);
        int freed = 0;
        resolver_free(r, on_freed, &freed);
        uv_run(&f->loop, UV_RUN_DEFAULT);
        assert_int_equal(freed, 1);
        buf_fini(&err);
    }
}

static void
test_resolve_invalid_domain(void **state)
{
    struct fixture *f = *state;
    make_resolver(f, "127.0.0.1:9", 100, 1);
    struct result res = {0};
    struct resolve_req *req = (struct resolve_req *)&res;
    assert_int_equal(resolve_s2s(f->r, "a..b", NULL, on_result, &res, &req),
                     XE_INVAL);
    assert_null(req);
    struct cfg_route route = {.domain = "x.example", .host = "bad host"};
    assert_int_equal(
        resolve_s2s(f->r, "x.example", &route, on_result, &res, NULL),
        XE_INVAL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(res.calls, 0);
}

/* --- static routes -------------------------------------------------------- */

/* An IP literal route needs no DNS: the resolver points at a port where
 * nothing answers, and the answer still comes (from the loop). */
static void
test_resolve_route_ip_literal(void **state)
{
    struct fixture *f = *state;
    char servers[64];
    int hole = blackhole(servers, sizeof(servers));
    make_resolver(f, servers, 100, 1);
    struct cfg_route route = {
        .domain = "capulet.example", .host = "127.0.0.9", .port = 5999};
    struct result res;
    uint64_t ms = lookup(f, "capulet.example", &route, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.n, 1);
    expect_target(&res, 0, "127.0.0.9", "127.0.0.9", 5999, false);
    assert_int_equal(res.v[0].family, AF_INET);
    assert_true(ms < 100);

    struct cfg_route r6 = {
        .domain = "capulet.example", .host = "[::1]", .port = 5269};
    lookup(f, "capulet.example", &r6, &res);
    assert_int_equal(res.status, 0);
    expect_target(&res, 0, "[::1]", "::1", 5269, false);
    assert_int_equal(res.v[0].family, AF_INET6);
    assert_non_null(strstr(buf_ptr(&f->lines),
                           "event=resolve domain=capulet.example "
                           "source=route targets=1 status=ok"));
    close(hole);
}

/* A domain that is an IP literal goes to that address on 5269. */
static void
test_resolve_domain_ip_literal(void **state)
{
    struct fixture *f = *state;
    make_resolver(f, "127.0.0.1:9", 100, 1);
    struct result res;
    lookup(f, "127.0.0.7", NULL, &res);
    assert_int_equal(res.status, 0);
    expect_target(&res, 0, "127.0.0.7", "127.0.0.7", 5269, false);
}

static void
test_resolve_route_name(void **state)
{
    need_dns(state);
    struct fixture *f = *state;
    /* The route wins even though the domain has SRV records. */
    struct cfg_route route = {
        .domain = "order.example", .host = "relay.example", .port = 5999};
    struct result res;
    lookup(f, "order.example", &route, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.n, 1);
    expect_target(&res, 0, "relay.example", "127.0.0.51", 5999, false);

    struct cfg_route gone = {
        .domain = "order.example", .host = "nowhere.example", .port = 5999};
    lookup(f, "order.example", &gone, &res);
    assert_int_equal(res.status, XE_NOTFOUND);
    assert_int_equal(res.n, 0);
}

/* --- SRV ----------------------------------------------------------------- */

static void
test_resolve_srv_priority(void **state)
{
    need_dns(state);
    struct fixture *f = *state;
    struct result res;
    lookup(f, "order.example", NULL, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.n, 3);
    expect_target(&res, 0, "b.order.example", "127.0.0.12", 5270, false);
    expect_target(&res, 1, "c.order.example", "127.0.0.13", 5271, false);
    expect_target(&res, 2, "a.order.example", "127.0.0.11", 5269, false);
    assert_non_null(strstr(buf_ptr(&f->lines),
                           "event=resolve domain=order.example source=srv "
                           "targets=3 status=ok"));
}

/* XEP-0368: both services merged by priority, Direct TLS flagged; each
 * target expanded into its addresses, IPv6 first, families alternating. */
static void
test_resolve_srv_xmpps_merge(void **state)
{
    need_dns(state);
    struct fixture *f = *state;
    struct result res;
    lookup(f, "merge.example", NULL, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.n, 7);
    /* plain.merge.example:5269 (priority 5): ::1, then the two IPv4. */
    expect_target(&res, 0, "plain.merge.example", "::1", 5269, false);
    assert_int_equal(res.v[0].family, AF_INET6);
    assert_int_equal(res.v[1].family, AF_INET);
    assert_int_equal(res.v[2].family, AF_INET);
    assert_int_equal(res.v[1].port, 5269);
    assert_int_equal(res.v[2].port, 5269);
    assert_true(strcmp(res.v[1].addr, "127.0.0.22") == 0 ||
                strcmp(res.v[1].addr, "127.0.0.23") == 0);
    assert_true(strcmp(res.v[1].addr, res.v[2].addr) != 0);
    /* tls.merge.example:5223 (priority 10), Direct TLS. */
    expect_target(&res, 3, "tls.merge.example", "127.0.0.21", 5223, true);
    /* plain.merge.example:5270 (priority 20). */
    expect_target(&res, 4, "plain.merge.example", "::1", 5270, false);
    assert_int_equal(res.v[5].port, 5270);
    assert_int_equal(res.v[6].port, 5270);
}

/* A lone "." target: the service is decidedly not available; no A/AAAA
 * fallback although dot.example has an address. */
static void
test_resolve_srv_dot_not_available(void **state)
{
    need_dns(state);
    struct fixture *f = *state;
    struct result res;
    lookup(f, "dot.example", NULL, &res);
    assert_int_equal(res.status, XE_NOTFOUND);
    assert_int_equal(res.n, 0);
    assert_non_null(strstr(buf_ptr(&f->lines),
                           "event=resolve domain=dot.example source=srv "
                           "targets=0 status=XE_NOTFOUND"));
}

/* "." for _xmpps-server only rules out Direct TLS. */
static void
test_resolve_srv_xmpps_dot_only(void **state)
{
    need_dns(state);
    struct fixture *f = *state;
    struct result res;
    lookup(f, "tlsdot.example", NULL, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.n, 1);
    expect_target(&res, 0, "x.tlsdot.example", "127.0.0.32", 5269, false);
}

static void
test_resolve_no_srv_fallback(void **state)
{
    need_dns(state);
    struct fixture *f = *state;
    struct result res;
    lookup(f, "fallback.example", NULL, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.n, 1);
    expect_target(&res, 0, "fallback.example", "127.0.0.41", 5269, false);
    assert_non_null(strstr(buf_ptr(&f->lines), "source=fallback"));
}

static void
test_resolve_nxdomain(void **state)
{
    need_dns(state);
    struct fixture *f = *state;
    struct result res;
    lookup(f, "nothing.example", NULL, &res);
    assert_int_equal(res.status, XE_NOTFOUND);
    assert_int_equal(res.n, 0);
    /* A target name without addresses is not found either. */
    lookup(f, "noaddr.example", NULL, &res);
    assert_int_equal(res.status, XE_NOTFOUND);
}

/* MUX-80: a subdomain is resolved through its own SRV records. */
static void
test_resolve_MUX_80_own_srv_per_host(void **state)
{
    need_dns(state);
    struct fixture *f = *state;
    struct result res;
    lookup(f, "capulet.example", NULL, &res);
    assert_int_equal(res.status, 0);
    expect_target(&res, 0, "capulet.example", "127.0.0.61", 5269, false);
    lookup(f, "rooms.capulet.example", NULL, &res);
    assert_int_equal(res.status, 0);
    expect_target(&res, 0, "rooms.capulet.example", "127.0.0.61", 5299, false);
}

/* Limits: 20 SRV records (the answer needs TCP), the 16 preferred kept,
 * three addresses each, the list cut at RESOLVE_MAX_TARGETS in order. */
static void
test_resolve_srv_limits(void **state)
{
    need_dns(state);
    struct fixture *f = *state;
    struct result res;
    lookup(f, "big.example", NULL, &res);
    assert_int_equal(res.status, 0);
    assert_int_equal(res.n, RESOLVE_MAX_TARGETS);
    for (size_t i = 0; i < res.n; i++) {
        char host[64], tail[32];
        size_t h = i / 3;
        snprintf(host, sizeof(host), "h%zu.big.example", h);
        snprintf(tail, sizeof(tail), ".%zu", h + 1);
        assert_string_equal(res.v[i].host, host);
        assert_int_equal(res.v[i].port, 6000 + h);
        /* One of the host's three addresses 127.0.{1,2,3}.h+1, and each
         * once: the answer's order within a family is kept. */
        assert_int_equal(strncmp(res.v[i].addr, "127.0.", 6), 0);
        assert_true(res.v[i].addr[6] >= '1' && res.v[i].addr[6] <= '3');
        assert_string_equal(res.v[i].addr + 7, tail);
        if (i % 3 != 0)
            assert_string_not_equal(res.v[i].addr, res.v[i - 1].addr);
    }
    assert_non_null(strstr(buf_ptr(&f->lines),
                           "event=resolve-srv-skip domain=big.example "
                           "tls=starttls records=20 kept=16"));
    assert_non_null(strstr(buf_ptr(&f->lines),
                           "event=resolve-limit domain=big.example "
                           "dropped=16 max=32"));
}

/* --- failures ------------------------------------------------------------ */

/* Nothing listens on the resolver's port: a DNS failure, not "not found",
 * within the configured bound (SRV then fallback, 2 tries each). */
static void
test_resolve_unreachable_resolver(void **state)
{
    struct fixture *f = *state;
    char servers[64];
    int port = free_port();
    assert_true(port > 0);
    snprintf(servers, sizeof(servers), "127.0.0.1:%d", port);
    make_resolver(f, servers, 200, 2);
    struct result res;
    uint64_t ms = lookup(f, "montague.example", NULL, &res);
    assert_int_equal(res.n, 0);
    assert_true(res.status < 0);
    assert_int_not_equal(res.status, XE_NOTFOUND);
    assert_true(ms < 2 * (200 + 400) + 500);
}

/* A resolver that never answers: -ETIMEDOUT after the timeouts. */
static void
test_resolve_timeout(void **state)
{
    struct fixture *f = *state;
    char servers[64];
    int hole = blackhole(servers, sizeof(servers));
    make_resolver(f, servers, 100, 2);
    struct result res;
    uint64_t ms = lookup(f, "montague.example", NULL, &res);
    assert_int_equal(res.status, -ETIMEDOUT);
    assert_int_equal(res.n, 0);
    /* SRV phase (100 + 200 ms) then the fallback's (the same). */
    assert_true(ms >= 2 * 300 - 50);
    assert_true(ms < 2 * 300 + 700);
    assert_non_null(strstr(buf_ptr(&f->lines), "status=ETIMEDOUT"));
    close(hole);
}

/* --- cancel and free ----------------------------------------------------- */

static void
test_resolve_cancel(void **state)
{
    struct fixture *f = *state;
    char servers[64];
    int hole = blackhole(servers, sizeof(servers));
    make_resolver(f, servers, 100, 1);
    struct result res = {0};
    struct resolve_req *req = NULL;
    the_fixture = f;
    /* Pending in DNS. */
    assert_int_equal(
        resolve_s2s(f->r, "montague.example", NULL, on_result, &res, &req), 0);
    assert_non_null(req);
    resolve_cancel(req);
    /* Finished but not yet delivered. */
    struct cfg_route route = {.host = "127.0.0.9", .port = 5269};
    assert_int_equal(
        resolve_s2s(f->r, "capulet.example", &route, on_result, &res, &req), 0);
    resolve_cancel(req);
    resolve_cancel(NULL);
    /* The loop ends once the cancelled queries have timed out. */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(res.calls, 0);
    close(hole);
}

static void
test_resolve_cancel_with_dns(void **state)
{
    need_dns(state);
    struct fixture *f = *state;
    struct result res = {0}, other;
    struct resolve_req *req = NULL;
    the_fixture = f;
    assert_int_equal(
        resolve_s2s(f->r, "order.example", NULL, on_result, &res, &req), 0);
    resolve_cancel(req);
    /* Another lookup on the same resolver is unaffected. */
    lookup(f, "merge.example", NULL, &other);
    assert_int_equal(other.status, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(res.calls, 0);
}

/* resolver_free with lookups in every state: none of their callbacks
 * runs, every handle is closed, done runs once (ASan checks leaks). */
static void
test_resolve_free_pending(void **state)
{
    struct fixture *f = *state;
    char servers[64];
    int hole = blackhole(servers, sizeof(servers));
    make_resolver(f, servers, 1000, 2);
    struct result res = {0};
    the_fixture = f;
    const char *domains[] = {"a.example", "b.example", "c.example"};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(
            resolve_s2s(f->r, domains[i], NULL, on_result, &res, NULL), 0);
    struct cfg_route route = {.host = "relay.example", .port = 5269};
    assert_int_equal(
        resolve_s2s(f->r, "x.example", &route, on_result, &res, NULL), 0);
    uv_run(&f->loop, UV_RUN_NOWAIT); /* the queries are on the wire */
    /* And one finished, its callback not yet run. */
    struct cfg_route lit = {.host = "127.0.0.9", .port = 5269};
    assert_int_equal(
        resolve_s2s(f->r, "y.example", &lit, on_result, &res, NULL), 0);
    int freed = 0;
    uint64_t t0 = now_ms();
    resolver_free(f->r, on_freed, &freed);
    f->r = NULL;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(freed, 1);
    assert_int_equal(res.calls, 0);
    assert_true(now_ms() - t0 < 500); /* no waiting for timeouts */
    close(hole);
}

/* A callback may free the resolver; later finished lookups are dropped. */
struct free_in_cb {
    struct fixture *f;
    int calls;
    int freed;
};

static void
on_result_free(void *arg, int status, const struct resolve_target *v, size_t n)
{
    (void)status;
    (void)v;
    (void)n;
    struct free_in_cb *x = arg;
    x->calls++;
    resolver_free(x->f->r, on_freed, &x->freed);
    x->f->r = NULL;
}

static void
test_resolve_free_in_callback(void **state)
{
    struct fixture *f = *state;
    make_resolver(f, "127.0.0.1:9", 100, 1);
    struct free_in_cb x = {.f = f};
    struct cfg_route lit = {.host = "127.0.0.9", .port = 5269};
    assert_int_equal(
        resolve_s2s(f->r, "y.example", &lit, on_result_free, &x, NULL), 0);
    assert_int_equal(
        resolve_s2s(f->r, "z.example", &lit, on_result_free, &x, NULL), 0);
    assert_int_equal(
        resolve_s2s(f->r, "w.example", NULL, on_result_free, &x, NULL), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(x.calls, 1);
    assert_int_equal(x.freed, 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve_order_by_priority),
        cmocka_unit_test(test_resolve_order_weights),
        cmocka_unit_test(test_resolve_order_zero_weights),
        cmocka_unit_test(test_resolve_order_deterministic),
        cmocka_unit_test(test_resolve_names_and_literals),
        cmocka_unit_test_setup_teardown(test_resolve_bad_servers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resolve_invalid_domain, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resolve_route_ip_literal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resolve_domain_ip_literal, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resolve_route_name, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resolve_srv_priority, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resolve_srv_xmpps_merge, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resolve_srv_dot_not_available,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_srv_xmpps_dot_only, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resolve_no_srv_fallback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resolve_nxdomain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_srv_limits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resolve_MUX_80_own_srv_per_host,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_unreachable_resolver,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_cancel_with_dns, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resolve_free_pending, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resolve_free_in_callback, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
