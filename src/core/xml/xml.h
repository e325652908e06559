/* SPDX-License-Identifier: MIT */
/* xml.h -- streaming XMPP XML reader over expat, and XML escaping. */
#ifndef XMUX_XML_H
#define XMUX_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* The stream namespace and the XML namespace. */
#define XML_NS_STREAM "http://etherx.jabber.org/streams"
#define XML_NS_XML    "http://www.w3.org/XML/1998/namespace"

/* Limits enforced while parsing. The stream element is depth 0, a stanza
 * (or any first-level element) is depth 1. Exceeding any limit makes
 * xml_reader_feed return XE_LIMIT before the offending data is buffered
 * whole. */
struct xml_limits {
    size_t max_depth;  /* deepest element, counting the stanza as 1 */
    size_t max_attrs;  /* attributes on one element (namespace decls too) */
    size_t max_name;   /* bytes of one element/attribute name or ns URI */
    size_t max_text;   /* bytes of one attribute value or text run */
    size_t max_stanza; /* bytes of one depth-1 element as received, and of
                          anything fed since the last element boundary */
};

/* A qualified name as reported by the reader. ns is "" for no namespace;
 * prefix is "" when none was used. All strings are NUL-terminated and
 * valid only during the callback. */
struct xml_name {
    const char *ns;
    const char *local;
    const char *prefix;
};

/* One attribute (namespace declarations are not attributes). */
struct xml_attr {
    struct xml_name name;
    const char *value;
    size_t value_len;
};

/* One namespace declaration on the stream element; prefix "" = default. */
struct xml_nsdecl {
    const char *prefix;
    const char *uri;
};

/* Callbacks. Each returns 0 to go on, or a negative error code that stops
 * parsing and is returned by xml_reader_feed. A callback may also call
 * xml_reader_stop to end the current feed after this event. */
struct xml_handler {
    /* The stream element opened (depth 0). */
    int (*stream_open)(void *arg, const struct xml_name *el,
                       const struct xml_attr *attrs, size_t nattrs,
                       const struct xml_nsdecl *decls, size_t ndecls);
    /* An element at depth >= 1 started. */
    int (*start)(void *arg, unsigned depth, const struct xml_name *el,
                 const struct xml_attr *attrs, size_t nattrs);
    /* Character data inside an element at depth >= 1 (depth of the
     * enclosing element); adjacent calls may split one text run. Text at
     * depth 0 (whitespace between stanzas) is reported with depth 0. */
    int (*text)(void *arg, unsigned depth, const char *s, size_t len);
    /* The element at depth >= 1 ended; depth 1 means a stanza is whole. */
    int (*end)(void *arg, unsigned depth);
    /* The peer sent </stream:stream>. */
    int (*stream_close)(void *arg);
};

struct xml_reader;

/* Create a reader; lim is copied. Never returns NULL. */
struct xml_reader *xml_reader_new(const struct xml_limits *lim,
                                  const struct xml_handler *h, void *arg);
/* Free the reader; accepts NULL. Never call it from inside a callback. */
void xml_reader_free(struct xml_reader *r);
/* Replace the limits (e.g. the looser post-authentication ones). */
void xml_reader_set_limits(struct xml_reader *r, const struct xml_limits *lim);
/* Parse len bytes. On return *consumed is how many were parsed: all of
 * them, unless a callback called xml_reader_stop (then the rest belongs
 * after a restart). Returns 0, or XE_XML (not well-formed, including
 * invalid UTF-8 and a second root), XE_RESTRICTED (DTD, entity
 * declaration, comment, processing instruction, XML declaration naming an
 * encoding other than UTF-8 -> see xml_reader_unsupported_encoding),
 * XE_LIMIT, or an error returned by a callback. After an error the reader
 * refuses more input until xml_reader_reset. */
int xml_reader_feed(struct xml_reader *r, const char *data, size_t len,
                    size_t *consumed);
/* From a callback: end the current feed right after this event. */
void xml_reader_stop(struct xml_reader *r);
/* Start over with a fresh parser for a new stream header (after STARTTLS
 * or SASL success). Call only outside callbacks. */
void xml_reader_reset(struct xml_reader *r);
/* If the stream is between stanzas with nothing pending, free the expat
 * parser and its buffers (about 10 KiB) until more input comes; the next
 * xml_reader_feed recreates them transparently. Returns true if freed. */
bool xml_reader_hibernate(struct xml_reader *r);
/* True if the last XE_RESTRICTED came from an XML declaration with an
 * encoding other than UTF-8 (RFC 6120 unsupported-encoding). */
bool xml_reader_unsupported_encoding(const struct xml_reader *r);
/* A short, static description of the last error, for logs. */
const char *xml_reader_error_text(const struct xml_reader *r);
/* During the end callback of a depth-1 element: its size on the wire,
 * from the '<' of its start tag to the '>' of its end tag (MUX.md D-09). */
size_t xml_reader_element_bytes(const struct xml_reader *r);
/* During the end callback of a depth-1 element: its bytes as received
 * (len set), when they mean the same element on any XMPP stream — no
 * prefixed names other than xml:, no namespace declaration on the
 * element itself (its namespace is the stream's), no declaration of a
 * prefix or of jabber:client / jabber:server inside it — else NULL. The
 * bytes are valid only during the callback. */
const char *xml_reader_element_raw(const struct xml_reader *r, size_t *len);
/* Total bytes parsed since creation (not reset by xml_reader_reset). */
uint64_t xml_reader_bytes(const struct xml_reader *r);

/* Append s escaped for character data (&, <, >) to out. */
int xml_escape_text(struct buf *out, const char *s, size_t len);
/* Append s escaped for an attribute value in single quotes (&, <, >, '
 * and ", and TAB/LF/CR as character references). */
int xml_escape_attr(struct buf *out, const char *s, size_t len);

#endif
