/* auditd_db.c — PostgreSQL side of llmgw-auditd: one connection per worker thread with
 * reconnect and backoff, monthly partitions, batch ingest (one prepared statement whose
 * binary array parameters hold the batch column by column, unnested into the audit rows
 * and the usage_daily rollup) and migrations. */
#include "auditd.h"
#include "auditd_decode.h"
#include "auditd_encode.h"
#include "auditd_rollup.h"

#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_MIN_MS  100
#define BACKOFF_MAX_MS  2000
#define MAX_ATTEMPTS    4
#define MONTHS_CACHED   256
/* Parameter bytes of one statement. The server takes no protocol message of 1 GB or
 * more, and --max-body allows 2 GB: a batch past this is sent in several statements
 * inside one explicit transaction. */
#define PARAM_BYTES     (64 * 1024 * 1024)
#define KEEP_COLUMNS    (4 * 1024 * 1024)   /* column bytes kept between batches */
#define KEEP_GROUPS     4096                /* rollup groups kept between batches */
/* Batches up to this go as one array of llmgw.ingest_row: an element adds about 100
 * bytes to a row of at least 170, so the array stays under PARAM_BYTES. */
#define NEW_ROWS_MAX    (PARAM_BYTES / 2)

struct auditd_db {
    char *conninfo;
    int id;               /* worker number, for logs */
    PGconn *conn;         /* NULL or a session with the ingest statement prepared */
    int up;               /* last known state, so transitions are logged once */
    int64_t backoff_ms, next_try_ms;
    auditd_columns cols;  /* the parameters, reused from batch to batch */
    auditd_rollup roll;   /* the new-rows statement's usage_daily groups, likewise */
    abuf rows;            /* and its rows, as one array of llmgw.ingest_row */
    uint32_t row_type;    /* llmgw.ingest_row's OID; 0: not migrated, no new-rows path */
};

typedef enum { E_NONE, E_RETRY, E_PARTITION, E_GONE, E_DATA, E_OTHER } errkind;

/* The pieces both ingest statements share. Parameter $n holds the n-th column of
 * AUDITD_STAGE_COLUMNS, typed as auditd_field_oid says; roles and cost_usd come as
 * text and are cast here. */
#define ROW_ARRAYS \
    "$1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]," \
    " $7::text[], $8::text[], $9::text[], $10::int[], $11::boolean[], $12::bigint[]," \
    " $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[]," \
    " $18::text[], $19::bigint[], $20::bigint[], $21::text[], $22::text[], $23::text[]," \
    " $24::int[], $25::text[]"
#define INSERT_ROWS \
    " INSERT INTO llmgw.audit_log (" AUDITD_COLUMNS ")" \
    " SELECT ts, request_id, user_id, email, team, roles::text[], provider, model, endpoint," \
    "  status, stream, prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens," \
    "  reasoning_tokens, total_tokens, cost_usd::numeric(20,12), latency_ms, ttft_ms," \
    "  conversation_id, client_ip, blocked_rule, redactions, node FROM src"
#define ROLLUP_INTO \
    " INSERT INTO llmgw.usage_daily AS u (day, user_id, team, provider, model, requests," \
    "  prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens," \
    "  reasoning_tokens, cost_usd)"
/* Groups are sorted so concurrent batches lock usage_daily rows in one order. */
#define ROLLUP_ADD \
    " ORDER BY 1, 2, 3, 4, 5" \
    " ON CONFLICT ON CONSTRAINT usage_daily_key DO UPDATE SET" \
    "  requests = u.requests + EXCLUDED.requests," \
    "  prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens," \
    "  completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens," \
    "  cached_tokens = u.cached_tokens + EXCLUDED.cached_tokens," \
    "  cache_write_tokens = u.cache_write_tokens + EXCLUDED.cache_write_tokens," \
    "  reasoning_tokens = u.reasoning_tokens + EXCLUDED.reasoning_tokens," \
    "  cost_usd = u.cost_usd + EXCLUDED.cost_usd"

/* The idempotent statement: only rows really inserted reach usage_daily, so replays
 * change no total, and the texts of LLMGWAuditBodies go with their rows. Reading src
 * twice makes PostgreSQL materialise it, and ON CONFLICT with RETURNING costs per row:
 * a third of the server's CPU per record, paid only when NEW_ROWS_SQL cannot serve. */
