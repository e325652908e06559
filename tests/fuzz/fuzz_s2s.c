/* SPDX-License-Identifier: MIT */
/* fuzz_s2s.c -- libFuzzer target: s2s streams in both roles through the
 * sans-I/O stream: the receiving role after TLS (EXTERNAL, bidi, dialback
 * requests and answers, addressing checks) and the initiating role (the
 * peer's headers and features, STARTTLS, SASL and dialback answers,
 * piggybacked pairs, db:verify, reverse stanzas over bidi), with mux:
 * offers, requests, host lists and connection-authorization elements. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "stream/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char cfg_text[] =
    "state_dir = \"/tmp/xmux-fuzz\";\n"
    "listen = ( { kind = \"s2s\"; address = \"127.0.0.1\"; port = 5269; } );\n"
    "hosts = ( { domain = \"capulet.example\"; },\n"
    "          { domain = \"rooms.capulet.example\"; } );\n"
    "limits = { stanza_size = 8192; stanza_size_preauth = 4096; };\n";

/* Process-wide fixtures: built once, never changed by a run. */
static struct config *cfg;
static struct tls_ctx *tls;
static struct logger lg = {LOG_ERROR, NULL, NULL};
static const unsigned char secret[32] = {1, 2, 3};

struct run {
    struct stream s;
    bool verify_asked;
    char vsender[JID_DOMAIN_BUFSZ], vtarget[JID_DOMAIN_BUFSZ];
};

static void
fake_random(void *arg, void *buf, size_t n)
{
    (void)arg;
    memset(buf, 0x5a, n);
}

static void
unbind(void *arg, struct stream *s)
{
    (void)arg;
    (void)s;
}

/* Only a negotiated stream hands stanzas on, with both addresses. */
static void
stanza(void *arg, struct stream *s, struct stanza *st)
{
    (void)arg;
    if (s->state != STREAM_ST_SESSION || stanza_attr(st, "from") == NULL ||
        stanza_attr(st, "to") == NULL)
        abort();
}

static void
changed(void *arg, struct stream *s)
{
    (void)arg;
    (void)s;
}

static void
db_verify(void *arg, struct stream *s, const struct dialback_elem *e)
{
    struct run *r = arg;
    if (s->initiating && !s->bidi)
        abort(); /* only a bidi peer may ask on our own stream */
    r->verify_asked = true;
    memcpy(r->vsender, e->from, sizeof(r->vsender));
    memcpy(r->vtarget, e->to, sizeof(r->vtarget));
}

static void
db_verified(void *arg, struct stream *s, const struct dialback_elem *ans)
{
    (void)arg;
    (void)ans;
    if (!s->initiating)
        abort();
}

/* An F4 passed the stream's checks: the secret is never empty and within
 * its bound. */
static int
mux_authz(void *arg, struct stream *s, const char *via, const char *sec,
          size_t len)
{
    (void)arg;
    (void)s;
    if (via == NULL || sec == NULL || len == 0 || len > MUX_SECRET_MAX)
        abort();
    return 0;
}

static const struct stream_ops ops = {
    .mux_authz = mux_authz,
    .unbind = unbind,
    .stanza = stanza,
    .s2s_changed = changed,
    .db_verify = db_verify,
    .db_verified = db_verified,
};

static void
setup(void)
{
    struct buf err;
    buf_init(&err, 1024);
    if (config_load_string(cfg_text, "fuzz.conf", &cfg, &err) != 0)
        abort();
    tls = tls_ctx_new(NULL, &err);
    if (tls == NULL)
        abort();
    buf_fini(&err);
}

/* Between chunks, what the server around the stream would do, chosen by
 * one input byte. */
static void
poke(struct run *r, uint8_t b)
{
    struct stream *s = &r->s;
    if (r->verify_asked && (b & 3) != 0) {
        r->verify_asked = false;
        stream_db_complete(s, r->vsender, r->vtarget,
                           (b & 3) == 1   ? DIALBACK_T_VALID
                           : (b & 3) == 2 ? DIALBACK_T_INVALID
                                          : DIALBACK_T_ERROR,
                           DIALBACK_C_REMOTE_SERVER_TIMEOUT);
    }
    if (b & 4)
        stream_s2s_request(s, "rooms.capulet.example", "montague.example");
    if (b & 8)
        stream_db_verify(s, "capulet.example", "montague.example", "abc",
                         "0123");
    if (b & 16)
        stream_s2s_timeout(s, "rooms.capulet.example", "montague.example");
    if (b & 32)
        (void)stream_s2s_pair(s, "capulet.example", "montague.example", NULL);
    if (b & 64)
        stream_mux_authz_done(s, (b & 1) != 0);
    if (b & 128)
        stream_mux_request_authz(s, "montague.example", "1-2-3");
}

/* The first byte chooses the role, TLS and the chunk size; each chunk is
 * followed by one byte for poke(). */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (cfg == NULL)
        setup();
    if (size < 1)
        return 0;
    struct stream_ctx ctx = {
        .cfg = cfg,
        .log = &lg,
        .random = fake_random,
        .tls_available = true,
        .db_secret = secret,
        .db_secret_len = sizeof(secret),
        .ops = &ops,
    };
    struct run r;
    memset(&r, 0, sizeof(r));
    ctx.ops_arg = &r;
    bool initiating = data[0] & 1;
    struct tls_conn *tc = NULL;
    if (initiating) {
        stream_init_out(&r.s, &ctx, 1, &cfg->hosts[0], "montague.example");
        stream_connected(&r.s, false);
    } else {
        stream_init(&r.s, &ctx, 1, CFG_LISTEN_S2S, NULL);
    }
    if (data[0] & 2) {
        /* As after STARTTLS: a session that never saw a certificate. */
        tc = tls_conn_new(tls, initiating ? TLS_CLIENT : TLS_SERVER,
                          "capulet.example", NULL, 1 << 16);
        if (initiating)
            stream_tls_up(&r.s, tc);
        else
            stream_starttls_done(&r.s, tc);
    }
    size_t chunk = 1 + (data[0] >> 2);
    data++;
    size--;
    for (size_t off = 0; off < size;) {
        size_t n = size - off < chunk ? size - off : chunk;
        int rc = stream_feed(&r.s, (const char *)data + off, n);
        off += n;
        if (stream_take_action(&r.s) == STREAM_ACT_STARTTLS && tc == NULL) {
            tc = tls_conn_new(tls, initiating ? TLS_CLIENT : TLS_SERVER,
                              "capulet.example", NULL, 1 << 16);
            stream_starttls_done(&r.s, tc);
            if (initiating)
                stream_tls_up(&r.s, tc);
        }
        if (off < size)
            poke(&r, (uint8_t)data[off++]);
        buf_reset(&r.s.out);
        if (rc == XE_CLOSED || stream_finished(&r.s))
            break;
    }
    stream_idle_close(&r.s);
    stream_fini(&r.s);
    tls_conn_free(tc);
    return 0;
}
