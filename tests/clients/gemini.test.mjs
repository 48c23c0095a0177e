// Google Gen AI SDK (@google/genai 2.x, Gemini API) against the gateway's /google route (or the mock).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GoogleGenAI, ApiError } from '@google/genai';
import {
  GOOGLE_BASE, key, BAD_KEY, MODEL, MOCK, EXACT, TIMEOUT_MS, testOpts, convHeaders,
  streamHeaders, prompt, expectText, expectCount, expectIncremental, expectVector, now,
} from './env.mjs';

const U = MOCK.usage.gemini;

function client(k, sent = []) {
  return new GoogleGenAI({
    vertexai: false,
    apiKey: k,
    httpOptions: {
      baseUrl: GOOGLE_BASE,
      timeout: TIMEOUT_MS,
      // record what leaves the client: the key must travel as x-goog-api-key
      fetch: (url, init) => {
        sent.push({ url: String(url), headers: new Headers(init?.headers) });
        return fetch(url, init);
      },
    },
  });
}
const httpOptions = (headers) => ({ httpOptions: { headers } });

function expectKeySent(sent, k) {
  assert.ok(sent.length > 0, 'a request was sent');
  for (const s of sent) {
    assert.equal(s.headers.get('x-goog-api-key'), k, 'key sent as x-goog-api-key');
    assert.ok(!new URL(s.url).searchParams.has('key'), 'no ?key= in the URL');
  }
}

function expectUsage(u) {
  assert.ok(u, 'usageMetadata present');
  expectCount(u.promptTokenCount, U.promptTokenCount, 'promptTokenCount');
  expectCount(u.candidatesTokenCount, U.candidatesTokenCount, 'candidatesTokenCount');
  expectCount(u.totalTokenCount, U.totalTokenCount, 'totalTokenCount');
  expectCount(u.cachedContentTokenCount ?? 0, U.cachedContentTokenCount, 'cachedContentTokenCount');
  expectCount(u.thoughtsTokenCount ?? 0, U.thoughtsTokenCount, 'thoughtsTokenCount');
  assert.equal(u.totalTokenCount,
    u.promptTokenCount + u.candidatesTokenCount + (u.thoughtsTokenCount ?? 0) + (u.toolUsePromptTokenCount ?? 0),
    'total = prompt + candidates + thoughts');
}

test('gemini models.generateContent', testOpts, async () => {
  const name = 'gemini-generate';
  const sent = [];
  const res = await client(key.google, sent).models.generateContent({
    model: MODEL.gemini,
    contents: prompt(name),
    config: httpOptions(convHeaders(name)),
  });
  expectText(res.text, MOCK.text.gemini);
  assert.equal(res.candidates[0].finishReason, 'STOP');
  expectUsage(res.usageMetadata);
  expectKeySent(sent, key.google);
  assert.ok(sent[0].url.includes(`/v1beta/models/${MODEL.gemini}:generateContent`), sent[0].url);
});

test('gemini models.generateContentStream: text, running usage, final usage', testOpts, async () => {
  const name = 'gemini-generate-stream';
  const sent = [];
  const stream = await client(key.google, sent).models.generateContentStream({
    model: MODEL.gemini,
    contents: prompt(name),
    config: httpOptions(streamHeaders(name)),
  });
  let text = '';
  const times = [];
  const usages = [];
  let finish = null;
  for await (const chunk of stream) {
    const t = chunk.text;
    if (t) {
      text += t;
      times.push(now());
    }
    if (chunk.usageMetadata) usages.push(chunk.usageMetadata);
    if (chunk.candidates?.[0]?.finishReason) finish = chunk.candidates[0].finishReason;
  }
  expectText(text, MOCK.text.gemini);
  assert.equal(finish, 'STOP');
  assert.ok(usages.length > 0, 'usageMetadata in the stream');
  // running figures never go down; the last one is complete
  for (let i = 1; i < usages.length; i++) {
    assert.ok((usages[i].candidatesTokenCount ?? 0) >= (usages[i - 1].candidatesTokenCount ?? 0),
      'candidatesTokenCount does not decrease');
  }
  expectUsage(usages[usages.length - 1]);
  expectIncremental(times, 'gemini stream');
  expectKeySent(sent, key.google);
  assert.ok(sent[0].url.includes(':streamGenerateContent?alt=sse'), sent[0].url);
});

test('gemini models.embedContent (SDK: batchEmbedContents)', testOpts, async () => {
  const name = 'gemini-embed';
  const sent = [];
  const res = await client(key.google, sent).models.embedContent({
    model: MODEL.geminiEmbed,
    contents: [prompt(name), 'second input'],
    config: httpOptions(convHeaders(name)),
  });
  assert.equal(res.embeddings.length, 2);
  expectVector(res.embeddings[0].values, MOCK.embeddingDims, 'embeddings[0]');
  expectVector(res.embeddings[1].values, MOCK.embeddingDims, 'embeddings[1]');
  if (EXACT) assert.notDeepEqual(res.embeddings[0].values, res.embeddings[1].values);
  expectKeySent(sent, key.google);
});

test('gemini :embedContent route (plain fetch, single content)', testOpts, async () => {
  const name = 'gemini-embed-single';
  const url = `${GOOGLE_BASE}/v1beta/models/${MODEL.geminiEmbed}:embedContent`;
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-goog-api-key': key.google, ...convHeaders(name) },
    body: JSON.stringify({ content: { parts: [{ text: prompt(name) }] } }),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  assert.equal(res.status, 200, await res.clone().text());
  const body = await res.json();
  expectVector(body.embedding?.values, MOCK.embeddingDims, 'embedding');
});

test('gemini models.countTokens', testOpts, async () => {
  const name = 'gemini-count-tokens';
  const res = await client(key.google).models.countTokens({
    model: MODEL.gemini,
    contents: prompt(name),
    config: httpOptions(convHeaders(name)),
  });
  expectCount(res.totalTokens, MOCK.usage.geminiCount.totalTokens, 'totalTokens');
  assert.ok(res.totalTokens > 0);
});

test('gemini models.list (pageSize 3, follows nextPageToken)', testOpts, async () => {
  const sent = [];
  const pager = await client(key.google, sent).models.list({ config: { pageSize: 3 } });
  const names = [];
  for await (const m of pager) names.push(m.name);
  assert.ok(names.length > 0, 'some models');
  for (const n of names) assert.ok(n.startsWith('models/'), n);
  if (EXACT) {
    assert.deepEqual(names, MOCK.geminiModels.map((m) => `models/${m}`), 'all models across pages');
    assert.equal(sent.length, Math.ceil(MOCK.geminiModels.length / 3), 'one request per page');
    assert.ok(new URL(sent[1].url).searchParams.get('pageToken'), 'second page asked with pageToken');
  }
  expectKeySent(sent, key.google);
});

test('gemini wrong key raises ApiError with status 401', testOpts, async () => {
  const name = 'gemini-bad-key';
  await assert.rejects(
    client(BAD_KEY).models.generateContent({
      model: MODEL.gemini, contents: prompt(name), config: httpOptions(convHeaders(name)),
    }),
    (err) => {
      assert.ok(err instanceof ApiError, `ApiError, got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 401);
      const body = JSON.parse(err.message);
      assert.equal(body.error?.code, 401, 'Gemini error body: error.code');
      assert.equal(typeof body.error?.message, 'string', 'Gemini error body: error.message');
      assert.equal(typeof body.error?.status, 'string', 'Gemini error body: error.status');
      return true;
    },
  );
});