static const char INGEST_SQL[] =
    "WITH src AS ("
    " SELECT * FROM unnest(" ROW_ARRAYS ", $26::text[], $27::text[])"
    "  AS s (" AUDITD_STAGE_COLUMNS ")"
    "), ins AS (" INSERT_ROWS
    " ON CONFLICT DO NOTHING"
    " RETURNING ts, request_id, user_id, team, provider, model, prompt_tokens,"
    "  completion_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost_usd"
    "), bodies AS ("
    " INSERT INTO llmgw.audit_bodies (request_id, ts, prompt, completion)"
    " SELECT s.request_id, s.ts, s.prompt, s.completion"
    " FROM src s JOIN ins USING (request_id, ts)"
    " WHERE s.prompt IS NOT NULL OR s.completion IS NOT NULL"
    " ON CONFLICT DO NOTHING"
    "), agg AS (" ROLLUP_INTO
    " SELECT (ts AT TIME ZONE 'UTC')::date, user_id, team, provider, model, count(*),"
    "  sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens),"
    "  sum(cache_write_tokens), sum(reasoning_tokens), coalesce(sum(cost_usd), 0)"
    " FROM ins GROUP BY 1, 2, 3, 4, 5" ROLLUP_ADD
    ") SELECT count(*) FROM ins";

/* The common case, a batch of new records without texts: a plain INSERT either stores
 * every row or, when one is already there (a replay), fails whole with a unique
 * violation and the batch goes through INGEST_SQL instead. The rows come as one array of
 * llmgw.ingest_row (sql/004_ingest_row.sql), unnested in one pass; every row being new,
 * the usage_daily groups come made by auditd (auditd_rollup.c) as $2..$13. */
static const char NEW_ROWS_SQL[] =
    "WITH src AS (SELECT * FROM unnest($1::llmgw.ingest_row[])"
    "), ins AS (" INSERT_ROWS
    "), agg AS (" ROLLUP_INTO
    " SELECT day, user_id, team, provider, model, requests, prompt_tokens,"
    "  completion_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost::numeric"
    " FROM unnest($2::date[], $3::text[], $4::text[], $5::text[], $6::text[],"
    "  $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[],"
    "  $12::bigint[], $13::text[]) AS g (day, user_id, team, provider, model, requests,"
    "  prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens,"
    "  reasoning_tokens, cost)" ROLLUP_ADD
    ") SELECT 1";
#define NEW_ROWS_PARAMS (1 + AUDITD_ROLLUP_FIELDS)

/* Must match the definition in sql/001_schema.sql. */
static const char BOOTSTRAP_SQL[] =
    "CREATE SCHEMA IF NOT EXISTS llmgw;"
    "CREATE TABLE IF NOT EXISTS llmgw.schema_migrations ("
    " version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())";

/* ---- months whose partition is known to exist (shared by all workers) ------------ */

static pthread_mutex_t months_lock = PTHREAD_MUTEX_INITIALIZER;
static int months_done[MONTHS_CACHED];
static int nmonths_done;

static int month_known(int month)
{
    int found = 0;
    pthread_mutex_lock(&months_lock);
    for (int i = 0; i < nmonths_done && !found; i++)
        found = months_done[i] == month;
    pthread_mutex_unlock(&months_lock);
    return found;
}

static void month_add(int month)
{
    pthread_mutex_lock(&months_lock);
    if (nmonths_done == MONTHS_CACHED) nmonths_done = 0;   /* forgetting only costs a query */
    months_done[nmonths_done++] = month;
    pthread_mutex_unlock(&months_lock);
}

static void months_forget(void)
{
    pthread_mutex_lock(&months_lock);
    nmonths_done = 0;
    pthread_mutex_unlock(&months_lock);
}

/* ---- connections ------------------------------------------------------------------ */

static PGconn *connect_db(const char *conninfo)
{
    /* Keywords before dbname are defaults the operator's conninfo may override; the
     * encoding after it is not negotiable: records are UTF-8. */
    const char *keys[] = {"connect_timeout", "fallback_application_name", "dbname",
                          "client_encoding", NULL};
    const char *vals[] = {"5", "llmgw-auditd", conninfo, "UTF8", NULL};
    return PQconnectdbParams(keys, vals, 1);
}

