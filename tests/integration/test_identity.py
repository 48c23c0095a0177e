"""Identity (SPEC §5): JWTs verified against a JWKS served on 127.0.0.1 (every refusal
in the provider's format, the SDKs raising AuthenticationError), claim mapping into the
audit row, the JWKS endpoint going down and keys rotating, LibreChat delegation edge
cases, Apache authentication (mod_auth_basic), passthrough of the client's own provider
key, revocation by key file + graceful restart, and no secret in any log or audit row."""

import base64
import hashlib
import json
import os
import subprocess
import tempfile
import time
import uuid

import pytest

from llmgwtest.identity import (AUDIENCE, CLIENTS, ISSUER, JwksServer, ONE_CHILD, jwt_conf,
                                mint, node_ready)
from llmgwtest.stack import PROVIDER_KEYS, make_key

needs_node = pytest.mark.skipif(not node_ready(), reason="node or tests/clients/node_modules "
                                "missing (scripts/test installs them)")

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "claude-3-haiku-20240307", "max_tokens": 16,
            "messages": [{"role": "user", "content": "hi"}]}


def chat(g, token, headers=None, conv=None):
    h = dict(headers or {})
    if conv:
        h["X-Conversation-Id"] = conv
    return g.call("POST", "/v1/chat/completions", CHAT, headers=h, key=token)


def error_message(body):
    return json.loads(body)["error"]["message"]


def claims(**kw):
    base = {"sub": "jwt-user", "email": "jwt-user@example.com"}
    base.update(kw)
    return base


KEYS = {"rsa1": {"alg": "RS256", "kid": "rsa-1"}, "ec1": {"alg": "ES256", "kid": "ec-1"},
        "ps1": {"alg": "PS256", "kid": "ps-1"}, "ed1": {"alg": "EdDSA", "kid": "ed-1"},
        "stranger": {"alg": "RS256", "kid": "stranger-1"},
        "rsa384": {"alg": "RS384", "kid": "rsa-384"}}


def bad_base64(tok):
    h, p, s = tok.split(".")
    return "%s.%s!%s.%s" % (h, p[:10], p[11:], s)


@pytest.fixture(scope="module")
def idp():
    tokens = {
        "rs256": {"key": "rsa1", "claims": claims(sub="rs-user")},
        "es256": {"key": "ec1", "claims": claims(sub="es-user")},
        "ps256": {"key": "ps1", "claims": claims(sub="ps-user")},
        "eddsa": {"key": "ed1", "claims": claims(sub="ed-user")},
        "at_jwt": {"key": "rsa1", "typ": "at+jwt", "aud": ["other", AUDIENCE],
                   "claims": claims(sub="at-user")},
        "alg_none": {"key": "rsa1", "sign": "none", "claims": claims()},
        "hs256_public_key": {"key": "rsa1", "sign": "hs256-public-pem", "claims": claims()},
        "kid_of_wrong_key_type": {"key": "rsa1", "kid": "ec-1", "claims": claims()},
        "expired": {"key": "rsa1", "exp": -3600, "claims": claims()},
        "not_yet_valid": {"key": "rsa1", "nbf": 3600, "claims": claims()},
        "no_exp": {"key": "rsa1", "exp": None, "claims": claims()},
        "wrong_iss": {"key": "rsa1", "iss": "https://evil.example", "claims": claims()},
        "wrong_aud": {"key": "rsa1", "aud": "someone-else", "claims": claims()},
        "unknown_kid": {"key": "stranger", "claims": claims()},
        "forged_with_known_kid": {"key": "stranger", "kid": "rsa-1", "claims": claims()},
        "alg_not_allowed": {"key": "rsa384", "kid": "rsa-1", "claims": claims()},
        "oversized": {"key": "rsa1", "claims": claims(pad="x" * 20000)},
        "good_for_mangling": {"key": "rsa1", "claims": claims(sub="mangled")},
    }
    m = mint(KEYS, tokens, {"main": ["rsa1", "ec1", "ps1", "ed1"]})
    t = m["tokens"]
    t["bad_base64"] = bad_base64(t.pop("good_for_mangling"))
    t["bad_base64_padding"] = t["rs256"] + "=="
    srv = JwksServer(m["jwks"]["main"])
    yield m, srv
    srv.stop()


