/* SPDX-License-Identifier: MIT */
/* test_config.c -- unit tests for loading and validating configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "config/config.h"

#define DATA XMUX_TEST_DATA "/unit/data/config"

/* Lines 1 and 2 of most inline configs; whatever a test appends starts
 * on line 3. */
#define MIN_LISTEN                                                          \
    "listen = ( { kind = \"c2s\"; address = \"127.0.0.1\"; port = 5222; } " \
    ");\n"
#define MIN_HOSTS "hosts = ( { domain = \"a.example\"; } );\n"
#define MIN       MIN_LISTEN MIN_HOSTS

/* Load text as "t.conf"; on success return the config, else NULL with
 * the error line in *msg (a static buffer, valid until the next call). */
static struct config *
load(const char *text, int *rc, const char **msg)
{
    static char last[1024];
    struct buf err;
    buf_init(&err, sizeof(last));
    struct config *cfg = NULL;
    *rc = config_load_string(text, "t.conf", &cfg, &err);
    (void)snprintf(last, sizeof(last), "%s", buf_ptr(&err));
    buf_fini(&err);
    *msg = last;
    return cfg;
}

static struct config *
load_ok(const char *text)
{
    int rc;
    const char *msg;
    struct config *cfg = load(text, &rc, &msg);
    if (rc != 0)
        fail_msg("unexpected error %d: %s", rc, msg);
    assert_non_null(cfg);
    return cfg;
}

/* The load must fail with exactly "t.conf:LINE: " + what (what may be a
 * prefix of the message when it ends in '*'). */
static void
load_err(const char *text, int line, const char *what)
{
    int rc;
    const char *msg;
    struct config *cfg = load(text, &rc, &msg);
    assert_null(cfg);
    assert_int_equal(rc, XE_CONFIG);
    char want[1024];
    if (line > 0)
        (void)snprintf(want, sizeof(want), "t.conf:%d: %s", line, what);
    else
        (void)snprintf(want, sizeof(want), "t.conf: %s", what);
    size_t n = strlen(want);
    if (n > 0 && want[n - 1] == '*') {
        want[n - 1] = '\0';
        if (strncmp(msg, want, n - 1) != 0)
            fail_msg("got \"%s\", want prefix \"%s\"", msg, want);
    } else if (strcmp(msg, want) != 0) {
        fail_msg("got \"%s\", want \"%s\"", msg, want);
    }
    assert_null(strchr(msg, '\n'));
}

/* The four listeners of the example and of the default; the first is on
 * line first. */
static void
check_full_listen(const struct config *cfg, int first)
{
    static const uint16_t ports[] = {5222, 5223, 5269, 5270};
    static const enum cfg_listen_kind kinds[] = {
        CFG_LISTEN_C2S, CFG_LISTEN_C2S_TLS, CFG_LISTEN_S2S, CFG_LISTEN_S2S_TLS};
    assert_int_equal(cfg->nlisten, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(cfg->listen[i].kind, kinds[i]);
        assert_string_equal(cfg->listen[i].address, "127.0.0.1");
        assert_int_equal(cfg->listen[i].port, ports[i]);
        assert_int_equal(cfg->listen[i].line, first + (int)i);
    }
}

static void
check_conn_limits(const struct cfg_conn_limits *l,
                  const struct cfg_conn_limits *want)
{
    assert_int_equal(l->per_ip, want->per_ip);
    assert_int_equal(l->fd_reserve, want->fd_reserve);
    assert_int_equal(l->c2s_rate, want->c2s_rate);
    assert_int_equal(l->c2s_burst, want->c2s_burst);
    assert_int_equal(l->s2s_rate, want->s2s_rate);
    assert_int_equal(l->s2s_burst, want->s2s_burst);
    assert_int_equal(l->restarts, want->restarts);
    assert_int_equal(l->sasl_failures, want->sasl_failures);
    assert_int_equal(l->output_queue, want->output_queue);
}

static void
check_full_limits(const struct config *cfg)
{
    assert_int_equal(cfg->timeouts.negotiation, 60000);
    assert_int_equal(cfg->timeouts.close_wait, 10000);
    assert_int_equal(cfg->timeouts.idle, 300000);
    assert_int_equal(cfg->timeouts.dialback, 30000);
    assert_int_equal(cfg->timeouts.authz, 30000);
    assert_int_equal(cfg->timeouts.iq_response, 30000);
    assert_int_equal(cfg->timeouts.secondary_close, 30000);
    assert_int_equal(cfg->max_connections, 10000);
    assert_int_equal(cfg->limits.max_stanza, 262144);
    assert_int_equal(cfg->limits.max_depth, 32);
    assert_int_equal(cfg->limits.max_attrs, 64);
    assert_int_equal(cfg->limits.max_name, 1024);
    assert_int_equal(cfg->limits.max_text, 262144);
    assert_int_equal(cfg->limits_preauth.max_stanza, 16384);
    assert_int_equal(cfg->limits_preauth.max_depth, 16);
    assert_int_equal(cfg->limits_preauth.max_attrs, 32);
    assert_int_equal(cfg->limits_preauth.max_name, 1024);
    assert_int_equal(cfg->limits_preauth.max_text, 16384);
    /* docs/limits.md: the defaults of the connection limits. */
    const struct cfg_conn_limits want = {50,      32, 65536, 262144, 0,
                                         1048576, 4,  5,     4194304};
    check_conn_limits(&cfg->conn_limits, &want);
}