static void notice_cb(void *arg, const char *message)
{
    log_debug("postgres: %s", message);
}

void auditd_db_describe(const char *conninfo, char *buf, size_t cap)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    const char *host = "(default)", *port = "(default)", *db = "(default)", *user = "(default)";

    if (!opts) {
        snprintf(buf, cap, "(unparsable conninfo)");
        PQfreemem(err);
        return;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val) continue;
        if (!strcmp(o->keyword, "host") || (!strcmp(o->keyword, "hostaddr") && !strcmp(host, "(default)")))
            host = o->val;
        else if (!strcmp(o->keyword, "port")) port = o->val;
        else if (!strcmp(o->keyword, "dbname")) db = o->val;
        else if (!strcmp(o->keyword, "user")) user = o->val;
    }
    snprintf(buf, cap, "host=%s port=%s dbname=%s user=%s", host, port, db, user);
    PQconninfoFree(opts);
}

auditd_db *auditd_db_new(const char *conninfo, int id)
{
    auditd_db *db = xcalloc(1, sizeof *db);
    db->conninfo = xstrdup(conninfo);
    db->id = id;
    db->up = -1;
    return db;
}

static void drop_conn(auditd_db *db)
{
    if (db->conn) PQfinish(db->conn);
    db->conn = NULL;
}

void auditd_db_free(auditd_db *db)
{
    if (!db) return;
    drop_conn(db);
    auditd_columns_free(&db->cols);
    auditd_rollup_free(&db->roll);
    abuf_free(&db->rows);
    free(db->conninfo);
    free(db);
}

static int exec_ok(PGconn *c, const char *sql, char *err, size_t cap)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) snprintf(err, cap, "%s", PQresultErrorMessage(res));
    PQclear(res);
    return ok ? 0 : -1;
}

static int prepare(PGconn *c, const char *name, const char *sql, char *err, size_t cap)
{
    PGresult *res = PQprepare(c, name, sql, 0, NULL);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) {
        const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        int missing = st && !strncmp(st, "42", 2);   /* undefined table, function... */
        snprintf(err, cap, "%s%s", PQresultErrorMessage(res),
                 missing ? " (schema missing or old: run llmgw-auditd --migrate)" : "");
    }
    PQclear(res);
    return ok ? 0 : -1;
}

/* The OID of llmgw.ingest_row, 0 when the database has no such type yet. */
static uint32_t row_type_oid(PGconn *c)
{
    PGresult *res = PQexec(c, "SELECT to_regtype('llmgw.ingest_row')::oid");
    uint32_t oid = 0;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && !PQgetisnull(res, 0, 0))
        oid = (uint32_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return oid;
}

/* A new session needs the prepared ingest statements. Their plans do not depend on the
 * parameters (the arrays are only unnested), so one generic plan serves every batch
 * instead of a custom plan made for each of the first ones. A database not migrated to
 * 004 yet gets the idempotent statement only. */
static int setup_session(auditd_db *db, char *err, size_t cap)
{
    PGconn *c = db->conn;
    if (exec_ok(c, "SET client_min_messages = warning", err, cap)
        || exec_ok(c, "SET plan_cache_mode = force_generic_plan", err, cap)
        || prepare(c, "llmgw_ingest", INGEST_SQL, err, cap))
        return -1;
    db->row_type = row_type_oid(c);
    if (!db->row_type) {
        log_warn("worker %d: llmgw.ingest_row is missing: storing batches the slower way "
                 "(run llmgw-auditd --migrate, then restart llmgw-auditd)", db->id);
        return 0;
    }
    return prepare(c, "llmgw_new_rows", NEW_ROWS_SQL, err, cap);
}

static void connect_failed(auditd_db *db, const char *why, int64_t now)
{
    if (db->up != 0)
        log_warn("worker %d: database unavailable: %s", db->id, why);
    db->up = 0;
    drop_conn(db);
    db->backoff_ms = db->backoff_ms ? db->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (db->backoff_ms > BACKOFF_MAX_MS) db->backoff_ms = BACKOFF_MAX_MS;
    db->next_try_ms = now + db->backoff_ms;
}

