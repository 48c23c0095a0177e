// Rate limits through the official SDKs: once an LLMGWRateLimit rule refuses, the
// gateway's 429 (in each provider's own error format, with Retry-After and the
// x-ratelimit-* headers) must surface as each SDK's typed RateLimitError.
// Only runs with LLMGW_LIMITS_BASE: a gateway whose only rule allows the LLMGW_KEY
// user ONE request (tests/integration/test_limits.py starts one). The tests run in
// order: the first request succeeds, everything after it is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const E = process.env;
const BASE = (E.LLMGW_LIMITS_BASE || '').replace(/\/+$/, '');
const skip = !BASE ? 'set LLMGW_LIMITS_BASE (a gateway allowing one request) to run' : false;
const opts = { skip, timeout: 60000 };

test('openai: the request over the limit raises RateLimitError', opts, async () => {
  const client = new OpenAI({ baseURL: `${BASE}/v1`, apiKey: E.LLMGW_KEY, maxRetries: 0 });
  const body = { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] };
  const first = await client.chat.completions.create(body).withResponse();
  assert.equal(first.response.headers.get('x-ratelimit-remaining-requests'), '0');
  await assert.rejects(client.chat.completions.create(body), (err) => {
    assert.ok(err instanceof OpenAI.RateLimitError, `got ${err?.constructor?.name}`);
    assert.equal(err.status, 429);
    assert.ok(Number(err.headers.get('retry-after')) >= 1);
    assert.equal(err.headers.get('x-ratelimit-limit-requests'), '1');
    assert.equal(err.headers.get('x-ratelimit-remaining-requests'), '0');
    assert.match(err.message, /rate limit exceeded/);
    return true;
  });
});

test('anthropic: a refused request raises RateLimitError', opts, async () => {
  const client = new Anthropic({ baseURL: `${BASE}/anthropic`, apiKey: E.LLMGW_KEY, maxRetries: 0 });
  await assert.rejects(
    client.messages.create({
      model: 'claude-3-haiku-20240307', max_tokens: 16,
      messages: [{ role: 'user', content: 'hi' }],
    }),
    (err) => {
      assert.ok(err instanceof Anthropic.RateLimitError, `got ${err?.constructor?.name}`);
      assert.equal(err.status, 429);
      assert.equal(err.error?.error?.type, 'rate_limit_error');
      return true;
    },
  );
});
