/* SPDX-License-Identifier: MIT */
/* stream_int.h -- stream module internals shared between its files. */
#ifndef XMUX_STREAM_INT_H
#define XMUX_STREAM_INT_H

#include "stream/stream.h"

/* The initiating stream header as the reader reported it. */
struct stream_header {
    const struct xml_name *el;
    const struct xml_attr *attrs;
    size_t nattrs;
    const struct xml_nsdecl *decls;
    size_t ndecls;
};

void stream__set_state(struct stream *s, enum stream_state st);
int stream__send_raw(struct stream *s, const char *p, size_t n);
int stream__send(struct stream *s, const struct stanza *el);
int stream__send_take(struct stream *s, struct stanza *el);
int stream__send_header(struct stream *s, bool with_version);
int stream__fail(struct stream *s, enum stream_cond cond, const char *text);
int stream__close(struct stream *s, const char *reason);

/* Report a limit hit (ops->limit) with a printf-style detail. */
void stream__limit(struct stream *s, enum cfg_limit what, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));
/* XEP-0478: add <limits/> with what this stream accepts now to features. */
void stream__limits_feature(struct stream *s, struct stanza *features);
/* XEP-0478, initiating: read the peer's <limits/> from its features. */
void stream__read_peer_limits(struct stream *s, const struct stanza *features);

int stream__resume(struct stream *s);
int stream__queue(struct stream *s, struct stanza *el);
void stream__restart(struct stream *s);

/* stream_in.c: the receiving role's header and features. */
int stream__on_header(struct stream *s, const struct stream_header *h);
int stream__on_element(struct stream *s, struct stanza *el);

/* stream_auth.c: STARTTLS and SASL. */
int stream__starttls(struct stream *s, struct stanza *el);
int stream__sasl_element(struct stream *s, struct stanza *el);
int stream__sasl_status(struct stream *s, enum sasl_status st,
                        struct buf *out);
int stream__send_mechanisms(struct stream *s);

/* stream_session.c: binding and stanzas. */
int stream__bind_element(struct stream *s, struct stanza *el);
int stream__session_element(struct stream *s, struct stanza *el);

/* stream_s2s.c: the s2s receiving role after TLS. */
bool stream__s2s_external_ok(struct stream *s);
int stream__s2s_features(struct stream *s);
int stream__s2s_element(struct stream *s, struct stanza *el);
int stream__s2s_session_element(struct stream *s, struct stanza *el);

/* stream_mux.c: c2s multiplexing (MUX.md §10). */
void stream__mux_jids_clear(struct stream *s);
int stream__mux_account(struct stream *s, bool exists);
bool stream__mux_check_accounts(struct stream *s, struct stanza *el);
void stream__c2s_mux_features(struct stream *s, struct stanza *features);
int stream__mux_bind_also(struct stream *s, const char *resource,
                          size_t rlen);
bool stream__mux_resource_busy(struct stream *s, const char *resource,
                               size_t rlen);

/* stream_mux.c: certificate-based multiplexing on s2s. */
bool stream__mux_offer(struct stream *s);
int stream__mux_element(struct stream *s, const struct stanza *el);
int stream__mux_authorization(struct stream *s, const struct stanza *el);
void stream__mux_sasl_done(struct stream *s);
void stream__mux_post_features(struct stream *s, struct stanza *features);
void stream__mux_read_hosts(struct stream *s, const struct stanza *mux);
void stream__mux_out_senders(struct stream *s);

/* stream_sm.c: stream management (XEP-0198). */
bool stream__sm_on(const struct stream *s);
void stream__sm_feature(struct stream *s, struct stanza *features);
int stream__sm_element(struct stream *s, struct stanza *el);
int stream__sm_start(struct stream *s);
void stream__sm_handled(struct stream *s);
int stream__sm_sent(struct stream *s, const struct stanza *el);
void stream__sm_free(struct stream *s);
int stream__sm_park(struct stream *s, const struct stanza *st);

/* stream_out.c: the s2s initiating role. */
int stream__out_header(struct stream *s, const struct stream_header *h);
int stream__out_element(struct stream *s, struct stanza *el);
void stream__out_primary_answer(struct stream *s, enum dialback_state st);
int stream__fail_out(struct stream *s, enum stanza_cond cond,
                     const char *reason);

#endif