/* Returns 1 with a usable session, reconnecting when needed; 0 while the server is
 * unreachable. Attempts are spaced by a backoff so a dead server costs little. */
static int db_ready(auditd_db *db)
{
    char err[512];
    if (db->conn && PQstatus(db->conn) == CONNECTION_OK) return 1;
    drop_conn(db);
    int64_t now = auditd_now_ms();
    if (now < db->next_try_ms) return 0;

    db->conn = connect_db(db->conninfo);
    if (PQstatus(db->conn) != CONNECTION_OK) {
        connect_failed(db, PQerrorMessage(db->conn), now);
        return 0;
    }
    PQsetNoticeProcessor(db->conn, notice_cb, NULL);
    if (setup_session(db, err, sizeof err)) {
        connect_failed(db, err, now);
        return 0;
    }
    if (db->up != 1)
        log_info("worker %d: connected to PostgreSQL %d (%s:%s/%s)", db->id,
                 PQserverVersion(db->conn), PQhost(db->conn), PQport(db->conn), PQdb(db->conn));
    db->up = 1;
    db->backoff_ms = 0;
    db->next_try_ms = 0;
    return 1;
}

/* ---- errors ------------------------------------------------------------------------ */

static errkind classify(PGconn *c, const PGresult *res)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (PQstatus(c) != CONNECTION_OK) return E_GONE;
    if (!st) return E_OTHER;
    if (!strcmp(st, "40001") || !strcmp(st, "40P01")) return E_RETRY;
    if (!strcmp(st, "23514")) return E_PARTITION;   /* "no partition ... found for row" */
    if (!strncmp(st, "08", 2) || !strncmp(st, "57P", 3) || !strncmp(st, "53", 2)) return E_GONE;
    if (!strncmp(st, "22", 2) || !strncmp(st, "23", 2)) return E_DATA;
    return E_OTHER;
}

/* Records the failure, leaves the session outside any transaction, returns its kind. */
static errkind failed(auditd_db *db, PGresult *res, const char *what, char *err, size_t cap)
{
    errkind k = classify(db->conn, res);
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!*msg) msg = PQerrorMessage(db->conn);
    snprintf(err, cap, "%s: %s", what, msg);
    PQclear(res);
    if (k != E_GONE && PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
        PGresult *rb = PQexec(db->conn, "ROLLBACK");
        PQclear(rb);
    }
    return k;
}

/* ---- partitions ------------------------------------------------------------------- */

static errkind ensure_month(auditd_db *db, int month, char *err, size_t cap)
{
    char ts[40];
    snprintf(ts, sizeof ts, "%04d-%02d-01 00:00:00+00", month / 12, month % 12 + 1);
    const char *params[1] = {ts};
    PGresult *res = PQexecParams(db->conn, "SELECT llmgw.ensure_partition($1::timestamptz)",
                                 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return failed(db, res, "creating partition", err, cap);
    log_debug("worker %d: partition llmgw.%s ready", db->id, PQgetvalue(res, 0, 0));
    PQclear(res);
    month_add(month);
    return E_NONE;
}

/* Runs outside the batch transaction: creating a partition locks the parent table, and
 * that lock must not be held while the batch is written. */
static errkind ensure_months(auditd_db *db, const int *months, int n, char *err, size_t cap)
{
    for (int i = 0; i < n; i++) {
        if (month_known(months[i])) continue;
        errkind k = ensure_month(db, months[i], err, cap);
        if (k != E_NONE) return k;
    }
    return E_NONE;
}

/* ---- the batch -------------------------------------------------------------------- */

static PGresult *exec_arrays(auditd_db *db, const char *name, const abuf *const *arrays,
                             int n)
{
    const char *values[NEW_ROWS_PARAMS > AUDITD_NFIELDS ? NEW_ROWS_PARAMS : AUDITD_NFIELDS];
    int lengths[sizeof values / sizeof *values], formats[sizeof values / sizeof *values];

    for (int i = 0; i < n; i++) {
        values[i] = arrays[i]->p;
        lengths[i] = (int)arrays[i]->len;   /* below PARAM_BYTES */
        formats[i] = 1;
    }
    return PQexecPrepared(db->conn, name, n, values, lengths, formats, 0);
}

/* Runs the idempotent ingest statement over the rows in db->cols; adds the rows
 * inserted. */
static errkind ingest(auditd_db *db, long *inserted, char *err, size_t cap)
{
    const abuf *arrays[AUDITD_NFIELDS];
    for (int i = 0; i < AUDITD_NFIELDS; i++)
        arrays[i] = &db->cols.col[i];
    PGresult *res = exec_arrays(db, "llmgw_ingest", arrays, AUDITD_NFIELDS);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) return failed(db, res, "INSERT", err, cap);
    *inserted += atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return E_NONE;
}

