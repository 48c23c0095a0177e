// OpenAI SDK (openai 6.x) against the gateway's /v1 route (or the mock directly).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import {
  OPENAI_BASE, key, BAD_KEY, MODEL, MOCK, EXACT, TIMEOUT_MS, testOpts, convHeaders,
  streamHeaders, prompt, expectText, expectCount, expectIncremental, expectVector, now,
} from './env.mjs';

const client = () => new OpenAI({ baseURL: OPENAI_BASE, apiKey: key.openai, maxRetries: 0, timeout: TIMEOUT_MS });
const U = MOCK.usage.chat;
const R = MOCK.usage.responses;

function expectChatUsage(usage) {
  assert.ok(usage, 'usage present');
  expectCount(usage.prompt_tokens, U.prompt_tokens, 'prompt_tokens');
  expectCount(usage.completion_tokens, U.completion_tokens, 'completion_tokens');
  expectCount(usage.total_tokens, U.total_tokens, 'total_tokens');
  assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, 'total = prompt + completion');
  if (EXACT) {
    assert.equal(usage.prompt_tokens_details?.cached_tokens, U.cached_tokens, 'cached_tokens');
    assert.equal(usage.completion_tokens_details?.reasoning_tokens, U.reasoning_tokens, 'reasoning_tokens');
  }
}

function expectResponsesUsage(usage) {
  assert.ok(usage, 'usage present');
  expectCount(usage.input_tokens, R.input_tokens, 'input_tokens');
  expectCount(usage.output_tokens, R.output_tokens, 'output_tokens');
  expectCount(usage.total_tokens, R.total_tokens, 'total_tokens');
  expectCount(usage.input_tokens_details?.cached_tokens ?? 0, R.cached_tokens, 'input_tokens_details.cached_tokens');
  expectCount(usage.output_tokens_details?.reasoning_tokens ?? 0, R.reasoning_tokens,
    'output_tokens_details.reasoning_tokens');
}

test('openai chat.completions non-stream', testOpts, async () => {
  const name = 'openai-chat';
  const res = await client().chat.completions.create({
    model: MODEL.openai,
    messages: [{ role: 'user', content: prompt(name) }],
  }, { headers: convHeaders(name) });
  assert.equal(res.object, 'chat.completion');
  assert.equal(res.choices.length, 1);
  assert.equal(res.choices[0].message.role, 'assistant');
  assert.equal(res.choices[0].finish_reason, 'stop');
  expectText(res.choices[0].message.content, MOCK.text.openaiChat);
  expectChatUsage(res.usage);
});

test('openai chat.completions stream without include_usage: text, no usage chunk', testOpts, async () => {
  const name = 'openai-chat-stream';
  const stream = await client().chat.completions.create({
    model: MODEL.openai,
    stream: true,
    messages: [{ role: 'user', content: prompt(name) }],
  }, { headers: streamHeaders(name) });
  let text = '';
  let finish = null;
  let chunks = 0;
  const times = [];
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    // the client did not ask for usage: no usage-only chunk may reach it
    assert.equal(chunk.choices.length, 1, `every chunk has a choice: ${JSON.stringify(chunk)}`);
    assert.ok(!chunk.usage, `no usage without include_usage: ${JSON.stringify(chunk)}`);
    const c = chunk.choices[0];
    if (c.delta?.content) {
      text += c.delta.content;
      times.push(now());
    }
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.ok(chunks >= 3, 'several chunks');
  assert.equal(finish, 'stop');
  expectText(text, MOCK.text.openaiChat);
  expectIncremental(times, 'chat stream');
});

test('openai chat.completions stream with include_usage: usage in the last chunk', testOpts, async () => {
  const name = 'openai-chat-stream-usage';
  const stream = await client().chat.completions.create({
    model: MODEL.openai,
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'user', content: prompt(name) }],
  }, { headers: streamHeaders(name) });
  const chunks = [];
  let text = '';
  const times = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    const d = chunk.choices[0]?.delta?.content;
    if (d) {
      text += d;
      times.push(now());
    }
  }
  expectText(text, MOCK.text.openaiChat);
  const last = chunks[chunks.length - 1];
  assert.deepEqual(last.choices, [], 'the usage chunk has no choices');
  expectChatUsage(last.usage);
  for (const c of chunks.slice(0, -1)) assert.ok(!c.usage, 'only the last chunk carries usage');
  expectIncremental(times, 'chat stream (include_usage)');
});

test('openai chat.completions.stream helper: final completion and usage', testOpts, async () => {
  const name = 'openai-chat-stream-helper';
  const runner = client().chat.completions.stream({
    model: MODEL.openai,
    stream_options: { include_usage: true },
    messages: [{ role: 'user', content: prompt(name) }],
  }, { headers: convHeaders(name) });
  let deltas = '';
  runner.on('content', (d) => { deltas += d; });
  const final = await runner.finalChatCompletion();
  expectText(final.choices[0].message.content, MOCK.text.openaiChat);
  assert.equal(deltas, final.choices[0].message.content);
  expectChatUsage(final.usage);
});

