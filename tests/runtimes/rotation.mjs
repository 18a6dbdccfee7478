// Issue #16 end to end: a tollgate server (EdDSA, its key set sealed under a
// key-encryption key, `jwks_max_age` 1 s, token lifetimes of seconds) adds a key, rotates
// to it, three times in a row, revokes one key and retires another by itself, without a
// restart, while the same edge worker (rotation/worker.js: verifyAsync against a
// module-level remoteJwks) in workerd, Node, Deno, Bun, edge-runtime and Chromium
// verifies a steady stream of fresh access tokens (each tick the newest, the oldest still
// valid, and after the revocation the revoked key's newest). Then the server stops: stale
// keys verify up to `staleMax`, then every runtime answers jwks_fetch_failed.
//
// Every JWKS request passes through a counting pass-through (one path per runtime), so the
// fetches are counted outside the runtimes. Judged per runtime:
// - zero valid tokens rejected;
// - fetches <= 1 + ceil(D / max-age) + ceil(D / cooldown) over the D seconds it ran (one
//   per cache lifetime, plus one refetch per cooldown for a kid not cached);
// - no fetch before the cached JWKS expired (one for an unknown kid) while the keys
//   rotate: each next key was published before it signed;
// - the first fetch after `keys revoke` no longer holds the key, and from its answer on
//   every token of that key is refused (token_key_unknown): at most one refetch;
// - the retired key is gone from the JWKS it holds at the end.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { edgeRuntime } from "./edge.mjs";
import { bin, chromiumOptions, here, run, serveFiles, start } from "./lib.mjs";
import { runWorker } from "./workerd.mjs";

const MAX_AGE = 1; // the server's jwks_max_age, s
const HOLD_MS = 2 * MAX_AGE * 1000 + 5000; // a next key is published this long before it signs
const COOLDOWN = 30; // remoteJwks' default: one refetch for an unknown kid per 30 s
const STALE_MAX = 3; // s past the cache lifetime that stale keys keep verifying
const TICK_MS = 250;
const MARGIN_MS = 2000; // tokens are sent with at least this long to live (10 s lifetimes)
const OPTIONS = { minAge: MAX_AGE, cooldown: COOLDOWN, staleMax: STALE_MAX, timeout: 3 };
const KEK = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const fail = (message) => {
  throw new Error(message);
};
const decodePart = (token, i) => JSON.parse(Buffer.from(token.split(".")[i], "base64url"));

const tollgate = join(here, "../../target/debug/tollgate");
const data = mkdtempSync(join(tmpdir(), "tollgate-rotation-"));
const profile = mkdtempSync(join(tmpdir(), "tollgate-rotation-chromium-"));
const env = {
  TOLLGATE_ALGORITHM: "EdDSA",
  TOLLGATE_DATA_DIR: data,
  TOLLGATE_PBKDF2_ITERATIONS: "1000",
  TOLLGATE_KEY_ENCRYPTION_KEY: KEK,
  TOLLGATE_JWKS_MAX_AGE: String(MAX_AGE),
  TOLLGATE_ACCESS_TOKEN_LIFETIME: "10",
  TOLLGATE_REFRESH_TOKEN_LIFETIME: "12",
  TOLLGATE_SLIDING_TOKEN_LIFETIME: "10",
  TOLLGATE_SLIDING_TOKEN_REFRESH_LIFETIME: "12",
  TOLLGATE_ROTATE_REFRESH_TOKENS: "true",
};
const stops = [];
const events = []; // { at, what }
const note = (what) => {
  events.push({ at: Date.now(), what });
  console.log(`  ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s  ${what}`);
};
let t0 = Date.now();

/** `tollgate keys ARGS` (through the running server's admin socket): its output. */
const keys = (...args) => run(tollgate, ["keys", ...args], { env });
/** `keys rotate`, retried while the next key is too recent (the server's clock decides). */
async function rotate() {
  for (;;) {
    try {
      return (await keys("rotate")).trim();
    } catch (error) {
      if (!String(error.message).includes("key_next_too_recent")) throw error;
      await sleep(250);
    }
  }
}
const added = async () => /added EdDSA key (\S+) /.exec(await keys("add"))?.[1] ?? fail("keys add: no kid");
const states = async () =>
  Object.fromEntries((await keys("list", "--json")).trim().split("\n").filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l)).map((k) => [k.kid, k.state]));

