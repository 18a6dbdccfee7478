// tollgate beside jose inside workerd (Cloudflare Workers' runtime), per algorithm: the
// worker (workerd-worker.js, bundled as Wrangler would) runs n verifications of one row
// per request, rows taking turns across requests in a rotating order, round after round.
// Timed from outside, because workerd's clock advances only on I/O: the CPU time of the
// workerd process (every thread's, from /proc/<pid>/task/*/schedstat, in ns) and the
// wall clock around each request, each minus an empty request's (the same n, no work).
// Figures: the median over rounds of ops per CPU second and ops/s, beside a bare
// subtle.verify row (the bound for every library); the worker's own
// performance.now() reading is reported beside, to show whether it moved.
//
//   node bench/js/workerd.mjs            every algorithm (a few minutes)
//   node bench/js/workerd.mjs --quick    ES256 and EdDSA, a few small rounds (a smoke test)
//   node bench/js/workerd.mjs --algs=ES256,EdDSA --rounds=9    those algorithms, 9 rounds
//
// Needs tests/runtimes/node_modules (workerd, esbuild), bench/js/node_modules (jose) and
// pkg/dist (scripts/build-pkg.sh); bench/js/run.sh --workerd runs it after the Node run.
// Exits non-zero when a row gives a wrong answer (checked once per algorithm, before
// timing: the claims, and a tampered token refused).
import { readFileSync, readdirSync } from "node:fs";
import { loadavg } from "node:os";
import { runWorker } from "../../tests/runtimes/workerd.mjs";

const quick = process.argv.includes("--quick");
const root = new URL("../../", import.meta.url);
const readJson = (path) => JSON.parse(readFileSync(new URL(path, root), "utf8"));
const keys = readJson("tests/vectors/keys.json");
const vectors = new Map(readJson("tests/vectors/generated.json").vectors.map((v) => [v.name, v]));
const only = process.argv.find((arg) => arg.startsWith("--algs="))?.slice(7).split(",");
const ALGS = only ?? (quick
  ? ["ES256", "EdDSA"]
  : ["HS256", "HS384", "HS512", "EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]);
const ROWS = ["verifyAsync", "verifyAsync-64", "verify", "jose", "jose-64", "bare"];
const ROUNDS = Number(process.argv.find((arg) => arg.startsWith("--rounds="))?.slice(9) ?? (quick ? 2 : 5));
const TARGET_MS = quick ? 20 : 150; // wall time per request, from a calibration
const keyName = { HS: "hmac", EdDSA: "ed25519", ES256: "es256", ES384: "es384", ES512: "es512", RS: "rsa", PS: "rsa" };

/** CPU time of every thread of `pid` so far, in ns. */
function cpuNs(pid) {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // a thread that ended meanwhile
    }
  }
  return total;
}

const loadAtStart = loadavg()[0];
const worker = await runWorker(new URL("bench/js/workerd-worker.js", root).pathname, "bench-workerd");
const results = [];
try {
  for (const alg of ALGS) {
    const v = vectors.get(`gen-${alg.toLowerCase()}-access`);
    const spec = keys[keyName[alg] ?? keyName[alg.slice(0, 2)]];
    if (!v || !spec) throw new Error(`no vector or key for ${alg}`);
    const setup = await fetch(`${worker.url}setup`, {
      method: "POST",
      body: JSON.stringify({ alg, token: v.token, now: v.now, key: alg.startsWith("HS") ? spec.secret : spec.public_jwk }),
    });
    if (!setup.ok) throw new Error(`${alg}: ${await setup.text()}`);
    const request = async (row, n) => {
      const cpu0 = cpuNs(worker.pid);
      const t0 = performance.now();
      const response = await fetch(`${worker.url}run?alg=${alg}&row=${row}&n=${n}`);
      const body = await response.text();
      const wall = performance.now() - t0;
      const cpu = (cpuNs(worker.pid) - cpu0) / 1e6;
      if (response.status === 404) return null; // a row this algorithm has not (bare for HMAC)
      if (!response.ok) throw new Error(`${alg} ${row}: HTTP ${response.status} ${body}`);
      return { wall, cpu, inside: JSON.parse(body).ms };
    };
    // n per row: what takes about TARGET_MS of wall time (measured with 8 calls).
    const n = {};
    const rows = [];
    for (const row of ROWS) {
      const probe = await request(row, 8);
      if (probe === null) continue;
      rows.push(row);
      n[row] = Math.max(8, Math.round((TARGET_MS / Math.max(probe.wall, 0.01)) * 8));
    }
    const per = Object.fromEntries(ROWS.map((row) => [row, { cpu: [], wall: [], inside: [] }]));
    for (let round = 0; round < ROUNDS; round++) {
      const order = rows.map((_, i) => rows[(i + round) % rows.length]);
      for (const row of order) {
        const empty = await request("empty", n[row]);
        const got = await request(row, n[row]);
        // A difference at or below zero (the empty request was the slower, under load) is
        // no reading: left out, and a row without readings is shown as "–".
        if (got.cpu > empty.cpu) per[row].cpu.push((got.cpu - empty.cpu) / n[row]);
        if (got.wall > empty.wall) per[row].wall.push((got.wall - empty.wall) / n[row]);
        per[row].inside.push(got.inside);
      }
    }
    const median = (list) => (list.length === 0 ? NaN : [...list].sort((a, b) => a - b)[list.length >> 1]);
    const row = { alg };
    for (const name of ROWS) {
      row[name] = {
        cpuOps: 1000 / median(per[name].cpu),
        wallOps: 1000 / median(per[name].wall),
        insideMs: median(per[name].inside),
      };
    }
    results.push(row);
    const ops = (value) => (Number.isFinite(value) ? Math.round(value).toLocaleString("en") : "–");
    const ratio = (value) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : "–");
    const fmt = (r) => `${ops(r.wallOps)} / ${ops(r.cpuOps)}`;
    const best = Math.max(row.jose.cpuOps, row["jose-64"].cpuOps);
    const bestWall = Math.max(row.jose.wallOps, row["jose-64"].wallOps);
    const ours = row.verifyAsync;
    const ours64 = row["verifyAsync-64"];
    console.log(
      `| ${alg} | **${fmt(ours)}** | ${fmt(ours64)} | ${fmt(row.verify)} | ${fmt(row.jose)} | ${fmt(row["jose-64"])} | ` +
        `${ratio(Math.max(ours.wallOps, ours64.wallOps) / bestWall)} / ${ratio(Math.max(ours.cpuOps, ours64.cpuOps) / best)} |` +
        ` ${fmt(row.bare)} | ${ratio(Math.max(ours.cpuOps, ours64.cpuOps) / row.bare.cpuOps)} |` +
        ` ${row.verifyAsync.insideMs.toFixed(1)} ms |`,
    );
  }
} finally {
  await worker.stop();
}
console.log(`load average ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end; rounds ${ROUNDS}, about ${TARGET_MS} ms a request`);
console.log("columns: verifyAsync | verifyAsync, 64 in flight | verify (module math) | jose | jose, 64 in flight | tollgate vs best jose (ops/s / per CPU s) | bare subtle.verify | tollgate vs bare (per CPU s) | performance.now() across a verifyAsync request");
