// Helpers shared by the runtime drivers: paths, a free port, child processes that are
// always stopped, and esbuild.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

export const here = fileURLToPath(new URL(".", import.meta.url));
export const out = `${here}out/`;
export const bin = (name) => `${here}node_modules/.bin/${name}`;

/** A port free on 127.0.0.1 right now (for tools that cannot report the port they got). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

const children = new Set();
process.on("exit", () => children.forEach((child) => child.kill("SIGKILL")));

/**
 * Starts a command and resolves once a line of its output matches `ready` (with the
 * match), rejecting if it exits or `timeoutMs` passes first. `stop()` kills it.
 */
export function start(command, args, { ready, env, input, timeoutMs = 30000 } = {}) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
  children.add(child);
  let log = "";
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => {
    children.delete(child);
    resolve(code ?? signal);
  }));
  const stop = async () => {
    if (children.has(child)) child.kill("SIGTERM");
    return exited;
  };
  child.stdin.end(input ?? "");
  const started = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command}: not ready after ${timeoutMs} ms\n${log}`)), timeoutMs);
    const onData = (chunk) => {
      log += chunk;
      const match = ready && log.match(ready);
      if (match) {
        clearTimeout(timer);
        resolve(match);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited (${code}) before it was ready\n${log}`));
    });
  });
  started.catch(() => {}); // awaited by callers that care
  return { child, started, stop, exited, log: () => log };
}

/** Runs a command to completion; rejects with its output on a non-zero exit. */
export async function run(command, args, options) {
  const proc = start(command, args, { ...options, ready: null });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`${command} ${args.join(" ")} exited ${code}\n${proc.log()}`);
  return proc.log();
}

/** Bundles one entry with esbuild; returns the output file's path. */
export async function bundle(entry, outfile, options = {}) {
  await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: "esm",
    logLevel: "error",
    ...options,
  });
  return outfile;
}

/** Fetches until the server answers (workerd gives no "listening" line). */
export async function fetchRetry(url, init, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fetch(url, init);
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Prints a smoke() result and throws if any check failed. */
export function report(result) {
  for (const c of result.checks) console.log(`  ${c.ok ? "ok" : "FAIL"} ${c.name}${c.ok ? "" : `\n${c.error}`}`);
  if (!result.ok) throw new Error("smoke checks failed");
}

/** Options for chromium.launchPersistentContext: Debian's chromium, headless, quiet. */
export const chromiumOptions = {
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
};

/** The counters of a Prometheus text body, by their full name with labels. */
export function counters(text) {
  return Object.fromEntries(
    text.split("\n").filter((line) => line && !line.startsWith("#")).map((line) => {
      const at = line.lastIndexOf(" ");
      return [line.slice(0, at), Number(line.slice(at + 1))];
    }),
  );
}

/**
 * A static server on 127.0.0.1 for pages: /pkg/... from pkg/, everything else from
 * tests/runtimes/. Resolves to { url, stop }.
 */
export async function serveFiles() {
  const pkg = join(here, "../../pkg/");
  const types = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm" };
  const server = createHttpServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname));
    const file = path.startsWith("/pkg/") ? join(pkg, path.slice(5)) : join(here, path);
    try {
      const body = readFileSync(file);
      res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, stop: () => server.close() };
}
