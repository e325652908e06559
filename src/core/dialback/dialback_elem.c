/* SPDX-License-Identifier: MIT */
/* dialback_elem.c -- parse and build db:result and db:verify (XEP-0220). */
#include <string.h>

#include "base/err.h"
#include "dialback/dialback.h"

/* Element names in NS_DIALBACK. */
static const char *const dialback_names[] = {"result", "verify"};

/* Values of 'type', indexed by enum dialback_type (request has none). */
static const char *const dialback_types[] = {NULL, "valid", "invalid", "error"};

/* Condition names, indexed by enum dialback_cond. */
static const char *const dialback_cond_names[DIALBACK_C__COUNT] = {
    NULL,
#define DIALBACK_COND_NAME(c, s) s,
    DIALBACK_COND_MAP(DIALBACK_COND_NAME)
#undef DIALBACK_COND_NAME
};

const char *
dialback_cond_name(enum dialback_cond c)
{
    if ((size_t)c >= DIALBACK_C__COUNT)
        return NULL;
    return dialback_cond_names[c];
}

enum dialback_cond
dialback_cond_parse(const char *name)
{
    for (size_t i = 1; name != NULL && i < DIALBACK_C__COUNT; i++) {
        if (strcmp(name, dialback_cond_names[i]) == 0)
            return (enum dialback_cond)i;
    }
    return DIALBACK_C_UNDEFINED_CONDITION;
}

/* XML white space (XML 1.0 production S). */
static bool
dialback_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Normalise the domain in attribute value v into out (JID_DOMAIN_BUFSZ);
 * false if it is absent, empty or not a domainpart. */
static bool
dialback_domain(const char *v, char *out)
{
    if (v == NULL || v[0] == '\0')
        return false;
    return jid_domain_prep(v, strlen(v), out, JID_DOMAIN_BUFSZ, NULL) == 0;
}

/* Map 'type' to e->type; false for a value XEP-0220 does not define. */
static bool
dialback_type_parse(const char *v, struct dialback_elem *e)
{
    if (v == NULL) {
        e->type = DIALBACK_T_REQUEST;
        return true;
    }
    for (size_t i = DIALBACK_T_VALID; i <= DIALBACK_T_ERROR; i++) {
        if (strcmp(v, dialback_types[i]) == 0) {
            e->type = (enum dialback_type)i;
            return true;
        }
    }
    return false;
}

/* The key of a request: its only content, trimmed of XML white space. A
 * child element makes the request malformed (bad-format); the key's
 * characters are otherwise left to the verifier, which simply finds a
 * wrong key invalid. */
static int
dialback_key_parse(const struct stanza *el,
                   struct dialback_elem *e,
                   enum stream_cond *sc)
{
    size_t len = 0;
    const char *s = stanza_text(el, &len);
    if (s == NULL) {
        *sc = SC_BAD_FORMAT;
        return XE_PROTO;
    }
    while (len > 0 && dialback_space(s[0])) {
        s++;
        len--;
    }
    while (len > 0 && dialback_space(s[len - 1]))
        len--;
    if (len > DIALBACK_KEY_MAX) {
        *sc = SC_POLICY_VIOLATION;
        return XE_LIMIT;
    }
    memcpy(e->key, s, len);
    e->key[len] = '\0';
    e->key_len = len;
    return 0;
}

/* The condition of a type='error' answer: the first stanza-error element
 * inside <error/>, whatever namespace <error/> itself was given (it
 * inherits the stream's default one in XEP-0220's examples). Lenient: an
 * error is an error, so a missing or unknown condition is recorded as
 * undefined-condition rather than refused. */
static enum dialback_cond
dialback_cond_of(const struct stanza *el)
{
    const struct stanza *err = stanza_child(el, NULL, "error");
    if (err == NULL)
        return DIALBACK_C_UNDEFINED_CONDITION;
    for (const struct stanza *c = stanza_first_child(err); c != NULL;
         c = stanza_next_sibling(c)) {
        if (stanza_is(c, NS_STANZAS_ERR, NULL) &&
            strcmp(stanza_name(c), "text") != 0)
            return dialback_cond_parse(stanza_name(c));
    }
    return DIALBACK_C_UNDEFINED_CONDITION;
}

/* The 'id' of a db:verify: required, bounded, copied. */
static int
dialback_id_parse(const struct stanza *el,
                  struct dialback_elem *e,
                  enum stream_cond *sc)
{
    const char *id = stanza_attr(el, "id");
    if (id == NULL || id[0] == '\0') {
        *sc = SC_BAD_FORMAT;
        return XE_PROTO;
    }
    size_t n = strlen(id);
    if (n > DIALBACK_ID_MAX) {
        *sc = SC_POLICY_VIOLATION;
        return XE_LIMIT;
    }
    memcpy(e->id, id, n + 1);
    e->id_len = n;
    return 0;
}

