// Every shared vector and every malleability vector through every signature path of the
// package (native-paths.js) in workerd and in Chromium, where verify() is the module's math
// and verifyAsync() WebCrypto's (Node, Bun and Deno: native-cli.mjs).
//
//   node native.mjs workerd | node native.mjs chromium
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundle, chromiumOptions, fetchRetry, here, out, serveFiles } from "./lib.mjs";
import { runWorker } from "./workerd.mjs";

const dir = new URL("../vectors/", import.meta.url);
const read = (name) => JSON.parse(readFileSync(new URL(name, dir), "utf8"));
const names = [...readdirSync(dir).filter((f) => f.endsWith(".json") && f !== "keys.json").sort(), "native/malleable.json"];
mkdirSync(out, { recursive: true });
writeFileSync(`${out}native-data.js`, `export default ${JSON.stringify({ keys: read("keys.json"), files: names.map((name) => ({ name, vectors: read(name).vectors })) })};\n`);

function check(where, result) {
  console.log(`${where}: ${result.total} vectors, ${result.runs} runs, native checks asked ${JSON.stringify(result.asked)}, ${result.differences} differences`);
  for (const m of result.mismatches ?? []) console.log(`  ${m}`);
  if (result.error) throw new Error(result.error);
  // verify() keeps the module's math here; verifyAsync() (default and "webcrypto") asks WebCrypto.
  if (result.differences !== 0 || result.total < 560 || result.asked.wasm !== 0 || result.asked.native !== 0 || !(result.asked.async > 200 && result.asked.webcrypto > 200)) {
    throw new Error(`${where}: signature paths differ (or WebCrypto was not asked)`);
  }
}

const where = process.argv[2];
if (where === "workerd") {
  const worker = await runWorker(`${here}native-entry.js`, "native-workerd");
  try {
    const response = await fetchRetry(worker.url);
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}\n${worker.log()}`);
    check("workerd", await response.json());
  } finally {
    await worker.stop();
  }
} else if (where === "chromium") {
  const { chromium } = await import("playwright-core");
  const pkg = join(here, "../../pkg/");
  mkdirSync(`${out}native-page`, { recursive: true });
  await bundle(`${here}native-entry.js`, `${out}native-page/app.js`, { conditions: ["browser"], platform: "browser" });
  // Next to the bundle: the browser entries (dist/*.js) look for the .wasm beside them.
  for (const wasm of ["tollgate_wasm_bg.wasm", "tollgate_rsa_bg.wasm"]) copyFileSync(`${pkg}dist/${wasm}`, `${out}native-page/${wasm}`);
  writeFileSync(`${out}native-page/index.html`, `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><script type="module" src="app.js"></script>\n`);
  const server = await serveFiles();
  const profile = mkdtempSync(join(tmpdir(), "tollgate-chromium-"));
  const context = await chromium.launchPersistentContext(profile, chromiumOptions);
  try {
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    await page.goto(`${server.url}/out/native-page/index.html`);
    await page.waitForFunction(() => window.result !== undefined, null, { timeout: 100000 }).catch(() => {
      throw new Error(`no result: ${errors.join("\n") || "(no page errors)"}`);
    });
    check(`chromium ${context.browser()?.version() ?? ""}`.trim(), await page.evaluate(() => window.result));
  } finally {
    await context.close();
    server.stop();
    rmSync(profile, { recursive: true, force: true });
  }
} else {
  console.error("usage: node native.mjs workerd|chromium");
  process.exit(2);
}
