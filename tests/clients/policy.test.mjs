// Model, tool and content policy through the official SDKs: a denied model or tool raises
// each SDK's permission error (403), a blocked prompt its bad-request error naming the
// rule, and each user's model list is exactly what the gateway's LLMGWAllowModels gives
// them. Runs only when LLMGW_POLICY=1 (tests/integration/test_policy.py starts a gateway
// with the rules and sets the variables below); otherwise every test is skipped.
//   LLMGW_POLICY_KEY_ALICE  key of a user with roles premium,developer
//   LLMGW_POLICY_KEY_BOB    key of a user with role standard
//   LLMGW_POLICY_EXPECT     {"alice": {"openai": [...], "anthropic": [...], "gemini": [...]},
//                            "bob": {...}}: the model ids each may list
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { AzureOpenAI } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI, ApiError } from '@google/genai';
import {
  OPENAI_BASE, ANTHROPIC_BASE, GOOGLE_BASE, AZURE_BASE, MODEL, TIMEOUT_MS, testOpts,
} from './env.mjs';

const E = process.env;
const on = E.LLMGW_POLICY === '1';
const opts = { ...testOpts, skip: on ? false : 'LLMGW_POLICY=1 not set (test_policy.py sets it)' };
const KEY = { alice: E.LLMGW_POLICY_KEY_ALICE, bob: E.LLMGW_POLICY_KEY_BOB };
const EXPECT = on ? JSON.parse(E.LLMGW_POLICY_EXPECT) : {};

const openai = (who) => new OpenAI({ baseURL: OPENAI_BASE, apiKey: KEY[who], maxRetries: 0, timeout: TIMEOUT_MS });
const anthropic = (who) => new Anthropic({ baseURL: ANTHROPIC_BASE, apiKey: KEY[who], maxRetries: 0, timeout: TIMEOUT_MS });
const google = (who) => new GoogleGenAI({ vertexai: false, apiKey: KEY[who], httpOptions: { baseUrl: GOOGLE_BASE, timeout: TIMEOUT_MS } });
const azure = (who) => new AzureOpenAI({
  endpoint: AZURE_BASE, apiKey: KEY[who], apiVersion: MODEL.azureApiVersion, maxRetries: 0, timeout: TIMEOUT_MS,
});
const user = (content) => [{ role: 'user', content }];

async function rejectsWith(promise, Cls, status, text) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof Cls, `${Cls.name}, got ${err?.constructor?.name}: ${err}`);
    assert.equal(err.status, status);
    assert.ok(String(err.message).includes(text), `"${text}" in: ${err.message}`);
    return true;
  });
}

test('openai: a denied model raises PermissionDeniedError naming it; an allowed one answers', opts, async () => {
  await rejectsWith(openai('bob').chat.completions.create({ model: 'gpt-4o', messages: user('hi') }),
    OpenAI.PermissionDeniedError, 403, "model 'gpt-4o' is not allowed");
  const ok = await openai('alice').chat.completions.create({ model: 'gpt-4o', messages: user('hi') });
  assert.equal(ok.object, 'chat.completion');
  const ok2 = await openai('bob').chat.completions.create({ model: 'gpt-3.5-turbo', messages: user('hi') });
  assert.equal(ok2.object, 'chat.completion');
  await rejectsWith(openai('alice').responses.create({ model: 'gpt-3.5-turbo', input: 'hi' }),
    OpenAI.PermissionDeniedError, 403, 'gpt-3.5-turbo');
});

test('openai: models.list shows each user exactly their models', opts, async () => {
  for (const who of ['alice', 'bob']) {
    const ids = [];
    for await (const m of openai(who).models.list()) ids.push(m.id);
    assert.deepEqual(ids, EXPECT[who].openai, who);
  }
  await rejectsWith(openai('bob').models.retrieve('gpt-4o'), OpenAI.PermissionDeniedError, 403, 'gpt-4o');
  assert.equal((await openai('alice').models.retrieve('gpt-4o')).id, 'gpt-4o');
});

