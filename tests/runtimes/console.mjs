// The staff console (www/admin/, issue #18) end to end in Chromium, served by `tollgate
// serve` itself under its CSP: a user without staff sees a refusal and no data; a
// superuser signs in, finds a user, ends one of their sessions (whose access token then
// gets 401 at /api/me/), blacklists a token (whose refresh then fails), rotates the
// signing key, and sees each action in the audit trail; a cancelled confirmation does
// nothing; on a server in cookie mode the console signs in too. Screenshots (desktop and phone width) go to out/ (git ignores it).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { chromiumOptions, here, out, run, start } from "./lib.mjs";

const root = join(here, "../..");
const tollgate = join(root, "target/debug/tollgate");
const data = mkdtempSync(join(tmpdir(), "tollgate-console-"));
const profile = mkdtempSync(join(tmpdir(), "tollgate-chromium-"));
const env = {
  TOLLGATE_DATA_DIR: data,
  TOLLGATE_PBKDF2_ITERATIONS: "1000",
  TOLLGATE_WWW_DIR: join(root, "www"),
  TOLLGATE_PKG_DIR: join(root, "pkg"),
  TOLLGATE_SESSION_ID_CLAIM: "sid", // an ended session's access tokens fail at once
  TOLLGATE_KEY_ENCRYPTION_KEY: "8f".repeat(32), // stored keys (rotation) are sealed under it
};
mkdirSync(out, { recursive: true });
const cookieData = mkdtempSync(join(tmpdir(), "tollgate-console-cookie-"));
// The accounts, added on the stores before the servers hold them.
for (const [name, flags] of [["root", ["--staff", "--superuser"]], ["sam", ["--staff"]], ["erin", []], ["nobody", []]]) {
  for (const dir of [data, cookieData]) {
    await run(tollgate, ["users", "add", name, ...flags, "--password-stdin"], { env: { ...env, TOLLGATE_DATA_DIR: dir }, input: `${name}-password\n` });
  }
}
const server = start(tollgate, ["serve", "--bind", "127.0.0.1:0"], {
  env, ready: /tollgate listening on (http:\/\/127\.0\.0\.1:\d+)\//,
});
let context;
try {
  const [, base] = await server.started;
  const json = async (path, init = {}) => {
    const response = await fetch(`${base}${path}`, init);
    return { status: response.status, body: await response.json().catch(() => null) };
  };
  const login = async (name, agent) => (await json("/api/token/", {
    method: "POST",
    headers: { "Content-Type": "application/json", "User-Agent": agent },
    body: JSON.stringify({ username: name, password: `${name}-password` }),
  })).body;
  const me = async (access) => (await json("/api/me/", { headers: { Authorization: `Bearer ${access}` } })).status;
  // erin on two devices.
  const laptop = await login("erin", "erin-laptop/1.0");
  const phone = await login("erin", "erin-phone/2.0");
  assert.equal(await me(laptop.access), 200);
  const jti = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url")).jti;

  context = await chromium.launchPersistentContext(profile, chromiumOptions);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(String(error)));
  // CSP violations are reported on the console (failed loads too: the refusal's 403 is
  // expected, and /favicon.ico is not there).
  page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && errors.push(m.text()));
  const response = await page.goto(`${base}/admin/`);
  assert.match(response.headers()["content-security-policy"], /script-src 'self';.*frame-ancestors 'none'/);

  // Not staff: refused, and nothing of the console shown or fetched.
  await page.locator("#username").fill("nobody");
  await page.locator("#password").fill("nobody-password");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.locator("#message", { hasText: "not staff" }).waitFor();
  assert.match(await page.locator("#message").textContent(), /permission_denied/);
  assert.equal(await page.locator("#console").isHidden(), true);
  assert.equal(await page.locator("#user-table tbody tr").count(), 0);
  const nobody = await login("nobody", "node");
  const refused = await json("/api/admin/users/", { headers: { Authorization: `Bearer ${nobody.access}` } });
  assert.deepEqual(refused, { status: 403, body: { detail: "You do not have permission to perform this action.", code: "permission_denied" } });
  console.log("  ok a user without staff is refused: a message, no data (403 permission_denied)");

  // Staff but not a superuser: looks, with no change controls.
  await page.locator("#username").fill("sam");
  await page.locator("#password").fill("sam-password");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.locator("#readonly").waitFor();
  await page.locator("#user-table tbody tr", { hasText: "erin" }).click();
  await page.locator("#user-title", { hasText: "erin" }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Deactivate", exact: true }).isVisible(), false);
  assert.equal(await page.getByRole("button", { name: /^Revoke session/ }).first().isVisible(), false);
  await Promise.all([page.waitForEvent("load"), page.getByRole("button", { name: "Sign out", exact: true }).click()]);
  console.log("  ok staff without superuser: read-only (no change controls)");

  // A superuser signs in and finds erin.
  await page.locator("#username").fill("root");
  await page.locator("#password").fill("root-password");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.locator("#who-name", { hasText: "Signed in as root" }).waitFor();
  await page.locator("#user-q").fill("eri");
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.locator("#users-page", { hasText: "1–1 of 1" }).waitFor();
  await page.locator("#user-table tbody tr", { hasText: "erin" }).click();
  await page.locator("#user-title", { hasText: "erin" }).waitFor();
  const sessions = page.locator("#session-table tbody tr");
  await sessions.nth(1).waitFor();
  assert.match(await sessions.nth(0).textContent(), /erin-phone\/2\.0/);
  assert.match(await sessions.nth(1).textContent(), /erin-laptop\/1\.0/);
  await page.setViewportSize({ width: 1200, height: 900 });
  await page.screenshot({ path: `${out}console-desktop.png`, fullPage: true });
  console.log("  ok a superuser signs in, finds erin, sees her two sessions (devices, addresses)");

  // A cancelled confirmation changes nothing.
  await page.getByRole("button", { name: "Deactivate", exact: true }).click();
  await page.locator("#confirm-text", { hasText: "Deactivate erin?" }).waitFor();
  await page.getByRole("button", { name: "Cancel", exact: true }).click();
  assert.equal(await me(laptop.access), 200);

  // End the laptop's session: its access token is refused at once.
  const laptopSession = jti(laptop.refresh);
  await page.getByRole("button", { name: `Revoke session ${laptopSession}` }).click();
  await page.locator("#confirm-text", { hasText: "End session" }).waitFor();
  await page.getByRole("button", { name: "Confirm", exact: true }).click();
  await page.locator("#status", { hasText: `ended session ${laptopSession}` }).waitFor();
  await page.locator("#session-table tbody tr", { hasText: "erin-laptop" }).waitFor({ state: "detached" });
  assert.equal(await me(laptop.access), 401);
  assert.equal(await me(phone.access), 200);
  console.log("  ok revoke one session (confirmed): its access token gets 401 at /api/me/, the other still 200");

  // Tokens: erin's outstanding one (the phone's refresh token), blacklisted.
  await page.getByRole("button", { name: "Tokens", exact: true }).click();
  const erinId = String((await json("/api/me/", { headers: { Authorization: `Bearer ${phone.access}` } })).body.id);
  await page.locator("#token-user").fill(erinId);
  await page.locator("#token-state").selectOption("outstanding");
  await page.getByRole("button", { name: "Filter", exact: true }).click();
  await page.locator("#tokens-page", { hasText: "1–1 of 1" }).waitFor();
  const phoneJti = jti(phone.refresh);
  await page.getByRole("button", { name: `Blacklist token ${phoneJti}` }).click();
  await page.getByRole("button", { name: "Confirm", exact: true }).click();
  await page.locator("#status", { hasText: `token ${phoneJti} of user ${erinId} blacklisted` }).waitFor();
  await page.locator("#tokens-page", { hasText: "no tokens found" }).waitFor();
  const refreshed = await json("/api/token/refresh/", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh: phone.refresh }),
  });
  assert.deepEqual(refreshed, { status: 401, body: { detail: "Token is blacklisted", code: "token_not_valid" } });
  console.log("  ok blacklist a token (confirmed): its refresh gets 401 Token is blacklisted");

  // Keys: rotate at once; the new key is current.
  await page.getByRole("button", { name: "Keys", exact: true }).click();
  await page.locator("#keys-note", { hasText: "No stored keys" }).waitFor();
  await page.locator("#rotate-now").check();
  await page.getByRole("button", { name: "Rotate", exact: true }).click();
  await page.getByRole("button", { name: "Confirm", exact: true }).click();
  await page.locator("#status", { hasText: "signs now" }).waitFor();
  await page.locator("#key-table tbody tr[data-state=current]").waitFor();
  const current = await page.locator("#key-table tbody tr[data-state=current] td").first().textContent();
  assert.ok(current.length > 0);
  console.log(`  ok rotate (confirmed): key ${current} is current`);

  // The audit trail shows each action, newest first, by root through the API.
  await page.getByRole("button", { name: "Audit trail", exact: true }).click();
  const audit = page.locator("#audit-table tbody tr");
  await audit.nth(2).waitFor();
  const rows = await audit.evaluateAll((trs) => trs.map((tr) => [...tr.cells].slice(1).map((td) => td.textContent)));
  assert.deepEqual(rows.slice(0, 3), [
    ["root", "api", "keys.rotate", "now", "ok"],
    ["root", "api", "tokens.revoke", phoneJti, "ok"],
    ["root", "api", "sessions.revoke", laptopSession, "ok"],
  ]);
  // The users added on the command line before the server started are there too.
  assert.deepEqual(rows.slice(3).map((r) => [r[1], r[2], r[3]]), [
    ["cli", "users.add", "nobody"], ["cli", "users.add", "erin"], ["cli", "users.add", "sam"], ["cli", "users.add", "root"],
  ]);
  console.log("  ok the audit trail shows the three actions (who, what, when) and the CLI's");

  // Figures: small charts of the counters.
  await page.getByRole("button", { name: "Figures", exact: true }).click();
  await page.locator("#charts figure").nth(4).waitFor();
  const logins = await page.locator("#charts figure svg").first().getAttribute("aria-label");
  assert.match(logins, /^Logins: ok \d+, failed 0, throttled 0$/);
  console.log(`  ok figures as inline SVG charts (${logins})`);

  await page.setViewportSize({ width: 390, height: 844 });
  await page.getByRole("button", { name: "Users", exact: true }).click();
  await page.screenshot({ path: `${out}console-phone.png`, fullPage: true });
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(wide <= 390, `the page fits a phone's width (scrollWidth ${wide})`);
  assert.deepEqual(errors, []);
  console.log("  ok screenshots at desktop and phone width (out/console-*.png); no page errors, no CSP violations");

  // A server in cookie mode: the console signs in through the refresh cookie instead.
  const cookieServer = start(tollgate, ["serve", "--bind", "127.0.0.1:0"], {
    env: { ...env, TOLLGATE_DATA_DIR: cookieData, TOLLGATE_REFRESH_TRANSPORT: "cookie", TOLLGATE_REFRESH_COOKIE_SECURE: "false" },
    ready: /tollgate listening on (http:\/\/127\.0\.0\.1:\d+)\//,
  });
  try {
    const [, cookieBase] = await cookieServer.started;
    const tab = await context.newPage();
    tab.on("pageerror", (error) => errors.push(String(error)));
    await tab.goto(`${cookieBase}/admin/`);
    await tab.locator("#username").fill("root");
    await tab.locator("#password").fill("root-password");
    await tab.getByRole("button", { name: "Sign in", exact: true }).click();
    await tab.locator("#who-name", { hasText: "Signed in as root" }).waitFor();
    await tab.locator("#user-table tbody tr", { hasText: "erin" }).waitFor();
    assert.deepEqual(errors, []);
    console.log("  ok on a server in cookie mode the console signs in through the refresh cookie");
  } finally {
    await cookieServer.stop();
  }
} finally {
  await context?.close();
  await server.stop();
  rmSync(cookieData, { recursive: true, force: true });
  rmSync(data, { recursive: true, force: true });
  rmSync(profile, { recursive: true, force: true });
}
