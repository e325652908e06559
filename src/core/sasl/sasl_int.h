/* SPDX-License-Identifier: MIT */
/* sasl_int.h -- internals shared by the sasl module's files and its tests. */
#ifndef XMUX_SASL_INT_H
#define XMUX_SASL_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <gsasl.h>

#include "base/buf.h"
#include "sasl/sasl.h"

/* Decoded bytes accepted in one step; more is a malformed request. */
#define SASL_DATA_MAX 8192
/* The longest base64 text that can decode to SASL_DATA_MAX bytes. */
#define SASL_B64_MAX ((size_t)(SASL_DATA_MAX + 2) / 3 * 4)
/* PLAIN: longest authcid and password (octets, before preparation). */
#define SASL_PLAIN_PART_MAX 1023
/* Room for a SASLprep'd password: NFKC can lengthen the text. */
#define SASL_PREP_MAX ((size_t)4 * SASL_PLAIN_PART_MAX)
/* Longest authzid: a bare JID of two full parts and the '@'. */
#define SASL_AUTHZID_MAX ((size_t)2 * 1023 + 1)
/* Iteration counts accepted from the store and for new credentials. The
 * ceiling bounds the PBKDF2 work PLAIN makes the server do. */
#define SASL_ITER_MIN_STORED 1
#define SASL_ITER_MAX        (1u << 20)
/* Salt length of new credentials (sasl_creds_derive). */
#define SASL_SALT_NEW 16
/* Channel-binding data longer than this is not something TLS produces. */
#define SASL_CB_MAX 64
/* Length of the per-server secret behind the decoy credentials. */
#define SASL_SECRET_LEN 32

/* The mechanism families; each has its own file. */
enum sasl_kind { SASL_KIND_SCRAM, SASL_KIND_PLAIN, SASL_KIND_EXTERNAL };

/* Where an attempt is; sasl_step dispatches on it (sasl.c). */
enum sasl_state {
    SASL_ST_INITIAL, /* nothing received yet: <auth/> comes next */
    SASL_ST_FIRST,   /* sent an empty challenge: the first data comes next */
    SASL_ST_CREDS,   /* returned SASL_NEED_CREDS: sasl_provide comes next */
    SASL_ST_NEXT,    /* sent a challenge with data: a response comes next */
    SASL_ST_DONE,    /* succeeded or failed: nothing changes any more */
    SASL_ST_COUNT
};

/* One step with decoded data data[0..len) (NUL-terminated there). */
typedef enum sasl_status sasl_data_fn(struct sasl_session *s,
                                      const char *data,
                                      size_t len,
                                      struct buf *out);
/* The credentials arrived (creds NULL: no such account). */
typedef enum sasl_status sasl_provide_fn(struct sasl_session *s,
                                         const struct sasl_creds *creds,
                                         struct buf *out);

/* A mechanism: its name and what it does with each event. */
struct sasl_mech {
    const char *name;
    enum sasl_kind kind;
    enum sasl_hash hash; /* SCRAM only */
    bool plus;           /* SCRAM only: channel binding required */
    sasl_data_fn *first; /* the first data (initial or first response) */
    sasl_provide_fn *provide;
    sasl_data_fn *next; /* a response after a challenge with data */
};

struct sasl_server {
    Gsasl *gs;
    /* Keys the decoy credentials for unknown users (sasl_creds.c). */
    unsigned char secret[SASL_SECRET_LEN];
};

struct sasl_session {
    struct sasl_server *srv;
    const struct sasl_mech *mech; /* NULL: unknown mechanism */
    enum sasl_state st;
    enum sasl_status status; /* what a finished session keeps returning */
    enum sasl_cond cond;
    enum sasl_why why;
    /* Set by sasl_start when the first step must fail, and with what. */
    enum sasl_cond start_cond;
    enum sasl_why start_why;
    /* Copies of the parameters (sasl_start copies them). */
    char *host;
    char *cb_type;
    unsigned char *cb_data;
    size_t cb_len;
    char **cert_jids;
    size_t ncert_jids;
    bool authzid_required; /* EXTERNAL: no implicit identity */
    bool cb_offered; /* -PLUS mechanisms were on offer */
    /* Results. */
    char *user;    /* prepared localpart, once known */
    char *authzid; /* bare JID to authorize; public after success only */
    /* Held between a step and sasl_provide; wiped when done. */
    char *pending; /* SCRAM client-first-message, PLAIN password */
    size_t pending_len;
    size_t gs2_len; /* SCRAM: length of the gs2-header in pending */
    struct sasl_creds creds;
    bool decoy; /* creds are decoys: the attempt must fail */
    /* SCRAM after sasl_provide. */
    Gsasl_session *gs;
    char *gs2_header; /* copy of the gs2-header, for the c= check */
    char *nonce;      /* client nonce + server nonce */
};

/* The mechanism called name, or NULL (sasl.c). */
const struct sasl_mech *sasl__mech_find(const char *name);
/* The i-th mechanism, best first (i < SASL_MECH_MAX), or NULL. */
const struct sasl_mech *sasl__mech_nth(size_t i);

/* End the attempt with a failure; always returns SASL_FAILURE. Wipes and
 * frees everything secret the session holds. */
enum sasl_status
sasl__fail(struct sasl_session *s, enum sasl_cond cond, enum sasl_why why);
/* End the attempt with success as s->authzid; wipes the secrets. Returns
 * SASL_SUCCESS. */
