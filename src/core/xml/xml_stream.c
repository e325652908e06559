/* SPDX-License-Identifier: MIT */
/* xml_stream.c -- streaming reader over expat: restricted XML and limits. */
#include "xml/xml.h"

#include <expat.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/err.h"

/* Separates namespace URI, local name and prefix in the names expat
 * reports. U+0001 cannot appear in XML 1.0 content, not even as a
 * character reference, so it can never be part of a URI or a name. */
#define XML_SEP '\x01'

/* A namespace declaration on the stream element, held as offsets into
 * r->declbuf because that buffer may move while more are added. */
struct xml_declofs {
    size_t prefix;
    size_t uri;
};

struct xml_reader {
    XML_Parser p;
    struct xml_limits lim;
    struct xml_handler h;
    void *arg;

    int err;             /* sticky error, 0 if none */
    const char *errtext; /* static description of err */
    bool bad_encoding;   /* err came from the XML declaration */
    bool stopped;        /* a callback called xml_reader_stop */
    uint64_t stop_at;    /* parser offset just past the stopping event */

    unsigned level;       /* open elements, the stream element included */
    size_t text_run;      /* bytes of the current run of character data */
    size_t pending_decls; /* namespace declarations of the next start tag */
    uint64_t fed;         /* bytes handed to this parser since reset */
    uint64_t boundary;    /* parser offset of the last element boundary */
    uint64_t elem_start;  /* parser offset of the current stanza's '<' */
    size_t elem_bytes;    /* wire bytes of the stanza that just ended */
    uint64_t total;       /* bytes consumed since creation */

    /* The bytes of the current stanza as received, for forwarding them
     * unchanged (xml_reader_element_raw). While a slice is parsed,
     * slice/slice_base say where its bytes are; a stanza that spans
     * slices is gathered in cap (up to parser offset cap_upto). */
    const char *slice;
    uint64_t slice_base;
    bool raw_ok; /* the current stanza can be forwarded as received */
    char *cap;
    size_t cap_len, cap_size;
    uint64_t cap_from, cap_upto; /* parser offsets of cap's bytes */
    const char *raw; /* set during the end callback of a stanza */
    size_t raw_len;

    /* Scratch space reused by every start tag, so parsing a stanza
     * allocates nothing once these have grown to fit. */
    struct xml_attr *attrv;
    size_t attrv_cap;
    char *scratch;
    size_t scratch_cap;

    /* While idle between stanzas the expat parser can be freed
     * (xml_reader_hibernate); wake is a copy of the stream's start tag
     * (its name and namespace declarations) that a fresh parser is fed
     * first, silently, to get back into the same context. */
    char *wake;
    size_t wake_len;
    bool waking;

    /* Namespace declarations collected for the stream element. */
    struct xml_declofs *declv;
    size_t ndecl, declv_cap;
    char *declbuf;
    size_t declbuf_len, declbuf_cap;
};

/* Records the first error and aborts the parse; later handler calls that
 * expat still makes are ignored because r->err is set. */
static void
reader_fail(struct xml_reader *r, int err, const char *why)
{
    if (r->err == 0) {
        r->err = err;
        r->errtext = why;
    }
    XML_StopParser(r->p, XML_FALSE);
}

/* Parser offset just past the event being reported. */
static uint64_t
reader_event_end(const struct xml_reader *r)
{
    return (uint64_t)XML_GetCurrentByteIndex(r->p) +
           (uint64_t)XML_GetCurrentByteCount(r->p);
}

/* Whether a handler should act. After xml_reader_stop expat may still
 * report what belongs to the same token (the end of an empty element
 * whose start stopped the parse): those events end exactly where the
 * stopping event did, and are delivered so that the caller sees whole
 * elements for the bytes reported as consumed. */
static bool
reader_live(const struct xml_reader *r)
{
    if (r->err)
        return false;
    return !r->stopped || reader_event_end(r) == r->stop_at;
}

/* Applies a callback's result. */
static void
reader_check_cb(struct xml_reader *r, int rc)
{
    if (rc < 0)
        reader_fail(r, rc, "refused by the stream handler");
}

