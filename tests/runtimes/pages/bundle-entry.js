// The page script of bundle.html, bundled by esbuild (the "browser" condition).
import * as tollgate from "tollgate";
import * as full from "tollgate/rsa";
import { algorithmsSmoke, smoke } from "../smoke.js";
import { remoteSmoke } from "../remote-smoke.js";
import fixture from "../out/fixture.js";

const result = smoke(tollgate, fixture);
const algorithms = algorithmsSmoke(full, tollgate, fixture);
result.checks.push(...algorithms.checks);
result.ok &&= algorithms.ok;
const jwks = new URLSearchParams(location.search).get("jwks");
if (jwks) {
  const remote = await remoteSmoke(tollgate, jwks, "bundle");
  result.checks.push(...remote.checks);
  result.ok &&= remote.ok;
}
document.getElementById("out").textContent = JSON.stringify(result, null, 2);
window.result = result;
document.title = result.ok ? "passed" : "failed";
