// verifyAsync()'s WebCrypto path beside jose and a bare subtle.verify call, per ECDSA
// algorithm, in Node or Deno: CPU time per verification (process.cpuUsage), rows taking
// turns round after round, the median over rounds. The bare call (the same key, message
// and signature, nothing else) is the bound for every library; BENCHMARKS.md ("Issue #17
// item 3") says what the gap to it was and what closed it.
//
//   node bench/js/webcrypto.mjs [ALGS] [N] [ROUNDS]      e.g. ES256,ES384 2000 7
//   tests/runtimes/node_modules/.bin/deno run -A --no-lock bench/js/webcrypto.mjs ...
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";

const root = new URL("../../", import.meta.url);
const tollgate = await import(new URL("pkg/rsa-node.js", root).href);
const jose = await import(new URL("bench/js/node_modules/jose/dist/webapi/index.js", root).href);
const readJson = (path) => JSON.parse(readFileSync(new URL(path, root), "utf8"));
const keys = readJson("tests/vectors/keys.json");
const vectors = new Map(readJson("tests/vectors/generated.json").vectors.map((v) => [v.name, v]));
const [algs = "ES256,ES384,ES512", count = "2000", roundCount = "7"] = (globalThis.Deno?.args ?? process.argv.slice(2));
const runtime = globalThis.Deno ? `Deno ${Deno.version.deno}` : `Node ${process.version}`;
const CURVE = { ES256: ["P-256", "SHA-256", "es256"], ES384: ["P-384", "SHA-384", "es384"], ES512: ["P-521", "SHA-512", "es512"] };
const cpuUs = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};
const base64url = (text) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

console.log(`${runtime}, load average ${loadavg()[0].toFixed(1)}; µs of CPU per verification (verifications per CPU second)`);
for (const alg of algs.split(",")) {
  const [namedCurve, hash, keyName] = CURVE[alg];
  const v = vectors.get(`gen-${alg.toLowerCase()}-access`);
  const jwk = keys[keyName].public_jwk;
  const verifier = new tollgate.Verifier(jwk, { algorithm: alg, type: "access", crypto: "webcrypto" });
  const joseKey = await jose.importJWK(jwk, alg);
  const currentDate = new Date(v.now * 1000);
  const bareKey = await crypto.subtle.importKey("jwk", jwk, { name: "ECDSA", namedCurve }, false, ["verify"]);
  const [header, payload, signature] = v.token.split(".");
  const message = new TextEncoder().encode(`${header}.${payload}`);
  const sig = base64url(signature);
  const rows = {
    "tollgate verifyAsync": async () => {
      if ((await verifier.verifyAsync(v.token, { now: v.now })).jti !== v.claims.jti) throw new Error("tollgate: wrong claims");
    },
    "jose jwtVerify": async () => {
      if ((await jose.jwtVerify(v.token, joseKey, { algorithms: [alg], currentDate })).payload.jti !== v.claims.jti) throw new Error("jose: wrong claims");
    },
    "bare subtle.verify": async () => {
      if (!(await crypto.subtle.verify({ name: "ECDSA", hash }, bareKey, sig, message))) throw new Error("bare: refused");
    },
  };
  const n = Number(count);
  const per = Object.fromEntries(Object.keys(rows).map((name) => [name, []]));
  for (const row of Object.values(rows)) for (let i = 0; i < 100; i++) await row();
  const names = Object.keys(rows);
  for (let round = 0; round < Number(roundCount); round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + round) % names.length];
      const start = cpuUs();
      for (let i = 0; i < n; i++) await rows[name]();
      per[name].push((cpuUs() - start) / n);
    }
  }
  const median = (list) => [...list].sort((a, b) => a - b)[list.length >> 1];
  const us = Object.fromEntries(names.map((name) => [name, median(per[name])]));
  const cell = (name) => `${name} ${us[name].toFixed(1)} µs (${Math.round(1e6 / us[name]).toLocaleString("en")})`;
  console.log(`${alg}: ${names.map(cell).join(" | ")} | tollgate vs jose ${(us["jose jwtVerify"] / us["tollgate verifyAsync"]).toFixed(2)}×, vs bare ${(us["bare subtle.verify"] / us["tollgate verifyAsync"]).toFixed(2)}×`);
}