static errkind exec_step(auditd_db *db, const char *sql, char *err, size_t cap)
{
    PGresult *res = PQexec(db->conn, sql);
    /* A COMMIT the server turned into ROLLBACK still reports COMMAND_OK. */
    if (PQresultStatus(res) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(res), sql) != 0)
        return failed(db, res, sql, err, cap);
    PQclear(res);
    return E_NONE;
}

/* A batch too big for one statement: its parts in one explicit transaction. */
static errkind run_parts(auditd_db *db, const char *rows, size_t len, size_t done,
                         long *inserted, char *err, size_t cap)
{
    errkind k = exec_step(db, "BEGIN", err, cap);
    for (;;) {
        if (k == E_NONE) k = ingest(db, inserted, err, cap);
        if (k != E_NONE || done == len) break;
        size_t n = auditd_columns_fill(&db->cols, rows + done, len - done, PARAM_BYTES);
        if (!n) {   /* cannot happen: the server code made these rows */
            PQclear(PQexec(db->conn, "ROLLBACK"));
            snprintf(err, cap, "malformed rows");
            return E_OTHER;
        }
        done += n;
    }
    return k == E_NONE ? exec_step(db, "COMMIT", err, cap) : k;
}

/* A rare huge batch should not pin its column and group buffers for good. */
static void trim_buffers(auditd_db *db)
{
    size_t total = 0;
    for (int i = 0; i < AUDITD_NFIELDS; i++) total += db->cols.col[i].cap;
    if (total > KEEP_COLUMNS) auditd_columns_free(&db->cols);
    if (db->roll.cap > KEEP_GROUPS) auditd_rollup_free(&db->roll);
    if (db->rows.cap > KEEP_COLUMNS) abuf_free(&db->rows);
}

/* The batch as column arrays for the idempotent statement: one statement, or parts of
 * one transaction when it is too big for one. */
static errkind ingest_columns(auditd_db *db, const char *rows, size_t len, long *inserted,
                              char *err, size_t cap)
{
    size_t n = auditd_columns_fill(&db->cols, rows, len, PARAM_BYTES);
    if (!n) {
        snprintf(err, cap, "malformed rows");
        return E_OTHER;
    }
    return n < len ? run_parts(db, rows, len, n, inserted, err, cap)
                   : ingest(db, inserted, err, cap);
}

/* New rows without texts, already in db->rows (NEW_ROWS_SQL); when one of them is
 * stored already, or auditd cannot sum a group, the idempotent statement runs. */
static errkind ingest_new(auditd_db *db, const char *rows, size_t len, long *inserted,
                          char *err, size_t cap)
{
    const abuf *arrays[NEW_ROWS_PARAMS];
    if (auditd_rollup_build(&db->roll, rows, len))
        return ingest_columns(db, rows, len, inserted, err, cap);
    arrays[0] = &db->rows;
    for (int i = 0; i < AUDITD_ROLLUP_FIELDS; i++)
        arrays[1 + i] = &db->roll.col[i];
    PGresult *res = exec_arrays(db, "llmgw_new_rows", arrays, NEW_ROWS_PARAMS);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        PQclear(res);
        *inserted += auditd_array_count(&db->rows);
        return E_NONE;
    }
    const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (!st || strcmp(st, "23505") || PQstatus(db->conn) != CONNECTION_OK)
        return failed(db, res, "INSERT", err, cap);
    PQclear(res);
    return ingest_columns(db, rows, len, inserted, err, cap);
}

