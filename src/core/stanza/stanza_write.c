/* SPDX-License-Identifier: MIT */
/* stanza_write.c -- serialise trees with minimal namespace declarations. */
#include "stanza/stanza_int.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"

#define XMLNS_NS     "http://www.w3.org/2000/xmlns/"
#define INLINE_DEPTH 16

/* What an open element leaves in force for its children. */
struct wframe {
    const char *scope;  /* default namespace in scope */
    const char *prefix; /* prefix the element was written with, or NULL */
    bool mapped;        /* in the top stanza's jabber:client/server chain */
};

/* Serialiser state. Frames live in a small inline array and move to the
 * heap only for trees deeper than INLINE_DEPTH, so the walk is iterative
 * and allocates nothing for ordinary stanzas. */
struct wstate {
    const struct stanza_wctx *w;
    const char *dflt;
    struct buf *out;
    struct wframe *v;
    size_t n, cap;
    struct wframe inl[INLINE_DEPTH];
};

static bool
ns_eq(const char *a, const char *b)
{
    return a == b || strcmp(a, b) == 0;
}

static bool
is_content_ns(const char *ns)
{
    return strcmp(ns, NS_CLIENT) == 0 || strcmp(ns, NS_SERVER) == 0;
}

/* Number of usable prefix slots (the arrays hold four). */
static size_t
wctx_count(const struct stanza_wctx *w)
{
    size_t max = sizeof(w->prefix) / sizeof(w->prefix[0]);
    return w->nprefixes < max ? w->nprefixes : max;
}

/* The stream header's prefix for ns, or NULL. The XML namespace always
 * has its own prefix and may not be declared as a default. */
static const char *
wctx_prefix(const struct stanza_wctx *w, const char *ns)
{
    if (strcmp(ns, XML_NS_XML) == 0)
        return "xml";
    for (size_t i = 0; i < wctx_count(w); i++) {
        if (w->prefix[i] && w->prefix[i][0] && w->prefix_ns[i] &&
            ns_eq(w->prefix_ns[i], ns))
            return w->prefix[i];
    }
    return NULL;
}

static bool
wctx_has_prefix(const struct stanza_wctx *w, const char *p)
{
    for (size_t i = 0; i < wctx_count(w); i++) {
        if (w->prefix[i] && strcmp(w->prefix[i], p) == 0)
            return true;
    }
    return false;
}

