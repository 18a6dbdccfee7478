// Browsers: Debian's chromium driven by playwright-core, on two pages served from
// 127.0.0.1: (a) the package's served files (its "browser" exports, the minified
// dist/browser.js and dist/rsa-browser.js) through an import map, (b) an esbuild bundle of
// the package as an app's bundler makes it, with the .wasm files copied where those entries
// look for them (next to the bundle: esbuild leaves
// `new URL("./tollgate_wasm_bg.wasm", import.meta.url)` as it is). Both pages also check
// the `tollgate/rsa` entry (algorithmsSmoke).
// (c) the `tollgate/client` entry (no wasm, dist/client.js) through an import map.
// The first two also run the remoteJwks checks against jwks-server.mjs (`?jwks=`); the
// failures those checks provoke on purpose are not page errors. Screenshots go to out/.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { bundle, chromiumOptions, here, out, report, serveFiles } from "./lib.mjs";
import { startJwksServer } from "./jwks-server.mjs";

const pkg = join(here, "../../pkg/");
for (const entry of ["browser.js", "rsa-browser.js"]) {
  // The entries leave remoteJwks()'s fetching half to dist/remote-fetch.js (loaded on use).
  if (readFileSync(`${pkg}dist/${entry}`, "utf8").includes("HMAC (oct) key")) throw new Error(`dist/${entry} bundles remote-fetch.js`);
}
mkdirSync(`${out}bundle`, { recursive: true });
await bundle(`${here}pages/bundle-entry.js`, `${out}bundle/app.js`, { conditions: ["browser"], platform: "browser" });
for (const wasm of ["tollgate_wasm_bg.wasm", "tollgate_rsa_bg.wasm"]) copyFileSync(`${pkg}dist/${wasm}`, `${out}bundle/${wasm}`);

const server = await serveFiles();
const base = server.url;

const jwks = await startJwksServer();
const fromJwks = (url) => typeof url === "string" && url.startsWith(jwks.url);

const profile = mkdtempSync(join(tmpdir(), "tollgate-chromium-"));
const context = await chromium.launchPersistentContext(profile, chromiumOptions);
let failed = 0;
try {
  for (const name of ["import-map", "bundle", "client-entry"]) {
    console.log(` ${name}.html`);
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    page.on("console", (msg) => msg.type() === "error" && !fromJwks(msg.location()?.url) && errors.push(msg.text()));
    page.on("response", (r) => r.status() >= 400 && !fromJwks(r.url()) && errors.push(`HTTP ${r.status()} ${r.url()}`));
    const requested = [];
    page.on("request", (r) => requested.push(r.url()));
    try {
      await page.goto(`${base}/pages/${name}.html?jwks=${encodeURIComponent(jwks.url)}`);
      await page.waitForFunction(() => window.result !== undefined, null, { timeout: 10000 })
        .catch(() => { throw new Error(`no result: ${errors.join("\n") || "(no page errors)"}`); });
      await page.screenshot({ path: `${out}browser-${name}.png` });
      report(await page.evaluate(() => window.result));
      // remoteJwks()'s fetching half is a file of its own (dist/remote-fetch.js), imported
      // on a key source's first fetch: served, loaded once the page's remote checks fetched.
      if (name === "import-map" && !requested.some((url) => url.endsWith("/dist/remote-fetch.js"))) {
        errors.push("dist/remote-fetch.js was never loaded, though the page fetched a JWKS");
      }
      if (errors.length) throw new Error(`page errors: ${errors.join("\n")}`);
    } catch (error) {
      failed++;
      console.log(`  FAIL ${error.message}`);
    } finally {
      await page.close();
    }
  }
} finally {
  await context.close();
  server.stop();
  jwks.stop();
  rmSync(profile, { recursive: true, force: true });
}
if (failed) throw new Error(`${failed} page(s) failed`);
