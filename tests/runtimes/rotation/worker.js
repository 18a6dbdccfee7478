// The edge worker of the rotation test (../rotation.mjs), run unchanged in workerd, Node,
// Deno, Bun, edge-runtime and Chromium: the edge-worker example's shape (a module worker
// that verifies the Bearer token with `verifyAsync` against a module-level
// `remoteJwks`), with the JWKS URL and the remoteJwks options from `env`, answering what
// the test judges: the token's jti or the error's code, and what its key source holds.
import { Verifier, TollgateError, bearer, remoteJwks } from "tollgate";

let verifier; // once per isolate, as in examples/edge-worker.js

export default {
  async fetch(request, env) {
    verifier ??= new Verifier(remoteJwks(env.JWKS_URL, JSON.parse(env.JWKS_OPTIONS)), {
      algorithm: "EdDSA",
      type: "access",
    });
    let body;
    try {
      const claims = await verifier.verifyAsync(bearer(request.headers.get("Authorization")));
      body = { ok: true, jti: claims.jti };
    } catch (error) {
      if (!(error instanceof TollgateError)) throw error;
      body = { ok: false, code: error.code, message: error.message };
    }
    const source = verifier.source;
    body.kids = source.jwks?.keys.map((k) => k.kid) ?? [];
    body.fetches = source.fetchCount;
    body.stale = source.stale;
    return Response.json(body);
  },
};
