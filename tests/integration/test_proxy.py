"""The foundation path: routes, credentials, provider-format errors, streaming hand-off,
connection reuse and one audit row per request in PostgreSQL."""

import http.client
import json
from decimal import Decimal
import os
import subprocess
import time

import pytest

from llmgwtest.stack import APACHE, PROVIDER_KEYS

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]}


def rid(headers):
    v = headers.get("X-Request-Id")
    assert v and len(v) == 32, headers
    return v


def test_openai_chat_record_and_credentials(stack):
    stack.mocks.reset("openai")
    st, h, body = stack.call("POST", "/v1/chat/completions", CHAT, key=stack.keys.alice,
                             headers={"X-Conversation-Id": "conv-1"})
    assert st == 200, body
    assert json.loads(body)["usage"]["prompt_tokens"] == 25
    seen = stack.mocks.requests("openai")
    assert len(seen) == 1
    hdrs = seen[0]["headers"]
    assert hdrs["authorization"] == "Bearer " + PROVIDER_KEYS["openai"]
    assert stack.keys.alice not in json.dumps(seen)
    assert "x-forwarded-for" not in hdrs
    row = stack.row_for(rid(h))
    assert (row["user_id"], row["email"], row["team"]) == ("alice", "alice@example.com", "research")
    assert row["roles"] == ["premium", "developer"]
    assert (row["provider"], row["model"], row["endpoint"]) == ("openai", "gpt-4o", "chat/completions")
    assert (row["status"], row["stream"]) == (200, False)
    assert (row["prompt_tokens"], row["completion_tokens"], row["cached_tokens"],
            row["reasoning_tokens"], row["total_tokens"]) == (25, 12, 5, 3, 37)
    assert row["conversation_id"] == "conv-1"
    # (25-5)*0.0025 + 5*0.00125 + 12*0.01 per 1K tokens, exact
    assert row["cost_usd"] == Decimal("0.00017625")
    assert row["client_ip"] == "127.0.0.1"


def test_upstream_request_id_kept_separately(stack):
    st, h, _ = stack.call("POST", "/v1/chat/completions", CHAT, key=stack.keys.alice)
    assert st == 200
    assert len(h.get_all("X-Request-Id")) == 1
    assert h.get("X-Upstream-Request-Id")


def test_anthropic_and_gemini_records(stack):
    st, h, body = stack.call("POST", "/anthropic/v1/messages",
                             {"model": "claude-3-haiku", "max_tokens": 50,
                              "messages": [{"role": "user", "content": "hi"}]},
                             headers={"x-api-key": stack.keys.alice,
                                      "anthropic-version": "2023-06-01"})
    assert st == 200, body
    row = stack.row_for(rid(h))
    assert (row["provider"], row["model"], row["endpoint"]) == ("anthropic", "claude-3-haiku", "messages")
    assert (row["prompt_tokens"], row["cached_tokens"], row["cache_write_tokens"],
            row["completion_tokens"], row["total_tokens"]) == (36, 9, 7, 15, 51)
    # ((36-9-7)*0.00025 + 9*0.000025 + 7*0.0003 + 15*0.00125) / 1000
    assert row["cost_usd"] == Decimal("0.000026075")
    st, h, body = stack.call("POST", "/google/v1beta/models/gemini-pro:generateContent",
                             {"contents": [{"parts": [{"text": "hi"}]}]},
                             headers={"x-goog-api-key": stack.keys.alice})
    assert st == 200, body
    row = stack.row_for(rid(h))
    assert (row["provider"], row["model"], row["endpoint"]) == ("google", "gemini-pro", "generateContent")
    assert (row["prompt_tokens"], row["completion_tokens"], row["reasoning_tokens"]) == (18, 17, 6)
    assert row["cost_usd"] is None          # no LLMGWPrice for google
    seen = stack.mocks.requests("gemini")[-1]["headers"]
    assert seen["x-goog-api-key"] == PROVIDER_KEYS["gemini"]


def test_gateway_key_in_query_is_not_forwarded(stack):
    stack.mocks.reset("gemini")
    st, h, body = stack.call("POST", "/google/v1beta/models/gemini-pro:generateContent?key=%s&x=1"
                             % stack.keys.alice, {"contents": [{"parts": [{"text": "hi"}]}]})
    assert st == 200, body
    seen = stack.mocks.requests("gemini")
    assert seen[0]["query"] in ("x=1", {"x": ["1"]}, {"x": "1"}), seen[0]["query"]
    assert stack.keys.alice not in json.dumps(seen)


