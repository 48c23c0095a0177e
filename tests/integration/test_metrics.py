"""Observability (SPEC §10): the llmgw-metrics handler passes promtool, its counters equal
what was sent summed over every child (prefork and event), per-rule refusals, the series
cap, the audit spool gauge and sent counter through an auditd outage and a graceful
restart, the LLMGW_* variables in the shipped JSON access-log format, /metrics refused to
non-loopback clients, and the Grafana dashboard's queries run against a real Prometheus."""

import collections
import concurrent.futures
import decimal
import json
import os
import random
import re
import time

import pytest

from llmgwtest.metrics import Prometheus, parse, promtool_check, scrape, total
from llmgwtest.stack import MODDIR, PROVIDER_KEYS, ROOT

ANTH = {"anthropic-version": "2023-06-01"}
MSGS = [{"role": "user", "content": "hello"}]
AZURE = "/azure/openai/deployments/dep1/chat/completions?api-version=2024-10-21"
GEMINI = "/google/v1beta/models/gemini-pro:generateContent"
D = decimal.Decimal

PRICES = """
LLMGWPrice openai gpt-4o* input=0.0025 output=0.01 cached_input=0.00125
LLMGWPrice openai gpt-4o-mini* input=0.00015 output=0.0006
LLMGWPrice anthropic claude-3-haiku* input=0.00025 output=0.00125 cached_input=0.000025 cache_write=0.0003
LLMGWPrice azure dep1 input=0.0025 output=0.01
"""
LABELS_ALL = "LLMGWMetricsLabels provider model user_id team\n"
PIDS = 'CustomLog logs/pids.log "%P"\n'
MPM = {
    "prefork": "StartServers 4\nMinSpareServers 4\nMaxSpareServers 8\nMaxRequestWorkers 16\n",
    "event": "StartServers 3\nServerLimit 4\nThreadsPerChild 4\nMinSpareThreads 8\n"
             "MaxSpareThreads 16\nMaxRequestWorkers 16\n",
}


def chat(model, stream=False):
    b = {"model": model, "messages": MSGS}
    if stream:
        b["stream"] = True
    return b


def anth(stream=False):
    b = {"model": "claude-3-haiku", "max_tokens": 50, "messages": MSGS}
    if stream:
        b["stream"] = True
    return b


GEMINI_BODY = {"contents": [{"parts": [{"text": "hi"}]}]}

# (count, key name, path, body, headers, expected series: provider, model, user, team,
#  status, prompt, completion) — mock usage is fixed (tests/mocks/README.md)
MIX = [
    (6, "alice", "/v1/chat/completions", chat("gpt-4o"), {},
     ("openai", "gpt-4o", "alice", "research", "200", 25, 12)),
    (3, "alice", "/v1/chat/completions", chat("gpt-4o", True), {},
     ("openai", "gpt-4o", "alice", "research", "200", 25, 12)),
    (4, "bob", "/v1/chat/completions", chat("gpt-4o-mini"), {},
     ("openai", "gpt-4o-mini", "bob", "sales", "200", 25, 12)),
    (5, "alice", "/anthropic/v1/messages", anth(), ANTH,
     ("anthropic", "claude-3-haiku", "alice", "research", "200", 36, 15)),
    (3, "bob", "/anthropic/v1/messages", anth(True), ANTH,
     ("anthropic", "claude-3-haiku", "bob", "sales", "200", 36, 15)),
    (4, "bob", GEMINI, GEMINI_BODY, {},
     ("google", "gemini-pro", "bob", "sales", "200", 18, 17)),
    (2, "bob", AZURE, {"messages": MSGS}, {},
     ("azure", "dep1", "bob", "sales", "200", 25, 12)),
    (2, "bob", "/v1/chat/completions", chat("gpt-4o-mock-error-500"), {},
     ("openai", "gpt-4o-mock-error-500", "bob", "sales", "500", 0, 0)),
    (3, None, "/v1/chat/completions", chat("gpt-4o"), {},      # a bad key: 401, no identity
     ("openai", "", "", "", "401", 0, 0)),
]


