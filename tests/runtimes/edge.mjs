// Vercel's edge runtime (the `edge-runtime` package, the sandbox `next dev` and `vercel
// dev` use): bundles edge-smoke.js with the "edge-light" condition (the package's
// worker.js). As Next.js does, each .wasm import becomes a global holding a
// WebAssembly.Module compiled inside the sandbox (wasm_<name>), then fetch is dispatched;
// the remoteJwks checks run against jwks-server.mjs (globalThis.JWKS_URL).
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { EdgeRuntime } from "edge-runtime";
import { bundle, here, out, report } from "./lib.mjs";
import { startJwksServer } from "./jwks-server.mjs";

const wasmAsGlobal = (wasmFiles) => ({
  name: "wasm-as-global",
  setup(build) {
    build.onResolve({ filter: /\.wasm$/ }, ({ path, resolveDir }) => ({
      path: new URL(path, `file://${resolveDir}/`).pathname,
      namespace: "wasm-global",
    }));
    build.onLoad({ filter: /.*/, namespace: "wasm-global" }, ({ path }) => {
      const name = `wasm_${basename(path, ".wasm")}`;
      wasmFiles.set(name, path);
      return { contents: `export default globalThis.${name};`, loader: "js" };
    });
  },
});

/**
 * An EdgeRuntime running `entry` bundled as Next.js would, with `globals` ({ NAME: value },
 * JSON-serializable) set first. Dispatch with `runtime.dispatchFetch(url, init)`.
 */
export async function edgeRuntime(entry, name, globals = {}) {
  const wasmFiles = new Map(); // global name -> path
  const file = await bundle(entry, `${out}${name}/edge.js`, {
    conditions: ["edge-light", "worker"],
    platform: "neutral",
    format: "iife",
    plugins: [wasmAsGlobal(wasmFiles)],
  });
  const runtime = new EdgeRuntime();
  for (const [global, path] of wasmFiles) {
    runtime.context.__wasmBytes = new Uint8Array(readFileSync(path));
    runtime.evaluate(`globalThis.${global} = new WebAssembly.Module(__wasmBytes); delete globalThis.__wasmBytes;`);
  }
  for (const [global, value] of Object.entries(globals)) {
    runtime.evaluate(`globalThis.${global} = ${JSON.stringify(value)};`);
  }
  runtime.evaluate(readFileSync(file, "utf8"));
  return runtime;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const jwks = await startJwksServer();
  try {
    const runtime = await edgeRuntime(`${here}edge-smoke.js`, "edge", { JWKS_URL: jwks.url });
    const response = await runtime.dispatchFetch("http://127.0.0.1/");
    await response.waitUntil();
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
    report(await response.json());
  } finally {
    jwks.stop();
  }
}
