// Shared configuration for the real-SDK client tests. Everything comes from environment
// variables (see README.md); nothing here talks to the network.
import { readFileSync } from 'node:fs';
import assert from 'node:assert/strict';

const E = process.env;
const trim = (s) => s.replace(/\/+$/, '');

// Optional: point every provider straight at tests/mocks/mock_providers.py by giving the
// mock's --ready-file ({"openai":port,...}). Explicit LLMGW_BASE_* still win.
let mockPorts = null;
if (E.LLMGW_MOCK_READY) {
  mockPorts = JSON.parse(readFileSync(E.LLMGW_MOCK_READY, 'utf8'));
}
const MOCK_PREFIX = { OPENAI: '/v1', ANTHROPIC: '', GOOGLE: '', AZURE: '' };
const MOCK_FLAVOUR = { OPENAI: 'openai', ANTHROPIC: 'anthropic', GOOGLE: 'gemini', AZURE: 'azure' };

export const BASE = trim(E.LLMGW_BASE || 'http://127.0.0.1:8080');

function baseFor(p, defPrefix) {
  if (E[`LLMGW_BASE_${p}`]) return trim(E[`LLMGW_BASE_${p}`]);
  if (mockPorts && !E.LLMGW_BASE) {
    const port = mockPorts[MOCK_FLAVOUR[p]];
    if (port) return `http://127.0.0.1:${port}${MOCK_PREFIX[p]}`;
  }
  const prefix = E[`LLMGW_PREFIX_${p}`] ?? defPrefix;
  return trim(BASE + prefix);
}

/** Full base URLs, prefix included, in the form each SDK expects. */
export const OPENAI_BASE = baseFor('OPENAI', '/v1'); //      new OpenAI({ baseURL })
export const ANTHROPIC_BASE = baseFor('ANTHROPIC', '/anthropic'); // new Anthropic({ baseURL })
export const GOOGLE_BASE = baseFor('GOOGLE', '/google'); //  httpOptions.baseUrl
export const AZURE_BASE = baseFor('AZURE', '/azure'); //     new AzureOpenAI({ endpoint })

function keyFor(p) {
  const k = E[`LLMGW_KEY_${p}`] || E.LLMGW_KEY
    || (mockPorts && !E.LLMGW_BASE ? `mock-${MOCK_FLAVOUR[p]}-key` : undefined);
  if (!k) throw new Error(`set LLMGW_KEY (or LLMGW_KEY_${p}): the key the ${p} client sends`);
  return k;
}
export const key = {
  get openai() { return keyFor('OPENAI'); },
  get anthropic() { return keyFor('ANTHROPIC'); },
  get google() { return keyFor('GOOGLE'); },
  get azure() { return keyFor('AZURE'); },
};
export const BAD_KEY = E.LLMGW_BAD_KEY || 'llmgw-wrong-key-0000000000';

export const RUN_ID = E.LLMGW_RUN_ID || `run${Date.now()}`;

/** Header set tagging a request so its audit row can be found: X-Conversation-Id. */
export function convHeaders(testName) {
  return { 'X-Conversation-Id': `${RUN_ID}-${testName}` };
}
/** A prompt that carries the run id and the test name. */
export function prompt(testName) {
  return `[${RUN_ID} ${testName}] Say hello.`;
}

export const MODEL = {
  openai: E.LLMGW_MODEL_OPENAI || 'gpt-4o-mini',
  openaiEmbed: E.LLMGW_MODEL_OPENAI_EMBED || 'text-embedding-3-small',
  anthropic: E.LLMGW_MODEL_ANTHROPIC || 'claude-3-haiku-20240307',
  gemini: E.LLMGW_MODEL_GEMINI || 'gemini-2.0-flash',
  geminiEmbed: E.LLMGW_MODEL_GEMINI_EMBED || 'text-embedding-004',
  azure: E.LLMGW_AZURE_DEPLOYMENT || 'gpt-4o',
  azureEmbed: E.LLMGW_AZURE_EMBED_DEPLOYMENT || 'text-embedding-3-small',
  azureApiVersion: E.LLMGW_AZURE_API_VERSION || '2024-10-21',
};

// The upstream is tests/mocks/mock_providers.py (directly or behind the gateway) unless
// LLMGW_EXACT=0: then texts and token figures are only checked for plausibility.
export const EXACT = (E.LLMGW_EXACT ?? '1') !== '0';

/** Per-event pause requested from the mock for stream tests (header x-mock-delay-ms). */
export const STREAM_DELAY_MS = Number(E.LLMGW_STREAM_DELAY_MS || 25);
export const streamHeaders = (testName) => ({
  ...convHeaders(testName),
  'x-mock-delay-ms': String(STREAM_DELAY_MS),
});

