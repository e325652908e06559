/* SPDX-License-Identifier: MIT */
/* fuzz_sasl.c -- libFuzzer target: SASL sessions fed arbitrary client data. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "sasl/sasl.h"
#include "sasl/sasl_int.h"

/* Input layout:
 *   byte 0  bits 0-2: mechanism (see mechs); bit 3: the account exists;
 *           bit 4: bind with tls-exporter (else tls-unique); bit 5: the
 *           payload is raw data that we base64-encode (else it is sent as
 *           the base64 text itself); bit 6: two certificate JIDs (else
 *           one); bit 7: start without an initial response.
 *   byte 1  where the payload splits into the first and second message.
 *   rest    the payload. In raw mode, "R@" in the second message becomes
 *           the server's SCRAM nonce, so client-final-messages get past
 *           the nonce check and into GNU SASL. */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const mechs[8] = {
    "EXTERNAL",      "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-256", "SCRAM-SHA-1",        "PLAIN",
    "BOGUS",         "SCRAM-SHA-256",
};

static const unsigned char cb_data[32] = "0123456789abcdef0123456789abcdef";
static const char *const certs[2] = {"juliet@example.org",
                                     "juliet@other.example"};

/* libFuzzer calls the target many times in one process: the server and a
 * real account's keys are made once here (deriving costs milliseconds),
 * which needs these two file-scope variables. */
static struct sasl_server *srv;
static struct sasl_creds creds;

/* Fuzz checks must survive NDEBUG builds, so no assert(). */
static void
check(bool ok)
{
    if (!ok)
        abort();
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    srv = sasl_server_new(NULL);
    check(srv != NULL);
    check(sasl_creds_derive("pencil", 6, SASL_SCRAM_ITERATIONS, &creds) == 0);
    return 0;
}

/* The nonce of a server-first-message in out (base64), or NULL. */
static char *
server_nonce(const struct buf *out)
{
    size_t len = buf_len(out), n = 0;
    if (len == 0 || len % 4 != 0)
        return NULL;
    char *sf = x_malloc(len / 4 * 3 + 1);
    char *nonce = NULL;
    if (sasl__b64_decode(buf_ptr(out), len, sf, &n) == 0 && n > 2 &&
        memcmp(sf, "r=", 2) == 0) {
        const char *comma = memchr(sf, ',', n);
        nonce = x_strndup(sf + 2, comma ? (size_t)(comma - sf - 2) : n - 2);
    }
    x_free(sf);
    return nonce;
}

/* msg[0..len) with "R@" replaced by nonce (if any), base64-encoded. */
static char *
encode(const uint8_t *msg, size_t len, const char *nonce, size_t *outn)
{
    struct buf raw;
    buf_init(&raw, (size_t)4 * SASL_DATA_MAX);
    for (size_t i = 0; i < len; i++) {
        if (nonce && i + 1 < len && msg[i] == 'R' && msg[i + 1] == '@') {
            buf_appendz(&raw, nonce);
            i++;
        } else {
            buf_append(&raw, msg + i, 1);
        }
    }
    char *text = x_malloc(buf_len(&raw) / 3 * 4 + 5);
    *outn = sasl__b64_encode(buf_ptr(&raw), buf_len(&raw), text);
    buf_fini(&raw);
    return text;
}

/* One message: base64 of the raw data, or the bytes as base64 text. */
static enum sasl_status
send_msg(struct sasl_session *s,
         const uint8_t *msg,
         size_t len,
         bool raw,
         const char *nonce,
         struct buf *out)
{
    buf_reset(out);
    if (!raw)
        return sasl_step(s, (const char *)msg, len, out);
    size_t n = 0;
    char *text = encode(msg, len, nonce, &n);
    enum sasl_status st = sasl_step(s, n ? text : "=", n ? n : 1, out);
    x_free(text);
    return st;
}

/* The outcome accessors must agree with the status. */
static void
check_outcome(const struct sasl_session *s, enum sasl_status st)
{
    bool failed = st == SASL_FAILURE;
    check(failed == (sasl_session_cond(s) != SASL_COND_NONE));
    check(failed || sasl_session_why(s) == SASL_WHY_NONE);
    check((st == SASL_SUCCESS) == (sasl_session_authzid(s) != NULL));
    if (failed)
        check(sasl_cond_name(sasl_session_cond(s)) != NULL);
}

static enum sasl_status
maybe_provide(struct sasl_session *s,
              enum sasl_status st,
              bool exists,
              struct buf *out)
{
    if (st != SASL_NEED_CREDS)
        return st;
    check(sasl_session_user(s) != NULL);
    buf_reset(out);
    return sasl_provide(s, exists ? &creds : NULL, out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 2 + 2 * SASL_B64_MAX)
        return 0;
    uint8_t ctl = data[0];
    bool exists = ctl & 8, raw = ctl & 32;
    const uint8_t *msg = data + 2;
    size_t len = size - 2, cut = len * data[1] / 255;
    struct sasl_params p;
    memset(&p, 0, sizeof p);
    p.tls = p.allow_plain = true;
    p.host = "example.org";
    p.cb_type = (ctl & 16) ? "tls-exporter" : "tls-unique";
    p.cb_data = cb_data;
    p.cb_len = (ctl & 16) ? 32 : 12;
    p.cert_jids = certs;
    p.ncert_jids = (ctl & 64) ? 2 : 1;
    struct buf out;
    buf_init(&out, 4096);
    struct sasl_session *s = sasl_start(srv, mechs[ctl & 7], &p);
    enum sasl_status st = SASL_CONTINUE;
    if (ctl & 128)
        st = sasl_step(s, "", 0, &out);
    if (st == SASL_CONTINUE)
        st = maybe_provide(s, send_msg(s, msg, cut, raw, NULL, &out), exists,
                           &out);
    if (st == SASL_CONTINUE) {
        char *nonce = server_nonce(&out);
        st = send_msg(s, msg + cut, len - cut, raw, nonce, &out);
        st = maybe_provide(s, st, exists, &out);
        x_free(nonce);
    }
    check_outcome(s, st);
    /* A finished attempt repeats itself; any other one may go on. */
    enum sasl_status again = send_msg(s, msg, cut, raw, NULL, &out);
    if (st == SASL_SUCCESS || st == SASL_FAILURE)
        check(again == st);
    check_outcome(s, maybe_provide(s, again, exists, &out));
    sasl_session_free(s);
    buf_fini(&out);
    return 0;
}
