/* SPDX-License-Identifier: MIT */
/* stream.h -- sans-I/O XMPP stream: bytes in, bytes and a close decision out. */
#ifndef XMUX_STREAM_H
#define XMUX_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/log.h"
#include "config/config.h"
#include "jid/jid.h"
#include "stanza/stanza.h"
#include "xml/xml.h"

#define NS_MUX           "urn:xmpp:mux:0"
#define NS_BIDI          "urn:xmpp:bidi"
#define NS_BIDI_FEATURE  "urn:xmpp:features:bidi"
#define NS_DB_FEATURE    "urn:xmpp:features:dialback"

/* Fills buf with n bytes from a CSPRNG (stream ids). */
typedef void stream_random_fn(void *arg, void *buf, size_t n);

/* What all streams of one server share; borrowed, outlives the streams. */
struct stream_ctx {
    const struct config *cfg;
    const struct logger *log;
    stream_random_fn *random;
    void *random_arg;
};

/* Receiving-role states (one handler each, see stream.c's table). */
enum stream_state {
    STREAM_ST_HEADER,  /* waiting for the initiating stream header */
    STREAM_ST_PRETLS,  /* features sent, STARTTLS required next */
    STREAM_ST_CLOSED,  /* nothing more to read or write */
};

/* Maximum bytes queued for output before the stream is cut off. */
#define STREAM_OUT_MAX ((size_t)1 << 20)
/* Stream ids carry this many random bytes (>= 128 bits, CORE-01). */
#define STREAM_ID_BYTES 18

struct stream {
    const struct stream_ctx *ctx;
    uint64_t conn;
    enum cfg_listen_kind kind;
    bool s2s;
    enum stream_state state;
    struct xml_reader *xr;
    struct stanza_builder sb;
    struct buf out;       /* bytes for the peer, drained by the I/O layer */
    bool header_sent;     /* our response header went out */
    bool restart_pending; /* reset the reader once the current feed ends */
    enum stream_cond cond; /* the stream error that ended it, or SC_NONE */
    const char *close_reason;
    char id[2 * STREAM_ID_BYTES + 1];
    const struct cfg_host *host; /* the served domain (stream 'to') */
    char *peer_from; /* s2s: the initiating header's 'from' domain */
    unsigned version_major, version_minor;
};

/* Set up a receiving stream for a connection accepted on a listener of
 * the given kind. ctx is borrowed. */
void stream_init(struct stream *s, const struct stream_ctx *ctx,
                 uint64_t conn, enum cfg_listen_kind kind);
/* Release everything the stream owns. */
void stream_fini(struct stream *s);
/* Process len bytes from the peer. Output accumulates in s->out. Returns
 * 0 while the stream lives, XE_CLOSED once it has finished (flush
 * s->out, then close the connection). */
int stream_feed(struct stream *s, const char *data, size_t len);
/* The negotiation timer ran out: <connection-timeout/> unless done. */
void stream_timeout(struct stream *s);
/* The server is shutting down: <system-shutdown/>. */
void stream_shutdown(struct stream *s);
/* The peer closed its side of the TCP connection. */
void stream_eof(struct stream *s);
/* True once nothing more will be written: flush s->out, then close. */
bool stream_finished(const struct stream *s);
/* Name of a state, for logs. */
const char *stream_state_name(enum stream_state st);

#endif
