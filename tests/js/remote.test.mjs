// remoteJwks(): a Verifier whose keys come from a URL, against a real HTTP server on
// 127.0.0.1 that counts its requests: caching, max-age, ETag, refetch on an unknown kid
// under a cooldown, stale keys while the endpoint fails, timeouts, and every bad answer.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import * as jose from "jose";
import { Verifier, TollgateError, remoteJwks, clearRemoteJwks } from "tollgate";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Each path of the server is one endpoint: what it answers and how often it was asked.
const endpoints = new Map();
let server;
let base;

function endpoint(path, init = {}) {
  const e = { mode: "ok", jwks: { keys: [] }, cacheControl: "max-age=600", etag: null, count: 0, ifNoneMatch: [], ...init };
  endpoints.set(path, e);
  return { ...e, url: `${base}${path}`, state: e };
}

before(async () => {
  server = createServer((req, res) => {
    const e = endpoints.get(req.url);
    if (!e) return res.writeHead(404).end();
    e.count += 1;
    e.ifNoneMatch.push(req.headers["if-none-match"] ?? null);
    const json = (body, headers = {}) => {
      const text = typeof body === "string" ? body : JSON.stringify(body);
      res.writeHead(200, { "content-type": "application/json", "cache-control": e.cacheControl, ...headers }).end(text);
    };
    switch (e.mode) {
      case "ok":
        if (e.etag !== null && req.headers["if-none-match"] === e.etag) return res.writeHead(304, { "cache-control": e.cacheControl }).end();
        return json(e.jwks, e.etag === null ? {} : { etag: e.etag });
      case "down":
        return req.socket.destroy();
      case "hang":
        return; // never answers
      case "status500":
        return res.writeHead(500, { "content-type": "application/json" }).end("{}");
      case "html":
        return res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>Sign in</title>");
      case "notjson":
        return res.writeHead(200, { "content-type": "application/json" }).end("{keys:");
      case "redirect":
        return res.writeHead(302, { location: "/target" }).end();
      case "big":
        return json({ ...e.jwks, padding: "x".repeat(70_000) });
      case "bigchunked": {
        res.writeHead(200, { "content-type": "application/json" }); // no content-length: chunked
        res.write(`{"keys":[],"padding":"`);
        for (let i = 0; i < 20; i++) res.write("y".repeat(5000));
        return res.end(`"}`);
      }
      default:
        throw new Error(`mode ${e.mode}`);
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

async function signer(kid, alg = "EdDSA") {
  const pair = await jose.generateKeyPair(alg, { extractable: true, crv: alg === "EdDSA" ? "Ed25519" : undefined });
  const jwk = { ...(await jose.exportJWK(pair.publicKey)), use: "sig", alg };
  if (kid !== undefined) jwk.kid = kid;
  const sign = (claims = {}) => {
    const now = Math.floor(Date.now() / 1000);
    const header = kid === undefined ? { alg, typ: "JWT" } : { alg, typ: "JWT", kid };
    return new jose.SignJWT({ token_type: "access", user_id: "42", jti: crypto.randomUUID(), iat: now, exp: now + 300, ...claims })
      .setProtectedHeader(header)
      .sign(pair.privateKey);
  };
  return { jwk, sign };
}

const options = { algorithm: "EdDSA", type: "access" };

async function rejectsCode(promise, code) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof TollgateError, `not a TollgateError: ${error}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

function throwsCode(fn, code) {
  assert.throws(fn, (error) => {
    assert.ok(error instanceof TollgateError, `not a TollgateError: ${error}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

test("cold: the sync path says keys_not_loaded; one fetch serves every Verifier of the URL", async () => {
  const k1 = await signer("k1");
  const ep = endpoint("/cache", { jwks: { keys: [k1.jwk] } });
  const verifier = new Verifier(remoteJwks(ep.url), options);
  const token = await k1.sign();
  throwsCode(() => verifier.verify(token), "keys_not_loaded");
  assert.equal(ep.state.count, 0, "the sync path never fetches a cold key set by itself");
  assert.equal((await verifier.verifyAsync(token)).user_id, "42");
  // Another Verifier of the same URL, other options: the same cache, no fetch.
  const other = new Verifier(remoteJwks(ep.url), { algorithm: "EdDSA" });
  await other.ready();
  for (let i = 0; i < 20; i++) {
    assert.equal(verifier.verify(await k1.sign()).user_id, "42");
    assert.equal((await other.verifyAsync(await k1.sign())).user_id, "42");
  }
  assert.equal(ep.state.count, 1);
  assert.equal(verifier.keyCount, 1);
  // Concurrent cold callers share one fetch (Node may share promises).
  const ep2 = endpoint("/cache-concurrent", { jwks: { keys: [k1.jwk] } });
  const v2 = new Verifier(remoteJwks(ep2.url), options);
  await Promise.all(Array.from({ length: 10 }, () => v2.verifyAsync(token)));
  assert.equal(ep2.state.count, 1);
});

test("an unknown kid refetches once, then waits out the cooldown", async () => {
  const k1 = await signer("k1");
  const k9 = await signer("k9");
  const ep = endpoint("/unknown", { jwks: { keys: [k1.jwk] } });
  const verifier = new Verifier(remoteJwks(ep.url, { cooldown: 0.3 }), options);
  await verifier.ready();
  assert.equal(ep.state.count, 1);
  await sleep(350);
  const forged = await k9.sign();
  await rejectsCode(verifier.verifyAsync(forged), "token_key_unknown");
  assert.equal(ep.state.count, 2, "one refetch for the unknown kid");
  for (let i = 0; i < 5; i++) await rejectsCode(verifier.verifyAsync(forged), "token_key_unknown");
  throwsCode(() => verifier.verify(forged), "token_key_unknown");
  assert.equal(ep.state.count, 2, "no refetch within the cooldown");
  await sleep(350);
  await rejectsCode(verifier.verifyAsync(forged), "token_key_unknown");
  assert.equal(ep.state.count, 3, "one more after the cooldown");
  // Known keys kept verifying all along.
  assert.equal(verifier.verify(await k1.sign()).user_id, "42");
});

test("one cached key and a token of another kid: refetch (the bug of issue #16)", async () => {
  const k1 = await signer("k1");
  const k2 = await signer("k2");
  const ep = endpoint("/rotate", { jwks: { keys: [k1.jwk] } });
  const source = remoteJwks(ep.url, { cooldown: 0 });
  const verifier = new Verifier(source, options);
  await verifier.ready();
  ep.state.jwks = { keys: [k1.jwk, k2.jwk] }; // the server publishes k2
  const token = await k2.sign();
  // The sync path refuses with token_key_unknown (not a signature error) ...
  throwsCode(() => verifier.verify(token), "token_key_unknown");
  // ... and started a background refetch; the async path waits for it.
  assert.equal((await verifier.verifyAsync(token)).user_id, "42");
  assert.equal(ep.state.count, 2);
  assert.equal(verifier.verify(await k2.sign()).user_id, "42");
  assert.equal(verifier.verify(await k1.sign()).user_id, "42");
  assert.equal(verifier.keyCount, 2);

  // Tokens without kid (as Simple JWT's header): a signature no cached key matches also
  // refetches, once per cooldown.
  const n1 = await signer(undefined);
  const n2 = await signer(undefined);
  const ep2 = endpoint("/rotate-nokid", { jwks: { keys: [n1.jwk] } });
  const v2 = new Verifier(remoteJwks(ep2.url, { cooldown: 0.3 }), options);
  await v2.ready();
  await sleep(350);
  ep2.state.jwks = { keys: [n2.jwk] };
  assert.equal((await v2.verifyAsync(await n2.sign())).user_id, "42");
  assert.equal(ep2.state.count, 2);
  await rejectsCode(v2.verifyAsync(await n1.sign()), "token_signature_invalid");
  assert.equal(ep2.state.count, 2, "within the cooldown");
});

test("Cache-Control max-age within minAge..maxAge, ETag revalidation", async () => {
  const k1 = await signer("k1");
  const ep = endpoint("/maxage", { jwks: { keys: [k1.jwk] }, cacheControl: "public, max-age=0", etag: '"v1"' });
  const verifier = new Verifier(remoteJwks(ep.url, { minAge: 0.3, maxAge: 5 }), options);
  await verifier.ready();
  for (let i = 0; i < 5; i++) await verifier.verifyAsync(await k1.sign());
  assert.equal(ep.state.count, 1, "max-age=0 is raised to minAge");
  await sleep(350);
  await verifier.verifyAsync(await k1.sign());
  assert.equal(ep.state.count, 2, "refetched once expired");
  assert.deepEqual(ep.state.ifNoneMatch, [null, '"v1"'], "revalidated with the ETag (answered 304)");
  assert.equal(verifier.source.stale, false);

  // A long max-age is cut to maxAge.
  const ep2 = endpoint("/maxage-long", { jwks: { keys: [k1.jwk] }, cacheControl: "max-age=86400" });
  const v2 = new Verifier(remoteJwks(ep2.url, { minAge: 0, maxAge: 0.3 }), options);
  await v2.ready();
  await sleep(350);
  await v2.verifyAsync(await k1.sign());
  assert.equal(ep2.state.count, 2);
});

test("endpoint down past max-age: stale keys serve up to staleMax, flagged, then the error", async () => {
  const k1 = await signer("k1");
  const ep = endpoint("/stale", { jwks: { keys: [k1.jwk] }, cacheControl: "max-age=1" });
  const flagged = [];
  const source = remoteJwks(ep.url, { minAge: 0, maxAge: 0.3, staleMax: 0.6, cooldown: 0.1, onStale: (e, s) => flagged.push(s.stale && e.code) });
  const verifier = new Verifier(source, options);
  await verifier.ready();
  ep.state.mode = "down";
  await sleep(350);
  assert.equal((await verifier.verifyAsync(await k1.sign())).user_id, "42");
  assert.equal(source.stale, true);
  assert.equal(source.lastError.code, "jwks_fetch_failed");
  assert.ok(flagged.includes("jwks_fetch_failed"));
  assert.equal(verifier.verify(await k1.sign()).user_id, "42", "the sync path serves stale keys too");
  const asked = ep.state.count;
  for (let i = 0; i < 10; i++) await verifier.verifyAsync(await k1.sign());
  assert.ok(ep.state.count <= asked + 1, "a failing endpoint is asked at most once per cooldown");
  assert.ok(flagged.length <= ep.state.count - 1, `onStale once per failed attempt: ${flagged.length} calls`);
  await sleep(700); // past maxAge + staleMax
  await rejectsCode(verifier.verifyAsync(await k1.sign()), "jwks_fetch_failed");
  const late = await k1.sign();
  throwsCode(() => verifier.verify(late), "jwks_fetch_failed");
  // The endpoint back: the next attempt recovers.
  ep.state.mode = "ok";
  await sleep(150);
  assert.equal((await verifier.verifyAsync(await k1.sign())).user_id, "42");
  assert.equal(source.stale, false);
  assert.equal(source.lastError, null);
});

test("cold and the endpoint down or silent: a clear error, never a hang", async () => {
  const k1 = await signer("k1");
  const token = await k1.sign();
  const down = endpoint("/cold-down");
  down.state.mode = "down";
  const v1 = new Verifier(remoteJwks(down.url, { cooldown: 5 }), options);
  await rejectsCode(v1.verifyAsync(token), "jwks_fetch_failed");
  throwsCode(() => v1.verify(token), "keys_not_loaded");
  await rejectsCode(v1.ready(), "jwks_fetch_failed");
  assert.equal(down.state.count, 1, "no new attempt within the cooldown");

  const hang = endpoint("/cold-hang");
  hang.state.mode = "hang";
  const v2 = new Verifier(remoteJwks(hang.url, { timeout: 0.3 }), options);
  const started = Date.now();
  await rejectsCode(v2.verifyAsync(token), "jwks_timeout");
  const took = Date.now() - started;
  assert.ok(took >= 250 && took < 2000, `timed out after ${took} ms`);

  const failing = endpoint("/cold-500");
  failing.state.mode = "status500";
  await rejectsCode(new Verifier(remoteJwks(failing.url), options).verifyAsync(token), "jwks_fetch_failed");
});

test("bad answers are jwks_invalid and never replace good keys", async () => {
  const k1 = await signer("k1");
  const es = await signer("e1", "ES256");
  const token = await k1.sign();
  const secret = { kty: "oct", kid: "h1", k: "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI", alg: "HS256" };
  const rsa = { kty: "RSA", kid: "r1", n: "AQAB", e: "AQAB", alg: "RS256" };
  const privateJwk = { ...k1.jwk, kid: "p1", d: "AAAA" };
  const junk = { ...k1.jwk, kid: "j1", x: "AAAA" };
  const cases = [
    ["html", { mode: "html" }],
    ["notjson", { mode: "notjson" }],
    ["redirect", { mode: "redirect" }],
    ["big", { mode: "big", jwks: { keys: [k1.jwk] } }],
    ["bigchunked", { mode: "bigchunked" }],
    ["duplicate-kids", { jwks: { keys: [k1.jwk, { ...k1.jwk }] } }],
    ["hmac", { jwks: { keys: [k1.jwk, secret] } }],
    ["algorithm-not-allowed", { jwks: { keys: [k1.jwk, es.jwk] } }, { algorithms: ["EdDSA"] }],
    ["rsa", { jwks: { keys: [k1.jwk, rsa] } }],
    ["private", { jwks: { keys: [privateJwk] } }],
    ["junk-key", { jwks: { keys: [junk] } }],
    ["not-a-jwks", { jwks: { kty: "OKP" } }],
    ["empty", { jwks: { keys: [] } }],
  ];
  const target = endpoint("/target", { jwks: { keys: [k1.jwk] } });
  for (const [name, init, extra] of cases) {
    const ep = endpoint(`/bad-${name}`, init);
    const verifier = new Verifier(remoteJwks(ep.url, extra), options);
    await rejectsCode(verifier.verifyAsync(token), "jwks_invalid");
    throwsCode(() => verifier.verify(token), "keys_not_loaded");
    assert.equal(ep.state.count, 1, name);
  }
  assert.equal(target.state.count, 0, "a redirect is never followed");

  // ES256 keys allowed next to EdDSA ones (a migration): each Verifier uses its algorithm.
  const mixed = endpoint("/mixed", { jwks: { keys: [k1.jwk, es.jwk] } });
  const ed = new Verifier(remoteJwks(mixed.url), options);
  const p256 = new Verifier(remoteJwks(mixed.url), { algorithm: "ES256" });
  assert.equal((await ed.verifyAsync(token)).user_id, "42");
  assert.equal((await p256.verifyAsync(await es.sign())).user_id, "42");
  assert.equal(mixed.state.count, 1);

  // A good key set, then duplicate kids: the good keys stay, flagged stale.
  const ep = endpoint("/bad-later", { jwks: { keys: [k1.jwk] } });
  const source = remoteJwks(ep.url, { minAge: 0, maxAge: 0.2, cooldown: 0 });
  const verifier = new Verifier(source, options);
  await verifier.ready();
  ep.state.jwks = { keys: [k1.jwk, { ...k1.jwk }] };
  await sleep(250);
  assert.equal((await verifier.verifyAsync(token)).user_id, "42");
  assert.equal(source.stale, true);
  assert.equal(source.lastError.code, "jwks_invalid");
});

test("shareFetches: false (Workers): never awaits another caller's fetch, no background fetches", async () => {
  const k1 = await signer("k1");
  const k2 = await signer("k2");
  const ep = endpoint("/workers", { jwks: { keys: [k1.jwk] } });
  const verifier = new Verifier(remoteJwks(ep.url, { shareFetches: false, minAge: 0, maxAge: 0.2, cooldown: 0 }), options);
  const token = await k1.sign();
  await Promise.all([verifier.verifyAsync(token), verifier.verifyAsync(token)]);
  assert.equal(ep.state.count, 2, "two cold callers, two fetches: neither waited on the other's");
  await sleep(250);
  assert.equal(verifier.verify(token).user_id, "42");
  ep.state.jwks = { keys: [k1.jwk, k2.jwk] };
  const fresh = await k2.sign();
  throwsCode(() => verifier.verify(fresh), "token_key_unknown");
  await sleep(50);
  assert.equal(ep.state.count, 2, "the sync path fetched nothing in the background");
  assert.equal((await verifier.verifyAsync(await k2.sign())).user_id, "42");
  assert.equal(ep.state.count, 3);
});

test("a persistent cache starts a new isolate warm", async () => {
  const k1 = await signer("k1");
  const store = new Map();
  const cache = { get: async (url) => store.get(url), set: async (url, value) => void store.set(url, value) };
  const ep = endpoint("/persist", { jwks: { keys: [k1.jwk] } });
  await new Verifier(remoteJwks(ep.url, { cache }), options).ready();
  assert.equal(ep.state.count, 1);
  assert.ok(store.has(ep.url));
  clearRemoteJwks(); // as a new isolate
  ep.state.mode = "down";
  const verifier = new Verifier(remoteJwks(ep.url, { cache }), options);
  assert.equal((await verifier.verifyAsync(await k1.sign())).user_id, "42");
  assert.equal(ep.state.count, 1, "served from the persistent cache");
  // A cache holding junk is ignored.
  clearRemoteJwks();
  store.set(ep.url, { jwks: { keys: [{ kty: "oct", k: "AAAA" }] }, fetchedAt: Date.now(), ttl: 60_000 });
  ep.state.mode = "ok";
  await new Verifier(remoteJwks(ep.url, { cache }), options).ready();
  assert.equal(ep.state.count, 2);
});

test("arguments", async () => {
  throwsCode(() => remoteJwks("not a url"), "argument_invalid");
  throwsCode(() => remoteJwks("ftp://127.0.0.1/jwks.json"), "argument_invalid");
  throwsCode(() => remoteJwks(`${base}/x`, { algorithms: ["HS256"] }), "argument_invalid");
  throwsCode(() => remoteJwks(`${base}/x`, { timeout: -1 }), "argument_invalid");
  throwsCode(() => remoteJwks(`${base}/x`, { minAge: 10, maxAge: 5 }), "argument_invalid");
  throwsCode(() => remoteJwks(`${base}/x`, { cache: {} }), "argument_invalid");
  throwsCode(() => new Verifier(remoteJwks(`${base}/x`, { algorithms: ["EdDSA"] }), { algorithm: "ES256" }), "argument_invalid");
  throwsCode(() => new Verifier(remoteJwks(`${base}/x`), { algorithm: "HS256" }), "argument_invalid");
  throwsCode(() => new Verifier(remoteJwks(`${base}/x`), {}), "argument_invalid");
  // Options the module checks fail at construction, not at the first token.
  throwsCode(() => new Verifier(remoteJwks(`${base}/x`), { algorithm: "EdDSA", leeway: 100_000 }), "setting_invalid");
  throwsCode(() => new Verifier(remoteJwks(`${base}/x`), { algorithm: "ES256", issuer: "" }), "setting_invalid");
});

test("tollgate/rsa: an identity provider's JWKS with RSA (one without alg), P-384 and EdDSA keys", async () => {
  const full = await import("tollgate/rsa");
  const { readFileSync } = await import("node:fs");
  const keys = JSON.parse(readFileSync(new URL("../vectors/keys.json", import.meta.url), "utf8"));
  const generated = JSON.parse(readFileSync(new URL("../vectors/generated.json", import.meta.url), "utf8")).vectors;
  const vector = (name) => generated.find((v) => v.name === name);
  const { alg: _alg, ...rsaNoAlg } = { ...keys.rsa.public_jwk, kid: "rsa-1" };
  const e = endpoint("/idp-jwks", {
    jwks: { keys: [rsaNoAlg, { ...keys.es384.public_jwk, kid: "p384-1" }, { ...keys.ed25519.public_jwk, kid: "ed-1" }] },
  });
  const source = full.remoteJwks(e.url);
  assert.deepEqual(source.algorithms, ["ES256", "ES384", "ES512", "EdDSA", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"]);
  // Tokens without kid: the one key of their algorithm verifies them.
  for (const [alg, name] of [["RS256", "gen-rs256-access"], ["PS256", "gen-ps256-access"], ["ES384", "gen-es384-access"]]) {
    const v = vector(name);
    const verifier = new full.Verifier(source, { algorithm: alg, type: "access" });
    assert.deepEqual(await verifier.verifyAsync(v.token, { now: v.now }), v.claims, alg);
  }
  assert.equal(e.state.count, 1);
  // An RSA key pinned to RS256 does not serve PS256; the default module allows no RSA at all.
  const pinned = endpoint("/idp-jwks-pinned", { jwks: { keys: [{ ...keys.rsa.public_jwk, alg: "RS256", kid: "rsa-2" }] } });
  const ps = vector("gen-ps256-access");
  await assert.rejects(
    new full.Verifier(full.remoteJwks(pinned.url), { algorithm: "PS256" }).verifyAsync(ps.token, { now: ps.now }),
    (error) => error instanceof TollgateError && error.code === "token_key_unknown",
  );
  assert.throws(() => remoteJwks(pinned.url, { algorithms: ["RS256"] }), (error) => error.code === "argument_invalid");
  assert.throws(
    () => new Verifier(remoteJwks(e.url), { algorithm: "RS256" }),
    (error) => error.code === "algorithm_unsupported" && /tollgate\/rsa/.test(error.message),
  );
});
