/* SPDX-License-Identifier: MIT */
/* hold.c -- open and hold very many logged-in TLS client sessions.
 *
 * Each thread drives its share of the sessions through one epoll set on
 * non-blocking sockets: connect, stream header, STARTTLS, TLS handshake,
 * header, SASL (SCRAM-SHA-1 with SaltedPassword kept per account, as real
 * clients do, or PLAIN), header, bind; then the session stays idle. At most
 * --inflight sessions per thread negotiate at once, so the server's
 * listen backlog never overflows. Idle sessions keep only their socket,
 * their SSL object (its buffers released) and 16 bytes here.
 *
 * Session i logs in as PREFIX<first + i % accounts>@DOMAIN with resource
 * h<i>, from source address i % nsrc (consecutive IPv4 addresses from
 * --src: each gives ~28 000 ephemeral ports per server address) to server
 * address i % nhost (--host, comma-separated).
 *
 * Once all are bound (and --settle seconds later) it reads the server's
 * VmRSS, then measures the latency of --lat-count messages sent one at a
 * time between two more sessions, and prints one line:
 *   result suite=c2s-many sessions=... establish_s=... rss_kib=... ...
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "load_util.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* Bytes a negotiating session buffers: features, SASL and bind answers
 * are far smaller. Freed once the session is bound. */
#define IN_CAP     4096
#define EVENTS_MAX 256
#define HOSTS_MAX  16
#define SHA1_LEN   20

/* Command-line settings; read-only once parsed, read by every thread. */
static struct opts {
    const char *hosts, *domain, *prefix, *password, *src, *mech;
    unsigned long port, pid, sessions, accounts, first, threads, inflight, nsrc,
        lat_count;
    double settle, hold, timeout;
} opt = {
    .hosts = "127.0.0.2",
    .domain = "bench.example",
    .prefix = "u",
    .password = "benchpw",
    .src = NULL,
    .mech = "SCRAM-SHA-1",
    .port = 5222,
    .sessions = 1000,
    .accounts = 1000,
    .first = 1,
    .threads = 2,
    .inflight = 64,
    .nsrc = 1,
    .lat_count = 2000,
    .settle = 3,
    .hold = 0,
    .timeout = 60,
};

static struct sockaddr_in hosts[HOSTS_MAX];
static size_t nhosts;
static struct in_addr src0;
static SSL_CTX *tls_ctx;
static atomic_ulong n_bound, n_failed, n_dropped;
static volatile sig_atomic_t stop;

enum state {
    ST_FREE,      /* not started, or failed */
    ST_CONNECT,   /* TCP connect in progress */
    ST_FEAT1,     /* header sent, waiting for the features */
    ST_PROCEED,   /* <starttls/> sent */
    ST_HS,        /* TLS handshake */
    ST_FEAT2,     /* header over TLS sent */
    ST_CHALLENGE, /* SCRAM: <auth/> sent, server-first next */
    ST_SUCCESS,   /* <auth/> (PLAIN) or the SCRAM proof sent */
    ST_FEAT3,     /* header after SASL sent */
    ST_BIND,      /* bind request sent */
    ST_IDLE,      /* bound: held */
    ST_DEAD,      /* failed or dropped */
};

struct scram;

/* One session; in and sc only while negotiating. */
struct sess {
    int fd;
    uint8_t state;
    uint16_t len;
    SSL *ssl;
    char *in;
    struct scram *sc;
};

struct worker {
    pthread_t th;
    int ep;
    unsigned long from, to, next; /* session numbers [from, to) */
    unsigned long negotiating;
    struct sess *s; /* to - from of them */
};



/* A "Key:   N kB" line of /proc/PID/status, or -1. */
static long
proc_status_kib(unsigned long pid, const char *key)
{
    char path[64], line[256];
    if (pid == 0)
        snprintf(path, sizeof path, "/proc/self/status");
    else
        snprintf(path, sizeof path, "/proc/%lu/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kib = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            kib = strtol(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kib;
}


static void
sleep_s(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s,
                          .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !stop)
        ;
}

/* ---- one session's steps ---------------------------------------------- */

