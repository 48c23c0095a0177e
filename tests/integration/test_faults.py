"""Fault injection (issue 8): the gateway when its neighbours misbehave — an upstream
that resets or goes silent, a client that leaves or reads at a crawl, a spool on a full
disk, and a thousand streams open at once. auditd killed, PostgreSQL restarted and
graceful restarts under load are in test_durability.py. Every test also passes the
error-log crash check (conftest) and, in the sanitizer run, the ASan report check."""

import json
import os
import resource
import selectors
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

from llmgwtest import rawhttp
from llmgwtest.stack import child_user

MSGS = [{"role": "user", "content": "hello"}]
ANTH = [("anthropic-version", "2023-06-01")]


def post(g, path, body, key, headers=(), timeout=60):
    """A POST over a raw socket: (rawhttp.Response, seconds)."""
    data = json.dumps(body).encode()
    hdrs = [("Authorization", "Bearer " + key), ("Content-Type", "application/json"),
            ("Content-Length", str(len(data)))] + list(headers)
    t0 = time.time()
    r, _ = rawhttp.exchange(g.httpd.port, rawhttp.request_bytes("POST", path, hdrs, data),
                            timeout=timeout, read_until_close=False)
    return r, time.time() - t0


def events(body):
    return [ln[6:] for ln in body.decode("utf-8", "replace").split("\n") if ln.startswith("data: ")]


def proxy_timeout(g, seconds, *flavours):
    """<Proxy> sections giving the mock origins of these flavours a short timeout."""
    return "".join('<Proxy "http://127.0.0.1:%d/">\n  ProxySet timeout=%d\n</Proxy>\n'
                   % (g.mocks.ports[f], seconds) for f in flavours)


# ---- upstream resets ------------------------------------------------------------------

def test_upstream_reset_mid_stream_truncates_and_records(stack):
    """The mock sends the headers and three events, then a TCP reset. The client gets
    those events and a response cut short (no terminating chunk, no [DONE]); the record
    is written with what the events carried."""
    r, _ = post(stack, "/v1/chat/completions",
                {"model": "gpt-4o-mock-reset", "messages": MSGS, "stream": True},
                stack.keys.bob, [("x-mock-delay-ms", "50")])
    assert r.status == 200
    got = events(r.body)
    assert 1 <= len(got) <= 3 and "[DONE]" not in got, r
    assert not r.complete, "a reset upstream must not look like a finished stream"
    row = stack.row_for(r.header("x-request-id"))
    assert row["stream"] is True and row["status"] in (200, 502) and row["user_id"] == "bob"

    # Anthropic: message_start (input and cache tokens) is among the events that arrived
    r, _ = post(stack, "/anthropic/v1/messages",
                {"model": "claude-3-haiku-mock-reset", "max_tokens": 50, "messages": MSGS,
                 "stream": True}, stack.keys.bob, ANTH + [("x-mock-delay-ms", "50")])
    assert r.status == 200 and not r.complete
    row = stack.row_for(r.header("x-request-id"))
    assert (row["prompt_tokens"], row["cached_tokens"], row["cache_write_tokens"]) == (36, 9, 7)
    assert row["completion_tokens"] < 15


