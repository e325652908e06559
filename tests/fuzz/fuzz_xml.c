/* SPDX-License-Identifier: MIT */
/* fuzz_xml.c -- libFuzzer target: XML stream reader, builder and writer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "stanza/stanza.h"
#include "xml/xml.h"

/* Tight limits keep each input fast and reach every limit often. */
static const struct xml_limits fuzz_limits = {
    .max_depth = 8,
    .max_attrs = 8,
    .max_name = 64,
    .max_text = 512,
    .max_stanza = 2048,
};

/* Generous limits for re-reading what the writer produced. */
static const struct xml_limits check_limits = {
    .max_depth = 64,
    .max_attrs = 64,
    .max_name = 4096,
    .max_text = 1 << 16,
    .max_stanza = 1 << 18,
};

static const struct stanza_wctx wctx[2] = {
    {NS_CLIENT, 1, {"stream"}, {XML_NS_STREAM}},
    {NS_SERVER, 2, {"stream", "db"}, {XML_NS_STREAM, NS_DIALBACK}},
};

static const char *const check_hdr[2] = {
    "<stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams'>",
    "<stream:stream xmlns='jabber:server' "
    "xmlns:stream='http://etherx.jabber.org/streams' "
    "xmlns:db='jabber:server:dialback'>",
};

struct fuzz {
    struct xml_reader *r;
    struct stanza_builder b;
    const struct stanza_wctx *w;
    int wi;
    bool restart; /* a handler asked for a stream restart */
    struct buf out;
    /* The oracle: what was written must read back to the same text. */
    struct xml_reader *check;
    struct stanza_builder cb;
    struct stanza *reread;
};

static int
check_start(void *arg,
            unsigned depth,
            const struct xml_name *el,
            const struct xml_attr *attrs,
            size_t nattrs)
{
    struct fuzz *f = arg;
    stanza_builder_start(&f->cb, depth, el, attrs, nattrs);
    return 0;
}

static int
check_text(void *arg, unsigned depth, const char *s, size_t len)
{
    struct fuzz *f = arg;
    stanza_builder_text(&f->cb, depth, s, len);
    return 0;
}

static int
check_end(void *arg, unsigned depth)
{
    struct fuzz *f = arg;
    struct stanza *st = stanza_builder_end(&f->cb, depth);
    if (st != NULL) {
        if (f->reread != NULL)
            abort(); /* one element was written, two were read */
        f->reread = st;
    }
    return 0;
}

static const struct xml_handler check_handler = {NULL, check_start, check_text,
                                                 check_end, NULL};

/* Reads one element written for f->w back (NULL if unreadable). */
static struct stanza *
reread(struct fuzz *f, const char *s, size_t len)
{
    xml_reader_reset(f->check);
    stanza_builder_fini(&f->cb);
    f->reread = NULL;
    size_t used;
    const char *hdr = check_hdr[f->wi];
    if (xml_reader_feed(f->check, hdr, strlen(hdr), &used) != 0 ||
        xml_reader_feed(f->check, s, len, &used) != 0 || f->reread == NULL) {
        fprintf(stderr, "unreadable output: %s: %.*s\n",
                xml_reader_error_text(f->check), (int)len, s);
        abort();
    }
    struct stanza *st = f->reread;
    f->reread = NULL;
    return st;
}

/* Reads the serialisation of st back and writes it again: the writer
 * must produce well-formed XML that means the same tree. */
static void
check_roundtrip(struct fuzz *f, const char *s, size_t len)
{
    struct stanza *st = reread(f, s, len);
    struct buf again;
    buf_init(&again, 1 << 20);
    if (stanza_write(st, f->w, &again) != 0 || buf_len(&again) != len ||
        memcmp(buf_ptr(&again), s, len) != 0) {
        fprintf(stderr, "not stable:\n%.*s\n%s\n", (int)len, s,
                buf_ptr(&again));
        abort();
    }
    buf_fini(&again);
    stanza_unref(st);
}

/* The element's bytes as received, written for another stream (with a
 * 'from' spliced in when it has none), must read back as the same tree
 * as its serialisation: ser is that serialisation. */
static void
check_raw(struct fuzz *f, struct stanza *st, const char *ser, size_t serlen)
{
    size_t rawlen;
    const char *raw = xml_reader_element_raw(f->r, &rawlen);
    if (raw == NULL)
        return;
    if (rawlen != xml_reader_element_bytes(f->r) || raw[0] != '<' ||
        raw[rawlen - 1] != '>')
        abort();
    stanza_keep_raw(st, raw, rawlen);
    struct buf out;
    buf_init(&out, 1 << 20);
    bool stamp = stanza_attr(st, "from") == NULL;
    if (stamp)
        stanza_set_attr(st, "from", "a@b/'&<");
    if (stanza_write(st, f->w, &out) != 0)
        abort();
    struct stanza *a = reread(f, buf_ptr(&out), buf_len(&out));
    struct stanza *b = stamp ? NULL : reread(f, ser, serlen);
    if (stamp) {
        /* What the tree itself gives with the same change. */
        struct stanza *d = stanza_dup(st);
        buf_reset(&out);
        if (stanza_write(d, f->w, &out) != 0)
            abort();
        stanza_unref(d);
        b = reread(f, buf_ptr(&out), buf_len(&out));
    }
    if (stamp) {
        /* The spliced attribute comes first, the tree's last: compare
         * its value, then the rest. */
        const char *fa = stanza_attr(a, "from"), *fb = stanza_attr(b, "from");
        if (fa == NULL || fb == NULL || strcmp(fa, fb) != 0)
            abort();
        stanza_set_attr(a, "from", NULL);
        stanza_set_attr(b, "from", NULL);
    }
    struct buf wa, wb;
    buf_init(&wa, 1 << 20);
    buf_init(&wb, 1 << 20);
    if (stanza_write(a, f->w, &wa) != 0 || stanza_write(b, f->w, &wb) != 0 ||
        buf_len(&wa) != buf_len(&wb) ||
        memcmp(buf_ptr(&wa), buf_ptr(&wb), buf_len(&wa)) != 0) {
        fprintf(stderr, "raw differs:\n%.*s\n%s\n%s\n", (int)rawlen, raw,
                buf_ptr(&wa), buf_ptr(&wb));
        abort();
    }
    buf_fini(&wa);
    buf_fini(&wb);
    buf_fini(&out);
    stanza_unref(a);
    stanza_unref(b);
}

