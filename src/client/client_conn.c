/* SPDX-License-Identifier: MIT */
/* client_conn.c -- the client's socket, TLS pumping, parser and queue. */
#include "client/client_int.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/alloc.h"
#include "base/err.h"
#include "io/resolve.h"

/* Plaintext kept unparsed, and ciphertext queued for the network. */
#define CLIENT_IN_MAX  ((size_t)1 << 20)
#define CLIENT_OUT_MAX ((size_t)1 << 20)

static const struct xml_limits client_limits = {
    .max_depth = 64,
    .max_attrs = 64,
    .max_name = 1024,
    .max_text = (size_t)1 << 20,
    .max_stanza = (size_t)1 << 20,
};

long long
client__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- parser callbacks ---------------------------------------------------- */

static int
client_on_open(void *arg,
               const struct xml_name *el,
               const struct xml_attr *attrs,
               size_t nattrs,
               const struct xml_nsdecl *decls,
               size_t ndecls)
{
    (void)attrs;
    (void)nattrs;
    (void)decls;
    (void)ndecls;
    struct client_conn *c = arg;
    if (strcmp(el->ns, XML_NS_STREAM) != 0 || strcmp(el->local, "stream") != 0)
        return XE_PROTO;
    c->header_seen = true;
    return 0;
}

static int
client_on_start(void *arg,
                unsigned depth,
                const struct xml_name *el,
                const struct xml_attr *attrs,
                size_t nattrs)
{
    struct client_conn *c = arg;
    stanza_builder_start(&c->builder, depth, el, attrs, nattrs);
    return 0;
}

static int
client_on_text(void *arg, unsigned depth, const char *s, size_t len)
{
    struct client_conn *c = arg;
    stanza_builder_text(&c->builder, depth, s, len);
    return 0;
}

/* A whole element: count it or, for stream management, act on it, and
 * queue it. <proceed/> and <success/> end the current parse, because a
 * new stream (or TLS) follows them. */
static int
client_on_end(void *arg, unsigned depth)
{
    struct client_conn *c = arg;
    struct stanza *st = stanza_builder_end(&c->builder, depth);
    if (st == NULL)
        return 0;
    int keep = 1;
    if (stanza_is(st, NS_SM, NULL))
        keep = client__sm_element(c, st);
    else
        client_sm_received(&c->sm, st);
    if (keep <= 0) {
        stanza_unref(st);
        return keep;
    }
    if (c->nqueue == CLIENT_QUEUE_MAX) {
        stanza_unref(st);
        return XE_LIMIT;
    }
    c->queue[c->nqueue++] = st;
    if (stanza_is(st, NS_TLS, "proceed") || stanza_is(st, NS_SASL, "success"))
        xml_reader_stop(c->reader);
    return 0;
}

static int
client_on_close(void *arg)
{
    struct client_conn *c = arg;
    c->closed = true;
    c->ended = true;
    return 0;
}

static const struct xml_handler client_handler = {
    .stream_open = client_on_open,
    .start = client_on_start,
    .text = client_on_text,
    .end = client_on_end,
    .stream_close = client_on_close,
};

/* --- raw I/O -------------------------------------------------------------- */

