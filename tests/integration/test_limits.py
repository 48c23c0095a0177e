"""Rate limits and budgets (SPEC §4, §6; issue 6): LLMGWRateLimit counters shared by all
children and threads (event and prefork), by several nodes through Redis, exact under
concurrency; token and dollar budgets charged with the provider's usage; 429 in the
provider's format with Retry-After and x-ratelimit-* headers; counters kept across
graceful restarts; Redis failure=open|closed; the llmgw-usage handler; a full counter
table refusing new keys."""

import decimal
import json
import re
import time
import uuid

import pytest

from llmgwtest.limits import CHAT, CHAT_TOKENS, Redis, burst, call, rule_usage, usage, wait_used
from llmgwtest.pgcluster import free_port

USAGE_LOC = ""      # the shipped snippet serves /llmgw/usage
METRICS_LOC = """
<Location /metrics>
  SetHandler llmgw-metrics
</Location>
"""
N = 10          # the limit
EXTRA = 20      # requests beyond it, sent at the same moment


@pytest.fixture(scope="module")
def redis():
    r = Redis().start()
    yield r
    r.destroy()


def uniq(prefix):
    """Rule names unique per test: Redis outlives a single gateway."""
    return "%s-%s" % (prefix, uuid.uuid4().hex[:8])


def store_line(store, redis, failure="closed"):
    if store == "shm":
        return "LLMGWLimitStore shm"
    return "LLMGWLimitStore %s failure=%s timeout=500" % (redis.url, failure)


def chat_url(g):
    return g.httpd.url + "/v1/chat/completions"


def error_message(body):
    return json.loads(body)["error"]["message"]


def assert_exact(results, n, rule):
    statuses = [s for s, _, _ in results]
    assert statuses.count(200) == n, statuses
    assert statuses.count(429) == len(results) - n, statuses
    # every success saw a different count: the increments were atomic
    remaining = sorted(int(h["x-ratelimit-remaining-requests"]) for s, h, _ in results if s == 200)
    assert remaining == list(range(n)), remaining
    for s, h, b in results:
        assert h["x-ratelimit-limit-requests"] == str(n)
        assert h["x-ratelimit-reset-requests"]
        assert h["X-Request-Id"]
        if s != 429:
            continue
        assert h["x-ratelimit-remaining-requests"] == "0"
        assert int(h["Retry-After"]) >= 1
        err = json.loads(b)["error"]
        assert err["type"] == "rate_limit_exceeded" and err["code"] == "rate_limit_exceeded"
        assert rule in err["message"]


# --- requests=N: exactly N of N+20 concurrent requests --------------------------------

@pytest.mark.parametrize("mpm,store", [("event", "shm"), ("prefork", "shm"),
                                       ("event", "redis"), ("prefork", "redis")])
def test_requests_limit_is_exact_under_concurrency(gateway, stack, redis, mpm, store):
    rule = uniq("burst")
    g = gateway(mpm=mpm, extra="%s\nLLMGWRateLimit %s per=user requests=%d window=1d\n"
                % (store_line(store, redis), rule, N))
    results = burst([(chat_url(g), "POST", CHAT, stack.keys.alice, None)] * (N + EXTRA))
    assert_exact(results, N, rule)
    # another user has a counter of their own
    s, h, _ = call(chat_url(g), body=CHAT, key=stack.keys.bob)
    assert s == 200 and h["x-ratelimit-remaining-requests"] == str(N - 1)
    # a refused request is audited with the rule that refused it
    rid = next(h["X-Request-Id"] for s, h, _ in results if s == 429)
    row = g.row_for(rid)
    assert row["status"] == 429 and row["blocked_rule"] == rule and row["user_id"] == "alice"


