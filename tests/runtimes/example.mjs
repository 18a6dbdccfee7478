// The edge-worker example (examples/edge-worker.js) in workerd against a real tollgate
// server (EdDSA): a login's access token is accepted, bad ones get 401 with the right
// code, once the JWKS is cached the worker keeps verifying with the server stopped, and a
// new isolate with the server stopped answers 503 jwks_fetch_failed.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { here, run, start } from "./lib.mjs";
import { runWorker } from "./workerd.mjs";

const tollgate = join(here, "../../target/debug/tollgate");
const data = mkdtempSync(join(tmpdir(), "tollgate-example-"));
const env = { TOLLGATE_ALGORITHM: "EdDSA", TOLLGATE_DATA_DIR: data, TOLLGATE_PBKDF2_ITERATIONS: "1000" };
let server, worker, cold;
try {
  await run(tollgate, ["users", "add", "alice", "--password-stdin"], { env, input: "alice-password\n" });
  server = start(tollgate, ["serve", "--bind", "127.0.0.1:0", "--no-demo-user"], {
    env, ready: /tollgate listening on (http:\/\/127\.0\.0\.1:\d+)\//,
  });
  const [, base] = await server.started;
  worker = await runWorker(join(here, "examples/edge-worker.js"), "example", { TOLLGATE_URL: base });

  const login = await fetch(`${base}/api/token/`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "alice", password: "alice-password" }),
  });
  assert.equal(login.status, 200, "login");
  const { access, refresh } = await login.json();
  // Simple JWT puts the user id in the token as a string.
  const me = await (await fetch(`${base}/api/me/`, { headers: { authorization: `Bearer ${access}` } })).json();

  const call = async (authorization) => {
    const response = await fetch(worker.url, { headers: authorization ? { authorization } : {} });
    return { status: response.status, body: await response.json() };
  };
  const check = async (name, authorization, status, body) => {
    assert.deepEqual(await call(authorization), { status, body }, name);
    console.log(`  ok ${name}`);
  };
  const flip = (token) => token.slice(0, -10) + (token.at(-10) === "A" ? "B" : "A") + token.slice(-9);

  await check("valid access token", `Bearer ${access}`, 200, { user_id: String(me.id) });
  await check("no token: 401", undefined, 401,
    { detail: "Authentication credentials were not provided.", code: "not_authenticated" });
  await check("bad header: 401", "Bearer a b", 401,
    { detail: "Authorization header must contain two space-delimited values", code: "bad_authorization_header" });
  assert.equal((await call(`Bearer ${flip(access)}`)).body.code, "token_signature_invalid");
  console.log("  ok tampered token: 401 token_signature_invalid");
  assert.equal((await call(`Bearer ${refresh}`)).body.code, "token_wrong_type");
  console.log("  ok refresh token: 401 token_wrong_type");

  await server.stop();
  await check("JWKS cached: still verifies with the server stopped", `Bearer ${access}`, 200, { user_id: String(me.id) });

  // A new isolate with the server down: a clear 503, at once, not a hang or a 401.
  cold = await runWorker(join(here, "examples/edge-worker.js"), "example-cold", { TOLLGATE_URL: base });
  const started = Date.now();
  const response = await fetch(cold.url, { headers: { authorization: `Bearer ${access}` } });
  const body = await response.json();
  assert.deepEqual({ status: response.status, code: body.code }, { status: 503, code: "jwks_fetch_failed" }, JSON.stringify(body));
  assert.ok(Date.now() - started < 6000, "within the fetch timeout");
  console.log("  ok cold isolate, server down: 503 jwks_fetch_failed");
} catch (error) {
  if (worker) console.log(worker.log());
  throw error;
} finally {
  await worker?.stop();
  await cold?.stop();
  await server?.stop();
  rmSync(data, { recursive: true, force: true });
}
