// Compiled with `tsc --noEmit` against pkg/index.d.ts: the types a user sees.
import {
  TollgateError,
  Verifier,
  bearer,
  createClient,
  decode,
  expiresAt,
  isExpired,
  memoryStorage,
  secondsLeft,
  verify,
  type Claims,
  type Jwks,
} from "tollgate";

const jwks: Jwks = { keys: [{ kty: "OKP", crv: "Ed25519", x: "abc" }] };
const verifier = new Verifier(jwks, { algorithm: "EdDSA", leeway: 5, audience: ["api"], type: "access" });

export function userOf(header: string | null): string | undefined {
  const token = bearer(header);
  if (token === null) return undefined;
  try {
    const claims: Claims = verifier.verify(token, { now: 1_700_000_000, blacklist: new Set(["x"]) });
    return claims.user_id;
  } catch (error) {
    if (error instanceof TollgateError && error.code === "token_expired") return undefined;
    throw error;
  }
}

const claims = verify("t", "a secret of at least thirty-two bytes!!", { algorithm: "HS256", now: 1 });
const { header, payload } = decode("t");
const exp: number | undefined = expiresAt("t");
const expired: boolean = isExpired("t", { leeway: 1 });
const left: number = secondsLeft("t");

export async function client(): Promise<void> {
  const api = createClient({ baseUrl: "http://127.0.0.1:8000", storage: memoryStorage(), refreshAhead: 60 });
  await api.login("demo", "tollgate-demo");
  const access: string = await api.accessToken();
  const response: Response = await api.fetch("http://127.0.0.1:8000/api/me/");
  await api.logoutAll();
  void [access, response, claims, header, payload, exp, expired, left];
}
