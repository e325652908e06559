/* SPDX-License-Identifier: MIT */
/* config_int.h -- internals shared by the config loader's files. */
#ifndef XMUX_CONFIG_INT_H
#define XMUX_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libconfig.h>

#include "config/config.h"

/* Longest key path in messages ("s2s.routes[12].domain" and the like). */
#define CFG_KEY_MAX 96
/* Longest path we store after resolving it against the config directory. */
#define CFG_PATH_MAX 4096
/* Longest text we read from a file. */
#define CFG_FILE_MAX (1024 * 1024)
/* Longest error line we produce. */
#define CFG_ERR_MAX 512
/* Deepest nesting of groups, lists and arrays; the schema needs 4. */
#define CFG_NEST_MAX 32

/* Flags for the typed getters. */
#define CFG_REQ 0x1 /* the key must be present */

/* One load in progress: where messages go and how paths resolve. */
struct cfg__ctx {
    const char *name;   /* file name used in messages */
    char *dir;          /* absolute directory of name, computed lazily */
    struct buf *err;    /* receives the one error line; may be NULL */
    struct config *cfg; /* what is being filled in */
};

/* Write "NAME:LINE: message" (or "NAME: message" when line <= 0) to the
 * context's error buffer, replacing its contents; returns XE_CONFIG. */
int cfg__error(struct cfg__ctx *cx, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Render s for a message: quoted, with '"', '\\', control and non-ASCII
 * bytes as escapes, cut with "..." to fit dst. Returns dst. */
const char *cfg__quote(char *dst, size_t n, const char *s);
/* Format the key path pfx.name (or name when pfx is empty) into dst. */
const char *cfg__key(char *dst, size_t n, const char *pfx, const char *name);
/* Source line of a setting, as an int for cfg__error. */
int cfg__line(const config_setting_t *s);

/* Fail with the line of the first member of group g whose name is not in
 * the NULL-terminated list known. pfx is g's key path ("" for the root). */
int cfg__check_keys(struct cfg__ctx *cx,
                    const config_setting_t *g,
                    const char *pfx,
                    const char *const *known);

/* Typed getters for member name of group g (key path pfx). Each returns 0
 * and leaves *out unchanged when the key is absent (XE_CONFIG instead with
 * CFG_REQ), 1 when it set *out, XE_CONFIG on a wrong type or range. */
int cfg__get_str(struct cfg__ctx *cx,
                 const config_setting_t *g,
                 const char *pfx,
                 const char *name,
                 unsigned flags,
                 const char **out);
int cfg__get_bool(struct cfg__ctx *cx,
                  const config_setting_t *g,
                  const char *pfx,
                  const char *name,
                  bool *out);
int cfg__get_int(struct cfg__ctx *cx,
                 const config_setting_t *g,
                 const char *pfx,
                 const char *name,
                 unsigned flags,
                 long long min,
                 long long max,
                 long long *out);
/* A duration in seconds (integer or float, > 0 and <= 86400) stored as
 * milliseconds; fractions below one millisecond are refused. */
int cfg__get_ms(struct cfg__ctx *cx,
                const config_setting_t *g,
                const char *pfx,
                const char *name,
                uint32_t *out);
/* A group { ... } or a list ( ... ). */
int cfg__get_group(struct cfg__ctx *cx,
                   const config_setting_t *g,
                   const char *pfx,
                   const char *name,
                   const config_setting_t **out);
int cfg__get_list(struct cfg__ctx *cx,
                  const config_setting_t *g,
                  const char *pfx,
                  const char *name,
                  const config_setting_t **out);
/* Element i of list l must be a group; fails at the element's line. */
int cfg__list_group(struct cfg__ctx *cx,
                    const config_setting_t *l,
                    const char *lkey,
                    unsigned i,
                    const config_setting_t **out,
                    char *key,
                    size_t keyn);

/* Normalise the domain in setting s (key path key) with jid_domain_prep
 * into a fresh string. */
int cfg__domain(struct cfg__ctx *cx,
                const config_setting_t *s,
                const char *key,
                const char *in,
                char **out);
/* Resolve path p against the config file's directory unless absolute;
 * *out is a fresh string. line and key name the setting for errors. */
int cfg__path(
    struct cfg__ctx *cx, int line, const char *key, const char *p, char **out);

/* A path-valued string key, resolved with cfg__path into *dst (which is
 * freed first); same returns as the getters. */
int cfg__get_path(struct cfg__ctx *cx,
                  const config_setting_t *g,
                  const char *pfx,
                  const char *name,
                  char **dst);

/* Refuse what libconfig must never see (@include, NUL bytes, nesting
 * past CFG_NEST_MAX). *cut is set to the offset of the first string that
 * libconfig would fail on (and leak), or to len. */
int
cfg__scan_pre(struct cfg__ctx *cx, const char *text, size_t len, size_t *cut);
/* Refuse integer literals libconfig 1.5 would silently truncate; call on
 * text libconfig has accepted. */
int cfg__scan_ints(struct cfg__ctx *cx, const char *text);

/* The groups, in the order the root loader runs them. */
int cfg__load_root(struct cfg__ctx *cx, const config_setting_t *root);
int cfg__load_listen(struct cfg__ctx *cx, const config_setting_t *root);
int cfg__load_hosts(struct cfg__ctx *cx, const config_setting_t *root);
int cfg__load_s2s(struct cfg__ctx *cx, const config_setting_t *root);
int cfg__load_timeouts(struct cfg__ctx *cx, const config_setting_t *root);
int cfg__load_limits(struct cfg__ctx *cx, const config_setting_t *root);
/* user and group (names checked, not looked up). */
int cfg__load_user(struct cfg__ctx *cx, const config_setting_t *root);
/* control_socket, or its default under state_dir (root NULL: the key is
 * absent); after state_dir is known. */
int cfg__load_control(struct cfg__ctx *cx, const config_setting_t *root);
int cfg__load_sm(struct cfg__ctx *cx, const config_setting_t *root);

#endif
