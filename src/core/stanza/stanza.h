/* SPDX-License-Identifier: MIT */
/* stanza.h -- XML element trees for stanzas, builders, serialiser, errors. */
#ifndef XMUX_STANZA_H
#define XMUX_STANZA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "xml/xml.h"

#define NS_CLIENT      "jabber:client"
#define NS_SERVER      "jabber:server"
#define NS_STREAMS_ERR "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_STANZAS_ERR "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_TLS         "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL        "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_DIALBACK    "jabber:server:dialback"

/* A node of a tree: an element (name != NULL) or a text node. A tree is
 * reference counted through its root; every node of a tree lives in
 * memory owned by the root, freed when the last reference goes. A tree
 * with more than one reference is shared and must not be changed:
 * stanza_dup it first. The layout is private; use the accessors. */
struct stanza;

/* --- building ----------------------------------------------------------- */

/* New root element {ns}name with one reference. ns may be "" (none). */
struct stanza *stanza_new(const char *ns, const char *name);
/* Add a reference; returns st. */
struct stanza *stanza_ref(struct stanza *st);
/* Drop a reference to a root; frees the tree at zero. Accepts NULL. */
void stanza_unref(struct stanza *st);
/* Deep copy of the subtree at el as a new root with one reference. */
struct stanza *stanza_dup(const struct stanza *el);
/* Append a child element; ns NULL means the parent's namespace. Returns
 * the child (owned by the tree). */
struct stanza *stanza_add_child(struct stanza *parent, const char *ns,
                                const char *name);
/* Append text (merged with a preceding text node). */
void stanza_add_text(struct stanza *parent, const char *text, size_t len);
/* Set (or with value NULL remove) an attribute in no namespace. */
void stanza_set_attr(struct stanza *el, const char *name, const char *value);
/* Set (or remove) a namespaced attribute (ns "" = none), e.g. xml:lang
 * is {XML_NS_XML}lang. */
void stanza_set_attr_ns(struct stanza *el, const char *ns, const char *name,
                        const char *value);
/* Set an attribute from a counted value (UTF-8 text without NUL; len
 * saves a strlen). */
void stanza_set_attr_n(struct stanza *el, const char *name, const char *value,
                       size_t len);

/* Keep the bytes a just-parsed root element was read from (see
 * xml_reader_element_raw); stanza_write then copies them instead of
 * serialising the tree, as long as nothing in it changes (adding one
 * attribute to the root, such as a stamped 'from', is allowed). */
void stanza_keep_raw(struct stanza *root, const char *raw, size_t len);

/* --- accessors (never allocate) ------------------------------------------ */

/* Local name of an element; NULL for a text node. */
const char *stanza_name(const struct stanza *el);
/* Namespace URI of an element ("" for none). */
const char *stanza_ns(const struct stanza *el);
/* True if el is an element named {ns}name (ns NULL matches any). */
bool stanza_is(const struct stanza *el, const char *ns, const char *name);
/* Value of an attribute in no namespace, or NULL. */
const char *stanza_attr(const struct stanza *el, const char *name);
/* The attribute name as a whole decimal number 0..4294967295 (digits
 * only, no sign, space or leading zero), e.g. a XEP-0198 count h. True
 * and *out set if it is one; false (out untouched) if absent or not. */
bool stanza_attr_u32(const struct stanza *el, const char *name,
                     uint32_t *out);
/* True if el is a stanza (RFC 6120 §8): message, presence or iq in
 * jabber:client or jabber:server. */
bool stanza_is_stanza(const struct stanza *el);
/* Value of a namespaced attribute, or NULL. */
const char *stanza_attr_ns(const struct stanza *el, const char *ns,
                           const char *name);
/* Number of attributes, and the i-th one's parts (any may be NULL). */
size_t stanza_attr_count(const struct stanza *el);
void stanza_attr_at(const struct stanza *el, size_t i, const char **ns,
                    const char **name, const char **value);
/* Parent element, or NULL at the root. */
struct stanza *stanza_parent(const struct stanza *node);
/* First child node (element or text) and the next sibling node. */
struct stanza *stanza_first_node(const struct stanza *el);
struct stanza *stanza_next_node(const struct stanza *node);
/* First child element / next sibling element (text skipped). */
struct stanza *stanza_first_child(const struct stanza *el);
struct stanza *stanza_next_sibling(const struct stanza *el);
/* First child element named {ns}name (ns NULL: any namespace). */
struct stanza *stanza_child(const struct stanza *el, const char *ns,
                            const char *name);
