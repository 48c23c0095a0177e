"""The official SDKs (openai, @anthropic-ai/sdk, @google/genai) drive the gateway: every
call must behave as against the provider itself, and every call must land as an audit
row attributed to the gateway key's user, with the client key never reaching a mock."""

import json
import os
import shutil
import subprocess
import uuid

import pytest

from llmgwtest.stack import ROOT

CLIENTS = os.path.join(ROOT, "tests", "clients")


def node_ready():
    return shutil.which("node") and os.path.isdir(os.path.join(CLIENTS, "node_modules"))


@pytest.mark.skipif(not node_ready(), reason="node or tests/clients/node_modules missing "
                    "(scripts/test installs them)")
def test_official_sdks_through_the_gateway(stack):
    run_id = "sdk-" + uuid.uuid4().hex[:12]
    stack.mocks.reset()
    env = dict(os.environ, LLMGW_BASE=stack.httpd.url, LLMGW_KEY=stack.keys.alice,
               LLMGW_BAD_KEY="llmgw_not_a_key", LLMGW_RUN_ID=run_id)
    for k in list(env):
        if k.startswith(("LLMGW_BASE_", "LLMGW_KEY_", "LLMGW_MOCK")):
            del env[k]
    r = subprocess.run(["node", "--test", "--test-reporter=spec"], cwd=CLIENTS, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]

    # the client's gateway key never reaches a provider
    for flavour in stack.mocks.ports:
        seen = json.dumps(stack.mocks.requests(flavour))
        assert stack.keys.alice not in seen, flavour

    rows = stack.rows("conversation_id LIKE '%s%%'" % run_id, expect=20)
    assert len(rows) >= 20, len(rows)
    ok = [r for r in rows if r["status"] == 200]
    assert all(r["user_id"] == "alice" for r in ok)
    providers = {r["provider"] for r in ok}
    assert providers == {"openai", "anthropic", "google", "azure"}, providers
    by = {}
    for r in ok:
        by.setdefault((r["provider"], r["endpoint"], r["stream"]), []).append(r)
    # token figures the mocks report, for both stream modes
    for (prov, ep, stream), rs in by.items():
        for r in rs:
            if ep == "chat/completions":
                assert (r["prompt_tokens"], r["completion_tokens"], r["total_tokens"]) == (25, 12, 37), r
            if ep == "messages":
                assert (r["prompt_tokens"], r["completion_tokens"], r["total_tokens"]) == (36, 15, 51), r
            if ep in ("generateContent", "streamGenerateContent"):
                assert (r["prompt_tokens"], r["completion_tokens"], r["total_tokens"]) == (18, 17, 35), r
    assert any(k[2] for k in by), "no streaming rows"
