/* SPDX-License-Identifier: MIT */
/* fuzz_dialback.c -- libFuzzer target: dialback parser, builders, verdicts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "dialback/dialback.h"
#include "stanza/stanza.h"
#include "xml/xml.h"

/* Loose enough that a key or an id can pass its own limit. */
static const struct xml_limits fuzz_limits = {
    .max_depth = 8,
    .max_attrs = 8,
    .max_name = 64,
    .max_text = 4096,
    .max_stanza = 8192,
};

static const struct stanza_wctx wctx = {
    NS_SERVER, 2, {"stream", "db"}, {XML_NS_STREAM, NS_DIALBACK}};

static const char hdr[] = "<stream:stream xmlns='jabber:server' "
                          "xmlns:stream='http://etherx.jabber.org/streams' "
                          "xmlns:db='jabber:server:dialback'>";

static const unsigned char secret[] = "fuzz-secret";

/* Collects depth-1 elements from a reader. */
struct collect {
    struct stanza_builder b;
    void (*on_elem)(void *arg, struct stanza *st);
    void *arg;
};

static int
c_start(void *arg,
        unsigned depth,
        const struct xml_name *el,
        const struct xml_attr *attrs,
        size_t nattrs)
{
    struct collect *c = arg;
    stanza_builder_start(&c->b, depth, el, attrs, nattrs);
    return 0;
}

static int
c_text(void *arg, unsigned depth, const char *s, size_t len)
{
    struct collect *c = arg;
    stanza_builder_text(&c->b, depth, s, len);
    return 0;
}

static int
c_end(void *arg, unsigned depth)
{
    struct collect *c = arg;
    struct stanza *st = stanza_builder_end(&c->b, depth);
    if (st != NULL) {
        c->on_elem(c->arg, st);
        stanza_unref(st);
    }
    return 0;
}

static const struct xml_handler c_handler = {NULL, c_start, c_text, c_end,
                                             NULL};

/* Feed hdr and then s[0..len) to a fresh reader; returns its result. */
static int
read_all(const char *s,
         size_t len,
         const struct xml_limits *lim,
         void (*on_elem)(void *, struct stanza *),
         void *arg)
{
    struct collect c = {.on_elem = on_elem, .arg = arg};
    stanza_builder_init(&c.b);
    struct xml_reader *r = xml_reader_new(lim, &c_handler, &c);
    size_t used = 0;
    int rc = xml_reader_feed(r, hdr, sizeof hdr - 1, &used);
    if (rc == 0)
        rc = xml_reader_feed(r, s, len, &used);
    xml_reader_free(r);
    stanza_builder_fini(&c.b);
    return rc;
}

static void
same(const struct dialback_elem *a, const struct dialback_elem *b)
{
    if (a->kind != b->kind || a->type != b->type ||
        strcmp(a->from, b->from) != 0 || strcmp(a->to, b->to) != 0 ||
        a->id_len != b->id_len || strcmp(a->id, b->id) != 0 ||
        a->key_len != b->key_len || strcmp(a->key, b->key) != 0 ||
        a->cond != b->cond) {
        fprintf(stderr, "round trip changed the element\n");
        abort();
    }
}

/* Invariants of a successful parse. */
static void
check_parsed(const struct dialback_elem *e)
{
    char again[JID_DOMAIN_BUFSZ];
    if (e->from[0] == '\0' || e->to[0] == '\0' ||
        strlen(e->key) != e->key_len || e->key_len > DIALBACK_KEY_MAX ||
        strlen(e->id) != e->id_len || e->id_len > DIALBACK_ID_MAX ||
        (e->kind == DIALBACK_VERIFY) != (e->id_len > 0) ||
        (e->type == DIALBACK_T_ERROR) != (e->cond != DIALBACK_C_NONE) ||
        (e->type != DIALBACK_T_REQUEST && e->key_len != 0))
        abort();
    /* Normalising is idempotent. */
    if (jid_domain_prep(e->from, strlen(e->from), again, sizeof again, NULL) !=
            0 ||
        strcmp(again, e->from) != 0)
        abort();
}

/* What the builders make of e. */
static struct stanza *
rebuild(const struct dialback_elem *e)
{
    const char *id = e->kind == DIALBACK_VERIFY ? e->id : NULL;
    switch (e->type) {
    case DIALBACK_T_REQUEST:
        return dialback_request(e->kind, e->from, e->to, id, e->key);
    case DIALBACK_T_VALID:
    case DIALBACK_T_INVALID:
        return dialback_answer(e->kind, e->from, e->to, id,
                               e->type == DIALBACK_T_VALID);
    case DIALBACK_T_ERROR:
        return dialback_error(e->kind, e->from, e->to, id, e->cond);
    }
    abort();
}