/* One statement is one transaction: the server commits it before it reports the
 * statement done (ReadyForQuery), so a success here is a COMMIT, and a failed commit
 * is an error result. Rows and rollup always commit together. The column arrays are
 * made only when the new-rows statement cannot serve: a batch with texts, one too big
 * for it, a database without llmgw.ingest_row, or a replay. */
static errkind run_batch(auditd_db *db, const char *rows, size_t len, long *inserted,
                         char *err, size_t cap)
{
    int texts = 1;
    errkind k;
    *inserted = 0;
    if (db->row_type && len <= NEW_ROWS_MAX &&
        auditd_rows_fill(&db->rows, db->row_type, rows, len, &texts) == len && !texts)
        k = ingest_new(db, rows, len, inserted, err, cap);
    else
        k = ingest_columns(db, rows, len, inserted, err, cap);
    trim_buffers(db);
    return k;
}

auditd_db_rc auditd_db_store(auditd_db *db, const char *rows, size_t len,
                             const int *months, int nmonths, long *inserted,
                             char *err, size_t cap)
{
    snprintf(err, cap, "database unavailable");
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        if (!db_ready(db)) return DB_UNAVAILABLE;
        errkind k = ensure_months(db, months, nmonths, err, cap);
        if (k == E_NONE) k = run_batch(db, rows, len, inserted, err, cap);
        switch (k) {
        case E_NONE:
            return DB_OK;
        case E_GONE:
            /* Typically the server restarted under an idle session: the batch never
             * committed, so one immediate retry on a fresh session is safe. */
            log_warn("worker %d: lost database connection: %s", db->id, err);
            db->up = -1;
            drop_conn(db);
            if (attempt > 0) return DB_UNAVAILABLE;
            break;
        case E_PARTITION:
            months_forget();   /* someone dropped a partition we thought existed */
            break;
        case E_RETRY:
            log_info("worker %d: retrying batch: %s", db->id, err);
            break;
        case E_DATA:
            return DB_DATA;
        case E_OTHER:
            return DB_ERROR;
        }
    }
    return DB_UNAVAILABLE;
}

int auditd_db_ping(auditd_db *db)
{
    if (!db_ready(db)) return 0;
    PGresult *res = PQexec(db->conn, "SELECT 1");
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    if (!ok) drop_conn(db);
    return ok;
}

int auditd_db_startup(auditd_db *db)
{
    char err[512];
    time_t now = time(NULL);
    struct tm tm;

    if (!db_ready(db)) return -1;
    gmtime_r(&now, &tm);
    int month = (tm.tm_year + 1900) * 12 + tm.tm_mon;
    for (int m = month; m <= month + 1; m++) {
        if (ensure_month(db, m, err, sizeof err) != E_NONE) {
            log_warn("cannot create partition for %04d-%02d: %s", m / 12, m % 12 + 1, err);
            return -1;
        }
    }
    log_info("partitions for %04d-%02d and %04d-%02d ready", month / 12, month % 12 + 1,
             (month + 1) / 12, (month + 1) % 12 + 1);
    return 0;
}

/* ---- migrations ------------------------------------------------------------------- */

typedef struct migration {
    int version;
    char *name;
} migration;

static int is_migration(const char *name)
{
    size_t n = strlen(name), i = 0;
    while (name[i] >= '0' && name[i] <= '9') i++;
    return i > 0 && name[i] == '_' && n > 4 && strcmp(name + n - 4, ".sql") == 0;
}

static int by_version(const void *a, const void *b)
{
    const migration *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

/* Lists NNN_*.sql in dir, sorted by number. Returns the count, -1 on error. */
static int list_migrations(const char *dir, migration **out)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0, cap = 16;
    migration *m = xmalloc(sizeof *m * cap);

    if (!d) {
        log_error("cannot open SQL directory %s: %s", dir, strerror(errno));
        free(m);
        return -1;
    }
    while ((e = readdir(d))) {
        if (!is_migration(e->d_name)) continue;
        if (n == cap) {
            cap *= 2;
            migration *bigger = realloc(m, sizeof *m * cap);
            if (!bigger) abort();
            m = bigger;
        }
        m[n].version = atoi(e->d_name);
        m[n++].name = xstrdup(e->d_name);
    }
    closedir(d);
    qsort(m, n, sizeof *m, by_version);
    *out = m;
    return n;
}

