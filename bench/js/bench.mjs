// Benchmark of the npm package tollgate (pkg/) against jose, jwt-decode and fast-jwt in
// Node, on the same tokens (tests/vectors/generated.json). Run it with bench/js/run.sh,
// which installs the pinned packages and builds pkg/dist/ if it is missing.
//
//   node bench/js/bench.mjs [--quick] [--report FILE]
//
// Every call is first checked once (the expected header and claims, and a rejected
// tampered token for verifiers); a failing check exits with status 1 before anything is
// timed. Then, per group, every contender is warmed up and calibrated, and the rounds are
// interleaved (round r times every contender of the group in turn, in a rotating order),
// so that drift of the machine hits them alike. The figure is the median of the rounds'
// ops/s; the spread is the rounds' min and max relative to it.

import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { deepStrictEqual } from "node:assert/strict";
import { availableParallelism, cpus, loadavg, totalmem } from "node:os";

const loadAtStart = loadavg()[0];
// The same script runs in Deno (an edge runtime; BENCHMARKS.md): `deno run -A --no-lock
// --node-modules-dir=manual bench/js/bench.mjs`.
const runtime = globalThis.Deno ? `Deno ${globalThis.Deno.version.deno}` : `Node ${process.version}`;
const nativeName = globalThis.Deno ? "Deno's node:crypto" : "node:crypto";
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const reportIndex = args.indexOf("--report");
const reportFile = reportIndex >= 0 ? args[reportIndex + 1] : null;

const root = new URL("../../", import.meta.url);
const at = (path) => new URL(path, root);
const readJson = (path) => JSON.parse(readFileSync(at(path), "utf8"));

// --- the package's files, read before importing it (someone may rebuild pkg/dist) ------
const snippet = (() => {
  const text = readFileSync(at("pkg/dist/error.js"), "utf8");
  const match = /from "\.\/(snippets\/[^"]+)"/.exec(text);
  if (!match) throw new Error("pkg/dist/error.js does not name its snippet");
  return `pkg/dist/${match[1]}`;
})();
const srcFiles = ["pkg/src/api.js", "pkg/src/args.js", "pkg/src/bearer.js", "pkg/src/client.js", "pkg/src/native.js", "pkg/src/options.js", "pkg/src/remote.js", "pkg/src/remote-fetch.js"];
// What a browser loads are the minified bundles of scripts/build-pkg.sh (the "browser" and
// "default" exports), the error snippet they share, and the .wasm; the sources (what Node
// reads) are counted too, for reference. The native-math snippet (issue #17) is inside the
// bundles; only the error snippet stays apart (one TollgateError class across entries).
// remoteJwks()'s fetching half is a file of its own, imported on its first fetch.
const nativeSnippet = snippet.replace(/error\.js$/, "native.js");
const files = {
  rsaWasm: "pkg/dist/tollgate_rsa_bg.wasm",
  rsaBrowser: ["pkg/dist/tollgate_rsa_bg.wasm", "pkg/dist/rsa-browser.js", snippet],
  wasm: "pkg/dist/tollgate_wasm_bg.wasm",
  glue: "pkg/dist/tollgate_wasm.js",
  bundle: "pkg/dist/browser.js",
  own: ["pkg/node.js", "pkg/browser.js", "pkg/client.js", ...srcFiles, "pkg/src/decode.js", "pkg/dist/error.js", snippet, nativeSnippet],
  browser: ["pkg/dist/tollgate_wasm_bg.wasm", "pkg/dist/browser.js", snippet],
  // `tollgate/client`: decode, expiry and the client, no wasm (issue #17).
  client: ["pkg/dist/client.js", snippet],
  // remoteJwks()'s fetching half, loaded on its first fetch only.
  chunk: "pkg/dist/remote-fetch.js",
};
const bytes = new Map();
for (const path of new Set([files.wasm, files.glue, files.bundle, ...files.own, ...files.browser, ...files.client, ...files.rsaBrowser, files.chunk])) bytes.set(path, readFileSync(at(path)));
const wasmSha = createHash("sha256").update(bytes.get(files.wasm)).digest("hex");

const tollgate = await import(new URL("pkg/node.js", root).href);
const tollgateRsa = await import(new URL("pkg/rsa-node.js", root).href);
const tollgateClient = await import(new URL("pkg/client.js", root).href);
const jose = await import("jose");
const { jwtDecode } = await import("jwt-decode");
const fastJwt = await import("fast-jwt");

