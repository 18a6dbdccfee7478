// Types of the npm package `tollgate` (hand-kept: the one source of its TypeScript types;
// tests/js/usage.ts compiles against it with `tsc --noEmit`). The `tollgate/rsa` entry has
// the same API and these same types; only its module has more algorithms.

/**
 * The stable codes of tollgate-core (`Error::code`), one per failure: `token_*` for a
 * token refused (the message is Simple JWT's), the others for keys and settings. Kept
 * equal to the core's list by tests/tests/it/ts_codes.rs.
 */
export type CoreErrorCode =
  | "token_too_large"
  | "token_malformed"
  | "token_header_unsupported"
  | "token_algorithm_mismatch"
  | "token_key_unknown"
  | "token_signature_invalid"
  | "token_claim_invalid"
  | "token_not_yet_valid"
  | "token_audience_mismatch"
  | "token_issuer_mismatch"
  | "token_expired"
  | "token_too_old"
  | "token_lifetime_too_long"
  | "token_blacklisted"
  | "token_no_exp"
  | "token_no_id"
  | "token_no_type"
  | "token_wrong_type"
  | "token_no_refresh_exp"
  | "token_refresh_exp_expired"
  | "token_claim_missing"
  | "key_weak"
  | "key_invalid"
  | "key_algorithm_mismatch"
  | "algorithm_unsupported"
  | "setting_invalid"
  | "claim_reserved"
  | "claims_too_large"
  | "no_signing_key";

/** The codes the package's JS layer adds: a bad argument (an unknown option too), bearer(), the client. */
export type PackageErrorCode = "argument_invalid" | "bad_authorization_header" | "not_logged_in" | RemoteJwksErrorCode;

/**
 * What the client's errors from a server carry: the `code` of the server's JSON body
 * (tollgate's codes; a 500 carries one of the core's), or `http_<status>` when the body
 * has none (e.g. a failed login). Checked against the server's table by
 * tests/tests/it/ts_codes.rs.
 */
export type ServerErrorCode =
  | "token_not_valid"
  | "bad_authorization_header"
  | "user_not_found"
  | "user_inactive"
  | "password_changed"
  | "session_revoked"
  | "session_not_found"
  | "session_unknown"
  | "payload_too_large"
  | "body_incomplete"
  | "request_timeout"
  | "header_too_large"
  | "refresh_cookie_missing"
  | "refresh_cookie_malformed"
  | "refresh_cookie_ambiguous"
  | "refresh_cookie_too_large"
  | "cookie_header_too_large"
  | "csrf_failed"
  | "permission_denied"
  | "superuser_required"
  | "store_unavailable"
  | "shutting_down"
  | `http_${number}`;

/** Every code a TollgateError may carry. */
export type ErrorCode = CoreErrorCode | PackageErrorCode | ServerErrorCode;

/** Every error the package throws. `code` is stable API; `message` is Simple JWT's text. */
export class TollgateError extends Error {
  readonly name: "TollgateError";
  /**
   * e.g. "token_expired", "token_signature_invalid", "token_key_unknown", "key_weak",
   * "argument_invalid" (a bad argument, an unknown or misspelt option); from a
   * remoteJwks() source also "keys_not_loaded", "jwks_fetch_failed", "jwks_timeout",
   * "jwks_invalid"; from the client the server's codes.
   */
  readonly code: ErrorCode;
  /** HTTP status, for errors from the server (client API). */
  status?: number;
  /** The server's JSON body, for errors from the server (client API). */
  body?: unknown;
}

/**
 * The algorithms of the default module; RS*, PS*, ES384 and ES512 are in the
 * `tollgate/rsa` entry's module (the default one refuses them with algorithm_unsupported).
 */
export type Algorithm =
  | "HS256"
  | "HS384"
  | "HS512"
  | "EdDSA"
  | "ES256"
  | "ES384"
  | "ES512"
  | "RS256"
  | "RS384"
  | "RS512"
  | "PS256"
  | "PS384"
  | "PS512";