GOOD = ["rs256", "es256", "ps256", "eddsa", "at_jwt"]
BAD = {
    "alg_none": "algorithm is not allowed",
    "hs256_public_key": "algorithm is not allowed",
    "kid_of_wrong_key_type": "another type",
    "expired": "expired",
    "not_yet_valid": "not valid yet",
    "no_exp": "no exp",
    "wrong_iss": "issuer",
    "wrong_aud": "audience",
    "unknown_kid": "kid names no known key",
    "forged_with_known_kid": "signature does not verify",
    "alg_not_allowed": "algorithm is not allowed",
    "oversized": "too large",
    "bad_base64": "base64url",
    "bad_base64_padding": "base64url",
}


@needs_node
def test_jwt_valid_tokens_pass_and_land_in_the_audit_row(idp, gateway, stack):
    m, srv = idp
    g = gateway(extra=jwt_conf(srv.url))
    subs = {"rs256": "rs-user", "es256": "es-user", "ps256": "ps-user", "eddsa": "ed-user",
            "at_jwt": "at-user"}
    for name in GOOD:
        st, h, body = chat(g, m["tokens"][name])
        assert st == 200, (name, body)
        row = g.row_for(h["X-Request-Id"])
        assert row["user_id"] == subs[name]
        assert row["email"] == "jwt-user@example.com"
        assert row["roles"] == []
    # the token never reaches the provider
    seen = json.dumps(stack.mocks.requests("openai"))
    for name in GOOD:
        assert m["tokens"][name] not in seen
    # gateway keys still work beside JWTs
    st, _, _ = chat(g, stack.keys.alice)
    assert st == 200


@needs_node
def test_jwt_refusals_in_each_providers_format(idp, gateway):
    m, srv = idp
    g = gateway(extra=jwt_conf(srv.url))
    for name, reason in BAD.items():
        tok = m["tokens"][name]
        st, h, body = chat(g, tok)
        assert st == 401, (name, body)
        msg = error_message(body)
        assert msg.startswith("invalid token: ") and reason in msg, (name, msg)
        assert json.loads(body)["error"]["code"] == "invalid_api_key"
        sig = tok.split(".")[-1]
        assert tok not in body.decode() and (len(sig) < 16 or sig not in body.decode())
        st, h, body = g.call("POST", "/anthropic/v1/messages", MESSAGES,
                             headers={"x-api-key": tok, "anthropic-version": "2023-06-01"})
        assert st == 401, (name, body)
        doc = json.loads(body)
        assert doc["type"] == "error" and doc["error"]["type"] == "authentication_error"
        assert reason in doc["error"]["message"], (name, doc)
    # not a JWT and not a gateway key
    st, _, body = chat(g, "llmgw_not_a_key")
    assert st == 401 and error_message(body) == "invalid gateway API key or token"
    st, _, body = g.call("POST", "/v1/chat/completions", CHAT)
    assert st == 401 and error_message(body) == "missing gateway API key or token"