def test_two_nodes_share_one_redis(gateway, stack, redis):
    rule = uniq("cluster")
    extra = "%s\nLLMGWRateLimit %s per=team requests=%d window=1d\n" % (
        store_line("redis", redis), rule, N)
    g1 = gateway(extra=extra + "LLMGWNode node-a\n")
    g2 = gateway(extra=extra + "LLMGWNode node-b\n", mpm="prefork")
    targets = [(chat_url(g1 if i % 2 else g2), "POST", CHAT, stack.keys.alice, None)
               for i in range(N + EXTRA)]
    results = burst(targets)
    assert_exact(results, N, rule)
    # one counter for both nodes, request by request: bob's team alternates nodes and
    # sees the remaining count fall by one each time, then both nodes refuse
    seen = []
    for i in range(N + 2):
        s, h, _ = call(chat_url(g1 if i % 2 else g2), body=CHAT, key=stack.keys.bob)
        seen.append((s, h["x-ratelimit-remaining-requests"]))
    assert seen == [(200, str(N - 1 - i)) for i in range(N)] + [(429, "0")] * 2, seen


# --- token and dollar budgets ------------------------------------------------------------

@pytest.mark.parametrize("store", ["shm", "redis"])
def test_token_budget_stops_after_usage_crosses_it(gateway, stack, redis, store):
    rule = uniq("tok")
    g = gateway(extra="%s\nLLMGWRateLimit %s per=user tokens=100 window=1d\n%s"
                % (store_line(store, redis), rule, USAGE_LOC))
    key = stack.keys.alice
    # 0 → 37 → 74 → 111: three requests start below 100, the fourth is refused
    for k in range(3):
        body = dict(CHAT, stream=True) if k == 1 else CHAT     # streams are charged too
        s, h, _ = call(chat_url(g), body=body, key=key)
        assert s == 200
        assert h["x-ratelimit-limit-tokens"] == "100"
        assert h["x-ratelimit-remaining-tokens"] == str(100 - CHAT_TOKENS * k)
        assert wait_used(g, key, rule, CHAT_TOKENS * (k + 1))["used"] == CHAT_TOKENS * (k + 1)
    s, h, b = call(chat_url(g), body=CHAT, key=key)
    assert s == 429, b
    assert h["x-ratelimit-remaining-tokens"] == "0" and int(h["Retry-After"]) >= 1
    assert "budget exhausted" in error_message(b) and rule in error_message(b)
    assert rule_usage(g, key, rule)["remaining"] == 0
    # the refused request consumed nothing; bob is not affected
    assert rule_usage(g, key, rule)["used"] == 3 * CHAT_TOKENS
    assert call(chat_url(g), body=CHAT, key=stack.keys.bob)[0] == 200


@pytest.mark.parametrize("store", ["shm", "redis"])
def test_dollar_budget_stops_after_cost_crosses_it(gateway, stack, redis, store):
    rule = uniq("usd")
    # chat usage: prompt 25 (cached 5, cached price falls back to input), completion 12:
    # 25·1/1000 + 12·2/1000 = 0.049 USD per request
    g = gateway(extra="%s\nLLMGWPrice openai gpt-4o* input=1 output=2\n"
                "LLMGWRateLimit %s per=team dollars=0.1 window=1mo\n%s"
                % (store_line(store, redis), rule, USAGE_LOC))
    key = stack.keys.alice
    for k, left in enumerate(["0.1", "0.051", "0.002"]):
        s, h, _ = call(chat_url(g), body=CHAT, key=key)
        assert s == 200
        assert h["x-ratelimit-limit-dollars"] == "0.1"
        assert h["x-ratelimit-remaining-dollars"] == left
        deadline = time.time() + 10
        while _dollars_used(g, key, rule) != decimal.Decimal("0.049") * (k + 1):
            assert time.time() < deadline, _dollars_used(g, key, rule)
            time.sleep(0.05)
    s, h, b = call(chat_url(g), body=CHAT, key=key)
    assert s == 429 and rule in error_message(b)
    assert h["x-ratelimit-remaining-dollars"] == "0"
    assert _dollars_used(g, key, rule) == decimal.Decimal("0.147")
    # per=team: bob is in another team
    assert call(chat_url(g), body=CHAT, key=stack.keys.bob)[0] == 200