/** The algorithms whose keys a JWKS URL may publish (never HMAC). */
export type AsymmetricAlgorithm = Exclude<Algorithm, "HS256" | "HS384" | "HS512">;
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
  n?: string;
  e?: string;
  [member: string]: unknown;
}

export interface Jwks {
  keys: Jwk[];
}

/** An HMAC secret (text or bytes), a PEM public key, a JWK or a JWKS. */
export type Key = string | Uint8Array | ArrayBuffer | Jwk | Jwks;

/**
 * A Verifier's options. Any other name is refused with "argument_invalid" naming the
 * nearest valid one (as are verify()'s `now` and `blacklist` given here).
 */
export interface VerifierCommonOptions {
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
  /**
   * Refuse tokens issued more than this many seconds ago (`now - iat`, beyond the
   * leeway): "token_too_old". A token without `iat` is then "token_claim_missing".
   */
  maxTokenAge?: number;
  /**
   * Refuse tokens meant to live longer than this many seconds (`exp - iat`, and a
   * sliding token's `refresh_exp - iat`; without `iat`, `exp - now` beyond the leeway):
   * "token_lifetime_too_long".
   */
  maxLifetime?: number;
  /** The clock, in epoch seconds, used when verify() gets no `now` (default: Date.now()). */
  clock?: () => number;
  /**
   * Who does the signature math of asymmetric tokens (EdDSA, ES*, RS*, PS*); every other
   * check is the WebAssembly core's on every path, and every path accepts exactly the same
   * signatures (ARCHITECTURE.md, "Native signature math"). "native" (default): node:crypto
   * in Node, Bun and Deno (verify() and verifyAsync(); Node's verifyAsync() of EdDSA and
   * ES* on libuv's thread pool); elsewhere WebCrypto in
   * verifyAsync() and the module in verify(). "webcrypto": WebCrypto in verifyAsync(), the
   * module in verify(). "wasm": the module always. HMAC is always the module's.
   */
  crypto?: "native" | "webcrypto" | "wasm";
}

export type VerifierOptions = VerifierCommonOptions &
  (
    | {
        /** Required (or `algorithms`): the one algorithm accepted. Never taken from the token. */
        algorithm: Algorithm;
        algorithms?: undefined;
      }
    | {
        /** The algorithms accepted, each with its own keys: a token's header picks among these only. */
        algorithms: Algorithm[];
        algorithm?: undefined;
      }
  );

/** verify()'s options; any other name (say `leeway`, a Verifier option) is refused. */
export interface VerifyOptions {
  /** The time, in epoch seconds (default: the Verifier's clock, else Date.now()). */
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
  constructor(key: Key | RemoteJwks, options: VerifierOptions);
  /**
   * The claims of a valid token; throws TollgateError otherwise. Synchronous. With a
   * remoteJwks() source: "keys_not_loaded" while cold, "token_key_unknown" for a kid not
   * cached (a refetch starts in the background where fetches may be shared).
   */
  verify(token: string, options?: VerifyOptions): Claims;
  /**
   * verify() after loading or refreshing a remoteJwks() source, refetching once per
   * cooldown for a key it does not know. The same verdicts as verify() for other keys;
   * the signature math may run off the calling thread (WebCrypto, or node:crypto's thread
   * pool in Node for EdDSA and ES*: see the `crypto` option).
   */
  verifyAsync(token: string, options?: VerifyOptions): Promise<Claims>;
  /** Resolves once a remoteJwks() source is loaded (at once for other keys). */
  ready(): Promise<Verifier>;
  /** The remoteJwks() source given to the constructor, else null. */
  readonly source: RemoteJwks | null;
  /** The algorithms accepted (`algorithm` as a one-element list). */
  readonly algorithms: Algorithm[];
  /** Keys in use (0 for a remote source not loaded yet). */
  readonly keyCount: number;
}

/** The codes a remoteJwks() source adds to the token codes. */
export type RemoteJwksErrorCode = "keys_not_loaded" | "jwks_fetch_failed" | "jwks_timeout" | "jwks_invalid";

