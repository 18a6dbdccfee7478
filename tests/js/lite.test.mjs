// The `tollgate/client` entry decodes in plain JS (pkg/src/decode.js); the main entry in
// tollgate-core through WebAssembly. They must give the same verdict on every input:
// the same value, or an error with the same code. Checked on every shared vector, on
// hand-written edge cases of the core's rules, and on seeded random tokens (mutations of
// the vectors, and random JSON in header and payload). And its client against a real
// server (target/debug/tollgate).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as full from "tollgate";
import * as lite from "tollgate/client";
import { startServer, stopServers } from "./server.mjs";

const vectorFiles = ["generated", "pyjwt", "simplejwt", "jose"];
const vectors = vectorFiles.flatMap((f) => JSON.parse(readFileSync(new URL(`../vectors/${f}.json`, import.meta.url))).vectors);
const b64 = (s) => Buffer.from(s).toString("base64url");
const NOW = 1_700_000_000;

/** What a call gives: its value, or its error's code (a non-TollgateError fails). */
function outcome(fn) {
  try {
    return { value: fn() };
  } catch (error) {
    if (!(error instanceof full.TollgateError)) throw error;
    return { code: error.code };
  }
}

/** Every helper of both entries on `token`; returns the number of calls compared. */
function same(token, label) {
  const calls = [
    ["decode", (m) => m.decode(token)],
    ["expiresAt", (m) => m.expiresAt(token)],
    ["isExpired", (m) => m.isExpired(token, { now: NOW, leeway: 5 })],
    ["secondsLeft", (m) => m.secondsLeft(token, { now: NOW })],
  ];
  for (const [name, call] of calls) {
    assert.deepEqual(outcome(() => call(lite)), outcome(() => call(full)), `${name}(${label}): ${JSON.stringify(token).slice(0, 300)}`);
  }
  return calls.length;
}

const token = (header, payload, signature = "c2ln") => `${b64(header)}.${b64(payload)}.${signature}`;

test("the error class is the main entry's", () => {
  assert.equal(lite.TollgateError, full.TollgateError);
});

test("every shared vector", () => {
  let n = 0;
  for (const v of vectors) n += same(v.token, v.name);
  assert.ok(vectors.length > 300, `${vectors.length} vectors`);
  console.log(`# ${vectors.length} vectors, ${n} calls, same verdicts`);
});