static void
sess_kill(struct worker *w, struct sess *s, bool was_bound)
{
    if (s->fd >= 0) {
        (void)epoll_ctl(w->ep, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
    }
    SSL_free(s->ssl);
    free(s->in);
    free(s->sc);
    s->fd = -1;
    s->ssl = NULL;
    s->in = NULL;
    s->sc = NULL;
    s->len = 0;
    if (was_bound) {
        atomic_fetch_add(&n_dropped, 1);
    } else {
        atomic_fetch_add(&n_failed, 1);
        w->negotiating--;
    }
    s->state = ST_DEAD;
}

/* Sends all of p; small writes into an empty socket buffer never block,
 * so anything short of complete counts as a failure. */
static int
sess_send(struct sess *s, const char *p, size_t n)
{
    if (s->ssl != NULL) {
        size_t done = 0;
        return SSL_write_ex(s->ssl, p, n, &done) == 1 && done == n ? 0 : -1;
    }
    ssize_t r = send(s->fd, p, n, MSG_NOSIGNAL);
    return r == (ssize_t)n ? 0 : -1;
}

static int
sess_header(struct sess *s)
{
    char h[256];
    int n = snprintf(h, sizeof h,
                     "<?xml version='1.0'?><stream:stream "
                     "xmlns='jabber:client' "
                     "xmlns:stream='http://etherx.jabber.org/streams' "
                     "to='%s' version='1.0'>",
                     opt.domain);
    return sess_send(s, h, (size_t)n);
}

static int
sess_auth(struct sess *s, unsigned long i)
{
    char ir[256], b64[400], buf[600];
    int n = snprintf(ir, sizeof ir, "%c%s%lu%c%s", 0, opt.prefix,
                     opt.first + i % opt.accounts, 0, opt.password);
    if (n < 0 || (size_t)n >= sizeof ir)
        return -1;
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)ir, n);
    n = snprintf(buf, sizeof buf,
                 "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                 "mechanism='PLAIN'>%s</auth>",
                 b64);
    return sess_send(s, buf, (size_t)n);
}

/* ---- SCRAM-SHA-1 (RFC 5802), client side ------------------------------ */

/* A client keeps SaltedPassword per account, as real clients do: PBKDF2
 * runs once per account, not per login. Filled under cache_lock. */
struct scram_cache {
    bool ok;
    char salt[64];
    unsigned long iter;
    unsigned char sp[SHA1_LEN];
};
static struct scram_cache *cache;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* What a SCRAM exchange keeps between its two steps. */
struct scram {
    char cnonce[32];
    char bare[160];
    char auth_msg[1024];
    unsigned char sp[SHA1_LEN];
};

static void
hmac_sha1(const unsigned char *key,
          const void *data,
          size_t n,
          unsigned char *out)
{
    (void)HMAC(EVP_sha1(), key, SHA1_LEN, data, n, out, NULL);
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

/* The base64 text of element name in s->in ("<name ...>text</name>"). */
static const char *
elem_text(const struct sess *s, const char *name, size_t *len)
{
    char open[32], close[32];
    snprintf(open, sizeof open, "<%s", name);
    snprintf(close, sizeof close, "</%s>", name);
    const char *o = strstr(s->in, open);
    const char *gt = o ? strchr(o, '>') : NULL;
    const char *e = gt ? strstr(gt, close) : NULL;
    if (e == NULL)
        return NULL;
    *len = (size_t)(e - gt - 1);
    return gt + 1;
}

/* SaltedPassword for account acct with this salt and count. */
static int
scram_salted(unsigned long acct,
             const char *salt,
             size_t salt_len,
             unsigned long iter,
             unsigned char *sp)
{
    struct scram_cache *c = &cache[acct % opt.accounts];
    int rc = 0;
    pthread_mutex_lock(&cache_lock);
    if (!c->ok || c->iter != iter || strlen(c->salt) != salt_len ||
        memcmp(c->salt, salt, salt_len) != 0) {
        unsigned char raw[64];
        long sl = b64_dec(salt, salt_len, raw, sizeof raw);
        if (sl <= 0 || salt_len >= sizeof c->salt ||
            PKCS5_PBKDF2_HMAC_SHA1(opt.password, (int)strlen(opt.password), raw,
                                   (int)sl, (int)iter, SHA1_LEN, c->sp) != 1) {
            rc = -1;
        } else {
            memcpy(c->salt, salt, salt_len);
            c->salt[salt_len] = '\0';
            c->iter = iter;
            c->ok = true;
        }
    }
    if (rc == 0)
        memcpy(sp, c->sp, SHA1_LEN);
    pthread_mutex_unlock(&cache_lock);
    return rc;
}

static int
scram_first(struct sess *s, unsigned long i)
{
    unsigned char rnd[18];
    s->sc = calloc(1, sizeof *s->sc);
    if (s->sc == NULL || RAND_bytes(rnd, sizeof rnd) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)s->sc->cnonce, rnd, sizeof rnd);
    snprintf(s->sc->bare, sizeof s->sc->bare, "n=%s%lu,r=%s", opt.prefix,
             opt.first + i % opt.accounts, s->sc->cnonce);
    char first[200], b64[300], buf[500];
    int n = snprintf(first, sizeof first, "n,,%s", s->sc->bare);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)first, n);
    n = snprintf(buf, sizeof buf,
                 "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                 "mechanism='SCRAM-SHA-1'>%s</auth>",
                 b64);
    return sess_send(s, buf, (size_t)n);
}