enum sasl_status sasl__succeed(struct sasl_session *s);
/* Wait for sasl_provide: keep the user name; returns SASL_NEED_CREDS. */
enum sasl_status sasl__need_creds(struct sasl_session *s, const char *user);
/* Check the authzid a client asked for (NULL or "" for none) against the
 * bare JID user@host, and store that JID in *jid (x_free). Returns
 * SASL_COND_NONE, SASL_INVALID_AUTHZID, or SASL_TEMPORARY_AUTH_FAILURE if
 * the stream's host cannot form a JID. */
enum sasl_cond sasl__authz_user(const struct sasl_session *s,
                                const char *user,
                                const char *authzid,
                                char **jid);
/* Prepare the raw user name in[0..len) with nodeprep into out (at least
 * JID_PART_BUFSZ bytes). Returns 0 or XE_JID_NODE. */
int sasl__user_prep(const char *in, size_t len, char *out, size_t outlen);
/* True if s[0..len) is well-formed UTF-8 without NUL bytes. */
bool sasl__utf8_ok(const char *s, size_t len);

/* Strict base64 (RFC 4648 §4, padded, no whitespace, canonical final
 * bits): decode in[0..len) into out (at least len / 4 * 3 + 1 bytes,
 * NUL-terminated after the data). Returns 0 or XE_INVAL (sasl_b64.c). */
int sasl__b64_decode(const char *in, size_t len, char *out, size_t *outn);
/* Encode in[0..n) into out, which has room for 4 * ((n + 2) / 3) + 1
 * bytes; returns the text length. */
size_t sasl__b64_encode(const void *in, size_t n, char *out);
/* Append the base64 form of in[0..n) to b. Returns 0 or XE_LIMIT. */
int sasl__b64_append(struct buf *b, const void *in, size_t n);

/* Length of a hash's digest (20 or 32). */
size_t sasl__hash_len(enum sasl_hash h);
/* The StoredKey and ServerKey of a hash in creds (NULL if absent). */
const unsigned char *sasl__creds_stored(const struct sasl_creds *c,
                                        enum sasl_hash h);
const unsigned char *sasl__creds_server(const struct sasl_creds *c,
                                        enum sasl_hash h);
/* True if creds can be used: sane salt and iteration count. */
bool sasl__creds_ok(const struct sasl_creds *c);
/* SCRAM keys from an already SASLprep'd password (RFC 5802 §3):
 * SaltedPassword = PBKDF2(pw, salt, iter), ClientKey = HMAC(SaltedPassword,
 * "Client Key"), StoredKey = H(ClientKey), ServerKey = HMAC(SaltedPassword,
 * "Server Key"). server may be NULL. Returns 0 or XE_SASL. */
int sasl__scram_keys(enum sasl_hash h,
                     const char *pw,
                     size_t pwlen,
                     const unsigned char *salt,
                     size_t saltlen,
                     unsigned iter,
                     unsigned char *stored,
                     unsigned char *server);
/* sasl_creds_derive with a given salt (tests use the RFC vectors). */
int sasl__creds_derive_salt(const char *password,
                            size_t len,
                            unsigned iterations,
                            const unsigned char *salt,
                            size_t saltlen,
                            struct sasl_creds *out);
/* SASLprep password[0..len) (query: unassigned code points allowed) into
 * a fresh string the caller wipes and frees with sasl__prepped_free.
 * Returns 0 or XE_INVAL (not UTF-8, a NUL byte, longer than
 * SASL_PLAIN_PART_MAX, refused by the profile, or empty once prepared). */
int sasl__saslprep(const char *password, size_t len, bool query, char **out);
void sasl__prepped_free(char *p);
/* Decoy credentials for an account that does not exist: the same for the
 * same user on this server, so repeated attempts cannot tell them from
 * real ones (no user enumeration). */
void sasl__creds_decoy(const struct sasl_server *srv,
                       const char *user,
                       struct sasl_creds *out);

/* Mechanism entry points (sasl_scram.c, sasl_plain.c, sasl_external.c). */
enum sasl_status sasl__scram_first(struct sasl_session *s,
                                   const char *data,
                                   size_t len,
                                   struct buf *out);
enum sasl_status sasl__scram_provide(struct sasl_session *s,
                                     const struct sasl_creds *creds,
                                     struct buf *out);
enum sasl_status sasl__scram_final(struct sasl_session *s,
                                   const char *data,
                                   size_t len,
                                   struct buf *out);
/* The GNU SASL callback: answers SCRAM properties from the session. */
int sasl__gsasl_cb(Gsasl *ctx, Gsasl_session *gs, Gsasl_property prop);
/* Set prop of gs to the base64 of bin[0..n) (salts, keys, channel
 * bindings: at most 64 bytes). Returns a GSASL_* code: GSASL_NO_CALLBACK
 * for NULL or over-long data (sasl_scram.c). */
int sasl__gsasl_set_b64(Gsasl_session *gs,
                        Gsasl_property prop,
                        const unsigned char *bin,
                        size_t n);
enum sasl_status sasl__plain_first(struct sasl_session *s,
                                   const char *data,
                                   size_t len,
                                   struct buf *out);
enum sasl_status sasl__plain_provide(struct sasl_session *s,
                                     const struct sasl_creds *creds,
                                     struct buf *out);
enum sasl_status sasl__external_first(struct sasl_session *s,
                                      const char *data,
                                      size_t len,
                                      struct buf *out);

#endif
