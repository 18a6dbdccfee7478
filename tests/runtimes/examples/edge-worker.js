// A Cloudflare Worker that lets through only requests with a valid access token from a
// tollgate server, verified at the edge: no call to the server per request. The server's
// public keys (/.well-known/jwks.json, EdDSA or ES256) come from remoteJwks(): cached per
// isolate for the server's Cache-Control max-age (30 s to 10 min), refetched when a token
// names a key not cached (the server rotated its key; at most once per 30 s), and kept
// for an hour past their lifetime while the server cannot be reached.
//
// wrangler.toml:  [vars]  TOLLGATE_URL = "https://auth.example.com"
import { Verifier, TollgateError, bearer, remoteJwks } from "tollgate";

const OPTIONS = { algorithm: "EdDSA", type: "access", leeway: 5 }; // the server's TOLLGATE_ALGORITHM
let verifier; // once per isolate; add `{ cache: workersCache() }` to start new isolates warm

/** The token's claims, null without a Bearer token; throws TollgateError if invalid. */
async function authenticate(request, env) {
  const token = bearer(request.headers.get("Authorization"));
  if (token === null) return null;
  verifier ??= new Verifier(remoteJwks(new URL("/.well-known/jwks.json", env.TOLLGATE_URL)), OPTIONS);
  return verifier.verifyAsync(token);
}

/** The key server could not be asked (or answered nonsense): not the token's fault. */
const unavailable = (code) => code === "keys_not_loaded" || code.startsWith("jwks_");

function unauthorized(detail, code) {
  return Response.json({ detail, code }, { status: 401, headers: { "WWW-Authenticate": 'Bearer realm="api"' } });
}

export default {
  async fetch(request, env) {
    let claims;
    try {
      claims = await authenticate(request, env);
    } catch (error) {
      if (!(error instanceof TollgateError)) throw error;
      if (!unavailable(error.code)) return unauthorized(error.message, error.code);
      console.error(error.message); // the key server is unreachable
      return Response.json({ detail: "Authentication is unavailable", code: error.code }, { status: 503 });
    }
    if (claims === null) return unauthorized("Authentication credentials were not provided.", "not_authenticated");

    // Your application here: the claims are verified (user_id, plus any custom claims).
    return Response.json({ user_id: claims.user_id });
  },
};
