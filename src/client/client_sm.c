/* SPDX-License-Identifier: MIT */
/* client_sm.c -- stream management counters of the client (XEP-0198 §4):
 * what the server sent, what it acknowledged, what waits for that. */
#include "client/client.h"

#include <string.h>

#include "base/alloc.h"
#include "base/err.h"

void
client_sm_init(struct client_sm *sm)
{
    memset(sm, 0, sizeof *sm);
}

void
client_sm_fini(struct client_sm *sm)
{
    for (size_t i = 0; i < sm->qn; i++)
        x_free(sm->q[i].p);
    x_free(sm->q);
    client_sm_init(sm);
}

/* True for "true" or "1" (xs:boolean). */
static bool
client_sm_true(const char *v)
{
    return v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

void
client_sm_on_enabled(struct client_sm *sm, const struct stanza *el)
{
    client_sm_fini(sm);
    sm->enabled = true;
    const char *id = stanza_attr(el, "id");
    if (id != NULL && id[0] != '\0' && strlen(id) <= CLIENT_SM_ID_MAX &&
        client_sm_true(stanza_attr(el, "resume"))) {
        memcpy(sm->id, id, strlen(id) + 1);
        sm->resume = true;
    }
    uint32_t max = 0;
    if (sm->resume && stanza_attr_u32(el, "max", &max))
        sm->max = max;
}

void
client_sm_received(struct client_sm *sm, const struct stanza *el)
{
    /* Wraps to 0 after 2^32 - 1, as the server's count does. */
    if (sm->enabled && stanza_is_stanza(el))
        sm->h_in++;
}

int
client_sm_keep(struct client_sm *sm, const char *p, size_t len)
{
    if (sm->qn >= CLIENT_SM_MAX_UNACKED)
        return XE_LIMIT;
    if (sm->qn == sm->qcap) {
        sm->qcap = sm->qcap ? 2 * sm->qcap : 16;
        sm->q = x_realloc(sm->q, sm->qcap * sizeof *sm->q);
    }
    struct client_sm_item *it = &sm->q[sm->qn++];
    it->p = x_malloc(len + 1);
    memcpy(it->p, p, len);
    it->p[len] = '\0';
    it->len = len;
    if (++sm->since_r < CLIENT_SM_REQUEST_EVERY)
        return 0;
    sm->since_r = 0;
    return 1;
}

/* The server handled everything up to its h: drop those from the queue.
 * h - acked counts (mod 2^32) what it handled since its last answer; more
 * than is waiting is a lie (XEP-0198 §4, handled-count-too-high). */
static int
client_sm_take_h(struct client_sm *sm, const struct stanza *el)
{
    uint32_t h = 0;
    if (!stanza_attr_u32(el, "h", &h))
        return XE_PROTO;
    uint32_t n = h - sm->acked;
    if (n > sm->qn)
        return XE_PROTO;
    if (n > 0) {
        for (size_t i = 0; i < n; i++)
            x_free(sm->q[i].p);
        memmove(sm->q, sm->q + n, (sm->qn - n) * sizeof *sm->q);
        sm->qn -= n;
    }
    sm->acked = h;
    return (int)n;
}

int
client_sm_ack(struct client_sm *sm, const struct stanza *a)
{
    if (!sm->enabled)
        return XE_PROTO;
    return client_sm_take_h(sm, a);
}

int
client_sm_on_resumed(struct client_sm *sm, const struct stanza *el)
{
    int rc = client_sm_take_h(sm, el);
    if (rc < 0)
        return rc;
    sm->enabled = true;
    sm->since_r = 0;
    return (int)sm->qn;
}

size_t
client_sm_unacked(const struct client_sm *sm)
{
    return sm->qn;
}

const char *
client_sm_item(const struct client_sm *sm, size_t i, size_t *len)
{
    if (i >= sm->qn) {
        *len = 0;
        return NULL;
    }
    *len = sm->q[i].len;
    return sm->q[i].p;
}