/* server-first in s->in: answer with the proof. */
static int
scram_final(struct sess *s, unsigned long i)
{
    struct scram *sc = s->sc;
    size_t tl;
    const char *t = elem_text(s, "challenge", &tl);
    char sfirst[512];
    if (t == NULL || b64_dec(t, tl, (unsigned char *)sfirst, sizeof sfirst) < 0)
        return -1;
    const char *nonce = NULL, *salt = NULL;
    size_t nonce_len = 0, salt_len = 0;
    unsigned long iter = 0;
    for (const char *p = sfirst; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 2 && p[1] == '=' && p[0] == 'r') {
            nonce = p + 2;
            nonce_len = n - 2;
        } else if (n > 2 && p[1] == '=' && p[0] == 's') {
            salt = p + 2;
            salt_len = n - 2;
        } else if (n > 2 && p[1] == '=' && p[0] == 'i') {
            iter = strtoul(p + 2, NULL, 10);
        }
        p += n + (e != NULL);
    }
    size_t cl = strlen(sc->cnonce);
    if (nonce == NULL || salt == NULL || iter == 0 || iter > 1000000 ||
        nonce_len <= cl || memcmp(nonce, sc->cnonce, cl) != 0 ||
        scram_salted(opt.first + i % opt.accounts, salt, salt_len, iter,
                     sc->sp) != 0)
        return -1;
    char wo[300];
    int wl = snprintf(wo, sizeof wo, "c=biws,r=%.*s", (int)nonce_len, nonce);
    int al = snprintf(sc->auth_msg, sizeof sc->auth_msg, "%s,%s,%s", sc->bare,
                      sfirst, wo);
    if (wl < 0 || (size_t)wl >= sizeof wo || al < 0 ||
        (size_t)al >= sizeof sc->auth_msg)
        return -1;
    unsigned char ck[SHA1_LEN], stored[SHA1_LEN], sig[SHA1_LEN];
    hmac_sha1(sc->sp, "Client Key", 10, ck);
    if (EVP_Digest(ck, SHA1_LEN, stored, NULL, EVP_sha1(), NULL) != 1)
        return -1;
    hmac_sha1(stored, sc->auth_msg, (size_t)al, sig);
    for (size_t k = 0; k < SHA1_LEN; k++)
        ck[k] ^= sig[k];
    char proof[32], final[400], b64[600], buf[800];
    EVP_EncodeBlock((unsigned char *)proof, ck, SHA1_LEN);
    int fl = snprintf(final, sizeof final, "%s,p=%s", wo, proof);
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *) final, fl);
    int n = snprintf(buf, sizeof buf,
                     "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s"
                     "</response>",
                     b64);
    return sess_send(s, buf, (size_t)n);
}

/* <success/> carries the server's signature: check it. */
static int
scram_verify(struct sess *s)
{
    struct scram *sc = s->sc;
    size_t tl;
    const char *t = elem_text(s, "success", &tl);
    unsigned char sfinal[128], skey[SHA1_LEN], ssig[SHA1_LEN];
    char want[40];
    if (t == NULL || b64_dec(t, tl, sfinal, sizeof sfinal) < 0)
        return -1;
    hmac_sha1(sc->sp, "Server Key", 10, skey);
    hmac_sha1(skey, sc->auth_msg, strlen(sc->auth_msg), ssig);
    EVP_EncodeBlock((unsigned char *)want, ssig, SHA1_LEN);
    const char *v = (const char *)sfinal;
    if (strncmp(v, "v=", 2) != 0 || strcmp(v + 2, want) != 0)
        return -1;
    free(s->sc);
    s->sc = NULL;
    return 0;
}

