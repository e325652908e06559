/* SPDX-License-Identifier: MIT */
/* config_get.c -- typed, range-checked access to settings; error lines. */
#include "config/config_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "jid/jid.h"

/* Copy a file name for a message, with control bytes replaced, so that
 * one error is always exactly one line. */
static void
name_clean(char *dst, size_t n, const char *s)
{
    size_t i = 0;
    for (; s[i] != '\0' && i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char out = s[i];
        if (c < 0x20 || c == 0x7f)
            out = '?';
        dst[i] = out;
    }
    dst[i] = '\0';
}

int
cfg__error(struct cfg__ctx *cx, int line, const char *fmt, ...)
{
    if (cx->err == NULL)
        return XE_CONFIG;
    char msg[CFG_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char name[256];
    name_clean(name, sizeof(name), cx->name);
    char out[CFG_ERR_MAX + 300];
    if (line > 0)
        (void)snprintf(out, sizeof(out), "%s:%d: %s", name, line, msg);
    else
        (void)snprintf(out, sizeof(out), "%s: %s", name, msg);
    buf_reset(cx->err);
    /* A caller's buffer may be smaller than our line: keep what fits
     * rather than nothing. */
    size_t len = strlen(out);
    size_t room = cx->err->max > 0 ? cx->err->max - 1 : 0;
    buf_append(cx->err, out, len < room ? len : room);
    return XE_CONFIG;
}

const char *
cfg__quote(char *dst, size_t n, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    /* Room for the opening quote, "...", the closing quote and NUL. */
    if (n < 8) {
        if (n > 0)
            dst[0] = '\0';
        return dst;
    }
    dst[o++] = '"';
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
        size_t need = plain ? 1 : 4;
        if (o + need + 5 > n) {
            memcpy(dst + o, "...", 3);
            o += 3;
            break;
        }
        if (plain) {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 0xf];
        }
    }
    dst[o++] = '"';
    dst[o] = '\0';
    return dst;
}

const char *
cfg__key(char *dst, size_t n, const char *pfx, const char *name)
{
    if (pfx[0] == '\0')
        (void)snprintf(dst, n, "%s", name);
    else
        (void)snprintf(dst, n, "%s.%s", pfx, name);
    return dst;
}

int
cfg__line(const config_setting_t *s)
{
    return (int)config_setting_source_line(s);
}

int
cfg__check_keys(struct cfg__ctx *cx,
                const config_setting_t *g,
                const char *pfx,
                const char *const *known)
{
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(s);
        bool ok = false;
        for (size_t k = 0; known[k] != NULL && !ok; k++)
            ok = strcmp(name, known[k]) == 0;
        if (!ok) {
            char key[CFG_KEY_MAX];
            return cfg__error(cx, cfg__line(s), "%s: unknown key",
                              cfg__key(key, sizeof(key), pfx, name));
        }
    }
    return 0;
}

/* Find member name of g; on absence fail if CFG_REQ says so. Returns 1
 * (found, *out set), 0 (absent) or XE_CONFIG. */
static int
member(struct cfg__ctx *cx,
       const config_setting_t *g,
       const char *pfx,
       const char *name,
       unsigned flags,
       const config_setting_t **out)
{
    *out = config_setting_get_member(g, name);
    if (*out != NULL)
        return 1;
    if (!(flags & CFG_REQ))
        return 0;
    char key[CFG_KEY_MAX];
    return cfg__error(cx, cfg__line(g), "%s: missing",
                      cfg__key(key, sizeof(key), pfx, name));
}

static int
wrong_type(struct cfg__ctx *cx,
           const config_setting_t *s,
           const char *pfx,
           const char *name,
           const char *what)
{
    char key[CFG_KEY_MAX];
    return cfg__error(cx, cfg__line(s), "%s: expected %s",
                      cfg__key(key, sizeof(key), pfx, name), what);
}

