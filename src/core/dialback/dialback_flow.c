/* SPDX-License-Identifier: MIT */
/* dialback_flow.c -- originating, receiving and authoritative decisions. */
#include <string.h>

#include "base/err.h"
#include "dialback/dialback.h"

/* The pair state an answer of this type leaves behind. */
static enum dialback_state
dialback_outcome_state(enum dialback_type type)
{
    switch (type) {
    case DIALBACK_T_VALID:
        return DIALBACK_ST_VALID;
    case DIALBACK_T_INVALID:
        return DIALBACK_ST_INVALID;
    case DIALBACK_T_ERROR:
        return DIALBACK_ST_ERROR;
    case DIALBACK_T_REQUEST:
        break;
    }
    return DIALBACK_ST_NONE;
}

/* Move a PENDING pair to the state of outcome; XE_NOTFOUND if it is not
 * pending (an answer nobody waits for changes nothing). */
static int
dialback_settle(struct dialback_pairs *t,
                enum dialback_role role,
                const char *sender,
                const char *target,
                enum dialback_type outcome,
                enum dialback_cond cond)
{
    enum dialback_state st = dialback_outcome_state(outcome);
    if (st == DIALBACK_ST_NONE)
        return XE_INVAL;
    if (dialback_pairs_get(t, role, sender, target) != DIALBACK_ST_PENDING)
        return XE_NOTFOUND;
    if (st == DIALBACK_ST_ERROR && cond == DIALBACK_C_NONE)
        cond = DIALBACK_C_UNDEFINED_CONDITION;
    return dialback_pairs_set(t, role, sender, target, st, cond);
}

int
dialback_out_begin(struct dialback_pairs *t,
                   const char *sender,
                   const char *target)
{
    enum dialback_state st =
        dialback_pairs_get(t, DIALBACK_OUT, sender, target);
    /* One request per pair at a time: answers to db:result carry no id,
     * so two outstanding requests could not be told apart. */
    if (st == DIALBACK_ST_PENDING || st == DIALBACK_ST_VALID)
        return XE_STATE;
    return dialback_pairs_set(t, DIALBACK_OUT, sender, target,
                              DIALBACK_ST_PENDING, DIALBACK_C_NONE);
}

int
dialback_out_answer(struct dialback_pairs *t, const struct dialback_elem *ans)
{
    if (ans->kind != DIALBACK_RESULT || ans->type == DIALBACK_T_REQUEST)
        return XE_INVAL;
    /* The answer comes from the target and is addressed to the sender. */
    return dialback_settle(t, DIALBACK_OUT, ans->to, ans->from, ans->type,
                           ans->cond);
}

int
dialback_out_timeout(struct dialback_pairs *t,
                     const char *sender,
                     const char *target)
{
    return dialback_settle(t, DIALBACK_OUT, sender, target, DIALBACK_T_ERROR,
                           DIALBACK_C_REMOTE_SERVER_TIMEOUT);
}

enum stanza_cond
dialback_bounce_cond(enum dialback_state st)
{
    switch (st) {
    case DIALBACK_ST_INVALID:
        return XC_INTERNAL_SERVER_ERROR;
    case DIALBACK_ST_ERROR:
        return XC_REMOTE_SERVER_TIMEOUT;
    default:
        return XC_NONE;
    }
}

bool
dialback_refuses_piggyback(enum dialback_cond cond)
{
    return cond == DIALBACK_C_RESOURCE_CONSTRAINT ||
           cond == DIALBACK_C_NOT_ACCEPTABLE;
}

enum dialback_plan
dialback_plan(const struct dialback_peer *p,
              const char *stream_from,
              const char *stream_to,
              const char *sender,
              const char *target)
{
    bool same_target = strcmp(target, stream_to) == 0;
    if (same_target && strcmp(sender, stream_from) == 0)
        return DIALBACK_PLAN_PRIMARY;
    if (p == NULL)
        return DIALBACK_PLAN_NEW;
    /* Sender piggybacking asks the peer for nothing it does not already
     * do for the stream's own pair; a db:result for another target needs
     * dialback errors, so that a refusal does not cost the whole stream,
     * and that target to live behind the same endpoint. */
    if (same_target)
        return p->db_ns ? DIALBACK_PLAN_PIGGYBACK : DIALBACK_PLAN_NEW;
    return p->errors && p->same_endpoint ? DIALBACK_PLAN_PIGGYBACK
                                         : DIALBACK_PLAN_NEW;
}

enum dialback_verdict
dialback_receive(struct dialback_pairs *t,
                 const struct dialback_elem *req,
                 const struct dialback_rx *rx,
                 enum dialback_cond *cond)
{
    *cond = DIALBACK_C_NONE;
    if (req->kind != DIALBACK_RESULT || req->type != DIALBACK_T_REQUEST)
        return DIALBACK_DO_NOTHING;
    if (!rx->tls) {
        *cond = DIALBACK_C_POLICY_VIOLATION;
        return DIALBACK_DO_ERROR;
    }
    if (!rx->to_local) {
        *cond = DIALBACK_C_ITEM_NOT_FOUND;
        return DIALBACK_DO_ERROR;
    }
    /* No key can verify; the pair's state is left as it was. */
    if (req->key_len == 0)
        return DIALBACK_DO_INVALID;
    switch (dialback_pairs_get(t, DIALBACK_IN, req->from, req->to)) {
    case DIALBACK_ST_VALID:
        return DIALBACK_DO_VALID;
    case DIALBACK_ST_PENDING:
        /* Answers carry no id: one answer, when the pending verification
         * ends, serves every request for the pair. */
        return DIALBACK_DO_NOTHING;
    default:
        break;
    }
    /* XEP-0344: a validated certificate that covers the sender proves as
     * much as a call back to its authoritative server would. */
    bool covered = rx->peer_ids != NULL &&
                   tls_identities_cover(rx->peer_ids, req->from, TLS_MATCH_S2S);
    enum dialback_state st = covered ? DIALBACK_ST_VALID : DIALBACK_ST_PENDING;
    if (dialback_pairs_set(t, DIALBACK_IN, req->from, req->to, st,
                           DIALBACK_C_NONE) != 0) {
        *cond = DIALBACK_C_RESOURCE_CONSTRAINT;
        return DIALBACK_DO_ERROR;
    }
    return covered ? DIALBACK_DO_VALID : DIALBACK_DO_VERIFY;
}

int
dialback_in_complete(struct dialback_pairs *t,
                     const char *sender,
                     const char *target,
                     enum dialback_type outcome,
                     enum dialback_cond cond)
{
    return dialback_settle(t, DIALBACK_IN, sender, target, outcome, cond);
}

enum dialback_verdict
dialback_authoritative(const unsigned char *secret,
                       size_t len,
                       const struct dialback_elem *req,
                       const struct dialback_rx *rx,
                       enum dialback_cond *cond)
{
    *cond = DIALBACK_C_NONE;
    if (req->kind != DIALBACK_VERIFY || req->type != DIALBACK_T_REQUEST)
        return DIALBACK_DO_NOTHING;
    if (!rx->tls) {
        *cond = DIALBACK_C_POLICY_VIOLATION;
        return DIALBACK_DO_ERROR;
    }
    if (!rx->to_local) {
        *cond = DIALBACK_C_ITEM_NOT_FOUND;
        return DIALBACK_DO_ERROR;
    }
    /* The receiving server asks (from), about its stream with the
     * originating server (to), whose id it quotes. */
    return dialback_key_check(secret, len, req->from, req->to, req->id,
                              req->key, req->key_len)
               ? DIALBACK_DO_VALID
               : DIALBACK_DO_INVALID;
}