def _dollars_used(g, key, rule):
    s, _, body = call(g.httpd.url + "/llmgw/usage", "GET", key=key)
    doc = json.loads(body, parse_float=decimal.Decimal)
    return next(l["used"] for l in doc["limits"] if l["rule"] == rule)


# --- graceful restart ----------------------------------------------------------------------

@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_counters_survive_graceful_restart(gateway, stack, mpm):
    rule = uniq("keep")
    base = "LLMGWRateLimit %s per=user requests=5 window=1d\n%s%s" % (rule, USAGE_LOC,
                                                                     METRICS_LOC)
    g = gateway(mpm=mpm, extra=base)
    key = stack.keys.alice
    for _ in range(3):
        assert call(chat_url(g), body=CHAT, key=key)[0] == 200
    # reload with one more rule: the old counter is kept, the new one starts at zero
    new_rule = uniq("new")
    g.httpd.write_conf(base + "LLMGWRateLimit %s per=user requests=50 window=1d\n" % new_rule)
    before = g.httpd.error_log_text().count("resuming normal operations")
    g.httpd.graceful()
    deadline = time.time() + 10
    while g.httpd.error_log_text().count("resuming normal operations") <= before:
        assert time.time() < deadline, "no graceful restart happened"
        time.sleep(0.1)
    assert rule_usage(g, key, rule)["used"] == 3
    assert rule_usage(g, key, new_rule)["used"] == 0
    results = [call(chat_url(g), body=CHAT, key=key) for _ in range(5)]
    assert [s for s, _, _ in results] == [200, 200, 429, 429, 429]
    assert rule_usage(g, key, rule)["used"] == 5
    assert rule_usage(g, key, new_rule)["used"] == 2
    # refusals are shared too, and kept: llmgw_rate_limited_total{rule}
    g.httpd.graceful()
    s, _, text = call(g.httpd.url + "/metrics", "GET")
    assert s == 200, "the metrics handler (issue 10) is missing"
    line = 'llmgw_rate_limited_total{rule="%s"} 3' % rule
    assert line in text.decode(), text.decode()[-3000:]


# --- Redis unavailable ------------------------------------------------------------------------

def test_redis_down_failure_closed_refuses_with_503(gateway, stack):
    g = gateway(extra="LLMGWLimitStore redis://127.0.0.1:%d failure=closed timeout=200\n"
                "LLMGWRateLimit %s per=user requests=100 window=1d\n%s"
                % (free_port(), uniq("down"), USAGE_LOC))
    s, h, b = call(chat_url(g), body=CHAT, key=stack.keys.alice)
    assert s == 503, b
    assert h["Retry-After"] == "1"
    assert json.loads(b)["error"]["message"] == "the rate-limit store is unavailable"
    assert "x-ratelimit-limit-requests" not in h
    assert usage(g, stack.keys.alice)[0] == 503
    assert "rate-limit store redis://127.0.0.1" in g.httpd.error_log_text()


def test_redis_down_failure_open_lets_requests_through(gateway, stack):
    g = gateway(extra="LLMGWLimitStore redis://127.0.0.1:%d failure=open timeout=200\n"
                "LLMGWRateLimit %s per=user requests=1 window=1d\n" % (free_port(), uniq("open")))
    for _ in range(3):      # a limit of 1, but nothing can count: open lets them all pass
        s, h, _ = call(chat_url(g), body=CHAT, key=stack.keys.alice)
        assert s == 200
        assert "x-ratelimit-limit-requests" not in h


def test_redis_restart_recovers(gateway, stack):
    r = Redis().start()
    try:
        rule = uniq("back")
        g = gateway(extra="LLMGWLimitStore %s failure=closed timeout=200\n"
                    "LLMGWRateLimit %s per=user requests=100 window=1d\n" % (r.url, rule))
        assert call(chat_url(g), body=CHAT, key=stack.keys.alice)[0] == 200
        r.stop()
        assert call(chat_url(g), body=CHAT, key=stack.keys.alice)[0] == 503
        r.start()
        deadline = time.time() + 10      # each child retries Redis a second after a failure
        while call(chat_url(g), body=CHAT, key=stack.keys.alice)[0] != 200:
            assert time.time() < deadline
            time.sleep(0.2)
    finally:
        r.destroy()


