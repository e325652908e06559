/* SPDX-License-Identifier: MIT */
/* xmux-client.c -- command-line XMPP client: log in, join accounts, talk. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/err.h"
#include "client/client.h"
#include "jid/jid.h"
#include "stanza/stanza.h"

#define MAX_ALSO CLIENT_SECRETS_MAX

struct opts {
    struct client_cfg cfg;
    const char *jid;
    const char *password;
    const char *resource;
    const char *also[MAX_ALSO];
    const char *also_pw[MAX_ALSO];
    size_t nalso;
    size_t nalso_pw;
    bool mux;
    const char *send_to;
    const char *send_body;
    const char *send_from;
    int listen_s;
};

static void
usage(FILE *f)
{
    fputs("usage: xmux-client --host ADDR --port N [--ca FILE | --insecure]\n"
          "         --jid JID (--password PW | --cert FILE --key FILE)\n"
          "         [--resource R] [--mux] [--timeout SECONDS]\n"
          "         [--also JID2 --also-password PW2]...\n"
          "         [--send TO BODY [--from JID]] [--listen SECONDS]\n",
          f);
}

static int
fail(const char *what, const struct buf *err)
{
    fprintf(stderr, "xmux-client: error: %s%s%s\n", what,
            buf_len(err) ? ": " : "", buf_ptr(err));
    return 1;
}

/* A whole decimal number in [lo, hi], or -1. */
static long
num(const char *s, long lo, long hi)
{
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    return v;
}

enum {
    OPT_HOST = 256,
    OPT_PORT,
    OPT_CA,
    OPT_INSECURE,
    OPT_JID,
    OPT_PASSWORD,
    OPT_RESOURCE,
    OPT_ALSO,
    OPT_ALSO_PW,
    OPT_CERT,
    OPT_KEY,
    OPT_MUX,
    OPT_SEND,
    OPT_FROM,
    OPT_LISTEN,
    OPT_TIMEOUT,
    OPT_HELP,
};

static const struct option longopts[] = {
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"ca", required_argument, NULL, OPT_CA},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"jid", required_argument, NULL, OPT_JID},
    {"password", required_argument, NULL, OPT_PASSWORD},
    {"resource", required_argument, NULL, OPT_RESOURCE},
    {"also", required_argument, NULL, OPT_ALSO},
    {"also-password", required_argument, NULL, OPT_ALSO_PW},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"mux", no_argument, NULL, OPT_MUX},
    {"send", required_argument, NULL, OPT_SEND},
    {"from", required_argument, NULL, OPT_FROM},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* One option with an argument of its own kind (numbers, lists). */
static int
parse_special(struct opts *o, int ch, const char *arg)
{
    long v = 0;
    switch (ch) {
    case OPT_PORT:
        v = num(arg, 1, 65535);
        o->cfg.port = (uint16_t)v;
        return v < 0 ? -1 : 0;
    case OPT_LISTEN:
        o->listen_s = (int)(v = num(arg, 0, 86400));
        return v < 0 ? -1 : 0;
    case OPT_TIMEOUT:
        v = num(arg, 1, 3600);
        o->cfg.timeout_ms = (int)v * 1000;
        return v < 0 ? -1 : 0;
    case OPT_ALSO:
        if (o->nalso == MAX_ALSO)
            return -1;
        o->also[o->nalso++] = arg;
        return 0;
    case OPT_ALSO_PW:
        if (o->nalso_pw == MAX_ALSO)
            return -1;
        o->also_pw[o->nalso_pw++] = arg;
        return 0;
    default:
        return -1;
    }
}

/* Where a plain string option goes. */
static const char **
string_slot(struct opts *o, int ch)
{
    switch (ch) {
    case OPT_HOST:
        return &o->cfg.addr;
    case OPT_CA:
        return &o->cfg.ca_file;
    case OPT_JID:
        return &o->jid;
    case OPT_PASSWORD:
        return &o->password;
    case OPT_RESOURCE:
        return &o->resource;
    case OPT_CERT:
        return &o->cfg.cert_file;
    case OPT_KEY:
        return &o->cfg.key_file;
    case OPT_FROM:
        return &o->send_from;
    default:
        return NULL;
    }
}

