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
 * node:crypto's asynchronous signature jobs (SIGNREQUESTs given a callback, `ondone`; a
 * synchronous crypto.verify makes a SIGNREQUEST too, without one): the pool path really
 * taken, not a synchronous call behind a promise. `count()`: the jobs started so far;
 * `settled()`: resolves once every job started so far has called back, after at least one
 * macrotask round (a job is sorted once the frame that made it has returned).
 */
function countJobs() {
  const unsorted = new Map();
  const waiting = new Set();
  let started = 0;
  const sort = () => {
    for (const [id, resource] of unsorted) {
      if (typeof resource.ondone === "function") {
        started++;
        waiting.add(id);
      }
    }
    unsorted.clear();
  };
  const hook = createHook({
    init(id, type, _trigger, resource) {
      if (type === "SIGNREQUEST") unsorted.set(id, resource);
    },
    before(id) {
      if (unsorted.delete(id)) started++;
      else waiting.delete(id);
    },
  });
  hook.enable();
  return {
    count() {
      sort();
      return started;
    },
    async settled() {
      const deadline = Date.now() + 10_000;
      do {
        await new Promise((resolve) => setImmediate(resolve));
        sort();
        if (Date.now() > deadline) throw new Error(`${waiting.size} signature jobs never called back`);
      } while (waiting.size > 0);
    },
    stop: () => hook.disable(),
  };
}

/** The jobs of `byAlgorithm` ({ algorithm: jobs }) whose algorithm `pick` takes. */
const sum = (byAlgorithm, pick = () => true) =>
  Object.entries(byAlgorithm)
    .filter(([algorithm]) => pick(algorithm))
    .reduce((total, [, n]) => total + n, 0);
const POOLED = /^(?:EdDSA|ES256|ES384|ES512)$/;

test("every vector: the same verdict on every signature path (wasm, node:crypto sync and pool, WebCrypto)", async () => {
  const counter = countJobs();
  let report;
  try {
    report = await comparePaths({ base, full, keys, files, jobs: counter });
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
  // Each vector's jobs counted once they all called back: the module's path and verify()
  // never started one; verifyAsync() handed the math of EdDSA and ES* to node:crypto's
  // pool and kept RS* and PS* synchronous (native.js, poolFirst), and all in flight too
  // (WebCrypto's jobs are node:crypto's as well in Node).
  for (const path of ["wasm", "native"]) assert.equal(sum(jobs[path]), 0, `${path}: ${JSON.stringify(jobs[path])}`);
  for (const algorithm of ["RS256", "PS512", "HS256"]) assert.ok(Object.hasOwn(jobs.async, algorithm), `no ${algorithm} vectors counted`);
  assert.equal(sum(jobs.async, (algorithm) => !POOLED.test(algorithm)), 0, `async: ${JSON.stringify(jobs.async)}`);
  for (const algorithm of ["EdDSA", "ES256", "ES384", "ES512"]) assert.ok(jobs.async[algorithm] > 10, `async ${algorithm}: ${jobs.async[algorithm]} jobs`);
  assert.ok(sum(jobs.async) > 100, `async: ${sum(jobs.async)} asynchronous signature jobs`);
  assert.ok(jobs["async all in flight"].all > 100, `async all in flight: ${jobs["async all in flight"].all} jobs`);
  for (const path of ["webcrypto", "webcrypto all in flight"]) assert.ok(sum(jobs[path]) > 200, `${path}: ${sum(jobs[path])} asynchronous signature jobs`);
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
