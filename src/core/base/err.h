/* SPDX-License-Identifier: MIT */
/* err.h -- the project's error codes: one X-macro table, names and messages. */
#ifndef XMUX_BASE_ERR_H
#define XMUX_BASE_ERR_H

/* Functions return 0 on success, a negative errno for system failures, or
 * one of these project codes. */
#define XERR_MAP(X)                                                           \
    X(XE_LIMIT, -5001, "configured limit exceeded")                           \
    X(XE_PROTO, -5002, "peer violated the protocol")                          \
    X(XE_INVAL, -5003, "invalid argument or input")                           \
    X(XE_NOTFOUND, -5004, "not found")                                        \
    X(XE_STATE, -5005, "operation not valid in this state")                   \
    X(XE_CONFIG, -5006, "invalid configuration")                              \
    X(XE_XML, -5007, "XML is not well-formed")                                \
    X(XE_RESTRICTED, -5008, "restricted XML (DTD, PI, comment, entity)")      \
    X(XE_UTF8, -5009, "invalid UTF-8")                                        \
    X(XE_JID, -5010, "invalid JID")                                           \
    X(XE_JID_NODE, -5011, "invalid JID localpart")                            \
    X(XE_JID_DOMAIN, -5012, "invalid JID domainpart")                         \
    X(XE_JID_RESOURCE, -5013, "invalid JID resourcepart")                     \
    X(XE_CLOSED, -5014, "stream closed")                                      \
    X(XE_IO, -5015, "I/O failure")                                            \
    X(XE_TLS, -5016, "TLS failure")                                           \
    X(XE_STORE, -5017, "storage failure")                                     \
    X(XE_SASL, -5018, "SASL failure")                                         \
    X(XE_TOO_LARGE, -5019, "larger than the peer accepts")

enum xerr {
#define XERR_ENUM(name, val, msg) name = (val),
    XERR_MAP(XERR_ENUM)
#undef XERR_ENUM
};

/* Symbolic name of an error code ("XE_LIMIT", "ENOMEM"); never NULL. */
const char *xerr_name(int err);
/* Human-readable message for an error code; never NULL. */
const char *xerr_str(int err);

#endif