static int
sess_bind(struct sess *s, const char *resource)
{
    char buf[300];
    int n = snprintf(buf, sizeof buf,
                     "<iq type='set' id='b'><bind "
                     "xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>%s"
                     "</resource></bind></iq>",
                     resource);
    return sess_send(s, buf, (size_t)n);
}

/* Reads what is there into s->in: 1 if something came, 0 if nothing yet,
 * -1 on EOF, an error or a full buffer. */
static int
sess_fill(struct sess *s)
{
    if (s->in == NULL) {
        s->in = malloc(IN_CAP);
        if (s->in == NULL)
            return -1;
        s->len = 0;
        s->in[0] = '\0';
    }
    int got = 0;
    for (;;) {
        size_t room = IN_CAP - 1 - s->len;
        if (room == 0)
            return -1;
        ssize_t n;
        if (s->ssl != NULL) {
            size_t k = 0;
            int r = SSL_read_ex(s->ssl, s->in + s->len, room, &k);
            if (r != 1) {
                int e = SSL_get_error(s->ssl, r);
                ERR_clear_error();
                if (e == SSL_ERROR_WANT_READ)
                    return got;
                return -1;
            }
            n = (ssize_t)k;
        } else {
            n = recv(s->fd, s->in + s->len, room, 0);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return got;
            if (n <= 0)
                return -1;
        }
        s->len = (uint16_t)(s->len + (size_t)n);
        s->in[s->len] = '\0';
        got = 1;
    }
}

/* Drops everything read so far (each step waits for one answer). */
static void
sess_consume(struct sess *s)
{
    s->len = 0;
    if (s->in != NULL)
        s->in[0] = '\0';
}

static bool
sess_has(const struct sess *s, const char *what)
{
    return s->in != NULL && strstr(s->in, what) != NULL;
}

/* Whether element name is all there: "<name .../>" or "</name>". */
static bool
sess_complete(const struct sess *s, const char *name)
{
    char open[32], close[32];
    snprintf(open, sizeof open, "<%s", name);
    snprintf(close, sizeof close, "</%s>", name);
    const char *o = s->in ? strstr(s->in, open) : NULL;
    const char *gt = o ? strchr(o, '>') : NULL;
    return gt != NULL && (gt[-1] == '/' || strstr(gt, close) != NULL);
}

static bool
sess_error(const struct sess *s)
{
    return sess_has(s, "<failure") || sess_has(s, "<stream:error") ||
           sess_has(s, "type='error'") || sess_has(s, "type=\"error\"");
}

