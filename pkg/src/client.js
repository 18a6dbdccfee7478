// A small client for the tollgate server (or any Simple JWT server): login, refresh with
// rotation, logout, sessions, and a fetch that carries the access token.
//
// Refreshes are single-flight: with rotation on, a second refresh of the same token is a
// replay, and the server revokes the whole family. So every caller waiting for a fresh
// access token shares the one refresh in flight, and when the storage is shared by tabs
// (it names a `lockName`), the tabs take a Web Lock (or, without Web Locks, a lease kept
// in the storage) around the refresh. The storage is the source of truth: inside the
// lock a tab re-reads it and adopts the tokens a sibling stored instead of refreshing.

/** Tokens kept in memory (the default: nothing survives a reload). */
export function memoryStorage() {
  let tokens = null;
  return {
    get: () => tokens,
    set: (value) => {
      tokens = value;
    },
    clear: () => {
      tokens = null;
    },
  };
}

/** One JSON value under one key of a Storage, and a way to hear other tabs change it. */
function slot(key, store) {
  return {
    get: () => {
      try {
        return JSON.parse(store.getItem(key));
      } catch {
        return null;
      }
    },
    set: (value) => store.setItem(key, JSON.stringify(value)),
    clear: () => store.removeItem(key),
    // The `storage` event fires in the other tabs of the origin, never in the writer.
    subscribe(callback) {
      const on = (event) => event.storageArea === store && (event.key === key || event.key === null) && callback();
      globalThis.addEventListener?.("storage", on);
      return () => globalThis.removeEventListener?.("storage", on);
    },
  };
}

/**
 * Tokens kept in localStorage (opt-in: readable by any script on the origin), shared by
 * the tabs of a browser profile: `lockName` names their Web Lock, `lease` is the fallback.
 */
export function localStorageStorage(key = "tollgate.tokens", store = globalThis.localStorage) {
  if (!store) throw new TypeError("localStorage is not available here");
  return { ...slot(key, store), lockName: key, lease: slot(`${key}.lease`, store) };
}

import { optionsArg } from "./options.js";

const CLIENT_OPTIONS = [
  "baseUrl",
  "storage",
  "fetch",
  "refreshAhead",
  "usernameField",
  "paths",
  "refreshTransport",
  "autoRefresh",
  "locks",
  "leaseTimeout",
  "random",
];

const PATHS = {
  login: "/api/token/",
  refresh: "/api/token/refresh/",
  logout: "/api/logout/",
  sessions: "/api/sessions/",
};

/** How often a tab waiting on a sibling's lease looks again (a `storage` event wakes it sooner). */
const POLL_MS = 100;
/** localStorage has no compare-and-set: a tab writes its lease, waits this long, and reads back who won. */
const SETTLE_MS = 50;
/** After a failed automatic refresh (offline, server down), try again this much later. */
const RETRY_MS = 5000;
/**
 * A tab that waited for the lock while a sibling held it, and still reads the tokens it set
 * out to refresh, waits up to this long for the sibling's write to reach it: Chromium hands
 * a localStorage write to other tabs asynchronously, not in order with the lock, so the
 * next holder may read the old tokens for a moment (a `storage` event ends the wait).
 */
const PROPAGATE_MS = 250;

/** Waits ms, or less when another tab changes `watched`. */
const sleep = (ms, watched) =>
  new Promise((wake) => {
    const stop = watched?.subscribe?.(done);
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      stop?.();
      wake();
    }
  });

