/* mod_llmgw_models.h — the filtered model list (mod_llmgw_models.c), used by the policy
 * glue (mod_llmgw_policy.c). */
#ifndef MOD_LLMGW_MODELS_H
#define MOD_LLMGW_MODELS_H

#include "mod_llmgw.h"
#include "llmgw_policy.h"

/* Largest model list the gateway filters; a longer one is answered 502, never passed
 * unfiltered. */
#define LLMGW_MODEL_LIST_CAP (4 * 1024 * 1024)

/* Adds the output filter that cuts the provider's list down to what the caller may use
 * (the rules and identity are copied). */
void llmgw_models_filter_start(llmgw_req *q, const llmgw_allow_list *l,
                               const llmgw_subject *id);
void llmgw_models_register(void);

#endif
