// Bundles and minifies the package's browser entries into pkg/dist/ (run by
// scripts/build-pkg.sh after wasm-bindgen): dist/browser.js (`tollgate` in browsers),
// dist/rsa-browser.js (`tollgate/rsa`) and dist/client.js (`tollgate/client`), each one
// file with the entry's src/*.js and the wasm-bindgen glue, so a browser makes one request
// for the JS instead of nine. The readable sources stay in git and are what Node, Deno,
// Bun and edge workers import (their own bundlers minify, and they read files from disk).
//
// Three things stay outside the bundles:
// - the fetching half of remoteJwks (src/remote-fetch.js), which remote.js imports with
//   import() on a key source's first fetch: minified on its own into dist/remote-fetch.js
//   (no imports of its own), so a browser loads it only when remoteJwks() fetches;
// - the wasm-bindgen error snippet (dist/snippets/*/js/error.js): every entry and the
//   glue import that one file, so TollgateError is one class however many entries an app
//   imports (`instanceof` holds across `tollgate` and `tollgate/client`); the native-math
//   snippet (js/native.js) is bundled: its one state is a global symbol slot, which a copy
//   in each bundle shares;
// - the .wasm: `new URL("./dist/X_bg.wasm", import.meta.url)` in the entry becomes
//   `new URL("./X_bg.wasm", ...)`, relative to the bundle in dist/.
//
//   node scripts/bundle-pkg.mjs <path of esbuild's package>
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "../pkg/");
const esbuild = createRequire(join(resolve(process.argv[2]), "package.json"))("esbuild");

const entries = ["browser.js", "rsa-browser.js", "client.js"];
const distPaths = {
  name: "tollgate-dist-paths",
  setup(build) {
    build.onResolve({ filter: /^\.\/snippets\/.*\/error\.js$/ }, (args) => ({ path: args.path, external: true }));
    // remote.js's import("./remote-fetch.js"): the file bundled on its own below, next to
    // the entries in dist/.
    build.onResolve({ filter: /^\.\/remote-fetch\.js$/ }, (args) => ({ path: args.path, external: true }));
    build.onLoad({ filter: /\.js$/ }, (args) => {
      let contents = readFileSync(args.path, "utf8");
      if (entries.some((entry) => args.path === join(pkg, entry))) {
        const before = contents;
        contents = contents.replace(/new URL\("\.\/dist\/([a-z_]+_bg\.wasm)"/g, 'new URL("./$1"');
        if (before.includes("_bg.wasm") && before === contents) throw new Error(`${args.path}: no wasm URL to rewrite`);
      }
      return { contents, loader: "js" };
    });
  },
};

// `src/remote-fetch.js` is minified on its own and stays outside the entries' bundles.
for (const [source, entry] of [...entries.map((e) => [e, e]), ["src/remote-fetch.js", "remote-fetch.js"]]) {
  const result = await esbuild.build({
    entryPoints: [join(pkg, source)],
    outfile: join(pkg, "dist", entry),
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    legalComments: "none",
    logLevel: "error",
    metafile: true,
    plugins: [distPaths],
  });
  const inputs = Object.keys(result.metafile.inputs).length;
  const [out] = Object.values(result.metafile.outputs);
  console.log(`pkg/dist/${entry}: ${out.bytes} bytes from ${inputs} files`);
}