def test_upstream_reset_before_answer_is_502_in_provider_format(stack):
    r, _ = post(stack, "/v1/chat/completions", {"model": "gpt-4o-mock-reset", "messages": MSGS},
                stack.keys.bob)
    assert r.status == 502 and r.complete
    err = json.loads(r.body)["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["type"] == "server_error"
    assert stack.row_for(r.header("x-request-id"))["status"] == 502
    r, _ = post(stack, "/anthropic/v1/messages",
                {"model": "claude-3-haiku-mock-reset", "max_tokens": 50, "messages": MSGS},
                stack.keys.bob, ANTH)
    assert r.status == 502
    body = json.loads(r.body)
    assert body["type"] == "error" and body["error"]["type"] == "api_error"
    # the broken upstream connection is not handed to the next request
    r, _ = post(stack, "/v1/chat/completions", {"model": "gpt-4o", "messages": MSGS}, stack.keys.bob)
    assert r.status == 200 and json.loads(r.body)["usage"]["total_tokens"] == 37


# ---- upstream timeouts ----------------------------------------------------------------

def test_upstream_silent_is_504_in_provider_format_with_a_record(gateway):
    g = gateway(start=False)
    g.httpd.write_conf(extra=proxy_timeout(g, 2, "openai", "anthropic", "gemini"))
    g.httpd.start()
    cases = [
        ("/v1/chat/completions", {"model": "gpt-4o-mock-hang", "messages": MSGS}, [],
         lambda j: j["error"]["type"] == "server_error" and set(j["error"]) ==
         {"message", "type", "param", "code"}),
        ("/v1/chat/completions", {"model": "gpt-4o-mock-hang", "messages": MSGS, "stream": True}, [],
         lambda j: "did not answer in time" in j["error"]["message"]),
        ("/anthropic/v1/messages", {"model": "claude-3-haiku-mock-hang", "max_tokens": 5,
                                    "messages": MSGS}, ANTH,
         lambda j: j["type"] == "error" and j["error"]["type"] == "timeout_error"),
        ("/google/v1beta/models/gemini-mock-hang:generateContent",
         {"contents": [{"parts": [{"text": "hi"}]}]}, [],
         lambda j: j["error"]["code"] == 504 and j["error"]["status"] == "DEADLINE_EXCEEDED"),
        # answers, but only after 4 s: longer than the timeout
        ("/v1/chat/completions", {"model": "gpt-4o-mock-slow", "messages": MSGS},
         [("x-mock-delay-ms", "4000")], lambda j: j["error"]["type"] == "server_error"),
    ]
    for path, body, hdrs, check in cases:
        r, secs = post(g, path, body, g.keys.bob, hdrs)
        assert r.status == 504, (path, r)
        assert 1.5 < secs < 20, secs
        assert r.header("content-type").startswith("application/json")
        assert check(json.loads(r.body)), r.body
        row = g.row_for(r.header("x-request-id"))
        assert row["status"] == 504 and row["user_id"] == "bob", row


def test_upstream_silent_mid_stream_keeps_usage_so_far(gateway):
    """Anthropic's first event carries the input tokens; then the upstream pauses longer
    than its timeout. The client's stream ends early; the record keeps the input side."""
    g = gateway(start=False)
    g.httpd.write_conf(extra=proxy_timeout(g, 2, "anthropic"))
    g.httpd.start()
    r, secs = post(g, "/anthropic/v1/messages",
                   {"model": "claude-3-haiku", "max_tokens": 50, "messages": MSGS, "stream": True},
                   g.keys.bob, ANTH + [("x-mock-delay-ms", "3500")])
    assert r.status == 200 and not r.complete
    assert len(events(r.body)) == 1 and secs < 15
    row = g.row_for(r.header("x-request-id"))
    assert (row["prompt_tokens"], row["cached_tokens"], row["cache_write_tokens"]) == (36, 9, 7)
    assert row["completion_tokens"] <= 1


# ---- clients that leave or crawl -------------------------------------------------------

def active_requests(g, flavour):
    """Requests since the mock's last reset that it is still answering: other tests'
    pooled connections to the shared mock do not count."""
    return g.mocks.stats(flavour)["active_requests"]


def test_client_abort_mid_stream_releases_the_upstream_connection(gateway):
    """A client leaves one event into a ~11 s stream. The gateway stops reading the
    provider (no tokens generated for nobody): the mock's stream ends on a closed
    connection long before it would have finished; the record is written; the pool keeps
    working (later requests reuse pooled connections)."""
    g = gateway()
    g.mocks.reset("anthropic")
    assert active_requests(g, "anthropic") == 0
    data = json.dumps({"model": "claude-3-haiku", "max_tokens": 50, "messages": MSGS,
                       "stream": True}).encode()
    s = socket.create_connection(("127.0.0.1", g.httpd.port), timeout=20)
    s.sendall(rawhttp.request_bytes("POST", "/anthropic/v1/messages", [
        ("x-api-key", g.keys.bob), ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))), ("x-mock-delay-ms", "1000")] + ANTH, data))
    buf = b""
    while b"message_start" not in buf:
        chunk = s.recv(4096)
        assert chunk
        buf += chunk
    assert active_requests(g, "anthropic") == 1
    t_abort = time.time()
    s.close()
    while active_requests(g, "anthropic") > 0 and time.time() - t_abort < 15:
        time.sleep(0.1)
    released = time.time() - t_abort
    assert active_requests(g, "anthropic") == 0
    assert released < 6, "upstream stream still read %.1f s after the client left" % released
    rid = rawhttp.parse(buf, head_only=True).header("x-request-id")
    row = g.row_for(rid)
    assert row["prompt_tokens"] == 36 and row["stream"] is True
    # the pool still serves: 30 requests over 2 keep-alive clients reuse a few connections
    g.mocks.reset("anthropic")
    for _ in range(30):
        st, h, raw = g.call("POST", "/anthropic/v1/messages",
                            {"model": "claude-3-haiku", "max_tokens": 5, "messages": MSGS},
                            key=g.keys.bob, headers=dict(ANTH))
        assert st == 200
    stats = g.mocks.stats("anthropic")
    assert stats["requests"] == 30 and stats["connections"] <= 4, stats


