/* SPDX-License-Identifier: MIT */
/* route_presence.c -- broadcast and directed presence (RFC 6121 §4). */
#include <string.h>

#include "base/alloc.h"
#include "route/route_int.h"

enum pres_type {
    PRES_AVAILABLE,
    PRES_UNAVAILABLE,
    PRES_SUBSCRIPTION, /* subscribe, subscribed, unsubscribe, unsubscribed */
    PRES_PROBE,
    PRES_ERROR,
    PRES_INVALID,
};

static enum pres_type
pres_type(const char *t)
{
    static const char *const subs[] = {"subscribe", "subscribed", "unsubscribe",
                                       "unsubscribed"};
    if (t == NULL)
        return PRES_AVAILABLE;
    if (strcmp(t, "unavailable") == 0)
        return PRES_UNAVAILABLE;
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (strcmp(t, subs[i]) == 0)
            return PRES_SUBSCRIPTION;
    if (strcmp(t, "probe") == 0)
        return PRES_PROBE;
    if (strcmp(t, "error") == 0)
        return PRES_ERROR;
    return PRES_INVALID;
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* <priority/> as an integer in -128..127 (RFC 6121 §4.7.2.3); absent or
 * malformed means 0, the default, rather than refusing the presence. */
static int
parse_priority(const struct stanza *st)
{
    const struct stanza *p = stanza_child(st, stanza_ns(st), "priority");
    size_t n = 0;
    const char *t = p != NULL ? stanza_text(p, &n) : NULL;
    if (t == NULL)
        return 0;
    while (n > 0 && is_space(*t)) {
        t++;
        n--;
    }
    while (n > 0 && is_space(t[n - 1]))
        n--;
    int sign = 1;
    if (n > 0 && (*t == '-' || *t == '+')) {
        sign = *t == '-' ? -1 : 1;
        t++;
        n--;
    }
    if (n == 0 || n > 3)
        return 0;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i] < '0' || t[i] > '9')
            return 0;
        v = v * 10 + (t[i] - '0');
    }
    v *= sign;
    return v >= -128 && v <= 127 ? v : 0;
}

/* --- the directed-presence set (RFC 6121 §4.6) --------------------------- */

static void
peer_remove(struct route_session *me, struct route_peer *p)
{
    route__tab_remove(&me->directed, &p->node);
    x_free(p->jid);
    x_free(p);
}

/* Remember that me sent available presence to k[0..n) (a local full JID,
 * or a remote JID as addressed). */
static void
directed_add(const struct route_ctx *rc,
             struct route_session *me,
             const char *k,
             size_t n)
{
    if (me == NULL)
        return;
    if (route__tab_find(&me->directed, k, n) != NULL)
        return;
    if (me->directed.count >= ROUTE_DIRECTED_MAX) {
        /* The peer chooses how many targets it names: stop recording,
         * say so once, and let those beyond the cap miss the final
         * unavailable. */
        if (!me->directed_limit_logged) {
            rc->r->counts.limit_hits[CFG_LIMIT_DIRECTED_PRESENCE]++;
            log_msg(rc->r->log, LOG_INFO, me->s->conn,
                    "event=limit what=directed-presence max=%d",
                    ROUTE_DIRECTED_MAX);
        }
        me->directed_limit_logged = true;
        return;
    }
    struct route_peer *p = x_calloc(1, sizeof(*p));
    p->jid = x_strndup(k, n);
    p->len = n;
    route__tab_insert(&me->directed, &p->node, p->jid, p->len);
}

/* Forget the target 'to' names: that full JID, or every resource of a
 * bare JID. */
static void
directed_forget(struct route_session *me, const struct jid *to)
{
    if (me == NULL)
        return;
    if (jid_has_resource(to)) {
        struct rtab_node *nd =
            route__tab_find(&me->directed, jid_str(to), jid_len(to));
        if (nd != NULL)
            peer_remove(me, (struct route_peer *)nd);
        route__tab_shrink(&me->directed);
        return;
    }
    /* The set is bounded, so a walk is cheap enough for a rare event. */
    size_t n;
    const char *bare = jid_bare(to, &n);
    size_t slot = 0;
    struct rtab_node *nd = route__tab_next(&me->directed, &slot, NULL);
    while (nd != NULL) {
        struct rtab_node *next = route__tab_next(&me->directed, &slot, nd);
        struct route_peer *p = (struct route_peer *)nd;
        if (p->len > n && p->jid[n] == '/' && memcmp(p->jid, bare, n) == 0)
            peer_remove(me, p);
        nd = next;
    }
    route__tab_shrink(&me->directed);
}

