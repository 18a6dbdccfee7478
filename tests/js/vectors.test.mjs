// The shared vectors (tests/vectors/*.json) through the npm package, exactly as a user
// imports it: the same accept or reject, with the same code and message, as tollgate-core.
// Every vector runs through the `tollgate/rsa` entry (every algorithm) and, when its
// algorithm is in the default module (HS*, EdDSA, ES256), through `tollgate` too; there the
// others are refused at construction with algorithm_unsupported.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import * as base from "tollgate";
import * as full from "tollgate/rsa";
import { keyFor as keyForIn, vectorOptions } from "../runtimes/native-paths.js";

const dir = new URL("../vectors/", import.meta.url);
const keys = JSON.parse(readFileSync(new URL("keys.json", dir), "utf8"));
const files = readdirSync(dir).filter((f) => f.endsWith(".json") && f !== "keys.json").sort();

const keyFor = (spec, algorithm) => keyForIn(keys, spec, algorithm);

const BASE = ["HS256", "HS384", "HS512", "EdDSA", "ES256"];

function check(vector, { Verifier, TollgateError }) {
  const verifier = new Verifier(keyFor(vector.key, vector.algorithm), vectorOptions(vector));
  try {
    const claims = verifier.verify(vector.token, { now: vector.now, blacklist: vector.blacklisted ?? [] });
    assert.equal(vector.expect_fail, false, `${vector.name}: verified, expected ${vector.code}`);
    assert.deepEqual(claims, vector.claims, vector.name);
  } catch (error) {
    if (error instanceof assert.AssertionError) throw error;
    assert.ok(error instanceof TollgateError, `${vector.name}: ${error}`);
    assert.equal(vector.expect_fail, true, `${vector.name}: ${error.code} ${error.message}`);
    assert.equal(error.code, vector.code, vector.name);
    assert.equal(error.message, vector.message, vector.name);
  }
}

let total = 0;
let refused = 0;
for (const file of files) {
  const { vectors } = JSON.parse(readFileSync(new URL(file, dir), "utf8"));
  test(`vectors in ${file}`, () => {
    assert.ok(vectors.length > 0);
    for (const vector of vectors) {
      check(vector, full);
      if (BASE.includes(vector.algorithm)) {
        check(vector, base);
      } else {
        assert.throws(
          () => new base.Verifier(keyFor(vector.key, vector.algorithm), { algorithm: vector.algorithm }),
          (error) => error instanceof base.TollgateError && error.code === "algorithm_unsupported" && /tollgate\/rsa/.test(error.message),
          vector.name,
        );
        refused++;
      }
      total++;
    }
  });
}

test("both entries throw the one TollgateError class", () => {
  assert.equal(base.TollgateError, full.TollgateError);
});

test("every vector ran", () => {
  assert.ok(total >= 500, `only ${total} vectors`);
  assert.ok(refused >= 150, `only ${refused} vectors of RS*, PS*, ES384, ES512`);
});