def send_mix(g, mix, threads=8, seed=7):
    """Sends every request of the mix, shuffled, from several threads (so that several
    children serve them). Returns {series: [request ids]}."""
    jobs = [(m[1], m[2], m[3], m[4], m[5]) for m in mix for _ in range(m[0])]
    random.Random(seed).shuffle(jobs)

    def one(job):
        who, path, body, hdrs, want = job
        key = getattr(g.keys, who) if who else "llmgw_not_a_valid_key"
        st, h, raw = g.call("POST", path, body, headers=hdrs, key=key)
        assert str(st) == want[4], (st, raw[:300])
        return want, h["X-Request-Id"]

    out = collections.defaultdict(list)
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        for want, rid in ex.map(one, jobs):
            out[want].append(rid)
    return out


def wait_metrics(g, done, timeout=20):
    """Scrapes until done(samples) holds (counting happens after the response is sent)."""
    end = time.time() + timeout
    while True:
        samples, types = parse(scrape(g))
        if done(samples) or time.time() > end:
            return samples, types
        time.sleep(0.2)


def expected_cost(g, rids):
    ids = ",".join("'%s'" % r for r in rids)
    rows = g.rows("request_id IN (%s)" % ids, expect=len(rids))
    assert len(rows) == len(rids)
    return sum((D(str(r["cost_usd"])) for r in rows if r["cost_usd"] is not None), D(0))


def test_exposition_passes_promtool_and_shows_no_secret(stack):
    """The shared stack serves /metrics from the shipped snippet: after traffic with
    awkward model names (quotes, backslashes, non-ASCII, a control character) the output
    passes promtool and holds no key of any kind."""
    odd = ['gpt-4o "quoted" \\back', "gpt-4o-caf\u00e9-\u6a21\u578b", "gpt-4o\ttab", ""]
    for m in odd:
        st, h, raw = stack.call("POST", "/v1/chat/completions", chat(m), key=stack.keys.alice)
        assert st == 200, raw[:300]
    st, _, _ = stack.call("POST", "/v1/chat/completions", chat("gpt-4o"), key="wrong-key")
    assert st == 401
    text = scrape(stack)
    rc, out = promtool_check(text)
    assert rc == 0 and out.strip() == "", out
    samples, types = parse(text)
    for family, typ in [("llmgw_requests_total", "counter"), ("llmgw_tokens_total", "counter"),
                        ("llmgw_cost_dollars_total", "counter"),
                        ("llmgw_request_duration_seconds", "histogram"),
                        ("llmgw_time_to_first_token_seconds", "histogram"),
                        ("llmgw_rate_limited_total", "counter"),
                        ("llmgw_blocked_total", "counter"),
                        ("llmgw_audit_spooled_records", "gauge"),
                        ("llmgw_audit_sent_total", "counter")]:
        assert types.get(family) == typ, family
        assert "# HELP %s " % family in text
    models = {dict(ls).get("model") for (n, ls) in samples if n == "llmgw_tokens_total"}
    assert 'gpt-4o "quoted" \\back' in models and "gpt-4o-caf\u00e9-\u6a21\u578b" in models
    assert "gpt-4o?tab" in models        # control characters are replaced
    for secret in [stack.keys.alice, stack.keys.bob, stack.keys.librechat, "wrong-key",
                   *PROVIDER_KEYS.values(), "sha256:"]:
        assert secret not in text
    # only GET (and HEAD)
    st, h, _ = stack.call("POST", "/metrics", b"x")
    assert st == 405 and "GET" in h.get("Allow", "")
    st, h, body = stack.call("HEAD", "/metrics")
    assert st == 200 and body == b""


