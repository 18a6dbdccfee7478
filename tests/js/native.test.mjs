// The package's signature paths agree on every vector (issue #17): the module's math
// (crypto: "wasm"), node:crypto through verify() (synchronous) and verifyAsync() (its
// asynchronous form, on libuv's pool, for EdDSA and ES*), and WebCrypto (crypto:
// "webcrypto") give each shared vector (tests/vectors/*.json) and each malleability
// vector (tests/vectors/native/malleable.json) exactly the core's verdict.
// The same check runs in Bun, Deno, workerd and Chromium (tests/runtimes/).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { createHook } from "node:async_hooks";
import * as base from "tollgate";
import * as full from "tollgate/rsa";
import { comparePaths } from "../runtimes/native-paths.js";

const dir = new URL("../vectors/", import.meta.url);
const read = (url) => JSON.parse(readFileSync(url, "utf8"));
const keys = read(new URL("keys.json", dir));
const files = [
  ...readdirSync(dir).filter((f) => f.endsWith(".json") && f !== "keys.json").sort().map((name) => ({ name, url: new URL(name, dir) })),
  { name: "native/malleable.json", url: new URL("native/malleable.json", dir) },
].map(({ name, url }) => ({ name, vectors: read(url).vectors }));

/**
 * node:crypto's asynchronous signature jobs whose callback ran (a SIGNREQUEST's `before`;
 * a synchronous crypto.verify makes a SIGNREQUEST too, but never calls back): the pool
 * path really taken, not a synchronous call behind a promise.
 */
function countJobs() {
  const ids = new Set();
  let answered = 0;
  const hook = createHook({
    init(id, type) {
      if (type === "SIGNREQUEST") ids.add(id);
    },
    before(id) {
      if (ids.delete(id)) answered++;
    },
  });
  hook.enable();
  return { jobs: () => answered, stop: () => hook.disable() };
}

test("every vector: the same verdict on every signature path (wasm, node:crypto sync and pool, WebCrypto)", async () => {
  const counter = countJobs();
  let report;
  try {
    report = await comparePaths({ base, full, keys, files, jobs: counter.jobs });
  } finally {
    counter.stop();
  }
  const { total, runs, mismatches, asked, jobs } = report;
  assert.deepEqual(mismatches, []);
  assert.ok(total >= 560, `only ${total} vectors`);
  assert.ok(runs >= total * 4, `${runs} runs`);
  // The native paths really asked native code (no silent fallback to the module), and
  // the module's path never did.
  assert.equal(asked.wasm, 0);
  for (const path of ["native", "async", "webcrypto"]) assert.ok(asked[path] > 200, `${path}: ${asked[path]} native checks`);
  // verifyAsync() handed the math of EdDSA and ES* to node:crypto's pool (RS*/PS* stay
  // synchronous: native.js, poolFirst), verify() never did, and all in flight too
  // (WebCrypto's jobs are node:crypto's as well in Node).
  assert.equal(jobs.wasm, 0);
  assert.equal(jobs.native, 0);
  for (const path of ["async", "async all in flight"]) assert.ok(jobs[path] > 100, `${path}: ${jobs[path]} asynchronous signature jobs`);
  for (const path of ["webcrypto", "webcrypto all in flight"]) assert.ok(jobs[path] > 200, `${path}: ${jobs[path]} asynchronous signature jobs`);
});

test("keys the core refuses never reach native code: a 1024-bit RSA key, a small-order Ed25519 key", () => {
  for (const crypto of ["native", "webcrypto", "wasm"]) {
    assert.throws(() => new full.Verifier(keys["rsa-weak"].public_jwk, { algorithm: "RS256", crypto }), { code: "key_weak" });
    const identity = `AQ${"A".repeat(41)}`; // 0x01 then 31 zero bytes: the identity point
    assert.throws(() => new base.Verifier({ kty: "OKP", crv: "Ed25519", x: identity }, { algorithm: "EdDSA", crypto }), { code: "key_weak" });
  }
});

test("options.crypto: native, webcrypto or wasm", () => {
  assert.throws(() => new base.Verifier(keys.ed25519.public_jwk, { algorithm: "EdDSA", crypto: "openssl" }), {
    code: "argument_invalid",
    message: "options.crypto must be native, webcrypto, wasm",
  });
});