/* Drives the TLS handshake: 1 done, 0 wants more, -1 failed. */
static int
sess_handshake(struct sess *s)
{
    int r = SSL_do_handshake(s->ssl);
    if (r == 1)
        return 1;
    int e = SSL_get_error(s->ssl, r);
    ERR_clear_error();
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

/* One step of a negotiating session after input (or connect). Returns
 * -1 when it failed. */
static int
sess_step(struct sess *s, unsigned long i)
{
    char res[32];
    switch (s->state) {
    case ST_CONNECT: {
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err)
            return -1;
        s->state = ST_FEAT1;
        return sess_header(s);
    }
    case ST_FEAT1:
        if (sess_fill(s) < 0)
            return -1;
        if (!sess_has(s, "</stream:features>"))
            return sess_error(s) ? -1 : 0;
        sess_consume(s);
        s->state = ST_PROCEED;
        return sess_send(
            s, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", 51);
    case ST_PROCEED:
        if (sess_fill(s) < 0)
            return -1;
        if (!sess_has(s, "<proceed"))
            return sess_error(s) ? -1 : 0;
        sess_consume(s);
        s->ssl = SSL_new(tls_ctx);
        if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1 ||
            SSL_set_tlsext_host_name(s->ssl, opt.domain) != 1)
            return -1;
        SSL_set_connect_state(s->ssl);
        s->state = ST_HS;
        /* The ClientHello goes out at once. */
        __attribute__((fallthrough));
    case ST_HS: {
        int r = sess_handshake(s);
        if (r <= 0)
            return r;
        s->state = ST_FEAT2;
        return sess_header(s);
    }
    case ST_FEAT2:
        if (sess_fill(s) < 0)
            return -1;
        if (!sess_has(s, "</stream:features>"))
            return sess_error(s) ? -1 : 0;
        sess_consume(s);
        if (opt.mech[0] == 'S') {
            s->state = ST_CHALLENGE;
            return scram_first(s, i);
        }
        s->state = ST_SUCCESS;
        return sess_auth(s, i);
    case ST_CHALLENGE:
        if (sess_fill(s) < 0)
            return -1;
        if (!sess_has(s, "</challenge>"))
            return sess_error(s) ? -1 : 0;
        if (scram_final(s, i) != 0)
            return -1;
        sess_consume(s);
        s->state = ST_SUCCESS;
        return 0;
    case ST_SUCCESS:
        if (sess_fill(s) < 0)
            return -1;
        if (!sess_complete(s, "success"))
            return sess_error(s) ? -1 : 0;
        if (s->sc != NULL && scram_verify(s) != 0)
            return -1;
        sess_consume(s);
        s->state = ST_FEAT3;
        return sess_header(s);
    case ST_FEAT3:
        if (sess_fill(s) < 0)
            return -1;
        if (!sess_has(s, "</stream:features>"))
            return sess_error(s) ? -1 : 0;
        sess_consume(s);
        s->state = ST_BIND;
        snprintf(res, sizeof res, "h%lu", i);
        return sess_bind(s, res);
    case ST_BIND:
        if (sess_fill(s) < 0)
            return -1;
        if (!sess_has(s, "</iq>") && !sess_has(s, "/>"))
            return 0;
        if (!sess_has(s, "type='result'") && !sess_has(s, "type=\"result\""))
            return -1;
        free(s->in);
        s->in = NULL;
        s->len = 0;
        s->state = ST_IDLE;
        return 1;
    default:
        return -1;
    }
}

/* ---- the worker threads ------------------------------------------------- */

