/* SPDX-License-Identifier: MIT */
/* config.c -- load a config file or the embedded default; free; look up. */
#include "config/config_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"

/* What config_load_default parses. It names no certificate: those are
 * created at first start. It listens on loopback only, so that a server
 * started without a file is not reachable from outside by accident. */
static const char default_text[] =
    "log_level = \"info\";\n"
    "listen = (\n"
    "    { kind = \"c2s\";     address = \"127.0.0.1\"; port = 5222; },\n"
    "    { kind = \"c2s-tls\"; address = \"127.0.0.1\"; port = 5223; },\n"
    "    { kind = \"s2s\";     address = \"127.0.0.1\"; port = 5269; },\n"
    "    { kind = \"s2s-tls\"; address = \"127.0.0.1\"; port = 5270; }\n"
    ");\n"
    "hosts = ( { domain = \"localhost\"; } );\n";

#define DEFAULT_NAME      "(default)"
#define DEFAULT_STATE_DIR "./xmux-state"

const char *
config_default_text(void)
{
    return default_text;
}

/* Values for every key a file may leave out (limits and timeouts are
 * set by their loaders, which know the relations between them). */
static void
set_defaults(struct config *cfg)
{
    cfg->state_dir = x_strdup("/var/lib/xmux");
    cfg->log_level = LOG_INFO;
    cfg->threads = 1;
    cfg->tls_ca_file = x_strdup("/etc/ssl/certs/ca-certificates.crt");
    cfg->s2s.dialback = true;
    cfg->s2s.bidi = true;
    cfg->s2s.mux = true;
    cfg->s2s.mux_authorization = true;
    cfg->s2s.require_client_eku = true;
    cfg->s2s.max_connections_per_peer = 1;
    cfg->c2s.mux = true;
    cfg->c2s.mux_allow_domain_jids = false;
    cfg->c2s.allow_plain = true;
}

/* Run libconfig on text, or on its first cut bytes and a stray '!' when
 * cfg__scan_pre found a string libconfig would fail on: the result is the
 * same syntax error (at that string or before), without libconfig 1.5
 * leaking the string. */
static int
parse_libconfig(
    struct cfg__ctx *cx, config_t *lc, const char *text, size_t len, size_t cut)
{
    char *copy = NULL;
    if (cut < len) {
        copy = x_malloc(cut + 2);
        memcpy(copy, text, cut);
        copy[cut] = '!';
        copy[cut + 1] = '\0';
    }
    int ok = config_read_string(lc, copy != NULL ? copy : text);
    x_free(copy);
    if (ok == CONFIG_TRUE)
        return 0;
    const char *why = config_error_text(lc);
    return cfg__error(cx, config_error_line(lc), "%s",
                      why != NULL ? why : "syntax error");
}

static int
parse(struct cfg__ctx *cx, const char *text, size_t len)
{
    /* Before libconfig: it would open any file an @include names. */
    size_t cut = len;
    int rc = cfg__scan_pre(cx, text, len, &cut);
    if (rc != 0)
        return rc;
    config_t lc;
    config_init(&lc);
    /* Clear every option, above all CONFIG_OPTION_AUTOCONVERT: a float
     * where an integer belongs must be a type error, not a truncation.
     * The other options only shape output, which we never write. */
    config_set_options(&lc, 0);
    rc = parse_libconfig(cx, &lc, text, len, cut);
    if (rc == 0)
        rc = cfg__scan_ints(cx, text);
    if (rc == 0)
        rc = cfg__load_root(cx, config_root_setting(&lc));
    config_destroy(&lc);
    return rc;
}

