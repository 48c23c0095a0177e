"""Model, tool and content policy (SPEC §4, §6): LLMGWAllowModels per role on every
provider (Azure by deployment), model lists filtered per caller with their paging kept,
LLMGWAllowTools in the four tool shapes (reject and strip) and on plugin routes,
LLMGWRedact visible in what the mock provider received for every message shape,
LLMGWBlock naming the rule and never the text, merging into <Location> sections, bad
input (415, 413, nesting depth, malformed JSON) in each provider's format and audited,
configuration errors, and the official SDKs raising their permission errors."""

import base64
import json
import os
import shutil
import socket
import subprocess
import uuid

import pytest

from llmgwtest.stack import APACHE, ROOT

# alice: roles premium, developer (team research); bob: role standard (team sales)
POLICY = r"""
LLMGWAllowModels role:premium  gpt-4* claude-3-opus* claude-sonnet-4* gemini-2.5-*
LLMGWAllowModels role:standard gpt-3.5* claude-3-haiku* gemini-pro gemini-2.0-flash
LLMGWAllowModels *             text-embedding-*
LLMGWAllowTools  *              web-search get_weather googleSearch web_search_preview web_search
LLMGWAllowTools  role:developer code-interpreter code_interpreter codeExecution run_*
LLMGWRedact pii-protection "\b\d{3}-\d{2}-\d{4}\b" "\b\d{16}\b"
LLMGWBlock  block-sensitive-topics "confidential" "internal only"
LLMGWMaxBody 1048576

LLMGWProvider web-search type=http url=http://127.0.0.1:%(openai)d key=none
LLMGWProvider code-interpreter type=http url=http://127.0.0.1:%(anthropic)d key=none
<Location /plugins/web-search>
  LLMGWRoute web-search
</Location>
<Location /plugins/code-interpreter>
  LLMGWRoute code-interpreter
</Location>

# the same providers with forbidden tools stripped instead of refused
<Location /strip>
  LLMGWRoute openai
  LLMGWToolPolicy strip
</Location>
<Location /strip-anthropic>
  LLMGWRoute anthropic
  LLMGWToolPolicy strip
</Location>
<Location /strip-google>
  LLMGWRoute google
  LLMGWToolPolicy strip
</Location>

# a route with its own rules: model rules replace the server's, content rules add up,
# a rule of the same name replaces the server's
<Location /lab>
  LLMGWRoute openai
  LLMGWAllowModels user:bob o3-mini
  LLMGWRedact email "[a-z]+@example\.com"
  LLMGWBlock block-sensitive-topics "forbidden-word"
</Location>
"""

ALICE_MODELS = {
    "openai": ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "text-embedding-3-small",
               "text-embedding-3-large"],
    "anthropic": ["claude-sonnet-4-20250514", "claude-3-opus-20240229"],
    "gemini": ["gemini-2.5-pro", "gemini-2.5-flash", "text-embedding-004"],
}
BOB_MODELS = {
    "openai": ["gpt-3.5-turbo", "text-embedding-3-small", "text-embedding-3-large"],
    "anthropic": ["claude-3-haiku-20240307"],
    "gemini": ["gemini-2.0-flash", "gemini-pro", "text-embedding-004"],
}