export const TIMEOUT_MS = Number(E.LLMGW_TIMEOUT_MS || 30000);
export const testOpts = { timeout: TIMEOUT_MS + 5000 };

// What tests/mocks/mock_providers.py answers (its docstring and README).
export const MOCK = {
  text: {
    openaiChat: 'Hello from the mock OpenAI provider.',
    openaiResponses: 'Hello from the mock OpenAI Responses API.',
    anthropic: 'Hello from the mock Anthropic provider.',
    gemini: 'Hello from the mock Gemini provider.',
    azureChat: 'Hello from the mock Azure OpenAI provider.',
  },
  usage: {
    chat: { prompt_tokens: 25, completion_tokens: 12, total_tokens: 37, cached_tokens: 5, reasoning_tokens: 3 },
    responses: { input_tokens: 30, output_tokens: 14, total_tokens: 44, cached_tokens: 6, reasoning_tokens: 4 },
    embeddings: { prompt_tokens: 8, total_tokens: 8 },
    anthropic: {
      input_tokens: 20, cache_creation_input_tokens: 7, cache_read_input_tokens: 9,
      output_tokens: 15, thinking_tokens: 4,
    },
    anthropicCount: { input_tokens: 20 },
    gemini: {
      promptTokenCount: 18, cachedContentTokenCount: 4, candidatesTokenCount: 11,
      thoughtsTokenCount: 6, totalTokenCount: 35,
    },
    geminiCount: { totalTokens: 18 },
  },
  embeddingDims: 16,
  openaiModels: ['gpt-4o', 'gpt-4o-mini', 'gpt-3.5-turbo', 'text-embedding-3-small'],
  anthropicModels: [
    'claude-sonnet-4-20250514', 'claude-3-7-sonnet-20250219', 'claude-3-5-haiku-20241022',
    'claude-3-opus-20240229', 'claude-3-haiku-20240307',
  ],
  geminiModels: [
    'gemini-2.5-pro', 'gemini-2.5-flash', 'gemini-2.0-flash', 'gemini-1.5-pro', 'gemini-pro',
    'text-embedding-004', 'gemini-embedding-001',
  ],
};

/** The reply text: exactly the mock's, or (LLMGW_EXACT=0) any non-empty text. */
export function expectText(actual, expected) {
  assert.equal(typeof actual, 'string', 'reply text is a string');
  if (EXACT) assert.equal(actual, expected);
  else assert.ok(actual.trim().length > 0, 'reply text is not empty');
}

/** A usage figure: exactly the mock's, or (LLMGW_EXACT=0) a non-negative integer. */
export function expectCount(actual, expected, what) {
  assert.ok(Number.isInteger(actual) && actual >= 0, `${what} is a count, got ${actual}`);
  if (EXACT) assert.equal(actual, expected, what);
}

/** The deltas of a stream arrived spread out in time, not in one buffered lump. */
/* Arrival-time spreads depend on the client being scheduled promptly, so the check is
 * opt-in (LLMGW_CHECK_INCREMENTAL=1); the integration suite proves unbuffered delivery
 * deterministically with the mock's x-mock-gate (tests/integration/test_proxy.py). */
const CHECK_INCREMENTAL = E.LLMGW_CHECK_INCREMENTAL === '1';
export function expectIncremental(times, what) {
  assert.ok(times.length >= 2, `${what}: more than one delta (got ${times.length})`);
  if (!CHECK_INCREMENTAL || !EXACT || STREAM_DELAY_MS <= 0) return;
  const span = times[times.length - 1] - times[0];
  const min = STREAM_DELAY_MS * (times.length - 1) * 0.5;
  assert.ok(span >= min,
    `${what}: ${times.length} deltas arrived within ${span.toFixed(1)} ms (expected >= ${min} ms): stream was buffered`);
}

export const now = () => performance.now();

/** Little helper to check a vector is a finite, unit-length float list. */
export function expectVector(v, dims, what) {
  assert.ok(Array.isArray(v) || ArrayBuffer.isView(v), `${what} is an array`);
  if (EXACT) assert.equal(v.length, dims, `${what} length`);
  else assert.ok(v.length > 0, `${what} not empty`);
  let n = 0;
  for (const x of v) {
    assert.ok(Number.isFinite(x), `${what} has finite numbers`);
    n += x * x;
  }
  if (EXACT) assert.ok(Math.abs(Math.sqrt(n) - 1) < 1e-3, `${what} is unit length (mock), got ${Math.sqrt(n)}`);
}