/* Number of child elements. */
size_t stanza_child_count(const struct stanza *el);
/* Text of a text node (with its length), or NULL for an element. */
const char *stanza_text_node(const struct stanza *node, size_t *len);
/* The text of el if it has at most one text child and no element child
 * ("" if none), else NULL (use stanza_text_copy). */
const char *stanza_text(const struct stanza *el, size_t *len);
/* Append the concatenated direct text children of el to out. */
int stanza_text_copy(const struct stanza *el, struct buf *out);

/* --- serialising --------------------------------------------------------- */

/* What the stream being written declared on its header: its default
 * (content) namespace and prefixes such as stream= and db=. */
struct stanza_wctx {
    const char *default_ns; /* NS_CLIENT or NS_SERVER */
    size_t nprefixes;
    const char *prefix[4];
    const char *prefix_ns[4];
};

/* Serialise el into out with minimal namespace declarations. If el is in
 * jabber:client or jabber:server, it and its descendants in that same
 * namespace (reached without passing through another namespace) are
 * written in w->default_ns, so a stanza read from a c2s stream comes out
 * right on an s2s stream; a nested jabber:client element under another
 * namespace (a forwarded message) keeps its namespace. Elements in a
 * namespace with a prefix in w use it. Returns 0 or XE_LIMIT (out full;
 * out then holds a partial element and should be discarded). */
int stanza_write(const struct stanza *el, const struct stanza_wctx *w,
                 struct buf *out);

/* --- building trees from the XML reader ---------------------------------- */

/* Builds one tree per depth-1 element from xml_reader callbacks. */
struct stanza_builder {
    struct stanza *root; /* tree under construction, or NULL */
    struct stanza *cur;  /* innermost open element */
};

/* Prepare an empty builder. */
void stanza_builder_init(struct stanza_builder *b);
/* Free any partial tree. */
void stanza_builder_fini(struct stanza_builder *b);
/* Feed a start event (depth 1 starts a new tree). */
void stanza_builder_start(struct stanza_builder *b, unsigned depth,
                          const struct xml_name *el,
                          const struct xml_attr *attrs, size_t nattrs);
/* Feed text (ignored at depth 0). */
void stanza_builder_text(struct stanza_builder *b, unsigned depth,
                         const char *s, size_t len);
/* Feed an end event; at depth 1 returns the finished tree (caller owns one
 * reference), otherwise NULL. */
struct stanza *stanza_builder_end(struct stanza_builder *b, unsigned depth);

/* --- errors (RFC 6120 §4.9.3 and §8.3.3) --------------------------------- */

#define STREAM_COND_MAP(X)                                                    \
    X(SC_BAD_FORMAT, "bad-format")                                            \
    X(SC_BAD_NAMESPACE_PREFIX, "bad-namespace-prefix")                        \
    X(SC_CONFLICT, "conflict")                                                \
    X(SC_CONNECTION_TIMEOUT, "connection-timeout")                            \
    X(SC_HOST_GONE, "host-gone")                                              \
    X(SC_HOST_UNKNOWN, "host-unknown")                                        \
    X(SC_IMPROPER_ADDRESSING, "improper-addressing")                          \
    X(SC_INTERNAL_SERVER_ERROR, "internal-server-error")                      \
    X(SC_INVALID_FROM, "invalid-from")                                        \
    X(SC_INVALID_NAMESPACE, "invalid-namespace")                              \
    X(SC_INVALID_XML, "invalid-xml")                                          \
    X(SC_NOT_AUTHORIZED, "not-authorized")                                    \
    X(SC_NOT_WELL_FORMED, "not-well-formed")                                  \
    X(SC_POLICY_VIOLATION, "policy-violation")                                \
    X(SC_REMOTE_CONNECTION_FAILED, "remote-connection-failed")                \
    X(SC_RESET, "reset")                                                      \
    X(SC_RESOURCE_CONSTRAINT, "resource-constraint")                          \
    X(SC_RESTRICTED_XML, "restricted-xml")                                    \
    X(SC_SEE_OTHER_HOST, "see-other-host")                                    \
    X(SC_SYSTEM_SHUTDOWN, "system-shutdown")                                  \
    X(SC_UNDEFINED_CONDITION, "undefined-condition")                          \
    X(SC_UNSUPPORTED_ENCODING, "unsupported-encoding")                        \
    X(SC_UNSUPPORTED_FEATURE, "unsupported-feature")                          \
    X(SC_UNSUPPORTED_STANZA_TYPE, "unsupported-stanza-type")                  \
    X(SC_UNSUPPORTED_VERSION, "unsupported-version")