const version = (name) => JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, import.meta.url), "utf8")).version;
const versions = {
  tollgate: readJson("pkg/package.json").version,
  jose: version("jose"),
  "jwt-decode": version("jwt-decode"),
  "fast-jwt": version("fast-jwt"),
};

// --- tokens and keys ---------------------------------------------------------------------
const keys = readJson("tests/vectors/keys.json");
const vectors = new Map(readJson("tests/vectors/generated.json").vectors.map((v) => [v.name, v]));
const hs = vectors.get("gen-hs256-access");
const ed = vectors.get("gen-eddsa-access");
for (const [name, v] of [["gen-hs256-access", hs], ["gen-eddsa-access", ed]]) {
  if (!v || v.expect_fail) throw new Error(`tests/vectors/generated.json: no valid ${name}`);
}
const tampered = (token) => {
  // Flip one character in the middle of the signature (not the last one, whose low
  // bits may be padding).
  const i = token.lastIndexOf(".") + 10;
  return token.slice(0, i) + (token[i] === "A" ? "B" : "A") + token.slice(i + 1);
};

const secret = keys.hmac.secret;
const hsKeyJose = new TextEncoder().encode(secret); // jose 6: a Uint8Array is an HMAC key
const edKeyJose = await jose.importJWK(keys.ed25519.public_jwk, "EdDSA");
const hsDate = new Date(hs.now * 1000);
const edDate = new Date(ed.now * 1000);

// jose and fast-jwt do not know Simple JWT's token_type claim: their rows check it in JS,
// as a caller would, so that every row checks what tollgate's type: "access" checks.
const access = (claims) => {
  if (claims.token_type !== "access") throw new Error("not an access token");
  return claims;
};

const tgHs = new tollgate.Verifier(secret, { algorithm: "HS256", type: "access" });
const tgEd = new tollgate.Verifier(keys.ed25519.public_jwk, { algorithm: "EdDSA", type: "access" });
const fjDecode = fastJwt.createDecoder();
const fjDecodeComplete = fastJwt.createDecoder({ complete: true });
const fjHs = fastJwt.createVerifier({ key: secret, algorithms: ["HS256"], clockTimestamp: hs.now * 1000 });
const fjEd = fastJwt.createVerifier({ key: keys.ed25519.public_pem, algorithms: ["EdDSA"], clockTimestamp: ed.now * 1000 });

/** `f` over the HS256 and EdDSA tokens in turn (the first call gets the HS256 one). */
const alternate = (f) => {
  let odd = false;
  return () => f((odd = !odd) ? hs.token : ed.token);
};

const inFlight = 64;
const many = (f) => () => Promise.all(Array.from({ length: inFlight }, f));

