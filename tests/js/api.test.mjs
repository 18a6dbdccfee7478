// The package's API beyond the vectors: argument errors, decode and expiry helpers,
// bearer(), keys in every form.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { TollgateError, Verifier, bearer, decode, expiresAt, isExpired, secondsLeft, verify } from "tollgate";

const keys = JSON.parse(readFileSync(new URL("../vectors/keys.json", import.meta.url), "utf8"));
const generated = JSON.parse(readFileSync(new URL("../vectors/generated.json", import.meta.url), "utf8")).vectors;
const vector = (name) => generated.find((v) => v.name === name);

function throwsCode(fn, code) {
  assert.throws(fn, (error) => error instanceof TollgateError && error.code === code && typeof error.message === "string");
}

test("decode and expiry helpers", () => {
  const v = vector("gen-hs256-access");
  const { header, payload } = decode(v.token);
  assert.deepEqual(header, { alg: "HS256", typ: "JWT" });
  assert.deepEqual(payload, v.claims);
  assert.equal(expiresAt(v.token), v.claims.exp);
  assert.equal(isExpired(v.token, { now: v.claims.exp - 1 }), false);
  assert.equal(isExpired(v.token, { now: v.claims.exp }), true);
  assert.equal(isExpired(v.token, { now: v.claims.exp, leeway: 1 }), false);
  assert.equal(secondsLeft(v.token, { now: v.claims.exp - 10 }), 10);
  assert.equal(secondsLeft(v.token, { now: v.claims.exp + 10 }), 0);
  // With today's clock this 2023 token is long expired.
  assert.equal(isExpired(v.token), true);
  throwsCode(() => decode("nope"), "token_malformed");
  throwsCode(() => decode("x".repeat(9000)), "token_too_large");
  throwsCode(() => decode(42), "argument_invalid");
  throwsCode(() => isExpired(v.token, { now: -1 }), "argument_invalid");
});

test("keys in every form, algorithm always from the options", () => {
  const v = vector("gen-eddsa-access");
  const options = { algorithm: "EdDSA", type: "access" };
  const now = v.now;
  for (const key of [keys.ed25519.public_jwk, keys.ed25519.public_pem, { keys: [keys.ed25519.public_jwk] }]) {
    assert.deepEqual(new Verifier(key, options).verify(v.token, { now }), v.claims);
  }
  assert.deepEqual(verify(v.token, keys.ed25519.public_jwk, { ...options, now }), v.claims);
  const hs = vector("gen-hs256-access");
  const secret = keys.hmac.secret;
  assert.deepEqual(new Verifier(new TextEncoder().encode(secret), { algorithm: "HS256" }).verify(hs.token, { now }), hs.claims);
  // A JWKS with keys for several algorithms keeps the ones for ours.
  const mixed = new Verifier({ keys: [keys.es256.public_jwk, keys.ed25519.public_jwk] }, options);
  assert.equal(mixed.keyCount, 1);
  throwsCode(() => new Verifier(keys.ed25519.public_jwk, {}), "argument_invalid");
  throwsCode(() => new Verifier(keys.ed25519.public_jwk, { algorithm: "none" }), "algorithm_unsupported");
  throwsCode(() => new Verifier("short", { algorithm: "HS256" }), "key_weak");
  // A PEM public key is never an HMAC secret (the classic algorithm confusion).
  throwsCode(() => new Verifier(keys.ed25519.public_pem, { algorithm: "HS256" }), "key_algorithm_mismatch");
  throwsCode(() => new Verifier(new TextEncoder().encode(keys.ed25519.public_pem), { algorithm: "HS256" }), "key_weak");
  throwsCode(() => new Verifier(42, { algorithm: "HS256" }), "argument_invalid");
  throwsCode(() => new Verifier(secret, { algorithm: "HS256", type: "bogus" }), "argument_invalid");
  throwsCode(() => new Verifier(secret, { algorithm: "HS256" }).verify(null), "argument_invalid");
  throwsCode(() => new Verifier(secret, { algorithm: "HS256" }).verify(hs.token, { now: hs.now, blacklist: [1] }), "argument_invalid");
  throwsCode(() => new Verifier(secret, { algorithm: "HS256" }).verify(hs.token, { now: hs.now, blacklist: new Set([hs.claims.jti]) }), "token_blacklisted");
});

test("bearer() reads the header as the server does", () => {
  assert.equal(bearer(undefined), null);
  assert.equal(bearer(""), null);
  assert.equal(bearer("Basic abc"), null);
  assert.equal(bearer("bearer abc"), null);
  assert.equal(bearer("Bearer abc"), "abc");
  assert.equal(bearer("  Bearer \t abc "), "abc");
  assert.equal(bearer("JWT abc", { types: ["Bearer", "JWT"] }), "abc");
  throwsCode(() => bearer("Bearer"), "bad_authorization_header");
  throwsCode(() => bearer("Bearer a b"), "bad_authorization_header");
  throwsCode(() => bearer(42), "argument_invalid");
});