test('openai responses non-stream', testOpts, async () => {
  const name = 'openai-responses';
  const res = await client().responses.create({
    model: MODEL.openai,
    input: prompt(name),
  }, { headers: convHeaders(name) });
  assert.equal(res.object, 'response');
  assert.equal(res.status, 'completed');
  expectText(res.output_text, MOCK.text.openaiResponses);
  expectResponsesUsage(res.usage);
});

test('openai responses stream: event sequence, text and usage', testOpts, async () => {
  const name = 'openai-responses-stream';
  const stream = await client().responses.create({
    model: MODEL.openai,
    input: prompt(name),
    stream: true,
  }, { headers: streamHeaders(name) });
  const types = [];
  let text = '';
  let completed = null;
  const times = [];
  let seq = -1;
  for await (const ev of stream) {
    types.push(ev.type);
    assert.ok(ev.sequence_number > seq, 'sequence numbers increase');
    seq = ev.sequence_number;
    if (ev.type === 'response.output_text.delta') {
      text += ev.delta;
      times.push(now());
    }
    if (ev.type === 'response.completed') completed = ev.response;
  }
  assert.equal(types[0], 'response.created');
  assert.equal(types[types.length - 1], 'response.completed');
  for (const t of ['response.in_progress', 'response.output_item.added', 'response.content_part.added',
    'response.output_text.done', 'response.content_part.done', 'response.output_item.done']) {
    assert.ok(types.includes(t), `saw ${t}`);
  }
  expectText(text, MOCK.text.openaiResponses);
  assert.ok(completed, 'response.completed carries the response');
  assert.equal(completed.status, 'completed');
  expectResponsesUsage(completed.usage);
  expectIncremental(times, 'responses stream');
});

test('openai responses.stream helper: final response', testOpts, async () => {
  const name = 'openai-responses-stream-helper';
  const stream = client().responses.stream({ model: MODEL.openai, input: prompt(name) },
    { headers: convHeaders(name) });
  let deltas = '';
  stream.on('response.output_text.delta', (ev) => { deltas += ev.delta; });
  const final = await stream.finalResponse();
  expectText(final.output_text, MOCK.text.openaiResponses);
  assert.equal(deltas, final.output_text);
  expectResponsesUsage(final.usage);
});

test('openai embeddings (SDK default base64 and explicit float)', testOpts, async () => {
  const name = 'openai-embeddings';
  const c = client();
  // no encoding_format: the SDK asks for base64 and decodes it
  const a = await c.embeddings.create({ model: MODEL.openaiEmbed, input: prompt(name) },
    { headers: convHeaders(name) });
  assert.equal(a.object, 'list');
  assert.equal(a.data.length, 1);
  expectVector(a.data[0].embedding, MOCK.embeddingDims, 'embedding');
  expectCount(a.usage.prompt_tokens, MOCK.usage.embeddings.prompt_tokens, 'prompt_tokens');
  expectCount(a.usage.total_tokens, MOCK.usage.embeddings.total_tokens, 'total_tokens');
  // explicit float, two inputs: the first must be the same vector as above
  const b = await c.embeddings.create({
    model: MODEL.openaiEmbed, input: [prompt(name), 'second input'], encoding_format: 'float',
  }, { headers: convHeaders(`${name}-float`) });
  assert.equal(b.data.length, 2);
  assert.deepEqual(b.data.map((d) => d.index), [0, 1]);
  expectVector(b.data[1].embedding, MOCK.embeddingDims, 'embedding[1]');
  if (EXACT) {
    assert.deepEqual(Array.from(b.data[0].embedding), Array.from(a.data[0].embedding),
      'same input, same vector, whatever the encoding');
  }
});

test('openai models.list and models.retrieve', testOpts, async () => {
  const c = client();
  const ids = [];
  for await (const m of c.models.list()) {
    assert.equal(m.object, 'model');
    ids.push(m.id);
  }
  assert.ok(ids.length > 0, 'some models');
  if (EXACT) for (const id of MOCK.openaiModels) assert.ok(ids.includes(id), `lists ${id}`);
  const one = await c.models.retrieve(EXACT ? 'gpt-4o' : ids[0]);
  assert.equal(one.id, EXACT ? 'gpt-4o' : ids[0]);
});

test('openai wrong key raises AuthenticationError (401)', testOpts, async () => {
  const name = 'openai-bad-key';
  const bad = new OpenAI({ baseURL: OPENAI_BASE, apiKey: BAD_KEY, maxRetries: 0, timeout: TIMEOUT_MS });
  await assert.rejects(
    bad.chat.completions.create({ model: MODEL.openai, messages: [{ role: 'user', content: prompt(name) }] },
      { headers: convHeaders(name) }),
    (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, `AuthenticationError, got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 401);
      assert.equal(typeof err.error?.message, 'string', 'OpenAI error body has error.message');
      assert.ok('type' in err.error, 'OpenAI error body has error.type');
      return true;
    },
  );
  await assert.rejects(bad.models.list(), OpenAI.AuthenticationError);
});
