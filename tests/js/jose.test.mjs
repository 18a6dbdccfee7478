// Interop with `jose`, both ways, for HS256, EdDSA and ES256: tokens jose signs verify in
// tollgate; tokens tollgate-core minted (tests/vectors/generated.json) verify in jose.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as jose from "jose";
import { Verifier, TollgateError } from "tollgate";

const generated = JSON.parse(readFileSync(new URL("../vectors/generated.json", import.meta.url), "utf8")).vectors;
const keys = JSON.parse(readFileSync(new URL("../vectors/keys.json", import.meta.url), "utf8"));
const now = Math.floor(Date.now() / 1000);

function claims() {
  return {
    token_type: "access",
    exp: now + 300,
    iat: now,
    jti: crypto.randomUUID().replaceAll("-", ""),
    user_id: "42",
    username: "alice",
  };
}

for (const alg of ["HS256", "EdDSA", "ES256"]) {
  test(`jose-signed ${alg} tokens verify in tollgate`, async () => {
    let signKey;
    let verifyKey;
    if (alg === "HS256") {
      const secret = crypto.getRandomValues(new Uint8Array(32));
      signKey = secret;
      verifyKey = secret;
    } else {
      const pair = await jose.generateKeyPair(alg, { extractable: true, crv: alg === "EdDSA" ? "Ed25519" : undefined });
      signKey = pair.privateKey;
      verifyKey = await jose.exportJWK(pair.publicKey);
    }
    const verifier = new Verifier(verifyKey, { algorithm: alg, type: "access" });
    for (let i = 0; i < 20; i++) {
      const payload = claims();
      const token = await new jose.SignJWT(payload).setProtectedHeader({ alg, typ: "JWT" }).sign(signKey);
      assert.deepEqual(verifier.verify(token), payload);
      // A flipped signature byte is refused.
      const [h, p, s] = token.split(".");
      const sig = Buffer.from(s, "base64url");
      sig[0] ^= 1;
      assert.throws(() => verifier.verify(`${h}.${p}.${sig.toString("base64url")}`), (e) => e instanceof TollgateError && e.code === "token_signature_invalid");
    }
    // Expired by jose's clock is expired by ours.
    const old = { ...claims(), exp: now - 1 };
    const expired = await new jose.SignJWT(old).setProtectedHeader({ alg, typ: "JWT" }).sign(signKey);
    assert.throws(() => verifier.verify(expired), (e) => e.code === "token_expired");
  });

  test(`tollgate-minted ${alg} tokens verify in jose`, async () => {
    const valid = generated.filter((v) => v.algorithm === alg && !v.expect_fail && typeof v.key === "string");
    assert.ok(valid.length >= 3);
    for (const v of valid) {
      const entry = keys[v.key];
      const key = alg === "HS256" ? new TextEncoder().encode(entry.secret) : await jose.importJWK(entry.public_jwk, alg);
      const { payload } = await jose.jwtVerify(v.token, key, {
        algorithms: [alg],
        currentDate: new Date(v.now * 1000),
        clockTolerance: v.leeway ?? 0,
        audience: v.audience ?? undefined,
        issuer: v.issuer ?? undefined,
      });
      assert.deepEqual(payload, v.claims, v.name);
    }
  });
}