static void
push(struct wstate *s, const struct wframe *f)
{
    if (s->n == s->cap) {
        size_t cap = s->cap * 2;
        struct wframe *v = x_malloc(cap * sizeof(*v));
        memcpy(v, s->v, s->n * sizeof(*v));
        if (s->v != s->inl)
            x_free(s->v);
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = *f;
}

static int
put(struct wstate *s, const char *str)
{
    return buf_append(s->out, str, strlen(str));
}

/* Writes a generated prefix for an attribute namespace, skipping any
 * number the stream header already uses as a prefix. */
static int
put_genprefix(struct wstate *s, size_t j, size_t nattrs)
{
    char p[32];
    size_t k = j + 1;
    for (;;) {
        snprintf(p, sizeof(p), "ns%zu", k);
        if (!wctx_has_prefix(s->w, p))
            break;
        k += nattrs + 1;
    }
    return put(s, p);
}

/* Index of the first attribute of el that shares attribute i's namespace:
 * attributes in one namespace share one generated prefix. */
static size_t
first_same_ns(const struct stanza *el, size_t i)
{
    const struct stanza_attr_ent *v = el->u.el.attrs;
    for (size_t j = 0; j < i; j++) {
        if (ns_eq(v[j].ns, v[i].ns))
            return j;
    }
    return i;
}

/* Writes the qualified name of an attribute, declaring a prefix for its
 * namespace if the stream has none. */
static int
put_attr_name(struct wstate *s, const struct stanza *el, size_t i)
{
    const struct stanza_attr_ent *a = &el->u.el.attrs[i];
    const char *p;
    int rc = 0;
    if (a->ns[0] == '\0')
        return put(s, a->name);
    if ((p = wctx_prefix(s->w, a->ns)) == NULL) {
        size_t j = first_same_ns(el, i);
        if (j == i) {
            rc = put(s, "xmlns:");
            rc = rc ? rc : put_genprefix(s, j, el->u.el.nattrs);
            rc = rc ? rc : put(s, "='");
            rc = rc ? rc : xml_escape_attr(s->out, a->ns, strlen(a->ns));
            rc = rc ? rc : put(s, "' ");
        }
        rc = rc ? rc : put_genprefix(s, j, el->u.el.nattrs);
        rc = rc ? rc : put(s, ":");
        return rc ? rc : put(s, a->name);
    }
    rc = put(s, p);
    rc = rc ? rc : put(s, ":");
    return rc ? rc : put(s, a->name);
}

static bool
is_nsdecl(const struct stanza_attr_ent *a)
{
    /* Declarations are the serialiser's business: one set as an ordinary
     * attribute could contradict what is written and is dropped. */
    if (a->ns[0] == '\0')
        return strcmp(a->name, "xmlns") == 0;
    return strcmp(a->ns, XMLNS_NS) == 0;
}

static int
put_attrs(struct wstate *s, const struct stanza *el)
{
    for (size_t i = 0; i < el->u.el.nattrs; i++) {
        const struct stanza_attr_ent *a = &el->u.el.attrs[i];
        if (is_nsdecl(a))
            continue;
        int rc = put(s, " ");
        rc = rc ? rc : put_attr_name(s, el, i);
        rc = rc ? rc : put(s, "='");
        rc = rc ? rc : xml_escape_attr(s->out, a->value, a->value_len);
        rc = rc ? rc : put(s, "'");
        if (rc)
            return rc;
    }
    return 0;
}

/* Writes the start tag of e (without its closing '>' or "/>") and fills
 * f with what it leaves in force. up is the parent's frame, NULL for the
 * element being serialised. */
static int
put_start(struct wstate *s,
          const struct stanza *e,
          const struct wframe *up,
          struct wframe *f)
{
    const char *ns = e->u.el.ns;
    f->mapped =
        up ? up->mapped && ns_eq(ns, e->parent->u.el.ns) : is_content_ns(ns);
    const char *eff = f->mapped ? s->dflt : ns;
    f->scope = up ? up->scope : s->dflt;
    f->prefix = NULL;
    bool decl = false;
    if (!ns_eq(eff, f->scope)) {
        f->prefix = wctx_prefix(s->w, eff);
        if (f->prefix == NULL) {
            decl = true;
            f->scope = eff;
        }
    }
    int rc = put(s, "<");
    if (rc == 0 && f->prefix) {
        rc = put(s, f->prefix);
        rc = rc ? rc : put(s, ":");
    }
    rc = rc ? rc : put(s, e->name);
    if (rc == 0 && decl) {
        rc = put(s, " xmlns='");
        rc = rc ? rc : xml_escape_attr(s->out, eff, strlen(eff));
        rc = rc ? rc : put(s, "'");
    }
    return rc ? rc : put_attrs(s, e);
}

static int
put_end(struct wstate *s, const struct stanza *e, const struct wframe *f)
{
    int rc = put(s, "</");
    if (rc == 0 && f->prefix) {
        rc = put(s, f->prefix);
        rc = rc ? rc : put(s, ":");
    }
    rc = rc ? rc : put(s, e->name);
    return rc ? rc : put(s, ">");
}

/* Writes node n (an element's start tag, or text) and, if n is an
 * element with children, opens it. Returns whether it was opened through
 * *opened. */
static int
put_node(struct wstate *s, const struct stanza *n, bool top, bool *opened)
{
    *opened = false;
    if (n->name == NULL)
        return xml_escape_text(s->out, n->u.txt.s, n->u.txt.len);
    struct wframe f;
    int rc = put_start(s, n, top ? NULL : &s->v[s->n - 1], &f);
    if (rc)
        return rc;
    if (n->first == NULL)
        return put(s, "/>");
    push(s, &f);
    *opened = true;
    return put(s, ">");
}

/* An unchanged stanza as it was received: it declares nothing and
 * uses no prefix but xml:, so on this stream it is in the stream's
 * content namespace just as the tree would be written. */
static int
write_raw(const struct stanza_tree *t, struct buf *out)
{
    if (t->raw_add_name == NULL)
        return buf_append(out, t->raw, t->raw_len);
    int rc = buf_append(out, t->raw, t->raw_name_end);
    rc = rc ? rc : buf_append(out, " ", 1);
    rc = rc ? rc : buf_append(out, t->raw_add_name, strlen(t->raw_add_name));
    rc = rc ? rc : buf_append(out, "='", 2);
    rc = rc ? rc : xml_escape_attr(out, t->raw_add_value, t->raw_add_len);
    rc = rc ? rc : buf_append(out, "'", 1);
    return rc ? rc
              : buf_append(out, t->raw + t->raw_name_end,
                           t->raw_len - t->raw_name_end);
}

/* Iterative walk: parent links lead back up, the frames remember what
 * each open element declared. */
int
stanza_write(const struct stanza *el,
             const struct stanza_wctx *w,
             struct buf *out)
{
    const struct stanza_tree *t = el->tree;
    if (t->raw != NULL && el == &t->root && is_content_ns(el->u.el.ns) &&
        w->default_ns != NULL && is_content_ns(w->default_ns))
        return write_raw(t, out);
    struct wstate s = {.w = w, .out = out, .n = 0, .cap = INLINE_DEPTH};
    s.v = s.inl;
    s.dflt = w->default_ns ? w->default_ns : "";
    const struct stanza *n = el;
    int rc;
    for (;;) {
        bool opened;
        rc = put_node(&s, n, n == el, &opened);
        if (rc || opened) {
            if (rc)
                break;
            n = n->first;
            continue;
        }
        while (n != el && n->next == NULL) {
            n = n->parent;
            s.n--;
            rc = put_end(&s, n, &s.v[s.n]);
            if (rc)
                goto done;
        }
        if (n == el)
            break;
        n = n->next;
    }
done:
    if (s.v != s.inl)
        x_free(s.v);
    return rc;
}
