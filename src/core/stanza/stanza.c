/* SPDX-License-Identifier: MIT */
/* stanza.c -- element trees: arena, reference counts, building, accessors. */
#include "stanza/stanza_int.h"

#include <string.h>

#include "base/alloc.h"
#include "base/err.h"

#define ARENA_ALIGN 8

/* --- arena --------------------------------------------------------------- */

/* Adds a heap chunk able to hold n bytes. A request too large for the
 * usual chunk size gets a chunk of its own and leaves the current one in
 * use, so one big text does not waste the rest of a fresh chunk. Returns
 * the new chunk's memory. */
static char *
arena_chunk(struct stanza_tree *t, size_t n, bool *dedicated)
{
    size_t size = t->next_chunk;
    *dedicated = n > size / 2;
    if (*dedicated)
        size = n;
    else if (t->next_chunk < STANZA_MAX_CHUNK)
        t->next_chunk *= 2;
    struct stanza_chunk *c = x_malloc(sizeof(*c) + size);
    c->next = t->chunks;
    c->size = size;
    t->chunks = c;
    if (!*dedicated) {
        t->cur = c->mem;
        t->end = c->mem + size;
    }
    return c->mem;
}

/* n bytes aligned to align (a power of two, at most 16). */
static void *
arena_take(struct stanza_tree *t, size_t n, size_t align)
{
    size_t pad = (size_t)(-(uintptr_t)t->cur) & (align - 1);
    if ((size_t)(t->end - t->cur) < pad + n) {
        bool dedicated;
        char *p = arena_chunk(t, n, &dedicated);
        if (dedicated)
            return p;
        pad = 0;
    }
    char *p = t->cur + pad;
    t->cur = p + n;
    return p;
}

void *
stanza__alloc(struct stanza_tree *t, size_t n)
{
    return arena_take(t, n, ARENA_ALIGN);
}

char *
stanza__strndup(struct stanza_tree *t, const char *s, size_t len)
{
    char *d = arena_take(t, len + 1, 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

const char *
stanza__ns(struct stanza_tree *t, const char *ns, const char *pns)
{
    if (ns[0] == '\0')
        return "";
    if (pns != NULL && (pns == ns || strcmp(pns, ns) == 0))
        return pns;
    /* The namespaces of most stanzas: static strings cost no copy. */
    static const char *const common[] = {NS_CLIENT, NS_SERVER, XML_NS_XML,
                                         XML_NS_STREAM, NS_STANZAS_ERR};
    for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++) {
        if (strcmp(ns, common[i]) == 0)
            return common[i];
    }
    return stanza__strndup(t, ns, strlen(ns));
}

struct stanza_tree *
stanza__tree_new(void)
{
    struct stanza_tree *t = x_malloc(sizeof(*t));
    memset(&t->root, 0, sizeof(t->root));
    t->root.tree = t;
    t->root.u.el.ns = "";
    t->refs = 1;
    t->cur = t->first;
    t->end = t->first + sizeof(t->first);
    t->chunks = NULL;
    t->next_chunk = 1024;
    t->raw = NULL;
    t->raw_add_name = NULL;
    return t;
}

/* --- building ------------------------------------------------------------ */

void
stanza_keep_raw(struct stanza *root, const char *raw, size_t len)
{
    struct stanza_tree *t = root->tree;
    if (root != &t->root || t->raw_add_name != NULL || root->name == NULL)
        return;
    /* The bytes must start with the element's own unprefixed name. */
    size_t nl = strlen(root->name);
    if (len < nl + 3 || raw[0] != '<' || memcmp(raw + 1, root->name, nl) != 0)
        return;
    char c = raw[nl + 1];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '/' &&
        c != '>')
        return;
    char *copy = arena_take(t, len, 1);
    memcpy(copy, raw, len);
    t->raw = copy;
    t->raw_len = len;
    t->raw_name_end = nl + 1;
}

struct stanza *
stanza_new(const char *ns, const char *name)
{
    struct stanza_tree *t = stanza__tree_new();
    t->root.u.el.ns = stanza__ns(t, ns ? ns : "", NULL);
    t->root.name = stanza__strndup(t, name, strlen(name));
    return &t->root;
}

struct stanza *
stanza_ref(struct stanza *st)
{
    st->tree->refs++;
    return st;
}

