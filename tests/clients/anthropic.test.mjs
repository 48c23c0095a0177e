// Anthropic SDK (@anthropic-ai/sdk 1.x) against the gateway's /anthropic route (or the mock).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import {
  ANTHROPIC_BASE, key, BAD_KEY, MODEL, MOCK, EXACT, TIMEOUT_MS, testOpts, convHeaders,
  streamHeaders, prompt, expectText, expectCount, expectIncremental, now,
} from './env.mjs';

const U = MOCK.usage.anthropic;

// How the key travels. @anthropic-ai/sdk 1.x sends both its `apiKey` and its `authToken`
// option as `Authorization: Bearer`; older SDKs, curl examples and many front ends send
// `x-api-key`, so that mode sets the header itself and drops Authorization. A fetch wrapper
// records what really left the client, and every test checks it.
function recordingFetch(sent) {
  return (url, init) => {
    sent.push(new Headers(init?.headers));
    return fetch(url, init);
  };
}
const MODES = {
  'x-api-key': (k, sent) => new Anthropic({
    baseURL: ANTHROPIC_BASE, apiKey: k, maxRetries: 0, timeout: TIMEOUT_MS, fetch: recordingFetch(sent),
    defaultHeaders: { 'x-api-key': k, Authorization: null },
  }),
  bearer: (k, sent) => new Anthropic({
    baseURL: ANTHROPIC_BASE, authToken: k, maxRetries: 0, timeout: TIMEOUT_MS, fetch: recordingFetch(sent),
  }),
};
function expectSentKey(mode, sent, k) {
  assert.ok(sent.length > 0, 'a request was sent');
  for (const h of sent) {
    if (mode === 'x-api-key') {
      assert.equal(h.get('x-api-key'), k, 'key sent as x-api-key');
      assert.equal(h.get('authorization'), null, 'no Authorization header');
    } else {
      assert.equal(h.get('authorization'), `Bearer ${k}`, 'key sent as Authorization: Bearer');
      assert.equal(h.get('x-api-key'), null, 'no x-api-key header');
    }
    assert.ok(h.get('anthropic-version'), 'anthropic-version sent');
  }
}
const plain = (k) => MODES['x-api-key'](k, []);

function expectUsage(usage) {
  assert.ok(usage, 'usage present');
  expectCount(usage.input_tokens, U.input_tokens, 'input_tokens');
  expectCount(usage.output_tokens, U.output_tokens, 'output_tokens');
  expectCount(usage.cache_creation_input_tokens ?? 0, U.cache_creation_input_tokens, 'cache_creation_input_tokens');
  expectCount(usage.cache_read_input_tokens ?? 0, U.cache_read_input_tokens, 'cache_read_input_tokens');
  if (EXACT) assert.equal(usage.output_tokens_details?.thinking_tokens, U.thinking_tokens, 'thinking_tokens');
}

const textOf = (msg) => msg.content.filter((b) => b.type === 'text').map((b) => b.text).join('');

for (const [mode, make] of Object.entries(MODES)) {
  test(`anthropic messages.create non-stream (${mode})`, testOpts, async () => {
    const name = `anthropic-messages-${mode}`;
    const sent = [];
    const msg = await make(key.anthropic, sent).messages.create({
      model: MODEL.anthropic,
      max_tokens: 64,
      messages: [{ role: 'user', content: prompt(name) }],
    }, { headers: convHeaders(name) });
    assert.equal(msg.type, 'message');
    assert.equal(msg.role, 'assistant');
    assert.equal(msg.stop_reason, 'end_turn');
    expectText(textOf(msg), MOCK.text.anthropic);
    expectUsage(msg.usage);
    expectSentKey(mode, sent, key.anthropic);
  });

  test(`anthropic messages.stream helper: final message and usage (${mode})`, testOpts, async () => {
    const name = `anthropic-messages-stream-${mode}`;
    const sent = [];
    const stream = make(key.anthropic, sent).messages.stream({
      model: MODEL.anthropic,
      max_tokens: 64,
      messages: [{ role: 'user', content: prompt(name) }],
    }, { headers: streamHeaders(name) });
    let deltas = '';
    const times = [];
    stream.on('text', (d) => {
      deltas += d;
      times.push(now());
    });
    const final = await stream.finalMessage();
    expectText(textOf(final), MOCK.text.anthropic);
    assert.equal(deltas, textOf(final));
    assert.equal(final.stop_reason, 'end_turn');
    expectUsage(final.usage);
    expectIncremental(times, 'anthropic stream');
    expectSentKey(mode, sent, key.anthropic);
  });

  test(`anthropic wrong key raises AuthenticationError (${mode})`, testOpts, async () => {
    const name = `anthropic-bad-key-${mode}`;
    const sent = [];
    await assert.rejects(
      make(BAD_KEY, sent).messages.create({
        model: MODEL.anthropic, max_tokens: 16, messages: [{ role: 'user', content: prompt(name) }],
      }, { headers: convHeaders(name) }),
      (err) => {
        assert.ok(err instanceof Anthropic.AuthenticationError,
          `AuthenticationError, got ${err?.constructor?.name}: ${err}`);
        assert.equal(err.status, 401);
        assert.equal(err.error?.type, 'error', 'Anthropic error envelope');
        assert.equal(err.error?.error?.type, 'authentication_error');
        assert.equal(typeof err.error?.error?.message, 'string');
        return true;
      },
    );
    expectSentKey(mode, sent, BAD_KEY);
  });
}

