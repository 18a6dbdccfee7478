// Vercel's edge runtime (the `edge-runtime` package, the sandbox `next dev` and `vercel
// dev` use): bundles edge-smoke.js with the "edge-light" condition (the package's
// worker.js). As Next.js does, each .wasm import becomes a global holding a
// WebAssembly.Module compiled inside the sandbox (wasm_<name>), then fetch is dispatched;
// the remoteJwks checks run against jwks-server.mjs (globalThis.JWKS_URL).
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { EdgeRuntime } from "edge-runtime";
import { bundle, here, out, report } from "./lib.mjs";
import { startJwksServer } from "./jwks-server.mjs";

const wasmFiles = new Map(); // global name -> path
const wasmAsGlobal = {
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
};

const file = await bundle(`${here}edge-smoke.js`, `${out}edge/edge.js`, {
  conditions: ["edge-light", "worker"],
  platform: "neutral",
  format: "iife",
  plugins: [wasmAsGlobal],
});
const runtime = new EdgeRuntime();
for (const [name, path] of wasmFiles) {
  runtime.context.__wasmBytes = new Uint8Array(readFileSync(path));
  runtime.evaluate(`globalThis.${name} = new WebAssembly.Module(__wasmBytes); delete globalThis.__wasmBytes;`);
}
const jwks = await startJwksServer();
try {
  runtime.evaluate(`globalThis.JWKS_URL = ${JSON.stringify(jwks.url)};`);
  runtime.evaluate(readFileSync(file, "utf8"));
  const response = await runtime.dispatchFetch("http://127.0.0.1/");
  await response.waitUntil();
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
  report(await response.json());
} finally {
  jwks.stop();
}
