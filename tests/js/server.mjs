// The tollgate server binary the JS tests start (built by `cargo build -p tollgate-server`
// before they run), the wait for its "listening" line, and servers with users of their own.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const binary = new URL("../../target/debug/tollgate", import.meta.url).pathname;

/** Resolves to the base URL a spawned `tollgate serve` prints; rejects if it exits first. */
export function listening(server) {
  return new Promise((resolve, reject) => {
    let out = "";
    server.stdout.on("data", (chunk) => {
      out += chunk;
      const match = out.match(/tollgate listening on (http:\/\/[^\s]+)\//);
      if (match) resolve(match[1]);
    });
    server.stderr?.on("data", (chunk) => (out += chunk));
    server.on("exit", (code) => reject(new Error(`server exited with ${code}\n${out}`)));
  });
}

const servers = [];

/**
 * Starts a server on 127.0.0.1:0 with its own data dir, users alice and bob (passwords
 * pw-alice, pw-bob), an HMAC key and `extra` settings; resolves to its base URL.
 * stopServers() stops every one started.
 */
export async function startServer(extra = {}) {
  assert.ok(existsSync(binary), `${binary} is missing: run cargo build -p tollgate-server`);
  const dir = mkdtempSync(join(tmpdir(), "tollgate-js-"));
  const env = {
    PATH: process.env.PATH,
    TOLLGATE_DATA_DIR: join(dir, "data"),
    TOLLGATE_PBKDF2_ITERATIONS: "1000",
    TOLLGATE_SIGNING_KEY: "client-test-secret-client-test-secret-0123456789",
    ...extra,
  };
  for (const user of ["alice", "bob"]) {
    const added = spawnSync(binary, ["users", "add", user, "--password-stdin"], { env, input: `pw-${user}\n` });
    assert.equal(added.status, 0, String(added.stderr));
  }
  const server = spawn(binary, ["serve", "--bind", "127.0.0.1:0", "--no-demo-user"], { env, stdio: ["ignore", "pipe", "ignore"] });
  servers.push({ server, dir });
  return listening(server);
}

export function stopServers() {
  for (const { server, dir } of servers.splice(0)) {
    server.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}
