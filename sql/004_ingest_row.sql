-- 004_ingest_row.sql - the row type llmgw-auditd passes new audit rows as.
--
-- A batch of new records reaches PostgreSQL as one binary array of this type, unnested
-- in one pass. As 25 parallel column arrays, each column was unnested into a store of
-- its own: about a third of the server's CPU per record. The fields are those of
-- llmgw.audit_log in the order and types llmgw-auditd encodes them: roles as the text
-- of a text[] literal and cost_usd as the text of a numeric, both cast on insert.
-- Changing this type means changing auditd_encode.c with it. A database without it (not
-- migrated yet) still works: llmgw-auditd then sends the column arrays.

CREATE TYPE llmgw.ingest_row AS (
    ts                 timestamptz,
    request_id         text,
    user_id            text,
    email              text,
    team               text,
    roles              text,
    provider           text,
    model              text,
    endpoint           text,
    status             int,
    stream             boolean,
    prompt_tokens      bigint,
    completion_tokens  bigint,
    cached_tokens      bigint,
    cache_write_tokens bigint,
    reasoning_tokens   bigint,
    total_tokens       bigint,
    cost_usd           text,
    latency_ms         bigint,
    ttft_ms            bigint,
    conversation_id    text,
    client_ip          text,
    blocked_rule       text,
    redactions         int,
    node               text
);