SSN, CARD = "123-45-6789", "4111111111111111"
R = "[REDACTED:pii-protection]"
AV = {"anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def gw(stack):
    g = stack.gateway(extra=POLICY % stack.mocks.ports)
    yield g
    log = g.httpd.error_log_text()
    g.close()
    for bad in ("Segmentation fault", "exit signal", "AddressSanitizer", "runtime error:"):
        assert bad not in log, log[-3000:]


def rid(headers):
    v = headers.get("X-Request-Id")
    assert v and len(v) == 32, headers
    return v


def marker():
    return "m" + uuid.uuid4().hex[:12]


def received(stack, flavour, mark):
    """The one request the mock received whose body carries mark."""
    got = [r for r in stack.mocks.requests(flavour) if mark in (r.get("body") or "")]
    assert len(got) == 1, (mark, len(got))
    return got[0]


def not_received(stack, flavour, mark):
    assert not [r for r in stack.mocks.requests(flavour) if mark in (r.get("body") or "")]


def err(flavour, raw):
    """(status-ish type, message) of a provider-format error body."""
    b = json.loads(raw)
    if flavour == "anthropic":
        assert b["type"] == "error"
        return b["error"]["type"], b["error"]["message"]
    if flavour == "gemini":
        return b["error"]["status"], b["error"]["message"]
    return b["error"]["type"], b["error"]["message"]


def chat(model, content, **kw):
    return dict({"model": model, "messages": [{"role": "user", "content": content}]}, **kw)


def anthropic_msg(model, content, **kw):
    return dict({"model": model, "max_tokens": 16,
                 "messages": [{"role": "user", "content": content}]}, **kw)


def gemini_body(text, **kw):
    return dict({"contents": [{"role": "user", "parts": [{"text": text}]}]}, **kw)


def gemini_path(model, method="generateContent"):
    return "/google/v1beta/models/%s:%s" % (model, method)


# ---- models ---------------------------------------------------------------------------

@pytest.mark.parametrize("flavour,path,body,ok_key,denied_key,model", [
    ("openai", "/v1/chat/completions", chat("gpt-4o", "hi"), "alice", "bob", "gpt-4o"),
    ("openai", "/v1/chat/completions", chat("gpt-3.5-turbo", "hi"), "bob", "alice",
     "gpt-3.5-turbo"),
    ("openai", "/v1/responses", {"model": "gpt-4.1", "input": "hi"}, "alice", "bob", "gpt-4.1"),
    ("anthropic", "/anthropic/v1/messages", anthropic_msg("claude-3-opus-20240229", "hi"),
     "alice", "bob", "claude-3-opus-20240229"),
    ("anthropic", "/anthropic/v1/messages", anthropic_msg("claude-3-haiku-20240307", "hi"),
     "bob", "alice", "claude-3-haiku-20240307"),
    ("gemini", gemini_path("gemini-2.5-pro"), gemini_body("hi"), "alice", "bob",
     "gemini-2.5-pro"),
    ("gemini", gemini_path("gemini-2.0-flash"), gemini_body("hi"), "bob", "alice",
     "gemini-2.0-flash"),
    ("azure", "/azure/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
     {"messages": [{"role": "user", "content": "hi"}]}, "alice", "bob", "gpt-4o"),
])
def test_model_allowed_and_denied_per_role(stack, gw, flavour, path, body, ok_key,
                                           denied_key, model):
    hdrs = AV if flavour == "anthropic" else {}
    st, h, raw = gw.call("POST", path, body, key=getattr(stack.keys, ok_key), headers=hdrs)
    assert st == 200, raw
    st, h, raw = gw.call("POST", path, body, key=getattr(stack.keys, denied_key), headers=hdrs)
    assert st == 403, raw
    kind, msg = err(flavour, raw)
    assert kind in ("permission_error", "PERMISSION_DENIED"), raw
    assert "model '%s' is not allowed" % model in msg
    row = gw.row_for(rid(h))
    assert (row["status"], row["model"], row["user_id"]) == (403, model, denied_key)


def test_embeddings_allowed_for_everyone_and_unknown_models_denied(stack, gw):
    for k in (stack.keys.alice, stack.keys.bob):
        st, _, raw = gw.call("POST", "/v1/embeddings",
                             {"model": "text-embedding-3-small", "input": "x"}, key=k)
        assert st == 200, raw
    st, _, raw = gw.call("POST", "/v1/chat/completions", chat("o3-mini", "hi"),
                         key=stack.keys.alice)
    assert st == 403 and "o3-mini" in err("openai", raw)[1]


def test_model_description_is_gated_like_the_model(stack, gw):
    assert gw.call("GET", "/v1/models/gpt-4o", key=stack.keys.alice)[0] == 200
    st, _, raw = gw.call("GET", "/v1/models/gpt-4o", key=stack.keys.bob)
    assert st == 403 and "gpt-4o" in err("openai", raw)[1]
    assert gw.call("GET", "/anthropic/v1/models/claude-3-haiku-20240307", key=stack.keys.bob,
                   headers=AV)[0] == 200
    assert gw.call("GET", "/anthropic/v1/models/claude-3-opus-20240229", key=stack.keys.bob,
                   headers=AV)[0] == 403
    assert gw.call("GET", "/google/v1beta/models/gemini-pro", key=stack.keys.bob)[0] == 200
    assert gw.call("GET", "/google/v1beta/models/gemini-2.5-pro", key=stack.keys.bob)[0] == 403


def test_a_body_without_a_model_or_with_a_strange_one(stack, gw):
    # a route that lists its models does not serve requests naming none
    st, _, raw = gw.call("POST", "/v1/chat/completions",
                         {"messages": [{"role": "user", "content": "hi"}]}, key=stack.keys.alice)
    assert st == 403 and "names none" in err("openai", raw)[1]
    st, _, raw = gw.call("POST", "/v1/chat/completions", chat(["gpt-4o"], "hi"),
                         key=stack.keys.alice)
    assert st == 400
    # an embedded NUL must not let "gpt-4o\0..." pass as "gpt-4o"
    st, _, raw = gw.call("POST", "/v1/chat/completions",
                         b'{"model":"gpt-4o\\u0000x","messages":[]}', key=stack.keys.alice)
    assert st == 400, raw
    # a name spelled with escapes is the name the provider reads: the same verdicts
    msgs = b'"messages":[{"role":"user","content":"hi"}]}'
    plain, escaped = b'{"model":"gpt-4o",' + msgs, b'{"model":"gpt\\u002d4o",' + msgs
    got = [(gw.call("POST", "/v1/chat/completions", plain, key=k)[0],
            gw.call("POST", "/v1/chat/completions", escaped, key=k)[0])
           for k in (stack.keys.alice, stack.keys.bob)]
    assert got == [(200, 200), (403, 403)], got


def test_route_without_rules_allows_every_model(stack):
    # the session gateway has no LLMGWAllowModels at all
    st, _, raw = stack.call("POST", "/v1/chat/completions", chat("o3-mini", "hi"),
                            key=stack.keys.bob)
    assert st == 200, raw


def test_location_rules_replace_model_rules_and_add_content_rules(stack, gw):
    assert gw.call("POST", "/lab/chat/completions", chat("o3-mini", "hi"),
                   key=stack.keys.bob)[0] == 200
    # the server's rules do not reach into /lab: bob's gpt-3.5 and alice's gpt-4o are out
    assert gw.call("POST", "/lab/chat/completions", chat("gpt-3.5-turbo", "hi"),
                   key=stack.keys.bob)[0] == 403
    assert gw.call("POST", "/lab/chat/completions", chat("gpt-4o", "hi"),
                   key=stack.keys.alice)[0] == 403
    # server pii-protection plus the route's email rule
    m = marker()
    st, h, raw = gw.call("POST", "/lab/chat/completions",
                         chat("o3-mini", "%s %s mail bob@example.com" % (m, SSN)),
                         key=stack.keys.bob)
    assert st == 200, raw
    seen = json.loads(received(stack, "openai", m)["body"])
    assert seen["messages"][0]["content"] == "%s %s mail [REDACTED:email]" % (m, R)
    assert gw.row_for(rid(h))["redactions"] == 2
    # the route's block rule of the same name replaced the server's patterns
    assert gw.call("POST", "/lab/chat/completions", chat("o3-mini", "confidential"),
                   key=stack.keys.bob)[0] == 200
    st, _, raw = gw.call("POST", "/lab/chat/completions", chat("o3-mini", "a forbidden-word"),
                         key=stack.keys.bob)
    assert st == 400 and "block-sensitive-topics" in raw.decode()


# ---- model lists -------------------------------------------------------------------------

def test_openai_model_list_per_role(stack, gw):
    for who, want in (("alice", ALICE_MODELS), ("bob", BOB_MODELS)):
        st, h, raw = gw.call("GET", "/v1/models", key=getattr(stack.keys, who))
        assert st == 200, raw
        assert int(h["Content-Length"]) == len(raw)
        body = json.loads(raw)
        assert body["object"] == "list"
        assert [m["id"] for m in body["data"]] == want["openai"], who
        assert all(m["object"] == "model" and m["owned_by"] for m in body["data"])
    # without rules the provider's list passes as it is
    st, _, raw = stack.call("GET", "/v1/models", key=stack.keys.bob)
    assert len(json.loads(raw)["data"]) == 7


def test_anthropic_model_list_one_filtered_page_paging_kept(stack, gw):
    """A small page could filter to nothing in the middle of the list, where the SDKs stop
    paging: the gateway asks for the provider's largest page (limit=1000) and filters that;
    paging fields stay the provider's, and after_id still works."""
    for who, want in (("alice", ALICE_MODELS), ("bob", BOB_MODELS)):
        st, h, raw = gw.call("GET", "/anthropic/v1/models?limit=2", key=getattr(stack.keys, who),
                             headers=AV)
        assert st == 200, raw
        assert int(h["Content-Length"]) == len(raw)
        body = json.loads(raw)
        assert [m["id"] for m in body["data"]] == want["anthropic"], who
        assert (body["has_more"], body["first_id"], body["last_id"]) == (
            False, "claude-sonnet-4-20250514", "claude-3-haiku-20240307")
    st, _, raw = gw.call("GET", "/anthropic/v1/models?after_id=claude-3-7-sonnet-20250219",
                         key=stack.keys.alice, headers=AV)
    body = json.loads(raw)
    assert [m["id"] for m in body["data"]] == ["claude-3-opus-20240229"]
    assert body["first_id"] == "claude-3-5-haiku-20241022"
    seen = [r for r in stack.mocks.requests("anthropic") if r["path"] == "/v1/models"][-1]
    assert seen["params"] == {"after_id": "claude-3-7-sonnet-20250219", "limit": "1000"} or \
        seen["query"] == "after_id=claude-3-7-sonnet-20250219&limit=1000", seen


def test_gemini_model_list_one_filtered_page_paging_kept(stack, gw):
    for who, want in (("alice", ALICE_MODELS), ("bob", BOB_MODELS)):
        st, h, raw = gw.call("GET", "/google/v1beta/models?pageSize=3",
                             key=getattr(stack.keys, who))
        assert st == 200, raw
        body = json.loads(raw)
        assert [m["name"] for m in body["models"]] == ["models/" + m for m in want["gemini"]]
        assert "nextPageToken" not in body
    # a page token from the provider (offset 5) still pages from there
    token = base64.urlsafe_b64encode(b"offset:5").decode().rstrip("=")
    st, _, raw = gw.call("GET", "/google/v1beta/models?pageToken=" + token, key=stack.keys.bob)
    assert [m["name"] for m in json.loads(raw)["models"]] == ["models/text-embedding-004"]


def test_model_list_errors_pass_untouched(stack, gw):
    st, _, raw = gw.call("GET", "/anthropic/v1/models?after_id=nosuch", key=stack.keys.bob,
                         headers=AV)
    assert st == 400 and "after_id: unknown model id" in raw.decode(), raw


# ---- tools --------------------------------------------------------------------------------

def fn_tool(name):
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}


