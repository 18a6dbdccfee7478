// The demo page (www/) end to end in Chromium, served by `tollgate serve` itself with an
// EdDSA key: log in, see the claims (verified in the page with the server's JWKS),
// refresh, call /api/me/, see this browser's session marked and end another device's
// with "Revoke all other sessions", log out everywhere and see the old refresh token
// refused with "Token is blacklisted". Screenshots (desktop and phone width) go to out/.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { chromiumOptions, here, out, start } from "./lib.mjs";

const root = join(here, "../..");
const tollgate = join(root, "target/debug/tollgate");
const data = mkdtempSync(join(tmpdir(), "tollgate-demo-"));
const profile = mkdtempSync(join(tmpdir(), "tollgate-chromium-"));
const env = {
  TOLLGATE_ALGORITHM: "EdDSA",
  TOLLGATE_DATA_DIR: data,
  TOLLGATE_PBKDF2_ITERATIONS: "1000",
  TOLLGATE_WWW_DIR: join(root, "www"),
  TOLLGATE_PKG_DIR: join(root, "pkg"),
  TOLLGATE_SESSION_ID_CLAIM: "sid", // the Sessions panel can then mark this browser's
};
const server = start(tollgate, ["serve", "--bind", "127.0.0.1:0"], {
  env, ready: /tollgate listening on (http:\/\/127\.0\.0\.1:\d+)\//,
});
let context;
try {
  const [, base] = await server.started;
  context = await chromium.launchPersistentContext(profile, chromiumOptions);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  await page.goto(`${base}/`);
  // Loading: the document, then the package (wasm compiled) and the JWKS.
  await page.locator("#log li", { hasText: "jwks.json" }).waitFor();
  const timing = await page.evaluate(() => ({
    load: performance.getEntriesByType("navigation")[0].loadEventEnd,
    ready: performance.now(),
    bytes: performance.getEntriesByType("resource").reduce((n, r) => n + r.encodedBodySize, 0),
  }));
  console.log(`  page: load event ${timing.load.toFixed(0)} ms, package and keys ready ${timing.ready.toFixed(0)} ms, ${timing.bytes} bytes of resources`);
  // A wrong password: the server's detail, shown as sent (it carries no code).
  await page.getByLabel("Password").fill("wrong");
  await page.getByLabel("Password").press("Enter");
  await page.locator("#error", { hasText: "No active account found with the given credentials" }).waitFor();
  assert.equal(await page.locator("#error").textContent(), "No active account found with the given credentials");
  await page.getByLabel("Password").fill("tollgate-demo");
  // The demo user is prefilled: log in with the keyboard.
  await page.getByLabel("Password").press("Enter");
  await page.locator("#access-claims", { hasText: '"token_type": "access"' }).waitFor();
  const claims = JSON.parse(await page.locator("#access-claims").textContent());
  assert.equal(claims.header.alg, "EdDSA");
  assert.equal(claims.payload.username, "demo");
  await page.locator("#edge-check", { hasText: "Verified in this page" }).waitFor();
  assert.match(await page.locator("#access-timeline").textContent(), /s left; the client refreshes it at /);
  console.log("  ok login, claims, in-page verification, timeline");

  const firstRefresh = JSON.parse(await page.locator("#refresh-claims").textContent()).payload.jti;
  await page.getByRole("button", { name: "Refresh", exact: true }).click();
  await page.locator("#previous-refresh", { hasText: firstRefresh }).waitFor();
  const secondRefresh = JSON.parse(await page.locator("#refresh-claims").textContent()).payload.jti;
  assert.notEqual(secondRefresh, firstRefresh);
  console.log("  ok refresh rotates, the old one is shown blacklisted");

  await page.getByRole("button", { name: "GET /api/me/" }).click();
  await page.locator("#verify-result", { hasText: '"username":"demo"' }).waitFor();
  console.log("  ok GET /api/me/");

  // Sessions: this browser's, marked; a second device (a login from Node) appears on
  // reload, and "Revoke all other sessions" ends it.
  const rows = page.locator("#sessions tbody tr");
  await rows.first().waitFor();
  assert.equal(await rows.count(), 1);
  assert.match(await rows.first().textContent(), /HeadlessChrome.*this browser.*127\.0\.0\.1/);
  const other = await fetch(`${base}/api/token/`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "User-Agent": "second-device/1.0" },
    body: JSON.stringify({ username: "demo", password: "tollgate-demo" }),
  });
  assert.equal(other.status, 200);
  await page.getByRole("button", { name: "Reload sessions" }).click();
  await rows.nth(1).waitFor();
  assert.match(await rows.first().textContent(), /^second-device\/1\.0127\.0\.0\.1/);
  assert.equal(await page.locator("#sessions tr.current").count(), 1);
  await page.getByRole("button", { name: "Revoke all other sessions" }).click();
  await page.locator("#sessions-note", { hasText: "1 session." }).waitFor();
  assert.equal(await rows.count(), 1);
  assert.match(await rows.first().textContent(), /HeadlessChrome.*this browser/);
  const revoked = await fetch(`${base}/api/token/refresh/`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh: (await other.json()).refresh }),
  });
  assert.equal(revoked.status, 401);
  console.log("  ok sessions: this browser marked, another device listed, revoked by 'Revoke all other sessions'");
  await page.setViewportSize({ width: 1200, height: 900 });
  await page.screenshot({ path: `${out}demo-desktop.png`, fullPage: true });

  await page.getByRole("button", { name: "Log out everywhere" }).click();
  await page.getByRole("button", { name: "Refresh with the old refresh token" }).click();
  await page.locator("#verify-result", { hasText: "Token is blacklisted" }).waitFor();
  await page.locator("#log li", { hasText: "POST /api/token/refresh/ → 401 Token is blacklisted" }).first().waitFor();
  console.log("  ok log out everywhere, the next refresh fails: Token is blacklisted");

  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: `${out}demo-phone.png`, fullPage: true });
  assert.deepEqual(errors, []);
} finally {
  await context?.close();
  await server.stop();
  rmSync(data, { recursive: true, force: true });
  rmSync(profile, { recursive: true, force: true });
}