void
stanza_unref(struct stanza *st)
{
    if (st == NULL)
        return;
    struct stanza_tree *t = st->tree;
    if (--t->refs > 0)
        return;
    struct stanza_chunk *c = t->chunks;
    while (c != NULL) {
        struct stanza_chunk *next = c->next;
        x_free(c);
        c = next;
    }
    x_free(t);
}

/* Links node as the last child of parent. */
static void
link_child(struct stanza *parent, struct stanza *node)
{
    stanza__changed(parent->tree);
    node->parent = parent;
    node->next = NULL;
    node->first = node->last = NULL;
    node->tree = parent->tree;
    if (parent->last)
        parent->last->next = node;
    else
        parent->first = node;
    parent->last = node;
}

struct stanza *
stanza__child_raw(struct stanza *parent, const char *ns, const char *name)
{
    struct stanza *c = stanza__alloc(parent->tree, sizeof(*c));
    link_child(parent, c);
    c->name = name;
    c->u.el.ns = ns;
    c->u.el.attrs = NULL;
    c->u.el.nattrs = c->u.el.attr_cap = 0;
    return c;
}

struct stanza *
stanza_add_child(struct stanza *parent, const char *ns, const char *name)
{
    struct stanza_tree *t = parent->tree;
    const char *pns = parent->u.el.ns;
    const char *cns = ns ? stanza__ns(t, ns, pns) : pns;
    return stanza__child_raw(parent, cns,
                             stanza__strndup(t, name, strlen(name)));
}

/* Appends len bytes to a text node. Text split over many parser
 * callbacks usually grows in place, since nothing else is allocated from
 * the arena between two pieces of one run. */
static void
text_append(struct stanza *node, const char *s, size_t len)
{
    struct stanza_tree *t = node->tree;
    stanza__changed(t);
    size_t need = node->u.txt.len + len;
    if (need > node->u.txt.cap) {
        char *tail = node->u.txt.s + node->u.txt.cap + 1;
        size_t more = need - node->u.txt.cap;
        if (tail == t->cur && (size_t)(t->end - t->cur) >= more) {
            t->cur += more;
            node->u.txt.cap = need;
        } else {
            size_t cap =
                node->u.txt.cap * 2 > need ? node->u.txt.cap * 2 : need;
            char *d = arena_take(t, cap + 1, 1);
            memcpy(d, node->u.txt.s, node->u.txt.len);
            node->u.txt.s = d;
            node->u.txt.cap = cap;
        }
    }
    memcpy(node->u.txt.s + node->u.txt.len, s, len);
    node->u.txt.len = need;
    node->u.txt.s[need] = '\0';
}

void
stanza_add_text(struct stanza *parent, const char *text, size_t len)
{
    if (len == 0)
        return;
    struct stanza *last = parent->last;
    if (last != NULL && last->name == NULL) {
        text_append(last, text, len);
        return;
    }
    struct stanza *n = stanza__alloc(parent->tree, sizeof(*n));
    link_child(parent, n);
    n->name = NULL;
    n->u.txt.s = stanza__strndup(parent->tree, text, len);
    n->u.txt.len = n->u.txt.cap = len;
}

void
stanza__attrs_reserve(struct stanza *el, size_t n)
{
    if (n <= el->u.el.attr_cap)
        return;
    struct stanza_attr_ent *v = stanza__alloc(el->tree, n * sizeof(*v));
    if (el->u.el.nattrs)
        memcpy(v, el->u.el.attrs, el->u.el.nattrs * sizeof(*v));
    el->u.el.attrs = v;
    el->u.el.attr_cap = (uint32_t)n;
}

void
stanza__attr_append(struct stanza *el,
                    const char *ns,
                    const char *name,
                    const char *value,
                    size_t len)
{
    if (el->u.el.nattrs == el->u.el.attr_cap)
        stanza__attrs_reserve(el,
                              el->u.el.attr_cap ? el->u.el.attr_cap * 2 : 4);
    struct stanza_tree *t = el->tree;
    struct stanza_attr_ent *a = &el->u.el.attrs[el->u.el.nattrs++];
    a->ns = stanza__ns(t, ns, NULL);
    a->name = stanza__strndup(t, name, strlen(name));
    a->value = stanza__strndup(t, value, len);
    a->value_len = len;
}

