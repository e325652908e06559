/* SPDX-License-Identifier: MIT */
/* config_hosts.c -- the hosts list and the s2s group with its routes. */
#include "config/config_int.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"

/* cert and key go together: a certificate without its key (or the other
 * way round) cannot be used, and falling back to a generated pair would
 * hide the mistake. */
static int
load_host_files(struct cfg__ctx *cx,
                const config_setting_t *g,
                const char *key,
                struct cfg_host *h)
{
    const config_setting_t *c = config_setting_get_member(g, "cert");
    const config_setting_t *k = config_setting_get_member(g, "key");
    if ((c == NULL) != (k == NULL))
        return cfg__error(
            cx, cfg__line(c != NULL ? c : k), "%s.%s: set without %s.%s", key,
            c != NULL ? "cert" : "key", key, c != NULL ? "key" : "cert");
    int rc = cfg__get_path(cx, g, key, "cert", &h->cert);
    if (rc >= 0)
        rc = cfg__get_path(cx, g, key, "key", &h->key);
    return rc < 0 ? rc : 0;
}

static int
load_host(struct cfg__ctx *cx, const config_setting_t *l, unsigned i)
{
    static const char *const keys[] = {
        "domain", "cert", "key", "mux", "mux_advertise_hosts", NULL};
    const config_setting_t *g = NULL;
    char key[CFG_KEY_MAX];
    int rc = cfg__list_group(cx, l, "hosts", i, &g, key, sizeof(key));
    if (rc != 0)
        return rc;
    struct config *cfg = cx->cfg;
    struct cfg_host *h = &cfg->hosts[i];
    h->line = cfg__line(g);
    h->mux = true;
    rc = cfg__check_keys(cx, g, key, keys);
    const char *dom = NULL;
    if (rc == 0)
        rc = cfg__get_str(cx, g, key, "domain", CFG_REQ, &dom);
    if (rc < 0)
        return rc;
    const config_setting_t *ds = config_setting_get_member(g, "domain");
    char dkey[CFG_KEY_MAX];
    rc = cfg__domain(cx, ds, cfg__key(dkey, sizeof(dkey), key, "domain"), dom,
                     &h->domain);
    if (rc != 0)
        return rc;
    for (unsigned j = 0; j < i; j++) {
        if (strcmp(cfg->hosts[j].domain, h->domain) == 0) {
            char q[128];
            return cfg__error(cx, cfg__line(ds),
                              "%s: duplicate domain %s (also hosts[%u], "
                              "line %d)",
                              dkey, cfg__quote(q, sizeof(q), h->domain), j,
                              cfg->hosts[j].line);
        }
    }
    rc = load_host_files(cx, g, key, h);
    if (rc == 0)
        rc = cfg__get_bool(cx, g, key, "mux", &h->mux);
    return rc < 0 ? rc : 0;
}

/* One entry of mux_advertise_hosts: a local host, listed once. */
static int
load_advert_entry(struct cfg__ctx *cx,
                  const config_setting_t *e,
                  const char *ekey,
                  struct cfg_host *h)
{
    if (config_setting_type(e) != CONFIG_TYPE_STRING)
        return cfg__error(cx, cfg__line(e), "%s: expected a string", ekey);
    const char *v = config_setting_get_string(e);
    if (v == NULL || v[0] == '\0')
        return cfg__error(cx, cfg__line(e), "%s: must not be empty", ekey);
    char *d = NULL;
    int rc = cfg__domain(cx, e, ekey, v, &d);
    if (rc != 0)
        return rc;
    char q[128];
    for (size_t j = 0; j < h->nmux_advertise; j++) {
        if (strcmp(h->mux_advertise[j], d) == 0) {
            rc = cfg__error(cx, cfg__line(e), "%s: %s is listed twice", ekey,
                            cfg__quote(q, sizeof(q), d));
            x_free(d);
            return rc;
        }
    }
    h->mux_advertise[h->nmux_advertise++] = d;
    if (config_host(cx->cfg, d) == NULL)
        return cfg__error(cx, cfg__line(e), "%s: %s is not a local host", ekey,
                          cfg__quote(q, sizeof(q), d));
    return 0;
}