# --- the usage handler ---------------------------------------------------------------------

def test_usage_handler_reports_own_counters(gateway, stack):
    req, tok, usd = uniq("req"), uniq("tok"), uniq("usd")
    g = gateway(extra="""
LLMGWPrice openai gpt-4o* input=1 output=2
LLMGWRateLimit %s per=user requests=%d window=1h
LLMGWRateLimit %s per=team tokens=1000 window=1d
LLMGWRateLimit %s per=key dollars=50 window=1mo
LLMGWRateLimit only-anthropic per=user route=anthropic requests=7 window=5m
%s""" % (req, N, tok, usd, USAGE_LOC))
    assert call(chat_url(g), body=CHAT, key=stack.keys.alice)[0] == 200
    wait_used(g, stack.keys.alice, tok, CHAT_TOKENS)
    s, h, doc = usage(g, stack.keys.alice)
    assert s == 200 and h["Content-Type"].startswith("application/json")
    assert h["Cache-Control"] == "no-store"
    assert doc["user"] == "alice" and doc["team"] == "research"
    by = {l["rule"]: l for l in doc["limits"]}
    assert list(by) == [req, tok, usd, "only-anthropic"]
    r = by[req]
    assert (r["per"], r["principal"], r["type"], r["window"]) == ("user", "alice", "requests", "1h")
    assert (r["limit"], r["used"], r["remaining"]) == (N, 1, N - 1)
    assert r["reset"].endswith(":00:00Z") and 0 < r["reset_in_seconds"] <= 3600
    t = by[tok]
    assert (t["principal"], t["used"], t["remaining"]) == ("research", CHAT_TOKENS, 1000 - CHAT_TOKENS)
    assert t["reset"].endswith("T00:00:00Z")
    d = by[usd]
    assert d["principal"] is None            # a key is never shown, not even hashed
    assert d["type"] == "dollars" and abs(d["used"] - 0.049) < 1e-12
    assert d["reset"].endswith("-01T00:00:00Z")
    a = by["only-anthropic"]
    assert (a["route"], a["used"], a["remaining"]) == ("anthropic", 0, 7)
    # bob sees his own counters
    _, _, bdoc = usage(g, stack.keys.bob)
    bby = {l["rule"]: l for l in bdoc["limits"]}
    assert (bby[req]["principal"], bby[req]["used"]) == ("bob", 0)
    assert (bby[tok]["principal"], bby[tok]["used"]) == ("sales", 0)
    # authenticated like a route: no key, a wrong key; GET only
    s, h, b = call(g.httpd.url + "/llmgw/usage", "GET")
    assert s == 401 and "error" in json.loads(b) and h["X-Request-Id"]
    assert call(g.httpd.url + "/llmgw/usage", "GET", key="llmgw_wrong")[0] == 401
    assert call(g.httpd.url + "/llmgw/usage", "POST", body={}, key=stack.keys.alice)[0] == 405
    # ?key= works as on the Gemini route
    s, _, b = call(g.httpd.url + "/llmgw/usage?key=" + stack.keys.bob, "GET")
    assert s == 200 and json.loads(b)["user"] == "bob"
    # reading is not a request against any limit
    assert rule_usage(g, stack.keys.alice, req)["used"] == 1


# --- what a rule counts --------------------------------------------------------------------

