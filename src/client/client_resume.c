/* SPDX-License-Identifier: MIT */
/* client_resume.c -- stream management on a client connection (XEP-0198):
 * enabling it, the server's <r/> and <a/>, and resumption after a break. */
#include "client/client_int.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"

static const char sm_r[] = "<r xmlns='" NS_SM "'/>";

bool
client_sm_offered(const struct client_conn *c)
{
    return c->features != NULL &&
           stanza_child(c->features, NS_SM, "sm") != NULL;
}

const struct client_sm *
client_sm_state(const struct client_conn *c)
{
    return &c->sm;
}

bool
client_sm_resumable(const struct client_conn *c)
{
    return c->sm.resume && c->lost && !c->ended;
}

int
client_sm_request(struct client_conn *c)
{
    if (!c->sm.enabled)
        return XE_STATE;
    c->sm.since_r = 0;
    return client__write(c, sm_r, sizeof sm_r - 1);
}

int
client__send_stanza(struct client_conn *c,
                    const struct stanza *st,
                    const char *p,
                    size_t len)
{
    int due = 0;
    if (c->sm.enabled && stanza_is_stanza(st)) {
        /* Kept before the write: if the connection is gone, it goes out
         * again after resumption. */
        due = client_sm_keep(&c->sm, p, len);
        if (due < 0)
            return due;
    }
    int rc = client__write(c, p, len);
    if (rc == 0 && due > 0)
        rc = client_sm_request(c);
    return rc;
}

/* The server acknowledged more than we sent: a stream error with the
 * condition XEP-0198 §4 defines, and the connection is done. */
static int
client_sm_bad_ack(struct client_conn *c, const struct stanza *a)
{
    uint32_t h = 0;
    char e[384];
    int n = snprintf(e, sizeof e,
                     "<stream:error><undefined-condition xmlns='" NS_STREAMS_ERR
                     "'/><handled-count-too-high xmlns='" NS_SM
                     "' h='%u' send-count='%u'/></stream:error>"
                     "</stream:stream>",
                     stanza_attr_u32(a, "h", &h) ? (unsigned)h : 0U,
                     (unsigned)(c->sm.acked + (uint32_t)c->sm.qn));
    (void)client__write(c, e, (size_t)n);
    return XE_PROTO;
}

/* <enabled/>, <resumed/> or <failed/>: only as the answer we wait for.
 * Counting starts here, so that a stanza right behind the answer in the
 * same read is counted. */
static int
client_sm_answer(struct client_conn *c, const struct stanza *el)
{
    enum client_sm_wait want = c->sm_wait;
    c->sm_wait = CLIENT_SM_IDLE;
    if (stanza_is(el, NS_SM, "failed") && want != CLIENT_SM_IDLE)
        return 1;
    if (stanza_is(el, NS_SM, "enabled") && want == CLIENT_SM_WAIT_ENABLE) {
        client_sm_on_enabled(&c->sm, el);
        return 1;
    }
    if (stanza_is(el, NS_SM, "resumed") && want == CLIENT_SM_WAIT_RESUME)
        return client_sm_on_resumed(&c->sm, el) < 0 ? XE_PROTO : 1;
    return XE_PROTO;
}

int
client__sm_send_a(struct client_conn *c)
{
    if (!c->sm.enabled)
        return XE_STATE;
    char a[64];
    int n = snprintf(a, sizeof a, "<a xmlns='" NS_SM "' h='%u'/>",
                     (unsigned)c->sm.h_in);
    return client__write(c, a, (size_t)n);
}

int
client__sm_element(struct client_conn *c, const struct stanza *el)
{
    if (stanza_is(el, NS_SM, "r")) {
        if (!c->sm.enabled)
            return XE_PROTO;
        /* A write error shows on the next read or write. */
        if (!c->closing)
            (void)client__sm_send_a(c);
        return 0;
    }
    if (stanza_is(el, NS_SM, "a"))
        return client_sm_ack(&c->sm, el) < 0 ? client_sm_bad_ack(c, el) : 1;
    return client_sm_answer(c, el);
}

/* An answer to <enable/> or <resume/>. */
static bool
client_is_sm_answer(const struct stanza *el, const void *arg)
{
    (void)arg;
    return stanza_is(el, NS_SM, "enabled") || stanza_is(el, NS_SM, "resumed") ||
           stanza_is(el, NS_SM, "failed");
}

/* Send req and wait for the server's answer to it. */
static int
client_sm_ask(struct client_conn *c,
              const char *req,
              size_t len,
              enum client_sm_wait want,
              struct stanza **out,
              struct buf *err)
{
    c->sm_wait = want;
    int rc = client__write(c, req, len);
    if (rc == 0)
        rc = client__wait_for(c, client_is_sm_answer, NULL, c->cfg->timeout_ms,
                              out);
    if (rc == 0 && *out == NULL)
        rc = XE_PROTO;
    if (rc < 0)
        (void)buf_printf(err, "%s: no answer to <%s/>: %s", c->domain,
                         want == CLIENT_SM_WAIT_ENABLE ? "enable" : "resume",
                         rc == XE_PROTO ? "timeout or bad answer"
                                        : xerr_str(rc));
    return rc;
}