/* Runs after every host is known, since entries must name local hosts. */
static int
load_advert(struct cfg__ctx *cx,
            const config_setting_t *g,
            const char *key,
            struct cfg_host *h)
{
    const config_setting_t *s =
        config_setting_get_member(g, "mux_advertise_hosts");
    if (s == NULL)
        return 0;
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_LIST && t != CONFIG_TYPE_ARRAY)
        return cfg__error(cx, cfg__line(s),
                          "%s.mux_advertise_hosts: expected a list of "
                          "domains",
                          key);
    unsigned n = (unsigned)config_setting_length(s);
    /* Non-NULL even when empty: an empty list advertises no other host,
     * which differs from leaving the key out. */
    h->mux_advertise = x_calloc(n > 0 ? n : 1, sizeof(char *));
    for (unsigned i = 0; i < n; i++) {
        /* Sized for the longest key plus this suffix, so nothing is cut. */
        char ekey[CFG_KEY_MAX + 32];
        (void)snprintf(ekey, sizeof(ekey), "%s.mux_advertise_hosts[%u]", key,
                       i);
        int rc = load_advert_entry(cx, config_setting_get_elem(s, i), ekey, h);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int
cfg__load_hosts(struct cfg__ctx *cx, const config_setting_t *root)
{
    const config_setting_t *l = NULL;
    int rc = cfg__get_list(cx, root, "", "hosts", &l);
    if (rc < 0)
        return rc;
    if (l == NULL)
        return cfg__error(cx, 0, "hosts: missing (no hosts to serve)");
    unsigned n = (unsigned)config_setting_length(l);
    if (n == 0)
        return cfg__error(cx, cfg__line(l), "hosts: no hosts to serve");
    struct config *cfg = cx->cfg;
    cfg->hosts = x_calloc(n, sizeof(*cfg->hosts));
    for (unsigned i = 0; i < n; i++) {
        /* Counted first, so config_free releases a half-filled entry. */
        cfg->nhosts = i + 1;
        rc = load_host(cx, l, i);
        if (rc != 0)
            return rc;
    }
    for (unsigned i = 0; i < n && rc == 0; i++) {
        char key[CFG_KEY_MAX];
        (void)snprintf(key, sizeof(key), "hosts[%u]", i);
        rc =
            load_advert(cx, config_setting_get_elem(l, i), key, &cfg->hosts[i]);
    }
    return rc;
}

/* --- s2s --------------------------------------------------------------- */

static int
load_route(struct cfg__ctx *cx, const config_setting_t *l, unsigned i)
{
    static const char *const keys[] = {"domain", "host", "port", "direct_tls",
                                       NULL};
    const config_setting_t *g = NULL;
    char key[CFG_KEY_MAX];
    int rc = cfg__list_group(cx, l, "s2s.routes", i, &g, key, sizeof(key));
    if (rc != 0)
        return rc;
    struct cfg_route *r = &cx->cfg->s2s.routes[i];
    r->line = cfg__line(g);
    r->port = 5269;
    rc = cfg__check_keys(cx, g, key, keys);
    const char *dom = NULL, *host = NULL;
    long long port = r->port;
    if (rc == 0)
        rc = cfg__get_str(cx, g, key, "domain", CFG_REQ, &dom);
    if (rc >= 0)
        rc = cfg__get_str(cx, g, key, "host", CFG_REQ, &host);
    if (rc >= 0)
        rc = cfg__get_int(cx, g, key, "port", 0, 1, 65535, &port);
    if (rc >= 0)
        rc = cfg__get_bool(cx, g, key, "direct_tls", &r->direct_tls);
    if (rc < 0)
        return rc;
    r->host = x_strdup(host);
    r->port = (uint16_t)port;
    const config_setting_t *ds = config_setting_get_member(g, "domain");
    char dkey[CFG_KEY_MAX];
    rc = cfg__domain(cx, ds, cfg__key(dkey, sizeof(dkey), key, "domain"), dom,
                     &r->domain);
    for (unsigned j = 0; j < i && rc == 0; j++) {
        if (strcmp(cx->cfg->s2s.routes[j].domain, r->domain) == 0) {
            char q[128];
            rc = cfg__error(cx, cfg__line(ds),
                            "%s: duplicate route for %s (also "
                            "s2s.routes[%u], line %d)",
                            dkey, cfg__quote(q, sizeof(q), r->domain), j,
                            cx->cfg->s2s.routes[j].line);
        }
    }
    return rc;
}

static int
load_routes(struct cfg__ctx *cx, const config_setting_t *g)
{
    const config_setting_t *l = NULL;
    int rc = cfg__get_list(cx, g, "s2s", "routes", &l);
    if (rc <= 0)
        return rc;
    unsigned n = (unsigned)config_setting_length(l);
    if (n == 0)
        return 0;
    cx->cfg->s2s.routes = x_calloc(n, sizeof(*cx->cfg->s2s.routes));
    for (unsigned i = 0; i < n; i++) {
        /* Counted first, so config_free releases a half-filled entry. */
        cx->cfg->s2s.nroutes = i + 1;
        rc = load_route(cx, l, i);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int
cfg__load_s2s(struct cfg__ctx *cx, const config_setting_t *root)
{
    static const char *const keys[] = {"dialback",
                                       "bidi",
                                       "mux",
                                       "max_connections_per_peer",
                                       "mux_authorization",
                                       "routes",
                                       "require_client_eku",
                                       "require_valid_certificates",
                                       "resolver",
                                       NULL};
    const config_setting_t *g = NULL;
    int rc = cfg__get_group(cx, root, "", "s2s", &g);
    if (rc <= 0)
        return rc;
    struct config *cfg = cx->cfg;
    rc = cfg__check_keys(cx, g, "s2s", keys);
    if (rc == 0)
        rc = cfg__get_bool(cx, g, "s2s", "dialback", &cfg->s2s.dialback);
    if (rc >= 0)
        rc = cfg__get_bool(cx, g, "s2s", "bidi", &cfg->s2s.bidi);
    if (rc >= 0)
        rc = cfg__get_bool(cx, g, "s2s", "mux", &cfg->s2s.mux);
    if (rc >= 0)
        rc = cfg__get_bool(cx, g, "s2s", "mux_authorization",
                           &cfg->s2s.mux_authorization);
    if (rc >= 0)
        rc = cfg__get_bool(cx, g, "s2s", "require_client_eku",
                           &cfg->s2s.require_client_eku);
    if (rc >= 0)
        rc = cfg__get_bool(cx, g, "s2s", "require_valid_certificates",
                           &cfg->s2s.require_valid_certificates);
    const char *resolver = NULL;
    if (rc >= 0)
        rc = cfg__get_str(cx, g, "s2s", "resolver", 0, &resolver);
    if (rc > 0)
        cfg->s2s.resolver = x_strdup(resolver);
    long long max = cfg->s2s.max_connections_per_peer;
    if (rc >= 0)
        rc = cfg__get_int(cx, g, "s2s", "max_connections_per_peer", 0, 1, 4,
                          &max);
    if (rc < 0)
        return rc;
    cfg->s2s.max_connections_per_peer = (unsigned)max;
    return load_routes(cx, g);
}
