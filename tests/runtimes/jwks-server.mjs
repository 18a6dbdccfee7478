// A JWKS endpoint for remote-smoke.js, on 127.0.0.1 (Node, started by the drivers): it
// signs EdDSA tokens (kids k1, k2, k9), serves any path as a JWKS of the kids it is told,
// in a mode it is told, and counts the requests per path (preflights not counted).
//
//   GET /ctl?path=/a&keys=k1,k2&mode=ok|down|hang|html|redirect|big|dup|oct  -> state
//   GET /count?path=/a                                                         -> { count }
//   GET /token?kid=k2                                                          -> a token
//
//   node jwks-server.mjs COMMAND ARGS...   runs COMMAND with the server's URL as its last
//                                          argument, then stops; exits with its code
import { generateKeyPairSync, sign } from "node:crypto";
import { createServer } from "node:http";
import { spawn } from "node:child_process";

const b64 = (value) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

export async function startJwksServer() {
  const keys = new Map();
  for (const kid of ["k1", "k2", "k9"]) {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    keys.set(kid, { privateKey, jwk: { ...publicKey.export({ format: "jwk" }), kid, alg: "EdDSA", use: "sig" } });
  }
  const paths = new Map();
  const state = (path) => {
    if (!paths.has(path)) paths.set(path, { keys: ["k1"], mode: "ok", count: 0, cacheControl: "max-age=600" });
    return paths.get(path);
  };
  const token = (kid) => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { token_type: "access", exp: now + 300, iat: now, jti: crypto.randomUUID().replaceAll("-", ""), user_id: "42" };
    const input = `${b64({ alg: "EdDSA", kid, typ: "JWT" })}.${b64(claims)}`;
    return `${input}.${sign(null, Buffer.from(input), keys.get(kid).privateKey).toString("base64url")}`;
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    const cors = {
      "access-control-allow-origin": "*",
      "access-control-allow-headers": "*",
      "access-control-expose-headers": "etag, cache-control",
    };
    const json = (body, headers = {}) => res.writeHead(200, { "content-type": "application/json", ...cors, ...headers }).end(JSON.stringify(body));
    if (req.method === "OPTIONS") return res.writeHead(204, cors).end();
    if (url.pathname === "/ctl") {
      const s = state(url.searchParams.get("path"));
      if (url.searchParams.has("keys")) s.keys = url.searchParams.get("keys").split(",").filter(Boolean);
      if (url.searchParams.has("mode")) s.mode = url.searchParams.get("mode");
      if (url.searchParams.has("cacheControl")) s.cacheControl = url.searchParams.get("cacheControl");
      return json(s);
    }
    if (url.pathname === "/count") return json({ count: state(url.searchParams.get("path")).count });
    if (url.pathname === "/token") return json({ token: token(url.searchParams.get("kid")) });
    if (url.pathname === "/target") return json({ keys: [] });
    const s = state(url.pathname);
    s.count += 1;
    const jwks = { keys: s.keys.map((kid) => keys.get(kid).jwk) };
    switch (s.mode) {
      case "ok":
        return json(jwks, { "cache-control": s.cacheControl });
      case "down":
        return req.socket.destroy();
      case "hang":
        return undefined;
      case "html":
        return res.writeHead(200, { "content-type": "text/html", ...cors }).end("<!doctype html><title>Sign in</title>");
      case "redirect":
        return res.writeHead(302, { location: "/target", ...cors }).end();
      case "big":
        return json({ ...jwks, padding: "x".repeat(70_000) });
      case "dup":
        return json({ keys: [...jwks.keys, ...jwks.keys] });
      case "oct":
        return json({ keys: [...jwks.keys, { kty: "oct", kid: "h1", alg: "HS256", k: b64("a secret of at least thirty-two bytes!!") }] });
      default:
        return res.writeHead(500, cors).end();
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    stop() {
      server.closeAllConnections();
      server.close();
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}` && process.argv.length > 2) {
  const jwks = await startJwksServer();
  const [command, ...args] = process.argv.slice(2);
  const child = spawn(command, [...args, jwks.url], { stdio: "inherit" });
  child.on("exit", (code, signal) => {
    jwks.stop();
    process.exit(code ?? (signal ? 1 : 0));
  });
}
