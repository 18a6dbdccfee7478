// The `tollgate/client` entry (no wasm) on the smoke fixture: decode, the expiry helpers
// and their error codes, as the main entry gives them. Plain ES module (its one import is
// smoke.js's checklist). Resolves to { ok, checks: [{ name, ok, error? }] }.
import { checklist } from "./smoke.js";

export function clientSmoke(client, fixture) {
  const { decode, expiresAt, isExpired, secondsLeft, bearer, createClient, TollgateError } = client;
  const { checks, check } = checklist();
  const sorted = (v) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])]))
      : v;
  const same = (a, b, what) => {
    if (JSON.stringify(sorted(a)) !== JSON.stringify(sorted(b))) throw new Error(`${what}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`);
  };
  const code = (fn, want) => {
    try {
      fn();
    } catch (error) {
      if (!(error instanceof TollgateError) || error.code !== want) throw new Error(`want ${want}, got ${error?.code ?? error}`);
      return;
    }
    throw new Error(`no error, want ${want}`);
  };
  check("client entry: decode", () => same(decode(fixture.token), { header: fixture.header, payload: fixture.claims }, "decode"));
  check("client entry: expiry helpers", () => {
    same(expiresAt(fixture.token), fixture.claims.exp, "expiresAt");
    same(isExpired(fixture.token, { now: fixture.now }), false, "isExpired");
    same(isExpired(fixture.token, { now: fixture.claims.exp }), true, "isExpired at exp");
    same(secondsLeft(fixture.token, { now: fixture.now }), fixture.claims.exp - fixture.now, "secondsLeft");
  });
  check("client entry: error codes", () => {
    code(() => decode("nope"), "token_malformed");
    code(() => decode("x".repeat(9000)), "token_too_large");
    code(() => decode(42), "argument_invalid");
    code(() => bearer("Bearer a b"), "bad_authorization_header");
  });
  check("client entry: the client is there", () => same(typeof createClient, "function", "createClient"));
  return { ok: checks.every((c) => c.ok), checks };
}