@pytest.mark.parametrize("mpm", ["prefork", "event"])
def test_counters_equal_what_was_sent_summed_over_children(gateway, mpm):
    g = gateway(mpm=mpm, extra=MPM[mpm] + PRICES + LABELS_ALL + PIDS)
    sent = send_mix(g, MIX)
    nreq = sum(len(v) for v in sent.values())

    def done(s):
        return (total(s, "llmgw_requests_total") == nreq and
                total(s, "llmgw_audit_sent_total") == nreq)
    samples, _ = wait_metrics(g, done)

    # several children served the requests, and every scrape (any child) sees the sums
    with open(os.path.join(g.httpd.base, "logs", "pids.log")) as f:
        pids = {ln.strip() for ln in f if ln.strip()}
    assert len(pids) >= 2, pids
    for _ in range(6):
        assert parse(scrape(g))[0] == samples

    assert total(samples, "llmgw_requests_total") == nreq
    assert total(samples, "llmgw_audit_sent_total") == nreq
    by_series = collections.defaultdict(list)
    for want, rids in sent.items():
        by_series[want[:4]].append((want, rids))
    for (prov, model, user, team), groups in by_series.items():
        lab = dict(provider=prov, model=model, user_id=user, team=team)
        rids = [r for _, ids in groups for r in ids]
        statuses = collections.Counter()
        for want, ids in groups:
            statuses[want[4]] += len(ids)
        for status, n in statuses.items():
            assert total(samples, "llmgw_requests_total", status=status, **lab) == n, (lab, status)
        assert total(samples, "llmgw_requests_total", **lab) == len(rids), lab
        prompt = sum(w[5] * len(ids) for w, ids in groups)
        completion = sum(w[6] * len(ids) for w, ids in groups)
        assert total(samples, "llmgw_tokens_total", type="prompt", **lab) == prompt, lab
        assert total(samples, "llmgw_tokens_total", type="completion", **lab) == completion, lab
        # the same cost figure as the audit records, to the last pico-dollar
        assert total(samples, "llmgw_cost_dollars_total", **lab) == expected_cost(g, rids), lab
    # histograms: one observation per request, per provider and model
    per_model = collections.Counter()
    for want, ids in sent.items():
        per_model[(want[0], want[1])] += len(ids)
    for (prov, model), n in per_model.items():
        assert total(samples, "llmgw_request_duration_seconds_count",
                     provider=prov, model=model) == n
        assert total(samples, "llmgw_request_duration_seconds_bucket",
                     provider=prov, model=model, le="+Inf") == n
        assert total(samples, "llmgw_request_duration_seconds_sum",
                     provider=prov, model=model) > 0
    # every answered request saw a first byte from the provider; refusals did not
    assert total(samples, "llmgw_time_to_first_token_seconds_count",
                 provider="openai", model="gpt-4o") == 9
    assert total(samples, "llmgw_time_to_first_token_seconds_count",
                 provider="google", model="gemini-pro") == 4
    assert total(samples, "llmgw_time_to_first_token_seconds_count",
                 provider="openai", model="") == 0
    # no overflow with the default limit, nothing spooled
    assert not [k for k in samples if ("model", "__overflow__") in k[1]]
    assert total(samples, "llmgw_audit_spooled_records") == 0
    rc, out = promtool_check(scrape(g))
    assert rc == 0, out


def test_rate_limited_and_blocked_by_rule(gateway):
    g = gateway(extra=PRICES + """
LLMGWRateLimit tiny per=user requests=2 window=1h
LLMGWBlock no-secrets "confidential"
""")
    codes = [g.call("POST", "/v1/chat/completions", chat("gpt-4o"), key=g.keys.alice)[0]
             for _ in range(5)]
    assert codes == [200, 200, 429, 429, 429]
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "a confidential plan"}]}
    st, h, raw = g.call("POST", "/v1/chat/completions", body, key=g.keys.bob)
    assert st == 400, raw[:300]
    # the counters of one request are bumped one after another in log_transaction, which
    # runs after the answer went out: wait for the last of them, not just the first
    samples, _ = wait_metrics(g, lambda s: total(s, "llmgw_requests_total") == 6 and
                              total(s, "llmgw_blocked_total") >= 1)
    assert total(samples, "llmgw_rate_limited_total", rule="tiny") == 3
    assert total(samples, "llmgw_blocked_total", rule="no-secrets") == 1
    # a 429 by a rate limit is not also counted as a content block
    assert total(samples, "llmgw_blocked_total") == 1
    assert total(samples, "llmgw_requests_total", status="429") == 3
    assert total(samples, "llmgw_requests_total", status="400") == 1
    assert g.row_for(h["X-Request-Id"])["blocked_rule"] == "no-secrets"