static void
test_config_full_example(void **state)
{
    (void)state;
    struct buf err;
    buf_init(&err, 1024);
    struct config *cfg = NULL;
    int rc = config_load_file(DATA "/full.conf", &cfg, &err);
    if (rc != 0)
        fail_msg("%s", buf_ptr(&err));
    assert_string_equal(cfg->file, DATA "/full.conf");
    assert_string_equal(cfg->state_dir, "/var/lib/xmux");
    assert_int_equal(cfg->log_level, LOG_INFO);
    assert_string_equal(cfg->user, "xmux");
    assert_string_equal(cfg->group, "xmux");
    check_full_listen(cfg, 4);
    assert_string_equal(cfg->tls_ca_file, "/etc/ssl/certs/ca-certificates.crt");
    assert_int_equal(cfg->nhosts, 2);
    assert_string_equal(cfg->hosts[0].domain, "montague.example");
    assert_string_equal(cfg->hosts[1].domain, "chat.montague.example");
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(cfg->hosts[i].cert, DATA "/m.pem");
        assert_string_equal(cfg->hosts[i].key, DATA "/m.key");
        assert_true(cfg->hosts[i].mux);
        assert_null(cfg->hosts[i].mux_advertise);
        assert_int_equal(cfg->hosts[i].line, 9 + (int)i);
    }
    assert_true(cfg->s2s.dialback);
    assert_true(cfg->s2s.bidi);
    assert_true(cfg->s2s.mux);
    assert_true(cfg->s2s.mux_authorization);
    assert_true(cfg->s2s.require_client_eku);
    assert_int_equal(cfg->s2s.max_connections_per_peer, 1);
    assert_int_equal(cfg->s2s.nroutes, 1);
    assert_string_equal(cfg->s2s.routes[0].domain, "capulet.example");
    assert_string_equal(cfg->s2s.routes[0].host, "127.0.0.3");
    assert_int_equal(cfg->s2s.routes[0].port, 5269);
    assert_int_equal(cfg->s2s.routes[0].line, 12);
    assert_true(cfg->c2s.mux);
    assert_false(cfg->c2s.mux_allow_domain_jids);
    check_full_limits(cfg);
    assert_ptr_equal(config_host(cfg, "chat.montague.example"), &cfg->hosts[1]);
    assert_null(config_host(cfg, "capulet.example"));
    assert_null(config_host(cfg, "MONTAGUE.example"));
    config_free(cfg);
    buf_fini(&err);
}

/* Every key set to something other than its default. */
static const char nondefault_text[] =
    "state_dir = \"/srv/xmux\";\n"
    "log_level = \"trace\";\n"
    "listen = ( { kind = \"s2s-tls\"; address = \"::\"; port = 1; } );\n"
    "tls = { ca_file = \"/etc/ca.pem\"; };\n"
    "hosts = ( { domain = \"A.Example.\"; mux = false;\n"
    "            mux_advertise_hosts = [ \"b.example\" ]; },\n"
    "          { domain = \"b.example\"; mux_advertise_hosts = (); } );\n"
    "s2s = { dialback = false; bidi = false; mux = false;\n"
    "        mux_authorization = false; require_client_eku = false;\n"
    "        max_connections_per_peer = 4; require_valid_certificates = true;\n"
    "        resolver = \"127.0.0.53:53\";\n"
    "        routes = ( { domain = \"c.example\"; host = \"c.host\";\n"
    "                     direct_tls = true; } ); };\n"
    "c2s = { mux = false; mux_allow_domain_jids = true; };\n"
    "timeouts = { negotiation = 1.5; close_wait = 0.25; idle = 86400;\n"
    "             dialback = 2; authz = 3; iq_response = 4L;\n"
    "             secondary_close = 0.001; connect = 0.5; };\n"
    "limits = { max_connections = 7; stanza_size = 8192; depth = 10;\n"
    "           attributes = 20; name_length = 300; text_length = 5000;\n"
    "           connections_per_ip = 0; fd_reserve = 100; c2s_rate = 0;\n"
    "           c2s_burst = 2048; s2s_rate = 1000000; s2s_burst = 4096;\n"
    "           stream_restarts = 2; sasl_failures = 3;\n"
    "           output_queue_max = 1048576; };\n";

static void
test_config_every_key_nondefault(void **state)
{
    (void)state;
    struct config *cfg = load_ok(nondefault_text);
    assert_string_equal(cfg->state_dir, "/srv/xmux");
    assert_int_equal(cfg->log_level, LOG_TRACE);
    assert_int_equal(cfg->listen[0].kind, CFG_LISTEN_S2S_TLS);
    assert_string_equal(cfg->listen[0].address, "::");
    assert_int_equal(cfg->listen[0].port, 1);
    assert_string_equal(cfg->tls_ca_file, "/etc/ca.pem");
    assert_string_equal(cfg->hosts[0].domain, "a.example");
    assert_null(cfg->hosts[0].cert);
    assert_null(cfg->hosts[0].key);
    assert_false(cfg->hosts[0].mux);
    assert_int_equal(cfg->hosts[0].nmux_advertise, 1);
    assert_string_equal(cfg->hosts[0].mux_advertise[0], "b.example");
    assert_non_null(cfg->hosts[1].mux_advertise);
    assert_int_equal(cfg->hosts[1].nmux_advertise, 0);
    assert_false(cfg->s2s.dialback || cfg->s2s.bidi || cfg->s2s.mux);
    assert_false(cfg->s2s.mux_authorization || cfg->s2s.require_client_eku);
    assert_int_equal(cfg->s2s.max_connections_per_peer, 4);
    assert_int_equal(cfg->s2s.routes[0].port, 5269); /* the default */
    assert_string_equal(cfg->s2s.routes[0].host, "c.host");
    assert_true(cfg->s2s.routes[0].direct_tls);
    assert_true(cfg->s2s.require_valid_certificates);
    assert_string_equal(cfg->s2s.resolver, "127.0.0.53:53");
    assert_int_equal(cfg->timeouts.connect, 500);
    assert_false(cfg->c2s.mux);
    assert_true(cfg->c2s.mux_allow_domain_jids);
    assert_int_equal(cfg->timeouts.negotiation, 1500);
    assert_int_equal(cfg->timeouts.close_wait, 250);
    assert_int_equal(cfg->timeouts.idle, 86400000);
    assert_int_equal(cfg->timeouts.dialback, 2000);
    assert_int_equal(cfg->timeouts.authz, 3000);
    assert_int_equal(cfg->timeouts.iq_response, 4000);
    assert_int_equal(cfg->timeouts.secondary_close, 1);
    assert_int_equal(cfg->max_connections, 7);
    assert_int_equal(cfg->limits.max_stanza, 8192);
    assert_int_equal(cfg->limits.max_depth, 10);
    assert_int_equal(cfg->limits.max_attrs, 20);
    assert_int_equal(cfg->limits.max_name, 300);
    assert_int_equal(cfg->limits.max_text, 5000);
    /* Preauth stanza size defaults to min(16384, stanza_size). */
    assert_int_equal(cfg->limits_preauth.max_stanza, 8192);
    assert_int_equal(cfg->limits_preauth.max_depth, 10);
    assert_int_equal(cfg->limits_preauth.max_attrs, 20);
    assert_int_equal(cfg->limits_preauth.max_name, 300);
    assert_int_equal(cfg->limits_preauth.max_text, 5000);
    const struct cfg_conn_limits want = {0, 100, 0, 2048, 1000000, 4096, 2, 3,
                                         1048576};
    check_conn_limits(&cfg->conn_limits, &want);
    config_free(cfg);
}

