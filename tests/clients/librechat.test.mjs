// What LibreChat sends to the gateway, with the official SDKs configured as LibreChat
// configures them for a librechat.yaml custom endpoint:
//   - OpenAI-compatible endpoint (baseURL http://gw:8080/v1): the openai SDK with the
//     gateway's delegate key as apiKey and the endpoint's `headers` as default headers,
//     resolved per user ({{LIBRECHAT_USER_ID}}, {{LIBRECHAT_USER_EMAIL}},
//     {{LIBRECHAT_USER_ROLE}}, {{LIBRECHAT_BODY_CONVERSATIONID}}); chat streams with
//     stream_options.include_usage and `user` in the body; a non-stream title request
//     (titleConvo); the model list (models.fetch: true) is a plain GET /models with
//     only `Authorization: Bearer` (LibreChat's fetchModels sends no custom headers).
//   - Anthropic endpoint (provider: anthropic, baseURL http://gw:8080/anthropic): the
//     Anthropic SDK with the key in x-api-key, the same headers, streamed messages
//     with metadata.user_id.
//   - A user field LibreChat cannot fill stays an unexpanded placeholder: the gateway
//     refuses it, and each SDK raises its typed AuthenticationError.
// Only runs with a delegate key (LLMGW_KEY_LIBRECHAT) through a gateway (LLMGW_BASE);
// see README.md. tests/integration/test_librechat.py runs it and checks the audit rows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import {
  OPENAI_BASE, ANTHROPIC_BASE, MODEL, MOCK, RUN_ID, TIMEOUT_MS, testOpts, STREAM_DELAY_MS,
  expectText, expectCount, expectIncremental, now,
} from './env.mjs';

const E = process.env;
const KEY = E.LLMGW_KEY_LIBRECHAT;
const skip = !KEY ? 'set LLMGW_KEY_LIBRECHAT (a delegate key) to run the LibreChat tests'
  : (E.LLMGW_MOCK_READY && !E.LLMGW_BASE) ? 'LibreChat tests need the gateway (LLMGW_BASE)' : false;
const opts = { ...testOpts, skip };

// LibreChat users: LLMGW_LIBRECHAT_USERS="id|email|role;id|email|role" (role may be
// empty: that endpoint config sends no X-User-Role), else three made from the run id.
// LibreChat's user ids are MongoDB ObjectIds: 24 hex digits.
function users() {
  if (E.LLMGW_LIBRECHAT_USERS) {
    return E.LLMGW_LIBRECHAT_USERS.split(';').filter(Boolean).map((u) => {
      const [id, email, role] = u.split('|');
      return { id, email, role: role || null };
    });
  }
  const oid = (i) => createHash('sha1').update(`${RUN_ID}-${i}`).digest('hex').slice(0, 24);
  return [
    { id: oid(1), email: 'ada@example.com', role: 'USER' },
    { id: oid(2), email: 'grace@example.com', role: 'ADMIN' },
    { id: oid(3), email: 'linus@example.com', role: null },
  ];
}
export const USERS = users();
const conv = (u, what) => `${RUN_ID}-${u.id}-${what}`;

// The endpoint's `headers` after LibreChat substituted the user's fields.
function userHeaders(u, what) {
  const h = { 'X-User-Id': u.id, 'X-User-Email': u.email, 'X-Conversation-Id': conv(u, what) };
  if (u.role) h['X-User-Role'] = u.role;
  return h;
}

// Record what really leaves the client, to check the key travels as LibreChat sends it.
function recordingFetch(sent) {
  return (url, init) => {
    sent.push({ url: String(url), headers: new Headers(init?.headers), body: init?.body });
    return fetch(url, init);
  };
}

// LibreChat builds a client per request, with that user's resolved headers.
const openaiFor = (u, what, sent, key = KEY) => new OpenAI({
  baseURL: OPENAI_BASE, apiKey: key, maxRetries: 0, timeout: TIMEOUT_MS,
  defaultHeaders: { ...userHeaders(u, what), 'x-mock-delay-ms': String(STREAM_DELAY_MS) },
  fetch: recordingFetch(sent),
});
const anthropicFor = (u, what, sent, key = KEY) => new Anthropic({
  baseURL: ANTHROPIC_BASE, apiKey: key, maxRetries: 0, timeout: TIMEOUT_MS,
  // LibreChat's Anthropic client sends the key as x-api-key, as the SDK it bundles does.
  defaultHeaders: {
    ...userHeaders(u, what), 'x-api-key': key, Authorization: null,
    'x-mock-delay-ms': String(STREAM_DELAY_MS),
  },
  fetch: recordingFetch(sent),
});