test('openai: a forbidden tool raises PermissionDeniedError naming it', opts, async () => {
  const tools = [{ type: 'function', function: { name: 'run_sql', parameters: { type: 'object' } } }];
  await rejectsWith(openai('bob').chat.completions.create({ model: 'gpt-3.5-turbo', messages: user('hi'), tools }),
    OpenAI.PermissionDeniedError, 403, "tool 'run_sql' is not allowed");
  const ok = await openai('alice').chat.completions.create({ model: 'gpt-4o', messages: user('hi'), tools });
  assert.equal(ok.object, 'chat.completion');
  await rejectsWith(openai('bob').responses.create({
    model: 'gpt-3.5-turbo', input: 'hi', tools: [{ type: 'code_interpreter', container: { type: 'auto' } }],
  }), OpenAI.PermissionDeniedError, 403, "tool 'code_interpreter'");
});

test('openai: a blocked prompt raises BadRequestError naming the rule, not the text', opts, async () => {
  await assert.rejects(
    openai('bob').chat.completions.create({ model: 'gpt-3.5-turbo', messages: user('this is internal only') }),
    (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, `${err?.constructor?.name}`);
      assert.match(err.message, /content rule 'block-sensitive-topics'/);
      assert.ok(!err.message.includes('internal only'));
      return true;
    });
});

test('openai: a stream with a redacted prompt still streams', opts, async () => {
  const stream = await openai('bob').chat.completions.create({
    model: 'gpt-3.5-turbo', stream: true, messages: user('my ssn is 123-45-6789'),
  });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta?.content ?? '';
  assert.ok(text.length > 0);
});

test('azure: a denied deployment raises PermissionDeniedError', opts, async () => {
  await rejectsWith(azure('bob').chat.completions.create({ model: 'gpt-4o', messages: user('hi') }),
    OpenAI.PermissionDeniedError, 403, "model 'gpt-4o' is not allowed");
  const ok = await azure('alice').chat.completions.create({ model: 'gpt-4o', messages: user('hi') });
  assert.equal(ok.object, 'chat.completion');
});

test('anthropic: a denied model or tool raises PermissionDeniedError', opts, async () => {
  await rejectsWith(anthropic('bob').messages.create({
    model: 'claude-3-opus-20240229', max_tokens: 16, messages: user('hi'),
  }), Anthropic.PermissionDeniedError, 403, "model 'claude-3-opus-20240229' is not allowed");
  const ok = await anthropic('bob').messages.create({ model: 'claude-3-haiku-20240307', max_tokens: 16, messages: user('hi') });
  assert.equal(ok.type, 'message');
  await rejectsWith(anthropic('bob').messages.create({
    model: 'claude-3-haiku-20240307', max_tokens: 16, messages: user('hi'),
    tools: [{ name: 'run_sql', input_schema: { type: 'object' } }],
  }), Anthropic.PermissionDeniedError, 403, "tool 'run_sql' is not allowed");
  await assert.rejects(anthropic('bob').messages.create({
    model: 'claude-3-haiku-20240307', max_tokens: 16, system: 'confidential', messages: user('hi'),
  }), (err) => err instanceof Anthropic.BadRequestError && /block-sensitive-topics/.test(err.message));
});

test('anthropic: models.list (limit 2, auto-paging) shows each user exactly their models', opts, async () => {
  for (const who of ['alice', 'bob']) {
    const ids = [];
    for await (const m of anthropic(who).models.list({ limit: 2 })) ids.push(m.id);
    assert.deepEqual(ids, EXPECT[who].anthropic, who);
  }
});

test('gemini: a denied model raises ApiError 403; models.list per user', opts, async () => {
  await assert.rejects(google('bob').models.generateContent({ model: 'gemini-2.5-pro', contents: 'hi' }),
    (err) => {
      assert.ok(err instanceof ApiError, `ApiError, got ${err?.constructor?.name}`);
      assert.equal(err.status, 403);
      assert.match(err.message, /model 'gemini-2.5-pro' is not allowed/);
      return true;
    });
  const ok = await google('bob').models.generateContent({ model: 'gemini-2.0-flash', contents: 'hi' });
  assert.ok(ok.text.length > 0);
  await assert.rejects(google('bob').models.generateContent({
    model: 'gemini-2.0-flash', contents: 'hi',
    config: { tools: [{ functionDeclarations: [{ name: 'run_sql' }] }] },
  }), (err) => err instanceof ApiError && err.status === 403 && /tool 'run_sql'/.test(err.message));
  for (const who of ['alice', 'bob']) {
    const names = [];
    const pager = await google(who).models.list({ config: { pageSize: 3 } });
    for await (const m of pager) names.push(m.name);
    assert.deepEqual(names, EXPECT[who].gemini.map((m) => `models/${m}`), who);
  }
});