static void
test_config_defaults_for_absent_keys(void **state)
{
    (void)state;
    struct config *cfg = load_ok(MIN);
    assert_string_equal(cfg->file, "t.conf");
    assert_string_equal(cfg->state_dir, "/var/lib/xmux");
    assert_int_equal(cfg->log_level, LOG_INFO);
    assert_string_equal(cfg->tls_ca_file, "/etc/ssl/certs/ca-certificates.crt");
    assert_true(cfg->hosts[0].mux);
    assert_true(cfg->s2s.dialback && cfg->s2s.bidi && cfg->s2s.mux);
    assert_true(cfg->s2s.mux_authorization && cfg->s2s.require_client_eku);
    assert_int_equal(cfg->s2s.max_connections_per_peer, 1);
    assert_int_equal(cfg->s2s.nroutes, 0);
    assert_null(cfg->s2s.routes);
    assert_false(cfg->s2s.require_valid_certificates);
    assert_null(cfg->s2s.resolver);
    assert_int_equal(cfg->timeouts.connect, 10000);
    assert_true(cfg->c2s.mux);
    assert_false(cfg->c2s.mux_allow_domain_jids);
    check_full_limits(cfg); /* the example spells out the defaults */
    config_free(cfg);
}

static void
test_config_default(void **state)
{
    (void)state;
    struct buf err;
    buf_init(&err, 1024);
    struct config *cfg = NULL;
    assert_int_equal(config_load_default(NULL, &cfg, &err), 0);
    assert_string_equal(cfg->file, "(default)");
    assert_string_equal(cfg->state_dir, "./xmux-state");
    assert_int_equal(cfg->log_level, LOG_INFO);
    assert_int_equal(cfg->nlisten, 4);
    check_full_listen(cfg, 3);
    assert_int_equal(cfg->nhosts, 1);
    assert_string_equal(cfg->hosts[0].domain, "localhost");
    assert_null(cfg->hosts[0].cert);
    assert_null(cfg->hosts[0].key);
    assert_non_null(config_host(cfg, "localhost"));
    config_free(cfg);

    assert_int_equal(config_load_default("/tmp/x", &cfg, &err), 0);
    assert_string_equal(cfg->state_dir, "/tmp/x");
    config_free(cfg);

    assert_int_equal(config_load_default("", &cfg, &err), XE_CONFIG);
    assert_null(cfg);
    assert_string_equal(buf_ptr(&err),
                        "(default): state_dir: must not be empty");
    assert_non_null(strstr(config_default_text(), "localhost"));
    buf_fini(&err);
}

static void
test_config_syntax_error_file(void **state)
{
    (void)state;
    struct buf err;
    buf_init(&err, 1024);
    struct config *cfg = NULL;
    assert_int_equal(config_load_file(DATA "/syntax.conf", &cfg, &err),
                     XE_CONFIG);
    assert_null(cfg);
    assert_string_equal(buf_ptr(&err), DATA "/syntax.conf:4: syntax error");
    assert_int_equal(config_load_file(DATA "/badhost.conf", &cfg, &err),
                     XE_CONFIG);
    assert_string_equal(buf_ptr(&err),
                        DATA "/badhost.conf:5: hosts[1].domain: invalid "
                             "domain \"ex_ample.com\"");
    buf_fini(&err);
}

static void
test_config_syntax_errors(void **state)
{
    (void)state;
    load_err(MIN "\n\nlog_level = ;\n", 5, "syntax error");
    load_err(MIN "log_level = \"info\";\nlog_level = \"warn\";\n", 4,
             "duplicate setting name");
    load_err("hosts = ( { domain = \"a.example\"; }\n", 2, "syntax error");
    load_err(MIN "@include \"/etc/passwd\"\n", 3, "@include is not supported");
    load_err("listen = ( { kind = \"c2s\";\n address = \"127.0.0.1\";\n"
             " port = 4294972518; } );\n" MIN_HOSTS,
             3, "port: integer 4294972518 is out of range");
    load_err(MIN "limits = { depth = 0x100000020; };\n", 3,
             "depth: integer 0x100000020 is out of range");
    load_err(MIN "limits = { depth = 99999999999999999999L; };\n", 3,
             "depth: integer 99999999999999999999L is out of range");
    /* Inside strings and comments digits are not integers. */
    struct config *cfg = load_ok(MIN "# port = 99999999999\n"
                                     "/* 99999999999 */ state_dir = "
                                     "\"/x/99999999999\\\"\";\n");
    assert_string_equal(cfg->state_dir, "/x/99999999999\"");
    config_free(cfg);
}

/* libconfig 1.5 leaks a string token that causes a syntax error; the
 * loader keeps such strings from it (found by fuzz_config; under ASan a
 * regression fails here as a leak). */
static void
test_config_misplaced_strings(void **state)
{
    (void)state;
    load_err(MIN "s2s = { dialback = true;\n \"bidi\" = true; };\n", 4,
             "syntax error");
    load_err(MIN "state_dir = \"/x\"\n  \"/y\" 5 \"/z\";\n", 4, "syntax error");
    load_err(MIN "log_level = \"info\", \"warn\";\n", 3, "syntax error");
    load_err(MIN "tls = { \"x\" };\n", 3, "syntax error");
    load_err(MIN "\n\"x\" = 1;\n", 4, "syntax error");
    /* An earlier error keeps its own line. */
    load_err(MIN "log_level = = 1;\n\n\"x\"\n", 3, "syntax error");
    /* Strings where values start stay valid, also split and in lists. */
    struct config *cfg =
        load_ok(MIN_LISTEN
                "state_dir = \"/a\"\n \"/b\";\n"
                "hosts = ( { domain = \"a.example\"; mux_advertise_hosts = (\n"
                " \"a.example\", \"b.\" \"example\" ); },\n"
                " { domain = \"b.example\"; mux_advertise_hosts = [ ]; } );\n");
    assert_string_equal(cfg->state_dir, "/a/b");
    assert_int_equal(cfg->hosts[0].nmux_advertise, 2);
    assert_string_equal(cfg->hosts[0].mux_advertise[1], "b.example");
    config_free(cfg);
}

