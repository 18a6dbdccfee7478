// Compiled with `tsc --noEmit` against pkg/index.d.ts (and client.d.ts): the types a user sees.
import * as lite from "tollgate/client";
import {
  TollgateError,
  Verifier,
  bearer,
  createClient,
  decode,
  expiresAt,
  isExpired,
  localStorageStorage,
  memoryStorage,
  remoteJwks,
  secondsLeft,
  verify,
  type AccessOnly,
  type Claims,
  type CoreErrorCode,
  type ErrorCode,
  type Jwks,
  type JwksCache,
  type Lease,
  type RemoteJwksErrorCode,
  type Session,
  type TokenStorage,
  type Tokens,
} from "tollgate";
import { Verifier as FullVerifier, remoteJwks as fullRemoteJwks } from "tollgate/rsa";

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

// The `tollgate/rsa` entry: the same API, every algorithm.
const idp = new FullVerifier(fullRemoteJwks("https://idp.example/jwks", { algorithms: ["RS256", "PS256", "ES384"] }), {
  algorithm: "RS256",
  issuer: "https://idp.example",
});
const rsaKey = new FullVerifier({ kty: "RSA", n: "abc", e: "AQAB" }, { algorithm: "PS512" });
export const fullVerifiers = [idp, rsaKey];

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

export async function tabs(): Promise<void> {
  // Shared by the tabs of the profile: one refresh among them, timer-driven.
  const api = createClient({ storage: localStorageStorage("app.tokens"), autoRefresh: true, refreshAhead: 60 });
  const tokens: Tokens = await api.login("demo", "tollgate-demo");
  const sessions: Session[] = await api.sessions();
  const others = sessions.filter((s) => !s.current && s.last_refresh?.ip !== "10.0.0.1");
  for (const session of others) await api.revokeSession(session.id);
  const { revoked }: { revoked: number } = await api.revokeOtherSessions();
  const reuse: string | null = api.lastReuse;
  api.stop();

  // A custom storage needs only get/set/clear; lockName, lease and subscribe opt in to sharing.
  let kept: Tokens | AccessOnly | null = null;
  let lease: Lease | null = null;
  const shared: TokenStorage = {
    get: () => kept,
    set: (value) => {
      kept = value;
    },
    clear: () => {
      kept = null;
    },
    lockName: "app.tokens",
    lease: { get: () => lease, set: (value) => void (lease = value), clear: () => void (lease = null) },
  };
  const storage = localStorageStorage();
  const stopListening: () => void = storage.subscribe(() => console.log("another tab changed the tokens"));
  stopListening();
  const custom = createClient({ storage: shared, locks: navigator.locks, leaseTimeout: 5000, random: () => 0.5 });
  void [tokens, revoked, reuse, custom];
}

export async function cookies(): Promise<void> {
  // The refresh token stays in an HttpOnly cookie: only { access } is stored.
  const api = createClient({ baseUrl: "https://auth.example.com", refreshTransport: "cookie" });
  const stored: AccessOnly = await api.login("demo", "tollgate-demo");
  const now: AccessOnly | null = api.tokens;
  await api.revokeOtherSessions();
  await api.logout();
  void [stored, now];
}

const cache: JwksCache = { get: async () => undefined, set: () => {} };
const remote = new Verifier(
  remoteJwks("https://auth.example.com/.well-known/jwks.json", {
    algorithms: ["EdDSA"],
    cooldown: 30,
    staleMax: 3600,
    cache,
    onStale: (error) => console.warn(error.code),
  }),
  { algorithm: "EdDSA", type: "access" },
);

export async function remoteUser(token: string): Promise<string | undefined> {
  try {
    return (await remote.verifyAsync(token)).user_id;
  } catch (error) {
    const unavailable: RemoteJwksErrorCode[] = ["jwks_fetch_failed", "jwks_timeout", "jwks_invalid"];
    if (error instanceof TollgateError && (unavailable as string[]).includes(error.code)) return undefined;
    throw error;
  }
}
const stale: boolean | undefined = remote.source?.stale;
void stale;

// Issue #17: the lifetime policy, a clock, an allow-list; codes are a union.
const strict = new Verifier(jwks, {
  algorithms: ["EdDSA", "ES256"],
  maxTokenAge: 3600,
  maxLifetime: 86_400,
  clock: () => Math.floor(Date.now() / 1000),
});
const accepted: string[] = strict.algorithms;
export function codeOf(error: unknown): ErrorCode | undefined {
  if (!(error instanceof TollgateError)) return undefined;
  if (error.code === "token_too_old" || error.code === "token_lifetime_too_long") return error.code;
  const core: CoreErrorCode | undefined = error.code === "token_expired" ? error.code : undefined;
  // @ts-expect-error: not a code any part of tollgate gives
  if (error.code === "token_expird") return undefined;
  return core ?? error.code;
}
// @ts-expect-error: a misspelt option is a type error too (and argument_invalid at run time)
new Verifier("secret", { algorithm: "HS256", audiance: "api" });
// @ts-expect-error: algorithm and algorithms are exclusive
new Verifier("secret", { algorithm: "HS256", algorithms: ["HS256"] });
// @ts-expect-error: leeway is a Verifier option, not verify()'s
strict.verify("t", { leeway: 5 });
// @ts-expect-error: decode takes no options
decode("t", { complete: true });
void [accepted];
// The frontend entry: decode, expiry and the client, without the validator.
const liteDecoded: { header: Record<string, unknown>; payload: Claims } = lite.decode("a.b.c");
const liteLeft: number = lite.secondsLeft("a.b.c", { now: 1 });
const liteExpired: boolean = lite.isExpired("a.b.c", { leeway: 5 });
const liteClient = lite.createClient({ baseUrl: "https://auth.example.com" });
void [liteDecoded, liteLeft, liteExpired, liteClient, lite.TollgateError, lite.bearer("Bearer x")];
// @ts-expect-error: no validator in the frontend entry
void lite.Verifier;