TOOL_CASES = [
    # flavour, path, body with get_weather (everyone) and run_sql (developers), tool names
    ("openai-chat", "/v1/chat/completions",
     lambda m: chat("gpt-3.5-turbo", m, tools=[fn_tool("get_weather"), fn_tool("run_sql")],
                    tool_choice={"type": "function", "function": {"name": "run_sql"}})),
    ("openai-responses", "/v1/responses",
     lambda m: {"model": "gpt-3.5-turbo", "input": m,
                "tools": [{"type": "function", "name": "get_weather", "parameters": {}},
                          {"type": "code_interpreter", "container": {"type": "auto"}}]}),
    ("anthropic", "/anthropic/v1/messages",
     lambda m: anthropic_msg("claude-3-haiku-20240307", m,
                             tools=[{"name": "get_weather", "input_schema": {"type": "object"}},
                                    {"name": "run_sql", "input_schema": {"type": "object"}}],
                             tool_choice={"type": "tool", "name": "run_sql"})),
    ("gemini", gemini_path("gemini-2.0-flash"),
     lambda m: gemini_body(m, tools=[{"functionDeclarations": [{"name": "get_weather"},
                                                               {"name": "run_sql"}]},
                                     {"codeExecution": {}}],
                           toolConfig={"functionCallingConfig": {
                               "mode": "ANY", "allowedFunctionNames": ["run_sql"]}})),
]
FLAVOUR = {"openai-chat": "openai", "openai-responses": "openai", "anthropic": "anthropic",
           "gemini": "gemini"}
