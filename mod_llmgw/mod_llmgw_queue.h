/* mod_llmgw_queue.h — the per-child record queue and its sender thread. */
#ifndef MOD_LLMGW_QUEUE_H
#define MOD_LLMGW_QUEUE_H

#include "httpd.h"

/* Copies one encoded record (ending in '\n') into the queue; never blocks on I/O.
 * When the queue is full the record goes to the spool directory instead. */
void llmgw_queue_push(const char *line, apr_size_t len);

/* Starts the sender thread for this child (stopped and drained at child exit). */
void llmgw_queue_child_init(apr_pool_t *pchild, server_rec *s);

#endif
