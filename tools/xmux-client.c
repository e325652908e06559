/* SPDX-License-Identifier: MIT */
/* xmux-client.c -- command-line XMPP client: log in, join accounts, talk. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/err.h"
#include "client/client.h"
#include "jid/jid.h"
#include "sasl/sasl.h"
#include "stanza/stanza.h"

#define MAX_ALSO CLIENT_SECRETS_MAX
/* Resumptions after broken connections, at most, in one run. */
#define MAX_RESUMES 3
/* The pause between a simulated break and the resumption. */
#define DROP_PAUSE_MS 1000

/* A simulated break of the connection (for tests), around --send. */
enum drop {
    DROP_NONE,
    DROP_AFTER_SEND,  /* the message went out, then the TCP connection */
    DROP_BEFORE_SEND, /* the TCP connection first: the message is kept */
};

/* How one account logs in: a password (SASL mechanism mech, NULL for the
 * best offered) or a certificate (EXTERNAL). */
struct cred {
    const char *jid;
    const char *password;
    const char *cert;
    const char *key;
};

struct opts {
    struct client_cfg cfg;
    struct cred main;
    const char *mech;
    char mech_buf[32];
    const char *resource;
    struct cred also[MAX_ALSO];
    size_t nalso;
    bool mux;
    bool sm;
    enum drop drop;
    const char *send_to;
    const char *send_body;
    const char *send_from;
    int listen_s;
};

static void
usage(FILE *f)
{
    fputs("usage: xmux-client [--host ADDR --port N | --resolver ADDR[:PORT]]\n"
          "         [--direct-tls] (--ca FILE | --insecure)\n"
          "         --jid JID (--password PW [--mech NAME] | --cert FILE "
          "--key FILE)\n"
          "         [--resource R] [--mux] [--timeout SECONDS]\n"
          "         [--also JID2 (--also-password PW2 | --also-cert FILE "
          "--also-key FILE)]...\n"
          "         [--send TO BODY [--from JID]] [--listen SECONDS]\n"
          "         [--sm [--drop-after-send | --drop-before-send]]\n",
          f);
}

/* Bad usage: say why; the caller prints the usage and exits with 2. */
static int
bad(const char *why, const char *what)
{
    fprintf(stderr, "xmux-client: error: %s%s%s\n", why, what ? ": " : "",
            what ? what : "");
    return -1;
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
    OPT_DIRECT_TLS,
    OPT_RESOLVER,
    OPT_CA,
    OPT_INSECURE,
    OPT_JID,
    OPT_PASSWORD,
    OPT_MECH,
    OPT_RESOURCE,
    OPT_ALSO,
    OPT_ALSO_PW,
    OPT_ALSO_CERT,
    OPT_ALSO_KEY,
    OPT_CERT,
    OPT_KEY,
    OPT_MUX,
    OPT_SEND,
    OPT_FROM,
    OPT_LISTEN,
    OPT_TIMEOUT,
    OPT_SM,
    OPT_DROP_AFTER,
    OPT_DROP_BEFORE,
    OPT_HELP,
};