DENIED = {"openai-chat": "run_sql", "openai-responses": "code_interpreter",
          "anthropic": "run_sql", "gemini": "run_sql"}
STRIP_PREFIX = {"/v1": "/strip", "/anthropic": "/strip-anthropic", "/google": "/strip-google"}


@pytest.mark.parametrize("case", TOOL_CASES, ids=[c[0] for c in TOOL_CASES])
def test_tools_rejected_for_bob_allowed_for_alice(stack, gw, case):
    shape, path, make = case
    flavour = FLAVOUR[shape]
    hdrs = AV if flavour == "anthropic" else {}
    m = marker()
    st, h, raw = gw.call("POST", path, make(m), key=stack.keys.bob, headers=hdrs)
    assert st == 403, raw
    kind, msg = err(flavour, raw)
    assert "tool '%s' is not allowed" % DENIED[shape] in msg
    not_received(stack, flavour, m)
    assert gw.row_for(rid(h))["status"] == 403
    # alice is a developer, but may not use bob's standard models: give her the tools on
    # a model she may use
    body = make(m)
    if "model" in body:
        body["model"] = {"openai": "gpt-4o", "anthropic": "claude-3-opus-20240229"}[flavour]
    p = path.replace("gemini-2.0-flash", "gemini-2.5-pro")
    st, h, raw = gw.call("POST", p, body, key=stack.keys.alice, headers=hdrs)
    assert st == 200, raw
    seen = json.loads(received(stack, flavour, m)["body"])
    assert seen.get("tools") == body["tools"]


