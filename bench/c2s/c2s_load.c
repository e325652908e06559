/* SPDX-License-Identifier: MIT */
/* c2s_load.c -- XMPP client load: logins, message rate, latency, idle.
 *
 * The message modes can also measure server-to-server delivery: the
 * sender logs in to one server (--host, --port, --domain) and the
 * receiver to another (--rhost, --rport, --rdomain), which must then
 * route the messages between them. Mode mesh sends from every domain of
 * one server to every domain of another and back (the caller counts the
 * s2s connections that takes). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "load_util.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

/* Bytes a connection buffers while negotiating: features, SASL data and
 * the bind result are far smaller. */
#define IN_CAP 8192
/* One TLS record's worth of stanzas per SSL_write in the message modes. */
#define OUT_CAP   16384
#define BATCH_MAX 96
#define SHA1_LEN  20
/* Message body filler: with the time stamp, a body of about 100 bytes. */
#define FILLER                                                   \
    "All the world's a stage, and all the men and women merely " \
    "players: they have their exits."

/* Command-line settings; read-only once parsed. A global because every
 * thread of this short-lived tool reads them. */
static struct opts {
    const char *mode, *host, *domain, *prefix, *password, *mech, *label;
    const char *rhost, *rdomain, *steps;
    unsigned long port, pid, rport, rpid, parallel, count, window, first,
        accounts, warmup, rss_cap_kib, pairs;
    double duration, hold, timeout, flow_timeout, settle;
} opt = {
    .host = "127.0.0.2",
    .domain = "bench.example",
    .prefix = "u",
    .password = "benchpw",
    .mech = "PLAIN",
    .label = "server",
    .port = 5222,
    .parallel = 20,
    .count = 0,
    .window = 1000,
    .pairs = 1,
    .first = 1,
    .accounts = 0,
    .duration = 8,
    .hold = 0,
    .timeout = 10,
    .flow_timeout = 30,
    .settle = 2,
};

/* Where a connection goes: the sender's server, or the receiver's when it
 * is another one. Set from opt once it is parsed. */
struct target {
    const char *host, *domain;
    unsigned long port;
};

static struct target tg_send, tg_recv;

/* The client TLS context, shared by all threads (OpenSSL allows this). */
static SSL_CTX *tls_ctx;

struct xconn {
    const struct target *tg;
    int fd;
    SSL *ssl;
    bool scram_offered;
    size_t len;      /* bytes in in[], which is kept NUL-terminated */
    char in[IN_CAP]; /* received and not yet consumed */
    char jid[256];   /* full JID after resource binding */
};

/* A client keeps SaltedPassword for its account, as real clients do, so
 * that PBKDF2 runs once per salt and iteration count, not per login. */
struct scram_cache {
    char salt[128];
    unsigned long iter;
    unsigned char sp[SHA1_LEN];
};


static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}



/* CPU seconds of the receiver's server (--rpid) when it is another
 * process than the sender's, else 0; -1 when it cannot be read. */
static double
rserver_cpu_s(void)
{
    if (opt.rpid == 0 || opt.rpid == opt.pid)
        return 0;
    return pid_cpu_s(opt.rpid);
}

/* CPU seconds of the server under test: both servers' when sender and
 * receiver use two (--pid and --rpid); -1 when one cannot be read. */
static double
server_cpu_s(void)
{
    double a = pid_cpu_s(opt.pid), b = rserver_cpu_s();
    return a < 0 || b < 0 ? -1 : a + b;
}

/* VmRSS of the server in KiB, or -1. */
static long
server_rss_kib(void)
{
    if (opt.pid == 0)
        return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%lu/status", opt.pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}

static unsigned long
min_ul(unsigned long a, unsigned long b)
{
    return a < b ? a : b;
}

static void
sleep_s(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s,
                          .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    int r;
    do {
        r = nanosleep(&ts, &ts);
    } while (r != 0 && errno == EINTR);
}

static size_t
b64_enc(const unsigned char *in, size_t n, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* Decodes n base64 characters into out (cap bytes, NUL-terminated);
 * returns the decoded length or -1. */
static long
b64_dec(const char *in, size_t n, unsigned char *out, size_t cap)
{
    if (n % 4 != 0 || n / 4 * 3 + 1 > cap)
        return -1;
    int r = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
    if (r < 0)
        return -1;
    if (n > 0 && in[n - 1] == '=')
        r--;
    if (n > 1 && in[n - 2] == '=')
        r--;
    out[r] = '\0';
    return r;
}

/* ---- one client connection, blocking ---------------------------------- */

static void
xc_init(struct xconn *c, const struct target *tg)
{
    c->tg = tg;
    c->fd = -1;
    c->ssl = NULL;
    c->len = 0;
    c->in[0] = '\0';
    c->jid[0] = '\0';
}

static void
xc_free(struct xconn *c)
{
    SSL_free(c->ssl);
    if (c->fd >= 0)
        close(c->fd);
    xc_init(c, c->tg);
}

static int
xc_open(struct xconn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)c->tg->port)};
    if (inet_pton(AF_INET, c->tg->host, &sa.sin_addr) != 1)
        return -1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    struct timeval tv = {.tv_sec = (time_t)opt.timeout};
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return connect(c->fd, (struct sockaddr *)&sa, sizeof sa);
}