test('anthropic messages.create with the SDK\'s own apiKey handling', testOpts, async () => {
  const name = 'anthropic-messages-sdk-apikey';
  const c = new Anthropic({ baseURL: ANTHROPIC_BASE, apiKey: key.anthropic, maxRetries: 0, timeout: TIMEOUT_MS });
  const msg = await c.messages.create({
    model: MODEL.anthropic, max_tokens: 64, messages: [{ role: 'user', content: prompt(name) }],
  }, { headers: convHeaders(name) });
  expectText(textOf(msg), MOCK.text.anthropic);
  expectUsage(msg.usage);
});

test('anthropic messages.create stream:true raw events', testOpts, async () => {
  const name = 'anthropic-messages-raw-stream';
  const stream = await plain(key.anthropic).messages.create({
    model: MODEL.anthropic,
    max_tokens: 64,
    stream: true,
    messages: [{ role: 'user', content: prompt(name) }],
  }, { headers: streamHeaders(name) });
  const types = [];
  let text = '';
  let start = null;
  let delta = null;
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === 'message_start') start = ev.message;
    if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') text += ev.delta.text;
    if (ev.type === 'message_delta') delta = ev;
  }
  assert.equal(types[0], 'message_start');
  assert.equal(types[types.length - 1], 'message_stop');
  for (const t of ['content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta']) {
    assert.ok(types.includes(t), `saw ${t}`);
  }
  expectText(text, MOCK.text.anthropic);
  assert.ok(start?.usage, 'message_start carries usage');
  expectCount(start.usage.input_tokens, U.input_tokens, 'message_start input_tokens');
  expectCount(start.usage.cache_read_input_tokens ?? 0, U.cache_read_input_tokens, 'message_start cache_read');
  expectCount(start.usage.cache_creation_input_tokens ?? 0, U.cache_creation_input_tokens, 'message_start cache_creation');
  assert.ok(delta, 'message_delta seen');
  assert.equal(delta.delta.stop_reason, 'end_turn');
  expectCount(delta.usage.output_tokens, U.output_tokens, 'message_delta output_tokens (cumulative)');
});

test('anthropic messages.countTokens', testOpts, async () => {
  const name = 'anthropic-count-tokens';
  const res = await plain(key.anthropic).messages.countTokens({
    model: MODEL.anthropic,
    messages: [{ role: 'user', content: prompt(name) }],
  }, { headers: convHeaders(name) });
  expectCount(res.input_tokens, MOCK.usage.anthropicCount.input_tokens, 'input_tokens');
  assert.ok(res.input_tokens > 0);
});

test('anthropic models.list (paged, limit 2) and models.retrieve', testOpts, async () => {
  const c = plain(key.anthropic);
  const ids = [];
  for await (const m of c.models.list({ limit: 2 })) {
    assert.equal(m.type, 'model');
    ids.push(m.id);
  }
  if (EXACT) assert.deepEqual(ids, MOCK.anthropicModels, 'all models, across pages');
  else assert.ok(ids.length > 0);
  const page = await c.models.list({ limit: 2 });
  assert.equal(page.data.length, Math.min(2, ids.length));
  if (EXACT) {
    assert.equal(page.has_more, true);
    assert.equal(page.first_id, ids[0]);
    assert.equal(page.last_id, ids[1]);
  }
  const one = await c.models.retrieve(ids[0]);
  assert.equal(one.id, ids[0]);
  assert.equal(typeof one.display_name, 'string');
});
