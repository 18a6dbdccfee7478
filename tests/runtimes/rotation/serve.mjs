// worker.js served over HTTP on 127.0.0.1 by Node, Deno or Bun, each with its own server
// API: prints "listening PORT", answers until killed.
//
//   RUNTIME serve.mjs JWKS_URL JWKS_OPTIONS_JSON
import worker from "./worker.js";

const args = globalThis.Deno ? globalThis.Deno.args : process.argv.slice(2);
const env = { JWKS_URL: args[0], JWKS_OPTIONS: args[1] };
const handle = (request) => worker.fetch(request, env);

if (globalThis.Deno) {
  globalThis.Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: ({ port }) => console.log(`listening ${port}`) }, handle);
} else if (globalThis.Bun) {
  const server = globalThis.Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handle });
  console.log(`listening ${server.port}`);
} else {
  const { createServer } = await import("node:http");
  const server = createServer(async (req, res) => {
    const request = new Request(`http://127.0.0.1${req.url}`, { headers: req.headers });
    const response = await handle(request);
    res.writeHead(response.status, Object.fromEntries(response.headers)).end(await response.text());
  });
  server.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
}