/* --send takes two arguments: TO and the BODY that follows it. */
static int
parse_one(struct opts *o, int ch, int argc, char **argv)
{
    const char **slot = string_slot(o, ch);
    if (slot != NULL) {
        *slot = optarg;
        return 0;
    }
    switch (ch) {
    case OPT_INSECURE:
        o->cfg.insecure = true;
        return 0;
    case OPT_MUX:
        o->mux = true;
        return 0;
    case OPT_SEND:
        if (optind >= argc)
            return -1;
        o->send_to = optarg;
        o->send_body = argv[optind++];
        return 0;
    default:
        return parse_special(o, ch, optarg);
    }
}

static int
parse_args(struct opts *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->cfg.timeout_ms = 10000;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (ch == OPT_HELP) {
            usage(stdout);
            exit(0);
        }
        if (ch == '?' || parse_one(o, ch, argc, argv) < 0)
            return -1;
    }
    if (optind != argc || !o->cfg.addr || !o->cfg.port || !o->jid)
        return -1;
    if (!o->password && !o->cfg.cert_file)
        return -1;
    if (o->nalso != o->nalso_pw)
        return -1;
    if (!o->cfg.ca_file && !o->cfg.insecure) {
        fputs("xmux-client: error: give --ca FILE (or --insecure)\n", stderr);
        return -1;
    }
    return 0;
}

/* Split "node@domain" into owned copies; node may be empty. */
static int
split_jid(const char *s, struct jid *j, struct buf *err)
{
    int rc = jid_parse(j, s, strlen(s));
    if (rc < 0)
        (void)buf_printf(err, "%s: %s", s, xerr_str(rc));
    return rc;
}

/* Connect and authenticate as jid (password, or EXTERNAL with jid as the
 * authorization identity). */
static int
login(const struct opts *o,
      const char *jidstr,
      const char *password,
      struct client_conn **out,
      struct buf *err)
{
    struct jid j = {0};
    int rc = split_jid(jidstr, &j, err);
    if (rc < 0)
        return rc;
    size_t dl = 0;
    const char *d = jid_domain(&j, &dl);
    char domain[JID_DOMAIN_BUFSZ];
    snprintf(domain, sizeof domain, "%.*s", (int)dl, d);
    size_t nl = 0;
    const char *n = jid_node(&j, &nl);
    char node[JID_PART_BUFSZ];
    snprintf(node, sizeof node, "%.*s", (int)nl, n ? n : "");
    rc = client_connect(out, &o->cfg, domain, err);
    if (rc == 0 && password != NULL)
        rc = client_auth_plain(*out, node, password, err);
    else if (rc == 0)
        rc = client_auth_external(*out, jidstr, o->mux, err);
    if (rc == 0)
        printf("auth=%s jid=%s mux=%s\n", password ? "plain" : "external",
               jidstr,
               (!password && o->mux && client_offers_mux(*out)) ? "yes" : "no");
    jid_fini(&j);
    return rc;
}

static void
print_hosts(const struct client_conn *c)
{
    printf("mux-hosts=");
    for (size_t i = 0; i < client_mux_host_count(c); i++)
        printf("%s%s", i ? "," : "", client_mux_host(c, i));
    printf("\n");
}

static int
send_presence(struct client_conn *c, const char *from)
{
    struct stanza *p = stanza_new(NS_CLIENT, "presence");
    if (from != NULL)
        stanza_set_attr(p, "from", from);
    int rc = client_send(c, p);
    stanza_unref(p);
    return rc;
}

