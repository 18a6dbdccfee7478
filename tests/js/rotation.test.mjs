// The rotation issue #16 opens with, against a real tollgate server (EdDSA): a verifier
// caches the server's one key from its JWKS; the key is rotated the documented way
// (`keys generate --force`, the old key listed in previous_verifying_keys, restart); the
// new tokens carry a kid the cache lacks. With remoteJwks they are refetched for, not
// refused as token_signature_invalid, and the old tokens keep verifying.
// Needs target/debug/tollgate (as client.test.mjs).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Verifier, TollgateError, decode, remoteJwks } from "tollgate";
import { binary, listening } from "./server.mjs";

const dir = mkdtempSync(join(tmpdir(), "tollgate-rotation-"));
const env = { PATH: process.env.PATH, TOLLGATE_DATA_DIR: join(dir, "data"), TOLLGATE_PBKDF2_ITERATIONS: "1000", TOLLGATE_ALGORITHM: "EdDSA" };
let server;

function serve(bind, extra = {}) {
  server = spawn(binary, ["serve", "--bind", bind, "--no-demo-user"], { env: { ...env, ...extra }, stdio: ["ignore", "pipe", "pipe"] });
  server.exited = new Promise((resolve) => server.on("exit", resolve));
  return listening(server);
}

async function stop() {
  server.kill("SIGTERM");
  await server.exited;
}

after(async () => {
  if (server && server.exitCode === null) await stop();
  rmSync(dir, { recursive: true, force: true });
});

async function login(base) {
  const response = await fetch(`${base}/api/token/`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "alice", password: "alice-password" }),
  });
  assert.equal(response.status, 200);
  return (await response.json()).access;
}

test("a key rotated on the server: the new kid is refetched for, old tokens still verify", async () => {
  assert.ok(existsSync(binary), `${binary} is missing: run cargo build -p tollgate-server`);
  const added = spawnSync(binary, ["users", "add", "alice", "--password-stdin"], { env, input: "alice-password\n" });
  assert.equal(added.status, 0, String(added.stderr));
  const base = await serve("127.0.0.1:0");
  const source = remoteJwks(`${base}/.well-known/jwks.json`, { cooldown: 0.2 });
  const verifier = new Verifier(source, { algorithm: "EdDSA", type: "access" });

  const before = await login(base);
  assert.equal(decode(before).header.kid, undefined, "one key: Simple JWT's header, no kid");
  assert.equal((await verifier.verifyAsync(before)).token_type, "access");
  assert.equal(source.fetchCount, 1);
  assert.equal(source.jwks.keys.length, 1);

  // The documented rotation: a new key, the old one kept for verification, a restart.
  await stop();
  const generated = spawnSync(binary, ["keys", "generate", "--force"], { env, encoding: "utf8" });
  assert.equal(generated.status, 0, generated.stderr);
  const moved = generated.stdout.match(/previous key moved to (\S+);/);
  assert.ok(moved, generated.stdout);
  const previous = readFileSync(moved[1], "utf8");
  await serve(new URL(base).host, { TOLLGATE_PREVIOUS_VERIFYING_KEYS: previous });

  const after = await login(base);
  const kid = decode(after).header.kid;
  assert.equal(typeof kid, "string", "rotating: tokens carry a kid");
  assert.ok(!source.jwks.keys.some((k) => k.kid === kid), "the cache holds only the old key");
  await new Promise((resolve) => setTimeout(resolve, 250)); // the cooldown since the first fetch
  // Before remoteJwks the one cached key was tried whatever the kid: token_signature_invalid.
  assert.throws(() => verifier.verify(after), (e) => e instanceof TollgateError && e.code === "token_key_unknown");
  assert.equal((await verifier.verifyAsync(after)).token_type, "access");
  assert.equal(source.fetchCount, 2, "one refetch");
  assert.equal(source.jwks.keys.length, 2, "the new key and the previous one");
  assert.equal(verifier.verify(before).token_type, "access", "tokens of the previous key still verify");
  assert.equal(verifier.verify(await login(base)).token_type, "access");
  assert.equal(source.fetchCount, 2);
});