static void
test_config_nesting_and_nul(void **state)
{
    (void)state;
    char text[512] = MIN "x = ";
    size_t n = strlen(text);
    memset(text + n, '(', 33);
    text[n + 33] = '\0';
    load_err(text, 3, "nested more than 32 levels deep");
    struct buf err;
    buf_init(&err, 1024);
    struct config *cfg = NULL;
    assert_int_equal(config_load_file(DATA "/nul.conf", &cfg, &err), XE_CONFIG);
    assert_string_equal(buf_ptr(&err),
                        DATA "/nul.conf:4: NUL byte in the text");
    buf_fini(&err);
}

static void
test_config_unknown_keys(void **state)
{
    (void)state;
    load_err(MIN "\nsate_dir = \"/x\";\n", 4, "sate_dir: unknown key");
    load_err(MIN_LISTEN "hosts = ( { domain = \"a.example\";\n"
                        "  mux_enabled = true; } );\n",
             3, "hosts[0].mux_enabled: unknown key");
    load_err(MIN "s2s = { routes = ( { domain = \"c.example\";\n"
                 "  host = \"h\"; prot = 5269; } ); };\n",
             4, "s2s.routes[0].prot: unknown key");
    load_err(MIN "tls = { cafile = \"x\"; };\n", 3, "tls.cafile: unknown key");
    load_err(MIN "c2s = { bidi = true; };\n", 3, "c2s.bidi: unknown key");
    load_err(MIN "timeouts = { negociation = 1; };\n", 3,
             "timeouts.negociation: unknown key");
    load_err(MIN "limits = { stanza = 1; };\n", 3,
             "limits.stanza: unknown key");
    load_err("listen = ( { kind = \"c2s\"; address = \"127.0.0.1\";\n"
             "  port = 5222; tls = true; } );\n" MIN_HOSTS,
             2, "listen[0].tls: unknown key");
}

static void
test_config_wrong_types(void **state)
{
    (void)state;
    load_err("listen = ( { kind = \"c2s\"; address = \"127.0.0.1\";\n"
             "  port = \"5222\"; } );\n" MIN_HOSTS,
             2, "listen[0].port: expected an integer");
    load_err("listen = ( { kind = \"c2s\"; address = \"127.0.0.1\";\n"
             "  port = 5222.0; } );\n" MIN_HOSTS,
             2, "listen[0].port: expected an integer");
    load_err(MIN "s2s = { mux = 1; };\n", 3, "s2s.mux: expected true or false");
    load_err(MIN "state_dir = 5;\n", 3, "state_dir: expected a string");
    load_err(MIN "state_dir = \"\";\n", 3, "state_dir: must not be empty");
    load_err(MIN "tls = \"x\";\n", 3, "tls: expected a group { ... }");
    load_err(MIN "timeouts = { idle = \"300\"; };\n", 3,
             "timeouts.idle: expected a number of seconds");
    load_err("listen = { kind = \"c2s\"; };\n" MIN_HOSTS, 1,
             "listen: expected a list ( ... )");
    load_err("listen = ( \"c2s\" );\n" MIN_HOSTS, 1,
             "listen[0]: expected a group { ... }");
    load_err(MIN_LISTEN "hosts = [ \"a.example\" ];\n", 2,
             "hosts: expected a list ( ... )");
}

static void
test_config_log_level(void **state)
{
    (void)state;
    load_err(MIN "log_level = \"verbose\";\n", 3,
             "log_level: unknown level \"verbose\" (error, warn, info, "
             "debug or trace)");
    struct config *cfg = load_ok(MIN "log_level = \"warn\";\n");
    assert_int_equal(cfg->log_level, LOG_WARN);
    config_free(cfg);
}

static void
test_config_threads_and_poll_spin(void **state)
{
    (void)state;
    struct config *cfg = load_ok(MIN);
    assert_int_equal(cfg->threads, 1);
    assert_int_equal(cfg->poll_spin_us, 0);
    config_free(cfg);
    cfg = load_ok(MIN "threads = 2;\npoll_spin = 200;\n");
    assert_int_equal(cfg->threads, 2);
    assert_int_equal(cfg->poll_spin_us, 200);
    config_free(cfg);
    load_err(MIN "threads = 0;\n", 3,
             "threads: must be between 1 and 64 (got 0)");
    load_err(MIN "threads = 65;\n", 3,
             "threads: must be between 1 and 64 (got 65)");
    load_err(MIN "poll_spin = 10001;\n", 3,
             "poll_spin: must be between 0 and 10000 (got 10001)");
}

static void
test_config_listen_kind_and_address(void **state)
{
    (void)state;
    load_err("listen = ( { kind = \"c2s-starttls\"; address = \"127.0.0.1\";"
             " port = 5222; } );\n" MIN_HOSTS,
             1,
             "listen[0].kind: unknown kind \"c2s-starttls\" (c2s, c2s-tls, "
             "s2s or s2s-tls)");
    static const char *const bad[] = {"localhost", "256.1.1.1", "[::1]",
                                      "127.0.0.1 ", "fe80::1%lo"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[512], want[128];
        (void)snprintf(text, sizeof(text),
                       "listen = ( { kind = \"c2s\"; port = 5222;\n"
                       "  address = \"%s\"; } );\n" MIN_HOSTS,
                       bad[i]);
        (void)snprintf(want, sizeof(want),
                       "listen[0].address: not an IPv4 or IPv6 address \"%s\"",
                       bad[i]);
        load_err(text, 2, want);
    }
    load_err("listen = ( { kind = \"c2s\"; port = 5222; } );\n" MIN_HOSTS, 1,
             "listen[0].address: missing");
    assert_string_equal(config_listen_kind_name(CFG_LISTEN_C2S_TLS), "c2s-tls");
    assert_string_equal(config_listen_kind_name(CFG_LISTEN_S2S), "s2s");
}