static int
xc_send(struct xconn *c, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = c->ssl ? SSL_write(c->ssl, p, (int)n)
                           : send(c->fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int
xc_sendz(struct xconn *c, const char *s)
{
    return xc_send(c, s, strlen(s));
}

/* Reads once more into c->in; -1 on EOF, error, timeout or a full buffer. */
static int
xc_fill(struct xconn *c)
{
    size_t room = sizeof c->in - 1 - c->len;
    if (room == 0)
        return -1;
    ssize_t n = c->ssl ? SSL_read(c->ssl, c->in + c->len, (int)room)
                       : recv(c->fd, c->in + c->len, room, 0);
    if (n <= 0)
        return -1;
    c->len += (size_t)n;
    c->in[c->len] = '\0';
    return 0;
}

static void
xc_consume(struct xconn *c, size_t n)
{
    memmove(c->in, c->in + n, c->len - n + 1);
    c->len -= n;
}

/* Finds the complete element opened by open ("<name") and closed by close
 * ("</name>") or "/>"; sets its text and returns the offset past it, or
 * 0 if it is not all there yet. */
static size_t
elem_find(const char *buf,
          const char *open,
          const char *close,
          const char **text,
          size_t *tlen)
{
    size_t ol = strlen(open);
    const char *s = strstr(buf, open);
    while (s && s[ol] != '\0' && strchr(" />", s[ol]) == NULL)
        s = strstr(s + ol, open);
    const char *gt = s ? strchr(s, '>') : NULL;
    if (gt == NULL)
        return 0;
    if (gt[-1] == '/') {
        *text = gt;
        *tlen = 0;
        return (size_t)(gt + 1 - buf);
    }
    const char *e = strstr(gt + 1, close);
    if (e == NULL)
        return 0;
    *text = gt + 1;
    *tlen = (size_t)(e - gt - 1);
    return (size_t)(e + strlen(close) - buf);
}

/* Waits until element name is complete in c->in and returns the offset
 * just past it (its text in *text, *tlen, pointing into c->in); -1 on a
 * <failure/>, a stream error, EOF, a timeout or a full buffer. */
static long
xc_elem(struct xconn *c, const char *name, const char **text, size_t *tlen)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s", name);
    snprintf(close, sizeof close, "</%s>", name);
    for (;;) {
        size_t end = elem_find(c->in, open, close, text, tlen);
        if (end > 0)
            return (long)end;
        if (strstr(c->in, "<failure") || strstr(c->in, "<stream:error"))
            return -1;
        if (xc_fill(c) != 0)
            return -1;
    }
}

/* Sends a stream header and waits for the stream features. */
static int
xc_stream(struct xconn *c)
{
    char h[512];
    int n = snprintf(h, sizeof h,
                     "<?xml version='1.0'?><stream:stream "
                     "xmlns='jabber:client' "
                     "xmlns:stream='http://etherx.jabber.org/streams' "
                     "to='%s' version='1.0'>",
                     c->tg->domain);
    if (xc_send(c, h, (size_t)n) != 0)
        return -1;
    const char *t;
    size_t tl;
    long end = xc_elem(c, "stream:features", &t, &tl);
    if (end < 0)
        return -1;
    c->scram_offered = memmem(t, tl, ">SCRAM-SHA-1<", 13) != NULL;
    xc_consume(c, (size_t)end);
    return 0;
}

static int
xc_starttls(struct xconn *c)
{
    if (xc_sendz(c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"))
        return -1;
    const char *t;
    size_t tl;
    long end = xc_elem(c, "proceed", &t, &tl);
    if (end < 0 || (size_t)end != c->len)
        return -1;
    xc_consume(c, (size_t)end);
    c->ssl = SSL_new(tls_ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
        SSL_set_tlsext_host_name(c->ssl, c->tg->domain) != 1)
        return -1;
    return SSL_connect(c->ssl) == 1 ? 0 : -1;
}

/* Sends <auth/> with the initial response ir (raw bytes). */
static int
xc_auth(struct xconn *c, const char *mech, const char *ir, size_t n)
{
    char buf[1024];
    char b64[700];
    if (n > 500)
        return -1;
    b64_enc((const unsigned char *)ir, n, b64);
    int len = snprintf(buf, sizeof buf,
                       "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                       "mechanism='%s'>%s</auth>",
                       mech, b64);
    return xc_send(c, buf, (size_t)len);
}

static int
xc_plain(struct xconn *c, const char *user)
{
    char ir[256];
    int n = snprintf(ir, sizeof ir, "%c%s%c%s", 0, user, 0, opt.password);
    if (n < 0 || (size_t)n >= sizeof ir || xc_auth(c, "PLAIN", ir, (size_t)n))
        return -1;
    const char *t;
    size_t tl;
    long end = xc_elem(c, "success", &t, &tl);
    if (end < 0)
        return -1;
    xc_consume(c, (size_t)end);
    return 0;
}

/* ---- SCRAM-SHA-1 (RFC 5802), client side ------------------------------ */

struct scram {
    char cnonce[32];
    char bare[160];   /* client-first-message-bare */
    char sfirst[512]; /* server-first-message */
    const char *nonce, *salt;
    size_t nonce_len, salt_len;
    unsigned long iter;
    char auth_msg[1024];
    unsigned char sp[SHA1_LEN];
};

/* Splits the server-first-message "r=...,s=...,i=..." (other attributes
 * are ignored) and checks that the nonce extends ours. */
static int
scram_parse(struct scram *s)
{
    for (const char *p = s->sfirst; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 2 && p[0] == 'r' && p[1] == '=') {
            s->nonce = p + 2;
            s->nonce_len = n - 2;
        } else if (n > 2 && p[0] == 's' && p[1] == '=') {
            s->salt = p + 2;
            s->salt_len = n - 2;
        } else if (n > 2 && p[0] == 'i' && p[1] == '=') {
            s->iter = strtoul(p + 2, NULL, 10);
        }
        p += n + (e != NULL);
    }
    size_t cl = strlen(s->cnonce);
    if (s->nonce == NULL || s->salt == NULL || s->iter == 0 ||
        s->iter > 1000000 || s->nonce_len <= cl ||
        memcmp(s->nonce, s->cnonce, cl) != 0 || s->salt_len >= 128)
        return -1;
    return 0;
}

/* SaltedPassword from the cache, or PBKDF2 (and then cached). */
static int
scram_salted(struct scram *s, struct scram_cache *cache)
{
    if (cache->iter == s->iter && strlen(cache->salt) == s->salt_len &&
        memcmp(cache->salt, s->salt, s->salt_len) == 0) {
        memcpy(s->sp, cache->sp, SHA1_LEN);
        return 0;
    }
    unsigned char salt[128];
    long sl = b64_dec(s->salt, s->salt_len, salt, sizeof salt);
    if (sl <= 0 ||
        PKCS5_PBKDF2_HMAC_SHA1(opt.password, (int)strlen(opt.password), salt,
                               (int)sl, (int)s->iter, SHA1_LEN, s->sp) != 1)
        return -1;
    memcpy(cache->salt, s->salt, s->salt_len);
    cache->salt[s->salt_len] = '\0';
    cache->iter = s->iter;
    memcpy(cache->sp, s->sp, SHA1_LEN);
    return 0;
}

static void
hmac_sha1(const unsigned char *key,
          const void *data,
          size_t n,
          unsigned char *out)
{
    (void)HMAC(EVP_sha1(), key, SHA1_LEN, data, n, out, NULL);
}

/* Builds client-final-message into out (with the proof). */
static int
scram_final(struct scram *s, char *out, size_t cap)
{
    char wo[300];
    int wl =
        snprintf(wo, sizeof wo, "c=biws,r=%.*s", (int)s->nonce_len, s->nonce);
    int al = snprintf(s->auth_msg, sizeof s->auth_msg, "%s,%s,%s", s->bare,
                      s->sfirst, wo);
    if (wl < 0 || (size_t)wl >= sizeof wo || al < 0 ||
        (size_t)al >= sizeof s->auth_msg)
        return -1;
    unsigned char ck[SHA1_LEN], stored[SHA1_LEN], sig[SHA1_LEN];
    hmac_sha1(s->sp, "Client Key", 10, ck);
    if (EVP_Digest(ck, SHA1_LEN, stored, NULL, EVP_sha1(), NULL) != 1)
        return -1;
    hmac_sha1(stored, s->auth_msg, (size_t)al, sig);
    for (size_t i = 0; i < SHA1_LEN; i++)
        ck[i] ^= sig[i];
    char proof[32];
    b64_enc(ck, SHA1_LEN, proof);
    int n = snprintf(out, cap, "%s,p=%s", wo, proof);
    return n > 0 && (size_t)n < cap ? n : -1;
}

/* Checks the server signature "v=..." carried by <success/>. */
static int
scram_verify(const struct scram *s, const char *t, size_t tl)
{
    unsigned char sfinal[128], skey[SHA1_LEN], ssig[SHA1_LEN];
    char want[40];
    if (b64_dec(t, tl, sfinal, sizeof sfinal) < 0)
        return -1;
    hmac_sha1(s->sp, "Server Key", 10, skey);
    hmac_sha1(skey, s->auth_msg, strlen(s->auth_msg), ssig);
    b64_enc(ssig, SHA1_LEN, want);
    const char *v = (const char *)sfinal;
    return strncmp(v, "v=", 2) == 0 && strcmp(v + 2, want) == 0 ? 0 : -1;
}

/* Sends the client-final-message and checks the server's answer. */
static int
scram_finish(struct xconn *c, struct scram *s)
{
    char final[400], b64[600], buf[800];
    int fl = scram_final(s, final, sizeof final);
    if (fl < 0)
        return -1;
    b64_enc((const unsigned char *) final, (size_t)fl, b64);
    int n = snprintf(buf, sizeof buf,
                     "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s"
                     "</response>",
                     b64);
    if (xc_send(c, buf, (size_t)n) != 0)
        return -1;
    const char *t;
    size_t tl;
    long end = xc_elem(c, "success", &t, &tl);
    if (end < 0 || scram_verify(s, t, tl) != 0)
        return -1;
    xc_consume(c, (size_t)end);
    return 0;
}

static int
xc_scram(struct xconn *c, const char *user, struct scram_cache *cache)
{
    struct scram s = {0};
    unsigned char rnd[18];
    if (!c->scram_offered || RAND_bytes(rnd, sizeof rnd) != 1)
        return -1;
    b64_enc(rnd, sizeof rnd, s.cnonce);
    snprintf(s.bare, sizeof s.bare, "n=%s,r=%s", user, s.cnonce);
    char first[200];
    int n = snprintf(first, sizeof first, "n,,%s", s.bare);
    if (xc_auth(c, "SCRAM-SHA-1", first, (size_t)n) != 0)
        return -1;
    const char *t;
    size_t tl;
    long end = xc_elem(c, "challenge", &t, &tl);
    if (end < 0 ||
        b64_dec(t, tl, (unsigned char *)s.sfirst, sizeof s.sfirst) < 0)
        return -1;
    xc_consume(c, (size_t)end);
    if (scram_parse(&s) != 0 || scram_salted(&s, cache) != 0)
        return -1;
    return scram_finish(c, &s);
}

/* ---- login, bind, close ----------------------------------------------- */

static int
xc_bind(struct xconn *c, const char *resource)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "<iq type='set' id='bind1'><bind "
                     "xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>%s"
                     "</resource></bind></iq>",
                     resource);
    if (xc_send(c, buf, (size_t)n) != 0)
        return -1;
    const char *t;
    size_t tl;
    long end = xc_elem(c, "iq", &t, &tl);
    if (end < 0)
        return -1;
    const char *j = memmem(t, tl, "<jid>", 5);
    const char *e = j ? memmem(j, tl - (size_t)(j - t), "</jid>", 6) : NULL;
    if (e == NULL || (size_t)(e - j - 5) >= sizeof c->jid)
        return -1;
    memcpy(c->jid, j + 5, (size_t)(e - j - 5));
    c->jid[e - j - 5] = '\0';
    xc_consume(c, (size_t)end);
    return 0;
}

