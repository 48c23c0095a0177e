// Azure OpenAI through the openai package's AzureOpenAI client, against the gateway's /azure
// route (or the mock).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { AzureOpenAI } from 'openai';
import {
  AZURE_BASE, key, BAD_KEY, MODEL, MOCK, EXACT, TIMEOUT_MS, testOpts, convHeaders,
  streamHeaders, prompt, expectText, expectCount, expectIncremental, expectVector, now,
} from './env.mjs';

const U = MOCK.usage.chat;

function client(k, sent = []) {
  return new AzureOpenAI({
    endpoint: AZURE_BASE, // the SDK calls {endpoint}/openai/deployments/{deployment}/...
    apiKey: k,
    apiVersion: MODEL.azureApiVersion,
    maxRetries: 0,
    timeout: TIMEOUT_MS,
    fetch: (url, init) => {
      sent.push({ url: String(url), headers: new Headers(init?.headers) });
      return fetch(url, init);
    },
  });
}

function expectSent(sent, k, deployment, op) {
  assert.ok(sent.length > 0, 'a request was sent');
  const u = new URL(sent[0].url);
  assert.ok(u.pathname.endsWith(`/openai/deployments/${deployment}/${op}`), u.pathname);
  assert.equal(u.searchParams.get('api-version'), MODEL.azureApiVersion);
  assert.equal(sent[0].headers.get('api-key'), k, 'key sent as api-key');
}

function expectChatUsage(usage) {
  assert.ok(usage, 'usage present');
  expectCount(usage.prompt_tokens, U.prompt_tokens, 'prompt_tokens');
  expectCount(usage.completion_tokens, U.completion_tokens, 'completion_tokens');
  expectCount(usage.total_tokens, U.total_tokens, 'total_tokens');
  if (EXACT) {
    assert.equal(usage.prompt_tokens_details?.cached_tokens, U.cached_tokens, 'cached_tokens');
    assert.equal(usage.completion_tokens_details?.reasoning_tokens, U.reasoning_tokens, 'reasoning_tokens');
  }
}

test('azure chat.completions non-stream', testOpts, async () => {
  const name = 'azure-chat';
  const sent = [];
  const res = await client(key.azure, sent).chat.completions.create({
    model: MODEL.azure,
    messages: [{ role: 'user', content: prompt(name) }],
  }, { headers: convHeaders(name) });
  assert.equal(res.object, 'chat.completion');
  assert.equal(res.choices[0].finish_reason, 'stop');
  expectText(res.choices[0].message.content, MOCK.text.azureChat);
  expectChatUsage(res.usage);
  expectSent(sent, key.azure, MODEL.azure, 'chat/completions');
});

test('azure chat.completions stream with include_usage', testOpts, async () => {
  const name = 'azure-chat-stream-usage';
  const sent = [];
  const stream = await client(key.azure, sent).chat.completions.create({
    model: MODEL.azure,
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'user', content: prompt(name) }],
  }, { headers: streamHeaders(name) });
  let text = '';
  const times = [];
  const usages = [];
  for await (const chunk of stream) {
    const d = chunk.choices?.[0]?.delta?.content;
    if (d) {
      text += d;
      times.push(now());
    }
    if (chunk.usage) usages.push(chunk);
  }
  expectText(text, MOCK.text.azureChat);
  assert.equal(usages.length, 1, 'exactly one chunk carries usage');
  assert.deepEqual(usages[0].choices, []);
  expectChatUsage(usages[0].usage);
  expectIncremental(times, 'azure stream');
  expectSent(sent, key.azure, MODEL.azure, 'chat/completions');
});

test('azure chat.completions stream without include_usage', testOpts, async () => {
  const name = 'azure-chat-stream';
  const stream = await client(key.azure).chat.completions.create({
    model: MODEL.azure,
    stream: true,
    messages: [{ role: 'user', content: prompt(name) }],
  }, { headers: streamHeaders(name) });
  let text = '';
  let finish = null;
  for await (const chunk of stream) {
    assert.ok(!chunk.usage, `no usage without include_usage: ${JSON.stringify(chunk)}`);
    const c = chunk.choices?.[0];
    if (c?.delta?.content) text += c.delta.content;
    if (c?.finish_reason) finish = c.finish_reason;
  }
  expectText(text, MOCK.text.azureChat);
  assert.equal(finish, 'stop');
});

test('azure embeddings', testOpts, async () => {
  const name = 'azure-embeddings';
  const sent = [];
  const res = await client(key.azure, sent).embeddings.create({
    model: MODEL.azureEmbed, input: prompt(name),
  }, { headers: convHeaders(name) });
  assert.equal(res.data.length, 1);
  expectVector(res.data[0].embedding, MOCK.embeddingDims, 'embedding');
  expectCount(res.usage.prompt_tokens, MOCK.usage.embeddings.prompt_tokens, 'prompt_tokens');
  expectSent(sent, key.azure, MODEL.azureEmbed, 'embeddings');
});

test('azure wrong key raises AuthenticationError (401)', testOpts, async () => {
  const name = 'azure-bad-key';
  await assert.rejects(
    client(BAD_KEY).chat.completions.create({
      model: MODEL.azure, messages: [{ role: 'user', content: prompt(name) }],
    }, { headers: convHeaders(name) }),
    (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, `AuthenticationError, got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 401);
      assert.equal(typeof err.error?.message, 'string');
      return true;
    },
  );
});
