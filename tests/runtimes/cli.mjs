// Node, Bun and Deno: import the package by name (its "node"/"bun"/"deno" condition).
// The `tollgate/rsa` entry too (algorithmsSmoke). With a jwks-server.mjs URL as argument (run.sh passes one), also the remoteJwks checks.
import * as tollgate from "tollgate";
import * as full from "tollgate/rsa";
import { algorithmsSmoke, smoke } from "./smoke.js";
import { remoteSmoke } from "./remote-smoke.js";
import fixture from "./out/fixture.js";

const jwksUrl = globalThis.Deno ? globalThis.Deno.args[0] : process.argv[2];
const result = smoke(tollgate, fixture);
const algorithms = algorithmsSmoke(full, tollgate, fixture);
result.checks.push(...algorithms.checks);
result.ok &&= algorithms.ok;
if (jwksUrl) {
  const remote = await remoteSmoke(tollgate, jwksUrl, "cli");
  result.checks.push(...remote.checks);
  result.ok &&= remote.ok;
}
for (const c of result.checks) console.log(`  ${c.ok ? "ok" : "FAIL"} ${c.name}${c.ok ? "" : `\n${c.error}`}`);
if (!result.ok) throw new Error("smoke checks failed");