/* Connects and logs in as account number acct, then binds resource. On
 * failure the caller still owns c and frees it. */
static int
xc_login(struct xconn *c,
         unsigned long acct,
         const char *resource,
         bool scram,
         struct scram_cache *cache)
{
    char user[64];
    snprintf(user, sizeof user, "%s%lu", opt.prefix, acct);
    if (xc_open(c) != 0 || xc_stream(c) != 0 || xc_starttls(c) != 0 ||
        xc_stream(c) != 0)
        return -1;
    int rc = scram ? xc_scram(c, user, cache) : xc_plain(c, user);
    if (rc != 0 || xc_stream(c) != 0 || xc_bind(c, resource) != 0)
        return -1;
    return 0;
}

/* Ends the stream; with wait, reads until the server's </stream:stream>
 * or EOF, then sends close_notify and closes. */
static void
xc_close(struct xconn *c, bool wait)
{
    if (c->ssl && xc_sendz(c, "</stream:stream>") == 0 && wait) {
        while (strstr(c->in, "</stream:stream>") == NULL) {
            if (c->len > 64)
                xc_consume(c, c->len - 32);
            if (xc_fill(c) != 0)
                break;
        }
    }
    if (c->ssl)
        (void)SSL_shutdown(c->ssl);
    xc_free(c);
}

/* ---- mode logins -------------------------------------------------------- */

struct login_worker {
    pthread_t th;
    unsigned long idx, ok, fail;
    struct scram_cache cache;
};

static atomic_ulong logins_started;
static double logins_deadline;

static void *
login_main(void *arg)
{
    struct login_worker *w = arg;
    bool scram = strcmp(opt.mech, "SCRAM-SHA-1") == 0;
    unsigned long naccts = opt.accounts ? opt.accounts : opt.parallel;
    unsigned long seq = 0, fails_in_row = 0;
    struct xconn *c = calloc(1, sizeof *c);
    while (
        c && now_s() < logins_deadline && fails_in_row < 50 &&
        (opt.count == 0 || atomic_fetch_add(&logins_started, 1) < opt.count)) {
        char res[48];
        snprintf(res, sizeof res, "w%lun%lu", w->idx, seq++);
        xc_init(c, &tg_send);
        if (xc_login(c, opt.first + w->idx % naccts, res, scram, &w->cache)) {
            xc_free(c);
            w->fail++;
            fails_in_row++;
            sleep_s(0.01);
            continue;
        }
        xc_close(c, true);
        w->ok++;
        fails_in_row = 0;
    }
    free(c);
    return NULL;
}