static void *
grow_array(void *v, size_t *cap, size_t need, size_t elsize)
{
    if (need <= *cap)
        return v;
    size_t n = *cap ? *cap : 8;
    while (n < need)
        n *= 2;
    *cap = n;
    return x_realloc(v, n * elsize);
}

/* Turns an expat name ("local", "uri SEP local" or "uri SEP local SEP
 * prefix", len bytes) into out. A name without a namespace is used in
 * place; otherwise it is copied to *dst (len + 1 bytes) and split there.
 * Returns false if a part is longer than max_name. */
static bool
name_split(const char *s,
           size_t len,
           char **dst,
           size_t max_name,
           struct xml_name *out)
{
    const char *sep = memchr(s, XML_SEP, len);
    if (sep == NULL) {
        out->ns = "";
        out->local = s;
        out->prefix = "";
        return len <= max_name;
    }
    char *d = *dst;
    memcpy(d, s, len + 1);
    *dst += len + 1;
    size_t ulen = (size_t)(sep - s);
    d[ulen] = '\0';
    out->ns = d;
    char *local = d + ulen + 1;
    size_t llen = len - ulen - 1;
    size_t plen = 0;
    char *sep2 = memchr(local, XML_SEP, llen);
    if (sep2 != NULL) {
        *sep2 = '\0';
        plen = llen - (size_t)(sep2 - local) - 1;
        llen = (size_t)(sep2 - local);
        out->prefix = sep2 + 1;
    } else {
        out->prefix = "";
    }
    out->local = local;
    return ulen <= max_name && llen <= max_name && plen <= max_name;
}

/* Fills r->attrv from expat's attribute list, checking the limits. Returns
 * the count, or -1 after reader_fail. */
static long
reader_attrs(struct xml_reader *r,
             const XML_Char *name,
             const XML_Char **atts,
             struct xml_name *el,
             size_t ndecl)
{
    size_t n = 0;
    while (atts[2 * n] != NULL)
        n++;
    if (n + ndecl > r->lim.max_attrs) {
        reader_fail(r, XE_LIMIT, "too many attributes");
        return -1;
    }
    r->attrv = grow_array(r->attrv, &r->attrv_cap, n + 1, sizeof(*r->attrv));
    /* First pass: name lengths (parked in value_len until the second
     * pass), so the scratch space is sized once. */
    size_t elen = strlen(name);
    size_t need = elen + 1;
    for (size_t i = 0; i < n; i++) {
        r->attrv[i].value_len = strlen(atts[2 * i]);
        need += r->attrv[i].value_len + 1;
    }
    if (need > r->scratch_cap) {
        x_free(r->scratch);
        r->scratch_cap = need < 256 ? 256 : need;
        r->scratch = x_malloc(r->scratch_cap);
    }
    char *dst = r->scratch;
    size_t max_name = r->lim.max_name;
    if (!name_split(name, elen, &dst, max_name, el))
        goto too_long;
    for (size_t i = 0; i < n; i++) {
        struct xml_attr *a = &r->attrv[i];
        if (!name_split(atts[2 * i], a->value_len, &dst, max_name, &a->name))
            goto too_long;
        a->value = atts[2 * i + 1];
        a->value_len = strlen(a->value);
        if (a->value_len > r->lim.max_text) {
            reader_fail(r, XE_LIMIT, "attribute value too long");
            return -1;
        }
    }
    return (long)n;
too_long:
    reader_fail(r, XE_LIMIT, "name too long");
    return -1;
}

/* Remember the stream's start tag, reduced to its name and namespace
 * declarations, for waking from hibernation. */
static void
reader_keep_wake(struct xml_reader *r,
                 const struct xml_name *el,
                 const struct xml_nsdecl *decls,
                 size_t n)
{
    struct buf b;
    buf_init(&b, (size_t)1 << 20);
    int rc = buf_printf(&b, "<%s%s%s", el->prefix, *el->prefix ? ":" : "",
                        el->local);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = buf_printf(&b, " xmlns%s%s='", *decls[i].prefix ? ":" : "",
                        decls[i].prefix);
        if (rc == 0)
            rc = xml_escape_attr(&b, decls[i].uri, strlen(decls[i].uri));
        if (rc == 0)
            rc = buf_appendz(&b, "'");
    }
    if (rc == 0)
        rc = buf_appendz(&b, ">");
    x_free(r->wake);
    r->wake = NULL;
    r->wake_len = 0;
    if (rc == 0)
        r->wake = buf_take(&b, &r->wake_len);
    buf_fini(&b);
}

