// The worker of bench/js/workerd.mjs: verifications timed inside workerd (Cloudflare
// Workers' runtime). POST /setup with { alg, token, now, key } (key: the HMAC secret or
// the public JWK) prepares every row for that algorithm, and checks each row's answer
// once (the claims, and a tampered token refused); GET /run?alg=&row=&n= runs n
// verifications of that row and answers with performance.now()'s reading around them
// (workerd's clock advances only on I/O, so the harness times from outside too).
import * as jose from "jose";
import * as tollgate from "../../pkg/rsa-worker.js";
import { webProvider } from "../../pkg/src/native.js";

const rows = new Map(); // alg -> { row: async () => void }

/** The token with its signature's first character changed. */
function tampered(token) {
  const at = token.lastIndexOf(".") + 1;
  return token.slice(0, at) + (token[at] === "A" ? "B" : "A") + token.slice(at + 1);
}

async function setup({ alg, token, now, key }) {
  const hmac = alg.startsWith("HS");
  const verifier = new tollgate.Verifier(key, { algorithm: alg, type: "access" });
  const joseKey = hmac ? new TextEncoder().encode(key) : await jose.importJWK(key, alg);
  const currentDate = new Date(now * 1000);
  const joseVerify = (t) => jose.jwtVerify(t, joseKey, { algorithms: [alg], currentDate }).then((r) => r.payload);
  const calls = {
    // verifyAsync(): WebCrypto does the asymmetric math (no node:crypto in workerd).
    verifyAsync: (t) => verifier.verifyAsync(t, { now }),
    // verify(): synchronous, the module's own math.
    verify: async (t) => verifier.verify(t, { now }),
    jose: joseVerify,
  };
  const want = JSON.stringify(await joseVerify(token));
  for (const [name, call] of Object.entries(calls)) {
    const got = JSON.stringify(await call(token));
    if (got !== want) throw new Error(`${alg} ${name}: claims ${got}, want ${want}`);
    let refused = false;
    await call(tampered(token)).catch(() => (refused = true));
    if (!refused) throw new Error(`${alg} ${name}: tampered token accepted`);
  }
  const sequential = (call) => async (n) => {
    for (let i = 0; i < n; i++) await call(token);
  };
  const inFlight = (call, width) => async (n) => {
    for (let done = 0; done < n; done += width) {
      await Promise.all(Array.from({ length: Math.min(width, n - done) }, () => call(token)));
    }
  };
  // The bound for every library: subtle.verify alone with the same key, message and
  // signature (through native.js's import, the call tollgate makes); none for HMAC.
  let bare;
  if (!hmac) {
    const check = await webProvider(crypto.subtle).importKey(alg, key);
    const at = token.lastIndexOf(".");
    const message = new TextEncoder().encode(token.slice(0, at));
    const signature = Uint8Array.from(atob(token.slice(at + 1).replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    if ((await check(message, signature)) !== true) throw new Error(`${alg} bare subtle.verify: refused`);
    bare = async (n) => {
      for (let i = 0; i < n; i++) await check(message, signature);
    };
  }
  rows.set(alg, {
    bare,
    empty: async () => {},
    verifyAsync: sequential(calls.verifyAsync),
    "verifyAsync-64": inFlight(calls.verifyAsync, 64),
    verify: sequential(calls.verify),
    jose: sequential(calls.jose),
    "jose-64": inFlight(calls.jose, 64),
  });
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    try {
      if (url.pathname === "/setup") {
        await setup(await request.json());
        return Response.json({ ok: true });
      }
      if (url.pathname === "/run") {
        const row = rows.get(url.searchParams.get("alg"))?.[url.searchParams.get("row")];
        if (row === undefined) return new Response("no such row", { status: 404 });
        const n = Number(url.searchParams.get("n"));
        const start = performance.now();
        await row(n);
        return Response.json({ ms: performance.now() - start });
      }
      return new Response("ok");
    } catch (error) {
      return new Response(String(error?.stack ?? error), { status: 500 });
    }
  },
};