static int
run_logins(void)
{
    struct login_worker *w = calloc(opt.parallel, sizeof *w);
    if (w == NULL)
        return 1;
    double cpu0 = server_cpu_s(), self0 = self_cpu_s(), t0 = now_s();
    logins_deadline = t0 + opt.duration;
    unsigned long started = 0, ok = 0, fail = 0;
    for (; started < opt.parallel; started++) {
        w[started].idx = started;
        if (pthread_create(&w[started].th, NULL, login_main, &w[started]))
            break;
    }
    for (unsigned long i = 0; i < started; i++) {
        pthread_join(w[i].th, NULL);
        ok += w[i].ok;
        fail += w[i].fail;
    }
    double secs = now_s() - t0, cpu = server_cpu_s() - cpu0;
    double self = self_cpu_s() - self0;
    printf("result server=%s mode=logins mech=%s parallel=%lu logins=%lu "
           "fails=%lu secs=%.2f logins_per_s=%.1f cpu_ms_per_login=%.3f "
           "server_cpu_s=%.2f gen_cpu_s=%.2f gen_cpu_ms_per_login=%.3f\n",
           opt.label, opt.mech, started, ok, fail, secs, (double)ok / secs,
           ok && cpu0 >= 0 ? cpu * 1000 / (double)ok : -1, cpu, self,
           ok ? self * 1000 / (double)ok : -1);
    free(w);
    return ok > 0 && fail == 0 ? 0 : 1;
}

/* ---- modes messages and latency --------------------------------------- */

struct msg_run {
    struct xconn a, b;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned long sent, received; /* under mu */
    bool b_done;                  /* under mu */
    uint64_t t_last;              /* under mu: time of the last receipt */
    double *lat_ms;               /* written by B's thread only */
    size_t nlat, lat_cap;
};

/* Counts "</message>" and reads "[T:ns]" stamps across read boundaries:
 * '<' and '[' occur only at the start of their patterns, so a mismatch
 * restarts from the current byte. */
struct scan {
    size_t end_at, stamp_at;
    bool in_stamp;
    uint64_t stamp;
};

static void
scan_stamp(struct scan *sc, char ch, struct msg_run *m, uint64_t t)
{
    static const char pat[] = "[T:";
    if (sc->in_stamp) {
        if (ch >= '0' && ch <= '9') {
            sc->stamp = sc->stamp * 10 + (uint64_t)(ch - '0');
            return;
        }
        if (ch == ']' && m->nlat < m->lat_cap && t >= sc->stamp)
            m->lat_ms[m->nlat++] = (double)(t - sc->stamp) / 1e6;
        sc->in_stamp = false;
    }
    sc->stamp_at = ch == pat[sc->stamp_at] ? sc->stamp_at + 1 : ch == '[';
    if (sc->stamp_at == 3) {
        sc->in_stamp = true;
        sc->stamp = 0;
        sc->stamp_at = 0;
    }
}

static unsigned long
scan_feed(
    struct scan *sc, const char *p, size_t n, struct msg_run *m, uint64_t t)
{
    static const char pat[] = "</message>";
    unsigned long k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        sc->end_at = ch == pat[sc->end_at] ? sc->end_at + 1 : ch == '<';
        if (sc->end_at == sizeof pat - 1) {
            k++;
            sc->end_at = 0;
        }
        if (m->lat_cap)
            scan_stamp(sc, ch, m, t);
    }
    return k;
}

/* Reads every TLS record OpenSSL already holds (read-ahead is on) before
 * reporting, so that a server writing one record per stanza costs one
 * lock round per socket read, not one per stanza. */
static void *
msg_recv_main(void *arg)
{
    struct msg_run *m = arg;
    struct scan sc = {0};
    static _Thread_local char buf[65536];
    bool open = true;
    while (open) {
        unsigned long k = 0;
        uint64_t t = 0;
        do {
            int n = SSL_read(m->b.ssl, buf, sizeof buf);
            if (n <= 0) {
                open = false;
                break;
            }
            t = now_ns();
            k += scan_feed(&sc, buf, (size_t)n, m, t);
        } while (SSL_has_pending(m->b.ssl));
        if (k == 0)
            continue;
        pthread_mutex_lock(&m->mu);
        m->received += k;
        m->t_last = t;
        pthread_cond_broadcast(&m->cv);
        pthread_mutex_unlock(&m->mu);
    }
    pthread_mutex_lock(&m->mu);
    m->b_done = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* Waits (up to the socket timeout) until at least an eighth of the window
 * (1 to BATCH_MAX messages) may be sent without more than window in
 * flight; returns how many may be sent, 0 if the receiver has stopped or
 * stalled. Refilling in batches keeps A from waking for every receipt. */
static unsigned long
msg_room(struct msg_run *m, unsigned long window)
{
    unsigned long want = window / 8;
    want = want < 1 ? 1 : want > BATCH_MAX ? BATCH_MAX : want;
    pthread_mutex_lock(&m->mu);
    double give_up = now_s() + opt.timeout;
    while (!m->b_done && m->sent - m->received + want > window &&
           now_s() < give_up) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&m->cv, &m->mu, &ts);
    }
    unsigned long inflight = m->sent - m->received;
    unsigned long room =
        m->b_done || inflight >= window ? 0 : window - inflight;
    pthread_mutex_unlock(&m->mu);
    return room;
}

static size_t
msg_format(char *out, size_t cap, const char *to, unsigned long seq)
{
    int n = snprintf(out, cap,
                     "<message to='%s' type='chat' id='m%lu'><body>[T:%llu] "
                     "%s</body></message>",
                     to, seq, (unsigned long long)now_ns(), FILLER);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* A's side: sends up to total messages for at most opt.duration seconds,
 * never more than window in flight, several stanzas per SSL_write. */
static void
msg_send(struct msg_run *m, unsigned long total, unsigned long window)
{
    static _Thread_local char out[OUT_CAP];
    double t0 = now_s();
    unsigned long seq = 0;
    while (seq < total && now_s() - t0 < opt.duration) {
        unsigned long n = msg_room(m, window);
        if (n == 0)
            break;
        n = min_ul(min_ul(n, BATCH_MAX), total - seq);
        size_t len = 0, one = 1;
        unsigned long k = 0;
        for (; k < n && one > 0 && len + 512 < sizeof out; k++) {
            one = msg_format(out + len, sizeof out - len, m->b.jid, seq++);
            len += one;
        }
        /* Counted before writing, so that sent - received never wraps. */
        pthread_mutex_lock(&m->mu);
        m->sent += k;
        pthread_mutex_unlock(&m->mu);
        if (one == 0 || xc_send(&m->a, out, len) != 0)
            break;
    }
}

/* Waits until every sent message has arrived (or a timeout), then stops
 * the receiver by shutting its socket down. */
static void
msg_drain(struct msg_run *m, pthread_t th)
{
    double give_up = now_s() + opt.timeout;
    pthread_mutex_lock(&m->mu);
    while (!m->b_done && m->received < m->sent && now_s() < give_up) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&m->cv, &m->mu, &ts);
    }
    pthread_mutex_unlock(&m->mu);
    shutdown(m->b.fd, SHUT_RDWR);
    pthread_join(th, NULL);
}


