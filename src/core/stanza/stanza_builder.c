/* SPDX-License-Identifier: MIT */
/* stanza_builder.c -- build one tree per depth-1 element from reader events. */
#include "stanza/stanza_int.h"

#include <string.h>

void
stanza_builder_init(struct stanza_builder *b)
{
    b->root = NULL;
    b->cur = NULL;
}

void
stanza_builder_fini(struct stanza_builder *b)
{
    stanza_unref(b->root);
    b->root = NULL;
    b->cur = NULL;
}

/* Copies the parsed attributes of one start tag. expat has already
 * refused duplicates, so they are appended without a lookup. */
static void
import_attrs(struct stanza *st,
             const struct xml_attr *attrs,
             size_t nattrs,
             size_t spare)
{
    if (nattrs == 0)
        return;
    stanza__attrs_reserve(st, nattrs + spare);
    for (size_t i = 0; i < nattrs; i++) {
        const struct xml_attr *a = &attrs[i];
        stanza__attr_append(st, a->name.ns, a->name.local, a->value,
                            a->value_len);
    }
}

void
stanza_builder_start(struct stanza_builder *b,
                     unsigned depth,
                     const struct xml_name *el,
                     const struct xml_attr *attrs,
                     size_t nattrs)
{
    struct stanza *st;
    if (depth == 0)
        return;
    if (depth == 1) {
        stanza_unref(b->root);
        struct stanza_tree *t = stanza__tree_new();
        st = &t->root;
        st->u.el.ns = stanza__ns(t, el->ns, NULL);
        st->name = stanza__strndup(t, el->local, strlen(el->local));
        b->root = st;
    } else {
        /* Events for a tree this builder did not see start (it was
         * created mid-stanza) are ignored. */
        if (b->cur == NULL)
            return;
        struct stanza_tree *t = b->cur->tree;
        const char *ns = stanza__ns(t, el->ns, b->cur->u.el.ns);
        st = stanza__child_raw(
            b->cur, ns, stanza__strndup(t, el->local, strlen(el->local)));
    }
    /* A stanza's root gets room for the 'from' a server stamps. */
    import_attrs(st, attrs, nattrs, depth == 1 ? 1 : 0);
    b->cur = st;
}

void
stanza_builder_text(struct stanza_builder *b,
                    unsigned depth,
                    const char *s,
                    size_t len)
{
    if (depth == 0 || b->cur == NULL)
        return;
    stanza_add_text(b->cur, s, len);
}

struct stanza *
stanza_builder_end(struct stanza_builder *b, unsigned depth)
{
    if (depth == 0 || b->cur == NULL)
        return NULL;
    if (depth == 1) {
        struct stanza *st = b->root;
        b->root = NULL;
        b->cur = NULL;
        return st;
    }
    b->cur = b->cur->parent;
    return NULL;
}
