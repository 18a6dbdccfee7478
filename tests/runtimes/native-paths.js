// Every shared vector (tests/vectors/*.json) and every malleability vector
// (tests/vectors/native/) through every signature path of the package, in one runtime:
//   wasm        crypto: "wasm", verify(): the module's own math
//   native      verify() as imported: node:crypto where the runtime has it, else the module
//   async       verifyAsync() as imported: node:crypto (in Node, its asynchronous form on
//               libuv's pool for EdDSA and ES*), else WebCrypto
//   webcrypto   crypto: "webcrypto", verifyAsync(): WebCrypto wherever it is
// Each path must give the vector's verdict exactly (claims, or code and message), which
// tollgate-core's tests hold the core to. Portable: no runtime imports; the caller passes
// the package entries, keys.json and the vector files (tests/js/native.test.mjs in Node,
// tests/runtimes/native-cli.mjs in Bun and Deno, and the workerd and Chromium steps).
//
// It also counts the native checks asked (a handler installed in the slot the module's
// nativeVerify reads), so that a path silently falling back to the module shows, and,
// where the caller can count them (`jobs`: Node's async_hooks), the runtime's
// asynchronous signature jobs each path started (node:crypto's pool, Node's WebCrypto),
// per algorithm, in a window that closes only once every job the path started has called
// back (so that a job a synchronous path left behind is counted against that path).

const SLOT = Symbol.for("tollgate.nativeVerify");
const BASE = ["HS256", "HS384", "HS512", "EdDSA", "ES256"];

/** The key spec of a vector as a user would pass it. */
export function keyFor(keys, spec, algorithm) {
  if (typeof spec === "object" && Array.isArray(spec.keys)) {
    return { keys: spec.keys.map((member) => keyFor(keys, member, algorithm)) };
  }
  if (typeof spec === "object") return spec;
  const entry = keys[spec];
  return algorithm.startsWith("HS") ? entry.secret : entry.public_jwk;
}

/** A Verifier's options for a vector. */
export function vectorOptions(vector) {
  return {
    algorithm: vector.algorithm,
    leeway: vector.leeway ?? 0,
    audience: vector.audience ?? undefined,
    issuer: vector.issuer ?? undefined,
    type: vector.expect_type,
    requiredClaims: vector.required_claims,
    maxTokenAge: vector.max_token_age,
    maxLifetime: vector.max_lifetime,
  };
}

function expected(vector) {
  return vector.expect_fail ? { code: vector.code, message: vector.message } : { claims: vector.claims };
}

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Sorted-key JSON, for comparing claims whatever their order. */
function canonical(value) {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, canonical(value[k])]));
  }
  return value;
}

const PATHS = [
  { name: "wasm", crypto: "wasm", call: (v, token, o) => v.verify(token, o) },
  { name: "native", crypto: undefined, call: (v, token, o) => v.verify(token, o) },
  { name: "async", crypto: undefined, call: (v, token, o) => v.verifyAsync(token, o) },
  { name: "webcrypto", crypto: "webcrypto", call: (v, token, o) => v.verifyAsync(token, o) },
];

/** The all-in-flight rounds: verifyAsync() as imported, and with crypto: "webcrypto". */
const IN_FLIGHT = [
  { name: "async all in flight", crypto: undefined },
  { name: "webcrypto all in flight", crypto: "webcrypto" },
];

/** No jobs counted: runtimes without async_hooks. */
const NO_JOBS = { count: () => 0, settled: async () => {} };

/**
 * Runs `files` ([{ name, vectors }]) through `full` (the tollgate/rsa entry) and, for
 * HS*, EdDSA, ES256, through `base` (the default entry) too. `jobs` (optional): `count()`,
 * the runtime's asynchronous signature jobs started so far, and `settled()`, a promise
 * that every job started so far has called back. Resolves to { total, runs, mismatches:
 * [text], asked: { path: native checks asked }, jobs: { path: { algorithm: asynchronous
 * jobs started } } } (the all-in-flight rounds mix algorithms: under "all").
 */
