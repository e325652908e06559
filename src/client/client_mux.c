/* SPDX-License-Identifier: MIT */
/* client_mux.c -- c2s connection authorization as the client (MUX §10.6). */
#include "client/client_int.h"

#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/hex.h"

/* Longest F5 secret looked at; ours are CLIENT_SECRET_LEN. */
#define CLIENT_F5_MAX 1024

int
client_authz_new_secret(struct client_authz *a, char *out)
{
    if (a->n == CLIENT_SECRETS_MAX)
        return XE_LIMIT;
    unsigned char raw[CLIENT_SECRET_LEN / 2];
    if (RAND_bytes(raw, (int)sizeof raw) != 1)
        return XE_TLS;
    hex_lower(raw, sizeof raw, a->secret[a->n]);
    OPENSSL_cleanse(raw, sizeof raw);
    memcpy(out, a->secret[a->n], CLIENT_SECRET_LEN + 1);
    a->n++;
    return 0;
}

void
client_authz_drop(struct client_authz *a, const char *secret)
{
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->secret[i], secret) != 0)
            continue;
        OPENSSL_cleanse(a->secret[i], sizeof a->secret[i]);
        memmove(a->secret[i], a->secret[i + 1],
                (a->n - i - 1) * sizeof a->secret[0]);
        a->n--;
        return;
    }
}

static bool
client_is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Index of the secret equal to s[0..n), or -1. Every stored secret is
 * compared in full, so the time says nothing about which one matched or
 * how much of it. */
static int
client_authz_find(const struct client_authz *a, const char *s, size_t n)
{
    int found = -1;
    for (size_t i = 0; i < a->n; i++) {
        bool eq = n == CLIENT_SECRET_LEN &&
                  CRYPTO_memcmp(a->secret[i], s, CLIENT_SECRET_LEN) == 0;
        if (eq && found < 0)
            found = (int)i;
    }
    return found;
}

/* True if st is <iq type='set'> carrying an F5 <mux/>. */
static bool
client_is_f5(const struct stanza *st, const void *arg)
{
    (void)arg;
    const char *type = stanza_attr(st, "type");
    return stanza_is(st, NS_CLIENT, "iq") && type != NULL &&
           strcmp(type, "set") == 0 && stanza_child(st, NS_MUX, "mux") != NULL;
}

struct stanza *
client_authz_answer(struct client_authz *a,
                    const struct stanza *st,
                    bool *matched)
{
    *matched = false;
    if (!client_is_f5(st, NULL))
        return NULL;
    struct buf text;
    buf_init(&text, CLIENT_F5_MAX + 1);
    int rc = stanza_text_copy(stanza_child(st, NS_MUX, "mux"), &text);
    const char *s = buf_ptr(&text);
    size_t n = rc == 0 ? buf_len(&text) : 0;
    while (n > 0 && client_is_space(s[0])) {
        s++;
        n--;
    }
    while (n > 0 && client_is_space(s[n - 1]))
        n--;
    int i = n > 0 ? client_authz_find(a, s, n) : -1;
    buf_fini(&text);
    if (i < 0)
        return stanza_error_reply(st, XC_NOT_ACCEPTABLE, NULL);
    *matched = true;
    char used[CLIENT_SECRET_LEN + 1];
    memcpy(used, a->secret[i], sizeof used);
    client_authz_drop(a, used);
    OPENSSL_cleanse(used, sizeof used);
    struct stanza *r = stanza_new(NS_CLIENT, "iq");
    stanza_set_attr(r, "type", "result");
    if (stanza_attr(st, "id") != NULL)
        stanza_set_attr(r, "id", stanza_attr(st, "id"));
    if (stanza_attr(st, "from") != NULL)
        stanza_set_attr(r, "to", stanza_attr(st, "from"));
    return r;
}

/* Send F4 naming the primary full JID on s. */
static int
client_send_f4(struct client_conn *s, const char *host, const char *secret)
{
    struct buf f4;
    buf_init(&f4, 4096);
    (void)buf_appendz(&f4, "<mux xmlns='" NS_MUX "' host='");
    int rc = xml_escape_attr(&f4, host, strlen(host));
    if (rc == 0)
        rc = buf_printf(&f4, "'>%s</mux>", secret);
    if (rc == 0)
        rc = client__write(s, buf_ptr(&f4), buf_len(&f4));
    buf_fini(&f4);
    return rc;
}

/* Answer F5 IQs on p until one carries a secret of ours. */
static int
client_answer_f5(struct client_conn *p, struct client_authz *a)
{
    for (;;) {
        struct stanza *iq = NULL;
        int rc =
            client__wait_for(p, client_is_f5, NULL, p->cfg->timeout_ms, &iq);
        if (rc < 0)
            return rc;
        if (iq == NULL)
            return XE_PROTO;
        bool ok = false;
        struct stanza *r = client_authz_answer(a, iq, &ok);
        stanza_unref(iq);
        rc = client_send(p, r);
        stanza_unref(r);
        if (rc < 0 || ok)
            return rc;
    }
}

/* Success shows as the server closing s (§10.6 step 6). */
static int
client_wait_closed(struct client_conn *s)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        struct stanza *st = NULL;
        int rc = client_next(s, 200, &st);
        stanza_unref(st);
        if (rc == XE_CLOSED || s->closed)
            return 0;
        if (rc < 0)
            return rc;
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long long ms = (long long)(t1.tv_sec - t0.tv_sec) * 1000 +
                       (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (ms > s->cfg->timeout_ms)
            return XE_PROTO;
    }
}

/* The joined full JID: the secondary's account with p's resource. */
static void
client_add_joined(struct client_conn *p, const struct client_conn *s)
{
    struct jid pj = {0};
    struct jid acct = {0};
    struct jid full = {0};
    const char *pjs = client_jid(p);
    if (jid_parse(&pj, pjs, strlen(pjs)) == 0 &&
        jid_parse(&acct, s->account, strlen(s->account)) == 0) {
        size_t rl = 0;
        const char *res = jid_resource(&pj, &rl);
        if (jid_with_resource(&full, &acct, res, rl) == 0)
            client__add_identity(p, jid_str(&full));
    }
    jid_fini(&full);
    jid_fini(&acct);
    jid_fini(&pj);
}

int
client_join(struct client_conn *primary,
            struct client_conn *secondary,
            struct client_authz *a,
            struct buf *err)
{
    char secret[CLIENT_SECRET_LEN + 1];
    int rc = XE_STATE;
    if (primary->nids == 0 || secondary->nids != 0 ||
        secondary->account == NULL) {
        (void)buf_printf(err, "join: primary must be bound, secondary "
                              "authenticated and not bound");
        goto out;
    }
    rc = client_authz_new_secret(a, secret);
    if (rc < 0) {
        (void)buf_printf(err, "join: no secret: %s", xerr_str(rc));
        goto out;
    }
    rc = client_send_f4(secondary, client_jid(primary), secret);
    if (rc == 0)
        rc = client_answer_f5(primary, a);
    if (rc == 0)
        rc = client_wait_closed(secondary);
    client_authz_drop(a, secret);
    OPENSSL_cleanse(secret, sizeof secret);
    if (rc < 0) {
        (void)buf_printf(
            err, "join %s onto %s: %s", secondary->account, client_jid(primary),
            rc == XE_PROTO ? "not confirmed in time" : xerr_str(rc));
        goto out;
    }
    client_add_joined(primary, secondary);
out:
    client_close(secondary);
    return rc;
}