def test_very_slow_client_does_not_hold_up_others(gateway):
    """One client reads a ~6 MB answer 1 byte per 100 ms for 3 s (its receive buffer
    kept small, so the gateway's writes really block); meanwhile 20 other requests are
    answered promptly; then the slow client reads the rest, complete and intact."""
    g = gateway()
    body = {"model": "text-embedding-3-large", "dimensions": 3072,
            "input": ["text number %d" % i for i in range(100)]}
    data = json.dumps(body).encode()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(60)
    s.connect(("127.0.0.1", g.httpd.port))
    s.sendall(rawhttp.request_bytes("POST", "/v1/embeddings", [
        ("Authorization", "Bearer " + g.keys.bob), ("Content-Type", "application/json"),
        ("Content-Length", str(len(data)))], data))
    others, errors = [], []

    def other_requests():
        try:
            for _ in range(20):
                t0 = time.time()
                st, _, _ = g.call("POST", "/v1/chat/completions", {"model": "gpt-4o", "messages": MSGS},
                                  key=g.keys.alice)
                others.append((st, time.time() - t0))
        except Exception as e:   # noqa: BLE001
            errors.append(e)

    got = b""
    t = threading.Thread(target=other_requests)
    t.start()
    end = time.time() + 3
    while time.time() < end:
        got += s.recv(1)
        time.sleep(0.1)
    t.join(60)
    assert not errors and len(others) == 20 and all(st == 200 for st, _ in others), (errors, others)
    assert max(secs for _, secs in others) < 5, others
    while True:
        r = rawhttp.parse(got)
        if r.complete:
            break
        chunk = s.recv(1 << 20)
        assert chunk, "the gateway gave up on the slow client"
        got += chunk
    s.close()
    assert r.status == 200 and len(r.body) > 3000000
    answer = json.loads(r.body)
    assert len(answer["data"]) == 100 and len(answer["data"][99]["embedding"]) == 3072
    row = g.row_for(r.header("x-request-id"))
    assert (row["status"], row["prompt_tokens"], row["total_tokens"]) == (200, 8, 8)