/* CPU seconds used while measuring: both servers together (cpu, -1 when
 * unknown), the receiver's server alone when it is another one (rcpu),
 * and this process (self). */
struct msg_cpu {
    double cpu, rcpu, self;
};

static void
msg_report(struct msg_run *m,
           bool latency,
           uint64_t t0ns,
           const struct msg_cpu *c)
{
    double secs = m->t_last > t0ns ? (double)(m->t_last - t0ns) / 1e9 : 0;
    double rate = secs > 0 ? (double)m->received / secs : 0;
    double per = m->received ? 1000 / (double)m->received : 0;
    printf("result server=%s mode=%s window=%lu status=%s sent=%lu "
           "received=%lu lost=%lu secs=%.2f msgs_per_s=%.0f "
           "cpu_s_per_1000=%.4f server_cpu_s=%.2f gen_cpu_s=%.2f "
           "gen_cpu_s_per_1000=%.4f gen_cpu_pct=%.0f",
           opt.label, latency ? "latency" : "messages", opt.window,
           m->received == m->sent && m->sent > 0 ? "ok" : "lost", m->sent,
           m->received, m->sent - m->received, secs, rate, c->cpu * per, c->cpu,
           c->self, c->self * per, secs > 0 ? c->self * 100 / secs : 0);
    if (opt.rpid != 0 && opt.rpid != opt.pid && c->cpu >= 0)
        printf(" send_server_cpu_s=%.2f recv_server_cpu_s=%.2f",
               c->cpu - c->rcpu, c->rcpu);
    if (m->nlat > 0) {
        qsort(m->lat_ms, m->nlat, sizeof *m->lat_ms, cmp_double);
        size_t p99 = (m->nlat * 99 + 99) / 100 - 1; /* nearest rank */
        printf(" samples=%zu median_ms=%.3f p99_ms=%.3f max_ms=%.3f", m->nlat,
               m->lat_ms[m->nlat / 2], m->lat_ms[p99], m->lat_ms[m->nlat - 1]);
    }
    printf("\n");
}

/* Waits until B holds a complete <message/>, at most until give_up;
 * consumes it. Returns -1 on a timeout, a stream error or EOF. */
static int
msg_wait_one(struct xconn *b, double give_up)
{
    for (;;) {
        const char *t;
        size_t tl;
        size_t end = elem_find(b->in, "<message", "</message>", &t, &tl);
        if (end > 0) {
            xc_consume(b, end);
            return 0;
        }
        if (strstr(b->in, "<stream:error") != NULL)
            return -1;
        double left = give_up - now_s();
        struct pollfd pfd = {.fd = b->fd, .events = POLLIN};
        if (!SSL_has_pending(b->ssl) &&
            (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0))
            return -1;
        if (xc_fill(b) != 0)
            return -1;
    }
}

/* Sends n messages from A to B before measuring and waits up to
 * opt.flow_timeout for all of them. Between two servers the first stanza
 * makes the sender's server resolve, connect and authenticate to the
 * other: that set-up is not what the message modes measure, and a route
 * that never delivers must fail here rather than after a window's worth
 * of messages. Returns 0 when all n arrived. */
static int
msg_warmup(struct msg_run *m, unsigned long n)
{
    double give_up = now_s() + opt.flow_timeout;
    for (unsigned long i = 0; i < n; i++) {
        char buf[512];
        int len = snprintf(buf, sizeof buf,
                           "<message to='%s' type='chat' id='w%lu'>"
                           "<body>warm-up</body></message>",
                           m->b.jid, i);
        if (len <= 0 || (size_t)len >= sizeof buf ||
            xc_send(&m->a, buf, (size_t)len) != 0)
            return -1;
    }
    for (unsigned long i = 0; i < n; i++)
        if (msg_wait_one(&m->b, give_up) != 0)
            return -1;
    return 0;
}

/* One sender thread per pair (--pairs): each sends its share. */
struct msg_sender {
    pthread_t th;
    struct msg_run *m;
    unsigned long total;
};

static void *
msg_send_main(void *arg)
{
    struct msg_sender *sd = arg;
    msg_send(sd->m, sd->total, opt.window);
    return NULL;
}

/* Logs in pair i: A (account first + 2i, on the sender's server) and B
 * (first + 2i + 1, on the receiver's). */
static int
msg_pair_login(struct msg_run *m, unsigned long i, unsigned long total,
               struct scram_cache *cache)
{
    /* Every message carries its send time: latency under load too. */
    m->lat_cap = total;
    m->lat_ms = calloc(total, sizeof *m->lat_ms);
    return m->lat_ms == NULL ||
                   xc_login(&m->a, opt.first + 2 * i, "a", false, cache) != 0 ||
                   xc_login(&m->b, opt.first + 2 * i + 1, "b", false, cache) != 0
               ? -1
               : 0;
}

/* The pairs' figures as one: counts summed, the last receipt the end,
 * the latency samples together (kept in pairs[0]). */
static void
msg_merge(struct msg_run *pairs, unsigned long np)
{
    struct msg_run *m = &pairs[0];
    for (unsigned long i = 1; i < np; i++) {
        struct msg_run *o = &pairs[i];
        m->sent += o->sent;
        m->received += o->received;
        if (o->t_last > m->t_last)
            m->t_last = o->t_last;
        size_t room = m->lat_cap - m->nlat;
        size_t n = o->nlat < room ? o->nlat : room;
        memcpy(m->lat_ms + m->nlat, o->lat_ms, n * sizeof *o->lat_ms);
        m->nlat += n;
    }
}

/* Logs in the pairs and measures A -> B on each at once (one pair unless
 * --pairs): the sum of messages, each pair with at most window in flight.
 * Returns 0 when every message arrived, 3 when the warm-up messages did
 * not, else 1. */
