// The smoke checks as a Vercel Edge function in the service-worker style the
// edge-runtime package dispatches to: answers with the smoke() result as JSON.
import * as tollgate from "tollgate";
import { smoke } from "./smoke.js";
import fixture from "./out/fixture.js";

addEventListener("fetch", (event) => {
  event.respondWith(Response.json(smoke(tollgate, fixture)));
});
