// The fetching half of remoteJwks (remote.js): one request to a JWKS endpoint, its body
// bounded, its keys checked, and when to fetch (cold, expired, an unknown kid; cooldown,
// stale keys, the persistent cache). A module of its own, imported on the first fetch, so that a
// browser bundle (scripts/bundle-pkg.mjs, esbuild's code splitting) loads it only when a
// remoteJwks() key source actually fetches: BENCHMARKS.md, "the validator's size".

const RSA = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
const CURVES = { Ed25519: "EdDSA", "P-256": "ES256", "P-384": "ES384", "P-521": "ES512" };

/**
 * The algorithms a public JWK may serve, from its kty/crv (an `alg` member must agree): one
 * for OKP/EC keys; for an RSA key its `alg` (RS* or PS*), or without one every RSA
 * algorithm of the allow-list (the key itself does not say which padding it signs with).
 */
function jwkAlgorithms(jwk, allowed) {
  const derived = (jwk.kty === "OKP" || jwk.kty === "EC") && Object.hasOwn(CURVES, jwk.crv) ? CURVES[jwk.crv] : null;
  if (jwk.kty === "RSA") {
    if (jwk.alg === undefined) return allowed.filter((a) => RSA.includes(a));
    return RSA.includes(jwk.alg) ? [jwk.alg] : [`${jwk.alg} (on an RSA key)`];
  }
  if (derived === null) return [typeof jwk.alg === "string" ? jwk.alg : `${jwk.kty}${jwk.crv ? ` ${jwk.crv}` : ""}`];
  if (jwk.alg !== undefined && jwk.alg !== derived) return [`${jwk.alg} (on a ${derived} key)`];
  return [derived];
}

/**
 * `error(code, message, cause)` makes a TollgateError, `checkKeys(alg, keys)` asks the
 * module whether keys parse, `isWorkers()` tells workerd apart.
 */
