"""test_auditd.py — llmgw-auditd and llmgw-report against a private PostgreSQL cluster:
migrations, exact storage, idempotent replays, rollups, rejections, PostgreSQL
restarts, partitions, reports, sockets and shutdown.

Uses the binaries built at the project root (make) and the SQL in sql/.
"""

import csv
import datetime as dt
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from llmgwtest import fcgi  # noqa: E402
from llmgwtest.pgcluster import PgCluster, free_port  # noqa: E402

ROOT = HERE.parents[1]
BINDIR = Path(os.environ.get("LLMGW_BINDIR", ROOT))
AUDITD = BINDIR / "llmgw-auditd"
REPORT = BINDIR / "llmgw-report"
SQL_DIR = ROOT / "sql"


# ---- helpers ---------------------------------------------------------------------------

def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def utcnow():
    return dt.datetime.now(dt.timezone.utc)


def record(**kw):
    r = {
        "timestamp": iso(utcnow()), "request_id": "req-" + uuid.uuid4().hex,
        "user": "alice", "email": "alice@example.com", "team": "research",
        "roles": ["premium", "developer"], "provider": "openai", "model": "gpt-4o",
        "endpoint": "/v1/chat/completions", "status": 200, "stream": False,
        "prompt_tokens": 120, "completion_tokens": 30, "cached_tokens": 20,
        "cache_write_tokens": 0, "reasoning_tokens": 4, "total_tokens": 150,
        "cost_usd": 0.001234567891, "latency_ms": 812, "ttft_ms": None,
        "conversation_id": None, "client_ip": "127.0.0.1", "blocked_rule": None,
        "redactions": 0, "node": "gw1",
    }
    r.update(kw)
    return r


def ndjson(records):
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