static int
run_messages(bool latency)
{
    unsigned long np = latency || opt.pairs < 1 ? 1 : opt.pairs;
    struct msg_run *pairs = calloc(np, sizeof *pairs);
    struct msg_sender *sd = calloc(np, sizeof *sd);
    pthread_t *rth = calloc(np, sizeof *rth);
    struct scram_cache cache = {0};
    unsigned long total = opt.count ? opt.count : latency ? 2000 : 1000000;
    unsigned long each = (total + np - 1) / np;
    unsigned long started = 0;
    int rc = 1;
    if (pairs == NULL || sd == NULL || rth == NULL) {
        free(pairs);
        pairs = NULL;
        goto out;
    }
    if (latency)
        opt.window = 1;
    for (unsigned long i = 0; i < np; i++) {
        xc_init(&pairs[i].a, &tg_send);
        xc_init(&pairs[i].b, &tg_recv);
        pthread_mutex_init(&pairs[i].mu, NULL);
        pthread_cond_init(&pairs[i].cv, NULL);
    }
    /* The merged samples need room for all of them. */
    for (unsigned long i = 0; i < np; i++) {
        if (msg_pair_login(&pairs[i], i, i == 0 ? each * np : each, &cache)) {
            fprintf(stderr, "c2s_load: %s: login of message pair %lu failed\n",
                    opt.label, i);
            goto out;
        }
        if (opt.warmup > 0 && msg_warmup(&pairs[i], opt.warmup) != 0) {
            printf("result server=%s mode=%s window=%lu status=no-flow "
                   "flow_timeout_s=%.1f\n",
                   opt.label, latency ? "latency" : "messages", opt.window,
                   opt.flow_timeout);
            fprintf(stderr,
                    "c2s_load: %s: %lu warm-up message(s) from %s to %s did "
                    "not all arrive within %.1f s\n",
                    opt.label, opt.warmup, pairs[i].a.jid, pairs[i].b.jid,
                    opt.flow_timeout);
            rc = 3;
            goto out;
        }
    }
    for (; started < np; started++)
        if (pthread_create(&rth[started], NULL, msg_recv_main,
                           &pairs[started]) != 0)
            goto out;
    struct msg_cpu c0 = {server_cpu_s(), rserver_cpu_s(), self_cpu_s()};
    uint64_t t0ns = now_ns();
    for (unsigned long i = 0; i < np; i++) {
        sd[i] = (struct msg_sender){.m = &pairs[i], .total = each};
        if (np == 1)
            msg_send(&pairs[0], each, opt.window);
        else if (pthread_create(&sd[i].th, NULL, msg_send_main, &sd[i]) != 0)
            sd[i].m = NULL;
    }
    for (unsigned long i = 0; np > 1 && i < np; i++)
        if (sd[i].m != NULL)
            pthread_join(sd[i].th, NULL);
    for (unsigned long i = 0; i < np; i++)
        msg_drain(&pairs[i], rth[i]);
    started = 0;
    struct msg_cpu c = {server_cpu_s() - c0.cpu, rserver_cpu_s() - c0.rcpu,
                        self_cpu_s() - c0.self};
    if (c0.cpu < 0)
        c.cpu = -1;
    msg_merge(pairs, np);
    msg_report(&pairs[0], latency, t0ns, &c);
    rc = pairs[0].received == pairs[0].sent && pairs[0].sent > 0 ? 0 : 1;
out:
    for (unsigned long i = 0; i < started; i++) {
        shutdown(pairs[i].b.fd, SHUT_RDWR);
        pthread_join(rth[i], NULL);
    }
    for (unsigned long i = 0; pairs != NULL && i < np; i++) {
        xc_close(&pairs[i].a, true);
        xc_free(&pairs[i].b);
        free(pairs[i].lat_ms);
    }
    free(pairs);
    free(sd);
    free(rth);
    return rc;
}

/* ---- mode idle ------------------------------------------------------------
 */

/* Sessions are opened in steps (--steps), and the server's RSS is
 * sampled after each once it has settled (--settle): the RSS-vs-sessions
 * series. Once a session is bound, this side keeps only its socket: the
 * server's TLS and XMPP state stay, the client's SSL object is freed, so
 * that 10 000 sessions cost the generator a descriptor each. */
#define IDLE_STEPS_MAX 32

struct idle_worker {
    pthread_t th;
    int *fds;
    unsigned long from, to, ok, fail;
};

static void *
idle_main(void *arg)
{
    struct idle_worker *w = arg;
    struct scram_cache cache = {0};
    struct xconn *c = malloc(sizeof *c);
    for (unsigned long i = w->from; c != NULL && i < w->to; i++) {
        char res[32];
        unsigned long acct = opt.accounts ? i % opt.accounts : i;
        snprintf(res, sizeof res, "idle%lu", i);
        xc_init(c, &tg_send);
        if (xc_login(c, opt.first + acct, res, false, &cache) != 0) {
            xc_free(c);
            w->fail++;
            continue;
        }
        /* SSL_free neither sends nor closes: the session stays open. */
        SSL_free(c->ssl);
        c->ssl = NULL;
        w->fds[i] = c->fd;
        c->fd = -1;
        w->ok++;
    }
    free(c);
    return NULL;
}

/* Opens sessions from..to-1 with opt.parallel threads; adds to *ok and
 * *fail. */
static void
idle_open(int *fds,
          unsigned long from,
          unsigned long to,
          unsigned long *ok,
          unsigned long *fail)
{
    unsigned long nth = min_ul(opt.parallel, to - from), started = 0;
    struct idle_worker *w = calloc(nth, sizeof *w);
    if (w == NULL)
        return;
    for (; started < nth; started++) {
        w[started].fds = fds;
        w[started].from = from + (to - from) * started / nth;
        w[started].to = from + (to - from) * (started + 1) / nth;
        if (pthread_create(&w[started].th, NULL, idle_main, &w[started]))
            break;
    }
    for (unsigned long i = 0; i < started; i++) {
        pthread_join(w[i].th, NULL);
        *ok += w[i].ok;
        *fail += w[i].fail;
    }
    free(w);
}

/* The step targets below n from --steps ("1000,2500,5000"), then n. */
static size_t
idle_steps(unsigned long n, unsigned long *out)
{
    size_t k = 0;
    const char *p = opt.steps;
    while (p != NULL && *p != '\0' && k < IDLE_STEPS_MAX - 1) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (end == p)
            break;
        if (v > 0 && v < n && (k == 0 || v > out[k - 1]))
            out[k++] = v;
        p = *end == ',' ? end + 1 : end;
    }
    out[k++] = n;
    return k;
}

