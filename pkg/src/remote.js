// remoteJwks(url, options): a JWKS fetched from a URL as a Verifier's key source.
//
// One cache entry per URL (and allow-list) lives at module level, so every Verifier of
// that URL in an isolate shares the keys and the fetches. The entry keeps the last good
// key set; a failed or invalid fetch never replaces it (stale keys serve up to
// `staleMax` past their lifetime, flagged). A token whose kid is not cached refetches at
// most once per `cooldown`, also when only one key is cached (the core tries a single
// key whatever the kid says; the kid check is made here, before the module is asked).
//
// Workers (workerd) forbid settling a promise of one request from another: there an
// entry's in-flight fetch is never awaited by another request and nothing is fetched in
// the background; `verifyAsync` fetches inline for its own request.
//
// Here: the options' checks and the key source a Verifier reads. The request itself, the
// body's bounds, the JWKS's checks and the freshness rules (cooldown, staleness, refetch)
// are in remote-fetch.js, imported on the first fetch (browsers load it only when a key
// source fetches; until then no key set can be loaded, so none is read).

const DEFAULTS = { minAge: 30, maxAge: 600, cooldown: 30, staleMax: 3600, timeout: 5, maxBytes: 65536 };
const entries = new Map();
// The Verifier's side of a key source: symbols, so they stay out of the public API.
export const KEYS_NOW = Symbol("keysNow");
export const UNKNOWN_KID = Symbol("unknownKid");
export const REFETCH = Symbol("refetchForUnknown");
export const ENSURE = Symbol("ensure");
const decoder = new TextDecoder();
const OPTIONS = ["algorithms", "minAge", "maxAge", "cooldown", "staleMax", "timeout", "maxBytes", "fetch", "shareFetches", "cache", "onStale"];

/** True in Cloudflare Workers (workerd), where promises must not cross requests. */
function isWorkers() {
  return (
    (typeof navigator !== "undefined" && navigator.userAgent === "Cloudflare-Workers") ||
    typeof globalThis.WebSocketPair === "function"
  );
}

/**
 * The `alg` and `kid` of a token's header, each undefined when absent or not a string
 * (malformed tokens are left to the core, which decides; these only pick among keys).
 */