export async function comparePaths({ base, full, keys, files, jobs = NO_JOBS }) {
  const mismatches = [];
  const asked = Object.fromEntries(PATHS.map((p) => [p.name, 0]));
  const jobsBy = Object.fromEntries([...PATHS, ...IN_FLIGHT].map((p) => [p.name, {}]));
  /** Counts the jobs `path` started for `algorithm` since `before`, once they settled. */
  async function countJobs(path, algorithm, before) {
    await jobs.settled();
    jobsBy[path][algorithm] = (jobsBy[path][algorithm] ?? 0) + jobs.count() - before;
  }
  let current = null;
  let installed;
  const had = Object.getOwnPropertyDescriptor(globalThis, SLOT);
  Object.defineProperty(globalThis, SLOT, {
    configurable: true,
    get: () => installed,
    set(handler) {
      installed =
        typeof handler === "function"
          ? (...args) => {
              if (current !== null) asked[current]++;
              return handler(...args);
            }
          : handler;
    },
  });
  let total = 0;
  let runs = 0;
  try {
    for (const file of files) {
      for (const vector of file.vectors) {
        total++;
        const want = expected(vector);
        const entries = BASE.includes(vector.algorithm) ? [["tollgate/rsa", full], ["tollgate", base]] : [["tollgate/rsa", full]];
        for (const [entryName, entry] of entries) {
          for (const path of PATHS) {
            let got;
            current = path.name;
            const jobsBefore = jobs.count();
            try {
              const options = { ...vectorOptions(vector), crypto: path.crypto };
              const verifier = new entry.Verifier(keyFor(keys, vector.key, vector.algorithm), options);
              const claims = await path.call(verifier, vector.token, { now: vector.now, blacklist: vector.blacklisted ?? [] });
              got = { claims };
            } catch (error) {
              got = error instanceof entry.TollgateError ? { code: error.code, message: error.message } : { thrown: String(error?.stack ?? error) };
            } finally {
              current = null;
            }
            await countJobs(path.name, vector.algorithm, jobsBefore);
            runs++;
            const ok = want.claims ? same(canonical(got.claims), canonical(want.claims)) : same(got, want);
            if (!ok) mismatches.push(`${file.name} ${vector.name} [${entryName}, ${path.name}]: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
          }
        }
      }
    }
    // Every vector in flight at once, twice (the keys' first import, then imported keys),
    // through verifyAsync() as imported (node:crypto's pool in Node) and through
    // WebCrypto: the providers are handed views of the module's memory, which the next
    // token overwrites at once, so a runtime reading them after its call returned, or
    // answers crossing between verifications, would show here.
    const all = files.flatMap((file) => file.vectors.map((vector) => ({ file, vector })));
    for (const flight of IN_FLIGHT) {
      const verifiers = all.map(({ vector }) => {
        try {
          return new full.Verifier(keyFor(keys, vector.key, vector.algorithm), { ...vectorOptions(vector), crypto: flight.crypto });
        } catch (error) {
          return error;
        }
      });
      for (const round of ["first import", "imported"]) {
        const jobsBefore = jobs.count();
        const results = await Promise.all(
          all.map(({ vector }, i) => {
            const verifier = verifiers[i];
            if (!(verifier instanceof full.Verifier)) return verifier;
            return verifier.verifyAsync(vector.token, { now: vector.now, blacklist: vector.blacklisted ?? [] }).then(
              (claims) => ({ claims }),
              (error) => error,
            );
          }),
        );
        await countJobs(flight.name, "all", jobsBefore);
        results.forEach((result, i) => {
          const { file, vector } = all[i];
          const want = expected(vector);
          const got = result?.claims ? result : result instanceof full.TollgateError ? { code: result.code, message: result.message } : { thrown: String(result?.stack ?? result) };
          runs++;
          const ok = want.claims ? same(canonical(got.claims), canonical(want.claims)) : same(got, want);
          if (!ok) mismatches.push(`${file.name} ${vector.name} [tollgate/rsa, ${flight.name}, ${round}]: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
        });
      }
    }
  } finally {
    if (had) Object.defineProperty(globalThis, SLOT, had);
    else delete globalThis[SLOT];
  }
  return { total, runs, mismatches, asked, jobs: jobsBy };
}