@needs_node
def test_sdks_with_jwt_as_api_key(idp, gateway):
    m, srv = idp
    g = gateway(extra=jwt_conf(srv.url))
    cases = {"good": {n: m["tokens"][n] for n in ("rs256", "es256")},
             "bad": {n: m["tokens"][n] for n in BAD}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(cases, f)
    run_id = "jwt-" + uuid.uuid4().hex[:10]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LLMGW_BASE_", "LLMGW_KEY", "LLMGW_MOCK"))}
    env.update(LLMGW_BASE=g.httpd.url, LLMGW_JWT_CASES=f.name, LLMGW_RUN_ID=run_id)
    try:
        r = subprocess.run(["node", "--test", "--test-reporter=spec", "jwt.test.mjs"],
                           cwd=CLIENTS, env=env, capture_output=True, text=True, timeout=300)
    finally:
        os.unlink(f.name)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert "pass %d\n" % (4 + 2 * len(BAD)) in r.stdout, r.stdout[-1500:]
    rows = g.rows("conversation_id LIKE '%s-%%'" % run_id, expect=4 + 2 * len(BAD))
    ok = {r["conversation_id"]: r["user_id"] for r in rows if r["status"] == 200}
    assert ok == {run_id + "-jwt-openai-rs256": "rs-user", run_id + "-jwt-openai-es256": "es-user",
                  run_id + "-jwt-anthropic-rs256": "rs-user",
                  run_id + "-jwt-anthropic-es256": "es-user"}, ok


@needs_node
@pytest.mark.parametrize("mapping,claim_set,expect", [
    ("LLMGWClaim user_id preferred_username\nLLMGWClaim roles groups\nLLMGWClaim team org",
     {"sub": "uuid-1", "preferred_username": "dana", "email": "dana@example.com",
      "groups": ["premium", "developer"], "org": "research"},
     ("dana", "dana@example.com", "research", ["premium", "developer"])),
    ("LLMGWClaim roles scope\nLLMGWClaim email upn\nLLMGWClaim team teams",
     {"sub": "erin", "upn": "erin@corp.example", "scope": "openid chat:write premium",
      "teams": ["sales", "emea"]},
     ("erin", "erin@corp.example", "sales", ["openid", "chat:write", "premium"])),
    ("LLMGWClaim roles realm_access.roles\nLLMGWClaim team org.name",
     {"sub": "frank", "realm_access": {"roles": ["standard", "offline_access"]},
      "org": {"name": "ops"}},
     ("frank", None, "ops", ["standard", "offline_access"])),
])
def test_claim_mapping_lands_in_the_audit_row(gateway, mapping, claim_set, expect):
    m = mint({"k": {"alg": "ES256"}}, {"t": {"key": "k", "claims": claim_set}}, {"set": ["k"]})
    srv = JwksServer(m["jwks"]["set"])
    try:
        g = gateway(extra=jwt_conf(srv.url, extra=mapping) +
                    '\nCustomLog logs/identity.log "%{LLMGW_USER}n %{LLMGW_TEAM}e"\n')
        st, h, body = chat(g, m["tokens"]["t"])
        assert st == 200, body
        row = g.row_for(h["X-Request-Id"])
        assert (row["user_id"], row["email"], row["team"], row["roles"]) == expect
        # the identity is there for mod_log_config too (request notes and environment)
        with open(os.path.join(g.httpd.base, "logs", "identity.log")) as f:
            assert f.read().splitlines()[-1] == "%s %s" % (expect[0], expect[2])
    finally:
        srv.stop()


@needs_node
def test_jwks_down_then_rotation(gateway):
    m = mint({"old": {"alg": "RS256", "kid": "old-1"}, "new": {"alg": "ES256", "kid": "new-1"}},
             {"old_a": {"key": "old", "claims": claims(sub="a")},
              "old_b": {"key": "old", "claims": claims(sub="b")},
              "new_c": {"key": "new", "claims": claims(sub="c")}},
             {"before": ["old"], "after": ["new"]})
    t = m["tokens"]
    srv = JwksServer(m["jwks"]["before"])
    try:
        g = gateway(extra=jwt_conf(srv.url, refresh=2))
        assert chat(g, t["old_a"])[0] == 200
        srv.stop()
        # the IdP is down: the cached token and the cached keys keep working
        assert chat(g, t["old_a"])[0] == 200
        time.sleep(2.5)     # a refresh is due and fails: the last good set is kept
        assert chat(g, t["old_b"])[0] == 200
        # a new kid fails closed
        st, _, body = chat(g, t["new_c"])
        assert st == 401 and "kid names no known key" in error_message(body)
        assert "keeping the last good one" in g.httpd.error_log_text()
        # the IdP comes back with the old key removed and the new one added
        srv.set(m["jwks"]["after"])
        srv.start()
        deadline = time.time() + 40      # failed fetches are retried after min(refresh, 30)
        while time.time() < deadline and chat(g, t["new_c"])[0] != 200:
            time.sleep(0.5)
        assert chat(g, t["new_c"])[0] == 200
        # a removed key stops working, also for a token verified (and cached) before
        st, _, body = chat(g, t["old_a"])
        assert st == 401 and "kid names no known key" in error_message(body)
        assert chat(g, t["old_b"])[0] == 401
    finally:
        srv.stop()


@needs_node
def test_unknown_kid_refreshes_at_most_once_a_minute(gateway):
    m = mint({"a": {"alg": "RS256", "kid": "a"}, "b": {"alg": "RS256", "kid": "b"}},
             {"a": {"key": "a", "claims": claims()}, "b": {"key": "b", "claims": claims()},
              **{"r%d" % i: {"key": "a", "kid": "random-%d" % i, "claims": claims()}
                 for i in range(6)}},
             {"a": ["a"], "ab": ["a", "b"]})
    t = m["tokens"]
    srv = JwksServer(m["jwks"]["a"])
    try:
        g = gateway(extra=jwt_conf(srv.url, refresh=300))
        assert chat(g, t["a"])[0] == 200
        assert srv.hits == 1
        srv.set(m["jwks"]["ab"])
        # the first unknown kid refreshes at once, and the rotated-in key works
        assert chat(g, t["b"])[0] == 200
        assert srv.hits == 2
        # random kids do not make the gateway fetch again within the minute
        for i in range(6):
            assert chat(g, t["r%d" % i])[0] == 401
        assert srv.hits == 2
    finally:
        srv.stop()


def test_jwt_config_errors(gateway):
    cases = [
        ("LLMGWJWT jwks=http://idp.example/jwks issuer=i audience=a", "only allowed to 127.0.0.1"),
        ("LLMGWJWT jwks=https://idp.example/jwks audience=a", "needs jwks=, issuer= and"),
        ("LLMGWJWT jwks=https://idp.example/jwks issuer=i audience=a algs=HS256", "HS256"),
        ("LLMGWJWT jwks=https://idp.example/jwks issuer=i audience=a algs=none", "none"),
        ("LLMGWJWT jwks=https://idp.example/jwks issuer=i audience=a leeway=99999", "leeway"),
        ("LLMGWJWT jwks=file:/nonexistent/jwks.json issuer=i audience=a\nLLMGWIdentity jwt",
         "cannot read"),
        ("LLMGWIdentity key jwt", "no LLMGWJWT"),
        ("LLMGWClaim group groups", "not one of"),
        ("LLMGWClaim roles a..b", "empty segment"),
        ("LLMGWApacheClaim user_id env=X", "email, roles or team"),
        ("LLMGWApacheClaim roles X", "env=VARIABLE or header=NAME"),
    ]
    g = gateway(start=False)
    for extra, why in cases:
        g.httpd.write_conf(extra)
        r = g.httpd.configtest()
        assert r.returncode != 0, extra
        out = r.stdout + r.stderr
        assert why in out, (extra, out)
    g.httpd.write_conf("LLMGWJWT jwks=http://localhost:1/jwks issuer=i audience=a\n"
                       "LLMGWIdentity jwt key passthrough apache")
    r = g.httpd.configtest()
    assert r.returncode == 0, r.stderr


def test_jwks_file_source(gateway, tmp_path):
    if not node_ready():
        pytest.skip("node missing")
    m = mint({"k": {"alg": "EdDSA"}}, {"t": {"key": "k", "claims": claims(sub="filed")}},
             {"set": ["k"]})
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(m["jwks"]["set"]))
    os.chmod(tmp_path, 0o755)
    g = gateway(extra="LLMGWIdentity jwt\nLLMGWJWT jwks=file:%s issuer=%s audience=%s "
                      "algs=EdDSA\n" % (path, ISSUER, AUDIENCE))
    st, h, body = chat(g, m["tokens"]["t"])
    assert st == 200, body
    assert g.row_for(h["X-Request-Id"])["user_id"] == "filed"
    # only jwt is configured: a gateway key is not accepted
    assert chat(g, g.keys.alice)[0] == 401


