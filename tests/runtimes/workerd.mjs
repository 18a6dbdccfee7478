// Cloudflare Workers: bundles a module worker with esbuild as Wrangler would (the
// "workerd" condition, so the package's worker.js, whose .wasm import becomes a separate
// wasm module), serves it with workerd on 127.0.0.1 and checks the answer.
//
//   node workerd.mjs smoke                 the smoke checks (worker-smoke.js), with the
//                                          remoteJwks checks against jwks-server.mjs
//   (example.mjs uses runWorker for examples/edge-worker.js)
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { bin, bundle, fetchRetry, freePort, here, out, report, start } from "./lib.mjs";
import { startJwksServer } from "./jwks-server.mjs";

/**
 * Bundles `entry` into out/<name>/ and starts workerd on a free port. `bindings`: text
 * bindings ({ NAME: "value" }). Resolves to { url, stop, log, pid } (pid: workerd's).
 */
export async function runWorker(entry, name, bindings = {}) {
  const dir = `${out}${name}/`;
  mkdirSync(dir, { recursive: true });
  await bundle(entry, `${dir}worker.js`, {
    conditions: ["workerd", "worker"],
    platform: "neutral",
    // `import wasmModule from "./dist/tollgate_wasm_bg.wasm"` stays an import of a file
    // copied next to the bundle; the config below declares that file a wasm module.
    loader: { ".wasm": "copy" },
    assetNames: "[name]",
  });
  const port = await freePort();
  const text = Object.entries(bindings).map(([k, v]) => `(name = ${JSON.stringify(k)}, text = ${JSON.stringify(v)})`);
  // Each .wasm the bundle imports (the `tollgate/rsa` entry brings a second) is a module.
  const wasm = readdirSync(dir).filter((f) => f.endsWith(".wasm"))
    .map((f) => `    (name = ${JSON.stringify(f)}, wasm = embed ${JSON.stringify(f)}),`);
  writeFileSync(`${dir}config.capnp`, `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    # The default outbound network refuses private and local addresses.
    (name = "net", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
${wasm.join("\n")}
  ],
  bindings = [${text.join(", ")}],
  globalOutbound = "net",
  compatibilityDate = "2025-01-01",
);
`);
  const proc = start(bin("workerd"), ["serve", `${dir}config.capnp`], { ready: null });
  const url = `http://127.0.0.1:${port}/`;
  await Promise.race([fetchRetry(url), proc.exited.then((code) => {
    throw new Error(`workerd exited (${code})\n${proc.log()}`);
  })]);
  return { url, stop: proc.stop, log: proc.log, pid: proc.child.pid };
}

if (process.argv[2] === "smoke") {
  const jwks = await startJwksServer();
  const worker = await runWorker(`${here}worker-smoke.js`, "workerd", { JWKS_URL: jwks.url });
  try {
    const response = await fetch(`${worker.url}?remote`);
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}\n${worker.log()}`);
    report(await response.json());
  } finally {
    await worker.stop();
    jwks.stop();
  }
}