/* Parse text (len bytes, NUL-terminated) as the file name. */
static int
load(const char *text,
     size_t len,
     const char *name,
     struct config **out,
     struct buf *err)
{
    struct config *cfg = x_calloc(1, sizeof(*cfg));
    cfg->file = x_strdup(name);
    set_defaults(cfg);
    struct cfg__ctx cx = {.name = name, .err = err, .cfg = cfg};
    int rc = parse(&cx, text, len);
    x_free(cx.dir);
    if (rc != 0) {
        config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

int
config_load_string(const char *text,
                   const char *name,
                   struct config **out,
                   struct buf *err)
{
    *out = NULL;
    return load(text, strlen(text), name != NULL ? name : "(string)", out, err);
}

/* Read the whole file at path (at most CFG_FILE_MAX bytes) into a fresh
 * NUL-terminated string. */
static int
read_file(struct cfg__ctx *cx, const char *path, char **text, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        cfg__error(cx, 0, "cannot open: %s", strerror(e));
        return -e;
    }
    struct buf b;
    buf_init(&b, CFG_FILE_MAX + 1);
    int rc = 0;
    for (;;) {
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            cfg__error(cx, 0, "cannot read: %s", strerror(-rc));
            break;
        }
        if (n == 0)
            break;
        if (buf_append(&b, chunk, (size_t)n) != 0) {
            rc = cfg__error(cx, 0, "file too large (more than %d bytes)",
                            CFG_FILE_MAX);
            break;
        }
    }
    close(fd);
    if (rc != 0) {
        buf_fini(&b);
        return rc;
    }
    *text = buf_take(&b, len);
    return 0;
}

int
config_load_file(const char *path, struct config **out, struct buf *err)
{
    *out = NULL;
    struct cfg__ctx cx = {.name = path, .err = err};
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(&cx, path, &text, &len);
    if (rc != 0)
        return rc;
    rc = load(text, len, path, out, err);
    x_free(text);
    return rc;
}

int
config_load_default(const char *state_dir, struct config **out, struct buf *err)
{
    *out = NULL;
    struct cfg__ctx cx = {.name = DEFAULT_NAME, .err = err};
    if (state_dir != NULL && state_dir[0] == '\0')
        return cfg__error(&cx, 0, "state_dir: must not be empty");
    int rc =
        load(default_text, sizeof(default_text) - 1, DEFAULT_NAME, out, err);
    if (rc != 0)
        return rc;
    x_free((*out)->state_dir);
    (*out)->state_dir =
        x_strdup(state_dir != NULL ? state_dir : DEFAULT_STATE_DIR);
    /* The default control socket follows the state directory. */
    cx.cfg = *out;
    rc = cfg__load_control(&cx, NULL);
    if (rc != 0) {
        config_free(*out);
        *out = NULL;
    }
    return rc;
}

void
config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->nlisten; i++)
        x_free(cfg->listen[i].address);
    x_free(cfg->listen);
    for (size_t i = 0; i < cfg->nhosts; i++) {
        struct cfg_host *h = &cfg->hosts[i];
        x_free(h->domain);
        x_free(h->cert);
        x_free(h->key);
        for (size_t j = 0; j < h->nmux_advertise; j++)
            x_free(h->mux_advertise[j]);
        x_free(h->mux_advertise);
    }
    x_free(cfg->hosts);
    for (size_t i = 0; i < cfg->s2s.nroutes; i++) {
        x_free(cfg->s2s.routes[i].domain);
        x_free(cfg->s2s.routes[i].host);
    }
    x_free(cfg->s2s.routes);
    x_free(cfg->s2s.resolver);
    x_free(cfg->tls_ca_file);
    x_free(cfg->state_dir);
    x_free(cfg->control_socket);
    x_free(cfg->user);
    x_free(cfg->group);
    x_free(cfg->file);
    x_free(cfg);
}

/* A linear scan: a server hosts a handful of domains, and the lookup runs
 * once per stream, not per stanza. A hash table can replace it if a
 * deployment with thousands of hosts ever needs one. */
const struct cfg_host *
config_host(const struct config *cfg, const char *domain)
{
    for (size_t i = 0; i < cfg->nhosts; i++)
        if (cfg->hosts[i].domain != NULL &&
            strcmp(cfg->hosts[i].domain, domain) == 0)
            return &cfg->hosts[i];
    return NULL;
}

int
config_load(const char *path, const char *state_dir, struct config **out,
            struct buf *err)
{
    if (path != NULL)
        return config_load_file(path, out, err);
    return config_load_default(state_dir && *state_dir ? state_dir : NULL,
                               out, err);
}
