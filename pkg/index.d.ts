// Types of the npm package `tollgate` (hand-kept: the one source of its TypeScript types;
// tests/js/usage.ts compiles against it with `tsc --noEmit`).

/** Every error the package throws. `code` is stable API; `message` is Simple JWT's text. */
export class TollgateError extends Error {
  readonly name: "TollgateError";
  /** e.g. "token_expired", "token_signature_invalid", "key_weak", "argument_invalid". */
  readonly code: string;
  /** HTTP status, for errors from the server (client API). */
  status?: number;
  /** The server's JSON body, for errors from the server (client API). */
  body?: unknown;
}

export type Algorithm = "HS256" | "HS384" | "HS512" | "EdDSA" | "ES256";
export type TokenType = "access" | "refresh" | "sliding" | "sliding_refresh" | "untyped";

export interface Jwk {
  kty: string;
  kid?: string;
  alg?: string;
  use?: string;
  crv?: string;
  x?: string;
  y?: string;
  k?: string;
  [member: string]: unknown;
}

export interface Jwks {
  keys: Jwk[];
}

/** An HMAC secret (text or bytes), a PEM public key, a JWK or a JWKS. */
export type Key = string | Uint8Array | ArrayBuffer | Jwk | Jwks;

export interface VerifierOptions {
  /** Required: the one algorithm accepted. Never taken from the token. */
  algorithm: Algorithm;
  /** Seconds of clock skew tolerated (default 0). */
  leeway?: number;
  audience?: string | string[];
  issuer?: string;
  /** Expected token type (default: any, as Simple JWT's verify endpoint). */
  type?: TokenType;
  /** Claims that must be present. */
  requiredClaims?: string[];
  /** Renamed claims (Simple JWT's USER_ID_CLAIM, TOKEN_TYPE_CLAIM, JTI_CLAIM, ...). */
  claims?: { userId?: string; tokenType?: string; jti?: string; refreshExp?: string };
}

export interface VerifyOptions {
  /** The clock, in epoch seconds (default: Date.now()). */
  now?: number;
  /** Revoked jti values. */
  blacklist?: Iterable<string>;
}

export interface Claims {
  token_type?: string;
  exp?: number;
  iat?: number;
  jti?: string;
  user_id?: string;
  [claim: string]: unknown;
}

export class Verifier {
  constructor(key: Key, options: VerifierOptions);
  /** The claims of a valid token; throws TollgateError otherwise. Synchronous. */
  verify(token: string, options?: VerifyOptions): Claims;
  readonly keyCount: number;
}

/** One-shot verification; build a Verifier to verify many tokens. */
export function verify(token: string, key: Key, options: VerifierOptions & VerifyOptions): Claims;

/** Header and payload WITHOUT checking the signature: for display, never for authorization. */
export function decode(token: string): { header: Record<string, unknown>; payload: Claims };
/** The token's exp (epoch seconds), or undefined when it has none. */
export function expiresAt(token: string): number | undefined;
export function isExpired(token: string, options?: { leeway?: number; now?: number }): boolean;
export function secondsLeft(token: string, options?: { now?: number }): number;
/** The token of an Authorization header value (null if none); throws bad_authorization_header. */
export function bearer(headerValue: string | null | undefined, options?: { types?: string[] }): string | null;

export interface Tokens {
  access: string;
  refresh: string;
}

export interface TokenStorage {
  get(): Tokens | null;
  set(tokens: Tokens): void;
  clear(): void;
}

export function memoryStorage(): TokenStorage;
export function localStorageStorage(key?: string, store?: Storage): TokenStorage;

export interface ClientOptions {
  /** The server, e.g. "https://auth.example.com" (default: same origin). */
  baseUrl?: string;
  storage?: TokenStorage;
  fetch?: typeof fetch;
  /** Refresh when the access token has fewer seconds left than this (default 30). */
  refreshAhead?: number;
  /** The login field (the server's username_field; default "username"). */
  usernameField?: string;
  paths?: { login?: string; refresh?: string; logout?: string };
}

export interface Client {
  login(username: string, password: string): Promise<Tokens>;
  /** Rotates the refresh token; concurrent callers share one request. */
  refresh(): Promise<Tokens>;
  logout(): Promise<unknown>;
  logoutAll(): Promise<unknown>;
  /** A valid access token, refreshed ahead of expiry. */
  accessToken(): Promise<string>;
  /** fetch with the Bearer token; on a 401 it refreshes once and retries. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  readonly tokens: Tokens | null;
}

export function createClient(options?: ClientOptions): Client;