class Auditd:
    """A running llmgw-auditd with its own socket and log."""

    def __init__(self, pg, *extra, listen=None, threads=4, dsn=None):
        self.dir = tempfile.mkdtemp(prefix="llmgw-auditd-")
        self.addr = listen or "unix:" + os.path.join(self.dir, "auditd.sock")
        self.logpath = os.path.join(self.dir, "auditd.log")
        self.log = open(self.logpath, "w")
        self.final_log = None
        self.proc = subprocess.Popen(
            [str(AUDITD), "--listen", self.addr, "--db", dsn or pg.dsn, "--sql-dir", str(SQL_DIR),
             "--threads", str(threads)] + list(extra),
            stdout=self.log, stderr=subprocess.STDOUT)
        self.wait_up()

    def wait_up(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            assert self.proc.poll() is None, "llmgw-auditd exited:\n" + self.log_text()
            try:
                fcgi.request(self.addr, "GET", "/v1/health", timeout=5)
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("llmgw-auditd did not come up:\n" + self.log_text())

    def post(self, records, **kw):
        return fcgi.request(self.addr, "POST", "/v1/records", ndjson(records), **kw)

    def log_text(self):
        if self.final_log is not None:
            return self.final_log
        with open(self.logpath) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.final_log = self.log_text()
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode


def migrate(pg):
    return subprocess.run([str(AUDITD), "--migrate", "--db", pg.dsn, "--sql-dir", str(SQL_DIR)],
                          capture_output=True, text=True, timeout=60)


def report(pg, *args):
    return subprocess.run([str(REPORT), "--db", pg.dsn] + list(args),
                          capture_output=True, text=True, timeout=60)


def test_bad_listen_spec_is_a_usage_error_before_any_migration():
    # no database is reachable at this conninfo: a usage error must come first
    for spec in ("foo:bar", "unix:", "tcp:", "/tmp/sock"):
        r = subprocess.run([str(AUDITD), "--migrate", "--listen", spec, "--db",
                            "host=127.0.0.1 port=1 connect_timeout=1"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, (spec, r.returncode, r.stderr)
        assert "--listen wants unix:PATH or tcp:HOST:PORT" in r.stderr


def test_help_names_the_short_forms_the_programs_take():
    """Each program's --help shows its short options; a short form reaches the same check
    as its long one (here -l with a bad value)."""
    auditd_help = subprocess.run([str(AUDITD), "-h"], capture_output=True, text=True,
                                 timeout=30)
    assert auditd_help.returncode == 0
    for form in ("-l, --listen", "-d, --db", "-t, --threads", "-v, --verbose", "-h, --help"):
        assert form in auditd_help.stdout, auditd_help.stdout
    r = subprocess.run([str(AUDITD), "-l", "nowhere"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "--listen wants unix:PATH" in r.stderr, r.stderr
    report_help = subprocess.run([str(REPORT), "-h"], capture_output=True, text=True,
                                 timeout=30)
    assert report_help.returncode == 0
    for form in ("-d (--db)", "-m (--month)", "-b (--by)", "-f (--format)", "-h (--help)"):
        assert form in report_help.stdout, report_help.stdout


# ---- fixtures --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pg():
    for binary in (AUDITD, REPORT):
        if not binary.exists():
            pytest.fail("%s is not built (run make at the project root)" % binary)
    cluster = PgCluster()
    try:
        r = migrate(cluster)
        assert r.returncode == 0, r.stderr
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="module")
def auditd(pg):
    d = Auditd(pg)
    yield d
    assert d.stop() == 0, d.log_text()


@pytest.fixture
def fresh_auditd(pg):
    """A daemon of its own, for tests that break things."""
    started = []

    def start(*extra, **kw):
        d = Auditd(pg, *extra, **kw)
        started.append(d)
        return d
    yield start
    codes = [(d.stop(), d) for d in started]
    for code, d in codes:
        assert code == 0, d.log_text()


# ---- migrations --------------------------------------------------------------------------

def test_migrations_applied_and_idempotent(pg):
    files = sorted(p.name for p in SQL_DIR.glob("[0-9]*_*.sql"))
    versions = [int(f.split("_")[0]) for f in files]
    rows = pg.query("SELECT version FROM llmgw.schema_migrations ORDER BY version")
    assert [int(r[0]) for r in rows] == versions
    r = migrate(pg)
    assert r.returncode == 0, r.stderr
    assert "applied migration" not in r.stderr
    assert "0 applied now" in r.stderr
    assert pg.query("SELECT count(*) FROM llmgw.schema_migrations") == [[str(len(versions))]]
    for rel in ("llmgw.audit_log", "llmgw.usage_daily", "llmgw.monthly_cost"):
        assert pg.scalar("SELECT to_regclass('%s') IS NOT NULL" % rel) == "t"
    # 003: audit rows keep the key, the BRIN index on ts and (user_id, ts) only
    indexes = pg.query("SELECT indexname FROM pg_indexes WHERE schemaname = 'llmgw'"
                       " AND tablename = 'audit_log' ORDER BY 1")
    assert [r[0] for r in indexes] == ["audit_log_pkey", "audit_log_ts_brin", "audit_log_user_ts"]


def test_migrate_fails_cleanly_without_database(tmp_path):
    r = subprocess.run([str(AUDITD), "--migrate", "--db",
                        "host=127.0.0.1 port=%d dbname=x user=u password=s3cret connect_timeout=2"
                        % free_port(), "--sql-dir", str(SQL_DIR)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "cannot connect" in r.stderr
    assert "s3cret" not in r.stderr


# ---- storing ---------------------------------------------------------------------------

def test_batch_stored_with_exact_values(pg, auditd):
    team = "exact-" + uuid.uuid4().hex[:8]
    recs = [
        record(team=team, timestamp="2026-11-24T10:30:00.123Z", roles=["premium", 'q"uo\\te'],
               user="Zoë 日本", stream=True, ttft_ms=95, cost_usd=0.001234567891,
               conversation_id="conv-1"),
        record(team=team, timestamp="2026-11-24T10:30:01.000Z", roles=[], cost_usd=None,
               model="unpriced-model", blocked_rule="pii", redactions=2, status=400),
        record(team=team, timestamp="2026-11-24T23:59:59.999Z", cost_usd=3, prompt_tokens=0,
               completion_tokens=0, total_tokens=0, user=None, email=None),
    ]
    r = auditd.post(recs)
    assert r.status == 200, r
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"accepted": 3, "duplicates": 0, "rejected": []}

    rows = pg.query(
        "SELECT request_id, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
        " user_id, array_to_json(roles), cost_usd::text, stream, ttft_ms, status, blocked_rule,"
        " redactions, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens,"
        " total_tokens, conversation_id, email"
        " FROM llmgw.audit_log WHERE team = '%s' ORDER BY ts" % team)
    assert len(rows) == 3
    by_id = {row[0]: row for row in rows}
    a, b, c = (by_id[x["request_id"]] for x in recs)
    assert a[1] == "2026-11-24T10:30:00.123Z"
    assert a[2] == "Zoë 日本"
    assert json.loads(a[3]) == ["premium", 'q"uo\\te']
    assert a[4] == "0.001234567891"
    assert (a[5], a[6], a[7], a[15]) == ("t", "95", "200", "conv-1")
    assert a[10:15] == ["120", "30", "20", "4", "150"]
    assert json.loads(b[3]) == []
    assert b[4] is None
    assert (b[5], b[6], b[7], b[8], b[9]) == ("f", None, "400", "pii", "2")
    assert c[1] == "2026-11-24T23:59:59.999Z"
    assert c[4] == "3.000000000000"
    assert c[2] is None and c[16] is None

    daily = pg.query("SELECT day, requests, cost_usd::text FROM llmgw.usage_daily"
                     " WHERE team = '%s' AND model = 'gpt-4o' ORDER BY day, user_id" % team)
    assert daily == [["2026-11-24", "1", "0.001234567891"], ["2026-11-24", "1", "3.000000000000"]]
    unpriced = pg.query("SELECT requests, cost_usd::text FROM llmgw.usage_daily"
                        " WHERE team = '%s' AND model = 'unpriced-model'" % team)
    assert unpriced == [["1", "0.000000000000"]]


def test_replayed_batch_counts_duplicates(pg, auditd):
    team = "replay-" + uuid.uuid4().hex[:8]
    recs = [record(team=team) for _ in range(5)]
    assert auditd.post(recs).json() == {"accepted": 5, "duplicates": 0, "rejected": []}
    assert auditd.post(recs).json() == {"accepted": 0, "duplicates": 5, "rejected": []}
    # a batch mixing old and new records, and a record repeated inside one batch
    extra = record(team=team)
    r = auditd.post(recs[:2] + [extra, extra]).json()
    assert r == {"accepted": 1, "duplicates": 3, "rejected": []}
    assert pg.query("SELECT count(*), count(DISTINCT request_id) FROM llmgw.audit_log"
                    " WHERE team = '%s'" % team) == [["6", "6"]]
    assert pg.scalar("SELECT sum(requests) FROM llmgw.usage_daily WHERE team = '%s'" % team) == "6"


def test_texts_and_replays_take_the_idempotent_path(pg, auditd):
    """A batch of new rows without texts is stored by a plain INSERT; one with texts, or
    one that repeats a stored row, by the idempotent statement. Every mix keeps one row,
    one text row and one request in the rollup per request id."""
    team = "paths-" + uuid.uuid4().hex[:8]
    plain = [record(team=team, cost_usd=0.25) for _ in range(3)]
    texts = [record(team=team, prompt="p%d" % i, completion="" if i else None, cost_usd=0.25)
             for i in range(3)]
    assert auditd.post(plain).json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    assert auditd.post(texts).json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    # a replay of each kind, each with one new row of the other kind
    more_plain = record(team=team, cost_usd=0.25)
    more_text = record(team=team, prompt="q", cost_usd=0.25)
    assert auditd.post(texts + [more_plain]).json() == {"accepted": 1, "duplicates": 3,
                                                        "rejected": []}
    assert auditd.post(plain + [more_text]).json() == {"accepted": 1, "duplicates": 3,
                                                       "rejected": []}
    assert pg.query("SELECT count(*), count(DISTINCT request_id) FROM llmgw.audit_log"
                    " WHERE team = '%s'" % team) == [["8", "8"]]
    assert pg.query("SELECT b.prompt, coalesce(b.completion, '(null)') FROM llmgw.audit_bodies b"
                    " JOIN llmgw.audit_log a USING (request_id, ts) WHERE a.team = '%s'"
                    " ORDER BY 1" % team) == [["p0", "(null)"], ["p1", ""], ["p2", ""],
                                              ["q", "(null)"]]
    assert pg.query("SELECT sum(requests), sum(cost_usd)::text FROM llmgw.usage_daily"
                    " WHERE team = '%s'" % team) == [["8", "2.000000000000"]]


def test_rollups_equal_sums_over_audit_log(pg, auditd):
    teams = ["roll-a-" + uuid.uuid4().hex[:6], "roll-b-" + uuid.uuid4().hex[:6], None]
    users = ["u1", "u2", None]
    recs = []
    for i in range(60):
        day = dt.datetime(2026, 10 + i % 2, 1 + i % 28, i % 24, i % 60, tzinfo=dt.timezone.utc)
        recs.append(record(
            timestamp=iso(day), team=teams[i % 3], user=users[(i // 3) % 3],
            provider=["openai", "anthropic"][i % 2], model=["gpt-4o", "claude-3-opus"][i % 2],
            prompt_tokens=100 + i, completion_tokens=i, cached_tokens=i % 7,
            cache_write_tokens=i % 5, reasoning_tokens=i % 3, total_tokens=100 + 2 * i,
            cost_usd=None if i % 10 == 0 else round(0.000001 * (i + 1) + 0.1, 12),
            node="roll-" + teams[0]))
    assert auditd.post(recs).json()["accepted"] == 60
    assert auditd.post(recs[:10]).json()["duplicates"] == 10

    sums = ("count(*), sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens),"
            " sum(cache_write_tokens), sum(reasoning_tokens), coalesce(sum(cost_usd), 0)")
    mine = "FROM llmgw.audit_log a WHERE a.node = 'roll-%s'" % teams[0]
    same_key = ("a.user_id IS NOT DISTINCT FROM u.user_id AND a.team IS NOT DISTINCT FROM u.team"
                " AND a.provider = u.provider AND a.model = u.model")
    log_daily = ("SELECT (ts AT TIME ZONE 'UTC')::date, user_id, team, provider, model, %s"
                 " %s GROUP BY 1, 2, 3, 4, 5" % (sums, mine))
    usage_daily = ("SELECT * FROM llmgw.usage_daily u WHERE EXISTS (SELECT 1 %s AND"
                   " (a.ts AT TIME ZONE 'UTC')::date = u.day AND %s)" % (mine, same_key))
    assert len(pg.query(log_daily)) > 40
    assert pg.query("(%s) EXCEPT ALL (%s)" % (log_daily, usage_daily)) == []
    assert pg.query("(%s) EXCEPT ALL (%s)" % (usage_daily, log_daily)) == []

    log_monthly = ("SELECT date_trunc('month', ts AT TIME ZONE 'UTC')::date, user_id, team,"
                   " provider, model, %s %s GROUP BY 1, 2, 3, 4, 5" % (sums, mine))
    view = ("SELECT * FROM llmgw.monthly_cost u WHERE EXISTS (SELECT 1 %s AND"
            " date_trunc('month', a.ts AT TIME ZONE 'UTC')::date = u.month AND %s)"
            % (mine, same_key))
    assert len(pg.query(log_monthly)) > 10
    assert pg.query("(%s) EXCEPT ALL (%s)" % (log_monthly, view)) == []
    assert pg.query("(%s) EXCEPT ALL (%s)" % (view, log_monthly)) == []


def test_concurrent_batches_on_shared_keys(pg, auditd):
    team = "conc-" + uuid.uuid4().hex[:8]
    errors, results = [], []

    def sender(n):
        try:
            for _ in range(4):
                recs = [record(team=team, user="u%d" % (i % 3), cost_usd=0.5) for i in range(150)]
                results.append(auditd.post(recs).json()["accepted"])
        except Exception as e:   # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=sender, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(results) == 8 * 4 * 150
    assert pg.query("SELECT sum(requests), sum(cost_usd)::text FROM llmgw.usage_daily"
                    " WHERE team = '%s'" % team) == [["4800", "2400.000000000000"]]


# ---- rejections and protocol -------------------------------------------------------------

def test_bad_lines_rejected_rest_stored(pg, auditd):
    team = "bad-" + uuid.uuid4().hex[:8]
    good1, good2 = record(team=team), record(team=team)
    neg = record(team=team, prompt_tokens=-3)
    lines = [good1, neg, "{not json", record(team=team, request_id=None), "",
             record(team=team, timestamp="2026-11-24 10:30"), record(team=team, roles="admin"),
             record(team=team, status="200"), good2]
    r = auditd.post(lines)
    assert r.status == 200
    body = r.json()
    assert body["accepted"] == 2 and body["duplicates"] == 0
    rejected = {x["line"]: x for x in body["rejected"]}
    assert sorted(rejected) == [2, 3, 4, 6, 7, 8]
    assert rejected[2] == {"line": 2, "request_id": neg["request_id"],
                           "reason": "prompt_tokens: must not be negative"}
    assert rejected[3]["request_id"] is None and rejected[3]["reason"].startswith("invalid JSON")
    assert rejected[4]["reason"] == "request_id: missing"
    assert rejected[6]["reason"].startswith("timestamp:")
    assert rejected[7]["reason"].startswith("roles:")
    assert rejected[8]["reason"] == "status: must be an integer"
    stored = pg.query("SELECT request_id FROM llmgw.audit_log WHERE team = '%s'" % team)
    assert sorted(x[0] for x in stored) == sorted([good1["request_id"], good2["request_id"]])


def test_empty_and_all_bad_batches(auditd):
    assert auditd.post([]).json() == {"accepted": 0, "duplicates": 0, "rejected": []}
    r = auditd.post(["[]"]).json()
    assert r["accepted"] == 0 and r["rejected"][0]["reason"] == "not a JSON object"


def test_wrong_method_and_path(auditd):
    r = fcgi.request(auditd.addr, "GET", "/v1/records")
    assert r.status == 405 and r.headers["allow"] == "POST" and "error" in r.json()
    r = fcgi.request(auditd.addr, "POST", "/v1/other", ndjson([record()]))
    assert r.status == 404 and "error" in r.json()
    r = fcgi.request(auditd.addr, "GET", "/v1/health")
    assert r.status == 200 and r.json()["database"] == "up"


def test_body_over_limit_is_413(pg, fresh_auditd):
    d = fresh_auditd("--max-body", "4096")
    big = [record() for _ in range(40)]
    with fcgi.Connection(d.addr) as c:
        r = c.request("POST", "/v1/records", ndjson(big))
        assert r.status == 413 and "error" in r.json()
        # the connection stays usable after the refused body
        r = c.request("POST", "/v1/records", ndjson(big[:2]))
        assert r.json()["accepted"] == 2
    # without CONTENT_LENGTH the cap is found while reading
    params = {"REQUEST_METHOD": "POST", "REQUEST_URI": "/v1/records"}
    r = fcgi.request(d.addr, "POST", "/v1/records", ndjson(big), params=params)
    assert r.status == 413
    assert pg.scalar("SELECT count(*) FROM llmgw.audit_log WHERE request_id = '%s'"
                     % big[5]["request_id"]) == "0"


def test_batch_larger_than_one_statement(pg, fresh_auditd):
    """Past 64 MB of parameters a batch goes in several statements of one transaction:
    every record lands once, a duplicate in a later part counts as one, rollups agree."""
    d = fresh_auditd("--max-body", str(100 * 1024 * 1024))
    user = "big-" + uuid.uuid4().hex[:8]
    text = "x" * (500 * 1024)
    recs = [record(user=user, prompt=text, completion=text) for _ in range(70)]
    r = fcgi.request(d.addr, "POST", "/v1/records", ndjson(recs + [recs[0]]), timeout=120)
    assert r.json() == {"accepted": 70, "duplicates": 1, "rejected": []}
    assert pg.scalar("SELECT count(*) FROM llmgw.audit_log WHERE user_id = '%s'" % user) == "70"
    assert pg.scalar("SELECT count(*) FROM llmgw.audit_bodies b JOIN llmgw.audit_log a"
                     " USING (request_id, ts) WHERE a.user_id = '%s'"
                     " AND length(b.prompt) = %d" % (user, len(text))) == "70"
    assert pg.scalar("SELECT sum(requests) FROM llmgw.usage_daily WHERE user_id = '%s'"
                     % user) == "70"


def test_kept_alive_connection_serves_many_requests(auditd):
    with fcgi.Connection(auditd.addr) as c:
        for _ in range(25):
            assert c.request("POST", "/v1/records", ndjson([record()])).json()["accepted"] == 1


def test_idle_kept_alive_connection_does_not_starve_others(pg, fresh_auditd):
    d = fresh_auditd("--idle-timeout", "1", threads=1)
    with fcgi.Connection(d.addr) as idle:
        assert idle.request("POST", "/v1/records", ndjson([record()])).json()["accepted"] == 1
        t0 = time.time()
        # the only worker waits on `idle` for its next request until the idle timeout
        assert d.post([record()], timeout=10).json()["accepted"] == 1
        assert time.time() - t0 < 5
        with pytest.raises((fcgi.FcgiError, OSError)):
            idle.request("POST", "/v1/records", ndjson([record()]))


def test_sigterm_finishes_the_batch_in_flight(pg, fresh_auditd):
    d = fresh_auditd()
    recs = [record(node="inflight") for _ in range(5000)]
    with fcgi.Connection(d.addr, timeout=60) as c:
        rid, data = c.encode("POST", "/v1/records", ndjson(recs))
        c.sock.sendall(data[:-4096])            # the worker has the request, not all its body
        time.sleep(0.3)
        d.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert d.proc.poll() is None            # it waits for the batch in flight
        c.sock.sendall(data[-4096:])
        r = c.response(rid)
    assert r.status == 200 and r.json()["accepted"] == 5000
    assert d.proc.wait(30) == 0
    assert "SIGTERM received" in d.log_text()
    assert pg.scalar("SELECT count(*) FROM llmgw.audit_log WHERE request_id = '%s'"
                     % recs[-1]["request_id"]) == "1"


def test_tcp_listener(pg, fresh_auditd):
    port = free_port()
    d = fresh_auditd(listen="tcp:127.0.0.1:%d" % port)
    assert d.post([record()]).json()["accepted"] == 1
    with open("/proc/net/tcp") as f:
        listening = [line.split() for line in f.readlines()[1:] if line.split()[3] == "0A"]
    ours = [x[1] for x in listening if int(x[1].split(":")[1], 16) == port]
    assert ours == ["0100007F:%04X" % port]   # 127.0.0.1 only


def test_systemd_socket_activation(pg, tmp_path):
    path = "/tmp/llmgw-sd-%s.sock" % uuid.uuid4().hex[:8]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(16)
    fd = sock.fileno()
    proc = subprocess.Popen(
        ["bash", "-c", 'export LISTEN_PID=$$ LISTEN_FDS=1; exec "$0" "$@" 3<&%d %d<&-' % (fd, fd),
         str(AUDITD), "--db", pg.dsn, "--threads", "2"],
        pass_fds=(fd,), stderr=open(tmp_path / "auditd.log", "w"))
    # like systemd, this process keeps the listening socket open across the daemon's life
    try:
        addr = "unix:" + path
        deadline = time.time() + 10
        while True:
            try:
                r = fcgi.request(addr, "POST", "/v1/records", ndjson([record()]))
                break
            except OSError:
                assert time.time() < deadline
                time.sleep(0.1)
        assert r.json()["accepted"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    try:
        # the socket still accepts for the next daemon systemd would start
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(path)
        probe.close()
    finally:
        sock.close()
        os.unlink(path)
    log = (tmp_path / "auditd.log").read_text()
    assert code == 0, log
    assert "passed by systemd" in log


def test_stale_socket_file_is_replaced(pg, fresh_auditd):
    d = fresh_auditd()
    path = d.addr[5:]
    d.proc.kill()                       # leaves the socket file behind
    d.proc.wait()
    assert os.path.exists(path)
    d2 = fresh_auditd(listen=d.addr)
    assert d2.post([record()]).json()["accepted"] == 1
    st = os.stat(path)
    assert st.st_mode & 0o777 == 0o660
    d.proc = d2.proc                    # the first one is already dead


def test_record_the_database_refuses_is_rejected_alone(pg, fresh_auditd):
    """A LATIN1 database cannot hold 日本: the batch fails as a whole, auditd then stores
    the records one by one and rejects only the culprit."""
    dsn = pg.create_database("llmgw_latin1", "LATIN1")
    r = subprocess.run([str(AUDITD), "--migrate", "--db", dsn, "--sql-dir", str(SQL_DIR)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    d = fresh_auditd(dsn=dsn)
    good1, bad_rec, good2 = record(user="café"), record(user="日本"), record()
    body = d.post([good1, bad_rec, good2]).json()
    assert body["accepted"] == 2 and body["duplicates"] == 0
    assert [(x["line"], x["request_id"]) for x in body["rejected"]] == [(2, bad_rec["request_id"])]
    assert "LATIN1" in body["rejected"][0]["reason"]
    assert d.post([good1, good2]).json() == {"accepted": 0, "duplicates": 2, "rejected": []}


def test_unmigrated_database_answers_503_with_hint(pg, fresh_auditd):
    dsn = pg.create_database("llmgw_empty")
    d = fresh_auditd(dsn=dsn)
    r = d.post([record()])
    assert r.status == 503
    assert "run llmgw-auditd --migrate" in d.log_text()


def test_database_before_004_stores_the_slower_way(pg, fresh_auditd):
    """A database migrated up to 003 has no llmgw.ingest_row: batches go through the
    idempotent statement only, store and roll up all the same, and the log says why."""
    dsn = pg.create_database("llmgw_at_003")
    r = subprocess.run([str(AUDITD), "--migrate", "--db", dsn, "--sql-dir", str(SQL_DIR)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    pg._psql("llmgw_at_003", "DROP TYPE llmgw.ingest_row;"
                             " DELETE FROM llmgw.schema_migrations WHERE version = 4")
    d = fresh_auditd(dsn=dsn)
    recs = [record(team="t003", cost_usd=0.5) for _ in range(4)]
    assert d.post(recs).json() == {"accepted": 4, "duplicates": 0, "rejected": []}
    assert d.post(recs[:2]).json() == {"accepted": 0, "duplicates": 2, "rejected": []}
    assert pg._psql("llmgw_at_003", "SELECT count(*) FROM llmgw.audit_log").strip() == "4"
    assert pg._psql("llmgw_at_003", "SELECT requests, cost_usd FROM llmgw.usage_daily"
                                    " WHERE team = 't003'").strip() == "4,2.000000000000"
    assert "llmgw.ingest_row is missing" in d.log_text()


def test_socket_mode_and_group(pg, fresh_auditd):
    import grp
    try:
        group = grp.getgrnam("www-data")
    except KeyError:
        pytest.skip("no www-data group")
    d = fresh_auditd("--socket-mode", "0666", "--socket-group", "www-data")
    st = os.stat(d.addr[5:])
    assert (st.st_mode & 0o777, st.st_gid) == (0o666, group.gr_gid)


# ---- PostgreSQL outages --------------------------------------------------------------------

def test_postgres_restart_and_outage(pg, fresh_auditd):
    d = fresh_auditd("--threads", "2")
    assert d.post([record()]).json()["accepted"] == 1

    # an idle session dies under a restart: the next batch reconnects transparently
    pg.restart()
    r = d.post([record()])
    assert r.status == 200 and r.json()["accepted"] == 1

    pg.stop()
    try:
        lost = [record(team="outage")]
        r = d.post(lost)
        assert r.status == 503, r
        assert "error" in r.json()
        assert r.headers.get("retry-after")
        r = fcgi.request(d.addr, "GET", "/v1/health")
        assert r.status == 503
    finally:
        pg.start()
    deadline = time.time() + 15
    while True:
        r = d.post(lost)
        if r.status == 200 or time.time() > deadline:
            break
        time.sleep(0.3)
    assert r.status == 200 and r.json()["accepted"] == 1, r
    assert d.proc.poll() is None
    assert pg.scalar("SELECT count(*) FROM llmgw.audit_log WHERE request_id = '%s'"
                     % lost[0]["request_id"]) == "1"
    log = d.log_text()
    assert "database unavailable" in log


# ---- partitions ------------------------------------------------------------------------------

def partitions(pg):
    return {r[0] for r in pg.query(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'llmgw.audit_log'::regclass")}


def test_partitions_current_next_and_on_demand(pg, auditd):
    now = utcnow()
    nxt = (now.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    parts = partitions(pg)
    assert "audit_log_%04d_%02d" % (now.year, now.month) in parts
    assert "audit_log_%04d_%02d" % (nxt.year, nxt.month) in parts
    assert "audit_log_2024_02" not in parts

    rec = record(timestamp="2024-02-29T12:00:00.000Z")
    assert auditd.post([rec]).json()["accepted"] == 1
    assert "audit_log_2024_02" in partitions(pg)
    assert pg.scalar("SELECT tableoid::regclass FROM llmgw.audit_log WHERE request_id = '%s'"
                     % rec["request_id"]) == "llmgw.audit_log_2024_02"


def test_dropped_partition_is_recreated(pg, auditd):
    rec = record(timestamp="2023-05-05T05:05:05.005Z")
    assert auditd.post([rec]).json()["accepted"] == 1
    assert pg.query("SELECT llmgw.drop_partitions_before('2023-06-01')") == [["audit_log_2023_05"]]
    assert "audit_log_2023_05" not in partitions(pg)
    # auditd still believes the month exists; it must notice and recreate it
    assert auditd.post([rec]).json()["accepted"] == 1
    assert "audit_log_2023_05" in partitions(pg)


# ---- llmgw-report ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def report_month(pg, auditd):
    """Records in 2025-03 only written here, with costs whose sum needs all 12 decimals."""
    recs = []
    for i in range(30):
        recs.append(record(
            timestamp="2025-03-%02dT%02d:00:00.000Z" % (1 + i % 28, i % 24),
            team=["alpha", "beta", "<script>alert(1)</script>", None][i % 4],
            user="user%d" % (i % 5), provider=["openai", "anthropic", "google"][i % 3],
            model=["gpt-4o", "claude-3-opus", "gemini-pro"][i % 3],
            prompt_tokens=1000 + i, completion_tokens=10 * i, cached_tokens=i,
            cache_write_tokens=i % 2, reasoning_tokens=i % 4, total_tokens=1000 + 11 * i,
            cost_usd=None if i == 7 else float("0.%012d" % (123456789012 + i * 1000003))))
    assert auditd.post(recs).json()["accepted"] == 30
    return "2025-03"


def sql_totals(pg, month, column):
    rows = pg.query(
        "SELECT coalesce(%s, '(none)'), count(*), sum(prompt_tokens), sum(completion_tokens),"
        " sum(cached_tokens), sum(cache_write_tokens), sum(reasoning_tokens),"
        " coalesce(sum(cost_usd), 0) FROM llmgw.audit_log"
        " WHERE ts >= '%s-01 00:00:00+00' AND ts < ('%s-01 00:00:00+00'::timestamptz + interval '1 month')"
        " GROUP BY 1" % (column, month, month))
    return {r[0]: [int(x) for x in r[1:7]] + [Decimal(r[7])] for r in rows}


def parse_csv_rows(text):
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], {r[0]: [int(x) for x in r[1:7]] + [Decimal(r[7])] for r in rows[1:]}


@pytest.mark.parametrize("by,column", [("team", "team"), ("user", "user_id"),
                                       ("provider", "provider"), ("model", "model")])
def test_report_csv_matches_sql(pg, report_month, by, column):
    r = report(pg, "--month", report_month, "--by", by, "--format", "csv")
    assert r.returncode == 0, r.stderr
    header, rows = parse_csv_rows(r.stdout)
    assert header == [by, "requests", "prompt_tokens", "completion_tokens", "cached_tokens",
                      "cache_write_tokens", "reasoning_tokens", "cost_usd"]
    expected = sql_totals(pg, report_month, column)
    total = rows.pop("TOTAL")
    assert rows == expected
    sums = [sum(v[i] for v in expected.values()) for i in range(7)]
    assert total == sums
    assert total[6] == Decimal(pg.scalar(
        "SELECT sum(cost_usd) FROM llmgw.audit_log WHERE ts >= '2025-03-01 00:00:00+00'"
        " AND ts < '2025-04-01 00:00:00+00'"))


def test_report_default_is_by_user_text(pg, report_month):
    r = report(pg, "--month", report_month)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[2].split()[0] == "user"
    assert lines[-1].startswith("TOTAL")
    assert len({len(line) for line in lines[2:]}) == 1     # aligned columns


def test_report_json(pg, report_month):
    r = report(pg, "--month", report_month, "--by", "team", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout, parse_float=Decimal)
    assert doc["month"] == report_month and doc["by"] == "team"
    teams = {row["team"] for row in doc["rows"]}
    assert teams == {"alpha", "beta", "<script>alert(1)</script>", None}
    assert doc["total"]["requests"] == 30
    assert doc["total"]["cost_usd"] == sum(row["cost_usd"] for row in doc["rows"])


def test_report_html_is_one_page_with_chart(pg, report_month):
    r = report(pg, "--month", report_month, "--by", "team", "--format", "html")
    assert r.returncode == 0, r.stderr
    page = r.stdout
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<html") == 1 and page.rstrip().endswith("</html>")
    assert "<svg" in page and "<rect" in page and "<table" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    cost = pg.scalar("SELECT trim(trailing '0' from sum(cost_usd)::text) FROM llmgw.audit_log"
                     " WHERE ts >= '2025-03-01 00:00:00+00' AND ts < '2025-04-01 00:00:00+00'")
    assert "$" + cost in page


def test_report_empty_month(pg):
    r = report(pg, "--month", "2001-01", "--format", "csv")
    assert r.returncode == 0
    assert r.stdout.splitlines()[-1] == "TOTAL,0,0,0,0,0,0,0"


def test_report_errors(pg):
    assert report(pg, "--month", "2025-13").returncode == 2
    assert report(pg, "--month", "2025-03", "--by", "colour").returncode == 2
    assert report(pg, "--month", "2025-03", "--format", "pdf").returncode == 2
    assert report(pg).returncode == 2
    r = subprocess.run([str(REPORT), "--db", "host=127.0.0.1 port=%d connect_timeout=2" % free_port(),
                        "--month", "2025-03"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "cannot connect" in r.stderr
