/* SPDX-License-Identifier: MIT */
/* fuzz_stream.c -- libFuzzer target: the c2s negotiation state machine,
 * bytes in, bytes out, through the sans-I/O stream (SASL included). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "sasl/sasl.h"
#include "stream/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char cfg_text[] =
    "state_dir = \"/tmp/xmux-fuzz\";\n"
    "listen = ( { kind = \"c2s\"; address = \"127.0.0.1\"; port = 5222; } );\n"
    "hosts = ( { domain = \"localhost\"; } );\n"
    "limits = { stanza_size = 8192; stanza_size_preauth = 4096; };\n";

/* Process-wide fixtures: built once, never changed by a run. */
static struct config *cfg;
static struct sasl_server *sasl;
static struct sasl_creds creds;
static struct logger lg = {LOG_ERROR, NULL, NULL};

struct run {
    struct stream s;
    bool want_creds;
    bool have_account;
};

static void
fake_random(void *arg, void *buf, size_t n)
{
    (void)arg;
    memset(buf, 0x5a, n);
}

static void
need_creds(void *arg, struct stream *s, const char *host, const char *user)
{
    (void)s;
    (void)host;
    struct run *r = arg;
    r->want_creds = true;
    r->have_account = user && strcmp(user, "juliet") == 0;
}

static int
bind_ok(void *arg, struct stream *s)
{
    (void)arg;
    (void)s;
    return 0;
}

static void
unbind(void *arg, struct stream *s)
{
    (void)arg;
    (void)s;
}

/* A stanza that reaches routing must carry a 'from' of the session. */
static void
stanza(void *arg, struct stream *s, struct stanza *st)
{
    (void)arg;
    const char *from = stanza_attr(st, "from");
    if (from == NULL || strncmp(from, jid_str(&s->jid), jid_bare_len(&s->jid)))
        abort();
}

static const struct stream_ops ops = {
    .need_creds = need_creds,
    .bind = bind_ok,
    .unbind = unbind,
    .stanza = stanza,
};

static void
setup(void)
{
    struct buf err;
    buf_init(&err, 1024);
    if (config_load_string(cfg_text, "fuzz.conf", &cfg, &err) != 0)
        abort();
    sasl = sasl_server_new(&err);
    if (sasl == NULL ||
        sasl_creds_derive("r0m30", 5, SASL_SCRAM_ITERATIONS, &creds) != 0)
        abort();
    buf_fini(&err);
}

/* The first byte chooses: TLS on from the start (as after STARTTLS or on
 * Direct TLS) and the chunk size; the rest is fed in chunks, answering
 * credential requests between them, as the I/O layer would. Once the
 * stream is in session, every other chunk goes the way a worker of
 * several takes it: parsed apart (stream_parse), then handled
 * (stream_dispatch). */
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
        .sasl = sasl,
        .tls_available = true,
        .ops = &ops,
    };
    struct run r = {0};
    struct stream_parsed parsed = {0};
    size_t nchunk = 0;
    ctx.ops_arg = &r;
    stream_init(&r.s, &ctx, 1, CFG_LISTEN_C2S, NULL);
    if (data[0] & 1)
        r.s.tls = true;
    size_t chunk = 1 + (data[0] >> 1);
    data++;
    size--;
    for (size_t off = 0; off < size;) {
        size_t n = size - off < chunk ? size - off : chunk;
        int rc;
        if (stream_parse_ahead(&r.s) && nchunk++ % 2 == 1) {
            stream_parse(&r.s, (const char *)data + off, n, &parsed);
            rc = stream_dispatch(&r.s, &parsed);
        } else {
            rc = stream_feed(&r.s, (const char *)data + off, n);
        }
        off += n;
        if (r.want_creds) {
            r.want_creds = false;
            rc = stream_provide_creds(&r.s, r.have_account ? &creds : NULL);
        }
        /* An action (STARTTLS) would switch to TLS here: pretend it did. */
        if (stream_take_action(&r.s) == STREAM_ACT_STARTTLS)
            r.s.tls = true;
        buf_reset(&r.s.out);
        if (rc == XE_CLOSED || stream_finished(&r.s))
            break;
    }
    stream_timeout(&r.s);
    stream_fini(&r.s);
    stream_parsed_fini(&parsed);
    return 0;
}