static struct stanza_attr_ent *
attr_find(const struct stanza *el, const char *ns, const char *name)
{
    for (uint32_t i = 0; i < el->u.el.nattrs; i++) {
        struct stanza_attr_ent *a = &el->u.el.attrs[i];
        if (strcmp(a->name, name) == 0 && strcmp(a->ns, ns) == 0)
            return a;
    }
    return NULL;
}

/* Sets, replaces or (value NULL) removes an attribute. A replaced value
 * stays in the arena until the tree is freed; attributes are rarely
 * rewritten more than once. */
static void
attr_set(struct stanza *el,
         const char *ns,
         const char *name,
         const char *value,
         size_t len)
{
    struct stanza_attr_ent *a = attr_find(el, ns, name);
    struct stanza_tree *t = el->tree;
    if (t->raw != NULL && a == NULL && value != NULL && ns[0] == '\0' &&
        el == &t->root && t->raw_add_name == NULL) {
        /* A new attribute on the root keeps the received bytes: it is
         * spliced in after the element's name when written. */
        stanza__attr_append(el, ns, name, value, len);
        a = &el->u.el.attrs[el->u.el.nattrs - 1];
        t->raw_add_name = a->name;
        t->raw_add_value = a->value;
        t->raw_add_len = len;
        return;
    }
    stanza__changed(t);
    if (value == NULL) {
        if (a != NULL) {
            struct stanza_attr_ent *end = el->u.el.attrs + el->u.el.nattrs;
            memmove(a, a + 1, (size_t)(end - a - 1) * sizeof(*a));
            el->u.el.nattrs--;
        }
        return;
    }
    if (a == NULL) {
        stanza__attr_append(el, ns, name, value, len);
        return;
    }
    a->value = stanza__strndup(el->tree, value, len);
    a->value_len = len;
}

void
stanza_set_attr(struct stanza *el, const char *name, const char *value)
{
    attr_set(el, "", name, value, value ? strlen(value) : 0);
}

void
stanza_set_attr_ns(struct stanza *el,
                   const char *ns,
                   const char *name,
                   const char *value)
{
    attr_set(el, ns ? ns : "", name, value, value ? strlen(value) : 0);
}

void
stanza_set_attr_n(struct stanza *el,
                  const char *name,
                  const char *value,
                  size_t len)
{
    attr_set(el, "", name, value, len);
}

/* Copies the name, namespace and attributes of element src into dst. */
static void
copy_element(struct stanza *dst, const struct stanza *src)
{
    struct stanza_tree *t = dst->tree;
    const char *pns = dst->parent ? dst->parent->u.el.ns : NULL;
    dst->u.el.ns = stanza__ns(t, src->u.el.ns, pns);
    dst->name = stanza__strndup(t, src->name, strlen(src->name));
    if (src->u.el.nattrs == 0)
        return;
    stanza__attrs_reserve(dst, src->u.el.nattrs);
    for (uint32_t i = 0; i < src->u.el.nattrs; i++) {
        const struct stanza_attr_ent *a = &src->u.el.attrs[i];
        stanza__attr_append(dst, a->ns, a->name, a->value, a->value_len);
    }
}

/* Iterative pre-order copy: the source's parent links lead back up, so
 * no stack is needed however deep the tree is. */
struct stanza *
stanza_dup(const struct stanza *el)
{
    struct stanza_tree *t = stanza__tree_new();
    struct stanza *root = &t->root;
    if (el->name == NULL) {
        /* A text node becomes an element-less copy of its text; callers
         * dup elements, but this keeps the function total. */
        root->name = "";
        stanza_add_text(root, el->u.txt.s, el->u.txt.len);
        return root;
    }
    copy_element(root, el);
    const struct stanza *s = el->first;
    struct stanza *dparent = root;
    while (s != NULL) {
        if (s->name == NULL) {
            stanza_add_text(dparent, s->u.txt.s, s->u.txt.len);
        } else {
            struct stanza *d = stanza__child_raw(dparent, "", NULL);
            copy_element(d, s);
            if (s->first != NULL) {
                dparent = d;
                s = s->first;
                continue;
            }
        }
        while (s->next == NULL) {
            s = s->parent;
            if (s == el)
                return root;
            dparent = dparent->parent;
        }
        s = s->next;
    }
    return root;
}

/* --- accessors ----------------------------------------------------------- */

const char *
stanza_name(const struct stanza *el)
{
    return el->name;
}

const char *
stanza_ns(const struct stanza *el)
{
    return el->name ? el->u.el.ns : "";
}