@pytest.mark.parametrize("path,hdrs,check", [
    ("/v1/chat/completions", {}, lambda j: j["error"]["code"] == "invalid_api_key"
     and set(j["error"]) == {"message", "type", "param", "code"}),
    ("/anthropic/v1/messages", {"anthropic-version": "2023-06-01"},
     lambda j: j["type"] == "error" and j["error"]["type"] == "authentication_error"),
    ("/google/v1beta/models/gemini-pro:generateContent", {},
     lambda j: j["error"]["code"] == 401 and j["error"]["status"] == "UNAUTHENTICATED"),
])
@pytest.mark.parametrize("key", [None, "llmgw_wrong"])
def test_bad_credentials_get_401_in_provider_format(stack, path, hdrs, check, key):
    stack.mocks.reset()
    st, h, body = stack.call("POST", path, CHAT, key=key, headers=hdrs)
    assert st == 401
    assert h.get("Content-Type").startswith("application/json")
    assert check(json.loads(body)), body
    assert stack.mocks.stats(path.split("/")[1].replace("v1", "openai").replace("google", "gemini"))["requests"] == 0
    row = stack.row_for(rid(h))
    assert row["status"] == 401 and row["user_id"] is None and row["total_tokens"] == 0


def test_unknown_route_is_404_not_a_proxy(stack):
    for path in ("/nothere/chat/completions", "/v1x/chat/completions", "/v1/../etc/passwd"):
        conn = http.client.HTTPConnection("127.0.0.1", stack.httpd.port, timeout=10)
        conn.request("GET", path, headers={"Authorization": "Bearer " + stack.keys.alice})
        r = conn.getresponse()
        r.read()
        assert r.status in (400, 404), (path, r.status)
        assert r.getheader("X-Request-Id")
        conn.close()
    # an absolute URI names this server, not a destination: it reaches the configured
    # provider (path /v1/models), never example.com
    stack.mocks.reset("openai")
    conn = http.client.HTTPConnection("127.0.0.1", stack.httpd.port, timeout=10)
    conn.request("GET", "http://example.com/v1/models",
                 headers={"Authorization": "Bearer " + stack.keys.alice})
    r = conn.getresponse()
    r.read()
    conn.close()
    assert r.status == 200
    assert [q["path"] for q in stack.mocks.requests("openai")] == ["/v1/models"]


def test_upstream_down_is_502_with_a_record(stack):
    st, h, body = stack.call("POST", "/dead/chat/completions", CHAT, key=stack.keys.alice)
    assert st == 502
    j = json.loads(body)
    assert j["error"]["type"] == "server_error"
    row = stack.row_for(rid(h))
    assert (row["status"], row["provider"], row["user_id"]) == (502, "dead", "alice")


def read_events(resp):
    """Yields (seconds since start, event text) as events arrive."""
    t0 = time.time()
    buf = b""
    while True:
        chunk = resp.read1(65536)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            yield time.time() - t0, ev.decode()


def open_gate(stack, flavour, name):
    import urllib.request
    req = urllib.request.Request(stack.mocks.url(flavour, "/_mock/gate/" + name), data=b"",
                                 method="POST")
    urllib.request.urlopen(req, timeout=10).read()


def stream_through_gate(stack, path, body, flavour, headers):
    """The mock holds the stream after its first event until the test has read that
    event and opens the gate: a gateway that buffered would make the first read time
    out (the mock gives up waiting only after 15 s; the client waits 8 s)."""
    import uuid
    gate = uuid.uuid4().hex
    conn = http.client.HTTPConnection("127.0.0.1", stack.httpd.port, timeout=8)
    conn.request("POST", path, json.dumps(body),
                 dict(headers, **{"Content-Type": "application/json", "x-mock-gate": gate,
                                  "x-mock-delay-ms": "0"}))
    r = conn.getresponse()
    assert r.status == 200
    assert r.getheader("Content-Type").startswith("text/event-stream")
    first = b""
    while b"\n\n" not in first:
        chunk = r.read1(65536)      # raises a timeout if the gateway holds the event back
        assert chunk, first
        first += chunk
    open_gate(stack, flavour, gate)
    rest = r.read()
    conn.close()
    return r, (first + rest).decode()


def test_stream_arrives_event_by_event_and_usage_chunk_is_hidden(stack):
    stack.mocks.reset("openai")
    r, text = stream_through_gate(stack, "/v1/chat/completions", dict(CHAT, stream=True), "openai",
                                  {"Authorization": "Bearer " + stack.keys.alice})
    datas = [e.split("data: ", 1)[1] for e in text.split("\n\n") if "data: " in e]
    assert datas[-1] == "[DONE]"
    chunks = [json.loads(d) for d in datas[:-1]]
    assert all(c["choices"] for c in chunks), "the usage-only chunk reached the client"
    sent = json.loads(stack.mocks.requests("openai")[0]["body"])
    assert sent["stream_options"] == {"include_usage": True}
    row = stack.row_for(r.getheader("X-Request-Id"))
    assert (row["stream"], row["prompt_tokens"], row["completion_tokens"]) == (True, 25, 12)
    assert row["ttft_ms"] <= row["latency_ms"]