/* Send a copy of unavail to every recorded target that is still bound,
 * and empty the set (RFC 6121 §4.6.3). */
static void
directed_flush(struct route_ctx *rc,
               struct route_session *me,
               const struct stanza *unavail)
{
    size_t slot = 0;
    struct rtab_node *nd = route__tab_next(&me->directed, &slot, NULL);
    while (nd != NULL) {
        struct rtab_node *next = route__tab_next(&me->directed, &slot, nd);
        struct route_peer *p = (struct route_peer *)nd;
        struct route_session *t = route__session(rc->r, p->jid, p->len);
        if (t != NULL && t != me && route__alive(t)) {
            route__deliver_to(rc, t, unavail);
        } else if (t == NULL) {
            /* A remote JID (local ones without a session are gone). */
            struct stanza *copy = stanza_dup(unavail);
            stanza_set_attr_n(copy, "to", p->jid, p->len);
            route__send_remote(rc->r, copy, route__conn(rc));
            stanza_unref(copy);
        }
        peer_remove(me, p);
        nd = next;
    }
    route__tab_shrink(&me->directed);
    me->directed_limit_logged = false;
}

/* --- broadcast presence (no 'to') ---------------------------------------- */

/* Copies of st to each available resource of acct (with its full JID as
 * 'to'); skip is left out. */
static void
to_own_resources(struct route_ctx *rc,
                 struct route_account *acct,
                 const struct stanza *st,
                 const struct route_session *skip)
{
    struct route_session *s = acct->sessions;
    while (s != NULL) {
        struct route_session *next = s->next;
        if (s != skip && s->available && route__alive(s))
            route__deliver_to(rc, s, st);
        s = next;
    }
}

/* Available presence (RFC 6121 §4.2.2, §4.4.2): remember it, send it to
 * every available resource of the account including the sender, and on
 * the first one give the sender the others' presence. */
static void
broadcast_available(struct route_ctx *rc)
{
    struct route_session *me = rc->from;
    bool initial = !me->available;
    me->available = true;
    me->priority = parse_priority(rc->st);
    stanza_unref(me->presence);
    me->presence = stanza_ref(rc->st);
    route__log(rc, "broadcast", initial ? "initial" : "update");
    to_own_resources(rc, me->acct, rc->st, NULL);
    if (!initial)
        return;
    for (struct route_session *s = me->acct->sessions; s; s = s->next)
        if (s != me && s->available && s->presence != NULL && route__alive(s))
            route__deliver_to(rc, me, s->presence);
}

/* Unavailable presence (RFC 6121 §4.5.2): to the account's available
 * resources and the sender, then to every directed-presence target. */
static void
broadcast_unavailable(struct route_ctx *rc)
{
    struct route_session *me = rc->from;
    route__log(rc, "broadcast", me->available ? "unavailable" : "directed");
    if (me->available) {
        me->available = false;
        me->priority = 0;
        stanza_unref(me->presence);
        me->presence = NULL;
        to_own_resources(rc, me->acct, rc->st, NULL);
        route__deliver_to(rc, me, rc->st);
    }
    directed_flush(rc, me, rc->st);
}

/* --- directed presence ('to' set) ----------------------------------------- */

/* Only presence to another account is directed presence to remember;
 * the account's own resources learn of the end anyway. */
static bool
to_other_account(const struct route_ctx *rc)
{
    return rc->from != NULL && !jid_bare_eq(&rc->to, &rc->from->jid);
}

