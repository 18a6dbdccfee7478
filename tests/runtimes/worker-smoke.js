// The smoke checks as a module worker (Cloudflare Workers / workerd): answers with the
// smoke() result as JSON, plus the remoteJwks checks when bound to a JWKS_URL and asked
// for them (`?remote`: not on runWorker's readiness probe, which would warm the cache).
import * as tollgate from "tollgate";
import * as full from "tollgate/rsa";
import { algorithmsSmoke, smoke } from "./smoke.js";
import { remoteSmoke } from "./remote-smoke.js";
import fixture from "./out/fixture.js";

export default {
  async fetch(request, env) {
    const result = smoke(tollgate, fixture);
    const algorithms = algorithmsSmoke(full, tollgate, fixture);
    result.checks.push(...algorithms.checks);
    result.ok &&= algorithms.ok;
    if (env.JWKS_URL && new URL(request.url).searchParams.has("remote")) {
      const remote = await remoteSmoke(tollgate, env.JWKS_URL, "workerd");
      result.checks.push(...remote.checks, {
        name: "remote: Workers detected (no shared fetches)",
        ok: navigator.userAgent === "Cloudflare-Workers",
        error: `navigator.userAgent is ${navigator.userAgent}`,
      });
      result.ok = result.checks.every((c) => c.ok);
    }
    return Response.json(result);
  },
};