/* The sm group (docs/sm.md): defaults, values, and errors at their line. */
static void
test_config_sm(void **state)
{
    (void)state;
    int rc;
    const char *msg;
    struct config *cfg = load(MIN, &rc, &msg);
    assert_non_null(cfg);
    assert_true(cfg->sm.c2s);
    assert_true(cfg->sm.s2s);
    assert_int_equal(cfg->sm.resume_timeout, 300000);
    assert_int_equal(cfg->sm.max_unacked, 10000);
    assert_int_equal(cfg->sm.request_every, 32);
    config_free(cfg);
    cfg = load(MIN "sm = { c2s = false; s2s = false; resume_timeout = "
                         "1.5;\n  max_unacked = 16; request_every = 1; };\n",
               &rc, &msg);
    assert_non_null(cfg);
    assert_false(cfg->sm.c2s);
    assert_false(cfg->sm.s2s);
    assert_int_equal(cfg->sm.resume_timeout, 1500);
    assert_int_equal(cfg->sm.max_unacked, 16);
    assert_int_equal(cfg->sm.request_every, 1);
    config_free(cfg);
    load_err(MIN "sm = {\n max_unacked = 15; };\n", 4,
             "sm.max_unacked: must be between 16 and 1000000 (got 15)");
    load_err(MIN "sm = { request_every = 0; };\n", 3,
             "sm.request_every: must be between 1 and 100000 (got 0)");
    load_err(MIN "sm = { resume = true; };\n", 3, "sm.resume: unknown key");
    load_err(MIN "sm = { c2s = 1; };\n", 3, "sm.c2s: *");
}

static void
test_config_listen_port_range(void **state)
{
    (void)state;
    load_err("listen = ( { kind = \"c2s\"; address = \"127.0.0.1\";\n"
             "  port = 0; } );\n" MIN_HOSTS,
             2, "listen[0].port: must be between 1 and 65535 (got 0)");
    load_err("listen = ( { kind = \"c2s\"; address = \"127.0.0.1\";\n"
             "  port = 65536; } );\n" MIN_HOSTS,
             2, "listen[0].port: must be between 1 and 65535 (got 65536)");
    load_err("listen = ( { kind = \"c2s\"; address = \"127.0.0.1\";\n"
             "  port = -1; } );\n" MIN_HOSTS,
             2, "listen[0].port: must be between 1 and 65535 (got -1)");
    struct config *cfg =
        load_ok("listen = ( { kind = \"c2s\"; address = "
                "\"127.0.0.1\"; port = 65535; } );\n" MIN_HOSTS);
    assert_int_equal(cfg->listen[0].port, 65535);
    config_free(cfg);
}

static void
test_config_listen_duplicates(void **state)
{
    (void)state;
    load_err("listen = (\n"
             " { kind = \"c2s\"; address = \"127.0.0.1\"; port = 5222; },\n"
             " { kind = \"s2s\"; address = \"127.0.0.1\"; port = 5269; },\n"
             " { kind = \"s2s\"; address = \"127.0.0.1\"; port = 5222; } "
             ");\n" MIN_HOSTS,
             4, "listen[2]: 127.0.0.1:5222 clashes with listen[0] (line 2)");
    load_err("listen = (\n"
             " { kind = \"c2s\"; address = \"::1\"; port = 5222; },\n"
             " { kind = \"s2s\"; address = \"0:0::1\"; port = 5222; } "
             ");\n" MIN_HOSTS,
             3, "listen[1]: [0:0::1]:5222 clashes with listen[0] (line 2)");
    load_err("listen = (\n"
             " { kind = \"c2s\"; address = \"127.0.0.1\"; port = 5222; },\n"
             " { kind = \"s2s\"; address = \"0.0.0.0\"; port = 5222; } "
             ");\n" MIN_HOSTS,
             3, "listen[1]: 0.0.0.0:5222 clashes with listen[0] (line 2)");
    /* Same port on other addresses, or same address on other ports. */
    struct config *cfg =
        load_ok("listen = (\n"
                " { kind = \"c2s\"; address = \"127.0.0.1\"; port = 5222; },\n"
                " { kind = \"c2s\"; address = \"127.0.0.2\"; port = 5222; },\n"
                " { kind = \"c2s\"; address = \"::1\"; port = 5222; },\n"
                " { kind = \"s2s\"; address = \"127.0.0.1\"; port = 5269; } "
                ");\n" MIN_HOSTS);
    assert_int_equal(cfg->nlisten, 4);
    config_free(cfg);
}

static void
test_config_listen_and_hosts_required(void **state)
{
    (void)state;
    load_err(MIN_HOSTS, 0, "listen: missing (no listeners)");
    load_err("listen = ();\n" MIN_HOSTS, 1, "listen: no listeners");
    load_err(MIN_LISTEN, 0, "hosts: missing (no hosts to serve)");
    load_err(MIN_LISTEN "\nhosts = ( );\n", 3, "hosts: no hosts to serve");
    load_err(MIN_LISTEN "hosts = ( { cert = \"a\"; key = \"b\"; } );\n", 2,
             "hosts[0].domain: missing");
}

static void
test_config_host_domains(void **state)
{
    (void)state;
    load_err(MIN_LISTEN "hosts = (\n { domain = \"a.example\"; },\n"
                        " { domain = \"ex_ample.com\"; } );\n",
             4, "hosts[1].domain: invalid domain \"ex_ample.com\"");
    load_err(MIN_LISTEN "hosts = (\n { domain = \"a.example\"; },\n"
                        " { domain = \"A.EXAMPLE.\"; } );\n",
             4,
             "hosts[1].domain: duplicate domain \"a.example\" (also "
             "hosts[0], line 3)");
    /* A newline in a value is escaped: one error is one line. */
    load_err(MIN_LISTEN "hosts = ( { domain = \"a\\nb\"; } );\n", 2,
             "hosts[0].domain: invalid domain \"a\\x0ab\"");
    struct config *cfg =
        load_ok(MIN_LISTEN "hosts = ( { domain = \"Chat.Example\"; } "
                           ");\n");
    assert_string_equal(cfg->hosts[0].domain, "chat.example");
    assert_non_null(config_host(cfg, "chat.example"));
    config_free(cfg);
}

static void
test_config_host_cert_key_pairs(void **state)
{
    (void)state;
    load_err(MIN_LISTEN "hosts = ( { domain = \"a.example\";\n"
                        "  cert = \"/a.pem\"; } );\n",
             3, "hosts[0].cert: set without hosts[0].key");
    load_err(MIN_LISTEN "hosts = ( { domain = \"a.example\";\n\n"
                        "  key = \"/a.key\"; } );\n",
             4, "hosts[0].key: set without hosts[0].cert");
    load_err(MIN_LISTEN "hosts = ( { domain = \"a.example\";\n"
                        "  cert = \"/a.pem\"; key = \"\"; } );\n",
             3, "hosts[0].key: must not be empty");
}

