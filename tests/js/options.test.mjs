// Strict options (issue #17): every option of every entry point, misspelt, is refused
// with argument_invalid naming it and the nearest valid name; options given to the wrong
// entry point are refused with a hint; `clock`, `maxTokenAge`, `maxLifetime` and the
// `algorithms` allow-list do what the README says.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  TollgateError,
  Verifier,
  bearer,
  createClient,
  decode,
  expiresAt,
  isExpired,
  remoteJwks,
  secondsLeft,
  verify,
  workersCache,
} from "tollgate";

const keys = JSON.parse(readFileSync(new URL("../vectors/keys.json", import.meta.url), "utf8"));
const generated = JSON.parse(readFileSync(new URL("../vectors/generated.json", import.meta.url), "utf8")).vectors;
const vector = (name) => generated.find((v) => v.name === name);
const hs = vector("gen-hs256-access");
const ed = vector("gen-eddsa-access");
const es = vector("gen-es256-access");
const secret = keys.hmac.secret;
const NOW = hs.now;

/** Asserts fn throws (or rejects with) argument_invalid whose message contains `text`. */
function refused(fn, text) {
  const check = (error) => {
    assert.ok(error instanceof TollgateError, String(error));
    assert.equal(error.code, "argument_invalid", error.message);
    assert.ok(error.message.includes(text), `${JSON.stringify(error.message)} lacks ${JSON.stringify(text)}`);
    return true;
  };
  let result;
  try {
    result = fn();
  } catch (error) {
    return check(error);
  }
  if (result instanceof Promise) return assert.rejects(result, check);
  assert.fail(`accepted; want argument_invalid with ${text}`);
}

/** A misspelling of `name` whose nearest valid name is `name`. */
const misspelt = (name) => `${name}x`;

// Each entry point: its valid option names and how to call it with an options object.
const verifier = new Verifier(secret, { algorithm: "HS256" });
const noFetch = () => Promise.reject(new Error("no network in this test"));
const ENTRY_POINTS = [
  {
    name: "new Verifier",
    names: ["algorithm", "algorithms", "leeway", "audience", "issuer", "type", "requiredClaims", "claims", "maxTokenAge", "maxLifetime", "clock", "crypto"],
    call: (o) => new Verifier(secret, { algorithm: "HS256", ...o }),
  },
  {
    name: "new Verifier(remoteJwks())",
    names: ["algorithm", "algorithms", "leeway", "audience", "issuer", "type", "requiredClaims", "claims", "maxTokenAge", "maxLifetime", "clock", "crypto"],
    call: (o) => new Verifier(remoteJwks("https://keys.example/jwks.json", { fetch: noFetch }), { algorithm: "EdDSA", ...o }),
  },
  {
    name: "options.claims",
    names: ["userId", "tokenType", "jti", "refreshExp"],
    call: (o) => new Verifier(secret, { algorithm: "HS256", claims: o }),
    where: "options.claims.",
  },
  { name: "verifier.verify", names: ["now", "blacklist"], call: (o) => verifier.verify(hs.token, { now: NOW, ...o }) },
  { name: "verifier.verifyAsync", names: ["now", "blacklist"], call: (o) => verifier.verifyAsync(hs.token, { now: NOW, ...o }) },
  {
    name: "verify()",
    names: ["algorithm", "algorithms", "leeway", "audience", "issuer", "type", "requiredClaims", "claims", "maxTokenAge", "maxLifetime", "clock", "crypto", "now", "blacklist"],
    call: (o) => verify(hs.token, secret, { algorithm: "HS256", now: NOW, ...o }),
  },
  { name: "isExpired", names: ["leeway", "now"], call: (o) => isExpired(hs.token, o) },
  { name: "secondsLeft", names: ["now"], call: (o) => secondsLeft(hs.token, o) },
  { name: "bearer", names: ["types"], call: (o) => bearer("Bearer abc", o) },
  {
    name: "remoteJwks",
    names: ["algorithms", "minAge", "maxAge", "cooldown", "staleMax", "timeout", "maxBytes", "fetch", "shareFetches", "cache", "onStale"],
    call: (o) => remoteJwks("https://keys.example/jwks.json", o),
    where: "remoteJwks: options.",
  },
  { name: "workersCache", names: ["keepFor"], call: (o) => workersCache({ match() {}, put() {} }, o), where: "workersCache: options." },
  {
    name: "createClient",
    names: ["baseUrl", "storage", "fetch", "refreshAhead", "usernameField", "paths", "refreshTransport", "autoRefresh", "locks", "leaseTimeout", "random"],
    call: (o) => createClient({ fetch: noFetch, ...o }),
    where: "createClient: options.",
  },
  {
    name: "createClient paths",
    names: ["login", "refresh", "logout", "sessions"],
    call: (o) => createClient({ fetch: noFetch, paths: o }),
    where: "createClient: options.paths.",
  },
];