static int
client_send_all(struct client_conn *c, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Send the ciphertext TLS has queued. */
static int
client_flush_tls(struct client_conn *c)
{
    struct buf *out = tls_conn_out(c->tls);
    int rc = client_send_all(c, buf_ptr(out), buf_len(out));
    buf_consume(out, buf_len(out));
    return rc;
}

int
client__write(struct client_conn *c, const char *p, size_t len)
{
    if (c->fd < 0)
        return XE_CLOSED;
    int rc = c->tls == NULL ? client_send_all(c, p, len)
                            : tls_conn_write(c->tls, p, len);
    if (rc == 0 && c->tls != NULL)
        rc = client_flush_tls(c);
    if (rc < 0 && rc != XE_LIMIT)
        c->lost = true;
    return rc;
}

/* Ciphertext in: drive TLS, send what it answers, keep the plaintext. */
static int
client_take_tls(struct client_conn *c, const char *p, size_t len)
{
    int rc = tls_conn_feed(c->tls, p, len);
    int frc = client_flush_tls(c);
    if (rc < 0)
        return rc;
    if (frc < 0)
        return frc;
    char plain[16384];
    size_t n = 0;
    do {
        rc = tls_conn_read(c->tls, plain, sizeof plain, &n);
        if (rc == XE_CLOSED) {
            c->closed = true;
            c->lost = !c->ended;
            return 0;
        }
        if (rc < 0)
            return rc;
        rc = buf_append(&c->in, plain, n);
        if (rc < 0)
            return rc;
    } while (n > 0);
    return 0;
}

/* Parse what is buffered (unless a restart is due). */
static int
client_parse(struct client_conn *c)
{
    if (buf_len(&c->in) == 0 || c->failed)
        return c->failed;
    size_t used = 0;
    int rc =
        xml_reader_feed(c->reader, buf_ptr(&c->in), buf_len(&c->in), &used);
    buf_consume(&c->in, used);
    if (rc < 0)
        c->failed = rc;
    return rc;
}

/* Wait until the socket is readable or the deadline passes, then read
 * once. Returns 1 if bytes came, 0 on timeout, or an error. */
static int
client_read_once(struct client_conn *c, long long deadline)
{
    long long left = deadline - client__now_ms();
    if (left <= 0)
        return 0;
    if (c->fd < 0)
        return XE_CLOSED;
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    int pr = poll(&pfd, 1, (int)left);
    if (pr < 0)
        return errno == EINTR ? 1 : -errno;
    if (pr == 0)
        return 0;
    char raw[16384];
    ssize_t n = recv(c->fd, raw, sizeof raw, 0);
    if (n < 0 && errno == EINTR)
        return 1;
    if (n <= 0) {
        /* The server went away without </stream:stream>. */
        c->closed = true;
        c->lost = !c->ended;
        return n == 0 ? XE_CLOSED : -errno;
    }
    int rc = c->tls ? client_take_tls(c, raw, (size_t)n)
                    : buf_append(&c->in, raw, (size_t)n);
    return rc < 0 ? rc : 1;
}

int
client__wait_for(struct client_conn *c,
                 bool (*match)(const struct stanza *, const void *),
                 const void *arg,
                 int timeout_ms,
                 struct stanza **out)
{
    *out = NULL;
    long long deadline = client__now_ms() + timeout_ms;
    for (;;) {
        for (size_t i = 0; i < c->nqueue; i++) {
            if (match != NULL && !match(c->queue[i], arg))
                continue;
            *out = c->queue[i];
            c->nqueue--;
            for (size_t k = i; k < c->nqueue; k++)
                c->queue[k] = c->queue[k + 1];
            return 0;
        }
        if (c->failed)
            return c->failed;
        if (c->closed)
            return XE_CLOSED;
        int rc = client_read_once(c, deadline);
        if (rc <= 0)
            return rc;
        rc = client_parse(c);
        if (rc < 0)
            return rc;
    }
}

int
client_next(struct client_conn *c, int timeout_ms, struct stanza **out)
{
    return client__wait_for(c, NULL, NULL, timeout_ms, out);
}

bool
client_closed(const struct client_conn *c)
{
    return c->closed;
}

int
client__expect(struct client_conn *c,
               const char *ns,
               const char *name,
               struct stanza **out,
               struct buf *err)
{
    int rc = client_next(c, c->cfg->timeout_ms, out);
    if (rc < 0) {
        (void)buf_printf(err, "waiting for <%s/> from %s: %s", name, c->domain,
                         xerr_str(rc));
        return rc;
    }
    if (*out == NULL) {
        (void)buf_printf(err, "no <%s/> from %s within %d ms", name, c->domain,
                         c->cfg->timeout_ms);
        return XE_PROTO;
    }
    if (!stanza_is(*out, ns, name)) {
        (void)buf_printf(err, "expected <%s/> from %s, got <%s/>", name,
                         c->domain, stanza_name(*out));
        stanza_unref(*out);
        *out = NULL;
        return XE_PROTO;
    }
    return 0;
}

int
client__open_stream(struct client_conn *c)
{
    xml_reader_reset(c->reader);
    stanza_builder_fini(&c->builder);
    stanza_builder_init(&c->builder);
    c->header_seen = false;
    struct buf h;
    buf_init(&h, 4096);
    (void)buf_appendz(&h, "<stream:stream xmlns='jabber:client' "
                          "xmlns:stream='" XML_NS_STREAM "' to='");
    (void)xml_escape_attr(&h, c->domain, strlen(c->domain));
    (void)buf_appendz(&h, "' version='1.0' xml:lang='en'>");
    int rc = client__write(c, buf_ptr(&h), buf_len(&h));
    buf_fini(&h);
    return rc;
}

/* --- connection ----------------------------------------------------------- */

/* TCP to addr:port (a name or a numeric address); the first address that
 * answers wins. Returns the socket or an error with err set. */
static int
client_tcp(const char *addr, uint16_t port, struct buf *err)
{
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(addr, portstr, &hints, &res);
    if (gai != 0) {
        (void)buf_printf(err, "resolve %s: %s", addr, gai_strerror(gai));
        return XE_IO;
    }
    int fd = -1;
    int why = ECONNREFUSED;
    for (const struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            why = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        (void)buf_printf(err, "connect %s port %u: %s", addr, (unsigned)port,
                         strerror(why));
        return -why;
    }
    return fd;
}

void
client__add_identity(struct client_conn *c, const char *jid)
{
    if (c->nids < CLIENT_IDS_MAX)
        c->ids[c->nids++] = x_strdup(jid);
}

void
client__id(struct client_conn *c, char *out, size_t len)
{
    snprintf(out, len, "xc%u", ++c->next_id);
}

/* Free without saying goodbye. */
static void
client_free(struct client_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    for (size_t i = 0; i < c->nqueue; i++)
        stanza_unref(c->queue[i]);
    for (size_t i = 0; i < c->nids; i++)
        x_free(c->ids[i]);
    for (size_t i = 0; i < c->nhosts; i++)
        x_free(c->hosts[i]);
    stanza_unref(c->features);
    stanza_builder_fini(&c->builder);
    xml_reader_free(c->reader);
    tls_conn_free(c->tls);
    tls_ctx_free(c->tls_ctx);
    buf_fini(&c->in);
    x_free(c->domain);
    x_free(c->account);
    x_free(c->auth_user);
    if (c->auth_password != NULL)
        OPENSSL_cleanse(c->auth_password, strlen(c->auth_password));
    x_free(c->auth_password);
    x_free(c->auth_authzid);
    client_sm_fini(&c->sm);
    x_free(c);
}

static int client_starttls(struct client_conn *c, struct buf *err);
static int client_direct_tls(struct client_conn *c, struct buf *err);

/* TCP to c->target, then Direct TLS or STARTTLS, up to the features of
 * the encrypted stream. */
static int
client_open(struct client_conn *c, struct buf *err)
{
    int fd = client_tcp(c->target.addr, c->target.port, err);
    if (fd < 0)
        return fd;
    c->fd = fd;
    return c->direct ? client_direct_tls(c, err) : client_starttls(c, err);
}

int
client__reopen(struct client_conn *c, struct buf *err)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    tls_conn_free(c->tls);
    c->tls = NULL;
    tls_ctx_free(c->tls_ctx);
    c->tls_ctx = NULL;
    buf_reset(&c->in);
    stanza_unref(c->features);
    c->features = NULL;
    for (size_t i = 0; i < c->nhosts; i++)
        x_free(c->hosts[i]);
    c->nhosts = 0;
    c->closed = c->ended = c->lost = c->closing = false;
    c->failed = 0;
    c->header_seen = false;
    return client_open(c, err);
}