// Every contender: `call` (sync or async), what it returns, `check(result)` against the
// vector, and for verifiers `reject`, which must throw or reject.
const groups = [
  {
    id: "decode",
    title: "decode, no verification (HS256 token, 317 B)",
    baseline: "jose-decode",
    rows: [
      {
        id: "tollgate-decode", lib: "tollgate", label: "tollgate `decode(token)`", returns: "header + payload",
        call: () => tollgate.decode(hs.token),
        check: (r) => deepStrictEqual(r, { header: hs.header, payload: hs.claims }),
      },
      {
        id: "tollgate-client-decode", lib: "tollgate", label: "tollgate/client `decode(token)` (plain JS, no wasm)", returns: "header + payload",
        call: () => tollgateClient.decode(hs.token),
        check: (r) => deepStrictEqual(r, { header: hs.header, payload: hs.claims }),
      },
      {
        id: "jose-decode", lib: "jose", label: "jose `decodeJwt(token)`", returns: "payload",
        call: () => jose.decodeJwt(hs.token),
        check: (r) => deepStrictEqual(r, hs.claims),
      },
      {
        // Tokens with different headers one after the other: tollgate's reuse of the
        // previous token's checked header never applies, jose alternates the same way.
        id: "tollgate-decode-alternating", lib: "tollgate", label: "tollgate `decode`, HS256 and EdDSA tokens alternating (no header reuse)", returns: "header + payload",
        call: alternate(tollgate.decode),
        check: (r) => deepStrictEqual(r, { header: hs.header, payload: hs.claims }),
      },
      {
        id: "jose-decode-alternating", lib: "jose", label: "jose `decodeJwt`, HS256 and EdDSA tokens alternating", returns: "payload",
        call: alternate(jose.decodeJwt),
        check: (r) => deepStrictEqual(r, hs.claims),
      },
      {
        id: "jose-decode-both", lib: "jose", label: "jose `decodeProtectedHeader` + `decodeJwt`", returns: "header + payload",
        call: () => ({ header: jose.decodeProtectedHeader(hs.token), payload: jose.decodeJwt(hs.token) }),
        check: (r) => deepStrictEqual(r, { header: hs.header, payload: hs.claims }),
      },
      {
        id: "jwt-decode", lib: "jwt-decode", label: "jwt-decode `jwtDecode(token)`", returns: "payload",
        call: () => jwtDecode(hs.token),
        check: (r) => deepStrictEqual(r, hs.claims),
      },
      {
        id: "fast-jwt-decode", lib: "fast-jwt", label: "fast-jwt `createDecoder()`", returns: "payload (parses the header too)",
        call: () => fjDecode(hs.token),
        check: (r) => deepStrictEqual(r, hs.claims),
      },
      {
        id: "fast-jwt-decode-complete", lib: "fast-jwt", label: "fast-jwt `createDecoder({ complete: true })`", returns: "header + payload + signature + input",
        call: () => fjDecodeComplete(hs.token),
        check: (r) => deepStrictEqual({ header: r.header, payload: r.payload }, { header: hs.header, payload: hs.claims }),
      },
    ],
  },
  verifyGroup("hs256", "HS256 verify (Simple JWT access token, 317 B)", hs, {
    tollgate: { label: "tollgate `Verifier.verify(token, { now })`", call: () => tgHs.verify(hs.token, { now: hs.now }), reject: () => tgHs.verify(tampered(hs.token), { now: hs.now }) },
    jose: (token) => jose.jwtVerify(token, hsKeyJose, { algorithms: ["HS256"], currentDate: hsDate }),
    fastJwt: { call: () => access(fjHs(hs.token)), reject: () => fjHs(tampered(hs.token)) },
  }),
  verifyGroup("eddsa", "EdDSA verify (Simple JWT access token, 360 B)", ed, {
    tollgate: { label: `tollgate \`Verifier.verify(token, { now })\` (${nativeName} math)`, call: () => tgEd.verify(ed.token, { now: ed.now }), reject: () => tgEd.verify(tampered(ed.token), { now: ed.now }) },
    verifyAsync: () => tgEd.verifyAsync(ed.token, { now: ed.now }),
    wasm: wasmRow(tollgate, keys.ed25519.public_jwk, ed),
    jose: (token) => jose.jwtVerify(token, edKeyJose, { algorithms: ["EdDSA"], currentDate: edDate }),
    fastJwt: { call: () => access(fjEd(ed.token)), reject: () => fjEd(tampered(ed.token)) },
  }),
  ...(await algorithmGroups()),
];

/** tollgate with `crypto: "wasm"` (the module's own math), for the asymmetric groups. */
function wasmRow(entry, key, v) {
  const verifier = new entry.Verifier(key, { algorithm: v.algorithm, type: "access", crypto: "wasm" });
  return { call: () => verifier.verify(v.token, { now: v.now }), reject: () => verifier.verify(tampered(v.token), { now: v.now }) };
}