int
cfg__get_str(struct cfg__ctx *cx,
             const config_setting_t *g,
             const char *pfx,
             const char *name,
             unsigned flags,
             const char **out)
{
    const config_setting_t *s;
    int rc = member(cx, g, pfx, name, flags, &s);
    if (rc <= 0)
        return rc;
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return wrong_type(cx, s, pfx, name, "a string");
    const char *v = config_setting_get_string(s);
    /* Every string key names something; an empty one is always a
     * mistake. */
    if (v == NULL || v[0] == '\0') {
        char key[CFG_KEY_MAX];
        return cfg__error(cx, cfg__line(s), "%s: must not be empty",
                          cfg__key(key, sizeof(key), pfx, name));
    }
    *out = v;
    return 1;
}

int
cfg__get_bool(struct cfg__ctx *cx,
              const config_setting_t *g,
              const char *pfx,
              const char *name,
              bool *out)
{
    const config_setting_t *s;
    int rc = member(cx, g, pfx, name, 0, &s);
    if (rc <= 0)
        return rc;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return wrong_type(cx, s, pfx, name, "true or false");
    *out = config_setting_get_bool(s) != 0;
    return 1;
}

int
cfg__get_int(struct cfg__ctx *cx,
             const config_setting_t *g,
             const char *pfx,
             const char *name,
             unsigned flags,
             long long min,
             long long max,
             long long *out)
{
    const config_setting_t *s;
    int rc = member(cx, g, pfx, name, flags, &s);
    if (rc <= 0)
        return rc;
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
        return wrong_type(cx, s, pfx, name, "an integer");
    long long v = config_setting_get_int64(s);
    if (v < min || v > max) {
        char key[CFG_KEY_MAX];
        return cfg__error(cx, cfg__line(s),
                          "%s: must be between %lld and %lld (got %lld)",
                          cfg__key(key, sizeof(key), pfx, name), min, max, v);
    }
    *out = v;
    return 1;
}

int
cfg__get_ms(struct cfg__ctx *cx,
            const config_setting_t *g,
            const char *pfx,
            const char *name,
            uint32_t *out)
{
    const config_setting_t *s;
    int rc = member(cx, g, pfx, name, 0, &s);
    if (rc <= 0)
        return rc;
    int t = config_setting_type(s);
    double v;
    if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
        v = (double)config_setting_get_int64(s);
    else if (t == CONFIG_TYPE_FLOAT)
        v = config_setting_get_float(s);
    else
        return wrong_type(cx, s, pfx, name, "a number of seconds");
    char key[CFG_KEY_MAX];
    cfg__key(key, sizeof(key), pfx, name);
    /* Written so that NaN fails too. */
    if (!(v > 0.0 && v <= 86400.0))
        return cfg__error(cx, cfg__line(s),
                          "%s: must be more than 0 and at most 86400 "
                          "seconds (got %g)",
                          key, v);
    double ms = v * 1000.0 + 0.5;
    if (ms < 1.0)
        return cfg__error(cx, cfg__line(s),
                          "%s: must be at least 0.001 seconds (got %g)", key,
                          v);
    *out = (uint32_t)ms;
    return 1;
}

/* A member that must be a group or a list (libconfig type type, named
 * what in errors). Returns 1 with *out, 0 if absent, or an error. */
static int
get_container(struct cfg__ctx *cx,
              const config_setting_t *g,
              const char *pfx,
              const char *name,
              int type,
              const char *what,
              const config_setting_t **out)
{
    const config_setting_t *s;
    int rc = member(cx, g, pfx, name, 0, &s);
    if (rc <= 0)
        return rc;
    if (config_setting_type(s) != type)
        return wrong_type(cx, s, pfx, name, what);
    *out = s;
    return 1;
}

int
cfg__get_group(struct cfg__ctx *cx,
               const config_setting_t *g,
               const char *pfx,
               const char *name,
               const config_setting_t **out)
{
    return get_container(cx, g, pfx, name, CONFIG_TYPE_GROUP, "a group { ... }",
                         out);
}

int
cfg__get_list(struct cfg__ctx *cx,
              const config_setting_t *g,
              const char *pfx,
              const char *name,
              const config_setting_t **out)
{
    return get_container(cx, g, pfx, name, CONFIG_TYPE_LIST, "a list ( ... )",
                         out);
}

