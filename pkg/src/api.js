// The validator API over the WebAssembly exports. Every token rule lives in Rust
// (tollgate-core); this file only checks JS arguments, converts keys and options, and
// moves tokens and results across the boundary.
//
// `bindApi(wasm, exports, TollgateError)` is called by each runtime's entry point
// (node.js, browser.js, worker.js) once the module is instantiated; `exports` are the raw
// instance exports, for the module's memory.
//
// Crossing: a token is written as UTF-8 straight into the module's token buffer
// (TextEncoder.encodeInto) and only its length is passed; a result is JSON text in the
// module's result buffer, read with one TextDecoder.decode and one JSON.parse.

import { bindArgs } from "./args.js";
import { bindBearer } from "./bearer.js";
import { NATIVE_SLOT, nativeAlgorithm } from "./native.js";
import { optionsArg } from "./options.js";
import { ENSURE, KEYS_NOW, REFETCH, UNKNOWN_KID, bindRemote, tokenHeader, tokenKid } from "./remote.js";

/** What a result-returning call answers when it failed (u32::MAX); see takeError. */
const FAILED = 0xffffffff;
/** The algorithms only the `tollgate/rsa` entry's module has. */
const RSA_ENTRY_ONLY = /^(?:[RP]S(?:256|384|512)|ES384|ES512)$/;
const TYPES = new Set(["access", "refresh", "sliding", "sliding_refresh", "untyped"]);
/** What each entry point accepts; anything else is refused (see options.js). */
const VERIFIER_OPTIONS = [
  "algorithm",
  "algorithms",
  "leeway",
  "audience",
  "issuer",
  "type",
  "requiredClaims",
  "claims",
  "maxTokenAge",
  "maxLifetime",
  "clock",
  "crypto",
];
const CLAIM_NAMES = ["userId", "tokenType", "jti", "refreshExp"];
const VERIFY_OPTIONS = ["now", "blacklist"];
/** Who does the signature math of asymmetric tokens (see native.js). */
const CRYPTO = ["native", "webcrypto", "wasm"];
/** Names that belong to another entry point, or to other libraries. */
const VERIFIER_HINTS = {
  now: "now is a verify() option: pass { now } to verify(), or a clock to the Verifier",
  blacklist: "blacklist is a verify() option: pass { blacklist } to verify()",
  clockTolerance: "did you mean leeway?",
  currentDate: "use clock (a function giving seconds), or { now } on verify()",
  maxAge: "did you mean maxTokenAge?",
};
const VERIFY_HINTS = Object.fromEntries(
  VERIFIER_OPTIONS.map((name) => [name, `${name} is a Verifier option: give it to new Verifier(key, options)`]),
);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** A valid public key: a remote Verifier's options are checked with it at once. */
const PROBE_KEY = { kty: "OKP", crv: "Ed25519", x: "l41RfS8ipiA5JVnx7pOKEBY1PGl_TYCXDw7hTTaE9K8" };

/**
 * `providers`: the runtime's native crypto (native.js), `sync` (node:crypto: verify() and
 * verifyAsync()), `async` (WebCrypto: verifyAsync() only) and `pool` (node:crypto's
 * asynchronous form, libuv's thread pool: verifyAsync() only; its keys import at once,
 * its checks answer promises); any may be absent, and then the module does that math. `asyncFirst(algorithm)`: true where the runtime's
 * WebCrypto beats its node:crypto, so that verifyAsync() takes WebCrypto (Deno's ECDSA).
 * `poolFirst(algorithm)`: true where verifyAsync() should take `pool` (Node).
 */