struct reparse {
    const struct dialback_elem *want;
    struct dialback_elem *got;
    int n;
};

static void
on_reparse(void *arg, struct stanza *st)
{
    struct reparse *rp = arg;
    enum stream_cond sc;
    if (rp->n++ != 0 || dialback_parse(st, rp->got, &sc) != 0)
        abort();
    same(rp->want, rp->got);
}

/* Build e again, parse the tree, and write and read it back. */
static void
roundtrip(const struct dialback_elem *e, struct dialback_elem *tmp)
{
    struct stanza *st = rebuild(e);
    enum stream_cond sc;
    if (dialback_parse(st, tmp, &sc) != 0)
        abort();
    same(e, tmp);
    struct buf out;
    buf_init(&out, 1 << 16);
    if (stanza_write(st, &wctx, &out) != 0)
        abort();
    stanza_unref(st);
    /* What was written reads back the same (a CR is written as &#13;). */
    static const struct xml_limits big = {64, 64, 4096, 1 << 16, 1 << 18};
    struct reparse rp = {e, tmp, 0};
    if (read_all(buf_ptr(&out), buf_len(&out), &big, on_reparse, &rp) != 0 ||
        rp.n != 1)
        abort();
    buf_fini(&out);
}

struct fuzz {
    struct dialback_pairs pairs;
    struct dialback_rx rx;
    struct dialback_elem *e;
    struct dialback_elem *tmp;
};

/* Run the decisions on e and build every reply. */
static void
exercise(struct fuzz *f)
{
    const struct dialback_elem *e = f->e;
    enum dialback_cond c;
    enum dialback_verdict v;
    if (e->kind == DIALBACK_RESULT) {
        v = dialback_receive(&f->pairs, e, &f->rx, &c);
        if ((v == DIALBACK_DO_ERROR) != (c != DIALBACK_C_NONE))
            abort();
        if (v == DIALBACK_DO_VERIFY &&
            dialback_in_complete(&f->pairs, e->from, e->to, DIALBACK_T_VALID,
                                 DIALBACK_C_NONE) != 0)
            abort();
        (void)dialback_out_answer(&f->pairs, e);
        (void)dialback_out_begin(&f->pairs, e->to, e->from);
    } else {
        v = dialback_authoritative(secret, sizeof secret - 1, e, &f->rx, &c);
        if ((v == DIALBACK_DO_ERROR) != (c != DIALBACK_C_NONE))
            abort();
    }
    for (int t = DIALBACK_T_VALID; t <= DIALBACK_T_ERROR; t++) {
        struct stanza *r =
            dialback_reply(e, (enum dialback_type)t, DIALBACK_C_NOT_ACCEPTABLE);
        enum stream_cond sc;
        if (r == NULL || dialback_parse(r, f->tmp, &sc) != 0 ||
            strcmp(f->tmp->from, e->to) != 0 ||
            strcmp(f->tmp->to, e->from) != 0)
            abort();
        stanza_unref(r);
    }
}

static void
on_elem(void *arg, struct stanza *st)
{
    struct fuzz *f = arg;
    enum stream_cond sc = SC_NONE;
    int rc = dialback_parse(st, f->e, &sc);
    if (rc == XE_INVAL) {
        if (sc != SC_NONE || stanza_is(st, NS_DIALBACK, NULL))
            abort();
        return;
    }
    if ((rc == 0) != (sc == SC_NONE))
        abort();
    if (rc == XE_LIMIT && sc != SC_POLICY_VIOLATION)
        abort();
    if (rc != 0)
        return;
    check_parsed(f->e);
    roundtrip(f->e, f->tmp);
    exercise(f);
}

/* Byte 0 sets the stream's flags (TLS, 'to' served); the rest follows
 * the s2s stream header. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct fuzz f;
    memset(&f, 0, sizeof f);
    dialback_pairs_init(&f.pairs, 4);
    f.rx.tls = (data[0] & 1) == 0;
    f.rx.to_local = (data[0] & 2) == 0;
    f.e = x_calloc(1, sizeof *f.e);
    f.tmp = x_calloc(1, sizeof *f.tmp);
    (void)read_all((const char *)data + 1, size - 1, &fuzz_limits, on_elem, &f);
    x_free(f.tmp);
    x_free(f.e);
    dialback_pairs_fini(&f.pairs);
    return 0;
}