/** A group per remaining algorithm (HS384/512, ES256/384/512, RS*, PS*), each on gen-<alg>-access. */
async function algorithmGroups() {
  const list = [];
  const keyName = { HS: "hmac", ES256: "es256", ES384: "es384", ES512: "es512", RS: "rsa", PS: "rsa" };
  for (const alg of ["HS384", "HS512", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]) {
    const v = vectors.get(`gen-${alg.toLowerCase()}-access`);
    if (!v || v.expect_fail) throw new Error(`tests/vectors/generated.json: no valid gen-${alg.toLowerCase()}-access`);
    const hmac = alg.startsWith("HS");
    const entry = ["HS384", "HS512", "ES256"].includes(alg) ? tollgate : tollgateRsa;
    const spec = keys[keyName[alg] ?? keyName[alg.slice(0, 2)]];
    const tgKey = hmac ? spec.secret : spec.public_jwk;
    const joseKey = hmac ? new TextEncoder().encode(spec.secret) : await jose.importJWK(spec.public_jwk, alg);
    const verifier = new entry.Verifier(tgKey, { algorithm: alg, type: "access" });
    const fj = fastJwt.createVerifier({ key: hmac ? spec.secret : spec.public_pem, algorithms: [alg], clockTimestamp: v.now * 1000 });
    const date = new Date(v.now * 1000);
    const where = entry === tollgate ? "tollgate " : "tollgate/rsa ";
    list.push(verifyGroup(alg.toLowerCase(), `${alg} verify (Simple JWT access token, ${v.token.length} B)`, v, {
      tollgate: {
        label: `${where}\`Verifier.verify(token, { now })\`${hmac ? "" : ` (${nativeName} math)`}`,
        call: () => verifier.verify(v.token, { now: v.now }),
        reject: () => verifier.verify(tampered(v.token), { now: v.now }),
      },
      wasm: hmac ? undefined : wasmRow(entry, tgKey, v),
      // verifyAsync(): node:crypto's pool in Node for EdDSA and ES* (RS*/PS* stay
      // synchronous: the rows show why), WebCrypto for Deno's ES*.
      verifyAsync: hmac ? undefined : () => verifier.verifyAsync(v.token, { now: v.now }),
      jose: (token) => jose.jwtVerify(token, joseKey, { algorithms: [alg], currentDate: date }),
      fastJwt: { call: () => access(fj(v.token)), reject: () => fj(tampered(v.token)) },
    }));
  }
  return list;
}

function verifyGroup(id, title, v, { tollgate: tg, wasm, verifyAsync, jose: joseVerify, fastJwt: fj }) {
  const joseCall = async () => {
    const { payload, protectedHeader } = await joseVerify(v.token);
    access(payload);
    return { payload, protectedHeader };
  };
  return {
    id,
    title,
    baseline: `${id}-jose`,
    rows: [
      { id: `${id}-tollgate`, lib: "tollgate", label: tg.label, returns: "claims", call: tg.call, reject: tg.reject, check: (r) => deepStrictEqual(r, v.claims) },
      ...(verifyAsync === undefined ? [] : [{
        id: `${id}-tollgate-async`, lib: "tollgate", label: "the same Verifier, `await verifyAsync(token, { now })`, sequential", returns: "claims", async: true,
        call: verifyAsync, check: (r) => deepStrictEqual(r, v.claims),
      }, {
        id: `${id}-tollgate-parallel`, lib: "tollgate", label: `tollgate \`verifyAsync\`, ${inFlight} in flight (\`Promise.all\`)`, returns: "claims", async: true,
        perCall: inFlight, call: many(verifyAsync), check: (r) => r.forEach((one) => deepStrictEqual(one, v.claims)),
      }]),
      ...(wasm === undefined ? [] : [{
        id: `${id}-tollgate-wasm`, lib: "tollgate", label: "the same with `crypto: \"wasm\"` (the module's math)", returns: "claims",
        call: wasm.call, reject: wasm.reject, check: (r) => deepStrictEqual(r, v.claims),
      }]),
      {
        id: `${id}-jose`, lib: "jose", label: "jose `await jwtVerify(...)`, sequential", returns: "payload + protectedHeader", async: true,
        call: joseCall, reject: () => joseVerify(tampered(v.token)),
        check: (r) => deepStrictEqual(r, { payload: v.claims, protectedHeader: v.header }),
      },
      {
        id: `${id}-jose-parallel`, lib: "jose", label: `jose \`jwtVerify\`, ${inFlight} in flight (\`Promise.all\`)`, returns: "payload + protectedHeader", async: true,
        perCall: inFlight, call: many(joseCall),
        check: (r) => r.forEach((one) => deepStrictEqual(one, { payload: v.claims, protectedHeader: v.header })),
      },
      { id: `${id}-fast-jwt`, lib: "fast-jwt", label: "fast-jwt `createVerifier(...)` (sync, cache off)", returns: "payload", call: fj.call, reject: fj.reject, check: (r) => deepStrictEqual(r, v.claims) },
    ],
  };
}

