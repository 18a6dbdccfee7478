// Writes out/fixture.js: the vectors smoke.js needs, as a plain ES module that every
// runtime and bundler can import (no JSON import attributes needed).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";

const read = (path) => JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8"));
const vectors = read("../vectors/generated.json").vectors;
const vector = (name) => vectors.find((v) => v.name === name);
const keys = read("../vectors/keys.json");

const access = vector("gen-eddsa-access");
const fixture = {
  token: access.token,
  tampered: vector("gen-eddsa-signature-bit-flip").token,
  jwk: keys.ed25519.public_jwk,
  now: access.now,
  claims: access.claims,
  header: access.header,
  // For the `tollgate/rsa` entry (algorithmsSmoke): a valid and a tampered token of each
  // algorithm only its module has, with the verifying JWK.
  algorithms: ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES384", "ES512"].map((alg) => {
    const valid = vector(`gen-${alg.toLowerCase()}-access`);
    return {
      alg,
      token: valid.token,
      tampered: vector(`gen-${alg.toLowerCase()}-signature-bit-flip`).token,
      jwk: keys[valid.key].public_jwk,
      now: valid.now,
      claims: valid.claims,
    };
  }),
};
mkdirSync(new URL("./out/", import.meta.url), { recursive: true });
writeFileSync(new URL("./out/fixture.js", import.meta.url), `export default ${JSON.stringify(fixture, null, 2)};\n`);
