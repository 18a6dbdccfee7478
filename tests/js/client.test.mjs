// The package's client against a real tollgate server on 127.0.0.1: login, refresh
// with rotation, single-flight under 20 concurrent callers and across "tabs" sharing a
// storage (Web Locks or the lease fallback), retry on 401, logout and logout-all,
// autoRefresh; sessions (with session_id_claim = "sid") and the cookie transport (through
// a small cookie jar around fetch), and the exact requests of both against a fake fetch.
// Needs target/debug/tollgate (built by `cargo test` before this runs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createClient, expiresAt, localStorageStorage, memoryStorage, TollgateError } from "tollgate";
import { startServer, stopServers } from "./server.mjs";

let base;

before(async () => {
  base = await startServer();
});

after(stopServers);

async function refreshesOk(server = base) {
  const text = await (await fetch(`${server}/metrics`)).text();
  return Number(text.match(/tollgate_refreshes_total\{result="ok"\} (\d+)/)[1]);
}

async function post(path, body) {
  const response = await fetch(base + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  return { status: response.status, body: await response.json() };
}

test("login, call an API, refresh with rotation", async () => {
  const client = createClient({ baseUrl: base });
  const tokens = await client.login("alice", "pw-alice");
  assert.ok(tokens.access && tokens.refresh);
  const me = await client.fetch(`${base}/api/me/`);
  assert.deepEqual(await me.json(), { id: 1, username: "alice" });
  const old = client.tokens.refresh;
  const rotated = await client.refresh();
  assert.notEqual(rotated.refresh, old);
  assert.deepEqual(client.tokens, rotated);
  assert.equal(client.lastReuse, null, "a plain rotation names no reuse");
  // The server blacklisted the old one (replaying it would revoke the family: don't).
  const verify = await post("/api/token/verify/", { token: old });
  assert.deepEqual(verify, { status: 400, body: { non_field_errors: ["Token is blacklisted"] } });
});

test("20 concurrent callers share one refresh", async () => {
  const client = createClient({ baseUrl: base, refreshAhead: 10 ** 9 }); // always refresh
  await client.login("alice", "pw-alice");
  const before = await refreshesOk();
  const tokens = await Promise.all(Array.from({ length: 20 }, () => client.accessToken()));
  assert.equal(new Set(tokens).size, 1, "every caller got the same access token");
  assert.equal((await refreshesOk()) - before, 1, "exactly one refresh reached the server");
  // The family is intact: the next refresh works.
  await client.refresh();
});

test("a 401 refreshes once and retries", async () => {
  const storage = memoryStorage();
  const client = createClient({ baseUrl: base, storage, refreshAhead: 0 });
  await client.login("bob", "pw-bob");
  storage.set({ ...storage.get(), access: "not-a-token" });
  const me = await client.fetch(`${base}/api/me/`);
  assert.equal(me.status, 200);
  assert.deepEqual(await me.json(), { id: 2, username: "bob" });
});

test("server errors surface with detail and code", async () => {
  const client = createClient({ baseUrl: base });
  await assert.rejects(client.login("alice", "wrong"), (error) => {
    assert.ok(error instanceof TollgateError);
    assert.equal(error.status, 401);
    assert.equal(error.message, "No active account found with the given credentials");
    return true;
  });
  await assert.rejects(client.refresh(), (error) => error.code === "not_logged_in");
});

test("logout blacklists the refresh token; logout-all every session", async () => {
  const one = createClient({ baseUrl: base });
  await one.login("alice", "pw-alice");
  const refresh = one.tokens.refresh;
  assert.deepEqual(await one.logout(), { status: "OK, goodbye" });
  assert.equal(one.tokens, null);
  assert.deepEqual(await post("/api/token/refresh/", { refresh }), { status: 401, body: { detail: "Token is blacklisted", code: "token_not_valid" } });

  const laptop = createClient({ baseUrl: base });
  const phone = createClient({ baseUrl: base });
  await laptop.login("bob", "pw-bob");
  await phone.login("bob", "pw-bob");
  assert.deepEqual(await laptop.logoutAll(), { status: "OK, goodbye, all refresh tokens blacklisted" });
  await assert.rejects(phone.refresh(), (error) => error.status === 401 && error.code === "token_not_valid" && error.message === "Token is blacklisted");
  assert.equal(phone.tokens, null, "a refused refresh forgets the tokens");
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A localStorage stand-in shared by the "tabs" of one test. */
function fakeLocalStorage() {
  const items = new Map();
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => items.set(key, String(value)),
    removeItem: (key) => items.delete(key),
  };
}

/** An in-process Web Locks stand-in: requests for one name run one after another. */
function fakeLocks() {
  const tails = new Map();
  const held = new Set();
  const locks = {
    requests: 0,
    contended: 0,
    // request(name, callback) or request(name, { ifAvailable }, callback), as the API.
    request(name, options, callback) {
      if (typeof options === "function") [options, callback] = [{}, options];
      if (options.ifAvailable && held.has(name)) {
        locks.contended += 1;
        return Promise.resolve().then(() => callback(null));
      }
      locks.requests += 1;
      held.add(name);
      const run = (tails.get(name) ?? Promise.resolve()).then(() => callback({ name, mode: "exclusive" }));
      const done = run.catch(() => {}).then(() => {
        if (tails.get(name) === done) held.delete(name);
      });
      tails.set(name, done);
      return run;
    },
  };
  return locks;
}

/** The real fetch, counting refresh requests; with `hang`, a refresh never answers (a dead tab). */
function countingFetch({ hang = false } = {}) {
  const counted = (input, init) => {
    if (String(input).endsWith("/api/token/refresh/")) {
      counted.refreshes += 1;
      if (hang) return new Promise(() => {});
    }
    return fetch(input, init);
  };
  counted.refreshes = 0;
  return counted;
}

for (const [how, makeLocks] of [
  ["Web Locks", fakeLocks],
  ["the lease in the storage (no Web Locks)", () => null],
]) {
  test(`two tabs sharing localStorage refresh once between them: ${how}`, { timeout: 10000 }, async () => {
    const store = fakeLocalStorage();
    const locks = makeLocks();
    const fetches = [countingFetch(), countingFetch()];
    const [tab1, tab2] = fetches.map((fetch) =>
      createClient({ baseUrl: base, storage: localStorageStorage("tg", store), fetch, locks, refreshAhead: 10 ** 9 }),
    );
    await tab1.login("alice", "pw-alice");
    const old = tab2.tokens;
    assert.deepEqual(old, tab1.tokens);
    const serverBefore = await refreshesOk();
    const [one, two] = await Promise.all([tab1.accessToken(), tab2.accessToken()]);
    assert.equal(fetches[0].refreshes + fetches[1].refreshes, 1, "one tab refreshed");
    assert.equal((await refreshesOk()) - serverBefore, 1, "exactly one refresh reached the server");
    assert.equal(one, two);
    assert.notEqual(one, old.access);
    assert.deepEqual(tab1.tokens, tab2.tokens);
    assert.notEqual(tab1.tokens.refresh, old.refresh);
    if (locks) assert.equal(locks.requests, 2);
    assert.equal(store.getItem("tg.lease"), null, "no lease left behind");
    await tab2.refresh(); // the family is intact
  });
}

test("a tab takes over a lease whose holder hangs, once the lease times out", { timeout: 10000 }, async () => {
  const store = fakeLocalStorage();
  const stuck = countingFetch({ hang: true });
  const live = countingFetch();
  const options = { baseUrl: base, locks: null, leaseTimeout: 300, refreshAhead: 10 ** 9 };
  const tab1 = createClient({ ...options, storage: localStorageStorage("tg", store), fetch: stuck });
  const tab2 = createClient({ ...options, storage: localStorageStorage("tg", store), fetch: live });
  await tab1.login("bob", "pw-bob");
  const old = tab1.tokens;
  void tab1.accessToken(); // takes the lease; its refresh never answers
  await sleep(100);
  assert.equal(stuck.refreshes, 1, "tab1 holds the lease and is refreshing");
  const started = Date.now();
  const access = await tab2.accessToken();
  const waited = Date.now() - started;
  assert.ok(waited >= 150 && waited < 2000, `tab2 waited ${waited} ms for the lease to time out`);
  assert.equal(live.refreshes, 1);
  assert.notEqual(access, old.access);
  assert.equal(tab2.tokens.access, access);
  assert.equal(store.getItem("tg.lease"), null);
});

test("a logout waits for a sibling's refresh and revokes its successor", { timeout: 10000 }, async () => {
  const store = fakeLocalStorage();
  // tab2's refresh reaches the server at once but its answer arrives 200 ms later.
  const slow = async (input, init) => {
    const response = await fetch(input, init);
    if (String(input).endsWith("/api/token/refresh/")) await sleep(200);
    return response;
  };
  const locks = fakeLocks();
  const tab1 = createClient({ baseUrl: base, storage: localStorageStorage("tg", store), locks });
  const tab2 = createClient({ baseUrl: base, storage: localStorageStorage("tg", store), locks, fetch: slow });
  await tab1.login("alice", "pw-alice");
  const refreshing = tab2.refresh();
  await sleep(20);
  assert.deepEqual(await tab1.logout(), { status: "OK, goodbye" });
  const successor = await refreshing;
  assert.equal(tab1.tokens, null, "the logout sticks");
  assert.deepEqual(await post("/api/token/refresh/", { refresh: successor.refresh }), {
    status: 401,
    body: { detail: "Token is blacklisted", code: "token_not_valid" },
  });
});

test("a tab adopts what a sibling stored: login, refresh, logout", async () => {
  const store = fakeLocalStorage();
  const quiet = countingFetch();
  const tab1 = createClient({ baseUrl: base, storage: localStorageStorage("tg", store), locks: null });
  const tab2 = createClient({ baseUrl: base, storage: localStorageStorage("tg", store), locks: null, fetch: quiet });
  await assert.rejects(tab2.accessToken(), (error) => error.code === "not_logged_in");
  await tab1.login("alice", "pw-alice");
  assert.equal(await tab2.accessToken(), tab1.tokens.access);
  const rotated = await tab1.refresh();
  assert.equal(await tab2.accessToken(), rotated.access);
  assert.deepEqual(tab2.tokens, rotated);
  const me = await tab2.fetch(`${base}/api/me/`);
  assert.deepEqual(await me.json(), { id: 1, username: "alice" });
  assert.equal(quiet.refreshes, 0, "tab2 never refreshed");
  await tab1.logout();
  await assert.rejects(tab2.accessToken(), (error) => error.code === "not_logged_in");
});

test("autoRefresh refreshes ahead of expiry; stop() and logout cancel it", { timeout: 15000 }, async () => {
  const short = await startServer({ TOLLGATE_ACCESS_TOKEN_LIFETIME: "3" });
  const make = (refreshAhead = 1) => {
    const fetch = countingFetch();
    return [createClient({ baseUrl: short, fetch, autoRefresh: true, refreshAhead, random: () => 0.5 }), fetch];
  };
  const [[auto, autoFetch], [stopped, stoppedFetch], [out, outFetch]] = [make(), make(), make()];
  // refreshAhead beyond the 3 s lifetime: at most one refresh per half a token's life, not a loop.
  const [hasty, hastyFetch] = make(30);
  await Promise.all([auto.login("alice", "pw-alice"), stopped.login("alice", "pw-alice"), out.login("bob", "pw-bob"), hasty.login("bob", "pw-bob")]);
  stopped.stop();
  await out.logout();
  const first = auto.tokens.access;
  const deadline = Date.now() + 4000;
  while (auto.tokens.access === first && Date.now() < deadline) await sleep(20);
  const at = Date.now() / 1000;
  assert.notEqual(auto.tokens.access, first, "the timer refreshed");
  assert.ok(at < expiresAt(first), `refreshed ${at - expiresAt(first)} s after expiry`);
  await sleep(300); // the other two timers were due at the same moment
  assert.equal(autoFetch.refreshes, 1);
  assert.equal(stoppedFetch.refreshes, 0, "stop() cancelled the timer");
  assert.equal(outFetch.refreshes, 0, "no refresh after logout");
  assert.notEqual(stopped.tokens, null);
  // Its first refresh is due about half a token's life after its login; on a loaded
  // machine it may still be on its way: wait for it (bounded), then count.
  const hastyDeadline = Date.now() + 3000;
  while (hastyFetch.refreshes === 0 && Date.now() < hastyDeadline) await sleep(20);
  hasty.stop();
  assert.ok(hastyFetch.refreshes >= 1 && hastyFetch.refreshes <= 4, `${hastyFetch.refreshes} refreshes in about 3 s`);
  auto.stop();
});

// Below, a fake server: tokens need only a readable exp (the client never verifies them).
const FAKE = "http://tollgate.test";

function token(secondsLeft) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const exp = Math.floor(Date.now() / 1000) + secondsLeft;
  return `${part({ alg: "HS256", typ: "JWT" })}.${part({ token_type: "access", exp, jti: String(Math.random()) })}.c2ln`;
}

/** fetch answering `routes["METHOD /path"]` (an answer or a function of the request), recording each request. */
function fakeServer(routes) {
  const requests = [];
  const fetch = async (input, init) => {
    const request = {
      method: init.method,
      path: String(input).slice(FAKE.length),
      headers: init.headers,
      credentials: init.credentials,
      body: init.body === undefined ? undefined : JSON.parse(init.body),
    };
    requests.push(request);
    const route = routes[`${request.method} ${request.path}`];
    assert.ok(route, `unexpected ${request.method} ${request.path}`);
    const { status = 200, body, headers } = typeof route === "function" ? route(request) : route;
    return new Response(body === undefined ? null : JSON.stringify(body), { status, headers });
  };
  return { fetch, requests };
}

test("refreshAhead jitter stays within 10% (at most 5 s) either side, never past expiry", async () => {
  // [refreshAhead, random(), seconds left, refreshes?]
  const cases = [
    [100, 0, 97, false], // lowest draw: refresh at 95 s left
    [100, 0, 93, true],
    [100, 0.999999, 107, false], // highest draw: refresh at 105 s left
    [100, 0.999999, 103, true],
    [100, -3, 97, false], // out-of-range draws are clamped
    [100, 7, 103, true],
    [100, 7, 107, false],
    [600, 0, 597, false], // the spread is at most 5 s
    [600, 0, 593, true],
    [600, 0.999999, 607, false],
    [0, 0, 2, false], // refreshAhead 0: only once expired
    [0, 0, -2, true],
  ];
  for (const [refreshAhead, draw, left, refreshes] of cases) {
    const server = fakeServer({ "POST /api/token/refresh/": { body: { access: token(3600), refresh: "r2" } } });
    const storage = memoryStorage();
    storage.set({ access: token(left), refresh: "r1" });
    const client = createClient({ baseUrl: FAKE, storage, fetch: server.fetch, refreshAhead, random: () => draw });
    await client.accessToken();
    assert.equal(server.requests.length, refreshes ? 1 : 0, `refreshAhead ${refreshAhead}, random ${draw}, ${left} s left`);
  }
});

test("sessions: list, revoke one, revoke the others (JSON transport)", async () => {
  const access = token(3600);
  const list = [
    {
      id: "s1",
      created_at: "2025-01-01T00:00:00Z",
      last_refreshed_at: null,
      expires_at: "2025-01-04T00:00:00Z",
      login: { user_agent: "Firefox", ip: "127.0.0.1" },
      last_refresh: null,
      current: true,
    },
  ];
  const server = fakeServer({
    "GET /auth/sessions/": { body: list },
    "DELETE /auth/sessions/a%2Fb%20c/": { status: 204 },
    "DELETE /auth/sessions/gone/": { status: 404, body: { detail: "Not found.", code: "session_not_found" } },
    "POST /auth/sessions/revoke-others/": { body: { revoked: 2 } },
  });
  const storage = memoryStorage();
  storage.set({ access, refresh: "the-refresh" });
  const client = createClient({ baseUrl: `${FAKE}/`, storage, fetch: server.fetch, paths: { sessions: "/auth/sessions/" } });
  assert.deepEqual(await client.sessions(), list);
  assert.equal(await client.revokeSession("a/b c"), null);
  await assert.rejects(client.revokeSession("gone"), (error) => {
    assert.ok(error instanceof TollgateError);
    assert.deepEqual([error.status, error.code, error.message], [404, "session_not_found", "Not found."]);
    return true;
  });
  assert.deepEqual(await client.revokeOtherSessions(), { revoked: 2 });
  await assert.rejects(client.revokeSession(7), (error) => error.code === "argument_invalid");
  const bearer = { Accept: "application/json", Authorization: `Bearer ${access}` };
  const json = { ...bearer, "Content-Type": "application/json" };
  assert.deepEqual(server.requests, [
    { method: "GET", path: "/auth/sessions/", headers: bearer, credentials: undefined, body: undefined },
    { method: "DELETE", path: "/auth/sessions/a%2Fb%20c/", headers: bearer, credentials: undefined, body: undefined },
    { method: "DELETE", path: "/auth/sessions/gone/", headers: bearer, credentials: undefined, body: undefined },
    { method: "POST", path: "/auth/sessions/revoke-others/", headers: json, credentials: undefined, body: { refresh: "the-refresh" } },
  ]);
});

test("cookie transport: credentials, the CSRF header, no refresh token in storage or bodies", async () => {
  assert.throws(
    () => createClient({ fetch: () => {}, refreshTransport: "header" }),
    (error) => error instanceof TollgateError && error.code === "argument_invalid",
  );
  const [a1, a2] = [token(3600), token(3600)];
  let refreshAnswer = { body: { access: a2 }, headers: { "Tollgate-Refresh-Reuse": "grace" } };
  const server = fakeServer({
    "POST /api/token/": { body: { access: a1 } },
    "POST /api/token/refresh/": () => refreshAnswer,
    "POST /api/logout/": { body: { status: "OK, goodbye" } },
    "POST /api/sessions/revoke-others/": { body: { revoked: 1 } },
  });
  const storage = memoryStorage();
  const client = createClient({ baseUrl: FAKE, storage, fetch: server.fetch, refreshTransport: "cookie" });
  // A reload: nothing stored, but the cookie may still hold a session.
  assert.equal(await client.accessToken(), a2);
  assert.deepEqual(storage.get(), { access: a2 });
  assert.equal(client.lastReuse, "grace");
  assert.deepEqual(await client.login("alice", "pw"), { access: a1 });
  assert.deepEqual(client.tokens, { access: a1 });
  assert.deepEqual(await client.revokeOtherSessions(), { revoked: 1 });
  assert.deepEqual(await client.logout(), { status: "OK, goodbye" });
  assert.equal(storage.get(), null);
  const csrf = (more = {}) => ({ Accept: "application/json", "Content-Type": "application/json", "Tollgate-CSRF": "1", ...more });
  const bearer = csrf({ Authorization: `Bearer ${a1}` });
  assert.deepEqual(server.requests, [
    { method: "POST", path: "/api/token/refresh/", headers: csrf(), credentials: "include", body: {} },
    { method: "POST", path: "/api/token/", headers: csrf(), credentials: "include", body: { username: "alice", password: "pw" } },
    { method: "POST", path: "/api/sessions/revoke-others/", headers: bearer, credentials: "include", body: {} },
    { method: "POST", path: "/api/logout/", headers: bearer, credentials: "include", body: {} },
  ]);
  // The cookie refused: the client forgets the access token and names the reuse.
  refreshAnswer = {
    status: 401,
    body: { detail: "Token is blacklisted", code: "token_not_valid" },
    headers: { "Tollgate-Refresh-Reuse": "replay" },
  };
  storage.set({ access: token(-10) });
  await assert.rejects(client.refresh(), (error) => error.status === 401 && error.code === "token_not_valid");
  assert.equal(storage.get(), null);
  assert.equal(client.lastReuse, "replay");
});

/** fetch as a device: its own User-Agent, which the server keeps with the session. */
const device = (userAgent) => (input, init = {}) => {
  const headers = new Headers(init.headers);
  headers.set("User-Agent", userAgent);
  return fetch(input, { ...init, headers });
};

test("sessions against the server: list with current, revoke one, revoke the others", async () => {
  const server = await startServer({ TOLLGATE_SESSION_ID_CLAIM: "sid" });
  const [laptop, phone, tablet] = ["laptop", "phone", "tablet"].map((ua) => createClient({ baseUrl: server, fetch: device(ua) }));
  for (const client of [laptop, phone, tablet]) await client.login("alice", "pw-alice");
  const bob = createClient({ baseUrl: server });
  await bob.login("bob", "pw-bob");

  const list = await laptop.sessions();
  // Newest login first; `current` names the caller's own.
  assert.deepEqual(
    list.map((s) => [s.login.user_agent, s.login.ip, s.last_refresh, s.last_refreshed_at, s.current]),
    [["tablet", "127.0.0.1", null, null, false], ["phone", "127.0.0.1", null, null, false], ["laptop", "127.0.0.1", null, null, true]],
  );
  assert.deepEqual(Object.keys(list[0]).sort(), ["created_at", "current", "expires_at", "id", "last_refresh", "last_refreshed_at", "login"]);
  assert.deepEqual((await phone.sessions()).map((s) => s.current), [false, true, false]);
  await phone.refresh();
  const refreshed = (await laptop.sessions())[1];
  assert.equal(refreshed.last_refresh.user_agent, "phone");
  assert.equal(typeof refreshed.last_refreshed_at, "string");

  // The laptop ends the phone's session: its access token is refused at once, and its
  // refresh token too, so the phone's client is logged out.
  const phoneAccess = phone.tokens.access;
  assert.equal(await laptop.revokeSession(list[1].id), null);
  const me = await fetch(`${server}/api/me/`, { headers: { Authorization: `Bearer ${phoneAccess}` } });
  assert.deepEqual([me.status, await me.json()], [401, { detail: "The session of this token was revoked.", code: "session_revoked" }]);
  await assert.rejects(phone.fetch(`${server}/api/me/`), (error) => error.status === 401);
  assert.equal(phone.tokens, null);
  assert.equal(await laptop.revokeSession(list[1].id), null); // again: still the caller's, still ended
  // Another user's, or none: the same 404.
  for (const [client, id] of [[bob, list[0].id], [laptop, "no-such-session"]]) {
    await assert.rejects(client.revokeSession(id), (error) => {
      assert.deepEqual([error.status, error.code, error.message], [404, "session_not_found", "Not found."]);
      return true;
    });
  }

  assert.deepEqual(await laptop.revokeOtherSessions(), { revoked: 1 });
  assert.deepEqual((await laptop.sessions()).map((s) => [s.login.user_agent, s.current]), [["laptop", true]]);
  await assert.rejects(tablet.refresh(), (error) => error.status === 401);
  assert.equal((await bob.sessions()).length, 1); // another user's sessions are untouched
});

/**
 * A cookie jar around fetch (Node's fetch keeps no cookies): stores Set-Cookie by name
 * and path, drops Max-Age=0, and sends the cookies whose path the URL is under.
 */
function cookieJar() {
  const jar = new Map(); // "name path" -> value
  async function jarFetch(input, init = {}) {
    const url = new URL(input);
    const headers = new Headers(init.headers);
    const send = [...jar].filter(([key]) => url.pathname.startsWith(key.split(" ")[1]));
    if (send.length) headers.set("Cookie", send.map(([key, value]) => `${key.split(" ")[0]}=${value}`).join("; "));
    const response = await fetch(url, { ...init, headers });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(";").map((part) => part.trim());
      const name = pair.slice(0, pair.indexOf("="));
      const path = attributes.find((a) => /^path=/i.test(a))?.slice(5) ?? "/";
      const key = `${name} ${path}`;
      if (attributes.some((a) => /^max-age=0$/i.test(a))) jar.delete(key);
      else jar.set(key, pair.slice(name.length + 1));
    }
    return response;
  }
  return { fetch: jarFetch, jar };
}

