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

import { ENSURE, KEYS_NOW, REFETCH, UNKNOWN_KID, bindRemote, tokenKid } from "./remote.js";

/** What a result-returning call answers when it failed (u32::MAX); see takeError. */
const FAILED = 0xffffffff;
/** The algorithms only the `tollgate/rsa` entry's module has. */
const RSA_ENTRY_ONLY = /^(?:[RP]S(?:256|384|512)|ES384|ES512)$/;
const TYPES = new Set(["access", "refresh", "sliding", "sliding_refresh", "untyped"]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** A valid public key: a remote Verifier's options are checked with it at once. */
const PROBE_KEY = { kty: "OKP", crv: "Ed25519", x: "l41RfS8ipiA5JVnx7pOKEBY1PGl_TYCXDw7hTTaE9K8" };

export function bindApi(wasm, exports, TollgateError) {
  const argument = (message) => new TollgateError("argument_invalid", message);
  const memory = exports.memory;
  const maxTokenLen = wasm.maxTokenLen();
  /** The algorithms this module has (the default one: HS*, EdDSA, ES256). */
  const available = wasm.algorithms().split(",");

  const nowSeconds = () => Math.floor(Date.now() / 1000);

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

  function secondsArg(value, name, fallback) {
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw argument(`${name} must be a non-negative number of seconds`);
    }
    return Math.floor(value);
  }

  function optionsJson(options) {
    if (options === null || typeof options !== "object") throw argument("options must be an object");
    const { algorithm, leeway, audience, issuer, type, requiredClaims, claims } = options;
    if (typeof algorithm !== "string") {
      throw argument(`options.algorithm is required (${available.join(", ")}): it is never taken from the token`);
    }
    if (type !== undefined && !TYPES.has(type)) {
      throw argument("options.type must be access, refresh, sliding, sliding_refresh or untyped");
    }
    const strings = (v) => typeof v === "string" || (Array.isArray(v) && v.every((s) => typeof s === "string"));
    if (audience !== undefined && !strings(audience)) throw argument("options.audience must be a string or strings");
    if (issuer !== undefined && typeof issuer !== "string") throw argument("options.issuer must be a string");
    if (requiredClaims !== undefined && !(Array.isArray(requiredClaims) && strings(requiredClaims))) {
      throw argument("options.requiredClaims must be an array of strings");
    }
    const names = claims ?? {};
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

  function buildVerifier(key, options) {
    const opts = optionsJson(options);
    requireAvailable(options.algorithm);
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
      verifier = wasm.Verifier.jwks(JSON.stringify({ keys }), optionsJson({ algorithm }));
      return verifier.keyCount === keys.length;
    } catch {
      return false;
    } finally {
      verifier?.free();
    }
  }
  const remote = bindRemote({ TollgateError, argument, checkKeys, available });

  function blacklistJson(blacklist) {
    if (blacklist === undefined) return undefined;
    const list = Array.from(blacklist ?? []);
    if (!list.every((jti) => typeof jti === "string")) throw argument("blacklist must hold jti strings");
    return JSON.stringify(list);
  }

  const keyUnknown = () => new TollgateError("token_key_unknown", "Token is invalid");

  /**
   * A verifier of keys and options; verify() is synchronous. With a remoteJwks() source
   * the module verifier is rebuilt whenever the shared key set changes.
   */
  class Verifier {
    #inner = null;
    #remote = null;
    #options;
    #algorithm;
    #version = -1;
    #group = null;
    constructor(key, options) {
      if (key instanceof remote.RemoteJwks) {
        this.#options = optionsJson(options);
        requireAvailable(options.algorithm);
        this.#algorithm = options.algorithm;
        if (!key.algorithms.includes(this.#algorithm)) {
          throw argument(`options.algorithm ${this.#algorithm} is not among the key source's algorithms (${key.algorithms.join(", ")})`);
        }
        // Throws for bad options (checked with an EdDSA key: no option depends on the algorithm).
        wasm.Verifier.jwks(JSON.stringify(PROBE_KEY), optionsJson({ ...options, algorithm: "EdDSA" })).free();
        this.#remote = key;
        return;
      }
      this.#inner = buildVerifier(key, options);
    }

    /** The module verifier for this token's keys, or a thrown error (remote sources). */
    #verifierFor(token) {
      if (this.#remote === null) return this.#inner;
      const { version, group } = this.#remote[KEYS_NOW](this.#algorithm);
      if (version !== this.#version) {
        this.#inner?.free();
        this.#inner = group === null ? null : wasm.Verifier.jwks(group.json, this.#options);
        [this.#version, this.#group] = [version, group];
      }
      const kid = tokenKid(token);
      const unknown = this.#group === null || (kid !== undefined && this.#group.allKid && !this.#group.kids.has(kid));
      if (unknown) {
        this.#remote[UNKNOWN_KID]();
        throw keyUnknown();
      }
      return this.#inner;
    }

    /**
     * The claims of a valid token, or a thrown TollgateError with `.code`.
     * `blacklist`: revoked jti values (an array or Set), checked as the server does.
     */
    verify(token, { now, blacklist } = {}) {
      const revoked = blacklistJson(blacklist);
      const when = secondsArg(now, "now", nowSeconds());
      const len = putToken(token);
      return result(this.#verifierFor(token).verifyToken(len, when, revoked));
    }

    /**
     * verify() that first loads (or refreshes) a remote key set, and refetches once (per
     * cooldown) for a key it does not know: a kid not cached, or, for a token without
     * kid, a signature no cached key matches.
     */
    async verifyAsync(token, options = {}) {
      if (this.#remote === null) return this.verify(token, options);
      await this.#remote[ENSURE]();
      try {
        return this.verify(token, options);
      } catch (error) {
        const version = this.#version;
        const code = error?.code;
        const retry = code === "token_key_unknown" || (code === "token_signature_invalid" && tokenKid(token) === undefined);
        if (!retry || !(await this.#remote[REFETCH](version))) throw error;
        return this.verify(token, options);
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

    get keyCount() {
      if (this.#remote !== null && this.#version === -1) return 0;
      return this.#inner?.keyCount ?? 0;
    }
  }

  /** One-shot verification (build a Verifier to verify many tokens). */
  function verify(token, key, options) {
    return new Verifier(key, options).verify(token, { now: options?.now, blacklist: options?.blacklist });
  }

  /** Header and payload WITHOUT verifying the signature: for display and scheduling. */
  // The last header seen, when all its values are primitives: tokens from one issuer
  // share their header segment, so the module then returns only the payload (it still
  // checks the whole token) and the header is a fresh copy of the cached one.
  let headerSegment = null;
  let headerValue = null;

  function decode(token) {
    const len = putToken(token);
    const known = headerSegment !== null && token.startsWith(headerSegment);
    if (known) return { header: { ...headerValue }, payload: result(wasm.decodeToken(len, true)) };
    const decoded = result(wasm.decodeToken(len, false));
    const flat = Object.values(decoded.header).every((v) => v === null || typeof v !== "object");
    [headerSegment, headerValue] = flat ? [token.slice(0, token.indexOf(".") + 1), { ...decoded.header }] : [null, null];
    return decoded;
  }

  function expiresAt(token) {
    return wasm.expiresAt(putToken(token));
  }

  function isExpired(token, { leeway, now } = {}) {
    const [when, grace] = [secondsArg(now, "now", nowSeconds()), secondsArg(leeway, "leeway", 0)];
    return wasm.isExpired(putToken(token), when, grace);
  }

  function secondsLeft(token, { now } = {}) {
    const when = secondsArg(now, "now", nowSeconds());
    return wasm.secondsLeft(putToken(token), when);
  }

  /**
   * The token of an Authorization header value, as the server reads it: split on runs
   * of whitespace, the scheme compared case-sensitively. null when there is no token
   * for these schemes; throws `bad_authorization_header` for "Bearer" alone or
   * "Bearer a b".
   */
  function bearer(headerValue, { types = ["Bearer"] } = {}) {
    if (headerValue === null || headerValue === undefined) return null;
    if (typeof headerValue !== "string") throw argument("the header value must be a string");
    const parts = headerValue.split(/[ \t\n\r\v\f]+/).filter(Boolean);
    if (parts.length === 0 || !types.includes(parts[0])) return null;
    if (parts.length !== 2) {
      throw new TollgateError("bad_authorization_header", "Authorization header must contain two space-delimited values");
    }
    return parts[1];
  }

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
