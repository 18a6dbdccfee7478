// A Cloudflare Worker that lets through only requests with a valid access token from a
// tollgate server, verified at the edge: no call to the server per request. The server's
// public keys (/.well-known/jwks.json, EdDSA or ES256) are fetched once per isolate and
// cached; a token signed by a key we do not know yet (the server rotated its key) makes
// us fetch them again, at most once a minute.
//
// wrangler.toml:  [vars]  TOLLGATE_URL = "https://auth.example.com"
import { Verifier, TollgateError, bearer } from "tollgate";

const OPTIONS = { algorithm: "EdDSA", type: "access", leeway: 5 }; // the server's TOLLGATE_ALGORITHM
const REFETCH_AFTER_MS = 60_000;
let cached; // { verifier: Promise<Verifier>, at: time of the fetch }

function keys(env, { refetch = false } = {}) {
  if (!cached || (refetch && Date.now() - cached.at > REFETCH_AFTER_MS)) {
    const verifier = fetch(new URL("/.well-known/jwks.json", env.TOLLGATE_URL)).then(async (response) => {
      if (!response.ok) throw new Error(`JWKS: HTTP ${response.status}`);
      return new Verifier(await response.json(), OPTIONS);
    });
    cached = { verifier, at: Date.now() };
    // A failed fetch is not cached: the next request tries again.
    verifier.catch(() => cached?.verifier === verifier && (cached = undefined));
  }
  return cached.verifier;
}

/** The token's claims, null without a Bearer token; throws TollgateError if invalid. */
async function authenticate(request, env) {
  const token = bearer(request.headers.get("Authorization"));
  if (token === null) return null;
  try {
    return (await keys(env)).verify(token);
  } catch (error) {
    if (error.code !== "token_key_unknown") throw error;
    return (await keys(env, { refetch: true })).verify(token);
  }
}

function unauthorized(detail, code) {
  return Response.json({ detail, code }, { status: 401, headers: { "WWW-Authenticate": 'Bearer realm="api"' } });
}

export default {
  async fetch(request, env) {
    let claims;
    try {
      claims = await authenticate(request, env);
    } catch (error) {
      if (error instanceof TollgateError) return unauthorized(error.message, error.code);
      console.error(error); // the key server is unreachable
      return Response.json({ detail: "Authentication is unavailable" }, { status: 503 });
    }
    if (claims === null) return unauthorized("Authentication credentials were not provided.", "not_authenticated");

    // Your application here: the claims are verified (user_id, plus any custom claims).
    return Response.json({ user_id: claims.user_id });
  },
};