def test_per_team_key_user_global_route_and_model(gateway, stack):
    team, key_r, user_r, glob = uniq("team"), uniq("key"), uniq("user"), uniq("glob")
    g = gateway(extra="""
LLMGWRateLimit %s per=team requests=2 window=1d model=gpt-4o-mini
LLMGWRateLimit %s per=key requests=2 window=1d model=gpt-3.5*
LLMGWRateLimit %s per=user requests=1 window=1d model=gpt-3.5*
LLMGWRateLimit anth per=user route=anthropic requests=1 window=1d
LLMGWRateLimit gem per=user route=/google requests=1 window=1d
LLMGWRateLimit %s per=global requests=3 window=1d model=gpt-4o
""" % (team, key_r, user_r, glob))
    a, b, lc = stack.keys.alice, stack.keys.bob, stack.keys.librechat
    url = chat_url(g)
    mini, gpt35, gpt4o = CHAT, dict(CHAT, model="gpt-3.5-turbo"), dict(CHAT, model="gpt-4o")
    # per=team: alice twice, then refused; bob's team is separate
    assert [call(url, body=mini, key=a)[0] for _ in range(3)] == [200, 200, 429]
    assert call(url, body=mini, key=b)[0] == 200
    # per=user under a delegate key counts end users; per=key counts the front end's key
    def lc_call(user):
        return call(url, body=gpt35, key=lc, headers={"X-User-Id": user})
    assert lc_call("u1")[0] == 200
    s, _, body = lc_call("u1")
    assert s == 429 and user_r in error_message(body)
    assert lc_call("u2")[0] == 200
    s, _, body = lc_call("u3")
    assert s == 429 and key_r in error_message(body)
    # per=global: everyone together (alice + bob), on gpt-4o only
    assert [call(url, body=gpt4o, key=k)[0] for k in (a, b, a, b)] == [200, 200, 200, 429]
    # route= by name: Anthropic's own 429 format; the OpenAI route is not affected
    msg = {"model": "claude-3-haiku-20240307", "max_tokens": 16,
           "messages": [{"role": "user", "content": "hi"}]}
    ah = {"anthropic-version": "2023-06-01"}
    aurl = g.httpd.url + "/anthropic/v1/messages"
    assert call(aurl, body=msg, key=b, headers=ah)[0] == 200
    s, h, body = call(aurl, body=msg, key=b, headers=ah)
    doc = json.loads(body)
    assert s == 429 and doc["type"] == "error" and doc["error"]["type"] == "rate_limit_error"
    assert "anth" in doc["error"]["message"] and int(h["Retry-After"]) >= 1
    # route= by <Location> prefix: Gemini's format
    gurl = g.httpd.url + "/google/v1beta/models/gemini-2.0-flash:generateContent"
    gbody = {"contents": [{"parts": [{"text": "hi"}]}]}
    gh = {"x-goog-api-key": b}
    assert call(gurl, body=gbody, headers=gh)[0] == 200
    s, _, body = call(gurl, body=gbody, headers=gh)
    err = json.loads(body)["error"]
    assert s == 429 and err["code"] == 429 and err["status"] == "RESOURCE_EXHAUSTED"


def test_per_key_counts_a_key_once_whatever_header_carries_it(gateway, stack):
    """The SDKs send a key as a Bearer token, in x-api-key, x-goog-api-key, api-key or
    ?key=; a client switching between them must not get a fresh per=key allowance each
    time."""
    rule = uniq("perkey")
    g = gateway(extra="LLMGWRateLimit %s per=key requests=3 window=1d\n" % rule)
    k, url = stack.keys.bob, chat_url(g)
    assert call(url, body=CHAT, key=k)[0] == 200                        # Authorization
    assert call(url, body=CHAT, headers={"x-api-key": k})[0] == 200
    assert call(url + "?key=" + k, body=CHAT)[0] == 200
    for h in ({"api-key": k}, {"x-goog-api-key": k}, {"Authorization": "Bearer  " + k}):
        s, _, body = call(url, body=CHAT, headers=h)
        assert s == 429 and rule in error_message(body), h
    # another key has its own allowance
    assert call(url, body=CHAT, key=stack.keys.alice)[0] == 200


def test_our_headers_replace_the_providers(gateway, stack):
    """The provider's x-ratelimit-* describe the gateway's upstream account; a client
    behind a rule sees the rule's figures, once."""
    g = gateway(extra="LLMGWRateLimit %s per=user requests=%d window=1d\n" % (uniq("hdr"), N))
    s, h, _ = call(chat_url(g), body=dict(CHAT, model="gpt-4o-mini-mock-error-429"),
                   key=stack.keys.alice)
    assert s == 429                                  # the mock's own 429, passed through
    assert h.get_all("x-ratelimit-limit-requests") == [str(N)]
    assert h.get_all("x-ratelimit-remaining-requests") == [str(N - 1)]