static const struct option longopts[] = {
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"direct-tls", no_argument, NULL, OPT_DIRECT_TLS},
    {"resolver", required_argument, NULL, OPT_RESOLVER},
    {"ca", required_argument, NULL, OPT_CA},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"jid", required_argument, NULL, OPT_JID},
    {"password", required_argument, NULL, OPT_PASSWORD},
    {"mech", required_argument, NULL, OPT_MECH},
    {"resource", required_argument, NULL, OPT_RESOURCE},
    {"also", required_argument, NULL, OPT_ALSO},
    {"also-password", required_argument, NULL, OPT_ALSO_PW},
    {"also-cert", required_argument, NULL, OPT_ALSO_CERT},
    {"also-key", required_argument, NULL, OPT_ALSO_KEY},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"mux", no_argument, NULL, OPT_MUX},
    {"send", required_argument, NULL, OPT_SEND},
    {"from", required_argument, NULL, OPT_FROM},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"sm", no_argument, NULL, OPT_SM},
    {"drop-after-send", no_argument, NULL, OPT_DROP_AFTER},
    {"drop-before-send", no_argument, NULL, OPT_DROP_BEFORE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* Where an --also-* option goes: the credential of the latest --also,
 * each given once. */
static int
parse_also(struct opts *o, int ch, const char *arg)
{
    if (ch == OPT_ALSO) {
        if (o->nalso == MAX_ALSO)
            return bad("too many --also accounts", NULL);
        o->also[o->nalso++].jid = arg;
        return 0;
    }
    if (o->nalso == 0)
        return bad("--also-password, --also-cert and --also-key follow "
                   "the --also JID they are for",
                   NULL);
    struct cred *a = &o->also[o->nalso - 1];
    const char **slot = ch == OPT_ALSO_PW     ? &a->password
                        : ch == OPT_ALSO_CERT ? &a->cert
                                              : &a->key;
    if (*slot != NULL)
        return bad("given twice for one --also", a->jid);
    *slot = arg;
    return 0;
}

/* --mech: a password mechanism this client knows, in upper case. */
static int
parse_mech(struct opts *o, const char *arg)
{
    size_t n = strlen(arg);
    if (n == 0 || n >= sizeof o->mech_buf)
        return bad("unknown --mech", arg);
    for (size_t i = 0; i <= n; i++)
        o->mech_buf[i] = (char)toupper((unsigned char)arg[i]);
    const char *one = o->mech_buf;
    o->mech = sasl_client_pick(&one, 1, true);
    if (o->mech == NULL)
        return bad("unknown --mech (SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, "
                   "SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN)",
                   arg);
    return 0;
}

/* One option with an argument of its own kind (numbers, lists). */
static int
parse_special(struct opts *o, int ch, const char *arg)
{
    long v = 0;
    switch (ch) {
    case OPT_PORT:
        v = num(arg, 1, 65535);
        o->cfg.port = (uint16_t)v;
        return v < 0 ? bad("--port takes 1..65535", arg) : 0;
    case OPT_LISTEN:
        o->listen_s = (int)(v = num(arg, 0, 86400));
        return v < 0 ? bad("--listen takes 0..86400 seconds", arg) : 0;
    case OPT_TIMEOUT:
        v = num(arg, 1, 3600);
        o->cfg.timeout_ms = (int)v * 1000;
        return v < 0 ? bad("--timeout takes 1..3600 seconds", arg) : 0;
    case OPT_MECH:
        return parse_mech(o, arg);
    case OPT_ALSO:
    case OPT_ALSO_PW:
    case OPT_ALSO_CERT:
    case OPT_ALSO_KEY:
        return parse_also(o, ch, arg);
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
    case OPT_RESOLVER:
        return &o->cfg.resolver;
    case OPT_CA:
        return &o->cfg.ca_file;
    case OPT_JID:
        return &o->main.jid;
    case OPT_PASSWORD:
        return &o->main.password;
    case OPT_RESOURCE:
        return &o->resource;
    case OPT_CERT:
        return &o->main.cert;
    case OPT_KEY:
        return &o->main.key;
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
    case OPT_DIRECT_TLS:
        o->cfg.direct_tls = true;
        return 0;
    case OPT_MUX:
        o->mux = true;
        return 0;
    case OPT_SM:
        o->sm = true;
        return 0;
    case OPT_DROP_AFTER:
    case OPT_DROP_BEFORE:
        o->drop = ch == OPT_DROP_AFTER ? DROP_AFTER_SEND : DROP_BEFORE_SEND;
        return 0;
    case OPT_SEND:
        if (optind >= argc)
            return bad("--send takes TO and BODY", NULL);
        o->send_to = optarg;
        o->send_body = argv[optind++];
        return 0;
    default:
        return parse_special(o, ch, optarg);
    }
}

/* One account's credentials: a password, or a certificate (and key). */
static int
check_cred(const struct cred *c, const char *pw_opt, const char *cert_opt)
{
    if (c->password != NULL && c->cert != NULL)
        return bad("give a password or a certificate, not both", c->jid);
    if (c->password == NULL && c->cert == NULL)
        return bad(pw_opt, c->jid);
    if (c->key != NULL && c->cert == NULL)
        return bad(cert_opt, c->jid);
    return 0;
}

/* The combinations that make sense. */
static int
check_args(struct opts *o)
{
    if (o->main.jid == NULL)
        return bad("--jid is required", NULL);
    if ((o->cfg.addr == NULL) != (o->cfg.port == 0))
        return bad("--host and --port go together (without both, DNS SRV "
                   "records say where to connect)",
                   NULL);
    if (o->cfg.addr != NULL && o->cfg.resolver != NULL)
        return bad("--resolver is for DNS lookups: not with --host", NULL);
    if (!o->cfg.ca_file && !o->cfg.insecure)
        return bad("give --ca FILE (or --insecure)", NULL);
    if (check_cred(&o->main, "--password or --cert is required",
                   "--key needs --cert") < 0)
        return -1;
    if (o->mech != NULL && o->main.password == NULL)
        return bad("--mech is for password logins (--cert uses EXTERNAL)",
                   NULL);
    if (o->drop != DROP_NONE && (!o->sm || o->send_to == NULL))
        return bad("--drop-after-send and --drop-before-send need --sm and "
                   "--send",
                   NULL);
    for (size_t i = 0; i < o->nalso; i++)
        if (check_cred(&o->also[i],
                       "--also needs --also-password or "
                       "--also-cert",
                       "--also-key needs --also-cert") < 0)
            return -1;
    o->cfg.cert_file = o->main.password ? NULL : o->main.cert;
    o->cfg.key_file = o->main.password ? NULL : o->main.key;
    return 0;
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
    if (optind != argc)
        return bad("unexpected argument", argv[optind]);
    return check_args(o);
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

/* The mechanism's name in lower case, for the auth= line. */
static void
print_auth(const struct client_conn *c, const char *jid, bool mux)
{
    const char *m = client_mech(c) ? client_mech(c) : "?";
    printf("auth=");
    for (; *m; m++)
        putchar(tolower((unsigned char)*m));
    printf(" jid=%s mux=%s\n", jid, mux ? "yes" : "no");
}

/* Connect with cfg and authenticate as cr->jid: the password with mech,
 * or EXTERNAL with the JID as the authorization identity (and <mux/>
 * first if mux). */
static int
login(const struct client_cfg *cfg,
      const struct cred *cr,
      const char *mech,
      bool mux,
      struct client_conn **out,
      struct buf *err)
{
    struct jid j = {0};
    int rc = split_jid(cr->jid, &j, err);
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
    jid_fini(&j);
    rc = client_connect(out, cfg, domain, err);
    if (rc < 0)
        return rc;
    printf("connected=%s tls=%s alpn=%s\n", client_peer(*out),
           client_direct(*out) ? "direct" : "starttls",
           client_alpn(*out) ? client_alpn(*out) : "-");
    bool muxed = cr->password == NULL && mux && client_offers_mux(*out);
    if (cr->password != NULL)
        rc = client_auth_password(*out, node, cr->password, mech, err);
    else
        rc = client_auth_external(*out, cr->jid, mux, err);
    if (rc == 0)
        print_auth(*out, cr->jid, muxed);
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
        const struct cred *cr = &o->also[i];
        /* S presents the --also certificate, if any; it outlives S. */
        struct client_cfg cfg = o->cfg;
        cfg.cert_file = cr->cert;
        cfg.key_file = cr->key;
        struct client_conn *s = NULL;
        int rc = login(&cfg, cr, NULL, false, &s, err);
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
    /* With resumption a message not written is kept and goes out after
     * the resumption. */
    if (rc == 0 || client_sm_resumable(p))
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

/* The state of stream management, once asked for. */
static void
print_sm(const struct client_conn *p)
{
    const struct client_sm *sm = client_sm_state(p);
    if (!client_sm_offered(p))
        printf("sm=not-offered\n");
    else if (!sm->enabled)
        printf("sm=failed\n");
    else
        printf("sm=enabled id=%s resume=%s max=%u\n", sm->resume ? sm->id : "-",
               sm->resume ? "yes" : "no", (unsigned)sm->max);
}

/* The connection broke: resume the session, or (the server no longer
 * has it) bind afresh and send presence again. */
static int
resume(struct client_conn *p, struct buf *err)
{
    struct client_sm_outcome out;
    int rc = client_sm_resume(p, &out, err);
    if (rc < 0)
        return rc;
    if (out.resumed) {
        printf("sm=resumed h=%u resent=%zu\n", (unsigned)out.h, out.resent);
        return 0;
    }
    printf("sm=resume-failed lost=%zu\nbound=%s\n", out.lost, client_jid(p));
    print_sm(p);
    return send_presence(p, NULL);
}

/* --send, and the simulated break around it (--drop-*-send): the
 * connection closes without </stream:stream>, and after a pause the
 * session is resumed. */
static int
send_and_drop(const struct opts *o, struct client_conn *p, struct buf *err)
{
    if (o->drop == DROP_BEFORE_SEND) {
        client_drop(p);
        printf("dropped\n");
    }
    int rc = send_message(o, p);
    if (o->drop == DROP_NONE)
        return rc;
    if (o->drop == DROP_AFTER_SEND && rc == 0) {
        client_drop(p);
        printf("dropped\n");
    }
    if (rc < 0 && !client_sm_resumable(p))
        return rc;
    fflush(stdout);
    struct timespec pause = {.tv_sec = DROP_PAUSE_MS / 1000,
                             .tv_nsec = (DROP_PAUSE_MS % 1000) * 1000000L};
    nanosleep(&pause, NULL);
    return resume(p, err);
}

/* One element while listening. */
static int
show(struct client_conn *p, struct client_authz *a, struct stanza *st)
{
    if (stanza_is(st, NS_CLIENT, "message"))
        print_message(st);
    else if (stanza_is(st, NS_CLIENT, "iq"))
        return handle_iq(p, a, st);
    else if (stanza_is(st, NS_SM, "a"))
        printf("sm-acked h=%s\n", attr_or(st, "h"));
    return 0;
}

static int
listen_for(struct client_conn *p,
           struct client_authz *a,
           int seconds,
           struct buf *err)
{
    long long deadline = now_ms() + (long long)seconds * 1000;
    int resumes = 0;
    for (long long left; (left = deadline - now_ms()) > 0;) {
        struct stanza *st = NULL;
        int rc = client_next(p, (int)left, &st);
        if (rc < 0 && client_sm_resumable(p) && resumes++ < MAX_RESUMES) {
            printf("connection lost: %s\n", xerr_str(rc));
            rc = resume(p, err);
            if (rc < 0)
                return rc;
            continue;
        }
        if (rc < 0) {
            (void)buf_printf(err, "stream ended: %s", xerr_str(rc));
            return rc;
        }
        if (st == NULL)
            break;
        rc = show(p, a, st);
        stanza_unref(st);
        fflush(stdout);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Before closing: everything sent should be acknowledged. */
static void
finish_sm(struct client_conn *p, int timeout_ms)
{
    const struct client_sm *sm = client_sm_state(p);
    if (!sm->enabled)
        return;
    if (client_sm_sync(p, timeout_ms) == 0)
        printf("sm-acked h=%u\n", (unsigned)sm->acked);
    else
        printf("sm-unacked n=%zu\n", client_sm_unacked(sm));
}

static int
run(const struct opts *o, struct buf *err)
{
    struct client_authz authz = {0};
    struct client_conn *p = NULL;
    int rc = login(&o->cfg, &o->main, o->mech, o->mux, &p, err);
    if (rc == 0) {
        print_hosts(p);
        rc = client_bind(p, o->resource, err);
    }
    if (rc == 0)
        printf("bound=%s\n", client_jid(p));
    if (rc == 0 && o->sm) {
        rc = client_sm_enable(p, true, err);
        if (rc == 0)
            print_sm(p);
    }
    if (rc == 0)
        rc = send_presence(p, NULL);
    if (rc == 0)
        rc = join_all(o, p, &authz, err);
    if (rc == 0) {
        printf("connections=1 identities=%zu\n", client_identity_count(p));
        if (o->send_to != NULL)
            rc = send_and_drop(o, p, err);
    }
    if (rc == 0) {
        printf("ready\n");
        fflush(stdout);
        rc = listen_for(p, &authz, o->listen_s, err);
    }
    if (rc == 0)
        finish_sm(p, o->cfg.timeout_ms);
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