def test_graceful_restart_lets_open_streams_finish(gateway):
    """test_durability covers graceful restarts under short requests; here 40 streams are
    open (~3.3 s each) when `apachectl -k graceful` comes: every one still ends with
    [DONE] and its usage, and new requests are served meanwhile."""
    g = gateway()
    conv = "graceful-" + uuid.uuid4().hex[:10]
    data = json.dumps({"model": "gpt-4o", "messages": MSGS, "stream": True,
                       "stream_options": {"include_usage": True}}).encode()
    req = rawhttp.request_bytes("POST", "/v1/chat/completions", [
        ("Authorization", "Bearer " + g.keys.bob), ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))), ("X-Conversation-Id", conv),
        ("x-mock-delay-ms", "300"), ("Connection", "close")], data)
    out = {}
    t = threading.Thread(target=lambda: out.update(res=run_streams(g.httpd.port, 40, req, 60)))
    t.start()
    time.sleep(1.0)
    g.httpd.graceful()
    st, _, _ = g.call("POST", "/v1/chat/completions", {"model": "gpt-4o", "messages": MSGS},
                      key=g.keys.bob)
    assert st == 200
    t.join(90)
    for raw, _, _ in out["res"]:
        r = rawhttp.parse(raw)
        ev = events(r.body)
        assert r.status == 200 and r.complete and ev[-1] == "[DONE]", raw[-300:]
        assert json.loads(ev[-2])["usage"]["total_tokens"] == 37
    assert len(g.rows("conversation_id = '%s'" % conv, expect=40, timeout=60)) == 40


# ---- spool on a full disk ------------------------------------------------------------