function expectSent(sent, u, how) {
  assert.ok(sent.length > 0, 'a request left the client');
  for (const s of sent) {
    assert.equal(s.headers.get('x-user-id'), u.id);
    assert.equal(s.headers.get('x-user-email'), u.email);
    assert.equal(s.headers.get('x-user-role'), u.role);
    if (how === 'bearer') assert.equal(s.headers.get('authorization'), `Bearer ${KEY}`);
    else {
      assert.equal(s.headers.get('x-api-key'), KEY);
      assert.equal(s.headers.get('authorization'), null);
    }
  }
}

for (const u of USERS) {
  test(`librechat openai endpoint: streamed chat for user ${u.email}`, opts, async () => {
    const sent = [];
    const stream = await openaiFor(u, 'chat', sent).chat.completions.create({
      model: MODEL.openai,
      stream: true,
      stream_options: { include_usage: true },
      temperature: 1,
      user: u.id,
      messages: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: `[${RUN_ID}] Say hello to ${u.email}.` },
      ],
    });
    let text = '';
    let usage = null;
    const times = [];
    for await (const chunk of stream) {
      const d = chunk.choices[0]?.delta?.content;
      if (d) {
        text += d;
        times.push(now());
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expectText(text, MOCK.text.openaiChat);
    assert.ok(usage, 'usage chunk (LibreChat asks for it to count tokens)');
    expectCount(usage.prompt_tokens, MOCK.usage.chat.prompt_tokens, 'prompt_tokens');
    expectCount(usage.completion_tokens, MOCK.usage.chat.completion_tokens, 'completion_tokens');
    expectIncremental(times, 'librechat chat stream');
    expectSent(sent, u, 'bearer');
    const body = JSON.parse(sent[0].body);
    assert.equal(body.user, u.id, 'LibreChat puts the user id in the body too');
    assert.deepEqual(body.stream_options, { include_usage: true });
  });

  test(`librechat openai endpoint: conversation title (titleConvo) for user ${u.email}`, opts, async () => {
    const sent = [];
    const res = await openaiFor(u, 'title', sent).chat.completions.create({
      model: MODEL.openai,
      temperature: 0.2,
      max_tokens: 16,
      user: u.id,
      messages: [{
        role: 'user',
        content: `Please generate a concise, 5-word-or-less title for the conversation [${RUN_ID}].`,
      }],
    });
    expectText(res.choices[0].message.content, MOCK.text.openaiChat);
    expectCount(res.usage.total_tokens, MOCK.usage.chat.total_tokens, 'total_tokens');
    expectSent(sent, u, 'bearer');
  });

  test(`librechat anthropic endpoint: streamed message for user ${u.email}`, opts, async () => {
    const sent = [];
    const stream = anthropicFor(u, 'claude', sent).messages.stream({
      model: MODEL.anthropic,
      max_tokens: 8192,
      system: 'You are a helpful assistant.',
      metadata: { user_id: u.id },
      messages: [{ role: 'user', content: `[${RUN_ID}] Say hello to ${u.email}.` }],
    });
    const times = [];
    stream.on('text', () => times.push(now()));
    const final = await stream.finalMessage();
    expectText(final.content.filter((b) => b.type === 'text').map((b) => b.text).join(''),
      MOCK.text.anthropic);
    expectCount(final.usage.output_tokens, MOCK.usage.anthropic.output_tokens, 'output_tokens');
    expectIncremental(times, 'librechat anthropic stream');
    expectSent(sent, u, 'x-api-key');
    assert.deepEqual(JSON.parse(sent[0].body).metadata, { user_id: u.id });
  });
}

test('librechat models.fetch: GET /models with only the bearer key', opts, async () => {
  // LibreChat's fetchModels: axios GET `${baseURL}/models`, Authorization only.
  const r = await fetch(`${OPENAI_BASE}/models`, { headers: { Authorization: `Bearer ${KEY}` } });
  assert.equal(r.status, 200);
  const body = await r.json();
  const ids = body.data.map((m) => m.id);
  assert.ok(ids.length > 0, 'some models');
  assert.ok(ids.includes(MODEL.openai), `lists ${MODEL.openai}`);
});

test('librechat unexpanded placeholder: each SDK raises AuthenticationError', opts, async () => {
  // A user without an email: LibreChat leaves "{{LIBRECHAT_USER_EMAIL}}" as it is.
  const u = { ...USERS[0], email: '{{LIBRECHAT_USER_EMAIL}}' };
  await assert.rejects(
    openaiFor(u, 'placeholder', []).chat.completions.create({
      model: MODEL.openai, user: u.id, messages: [{ role: 'user', content: `[${RUN_ID}] hi` }],
    }),
    (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 401);
      return true;
    },
  );
  await assert.rejects(
    anthropicFor(u, 'placeholder', []).messages.create({
      model: MODEL.anthropic, max_tokens: 16, messages: [{ role: 'user', content: `[${RUN_ID}] hi` }],
    }),
    (err) => {
      assert.ok(err instanceof Anthropic.AuthenticationError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 401);
      assert.equal(err.error?.error?.type, 'authentication_error');
      return true;
    },
  );
});