static int
on_open(void *arg,
        const struct xml_name *el,
        const struct xml_attr *attrs,
        size_t nattrs,
        const struct xml_nsdecl *decls,
        size_t ndecls)
{
    (void)arg, (void)attrs, (void)nattrs;
    if (el->local == NULL || el->ns == NULL || el->prefix == NULL)
        abort();
    for (size_t i = 0; i < ndecls; i++) {
        if (decls[i].prefix == NULL || decls[i].uri == NULL)
            abort();
    }
    return 0;
}

static int
on_start(void *arg,
         unsigned depth,
         const struct xml_name *el,
         const struct xml_attr *attrs,
         size_t nattrs)
{
    struct fuzz *f = arg;
    if (depth < 1 || depth > fuzz_limits.max_depth ||
        nattrs > fuzz_limits.max_attrs)
        abort();
    stanza_builder_start(&f->b, depth, el, attrs, nattrs);
    return 0;
}

static int
on_text(void *arg, unsigned depth, const char *s, size_t len)
{
    struct fuzz *f = arg;
    if (len > fuzz_limits.max_text)
        abort();
    stanza_builder_text(&f->b, depth, s, len);
    return 0;
}

/* Serialises a finished stanza, checks it, and for <proceed/> or
 * <success/> asks for a restart as a stream would. */
static int
on_end(void *arg, unsigned depth)
{
    struct fuzz *f = arg;
    struct stanza *st = stanza_builder_end(&f->b, depth);
    if (st == NULL)
        return 0;
    buf_reset(&f->out);
    int rc = stanza_write(st, f->w, &f->out);
    if (rc != 0 && rc != XE_LIMIT)
        abort();
    if (rc == 0) {
        check_roundtrip(f, buf_ptr(&f->out), buf_len(&f->out));
        check_raw(f, st, buf_ptr(&f->out), buf_len(&f->out));
    }
    if (stanza_is(st, NULL, "iq")) {
        struct stanza *e = stanza_error_reply(st, XC_SERVICE_UNAVAILABLE, "x");
        stanza_unref(e);
    }
    if (stanza_is(st, NULL, "proceed") || stanza_is(st, NULL, "success")) {
        f->restart = true;
        xml_reader_stop(f->r);
    }
    stanza_unref(st);
    return 0;
}

static int
on_close(void *arg)
{
    (void)arg;
    return 0;
}

static const struct xml_handler fuzz_handler = {on_open, on_start, on_text,
                                                on_end, on_close};

static uint32_t
rnd(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* The first four bytes choose the writer context and the chunking: byte
 * 0 is the largest chunk size, bytes 1-3 seed the chunk sizes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    size_t maxchunk = (size_t)data[0] + 1;
    uint32_t seed =
        ((uint32_t)data[1] << 16 | (uint32_t)data[2] << 8 | data[3]) | 1;
    const char *in = (const char *)data + 4;
    size_t len = size - 4;

    struct fuzz f;
    memset(&f, 0, sizeof(f));
    f.wi = data[1] & 1;
    f.w = &wctx[f.wi];
    stanza_builder_init(&f.b);
    stanza_builder_init(&f.cb);
    buf_init(&f.out, 4096);
    f.r = xml_reader_new(&fuzz_limits, &fuzz_handler, &f);
    f.check = xml_reader_new(&check_limits, &check_handler, &f);

    size_t off = 0;
    while (off < len) {
        size_t n = 1 + rnd(&seed) % maxchunk;
        if (n > len - off)
            n = len - off;
        size_t used = 0;
        int rc = xml_reader_feed(f.r, in + off, n, &used);
        if (used > n)
            abort();
        off += used;
        if (rc != 0) {
            size_t again = 1;
            if (xml_reader_feed(f.r, in, len, &again) != rc || again != 0)
                abort(); /* errors are sticky */
            break;
        }
        if (f.restart) {
            f.restart = false;
            stanza_builder_fini(&f.b);
            xml_reader_reset(f.r);
        } else if (used != n) {
            abort();
        }
    }
    (void)xml_reader_bytes(f.r);
    (void)xml_reader_error_text(f.r);
    xml_reader_free(f.check);
    xml_reader_free(f.r);
    stanza_builder_fini(&f.cb);
    stanza_builder_fini(&f.b);
    buf_fini(&f.out);
    return 0;
}