static void
test_config_relative_paths(void **state)
{
    (void)state;
    struct buf err;
    buf_init(&err, 1024);
    struct config *cfg = NULL;
    int rc = config_load_file(DATA "/relative.conf", &cfg, &err);
    if (rc != 0)
        fail_msg("%s", buf_ptr(&err));
    assert_string_equal(cfg->hosts[0].cert, DATA "/certs/a.pem");
    assert_string_equal(cfg->hosts[0].key, DATA "/certs/a.key");
    assert_string_equal(cfg->hosts[1].cert, "/etc/xmux/b.pem");
    assert_string_equal(cfg->hosts[1].key, "/etc/xmux/b.key");
    assert_string_equal(cfg->tls_ca_file, DATA "/ca.pem");
    assert_string_equal(cfg->state_dir, DATA "/state");
    assert_string_equal(cfg->listen[0].address, "::1");
    config_free(cfg);
    buf_fini(&err);

    /* A relative file name resolves against the current directory. */
    char cwd[4096], want[4200];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    cfg = NULL;
    buf_init(&err, 1024);
    rc =
        config_load_string(MIN_LISTEN "hosts = ( { domain = \"a.example\";"
                                      " cert = \"c.pem\"; key = \"/k\"; } );\n",
                           "sub/x.conf", &cfg, &err);
    assert_int_equal(rc, 0);
    (void)snprintf(want, sizeof(want), "%s/sub/c.pem", cwd);
    assert_string_equal(cfg->hosts[0].cert, want);
    config_free(cfg);
    buf_fini(&err);
}

/* A path of n bytes: "/" and n - 1 times 'p'. */
static const char *
long_path(char *dst, size_t n)
{
    dst[0] = '/';
    memset(dst + 1, 'p', n - 1);
    dst[n] = '\0';
    return dst;
}

static void
test_config_control_socket(void **state)
{
    (void)state;
    /* Absent: state_dir/xmuxd.sock. */
    struct config *cfg = load_ok(MIN);
    assert_string_equal(cfg->control_socket, "/var/lib/xmux/xmuxd.sock");
    config_free(cfg);
    cfg = load_ok(MIN "state_dir = \"/srv/x/\";\n");
    assert_string_equal(cfg->control_socket, "/srv/x/xmuxd.sock");
    config_free(cfg);
    cfg = load_ok(MIN "control_socket = \"/run/xmux/ctl\";\n");
    assert_string_equal(cfg->control_socket, "/run/xmux/ctl");
    config_free(cfg);
    /* Relative: against the config file's directory, as state_dir. */
    char cwd[4096], want[4200];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    (void)snprintf(want, sizeof(want), "%s/ctl.sock", cwd);
    cfg = load_ok(MIN "control_socket = \"ctl.sock\";\n");
    assert_string_equal(cfg->control_socket, want);
    config_free(cfg);

    /* sun_path holds 107 bytes and a NUL: at the limit and one past. */
    char p[200], text[512];
    (void)snprintf(text, sizeof(text), MIN "control_socket =\n \"%s\";\n",
                   long_path(p, 107));
    cfg = load_ok(text);
    assert_int_equal(strlen(cfg->control_socket), 107);
    config_free(cfg);
    (void)snprintf(text, sizeof(text), MIN "control_socket =\n \"%s\";\n",
                   long_path(p, 108));
    load_err(text, 3,
             "control_socket: path too long for a Unix socket (108 bytes, "
             "at most 107)");
    /* The default is checked too, at state_dir's line; 96 + 11 = 107. */
    (void)snprintf(text, sizeof(text), MIN "\nstate_dir = \"%s\";\n",
                   long_path(p, 96));
    cfg = load_ok(text);
    assert_int_equal(strlen(cfg->control_socket), 107);
    config_free(cfg);
    (void)snprintf(text, sizeof(text), MIN "\nstate_dir = \"%s\";\n",
                   long_path(p, 97));
    load_err(text, 4,
             "state_dir: too long for the default control_socket, "
             "state_dir/xmuxd.sock (108 bytes, at most 107): set "
             "control_socket");
    /* ... which control_socket then avoids. */
    (void)snprintf(text, sizeof(text),
                   MIN "state_dir = \"%s\";\ncontrol_socket = \"/c\";\n", p);
    cfg = load_ok(text);
    assert_string_equal(cfg->control_socket, "/c");
    config_free(cfg);

    load_err(MIN "control_socket = \"\";\n", 3,
             "control_socket: must not be empty");
    load_err(MIN "control_socket = 1;\n", 3,
             "control_socket: expected a string");

    /* The embedded default follows the state directory it is given. */
    struct buf err;
    buf_init(&err, 1024);
    assert_int_equal(config_load_default(NULL, &cfg, &err), 0);
    assert_string_equal(cfg->control_socket, "./xmux-state/xmuxd.sock");
    config_free(cfg);
    assert_int_equal(config_load_default("/tmp/x", &cfg, &err), 0);
    assert_string_equal(cfg->control_socket, "/tmp/x/xmuxd.sock");
    config_free(cfg);
    assert_int_equal(config_load_default(long_path(p, 97), &cfg, &err),
                     XE_CONFIG);
    assert_null(cfg);
    assert_non_null(strstr(buf_ptr(&err), "(default): state_dir: too long"));
    buf_fini(&err);
}

static void
test_config_missing_file(void **state)
{
    (void)state;
    struct buf err;
    buf_init(&err, 1024);
    struct config *cfg = (struct config *)&err; /* must become NULL */
    assert_int_equal(config_load_file(DATA "/nonexistent.conf", &cfg, &err),
                     -ENOENT);
    assert_null(cfg);
    assert_string_equal(buf_ptr(&err),
                        DATA "/nonexistent.conf: cannot open: No such file "
                             "or directory");
    assert_int_equal(config_load_file(DATA, &cfg, &err), -EISDIR);
    assert_non_null(strstr(buf_ptr(&err), DATA ": cannot read: "));
    buf_fini(&err);
}

static void
test_config_s2s_max_connections_per_peer(void **state)
{
    (void)state;
    load_err(MIN "s2s = {\n max_connections_per_peer = 0; };\n", 4,
             "s2s.max_connections_per_peer: must be between 1 and 4 (got 0)");
    load_err(MIN "s2s = {\n max_connections_per_peer = 5; };\n", 4,
             "s2s.max_connections_per_peer: must be between 1 and 4 (got 5)");
    for (unsigned v = 1; v <= 4; v += 3) {
        char text[512];
        (void)snprintf(text, sizeof(text),
                       MIN "s2s = { max_connections_per_peer = %u; };\n", v);
        struct config *cfg = load_ok(text);
        assert_int_equal(cfg->s2s.max_connections_per_peer, v);
        config_free(cfg);
    }
}