/* Opens the socket of session i and starts connecting. */
static int
sess_start(struct worker *w, struct sess *s, unsigned long i)
{
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return -1;
    int one = 1;
    (void)setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (opt.src != NULL) {
        /* The port is chosen at connect, per destination: each source
         * address then gives a full ephemeral range per server address. */
        (void)setsockopt(s->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                         sizeof one);
        struct sockaddr_in sa = {.sin_family = AF_INET};
        sa.sin_addr.s_addr =
            htonl(ntohl(src0.s_addr) + (uint32_t)(i % opt.nsrc));
        if (bind(s->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
            return -1;
    }
    const struct sockaddr_in *h = &hosts[i % nhosts];
    if (connect(s->fd, (const struct sockaddr *)h, sizeof *h) != 0 &&
        errno != EINPROGRESS)
        return -1;
    s->state = ST_CONNECT;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET,
                             .data.u64 = i - w->from};
    return epoll_ctl(w->ep, EPOLL_CTL_ADD, s->fd, &ev);
}

static void
worker_refill(struct worker *w)
{
    while (w->negotiating < opt.inflight && w->next < w->to && !stop) {
        unsigned long i = w->next++;
        struct sess *s = &w->s[i - w->from];
        w->negotiating++;
        if (sess_start(w, s, i) != 0)
            sess_kill(w, s, false);
    }
}

/* An event on a bound session: the server sent something or closed. */
static void
sess_idle_event(struct worker *w, struct sess *s)
{
    char buf[512];
    for (;;) {
        size_t k = 0;
        int r = SSL_read_ex(s->ssl, buf, sizeof buf, &k);
        if (r == 1)
            continue;
        int e = SSL_get_error(s->ssl, r);
        ERR_clear_error();
        if (e != SSL_ERROR_WANT_READ)
            sess_kill(w, s, true);
        return;
    }
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event ev[EVENTS_MAX];
    worker_refill(w);
    while (!stop) {
        int n = epoll_wait(w->ep, ev, EVENTS_MAX, 200);
        for (int k = 0; k < n; k++) {
            unsigned long j = ev[k].data.u64;
            struct sess *s = &w->s[j];
            if (s->state == ST_IDLE) {
                sess_idle_event(w, s);
                continue;
            }
            if (s->state == ST_DEAD || s->state == ST_FREE)
                continue;
            int r = sess_step(s, w->from + j);
            /* Edge-triggered: a step may leave input in OpenSSL or the
             * socket that the next step needs; go on while it advances. */
            while (r == 0 && s->state != ST_CONNECT) {
                uint8_t before = s->state;
                if (s->ssl && SSL_has_pending(s->ssl))
                    r = sess_step(s, w->from + j);
                else
                    break;
                if (s->state == before)
                    break;
            }
            if (r < 0) {
                sess_kill(w, s, false);
            } else if (s->state == ST_IDLE) {
                w->negotiating--;
                atomic_fetch_add(&n_bound, 1);
            }
        }
        worker_refill(w);
    }
    return NULL;
}

/* ---- latency: two more sessions, one message at a time ----------------- */

/* Negotiates session s (number i, resource res) on the calling thread. */
static int
lat_login(struct worker *w, struct sess *s, unsigned long i, const char *res)
{
    (void)res;
    w->negotiating = 1;
    if (sess_start(w, s, i) != 0)
        return -1;
    double give_up = now_s() + opt.timeout;
    while (s->state != ST_IDLE && now_s() < give_up) {
        struct epoll_event ev;
        if (epoll_wait(w->ep, &ev, 1, 200) <= 0)
            continue;
        int r;
        do {
            uint8_t before = s->state;
            r = sess_step(s, i);
            if (r != 0 || s->state == before || s->ssl == NULL ||
                !SSL_has_pending(s->ssl))
                break;
        } while (s->state != ST_IDLE);
        if (r < 0)
            return -1;
    }
    return s->state == ST_IDLE ? 0 : -1;
}


/* Waits for one </message> on r (blocking poll); -1 on timeout or EOF. */
static int
lat_receive(struct sess *r, char *acc, size_t *alen, size_t cap)
{
    double give_up = now_s() + 10;
    for (;;) {
        char *e = strstr(acc, "</message>");
        if (e != NULL) {
            size_t used = (size_t)(e + 10 - acc);
            memmove(acc, acc + used, *alen - used + 1);
            *alen -= used;
            return 0;
        }
        size_t k = 0;
        if (*alen + 1 >= cap)
            *alen = 0;
        int rc = SSL_read_ex(r->ssl, acc + *alen, cap - 1 - *alen, &k);
        if (rc == 1) {
            *alen += k;
            acc[*alen] = '\0';
            continue;
        }
        int err = SSL_get_error(r->ssl, rc);
        ERR_clear_error();
        if (err != SSL_ERROR_WANT_READ || now_s() > give_up)
            return -1;
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        (void)poll(&p, 1, 100);
    }
}

/* Sessions number N and N+1 (accounts as any other); message timings in
 * ms into lat[], count returned (0 on failure). */
static unsigned long
lat_run(double *lat)
{
    struct worker w = {0};
    struct sess s[2] = {{.fd = -1}, {.fd = -1}};
    w.ep = epoll_create1(EPOLL_CLOEXEC);
    w.s = s;
    w.from = opt.sessions;
    w.to = opt.sessions + 2;
    char ra[32], rb[32];
    snprintf(ra, sizeof ra, "h%lu", opt.sessions);
    snprintf(rb, sizeof rb, "h%lu", opt.sessions + 1);
    unsigned long got = 0;
    if (w.ep < 0 || lat_login(&w, &s[0], opt.sessions, ra) != 0 ||
        lat_login(&w, &s[1], opt.sessions + 1, rb) != 0) {
        fprintf(stderr, "hold: the latency sessions could not log in\n");
        goto out;
    }
    (void)epoll_ctl(w.ep, EPOLL_CTL_DEL, s[0].fd, NULL);
    (void)epoll_ctl(w.ep, EPOLL_CTL_DEL, s[1].fd, NULL);
    char to[128], msg[512], acc[8192];
    size_t alen = 0;
    acc[0] = '\0';
    snprintf(to, sizeof to, "%s%lu@%s/%s", opt.prefix,
             opt.first + (opt.sessions + 1) % opt.accounts, opt.domain, rb);
    for (unsigned long k = 0; k < opt.lat_count && !stop; k++) {
        int n = snprintf(msg, sizeof msg,
                         "<message to='%s' type='chat' id='l%lu'><body>"
                         "latency probe %lu</body></message>",
                         to, k, k);
        double t0 = now_s();
        if (sess_send(&s[0], msg, (size_t)n) != 0 ||
            lat_receive(&s[1], acc, &alen, sizeof acc) != 0) {
            fprintf(stderr, "hold: latency message %lu lost\n", k);
            break;
        }
        lat[got++] = (now_s() - t0) * 1e3;
    }
out:
    for (int k = 0; k < 2; k++) {
        SSL_free(s[k].ssl);
        free(s[k].in);
        free(s[k].sc);
        if (s[k].fd >= 0)
            close(s[k].fd);
    }
    if (w.ep >= 0)
        close(w.ep);
    return got;
}

/* ---- command line and main ---------------------------------------------- */


static const struct optdef optdefs[] = {
    {"--host", 's', &opt.hosts},
    {"--port", 'u', &opt.port},
    {"--domain", 's', &opt.domain},
    {"--prefix", 's', &opt.prefix},
    {"--password", 's', &opt.password},
    {"--src", 's', &opt.src},
    {"--mech", 's', &opt.mech},
    {"--nsrc", 'u', &opt.nsrc},
    {"--pid", 'u', &opt.pid},
    {"--sessions", 'u', &opt.sessions},
    {"--accounts", 'u', &opt.accounts},
    {"--first", 'u', &opt.first},
    {"--threads", 'u', &opt.threads},
    {"--inflight", 'u', &opt.inflight},
    {"--lat-count", 'u', &opt.lat_count},
    {"--settle", 'D', &opt.settle},
    {"--hold", 'D', &opt.hold},
    {"--timeout", 'D', &opt.timeout},
};

static int
parse_hosts(void)
{
    const char *h = opt.hosts;
    while (*h != '\0') {
        const char *e = strchr(h, ',');
        size_t n = e ? (size_t)(e - h) : strlen(h);
        char one[64];
        if (nhosts == HOSTS_MAX || n == 0 || n >= sizeof one)
            return -1;
        memcpy(one, h, n);
        one[n] = '\0';
        struct sockaddr_in *sa = &hosts[nhosts++];
        sa->sin_family = AF_INET;
        sa->sin_port = htons((uint16_t)opt.port);
        if (inet_pton(AF_INET, one, &sa->sin_addr) != 1)
            return -1;
        h += n + (e != NULL);
    }
    if (opt.src != NULL && inet_pton(AF_INET, opt.src, &src0) != 1)
        return -1;
    return nhosts > 0 ? 0 : -1;
}

static int
opt_parse(int argc, char **argv)
{
    if (opts_parse(optdefs, sizeof optdefs / sizeof *optdefs, argc, argv, 1,
                   "c2s_hold") != 0)
        return -1;
    if (opt.sessions == 0 || opt.accounts == 0 || opt.threads == 0 ||
        opt.threads > 64 || opt.inflight == 0 || opt.nsrc == 0 ||
        opt.port > 65535 || opt.timeout < 1 ||
        (strcmp(opt.mech, "PLAIN") != 0 &&
         strcmp(opt.mech, "SCRAM-SHA-1") != 0))
        return -1;
    return parse_hosts();
}

static int
usage(void)
{
    fprintf(stderr,
            "usage: hold [--sessions N] [--accounts A] [--first 1] "
            "[--prefix u]\n"
            "  [--domain D] [--password P] [--host IP[,IP...]] [--port N]\n"
            "  [--src IP --nsrc K] [--threads T] [--inflight I] "
            "[--pid SERVER_PID]\n"
            "  [--settle S] [--lat-count N] [--hold S] [--timeout S]\n"
            "  [--mech SCRAM-SHA-1|PLAIN]\n"
            "Session i logs in as PREFIX<first + i %% A>@D, resource h<i>.\n"
            "--hold -1 holds the sessions until SIGINT or SIGTERM.\n");
    return 2;
}

static void
on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int
tls_setup(void)
{
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (tls_ctx == NULL)
        return -1;
    /* Self-signed server certificate: nothing to verify it against. Full
     * handshakes, no tickets kept: each session costs what a new client's
     * does. */
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(tls_ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(tls_ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_mode(tls_ctx, SSL_MODE_RELEASE_BUFFERS);
    return 0;
}


/* Waits until every session is bound or failed, printing progress. */
static void
wait_established(double t0)
{
    double last = t0;
    unsigned long prev = 0;
    double stall_since = now_s();
    while (!stop) {
        unsigned long b = atomic_load(&n_bound), f = atomic_load(&n_failed);
        if (b + f >= opt.sessions)
            break;
        if (b != prev) {
            prev = b;
            stall_since = now_s();
        } else if (now_s() - stall_since > opt.timeout) {
            fprintf(stderr, "hold: no progress for %.0f s, giving up\n",
                    opt.timeout);
            break;
        }
        if (now_s() - last >= 5) {
            last = now_s();
            fprintf(stderr, "hold: %.0f s: %lu bound, %lu failed\n", last - t0,
                    b, f);
        }
        sleep_s(0.1);
    }
}

int
main(int argc, char **argv)
{
    if (opt_parse(argc, argv) != 0)
        return usage();
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    raise_nofile();
    if (tls_setup() != 0)
        return 1;
    struct worker *w = calloc(opt.threads, sizeof *w);
    double *lat = calloc(opt.lat_count + 1, sizeof *lat);
    cache = calloc(opt.accounts, sizeof *cache);
    if (w == NULL || lat == NULL || cache == NULL)
        return 1;
    long rss0 = proc_status_kib(opt.pid, "VmRSS");
    double srv_cpu0 = opt.pid ? pid_cpu_s(opt.pid) : 0;
    double t0 = now_s(), cpu0 = self_cpu_s();
    unsigned long nth = 0;
    for (; nth < opt.threads; nth++) {
        struct worker *k = &w[nth];
        k->from = opt.sessions * nth / opt.threads;
        k->to = opt.sessions * (nth + 1) / opt.threads;
        k->next = k->from;
        k->s = calloc(k->to - k->from + 1, sizeof *k->s);
        k->ep = epoll_create1(EPOLL_CLOEXEC);
        if (k->s == NULL || k->ep < 0)
            return 1;
        for (unsigned long j = 0; j < k->to - k->from; j++)
            k->s[j].fd = -1;
        if (pthread_create(&k->th, NULL, worker_main, k) != 0)
            return 1;
    }
    wait_established(t0);
    double est = now_s() - t0, est_cpu = self_cpu_s() - cpu0;
    double srv_cpu = opt.pid ? pid_cpu_s(opt.pid) - srv_cpu0 : -1;
    unsigned long bound = atomic_load(&n_bound);
    fprintf(stderr, "hold: %lu bound, %lu failed in %.1f s; settling %.0f s\n",
            bound, atomic_load(&n_failed), est, opt.settle);
    sleep_s(opt.settle);
    long rss1 = proc_status_kib(opt.pid, "VmRSS");
    double lcpu0 = self_cpu_s();
    unsigned long nlat = opt.lat_count ? lat_run(lat) : 0;
    double lat_cpu = self_cpu_s() - lcpu0;
    qsort(lat, nlat, sizeof *lat, cmp_double);
    double med = nlat ? lat[nlat / 2] : -1;
    double p99 = nlat ? lat[(size_t)((double)(nlat - 1) * 0.99)] : -1;
    bound = atomic_load(&n_bound);
    printf("result suite=c2s-many sessions=%lu fails=%lu dropped=%lu "
           "establish_s=%.1f logins_per_s=%.0f rss_before_kib=%ld "
           "rss_kib=%ld kib_per_session=%.2f server_cpu_s=%.1f "
           "lat_count=%lu lat_median_ms=%.3f lat_p99_ms=%.3f "
           "gen_cpu_s=%.1f gen_lat_cpu_s=%.2f gen_rss_kib=%ld threads=%lu "
           "mech=%s\n",
           bound, atomic_load(&n_failed), atomic_load(&n_dropped), est,
           est > 0 ? (double)bound / est : 0, rss0, rss1,
           bound && rss0 >= 0 && rss1 >= 0
               ? (double)(rss1 - rss0) / (double)bound
               : -1,
           srv_cpu, nlat, med, p99, est_cpu, lat_cpu,
           proc_status_kib(0, "VmRSS"), opt.threads, opt.mech);
    fflush(stdout);
    if (opt.hold < 0)
        while (!stop)
            sleep_s(0.5);
    else
        sleep_s(opt.hold);
    stop = 1;
    for (unsigned long k = 0; k < nth; k++)
        pthread_join(w[k].th, NULL);
    /* The process ends: the kernel closes every socket at once. */
    return bound == opt.sessions && nlat == opt.lat_count ? 0 : 1;
}
