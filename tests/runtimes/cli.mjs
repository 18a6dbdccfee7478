// Node, Bun and Deno: import the package by name (its "node"/"bun"/"deno" condition).
import * as tollgate from "tollgate";
import { smoke } from "./smoke.js";
import fixture from "./out/fixture.js";

const result = smoke(tollgate, fixture);
for (const c of result.checks) console.log(`  ${c.ok ? "ok" : "FAIL"} ${c.name}${c.ok ? "" : `\n${c.error}`}`);
if (!result.ok) throw new Error("smoke checks failed");
