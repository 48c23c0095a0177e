-- 002_audit_bodies.sql - prompt and completion texts kept with LLMGWAuditBodies on.
--
-- One row per audited request whose texts were kept, written by llmgw-auditd in the
-- same transaction as its audit_log row (replays add nothing). The prompt is the request
-- body as forwarded to the provider, after LLMGWRedact; the completion is the answer's
-- text (stream deltas joined). Both are cut at the module's LLMGWAuditBodies max=.
-- These rows hold personal data: keep them only as long as needed, e.g.
--   DELETE FROM llmgw.audit_bodies WHERE ts < now() - interval '30 days';

CREATE TABLE llmgw.audit_bodies (
    request_id text        NOT NULL,
    ts         timestamptz NOT NULL,
    prompt     text,
    completion text,
    PRIMARY KEY (request_id, ts)
);

CREATE INDEX audit_bodies_ts ON llmgw.audit_bodies USING brin (ts);
