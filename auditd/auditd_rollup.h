/* auditd_rollup.h — what a batch of new audit rows adds to llmgw.usage_daily, grouped
 * in llmgw-auditd rather than by PostgreSQL: one group per UTC day, user, team, provider
 * and model, with its request count, token sums and exact cost sum, as the binary array
 * parameters of the new-rows statement (auditd_db.c). */
#ifndef AUDITD_ROLLUP_H
#define AUDITD_ROLLUP_H

#include <stddef.h>
#include <stdint.h>

#include "auditd.h"
#include "auditd_encode.h"

/* The arrays, in this order: day (date), user_id, team, provider, model (text),
 * requests, prompt, completion, cached, cache_write and reasoning tokens (bigint), and
 * cost_usd as the text of a numeric with 12 decimals. */
#define AUDITD_ROLLUP_FIELDS 12
#define AUDITD_OID_DATE 1082

struct auditd_group;

typedef struct auditd_rollup {
    abuf col[AUDITD_ROLLUP_FIELDS];
    long ngroups;
    /* working space, kept from batch to batch */
    struct auditd_group *g;
    size_t cap;
    uint32_t *slot;       /* open addressing: group index + 1, 0 empty */
    size_t nslots;
} auditd_rollup;

/* Groups the encoded rows of [rows, rows + len) into r->col; the groups point into the
 * rows, which must outlive the statement. Returns 0, or -1 when the rows are malformed,
 * a token sum leaves bigint or a cost is not the text auditd_encode_row writes: the
 * caller then stores the batch with the statement that groups in PostgreSQL, which
 * judges such values itself. */
int auditd_rollup_build(auditd_rollup *r, const char *rows, size_t len);
void auditd_rollup_free(auditd_rollup *r);

#endif