static void
directed_full(struct route_ctx *rc, enum pres_type t)
{
    struct route_session *target =
        route__session(rc->r, jid_str(&rc->to), jid_len(&rc->to));
    if (target == NULL || !route__alive(target)) {
        route__drop(rc, "no-session");
        return;
    }
    if (to_other_account(rc)) {
        if (t == PRES_AVAILABLE)
            directed_add(rc, rc->from, jid_str(&target->jid),
                         jid_len(&target->jid));
        else
            directed_forget(rc->from, &rc->to);
    }
    route__log(rc, "deliver", NULL);
    route__deliver(rc, target, rc->st);
}

/* RFC 6121 §8.5.2.1.1: to every available resource of the account. */
static void
directed_bare(struct route_ctx *rc, enum pres_type t)
{
    struct route_account *acct = route__dest_account(rc);
    bool other = to_other_account(rc);
    if (other && t == PRES_UNAVAILABLE)
        directed_forget(rc->from, &rc->to);
    size_t n = 0;
    for (const struct route_session *s = acct ? acct->sessions : NULL; s;
         s = s->next)
        n += s->available && route__alive(s);
    if (n == 0) {
        route__drop(rc, "no-resource");
        return;
    }
    route__log(rc, "deliver", "all-resources");
    struct route_session *s = acct->sessions;
    while (s != NULL) {
        struct route_session *next = s->next;
        if (s->available && route__alive(s)) {
            if (other && t == PRES_AVAILABLE)
                directed_add(rc, rc->from, jid_str(&s->jid), jid_len(&s->jid));
            route__deliver(rc, s, rc->st);
        }
        s = next;
    }
}

/* Presence errors answer a presence we passed on: they go to a bound
 * full JID, and nowhere else. */
static void
presence_error(struct route_ctx *rc)
{
    struct route_session *target = NULL;
    if (rc->dest == ROUTE_TO_FULL)
        target = route__session(rc->r, jid_str(&rc->to), jid_len(&rc->to));
    if (target == NULL || !route__alive(target)) {
        route__drop(rc, "no-session");
        return;
    }
    route__log(rc, "deliver", NULL);
    route__deliver(rc, target, rc->st);
}

void
route__presence(struct route_ctx *rc)
{
    enum pres_type t = pres_type(rc->type);
    if (t == PRES_INVALID) {
        route__error(rc, XC_BAD_REQUEST);
        return;
    }
    if (t == PRES_SUBSCRIPTION || t == PRES_PROBE) {
        route__drop(rc, "no-roster");
        return;
    }
    if (t == PRES_ERROR) {
        if (rc->dest == ROUTE_TO_REMOTE)
            route__remote(rc);
        else
            presence_error(rc);
        return;
    }
    switch (rc->dest) {
    case ROUTE_TO_NONE:
        if (t == PRES_AVAILABLE)
            broadcast_available(rc);
        else
            broadcast_unavailable(rc);
        break;
    case ROUTE_TO_REMOTE:
        /* Directed presence to another server (RFC 6121 §4.6). */
        if (t == PRES_AVAILABLE)
            directed_add(rc, rc->from, jid_str(&rc->to), jid_len(&rc->to));
        else
            directed_forget(rc->from, &rc->to);
        route__remote(rc);
        break;
    case ROUTE_TO_DOMAIN:
        route__drop(rc, "to-server");
        break;
    case ROUTE_TO_FULL:
        directed_full(rc, t);
        break;
    case ROUTE_TO_BARE:
        directed_bare(rc, t);
        break;
    }
}

/* The stream of sess went away without (or after) unavailable presence:
 * the server says it for the session (RFC 6121 §4.5, §4.6). */
void
route__presence_gone(struct router *r,
                     struct route_session *sess,
                     struct route_account *acct)
{
    if (!sess->available && sess->directed.count == 0)
        return;
    struct stanza *p = stanza_new(NS_CLIENT, "presence");
    stanza_set_attr_n(p, "from", jid_str(&sess->jid), jid_len(&sess->jid));
    stanza_set_attr(p, "type", "unavailable");
    struct route_ctx rc = {
        .r = r,
        .from = sess,
        .stream = sess->s,
        .st = p,
        .type = "unavailable",
        .dest = ROUTE_TO_NONE,
    };
    route__log(&rc, "broadcast", "session-end");
    if (sess->available)
        to_own_resources(&rc, acct, p, sess);
    sess->available = false;
    directed_flush(&rc, sess, p);
    stanza_unref(p);
}
