// The runtime's native crypto for the signature math of asymmetric tokens (issue #17).
//
// The module keeps every check: envelope, header, alg, the key picked by kid, the
// signature's shape (ES*: raw r||s of the exact length with 0 < r, s < n; EdDSA: 64 bytes
// with S < l; RS*/PS*: the modulus's length and below it), then the claims, in the core's
// order with the core's codes. Only the math between (does this well-formed signature
// match this key and message?) is asked here, for keys the module parsed and exports as
// public JWKs: a key the module refuses never reaches native code. HMAC stays in the
// module. ARCHITECTURE.md ("Native signature math") says which signatures each path
// accepts and why they are the same.
//
// A provider imports a key for an algorithm: `importKey(algorithm, jwk)` gives a check
// `(message, signature) => boolean` (sync providers) or a promise of one (async
// providers), or null/undefined (a promise of null) when the runtime cannot: that
// algorithm then stays in the module.

/** The slot js/native.js (the module's import) reads; set around each verification. */
export const NATIVE_SLOT = Symbol.for("tollgate.nativeVerify");

const HASH = {
  ES256: "sha256",
  ES384: "sha384",
  ES512: "sha512",
  RS256: "sha256",
  RS384: "sha384",
  RS512: "sha512",
  PS256: "sha256",
  PS384: "sha384",
  PS512: "sha512",
};
/** RFC 7518 section 3.5: the PSS salt is exactly the hash's length. */
const SALT = { PS256: 32, PS384: 48, PS512: 64 };

/** Whether the module hands `algorithm`'s math to a provider at all (not HMAC). */
export function nativeAlgorithm(algorithm) {
  return algorithm === "EdDSA" || Object.hasOwn(HASH, algorithm);
}

/**
 * A key for node:crypto: `{ hash, options }` for `crypto.verify(hash, message, options,
 * signature)`, the options built once per key (a KeyObject imported once), or null when
 * the runtime cannot import it. OpenSSL's PSS check is told the salt length (not
 * RSA_PSS_SALTLEN_AUTO, which accepts any); ECDSA signatures are read as raw r||s
 * (ieee-p1363), never DER.
 */
function nodeKey(crypto, algorithm, jwk) {
  if (!nativeAlgorithm(algorithm) || typeof crypto?.verify !== "function") return null;
  let key;
  try {
    key = crypto.createPublicKey({ key: jwk, format: "jwk" });
  } catch {
    return null;
  }
  const hash = HASH[algorithm] ?? null;
  let options = key;
  if (algorithm.startsWith("ES")) options = { key, dsaEncoding: "ieee-p1363" };
  if (algorithm.startsWith("PS")) {
    options = { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: SALT[algorithm] };
  }
  return { hash, options };
}

/**
 * node:crypto's checks (Node, Bun, Deno), by `mode`:
 * - "one-shot" or "stream": synchronous, for verify() (and verifyAsync() where the pool is
 *   not taken). With "stream" (Node), RS*, PS* and ES* use a Verify object (createVerify)
 *   rather than the one-shot crypto.verify, which builds a SignJob (an async-capable job
 *   object) per call even when synchronous: the same OpenSSL check (the digest, then
 *   EVP_PKEY_verify with the same padding, salt length and DER conversion of r||s), about
 *   1 µs less a call in Node, not in Bun (BENCHMARKS.md, "npm package in Node"). Ed25519
 *   has no streaming form.
 * - "pool": the asynchronous form (Node), `crypto.verify(..., callback)`, which runs the
 *   math on libuv's thread pool, so many verifyAsync() calls in flight use every core. The
 *   check is called during the module's pass, with views of the module's memory that the
 *   next token overwrites: Node copies `data` and `signature` while the call runs
 *   (SignJob's constructor, `SignTraits::AdditionalConfig`: `ToCopy()` in async mode; an
 *   ECDSA signature is converted to a new DER buffer), before it returns, so the views are
 *   not read later (tests/runtimes/native-paths.js keeps every vector in flight at once to
 *   catch a runtime that would). Its keys import synchronously (api.js, nativeFor).
 */
