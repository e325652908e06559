/* SPDX-License-Identifier: MIT */
/* log.c -- key=value log lines. */
#include "base/log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"

#define LOG_LINE_MAX 2048

static const char *const level_names[] = {"error", "warn", "info", "debug",
                                          "trace"};

const char *
log_level_name(enum log_level lvl)
{
    if ((unsigned)lvl > LOG_TRACE)
        return "?";
    return level_names[lvl];
}

int
log_level_parse(const char *s)
{
    for (int i = 0; i <= LOG_TRACE; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

void
log__emit(const struct logger *lg, enum log_level lvl, uint64_t conn,
          int errnum, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    size_t n = 0;
    int w = snprintf(line, sizeof(line), "level=%s ", log_level_name(lvl));
    if (w > 0)
        n = (size_t)w;
    if (conn != 0 && n < sizeof(line)) {
        w = snprintf(line + n, sizeof(line) - n, "conn=%llx ",
                     (unsigned long long)conn);
        if (w > 0)
            n += (size_t)w;
    }
    if (n < sizeof(line)) {
        va_list ap;
        va_start(ap, fmt);
        w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        va_end(ap);
        if (w > 0)
            n += (size_t)w;
    }
    if (errnum != 0 && n < sizeof(line)) {
        int e = errnum > 0 ? -errnum : errnum;
        w = snprintf(line + n, sizeof(line) - n, " err=%s msg=\"%s\"",
                     xerr_name(e), xerr_str(e));
        if (w > 0)
            n += (size_t)w;
    }
    if (n >= sizeof(line))
        n = sizeof(line) - 1;
    if (lg->sink)
        lg->sink(lg->sink_arg, lvl, line, n);
}

void
log_sink_stderr(void *arg, enum log_level lvl, const char *line, size_t len)
{
    (void)arg;
    (void)lvl;
    char out[LOG_LINE_MAX + 64];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int w = snprintf(out, sizeof(out),
                     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %.*s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, (int)len,
                     line);
    if (w <= 0)
        return;
    size_t n = (size_t)w < sizeof(out) ? (size_t)w : sizeof(out) - 1;
    /* One write per line so concurrent writers do not interleave. */
    ssize_t r;
    do {
        r = write(STDERR_FILENO, out, n);
    } while (r < 0 && errno == EINTR);
}

static bool
log_needs_quote(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=')
            return true;
    }
    return false;
}

/* Append one byte of a value, escaped; false when it does not fit. */
static bool
log_put(char *dst, size_t *o, size_t room, unsigned char c, bool quoted)
{
    static const char hex[] = "0123456789abcdef";
    bool plain = (c > ' ' && c < 0x7f && c != '"' && c != '\\') ||
                 (c == ' ' && quoted);
    size_t need = plain ? 1 : 4;
    if (*o + need > room)
        return false;
    if (plain) {
        dst[(*o)++] = (char)c;
        return true;
    }
    dst[(*o)++] = '\\';
    dst[(*o)++] = 'x';
    dst[(*o)++] = hex[c >> 4];
    dst[(*o)++] = hex[c & 15];
    return true;
}

char *
log_escape(char *dst, size_t dstlen, const char *s, size_t n)
{
    if (dstlen < 8) {
        if (dstlen)
            dst[0] = '\0';
        return dst;
    }
    bool quote = log_needs_quote(s, n);
    size_t o = 0;
    size_t room = dstlen - 5; /* closing quote, "...", NUL */
    if (quote)
        dst[o++] = '"';
    size_t i = 0;
    while (i < n && log_put(dst, &o, room, (unsigned char)s[i], quote))
        i++;
    if (i < n) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    if (quote)
        dst[o++] = '"';
    dst[o] = '\0';
    return dst;
}
