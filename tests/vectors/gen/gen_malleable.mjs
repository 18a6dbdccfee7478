// Malleability vectors for the npm package's native signature math (issue #17): signatures
// a native library might read differently from tollgate-core, derived from the valid tokens
// of generated.json (and, for RSA-PSS with other salt lengths, re-signed with keys.json's
// RSA key). Written to tests/vectors/native/malleable.json; tollgate-core's tests check
// every verdict (core/tests/vectors.rs), the package's tests run them through every path
// (tests/js/native.test.mjs, tests/runtimes).
//
//   node tests/vectors/gen/gen_malleable.mjs
//
// Deterministic but for the PSS signatures (random salts).
import crypto from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";

const dir = new URL("../", import.meta.url);
const keys = JSON.parse(readFileSync(new URL("keys.json", dir), "utf8"));
const base = new Map(JSON.parse(readFileSync(new URL("generated.json", dir), "utf8")).vectors.map((v) => [v.name, v]));

const ORDER = {
  ES256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  ES384: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  ES512: BigInt(`0x01${"f".repeat(64)}fa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409`),
};
const ED25519_ORDER = 2n ** 252n + 27742317777372353535851937790883648493n;

const toInt = (bytes) => BigInt(`0x${Buffer.from(bytes).toString("hex") || "0"}`);
const toBytes = (n, len) => Buffer.from(n.toString(16).padStart(len * 2, "0"), "hex");
const le = (bytes) => toInt(Buffer.from(bytes).reverse());
const toLe = (n, len) => toBytes(n, len).reverse();

/** A DER INTEGER of a non-negative big-endian value. */
function derInt(bytes) {
  let b = Buffer.from(bytes);
  while (b.length > 1 && b[0] === 0 && b[1] < 0x80) b = b.subarray(1);
  if (b[0] >= 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return Buffer.concat([Buffer.from([0x02, b.length]), b]);
}
function derLength(len) {
  return len < 0x80 ? Buffer.from([len]) : Buffer.from([0x81, len]);
}

const vectors = [];
/** A copy of generated.json's `from` with the signature replaced by `signature`. */
function variant(from, name, description, signature, fail = true) {
  const v = structuredClone(base.get(from));
  if (!v || v.expect_fail) throw new Error(`no valid ${from}`);
  v.name = name;
  v.description = description;
  v.token = `${v.token.slice(0, v.token.lastIndexOf("."))}.${Buffer.from(signature).toString("base64url")}`;
  if (fail) {
    v.expect_fail = true;
    v.code = "token_signature_invalid";
    v.message = "Token is invalid";
    delete v.claims;
    delete v.header;
  }
  vectors.push(v);
}
const signatureOf = (from) => Buffer.from(base.get(from).token.split(".")[2], "base64url");

for (const [alg, n] of Object.entries(ORDER)) {
  const from = `gen-${alg.toLowerCase()}-access`;
  const sig = signatureOf(from);
  const half = sig.length / 2;
  const [r, s] = [sig.subarray(0, half), sig.subarray(half)];
  const name = (what) => `native-${alg.toLowerCase()}-${what}`;
  const high = n - toInt(s);
  variant(from, name("other-s"), `${alg}: (r, n - s), the other valid S of a signature (ECDSA is malleable): accepted on every path`, Buffer.concat([r, toBytes(high, half)]), false);
  variant(from, name("r-zero"), `${alg}: r = 0`, Buffer.concat([Buffer.alloc(half), s]));
  variant(from, name("s-zero"), `${alg}: s = 0`, Buffer.concat([r, Buffer.alloc(half)]));
  variant(from, name("s-is-n"), `${alg}: s = n (out of range)`, Buffer.concat([r, toBytes(n, half)]));
  variant(from, name("s-plus-n"), `${alg}: s + n where it fits the field size, else n + 1 (same value mod n, out of range)`, Buffer.concat([r, toBytes(toInt(s) + n < 2n ** BigInt(8 * half) ? toInt(s) + n : n + 1n, half)]));
  const body = Buffer.concat([derInt(r), derInt(s)]);
  variant(from, name("der"), `${alg}: the valid signature DER-encoded (JWS wants raw r||s)`, Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]));
  variant(from, name("short"), `${alg}: the valid signature without its last byte`, sig.subarray(0, sig.length - 1));
  variant(from, name("long"), `${alg}: the valid signature with a zero byte appended`, Buffer.concat([sig, Buffer.alloc(1)]));
}

{
  const from = "gen-eddsa-access";
  const sig = signatureOf(from);
  const [R, S] = [sig.subarray(0, 32), sig.subarray(32)];
  variant(from, "native-eddsa-s-plus-l", "EdDSA: S + l, non-canonical S (same value mod l)", Buffer.concat([R, toLe(le(S) + ED25519_ORDER, 32)]));
  const identity = Buffer.alloc(32);
  identity[0] = 1;
  variant(from, "native-eddsa-small-order-r", "EdDSA: R the identity (small order), S = 0", Buffer.concat([identity, Buffer.alloc(32)]));
  variant(from, "native-eddsa-short", "EdDSA: the valid signature without its last byte", sig.subarray(0, 63));
  const topBits = Buffer.from(S);
  topBits[31] |= 0xe0;
  variant(from, "native-eddsa-s-high-bits", "EdDSA: S with its top three bits set", Buffer.concat([R, topBits]));
}

{
  const rsa = crypto.createPrivateKey(keys.rsa.private_pem);
  const n = toInt(Buffer.from(keys.rsa.public_jwk.n, "base64url"));
  for (const [alg, hash, salts] of [
    ["PS256", "sha256", [0, 20, 31, 33, 64]],
    ["PS384", "sha384", [0, 32, 64]],
    ["PS512", "sha512", [0, 32, 48]],
  ]) {
    const from = `gen-${alg.toLowerCase()}-access`;
    const token = base.get(from).token;
    const signed = Buffer.from(token.slice(0, token.lastIndexOf(".")));
    for (const saltLength of salts) {
      const signature = crypto.sign(hash, signed, { key: rsa, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength });
      variant(from, `native-${alg.toLowerCase()}-salt-${saltLength}`, `${alg}: a valid RSASSA-PSS signature with a ${saltLength}-byte salt (RFC 7518 wants the hash's length)`, signature);
    }
    const pkcs1 = crypto.sign(hash, signed, { key: rsa, padding: crypto.constants.RSA_PKCS1_PADDING });
    variant(from, `native-${alg.toLowerCase()}-pkcs1`, `${alg}: an RSASSA-PKCS1-v1_5 signature under a PS header`, pkcs1);
  }
  const from = "gen-rs256-access";
  const sig = signatureOf(from);
  variant(from, "native-rs256-s-plus-n", "RS256: s + n (same value mod n, one byte longer)", toBytes(toInt(sig) + n, sig.length + 1));
  variant(from, "native-rs256-s-is-n", "RS256: s = n", toBytes(n, sig.length));
  variant(from, "native-rs256-leading-zero", "RS256: the valid signature with a zero byte prepended", Buffer.concat([Buffer.alloc(1), sig]));
  variant(from, "native-rs256-short", "RS256: the valid signature without its first byte", sig.subarray(1));
}

const out = new URL("native/malleable.json", dir);
writeFileSync(out, `${JSON.stringify({ source: "tests/vectors/gen/gen_malleable.mjs (from generated.json; PSS re-signed with node:crypto)", vectors }, null, 2)}\n`);
console.log(`${vectors.length} vectors -> ${out.pathname}`);
