"""Hostile requests (issue 8): request smuggling framing, header injection through the
delegate headers, path tricks that try to leave the provider's URL, absolute request
targets naming other hosts, JSON bombs and invalid UTF-8. Each gets a clear answer (in
the provider's format where the module answers), nothing reaches an upstream it should
not, and no child crashes (the error-log check in conftest; ASan in the sanitizer run)."""

import json
import posixpath
import time
import urllib.parse

import pytest

from llmgwtest import rawhttp

CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def send(stack, raw, timeout=60, until_close=False):
    r, data = rawhttp.exchange(stack.httpd.port, raw, timeout=timeout, read_until_close=until_close)
    return r, data


def auth(key):
    return [("Authorization", "Bearer " + key)]


def openai_error(r, status):
    assert r.status == status, r
    err = json.loads(r.body)["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    return err["message"]


# ---- framing: Content-Length against Transfer-Encoding ------------------------------

def test_content_length_and_chunked_together_cannot_smuggle(stack):
    """Both framings at once, and a second request hidden after the chunked body: httpd
    lets Transfer-Encoding win (RFC 9112 §6.3) and closes the connection after the
    answer, so the hidden request is never read; upstream sees one request whose body is
    exactly the chunked payload, sent with its own exact Content-Length."""
    stack.mocks.reset("openai")
    body = json.dumps(CHAT).encode()
    smuggled = rawhttp.request_bytes("GET", "/v1/models", auth(stack.keys.alice))
    raw = rawhttp.request_bytes("POST", "/v1/chat/completions", auth(stack.keys.alice) + [
        ("Content-Type", "application/json"), ("Content-Length", "4"),
        ("Transfer-Encoding", "chunked")],
        b"%x\r\n%s\r\n0\r\n\r\n%s" % (len(body), body, smuggled))
    r, data = send(stack, raw, until_close=True)
    assert r.status in (200, 400), r
    assert data.count(b"HTTP/1.1 ") == 1, "a second response: the hidden request was served"
    if r.status == 200:
        assert r.header("connection", "").lower() == "close"
    seen = stack.mocks.requests("openai")
    assert [q["path"] for q in seen] in ([], ["/v1/chat/completions"]), seen
    for q in seen:
        assert q["body"] == body.decode()
        assert q["headers"].get("content-length") == str(len(body))
        assert "transfer-encoding" not in q["headers"]


@pytest.mark.parametrize("framing", [
    [("Content-Length", "10"), ("Content-Length", "20")],
    [("Content-Length", "10, 20")],
    [("Content-Length", "-1")],
    [("Content-Length", "0x10")],
    [("Transfer-Encoding", "chunked, identity")],
    [("Transfer-Encoding", "xchunked")],
], ids=["two-lengths", "length-list", "negative", "hex", "chunked-not-last", "unknown-coding"])
def test_broken_framing_is_400_before_any_upstream_request(stack, framing):
    stack.mocks.reset("openai")
    body = json.dumps(CHAT).encode()
    raw = rawhttp.request_bytes("POST", "/v1/chat/completions", auth(stack.keys.alice) +
                                [("Content-Type", "application/json")] + framing, body)
    r, data = send(stack, raw, until_close=True)
    assert r.status in (400, 501), r
    assert data.count(b"HTTP/1.1 ") == 1
    assert stack.mocks.requests("openai") == []


# ---- header injection through delegate headers -----------------------------------------

def delegate_call(stack, user_value, extra=()):
    stack.mocks.reset("openai")
    body = json.dumps(CHAT).encode()
    hdrs = auth(stack.keys.librechat) + [
        ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
        (b"X-User-Id", user_value), ("X-User-Email", "u@example.com"),
        ("X-User-Role", "standard")] + list(extra)
    r, data = send(stack, rawhttp.request_bytes("POST", "/v1/chat/completions", hdrs, body),
                   until_close=False)
    return r


@pytest.mark.parametrize("value", [
    b"alice\rX-Injected: 1",
    b"alice\nX-Injected: 1",
    b"al\x00ice",
    b"al\x01ice",
    b"alice\x7f",
    b"\t alice",
], ids=["bare-cr", "bare-lf", "nul", "ctl", "del", "leading-tab"])
def test_control_characters_in_delegate_headers_never_reach_a_record(stack, value):
    r = delegate_call(stack, value)
    assert r.status in (200, 400, 401), r
    if r.status == 401:
        openai_error(r, 401)
    if r.status != 200:
        assert stack.mocks.requests("openai") == []
    rid = r.header("x-request-id")
    if rid:
        row = stack.row_for(rid)
        user = row["user_id"] or ""
        assert not any(c in user for c in "\r\n\x00\x01\x7f"), row
        assert row["roles"] in (None, [], ["standard"]), row
        if r.status == 200:
            # the only way to 200 is a value httpd and the module both take as it is
            assert user == value.decode("latin-1").strip(" \t"), row


def test_a_second_delegate_header_cannot_replace_the_first(stack):
    """CR LF inside a value is a header of its own on the wire: the front end then sent
    X-User-Id twice. httpd joins repeated headers with ", "; the request is never
    attributed to the injected id alone."""
    r = delegate_call(stack, b"alice\r\nX-User-Id: mallory")
    assert r.status in (200, 400, 401), r
    if r.status == 200:
        row = stack.row_for(r.header("x-request-id"))
        assert row["user_id"] != "mallory" and "\r" not in row["user_id"], row


def test_delegate_values_are_escaped_in_records(stack):
    """Values that are legal in a header but hostile in JSON or SQL arrive intact as data:
    quotes and braces stay inside the user id; bytes that are not UTF-8 become U+FFFD."""
    r = delegate_call(stack, b'alice"}{"team":"admin"}')
    assert r.status == 200, r
    row = stack.row_for(r.header("x-request-id"))
    assert row["user_id"] == 'alice"}{"team":"admin"}' and row["team"] != "admin", row
    # a comma is how httpd joins a repeated header: a user id holding one is refused
    r = delegate_call(stack, b'alice","team":"admin","x":"')
    assert r.status == 401, r
    r = delegate_call(stack, b"al\xe9ice'; DROP TABLE llmgw.audit_log; --")
    assert r.status == 200, r
    row = stack.row_for(r.header("x-request-id"))
    assert row["user_id"] == "al\ufffdice'; DROP TABLE llmgw.audit_log; --", row


# ---- paths that try to leave the provider's URL -------------------------------------------

def decoded_normal(path):
    """The path as a standard upstream reads it: the mock records it percent-decoded
    once (what an RFC 3986 server does), then dot segments are removed. (Encodings the
    client doubled, e.g. %252e, arrive as the client sent them; an upstream that decoded
    twice, or took '\\' for '/', could be walked out of /v1: see the issue note.)"""
    return posixpath.normpath(path)


@pytest.mark.parametrize("target", [
    "/v1/../v1/models", "/v1/../etc/passwd", "/v1/./models", "/v1//models",
    "/v1/%2e%2e/etc/passwd", "/v1/%2E%2E/%2E%2E/admin", "/v1/.%2e/admin",
    "/v1/models%2F..%2F..%2Fadmin", "/v1/models/%2e%2e%2f%2e%2e%2fadmin",
    "/v1/%252e%252e/%252e%252e/admin", "/v1/%25252e%25252e/admin",
    "/v1/..%5c..%5cadmin", "/v1/..\\..\\admin", "/v1/%c0%ae%c0%ae/admin",
    "/v1/models?x=/../../admin", "/v1/models#/../../admin", "/v1;/../admin",
    "/v1/models/..;/..;/admin",
])
def test_paths_never_leave_the_provider_url(stack, target):
    stack.mocks.reset("openai")
    r, _ = send(stack, rawhttp.request_bytes("GET", target, auth(stack.keys.alice)))
    assert r.status is not None and r.status < 500, (target, r)
    for q in stack.mocks.requests("openai"):
        p = decoded_normal(q["path"])
        assert p == "/v1" or p.startswith("/v1/"), (target, q["path"])


# ---- request targets naming other hosts ------------------------------------------------

def test_absolute_uri_and_host_tricks_reach_only_the_configured_provider(stack):
    """The gateway is no forward proxy: an absolute URI, a scheme-relative path or a Host
    header naming another server (here: the Anthropic mock) still goes to the route's
    provider or nowhere."""
    other = stack.mocks.ports["anthropic"]
    stack.mocks.reset()
    targets = [
        ("GET", "http://127.0.0.1:%d/v1/models" % other, []),
        ("GET", "http://127.0.0.1:%d/_mock/stats" % other, []),
        ("GET", "//127.0.0.1:%d/v1/models" % other, []),
        ("GET", "/v1/models", [("Host", "127.0.0.1:%d" % other)]),
        ("GET", "/v1/models", [("X-Forwarded-Host", "127.0.0.1:%d" % other)]),
        ("GET", "/v1@127.0.0.1:%d/models" % other, []),
        ("GET", "/v1/models@127.0.0.1:%d" % other, []),
        ("CONNECT", "127.0.0.1:%d" % other, []),
    ]
    for method, target, hdrs in targets:
        r, data = send(stack, rawhttp.request_bytes(method, target, auth(stack.keys.alice) + hdrs))
        assert r.status is not None and r.status != 200 or b'"object"' in data, (target, r)
    assert stack.mocks.requests("anthropic") == []
    assert stack.mocks.stats("anthropic")["requests"] == 0
    for q in stack.mocks.requests("openai"):
        assert q["headers"]["host"] == "127.0.0.1:%d" % stack.mocks.ports["openai"], q
        assert decoded_normal(q["path"]).startswith("/v1/"), q


def test_a_route_at_the_root_is_still_no_open_proxy(gateway):
    """The widest route an operator can write (<Location /> to a type=http provider): any
    request target, absolute or not, still goes to that provider's origin, with its own
    Host; CONNECT is not served."""
    g = gateway(start=False)
    mine, other = g.mocks.ports["openai"], g.mocks.ports["anthropic"]
    g.httpd.write_conf(extra="LLMGWProvider everything type=http url=http://127.0.0.1:%d key=none\n"
                       "<Location />\n  LLMGWRoute everything\n</Location>\n" % mine)
    g.httpd.start()
    g.mocks.reset()
    for method, target in [("GET", "http://127.0.0.1:%d/v1/models" % other),
                           ("GET", "http://evil.example/v1/models"),
                           ("GET", "//127.0.0.1:%d/v1/models" % other),
                           ("GET", "/127.0.0.1:%d/v1/models" % other),
                           ("GET", "/v1/models@127.0.0.1:%d" % other),
                           ("CONNECT", "127.0.0.1:%d" % other),
                           ("OPTIONS", "*")]:
        r, _ = rawhttp.exchange(g.httpd.port, rawhttp.request_bytes(method, target, auth(g.keys.alice)),
                                timeout=20)
        assert r.status is not None, (method, target)
        if method == "CONNECT":
            assert r.status in (400, 403, 405, 501), r
    assert g.mocks.stats("anthropic")["requests"] == 0
    seen = g.mocks.requests("openai")
    assert seen, "nothing reached the configured provider"
    for q in seen:
        assert q["headers"]["host"] == "127.0.0.1:%d" % mine, q


# ---- JSON bombs and bad bytes -----------------------------------------------------------

def post_raw(stack, path, body, extra=(), timeout=120):
    hdrs = auth(stack.keys.alice) + [("Content-Type", "application/json"),
                                     ("Content-Length", str(len(body)))] + list(extra)
    t0 = time.time()
    r, _ = send(stack, rawhttp.request_bytes("POST", path, hdrs, body), timeout=timeout)
    return r, time.time() - t0


def test_deep_nesting_is_400_in_each_provider_format(stack):
    stack.mocks.reset()
    deep = b'{"model":"gpt-4o","messages":' + b"[" * 10000 + b"]" * 10000 + b"}"
    r, secs = post_raw(stack, "/v1/chat/completions", deep)
    assert "nesting deeper than" in openai_error(r, 400)
    assert stack.row_for(r.header("x-request-id"))["status"] == 400
    r, _ = post_raw(stack, "/anthropic/v1/messages", deep.replace(b"gpt-4o", b"claude-3-haiku"),
                    [("anthropic-version", "2023-06-01")])
    assert r.status == 400 and json.loads(r.body)["error"]["type"] == "invalid_request_error"
    r, _ = post_raw(stack, "/google/v1beta/models/gemini-pro:generateContent",
                    b'{"contents":' + b'{"a":' * 10000 + b"1" + b"}" * 10000 + b"}")
    assert r.status == 400 and json.loads(r.body)["error"]["status"] == "INVALID_ARGUMENT"
    # unbalanced: opened and never closed
    r, _ = post_raw(stack, "/v1/chat/completions", b"[" * 100000)
    assert r.status == 400
    for fl in ("openai", "anthropic", "gemini"):
        assert stack.mocks.stats(fl)["requests"] == 0


def test_a_twenty_megabyte_string_is_forwarded_intact(stack):
    stack.mocks.reset("openai")
    text = "A" * (20 * 1024 * 1024)
    body = json.dumps(dict(CHAT, messages=[{"role": "user", "content": text}])).encode()
    r, secs = post_raw(stack, "/v1/chat/completions", body)
    assert r.status in (200, 413), r
    assert secs < 120
    if r.status == 200:
        seen = stack.mocks.requests("openai")
        assert len(seen) == 1 and len(seen[0]["body"]) == len(body)
        assert stack.row_for(r.header("x-request-id"))["prompt_tokens"] == 25


def test_two_hundred_thousand_keys(stack):
    stack.mocks.reset("openai")
    many = dict(CHAT, **{"k%d" % i: i for i in range(200000)})
    body = json.dumps(many, separators=(",", ":")).encode()
    r, secs = post_raw(stack, "/v1/chat/completions", body)
    assert r.status == 200, r
    assert secs < 60, "sanity bound only"
    assert json.loads(stack.mocks.requests("openai")[0]["body"])["k199999"] == 199999
    # the same key 200,000 times: duplicates are refused (jansson would keep the last)
    dup = b'{"model":"gpt-4o","messages":[],' + b'"k":1,' * 200000 + b'"z":0}'
    r, secs = post_raw(stack, "/v1/chat/completions", dup)
    assert "duplicate" in openai_error(r, 400) and secs < 60


@pytest.mark.parametrize("body", [
    b'{"model":"gpt-4o","messages":[{"role":"user","content":"\xff\xfe bad"}]}',
    b'{"model":"gpt-4o","messages":[{"role":"user","content":"\xc0\xaf"}]}',
    b'{"model":"gpt-4o","messages":[{"role":"user","content":"\xed\xa0\x80"}]}',
    b'{"model":"gpt-\xff","messages":[]}',
    b'{"model":"gpt-4o","messages":[{"role":"user","content":"a\x00b"}]}',
    b'{"model":"gpt-4o","stream":true\x00,"messages":[]}',
    b'{"model":"gpt-4o","messages":[{"role":"user","content":"\\ud800"}]}',
    b'{"model":"gpt-4o","n":1e999999,"messages":[]}',
    b'\xef\xbb\xbf{"model":"gpt-4o","messages":[]}',
], ids=["ff-fe", "overlong", "surrogate", "in-model", "raw-nul", "nul-after-literal", "lone-surrogate-escape",
        "huge-number", "bom"])
def test_invalid_utf8_and_bad_bytes_are_400_as_valid_json(stack, body):
    stack.mocks.reset("openai")
    r, _ = post_raw(stack, "/v1/chat/completions", body)
    msg = openai_error(r, 400)          # the error body itself is valid JSON
    assert msg.startswith("malformed JSON") or "JSON" in msg, msg
    assert stack.mocks.stats("openai")["requests"] == 0
    assert stack.row_for(r.header("x-request-id"))["status"] == 400