@pytest.mark.parametrize("path,body,flavour,hdrs", [
    ("/anthropic/v1/messages", {"model": "claude-3-haiku", "max_tokens": 50, "stream": True,
                                "messages": [{"role": "user", "content": "hi"}]}, "anthropic",
     {"anthropic-version": "2023-06-01"}),
    ("/google/v1beta/models/gemini-pro:streamGenerateContent?alt=sse",
     {"contents": [{"parts": [{"text": "hi"}]}]}, "gemini", {}),
    ("/v1/responses", {"model": "gpt-4o", "input": "hi", "stream": True}, "openai", {}),
])
def test_every_provider_streams_without_buffering(stack, path, body, flavour, hdrs):
    r, text = stream_through_gate(stack, path, body, flavour,
                                  dict(hdrs, Authorization="Bearer " + stack.keys.alice))
    assert text.count("\n\n") >= 3
    row = stack.row_for(r.getheader("X-Request-Id"))
    assert row["stream"] is True and row["total_tokens"] > 0


def test_stream_usage_chunk_kept_when_client_asked(stack):
    body = dict(CHAT, stream=True, stream_options={"include_usage": True})
    st, h, raw = stack.call("POST", "/v1/chat/completions", body, key=stack.keys.alice)
    assert st == 200
    datas = [l[6:] for l in raw.decode().split("\n") if l.startswith("data: ")]
    last = json.loads(datas[-2])
    assert last["choices"] == [] and last["usage"]["total_tokens"] == 37


def test_upstream_connections_are_reused(stack):
    stack.mocks.reset("openai")
    conn = http.client.HTTPConnection("127.0.0.1", stack.httpd.port, timeout=30)
    hdrs = {"Authorization": "Bearer " + stack.keys.alice, "Content-Type": "application/json"}
    for _ in range(200):
        conn.request("POST", "/v1/chat/completions", json.dumps(CHAT), hdrs)
        r = conn.getresponse()
        r.read()
        assert r.status == 200
    conn.close()
    stats = stack.mocks.stats("openai")
    assert stats["requests"] == 200
    # one pooled connection per httpd child at most, never one per request
    assert stats["connections"] <= 4, stats


def test_large_body_is_replayed_exactly(stack):
    stack.mocks.reset("openai")
    text = "x" * 200000
    body = dict(CHAT, messages=[{"role": "user", "content": text}])
    st, h, raw = stack.call("POST", "/v1/chat/completions", body, key=stack.keys.alice)
    assert st == 200, raw
    seen = stack.mocks.requests("openai")[0]
    assert json.loads(seen["body"])["messages"][0]["content"] == text
    assert seen["headers"].get("content-length") == str(len(seen["body"].encode()))
    assert "transfer-encoding" not in seen["headers"]


def test_chunked_body_goes_upstream_with_its_length(stack):
    # no Content-Length from the client: the replay must give mod_proxy_http one; and a
    # client's length that still holds is forwarded as sent
    stack.mocks.reset("openai")
    raw = json.dumps(dict(CHAT, user="chunked")).encode()
    st, h, out = stack.call("POST", "/v1/chat/completions", iter([raw[:10], raw[10:]]),
                            key=stack.keys.alice, headers={"Transfer-Encoding": "chunked"})
    assert st == 200, out
    st, h, out = stack.call("POST", "/v1/chat/completions", raw, key=stack.keys.alice)
    assert st == 200, out
    seen = stack.mocks.requests("openai")
    assert len(seen) == 2
    for s in seen:
        assert s["body"].encode() == raw
        assert s["headers"].get("content-length") == str(len(raw))
        assert "transfer-encoding" not in s["headers"]


def test_body_over_limit_is_413_and_malformed_json_400(stack):
    import socket
    with socket.create_connection(("127.0.0.1", stack.httpd.port), timeout=10) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                  b"Authorization: Bearer " + stack.keys.alice.encode() +
                  b"\r\nContent-Type: application/json\r\nContent-Length: 40000000\r\n\r\n")
        resp = b""
        while b"\r\n\r\n" not in resp or not resp.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            resp += chunk
    head, _, payload = resp.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), head
    assert json.loads(payload)["error"]["message"].startswith("request body larger")
    st, h, raw = stack.call("POST", "/v1/chat/completions", b'{"model": "gpt-4o", ',
                            key=stack.keys.alice)
    assert st == 400
    assert "malformed JSON" in json.loads(raw)["error"]["message"]
    assert stack.row_for(rid(h))["status"] == 400


def test_bad_directive_fails_configtest_with_file_and_line(stack, tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text(open(stack.httpd.conf).read() +
                    "\nLLMGWProvider broken type=nonsense url=http://127.0.0.1:1 key=none\n")
    r = subprocess.run([APACHE, "-t", "-f", str(conf)], capture_output=True, text=True,
                       env=stack.httpd.env())
    assert r.returncode != 0
    assert "unknown provider type 'nonsense'" in r.stderr
    assert str(conf) in r.stderr and "line" in r.stderr
    conf.write_text(open(stack.httpd.conf).read() +
                    "\n<Location /x>\nLLMGWRoute nosuch\n</Location>\n")
    r = subprocess.run([APACHE, "-t", "-f", str(conf)], capture_output=True, text=True,
                       env=stack.httpd.env())
    assert r.returncode != 0
    assert "unknown provider 'nosuch'" in r.stderr and str(conf) in r.stderr


def test_shipped_snippet_passes_configtest(stack):
    r = stack.httpd.configtest()
    assert r.returncode == 0, r.stderr
