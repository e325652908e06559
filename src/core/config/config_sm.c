/* SPDX-License-Identifier: MIT */
/* config_sm.c -- the sm group: stream management (XEP-0198). */
#include "config/config_int.h"

#include "base/err.h"

#define SM_UNACKED_DEF 10000
#define SM_UNACKED_MIN 16
#define SM_UNACKED_MAX 1000000
#define SM_EVERY_DEF   32
#define SM_EVERY_MAX   100000
#define SM_RESUME_DEF  300000 /* ms */

int
cfg__load_sm(struct cfg__ctx *cx, const config_setting_t *root)
{
    struct cfg_sm *sm = &cx->cfg->sm;
    sm->c2s = true;
    sm->s2s = true;
    sm->resume_timeout = SM_RESUME_DEF;
    sm->max_unacked = SM_UNACKED_DEF;
    sm->request_every = SM_EVERY_DEF;
    const config_setting_t *g = NULL;
    int rc = cfg__get_group(cx, root, "", "sm", &g);
    if (rc <= 0)
        return rc;
    static const char *const keys[] = {"c2s",           "s2s",
                                       "resume_timeout", "max_unacked",
                                       "request_every",  NULL};
    rc = cfg__check_keys(cx, g, "sm", keys);
    if (rc >= 0)
        rc = cfg__get_bool(cx, g, "sm", "c2s", &sm->c2s);
    if (rc >= 0)
        rc = cfg__get_bool(cx, g, "sm", "s2s", &sm->s2s);
    if (rc >= 0)
        rc = cfg__get_ms(cx, g, "sm", "resume_timeout", &sm->resume_timeout);
    long long v = sm->max_unacked;
    if (rc >= 0)
        rc = cfg__get_int(cx, g, "sm", "max_unacked", 0, SM_UNACKED_MIN,
                          SM_UNACKED_MAX, &v);
    sm->max_unacked = (uint32_t)v;
    v = sm->request_every;
    if (rc >= 0)
        rc = cfg__get_int(cx, g, "sm", "request_every", 0, 1, SM_EVERY_MAX,
                          &v);
    sm->request_every = (uint32_t)v;
    return rc < 0 ? rc : 0;
}