bool
stanza_is(const struct stanza *el, const char *ns, const char *name)
{
    if (el == NULL || el->name == NULL)
        return false;
    if (name != NULL && strcmp(el->name, name) != 0)
        return false;
    return ns == NULL || el->u.el.ns == ns || strcmp(el->u.el.ns, ns) == 0;
}

const char *
stanza_attr(const struct stanza *el, const char *name)
{
    return stanza_attr_ns(el, "", name);
}

bool
stanza_attr_u32(const struct stanza *el, const char *name, uint32_t *out)
{
    const char *v = stanza_attr(el, name);
    if (v == NULL || *v == '\0' || (v[0] == '0' && v[1] != '\0'))
        return false;
    uint64_t x = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9' || p - v >= 10)
            return false;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    if (x > UINT32_MAX)
        return false;
    *out = (uint32_t)x;
    return true;
}

bool
stanza_is_stanza(const struct stanza *el)
{
    const char *ns = stanza_ns(el);
    if (strcmp(ns, NS_CLIENT) != 0 && strcmp(ns, NS_SERVER) != 0)
        return false;
    const char *n = stanza_name(el);
    return strcmp(n, "message") == 0 || strcmp(n, "presence") == 0 ||
           strcmp(n, "iq") == 0;
}

const char *
stanza_attr_ns(const struct stanza *el, const char *ns, const char *name)
{
    if (el->name == NULL)
        return NULL;
    const struct stanza_attr_ent *a = attr_find(el, ns ? ns : "", name);
    return a ? a->value : NULL;
}

size_t
stanza_attr_count(const struct stanza *el)
{
    return el->name ? el->u.el.nattrs : 0;
}

void
stanza_attr_at(const struct stanza *el,
               size_t i,
               const char **ns,
               const char **name,
               const char **value)
{
    const struct stanza_attr_ent *a = NULL;
    if (el->name != NULL && i < el->u.el.nattrs)
        a = &el->u.el.attrs[i];
    if (ns)
        *ns = a ? a->ns : NULL;
    if (name)
        *name = a ? a->name : NULL;
    if (value)
        *value = a ? a->value : NULL;
}

struct stanza *
stanza_parent(const struct stanza *node)
{
    return node->parent;
}

struct stanza *
stanza_first_node(const struct stanza *el)
{
    return el->first;
}

struct stanza *
stanza_next_node(const struct stanza *node)
{
    return node->next;
}

static struct stanza *
next_element(struct stanza *n)
{
    while (n != NULL && n->name == NULL)
        n = n->next;
    return n;
}

struct stanza *
stanza_first_child(const struct stanza *el)
{
    return next_element(el->first);
}

struct stanza *
stanza_next_sibling(const struct stanza *el)
{
    return next_element(el->next);
}

struct stanza *
stanza_child(const struct stanza *el, const char *ns, const char *name)
{
    for (struct stanza *c = next_element(el->first); c != NULL;
         c = next_element(c->next)) {
        if (stanza_is(c, ns, name))
            return c;
    }
    return NULL;
}

size_t
stanza_child_count(const struct stanza *el)
{
    size_t n = 0;
    for (const struct stanza *c = el->first; c != NULL; c = c->next)
        n += c->name != NULL;
    return n;
}

const char *
stanza_text_node(const struct stanza *node, size_t *len)
{
    if (node->name != NULL)
        return NULL;
    if (len)
        *len = node->u.txt.len;
    return node->u.txt.s;
}

const char *
stanza_text(const struct stanza *el, size_t *len)
{
    if (el->name == NULL)
        return stanza_text_node(el, len);
    const struct stanza *only = NULL;
    for (const struct stanza *c = el->first; c != NULL; c = c->next) {
        if (c->name != NULL || only != NULL)
            return NULL;
        only = c;
    }
    if (only == NULL) {
        if (len)
            *len = 0;
        return "";
    }
    return stanza_text_node(only, len);
}

int
stanza_text_copy(const struct stanza *el, struct buf *out)
{
    if (el->name == NULL)
        return buf_append(out, el->u.txt.s, el->u.txt.len);
    for (const struct stanza *c = el->first; c != NULL; c = c->next) {
        if (c->name != NULL)
            continue;
        int rc = buf_append(out, c->u.txt.s, c->u.txt.len);
        if (rc)
            return rc;
    }
    return 0;
}