# ---- delegation ------------------------------------------------------------------------

def test_delegation_edge_cases(stack):
    lc = stack.keys.librechat
    conv = "deleg-" + uuid.uuid4().hex[:8]
    st, h, body = chat(stack, lc, {"X-User-Id": "u-123", "X-User-Email": "u@example.com",
                                   "X-User-Role": "premium developer"}, conv=conv)
    assert st == 200, body
    row = stack.row_for(h["X-Request-Id"])
    assert (row["user_id"], row["email"], row["team"], row["roles"]) == (
        "u-123", "u@example.com", "frontend", ["premium", "developer"])
    for value, why in [("{{LIBRECHAT_USER_ID}}", "unexpanded placeholder"),
                       ("", "is empty"), ("a\tb", "control character"),
                       ("x" * 300, "too long")]:
        st, _, body = chat(stack, lc, {"X-User-Id": value})
        assert st == 401, (value, body)
        assert why in error_message(body) and "X-User-Id" in error_message(body)
    # a control character httpd itself rejects (400) never reaches the provider either
    st, _, _ = chat(stack, lc, {"X-User-Email": "a\x01b"})
    assert st in (400, 401)
    # a placeholder in another delegated header is refused as well
    st, _, body = chat(stack, lc, {"X-User-Id": "u", "X-User-Role": "{{LIBRECHAT_USER_ROLE}}"})
    assert st == 401 and "X-User-Role" in error_message(body)
    # a key without delegate= cannot name another user
    st, h, _ = chat(stack, stack.keys.alice, {"X-User-Id": "mallory", "X-User-Role": "admin"})
    assert st == 200
    row = stack.row_for(h["X-Request-Id"])
    assert (row["user_id"], row["roles"]) == ("alice", ["premium", "developer"])


