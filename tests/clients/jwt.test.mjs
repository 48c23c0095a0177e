// JWTs as API keys (identity issue): the OpenAI and Anthropic SDKs send a JWT where they
// send an API key; valid tokens get answers, every refused token makes the SDK raise its
// typed AuthenticationError. Runs only when LLMGW_JWT_CASES names a JSON file
// {"good": {name: token}, "bad": {name: token}} (tests/integration/test_identity.py
// mints them with jwt-mint.mjs); skipped otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import {
  OPENAI_BASE, ANTHROPIC_BASE, MODEL, MOCK, TIMEOUT_MS, testOpts, convHeaders, prompt,
  expectText,
} from './env.mjs';

const E = process.env;
const cases = E.LLMGW_JWT_CASES ? JSON.parse(readFileSync(E.LLMGW_JWT_CASES, 'utf8')) : null;
const skip = cases ? false : 'LLMGW_JWT_CASES not set';
const opts = { ...testOpts, skip };

const openai = (tok) => new OpenAI({ baseURL: OPENAI_BASE, apiKey: tok, maxRetries: 0, timeout: TIMEOUT_MS });
const anthropic = (tok) => new Anthropic({ baseURL: ANTHROPIC_BASE, apiKey: tok, maxRetries: 0, timeout: TIMEOUT_MS });

for (const [name, tok] of Object.entries(cases?.good ?? { none: '' })) {
  test(`openai SDK with a valid JWT (${name})`, opts, async () => {
    const t = `jwt-openai-${name}`;
    const res = await openai(tok).chat.completions.create({
      model: MODEL.openai, messages: [{ role: 'user', content: prompt(t) }],
    }, { headers: convHeaders(t) });
    expectText(res.choices[0].message.content, MOCK.text.openaiChat);
  });

  test(`anthropic SDK with a valid JWT (${name})`, opts, async () => {
    const t = `jwt-anthropic-${name}`;
    const msg = await anthropic(tok).messages.create({
      model: MODEL.anthropic, max_tokens: 32, messages: [{ role: 'user', content: prompt(t) }],
    }, { headers: convHeaders(t) });
    expectText(msg.content[0].text, MOCK.text.anthropic);
  });
}

for (const [name, tok] of Object.entries(cases?.bad ?? { none: '' })) {
  test(`openai SDK raises AuthenticationError for a refused JWT (${name})`, opts, async () => {
    const t = `jwt-openai-bad-${name}`;
    await assert.rejects(
      openai(tok).chat.completions.create({
        model: MODEL.openai, messages: [{ role: 'user', content: prompt(t) }],
      }, { headers: convHeaders(t) }),
      (err) => {
        assert.ok(err instanceof OpenAI.AuthenticationError,
          `AuthenticationError, got ${err?.constructor?.name}: ${err}`);
        assert.equal(err.status, 401);
        assert.equal(err.code, 'invalid_api_key');
        assert.match(err.error?.message ?? '', /token/);
        return true;
      },
    );
  });

  test(`anthropic SDK raises AuthenticationError for a refused JWT (${name})`, opts, async () => {
    const t = `jwt-anthropic-bad-${name}`;
    await assert.rejects(
      anthropic(tok).messages.create({
        model: MODEL.anthropic, max_tokens: 16, messages: [{ role: 'user', content: prompt(t) }],
      }, { headers: convHeaders(t) }),
      (err) => {
        assert.ok(err instanceof Anthropic.AuthenticationError,
          `AuthenticationError, got ${err?.constructor?.name}: ${err}`);
        assert.equal(err.status, 401);
        assert.equal(err.error?.error?.type, 'authentication_error');
        assert.match(err.error?.error?.message ?? '', /token/);
        return true;
      },
    );
  });
}
