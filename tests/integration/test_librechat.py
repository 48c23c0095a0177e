"""LibreChat through the gateway: tests/clients/librechat.test.mjs sends what LibreChat
sends for a librechat.yaml custom endpoint (OpenAI SDK and Anthropic SDK, the delegate
key, X-User-Id / X-User-Email / X-User-Role resolved per user, X-Conversation-Id), and
every request must land as an audit row attributed to the LibreChat user named in the
headers — not to the front end's key — with the provider's token figures."""

import json
import os
import re
import shutil
import subprocess
import uuid

import pytest

from llmgwtest.stack import ROOT

CLIENTS = os.path.join(ROOT, "tests", "clients")

USERS = [  # (MongoDB ObjectId as LibreChat has them, email, role or None)
    ("65a1b2c3d4e5f60718293a4b", "ada@example.com", "USER"),
    ("65a1b2c3d4e5f60718293a4c", "grace@example.com", "ADMIN"),
    ("65a1b2c3d4e5f60718293a4d", "linus@example.com", None),
]


def node_ready():
    return shutil.which("node") and os.path.isdir(os.path.join(CLIENTS, "node_modules"))


def run_librechat_client(base, key, run_id, users):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LLMGW_BASE_", "LLMGW_KEY", "LLMGW_MOCK"))}
    env.update(LLMGW_BASE=base, LLMGW_KEY_LIBRECHAT=key, LLMGW_RUN_ID=run_id,
               LLMGW_LIBRECHAT_USERS=";".join("%s|%s|%s" % (i, e, r or "") for i, e, r in users))
    return subprocess.run(["node", "--test", "--test-reporter=spec", "librechat.test.mjs"],
                          cwd=CLIENTS, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not node_ready(), reason="node or tests/clients/node_modules missing "
                    "(scripts/test installs them)")
def test_librechat_requests_are_attributed_per_user(stack):
    run_id = "lc-" + uuid.uuid4().hex[:12]
    since = stack.pg.scalar("SELECT now()")
    users = [(uid[:12] + run_id[-6:] + uid[18:], email, role) for uid, email, role in USERS]
    r = run_librechat_client(stack.httpd.url, stack.keys.librechat, run_id, users)
    out = r.stdout[-6000:] + r.stderr[-3000:]
    assert r.returncode == 0, out
    assert re.search(r"\bskipped 0\b", r.stdout), "the LibreChat tests did not run:\n" + out

    # the front end's key never reaches a provider
    for flavour in ("openai", "anthropic"):
        assert stack.keys.librechat not in json.dumps(stack.mocks.requests(flavour)), flavour

    # per user: streamed chat and title (openai), streamed message (anthropic)
    for uid, email, role in users:
        convs = ", ".join("'%s-%s-%s'" % (run_id, uid, what) for what in ("chat", "title", "claude"))
        rows = stack.rows("conversation_id IN (%s)" % convs, expect=3)
        assert len(rows) == 3, rows
        for row in rows:
            assert row["status"] == 200, row
            assert row["user_id"] == uid, row
            assert row["email"] == email, row
            # X-User-Role names the roles; without it the key's own (none) apply
            assert row["roles"] == ([role] if role else []), row
            assert row["team"] == "frontend", row    # not delegated: the key's team
        by = {(row["provider"], row["stream"]): row for row in rows}
        chat, title, claude = by[("openai", True)], by[("openai", False)], by[("anthropic", True)]
        assert chat["conversation_id"] == "%s-%s-chat" % (run_id, uid)
        assert title["conversation_id"] == "%s-%s-title" % (run_id, uid)
        assert (chat["prompt_tokens"], chat["completion_tokens"], chat["total_tokens"]) == (25, 12, 37)
        assert title["total_tokens"] == 37
        assert (claude["prompt_tokens"], claude["completion_tokens"], claude["total_tokens"]) == (36, 15, 51)
        assert chat["endpoint"] == "chat/completions" and claude["endpoint"] == "messages"

    # the model list carries no user headers: it is the front end's own request
    models = stack.rows("ts >= '%s' AND endpoint = 'models' AND user_id = 'librechat'" % since)
    assert models and models[0]["status"] == 200, models

    # an unexpanded placeholder is refused, and nothing is attributed to it
    refused = stack.rows("conversation_id LIKE '%s-%%-placeholder'" % run_id, expect=2, timeout=5)
    assert len(refused) == 2 and all(row["status"] == 401 for row in refused), refused
    assert not stack.rows("ts >= '%s' AND email LIKE '%%{{%%'" % since, expect=1, timeout=1)


@pytest.mark.skipif(not node_ready(), reason="node or tests/clients/node_modules missing")
def test_librechat_headers_are_ignored_from_an_ordinary_key(stack):
    """Only a delegate key may name another user: alice's key with LibreChat's headers
    is still alice."""
    run_id = "lc-" + uuid.uuid4().hex[:12]
    users = [("65a1b2c3d4e5f60718" + run_id[-6:], "mallory@example.com", "ADMIN")]
    env_key = stack.keys.alice
    st, _, _ = stack.call("POST", "/v1/chat/completions",
                          {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                          headers={"X-User-Id": users[0][0], "X-User-Email": users[0][1],
                                   "X-User-Role": "ADMIN",
                                   "X-Conversation-Id": run_id + "-alice"},
                          key=env_key)
    assert st == 200
    row = stack.rows("conversation_id = '%s-alice'" % run_id)[0]
    assert (row["user_id"], row["email"], row["roles"]) == ("alice", "alice@example.com",
                                                            ["premium", "developer"])
