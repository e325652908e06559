/* SPDX-License-Identifier: MIT */
/* xml_write.c -- escape character data and attribute values. */
#include "xml/xml.h"

#include <string.h>

#include "base/err.h"

/* Replacement for c, or NULL if c is copied as is. */
static const char *
escape_of(unsigned char c, bool attr)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '\'':
        return attr ? "&apos;" : NULL;
    case '"':
        return attr ? "&quot;" : NULL;
    case '\t':
        return attr ? "&#9;" : NULL;
    case '\n':
        return attr ? "&#10;" : NULL;
    case '\r':
        /* A literal CR would come back as LF (XML end-of-line handling),
         * in text as in attributes. */
        return "&#13;";
    default:
        return NULL;
    }
}

/* Bytes that need escaping; everything else is copied in runs, so plain
 * text costs one test per byte and one append. */
static bool
maybe_special(unsigned char c, bool attr)
{
    if (c == '&' || c == '<' || c == '>' || c == '\r')
        return true;
    return attr &&
           (c == '\'' || c == '"' || c == '\t' || c == '\n');
}

static int
escape(struct buf *out, const char *s, size_t len, bool attr)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!maybe_special(c, attr))
            continue;
        const char *rep = escape_of(c, attr);
        int rc = buf_append(out, s + run, i - run);
        if (rc == 0)
            rc = buf_append(out, rep, strlen(rep));
        if (rc)
            return rc;
        run = i + 1;
    }
    return buf_append(out, s + run, len - run);
}

int
xml_escape_text(struct buf *out, const char *s, size_t len)
{
    return escape(out, s, len, false);
}

int
xml_escape_attr(struct buf *out, const char *s, size_t len)
{
    return escape(out, s, len, true);
}
