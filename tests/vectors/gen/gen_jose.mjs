// Write OUTDIR/jose.json: Simple JWT-shaped token vectors signed by the `jose` npm package
// (SignJWT + importJWK with keys from tests/vectors/keys.json); format in tests/vectors/README.md.
// Deterministic (issued at 1700000000, jti = counter as 32 hex digits) except ECDSA and PSS
// signatures.
// Usage: node gen_jose.mjs OUTDIR   (run with tests/node_modules installed: setup.sh)
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT, decodeJwt, decodeProtectedHeader, importJWK } from "jose";

const here = dirname(fileURLToPath(import.meta.url));
const keys = JSON.parse(readFileSync(join(here, "..", "keys.json"), "utf8"));
const joseVersion = createRequire(import.meta.url)("jose/package.json").version;

const T0 = 1700000000;
const NOW = T0 + 100;
const ACCESS = 30 * 60;
const SIGNING_KEY = {
  HS256: "hmac", HS512: "hmac", EdDSA: "ed25519", ES256: "es256", ES384: "es384", ES512: "es512",
  RS256: "rsa", RS384: "rsa", RS512: "rsa", PS256: "rsa", PS384: "rsa", PS512: "rsa",
};
const NEW_ALGS = ["ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
const MESSAGES = { token_expired: "Token is expired", token_signature_invalid: "Token is invalid" };

let counter = 0;
const jti = () => (++counter).toString(16).padStart(32, "0");

// Same claim order as Simple JWT: token_type, exp, iat, jti, user_id, then custom claims.
function claims(extra = {}) {
  return {
    token_type: "access",
    exp: T0 + ACCESS,
    iat: T0,
    jti: jti(),
    user_id: "42",
    username: "alice",
    email: "alice@example.com",
    is_staff: false,
    ...extra,
  };
}

async function sign(payload, alg, keyName = SIGNING_KEY[alg], header = { alg, typ: "JWT" }) {
  const entry = keys[keyName];
  const key = await importJWK(entry.jwk ?? entry.private_jwk, alg);
  return new SignJWT(payload).setProtectedHeader(header).sign(key);
}

function row(name, description, token, algorithm, { key, now = NOW, expectType = "access", fail } = {}) {
  const vector = {
    name: `jose-${name}`,
    description,
    algorithm,
    key: key ?? SIGNING_KEY[algorithm],
    now,
    leeway: 0,
    audience: null,
    issuer: null,
    expect_type: expectType,
    blacklisted: [],
    token,
    expect_fail: fail !== undefined,
  };
  if (fail === undefined) {
    vector.header = decodeProtectedHeader(token);
    vector.claims = decodeJwt(token);
  } else {
    vector.code = fail;
    vector.message = MESSAGES[fail];
  }
  return vector;
}

const rows = [];
for (const alg of ["HS256", "HS512", "EdDSA", "ES256", ...NEW_ALGS]) {
  const a = alg.toLowerCase();
  rows.push(row(`${a}-access-valid`, `${alg} access token`, await sign(claims(), alg), alg));
}
for (const alg of NEW_ALGS) {
  const a = alg.toLowerCase();
  const other = `${SIGNING_KEY[alg]}-other`;
  rows.push(
    row(`${a}-wrong-key`, `${alg} token signed with ${other}`, await sign(claims(), alg, other), alg,
      { fail: "token_signature_invalid" }),
    row(`${a}-kid-jwks`, `${alg} token with a kid header, verifier given a key set of both keys`,
      await sign(claims(), alg, SIGNING_KEY[alg], { alg, kid: keys[SIGNING_KEY[alg]].kid, typ: "JWT" }), alg,
      { key: { keys: [other, SIGNING_KEY[alg]] } }),
  );
}
rows.push(
  row("hs256-refresh-valid", "HS256 refresh token",
    await sign(claims({ token_type: "refresh", exp: T0 + 3 * 86400 }), "HS256"), "HS256",
    { expectType: "refresh" }),
  row("hs256-expired-at-exp", "HS256 access token verified at now == exp",
    await sign(claims(), "HS256"), "HS256", { now: T0 + ACCESS, fail: "token_expired" }),
  row("hs256-wrong-key", "HS256 token signed with hmac-other",
    await sign(claims(), "HS256", "hmac-other"), "HS256", { fail: "token_signature_invalid" }),
  row("eddsa-wrong-key", "EdDSA token signed with ed25519-other",
    await sign(claims(), "EdDSA", "ed25519-other"), "EdDSA", { fail: "token_signature_invalid" }),
  row("eddsa-kid-header", "EdDSA token with a kid header (RFC 7638 thumbprint)",
    await sign(claims(), "EdDSA", "ed25519", { alg: "EdDSA", kid: keys.ed25519.kid, typ: "JWT" }), "EdDSA"),
  row("eddsa-inline-jwk", "EdDSA token, verifying key given as an inline public JWK",
    await sign(claims(), "EdDSA"), "EdDSA", { key: keys.ed25519.public_jwk }),
  row("es256-inline-jwk", "ES256 token, verifying key given as an inline public JWK",
    await sign(claims(), "ES256"), "ES256", { key: keys.es256.public_jwk }),
  row("hs256-inline-jwk", "HS256 token, verifying key given as an inline oct JWK",
    await sign(claims(), "HS256"), "HS256", { key: keys.hmac.jwk }),
  row("unicode-username", "non-ASCII claim as JSON.stringify writes it (raw UTF-8)",
    await sign(claims({ username: "José Ünal 日本 🎉" }), "HS256"), "HS256"),
);

const outDir = process.argv[2];
if (!outDir) throw new Error("usage: node gen_jose.mjs OUTDIR");
mkdirSync(outDir, { recursive: true });
const file = { source: `jose ${joseVersion}`, vectors: rows };
writeFileSync(join(outDir, "jose.json"), JSON.stringify(file, null, 2) + "\n");