int
cfg__list_group(struct cfg__ctx *cx,
                const config_setting_t *l,
                const char *lkey,
                unsigned i,
                const config_setting_t **out,
                char *key,
                size_t keyn)
{
    const config_setting_t *s = config_setting_get_elem(l, i);
    (void)snprintf(key, keyn, "%s[%u]", lkey, i);
    if (config_setting_type(s) != CONFIG_TYPE_GROUP)
        return cfg__error(cx, cfg__line(s), "%s: expected a group { ... }",
                          key);
    *out = s;
    return 0;
}

int
cfg__domain(struct cfg__ctx *cx,
            const config_setting_t *s,
            const char *key,
            const char *in,
            char **out)
{
    char dom[JID_DOMAIN_BUFSZ];
    size_t n = 0;
    if (jid_domain_prep(in, strlen(in), dom, sizeof(dom), &n) != 0) {
        char q[128];
        return cfg__error(cx, cfg__line(s), "%s: invalid domain %s", key,
                          cfg__quote(q, sizeof(q), in));
    }
    *out = x_strndup(dom, n);
    return 0;
}

/* The directory holding the config file, made absolute with the current
 * directory, so that stored paths survive a later chdir. */
static int
config_dir(struct cfg__ctx *cx)
{
    if (cx->dir != NULL)
        return 0;
    const char *slash = strrchr(cx->name, '/');
    size_t dlen = slash == NULL ? 0 : (size_t)(slash - cx->name);
    if (slash == cx->name)
        dlen = 1; /* the file is in "/" */
    struct buf b;
    buf_init(&b, CFG_PATH_MAX);
    int rc = 0;
    if (cx->name[0] != '/') {
        char cwd[CFG_PATH_MAX];
        if (getcwd(cwd, sizeof(cwd)) == NULL) {
            buf_fini(&b);
            return cfg__error(cx, 0, "cannot find the current directory: %s",
                              strerror(errno));
        }
        rc = buf_appendz(&b, cwd);
        if (rc == 0 && dlen > 0)
            rc = buf_printf(&b, "%s%.*s", strcmp(cwd, "/") ? "/" : "",
                            (int)dlen, cx->name);
    } else {
        rc = buf_append(&b, cx->name, dlen);
    }
    if (rc != 0) {
        buf_fini(&b);
        return cfg__error(cx, 0, "directory of the file name is too long");
    }
    cx->dir = buf_take(&b, NULL);
    return 0;
}

int
cfg__path(
    struct cfg__ctx *cx, int line, const char *key, const char *p, char **out)
{
    if (p[0] == '/') {
        if (strlen(p) >= CFG_PATH_MAX)
            return cfg__error(cx, line, "%s: path too long", key);
        *out = x_strdup(p);
        return 0;
    }
    int rc = config_dir(cx);
    if (rc != 0)
        return rc;
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    size_t dl = strlen(cx->dir);
    const char *sep = (dl > 0 && cx->dir[dl - 1] == '/') ? "" : "/";
    struct buf b;
    buf_init(&b, CFG_PATH_MAX);
    if (buf_printf(&b, "%s%s%s", cx->dir, sep, p) != 0) {
        buf_fini(&b);
        return cfg__error(cx, line, "%s: path too long", key);
    }
    *out = buf_take(&b, NULL);
    return 0;
}

int
cfg__get_path(struct cfg__ctx *cx,
              const config_setting_t *g,
              const char *pfx,
              const char *name,
              char **dst)
{
    const char *v = NULL;
    int rc = cfg__get_str(cx, g, pfx, name, 0, &v);
    if (rc <= 0 || v == NULL)
        return rc;
    char key[CFG_KEY_MAX];
    char *p = NULL;
    rc = cfg__path(cx, cfg__line(config_setting_get_member(g, name)),
                   cfg__key(key, sizeof(key), pfx, name), v, &p);
    if (rc != 0)
        return rc;
    x_free(*dst);
    *dst = p;
    return 1;
}