export function bindFetch({ TollgateError, error, notLoaded, checkKeys, isWorkers }) {
  const decoder = new TextDecoder();

  /** The usable keys of a parsed JWKS, grouped by algorithm; throws jwks_invalid. */
  function validate(url, jwks, algorithms) {
    const invalid = (why) => error("jwks_invalid", `${url}: ${why}`);
    if (jwks === null || typeof jwks !== "object" || !Array.isArray(jwks.keys)) throw invalid('not a JWKS (no "keys" array)');
    const byAlg = new Map();
    const kids = new Set();
    for (const jwk of jwks.keys) {
      if (jwk === null || typeof jwk !== "object" || typeof jwk.kty !== "string") throw invalid("a key without kty");
      const name = typeof jwk.kid === "string" ? `key "${jwk.kid}"` : "a key";
      if (jwk.kty === "oct") throw invalid(`${name} is an HMAC (oct) key: HMAC keys are never accepted from a URL`);
      if (jwk.d !== undefined) throw invalid(`${name} is a private key`);
      if (jwk.kid !== undefined) {
        if (typeof jwk.kid !== "string") throw invalid("a kid that is not a string");
        if (kids.has(jwk.kid)) throw invalid(`duplicate kid "${jwk.kid}"`);
        kids.add(jwk.kid);
      }
      if (jwk.use !== undefined && jwk.use !== "sig") continue; // encryption keys are not ours
      const algs = jwkAlgorithms(jwk, algorithms);
      if (algs.length === 0) throw invalid(`${name} is for RSA, no RSA algorithm allowed (algorithms: ${algorithms.join(", ")})`);
      for (const alg of algs) {
        if (!algorithms.includes(alg)) throw invalid(`${name} is for ${alg}, not allowed (algorithms: ${algorithms.join(", ")})`);
        if (!byAlg.has(alg)) byAlg.set(alg, []);
        byAlg.get(alg).push(jwk);
      }
    }
    if (byAlg.size === 0) throw invalid("no signature keys");
    const groups = new Map();
    for (const [alg, keys] of byAlg) {
      if (!checkKeys(alg, keys)) throw invalid(`a ${alg} key does not parse`);
      groups.set(alg, {
        json: JSON.stringify({ keys }),
        kids: new Set(keys.map((k) => k.kid)),
        // A key without kid gets its thumbprint as kid in the core: leave those sets to it.
        allKid: keys.every((k) => typeof k.kid === "string"),
      });
    }
    return groups;
  }

  /** Seconds of `max-age` in a Cache-Control value (0 for no-cache/no-store), or null. */
  function maxAgeOf(cacheControl) {
    if (!cacheControl) return null;
    if (/(^|[,\s])(no-cache|no-store)($|[,\s=])/i.test(cacheControl)) return 0;
    const m = /(?:^|[,\s])max-age\s*=\s*"?(\d+)/i.exec(cacheControl);
    return m ? Number(m[1]) : null;
  }

  /** The body, refused once it passes `maxBytes` (declared or streamed). */
  async function boundedText(response, maxBytes, invalid) {
    const declared = Number(response.headers.get("content-length"));
    if (declared > maxBytes) throw invalid(`the body is ${declared} bytes, over ${maxBytes}`);
    if (!response.body) return "";
    const reader = response.body.getReader();
    const chunks = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        reader.cancel().catch(() => {});
        throw invalid(`the body is over ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) {
      bytes.set(c, at);
      at += c.byteLength;
    }
    return decoder.decode(bytes);
  }

  /** One request to the endpoint, bounded by `timeout`: new keys, or "not modified". */
  async function request(entry, o) {
    const url = entry.url;
    const invalid = (why) => error("jwks_invalid", `${url}: ${why}`);
    const headers = { accept: "application/jwk-set+json, application/json" };
    if (entry.etag && entry.groups) headers["if-none-match"] = entry.etag;
    const controller = new AbortController();
    // Browsers' HTTP cache would answer a refetch with the copy this cache already holds
    // (and hide an endpoint that is down); our own ETag revalidates. Workers reject `cache`.
    const init = { headers, redirect: "manual", signal: controller.signal };
    if (!isWorkers()) init.cache = "no-store";
    let timer;
    const timedOut = new Promise((_, reject) => {
      timer = setTimeout(() => {
        reject(error("jwks_timeout", `${url}: no answer within ${o.timeout} s`));
        controller.abort();
      }, o.timeout * 1000);
    });
    const attempt = (async () => {
      let response;
      try {
        response = await o.fetch(url, init);
      } catch (cause) {
        throw error("jwks_fetch_failed", `${url}: ${cause?.message ?? cause}`, cause);
      }
      const maxAge = maxAgeOf(response.headers.get("cache-control"));
      if (response.status === 304 && entry.groups) return { notModified: true, maxAge };
      if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) {
        throw invalid(`answered a redirect (${response.status || "opaque"}), which is not followed`);
      }
      if (!response.ok) throw error("jwks_fetch_failed", `${url}: HTTP ${response.status}`);
      const type = response.headers.get("content-type") ?? "";
      if (/html/i.test(type)) throw invalid(`answered ${type}, not a JWKS`);
      const text = await boundedText(response, o.maxBytes, invalid);
      let jwks;
      try {
        jwks = JSON.parse(text);
      } catch {
        throw invalid(`answered ${type || "a body"} that is not JSON`);
      }
      return { jwks, groups: validate(url, jwks, o.algorithms), maxAge, etag: response.headers.get("etag") };
    })();
    attempt.catch(() => {}); // lost the race to the timer
    try {
      return await Promise.race([attempt, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  function lifetime(o, maxAge) {
    return Math.min(Math.max(maxAge ?? o.maxAge, o.minAge), o.maxAge) * 1000;
  }

  function adopt(entry, { jwks, groups, ttl, fetchedAt, etag }) {
    Object.assign(entry, { jwks, groups, ttl, fetchedAt, etag: etag ?? null, lastError: null });
    entry.version += 1;
  }

  /** Fetches now (the caller checked the cooldown); never throws: the error is kept. */
  function refetch(entry, o) {
    entry.lastAttempt = Date.now();
    entry.fetches += 1;
    const run = (async () => {
      try {
        const got = await request(entry, o);
        const ttl = lifetime(o, got.maxAge);
        if (got.notModified) {
          Object.assign(entry, { fetchedAt: Date.now(), ttl, lastError: null });
        } else {
          adopt(entry, { ...got, ttl, fetchedAt: Date.now() });
        }
        if (o.cache) {
          const value = { jwks: entry.jwks, fetchedAt: entry.fetchedAt, ttl: entry.ttl, etag: entry.etag };
          await Promise.resolve(o.cache.set(entry.url, value)).catch(() => {});
        }
      } catch (e) {
        entry.lastError = e instanceof TollgateError ? e : error("jwks_fetch_failed", `${entry.url}: ${e?.message ?? e}`, e);
      } finally {
        if (entry.inflight === run) entry.inflight = null;
      }
    })();
    entry.inflight = run;
    return run;
  }

  /** A warm start from the persistent cache, once per entry; a bad value is ignored. */
  async function fromCache(entry, o) {
    if (!o.cache || entry.cacheTried) return;
    entry.cacheTried = true;
    try {
      const value = await o.cache.get(entry.url);
      if (!value || entry.groups || typeof value.fetchedAt !== "number" || typeof value.ttl !== "number") return;
      const groups = validate(entry.url, value.jwks, o.algorithms);
      adopt(entry, { jwks: value.jwks, groups, ttl: value.ttl, fetchedAt: value.fetchedAt, etag: value.etag });
    } catch {
      // A cache that fails or holds junk is as good as an empty one.
    }
  }

  const share = (o) => o.shareFetches;
  const cooled = (e, o, now) => now - e.lastAttempt >= o.cooldown * 1000;
  /** The failure onStale was last called for, per key source. */
  const reported = new WeakMap();

  /** Calls onStale once per failure of the endpoint while stale keys serve. */
  function flagStale(source, e, o) {
    if (source.stale && o.onStale && reported.get(source) !== e.lastError) {
      reported.set(source, e.lastError);
      try {
        o.onStale(e.lastError, source);
      } catch {
        // a throwing callback must not fail verification
      }
    }
  }

  /** The key group of `algorithm` usable now, synchronously; throws when none. */
  function keysNow(source, e, o, algorithm) {
    const now = Date.now();
    if (e.groups === null) throw notLoaded(e);
    if (now >= e.fetchedAt + e.ttl) {
      if (share(o) && e.inflight === null && cooled(e, o, now)) refetch(e, o);
      if (now >= e.fetchedAt + e.ttl + o.staleMax * 1000) {
        const last = e.lastError;
        const message = `keys of ${e.url} expired ${Math.round((now - e.fetchedAt - e.ttl) / 1000)} s ago`;
        throw last
          ? error(last.code, `${message} and the endpoint fails: ${last.message}`, last)
          : error("keys_not_loaded", `${message}; await verifyAsync() or ready() to refetch`);
      }
      flagStale(source, e, o);
    }
    return { version: e.version, group: e.groups.get(algorithm) ?? null };
  }

  /** A token named a kid that is not cached: refetch in the background if allowed. */
  function unknownKid(e, o) {
    if (share(o) && e.inflight === null && cooled(e, o, Date.now())) refetch(e, o);
  }

  /**
   * After an unknown kid: waits for a refetch (one in flight, where sharing is allowed,
   * or a new one if the cooldown allows); true when the keys changed.
   */
  async function refetchFor(e, o, version) {
    if (e.inflight !== null && share(o)) await e.inflight;
    else if (cooled(e, o, Date.now())) await refetch(e, o);
    return e.version !== version;
  }

  /** Loads keys when cold, refetches when expired (once per cooldown while failing). */
  async function ensure(source, e, o) {
    if (e.groups !== null && Date.now() < e.fetchedAt + e.ttl) return;
    await fromCache(e, o);
    const now = Date.now();
    if (e.groups !== null && now < e.fetchedAt + e.ttl) return;
    if (e.inflight !== null && share(o)) await e.inflight;
    else if (e.lastError === null || cooled(e, o, now)) await refetch(e, o);
    if (e.groups === null && e.lastError !== null) {
      throw error(e.lastError.code, `keys of ${e.url} could not be loaded: ${e.lastError.message}`, e.lastError);
    }
    keysNow(source, e, o, o.algorithms[0]); // throws when nothing usable
  }

  return { keysNow, unknownKid, refetchFor, ensure };
}