/* Reports the stream element with the namespace declarations collected
 * for it; its end is the first element boundary. */
static void
reader_stream_open(struct xml_reader *r, const struct xml_name *el, size_t n)
{
    /* Once per stream: a short-lived array is simpler than keeping one. */
    struct xml_nsdecl *decls = x_calloc(r->ndecl + 1, sizeof(*decls));
    for (size_t i = 0; i < r->ndecl; i++) {
        decls[i].prefix = r->declbuf + r->declv[i].prefix;
        decls[i].uri = r->declbuf + r->declv[i].uri;
    }
    r->boundary = reader_event_end(r);
    reader_keep_wake(r, el, decls, r->ndecl);
    int rc = 0;
    if (r->h.stream_open)
        rc = r->h.stream_open(r->arg, el, r->attrv, n, decls, r->ndecl);
    x_free(decls);
    r->ndecl = 0;
    r->declbuf_len = 0;
    reader_check_cb(r, rc);
}

/* Appends n bytes to the capture of a stanza that spans slices. */
static void
cap_append(struct xml_reader *r, const char *p, size_t n)
{
    if (r->cap_len + n > r->cap_size) {
        size_t size = r->cap_size ? r->cap_size : 512;
        while (size < r->cap_len + n)
            size *= 2;
        r->cap = x_realloc(r->cap, size);
        r->cap_size = size;
    }
    memcpy(r->cap + r->cap_len, p, n);
    r->cap_len += n;
}

/* Whether a name keeps a stanza forwardable as received: a prefix would
 * depend on a declaration outside the stanza (only xml: is always
 * bound). */
static bool
raw_name_ok(const struct xml_name *n)
{
    return n->prefix[0] == '\0' || strcmp(n->prefix, "xml") == 0;
}

/* Start tag inside a stanza: anything that makes its bytes mean
 * something else on another stream clears raw_ok. A stanza's own
 * namespace must be inherited from the stream (no declaration on its
 * start tag), so that it becomes the receiving stream's content
 * namespace. */
static void
raw_check_start(struct xml_reader *r,
                unsigned depth,
                const struct xml_name *el,
                size_t nattrs,
                size_t ndecl)
{
    if (depth == 1) {
        r->raw_ok = ndecl == 0;
        /* What the capture holds from before this slice (a start tag
         * split between reads) is kept from the '<' on. */
        if (r->cap_len > 0 && r->cap_from <= r->elem_start &&
            r->elem_start <= r->cap_upto) {
            size_t skip = (size_t)(r->elem_start - r->cap_from);
            memmove(r->cap, r->cap + skip, r->cap_len - skip);
            r->cap_len -= skip;
        } else {
            r->cap_len = 0;
            r->cap_upto = r->elem_start;
        }
        r->cap_from = r->elem_start;
    }
    if (!r->raw_ok)
        return;
    bool ok = el->prefix[0] == '\0';
    for (size_t i = 0; ok && i < nattrs; i++)
        ok = raw_name_ok(&r->attrv[i].name);
    r->raw_ok = ok;
}

static void XMLCALL
on_start(void *u, const XML_Char *name, const XML_Char **atts)
{
    struct xml_reader *r = u;
    if (!reader_live(r))
        return;
    unsigned depth = r->level++;
    size_t ndecl = r->pending_decls;
    r->pending_decls = 0;
    r->text_run = 0;
    if (depth > r->lim.max_depth) {
        reader_fail(r, XE_LIMIT, "elements nested too deeply");
        return;
    }
    struct xml_name el;
    long n = reader_attrs(r, name, atts, &el, ndecl);
    if (n < 0)
        return;
    if (depth == 0) {
        if (r->waking) {
            r->ndecl = 0;
            r->declbuf_len = 0;
            return;
        }
        reader_stream_open(r, &el, (size_t)n);
        return;
    }
    if (depth == 1)
        r->elem_start = (uint64_t)XML_GetCurrentByteIndex(r->p);
    raw_check_start(r, depth, &el, (size_t)n, ndecl);
    if (r->h.start)
        reader_check_cb(r, r->h.start(r->arg, depth, &el, r->attrv, (size_t)n));
}