# ---- apache ----------------------------------------------------------------------------

def htpasswd_line(user, password):
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
    return "%s:{SHA}%s\n" % (user, digest)


def test_apache_identity_with_mod_auth_basic(gateway, stack):
    g = gateway(start=False)
    pw = os.path.join(g.httpd.base, "conf", "htpasswd")    # readable by Apache's children
    with open(pw, "w") as f:
        f.write(htpasswd_line("carol", "s3cret-pass"))
    os.chmod(pw, 0o644)
    mods = "/usr/lib/apache2/modules"
    g.httpd.write_conf("""
LoadModule auth_basic_module {m}/mod_auth_basic.so
LoadModule authn_core_module {m}/mod_authn_core.so
LoadModule authn_file_module {m}/mod_authn_file.so
LoadModule authz_user_module {m}/mod_authz_user.so
LoadModule setenvif_module {m}/mod_setenvif.so
LLMGWIdentity apache
LLMGWApacheClaim roles env=TEST_GROUPS
LLMGWApacheClaim email header=X-Test-Email
LLMGWApacheClaim team env=TEST_TEAM
SetEnvIf Request_URI "^/v1/" TEST_GROUPS=premium,developer
<Location /v1>
  AuthType Basic
  AuthName "llmgw"
  AuthBasicProvider file
  AuthUserFile {pw}
  Require valid-user
</Location>
""".format(m=mods, pw=pw))
    g.httpd.start()
    stack.mocks.reset("openai")
    st, h, body = g.call("POST", "/v1/chat/completions", CHAT)
    assert st == 401 and "WWW-Authenticate" in h
    assert json.loads(body)["error"]["code"] == "invalid_api_key"     # the provider's format
    bad = "Basic " + base64.b64encode(b"carol:wrong").decode()
    assert g.call("POST", "/v1/chat/completions", CHAT, headers={"Authorization": bad})[0] == 401
    good = "Basic " + base64.b64encode(b"carol:s3cret-pass").decode()
    st, h, body = g.call("POST", "/v1/chat/completions", CHAT,
                         headers={"Authorization": good, "X-Test-Email": "carol@example.com"})
    assert st == 200, body
    row = g.row_for(h["X-Request-Id"])
    assert (row["user_id"], row["email"], row["team"], row["roles"]) == (
        "carol", "carol@example.com", None, ["premium", "developer"])
    # the Basic credential stays here; the provider gets its own key
    sent = stack.mocks.requests("openai")[-1]
    hdrs = {k.lower(): v for k, v in sent["headers"].items()}
    assert hdrs["authorization"] == "Bearer " + PROVIDER_KEYS["openai"]
    assert "s3cret" not in json.dumps(sent)


