// remoteJwks() checks every runtime runs against jwks-server.mjs at `base` (a Node
// process on 127.0.0.1 that counts the fetches per path): cold and cached, a second kid
// with one key cached, the cooldown, stale keys then the error, a dead and a silent
// endpoint, and the bad answers. Plain ES module with no imports, so it runs anywhere.
// `tag` keeps the paths of one run apart. Resolves to { ok, checks: [{ name, ok, error? }] }.

export async function remoteSmoke(tollgate, base, tag = "run") {
  const { Verifier, TollgateError, remoteJwks } = tollgate;
  const options = { algorithm: "EdDSA", type: "access" };
  const checks = [];
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const get = async (path) => (await fetch(`${base}${path}`)).json();
  const ctl = (path, query) => get(`/ctl?path=${encodeURIComponent(path)}&${query}`);
  const count = async (path) => (await get(`/count?path=${encodeURIComponent(path)}`)).count;
  const token = async (kid) => (await get(`/token?kid=${kid}`)).token;
  const expect = (cond, what) => {
    if (!cond) throw new Error(what);
  };
  const code = async (fn, want) => {
    try {
      await fn();
    } catch (error) {
      if (!(error instanceof TollgateError)) throw new Error(`not a TollgateError: ${error?.stack ?? error}`);
      if (error.code !== want) throw new Error(`code ${error.code} (${error.message}), want ${want}`);
      return;
    }
    throw new Error(`no error, want ${want}`);
  };
  const check = async (name, fn) => {
    try {
      await fn();
      checks.push({ name, ok: true });
    } catch (error) {
      checks.push({ name, ok: false, error: String(error?.stack ?? error) });
    }
  };
  const path = (name) => `/${tag}/${name}`;

  await check("remote: cold is keys_not_loaded, one fetch, then synchronous", async () => {
    const p = path("cold");
    await ctl(p, "keys=k1");
    const verifier = new Verifier(remoteJwks(base + p), options);
    const t1 = await token("k1");
    await code(() => verifier.verify(t1), "keys_not_loaded");
    expect((await verifier.verifyAsync(t1)).user_id === "42", "verifyAsync");
    for (let i = 0; i < 5; i++) expect(verifier.verify(await token("k1")).user_id === "42", "verify");
    const other = new Verifier(remoteJwks(base + p), { algorithm: "EdDSA" });
    expect((await other.verifyAsync(t1)).user_id === "42", "a second Verifier");
    expect((await count(p)) === 1, `fetches: ${await count(p)}, want 1`);
  });

  await check("remote: one cached key, a token of another kid refetches; cooldown after", async () => {
    const p = path("rotate");
    await ctl(p, "keys=k1");
    const verifier = new Verifier(remoteJwks(base + p, { cooldown: 0.4 }), options);
    await verifier.ready();
    await ctl(p, "keys=k1,k2");
    await sleep(450);
    const t2 = await token("k2");
    expect((await verifier.verifyAsync(t2)).user_id === "42", "the new kid verifies");
    expect((await count(p)) === 2, `fetches: ${await count(p)}, want 2`);
    const t9 = await token("k9");
    await code(() => verifier.verifyAsync(t9), "token_key_unknown");
    await code(() => verifier.verifyAsync(t9), "token_key_unknown");
    expect((await count(p)) === 2, `within the cooldown: ${await count(p)} fetches, want 2`);
    await sleep(450);
    await code(() => verifier.verifyAsync(t9), "token_key_unknown");
    expect((await count(p)) === 3, `after the cooldown: ${await count(p)} fetches, want 3`);
  });

  await check("remote: endpoint down past max-age, stale keys up to staleMax, then jwks_fetch_failed", async () => {
    const p = path("stale");
    await ctl(p, "keys=k1");
    const source = remoteJwks(base + p, { minAge: 0, maxAge: 0.3, staleMax: 0.8, cooldown: 0.1 });
    const verifier = new Verifier(source, options);
    await verifier.ready();
    await ctl(p, "mode=down");
    await sleep(350);
    expect((await verifier.verifyAsync(await token("k1"))).user_id === "42", "stale keys verify");
    expect(source.stale === true, "flagged stale");
    await sleep(900);
    const t1 = await token("k1");
    await code(() => verifier.verifyAsync(t1), "jwks_fetch_failed");
    await ctl(p, "mode=ok");
    await sleep(150);
    expect((await verifier.verifyAsync(t1)).user_id === "42", "recovers");
    expect(source.stale === false, "no longer stale");
  });

  await check("remote: cold with the endpoint down or silent fails clearly", async () => {
    const t1 = await token("k1");
    const down = path("down");
    await ctl(down, "mode=down");
    await code(() => new Verifier(remoteJwks(base + down), options).verifyAsync(t1), "jwks_fetch_failed");
    const hang = path("hang");
    await ctl(hang, "mode=hang");
    const started = Date.now();
    await code(() => new Verifier(remoteJwks(base + hang, { timeout: 0.3 }), options).verifyAsync(t1), "jwks_timeout");
    expect(Date.now() - started < 3000, `timed out after ${Date.now() - started} ms`);
  });

  await check("remote: HTML, a redirect, an oversize body, duplicate kids, an HMAC key are jwks_invalid", async () => {
    const t1 = await token("k1");
    for (const mode of ["html", "redirect", "big", "dup", "oct"]) {
      const p = path(`bad-${mode}`);
      await ctl(p, `keys=k1&mode=${mode}`);
      try {
        await code(() => new Verifier(remoteJwks(base + p), options).verifyAsync(t1), "jwks_invalid");
      } catch (error) {
        throw new Error(`${mode}: ${error.message}`);
      }
    }
  });

  // Where the runtime has a Cache API of its own (Deno, Chromium, edge-runtime); workerd's
  // is a no-op without a cache service, so it is not asked there.
  if (typeof globalThis.caches?.open === "function" && globalThis.navigator?.userAgent !== "Cloudflare-Workers") {
    await check("remote: workersCache() over this runtime's Cache API starts a new isolate warm", async () => {
      const { workersCache, clearRemoteJwks } = tollgate;
      const p = path("persist");
      await ctl(p, "keys=k1");
      const cache = workersCache(await caches.open(`tollgate-${tag}`));
      await new Verifier(remoteJwks(base + p, { cache }), options).ready();
      clearRemoteJwks(); // as a new isolate
      await ctl(p, "mode=down");
      const verifier = new Verifier(remoteJwks(base + p, { cache }), options);
      expect((await verifier.verifyAsync(await token("k1"))).user_id === "42", "verifies from the cache");
      expect((await count(p)) === 1, `fetches: ${await count(p)}, want 1`);
    });
  }

  return { ok: checks.every((c) => c.ok), checks };
}
