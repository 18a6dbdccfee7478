// The smoke checks as a Vercel Edge function in the service-worker style the
// edge-runtime package dispatches to: answers with the smoke() result as JSON, plus the
// remoteJwks checks when the driver set globalThis.JWKS_URL.
import * as tollgate from "tollgate";
import * as full from "tollgate/rsa";
import { algorithmsSmoke, smoke } from "./smoke.js";
import { remoteSmoke } from "./remote-smoke.js";
import fixture from "./out/fixture.js";

async function run() {
  const result = smoke(tollgate, fixture);
  const algorithms = algorithmsSmoke(full, tollgate, fixture);
  result.checks.push(...algorithms.checks);
  result.ok &&= algorithms.ok;
  if (globalThis.JWKS_URL) {
    const remote = await remoteSmoke(tollgate, globalThis.JWKS_URL, "edge");
    result.checks.push(...remote.checks);
    result.ok &&= remote.ok;
  }
  return Response.json(result);
}

addEventListener("fetch", (event) => {
  event.respondWith(run());
});