/** What a persistent JWKS cache stores per URL (JSON-serializable). */
export interface CachedJwks {
  jwks: Jwks;
  /** Epoch milliseconds of the fetch. */
  fetchedAt: number;
  /** Milliseconds the keys stay fresh after fetchedAt. */
  ttl: number;
  etag: string | null;
}

/** A cache that outlives an isolate: any `{ get, set }`, or workersCache(). */
export interface JwksCache {
  get(url: string): CachedJwks | null | undefined | Promise<CachedJwks | null | undefined>;
  set(url: string, value: CachedJwks): void | Promise<void>;
}

/** remoteJwks()'s options; any other name is refused with "argument_invalid". */
export interface RemoteJwksOptions {
  /**
   * Algorithms the endpoint may publish keys for (default: every asymmetric algorithm of
   * the module: EdDSA and ES256, with `tollgate/rsa` also RS*, PS*, ES384, ES512). An RSA
   * key without `alg` serves every RSA algorithm listed. HMAC keys are never accepted from a URL.
   */
  algorithms?: AsymmetricAlgorithm[];
  /** Seconds: the server's Cache-Control max-age is kept within minAge..maxAge (default 30..600; maxAge without one). */
  minAge?: number;
  maxAge?: number;
  /** Seconds between refetches for an unknown kid, and between attempts while the endpoint fails (default 30). */
  cooldown?: number;
  /** Seconds past their lifetime that keys keep serving while the endpoint fails (default 3600). */
  staleMax?: number;
  /** Seconds a fetch may take (default 5). */
  timeout?: number;
  /** Largest JWKS body accepted, in bytes (default 65536). */
  maxBytes?: number;
  fetch?: typeof fetch;
  /**
   * Whether one caller may await a fetch another started, and fetches may run in the
   * background (default: true, false in Cloudflare Workers, where a promise must not
   * cross requests).
   */
  shareFetches?: boolean;
  cache?: JwksCache | null;
  /** Called when stale keys serve because the endpoint failed. */
  onStale?: (error: TollgateError, source: RemoteJwks) => void;
}

/** A JWKS fetched from a URL, cached per URL for every Verifier of the module. */
export class RemoteJwks {
  private constructor();
  readonly url: string;
  readonly algorithms: AsymmetricAlgorithm[];
  /** Keys are serving past their lifetime because the endpoint failed. */
  readonly stale: boolean;
  /** The JWKS in use, as the endpoint served it (a copy), or null before the first load. */
  readonly jwks: Jwks | null;
  /** Requests made to the endpoint for this URL in this isolate. */
  readonly fetchCount: number;
  /** The endpoint's last failure (cleared by a good answer), or null. */
  readonly lastError: TollgateError | null;
  /** Resolves once keys are loaded; rejects with jwks_fetch_failed, jwks_timeout or jwks_invalid. */
  ready(): Promise<RemoteJwks>;
}

/** A key source for `new Verifier(remoteJwks(url), { algorithm })`. */
export function remoteJwks(url: string | URL, options?: RemoteJwksOptions): RemoteJwks;
/** A JwksCache over the Workers Cache API (default `caches.default`); entries kept `keepFor` seconds (default 86400). */
export function workersCache(cache?: Cache, options?: { keepFor?: number }): JwksCache;
/** Forgets every cached key set of this module (for tests). */
export function clearRemoteJwks(): void;

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

/** What the cookie transport stores: the refresh token lives in an HttpOnly cookie. */
export interface AccessOnly {
  access: string;
}

/** A JSON value kept under one key: tokens, or (for the lease) a lease. */
export interface Slot<T> {
  get(): T | null;
  set(value: T): void;
  clear(): void;
  /**
   * Calls `callback` when another tab changes the value (never for this tab's own
   * writes); returns a function that stops listening.
   */
  subscribe?(callback: () => void): () => void;
}

/** Who holds the refresh lease of a shared storage, and until when (epoch ms). */
export interface Lease {
  owner: string;
  until: number;
}

/**
 * Where the client keeps its tokens. A storage shared by the tabs of a browser profile
 * says so with `lockName`: the tabs then refresh one at a time under the Web Lock of
 * that name, or, where Web Locks are missing, under `lease`. Without `lockName` (e.g.
 * memoryStorage, or a custom storage with only get/set/clear) each client refreshes on
 * its own.
 */