@pytest.mark.parametrize("case", TOOL_CASES, ids=[c[0] for c in TOOL_CASES])
def test_tools_stripped_on_strip_routes(stack, gw, case):
    shape, path, make = case
    flavour = FLAVOUR[shape]
    hdrs = AV if flavour == "anthropic" else {}
    prefix = "/" + path.split("/")[1]
    m = marker()
    st, h, raw = gw.call("POST", STRIP_PREFIX[prefix] + path[len(prefix):], make(m),
                         key=stack.keys.bob, headers=hdrs)
    assert st == 200, raw
    rec = received(stack, flavour, m)
    assert int(rec["headers"]["content-length"]) == len(rec["body"].encode())
    seen = json.loads(rec["body"])
    if shape == "openai-chat":
        assert seen["tools"] == [fn_tool("get_weather")]
        assert "tool_choice" not in seen
    elif shape == "openai-responses":
        assert seen["tools"] == [{"type": "function", "name": "get_weather", "parameters": {}}]
    elif shape == "anthropic":
        assert seen["tools"] == [{"name": "get_weather", "input_schema": {"type": "object"}}]
        assert "tool_choice" not in seen
    else:
        assert seen["tools"] == [{"functionDeclarations": [{"name": "get_weather"}]}]
        assert seen["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


def test_plugin_routes_gated_by_tool_rules(stack, gw):
    # web-search: everyone; code-interpreter: role:developer
    for k in (stack.keys.alice, stack.keys.bob):
        st, _, raw = gw.call("GET", "/plugins/web-search/_mock/stats", key=k)
        assert st == 200, raw
    st, _, raw = gw.call("GET", "/plugins/code-interpreter/_mock/stats", key=stack.keys.alice)
    assert st == 200, raw
    st, h, raw = gw.call("POST", "/plugins/code-interpreter/run", b"print(1)",
                         key=stack.keys.bob, headers={"Content-Type": "text/x-python"})
    assert st == 403, raw
    assert "tool 'code-interpreter' is not allowed" in json.loads(raw)["error"]["message"]
    row = gw.row_for(rid(h))
    assert (row["status"], row["user_id"], row["provider"]) == (403, "bob", "code-interpreter")
    # no key, no plugin
    assert gw.call("GET", "/plugins/web-search/_mock/stats")[0] == 401


# ---- redaction ------------------------------------------------------------------------------

def test_redaction_openai_chat_shapes(stack, gw):
    m = marker()
    img = "data:image/png;base64," + base64.b64encode(SSN.encode()).decode() + SSN
    body = {"model": "gpt-3.5-turbo", "temperature": 0.7, "messages": [
        {"role": "system", "content": "%s system %s" % (m, SSN)},
        {"role": "user", "content": [{"type": "text", "text": "card %s" % CARD},
                                     {"type": "image_url", "image_url": {"url": img}}]},
        {"role": "assistant", "content": None, "tool_calls": [{
            "id": "c1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"q\": \"%s\"}" % SSN}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "tool said %s" % SSN}]}
    st, h, raw = gw.call("POST", "/v1/chat/completions", body, key=stack.keys.bob)
    assert st == 200, raw
    rec = received(stack, "openai", m)
    assert int(rec["headers"]["content-length"]) == len(rec["body"].encode())
    seen = json.loads(rec["body"])
    msgs = seen["messages"]
    assert msgs[0]["content"] == "%s system %s" % (m, R)
    assert msgs[1]["content"][0]["text"] == "card " + R
    assert msgs[1]["content"][1] == {"type": "image_url", "image_url": {"url": img}}
    assert msgs[2]["tool_calls"] == body["messages"][2]["tool_calls"]
    assert msgs[3]["content"] == "tool said " + R
    assert seen["temperature"] == 0.7
    assert SSN not in json.dumps(msgs[0]) + json.dumps(msgs[3])
    row = gw.row_for(rid(h))
    assert (row["redactions"], row["blocked_rule"], row["status"]) == (3, None, 200)


def test_redaction_with_stream_usage_splice(stack, gw):
    """The include_usage splice works on the redacted body: both reach the provider, the
    client sees no usage chunk, the record has the usage."""
    m = marker()
    st, h, raw = gw.call("POST", "/v1/chat/completions",
                         chat("gpt-3.5-turbo", "%s %s" % (m, SSN), stream=True),
                         key=stack.keys.bob)
    assert st == 200, raw
    rec = received(stack, "openai", m)
    seen = json.loads(rec["body"])
    assert seen["messages"][0]["content"] == "%s %s" % (m, R)
    assert seen["stream_options"] == {"include_usage": True}
    assert int(rec["headers"]["content-length"]) == len(rec["body"].encode())
    assert b'"usage":{' not in raw
    row = gw.row_for(rid(h))
    assert (row["redactions"], row["prompt_tokens"], row["total_tokens"]) == (1, 25, 37)


def test_redaction_changes_only_the_redacted_strings(stack, gw):
    """Whitespace, number spellings, escapes and member order outside the redacted
    string reach the provider byte for byte; the redacted string is decoded, redacted
    and encoded again."""
    m = marker()
    body = ('{ "model" : "gpt-3.5-turbo",\n  "temperature": 1.0E0, "top_p": 0.50,\n'
            '  "messages": [ {"role": "system", "content": "caf\\u00e9 \\"%s\\""},\n'
            '    {"role": "user", "content": "%s call \\u0031\\u0032\\u0033-45-6789\\n"} ],'
            '\n  "user": "x" }') % (m, m)
    want = body.replace('"%s call \\u0031\\u0032\\u0033-45-6789\\n"' % m,
                        '"%s call %s\\n"' % (m, R))
    assert want != body
    st, h, raw = gw.call("POST", "/v1/chat/completions", body.encode(), key=stack.keys.bob)
    assert st == 200, raw
    rec = received(stack, "openai", m)
    assert rec["body"] == want
    assert int(rec["headers"]["content-length"]) == len(want.encode())
    assert gw.row_for(rid(h))["redactions"] == 1


def test_tools_stripped_then_texts_redacted(stack, gw):
    """A strip route with content rules: the forbidden tool goes, the text is redacted,
    both in the one body the provider gets."""
    m = marker()
    body = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "%s %s" % (m, SSN)}],
            "tools": [fn_tool("get_weather"), fn_tool("code_interpreter")]}
    st, h, raw = gw.call("POST", "/strip/chat/completions", body, key=stack.keys.bob)
    assert st == 200, raw
    rec = received(stack, "openai", m)
    seen = json.loads(rec["body"])
    assert seen["tools"] == [fn_tool("get_weather")]
    assert seen["messages"][0]["content"] == "%s %s" % (m, R)
    assert int(rec["headers"]["content-length"]) == len(rec["body"].encode())
    assert gw.row_for(rid(h))["redactions"] == 1


def test_redaction_then_stream_options_edited_in_the_tree(stack, gw):
    """A client that sends stream_options without include_usage: the gateway edits that
    object in a tree built from the already redacted body, so the provider gets both the
    redaction and include_usage, and nothing else of the body changes."""
    m = marker()
    st, h, raw = gw.call("POST", "/v1/chat/completions",
                         chat("gpt-3.5-turbo", "%s %s" % (m, SSN), stream=True,
                              stream_options={"include_usage": False}, temperature=0.25),
                         key=stack.keys.bob)
    assert st == 200, raw
    rec = received(stack, "openai", m)
    seen = json.loads(rec["body"])
    assert seen["messages"][0]["content"] == "%s %s" % (m, R)
    assert seen["stream_options"] == {"include_usage": True}
    assert seen["temperature"] == 0.25 and seen["model"] == "gpt-3.5-turbo"
    assert SSN not in rec["body"]
    assert int(rec["headers"]["content-length"]) == len(rec["body"].encode())
    assert b'"usage":{' not in raw
    row = gw.row_for(rid(h))
    assert (row["redactions"], row["prompt_tokens"], row["total_tokens"]) == (1, 25, 37)