static int
run_idle(void)
{
    unsigned long n = opt.count ? opt.count : 2000;
    unsigned long steps[IDLE_STEPS_MAX];
    size_t nsteps = idle_steps(n, steps);
    int *fds = malloc(n * sizeof *fds);
    if (fds == NULL)
        return 1;
    for (unsigned long i = 0; i < n; i++)
        fds[i] = -1;
    long rss0 = server_rss_kib(), rss = rss0;
    double t0 = now_s(), self0 = self_cpu_s(), cpu0 = server_cpu_s();
    unsigned long done = 0, ok = 0, fail = 0;
    bool capped = false;
    printf("result server=%s mode=idle_step sessions=0 rss_kib=%ld\n",
           opt.label, rss0);
    fflush(stdout);
    for (size_t s = 0; s < nsteps; s++) {
        /* Stop before a step whose growth, at the rate so far, would take
         * the server past --rss-cap-kib (a server that needs ~1 MiB per
         * session must not exhaust a shared machine). */
        if (opt.rss_cap_kib > 0 && ok > 0 && rss > rss0 &&
            (double)rss + (double)(rss - rss0) / (double)ok *
                                  (double)(steps[s] - done) >
                (double)opt.rss_cap_kib) {
            capped = true;
            break;
        }
        idle_open(fds, done, steps[s], &ok, &fail);
        done = steps[s];
        /* Let the server finish whatever follows a login (and put idle
         * connections to sleep) before sampling. */
        sleep_s(opt.settle);
        rss = server_rss_kib();
        printf("result server=%s mode=idle_step sessions=%lu rss_kib=%ld\n",
               opt.label, ok, rss);
        fflush(stdout);
    }
    double secs = now_s() - t0, cpu = server_cpu_s() - cpu0;
    printf("result server=%s mode=idle sessions=%lu fails=%lu capped=%d "
           "open_secs=%.2f rss_before_kib=%ld rss_after_kib=%ld "
           "kib_per_session=%.1f server_cpu_s=%.2f gen_cpu_s=%.2f\n",
           opt.label, ok, fail, capped, secs, rss0, rss,
           ok && rss0 >= 0 ? (double)(rss - rss0) / (double)ok : -1, cpu,
           self_cpu_s() - self0);
    fflush(stdout);
    sleep_s(opt.hold);
    for (unsigned long i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(fds);
    return fail == 0 && !capped ? 0 : 1;
}

/* ---- mode mesh ------------------------------------------------------------
 */

/* s2s connections between two servers with many domains: --domain and
 * --rdomain are comma-separated lists. PREFIX<first> logs in on every
 * domain of both servers; every user of the first server sends one
 * message to every user of the second, then every user of the second to
 * every user of the first. Every message must arrive within
 * --flow-timeout. Then the sessions are held for --hold seconds, while
 * the caller counts the connections between the servers. */
#define MESH_MAX 64

struct mesh_side {
    struct target tg[MESH_MAX];
    struct xconn *c;
    size_t n;
};

/* Splits the comma-separated list into the side's targets (list is
 * modified: the domains point into it). */
static int
mesh_side_init(struct mesh_side *s,
               char *list,
               const char *host,
               unsigned long port)
{
    s->n = 0;
    for (char *d = list; d != NULL && *d != '\0';) {
        char *comma = strchr(d, ',');
        if (comma != NULL)
            *comma = '\0';
        if (s->n == MESH_MAX)
            return -1;
        if (*d != '\0')
            s->tg[s->n++] = (struct target){host, d, port};
        d = comma != NULL ? comma + 1 : NULL;
    }
    s->c = calloc(s->n ? s->n : 1, sizeof *s->c);
    return s->n > 0 && s->c != NULL ? 0 : -1;
}

/* Reads messages for c until want carrying the mesh body arrived or
 * give_up; returns how many did. */
static unsigned long
mesh_recv(struct xconn *c, unsigned long want, double give_up)
{
    unsigned long got = 0;
    while (got < want) {
        const char *t;
        size_t tl;
        size_t end = elem_find(c->in, "<message", "</message>", &t, &tl);
        if (end > 0) {
            if (memmem(t, tl, "<body>mesh ", 11) != NULL)
                got++;
            xc_consume(c, end);
            continue;
        }
        double left = give_up - now_s();
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        if (!SSL_has_pending(c->ssl) &&
            (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0))
            break;
        if (xc_fill(c) != 0)
            break;
    }
    return got;
}

/* Every user of from sends one message to every user of to; returns how
 * many arrived. */
static unsigned long
mesh_phase(struct mesh_side *from, struct mesh_side *to)
{
    for (size_t i = 0; i < from->n; i++)
        for (size_t j = 0; j < to->n; j++) {
            char buf[768];
            int len = snprintf(buf, sizeof buf,
                               "<message to='%s' type='chat' id='x%zu-%zu'>"
                               "<body>mesh %s</body></message>",
                               to->c[j].jid, i, j, from->tg[i].domain);
            if (len > 0 && (size_t)len < sizeof buf)
                (void)xc_send(&from->c[i], buf, (size_t)len);
        }
    double give_up = now_s() + opt.flow_timeout;
    unsigned long got = 0;
    for (size_t j = 0; j < to->n; j++)
        got += mesh_recv(&to->c[j], from->n, give_up);
    return got;
}

static int
run_mesh(void)
{
    static struct mesh_side x, y;
    char *xl = strdup(opt.domain), *yl = strdup(opt.rdomain ? opt.rdomain : "");
    struct scram_cache cache = {0};
    int rc = 1;
    if (xl == NULL || yl == NULL ||
        mesh_side_init(&x, xl, tg_send.host, tg_send.port) != 0 ||
        mesh_side_init(&y, yl, tg_recv.host, tg_recv.port) != 0) {
        fprintf(stderr, "c2s_load: mesh: 1 to %d domains on each side\n",
                MESH_MAX);
        goto out;
    }
    struct mesh_side *sides[2] = {&x, &y};
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < sides[s]->n; i++) {
            xc_init(&sides[s]->c[i], &sides[s]->tg[i]);
            if (xc_login(&sides[s]->c[i], opt.first, "mesh", false, &cache)) {
                printf("result server=%s mode=mesh domains=%zu status=no-login "
                       "domain=%s\n",
                       opt.label, x.n, sides[s]->tg[i].domain);
                goto out;
            }
        }
    /* --warmup: one message from the first domain of X to the first of
     * Y first, so that the exchange starts with one s2s stream up (as
     * between servers that already federate). */
    if (opt.warmup > 0) {
        char buf[768];
        int len = snprintf(buf, sizeof buf,
                           "<message to='%s' type='chat' id='w'>"
                           "<body>mesh warm-up</body></message>",
                           y.c[0].jid);
        if (len <= 0 || (size_t)len >= sizeof buf ||
            xc_send(&x.c[0], buf, (size_t)len) != 0 ||
            mesh_recv(&y.c[0], 1, now_s() + opt.flow_timeout) != 1) {
            printf("result server=%s mode=mesh domains=%zu status=no-flow\n",
                   opt.label, x.n);
            goto out;
        }
    }
    double t0 = now_s();
    unsigned long xy = mesh_phase(&x, &y);
    double t1 = now_s();
    unsigned long yx = mesh_phase(&y, &x);
    double t2 = now_s();
    unsigned long sent = 2 * x.n * y.n, got = xy + yx;
    printf("result server=%s mode=mesh domains=%zu rdomains=%zu status=%s "
           "sent=%lu received=%lu lost=%lu xy_received=%lu yx_received=%lu "
           "xy_secs=%.2f yx_secs=%.2f\n",
           opt.label, x.n, y.n, got == sent ? "ok" : "lost", sent, got,
           sent - got, xy, yx, t1 - t0, t2 - t1);
    fflush(stdout);
    sleep_s(opt.hold);
    rc = got == sent ? 0 : 1;
out:
    for (int s = 0; s < 2; s++) {
        struct mesh_side *m = s == 0 ? &x : &y;
        for (size_t i = 0; m->c != NULL && i < m->n; i++)
            xc_close(&m->c[i], false);
        free(m->c);
    }
    free(xl);
    free(yl);
    return rc;
}

