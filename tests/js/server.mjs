// The tollgate server binary the JS tests start (built by `cargo build -p tollgate-server`
// before they run), and the wait for its "listening" line.
export const binary = new URL("../../target/debug/tollgate", import.meta.url).pathname;

/** Resolves to the base URL a spawned `tollgate serve` prints; rejects if it exits first. */
export function listening(server) {
  return new Promise((resolve, reject) => {
    let out = "";
    server.stdout.on("data", (chunk) => {
      out += chunk;
      const match = out.match(/tollgate listening on (http:\/\/[^\s]+)\//);
      if (match) resolve(match[1]);
    });
    server.stderr?.on("data", (chunk) => (out += chunk));
    server.on("exit", (code) => reject(new Error(`server exited with ${code}\n${out}`)));
  });
}
