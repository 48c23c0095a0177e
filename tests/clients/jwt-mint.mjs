// jwt-mint.mjs — plays the identity provider for the identity tests, with the npm `jose`
// library: makes key pairs, prints JWKS documents and signed (or deliberately broken)
// tokens as one JSON object. Not a test file (node --test does not pick it up).
//
//   node jwt-mint.mjs < spec.json > out.json
//
// spec:
//   { "issuer": "https://idp.test", "audience": "llmgw",
//     "keys":   { "rsa1": {"alg": "RS256", "kid": "rsa-1"}, "ec1": {"alg": "ES256"} },
//     "jwks":   { "main": ["rsa1", "ec1"] },          // documents to print, by key name
//     "tokens": { "name": {
//         "key": "rsa1",              // signing key (by name)
//         "alg": "RS256",             // default: the key's alg
//         "kid": "other",             // header kid (default: the key's kid; null: none)
//         "typ": "JWT",               // header typ (default: none)
//         "sign": "jose" | "none" | "hs256-public-pem",   // default jose (a real signature)
//         "exp": 3600, "nbf": -10,    // seconds relative to now (null: leave the claim out)
//         "iss": "...", "aud": "..." | [...],               // default: the spec's
//         "claims": { ... }           // further claims
//     } } }
// out: { "jwks": {name: {keys: [...]}}, "tokens": {name: "…"}, "now": <seconds> }
import { readFileSync } from 'node:fs';
import {
  generateKeyPair, exportJWK, exportSPKI, SignJWT, UnsecuredJWT,
} from 'jose';

const spec = JSON.parse(readFileSync(0, 'utf8'));
const now = Math.floor(Date.now() / 1000);

const keys = {};
for (const [name, k] of Object.entries(spec.keys || {})) {
  const opts = { extractable: true };
  if (k.alg === 'EdDSA') opts.crv = 'Ed25519';
  if (k.alg.startsWith('RS') || k.alg.startsWith('PS')) opts.modulusLength = k.bits || 2048;
  const pair = await generateKeyPair(k.alg, opts);
  const jwk = await exportJWK(pair.publicKey);
  const kid = k.kid === undefined ? name : k.kid;
  if (kid !== null) jwk.kid = kid;
  if (k.use) jwk.use = k.use;
  if (k.jwkAlg) jwk.alg = k.jwkAlg;
  keys[name] = { ...pair, jwk, alg: k.alg, kid };
}

const jwks = {};
for (const [name, list] of Object.entries(spec.jwks || {})) {
  jwks[name] = { keys: list.map((k) => keys[k].jwk) };
}

function claimsOf(t) {
  const c = { iss: spec.issuer, aud: spec.audience, iat: now, ...(t.claims || {}) };
  if ('iss' in t) c.iss = t.iss;
  if ('aud' in t) c.aud = t.aud;
  const exp = 'exp' in t ? t.exp : 3600;
  if (exp !== null) c.exp = now + exp;
  if (t.nbf !== undefined && t.nbf !== null) c.nbf = now + t.nbf;
  for (const k of Object.keys(c)) if (c[k] === null) delete c[k];
  return c;
}

const tokens = {};
for (const [name, t] of Object.entries(spec.tokens || {})) {
  const k = keys[t.key];
  const header = { alg: t.alg || (k && k.alg) };
  const kid = 'kid' in t ? t.kid : k && k.kid;
  if (kid !== null && kid !== undefined) header.kid = kid;
  if (t.typ) header.typ = t.typ;
  const claims = claimsOf(t);
  const sign = t.sign || 'jose';
  if (sign === 'none') {
    tokens[name] = new UnsecuredJWT(claims).encode();
  } else if (sign === 'hs256-public-pem') {
    // the classic confusion attack: the verifier's RSA public key (PEM) as HMAC secret
    const pem = await exportSPKI(k.publicKey);
    tokens[name] = await new SignJWT(claims)
      .setProtectedHeader({ ...header, alg: 'HS256' })
      .sign(new TextEncoder().encode(pem));
  } else {
    tokens[name] = await new SignJWT(claims).setProtectedHeader(header).sign(k.privateKey);
  }
}

process.stdout.write(JSON.stringify({ jwks, tokens, now }));