/* At the end of a stanza: its bytes, straight from the slice being
 * parsed or completed in the capture buffer. */
static void
raw_locate(struct xml_reader *r)
{
    r->raw = NULL;
    if (!r->raw_ok || r->slice == NULL || r->boundary < r->slice_base)
        return;
    if (r->cap_len == 0 && r->elem_start >= r->slice_base) {
        r->raw = r->slice + (r->elem_start - r->slice_base);
        r->raw_len = r->elem_bytes;
        return;
    }
    if (r->cap_upto != r->slice_base || r->cap_from != r->elem_start)
        return; /* a gap: never guess */
    cap_append(r, r->slice, (size_t)(r->boundary - r->slice_base));
    r->cap_upto = r->boundary;
    if (r->cap_len == r->elem_bytes) {
        r->raw = r->cap;
        r->raw_len = r->cap_len;
    }
}

static void XMLCALL
on_end(void *u, const XML_Char *name)
{
    (void)name;
    struct xml_reader *r = u;
    if (!reader_live(r))
        return;
    r->text_run = 0;
    unsigned depth = --r->level;
    int rc = 0;
    if (depth == 0) {
        r->boundary = reader_event_end(r);
        if (r->h.stream_close)
            rc = r->h.stream_close(r->arg);
    } else {
        if (depth == 1) {
            r->boundary = reader_event_end(r);
            r->elem_bytes = (size_t)(r->boundary - r->elem_start);
            raw_locate(r);
        }
        if (r->h.end)
            rc = r->h.end(r->arg, depth);
        r->raw = NULL;
    }
    reader_check_cb(r, rc);
}

static bool
is_space(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\n' && s[i] != '\t' && s[i] != '\r')
            return false;
    }
    return true;
}

static void XMLCALL
on_text(void *u, const XML_Char *s, int len)
{
    struct xml_reader *r = u;
    if (!reader_live(r))
        return;
    unsigned depth = r->level - 1;
    size_t n = (size_t)len;
    if (depth == 0 && is_space(s, n)) {
        /* Whitespace between stanzas (keepalives) is a boundary: it must
         * not add up to a limit over a long-lived stream. */
        r->boundary = reader_event_end(r);
        r->text_run = 0;
    } else {
        r->text_run += n;
        if (r->text_run > r->lim.max_text) {
            reader_fail(r, XE_LIMIT, "text too long");
            return;
        }
    }
    if (r->h.text)
        reader_check_cb(r, r->h.text(r->arg, depth, s, n));
}

/* Appends a NUL-terminated copy of s to r->declbuf; returns its offset. */
static size_t
decl_store(struct xml_reader *r, const char *s, size_t len)
{
    size_t need = r->declbuf_len + len + 1;
    if (need > r->declbuf_cap) {
        size_t cap = r->declbuf_cap ? r->declbuf_cap : 128;
        while (cap < need)
            cap *= 2;
        r->declbuf = x_realloc(r->declbuf, cap);
        r->declbuf_cap = cap;
    }
    size_t at = r->declbuf_len;
    memcpy(r->declbuf + at, s, len);
    r->declbuf[at + len] = '\0';
    r->declbuf_len = need;
    return at;
}

