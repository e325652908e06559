/* SPDX-License-Identifier: MIT */
/* stanza_int.h -- stanza internals: node layout and the per-tree arena. */
#ifndef XMUX_STANZA_INT_H
#define XMUX_STANZA_INT_H

#include <stdint.h>

#include "stanza/stanza.h"

/* Bytes of arena inside the root allocation: a typical message or
 * presence tree fits, with its bytes as received and a stamped 'from',
 * so building and forwarding it costs one malloc. */
#define STANZA_FIRST_CHUNK 1024
/* Later chunks double from 1 KiB up to this size; a bigger request gets a
 * chunk of its own size. */
#define STANZA_MAX_CHUNK ((size_t)64 * 1024)

struct stanza_attr_ent {
    const char *ns; /* "" for none */
    const char *name;
    const char *value; /* NUL-terminated */
    size_t value_len;
};

struct stanza_tree;

struct stanza {
    struct stanza *parent;
    struct stanza *next;  /* next sibling node */
    struct stanza *first; /* first child node */
    struct stanza *last;  /* last child node */
    struct stanza_tree *tree;
    const char *name; /* NULL for a text node */
    union {
        struct {
            const char *ns;
            struct stanza_attr_ent *attrs;
            uint32_t nattrs;
            uint32_t attr_cap;
        } el;
        struct {
            char *s; /* NUL-terminated */
            size_t len;
            size_t cap; /* bytes usable before the NUL */
        } txt;
    } u;
};

/* A heap chunk of arena memory. */
struct stanza_chunk {
    struct stanza_chunk *next;
    size_t size;
    _Alignas(16) char mem[];
};

/* The root allocation: the root element, the reference count and the
 * arena every node and string of the tree comes from. Freeing the tree
 * frees the chunks; no node is visited. */
struct stanza_tree {
    struct stanza root;
    size_t refs;
    char *cur; /* free space of the newest chunk */
    char *end;
    struct stanza_chunk *chunks; /* heap chunks, newest first */
    size_t next_chunk;           /* size of the next heap chunk */
    /* The root element's bytes as received (stanza_keep_raw), written
     * instead of serialising an unchanged tree; NULL once anything in
     * the tree changes. One attribute may be added to the root and still
     * keep them: it is written after the element's name (raw_name_end).
     * This is how a stamped 'from' costs no serialisation. */
    const char *raw;
    size_t raw_len;
    size_t raw_name_end;
    const char *raw_add_name; /* the added root attribute, or NULL */
    const char *raw_add_value;
    size_t raw_add_len;
    _Alignas(16) char first[STANZA_FIRST_CHUNK];
};

/* The tree changed: its received bytes no longer describe it. */
static inline void
stanza__changed(struct stanza_tree *t)
{
    t->raw = NULL;
}

/* Aligned memory for a node or an array from t's arena. */
void *stanza__alloc(struct stanza_tree *t, size_t n);
/* A NUL-terminated copy of len bytes of s in t's arena. */
char *stanza__strndup(struct stanza_tree *t, const char *s, size_t len);
/* A copy of the namespace URI ns for a node whose parent has namespace
 * pns (may be NULL): shares pns or a static string when equal, so trees
 * hold one copy of each URI in the common case. */
const char *stanza__ns(struct stanza_tree *t, const char *ns, const char *pns);
/* New empty root tree for {ns}name, copying nothing: the strings must be
 * copied by the caller into the returned tree's arena. */
struct stanza_tree *stanza__tree_new(void);
/* New child element appended to parent; ns and name are stored as given
 * (already in the arena, or static). */
struct stanza *
stanza__child_raw(struct stanza *parent, const char *ns, const char *name);
/* Reserve room for n attributes on el (which has none). */
void stanza__attrs_reserve(struct stanza *el, size_t n);
/* Append an attribute known not to be present yet (parsed input, where
 * expat already refused duplicates); copies name and value. */
void stanza__attr_append(struct stanza *el,
                         const char *ns,
                         const char *name,
                         const char *value,
                         size_t len);

#endif