test("edge cases of the core's rules", () => {
  const H = '{"alg":"HS256","typ":"JWT"}';
  const P = '{"exp":1700000100,"user_id":"1"}';
  const headers = [
    H, '{"alg":"HS256"}', '{"alg":""}', '{"typ":"JWT"}', '{"alg":1}', '{"alg":null}', '{"alg":"HS256","typ":"jWt"}',
    '{"alg":"HS256","typ":"JWS"}', '{"alg":"HS256","typ":1}', '{"alg":"HS256","typ":"JWT "}', '{"alg":"HS256","crit":[]}',
    '{"alg":"HS256","b64":false}', '{"alg":"HS256","cty":"JWT"}', '{"alg":"HS256","zip":"DEF"}', '{"alg":"HS256","enc":"x"}',
    '{"alg":"HS256","jku":"https://x"}', `{"alg":"HS256","kid":"${"k".repeat(255)}"}`, `{"alg":"HS256","kid":"${"k".repeat(256)}"}`,
    `{"alg":"HS256","kid":"${"é".repeat(127)}"}`, `{"alg":"HS256","kid":"${"é".repeat(128)}"}`, '{"alg":"HS256","kid":1}',
    '{"alg":"HS256","kid":""}', '{"alg":"none","alg":"HS256"}', '{"alg":"HS256","x":{"a":1,"a":2}}', ' {"alg":"HS256"} ',
    '\ufeff{"alg":"HS256"}', '{"alg":"HS256"}x', '[{"alg":"HS256"}]', '"x"', "", "{", '{"alg":"HS256",}', '{"alg":"HS\\u0032\\u00356"}',
    '{"alg":"HS256","\\u0061lg":"x"}', '{"alg":"HS256","k":"\\ud800"}', '{"alg":"HS256","k":"\\udc00"}', '{"alg":"HS256","k":"\\ud83d\\ude00"}',
    '{"alg":"HS256","k":"\\ud83d\\u0041"}', '{"alg":"HS256","k":"\\x41"}', '{"alg":"HS256","k":"a\tb"}', '{"alg":"HS256","k":"\\/"}',
    '{"alg":"HS256"\n,\r"k"\t:\n1}', '{"alg":"HS256","k":\u00a01}', '{"alg":"HS256","k":tru}', '{"alg":"HS256","k":nul}',
  ];
  const payloads = [
    P, "{}", '{"exp":0}', '{"exp":253402300799}', '{"exp":253402300800}', '{"exp":-1}', '{"exp":-0}', '{"exp":1.0}',
    '{"exp":1e9}', '{"exp":1E9}', '{"exp":"1700000100"}', '{"exp":null}', '{"exp":true}', '{"exp":[1]}', '{"exp":18446744073709551616}',
    '{"exp":01}', '{"exp":1.}', '{"exp":.5}', '{"exp":+1}', '{"exp":1e}', '{"exp":1e+}', '{"exp":1e400}', '{"exp":1,"n":1e400}',
    '{"exp":1,"n":-1e400}', '{"exp":1,"n":1e-400}', `{"exp":1,"n":1${"0".repeat(400)}}`, `{"exp":1,"n":1${"0".repeat(300)}}`,
    '{"exp":1,"n":-9223372036854775808}', '{"exp":1,"n":-9223372036854775809}', '{"exp":1,"n":18446744073709551615}',
    '{"exp":1,"n":1.7976931348623157e308}', '{"exp":1,"n":0e999999}', '{"exp":1,"exp":2}', '{"a":{"b":1,"b":1}}',
    '{"a":[{"b":1,"b":2}]}', '{"a":[1,]}', '{"a":[,1]}', '{"a":[]}', '{"a":[ ]}', '{"a":{ }}',
    `{"a":${"[".repeat(126)}${"]".repeat(126)}}`, `{"a":${"[".repeat(127)}${"]".repeat(127)}}`,
    `{"a":${'{"b":'.repeat(125)}1${"}".repeat(125)}}`, `{"a":${'{"b":'.repeat(126)}1${"}".repeat(126)}}`,
    `{"a":${'{"b":'.repeat(127)}1${"}".repeat(127)}}`,
    '{"a":"\u0000"}', '{"a":"\\u0000"}', '{"exp":1700000100 }', '{"exp":1700000100}\n', '{"exp":1700000100}{}', '{"__proto__":{"x":1}}',
  ];
  let n = 0;
  for (const h of headers) n += same(token(h, P), `header ${h.slice(0, 40)}`);
  for (const p of payloads) n += same(token(H, p), `payload ${p.slice(0, 40)}`);
  const good = token(H, P);
  const [h, p] = good.split(".");
  const raw = [
    good, `${h}.${p}.`, `${h}.${p}`, `${h}..c2ln`, `.${p}.c2ln`, `${h}.${p}.c2ln.x`, `${h}.${p}.c2l`, `${h}.${p}.c2lu`,
    `${h}.${p}.c2l=`, `${h}=.${p}.c2ln`, `${h}.${p}.c2+n`, `${h}.${p}.c2/n`, `${h} .${p}.c2ln`, `${h}.${p}.c2ln\n`,
    `${h}.${p.slice(0, -1)}.c2ln`, `${h}.${p}A.c2ln`, `${h}.${p}.${"A".repeat(8192)}`, `${h}.${p}.${"A".repeat(8000)}`,
    `${h}.${p}.${"é".repeat(2800)}`, `${h}.${p}.\ud800`, "", ".", "..", "a.b.c", "x".repeat(9000),
    `${b64(Buffer.from([0xff, 0xfe]))}.${p}.c2ln`, `${h}.${b64(Buffer.from([0xc0, 0x80]))}.c2ln`,
    `${h}.${Buffer.from('{"exp":1}').toString("base64url")}.c2ln`,
  ];
  for (const t of raw) n += same(t, "raw");
  for (const bad of [42, null, undefined, {}, ["a.b.c"]]) {
    for (const name of ["decode", "expiresAt", "isExpired", "secondsLeft"]) {
      assert.deepEqual(outcome(() => lite[name](bad)), outcome(() => full[name](bad)), `${name}(${bad})`);
    }
  }
  // Arguments: the same code and message from both (args.js and options.js are shared).
  const said = (fn) => {
    try {
      return { value: fn() };
    } catch (error) {
      return { code: error.code, message: error.message };
    }
  };
  const optionCases = [{ now: -1 }, { now: "1" }, { now: NaN }, { now: 1e15 }, { now: Date.now() }, { leeway: -1 },
    { leeway: Infinity }, { leeway: 1e15 }, { now: 1.9 }, { nwo: 1 }, { leeway: 5, clock: () => 1 }, null, 42, []];
  for (const opts of optionCases) {
    for (const name of ["isExpired", "secondsLeft", "decode", "expiresAt"]) {
      assert.deepEqual(said(() => lite[name](good, opts)), said(() => full[name](good, opts)), `${name}(token, ${JSON.stringify(opts)})`);
      assert.deepEqual(said(() => lite[name](42, opts)), said(() => full[name](42, opts)), `${name}(42, ${JSON.stringify(opts)})`);
    }
  }
  for (const [value, opts] of [["Bearer x", { type: ["Bearer"] }], ["Bearer x", { types: "Bearer" }], ["JWT x", { types: ["JWT"] }], [42, undefined]]) {
    assert.deepEqual(said(() => lite.bearer(value, opts)), said(() => full.bearer(value, opts)), `bearer(${value}, ${JSON.stringify(opts)})`);
  }
  console.log(`# ${headers.length + payloads.length + raw.length} edge cases, ${n} calls, same verdicts`);
});