try {
  // The server, with the key it generates in its data folder (no stored key set yet).
  await run(tollgate, ["users", "add", "alice", "--password-stdin"], { env, input: "alice-password\n" });
  const server = start(tollgate, ["serve", "--bind", "127.0.0.1:0", "--no-demo-user"], {
    env, ready: /tollgate listening on (http:\/\/127\.0\.0\.1:\d+)\//,
  });
  stops.push(server.stop);
  const [, base] = await server.started;

  // The counting pass-through: /<runtime>/jwks.json -> the server's JWKS, headers kept.
  let serverDown = false;
  const fetches = new Map(); // runtime -> [{ start, end, status, kids }]
  const proxy = createServer(async (req, res) => {
    const cors = {
      "access-control-allow-origin": "*",
      "access-control-allow-headers": "*",
      "access-control-expose-headers": "etag, cache-control",
    };
    if (req.method === "OPTIONS") return res.writeHead(204, cors).end();
    const name = req.url.split("/")[1];
    if (!fetches.has(name)) fetches.set(name, []);
    const log = fetches.get(name);
    const entry = { start: Date.now() };
    log.push(entry);
    try {
      if (serverDown) throw new Error("the server is stopped");
      const upstream = await fetch(`${base}/.well-known/jwks.json`, {
        headers: req.headers["if-none-match"] ? { "if-none-match": req.headers["if-none-match"] } : {},
      });
      const body = await upstream.text();
      entry.status = upstream.status;
      entry.cacheControl = upstream.headers.get("cache-control");
      entry.kids = upstream.status === 200 ? JSON.parse(body).keys.map((k) => k.kid) : log.at(-2)?.kids;
      const headers = { ...cors };
      for (const h of ["content-type", "cache-control", "etag"]) {
        if (upstream.headers.has(h)) headers[h] = upstream.headers.get(h);
      }
      res.writeHead(upstream.status, headers).end(body);
    } catch {
      entry.status = "down";
      req.socket.destroy(); // as the server's own address would: nothing answers
    }
    entry.end = Date.now();
  });
  await new Promise((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  stops.push(async () => {
    proxy.closeAllConnections();
    proxy.close();
  });
  const jwksUrl = (name) => `http://127.0.0.1:${proxy.address().port}/${name}/jwks.json`;
  const envFor = (name) => ({ JWKS_URL: jwksUrl(name), JWKS_OPTIONS: JSON.stringify(OPTIONS) });

  // The same worker in six runtimes; check(token) -> the worker's JSON answer.
  const runtimes = [];
  const overHttp = (url) => async (token) =>
    (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).json();
  const worker = await runWorker(join(here, "rotation/worker.js"), "rotation-workerd", envFor("workerd"));
  stops.push(worker.stop);
  runtimes.push({ name: "workerd", check: overHttp(worker.url) });
  for (const [name, command, args] of [
    ["node", process.execPath, []],
    ["deno", bin("deno"), ["run", "--allow-read", "--allow-net=127.0.0.1", "--no-lock"]],
    ["bun", bin("bun"), []],
  ]) {
    const { JWKS_URL, JWKS_OPTIONS } = envFor(name);
    const proc = start(command, [...args, join(here, "rotation/serve.mjs"), JWKS_URL, JWKS_OPTIONS], { ready: /listening (\d+)/ });
    stops.push(proc.stop);
    const [, port] = await proc.started;
    runtimes.push({ name, check: overHttp(`http://127.0.0.1:${port}/`) });
  }
  const edge = await edgeRuntime(join(here, "rotation/edge-entry.js"), "rotation-edge", { ROTATION_ENV: envFor("edge-runtime") });
  runtimes.push({
    name: "edge-runtime",
    check: async (token) => (await edge.dispatchFetch("http://127.0.0.1/", { headers: { authorization: `Bearer ${token}` } })).json(),
  });
  const files = await serveFiles();
  stops.push(files.stop);
  const context = await chromium.launchPersistentContext(profile, chromiumOptions);
  stops.push(() => context.close());
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(String(error)));
  const { JWKS_URL, JWKS_OPTIONS } = envFor("chromium");
  await page.goto(`${files.url}/rotation/page.html?jwks=${encodeURIComponent(JWKS_URL)}&options=${encodeURIComponent(JWKS_OPTIONS)}`);
  await page.waitForFunction(() => document.title === "ready", null, { timeout: 10000 });
  runtimes.push({ name: "chromium", check: (token) => page.evaluate((t) => window.check(t), token) });

  // The stream: a refresh every tick gives a fresh access token signed by the current key.
  const login = await (await fetch(`${base}/api/token/`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "alice", password: "alice-password" }),
  })).json();
  let refresh = login.refresh ?? fail(`login: ${JSON.stringify(login)}`);
  const issued = []; // { token, kid, exp (ms) }
  const results = []; // { runtime, token, sent, done, answer }
  const kidsSeen = new Set();
  let revoked = null; // { kid, at }
  let phase = "rotating"; // then "down"
  const live = (t) => t.exp - Date.now() >= MARGIN_MS;
  async function tick() {
    if (phase === "rotating") {
      const got = await (await fetch(`${base}/api/token/refresh/`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh }),
      })).json();
      if (!got.access || !got.refresh) fail(`refresh: ${JSON.stringify(got)}`);
      refresh = got.refresh;
      const kid = decodePart(got.access, 0).kid ?? "(no kid)";
      if (!kidsSeen.has(kid)) note(`tokens now signed by ${kid}`);
      kidsSeen.add(kid);
      issued.push({ token: got.access, kid, exp: decodePart(got.access, 1).exp * 1000 });
    }
    const batch = new Set();
    const valid = issued.filter(live);
    if (valid.length) batch.add(valid.at(-1)).add(valid[0]);
    if (revoked) {
      const probe = issued.filter((t) => t.kid === revoked.kid && t.exp - Date.now() >= MARGIN_MS).at(-1);
      if (probe) batch.add(probe);
    }
    await Promise.all(runtimes.map(async (rt) => {
      for (const t of batch) {
        const sent = Date.now();
        const answer = await rt.check(t.token);
        results.push({ runtime: rt.name, token: t, sent, done: Date.now(), phase, answer });
      }
    }));
  }
  let streaming = true;
  let streamError = null;
  const stream = (async () => {
    while (streaming) {
      await tick();
      await sleep(TICK_MS);
    }
  })();
  stream.catch((error) => {
    streamError = error;
  });
  const alive = () => streamError === null || fail(`the stream stopped: ${streamError.stack}`);

  // The schedule: three rotations to keys published ahead, a revocation, a retirement.
  t0 = Date.now();
  note("stream started: the key generated in the data folder signs");
  await sleep(1500);
  const generations = [];
  for (let i = 1; i <= 3; i++) {
    alive();
    const kid = await added();
    note(`keys add: ${kid} published as next`);
    await sleep(HOLD_MS);
    note(`keys rotate: ${await rotate()}`);
    generations.push(kid);
  }
  const [k1, k2, k3] = generations;
  // The stream's own refresh token was signed by k2 until its first refresh after the
  // rotation: revoking k2 before that would end its session (rightly).
  while (issued.at(-1).kid !== k3) alive() && (await sleep(50));
  await sleep(2 * TICK_MS);
  note(`keys revoke ${k2}: ${(await keys("revoke", k2)).trim()}`);
  revoked = { kid: k2, at: Date.now() };
  const deadline = Date.now() + 45000;
  const refusedEverywhere = () => runtimes.every((rt) => results.some((r) =>
    r.runtime === rt.name && r.token.kid === k2 && r.sent > revoked.at && r.answer.code === "token_key_unknown"));
  let retired = false;
  while (!(retired && refusedEverywhere())) {
    alive();
    if (Date.now() > deadline) {
      const last = runtimes.map((rt) => {
        const r = results.filter((x) => x.runtime === rt.name && x.token.kid === k2).at(-1);
        const tail = (fetches.get(rt.name) ?? []).slice(-3).map((f) => ({ ...f, start: f.start - t0, end: f.end - t0 }));
        return `${rt.name}: ${r ? JSON.stringify(r.answer) : "none"}; fetches ${JSON.stringify(tail)}`;
      });
      fail(`after 45 s: ${k1} retired: ${retired}, ${k2} refused everywhere: ${refusedEverywhere()}\n    ${last.join("\n    ")}`);
    }
    if (!retired && (await states())[k1] === "retired") {
      retired = true;
      note(`${k1} retired by the server (its tokens have all expired)`);
    }
    await sleep(500);
  }
  await sleep(2 * MAX_AGE * 1000); // every runtime's cache has been renewed since
  const rotatedUntil = Date.now();

  // The server stops: stale keys verify up to staleMax past the cache lifetime, then not.
  phase = "down";
  serverDown = true;
  await server.stop();
  note("server stopped");
  await sleep((MAX_AGE + STALE_MAX) * 1000 + 3000);
  streaming = false;
  await stream;
  alive();
  note("stream stopped");

  // The judgement.
  const problems = [];
  const lastFetchEnd = (name, before) => Math.max(...fetches.get(name).filter((f) => f.end <= before && f.status !== "down").map((f) => f.end));
  console.log(`  keys: ${k1}, ${k2} (revoked), ${k3}; each published ${HOLD_MS / 1000} s before it signed`);
  for (const rt of runtimes) {
    const mine = results.filter((r) => r.runtime === rt.name);
    const log = fetches.get(rt.name) ?? [];
    const duration = (rotatedUntil - t0) / 1000 + 1.5;
    const bound = 1 + Math.ceil(duration / MAX_AGE) + Math.ceil(duration / COOLDOWN);
    const rotating = log.filter((f) => f.start <= rotatedUntil);
    const firstAfter = log.find((f) => f.start > revoked.at);
    const early = rotating.filter((f, i) => i > 0 && f.start < rotating[i - 1].end + MAX_AGE * 1000 - 100);
    const earlyBefore = early.filter((f) => f.start < revoked.at);
    const say = (what) => problems.push(`${rt.name}: ${what}`);
    if (rotating.length > bound) say(`${rotating.length} JWKS fetches in ${duration.toFixed(1)} s, over the bound ${bound}`);
    if (earlyBefore.length) say(`${earlyBefore.length} fetch(es) before the cache expired while keys rotated (a key signed before it was cached)`);
    if (early.length > 1) say(`${early.length} early fetches (at most one per cooldown)`);
    if (!firstAfter) say(`no JWKS fetch after the revocation`);
    else if (firstAfter.kids?.includes(k2)) say(`the first JWKS after the revocation still holds ${k2}`);
    const lastKids = rotating.at(-1)?.kids ?? [];
    if (lastKids.includes(k1) || lastKids.includes(k2) || !lastKids.includes(k3)) say(`its last JWKS holds ${lastKids.join(", ")}`);
    let accepted = 0;
    let refusedRevoked = 0;
    let staleOk = 0;
    let downRefused = 0;
    for (const r of mine) {
      const { token, sent, answer } = r;
      const what = `a ${token.kid} token sent at ${((sent - t0) / 1000).toFixed(2)} s (${r.phase})`;
      if (r.phase === "down") {
        if (token.kid === revoked.kid) continue; // refused already
        // Keys fetched last at `last` serve until last + max-age + staleMax.
        const last = lastFetchEnd(rt.name, sent);
        const until = last + (MAX_AGE + STALE_MAX) * 1000;
        if (r.done < until - 200) {
          if (!answer.ok) say(`${what}: refused (${answer.code}: ${answer.message}) while stale keys should serve`);
          else staleOk++;
        } else if (sent > until + 1000) { // the runtime read the answer a little after the proxy sent it
          if (answer.ok || answer.code !== "jwks_fetch_failed") say(`${what}: ${JSON.stringify(answer)}, want jwks_fetch_failed past staleMax`);
          else downRefused++;
        }
        continue;
      }
      const isRevoked = revoked && token.kid === revoked.kid && r.done > revoked.at;
      if (!isRevoked) {
        if (answer.ok) accepted++;
        else say(`${what}: a valid token refused (${answer.code}: ${answer.message})`);
      } else if (firstAfter && sent > firstAfter.end + 500) { // its answer read and taken up
        if (answer.ok || answer.code !== "token_key_unknown") say(`${what}: ${JSON.stringify(answer)} after the JWKS dropped the revoked key`);
        else refusedRevoked++;
      }
    }
    if (!staleOk) say("no token verified on stale keys while the server was down");
    if (!downRefused) say("no jwks_fetch_failed once staleMax had passed");
    const notModified = log.filter((f) => f.status === 304).length;
    console.log(`  ${rt.name.padEnd(12)} ${accepted} valid tokens accepted, 0 refused; ${refusedRevoked} of the revoked key refused ` +
      `(from ${firstAfter ? `${firstAfter.end - revoked.at} ms` : "-"} after the revocation, 1 refetch); ` +
      `JWKS fetches ${rotating.length} (${notModified} answered 304) in ${duration.toFixed(1)} s, bound ${bound}, ` +
      `early ${early.length}; server down: ${staleOk} on stale keys, then ${downRefused} jwks_fetch_failed`);
  }
  if (pageErrors.length) problems.push(`chromium page errors: ${pageErrors.join("; ")}`);
  if (problems.length) fail(`${problems.length} problem(s):\n    ${problems.join("\n    ")}`);
  console.log(`  ok: zero valid tokens refused in ${runtimes.length} runtimes over three rotations, a revocation, a retirement and an outage`);
} finally {
  for (const stop of stops.reverse()) await Promise.resolve().then(stop).catch(() => {});
  rmSync(data, { recursive: true, force: true });
  rmSync(profile, { recursive: true, force: true });
}
