/* SPDX-License-Identifier: MIT */
/* sasl.h -- SASL over GNU SASL: the server side (credentials come from the
 * caller) and a small client side. */
#ifndef XMUX_SASL_H
#define XMUX_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

enum sasl_hash { SASL_SHA1, SASL_SHA256 };

#define SASL_SALT_MAX 64
#define SASL_KEY_MAX  32 /* SHA-256 */
/* Iterations for new credentials: aioxmpp refuses fewer than 4096. */
#define SASL_SCRAM_ITERATIONS 4096

/* What the store keeps for one account: SCRAM keys, never a password. */
struct sasl_creds {
    unsigned iterations;
    unsigned char salt[SASL_SALT_MAX];
    size_t salt_len;
    bool has_sha1, has_sha256;
    unsigned char sha1_stored[20], sha1_server[20];
    unsigned char sha256_stored[32], sha256_server[32];
};

/* SASL failure conditions (RFC 6120 §6.5). */
#define SASL_COND_MAP(X)                                                      \
    X(SASL_ABORTED, "aborted")                                                \
    X(SASL_ACCOUNT_DISABLED, "account-disabled")                              \
    X(SASL_CREDENTIALS_EXPIRED, "credentials-expired")                        \
    X(SASL_ENCRYPTION_REQUIRED, "encryption-required")                        \
    X(SASL_INCORRECT_ENCODING, "incorrect-encoding")                          \
    X(SASL_INVALID_AUTHZID, "invalid-authzid")                                \
    X(SASL_INVALID_MECHANISM, "invalid-mechanism")                            \
    X(SASL_MALFORMED_REQUEST, "malformed-request")                            \
    X(SASL_MECHANISM_TOO_WEAK, "mechanism-too-weak")                          \
    X(SASL_NOT_AUTHORIZED, "not-authorized")                                  \
    X(SASL_TEMPORARY_AUTH_FAILURE, "temporary-auth-failure")

enum sasl_cond {
    SASL_COND_NONE = 0,
#define SASL_COND_ENUM(c, s) c,
    SASL_COND_MAP(SASL_COND_ENUM)
#undef SASL_COND_ENUM
};

/* Why an attempt failed, for limits: only SASL_WHY_CREDENTIALS counts as
 * a password guess (a failed channel binding does not, PEERS.md). */
enum sasl_why {
    SASL_WHY_NONE,
    SASL_WHY_CREDENTIALS,     /* wrong password / proof, unknown user */
    SASL_WHY_CHANNEL_BINDING, /* -PLUS with a wrong or unsupported binding */
    SASL_WHY_PROTOCOL,        /* malformed input, bad encoding, bad authzid */
};

/* Per-session facts the mechanism list and the mechanisms depend on. */
struct sasl_params {
    bool tls;                 /* TLS is in force */
    bool allow_plain;         /* config: PLAIN offered over TLS */
    const char *cb_type;      /* "tls-exporter", "tls-unique" or NULL */
    const unsigned char *cb_data;
    size_t cb_len;
    /* EXTERNAL (XEP-0178): JIDs of a verified client certificate. */
    const char *const *cert_jids;
    size_t ncert_jids;
    /* EXTERNAL needs an explicit authzid even with one usable JID: the
     * certificate has several (c2s mux, MUX.md §10.2). */
    bool authzid_required;
    const char *host; /* the served domain of the stream ('to') */
};

enum sasl_status {
    SASL_CONTINUE,   /* send <challenge> with the output, await <response> */
    SASL_NEED_CREDS, /* look up sasl_session_user(), then sasl_provide */
    SASL_SUCCESS,    /* send <success> (with output as additional data) */
    SASL_FAILURE,    /* send <failure> with sasl_session_cond() */
};

struct sasl_server;  /* one per server: the GNU SASL handle */
struct sasl_session; /* one authentication attempt */

/* Create the server-wide SASL handle; NULL with err set on failure. */
struct sasl_server *sasl_server_new(struct buf *err);
void sasl_server_free(struct sasl_server *srv);
/* Most mechanisms sasl_mechanisms can return. */
#define SASL_MECH_MAX 6
/* Store the names of the mechanisms to offer, best first, in names[0..n)
 * (static strings) and a NULL after them if cap > n: EXTERNAL,
 * SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, SCRAM-SHA-256, SCRAM-SHA-1, PLAIN.
 * Nothing without TLS; -PLUS only with a channel binding, PLAIN only with
 * allow_plain, EXTERNAL only with certificate JIDs. Returns n (at most
 * cap). */
size_t sasl_mechanisms(const struct sasl_params *p, const char **names,
                       size_t cap);
