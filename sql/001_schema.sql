-- 001_schema.sql - the llmgw schema (SPEC section 8): audit_log partitioned by month,
-- usage_daily rollup, monthly_cost view, partition helpers.
--
-- Applied by `llmgw-auditd --migrate` inside one transaction, which also records
-- version 1 in llmgw.schema_migrations. It can be applied by hand too:
--   psql -v ON_ERROR_STOP=1 -1 -f 001_schema.sql && \
--   psql -c "INSERT INTO llmgw.schema_migrations(version) VALUES (1)"
--
-- Retention: audit rows live in one partition per month (llmgw.audit_log_YYYY_MM);
-- usage_daily and monthly_cost keep their totals when old partitions go. To drop every
-- month before 2026-01 (returns the dropped partitions' names):
--   SELECT llmgw.drop_partitions_before('2026-01-01');
-- or one month by hand, without blocking writers to other months:
--   ALTER TABLE llmgw.audit_log DETACH PARTITION llmgw.audit_log_2025_01 CONCURRENTLY;
--   DROP TABLE llmgw.audit_log_2025_01;
-- A month that receives records again later is simply recreated by llmgw-auditd.

CREATE SCHEMA IF NOT EXISTS llmgw;

-- llmgw-auditd creates this table too before it looks for pending migrations;
-- both definitions must stay identical.
CREATE TABLE IF NOT EXISTS llmgw.schema_migrations (
    version    int PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- One row per gateway request. request_id alone identifies a request, but a primary key
-- on a partitioned table must contain the partition key; a replayed record carries the
-- same timestamp, so (request_id, ts) still makes delivery idempotent.
CREATE TABLE llmgw.audit_log (
    ts                 timestamptz NOT NULL,
    request_id         text        NOT NULL,
    user_id            text,
    email              text,
    team               text,
    roles              text[]      NOT NULL DEFAULT '{}',
    provider           text,
    model              text,
    endpoint           text,
    status             int,
    stream             boolean     NOT NULL DEFAULT false,
    prompt_tokens      bigint      NOT NULL DEFAULT 0,
    completion_tokens  bigint      NOT NULL DEFAULT 0,
    cached_tokens      bigint      NOT NULL DEFAULT 0,
    cache_write_tokens bigint      NOT NULL DEFAULT 0,
    reasoning_tokens   bigint      NOT NULL DEFAULT 0,
    total_tokens       bigint      NOT NULL DEFAULT 0,
    cost_usd           numeric(20,12),          -- NULL: no price matched the model
    latency_ms         bigint,
    ttft_ms            bigint,
    conversation_id    text,
    client_ip          text,
    blocked_rule       text,
    redactions         int         NOT NULL DEFAULT 0,
    node               text,
    received_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, ts)
) PARTITION BY RANGE (ts);

-- Rows arrive roughly in time order, so a BRIN index answers time ranges for almost
-- nothing at insert time; the btree indexes serve per-user/team/model reports.
CREATE INDEX audit_log_ts_brin ON llmgw.audit_log USING brin (ts);
CREATE INDEX audit_log_user_ts ON llmgw.audit_log (user_id, ts);
CREATE INDEX audit_log_team_ts ON llmgw.audit_log (team, ts);
CREATE INDEX audit_log_provider_model_ts ON llmgw.audit_log (provider, model, ts);

-- Per UTC day totals, maintained by llmgw-auditd in the transaction that inserts the
-- audit rows, from the rows actually inserted (replays add nothing). A NULL cost adds
-- nothing to cost_usd.
CREATE TABLE llmgw.usage_daily (
    day                date    NOT NULL,
    user_id            text,
    team               text,
    provider           text,
    model              text,
    requests           bigint  NOT NULL DEFAULT 0,
    prompt_tokens      bigint  NOT NULL DEFAULT 0,
    completion_tokens  bigint  NOT NULL DEFAULT 0,
    cached_tokens      bigint  NOT NULL DEFAULT 0,
    cache_write_tokens bigint  NOT NULL DEFAULT 0,
    reasoning_tokens   bigint  NOT NULL DEFAULT 0,
    cost_usd           numeric(24,12) NOT NULL DEFAULT 0,
    CONSTRAINT usage_daily_key UNIQUE NULLS NOT DISTINCT (day, user_id, team, provider, model)
);

CREATE VIEW llmgw.monthly_cost AS
SELECT date_trunc('month', day)::date    AS month,
       user_id, team, provider, model,
       sum(requests)::bigint             AS requests,
       sum(prompt_tokens)::bigint        AS prompt_tokens,
       sum(completion_tokens)::bigint    AS completion_tokens,
       sum(cached_tokens)::bigint        AS cached_tokens,
       sum(cache_write_tokens)::bigint   AS cache_write_tokens,
       sum(reasoning_tokens)::bigint     AS reasoning_tokens,
       sum(cost_usd)                     AS cost_usd
  FROM llmgw.usage_daily
 GROUP BY 1, 2, 3, 4, 5;

-- Creates the partition holding p_ts (months are UTC) unless it exists; returns its
-- name. Safe to call concurrently: creators are serialised by an advisory lock.
CREATE FUNCTION llmgw.ensure_partition(p_ts timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    m_start timestamp := date_trunc('month', p_ts AT TIME ZONE 'UTC');
    m_end   timestamp := m_start + interval '1 month';
    part    text      := 'audit_log_' || to_char(m_start, 'YYYY_MM');
BEGIN
    IF to_regclass(format('llmgw.%I', part)) IS NOT NULL THEN
        RETURN part;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('llmgw.ensure_partition'));
    IF to_regclass(format('llmgw.%I', part)) IS NULL THEN
        EXECUTE format('CREATE TABLE llmgw.%I PARTITION OF llmgw.audit_log '
                       'FOR VALUES FROM (%L) TO (%L)', part,
                       to_char(m_start, 'YYYY-MM-DD') || ' 00:00:00+00',
                       to_char(m_end, 'YYYY-MM-DD') || ' 00:00:00+00');
    END IF;
    RETURN part;
END;
$$;

-- Detaches and drops every monthly partition that ends on or before p_before (UTC);
-- returns the names dropped. usage_daily is left alone.
CREATE FUNCTION llmgw.drop_partitions_before(p_before date) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    part text;
BEGIN
    FOR part IN
        SELECT c.relname
          FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'llmgw.audit_log'::regclass
           AND c.relname ~ '^audit_log_[0-9]{4}_[0-9]{2}$'
           AND to_date(substr(c.relname, 11), 'YYYY_MM') + interval '1 month' <= p_before
         ORDER BY c.relname
    LOOP
        EXECUTE format('ALTER TABLE llmgw.audit_log DETACH PARTITION llmgw.%I', part);
        EXECUTE format('DROP TABLE llmgw.%I', part);
        RETURN NEXT part;
    END LOOP;
END;
$$;