/* Which element el is; false for a name XEP-0220 does not define. */
static bool
dialback_kind_parse(const struct stanza *el, struct dialback_elem *e)
{
    const char *name = stanza_name(el);
    for (size_t i = 0; i < 2; i++) {
        if (strcmp(name, dialback_names[i]) == 0) {
            e->kind = (enum dialback_kind)i;
            return true;
        }
    }
    return false;
}

int
dialback_parse(const struct stanza *el,
               struct dialback_elem *e,
               enum stream_cond *sc)
{
    memset(e, 0, sizeof *e);
    *sc = SC_NONE;
    if (!stanza_is(el, NS_DIALBACK, NULL))
        return XE_INVAL;
    if (!dialback_kind_parse(el, e)) {
        *sc = SC_UNSUPPORTED_STANZA_TYPE;
        return XE_PROTO;
    }
    /* Without two usable domains no answer can be addressed, so this is
     * the one refusal that has to be a stream error (RFC 6120 §4.9.3.7). */
    if (!dialback_domain(stanza_attr(el, "from"), e->from) ||
        !dialback_domain(stanza_attr(el, "to"), e->to)) {
        *sc = SC_IMPROPER_ADDRESSING;
        return XE_PROTO;
    }
    if (!dialback_type_parse(stanza_attr(el, "type"), e)) {
        *sc = SC_BAD_FORMAT;
        return XE_PROTO;
    }
    if (e->kind == DIALBACK_VERIFY) {
        int rc = dialback_id_parse(el, e, sc);
        if (rc != 0)
            return rc;
    }
    if (e->type == DIALBACK_T_REQUEST)
        return dialback_key_parse(el, e, sc);
    if (e->type == DIALBACK_T_ERROR)
        e->cond = dialback_cond_of(el);
    return 0;
}

/* A new element of kind with 'from', 'to' and (db:verify) 'id'. */
static struct stanza *
dialback_new(enum dialback_kind kind,
             const char *from,
             const char *to,
             const char *id)
{
    struct stanza *st = stanza_new(NS_DIALBACK, dialback_names[kind]);
    stanza_set_attr(st, "from", from);
    stanza_set_attr(st, "to", to);
    if (kind == DIALBACK_VERIFY)
        stanza_set_attr(st, "id", id);
    return st;
}

struct stanza *
dialback_request(enum dialback_kind kind,
                 const char *from,
                 const char *to,
                 const char *id,
                 const char *key)
{
    struct stanza *st = dialback_new(kind, from, to, id);
    if (key != NULL)
        stanza_add_text(st, key, strlen(key));
    return st;
}

struct stanza *
dialback_answer(enum dialback_kind kind,
                const char *from,
                const char *to,
                const char *id,
                bool valid)
{
    struct stanza *st = dialback_new(kind, from, to, id);
    stanza_set_attr(st, "type", valid ? "valid" : "invalid");
    return st;
}

struct stanza *
dialback_error(enum dialback_kind kind,
               const char *from,
               const char *to,
               const char *id,
               enum dialback_cond cond)
{
    struct stanza *st = dialback_new(kind, from, to, id);
    stanza_set_attr(st, "type", "error");
    /* <error/> is in the stream's content namespace, as in XEP-0220's
     * examples. Its type is always 'cancel': this attempt is over, and a
     * retry is a new request. */
    struct stanza *err = stanza_add_child(st, NS_SERVER, "error");
    stanza_set_attr(err, "type", "cancel");
    const char *name = dialback_cond_name(cond);
    if (name == NULL)
        name = dialback_cond_name(DIALBACK_C_UNDEFINED_CONDITION);
    stanza_add_child(err, NS_STANZAS_ERR, name);
    return st;
}

struct stanza *
dialback_reply(const struct dialback_elem *req,
               enum dialback_type type,
               enum dialback_cond cond)
{
    const char *id = req->kind == DIALBACK_VERIFY ? req->id : NULL;
    switch (type) {
    case DIALBACK_T_VALID:
    case DIALBACK_T_INVALID:
        return dialback_answer(req->kind, req->to, req->from, id,
                               type == DIALBACK_T_VALID);
    case DIALBACK_T_ERROR:
        return dialback_error(req->kind, req->to, req->from, id, cond);
    case DIALBACK_T_REQUEST:
        break;
    }
    return NULL;
}