/* Join every --also account onto p. */
static int
join_all(const struct opts *o,
         struct client_conn *p,
         struct client_authz *a,
         struct buf *err)
{
    for (size_t i = 0; i < o->nalso; i++) {
        struct client_conn *s = NULL;
        int rc = login(o, o->also[i], o->also_pw[i], &s, err);
        if (rc < 0) {
            client_close(s);
            return rc;
        }
        print_hosts(s);
        rc = client_join(p, s, a, err);
        if (rc < 0)
            return rc;
        const char *joined = client_identity(p, client_identity_count(p) - 1);
        printf("joined=%s\n", joined);
        rc = send_presence(p, joined);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int
send_message(const struct opts *o, struct client_conn *p)
{
    struct stanza *m = stanza_new(NS_CLIENT, "message");
    stanza_set_attr(m, "to", o->send_to);
    stanza_set_attr(m, "type", "chat");
    if (o->send_from != NULL)
        stanza_set_attr(m, "from", o->send_from);
    struct stanza *b = stanza_add_child(m, NULL, "body");
    stanza_add_text(b, o->send_body, strlen(o->send_body));
    int rc = client_send(p, m);
    stanza_unref(m);
    if (rc == 0)
        printf("sent to=%s from=%s\n", o->send_to,
               o->send_from ? o->send_from : client_jid(p));
    return rc;
}

static const char *
attr_or(const struct stanza *st, const char *name)
{
    const char *v = stanza_attr(st, name);
    return v ? v : "";
}

/* Print a message as one line; newlines in the body become spaces. */
static void
print_message(const struct stanza *st)
{
    const struct stanza *b = stanza_child(st, NS_CLIENT, "body");
    struct buf body;
    buf_init(&body, (size_t)1 << 20);
    if (b != NULL)
        (void)stanza_text_copy(b, &body);
    printf("from=%s to=%s body=", attr_or(st, "from"), attr_or(st, "to"));
    for (size_t i = 0; i < buf_len(&body); i++) {
        char ch = buf_ptr(&body)[i];
        putchar(ch == '\n' || ch == '\r' ? ' ' : ch);
    }
    putchar('\n');
    buf_fini(&body);
}

/* An IQ request: F5 gets its MUX-90 answer, anything else
 * service-unavailable. */
static int
handle_iq(struct client_conn *p, struct client_authz *a, struct stanza *st)
{
    const char *type = attr_or(st, "type");
    if (strcmp(type, "get") != 0 && strcmp(type, "set") != 0)
        return 0;
    bool ok = false;
    struct stanza *r = client_authz_answer(a, st, &ok);
    if (r != NULL)
        printf("authz=%s from=%s\n", ok ? "accepted" : "refused",
               attr_or(st, "from"));
    else
        r = stanza_error_reply(st, XC_SERVICE_UNAVAILABLE, NULL);
    int rc = client_send(p, r);
    stanza_unref(r);
    return rc;
}

static long long
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
listen_for(struct client_conn *p, struct client_authz *a, int seconds)
{
    long long deadline = now_ms() + (long long)seconds * 1000;
    for (long long left; (left = deadline - now_ms()) > 0;) {
        struct stanza *st = NULL;
        int rc = client_next(p, (int)left, &st);
        if (rc < 0)
            return rc;
        if (st == NULL)
            break;
        if (stanza_is(st, NS_CLIENT, "message"))
            print_message(st);
        else if (stanza_is(st, NS_CLIENT, "iq"))
            rc = handle_iq(p, a, st);
        stanza_unref(st);
        fflush(stdout);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int
run(const struct opts *o, struct buf *err)
{
    struct client_authz authz = {0};
    struct client_conn *p = NULL;
    int rc = login(o, o->jid, o->password, &p, err);
    if (rc == 0) {
        print_hosts(p);
        rc = client_bind(p, o->resource, err);
    }
    if (rc == 0) {
        printf("bound=%s\n", client_jid(p));
        rc = send_presence(p, NULL);
    }
    if (rc == 0)
        rc = join_all(o, p, &authz, err);
    if (rc == 0) {
        printf("connections=1 identities=%zu\n", client_identity_count(p));
        if (o->send_to != NULL)
            rc = send_message(o, p);
    }
    if (rc == 0) {
        printf("ready\n");
        fflush(stdout);
        rc = listen_for(p, &authz, o->listen_s);
        if (rc < 0)
            (void)buf_printf(err, "stream ended: %s", xerr_str(rc));
    }
    fflush(stdout);
    client_close(p);
    return rc;
}

int
main(int argc, char **argv)
{
    struct opts o;
    if (parse_args(&o, argc, argv) < 0) {
        usage(stderr);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct buf err;
    buf_init(&err, 4096);
    int rc = run(&o, &err);
    if (rc < 0)
        rc = fail("failed", &err);
    else
        printf("done\n");
    buf_fini(&err);
    return rc;
}