export function bindClient({ expiresAt, TollgateError }) {
  const argument = (message) => new TollgateError("argument_invalid", message);

  /** See ClientOptions in index.d.ts. */
  function createClient(options) {
    const {
      baseUrl = "",
      storage = memoryStorage(),
      fetch: fetchImpl = globalThis.fetch?.bind(globalThis),
      refreshAhead = 30,
      usernameField = "username",
      paths = {},
      refreshTransport = "json",
      autoRefresh = false,
      locks = globalThis.navigator?.locks,
      leaseTimeout = 10000,
      random = Math.random,
    } = optionsArg(argument, options, CLIENT_OPTIONS, "createClient: options", { url: "did you mean baseUrl?" });
    optionsArg(argument, paths, Object.keys(PATHS), "createClient: options.paths");
    for (const [name, path] of Object.entries(paths)) {
      if (typeof path !== "string") throw argument(`createClient: options.paths.${name} must be a string`);
    }
    if (typeof baseUrl !== "string") throw argument("createClient: options.baseUrl must be a string");
    if (typeof usernameField !== "string" || usernameField === "") {
      throw argument("createClient: options.usernameField must be a non-empty string");
    }
    if (typeof refreshAhead !== "number" || !Number.isFinite(refreshAhead) || refreshAhead < 0) {
      throw argument("createClient: options.refreshAhead must be a non-negative number of seconds");
    }
    if (typeof leaseTimeout !== "number" || !Number.isFinite(leaseTimeout) || leaseTimeout <= 0) {
      throw argument("createClient: options.leaseTimeout must be a positive number of milliseconds");
    }
    if (typeof autoRefresh !== "boolean") throw argument("createClient: options.autoRefresh must be a boolean");
    if (typeof random !== "function") throw argument("createClient: options.random must be a function");
    if (storage === null || typeof storage !== "object" || ["get", "set", "clear"].some((m) => typeof storage[m] !== "function")) {
      throw argument("createClient: options.storage must have get(), set() and clear()");
    }
    if (typeof fetchImpl !== "function") {
      throw new TollgateError("argument_invalid", "no fetch implementation: pass { fetch }");
    }
    if (refreshTransport !== "json" && refreshTransport !== "cookie") {
      throw new TollgateError("argument_invalid", 'refreshTransport must be "json" or "cookie"');
    }
    const cookie = refreshTransport === "cookie";
    const route = { ...PATHS, ...paths };
    const base = baseUrl.replace(/\/+$/, "");
    // Each client refreshes at its own point up to 10% (at most 5 s) either side of
    // refreshAhead, so tabs opened together do not all refresh at once; never past expiry.
    const spread = Math.min(refreshAhead / 10, 5);
    const ahead = refreshAhead + spread * (2 * Math.min(Math.max(random(), 0), 1) - 1);
    let inflight = null;
    let reuse = null;
    let timer = null;
    let stopped = !autoRefresh;
    const unsubscribe = autoRefresh && storage.subscribe?.(() => schedule());

    async function call(method, path, body, access) {
      const headers = { Accept: "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (access) headers.Authorization = `Bearer ${access}`;
      const init = { method, headers };
      if (body !== undefined) init.body = JSON.stringify(body);
      if (cookie) {
        // The refresh token is an HttpOnly cookie; the header is the server's CSRF check.
        headers["Tollgate-CSRF"] = "1";
        init.credentials = "include";
      }
      const response = await fetchImpl(base + path, init);
      if (path === route.refresh) reuse = response.headers?.get("Tollgate-Refresh-Reuse") ?? null;
      let data = null;
      try {
        data = await response.json(); // a 204 has no body: json() throws, data stays null
      } catch {
        data = null;
      }
      if (!response.ok) {
        const detail = typeof data?.detail === "string" ? data.detail : `HTTP ${response.status}`;
        const error = new TollgateError(typeof data?.code === "string" ? data.code : `http_${response.status}`, detail);
        error.status = response.status;
        error.body = data;
        throw error;
      }
      return data;
    }

    /** The stored tokens; in cookie mode none is fine (the cookie may still log us in). */
    function stored() {
      const tokens = storage.get();
      if (!cookie && !tokens?.refresh) throw new TollgateError("not_logged_in", "not logged in");
      return tokens;
    }

    /** Seconds the access token has left (0 when it is unreadable). */
    function left(access) {
      try {
        const exp = expiresAt(access);
        return exp === undefined ? Infinity : exp - Date.now() / 1000;
      } catch {
        return 0;
      }
    }

    function keep(data, refresh) {
      const tokens = cookie ? { access: data.access } : { access: data.access, refresh: data.refresh ?? refresh };
      storage.set(tokens);
      return tokens;
    }

    async function login(username, password) {
      const data = await call("POST", route.login, { [usernameField]: username, password });
      keep(data);
      schedule();
      return data;
    }

    /**
     * Runs fn while holding the profile-wide refresh lock, when the storage is shared;
     * fn(true) when a sibling held it first (it may just have stored new tokens).
     */
    function exclusive(fn) {
      const name = storage.lockName;
      if (typeof name !== "string") return fn(false);
      if (locks) {
        return locks.request(name, { ifAvailable: true }, (lock) =>
          lock ? fn(false) : locks.request(name, () => fn(true)),
        );
      }
      if (storage.lease) return leased(storage.lease, fn);
      return fn(false);
    }

    async function leased(lease, fn) {
      const me = Math.random().toString(36).slice(2);
      let waited = false;
      for (;;) {
        const held = lease.get();
        // Free, expired (its tab died or hangs) or unreadable: take it.
        if (!(held?.until > Date.now())) {
          lease.set({ owner: me, until: Date.now() + leaseTimeout });
          await sleep(SETTLE_MS);
          if (lease.get()?.owner === me) break;
        } else {
          waited = true;
          await sleep(Math.min(held.until - Date.now(), POLL_MS), lease);
        }
      }
      try {
        return await fn(waited);
      } finally {
        if (lease.get()?.owner === me) lease.clear();
      }
    }

    /** Refreshes the tokens whose access token is `seen`, unless a sibling already did. */
    function renew(seen) {
      inflight ??= exclusive(async (contended) => {
        let now = storage.get();
        if (contended && now?.access === seen && storage.subscribe) {
          await sleep(PROPAGATE_MS, storage);
          now = storage.get();
        }
        if (now?.access && now.access !== seen) return now;
        const token = stored()?.refresh;
        try {
          return keep(await call("POST", route.refresh, cookie ? {} : { refresh: token }), token);
        } catch (error) {
          if (error.status === 401) storage.clear();
          throw error;
        }
      })
        .then((tokens) => {
          schedule();
          return tokens;
        })
        .finally(() => {
          inflight = null;
        });
      return inflight;
    }

    function refresh() {
      return renew(storage.get()?.access);
    }

    async function accessToken() {
      if (inflight) return (await inflight).access;
      const access = stored()?.access;
      if (access && left(access) > ahead) return access;
      return (await renew(access)).access;
    }

    /** (Re)arms the autoRefresh timer from the stored access token's expiry. */
    function schedule(delay) {
      clearTimeout(timer);
      timer = null;
      const access = storage.get()?.access;
      if (stopped || !access) return;
      // A token living shorter than refreshAhead would be refreshed again at once, in a
      // loop: wait at least half its remaining life (nothing, once expired).
      delay ??= Math.max(left(access) - ahead, left(access) / 2) * 1000;
      // setTimeout fires at once past 2^31-1 ms; tick() then just schedules again.
      timer = setTimeout(tick, Math.min(Math.max(delay, 0), 2 ** 31 - 1));
      timer.unref?.();
    }

    function tick() {
      timer = null;
      const access = storage.get()?.access;
      if (!access) return;
      if (left(access) > ahead + 1) return schedule();
      renew(access).catch(() => schedule(RETRY_MS));
    }

    function stop() {
      stopped = true;
      schedule();
      if (unsubscribe) unsubscribe();
    }

    async function signOff(all) {
      stored();
      try {
        const access = await accessToken();
        // Under the refresh lock, so a sibling's refresh cannot store a successor after
        // the clear; the refresh token is read there, once no refresh can rotate it.
        return await exclusive(() => {
          const body = all ? { all: "1" } : cookie ? {} : { refresh_token: stored().refresh };
          return call("POST", route.logout, body, access).finally(() => storage.clear());
        });
      } finally {
        storage.clear();
        schedule();
      }
    }

    /** fetch with the Bearer token; on a 401 it refreshes once and retries. */
    async function authorizedFetch(input, init = {}) {
      const send = async (access) => {
        const headers = new Headers(init.headers ?? {});
        headers.set("Authorization", `Bearer ${access}`);
        return fetchImpl(input, { ...init, headers });
      };
      const access = await accessToken();
      const first = await send(access);
      if (first.status !== 401) return first;
      return send((await renew(access)).access);
    }

    async function revokeSession(id) {
      if (typeof id !== "string") throw new TollgateError("argument_invalid", "the session id must be a string");
      return call("DELETE", `${route.sessions}${encodeURIComponent(id)}/`, undefined, await accessToken());
    }

    async function revokeOtherSessions() {
      const access = await accessToken();
      return call("POST", `${route.sessions}revoke-others/`, cookie ? {} : { refresh: stored().refresh }, access);
    }

    schedule();
    /**
     * `fn` refusing options-like arguments past its `count` (a method takes no options:
     * `logout({ all: true })` would otherwise log out this session only, silently). An
     * instance of a class (the Event of `onclick = api.logout`) is not taken for options.
     */
    const optionsLike = (a) =>
      a !== undefined && (a === null || typeof a !== "object" || [Object.prototype, null].includes(Object.getPrototypeOf(a)));
    const only = (name, count, fn) =>
      function (...args) {
        if (args.slice(count).some(optionsLike)) {
          const error = argument(`client.${name}() takes ${count === 0 ? "no arguments" : `${count} argument${count > 1 ? "s" : ""}`}${name === "logout" ? " (logoutAll() ends every session)" : ""}`);
          if (name === "stop") throw error;
          return Promise.reject(error);
        }
        return fn(...args);
      };
    return {
      login: only("login", 2, login),
      refresh: only("refresh", 0, refresh),
      logout: only("logout", 0, () => signOff(false)),
      logoutAll: only("logoutAll", 0, () => signOff(true)),
      accessToken: only("accessToken", 0, accessToken),
      fetch: authorizedFetch,
      sessions: only("sessions", 0, async () => call("GET", route.sessions, undefined, await accessToken())),
      revokeSession: only("revokeSession", 1, revokeSession),
      revokeOtherSessions: only("revokeOtherSessions", 0, revokeOtherSessions),
      stop: only("stop", 0, stop),
      get tokens() {
        return storage.get();
      },
      get lastReuse() {
        return reuse;
      },
    };
  }

  return { createClient, memoryStorage, localStorageStorage };
}