# --- a full table fails closed -----------------------------------------------------------

def test_full_table_refuses_new_keys(gateway, stack):
    rule = uniq("many")
    g = gateway(extra="LLMGWLimitSlots 64\nLLMGWRateLimit %s per=user requests=5 window=1d\n%s"
                % (rule, METRICS_LOC))
    url, lc = chat_url(g), stack.keys.librechat

    def as_user(u):
        return call(url, body=CHAT, key=lc, headers={"X-User-Id": u})
    assert all(as_user("user%d" % i)[0] == 200 for i in range(64))
    s, h, body = as_user("one-too-many")
    assert s == 503 and h["Retry-After"] == "10", body
    assert "rate-limit counter" in error_message(body)
    assert "rate-limit table is full" in g.httpd.error_log_text()
    # keys that have a counter keep working
    assert as_user("user7")[0] == 200
    s, _, text = call(g.httpd.url + "/metrics", "GET")
    assert s == 200, "the metrics handler (issue 10) is missing"
    assert "llmgw_rate_limit_table_full_total 1" in text.decode()


# --- configuration errors ------------------------------------------------------------------

@pytest.mark.parametrize("line,needle", [
    ("LLMGWRateLimit a per=user requests=5", "window= is required"),
    ("LLMGWRateLimit a per=user requests=5 window=1w", "window="),
    ("LLMGWRateLimit a per=user requests=5 tokens=3 window=1h", "exactly one"),
    ("LLMGWRateLimit a per=nobody requests=5 window=1h", "per="),
    ("LLMGWRateLimit a per=user requests=5 window=1h burst=2", "unknown LLMGWRateLimit option"),
    ("LLMGWRateLimit a per=user requests=5 window=1h\nLLMGWRateLimit a per=team requests=5 window=1h",
     "defined twice"),
    ("LLMGWRateLimit a per=user route=nope requests=5 window=1h", "names no LLMGWProvider"),
    ("LLMGWLimitStore memcache://x", "shm or redis://"),
    ("LLMGWLimitStore redis://127.0.0.1 failure=closed", "HOST:PORT"),
    ("LLMGWLimitStore redis://127.0.0.1:6379 failure=maybe", "unknown LLMGWLimitStore option"),
    ("LLMGWLimitSlots 10", "LLMGWLimitSlots"),
    ("<Location /x>\nLLMGWRateLimit a per=user requests=5 window=1h\n</Location>", "LLMGWRateLimit"),
])
def test_bad_directives_fail_configtest(gateway, line, needle):
    g = gateway(extra=line + "\n", start=False)
    r = g.httpd.configtest()
    assert r.returncode != 0
    out = r.stdout + r.stderr + g.httpd.error_log_text()
    assert needle in out, out


# --- an SDK sees its typed error ----------------------------------------------------------

def test_sdks_raise_rate_limit_error(gateway, stack):
    import os
    import shutil
    import subprocess
    from llmgwtest.stack import ROOT
    clients = os.path.join(ROOT, "tests", "clients")
    if not shutil.which("node") or not os.path.isdir(os.path.join(clients, "node_modules")):
        pytest.skip("node or tests/clients/node_modules missing (scripts/test installs them)")
    g = gateway(extra="LLMGWRateLimit %s per=user requests=1 window=1d\n" % uniq("sdk"))
    env = dict(os.environ, LLMGW_LIMITS_BASE=g.httpd.url, LLMGW_KEY=stack.keys.alice)
    r = subprocess.run(["node", "--test", "--test-reporter=spec", "limits.test.mjs"],
                       cwd=clients, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert re.search(r"\bpass 2\b", r.stdout) and re.search(r"\bskipped 0\b", r.stdout), \
        r.stdout[-2000:]