// --- correctness, once, before any timing ---------------------------------------------
const failures = [];
for (const group of groups) {
  for (const row of group.rows) {
    try {
      row.check(await row.call());
    } catch (error) {
      failures.push(`${row.label}: wrong result: ${error.message.split("\n").slice(0, 6).join(" ")}`);
    }
    if (row.reject) {
      let accepted = false;
      try {
        await row.reject();
        accepted = true;
      } catch {}
      if (accepted) failures.push(`${row.label}: accepted a token with a tampered signature`);
    }
  }
}
if (failures.length > 0) {
  console.error("FAILED: correctness check before timing:");
  for (const f of failures) console.error(`  ${f}`);
  process.exit(1);
}
console.error(`correctness: ${groups.reduce((n, g) => n + g.rows.length, 0)} calls return the expected header/claims; every verifier rejects a tampered signature`);

// --- timing ----------------------------------------------------------------------------
const plan = quick ? { warmMs: 40, roundMs: 40, rounds: 3 } : { warmMs: 600, roundMs: 250, rounds: 9 };
const now = () => process.hrtime.bigint();
const AsyncFunction = (async () => {}).constructor;
// One loop function per contender, compiled from its own source text, so that V8's
// feedback for the call site in the loop is monomorphic for every contender.
const makeLoop = (row) =>
  row.async
    ? new AsyncFunction("fn", "n", `/* ${row.id} */ let r; for (let i = 0; i < n; i++) r = await fn(); return r;`)
    : new Function("fn", "n", `/* ${row.id} */ let r; for (let i = 0; i < n; i++) r = fn(); return r;`);

let sink = 0;
let lastCpuUs = 0;
async function timeLoop(row, n) {
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const r = await row.loop(row.call, n);
  const ns = Number(now() - t0);
  const cpu = process.cpuUsage(cpu0);
  lastCpuUs = cpu.user + cpu.system; // every thread of the process (jose's WebCrypto work runs on libuv's pool)
  sink ^= typeof r === "object" && r !== null ? 1 : 0;
  return ns;
}