def test_redaction_openai_responses_shapes(stack, gw):
    m = marker()
    st, h, raw = gw.call("POST", "/v1/responses",
                         {"model": "gpt-3.5-turbo", "instructions": "%s ins %s" % (m, SSN),
                          "input": "plain %s" % SSN}, key=stack.keys.bob)
    assert st == 200, raw
    seen = json.loads(received(stack, "openai", m)["body"])
    assert (seen["instructions"], seen["input"]) == ("%s ins %s" % (m, R), "plain " + R)
    m = marker()
    items = [
        {"role": "user", "content": "%s s %s" % (m, SSN)},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "t " + CARD},
            {"type": "input_image", "image_url": "https://img.example/" + SSN}]},
        {"type": "function_call", "call_id": "c", "name": "get_weather", "arguments": SSN},
        {"type": "function_call_output", "call_id": "c", "output": "o " + SSN}]
    st, h, raw = gw.call("POST", "/v1/responses", {"model": "gpt-3.5-turbo", "input": items},
                         key=stack.keys.bob)
    assert st == 200, raw
    seen = json.loads(received(stack, "openai", m)["body"])["input"]
    assert seen[0]["content"] == "%s s %s" % (m, R)
    assert seen[1]["content"][0]["text"] == "t " + R
    assert seen[1]["content"][1] == items[1]["content"][1]
    assert seen[2] == items[2]
    assert seen[3]["output"] == "o " + R
    assert gw.row_for(rid(h))["redactions"] == 3


def test_redaction_anthropic_shapes(stack, gw):
    m = marker()
    st, h, raw = gw.call("POST", "/anthropic/v1/messages",
                         anthropic_msg("claude-3-haiku-20240307", "plain " + SSN,
                                       system="%s sys %s" % (m, SSN)),
                         key=stack.keys.bob, headers=AV)
    assert st == 200, raw
    seen = json.loads(received(stack, "anthropic", m)["body"])
    assert seen["system"] == "%s sys %s" % (m, R)
    assert seen["messages"][0]["content"] == "plain " + R
    m = marker()
    png = base64.b64encode(b"\x89PNG " + SSN.encode()).decode()
    msgs = [
        {"role": "user", "content": [
            {"type": "text", "text": "b " + SSN},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": png}}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {"q": SSN}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "r " + CARD},
            {"type": "tool_result", "tool_use_id": "t2", "content": [
                {"type": "text", "text": "rb " + SSN}]}]}]
    body = {"model": "claude-3-haiku-20240307", "max_tokens": 16, "messages": msgs,
            "system": [{"type": "text", "text": "%s blocks %s" % (m, SSN),
                        "cache_control": {"type": "ephemeral"}}]}
    st, h, raw = gw.call("POST", "/anthropic/v1/messages", body, key=stack.keys.bob, headers=AV)
    assert st == 200, raw
    seen = json.loads(received(stack, "anthropic", m)["body"])
    assert seen["system"] == [{"type": "text", "text": "%s blocks %s" % (m, R),
                               "cache_control": {"type": "ephemeral"}}]
    sm = seen["messages"]
    assert sm[0]["content"][0]["text"] == "b " + R
    assert sm[0]["content"][1] == msgs[0]["content"][1]
    assert sm[1] == msgs[1]
    assert sm[2]["content"][0]["content"] == "r " + R
    assert sm[2]["content"][1]["content"] == [{"type": "text", "text": "rb " + R}]
    assert gw.row_for(rid(h))["redactions"] == 4


def test_redaction_gemini_shapes(stack, gw):
    m = marker()
    body = {"systemInstruction": {"parts": [{"text": "%s si %s" % (m, SSN)}]},
            "contents": [{"role": "user", "parts": [
                {"text": "c " + CARD},
                {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(
                    SSN.encode()).decode()}}]}],
            "generationConfig": {"temperature": 0.3}}
    st, h, raw = gw.call("POST", gemini_path("gemini-2.0-flash"), body, key=stack.keys.bob)
    assert st == 200, raw
    seen = json.loads(received(stack, "gemini", m)["body"])
    assert seen["systemInstruction"]["parts"][0]["text"] == "%s si %s" % (m, R)
    assert seen["contents"][0]["parts"][0]["text"] == "c " + R
    assert seen["contents"][0]["parts"][1] == body["contents"][0]["parts"][1]
    assert seen["generationConfig"] == {"temperature": 0.3}
    assert gw.row_for(rid(h))["redactions"] == 2
    # streaming, snake_case system instruction
    m = marker()
    st, h, raw = gw.call("POST", gemini_path("gemini-2.0-flash", "streamGenerateContent") +
                         "?alt=sse",
                         {"system_instruction": {"parts": [{"text": "%s %s" % (m, SSN)}]},
                          "contents": [{"parts": [{"text": "x"}]}]}, key=stack.keys.bob)
    assert st == 200, raw
    seen = json.loads(received(stack, "gemini", m)["body"])
    assert seen["system_instruction"]["parts"][0]["text"] == "%s %s" % (m, R)