def test_series_cap_counts_the_rest_in_the_overflow_series(gateway):
    g = gateway(extra="LLMGWMetricsMaxSeries 3\n")
    models = ["m-%d" % i for i in range(6)]
    for m in models:
        assert g.call("POST", "/v1/chat/completions", chat(m), key=g.keys.alice)[0] == 200
    assert g.call("POST", "/v1/chat/completions", chat("m-0"), key=g.keys.alice)[0] == 200
    samples, _ = wait_metrics(g, lambda s: total(s, "llmgw_requests_total") == 7)
    kept = {dict(ls)["model"] for (n, ls) in samples if n == "llmgw_requests_total"}
    assert kept == {"m-0", "m-1", "m-2", "__overflow__"}
    assert total(samples, "llmgw_requests_total", model="m-0") == 2
    assert total(samples, "llmgw_requests_total", model="__overflow__", provider="openai") == 3
    assert total(samples, "llmgw_tokens_total", model="__overflow__", type="prompt") == 75
    log = g.httpd.error_log_text()
    assert log.count("LLMGWMetricsMaxSeries 3 reached") == 1, log[-2000:]
    rc, out = promtool_check(scrape(g))
    assert rc == 0, out


def test_directive_errors(gateway):
    g = gateway(start=False)
    for bad, why in [("LLMGWMetricsLabels provider", "always labels"),
                     ("LLMGWMetricsLabels provider model email", "unknown label 'email'"),
                     ("LLMGWMetricsLabels provider model team team", "given twice"),
                     ("LLMGWMetricsMaxSeries 0", "from 1 to"),
                     ("LLMGWMetricsMaxSeries 1000000", "from 1 to"),
                     ("<VirtualHost 127.0.0.1:1>\nLLMGWMetricsMaxSeries 5\n</VirtualHost>",
                      "cannot occur within <VirtualHost>")]:
        g.httpd.write_conf(bad)
        r = g.httpd.configtest()
        assert r.returncode != 0 and why in r.stderr + r.stdout, (bad, r.stderr)
    g.httpd.write_conf(LABELS_ALL + "LLMGWMetricsMaxSeries 100000\n")
    assert g.httpd.configtest().returncode == 0


def test_spool_gauge_and_sent_total_through_an_outage_and_graceful(gateway, tmp_path):
    dead = "LLMGWAudit unix:%s\n" % (tmp_path / "nobody-listens.sock")
    g = gateway(extra=LABELS_ALL + dead)
    for _ in range(5):
        assert g.call("POST", "/v1/chat/completions", chat("gpt-4o"), key=g.keys.bob)[0] == 200
    samples, _ = wait_metrics(g, lambda s: total(s, "llmgw_audit_spooled_records") == 5)
    assert total(samples, "llmgw_audit_spooled_records") == 5
    assert total(samples, "llmgw_audit_sent_total") == 0
    # auditd reachable again: the graceful restart's new children replay the spool
    g.httpd.write_conf(LABELS_ALL)
    g.httpd.graceful()
    samples, _ = wait_metrics(g, lambda s: (total(s, "llmgw_audit_sent_total") == 5 and
                                            total(s, "llmgw_audit_spooled_records") == 0),
                              timeout=40)
    assert total(samples, "llmgw_audit_spooled_records") == 0
    assert total(samples, "llmgw_audit_sent_total") == 5
    # the counters survived the graceful restart (same labels, limit and providers)
    assert total(samples, "llmgw_requests_total", user_id="bob", status="200") == 5
    # changing the labels starts a new, empty segment
    g.httpd.write_conf("")
    g.httpd.graceful()
    assert g.call("POST", "/v1/chat/completions", chat("gpt-4o"), key=g.keys.bob)[0] == 200
    samples, _ = wait_metrics(g, lambda s: total(s, "llmgw_requests_total") == 1)
    assert total(samples, "llmgw_requests_total") == 1
    assert not [k for k in samples if "user_id" in dict(k[1])]