/* One attempt: a new connection to t. */
static int
client_try(struct client_conn **out,
           const struct client_cfg *cfg,
           const char *domain,
           const struct resolve_target *t,
           struct buf *err)
{
    size_t mark = buf_len(err);
    struct client_conn *c = x_calloc(1, sizeof *c);
    c->fd = -1;
    c->cfg = cfg;
    c->domain = x_strdup(domain);
    c->target = *t;
    c->direct = t->direct_tls;
    snprintf(c->peer, sizeof c->peer, "%s%s%s:%u",
             t->family == AF_INET6 ? "[" : "", t->addr,
             t->family == AF_INET6 ? "]" : "", (unsigned)t->port);
    buf_init(&c->in, CLIENT_IN_MAX);
    stanza_builder_init(&c->builder);
    c->reader = xml_reader_new(&client_limits, &client_handler, c);
    int rc = client_open(c, err);
    if (rc < 0) {
        if (buf_len(err) == mark)
            (void)buf_printf(err, "%s: %s", domain, xerr_str(rc));
        client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* The targets to try: the given address, or what DNS says (only Direct
 * TLS ones when the configuration asks for Direct TLS). */
static int
client_targets(const struct client_cfg *cfg,
               const char *domain,
               struct resolve_target *v,
               size_t *n,
               struct buf *err)
{
    *n = 0;
    if (cfg->addr != NULL) {
        memset(v, 0, sizeof *v);
        snprintf(v->addr, sizeof v->addr, "%s", cfg->addr);
        v->port = cfg->port;
        v->direct_tls = cfg->direct_tls;
        *n = 1;
        return 0;
    }
    size_t got = 0;
    int rc = client__resolve(cfg, domain, v, RESOLVE_MAX_TARGETS, &got, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < got; i++)
        if (v[i].direct_tls || !cfg->direct_tls)
            v[(*n)++] = v[i];
    if (*n == 0) {
        (void)buf_printf(err,
                         "%s: no Direct TLS service in DNS "
                         "(_xmpps-client._tcp)",
                         domain);
        return XE_NOTFOUND;
    }
    return 0;
}

int
client_connect(struct client_conn **out,
               const struct client_cfg *cfg,
               const char *domain,
               struct buf *err)
{
    *out = NULL;
    struct resolve_target v[RESOLVE_MAX_TARGETS];
    size_t n = 0;
    int rc = client_targets(cfg, domain, v, &n, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        /* RFC 6120 §3.2.1: on failure, the next target; the message
         * keeps every attempt. */
        if (n > 1)
            (void)buf_printf(err, "%s%s port %u (%s): ", i > 0 ? "; " : "",
                             v[i].addr, (unsigned)v[i].port,
                             v[i].direct_tls ? "direct TLS" : "STARTTLS");
        rc = client_try(out, cfg, domain, &v[i], err);
        if (rc == 0) {
            buf_reset(err);
            return 0;
        }
    }
    return rc;
}

void
client_close(struct client_conn *c)
{
    if (c == NULL)
        return;
    static const char end[] = "</stream:stream>";
    /* XEP-0198 §4: an unasked <a/> tells the server that everything it
     * sent arrived, so that it routes nothing again. */
    if (c->failed == 0 && c->fd >= 0 && c->sm.enabled)
        (void)client__sm_send_a(c);
    if (c->failed == 0 && c->fd >= 0 &&
        client__write(c, end, sizeof end - 1) == 0) {
        c->closing = true;
        if (!c->closed) {
            struct stanza *st = NULL;
            long long deadline = client__now_ms() + c->cfg->timeout_ms;
            while (!c->closed && client__now_ms() < deadline &&
                   client_next(c, 200, &st) == 0)
                stanza_unref(st);
        }
    }
    if (c->tls != NULL && c->fd >= 0) {
        tls_conn_close(c->tls);
        (void)client_flush_tls(c);
    }
    client_free(c);
}

/* --- STARTTLS ------------------------------------------------------------- */

/* Load the trust anchors and, for EXTERNAL, our certificate (as the only
 * "host" of the context, named "client"). */
static int
client_tls_ctx(struct client_conn *c, struct buf *err)
{
    c->tls_ctx = tls_ctx_new(c->cfg->ca_file, err);
    if (c->tls_ctx == NULL)
        return XE_TLS;
    if (c->cfg->cert_file == NULL)
        return 0;
    const char *key = c->cfg->key_file ? c->cfg->key_file : c->cfg->cert_file;
    return tls_ctx_add_host(c->tls_ctx, "client", c->cfg->cert_file, key, err);
}

/* The server certificate must chain to ca_file and name the domain. */
static int
client_tls_check(struct client_conn *c, struct buf *err)
{
    if (c->cfg->insecure)
        return 0;
    const struct tls_peer *p = tls_conn_peer(c->tls);
    if (!p->present || !p->verified) {
        (void)buf_printf(
            err, "%s: server certificate not trusted: %s", c->domain,
            p->present ? tls_verify_error_str(p->verify_error) : "none sent");
        return XE_TLS;
    }
    struct tls_identities ids;
    memset(&ids, 0, sizeof ids);
    bool ok = tls_conn_peer_identities(c->tls, 64, &ids) == 0 &&
              tls_identities_cover(&ids, c->domain, TLS_MATCH_C2S);
    tls_identities_fini(&ids);
    if (!ok) {
        (void)buf_printf(err, "%s: server certificate does not name it",
                         c->domain);
        return XE_TLS;
    }
    return 0;
}

/* Read until the handshake completes. */
static int
client_handshake(struct client_conn *c, struct buf *err)
{
    long long deadline = client__now_ms() + c->cfg->timeout_ms;
    int rc = client_flush_tls(c);
    while (rc >= 0 && !tls_conn_ready(c->tls)) {
        rc = client_read_once(c, deadline);
        if (rc == 0)
            rc = XE_TLS;
    }
    if (rc < 0) {
        const char *why = tls_conn_error(c->tls);
        (void)buf_printf(err, "%s: TLS handshake: %s", c->domain,
                         why[0] ? why : xerr_str(rc));
        return rc;
    }
    return client_tls_check(c, err);
}

/* TLS from here on: SNI (and the name checked) is the domain, alpn is
 * offered if not NULL; then the stream (re)opens and its features come. */
static int
client_tls_up(struct client_conn *c, const char *alpn, struct buf *err)
{
    int rc = client_tls_ctx(c, err);
    if (rc < 0)
        return rc;
    c->tls =
        tls_conn_new(c->tls_ctx, TLS_CLIENT, c->domain, alpn, CLIENT_OUT_MAX);
    if (c->tls == NULL)
        return XE_TLS;
    if (c->cfg->cert_file != NULL &&
        tls_conn_set_client_cert(c->tls, "client") < 0)
        return XE_TLS;
    rc = client_handshake(c, err);
    if (rc == 0)
        rc = client__open_stream(c);
    if (rc == 0)
        rc = client__expect(c, XML_NS_STREAM, "features", &c->features, err);
    return rc;
}

static int
client_starttls(struct client_conn *c, struct buf *err)
{
    int rc = client__open_stream(c);
    struct stanza *f = NULL;
    if (rc == 0)
        rc = client__expect(c, XML_NS_STREAM, "features", &f, err);
    if (rc < 0)
        return rc;
    bool offered = stanza_child(f, NS_TLS, "starttls") != NULL;
    stanza_unref(f);
    if (!offered) {
        (void)buf_printf(err, "%s: STARTTLS not offered", c->domain);
        return XE_PROTO;
    }
    static const char req[] = "<starttls xmlns='" NS_TLS "'/>";
    rc = client__write(c, req, sizeof req - 1);
    if (rc == 0)
        rc = client__expect(c, NS_TLS, "proceed", &f, err);
    if (rc < 0)
        return rc;
    stanza_unref(f);
    return client_tls_up(c, NULL, err);
}

/* XEP-0368: TLS from the first byte, ALPN xmpp-client. */
static int
client_direct_tls(struct client_conn *c, struct buf *err)
{
    return client_tls_up(c, CLIENT_ALPN, err);
}

void
client_drop(struct client_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->closed = true;
    c->lost = !c->ended;
}

const char *
client_peer(const struct client_conn *c)
{
    return c->peer;
}

bool
client_direct(const struct client_conn *c)
{
    return c->direct;
}

const char *
client_alpn(const struct client_conn *c)
{
    return c->tls != NULL ? tls_conn_alpn(c->tls) : NULL;
}