export interface TokenStorage extends Slot<Tokens | AccessOnly> {
  lockName?: string;
  lease?: Slot<Lease>;
}

export function memoryStorage(): TokenStorage;
/** Shared by tabs: `lockName` is `key`, the lease is kept under `key + ".lease"`. */
export function localStorageStorage(
  key?: string,
  store?: Storage,
): TokenStorage & Required<Pick<TokenStorage, "lockName" | "lease" | "subscribe">>;

/** The part of the Web Locks API the client uses (`navigator.locks`). */
export interface Locks {
  request(name: string, callback: () => Promise<unknown>): Promise<unknown>;
}

/** createClient()'s options (and `paths`' names); any other name is refused with "argument_invalid". */
export interface ClientOptions {
  /** The server, e.g. "https://auth.example.com" (default: same origin). */
  baseUrl?: string;
  storage?: TokenStorage;
  fetch?: typeof fetch;
  /**
   * Refresh when the access token has fewer seconds left than this (default 30), moved
   * by up to 10% (at most 5 s) either way per client so tabs do not refresh in step.
   */
  refreshAhead?: number;
  /** The login field (the server's username_field; default "username"). */
  usernameField?: string;
  paths?: { login?: string; refresh?: string; logout?: string; sessions?: string };
  /**
   * "json" (default): the refresh token travels in JSON bodies and is stored.
   * "cookie": the server keeps it in an HttpOnly cookie; every request carries
   * `credentials: "include"` and `Tollgate-CSRF: 1`.
   */
  refreshTransport?: "json" | "cookie";
  /** Refresh on a timer ahead of expiry, not only when asked (default false). */
  autoRefresh?: boolean;
  /** The Web Locks API (default `navigator.locks`; null: use the lease). */
  locks?: Locks | null;
  /** Milliseconds after which a tab's lease lapses if it never lets go (default 10000). */
  leaseTimeout?: number;
  /** A number in [0, 1) for the refreshAhead jitter (default Math.random). */
  random?: () => number;
}

/** One login of the user, as GET /api/sessions/ lists it. */
export interface Session {
  id: string;
  /** ISO 8601 times. */
  created_at: string;
  last_refreshed_at: string | null;
  expires_at: string;
  /** The client of the login (`null` for sessions older than tollgate's sessions). */
  login: { user_agent: string; ip: string } | null;
  last_refresh: { user_agent: string; ip: string } | null;
  /** Whether it is the session of this client's access token; `null` when the server cannot tell (its `session_id_claim` is off). */
  current: boolean | null;
}

export interface Client<T extends Tokens | AccessOnly = Tokens> {
  login(username: string, password: string): Promise<T>;
  /** Rotates the refresh token; concurrent callers (and tabs sharing a storage) share one request. */
  refresh(): Promise<T>;
  logout(): Promise<unknown>;
  logoutAll(): Promise<unknown>;
  /** A valid access token, refreshed ahead of expiry. */
  accessToken(): Promise<string>;
  /** fetch with the Bearer token; on a 401 it refreshes once and retries. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** The user's sessions (logins), the current one marked. */
  sessions(): Promise<Session[]>;
  /** Ends one session; rejects with code "session_not_found" for an unknown id. */
  revokeSession(id: string): Promise<null>;
  /** Ends every session but this one. */
  revokeOtherSessions(): Promise<{ revoked: number }>;
  /** Ends autoRefresh for good (its timer and storage listener); the client still works. */
  stop(): void;
  readonly tokens: T | null;
  /** The server's Tollgate-Refresh-Reuse header on the last refresh ("grace" or "replay"), or null. */
  readonly lastReuse: string | null;
}

export function createClient(options?: ClientOptions & { refreshTransport?: "json" }): Client<Tokens>;
export function createClient(options: ClientOptions & { refreshTransport: "cookie" }): Client<AccessOnly>;
export function createClient(options?: ClientOptions): Client<Tokens> | Client<AccessOnly>;