def test_nothing_to_redact_leaves_the_body_byte_for_byte(stack, gw):
    m = marker()
    raw_body = ('{"model": "gpt-3.5-turbo",   "temperature": 0.70,\n "messages": '
                '[{"role": "user", "content": "%s nothing"}]}' % m).encode()
    st, h, raw = gw.call("POST", "/v1/chat/completions", raw_body, key=stack.keys.bob)
    assert st == 200, raw
    assert received(stack, "openai", m)["body"].encode() == raw_body
    assert gw.row_for(rid(h))["redactions"] == 0


# ---- blocks -------------------------------------------------------------------------------

@pytest.mark.parametrize("flavour,path,make", [
    ("openai", "/v1/chat/completions", lambda t: chat("gpt-3.5-turbo", t)),
    ("openai", "/v1/responses", lambda t: {"model": "gpt-3.5-turbo", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": t}]}]}),
    ("anthropic", "/anthropic/v1/messages",
     lambda t: anthropic_msg("claude-3-haiku-20240307", "hello", system=t)),
    ("gemini", gemini_path("gemini-2.0-flash"),
     lambda t: gemini_body("hello", systemInstruction={"parts": [{"text": t}]})),
])
def test_block_names_the_rule_never_the_text(stack, gw, flavour, path, make):
    m = marker()
    text = "%s this plan is internal only, ssn %s" % (m, SSN)
    hdrs = AV if flavour == "anthropic" else {}
    st, h, raw = gw.call("POST", path, make(text), key=stack.keys.bob, headers=hdrs)
    assert st == 400, raw
    kind, msg = err(flavour, raw)
    assert kind in ("invalid_request_error", "INVALID_ARGUMENT")
    assert msg == "request blocked by content rule 'block-sensitive-topics'"
    for secret in ("internal only", m, SSN):
        assert secret not in raw.decode()
    not_received(stack, flavour, m)
    row = gw.row_for(rid(h))
    assert (row["status"], row["blocked_rule"]) == (400, "block-sensitive-topics")
    for secret in ("internal only", m):
        assert secret not in gw.httpd.error_log_text()


def test_catastrophic_pattern_cannot_stall_a_worker(stack, gateway):
    g = gateway(extra=r'LLMGWBlock evil "(a+)+$"')
    text = "aaaaaaaaaaaaaaab" * 20000          # 320 KB: seconds of backtracking unbounded
    st, h, raw = g.call("POST", "/v1/chat/completions", chat("gpt-4o", text),
                        key=stack.keys.alice, timeout=30)
    assert st == 400, raw
    assert json.loads(raw)["error"]["message"] == "content rule 'evil' could not check this request"
    assert g.row_for(rid(h))["blocked_rule"] == "evil"
    assert "content rule evil could not finish" in g.httpd.error_log_text()
    # and the worker is free again at once
    assert g.call("POST", "/v1/chat/completions", chat("gpt-4o", "fine"),
                  key=stack.keys.alice)[0] == 200


def test_policy_under_prefork_and_after_graceful(stack, gateway):
    """Patterns compiled (and JIT-compiled) in the parent work in forked children, and
    again after a graceful restart re-reads the configuration."""
    g = gateway(extra=POLICY % stack.mocks.ports, mpm="prefork")
    m = marker()
    st, h, raw = g.call("POST", "/v1/chat/completions", chat("gpt-3.5-turbo", "%s %s" % (m, SSN)),
                        key=stack.keys.bob)
    assert st == 200, raw
    assert json.loads(received(stack, "openai", m)["body"])["messages"][0]["content"] == \
        "%s %s" % (m, R)
    assert g.call("POST", "/v1/chat/completions", chat("gpt-3.5-turbo", "confidential"),
                  key=stack.keys.bob)[0] == 400
    st, _, raw = g.call("GET", "/v1/models", key=stack.keys.bob)
    assert [m["id"] for m in json.loads(raw)["data"]] == BOB_MODELS["openai"]
    # a graceful restart frees and recompiles the patterns
    g.httpd.graceful()
    m = marker()
    st, h, raw = g.call("POST", "/v1/chat/completions", chat("gpt-3.5-turbo", "%s %s" % (m, CARD)),
                        key=stack.keys.bob)
    assert st == 200, raw
    assert json.loads(received(stack, "openai", m)["body"])["messages"][0]["content"] == \
        "%s %s" % (m, R)


# ---- bad input ------------------------------------------------------------------------------

BAD_INPUT_ROUTES = [
    ("openai", "/v1/chat/completions", {}),
    ("anthropic", "/anthropic/v1/messages", AV),
    ("gemini", gemini_path("gemini-2.0-flash"), {}),
]


@pytest.mark.parametrize("flavour,path,hdrs", BAD_INPUT_ROUTES)
def test_wrong_content_type_is_415(stack, gw, flavour, path, hdrs):
    st, h, raw = gw.call("POST", path, b"model=gpt-4o&prompt=hi", key=stack.keys.bob,
                         headers=dict(hdrs, **{"Content-Type": "application/x-www-form-urlencoded"}))
    assert st == 415, raw
    kind, msg = err(flavour, raw)
    assert "application/json" in msg
    assert gw.row_for(rid(h))["status"] == 415
    # application/json with parameters and +json types are JSON
    st, _, raw = gw.call("POST", path, b"{", key=stack.keys.bob,
                         headers=dict(hdrs, **{"Content-Type": "application/json; charset=utf-8"}))
    assert st == 400


@pytest.mark.parametrize("flavour,path,hdrs", BAD_INPUT_ROUTES)
def test_too_deep_and_malformed_json_is_400_and_audited(stack, gw, flavour, path, hdrs):
    deep = b'{"model":"x","a":' + b"[" * 100 + b"]" * 100 + b"}"
    st, h, raw = gw.call("POST", path, deep, key=stack.keys.bob, headers=hdrs)
    assert st == 400, raw
    assert "nesting deeper than 64" in err(flavour, raw)[1]
    assert gw.row_for(rid(h))["status"] == 400
    st, h, raw = gw.call("POST", path, b'{"model": ', key=stack.keys.bob, headers=hdrs)
    assert st == 400, raw
    assert "malformed JSON" in err(flavour, raw)[1]
    assert gw.row_for(rid(h))["status"] == 400


@pytest.mark.parametrize("flavour,path,hdrs", BAD_INPUT_ROUTES)
def test_body_over_max_is_413_and_audited(stack, gw, flavour, path, hdrs):
    # LLMGWMaxBody 1048576 in this gateway; sent without Content-Length (chunked)
    big = b'{"pad":"' + b"x" * (1 << 20) + b'"}'

    def chunks():
        for i in range(0, len(big), 65536):
            yield big[i:i + 65536]
    import urllib.request
    import urllib.error
    req = urllib.request.Request(gw.httpd.url + path, data=chunks(), method="POST",
                                 headers=dict(hdrs, **{
                                     "Content-Type": "application/json",
                                     "Authorization": "Bearer " + stack.keys.bob,
                                     "Transfer-Encoding": "chunked"}))
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            st, h, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        st, h, raw = e.code, e.headers, e.read()
    assert st == 413, raw
    kind, msg = err(flavour, raw)
    assert msg == "request body larger than 1048576 bytes"
    assert gw.row_for(rid(h))["status"] == 413


# ---- configuration ----------------------------------------------------------------------------

@pytest.mark.parametrize("line,why", [
    ('LLMGWRedact pii "a(b"', 'LLMGWRedact pii: pattern "a(b": missing closing parenthesis'),
    ('LLMGWBlock "bad name" "x"', "rule name 'bad name' must be"),
    ("LLMGWAllowModels group:x gpt-4*", "bad principal 'group:x'"),
    ("LLMGWAllowModels role:premium", "LLMGWAllowModels PRINCIPAL PATTERN"),
    ("LLMGWAllowTools role: web-search", "bad principal 'role:'"),
    ("LLMGWToolPolicy maybe", "LLMGWToolPolicy takes reject or strip"),
])
def test_bad_policy_directive_fails_configtest_with_file_and_line(stack, tmp_path, line, why):
    conf = tmp_path / "bad.conf"
    base = open(stack.httpd.conf).read()
    conf.write_text(base + "\n<Location /v1>\n" + line + "\n</Location>\n")
    r = subprocess.run([APACHE, "-t", "-f", str(conf)], capture_output=True, text=True,
                       env=stack.httpd.env())
    assert r.returncode != 0, r.stderr
    assert why in r.stderr, r.stderr
    assert "line %d of %s" % (base.count("\n") + 3, conf) in r.stderr, r.stderr


def test_policy_snippet_in_shipped_conf_passes_configtest(stack, tmp_path):
    # the commented policy section of httpd-conf/llmgw.conf, uncommented, is valid
    text = open(os.path.join(ROOT, "httpd-conf", "llmgw.conf")).read()
    start = text.index("# --- policy")
    lines = []
    for ln in text[start:].splitlines()[1:]:
        if not ln.strip().startswith("#"):
            break
        lines.append(ln.strip()[1:].strip())
    assert any(ln.startswith("LLMGWRedact") for ln in lines)
    conf = tmp_path / "policy.conf"
    conf.write_text(open(stack.httpd.conf).read() + "\n" + "\n".join(lines) + "\n")
    r = subprocess.run([APACHE, "-t", "-f", str(conf)], capture_output=True, text=True,
                       env=stack.httpd.env())
    assert r.returncode == 0, r.stderr


# ---- the official SDKs ------------------------------------------------------------------------

CLIENTS = os.path.join(ROOT, "tests", "clients")


@pytest.mark.skipif(not (shutil.which("node") and os.path.isdir(os.path.join(CLIENTS,
                                                                          "node_modules"))),
                    reason="node or tests/clients/node_modules missing")
def test_official_sdks_raise_permission_errors_and_list_per_role(stack, gw):
    env = dict(os.environ, LLMGW_POLICY="1", LLMGW_BASE=gw.httpd.url,
               LLMGW_POLICY_KEY_ALICE=stack.keys.alice, LLMGW_POLICY_KEY_BOB=stack.keys.bob,
               LLMGW_POLICY_EXPECT=json.dumps({"alice": ALICE_MODELS, "bob": BOB_MODELS}))
    for k in list(env):
        if k.startswith(("LLMGW_BASE_", "LLMGW_KEY", "LLMGW_MOCK")):
            del env[k]
    r = subprocess.run(["node", "--test", "--test-reporter=spec", "policy.test.mjs"],
                       cwd=CLIENTS, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    assert "skipped 0" in r.stdout and "fail 0" in r.stdout, r.stdout[-3000:]
