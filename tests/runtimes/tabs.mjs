// Two real tabs of the demo page in one Chromium profile, against a server whose access
// tokens live LIFETIME seconds: tab 2 is opened with the page's "Open another tab" link
// before anyone logs in, picks up tab 1's login from localStorage, and both call
// GET /api/me/ every ~half second for four access lifetimes. Every call must be a
// 200 (no 401 hidden by the client's retry), neither tab may show a logged-out state,
// and the profile must rotate its refresh token once per access token: the server's
// tollgate_refreshes_total{result="ok"} equals the refresh points the timeline passed
// (within one, for a loaded machine), every refresh presents the token the previous one
// issued, no two come closer than an access token's refresh period allows, and the
// server saw no replay (at most one grace answer in the run: see below).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { chromiumOptions, counters, here, start } from "./lib.mjs";

const LIFETIME = 5; // seconds, the server's access_token_lifetime
const AHEAD = 1; // seconds, the page's refreshAhead (?refreshAhead=1)
const LIFETIMES = 4; // how long the tabs run, in access lifetimes

const root = join(here, "../..");
const data = mkdtempSync(join(tmpdir(), "tollgate-tabs-"));
const profile = mkdtempSync(join(tmpdir(), "tollgate-chromium-"));
const server = start(join(root, "target/debug/tollgate"), ["serve", "--bind", "127.0.0.1:0"], {
  env: {
    TOLLGATE_ALGORITHM: "EdDSA",
    TOLLGATE_ACCESS_TOKEN_LIFETIME: String(LIFETIME),
    TOLLGATE_DATA_DIR: data,
    TOLLGATE_PBKDF2_ITERATIONS: "1000",
    TOLLGATE_WWW_DIR: join(root, "www"),
    TOLLGATE_PKG_DIR: join(root, "pkg"),
  },
  ready: /tollgate listening on (http:\/\/127\.0\.0\.1:\d+)\//,
});
const payload = (jwt) => JSON.parse(Buffer.from(jwt.split(".")[1], "base64url"));

