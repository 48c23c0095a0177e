/* mod_llmgw_spool.h — the durable record spool: whole batches as files, written
 * atomically (temp name, fsync, rename) and claimed by rename so that several children
 * can replay one directory without sending a file twice at the same time. */
#ifndef MOD_LLMGW_SPOOL_H
#define MOD_LLMGW_SPOOL_H

#include "httpd.h"

/* post_config: creates the directory and hands it to the child user. */
int llmgw_spool_prepare(apr_pool_t *p, server_rec *s, const char *dir);

/* Writes one batch as a new spool file unless that would make the spool hold more than
 * max bytes (all children together; between two recounts of the directory, files it did
 * not write itself are not seen until the next recount).
 * APR_SUCCESS, APR_ENOSPC when full, or an errno-style status. */
apr_status_t llmgw_spool_write(const char *dir, const char *data, apr_size_t len, apr_off_t max);

/* Claims the oldest spool file: reads it into buf (cap bytes) and returns 1 with its
 * claimed path in path (PATH_MAX); 0 when the spool is empty. */
int llmgw_spool_claim(const char *dir, char *path, char *buf, apr_size_t cap, apr_size_t *len);

/* After a claim: done (delivered, removed; len: the file's size, as claimed) or give
 * back (delivery failed). */
void llmgw_spool_done(const char *dir, const char *path, apr_size_t len);
void llmgw_spool_giveback(const char *path);

/* Records waiting in the spool (lines), for the metrics gauge. */
long llmgw_spool_count_records(const char *dir);

#endif