static void XMLCALL
on_ns_start(void *u, const XML_Char *prefix, const XML_Char *uri)
{
    struct xml_reader *r = u;
    if (!reader_live(r))
        return;
    if (prefix == NULL)
        prefix = "";
    if (uri == NULL)
        uri = "";
    size_t plen = strlen(prefix), ulen = strlen(uri);
    if (++r->pending_decls > r->lim.max_attrs) {
        reader_fail(r, XE_LIMIT, "too many attributes");
        return;
    }
    if (plen > r->lim.max_name || ulen > r->lim.max_name) {
        reader_fail(r, XE_LIMIT, "name too long");
        return;
    }
    if (r->level != 0) {
        /* Inside a stanza, a prefix or a declaration of a content
         * namespace would not mean the same on another stream. */
        if (r->level >= 2 &&
            (plen != 0 || strcmp(uri, "jabber:client") == 0 ||
             strcmp(uri, "jabber:server") == 0))
            r->raw_ok = false;
        return;
    }
    r->declv =
        grow_array(r->declv, &r->declv_cap, r->ndecl + 1, sizeof(*r->declv));
    r->declv[r->ndecl].prefix = decl_store(r, prefix, plen);
    r->declv[r->ndecl].uri = decl_store(r, uri, ulen);
    r->ndecl++;
}

/* RFC 6120 §11.1: DTDs, entity declarations, comments and processing
 * instructions are refused; they stop the parse at once. */
static void XMLCALL
on_doctype(void *u,
           const XML_Char *name,
           const XML_Char *sysid,
           const XML_Char *pubid,
           int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    reader_fail(u, XE_RESTRICTED, "document type declaration");
}

static void XMLCALL
on_entity_decl(void *u,
               const XML_Char *name,
               int is_param,
               const XML_Char *value,
               int value_len,
               const XML_Char *base,
               const XML_Char *sysid,
               const XML_Char *pubid,
               const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base;
    (void)sysid, (void)pubid, (void)notation;
    reader_fail(u, XE_RESTRICTED, "entity declaration");
}

static void XMLCALL
on_unparsed_entity(void *u,
                   const XML_Char *name,
                   const XML_Char *base,
                   const XML_Char *sysid,
                   const XML_Char *pubid,
                   const XML_Char *notation)
{
    (void)name, (void)base, (void)sysid, (void)pubid, (void)notation;
    reader_fail(u, XE_RESTRICTED, "entity declaration");
}

static void XMLCALL
on_notation(void *u,
            const XML_Char *name,
            const XML_Char *base,
            const XML_Char *sysid,
            const XML_Char *pubid)
{
    (void)name, (void)base, (void)sysid, (void)pubid;
    reader_fail(u, XE_RESTRICTED, "notation declaration");
}

static void XMLCALL
on_comment(void *u, const XML_Char *data)
{
    (void)data;
    reader_fail(u, XE_RESTRICTED, "comment");
}

static void XMLCALL
on_pi(void *u, const XML_Char *target, const XML_Char *data)
{
    (void)target, (void)data;
    reader_fail(u, XE_RESTRICTED, "processing instruction");
}

/* The parser is created for UTF-8 and ignores a declared encoding, so a
 * declaration naming another one is refused rather than misread. */
static void XMLCALL
on_xml_decl(void *u,
            const XML_Char *version,
            const XML_Char *encoding,
            int standalone)
{
    (void)version, (void)standalone;
    struct xml_reader *r = u;
    if (encoding != NULL && strcasecmp(encoding, "UTF-8") != 0) {
        reader_fail(r, XE_RESTRICTED, "encoding other than UTF-8");
        r->bad_encoding = true;
    }
}

/* Installs handlers and options; XML_ParserReset clears them, so this runs
 * after creation and after every reset. */
static void
reader_setup(struct xml_reader *r)
{
    XML_Parser p = r->p;
    XML_SetUserData(p, r);
    XML_SetReturnNSTriplet(p, XML_TRUE);
    /* Without this a stanza after a large token is held back until more
     * bytes arrive (expat's CVE-2023-52425 fix): an XMPP stall. */
    XML_SetReparseDeferralEnabled(p, XML_FALSE);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    XML_SetStartNamespaceDeclHandler(p, on_ns_start);
    XML_SetStartDoctypeDeclHandler(p, on_doctype);
    XML_SetEntityDeclHandler(p, on_entity_decl);
    XML_SetUnparsedEntityDeclHandler(p, on_unparsed_entity);
    XML_SetNotationDeclHandler(p, on_notation);
    XML_SetCommentHandler(p, on_comment);
    XML_SetProcessingInstructionHandler(p, on_pi);
    XML_SetXmlDeclHandler(p, on_xml_decl);
}

