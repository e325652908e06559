/* SPDX-License-Identifier: MIT */
/* config_scan.c -- a light lexer that catches what libconfig lets pass. */
#include "config/config_int.h"

#include <string.h>

#include "base/err.h"

/* libconfig 1.5 has three behaviours we cannot accept:
 *  - "@include" opens any file named, also from config_read_string, and
 *    settings from it carry that file's line numbers;
 *  - an integer literal too large for its type is truncated silently:
 *    "port = 4294972518;" reads as 5222;
 *  - when the token that makes the text a syntax error is a string, the
 *    parser drops it without freeing it ("a = 1 \"x\";" leaks).
 * This lexer follows libconfig's rules for strings and comments closely
 * enough to find all three. The first two are refused with their line;
 * for the third, parse() hands libconfig the text only up to that string
 * followed by a stray character, which fails at the same line without
 * the leak. */

/* What came before the current token, as far as strings care. */
enum prev_tok {
    PREV_NONE,   /* start of text: a setting name comes next */
    PREV_VALUE,  /* '=' or ':': a value comes next */
    PREV_OPEN,   /* '(' or '[': a first element comes next */
    PREV_COMMA,  /* ',': separator or setting terminator, see stack */
    PREV_STRING, /* a string, which another may continue */
    PREV_OTHER,  /* anything else */
};