static void
test_config_s2s_routes(void **state)
{
    (void)state;
    load_err(MIN "s2s = { routes = (\n"
                 " { domain = \"c.example\"; host = \"h1\"; },\n"
                 " { domain = \"C.example\"; host = \"h2\"; } ); };\n",
             5,
             "s2s.routes[1].domain: duplicate route for \"c.example\" (also "
             "s2s.routes[0], line 4)");
    load_err(MIN "s2s = { routes = (\n { domain = \"c.example\"; } ); };\n", 4,
             "s2s.routes[0].host: missing");
    load_err(MIN "s2s = { routes = (\n { domain = \"c.example\";\n"
                 "   host = \"\"; } ); };\n",
             5, "s2s.routes[0].host: must not be empty");
    load_err(MIN "s2s = { routes = (\n { domain = \"c..example\";\n"
                 "   host = \"h\"; } ); };\n",
             4, "s2s.routes[0].domain: invalid domain \"c..example\"");
    load_err(MIN "s2s = { routes = (\n { domain = \"c.example\";\n"
                 "   host = \"h\"; port = 0; } ); };\n",
             5, "s2s.routes[0].port: must be between 1 and 65535 (got 0)");
}

static void
test_config_mux_advertise_hosts(void **state)
{
    (void)state;
    load_err(MIN_LISTEN "hosts = ( { domain = \"a.example\";\n"
                        " mux_advertise_hosts = ( \"z.example\" ); } );\n",
             3,
             "hosts[0].mux_advertise_hosts[0]: \"z.example\" is not a local "
             "host");
    load_err(MIN_LISTEN "hosts = ( { domain = \"a.example\";\n"
                        " mux_advertise_hosts = [ \"a.example\",\n"
                        "   \"A.example\" ]; } );\n",
             4,
             "hosts[0].mux_advertise_hosts[1]: \"a.example\" is listed twice");
    load_err(MIN_LISTEN "hosts = ( { domain = \"a.example\";\n"
                        " mux_advertise_hosts = \"a.example\"; } );\n",
             3, "hosts[0].mux_advertise_hosts: expected a list of domains");
    load_err(MIN_LISTEN "hosts = ( { domain = \"a.example\";\n"
                        " mux_advertise_hosts = ( 5 ); } );\n",
             3, "hosts[0].mux_advertise_hosts[0]: expected a string");
}

static void
test_config_timeouts(void **state)
{
    (void)state;
    load_err(MIN "timeouts = {\n idle = 0; };\n", 4,
             "timeouts.idle: must be more than 0 and at most 86400 seconds "
             "(got 0)");
    load_err(MIN "timeouts = {\n negotiation = -1.5; };\n", 4,
             "timeouts.negotiation: must be more than 0 and at most 86400 "
             "seconds (got -1.5)");
    load_err(MIN "timeouts = {\n close_wait = 86400.5; };\n", 4,
             "timeouts.close_wait: must be more than 0 and at most 86400 "
             "seconds (got 86400.5)");
    load_err(MIN "timeouts = {\n close_wait = 0.0001; };\n", 4,
             "timeouts.close_wait: must be at least 0.001 seconds (got "
             "0.0001)");
    load_err(MIN "timeouts = {\n idle = 1e400; };\n", 4,
             "timeouts.idle: must be more than 0 and at most 86400 seconds "
             "(got inf)");
    struct config *cfg =
        load_ok(MIN "timeouts = { negotiation = 0.5; close_wait = 0.001;"
                    " idle = 86400; };\n");
    assert_int_equal(cfg->timeouts.negotiation, 500);
    assert_int_equal(cfg->timeouts.close_wait, 1);
    assert_int_equal(cfg->timeouts.idle, 86400000);
    config_free(cfg);
}

/* Load MIN plus "limits = { key = value; };" on line 3. */
static void
limit_ok(const char *key, long long v)
{
    char text[512];
    (void)snprintf(text, sizeof(text), MIN "limits = { %s = %lld; };\n", key,
                   v);
    config_free(load_ok(text));
}

static void
limit_bad(const char *key, long long v, long long min, long long max)
{
    char text[512], want[256];
    (void)snprintf(text, sizeof(text), MIN "limits = { %s = %lld; };\n", key,
                   v);
    (void)snprintf(want, sizeof(want),
                   "limits.%s: must be between %lld and %lld (got %lld)", key,
                   min, max, v);
    load_err(text, 3, want);
}

static void
test_config_limits_at_and_past_bounds(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        long long min, max;
    } r[] = {
        {"max_connections", 1, 1000000},
        {"stanza_size", 4096, 16777216},
        {"depth", 8, 256},
        {"attributes", 16, 1024},
        {"name_length", 256, 65536},
        {"connections_per_ip", 0, 1000000},
        {"fd_reserve", 8, 65536},
        {"c2s_rate", 0, 1073741824},
        {"c2s_burst", 1024, 1073741824},
        {"s2s_rate", 0, 1073741824},
        {"s2s_burst", 1024, 1073741824},
        {"stream_restarts", 1, 16},
        {"sasl_failures", 2, 5},
        {"output_queue_max", 524288, 1073741824},
    };
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
        limit_ok(r[i].key, r[i].min);
        limit_ok(r[i].key, r[i].max);
        limit_bad(r[i].key, r[i].min - 1, r[i].min, r[i].max);
        limit_bad(r[i].key, r[i].max + 1, r[i].min, r[i].max);
    }
    limit_ok("stanza_size_preauth", 4096);
    limit_ok("stanza_size_preauth", 262144);
    limit_bad("stanza_size_preauth", 4095, 4096, 16777216);
    load_err(MIN "limits = { stanza_size_preauth = 262145; };\n", 3,
             "limits.stanza_size_preauth: must be at most limits.stanza_size "
             "(262144), got 262145");
    limit_ok("text_length", 256);
    limit_ok("text_length", 262144);
    limit_bad("text_length", 255, 256, 16777216);
    load_err(MIN "limits = { stanza_size = 8192;\n text_length = 8193; };\n", 4,
             "limits.text_length: must be at most limits.stanza_size (8192), "
             "got 8193");
}