def test_json_access_log_has_the_llmgw_fields(gateway):
    path = "logs/llmgw.json"
    g = gateway(extra=PRICES + "Include %s/httpd-conf/llmgw-log.conf\n"
                "CustomLog %s llmgw_json env=LLMGW_PROVIDER\n" % (ROOT, path))
    odd = 'gpt-4o "x" \\ caf\u00e9'
    calls = [("alice", "/v1/chat/completions", chat("gpt-4o"), {}),
             ("bob", "/anthropic/v1/messages", anth(True), ANTH),
             ("bob", GEMINI, GEMINI_BODY, {}),
             (None, "/v1/chat/completions", chat("gpt-4o"), {}),
             ("alice", "/v1/chat/completions", chat(odd), {})]
    rids = []
    for who, p, body, hdrs in calls:
        key = getattr(g.keys, who) if who else "bad"
        st, h, _ = g.call("POST", p, body, headers=hdrs, key=key)
        rids.append(h["X-Request-Id"])
    scrape(g)                                   # not routed: not in this log
    logfile = os.path.join(g.httpd.base, path)
    end = time.time() + 10
    while time.time() < end:
        with open(logfile) as f:
            lines = [ln for ln in f.read().splitlines() if ln]
        if len(lines) >= len(calls):
            break
        time.sleep(0.1)
    time.sleep(0.3)
    with open(logfile) as f:
        lines = [ln for ln in f.read().splitlines() if ln]
    entries = [json.loads(ln) for ln in lines]     # every line is JSON
    assert len(entries) == len(calls)
    by_id = {e["request_id"]: e for e in entries}
    assert set(by_id) == set(rids)
    for rid in rids:
        e, row = by_id[rid], g.row_for(rid)
        assert e["status"] == row["status"]
        assert e["user"] == (row["user_id"] or "-")
        assert e["team"] == (row["team"] or "-")
        assert e["provider"] == row["provider"]
        assert e["prompt_tokens"] == str(row["prompt_tokens"])
        assert e["completion_tokens"] == str(row["completion_tokens"])
        if row["cost_usd"] is None:
            assert e["cost_usd"] == "-"
        else:
            assert D(e["cost_usd"]) == D(str(row["cost_usd"]))
        assert e["blocked_rule"] == "-"
        assert isinstance(e["duration_us"], int) and re.match(r"\d{4}-\d\d-\d\dT", e["time"])
    first, anthropic, gemini, refused, odd_e = (by_id[r] for r in rids)
    assert (first["user"], first["team"], first["model"]) == ("alice", "research", "gpt-4o")
    assert (anthropic["model"], anthropic["prompt_tokens"], anthropic["completion_tokens"]) == \
        ("claude-3-haiku", "36", "15")
    assert gemini["cost_usd"] == "-" and gemini["model"] == "gemini-pro"
    assert (refused["status"], refused["user"], refused["model"]) == (401, "-", "-")
    # quotes and backslashes come back as they were; non-ASCII bytes percent-encoded
    assert odd_e["model"] == 'gpt-4o "x" \\ caf%C3%A9'