enum stream_cond {
    SC_NONE = 0,
#define STREAM_COND_ENUM(c, s) c,
    STREAM_COND_MAP(STREAM_COND_ENUM)
#undef STREAM_COND_ENUM
        SC__COUNT
};

enum stanza_err_type {
    SET_AUTH,
    SET_CANCEL,
    SET_CONTINUE,
    SET_MODIFY,
    SET_WAIT,
};

/* Condition, element name, default error type (RFC 6120 §8.3.3). */
#define STANZA_COND_MAP(X)                                                    \
    X(XC_BAD_REQUEST, "bad-request", SET_MODIFY)                              \
    X(XC_CONFLICT, "conflict", SET_CANCEL)                                    \
    X(XC_FEATURE_NOT_IMPLEMENTED, "feature-not-implemented", SET_CANCEL)      \
    X(XC_FORBIDDEN, "forbidden", SET_AUTH)                                    \
    X(XC_GONE, "gone", SET_CANCEL)                                            \
    X(XC_INTERNAL_SERVER_ERROR, "internal-server-error", SET_CANCEL)          \
    X(XC_ITEM_NOT_FOUND, "item-not-found", SET_CANCEL)                        \
    X(XC_JID_MALFORMED, "jid-malformed", SET_MODIFY)                          \
    X(XC_NOT_ACCEPTABLE, "not-acceptable", SET_MODIFY)                        \
    X(XC_NOT_ALLOWED, "not-allowed", SET_CANCEL)                              \
    X(XC_NOT_AUTHORIZED, "not-authorized", SET_AUTH)                          \
    X(XC_POLICY_VIOLATION, "policy-violation", SET_MODIFY)                    \
    X(XC_RECIPIENT_UNAVAILABLE, "recipient-unavailable", SET_WAIT)            \
    X(XC_REDIRECT, "redirect", SET_MODIFY)                                    \
    X(XC_REGISTRATION_REQUIRED, "registration-required", SET_AUTH)            \
    X(XC_REMOTE_SERVER_NOT_FOUND, "remote-server-not-found", SET_CANCEL)      \
    X(XC_REMOTE_SERVER_TIMEOUT, "remote-server-timeout", SET_WAIT)            \
    X(XC_RESOURCE_CONSTRAINT, "resource-constraint", SET_WAIT)                \
    X(XC_SERVICE_UNAVAILABLE, "service-unavailable", SET_CANCEL)              \
    X(XC_SUBSCRIPTION_REQUIRED, "subscription-required", SET_AUTH)            \
    X(XC_UNDEFINED_CONDITION, "undefined-condition", SET_CANCEL)              \
    X(XC_UNEXPECTED_REQUEST, "unexpected-request", SET_WAIT)

enum stanza_cond {
    XC_NONE = 0,
#define STANZA_COND_ENUM(c, s, t) c,
    STANZA_COND_MAP(STANZA_COND_ENUM)
#undef STANZA_COND_ENUM
        XC__COUNT
};

/* Element name of a stream condition ("host-unknown"); NULL for SC_NONE. */
const char *stream_cond_name(enum stream_cond c);
/* Condition for an element name, or SC_NONE. */
enum stream_cond stream_cond_parse(const char *name);
/* Element name of a stanza condition; NULL for XC_NONE. */
const char *stanza_cond_name(enum stanza_cond c);
/* Condition for an element name, or XC_NONE. */
enum stanza_cond stanza_cond_parse(const char *name);
/* The default error type of a condition (RFC 6120 §8.3.3). */
enum stanza_err_type stanza_cond_type(enum stanza_cond c);
/* "auth", "cancel", "continue", "modify", "wait". */
const char *stanza_err_type_name(enum stanza_err_type t);

/* New <stream:error><cond xmlns=streams-ns/>[<text xml:lang='en'>text</text>]
 * </stream:error>; text may be NULL. */
struct stanza *stanza_stream_error(enum stream_cond c, const char *text);
/* New error reply to st (RFC 6120 §8.3): same name and id, 'to' and 'from'
 * swapped, type='error', and <error type=default-type><cond/>[<text/>]
 * </error>; the original payload is not echoed. text may be NULL. */
struct stanza *stanza_error_reply(const struct stanza *st, enum stanza_cond c,
                                  const char *text);

#endif