/** A seeded PRNG (mulberry32): the same random tokens on every run. */
function random(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("seeded random tokens: mutations of the vectors, random JSON", () => {
  const rnd = random(0x70119a7e);
  const pick = (list) => list[Math.floor(rnd() * list.length)];
  const chars = ["A", "z", "0", "-", "_", ".", "=", "+", "/", " ", "é", "\u0000", "\ud800", "Q", "w"];
  let n = 0;
  for (let i = 0; i < 3000; i++) {
    let t = pick(vectors).token;
    for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) {
      const at = Math.floor(rnd() * (t.length + 1));
      const op = rnd();
      if (op < 0.4) t = t.slice(0, at) + pick(chars) + t.slice(at + 1);
      else if (op < 0.7) t = t.slice(0, at) + pick(chars) + t.slice(at);
      else t = t.slice(0, at) + t.slice(at + 1);
    }
    n += same(t, `mutation ${i}`);
  }
  const scalars = ["1", "0", "-0", "1.5", "1e3", "-1", "253402300799", "1e400", "18446744073709551616", '"x"', '"\\ud800"', '"\\u00e9"',
    "true", "false", "null", '"\\n"', '"a\\"b"', "01", "1.", "[]", "{}", '"\u0001"', "tru"];
  const json = (depth) => {
    const r = rnd();
    if (depth > 3 || r < 0.5) return pick(scalars);
    const keys = ["a", "b", "exp", "alg", "typ", "kid", "crit", "a"];
    const count = Math.floor(rnd() * 4);
    if (r < 0.75) return `[${Array.from({ length: count }, () => json(depth + 1)).join(pick([",", " , ", ",\n"]))}]`;
    return `{${Array.from({ length: count }, () => `"${pick(keys)}":${json(depth + 1)}`).join(",")}}`;
  };
  const member = (keys) => `"${pick(keys)}":${json(1)}`;
  for (let i = 0; i < 3000; i++) {
    const header = `{"alg":"HS256"${rnd() < 0.5 ? `,${member(["typ", "kid", "x", "alg", "cty"])}` : ""}}`;
    const payload = `{${Array.from({ length: Math.floor(rnd() * 4) }, () => member(["exp", "a", "user_id", "exp"])).join(",")}}`;
    n += same(token(header, payload), `random JSON ${i}`);
  }
  console.log(`# 6000 random tokens, ${n} calls, same verdicts`);
});

test("the client of tollgate/client against a real server: login, refresh with rotation, logout", async () => {
  try {
    const base = await startServer();
    const client = lite.createClient({ baseUrl: base });
    const tokens = await client.login("alice", "pw-alice");
    assert.equal(lite.decode(tokens.access).payload.token_type, "access");
    assert.ok(lite.secondsLeft(tokens.access) > 0 && !lite.isExpired(tokens.access));
    assert.deepEqual(await (await client.fetch(`${base}/api/me/`)).json(), { id: 1, username: "alice" });
    const rotated = await client.refresh();
    assert.notEqual(rotated.refresh, tokens.refresh);
    assert.equal(lite.expiresAt(rotated.access), full.expiresAt(rotated.access));
    await client.logout();
    assert.equal(client.tokens, null);
    await assert.rejects(client.refresh(), (e) => e instanceof lite.TollgateError && e.code === "not_logged_in");
  } finally {
    stopServers();
  }
});
