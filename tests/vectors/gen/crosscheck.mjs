// Reverse check with the `jose` npm package: every success vector (expect_fail false) must pass
// jose.jwtVerify (algorithms: [algorithm], currentDate: now, audience, issuer, clockTolerance:
// leeway) with the decoded protected header and payload equal to the vector's header/claims,
// and must satisfy Simple JWT's own rules for expect_type (exp and jti present, token_type,
// refresh_exp for sliding_refresh), which jose does not know about.
// Usage: node crosscheck.mjs FILE...   (run with tests/node_modules installed: setup.sh)
import { readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { decodeProtectedHeader, importJWK, jwtVerify } from "jose";

const here = dirname(fileURLToPath(import.meta.url));
const keys = JSON.parse(readFileSync(join(here, "..", "keys.json"), "utf8"));

// A key set ({"keys": [...]}) verifies with the member whose kid the token names.
function jwkFor(vector, spec = vector.key) {
  if (spec.keys) {
    const { kid } = decodeProtectedHeader(vector.token);
    const member = spec.keys.find((m) => (typeof m === "object" ? m.kid : keys[m]?.kid) === kid);
    if (!member) throw new Error(`no key with kid ${kid} in the set`);
    return jwkFor(vector, member);
  }
  if (typeof spec === "object") return spec;
  const entry = keys[spec];
  if (!entry) throw new Error(`unknown key ${spec}`);
  return entry.public_jwk ?? entry.jwk;
}

function simpleJwtRules(payload, vector) {
  const leeway = vector.leeway ?? 0;
  if (payload.exp === undefined) return "no exp";
  if (payload.jti === undefined) return "no jti";
  const type = vector.expect_type === "sliding_refresh" ? "sliding" : vector.expect_type;
  if (type !== "untyped" && payload.token_type !== type) return `token_type ${payload.token_type}`;
  if (vector.expect_type === "sliding_refresh" && !(payload.refresh_exp > vector.now - leeway)) {
    return "refresh_exp passed or missing";
  }
  return null;
}

async function check(vector) {
  const key = await importJWK(jwkFor(vector), vector.algorithm);
  const options = {
    algorithms: [vector.algorithm],
    currentDate: new Date(vector.now * 1000),
    clockTolerance: vector.leeway ?? 0,
  };
  if (vector.audience != null) options.audience = vector.audience;
  if (vector.issuer != null) options.issuer = vector.issuer;
  // jose has maxTokenAge (with the same tolerance rule), not maxLifetime.
  if (vector.max_token_age != null) options.maxTokenAge = vector.max_token_age;
  const { payload, protectedHeader } = await jwtVerify(vector.token, key, options);
  if (!isDeepStrictEqual(protectedHeader, vector.header)) {
    return `header ${JSON.stringify(protectedHeader)} != ${JSON.stringify(vector.header)}`;
  }
  if (!isDeepStrictEqual(payload, vector.claims)) {
    return `payload ${JSON.stringify(payload)} != ${JSON.stringify(vector.claims)}`;
  }
  return simpleJwtRules(payload, vector);
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node crosscheck.mjs FILE...");
  process.exit(2);
}
let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of files) {
  for (const vector of JSON.parse(readFileSync(file, "utf8")).vectors) {
    if (vector.expect_fail) {
      skipped++;
      continue;
    }
    let problem;
    try {
      problem = await check(vector);
    } catch (error) {
      problem = `${error.code ?? error.name}: ${error.message}`;
    }
    if (problem) {
      failed++;
      console.error(`FAIL jose ${basename(file)} ${vector.name}: ${problem}`);
    } else {
      passed++;
    }
  }
}
console.log(`crosscheck-jose: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
