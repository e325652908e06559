/* SPDX-License-Identifier: MIT */
/* dialback_pairs.c -- the per-stream table of dialback domain pairs. */
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "dialback/dialback.h"

void
dialback_pairs_init(struct dialback_pairs *t, size_t max)
{
    memset(t, 0, sizeof *t);
    t->max = max ? max : DIALBACK_PAIRS_MAX;
}

void
dialback_pairs_fini(struct dialback_pairs *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++) {
        x_free(t->v[i].sender);
        x_free(t->v[i].target);
    }
    x_free(t->v);
    memset(t, 0, sizeof *t);
}

/* The pair (role, sender, target), or NULL. */
static struct dialback_pair *
dialback_pairs_find(const struct dialback_pairs *t,
                    enum dialback_role role,
                    const char *sender,
                    const char *target)
{
    if (sender == NULL || target == NULL)
        return NULL;
    for (size_t i = 0; i < t->n; i++) {
        struct dialback_pair *p = &t->v[i];
        if (p->role == role && strcmp(p->sender, sender) == 0 &&
            strcmp(p->target, target) == 0)
            return p;
    }
    return NULL;
}

enum dialback_state
dialback_pairs_get(const struct dialback_pairs *t,
                   enum dialback_role role,
                   const char *sender,
                   const char *target)
{
    const struct dialback_pair *p =
        dialback_pairs_find(t, role, sender, target);
    return p ? p->state : DIALBACK_ST_NONE;
}

bool
dialback_pairs_valid(const struct dialback_pairs *t,
                     enum dialback_role role,
                     const char *sender,
                     const char *target)
{
    return dialback_pairs_get(t, role, sender, target) == DIALBACK_ST_VALID;
}

size_t
dialback_pairs_count(const struct dialback_pairs *t,
                     enum dialback_role role,
                     enum dialback_state st)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i].role == role && t->v[i].state == st)
            n++;
    }
    return n;
}

/* Add a pair in state st; XE_LIMIT if the table is full. The array grows
 * by doubling, never past max, so a stream that verifies one pair pays
 * for a handful. */
static int
dialback_pairs_add(struct dialback_pairs *t,
                   enum dialback_role role,
                   const char *sender,
                   const char *target,
                   enum dialback_state st,
                   enum dialback_cond cond)
{
    if (t->n >= t->max)
        return XE_LIMIT;
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 4;
        if (cap > t->max)
            cap = t->max;
        t->v = x_realloc(t->v, cap * sizeof *t->v);
        t->cap = cap;
    }
    struct dialback_pair *p = &t->v[t->n++];
    p->role = role;
    p->state = st;
    p->cond = st == DIALBACK_ST_ERROR ? cond : DIALBACK_C_NONE;
    p->sender = x_strdup(sender);
    p->target = x_strdup(target);
    return 0;
}

int
dialback_pairs_set(struct dialback_pairs *t,
                   enum dialback_role role,
                   const char *sender,
                   const char *target,
                   enum dialback_state st,
                   enum dialback_cond cond)
{
    if (sender == NULL || target == NULL || st == DIALBACK_ST_NONE)
        return XE_INVAL;
    struct dialback_pair *p = dialback_pairs_find(t, role, sender, target);
    if (p == NULL)
        return dialback_pairs_add(t, role, sender, target, st, cond);
    p->state = st;
    p->cond = st == DIALBACK_ST_ERROR ? cond : DIALBACK_C_NONE;
    return 0;
}
