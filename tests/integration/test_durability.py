"""Every request ends as exactly one row, whatever fails on the way (issue 3): auditd
killed, PostgreSQL restarted, Apache restarted gracefully under load, a bounded spool."""

import http.client
import json
import os
import threading
import time
import uuid

import pytest

CHAT = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})


class Load:
    """`total` requests from `workers` keep-alive clients, tagged with one conversation id."""

    def __init__(self, stack, total, workers=8, path="/v1/chat/completions"):
        self.stack, self.total, self.path = stack, total, path
        self.conv = "dur-" + uuid.uuid4().hex[:10]
        self.done = 0
        self.failed = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(total // workers,))
                        for _ in range(workers)]

    def run(self, n):
        conn = None
        hdrs = {"Authorization": "Bearer " + self.stack.keys.bob,
                "Content-Type": "application/json", "X-Conversation-Id": self.conv}
        for _ in range(n):
            for attempt in range(2):        # a kept-alive connection may close at a restart
                try:
                    conn = conn or http.client.HTTPConnection("127.0.0.1", self.stack.httpd.port,
                                                             timeout=30)
                    conn.request("POST", self.path, CHAT, hdrs)
                    r = conn.getresponse()
                    r.read()
                    if r.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                    break
                except (ConnectionError, http.client.HTTPException, OSError):
                    if conn:
                        conn.close()
                    conn = None
                    if attempt:
                        raise
            with self.lock:
                self.done += 1
                if r.status != 200:
                    self.failed.append(r.status)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def wait_done(self, n):
        end = time.time() + 120
        while self.done < n and time.time() < end:
            time.sleep(0.02)

    def join(self):
        for t in self.threads:
            t.join(180)

    def count_rows(self, expect, timeout=60):
        sql = ("SELECT count(*), count(DISTINCT request_id) FROM llmgw.audit_log "
               "WHERE conversation_id = '%s'" % self.conv)
        end = time.time() + timeout
        while True:
            n, distinct = map(int, self.stack.pg.query(sql)[0])
            if n >= expect or time.time() > end:
                return n, distinct
            time.sleep(0.5)


def test_auditd_killed_mid_run_loses_nothing(stack):
    load = Load(stack, 2000).start()
    load.wait_done(500)
    stack.auditd.kill()                      # SIGKILL, batches in flight included
    load.wait_done(1300)
    stack.auditd.start()
    load.join()
    assert load.done == 2000 and not load.failed
    n, distinct = load.count_rows(2000)
    assert (n, distinct) == (2000, 2000)


def test_postgresql_restarted_mid_run_loses_nothing(stack):
    load = Load(stack, 2000).start()
    load.wait_done(500)
    stack.pg.stop()
    load.wait_done(1300)
    stack.pg.start()
    load.join()
    assert load.done == 2000 and not load.failed
    n, distinct = load.count_rows(2000)
    assert (n, distinct) == (2000, 2000)


def test_graceful_restart_and_child_recycling_lose_nothing(gateway):
    g = gateway(extra="MaxConnectionsPerChild 50\n")
    load = Load(g, 1600).start()
    load.wait_done(400)
    g.httpd.graceful()
    load.wait_done(1000)
    g.httpd.graceful()
    load.join()
    assert load.done == 1600 and not load.failed, load.failed[:5]
    n, distinct = load.count_rows(1600)
    assert (n, distinct) == (1600, 1600)


def test_full_spool_is_bounded_and_logged(gateway, tmp_path):
    # no auditd at all, and the gateway's own spool capped at 1 MiB
    g = gateway(start=False)
    spool = g.httpd.spool
    g.httpd.write_conf(extra="LLMGWAuditSpool %s max=1M\nLLMGWAudit unix:%s/nobody.sock\n"
                       % (spool, tmp_path))
    g.httpd.start()
    load = Load(g, 4000).start()
    load.join()
    assert load.done == 4000 and not load.failed
    # the sender threads spool batch by batch after the answers went out: wait for the log
    end = time.time() + 30
    while "is full" not in g.httpd.error_log_text() and time.time() < end:
        time.sleep(0.2)
    assert "is full" in g.httpd.error_log_text()
    size = sum(os.path.getsize(os.path.join(spool, f)) for f in os.listdir(spool))
    # the children share one count of the spool's bytes: the cap holds for all of them
    # together (plus a batch in flight while the directory is recounted)
    assert size <= 1024 * 1024 + 256 * 1024, size


def test_rollups_and_report_equal_the_audit_rows(stack):
    """After everything above (kills, restarts, replays): usage_daily, monthly_cost and
    llmgw-report's CSV totals equal the sums over audit_log."""
    import csv
    import io
    import subprocess
    from llmgwtest.stack import BUILD
    sums = ("count(*), sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens), "
            "sum(cache_write_tokens), sum(reasoning_tokens), coalesce(sum(cost_usd), 0)")
    rollup = ("sum(requests), sum(prompt_tokens), sum(completion_tokens), sum(cached_tokens), "
              "sum(cache_write_tokens), sum(reasoning_tokens), sum(cost_usd)")
    from decimal import Decimal
    a = [Decimal(v) for v in stack.pg.query("SELECT %s FROM llmgw.audit_log" % sums)[0]]
    d = [Decimal(v) for v in stack.pg.query("SELECT %s FROM llmgw.usage_daily" % rollup)[0]]
    m = [Decimal(v) for v in stack.pg.query("SELECT %s FROM llmgw.monthly_cost" % rollup)[0]]
    assert a[0] > 4000
    assert a == d == m
    months = [r[0] for r in stack.pg.query(
        "SELECT DISTINCT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM') FROM llmgw.audit_log")]
    for month in months:
        out = subprocess.run([BUILD + "/llmgw-report", "--db", stack.pg.dsn, "--month", month,
                              "--by", "team", "--format", "csv"], check=True,
                             capture_output=True, text=True).stdout
        rows = list(csv.DictReader(io.StringIO(out)))
        total = [r for r in rows if "TOTAL" in r.values()][0]
        want = stack.pg.query(
            "SELECT count(*), sum(total_tokens), coalesce(sum(cost_usd), 0) FROM llmgw.audit_log "
            "WHERE to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM') = '%s'" % month)[0]
        assert int(total["requests"]) == int(want[0])
        assert Decimal(total["prompt_tokens"]) + Decimal(total["completion_tokens"]) == Decimal(want[1])
        assert Decimal(total["cost_usd"]) == Decimal(want[2])