@pytest.fixture
def small_tmpfs():
    """A 256 KiB tmpfs owned by Apache's child user (on a path it can reach: pytest's
    tmp_path is private to root); unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    d = tempfile.mkdtemp(prefix="llmgw-spool-")
    os.chmod(d, 0o755)
    u = child_user()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0750,uid=%d,gid=%d"
                        % (u.pw_uid, u.pw_gid), "tmpfs", str(d)], capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(d)
        pytest.skip("cannot mount a tmpfs here: " + r.stderr.strip())
    yield d
    subprocess.run(["umount", "-l", d])
    os.rmdir(d)


def test_spool_on_a_full_disk(gateway, tmp_path, small_tmpfs):
    """auditd unreachable and the spool a 256 KiB tmpfs: the disk fills up, requests keep
    succeeding, the error log says the spool is full, nothing half-written is left."""
    spool = small_tmpfs
    g = gateway(start=False)
    g.httpd.write_conf(extra="LLMGWAuditSpool %s\nLLMGWAudit unix:%s/nobody.sock\n"
                       % (spool, tmp_path))
    g.httpd.start()
    try:
        failed, lock = [], threading.Lock()

        def client(n):
            import http.client
            conn = http.client.HTTPConnection("127.0.0.1", g.httpd.port, timeout=30)
            for _ in range(n):
                conn.request("POST", "/v1/chat/completions",
                             json.dumps({"model": "gpt-4o", "messages": MSGS}),
                             {"Authorization": "Bearer " + g.keys.bob,
                              "Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    with lock:
                        failed.append(r.status)
            conn.close()

        ths = [threading.Thread(target=client, args=(250,)) for _ in range(6)]
        [t.start() for t in ths]
        [t.join(300) for t in ths]
        assert not failed, failed[:5]
        end = time.time() + 20           # the sender threads' next attempts
        while "is full" not in g.httpd.error_log_text() and time.time() < end:
            time.sleep(0.2)
        # ~1 MB of records for 256 KiB: a batch met ENOSPC (batches are whatever queued
        # up between send attempts, up to 1 MiB, so how full the disk got varies)
        assert "is full" in g.httpd.error_log_text()
        names = os.listdir(spool)
        assert not [n for n in names if n.startswith(".tmp")], names
        for n in names:              # every file that made it is whole NDJSON
            with open(os.path.join(spool, n)) as f:
                for line in f:
                    assert json.loads(line)["request_id"]
    finally:
        g.httpd.stop()


# ---- a thousand streams at once -----------------------------------------------------

N_STREAMS = 1000
MANY = """
ServerLimit 4
ThreadLimit 300
ThreadsPerChild 300
MaxRequestWorkers 1200
StartServers 4
MinSpareThreads 25
MaxSpareThreads 1200
ListenBacklog 2048
"""


def raise_nofile(pid=None, want=16384):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if pid is None:
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        return
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    if soft < want:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (max(want, soft), max(want, hard)))


def run_streams(port, n, request, deadline_s):
    """n connections at once, each sending `request` and reading until the server closes.
    Returns per connection (bytes, time of the first body byte, time of the end)."""
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        st = {"sock": s, "out": request, "in": b"", "first": None, "end": None}
        conns.append(st)
        sel.register(s, selectors.EVENT_WRITE, st)
    open_ = n
    deadline = time.time() + deadline_s
    while open_ and time.time() < deadline:
        for key, mask in sel.select(timeout=1):
            st = key.data
            s = st["sock"]
            if mask & selectors.EVENT_WRITE:
                try:
                    sent = s.send(st["out"])
                except (BlockingIOError, InterruptedError):
                    continue
                st["out"] = st["out"][sent:]
                if not st["out"]:
                    sel.modify(s, selectors.EVENT_READ, st)
                continue
            try:
                chunk = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionError:
                chunk = b""
            if chunk:
                st["in"] += chunk
                if st["first"] is None and b"\r\n\r\n" in st["in"]:
                    st["first"] = time.time()
            else:
                st["end"] = time.time()
                sel.unregister(s)
                s.close()
                open_ -= 1
    for st in conns:
        if st["end"] is None:
            st["sock"].close()
    return [(st["in"], st["first"], st["end"]) for st in conns]


def test_a_thousand_concurrent_streams_on_the_event_mpm(gateway, stack):
    """1,000 clients hold an OpenAI stream open at the same time (each ~6.6 s: 11 events
    600 ms apart). Every one completes with its usage chunk, all were open at once, and
    1,000 audit rows with the full usage land."""
    raise_nofile()                            # this process, and the Apache it starts
    raise_nofile(stack.mocks.proc.pid)        # the mock holds 1,000 upstream connections
    g = gateway(extra=MANY)
    conv = "many-" + uuid.uuid4().hex[:10]
    data = json.dumps({"model": "gpt-4o", "messages": MSGS, "stream": True,
                       "stream_options": {"include_usage": True}}).encode()
    req = rawhttp.request_bytes("POST", "/v1/chat/completions", [
        ("Authorization", "Bearer " + g.keys.bob), ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))), ("X-Conversation-Id", conv),
        ("x-mock-delay-ms", "600"), ("Connection", "close")], data)
    results = run_streams(g.httpd.port, N_STREAMS, req, deadline_s=120)

    bad = []
    spans = []
    for raw, first, end in results:
        r = rawhttp.parse(raw)
        ev = events(r.body)
        ok = r.status == 200 and r.complete and ev and ev[-1] == "[DONE]"
        if ok:
            usage = json.loads(ev[-2]).get("usage") or {}
            ok = usage.get("total_tokens") == 37
        if not ok:
            bad.append((r.status, raw[-300:]))
        else:
            spans.append((first, end))
    assert not bad, "%d of %d streams failed, e.g. %r" % (len(bad), N_STREAMS, bad[:3])
    # the largest number of streams open at one moment
    marks = sorted([(t, 1) for t, _ in spans] + [(t, -1) for _, t in spans])
    peak = cur = 0
    for _, d in marks:
        cur += d
        peak = max(peak, cur)
    assert peak == N_STREAMS, "only %d streams were open at once" % peak
    rows = g.rows("conversation_id = '%s'" % conv, expect=N_STREAMS, timeout=120)
    assert len(rows) == N_STREAMS
    assert {(r["status"], r["prompt_tokens"], r["completion_tokens"], r["total_tokens"])
            for r in rows} == {(200, 25, 12, 37)}
    log = g.httpd.error_log_text()
    assert "MaxRequestWorkers" not in log, log[-2000:]