# ---- passthrough -----------------------------------------------------------------------

def short_hash(key):
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:12]


def test_passthrough_forwards_the_clients_own_key(gateway, stack):
    g = gateway(extra="LLMGWIdentity key passthrough\n")
    stack.mocks.reset()
    ok = PROVIDER_KEYS["openai"]
    st, h, body = chat(g, ok)
    assert st == 200, body
    assert g.row_for(h["X-Request-Id"])["user_id"] == short_hash(ok)
    sent = stack.mocks.requests("openai")[-1]
    assert {k.lower(): v for k, v in sent["headers"].items()}["authorization"] == "Bearer " + ok
    # a wrong provider key is the provider's to refuse
    st, _, body = chat(g, "sk-wrong-provider-key")
    assert st == 401 and "Incorrect API key" in error_message(body)
    # Anthropic: Authorization: Bearer from the SDK becomes x-api-key
    ak = PROVIDER_KEYS["anthropic"]
    st, h, body = g.call("POST", "/anthropic/v1/messages", MESSAGES,
                         headers={"anthropic-version": "2023-06-01"}, key=ak)
    assert st == 200, body
    sent = {k.lower(): v for k, v in stack.mocks.requests("anthropic")[-1]["headers"].items()}
    assert sent["x-api-key"] == ak and "authorization" not in sent
    # Gemini with ?key=: sent as x-goog-api-key, never kept in the URL or the access log
    gk = PROVIDER_KEYS["gemini"]
    st, h, body = g.call("POST", "/google/v1beta/models/gemini-2.0-flash:generateContent?key="
                         + gk, {"contents": [{"parts": [{"text": "hi"}]}]})
    assert st == 200, body
    req = stack.mocks.requests("gemini")[-1]
    assert gk not in req.get("path", "") and gk not in req.get("query", "")
    assert {k.lower(): v for k, v in req["headers"].items()}["x-goog-api-key"] == gk
    time.sleep(0.3)
    with open(g.httpd.access_log) as f:
        log = f.read()
    assert "key=REDACTED" in log and gk not in log
    # a gateway key is still a gateway key: the provider gets the gateway's credential
    st, h, _ = chat(g, stack.keys.bob)
    assert st == 200 and g.row_for(h["X-Request-Id"])["user_id"] == "bob"
    sent = stack.mocks.requests("openai")[-1]
    assert {k.lower(): v for k, v in sent["headers"].items()}["authorization"] == (
        "Bearer " + PROVIDER_KEYS["openai"])
    # no credential at all is still refused
    assert g.call("POST", "/v1/chat/completions", CHAT)[0] == 401


# ---- revocation --------------------------------------------------------------------------

def test_revocation_by_deleting_the_line_and_graceful(gateway):
    dave, dave_line = make_key("dave", team="ops")
    erin, erin_line = make_key("erin", team="ops")
    g = gateway(keys="%s\n%s\n" % (dave_line, erin_line))
    assert chat(g, dave)[0] == 200
    assert chat(g, erin)[0] == 200
    g.httpd.write_keys("%s\n" % erin_line)
    g.httpd.graceful()
    deadline = time.time() + 10     # old children finish their connections first
    while time.time() < deadline and chat(g, dave)[0] != 401:
        time.sleep(0.2)
    st, _, body = chat(g, dave)
    assert st == 401 and error_message(body) == "invalid gateway API key"
    assert chat(g, erin)[0] == 200


# ---- a record longer than the module's first encoding buffer -----------------------------

def test_many_long_roles_reach_the_audit_row(gateway):
    """32 roles of 60 characters make a record of some 3 KB, longer than the 2 KB the
    module encodes a record into first: it is encoded again into the request pool and
    reaches the row whole."""
    roles = ["role-%02d-" % i + "x" * 52 for i in range(32)]
    key, line = make_key("rolf", team="ops", roles=",".join(roles))
    g = gateway(keys=line + "\n")
    st, h, _ = chat(g, key)
    assert st == 200
    assert g.row_for(h["X-Request-Id"])["roles"] == roles


