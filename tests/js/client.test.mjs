// The package's client against a real tollgate server on 127.0.0.1: login, refresh
// with rotation, single-flight under 20 concurrent callers, retry on 401, logout and
// logout-all. Needs target/debug/tollgate (built by `cargo test` before this runs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, memoryStorage, TollgateError } from "tollgate";

const binary = new URL("../../target/debug/tollgate", import.meta.url).pathname;
let server;
let base;
let dir;

function env() {
  return {
    PATH: process.env.PATH,
    TOLLGATE_DATA_DIR: join(dir, "data"),
    TOLLGATE_PBKDF2_ITERATIONS: "1000",
    TOLLGATE_SIGNING_KEY: "client-test-secret-client-test-secret-0123456789",
  };
}

before(async () => {
  assert.ok(existsSync(binary), `${binary} is missing: run cargo build -p tollgate-server`);
  dir = mkdtempSync(join(tmpdir(), "tollgate-client-"));
  for (const user of ["alice", "bob"]) {
    const added = spawnSync(binary, ["users", "add", user, "--password-stdin"], { env: env(), input: `pw-${user}\n` });
    assert.equal(added.status, 0, String(added.stderr));
  }
  server = spawn(binary, ["serve", "--bind", "127.0.0.1:0", "--no-demo-user"], { env: env(), stdio: ["ignore", "pipe", "ignore"] });
  base = await new Promise((resolve, reject) => {
    let out = "";
    server.stdout.on("data", (chunk) => {
      out += chunk;
      const match = out.match(/tollgate listening on (http:\/\/[^\s]+)\//);
      if (match) resolve(match[1]);
    });
    server.on("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
});

after(() => {
  server?.kill("SIGTERM");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function refreshesOk() {
  const text = await (await fetch(`${base}/metrics`)).text();
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
