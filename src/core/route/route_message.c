/* SPDX-License-Identifier: MIT */
/* route_message.c -- delivery rules for <message/> (RFC 6121 §8.5). */
#include <string.h>

#include "route/route_int.h"

enum msg_type {
    MSG_NORMAL,
    MSG_CHAT,
    MSG_GROUPCHAT,
    MSG_HEADLINE,
    MSG_ERROR,
};

/* RFC 6121 §5.2.2: no type, or one we do not know, means normal. */
static enum msg_type
msg_type(const char *t)
{
    if (t == NULL)
        return MSG_NORMAL;
    if (strcmp(t, "chat") == 0)
        return MSG_CHAT;
    if (strcmp(t, "groupchat") == 0)
        return MSG_GROUPCHAT;
    if (strcmp(t, "headline") == 0)
        return MSG_HEADLINE;
    if (strcmp(t, "error") == 0)
        return MSG_ERROR;
    return MSG_NORMAL;
}

/* The highest non-negative priority among the account's available
 * resources, or -1 if none can take messages to the bare JID (a negative
 * priority opts out, RFC 6121 §4.7.2.3). */
static int
best_priority(const struct route_account *acct)
{
    int best = -1;
    for (const struct route_session *s = acct ? acct->sessions : NULL; s;
         s = s->next)
        if (s->available && s->priority > best && route__alive(s))
            best = s->priority;
    return best;
}

/* RFC 6121 §8.5.2.1.1: normal and chat go to the available resources of
 * the highest non-negative priority (all of them on a tie, as the RFC
 * allows), headline to every available non-negative one. Without such a
 * resource there is no offline storage yet, so normal and chat bounce
 * with service-unavailable (§8.5.2.2.1) and headline is dropped. */
static void
message_bare(struct route_ctx *rc, enum msg_type t)
{
    if (t == MSG_GROUPCHAT) {
        route__error(rc, XC_SERVICE_UNAVAILABLE);
        return;
    }
    if (t == MSG_ERROR) {
        route__drop(rc, "error-to-bare-jid");
        return;
    }
    struct route_account *acct = route__dest_account(rc);
    int best = best_priority(acct);
    if (best < 0) {
        if (t == MSG_HEADLINE)
            route__drop(rc, "no-resource");
        else
            route__error(rc, XC_SERVICE_UNAVAILABLE);
        return;
    }
    route__log(rc, "deliver",
               t == MSG_HEADLINE ? "all-resources" : "highest-priority");
    struct route_session *s = acct->sessions;
    while (s != NULL) {
        /* Read the next one first: s must not be touched after delivery. */
        struct route_session *next = s->next;
        if (s->available && s->priority >= 0 && route__alive(s) &&
            (t == MSG_HEADLINE || s->priority == best))
            route__deliver(rc, s, rc->st);
        s = next;
    }
}

/* RFC 6121 §8.5.3: a bound resource gets it; otherwise groupchat bounces,
 * errors vanish, and the rest is treated as sent to the bare JID. */
static void
message_full(struct route_ctx *rc, enum msg_type t)
{
    struct route_session *sess =
        route__session(rc->r, jid_str(&rc->to), jid_len(&rc->to));
    if (sess != NULL && route__alive(sess)) {
        route__log(rc, "deliver", NULL);
        route__deliver(rc, sess, rc->st);
        return;
    }
    if (t == MSG_GROUPCHAT)
        route__error(rc, XC_SERVICE_UNAVAILABLE);
    else if (t == MSG_ERROR)
        route__drop(rc, "no-session");
    else
        message_bare(rc, t);
}

void
route__message(struct route_ctx *rc)
{
    enum msg_type t = msg_type(rc->type);
    switch (rc->dest) {
    case ROUTE_TO_REMOTE: /* route__dispatch sends these on */
        route__remote(rc);
        break;
    case ROUTE_TO_DOMAIN:
        /* The server itself handles no messages (RFC 6120 §8.5.2). */
        if (t == MSG_NORMAL || t == MSG_CHAT)
            route__error(rc, XC_SERVICE_UNAVAILABLE);
        else
            route__drop(rc, "to-server");
        break;
    case ROUTE_TO_FULL:
        message_full(rc, t);
        break;
    case ROUTE_TO_NONE: /* RFC 6120 §8.1.1.1: the sender's bare JID */
    case ROUTE_TO_BARE:
        message_bare(rc, t);
        break;
    }
}
