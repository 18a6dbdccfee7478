// Bun and Deno (and Node): every vector through every signature path of the package as
// imported by name (native-paths.js). Exits non-zero on any difference.
//   bun native-cli.mjs | deno run --allow-read --no-lock native-cli.mjs
import { readFileSync, readdirSync } from "node:fs";
import * as base from "tollgate";
import * as full from "tollgate/rsa";
import { comparePaths } from "./native-paths.js";

const dir = new URL("../vectors/", import.meta.url);
const read = (name) => JSON.parse(readFileSync(new URL(name, dir), "utf8"));
const names = [...readdirSync(dir).filter((f) => f.endsWith(".json") && f !== "keys.json").sort(), "native/malleable.json"];
const files = names.map((name) => ({ name, vectors: read(name).vectors }));
const { total, runs, mismatches, asked } = await comparePaths({ base, full, keys: read("keys.json"), files });
const runtime = globalThis.Deno ? `deno ${globalThis.Deno.version.deno}` : globalThis.Bun ? `bun ${globalThis.Bun.version}` : `node ${process.version}`;
console.log(`${runtime}: ${total} vectors, ${runs} runs, native checks asked ${JSON.stringify(asked)}, ${mismatches.length} differences`);
for (const m of mismatches.slice(0, 20)) console.log(`  ${m}`);
if (mismatches.length > 0 || total < 560 || asked.wasm !== 0 || !(asked.webcrypto > 200)) {
  throw new Error("signature paths differ (or a native path was not taken)");
}