async function calibrate(row) {
  // Warm up for warmMs, doubling n; then n for one round of about roundMs.
  let n = 1;
  const start = now();
  let ns = 0;
  while (Number(now() - start) < plan.warmMs * 1e6 || ns < 5e6) {
    ns = await timeLoop(row, n);
    if (ns < plan.roundMs * 1e6 / 4) n *= 2;
  }
  return Math.max(1, Math.round((n * plan.roundMs * 1e6) / ns));
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const results = new Map();
for (const group of groups) {
  for (const row of group.rows) {
    row.loop = makeLoop(row);
    row.n = await calibrate(row);
    row.rates = [];
    row.cpuRates = [];
  }
  for (let r = 0; r < plan.rounds; r++) {
    const order = group.rows.map((_, i) => group.rows[(i + r) % group.rows.length]);
    for (const row of order) {
      const ns = await timeLoop(row, row.n);
      row.rates.push((row.n * (row.perCall ?? 1) * 1e9) / ns);
      row.cpuRates.push((row.n * (row.perCall ?? 1) * 1e6) / Math.max(1, lastCpuUs));
    }
  }
  const base = median(group.rows.find((row) => row.id === group.baseline).rates);
  for (const row of group.rows) {
    const ops = median(row.rates);
    results.set(row.id, { ops, cpuOps: median(row.cpuRates), min: Math.min(...row.rates), max: Math.max(...row.rates), vsJose: ops / base });
    console.error(`${group.id.padEnd(7)} ${row.label.padEnd(58)} ${Math.round(ops).toLocaleString("en-US").padStart(12)} ops/s`);
  }
}
if (sink === 42) console.error(""); // keeps `sink` observable

// The package must not have changed under the benchmark (pkg/dist may be rebuilt by others).
const wasmShaAfter = createHash("sha256").update(readFileSync(at(files.wasm))).digest("hex");
const rebuilt = wasmShaAfter !== wasmSha;

// --- sizes -----------------------------------------------------------------------------
const gzip = (buf) => execFileSync("gzip", ["-9", "-n", "-c"], { input: buf, maxBuffer: 1 << 26 }).length;
const size = (paths) => paths.reduce((acc, p) => ({ raw: acc.raw + bytes.get(p).length, gz: acc.gz + gzip(bytes.get(p)) }), { raw: 0, gz: 0 });
const sizes = [
  { what: "`dist/tollgate_wasm_bg.wasm`", ...size([files.wasm]) },
  { what: "`dist/browser.js`: `browser.js`, `src/*.js` but `decode.js`, `dist/error.js` and the wasm-bindgen glue, bundled and minified (esbuild)", ...size([files.bundle]) },
  { what: "the wasm-bindgen error snippet (`dist/snippets/*/js/error.js`, shared by every entry)", ...size([snippet]) },
];
const browserSize = size(files.browser);
sizes.push({ what: `**everything a browser user loads**: the wasm, \`dist/browser.js\`, the error snippet (${files.browser.length} files)`, ...browserSize, bold: true });
sizes.push({ what: "`dist/remote-fetch.js`: remoteJwks()'s fetching half (\`src/remote-fetch.js\`), loaded on a remote key source's first fetch only", ...size([files.chunk]) });
sizes.push({ what: "a browser user of `remoteJwks()`: the above and that chunk (4 files)", ...size([...files.browser, files.chunk]) });
sizes.push({ what: "`dist/tollgate_rsa_bg.wasm` (the `tollgate/rsa` entry's module: every algorithm)", ...size([files.rsaWasm]) });
sizes.push({ what: `everything a browser user of \`tollgate/rsa\` loads: its wasm, \`dist/rsa-browser.js\`, the snippet (${files.rsaBrowser.length} files, instead of the above)`, ...size(files.rsaBrowser) });
const clientSize = size(files.client);
sizes.push({ what: `**everything a \`tollgate/client\` user loads** (decode, expiry, the client; no wasm): \`dist/client.js\` (minified bundle), the error snippet (${files.client.length} files)`, ...clientSize, bold: true });
sizes.push({ what: `for reference, unminified: the wasm-bindgen glue \`dist/tollgate_wasm.js\``, ...size([files.glue]) });
sizes.push({ what: `for reference, unminified: the package's own JS as Node reads it, \`node.js\`, \`browser.js\`, \`client.js\`, \`src/*.js\`, \`dist/error.js\`, the snippet (${files.own.length} files)`, ...size(files.own) });

// --- report ----------------------------------------------------------------------------
const fmt = (x, digits = 0) => x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
const perOp = (ops) => {
  const us = 1e6 / ops;
  return us >= 100 ? fmt(us, 0) : us >= 10 ? fmt(us, 1) : fmt(us, 2);
};
const pct = (x) => `${x >= 0 ? "+" : "−"}${Math.abs(x * 100).toFixed(0)}%`;
const kb = (b) => `${fmt(b / 1000, 1)} KB`;

const cpuModel = cpus()[0]?.model ?? "unknown CPU";
const commandLine = process.env.BENCH_COMMAND ?? `node bench/js/bench.mjs${args.length ? " " + args.join(" ") : ""}`;
const gitHead = (() => {
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "pkg", "wasm", "core"], { cwd: root, encoding: "utf8" }).trim() !== "";
    return `${head}${dirty ? " with uncommitted changes in pkg/, wasm/ or core/" : ""}`;
  } catch {
    return "unknown";
  }
})();