export function bindApi(wasm, exports, TollgateError, providers = {}) {
  const { argument, nowSeconds, secondsArg, timeArg, noOptions, expiryArgs } = bindArgs(TollgateError);
  const memory = exports.memory;
  const maxTokenLen = wasm.maxTokenLen();
  /** The algorithms this module has (the default one: HS*, EdDSA, ES256). */
  const available = wasm.algorithms().split(",");

  // Both buffers are allocated once and never move; the views are remade only when
  // the module's memory grows (which detaches the old ArrayBuffer).
  const tokenAt = wasm.tokenBuffer();
  const resultAt = wasm.resultBuffer();
  let buffer = null;
  let tokenView = null;

  /** Writes the token into the module; returns the length to pass. */
  function putToken(token) {
    if (typeof token !== "string") throw argument("token must be a string");
    // Every UTF-16 unit is at least one UTF-8 byte: a longer string is refused by the
    // core by its length alone, without copying it.
    if (token.length > maxTokenLen) return maxTokenLen + 1;
    if (buffer !== memory.buffer) {
      buffer = memory.buffer;
      tokenView = new Uint8Array(buffer, tokenAt, maxTokenLen * 3);
    }
    return encoder.encodeInto(token, tokenView).written;
  }

  /** The JSON result of the last call, `len` bytes long, or its error thrown. */
  function result(len) {
    if (len === FAILED) throw wasm.takeError();
    return JSON.parse(decoder.decode(new Uint8Array(memory.buffer, resultAt, len)));
  }

  /** `now` if given, else the clock's reading, else the system clock. */
  function nowArg(now, clock) {
    if (now !== undefined) return timeArg(now, "options.now");
    if (clock === undefined) return nowSeconds();
    let reading;
    try {
      reading = clock();
    } catch (cause) {
      const error = argument(`options.clock threw: ${String(cause?.message ?? cause)}`);
      error.cause = cause;
      throw error;
    }
    return timeArg(reading, "options.clock()");
  }

  /** The algorithms a Verifier accepts: `algorithm` (one) or `algorithms` (a list). */
  function algorithmsOf(options) {
    const { algorithm, algorithms } = options;
    if (algorithm !== undefined && algorithms !== undefined) {
      throw argument("options.algorithm and options.algorithms are exclusive: give one (algorithm is the one-element form)");
    }
    const list = algorithms === undefined ? [algorithm] : algorithms;
    if (algorithm === undefined && algorithms === undefined) {
      throw argument(`options.algorithm is required (${available.join(", ")}): it is never taken from the token`);
    }
    if (!Array.isArray(list) || list.length === 0) throw argument("options.algorithms must be a non-empty array");
    for (const name of list) {
      if (typeof name !== "string") throw argument(`options.algorithm${algorithms === undefined ? "" : "s"} must name algorithms (${available.join(", ")})`);
    }
    if (new Set(list).size !== list.length) throw argument("options.algorithms lists an algorithm twice");
    return list;
  }

  /** The module's options JSON for one algorithm (the module checks names and values again). */
  function optionsJson(options, algorithm) {
    if (options === null || typeof options !== "object" || Array.isArray(options)) throw argument("options must be an object");
    const { leeway, audience, issuer, type, requiredClaims, claims, maxTokenAge, maxLifetime, clock } = options;
    if (type !== undefined && !TYPES.has(type)) {
      throw argument("options.type must be access, refresh, sliding, sliding_refresh or untyped");
    }
    const strings = (v) => typeof v === "string" || (Array.isArray(v) && v.every((s) => typeof s === "string"));
    if (audience !== undefined && !strings(audience)) throw argument("options.audience must be a string or strings");
    if (issuer !== undefined && typeof issuer !== "string") throw argument("options.issuer must be a string");
    if (requiredClaims !== undefined && !(Array.isArray(requiredClaims) && strings(requiredClaims))) {
      throw argument("options.requiredClaims must be an array of strings");
    }
    if (clock !== undefined && typeof clock !== "function") throw argument("options.clock must be a function giving epoch seconds");
    if (options.crypto !== undefined && !CRYPTO.includes(options.crypto)) {
      throw argument(`options.crypto must be ${CRYPTO.join(", ")}`);
    }
    const names = optionsArg(argument, claims, CLAIM_NAMES, "options.claims");
    for (const name of CLAIM_NAMES) {
      if (names[name] !== undefined && typeof names[name] !== "string") throw argument(`options.claims.${name} must be a string`);
    }
    const positive = (value, name) => {
      if (value === undefined) return undefined;
      if (!Number.isSafeInteger(value) || value < 1) throw argument(`${name} must be a positive whole number of seconds`);
      return value;
    };
    return JSON.stringify({
      algorithm,
      leeway: secondsArg(leeway, "options.leeway", 0),
      audience,
      issuer,
      type,
      requiredClaims,
      userIdClaim: names.userId,
      tokenTypeClaim: names.tokenType,
      jtiClaim: names.jti,
      refreshExpClaim: names.refreshExp,
      maxTokenAge: positive(maxTokenAge, "options.maxTokenAge"),
      maxLifetime: positive(maxLifetime, "options.maxLifetime"),
    });
  }

  /** An algorithm the module was built without: say where it is. */
  function requireAvailable(algorithm) {
    if (RSA_ENTRY_ONLY.test(algorithm) && !available.includes(algorithm)) {
      throw new TollgateError(
        "algorithm_unsupported",
        `${algorithm} is not in this module: import the package's "tollgate/rsa" entry (RS*, PS*, ES384, ES512)`,
      );
    }
  }

  /** Checks a Verifier's options; returns its algorithms and each one's options JSON. */
  function verifierOptions(options, allowed = VERIFIER_OPTIONS, hints = VERIFIER_HINTS) {
    const checked = optionsArg(argument, options, allowed, "options", hints);
    if (options === undefined) throw argument("options are required: at least { algorithm }");
    const algorithms = algorithmsOf(checked);
    algorithms.forEach(requireAvailable);
    return { algorithms, json: algorithms.map((algorithm) => optionsJson(checked, algorithm)) };
  }

  /** A module verifier of one algorithm for `key` (throws the module's error). */
  function buildVerifier(key, opts) {
    if (typeof key === "string") {
      return key.trimStart().startsWith("-----BEGIN")
        ? wasm.Verifier.pem(key, opts)
        : wasm.Verifier.hmac(encoder.encode(key), opts);
    }
    if (key instanceof Uint8Array) return wasm.Verifier.hmac(key, opts);
    if (key instanceof ArrayBuffer) return wasm.Verifier.hmac(new Uint8Array(key), opts);
    if (key !== null && typeof key === "object" && (Array.isArray(key.keys) || typeof key.kty === "string")) {
      return wasm.Verifier.jwks(JSON.stringify(key), opts);
    }
    throw argument("key must be an HMAC secret (string or bytes), a PEM public key, a JWK or a JWKS");
  }

  /** Whether `keys` (a JWKS group from a URL) parse for `algorithm`: checked at fetch time. */
  function checkKeys(algorithm, keys) {
    let verifier;
    try {
      verifier = wasm.Verifier.jwks(JSON.stringify({ keys }), optionsJson({}, algorithm));
      return verifier.keyCount === keys.length;
    } catch {
      return false;
    } finally {
      verifier?.free();
    }
  }
  const remote = bindRemote({ TollgateError, argument, checkKeys, optionsArg, available });

  function blacklistJson(blacklist) {
    if (blacklist === undefined) return undefined;
    const list = Array.from(blacklist ?? []);
    if (!list.every((jti) => typeof jti === "string")) throw argument("blacklist must hold jti strings");
    return JSON.stringify(list);
  }

  const keyUnknown = () => new TollgateError("token_key_unknown", "Token is invalid");

  // The native checks of each module verifier's keys, per provider: for a sync provider
  // the handler nativeVerify calls, for an async one a promise of the key checks; null
  // where the module does the math (HMAC, or a key the runtime could not import).
  const nativeKeys = new WeakMap();
  function nativeFor(inner, algorithm, provider) {
    if (provider == null || !nativeAlgorithm(algorithm)) return null;
    let byProvider = nativeKeys.get(inner);
    if (byProvider === undefined) nativeKeys.set(inner, (byProvider = new Map()));
    if (byProvider.has(provider)) return byProvider.get(provider);
    let checks = [];
    for (let i = 0; i < inner.keyCount; i++) {
      const jwk = inner.publicJwk(i);
      if (jwk === undefined) {
        checks = null;
        break;
      }
      checks.push(provider.importKey(algorithm, JSON.parse(jwk)));
    }
    const usable = (list) => (list !== null && list.every((check) => typeof check === "function") ? list : null);
    let value;
    if (provider.sync) {
      const list = usable(checks);
      if (list === null) value = null;
      else if (list.length === 1) {
        // One key (the common case): no lookup per call.
        const [check] = list;
        value = (index, message, signature) => index === 0 && check(message, signature);
      } else value = (index, message, signature) => index < list.length && list[index](message, signature);
    } else if (provider === providers.pool) {
      // Asynchronous checks of keys imported at once (node:crypto's pool).
      value = usable(checks);
    } else {
      // Replaced by the resolved list (or null) once imported: later calls need no await.
      value = checks === null ? null : Promise.all(checks).then(usable, () => null);
      value?.then((list) => byProvider.set(provider, list));
    }
    byProvider.set(provider, value);
    return value;
  }

  /** One verification by the module: `handler` answers its native signature checks. */
  function run(inner, len, when, revoked, handler) {
    if (handler === null) return result(inner.verifyToken(len, when, revoked));
    globalThis[NATIVE_SLOT] = handler;
    try {
      return result(inner.verifyTokenNative(len, when, revoked));
    } finally {
      globalThis[NATIVE_SLOT] = undefined;
    }
  }

  /** run() kept for later: `answer()` returns its claims or throws its error. */
  function attempt(inner, token, when, revoked, handler) {
    try {
      const claims = run(inner, putToken(token), when, revoked, handler);
      return { answer: () => claims };
    } catch (error) {
      return {
        answer: () => {
          throw error;
        },
      };
    }
  }

  /**
   * A verifier of keys and options; verify() is synchronous. With several algorithms
   * (`algorithms`) there is one module verifier per algorithm, each with its own keys,
   * and a token's header picks among those only (the core then checks the header names
   * that very algorithm). With a remoteJwks() source the module verifiers are rebuilt
   * whenever the shared key set changes.
   */
  class Verifier {
    #inner = null; // the module verifier of the first algorithm
    #byAlg = null; // several algorithms: algorithm -> module verifier
    #remote = null;
    #options; // algorithm -> options JSON
    #algorithms;
    #clock;
    #crypto;
    #version = -1; // remote: the key set version last seen
    #slots = new Map(); // remote: algorithm -> { version, group, inner }
    constructor(key, options) {
      const { algorithms, json } = verifierOptions(options);
      this.#algorithms = algorithms;
      this.#clock = options.clock;
      this.#crypto = options.crypto ?? "native";
      this.#options = new Map(algorithms.map((algorithm, i) => [algorithm, json[i]]));
      if (key instanceof remote.RemoteJwks) {
        for (const algorithm of algorithms) {
          if (!key.algorithms.includes(algorithm)) {
            throw argument(`options.algorithm ${algorithm} is not among the key source's algorithms (${key.algorithms.join(", ")})`);
          }
        }
        // Throws for bad options (checked with an EdDSA key: no option depends on the algorithm).
        wasm.Verifier.jwks(JSON.stringify(PROBE_KEY), optionsJson(options, "EdDSA")).free();
        this.#remote = key;
        return;
      }
      const built = [];
      try {
        for (const algorithm of algorithms) built.push(buildVerifier(key, this.#options.get(algorithm)));
      } catch (error) {
        for (const verifier of built) verifier.free();
        throw error;
      }
      this.#inner = built[0];
      if (built.length > 1) this.#byAlg = new Map(algorithms.map((algorithm, i) => [algorithm, built[i]]));
    }

    /** The algorithm whose keys check `token`: its header's, when it is one of ours. */
    #algorithmFor(token) {
      if (this.#algorithms.length === 1) return this.#algorithms[0];
      const { alg } = tokenHeader(token);
      return this.#options.has(alg) ? alg : this.#algorithms[0];
    }

    /** The module verifier for this token, or a thrown error (remote sources). */
    #verifierFor(token, algorithm = this.#algorithmFor(token)) {
      if (this.#remote === null) {
        return this.#byAlg === null ? this.#inner : this.#byAlg.get(algorithm);
      }
      const { version, group } = this.#remote[KEYS_NOW](algorithm);
      this.#version = version;
      let slot = this.#slots.get(algorithm);
      if (slot === undefined || slot.version !== version) {
        slot?.inner?.free();
        const inner = group === null ? null : wasm.Verifier.jwks(group.json, this.#options.get(algorithm));
        slot = { version, group, inner };
        this.#slots.set(algorithm, slot);
      }
      const kid = tokenKid(token);
      const unknown = slot.group === null || (kid !== undefined && slot.group.allKid && !slot.group.kids.has(kid));
      if (unknown) {
        this.#remote[UNKNOWN_KID]();
        throw keyUnknown();
      }
      return slot.inner;
    }

    /**
     * The claims of a valid token, or a thrown TollgateError with `.code`.
     * `now`: epoch seconds (default: the Verifier's clock, else the system clock);
     * `blacklist`: revoked jti values (an array or Set), checked as the server does.
     */
    verify(token, options) {
      const { now, blacklist } = optionsArg(argument, options, VERIFY_OPTIONS, "options", VERIFY_HINTS);
      const revoked = blacklistJson(blacklist);
      const when = nowArg(now, this.#clock);
      const len = putToken(token);
      const algorithm = this.#algorithmFor(token);
      const inner = this.#verifierFor(token, algorithm);
      const provider = this.#crypto === "native" ? providers.sync : null;
      return run(inner, len, when, revoked, nativeFor(inner, algorithm, provider));
    }

    /**
     * The asynchronous provider verifyAsync() hands the math to, or null for verify()'s
     * path: WebCrypto for `crypto: "webcrypto"`, where there is no node:crypto, or where it
     * beats node:crypto (asyncFirst); node:crypto's pool where poolFirst says (Node).
     */
    #asyncProvider(token) {
      if (this.#crypto === "webcrypto") return providers.async;
      if (this.#crypto !== "native") return null;
      if (providers.sync == null) return providers.async;
      const algorithm = this.#algorithmFor(token);
      if (providers.asyncFirst?.(algorithm) === true) return providers.async;
      if (providers.pool != null && providers.poolFirst?.(algorithm) === true) return providers.pool;
      return null;
    }

    /**
     * verify() with the signature math of an async provider (WebCrypto, or node:crypto's
     * asynchronous form on libuv's pool), in one pass of the module over the token: every
     * check before the signature runs, the signature check the module asks for is handed
     * to the provider (which copies the message and signature views before it returns:
     * the WebCrypto spec requires it, Node's SignJob does it) and answered "valid" for
     * now, so that the same pass also runs every claim check and gives the outcome of a
     * valid signature. If the provider confirms, that outcome (claims or the core's claim
     * error) is the answer; if not, the core's answer for a bad signature is made by
     * #signatureRefused (the other keys asked as well, when the token has no kid). A pass
     * that asked nothing (an error before the signature, or HMAC) needed no math: its
     * outcome is final. Every verdict and error is the core's, in the core's order.
     */
    async #verifyOnce(token, options) {
      const provider = this.#asyncProvider(token);
      if (provider == null) return this.verify(token, options);
      const { now, blacklist } = optionsArg(argument, options, VERIFY_OPTIONS, "options", VERIFY_HINTS);
      const revoked = blacklistJson(blacklist);
      const when = nowArg(now, this.#clock);
      const algorithm = this.#algorithmFor(token);
      let inner = this.#verifierFor(token, algorithm);
      let checks = nativeFor(inner, algorithm, provider);
      if (checks !== null && !Array.isArray(checks)) {
        // The keys' first import: a remote key set may have changed while waiting.
        checks = await checks;
        if (this.#verifierFor(token, algorithm) !== inner) checks = null;
        inner = this.#verifierFor(token, algorithm);
      }
      if (checks === null) return run(inner, putToken(token), when, revoked, null);
      let asked = -1;
      let verdict = null;
      const handOff = (index, message, signature) => {
        // The first "valid" ends the module's search over keys: one question per pass.
        if (verdict !== null) return false;
        asked = index;
        verdict = checks[index](message, signature);
        return true;
      };
      const outcome = attempt(inner, token, when, revoked, handOff);
      if (verdict === null || (await verdict) === true) return outcome.answer();
      return this.#signatureRefused(token, algorithm, inner, checks, asked, when, revoked);
    }

    /**
     * The core's answer once the provider refused the signature for key `refused`: the
     * module's pass with every other signature check it asks for answered by the provider
     * (collected with "no", then replayed with its answers), so that a token
     * without kid is checked against each key, as the core does.
     */
    async #signatureRefused(token, algorithm, inner, checks, refused, when, revoked) {
      const asked = [];
      const collect = (index, message, signature) => {
        if (index !== refused) asked.push(checks[index](message, signature).then((valid) => valid && index));
        return false;
      };
      // With one candidate key (a single key, or the one the kid names) nothing else is
      // asked and this pass's token_signature_invalid is the answer.
      const outcome = attempt(inner, token, when, revoked, collect);
      if (asked.length === 0) return outcome.answer();
      const valid = new Set((await Promise.all(asked)).filter((index) => index !== false));
      // A remote key set may have changed while waiting: its module verifier is another.
      const current = this.#verifierFor(token, algorithm);
      if (current !== inner) return run(current, putToken(token), when, revoked, null);
      return run(inner, putToken(token), when, revoked, (index) => valid.has(index));
    }

    /**
     * verify() that first loads (or refreshes) a remote key set, and refetches once (per
     * cooldown) for a key it does not know: a kid not cached, or, for a token without
     * kid, a signature no cached key matches.
     */
    verifyAsync(token, options) {
      if (this.#remote === null) return this.#verifyOnce(token, options);
      return this.#verifyRemote(token, options);
    }

    async #verifyRemote(token, options) {
      optionsArg(argument, options, VERIFY_OPTIONS, "options", VERIFY_HINTS);
      await this.#remote[ENSURE]();
      try {
        return await this.#verifyOnce(token, options);
      } catch (error) {
        const version = this.#version;
        const code = error?.code;
        const retry = code === "token_key_unknown" || (code === "token_signature_invalid" && tokenKid(token) === undefined);
        if (!retry || !(await this.#remote[REFETCH](version))) throw error;
        return this.#verifyOnce(token, options);
      }
    }

    /** Resolves once a remote key set is loaded (at once for other keys). */
    async ready() {
      if (this.#remote !== null) await this.#remote[ENSURE]();
      return this;
    }

    /** The key source given to the constructor when it is a remoteJwks(), else null. */
    get source() {
      return this.#remote;
    }

    /** The algorithms accepted, in the order given. */
    get algorithms() {
      return [...this.#algorithms];
    }

    get keyCount() {
      if (this.#remote !== null) {
        let count = 0;
        for (const slot of this.#slots.values()) count += slot.inner?.keyCount ?? 0;
        return count;
      }
      if (this.#byAlg === null) return this.#inner.keyCount;
      let count = 0;
      for (const inner of this.#byAlg.values()) count += inner.keyCount;
      return count;
    }
  }

  /** One-shot verification (build a Verifier to verify many tokens). */
  function verify(token, key, options) {
    const { now, blacklist, ...rest } = optionsArg(argument, options, [...VERIFIER_OPTIONS, ...VERIFY_OPTIONS]);
    if (options === undefined) throw argument("options are required: at least { algorithm }");
    return new Verifier(key, rest).verify(token, { now, blacklist });
  }

  /** Header and payload WITHOUT verifying the signature: for display and scheduling. */
  // The last header seen, when all its values are primitives: tokens from one issuer
  // share their header segment, so the module then returns only the payload (it still
  // checks the whole token) and the header is a fresh copy of the cached one.
  let headerSegment = null;
  let headerValue = null;

  function decode(token, options) {
    noOptions("decode", options);
    const len = putToken(token);
    const known = headerSegment !== null && token.startsWith(headerSegment);
    if (known) return { header: { ...headerValue }, payload: result(wasm.decodeToken(len, true)) };
    const decoded = result(wasm.decodeToken(len, false));
    const flat = Object.values(decoded.header).every((v) => v === null || typeof v !== "object");
    [headerSegment, headerValue] = flat ? [token.slice(0, token.indexOf(".") + 1), { ...decoded.header }] : [null, null];
    return decoded;
  }

  function expiresAt(token, options) {
    noOptions("expiresAt", options);
    return wasm.expiresAt(putToken(token));
  }

  function isExpired(token, options) {
    const { when, grace } = expiryArgs(options, ["leeway", "now"]);
    return wasm.isExpired(putToken(token), when, grace);
  }

  function secondsLeft(token, options) {
    const { when } = expiryArgs(options, ["now"]);
    return wasm.secondsLeft(putToken(token), when);
  }

  const bearer = bindBearer(TollgateError);
  const { remoteJwks, workersCache, clearRemoteJwks } = remote;
  return {
    Verifier,
    verify,
    decode,
    expiresAt,
    isExpired,
    secondsLeft,
    bearer,
    remoteJwks,
    workersCache,
    clearRemoteJwks,
    TollgateError,
  };
}