for (const entry of ENTRY_POINTS) {
  test(`${entry.name}: every option misspelt is refused, naming the nearest valid one`, async () => {
    const where = entry.where ?? "options.";
    for (const name of entry.names) {
      const bad = misspelt(name);
      await refused(() => entry.call({ [bad]: 1 }), `${where}${bad} is not an option (did you mean ${name}?)`);
      // Capitalized: still the same name's misspelling.
      const upper = name[0].toUpperCase() + name.slice(1);
      await refused(() => entry.call({ [upper]: 1 }), `${where}${upper} is not an option (did you mean ${name}?)`);
    }
    // A name far from every option lists them all.
    await refused(() => entry.call({ zzzzzzzzzzzz: 1 }), `${where}zzzzzzzzzzzz is not an option: use ${entry.names[0]}`);
    // And each valid name is a known option (whatever its value's verdict).
    for (const name of entry.names) {
      try {
        await entry.call({ [name]: undefined });
      } catch (error) {
        assert.ok(!String(error?.message).includes("is not an option"), `${entry.name} ${name}: ${error.message}`);
      }
    }
  });
}

test("the example of the issue: options.audiance", () => {
  refused(() => new Verifier(secret, { algorithm: "HS256", audiance: "api" }), "options.audiance is not an option (did you mean audience?)");
  refused(() => verify(hs.token, secret, { algorithm: "HS256", audiance: "api" }), "options.audiance is not an option (did you mean audience?)");
});

test("options of another entry point are refused with a hint", () => {
  refused(() => new Verifier(secret, { algorithm: "HS256", now: NOW }), "now is a verify() option");
  refused(() => new Verifier(secret, { algorithm: "HS256", blacklist: [] }), "blacklist is a verify() option");
  refused(() => verifier.verify(hs.token, { leeway: 5 }), "options.leeway is not an option (leeway is a Verifier option");
  refused(() => verifier.verify(hs.token, { audience: "api" }), "audience is a Verifier option");
  refused(() => new Verifier(secret, { algorithm: "HS256", clockTolerance: 5 }), "did you mean leeway?");
  refused(() => new Verifier(secret, { algorithm: "HS256", maxAge: 5 }), "did you mean maxTokenAge?");
  refused(() => decode(hs.token, { complete: true }), "decode() takes no options");
  refused(() => expiresAt(hs.token, {}), "expiresAt() takes no options");
  refused(() => createClient({ url: "https://x", fetch: noFetch }), "did you mean baseUrl?");
  // Not objects.
  refused(() => verifier.verify(hs.token, "now"), "options must be an object");
  refused(() => new Verifier(secret, null), "options must be an object");
  refused(() => new Verifier(secret), "options are required");
  refused(() => createClient([]), "createClient: options must be an object");
});

test("clock: used where now is not given; validated", () => {
  let t = NOW;
  const clocked = new Verifier(secret, { algorithm: "HS256", clock: () => t });
  assert.deepEqual(clocked.verify(hs.token), hs.claims);
  t = hs.claims.exp;
  assert.throws(() => clocked.verify(hs.token), (e) => e.code === "token_expired");
  // `now` wins over the clock.
  assert.deepEqual(clocked.verify(hs.token, { now: NOW }), hs.claims);
  // One-shot verify() takes a clock too.
  assert.deepEqual(verify(hs.token, secret, { algorithm: "HS256", clock: () => NOW }), hs.claims);
  refused(() => new Verifier(secret, { algorithm: "HS256", clock: NOW }), "options.clock must be a function");
  const failing = new Error("clock broke");
  const throwing = new Verifier(secret, { algorithm: "HS256", clock: () => { throw failing; } });
  assert.throws(() => throwing.verify(hs.token), (e) => e.code === "argument_invalid" && e.message === "options.clock threw: clock broke" && e.cause === failing);
  for (const [reading, text] of [
    [NaN, "options.clock() must be a non-negative number of epoch seconds (got NaN)"],
    [Infinity, "(got Infinity)"],
    [-1, "(got -1)"],
    ["1700000000", "(got 1700000000)"],
    [undefined, "(got undefined)"],
    [Date.now(), "epoch seconds expected, not milliseconds"],
  ]) {
    refused(() => new Verifier(secret, { algorithm: "HS256", clock: () => reading }).verify(hs.token), text);
  }
  refused(() => verifier.verify(hs.token, { now: Date.now() }), "options.now is");
});