test("cookie transport against the server: login, refresh, reload, grace, revoke others, logout", async () => {
  const server = await startServer({ TOLLGATE_REFRESH_TRANSPORT: "cookie", TOLLGATE_REFRESH_COOKIE_SECURE: "false" });
  const browser = cookieJar();
  const storage = memoryStorage();
  const api = createClient({ baseUrl: server, storage, fetch: browser.fetch, refreshTransport: "cookie" });
  const login = await api.login("alice", "pw-alice");
  assert.deepEqual(Object.keys(login), ["access"]);
  assert.deepEqual(storage.get(), { access: login.access });
  const cookie = () => browser.jar.get("tollgate_refresh /api/token/refresh/");
  const first = cookie();
  assert.equal(first.split(".").length, 3);
  assert.deepEqual([...browser.jar.keys()].sort(), [
    "tollgate_refresh /api/logout/",
    "tollgate_refresh /api/sessions/revoke-others/",
    "tollgate_refresh /api/token/blacklist/",
    "tollgate_refresh /api/token/refresh/",
  ]);
  assert.equal(new Set(browser.jar.values()).size, 1); // one token, on every path that reads it

  const { access } = await api.refresh();
  assert.notEqual(access, login.access);
  assert.notEqual(cookie(), first);
  assert.equal(api.lastReuse, null);
  assert.equal(await refreshesOk(server), 1);

  // A second tab still holding the first, rotated-out cookie (within the reuse interval):
  // the server answers with the same, still unused successor and says so.
  const stale = cookieJar();
  stale.jar.set("tollgate_refresh /api/token/refresh/", first);
  const late = createClient({ baseUrl: server, fetch: stale.fetch, refreshTransport: "cookie" });
  await late.refresh();
  assert.equal(late.lastReuse, "grace");
  assert.equal(await refreshesOk(server), 1);
  assert.equal(stale.jar.get("tollgate_refresh /api/token/refresh/"), cookie());
  assert.notEqual(late.tokens.access, access); // a new access token for the same successor

  // A reload: a new client, nothing stored, the same cookie jar.
  const reloaded = createClient({ baseUrl: server, fetch: browser.fetch, refreshTransport: "cookie" });
  const response = await reloaded.fetch(`${server}/api/me/`);
  assert.deepEqual([response.status, await response.json()], [200, { id: 1, username: "alice" }]);
  assert.equal(await refreshesOk(server), 2);


  const other = cookieJar();
  const elsewhere = createClient({ baseUrl: server, fetch: other.fetch, refreshTransport: "cookie" });
  await elsewhere.login("alice", "pw-alice");
  assert.deepEqual(await reloaded.revokeOtherSessions(), { revoked: 1 });
  await assert.rejects(elsewhere.refresh(), (error) => error.status === 401 && error.code === "token_not_valid");

  await reloaded.logout();
  assert.equal(browser.jar.size, 0);
  await assert.rejects(reloaded.refresh(), (error) => {
    assert.deepEqual([error.status, error.code, error.message], [401, "refresh_cookie_missing", "No refresh token cookie was sent."]);
    return true;
  });
});
