/* SPDX-License-Identifier: MIT */
/* stanza_err.c -- RFC 6120 condition tables, stream errors, error replies. */
#include "stanza/stanza_int.h"

#include <string.h>

static const char *const stream_names[SC__COUNT] = {
    [SC_NONE] = NULL,
#define STREAM_COND_NAME(c, s) [(c)] = (s),
    STREAM_COND_MAP(STREAM_COND_NAME)
#undef STREAM_COND_NAME
};

static const char *const stanza_names[XC__COUNT] = {
    [XC_NONE] = NULL,
#define STANZA_COND_NAME(c, s, t) [(c)] = (s),
    STANZA_COND_MAP(STANZA_COND_NAME)
#undef STANZA_COND_NAME
};

static const enum stanza_err_type stanza_types[XC__COUNT] = {
    [XC_NONE] = SET_CANCEL,
#define STANZA_COND_TYPE(c, s, t) [(c)] = (t),
    STANZA_COND_MAP(STANZA_COND_TYPE)
#undef STANZA_COND_TYPE
};

const char *
stream_cond_name(enum stream_cond c)
{
    if ((unsigned)c >= SC__COUNT)
        return NULL;
    return stream_names[c];
}

enum stream_cond
stream_cond_parse(const char *name)
{
    for (unsigned c = SC_NONE + 1; c < SC__COUNT; c++) {
        if (strcmp(stream_names[c], name) == 0)
            return (enum stream_cond)c;
    }
    return SC_NONE;
}

const char *
stanza_cond_name(enum stanza_cond c)
{
    if ((unsigned)c >= XC__COUNT)
        return NULL;
    return stanza_names[c];
}

enum stanza_cond
stanza_cond_parse(const char *name)
{
    for (unsigned c = XC_NONE + 1; c < XC__COUNT; c++) {
        if (strcmp(stanza_names[c], name) == 0)
            return (enum stanza_cond)c;
    }
    return XC_NONE;
}

enum stanza_err_type
stanza_cond_type(enum stanza_cond c)
{
    if ((unsigned)c >= XC__COUNT)
        return SET_CANCEL;
    return stanza_types[c];
}

const char *
stanza_err_type_name(enum stanza_err_type t)
{
    switch (t) {
    case SET_AUTH:
        return "auth";
    case SET_CANCEL:
        return "cancel";
    case SET_CONTINUE:
        return "continue";
    case SET_MODIFY:
        return "modify";
    case SET_WAIT:
        return "wait";
    }
    return "cancel";
}

/* Adds <text xmlns=ns xml:lang='en'>text</text> to el if text is set. */
static void
add_error_text(struct stanza *el, const char *ns, const char *text)
{
    if (text == NULL)
        return;
    struct stanza *t = stanza_add_child(el, ns, "text");
    stanza_set_attr_ns(t, XML_NS_XML, "lang", "en");
    stanza_add_text(t, text, strlen(text));
}

struct stanza *
stanza_stream_error(enum stream_cond c, const char *text)
{
    const char *name = stream_cond_name(c);
    if (name == NULL)
        name = stream_cond_name(SC_UNDEFINED_CONDITION);
    struct stanza *st = stanza_new(XML_NS_STREAM, "error");
    stanza_add_child(st, NS_STREAMS_ERR, name);
    add_error_text(st, NS_STREAMS_ERR, text);
    return st;
}

/* RFC 6120 §8.3.1: the reply keeps the stanza's name and id, swaps 'to'
 * and 'from', and carries only the error (payload is not echoed). */
struct stanza *
stanza_error_reply(const struct stanza *st,
                   enum stanza_cond c,
                   const char *text)
{
    if (stanza_cond_name(c) == NULL)
        c = XC_UNDEFINED_CONDITION;
    struct stanza *r = stanza_new(stanza_ns(st), stanza_name(st));
    const char *v = stanza_attr(st, "id");
    if (v != NULL)
        stanza_set_attr(r, "id", v);
    if ((v = stanza_attr(st, "from")) != NULL)
        stanza_set_attr(r, "to", v);
    if ((v = stanza_attr(st, "to")) != NULL)
        stanza_set_attr(r, "from", v);
    stanza_set_attr(r, "type", "error");
    struct stanza *e = stanza_add_child(r, NULL, "error");
    stanza_set_attr(e, "type", stanza_err_type_name(stanza_cond_type(c)));
    stanza_add_child(e, NS_STANZAS_ERR, stanza_cond_name(c));
    add_error_text(e, NS_STANZAS_ERR, text);
    return r;
}