let lastSegment = null;
let lastHeader = {};
export function tokenHeader(token) {
  if (typeof token !== "string") return {};
  const dot = token.indexOf(".");
  if (dot <= 0 || dot > 4096) return {};
  const segment = token.slice(0, dot);
  if (segment === lastSegment) return lastHeader;
  let found = {};
  try {
    const binary = atob(segment.replace(/-/g, "+").replace(/_/g, "/"));
    const header = JSON.parse(decoder.decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
    const text = (v) => (typeof v === "string" ? v : undefined);
    found = { alg: text(header?.alg), kid: text(header?.kid) };
  } catch {
    found = {};
  }
  [lastSegment, lastHeader] = [segment, found];
  return found;
}

/** The `kid` of a token's header, or undefined. */
export function tokenKid(token) {
  return tokenHeader(token).kid;
}

// The fetching half (remote-fetch.js: the request, the JWKS's checks, the freshness rules),
// imported on the first fetch, so browsers load it only when a remoteJwks() source fetches.
// Each caller awaits its own import() until the module is held (no promise is shared:
// workerd forbids settling one request's promise from another).
let fetchModule = null;
async function loadFetch() {
  if (fetchModule === null) {
    const module = await import("./remote-fetch.js");
    fetchModule ??= module;
  }
}

export function bindRemote({ TollgateError, argument, checkKeys, optionsArg, available }) {
  /** The module's asymmetric algorithms: the default allow-list, and all it may hold. */
  const ALGORITHMS = available.filter((a) => !a.startsWith("HS"));
  const error = (code, message, cause) => {
    const e = new TollgateError(code, message);
    if (cause !== undefined) e.cause = cause;
    return e;
  };
  /** keys_not_loaded for an entry without keys (with its last failure, if any). */
  function notLoaded(e) {
    const why = e.lastError ? `: ${e.lastError.message}` : "; await verifyAsync() or ready() first";
    return error("keys_not_loaded", `keys of ${e.url} are not loaded${why}`, e.lastError ?? undefined);
  }
  // The fetching half (remote-fetch.js), bound to this entry point's module and error
  // class once the file is loaded.
  let bound = null;
  const fetched = () => (bound ??= fetchModule.bindFetch({ TollgateError, error, notLoaded, checkKeys, isWorkers }));
  async function fetcher() {
    await loadFetch();
    return fetched();
  }

  /**
   * A key source: what a Verifier reads synchronously lives in its cache entry; the
   * fetching and the freshness rules are remote-fetch.js's, which holds keys only once it
   * is loaded (before that, every key set is empty: keys_not_loaded).
   */
  class RemoteJwks {
    #entry;
    #o;
    constructor(entry, o) {
      this.#entry = entry;
      this.#o = o;
    }
    get url() {
      return this.#entry.url;
    }
    get algorithms() {
      return [...this.#o.algorithms];
    }
    /** Keys are being served past their lifetime because the endpoint failed. */
    get stale() {
      const e = this.#entry;
      return e.groups !== null && e.lastError !== null && Date.now() >= e.fetchedAt + e.ttl;
    }
    /** The JWKS in use, as the endpoint served it (a copy), or null before the first load. */
    get jwks() {
      return this.#entry.jwks === null ? null : structuredClone(this.#entry.jwks);
    }
    /** Requests made to the endpoint for this URL, in this isolate (for tests and metrics). */
    get fetchCount() {
      return this.#entry.fetches;
    }
    /** The last failure of the endpoint (cleared by a good answer), or null. */
    get lastError() {
      return this.#entry.lastError;
    }

    /** The key group of `algorithm` usable now, synchronously; throws when none. */
    [KEYS_NOW](algorithm) {
      const e = this.#entry;
      if (e.groups === null || fetchModule === null) throw notLoaded(e);
      return fetched().keysNow(this, e, this.#o, algorithm);
    }

    /** A token named a kid that is not cached: refetch in the background if allowed. */
    [UNKNOWN_KID]() {
      if (fetchModule !== null) fetched().unknownKid(this.#entry, this.#o);
    }

    /** After an unknown kid: waits for a refetch if allowed; true when the keys changed. */
    async [REFETCH](version) {
      return (await fetcher()).refetchFor(this.#entry, this.#o, version);
    }

    /** Loads keys when cold, refetches when expired (once per cooldown while failing). */
    async [ENSURE]() {
      const e = this.#entry;
      if (e.groups === null || Date.now() >= e.fetchedAt + e.ttl) await (await fetcher()).ensure(this, e, this.#o);
      return this;
    }

    /** Resolves once keys are loaded (a warm start for the synchronous `verify`). */
    ready() {
      return this[ENSURE]();
    }
  }

  function seconds(value, name, fallback) {
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw argument(`${name} must be a non-negative number of seconds`);
    }
    return value;
  }

  /** A key source for `new Verifier(remoteJwks(url), options)`. */
  function remoteJwks(url, options = {}) {
    let href;
    try {
      href = new URL(url).href;
    } catch {
      throw argument("remoteJwks: url must be an absolute http(s) URL");
    }
    if (!/^https?:$/.test(new URL(href).protocol)) throw argument("remoteJwks: url must be an http(s) URL");
    optionsArg(argument, options, OPTIONS, "remoteJwks: options");
    const algorithms = options.algorithms ?? ALGORITHMS;
    if (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every((a) => ALGORITHMS.includes(a))) {
      throw argument(`remoteJwks: options.algorithms must list some of ${ALGORITHMS.join(", ")} (HMAC keys are never accepted from a URL)`);
    }
    const o = {
      algorithms: [...algorithms].sort(),
      minAge: seconds(options.minAge, "options.minAge", DEFAULTS.minAge),
      maxAge: seconds(options.maxAge, "options.maxAge", DEFAULTS.maxAge),
      cooldown: seconds(options.cooldown, "options.cooldown", DEFAULTS.cooldown),
      staleMax: seconds(options.staleMax, "options.staleMax", DEFAULTS.staleMax),
      timeout: seconds(options.timeout, "options.timeout", DEFAULTS.timeout),
      maxBytes: options.maxBytes ?? DEFAULTS.maxBytes,
      fetch: options.fetch ?? ((...args) => globalThis.fetch(...args)),
      shareFetches: options.shareFetches ?? !isWorkers(),
      cache: options.cache ?? null,
      onStale: options.onStale ?? null,
    };
    if (!Number.isSafeInteger(o.maxBytes) || o.maxBytes < 1) throw argument("remoteJwks: options.maxBytes must be a positive integer");
    if (o.minAge > o.maxAge) throw argument("remoteJwks: options.minAge must not exceed options.maxAge");
    if (typeof o.fetch !== "function") throw argument("remoteJwks: options.fetch must be a function");
    if (o.cache !== null && (typeof o.cache.get !== "function" || typeof o.cache.set !== "function")) {
      throw argument("remoteJwks: options.cache must have get(url) and set(url, value)");
    }
    if (o.onStale !== null && typeof o.onStale !== "function") throw argument("remoteJwks: options.onStale must be a function");
    if (typeof o.shareFetches !== "boolean") throw argument("remoteJwks: options.shareFetches must be a boolean");
    const key = `${href}\n${o.algorithms.join(",")}\n${o.maxBytes}`;
    let entry = entries.get(key);
    if (entry === undefined) {
      entry = {
        url: href,
        jwks: null,
        groups: null,
        version: 0,
        fetchedAt: 0,
        ttl: 0,
        etag: null,
        lastAttempt: -Infinity,
        lastError: null,
        inflight: null,
        cacheTried: false,
        fetches: 0,
      };
      entries.set(key, entry);
    }
    return new RemoteJwks(entry, o);
  }

  /**
   * A persistent cache over the Workers Cache API (`caches.default` by default), so a
   * new isolate starts with the keys its predecessors fetched.
   */
  function workersCache(cache = globalThis.caches?.default, options = undefined) {
    const { keepFor = 86400 } = optionsArg(argument, options, ["keepFor"], "workersCache: options");
    if (typeof keepFor !== "number" || !Number.isFinite(keepFor) || keepFor < 0) {
      throw argument("workersCache: options.keepFor must be a non-negative number of seconds");
    }
    if (!cache || typeof cache.match !== "function") throw argument("workersCache: no Cache API here (caches.default)");
    const at = (url) => new Request(`https://tollgate-jwks.invalid/${encodeURIComponent(url)}`);
    return {
      async get(url) {
        const hit = await cache.match(at(url));
        return hit ? hit.json() : undefined;
      },
      async set(url, value) {
        const headers = { "content-type": "application/json", "cache-control": `max-age=${Math.floor(keepFor)}` };
        await cache.put(at(url), new Response(JSON.stringify(value), { headers }));
      },
    };
  }

  /** Forgets every cached key set (for tests). */
  function clearRemoteJwks() {
    entries.clear();
  }

  return { remoteJwks, workersCache, clearRemoteJwks, RemoteJwks };
}