def test_metrics_refused_to_non_loopback_clients(gateway):
    """The shipped snippet's `Require local`: mod_remoteip gives requests the client
    address a trusted proxy names, so one test server can play a remote client."""
    g = gateway(extra="LoadModule remoteip_module %s/mod_remoteip.so\n"
                      "RemoteIPHeader X-Forwarded-For\n"
                      "RemoteIPInternalProxy 127.0.0.1\n" % MODDIR)
    st, _, body = g.call("GET", "/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    assert st == 403 and b"llmgw_" not in body
    st, _, body = g.call("GET", "/metrics", headers={"X-Forwarded-For": "10.1.2.3"})
    assert st == 403
    st, _, body = g.call("GET", "/metrics", headers={"X-Forwarded-For": "127.0.0.9"})
    assert st == 200 and b"llmgw_requests_total" in body
    assert g.call("GET", "/metrics")[0] == 200
    # the commented `Require ip` example, switched on, admits the named scraper
    g.httpd.write_conf(g.httpd.extra + "<Location /metrics>\n  Require ip 203.0.113.7\n"
                       "</Location>\n")
    g.httpd.graceful()
    assert g.call("GET", "/metrics", headers={"X-Forwarded-For": "203.0.113.7"})[0] == 200
    assert g.call("GET", "/metrics", headers={"X-Forwarded-For": "203.0.113.8"})[0] == 403


DASHBOARD = os.path.join(ROOT, "packaging", "grafana", "llmgw.json")


def panels_of(dash):
    for p in dash["panels"]:
        yield p
        yield from p.get("panels", [])


def concrete(expr):
    """A Grafana query with its variables replaced, for Prometheus."""
    return (expr.replace("$__rate_interval", "1m").replace("$__range", "1h")
            .replace("$provider", ".*"))


def test_dashboard_queries_name_exported_metrics_and_run(gateway):
    with open(DASHBOARD) as f:
        dash = json.load(f)
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 30
    ids = [p["id"] for p in panels_of(dash)]
    assert len(ids) == len(set(ids))
    g = gateway(extra=PRICES + LABELS_ALL + "LLMGWRateLimit tiny per=user requests=3 window=1h\n")
    prom = Prometheus(g.httpd.base, g.httpd.port)
    try:
        prom.wait_for('up{job="llmgw"} == 1')
        # a series appears with its first request, and increase() cannot count what came
        # before Prometheus first saw it: a first round, then the traffic the panels show
        for who in ("alice", "bob"):
            g.call("POST", "/v1/chat/completions", chat("gpt-4o"), key=getattr(g.keys, who))
        prom.wait_for('llmgw_requests_total{user_id="bob"}')
        time.sleep(1.5)
        for who in ("alice", "bob"):
            for _ in range(2):
                g.call("POST", "/v1/chat/completions", chat("gpt-4o", True),
                       key=getattr(g.keys, who))
        g.call("POST", "/anthropic/v1/messages", anth(), headers=ANTH, key=g.keys.alice)
        samples, types = wait_metrics(g, lambda s: total(s, "llmgw_requests_total") == 7)
        assert total(samples, "llmgw_rate_limited_total", rule="tiny") == 1
        exported = set()
        for fam, typ in types.items():
            exported |= ({fam + "_bucket", fam + "_sum", fam + "_count"} if typ == "histogram"
                         else {fam})
        prom.wait_for('llmgw_requests_total{user_id="alice",status="429"}')
        time.sleep(2.5)        # a few more scrapes
        queries = []
        for p in panels_of(dash):
            if p["type"] == "row":
                continue
            assert p["targets"] and p["gridPos"]["w"] > 0, p["title"]
            assert p["datasource"]["uid"] == "${datasource}"
            for t in p["targets"]:
                names = re.findall(r"\bllmgw_[a-z0-9_]+", t["expr"])
                assert names, (p["title"], t["expr"])
                assert set(names) <= exported, (p["title"], set(names) - exported)
                queries.append((p["title"], t["expr"]))
        for v in dash["templating"]["list"]:
            if v["type"] == "query":
                assert set(re.findall(r"\bllmgw_[a-z0-9_]+", v["definition"])) <= exported
        results = {}
        for title, expr in queries:
            ans = prom.query(concrete(expr))
            assert ans["status"] == "success", (title, expr, ans)
            results.setdefault(title, []).append(ans["data"]["result"])
    finally:
        prom.stop()
    titles = {p["title"] for p in panels_of(dash)}
    for must in ("Requests by provider", "Tokens by provider and model",
                 "Cost by provider (USD per hour)", "Top users by cost", "429s by rule",
                 "Request duration p99 / p50 by provider",
                 "Time to first token p99 / p50 by provider"):
        assert must in titles, must
    # the questions the dashboard answers have answers with this traffic
    top = results["Top users by cost"][0]
    assert {r["metric"]["user_id"] for r in top} == {"alice", "bob"}
    assert all(float(r["value"][1]) > 0 for r in top), top
    assert {r["metric"]["rule"] for r in results["429s by rule"][0]} == {"tiny"}
    assert {r["metric"]["provider"] for r in results["Cost in the time range by provider"][0]} \
        == {"openai", "anthropic"}
    assert all(float(r["value"][1]) > 0 for r in results["429s by rule"][0])
    assert results["Request duration p99 / p50 by provider"][0]