let context;
try {
  const [, base] = await server.started;
  context = await chromium.launchPersistentContext(profile, chromiumOptions);
  const errors = [];
  const refreshes = []; // every POST /api/token/refresh/ either tab sent
  const me = []; // the status of every GET /api/me/ either tab sent
  const watch = (page, name) => {
    page.on("pageerror", (error) => errors.push(`${name}: ${error}`));
    page.on("request", (request) => {
      if (request.url().endsWith("/api/token/refresh/") && request.method() === "POST") {
        refreshes.push({ tab: name, at: Date.now() / 1000, refresh: request.postDataJSON().refresh });
      }
    });
    page.on("response", async (response) => {
      const path = new URL(response.url()).pathname;
      if (path === "/api/me/") me.push(`${name} ${response.status()}`);
      if (path === "/api/token/refresh/") {
        const entry = refreshes.find((r) => r.request === undefined && r.tab === name);
        entry.request = response.request();
        entry.status = response.status();
        entry.reuse = response.headers()["tollgate-refresh-reuse"] ?? null;
        entry.issued = (await response.json()).refresh;
      }
    });
  };
  const tab1 = await context.newPage();
  watch(tab1, "tab 1");
  await tab1.goto(`${base}/?refreshAhead=${AHEAD}`);
  await tab1.locator("#log li", { hasText: "jwks.json" }).waitFor();
  const [tab2] = await Promise.all([
    context.waitForEvent("page"),
    tab1.getByRole("link", { name: "Open another tab" }).click(),
  ]);
  watch(tab2, "tab 2");
  await tab2.locator("#log li", { hasText: "jwks.json" }).waitFor();
  assert.equal(new URL(tab2.url()).search, `?refreshAhead=${AHEAD}`);
  assert.equal(await tab2.getByRole("button", { name: "GET /api/me/" }).isDisabled(), true);

  await tab1.getByLabel("Password").press("Enter");
  await tab1.locator("#access-claims", { hasText: '"token_type": "access"' }).waitFor();
  const loggedInAt = Date.now() / 1000;
  const login = JSON.parse(await tab1.locator("#access-claims").textContent()).payload;
  const loginRefresh = JSON.parse(await tab1.locator("#refresh-claims").textContent()).payload.jti;
  assert.equal(login.exp - login.iat, LIFETIME);
  // Tab 2 did nothing: the storage event brought it the login.
  await tab2.locator("#access-claims", { hasText: login.jti }).waitFor({ timeout: 3000 });
  await tab2.locator("#refresh-claims", { hasText: loginRefresh }).waitFor();
  console.log("  ok tab 2 (opened by the page's link) picked up tab 1's login");

  // Both tabs call the API through the client, alternately, for LIFETIMES lifetimes.
  const end = loggedInAt + LIFETIMES * LIFETIME;
  let calls = 0;
  for (let i = 0; Date.now() / 1000 < end; i++) {
    const tab = i % 2 ? tab2 : tab1;
    const before = me.length;
    await tab.getByRole("button", { name: "GET /api/me/" }).click({ timeout: 5000 });
    await tab.locator("#verify-result", { hasText: '"username":"demo"' }).waitFor({ timeout: 5000 });
    await tab.evaluate(() => (document.getElementById("verify-result").textContent = ""));
    for (const page of [tab1, tab2]) {
      assert.equal(await page.locator("#error").isHidden(), true, await page.locator("#error").textContent());
      assert.equal(await page.getByRole("button", { name: "Log out", exact: true }).isEnabled(), true);
    }
    assert.ok(me.length > before, "the click sent GET /api/me/");
    calls++;
    await new Promise((r) => setTimeout(r, 400));
  }
  const endedAt = Date.now() / 1000;
  await new Promise((r) => setTimeout(r, 300)); // let a refresh in flight land
  const metrics = counters(await (await fetch(`${base}/metrics`)).text());
  const rotations = metrics['tollgate_refreshes_total{result="ok"}'] ?? 0;
  const grace = metrics['tollgate_refresh_reuse_total{cause="grace"}'] ?? 0;
  const replay = metrics['tollgate_refresh_reuse_total{cause="replay"}'] ?? 0;

  // The timeline: the login's token is due for refresh at exp - AHEAD; each refresh
  // then lands just after a whole second (exp is whole seconds), so its successor's iat
  // is that second and the next refresh point comes LIFETIME - AHEAD later. Refresh
  // points passed before the tabs stopped calling: one rotation each.
  const period = LIFETIME - AHEAD;
  const expected = Math.max(0, Math.floor((endedAt - (login.exp - AHEAD)) / period) + 1);
  // Grace answers are not rotations: a tab that refreshed a token its sibling had just
  // rotated got the same successor back (see below).
  const rotated = refreshes.filter((r) => r.reuse === null);
  const rotationsAt = rotated.filter((r) => r.at <= endedAt + 0.3);
  const gaps = rotationsAt.slice(1).map((r, i) => r.at - rotationsAt[i].at);
  console.log(
    `  ${(endedAt - loggedInAt).toFixed(1)} s = ${((endedAt - loggedInAt) / LIFETIME).toFixed(2)} access lifetimes of ${LIFETIME} s ` +
      `(refreshed ${AHEAD} s ahead: a refresh point every ${period} s, ${expected} passed); ` +
      `${calls} GET /api/me/ calls, all 200; rotations: ${rotations} counted by the server, ` +
      `${refreshes.length} refresh requests (${refreshes.filter((r) => r.tab === "tab 1").length} from tab 1, ` +
      `${refreshes.filter((r) => r.tab === "tab 2").length} from tab 2), gaps ${gaps.map((g) => g.toFixed(2)).join(", ")} s; ` +
      `reuse: grace ${grace}, replay ${replay}`,
  );
  assert.deepEqual(errors, []);
  assert.deepEqual(me.filter((line) => !line.endsWith(" 200")), []);
  assert.equal(me.length, calls);
  assert.equal(replay, 0);
  // Chromium propagates a localStorage write to other tabs' processes asynchronously, on
  // a channel not ordered with the Web Lock's hand-over: the tab that gets the lock next
  // may still read the old tokens. The client waits for the sibling's write when it had
  // to wait for the lock (up to 250 ms, ended by the `storage` event): before that, 5 of
  // 25 refreshes were a second request with the rotated-out token, after it 0 of 30 (six
  // runs). One such request in a run is allowed for a loaded machine: the server's reuse
  // interval answers it with the same successor ("grace"), no second rotation, no replay.
  assert.ok(grace <= 1, `${grace} grace answers (a tab read stale tokens after the lock)`);
  assert.ok(Math.abs(rotations - expected) <= 1, `${rotations} rotations, ${expected} refresh points`);
  // One rotation per access token: the server counted each request once, each request
  // presented the token the one before it was issued, and none came sooner than a
  // token's refresh period allows (its iat is whole seconds: up to 1 s short).
  assert.deepEqual([rotated.length, refreshes.length - rotated.length], [rotations, grace]);
  assert.deepEqual(refreshes.map((r) => r.status), refreshes.map(() => 200));
  rotated.forEach((r, i) => {
    if (i === 0) assert.equal(payload(r.refresh).jti, loginRefresh);
    else assert.equal(r.refresh, rotated[i - 1].issued, `rotation ${i + 1} presented its predecessor's token`);
  });
  const graced = refreshes.filter((r) => r.reuse !== null);
  assert.equal(new Set(graced.map((r) => r.refresh)).size, graced.length, "one grace answer per rotated token at most");
  for (const r of graced) {
    assert.equal(r.reuse, "grace");
    assert.equal(r.issued, rotated.find((x) => x.refresh === r.refresh).issued, "grace gives the same successor");
  }
  for (const gap of gaps) assert.ok(gap > period - 1 - 0.3, `two rotations ${gap.toFixed(2)} s apart`);
  console.log("  ok both tabs stayed logged in; one rotation per access token for the profile");
} finally {
  await context?.close();
  await server.stop();
  rmSync(data, { recursive: true, force: true });
  rmSync(profile, { recursive: true, force: true });
}