/* Start an attempt with mechanism mech; the base64 text of <auth/> ("="
 * for an empty initial response, "" for none) goes to the first
 * sasl_step. params is copied. Never NULL: an unknown mechanism yields a
 * session that fails with invalid-mechanism on the first step (and no TLS
 * with encryption-required). srv must outlive the session. */
struct sasl_session *sasl_start(struct sasl_server *srv, const char *mech,
                                const struct sasl_params *p);
/* Run one step with base64 input (from <auth/> or <response/>); base64
 * output for <challenge/> or <success/> is appended to out (nothing for
 * zero-length data). Details: docs/sasl.md. */
enum sasl_status sasl_step(struct sasl_session *s, const char *b64,
                           size_t len, struct buf *out);
/* After SASL_NEED_CREDS: hand over the account's credentials (NULL: no
 * such account) and continue where the step stopped. */
enum sasl_status sasl_provide(struct sasl_session *s,
                              const struct sasl_creds *creds,
                              struct buf *out);
/* The prepared username (localpart) the client named, or NULL. */
const char *sasl_session_user(const struct sasl_session *s);
/* The authorized identity after success: a bare JID. */
const char *sasl_session_authzid(const struct sasl_session *s);
/* The mechanism's name ("" for an unknown mechanism): a static string,
 * valid after the session is freed. */
const char *sasl_session_mech(const struct sasl_session *s);
/* After SASL_FAILURE: the condition and why. */
enum sasl_cond sasl_session_cond(const struct sasl_session *s);
enum sasl_why sasl_session_why(const struct sasl_session *s);
/* Free a session; accepts NULL. */
void sasl_session_free(struct sasl_session *s);
/* Element name of a condition ("not-authorized"). */
const char *sasl_cond_name(enum sasl_cond c);

/* Derive SCRAM keys for both hashes from a password: random salt (16
 * bytes from the CSPRNG), iterations as given (>= 4096). The password is
 * SASLprep'd first. Returns 0 or XE_INVAL (also for an empty password or
 * one over 1023 octets, or over 2^20 iterations), or XE_SASL if the CSPRNG
 * or a digest fails. */
int sasl_creds_derive(const char *password, size_t len, unsigned iterations,
                      struct sasl_creds *out);

/* --- the client side ---------------------------------------------------- */

/* What a client attempt authenticates with. Strings are borrowed for the
 * call of sasl_client_start only. */
struct sasl_client_params {
    const char *authcid;  /* user name (SCRAM, PLAIN) */
    const char *password; /* SCRAM, PLAIN */
    const char *authzid;  /* NULL or "": none */
    const char *cb_type;  /* -PLUS: "tls-exporter" or "tls-unique" */
    const unsigned char *cb_data;
    size_t cb_len;
};

struct sasl_client; /* one client attempt (GNU SASL client session) */

/* The best mechanism among offered[0..n) that a client with a password
 * can use, in the order of sasl_mechanisms (never EXTERNAL; -PLUS only if
 * cb, a channel binding, is at hand): a static string, or NULL. */
const char *sasl_client_pick(const char *const *offered, size_t n, bool cb);
/* Start a client attempt with mech (a name sasl_mechanisms can return).
 * Returns 0 and *out, XE_INVAL (unknown mechanism, no password for one
 * that needs it, -PLUS without channel-binding data) or XE_SASL (GNU SASL
 * failed). */
int sasl_client_start(const char *mech,
                      const struct sasl_client_params *p,
                      struct sasl_client **out);
/* The mechanism's name (a static string). */
const char *sasl_client_mech(const struct sasl_client *c);
/* One step: the server's base64 data (len 0 for none: the first step,
 * which makes the initial response) in, our base64 data appended to out
 * (nothing for zero-length data: "=" in <auth/> is the caller's). Returns
 * SASL_CONTINUE (send out and wait), SASL_SUCCESS (our side is finished;
 * for SCRAM after the server's signature verified) or SASL_FAILURE (bad
 * data, a forged server signature, or a step after success). */
enum sasl_status sasl_client_step(struct sasl_client *c,
                                  const char *b64,
                                  size_t len,
                                  struct buf *out);
/* True once a step returned SASL_SUCCESS. */
bool sasl_client_done(const struct sasl_client *c);
/* Free an attempt; accepts NULL. */
void sasl_client_free(struct sasl_client *c);

/* The base64 form of in[0..n) (RFC 4648, padded) into out, which holds
 * 4 * ((n + 2) / 3) + 1 bytes; NUL-terminated. Returns its length. */
size_t sasl_b64_encode(const void *in, size_t n, char *out);

#endif