/* ---- command line ---------------------------------------------------------
 */


static const struct optdef optdefs[] = {
    {"--host", 's', &opt.host},
    {"--port", 'u', &opt.port},
    {"--domain", 's', &opt.domain},
    {"--prefix", 's', &opt.prefix},
    {"--password", 's', &opt.password},
    {"--mech", 's', &opt.mech},
    {"--label", 's', &opt.label},
    {"--pid", 'u', &opt.pid},
    {"--parallel", 'u', &opt.parallel},
    {"--count", 'u', &opt.count},
    {"--window", 'u', &opt.window},
    {"--first", 'u', &opt.first},
    {"--accounts", 'u', &opt.accounts},
    {"--duration", 'd', &opt.duration},
    {"--hold", 'd', &opt.hold},
    {"--timeout", 'd', &opt.timeout},
    {"--rhost", 's', &opt.rhost},
    {"--rport", 'u', &opt.rport},
    {"--rdomain", 's', &opt.rdomain},
    {"--rpid", 'u', &opt.rpid},
    {"--warmup", 'u', &opt.warmup},
    {"--pairs", 'u', &opt.pairs},
    {"--flow-timeout", 'd', &opt.flow_timeout},
    {"--steps", 's', &opt.steps},
    {"--settle", 'd', &opt.settle},
    {"--rss-cap-kib", 'u', &opt.rss_cap_kib},
};

static int
usage(void)
{
    fprintf(stderr,
            "usage: c2s_load logins|messages|latency|idle|mesh [--host IP] "
            "[--port N]\n"
            "  [--domain D] [--prefix u] [--password P] [--first 1] "
            "[--label NAME]\n"
            "  [--pid SERVER_PID] [--mech PLAIN|SCRAM-SHA-1] [--parallel P]\n"
            "  [--accounts A] [--count N] [--duration S] [--window W] "
            "[--hold S]\n"
            "  [--timeout S] [--warmup N] [--flow-timeout S] [--pairs P]\n"
            "  [--rhost IP] [--rport N] [--rdomain D] [--rpid PID]\n"
            "  [--steps N,N,...] [--settle S] [--rss-cap-kib K]\n"
            "Accounts are PREFIX<n>@DOMAIN, n from --first, one password.\n"
            "messages and latency: PREFIX<first> on --host sends to\n"
            "PREFIX<first+1> on --rhost/--rport/--rdomain (default: the\n"
            "sender's server); server CPU is that of --pid plus --rpid.\n"
            "messages --pairs P: P such pairs at once (accounts first ..\n"
            "first+2P-1), each with its own sender and receiver thread.\n"
            "--warmup N: N messages must arrive within --flow-timeout\n"
            "(default 30 s) before measuring, else status=no-flow, exit 3.\n"
            "idle: --count sessions (resource idle<i> of account\n"
            "first + i %% --accounts), opened in --steps, the server's RSS\n"
            "sampled --settle s after each; stops before passing\n"
            "--rss-cap-kib.\n"
            "mesh: --domain and --rdomain are comma-separated lists; a user\n"
            "on every domain writes to every domain of the other server,\n"
            "both ways (after --warmup 1: one message first), then the\n"
            "sessions are held --hold s.\n");
    return 2;
}

static int
opt_parse(int argc, char **argv)
{
    if (argc < 2)
        return -1;
    opt.mode = argv[1];
    if (opts_parse(optdefs, sizeof optdefs / sizeof *optdefs, argc, argv, 2,
                   "c2s_load") != 0)
        return -1;
    if (opt.parallel == 0 || opt.parallel > 1000 || opt.window == 0 ||
        opt.timeout < 1 || opt.flow_timeout <= 0 || opt.port > 65535 ||
        opt.rport > 65535)
        return -1;
    tg_send = (struct target){opt.host, opt.domain, opt.port};
    tg_recv = (struct target){opt.rhost ? opt.rhost : opt.host,
                              opt.rdomain ? opt.rdomain : opt.domain,
                              opt.rport ? opt.rport : opt.port};
    return 0;
}


static int
tls_setup(void)
{
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (tls_ctx == NULL)
        return -1;
    /* Self-signed server certificates: nothing to verify against. Every
     * login is a full handshake, as for a client without a session. */
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(tls_ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_mode(tls_ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(tls_ctx, 1);
    return 0;
}

int
main(int argc, char **argv)
{
    if (opt_parse(argc, argv) != 0 || opt.mode == NULL)
        return usage();
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    if (tls_setup() != 0)
        return 1;
    int rc;
    if (strcmp(opt.mode, "logins") == 0)
        rc = run_logins();
    else if (strcmp(opt.mode, "messages") == 0)
        rc = run_messages(false);
    else if (strcmp(opt.mode, "latency") == 0)
        rc = run_messages(true);
    else if (strcmp(opt.mode, "idle") == 0)
        rc = run_idle();
    else if (strcmp(opt.mode, "mesh") == 0)
        rc = run_mesh();
    else
        return usage();
    fflush(stdout);
    SSL_CTX_free(tls_ctx);
    return rc;
}