test("maxTokenAge and maxLifetime: the core's lifetime policy", () => {
  const age = NOW - hs.claims.iat; // 100 s
  const lifetime = hs.claims.exp - hs.claims.iat; // 1800 s
  const check = (options, code) => {
    const v = new Verifier(secret, { algorithm: "HS256", ...options });
    if (code === null) assert.deepEqual(v.verify(hs.token, { now: NOW }), hs.claims);
    else assert.throws(() => v.verify(hs.token, { now: NOW }), (e) => e instanceof TollgateError && e.code === code && e.message === "Token is invalid");
  };
  check({ maxTokenAge: age }, null);
  check({ maxTokenAge: age - 1 }, "token_too_old");
  check({ maxTokenAge: age - 5, leeway: 5 }, null);
  check({ maxLifetime: lifetime }, null);
  check({ maxLifetime: lifetime - 1 }, "token_lifetime_too_long");
  check({ maxTokenAge: age, maxLifetime: lifetime }, null);
  // A token without iat cannot show its age.
  const noIat = vector("gen-policy-max-token-age-no-iat");
  assert.throws(
    () => new Verifier(secret, { algorithm: "HS256", maxTokenAge: 600 }).verify(noIat.token, { now: noIat.now }),
    (e) => e.code === "token_claim_missing" && e.message === "Token has no 'iat' claim",
  );
  for (const bad of [0, -1, 1.5, "60", NaN, 10 * 366 * 86400 + 1]) {
    assert.throws(() => new Verifier(secret, { algorithm: "HS256", maxTokenAge: bad }), (e) => ["argument_invalid", "setting_invalid"].includes(e.code), String(bad));
    assert.throws(() => new Verifier(secret, { algorithm: "HS256", maxLifetime: bad }), (e) => ["argument_invalid", "setting_invalid"].includes(e.code), String(bad));
  }
});

test("algorithms: an allow-list, each algorithm with its own keys, the header picks among them", () => {
  const jwks = { keys: [keys.ed25519.public_jwk, keys.es256.public_jwk] };
  const both = new Verifier(jwks, { algorithms: ["EdDSA", "ES256"] });
  assert.deepEqual(both.algorithms, ["EdDSA", "ES256"]);
  assert.equal(both.keyCount, 2);
  assert.deepEqual(both.verify(ed.token, { now: ed.now }), ed.claims);
  assert.deepEqual(both.verify(es.token, { now: es.now }), es.claims);
  // A token of an algorithm not listed: the core's algorithm mismatch.
  assert.throws(() => both.verify(hs.token, { now: NOW }), (e) => e.code === "token_algorithm_mismatch");
  const edOnly = new Verifier(jwks, { algorithms: ["EdDSA"] });
  assert.throws(() => edOnly.verify(es.token, { now: es.now }), (e) => e.code === "token_algorithm_mismatch");
  // `algorithm` is the one-element form.
  assert.deepEqual(new Verifier(jwks, { algorithm: "ES256" }).algorithms, ["ES256"]);
  // An HMAC secret for two HMAC algorithms: each verifies its own tokens.
  const hmacs = new Verifier(secret, { algorithms: ["HS256", "HS512"] });
  assert.deepEqual(hmacs.verify(hs.token, { now: NOW }), hs.claims);
  const hs512 = vector("gen-hs512-access");
  assert.deepEqual(hmacs.verify(hs512.token, { now: hs512.now }), hs512.claims);
  // Every algorithm listed needs a key among those given.
  assert.throws(() => new Verifier({ keys: [keys.ed25519.public_jwk] }, { algorithms: ["EdDSA", "ES256"] }), (e) => e instanceof TollgateError && e.code !== "argument_invalid");
  assert.throws(() => new Verifier(secret, { algorithms: ["HS256", "EdDSA"] }), (e) => e instanceof TollgateError);
  refused(() => new Verifier(secret, { algorithm: "HS256", algorithms: ["HS256"] }), "exclusive");
  refused(() => new Verifier(secret, { algorithms: [] }), "non-empty array");
  refused(() => new Verifier(secret, { algorithms: ["HS256", "HS256"] }), "twice");
  refused(() => new Verifier(secret, { algorithms: "HS256" }), "non-empty array");
  assert.throws(() => new Verifier(secret, { algorithms: ["none"] }), (e) => e.code === "algorithm_unsupported");
});

test("client methods take no options: extra arguments are refused", async () => {
  const api = createClient({ fetch: noFetch });
  await refused(() => api.logout({ all: true }), "client.logout() takes no arguments (logoutAll() ends every session)");
  await refused(() => api.login("alice", "pw", { remember: true }), "client.login() takes 2 arguments");
  await refused(() => api.revokeSession("id", {}), "client.revokeSession() takes 1 argument");
  for (const name of ["refresh", "logoutAll", "accessToken", "sessions", "revokeOtherSessions"]) {
    await refused(() => api[name]({}), `client.${name}() takes no arguments`);
  }
  refused(() => api.stop({}), "client.stop() takes no arguments");
  await refused(() => api.logout(true), "client.logout() takes no arguments");
  // Without them, the methods run as before (here: not logged in), and an event handed
  // over by `onclick = api.logout` is no options object.
  await assert.rejects(api.logout(), (e) => e.code === "not_logged_in");
  await assert.rejects(api.logout(new Event("click")), (e) => e.code === "not_logged_in");
});