static void free_migrations(migration *m, int n)
{
    for (int i = 0; i < n; i++) free(m[i].name);
    free(m);
}

static int read_file(const char *path, abuf *out)
{
    FILE *f = fopen(path, "rb");
    char chunk[8192];
    size_t n;
    if (!f) return -1;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) abuf_put(out, chunk, n);
    int bad = ferror(f);
    fclose(f);
    abuf_cstr(out);
    return bad ? -1 : 0;
}

static int is_applied(PGconn *c, int version, int *applied)
{
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    const char *params[1] = {v};
    PGresult *res = PQexecParams(c, "SELECT 1 FROM llmgw.schema_migrations WHERE version = $1",
                                 1, NULL, params, NULL, NULL, 0);
    int ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok) log_error("reading llmgw.schema_migrations: %s", PQresultErrorMessage(res));
    *applied = ok && PQntuples(res) > 0;
    PQclear(res);
    return ok ? 0 : -1;
}

static int apply_one(PGconn *c, const char *dir, const migration *m)
{
    char path[4096], err[1024], v[16];
    abuf sql = {0};

    snprintf(path, sizeof path, "%s/%s", dir, m->name);
    if (read_file(path, &sql)) {
        log_error("cannot read %s: %s", path, strerror(errno));
        abuf_free(&sql);
        return -1;
    }
    snprintf(v, sizeof v, "%d", m->version);
    const char *params[1] = {v};
    int rc = exec_ok(c, "BEGIN", err, sizeof err) || exec_ok(c, sql.p, err, sizeof err);
    if (!rc) {
        PGresult *res = PQexecParams(c, "INSERT INTO llmgw.schema_migrations (version) VALUES ($1)",
                                     1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            snprintf(err, sizeof err, "%s", PQresultErrorMessage(res));
            rc = -1;
        }
        PQclear(res);
    }
    if (!rc) rc = exec_ok(c, "COMMIT", err, sizeof err);
    abuf_free(&sql);
    if (rc) {
        log_error("migration %s failed: %s", m->name, err);
        PQclear(PQexec(c, "ROLLBACK"));
        return -1;
    }
    log_info("applied migration %s", m->name);
    return 0;
}

static int apply_pending(PGconn *c, const char *dir)
{
    migration *m;
    int n = list_migrations(dir, &m), applied_now = 0, rc = 0;

    if (n < 0) return -1;
    if (n == 0) log_error("no NNN_*.sql migrations in %s", dir);
    for (int i = 0; i < n && !rc; i++) {
        int applied;
        if (i > 0 && m[i].version == m[i - 1].version) {
            log_error("migrations %s and %s share version %d", m[i - 1].name, m[i].name, m[i].version);
            rc = -1;
        } else if ((rc = is_applied(c, m[i].version, &applied)) == 0 && !applied) {
            rc = apply_one(c, dir, &m[i]);
            applied_now += rc == 0;
        }
    }
    if (!rc && n > 0)
        log_info("migrations: %d applied now, schema at version %d", applied_now, m[n - 1].version);
    free_migrations(m, n);
    return n == 0 ? -1 : rc;
}

int auditd_db_migrate(const char *conninfo, const char *dir)
{
    char err[1024], where[512];
    PGconn *c = connect_db(conninfo);

    auditd_db_describe(conninfo, where, sizeof where);
    if (PQstatus(c) != CONNECTION_OK) {
        log_error("migrate: cannot connect to %s: %s", where, PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    PQsetNoticeProcessor(c, notice_cb, NULL);
    /* The advisory lock lets several daemons start with --migrate at once. */
    int rc = exec_ok(c, "SET client_min_messages = warning", err, sizeof err)
          || exec_ok(c, "SELECT pg_advisory_lock(hashtext('llmgw.migrate'))", err, sizeof err)
          || exec_ok(c, BOOTSTRAP_SQL, err, sizeof err);
    if (rc) log_error("migrate: %s", err);
    else rc = apply_pending(c, dir);
    PQfinish(c);   /* releases the advisory lock */
    return rc ? -1 : 0;
}
