// The page script of bundle.html, bundled by esbuild (the "browser" condition).
import * as tollgate from "tollgate";
import { smoke } from "../smoke.js";
import fixture from "../out/fixture.js";

const result = smoke(tollgate, fixture);
document.getElementById("out").textContent = JSON.stringify(result, null, 2);
window.result = result;
document.title = result.ok ? "passed" : "failed";