/* Clears the per-stream state. */
static void
reader_clear(struct xml_reader *r)
{
    r->err = 0;
    r->errtext = NULL;
    r->bad_encoding = false;
    r->stopped = false;
    r->stop_at = 0;
    r->level = 0;
    r->text_run = 0;
    r->pending_decls = 0;
    r->fed = 0;
    r->boundary = 0;
    r->ndecl = 0;
    r->declbuf_len = 0;
    r->raw_ok = false;
    r->cap_len = 0;
    r->cap_from = r->cap_upto = 0;
}

/* A namespace-aware UTF-8 parser; like x_malloc, aborts on out-of-memory,
 * the only way expat can fail here. */
static XML_Parser
parser_new(void)
{
    XML_Parser p = XML_ParserCreateNS("UTF-8", XML_SEP);
    if (p == NULL) {
        fprintf(stderr, "level=error event=out-of-memory what=expat\n");
        abort();
    }
    return p;
}

struct xml_reader *
xml_reader_new(const struct xml_limits *lim,
               const struct xml_handler *h,
               void *arg)
{
    struct xml_reader *r = x_calloc(1, sizeof(*r));
    r->lim = *lim;
    r->h = *h;
    r->arg = arg;
    r->p = parser_new();
    reader_setup(r);
    reader_clear(r);
    return r;
}

void
xml_reader_free(struct xml_reader *r)
{
    if (r == NULL)
        return;
    if (r->p)
        XML_ParserFree(r->p);
    x_free(r->wake);
    x_free(r->attrv);
    x_free(r->scratch);
    x_free(r->declv);
    x_free(r->declbuf);
    x_free(r->cap);
    x_free(r);
}

void
xml_reader_set_limits(struct xml_reader *r, const struct xml_limits *lim)
{
    r->lim = *lim;
}

void
xml_reader_stop(struct xml_reader *r)
{
    if (r->stopped || r->err)
        return;
    r->stopped = true;
    r->stop_at = reader_event_end(r);
    XML_StopParser(r->p, XML_FALSE);
}

void
xml_reader_reset(struct xml_reader *r)
{
    /* A fresh parser rather than XML_ParserReset: a reset keeps the name
     * pools and buffers the negotiation filled, several KiB that an idle
     * session would carry for its whole life. */
    if (r->p)
        XML_ParserFree(r->p);
    r->p = parser_new();
    reader_setup(r);
    reader_clear(r);
    x_free(r->wake);
    r->wake = NULL;
    r->wake_len = 0;
}

bool
xml_reader_hibernate(struct xml_reader *r)
{
    if (r->p == NULL || r->err || r->stopped || r->level != 1 ||
        r->boundary != r->fed || r->wake == NULL || r->text_run != 0)
        return false;
    XML_ParserFree(r->p);
    r->p = NULL;
    x_free(r->attrv);
    x_free(r->scratch);
    x_free(r->declv);
    x_free(r->declbuf);
    x_free(r->cap);
    r->cap = NULL;
    r->cap_len = r->cap_size = 0;
    r->attrv = NULL;
    r->scratch = NULL;
    r->declv = NULL;
    r->declbuf = NULL;
    r->attrv_cap = r->scratch_cap = r->declv_cap = r->declbuf_cap = 0;
    return true;
}

/* A fresh parser, silently fed the stream's start tag: the stream goes on
 * as if the parser had never been freed. */
static int
reader_wake(struct xml_reader *r)
{
    r->p = parser_new();
    reader_setup(r);
    r->level = 0;
    r->waking = true;
    enum XML_Status st = XML_Parse(r->p, r->wake, (int)r->wake_len, XML_FALSE);
    r->waking = false;
    if (st != XML_STATUS_OK || r->level != 1) {
        r->err = XE_XML;
        r->errtext = "cannot resume the stream";
        return r->err;
    }
    r->fed = r->boundary = r->wake_len;
    return 0;
}