const r = (id) => results.get(id);
const lines = [];
lines.push(`Date: ${new Date().toISOString().slice(0, 10)}. Machine: ${availableParallelism()} cores (${cpuModel}), ${Math.round(totalmem() / 2 ** 30)} GiB;`);
lines.push(`${runtime}; tollgate ${versions.tollgate} (git ${gitHead}; wasm sha256 ${wasmSha.slice(0, 12)}),`);
lines.push(`jose ${versions.jose}, jwt-decode ${versions["jwt-decode"]}, fast-jwt ${versions["fast-jwt"]}.`);
lines.push(`Command: \`${commandLine}\` (${quick ? "quick" : "full"} mode: ${plan.warmMs} ms warm-up per row, ${plan.rounds} interleaved rounds`);
lines.push(`of about ${plan.roundMs} ms per row; the figure is the median round, the spread the slowest and fastest round).`);
lines.push(`Load average (1 min) when it started: ${loadAtStart.toFixed(2)}, at the end: ${loadavg()[0].toFixed(2)} (the benchmark itself adds about 1).`);
if (rebuilt) lines.push(`**pkg/dist/tollgate_wasm_bg.wasm changed during this run (sha256 ${wasmShaAfter.slice(0, 12)} at the end): rerun.**`);
lines.push("");
lines.push("| operation | library and call | returns | ops/s (median) | µs/op | spread | vs jose |");
lines.push("|---|---|---|---|---|---|---|");
for (const group of groups) {
  for (const row of group.rows) {
    const x = r(row.id);
    const cells = [
      group.title,
      row.lib === "tollgate" ? `**${row.label}**` : row.label,
      row.returns,
      row.lib === "tollgate" ? `**${fmt(x.ops)}**` : fmt(x.ops),
      perOp(x.ops),
      `${pct(x.min / x.ops - 1)} / ${pct(x.max / x.ops - 1)}`,
      row.id === group.baseline ? "1 (baseline)" : `${x.vsJose.toFixed(x.vsJose >= 10 ? 1 : 2)}×`,
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
}
lines.push("");
lines.push("| package files (`pkg/`) | raw | gzip -9 (each file separately, summed) |");
lines.push("|---|---|---|");
for (const s of sizes) {
  const b = (t) => (s.bold ? `**${t}**` : t);
  lines.push(`| ${s.what} | ${fmt(s.raw)} B | ${b(`${fmt(s.gz)} B (${kb(s.gz)})`)} |`);
}
lines.push("");

const verdict = (ok) => (ok ? "**met**" : "**not met**");
const hsRatio = r("hs256-tollgate").vsJose;
const decRatio = r("tollgate-decode").vsJose;
const edRatio = r("eddsa-tollgate").vsJose;
const goals = {
  hs256: hsRatio >= 10,
  decode: decRatio > 1,
  eddsa: edRatio >= 1,
  size: browserSize.gz < 80_000,
  client: clientSize.gz <= 15_000,
  validator: browserSize.gz <= 60_000,
};
lines.push("Goals (issue #4), from this run:");
lines.push("");
lines.push(`- HS256 verify at least 10× jose's sequential rate: ${verdict(goals.hs256)} (${hsRatio.toFixed(1)}×: ${fmt(r("hs256-tollgate").ops)} against ${fmt(r("hs256-jose").ops)} ops/s).`);
lines.push(`- decode faster than jose's \`decodeJwt\`: ${verdict(goals.decode)} (${decRatio.toFixed(2)}×: ${fmt(r("tollgate-decode").ops)} against ${fmt(r("jose-decode").ops)} ops/s; tollgate also returns the header).`);
lines.push(`- EdDSA verify no slower than jose's: ${verdict(goals.eddsa)} (${edRatio.toFixed(2)}×: ${fmt(r("eddsa-tollgate").ops)} against ${fmt(r("eddsa-jose").ops)} ops/s sequential).`);
lines.push(`- everything a browser user loads under 80 KB gzip: ${verdict(goals.size)} (${fmt(browserSize.gz)} B = ${kb(browserSize.gz)}, of which the wasm ${fmt(sizes[0].gz)} B).`);
lines.push("");
lines.push("Goals (issue #17), from this run:");
lines.push("");
lines.push(`- the frontend entry \`tollgate/client\` at most 15 KB gzip for everything it loads: ${verdict(goals.client)} (${fmt(clientSize.gz)} B = ${kb(clientSize.gz)}).`);
lines.push(`- the full validator (\`tollgate\` in a browser) at most 60 KB gzip for everything it loads: ${verdict(goals.validator)} (${fmt(browserSize.gz)} B = ${kb(browserSize.gz)}, of which the wasm ${fmt(sizes[0].gz)} B; a user of \`remoteJwks()\` also loads its ${fmt(size([files.chunk]).gz)} B chunk on the first fetch).`);

// Issue #17 item 3: every algorithm at least as fast as jose (the better of its sequential
// and 64-in-flight rows); HS256, EdDSA, ES256, RS256 at least as fast as fast-jwt.
const ALGS = ["HS256", "HS384", "HS512", "EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
const ratio = (x) => `${x.toFixed(x >= 10 ? 1 : 2)}×`;
lines.push("");
lines.push(`Every algorithm in ${runtime} (tollgate's default \`crypto: "native"\`: ${nativeName} does the asymmetric math). Each cell:`);
lines.push("ops/s (median round, wall clock) / ops per CPU second (all the process's threads: the work of jose's WebCrypto and of");
lines.push("tollgate's `verifyAsync` runs on libuv's pool, so with 64 in flight it also uses the second core; on a loaded machine the");
lines.push("CPU figure is the steadier one). tollgate's sequential figure is the better of `verify()` and sequential `verifyAsync`;");
lines.push("\"vs best jose\" compares tollgate's best row with jose's best row (64 in flight included on both sides), \"vs fast-jwt\"");
lines.push("its sequential figure with fast-jwt's (synchronous) one.");
lines.push("");
lines.push("| algorithm | tollgate, sequential | tollgate `verifyAsync`, 64 in flight | module's math (`crypto: \"wasm\"`) | jose, sequential | jose, 64 in flight | fast-jwt | tollgate vs best jose | tollgate vs fast-jwt |");
lines.push("|---|---|---|---|---|---|---|---|---|");
const misses = { jose: [], fastJwt: [], joseCpu: [], fastJwtCpu: [] };
const both = (x) => (x === undefined ? "(same)" : `${fmt(x.ops)} / ${fmt(x.cpuOps)}`);
for (const alg of ALGS) {
  const id = alg.toLowerCase();
  const sync = r(`${id}-tollgate`);
  const viaAsync = results.get(`${id}-tollgate-async`);
  const parallel = results.get(`${id}-tollgate-parallel`);
  // verifyAsync() where it is faster (Deno's ECDSA through WebCrypto), else verify().
  const tg = viaAsync !== undefined && viaAsync.cpuOps > sync.cpuOps ? viaAsync : sync;
  const best = (key) => Math.max(tg[key], parallel?.[key] ?? 0);
  const [js, jp, fj] = [r(`${id}-jose`), r(`${id}-jose-parallel`), r(`${id}-fast-jwt`)];
  const vsJose = best("ops") / Math.max(js.ops, jp.ops);
  const vsJoseCpu = best("cpuOps") / Math.max(js.cpuOps, jp.cpuOps);
  const vsFj = tg.ops / fj.ops;
  const vsFjCpu = tg.cpuOps / fj.cpuOps;
  if (vsJose < 1) misses.jose.push(`${alg} ${ratio(vsJose)}`);
  if (vsJoseCpu < 1) misses.joseCpu.push(`${alg} ${ratio(vsJoseCpu)}`);
  if (["HS256", "EdDSA", "ES256", "RS256"].includes(alg)) {
    if (vsFj < 1) misses.fastJwt.push(`${alg} ${ratio(vsFj)}`);
    if (vsFjCpu < 1) misses.fastJwtCpu.push(`${alg} ${ratio(vsFjCpu)}`);
  }
  lines.push(`| ${alg} | **${both(tg)}**${tg === viaAsync ? " (`verifyAsync`)" : ""} | ${parallel === undefined ? "(HMAC: synchronous)" : `**${both(parallel)}**`} | ${both(results.get(`${id}-tollgate-wasm`))} | ${both(js)} | ${both(jp)} | ${both(fj)} | ${ratio(vsJose)} / ${ratio(vsJoseCpu)} | ${ratio(vsFj)} / ${ratio(vsFjCpu)} |`);
}
lines.push("");
const listed = (xs) => (xs.length ? ` (below: ${xs.join(", ")})` : "");
lines.push(`- every algorithm at least as fast as jose (its better row) in ${runtime.split(" ")[0]}: wall clock ${verdict(misses.jose.length === 0)}${listed(misses.jose)}; per CPU second ${verdict(misses.joseCpu.length === 0)}${listed(misses.joseCpu)}.`);
lines.push(`- HS256, EdDSA, ES256, RS256 at least as fast as fast-jwt in ${runtime.split(" ")[0]}: wall clock ${verdict(misses.fastJwt.length === 0)}${listed(misses.fastJwt)}; per CPU second ${verdict(misses.fastJwtCpu.length === 0)}${listed(misses.fastJwtCpu)}.`);

const report = lines.join("\n") + "\n";
if (reportFile) writeFileSync(reportFile, report);
process.stdout.write("\n" + report);
if (rebuilt) {
  console.error("pkg/dist/tollgate_wasm_bg.wasm changed during the run: the figures mix two builds; rerun");
  process.exit(3);
}