function nodeChecks(crypto, mode) {
  const pool = mode === "pool";
  return {
    sync: !pool,
    name: pool ? "node:crypto (libuv's pool)" : "node:crypto",
    importKey(algorithm, jwk) {
      const imported = nodeKey(crypto, algorithm, jwk);
      if (imported === null) return null;
      const { hash, options } = imported;
      if (pool) {
        return (message, signature) =>
          new Promise((resolve) => {
            try {
              crypto.verify(hash, message, options, signature, (error, valid) => resolve(error == null && valid === true));
            } catch {
              resolve(false);
            }
          });
      }
      if (mode === "stream" && hash !== null && typeof crypto.createVerify === "function") {
        return (message, signature) => {
          try {
            return crypto.createVerify(hash).update(message).verify(options, signature) === true;
          } catch {
            return false;
          }
        };
      }
      return (message, signature) => {
        try {
          return crypto.verify(hash, message, options, signature) === true;
        } catch {
          return false;
        }
      };
    },
  };
}

/** The providers object of the Node, Bun and Deno entries (node.js, rsa-node.js). */
export function nodeProviders(crypto) {
  return {
    sync: nodeChecks(crypto, inNode() ? "stream" : "one-shot"),
    async: webProvider(globalThis.crypto?.subtle),
    pool: nodeChecks(crypto, "pool"),
    asyncFirst,
    poolFirst,
  };
}

const WEB = {
  EdDSA: [{ name: "Ed25519" }, { name: "Ed25519" }],
  ES256: [{ name: "ECDSA", namedCurve: "P-256" }, { name: "ECDSA", hash: "SHA-256" }],
  ES384: [{ name: "ECDSA", namedCurve: "P-384" }, { name: "ECDSA", hash: "SHA-384" }],
  ES512: [{ name: "ECDSA", namedCurve: "P-521" }, { name: "ECDSA", hash: "SHA-512" }],
  RS256: [{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, { name: "RSASSA-PKCS1-v1_5" }],
  RS384: [{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-384" }, { name: "RSASSA-PKCS1-v1_5" }],
  RS512: [{ name: "RSASSA-PKCS1-v1_5", hash: "SHA-512" }, { name: "RSASSA-PKCS1-v1_5" }],
  PS256: [{ name: "RSA-PSS", hash: "SHA-256" }, { name: "RSA-PSS", saltLength: 32 }],
  PS384: [{ name: "RSA-PSS", hash: "SHA-384" }, { name: "RSA-PSS", saltLength: 48 }],
  PS512: [{ name: "RSA-PSS", hash: "SHA-512" }, { name: "RSA-PSS", saltLength: 64 }],
};

/**
 * WebCrypto (browsers, workerd, Vercel Edge, Deno, Bun, Node): asynchronous, so only
 * `verifyAsync()` uses it; `verify()` keeps the module's math there.
 */
export function webProvider(subtle) {
  return {
    sync: false,
    name: "WebCrypto",
    async importKey(algorithm, jwk) {
      const params = WEB[algorithm];
      if (params === undefined || typeof subtle?.importKey !== "function") return null;
      let key;
      try {
        key = await subtle.importKey("jwk", jwk, params[0], false, ["verify"]);
      } catch {
        return null;
      }
      return async (message, signature) => {
        try {
          return (await subtle.verify(params[1], key, signature, message)) === true;
        } catch {
          return false;
        }
      };
    },
  };
}

/**
 * Where verifyAsync() should take WebCrypto although node:crypto is there: Deno's
 * node:crypto ECDSA is about half as fast as its WebCrypto (BENCHMARKS.md, the Deno run);
 * its verify() keeps node:crypto, still twice the module's speed.
 */
export function asyncFirst(algorithm) {
  return globalThis.Deno !== undefined && /^ES(?:256|384|512)$/.test(algorithm);
}

/**
 * Where verifyAsync() hands the math to node:crypto's pool (nodeChecks' "pool") rather than
 * calling node:crypto synchronously: in Node (Bun's asynchronous crypto.verify gave no
 * second core, Deno's ECDSA goes to WebCrypto), for EdDSA and ECDSA, whose math (0.1 to
 * 1.8 ms) dwarfs the hop to the pool and back (up to 25 µs of CPU when calls come one at a
 * time, a few µs with many in flight). RS* and PS* verify in 35 µs: there the hop cost
 * 23-55% more CPU per token, so they stay synchronous (BENCHMARKS.md, "npm package in
 * Node").
 */
const POOL = new Set(["EdDSA", "ES256", "ES384", "ES512"]);
export function poolFirst(algorithm) {
  return inNode() && POOL.has(algorithm);
}

/** Node itself, not Bun or Deno (whose node:crypto is their own). */
function inNode() {
  return globalThis.Deno === undefined && globalThis.Bun === undefined;
}