struct scan {
    const char *p;
    int line;
    char last[64]; /* the most recent setting name */
    enum prev_tok prev;
    char stack[CFG_NEST_MAX]; /* open brackets, innermost last */
    size_t depth;             /* may exceed CFG_NEST_MAX (not stored) */
};

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
hex_val(char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* "# ..." and "// ..." end at the newline, which the main loop counts. */
static void
skip_line_comment(struct scan *s)
{
    while (*s->p != '\0' && *s->p != '\n')
        s->p++;
}

static void
skip_block_comment(struct scan *s)
{
    s->p += 2;
    while (*s->p != '\0' && !(s->p[0] == '*' && s->p[1] == '/')) {
        if (*s->p == '\n')
            s->line++;
        s->p++;
    }
    if (*s->p != '\0')
        s->p += 2;
}

/* A backslash never ends a string: whatever follows it is either part of
 * an escape or plain text, so skipping it is safe. */
static void
skip_string(struct scan *s)
{
    s->p++;
    while (*s->p != '\0' && *s->p != '"') {
        if (*s->p == '\\' && s->p[1] != '\0')
            s->p++;
        if (*s->p == '\n')
            s->line++;
        s->p++;
    }
    if (*s->p != '\0')
        s->p++;
}

static void
scan_name(struct scan *s)
{
    size_t n = 0;
    while (is_alpha(*s->p) || is_digit(*s->p) || *s->p == '-' || *s->p == '_' ||
           *s->p == '*') {
        if (n + 1 < sizeof(s->last))
            s->last[n++] = *s->p;
        s->p++;
    }
    s->last[n] = '\0';
}

/* Accumulate the digits of one literal; *over is set past 2^64. */
static unsigned long long
digits(struct scan *s, unsigned base, bool *over)
{
    unsigned long long v = 0;
    for (;;) {
        int d =
            base == 16 ? hex_val(*s->p) : (is_digit(*s->p) ? *s->p - '0' : -1);
        if (d < 0)
            return v;
        if (v > (~0ULL - (unsigned)d) / base)
            *over = true;
        v = v * base + (unsigned)d;
        s->p++;
    }
}

static void
skip_fraction(struct scan *s)
{
    if (*s->p == '.') {
        s->p++;
        while (is_digit(*s->p))
            s->p++;
    }
    if ((*s->p == 'e' || *s->p == 'E') &&
        (is_digit(s->p[1]) ||
         ((s->p[1] == '+' || s->p[1] == '-') && is_digit(s->p[2])))) {
        s->p += 2;
        while (is_digit(*s->p))
            s->p++;
    }
}

/* One numeric literal at s->p. Returns true if libconfig would truncate
 * it: without an L suffix it becomes a 32-bit int, with one a 64-bit. */
static bool
scan_number(struct scan *s)
{
    bool neg = *s->p == '-';
    if (*s->p == '-' || *s->p == '+')
        s->p++;
    bool over = false;
    unsigned long long v;
    bool hex = s->p[0] == '0' && (s->p[1] == 'x' || s->p[1] == 'X') &&
               hex_val(s->p[2]) >= 0;
    if (hex) {
        s->p += 2;
        v = digits(s, 16, &over);
        /* A hex literal has no sign in libconfig's grammar; it is read
         * as unsigned and then cut, so 0x80000000 would turn negative. */
        neg = false;
    } else {
        v = digits(s, 10, &over);
        if (*s->p == '.' || *s->p == 'e' || *s->p == 'E') {
            skip_fraction(s);
            return false; /* a float: libconfig keeps a double */
        }
    }
    bool wide = *s->p == 'L';
    while (*s->p == 'L')
        s->p++;
    unsigned long long max = wide ? 0x7fffffffffffffffULL : 0x7fffffffULL;
    return over || v > max + (neg ? 1 : 0);
}

static bool
number_start(const char *p)
{
    if (*p == '+' || *p == '-')
        p++;
    return is_digit(*p) || (*p == '.' && is_digit(p[1]));
}

/* A string is valid only where a value starts: after '=' or ':', first
 * in a list or array, after a ',' separating list or array elements, or
 * right after another string (adjacent strings concatenate). Everywhere
 * else it is the token that breaks the syntax. */
static bool
string_ok(const struct scan *s)
{
    switch (s->prev) {
    case PREV_VALUE:
    case PREV_OPEN:
    case PREV_STRING:
        return true;
    case PREV_COMMA:
        if (s->depth == 0 || s->depth > CFG_NEST_MAX)
            return false;
        return s->stack[s->depth - 1] == '(' || s->stack[s->depth - 1] == '[';
    default:
        return false;
    }
}

/* Track brackets and separators. Returns false past CFG_NEST_MAX. */
static bool
punct(struct scan *s, char c)
{
    switch (c) {
    case '=':
    case ':':
        s->prev = PREV_VALUE;
        break;
    case '(':
    case '[':
    case '{':
        if (s->depth < CFG_NEST_MAX)
            s->stack[s->depth] = c;
        s->depth++;
        s->prev = c == '{' ? PREV_NONE : PREV_OPEN;
        break;
    case ')':
    case ']':
    case '}':
        /* An unbalanced closer is libconfig's syntax error to report. */
        if (s->depth > 0)
            s->depth--;
        s->prev = PREV_OTHER;
        break;
    case ',':
        s->prev = PREV_COMMA;
        break;
    default: /* ';' and stray characters */
        s->prev = PREV_OTHER;
        break;
    }
    s->p++;
    return s->depth <= CFG_NEST_MAX;
}

/* Everything but comments, strings and newlines. In the pre-pass (ints
 * false) refuse "@include"; afterwards, refuse truncated integers. */
static int
scan_token(struct cfg__ctx *cx, struct scan *s, bool ints)
{
    char c = *s->p;
    if (is_alpha(c) || c == '*') {
        scan_name(s);
        s->prev = PREV_OTHER;
    } else if (number_start(s->p)) {
        const char *start = s->p;
        s->prev = PREV_OTHER;
        if (scan_number(s) && ints)
            return cfg__error(cx, s->line, "%s: integer %.*s is out of range",
                              s->last[0] ? s->last : "value",
                              (int)(s->p - start > 40 ? 40 : s->p - start),
                              start);
    } else if (c == '@' && !ints && strncmp(s->p, "@include", 8) == 0) {
        return cfg__error(cx, s->line, "@include is not supported");
    } else if (!punct(s, c) && !ints) {
        return cfg__error(cx, s->line, "nested more than %d levels deep",
                          CFG_NEST_MAX);
    }
    return 0;
}

/* Walk the text. *cut (pre-pass only) receives the offset of the first
 * misplaced string, or the text's length if there is none. */
static int
scan_text(struct cfg__ctx *cx, const char *text, bool ints, size_t *cut)
{
    struct scan s = {.p = text, .line = 1, .prev = PREV_NONE};
    while (*s.p != '\0') {
        char c = *s.p;
        int rc = 0;
        if (c == '\n') {
            s.line++;
            s.p++;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
            s.p++;
        } else if (c == '#' || (c == '/' && s.p[1] == '/')) {
            skip_line_comment(&s);
        } else if (c == '/' && s.p[1] == '*') {
            skip_block_comment(&s);
        } else if (c == '"') {
            if (!ints && !string_ok(&s)) {
                *cut = (size_t)(s.p - text);
                return 0;
            }
            skip_string(&s);
            s.prev = PREV_STRING;
        } else {
            rc = scan_token(cx, &s, ints);
        }
        if (rc != 0)
            return rc;
    }
    if (cut != NULL)
        *cut = (size_t)(s.p - text);
    return 0;
}

int
cfg__scan_pre(struct cfg__ctx *cx, const char *text, size_t len, size_t *cut)
{
    const char *nul = memchr(text, '\0', len);
    if (nul != NULL) {
        int line = 1;
        for (const char *p = text; p < nul; p++)
            line += *p == '\n';
        return cfg__error(cx, line, "NUL byte in the text");
    }
    return scan_text(cx, text, false, cut);
}

int
cfg__scan_ints(struct cfg__ctx *cx, const char *text)
{
    return scan_text(cx, text, true, NULL);
}
