// A small client for the tollgate server (or any Simple JWT server): login, refresh with
// rotation, logout, logout everywhere, and a fetch that carries the access token.
//
// Refreshes are single-flight: with rotation on, a second concurrent refresh of the same
// token is a replay, and the server revokes the whole family. So every caller waiting
// for a fresh access token shares the one refresh in flight.

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

/** Tokens kept in localStorage (opt-in: readable by any script on the origin). */
export function localStorageStorage(key = "tollgate.tokens", store = globalThis.localStorage) {
  if (!store) throw new TypeError("localStorage is not available here");
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
  };
}

const PATHS = {
  login: "/api/token/",
  refresh: "/api/token/refresh/",
  logout: "/api/logout/",
};

export function bindClient({ secondsLeft, TollgateError }) {
  /**
   * createClient({ baseUrl, storage, fetch, refreshAhead, usernameField, paths })
   * refreshAhead: refresh when the access token has fewer seconds left than this.
   */
  function createClient({
    baseUrl = "",
    storage = memoryStorage(),
    fetch: fetchImpl = globalThis.fetch?.bind(globalThis),
    refreshAhead = 30,
    usernameField = "username",
    paths = {},
  } = {}) {
    if (typeof fetchImpl !== "function") {
      throw new TollgateError("argument_invalid", "no fetch implementation: pass { fetch }");
    }
    const route = { ...PATHS, ...paths };
    const base = baseUrl.replace(/\/+$/, "");
    let inflight = null;

    async function call(path, body, access) {
      const headers = { "Content-Type": "application/json", Accept: "application/json" };
      if (access) headers.Authorization = `Bearer ${access}`;
      const response = await fetchImpl(base + path, { method: "POST", headers, body: JSON.stringify(body) });
      let data = null;
      try {
        data = await response.json();
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

    function stored() {
      const tokens = storage.get();
      if (!tokens?.refresh) throw new TollgateError("not_logged_in", "not logged in");
      return tokens;
    }

    async function login(username, password) {
      const data = await call(route.login, { [usernameField]: username, password });
      storage.set({ access: data.access, refresh: data.refresh });
      return data;
    }

    function refresh() {
      if (!inflight) {
        inflight = (async () => {
          const { refresh: token } = stored();
          try {
            const data = await call(route.refresh, { refresh: token });
            const tokens = { access: data.access, refresh: data.refresh ?? token };
            storage.set(tokens);
            return tokens;
          } catch (error) {
            if (error.status === 401) storage.clear();
            throw error;
          }
        })().finally(() => {
          inflight = null;
        });
      }
      return inflight;
    }

    async function accessToken() {
      if (inflight) return (await inflight).access;
      const tokens = stored();
      let left = 0;
      try {
        left = secondsLeft(tokens.access);
      } catch {
        left = 0;
      }
      if (left > refreshAhead) return tokens.access;
      return (await refresh()).access;
    }

    async function logout() {
      const tokens = stored();
      try {
        return await call(route.logout, { refresh_token: tokens.refresh }, await accessToken());
      } finally {
        storage.clear();
      }
    }

    async function logoutAll() {
      stored();
      try {
        return await call(route.logout, { all: "1" }, await accessToken());
      } finally {
        storage.clear();
      }
    }

    /** fetch with the Bearer token; on a 401 it refreshes once and retries. */
    async function authorizedFetch(input, init = {}) {
      const send = async (access) => {
        const headers = new Headers(init.headers ?? {});
        headers.set("Authorization", `Bearer ${access}`);
        return fetchImpl(input, { ...init, headers });
      };
      const first = await send(await accessToken());
      if (first.status !== 401) return first;
      const { access } = await refresh();
      return send(access);
    }

    return {
      login,
      refresh,
      logout,
      logoutAll,
      accessToken,
      fetch: authorizedFetch,
      get tokens() {
        return storage.get();
      },
    };
  }

  return { createClient, memoryStorage, localStorageStorage };
}
