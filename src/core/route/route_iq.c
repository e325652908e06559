/* SPDX-License-Identifier: MIT */
/* route_iq.c -- <iq/>: checks, delivery, and IQs the server answers itself. */
#include <string.h>

#include "route/route_int.h"

#ifndef XMUX_VERSION
#define XMUX_VERSION "0"
#endif

#define NS_DISCO_INFO  "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_PING        "urn:xmpp:ping"
#define NS_VERSION     "jabber:iq:version"

enum iq_type {
    IQ_GET,
    IQ_SET,
    IQ_RESULT,
    IQ_ERROR,
    IQ_INVALID,
};

static enum iq_type
iq_type(const char *t)
{
    if (t == NULL)
        return IQ_INVALID;
    if (strcmp(t, "get") == 0)
        return IQ_GET;
    if (strcmp(t, "set") == 0)
        return IQ_SET;
    if (strcmp(t, "result") == 0)
        return IQ_RESULT;
    if (strcmp(t, "error") == 0)
        return IQ_ERROR;
    return IQ_INVALID;
}

/* --- payload handlers ---------------------------------------------------- */

/* Fills a result for one query; returns XC_NONE or the error to send. */
typedef enum stanza_cond route_iq_fn(struct stanza *reply,
                                     const struct stanza *query);

struct iq_handler {
    const char *ns;
    const char *name;
    route_iq_fn *fn;
};

static void
add_feature(struct stanza *q, const char *var)
{
    stanza_set_attr(stanza_add_child(q, NULL, "feature"), "var", var);
}

/* XEP-0030 §3.1: a node we do not have is item-not-found. */
static bool
has_node(const struct stanza *query)
{
    return stanza_attr(query, "node") != NULL;
}

static enum stanza_cond
domain_info(struct stanza *reply, const struct stanza *query)
{
    if (has_node(query))
        return XC_ITEM_NOT_FOUND;
    struct stanza *q = stanza_add_child(reply, NS_DISCO_INFO, "query");
    struct stanza *id = stanza_add_child(q, NULL, "identity");
    stanza_set_attr(id, "category", "server");
    stanza_set_attr(id, "type", "im");
    stanza_set_attr(id, "name", "xmux");
    add_feature(q, NS_DISCO_INFO);
    add_feature(q, NS_DISCO_ITEMS);
    add_feature(q, NS_PING);
    add_feature(q, NS_VERSION);
    return XC_NONE;
}

/* The same answer for every account JID on a local host: without an
 * account store, it reveals nothing about which accounts exist. */
static enum stanza_cond
account_info(struct stanza *reply, const struct stanza *query)
{
    if (has_node(query))
        return XC_ITEM_NOT_FOUND;
    struct stanza *q = stanza_add_child(reply, NS_DISCO_INFO, "query");
    struct stanza *id = stanza_add_child(q, NULL, "identity");
    stanza_set_attr(id, "category", "account");
    stanza_set_attr(id, "type", "registered");
    add_feature(q, NS_DISCO_INFO);
    add_feature(q, NS_DISCO_ITEMS);
    add_feature(q, NS_PING);
    return XC_NONE;
}

static enum stanza_cond
disco_items(struct stanza *reply, const struct stanza *query)
{
    if (has_node(query))
        return XC_ITEM_NOT_FOUND;
    stanza_add_child(reply, NS_DISCO_ITEMS, "query");
    return XC_NONE;
}

/* XEP-0199 §4: an empty result. */
static enum stanza_cond
ping(struct stanza *reply, const struct stanza *query)
{
    (void)reply;
    (void)query;
    return XC_NONE;
}

/* XEP-0092: name and version; the OS is left out (it helps attackers
 * more than anyone else). */
static enum stanza_cond
version(struct stanza *reply, const struct stanza *query)
{
    (void)query;
    struct stanza *q = stanza_add_child(reply, NS_VERSION, "query");
    stanza_add_text(stanza_add_child(q, NULL, "name"), "xmux", 4);
    stanza_add_text(stanza_add_child(q, NULL, "version"), XMUX_VERSION,
                    strlen(XMUX_VERSION));
    return XC_NONE;
}