# ---- no secret anywhere ------------------------------------------------------------------

@needs_node
def test_no_secret_in_logs_or_audit_rows(idp, gateway, stack):
    m, srv = idp
    conf = (jwt_conf(srv.url).replace("LLMGWIdentity key jwt", "LLMGWIdentity key jwt passthrough")
            + "\nLogLevel info\n")
    # metrics with the identity labels, where this build has them
    metrics = ("LLMGWMetricsLabels provider model user_id team\n"
               "<Location /metrics>\n  SetHandler llmgw-metrics\n</Location>\n")
    g = gateway(start=False)
    g.httpd.write_conf(conf + metrics)
    if g.httpd.configtest().returncode != 0:
        metrics = None
        g.httpd.write_conf(conf)
    g.httpd.start()
    conv = "secrets-" + uuid.uuid4().hex[:8]
    tokens = dict(m["tokens"])
    for tok in tokens.values():
        chat(g, tok, conv=conv)
    for key in (stack.keys.alice, stack.keys.bob, "llmgw_wrong_key_0000"):
        chat(g, key, conv=conv)
    chat(g, stack.keys.librechat, {"X-User-Id": "{{LIBRECHAT_USER_ID}}"}, conv=conv)
    chat(g, stack.keys.librechat, {"X-User-Id": "lc-user"}, conv=conv)
    chat(g, PROVIDER_KEYS["openai"], conv=conv)                       # passthrough
    g.call("POST", "/google/v1beta/models/gemini-2.0-flash:generateContent?key="
           + stack.keys.alice, {"contents": [{"parts": [{"text": "hi"}]}]},
           headers={"X-Conversation-Id": conv})
    g.call("GET", "/v1/models?key=" + PROVIDER_KEYS["gemini"], headers={"X-Conversation-Id": conv})
    rows = g.rows("conversation_id = '%s'" % conv, expect=len(tokens) + 7)
    assert len(rows) >= len(tokens) + 7
    time.sleep(0.5)
    with open(g.httpd.access_log) as f:
        access = f.read()
    texts = {"error log": g.httpd.error_log_text(), "access log": access,
             "audit rows": json.dumps(rows)}
    if metrics:
        st, _, body = g.call("GET", "/metrics")
        assert st == 200
        texts["metrics"] = body.decode()
        assert 'user_id="lc-user"' in texts["metrics"], texts["metrics"][:500]
    secrets = {"client key " + n: k for n, k in (("alice", stack.keys.alice),
                                                 ("bob", stack.keys.bob),
                                                 ("librechat", stack.keys.librechat))}
    secrets.update({"provider key " + n: k for n, k in PROVIDER_KEYS.items()})
    for n, tok in tokens.items():
        secrets["token " + n] = tok
        sig = tok.split(".")[2] if tok.count(".") == 2 else ""
        if len(sig) > 20:
            secrets["token signature " + n] = sig
    assert len(texts["access log"]) > 0 and len(texts["error log"]) > 0
    for where, text in texts.items():
        for what, secret in secrets.items():
            assert secret not in text, "%s found in the %s" % (what, where)


def test_repeated_delegate_header_is_refused(stack):
    """httpd joins two X-User-Id headers into "alice, mallory": refuse, never record it."""
    import socket
    body = b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
    req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
           stack.keys.librechat.encode() + b"\r\nX-User-Id: alice\r\nX-User-Id: mallory\r\n"
           b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() +
           b"\r\nConnection: close\r\n\r\n" + body)
    with socket.create_connection(("127.0.0.1", stack.httpd.port), timeout=10) as s:
        s.sendall(req)
        resp = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            resp += chunk
    assert resp.startswith(b"HTTP/1.1 401"), resp[:200]
    assert stack.pg.scalar("SELECT count(*) FROM llmgw.audit_log WHERE user_id LIKE '%mallory%'") == "0"
