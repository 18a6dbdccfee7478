// Cookie mode in Chromium: a server with refresh_transport = "cookie" (not Secure: it is
// bound on 127.0.0.1) serves pages/cookie/, whose page holds
// createClient({ refreshTransport: "cookie" }) as window.api. The refresh token must stay
// out of every script's reach (HttpOnly, nothing in localStorage), refresh must rotate
// it, a reload must keep the session (accessToken() refreshes by the cookie) and logout
// must end it (refresh_cookie_missing). Then another origin (127.0.0.1 on another port:
// the same site, so SameSite=Strict still sends the cookie) tries to use it: a plain
// form POST gets 403 csrf_failed, a fetch with the CSRF header is stopped by the CORS
// preflight, and the session is untouched.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { chromiumOptions, counters, here, start } from "./lib.mjs";

const root = join(here, "../..");
const data = mkdtempSync(join(tmpdir(), "tollgate-cookie-"));
const profile = mkdtempSync(join(tmpdir(), "tollgate-chromium-"));
const server = start(join(root, "target/debug/tollgate"), ["serve", "--bind", "127.0.0.1:0"], {
  env: {
    TOLLGATE_REFRESH_TRANSPORT: "cookie",
    TOLLGATE_REFRESH_COOKIE_SECURE: "false",
    TOLLGATE_DATA_DIR: data,
    TOLLGATE_PBKDF2_ITERATIONS: "1000",
    TOLLGATE_WWW_DIR: join(here, "pages/cookie"),
    TOLLGATE_PKG_DIR: join(root, "pkg"),
  },
  ready: /tollgate listening on (http:\/\/127\.0\.0\.1:\d+)\//,
});
let other;
let context;
try {
  const [, base] = await server.started;
  const REFRESH = `${base}/api/token/refresh/`;
  // The attacker's origin: a form that posts to tollgate's refresh endpoint, and a page to fetch from.
  other = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(req.url === "/form"
      ? `<form method="post" action="${REFRESH}"><input name="refresh" value="x"></form><script>document.forms[0].submit()</script>`
      : "<!doctype html><title>elsewhere</title>");
  });
  await new Promise((resolve) => other.listen(0, "127.0.0.1", resolve));
  const elsewhere = `http://127.0.0.1:${other.address().port}`;
  const rotations = async () => counters(await (await fetch(`${base}/metrics`)).text())['tollgate_refreshes_total{result="ok"}'] ?? 0;

  context = await chromium.launchPersistentContext(profile, chromiumOptions);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  const ready = async () => page.waitForFunction(() => document.title === "ready" && window.api);
  const refreshCookie = async () => (await context.cookies(REFRESH)).find((c) => c.name === "tollgate_refresh");
  await page.goto(`${base}/`);
  await ready();

  const login = await page.evaluate(() => window.api.login("demo", "tollgate-demo"));
  assert.deepEqual(Object.keys(login), ["access"]);
  assert.deepEqual(await page.evaluate(() => window.api.tokens), { access: login.access });
  const first = await refreshCookie();
  assert.ok(first?.value.split(".").length === 3, "the refresh token is in a cookie");
  assert.deepEqual([first.httpOnly, first.secure, first.sameSite, first.path], [true, false, "Strict", "/api/token/refresh/"]);
  // Out of scripts' reach: not in storage, and not in document.cookie even on a page at
  // the cookie's own path, where a cookie without HttpOnly (`visible`) does show.
  assert.deepEqual(await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]), [0, 0, ""]);
  await context.addCookies([{ name: "visible", value: "1", url: REFRESH }]);
  const atPath = await context.newPage();
  await atPath.goto(REFRESH); // a GET: 405, but a document at that path
  assert.equal(await atPath.evaluate(() => document.cookie), "visible=1");
  await atPath.close();
  await context.clearCookies({ name: "visible" });
  console.log("  ok login: { access } only; the refresh token is an HttpOnly, SameSite=Strict cookie, in no storage");

  const refreshed = await page.evaluate(async () => {
    await window.api.refresh();
    const response = await window.api.fetch("/api/me/");
    return { access: window.api.tokens.access, me: [response.status, await response.json()] };
  });
  assert.notEqual(refreshed.access, login.access);
  assert.deepEqual(refreshed.me, [200, { id: 1, username: "demo" }]);
  const second = await refreshCookie();
  assert.notEqual(second.value, first.value);
  assert.equal(await rotations(), 1);
  console.log("  ok refresh: a new access token, the cookie rotated");

  await page.reload();
  await ready();
  assert.equal(await page.evaluate(() => window.api.tokens), null);
  const [request] = await Promise.all([
    page.waitForRequest((r) => r.url() === REFRESH && r.method() === "POST"),
    page.evaluate(() => window.api.accessToken()),
  ]);
  assert.equal(await request.headerValue("tollgate-csrf"), "1");
  assert.match(await request.headerValue("cookie"), /tollgate_refresh=/);
  const afterReload = await page.evaluate(async () => {
    const response = await window.api.fetch("/api/me/");
    return [response.status, await response.json()];
  });
  assert.deepEqual(afterReload, [200, { id: 1, username: "demo" }]);
  assert.equal(await rotations(), 2);
  console.log("  ok reload: storage empty, accessToken() refreshes by the cookie");

  await page.evaluate(() => window.api.logout());
  assert.equal(await refreshCookie(), undefined);
  const afterLogout = await page.evaluate(() =>
    window.api.refresh().then(() => "refreshed", (error) => [error.status, error.code, error.message]));
  assert.deepEqual(afterLogout, [401, "refresh_cookie_missing", "No refresh token cookie was sent."]);
  console.log("  ok logout: the cookie is cleared, the next refresh fails with refresh_cookie_missing");

  // Another origin, with a live session in the cookie jar.
  await page.evaluate(() => window.api.login("demo", "tollgate-demo"));
  const live = await refreshCookie();
  const before = await rotations();
  const attacker = await context.newPage();
  const [posted] = await Promise.all([
    attacker.waitForResponse((r) => r.url() === REFRESH),
    attacker.goto(`${elsewhere}/form`),
  ]);
  assert.equal(posted.status(), 403);
  assert.deepEqual(await posted.json(), { detail: "CSRF check failed: the Tollgate-CSRF: 1 header is missing.", code: "csrf_failed" });
  // The browser did send the cookie (same site): the CSRF check is what refused it.
  assert.match(await posted.request().headerValue("cookie"), new RegExp(`tollgate_refresh=${live.value}`));
  assert.equal(await posted.request().headerValue("origin"), elsewhere);
  console.log("  ok a form POST from another origin: 403 csrf_failed (the cookie was sent, and refused)");

  await attacker.goto(`${elsewhere}/`);
  const seen = []; // what the server answered, as the network saw it (the page cannot read it)
  attacker.on("response", (r) => r.url() === REFRESH && seen.push([r.request().method(), r.status()]));
  const attempts = await attacker.evaluate(async (url) => {
    const outcome = (promise) => promise.then((r) => `answered ${r.type} ${r.status}`, (e) => `${e.name}: ${e.message}`);
    return {
      // The header the server wants makes it a non-simple request: the preflight fails.
      withHeader: await outcome(fetch(url, { method: "POST", credentials: "include", headers: { "Tollgate-CSRF": "1" } })),
      // Without it the request goes out (no-cors) and the server refuses it.
      noCors: await outcome(fetch(url, { method: "POST", credentials: "include", mode: "no-cors" })),
    };
  }, REFRESH);
  assert.deepEqual(attempts, { withHeader: "TypeError: Failed to fetch", noCors: "answered opaque 0" });
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(seen, [["POST", 403]]); // the preflight's 200 stops the first in the browser
  assert.equal(await rotations(), before);
  assert.equal((await refreshCookie()).value, live.value);
  const stillLoggedIn = await page.evaluate(() => window.api.refresh().then((t) => typeof t.access));
  assert.equal(stillLoggedIn, "string");
  assert.equal(await rotations(), before + 1);
  console.log("  ok fetch from another origin: blocked by CORS with the header, refused without; the session still refreshes");
  assert.deepEqual(errors, []);
} finally {
  await context?.close();
  other?.close();
  await server.stop();
  rmSync(data, { recursive: true, force: true });
  rmSync(profile, { recursive: true, force: true });
}