int
client_sm_enable(struct client_conn *c, bool resume, struct buf *err)
{
    static const char en[] = "<enable xmlns='" NS_SM "'/>";
    static const char en_resume[] = "<enable xmlns='" NS_SM "' resume='true'/>";
    if (!client_sm_offered(c))
        return 0;
    if (c->sm.enabled) {
        (void)buf_printf(err, "%s: stream management is on already", c->domain);
        return XE_STATE;
    }
    struct stanza *el = NULL;
    int rc = resume ? client_sm_ask(c, en_resume, sizeof en_resume - 1,
                                    CLIENT_SM_WAIT_ENABLE, &el, err)
                    : client_sm_ask(c, en, sizeof en - 1, CLIENT_SM_WAIT_ENABLE,
                                    &el, err);
    stanza_unref(el);
    return rc;
}

/* An acknowledgement. */
static bool
client_is_sm_a(const struct stanza *el, const void *arg)
{
    (void)arg;
    return stanza_is(el, NS_SM, "a");
}

int
client_sm_sync(struct client_conn *c, int timeout_ms)
{
    if (!c->sm.enabled || c->sm.qn == 0)
        return 0;
    int rc = client_sm_request(c);
    long long deadline = client__now_ms() + timeout_ms;
    while (rc == 0 && c->sm.qn > 0) {
        long long left = deadline - client__now_ms();
        if (left <= 0)
            return XE_PROTO;
        struct stanza *a = NULL;
        rc = client__wait_for(c, client_is_sm_a, NULL, (int)left, &a);
        if (rc == 0 && a == NULL)
            return XE_PROTO;
        stanza_unref(a);
    }
    return rc;
}

/* --- resumption (XEP-0198 §5) ----------------------------------------------
 */

/* The identities joined by client_join end with the old connection
 * (docs/sm.md): keep the first keep. */
static void
client_keep_identities(struct client_conn *c, size_t keep)
{
    while (c->nids > keep)
        x_free(c->ids[--c->nids]);
}

/* <resumed/>: what the server had not handled goes out again, in order. */
static int
client_sm_resend(struct client_conn *c, struct client_sm_outcome *out)
{
    out->resumed = true;
    out->h = c->sm.acked;
    out->resent = client_sm_unacked(&c->sm);
    client_keep_identities(c, 1);
    int rc = 0;
    for (size_t i = 0; i < out->resent && rc == 0; i++) {
        size_t len = 0;
        const char *p = client_sm_item(&c->sm, i, &len);
        rc = client__write(c, p, len);
    }
    if (rc == 0 && out->resent > 0)
        rc = client_sm_request(c);
    return rc;
}

/* <failed/>: the old session is gone. What it never acknowledged may be
 * lost; the resource is bound again and stream management enabled
 * afresh. */
static int
client_sm_rebind(struct client_conn *c,
                 struct client_sm_outcome *out,
                 struct buf *err)
{
    out->lost = client_sm_unacked(&c->sm);
    client_sm_fini(&c->sm);
    char resource[JID_PART_BUFSZ] = "";
    struct jid old = {0};
    const char *j = client_jid(c);
    if (jid_parse(&old, j, strlen(j)) == 0) {
        size_t rl = 0;
        const char *r = jid_resource(&old, &rl);
        if (r != NULL && rl < sizeof resource)
            snprintf(resource, sizeof resource, "%.*s", (int)rl, r);
    }
    jid_fini(&old);
    client_keep_identities(c, 0);
    int rc = client_bind(c, resource, err);
    if (rc == 0)
        rc = client_sm_enable(c, true, err);
    return rc;
}

/* <resume previd h/>: the session's id and our count. */
static int
client_sm_send_resume(struct client_conn *c,
                      struct stanza **out,
                      struct buf *err)
{
    struct buf r;
    buf_init(&r, 1024);
    (void)buf_appendz(&r, "<resume xmlns='" NS_SM "' previd='");
    int rc = xml_escape_attr(&r, c->sm.id, strlen(c->sm.id));
    if (rc == 0)
        rc = buf_printf(&r, "' h='%u'/>", (unsigned)c->sm.h_in);
    /* Nothing on the new stream counts before <resumed/>. */
    c->sm.enabled = false;
    if (rc == 0)
        rc = client_sm_ask(c, buf_ptr(&r), buf_len(&r), CLIENT_SM_WAIT_RESUME,
                           out, err);
    buf_fini(&r);
    return rc;
}

int
client_sm_resume(struct client_conn *c,
                 struct client_sm_outcome *out,
                 struct buf *err)
{
    memset(out, 0, sizeof *out);
    if (!c->sm.resume || c->ended) {
        (void)buf_printf(err, "%s: the session cannot be resumed", c->domain);
        return XE_STATE;
    }
    int rc = client__reopen(c, err);
    if (rc == 0)
        rc = client__relogin(c, err);
    struct stanza *el = NULL;
    if (rc == 0)
        rc = client_sm_send_resume(c, &el, err);
    if (rc == 0)
        rc = stanza_is(el, NS_SM, "resumed") ? client_sm_resend(c, out)
                                             : client_sm_rebind(c, out, err);
    stanza_unref(el);
    return rc;
}