/* The error for a parse that returned XML_STATUS_ERROR. */
static int
reader_parse_error(struct xml_reader *r)
{
    if (r->err == 0) {
        enum XML_Error e = XML_GetErrorCode(r->p);
        r->err = XE_XML;
        r->errtext = XML_ErrorString(e);
        if (r->errtext == NULL)
            r->errtext = "not well-formed";
    }
    return r->err;
}

/* How many of the next len bytes may go to expat: what keeps the bytes
 * since the last boundary within max_stanza. 0 means the pending element
 * is already as large as allowed. */
static size_t
reader_budget(const struct xml_reader *r, size_t len)
{
    uint64_t pending = r->fed - r->boundary;
    if (pending >= r->lim.max_stanza)
        return 0;
    uint64_t room = r->lim.max_stanza - pending;
    if (room < len)
        len = (size_t)room;
    return len < INT_MAX ? len : INT_MAX;
}

/* After a slice: keep what raw_locate will need of it, the bytes of a
 * stanza still open, or the bytes after the last boundary (the start of
 * a start tag that expat has not reported yet). */
static void
raw_carry(struct xml_reader *r, const char *p, uint64_t base, size_t n)
{
    uint64_t end = base + n;
    uint64_t from;
    if (r->level >= 2 && r->raw_ok) {
        from = r->cap_upto;
        if (from < base || from > end || r->cap_from != r->elem_start) {
            r->raw_ok = false; /* a gap: never guess */
            return;
        }
    } else if (r->level == 1 && r->boundary < end) {
        if (r->cap_len > 0 && r->cap_from == r->boundary &&
            r->cap_upto == base) {
            from = base; /* the same pending bytes go on */
        } else if (r->boundary >= base) {
            r->cap_len = 0;
            r->cap_from = from = r->boundary;
        } else {
            r->cap_len = 0; /* they began in a slice no longer here */
            return;
        }
    } else {
        return;
    }
    cap_append(r, p + (from - base), (size_t)(end - from));
    r->cap_upto = end;
}

/* expat buffers an incomplete token whole before any handler runs, so a
 * huge start tag would be held in memory before a limit could be checked
 * in a callback. The input is therefore handed over in slices that never
 * take the bytes since the last boundary past max_stanza. */
int
xml_reader_feed(struct xml_reader *r,
                const char *data,
                size_t len,
                size_t *consumed)
{
    size_t done = 0;
    int rc = r->err;
    if (rc == 0 && r->stopped)
        rc = XE_STATE;
    if (rc == 0 && r->p == NULL && len > 0)
        rc = reader_wake(r);
    while (rc == 0 && done < len) {
        size_t n = reader_budget(r, len - done);
        if (n == 0) {
            r->err = rc = XE_LIMIT;
            r->errtext = "element too large";
            break;
        }
        uint64_t base = r->fed;
        r->fed += n;
        r->slice = data + done;
        r->slice_base = base;
        enum XML_Status st = XML_Parse(r->p, data + done, (int)n, XML_FALSE);
        r->slice = NULL;
        if (st == XML_STATUS_OK && !r->stopped)
            raw_carry(r, data + done, base, n);
        if (r->stopped && r->err == 0) {
            done += (size_t)(r->stop_at - base);
            break;
        }
        if (st != XML_STATUS_OK)
            rc = reader_parse_error(r);
        else
            done += n;
    }
    r->total += done;
    *consumed = done;
    return rc;
}

bool
xml_reader_unsupported_encoding(const struct xml_reader *r)
{
    return r->err == XE_RESTRICTED && r->bad_encoding;
}

const char *
xml_reader_error_text(const struct xml_reader *r)
{
    if (r->err == 0)
        return r->stopped ? "stopped for a restart" : "no error";
    return r->errtext ? r->errtext : "error";
}

const char *
xml_reader_element_raw(const struct xml_reader *r, size_t *len)
{
    *len = r->raw ? r->raw_len : 0;
    return r->raw;
}

size_t
xml_reader_element_bytes(const struct xml_reader *r)
{
    return r->elem_bytes;
}

uint64_t
xml_reader_bytes(const struct xml_reader *r)
{
    return r->total;
}
