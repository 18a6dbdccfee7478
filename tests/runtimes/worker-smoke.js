// The smoke checks as a module worker (Cloudflare Workers / workerd): answers with the
// smoke() result as JSON.
import * as tollgate from "tollgate";
import { smoke } from "./smoke.js";
import fixture from "./out/fixture.js";

export default {
  async fetch() {
    return Response.json(smoke(tollgate, fixture));
  },
};
