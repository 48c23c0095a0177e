-- 003_audit_log_indexes.sql - fewer indexes to maintain on every audit row.
--
-- Every record llmgw-auditd stores updated five indexes on audit_log; btree inserts were
-- the largest share of PostgreSQL's CPU per record. Per-team and per-model figures come
-- from llmgw.usage_daily and llmgw.monthly_cost (what llmgw-report reads), so the
-- (team, ts) and (provider, model, ts) indexes on the raw rows go. What stays: the
-- primary key (request_id, ts) that makes delivery idempotent, the BRIN index on ts
-- (time ranges, almost free to maintain) and (user_id, ts) for one user's audit trail.
-- A query on raw rows by team or model now reads the months it names (one partition
-- per month; add a ts range and the BRIN index narrows it further).
--
-- A site that runs such queries often can bring an index back without blocking
-- writers, one partition at a time, then attach them under a parent index:
--   CREATE INDEX ON ONLY llmgw.audit_log (team, ts);          -- invalid until attached
--   CREATE INDEX CONCURRENTLY ON llmgw.audit_log_2026_11 (team, ts);
--   ALTER INDEX <parent index> ATTACH PARTITION <partition index>;   -- per partition
-- (or simply CREATE INDEX ON llmgw.audit_log (team, ts), which blocks writes meanwhile).

DROP INDEX llmgw.audit_log_team_ts;
DROP INDEX llmgw.audit_log_provider_model_ts;
