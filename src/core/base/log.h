/* SPDX-License-Identifier: MIT */
/* log.h -- one greppable key=value line per event; levels; no secrets. */
#ifndef XMUX_BASE_LOG_H
#define XMUX_BASE_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
    LOG_ERROR = 0,
    LOG_WARN,
    LOG_INFO,
    LOG_DEBUG,
    LOG_TRACE,
};

/* Receives one finished line (no trailing newline). */
typedef void log_sink_fn(void *arg, enum log_level lvl, const char *line,
                         size_t len);

/* A logger lives in a context object; core code logs only through it. */
struct logger {
    enum log_level level;
    log_sink_fn *sink; /* NULL: lines are dropped */
    void *sink_arg;
};

/* Log a line if lvl is enabled. The arguments are not evaluated otherwise.
 * conn is a connection id (0 for none); fmt produces key=value pairs. Never
 * pass SASL data, passwords, keys, dialback keys or mux secrets. */
#define log_msg(lg, lvl, conn, ...)                                           \
    do {                                                                      \
        const struct logger *log__lg = (lg);                                  \
        if (log__lg && (int)(lvl) <= (int)log__lg->level)                     \
            log__emit(log__lg, (lvl), (conn), 0, __VA_ARGS__);                \
    } while (0)

/* Like log_msg, and appends errno's name and message as
 * err=ENAME msg="..." (OpenSMTPD log_warn vs log_warnx). */
#define log_msg_errno(lg, lvl, conn, errnum, ...)                             \
    do {                                                                      \
        const struct logger *log__lg = (lg);                                  \
        if (log__lg && (int)(lvl) <= (int)log__lg->level)                     \
            log__emit(log__lg, (lvl), (conn), (errnum), __VA_ARGS__);         \
    } while (0)

/* Formats and hands the line to the sink; use log_msg instead. */
void log__emit(const struct logger *lg, enum log_level lvl, uint64_t conn,
               int errnum, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Parse "error", "warn", "info", "debug", "trace"; -1 if unknown. */
int log_level_parse(const char *s);
/* Name of a level ("info"). */
const char *log_level_name(enum log_level lvl);

/* A sink that writes "ts=... " + line + "\n" to stderr in one write. */
void log_sink_stderr(void *arg, enum log_level lvl, const char *line,
                     size_t len);

/* Render untrusted bytes as one log value: printable ASCII other than
 * space, '"' and '\\' is copied; the rest becomes \xNN; the result is
 * quoted if anything was escaped, and cut with "..." to fit dstlen.
 * Returns dst. */
char *log_escape(char *dst, size_t dstlen, const char *s, size_t n);

#endif
