// The checks every runtime runs, on the same vectors: `verify` of a valid EdDSA token
// (JWK and JWKS), a TollgateError with the right `.code` for an expired and a tampered
// token, `decode`, and issue #17's: a misspelt option refused, `now` and `clock`
// honoured, the lifetime policy (maxTokenAge, maxLifetime) enforced. Plain ES module
// with no imports, so it runs anywhere.
// Returns { ok, checks: [{ name, ok, error? }] }.

/** A list of named checks: `check(name, fn)` records whether `fn` threw. */
export function checklist() {
  const checks = [];
  const check = (name, fn) => {
    try {
      fn();
      checks.push({ name, ok: true });
    } catch (error) {
      checks.push({ name, ok: false, error: String(error?.stack ?? error) });
    }
  };
  return { checks, check };
}

export function smoke(tollgate, fixture) {
  const { Verifier, verify, decode, TollgateError } = tollgate;
  const { token, tampered, jwk, now, claims, header } = fixture;
  const options = { algorithm: "EdDSA", type: "access" };
  const { checks, check } = checklist();
  const same = (actual, expected, what) => {
    if (canonical(actual) !== canonical(expected)) {
      throw new Error(`${what}: got ${canonical(actual)}, want ${canonical(expected)}`);
    }
  };
  const throwsCode = (fn, code) => {
    try {
      fn();
    } catch (error) {
      if (!(error instanceof TollgateError)) throw new Error(`not a TollgateError: ${error}`);
      if (error.code !== code) throw new Error(`code ${error.code}, want ${code}`);
      return;
    }
    throw new Error(`no error, want ${code}`);
  };

  check("verify valid EdDSA token", () => {
    same(verify(token, jwk, { ...options, now }), claims, "verify(JWK)");
    same(new Verifier({ keys: [jwk] }, options).verify(token, { now }), claims, "Verifier(JWKS)");
  });
  check("expired and tampered tokens throw TollgateError", () => {
    throwsCode(() => verify(token, jwk, { ...options, now: claims.exp + 1 }), "token_expired");
    throwsCode(() => new Verifier(jwk, options).verify(tampered, { now }), "token_signature_invalid");
  });
  check("decode", () => {
    same(decode(token), { header, payload: claims }, "decode");
    throwsCode(() => decode("not.a.jwt"), "token_malformed");
  });
  check("a misspelt option is refused, naming the nearest valid one", () => {
    const refused = (fn, text) => {
      throwsCode(fn, "argument_invalid");
      try {
        fn();
      } catch (error) {
        if (!error.message.includes(text)) throw new Error(`message ${JSON.stringify(error.message)} lacks ${text}`);
      }
    };
    refused(() => new Verifier(jwk, { ...options, audiance: "api" }), "options.audiance is not an option (did you mean audience?)");
    refused(() => verify(token, jwk, { ...options, now, leway: 5 }), "options.leway is not an option (did you mean leeway?)");
    refused(() => new Verifier(jwk, options).verify(token, { now, leeway: 5 }), "leeway is a Verifier option");
    refused(() => new Verifier(jwk, { ...options, now }), "now is a verify() option");
  });
  check("now and clock are honoured", () => {
    let time = now;
    const clocked = new Verifier(jwk, { ...options, clock: () => time });
    same(clocked.verify(token), claims, "clock before exp");
    time = claims.exp;
    throwsCode(() => clocked.verify(token), "token_expired");
    same(clocked.verify(token, { now }), claims, "now wins over the clock");
    throwsCode(() => new Verifier(jwk, options).verify(token, { now: claims.exp }), "token_expired");
    throwsCode(() => new Verifier(jwk, { ...options, clock: () => NaN }).verify(token), "argument_invalid");
    throwsCode(() => new Verifier(jwk, { ...options, clock: () => { throw new Error("no time"); } }).verify(token), "argument_invalid");
  });
  check("the lifetime policy: maxTokenAge and maxLifetime", () => {
    const age = now - claims.iat;
    const lifetime = claims.exp - claims.iat;
    const at = (policy) => new Verifier(jwk, { ...options, ...policy }).verify(token, { now });
    same(at({ maxTokenAge: age, maxLifetime: lifetime }), claims, "at the edges");
    throwsCode(() => at({ maxTokenAge: age - 1 }), "token_too_old");
    throwsCode(() => at({ maxLifetime: lifetime - 1 }), "token_lifetime_too_long");
  });
  return { ok: checks.every((c) => c.ok), checks };
}

// The `tollgate/rsa` entry (`full`) verifies RS*, PS*, ES384 and ES512 tokens and refuses a
// tampered one; the default entry (`base`) refuses those algorithms with
// algorithm_unsupported; both throw the one TollgateError class.
export function algorithmsSmoke(full, base, fixture) {
  const checks = [];
  for (const { alg, token, tampered, jwk, now, claims } of fixture.algorithms) {
    try {
      const options = { algorithm: alg, type: "access" };
      const got = new full.Verifier(jwk, options).verify(token, { now });
      if (canonical(got) !== canonical(claims)) throw new Error(`claims ${canonical(got)}`);
      const codeOf = (fn) => {
        try {
          fn();
        } catch (error) {
          if (!(error instanceof full.TollgateError)) throw new Error(`not a TollgateError: ${error}`);
          return error.code;
        }
        return "no error";
      };
      const tamperedCode = codeOf(() => full.verify(tampered, { keys: [jwk] }, { ...options, now }));
      if (tamperedCode !== "token_signature_invalid") throw new Error(`tampered: ${tamperedCode}`);
      const baseCode = codeOf(() => new base.Verifier(jwk, options));
      if (baseCode !== "algorithm_unsupported") throw new Error(`default entry: ${baseCode}`);
      checks.push({ name: `tollgate/rsa verifies ${alg}`, ok: true });
    } catch (error) {
      checks.push({ name: `tollgate/rsa verifies ${alg}`, ok: false, error: String(error?.stack ?? error) });
    }
  }
  return { ok: checks.length === 8 && checks.every((c) => c.ok), checks };
}

// JSON with sorted keys, so claim order does not matter.
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