static const struct iq_handler domain_handlers[] = {
    {NS_DISCO_INFO, "query", domain_info},
    {NS_DISCO_ITEMS, "query", disco_items},
    {NS_PING, "ping", ping},
    {NS_VERSION, "query", version},
};

static const struct iq_handler account_handlers[] = {
    {NS_DISCO_INFO, "query", account_info},
    {NS_DISCO_ITEMS, "query", disco_items},
    {NS_PING, "ping", ping},
};

/* Answer a get or set addressed to the server or to an account (RFC 6121
 * §8.5.1): every handler here is for 'get'; anything else, including a
 * 'set' of a known namespace, is service-unavailable (CORE-18). */
static void
server_iq(struct route_ctx *rc,
          enum iq_type t,
          const struct iq_handler *h,
          size_t n)
{
    const struct stanza *query = stanza_first_child(rc->st);
    for (size_t i = 0; i < n && t == IQ_GET; i++) {
        if (!stanza_is(query, h[i].ns, h[i].name))
            continue;
        struct stanza *reply = route__result_new(rc);
        enum stanza_cond c = h[i].fn(reply, query);
        if (c != XC_NONE) {
            stanza_unref(reply);
            route__error(rc, c);
            return;
        }
        route__reply_take(rc, reply);
        return;
    }
    route__error(rc, XC_SERVICE_UNAVAILABLE);
}

/* A result or error goes to the full JID it names if that is bound, and
 * is dropped otherwise: nothing waits for it (RFC 6121 §8.5.3.2.1). */
static void
iq_response(struct route_ctx *rc)
{
    struct route_session *sess = NULL;
    if (rc->dest == ROUTE_TO_FULL)
        sess = route__session(rc->r, jid_str(&rc->to), jid_len(&rc->to));
    if (sess == NULL || !route__alive(sess)) {
        route__drop(rc, "no-requester");
        return;
    }
    route__log(rc, "deliver", NULL);
    route__deliver(rc, sess, rc->st);
}

/* A get or set to a full JID: the bound resource answers it; without
 * one, the server does (RFC 6121 §8.5.3.2.1). */
static void
iq_full(struct route_ctx *rc)
{
    struct route_session *sess =
        route__session(rc->r, jid_str(&rc->to), jid_len(&rc->to));
    if (sess == NULL || !route__alive(sess)) {
        route__error(rc, XC_SERVICE_UNAVAILABLE);
        return;
    }
    route__log(rc, "deliver", NULL);
    if (!route__deliver(rc, sess, rc->st)) {
        /* The requester must still get exactly one answer (CORE-18). */
        route__error(rc, XC_SERVICE_UNAVAILABLE);
    }
}

void
route__iq(struct route_ctx *rc)
{
    enum iq_type t = iq_type(rc->type);
    if (t == IQ_ERROR) {
        iq_response(rc);
        return;
    }
    /* RFC 6120 §8.2.3: an id, a known type, and exactly one payload in a
     * get or set. */
    if (t == IQ_INVALID || stanza_attr(rc->st, "id") == NULL ||
        ((t == IQ_GET || t == IQ_SET) && stanza_child_count(rc->st) != 1)) {
        route__error(rc, XC_BAD_REQUEST);
        return;
    }
    if (t == IQ_RESULT) {
        iq_response(rc);
        return;
    }
    switch (rc->dest) {
    case ROUTE_TO_REMOTE: /* route__dispatch sends these on */
        route__remote(rc);
        break;
    case ROUTE_TO_DOMAIN:
        server_iq(rc, t, domain_handlers,
                  sizeof(domain_handlers) / sizeof(domain_handlers[0]));
        break;
    case ROUTE_TO_NONE:
    case ROUTE_TO_BARE:
        server_iq(rc, t, account_handlers,
                  sizeof(account_handlers) / sizeof(account_handlers[0]));
        break;
    case ROUTE_TO_FULL:
        iq_full(rc);
        break;
    }
}