static void
test_config_limits_preauth_derived(void **state)
{
    (void)state;
    struct config *cfg = load_ok(
        MIN "limits = { stanza_size = 16777216; stanza_size_preauth = 4096;"
            " depth = 256; attributes = 1024; name_length = 65536; };\n");
    assert_int_equal(cfg->limits.max_stanza, 16777216);
    assert_int_equal(cfg->limits.max_text, 16777216);
    assert_int_equal(cfg->limits.max_name, 65536);
    assert_int_equal(cfg->limits_preauth.max_stanza, 4096);
    assert_int_equal(cfg->limits_preauth.max_depth, 16);
    assert_int_equal(cfg->limits_preauth.max_attrs, 32);
    assert_int_equal(cfg->limits_preauth.max_name, 4096);
    assert_int_equal(cfg->limits_preauth.max_text, 4096);
    config_free(cfg);
}

static void
test_config_error_buffer_edge_cases(void **state)
{
    (void)state;
    struct config *cfg = NULL;
    /* No buffer: still fails cleanly. */
    assert_int_equal(config_load_string("x", "t.conf", &cfg, NULL), XE_CONFIG);
    assert_null(cfg);
    /* A small buffer keeps the start of the line. */
    struct buf err;
    buf_init(&err, 8);
    assert_int_equal(config_load_string("x", "t.conf", &cfg, &err), XE_CONFIG);
    assert_string_equal(buf_ptr(&err), "t.conf:");
    buf_fini(&err);
    /* A control byte in the file name cannot split the line. */
    buf_init(&err, 256);
    assert_int_equal(config_load_string("x", "a\nb", &cfg, &err), XE_CONFIG);
    assert_string_equal(buf_ptr(&err), "a?b:1: syntax error");
    buf_fini(&err);
}

/* Read a whole file into a fresh string (test helper, small files). */
static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *text = x_malloc(65536);
    size_t n = fread(text, 1, 65535, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* The text of the first code block after the heading, or NULL. */
static char *
doc_block(const char *doc, const char *heading)
{
    const char *h = strstr(doc, heading);
    if (h == NULL)
        return NULL;
    const char *start = strstr(h, "```\n");
    if (start == NULL)
        return NULL;
    start += 4;
    const char *end = strstr(start, "```");
    if (end == NULL)
        return NULL;
    return x_strndup(start, (size_t)(end - start));
}

/* user and group: names checked here, looked up only by xmuxd. */
static void
test_config_user_group(void **state)
{
    (void)state;
    struct config *cfg = load_ok(MIN);
    assert_null(cfg->user);
    assert_null(cfg->group);
    config_free(cfg);
    cfg = load_ok(MIN "user = \"xmux\";\ngroup = \"_xmux-2.a\";\n");
    assert_string_equal(cfg->user, "xmux");
    assert_int_equal(cfg->user_line, 3);
    assert_string_equal(cfg->group, "_xmux-2.a");
    assert_int_equal(cfg->group_line, 4);
    config_free(cfg);
    /* 32 bytes at most. */
    cfg = load_ok(MIN "user = \"u234567890123456789012345678901x\";\n");
    config_free(cfg);
    load_err(MIN "user = \"u2345678901234567890123456789012x\";\n", 3,
             "user: invalid name \"u2345678901234567890123456789012x\" "
             "(letters, digits, '.', '_' and '-', at most 32, not all "
             "digits)");
    /* An option, an id, and bytes that mean something in passwd files,
     * in paths or to a shell. */
    static const char *const bad[] = {"-x", "999", "a b", "a:b", "x/y"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (int g = 0; g < 2; g++) {
            char text[512], want[64];
            (void)snprintf(text, sizeof(text), MIN "%s = \"%s\";\n",
                           g ? "group" : "user", bad[i]);
            (void)snprintf(want, sizeof(want), "%s: invalid name*",
                           g ? "group" : "user");
            load_err(text, 3, want);
        }
    }
    load_err(MIN "user = \"\";\n", 3, "user: must not be empty");
    load_err(MIN "user = 0;\n", 3, "user: expected a string");
    load_err(MIN "\ngroup = \"xmux\";\n", 4,
             "group: needs user (the group alone is never switched to)");
}

/* docs/config.md shows the full example and the embedded default: keep
 * both in step with what the code loads. */
static void
test_config_docs_match(void **state)
{
    (void)state;
    char *doc = slurp(XMUX_TEST_DATA "/../docs/config.md");
    char *full = slurp(DATA "/full.conf");
    char *example = doc_block(doc, "\n## Full example\n");
    assert_non_null(example);
    const char *body = strchr(full, '\n'); /* after the comment line */
    assert_non_null(body);
    assert_string_equal(example, body + 1);
    char *def = doc_block(doc, "\n## The embedded default\n");
    assert_non_null(def);
    assert_string_equal(def, config_default_text());
    x_free(def);
    x_free(example);
    x_free(full);
    x_free(doc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_full_example),
        cmocka_unit_test(test_config_every_key_nondefault),
        cmocka_unit_test(test_config_defaults_for_absent_keys),
        cmocka_unit_test(test_config_sm),
        cmocka_unit_test(test_config_default),
        cmocka_unit_test(test_config_syntax_error_file),
        cmocka_unit_test(test_config_syntax_errors),
        cmocka_unit_test(test_config_misplaced_strings),
        cmocka_unit_test(test_config_nesting_and_nul),
        cmocka_unit_test(test_config_unknown_keys),
        cmocka_unit_test(test_config_wrong_types),
        cmocka_unit_test(test_config_log_level),
        cmocka_unit_test(test_config_threads_and_poll_spin),
        cmocka_unit_test(test_config_listen_kind_and_address),
        cmocka_unit_test(test_config_listen_port_range),
        cmocka_unit_test(test_config_listen_duplicates),
        cmocka_unit_test(test_config_listen_and_hosts_required),
        cmocka_unit_test(test_config_host_domains),
        cmocka_unit_test(test_config_host_cert_key_pairs),
        cmocka_unit_test(test_config_relative_paths),
        cmocka_unit_test(test_config_control_socket),
        cmocka_unit_test(test_config_missing_file),
        cmocka_unit_test(test_config_s2s_max_connections_per_peer),
        cmocka_unit_test(test_config_s2s_routes),
        cmocka_unit_test(test_config_mux_advertise_hosts),
        cmocka_unit_test(test_config_timeouts),
        cmocka_unit_test(test_config_limits_at_and_past_bounds),
        cmocka_unit_test(test_config_limits_preauth_derived),
        cmocka_unit_test(test_config_error_buffer_edge_cases),
        cmocka_unit_test(test_config_user_group),
        cmocka_unit_test(test_config_docs_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
