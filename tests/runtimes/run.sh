#!/usr/bin/env bash
# Smoke test of the npm package `tollgate` in every runtime it promises: Node, Bun, Deno,
# Cloudflare Workers (workerd), Vercel's edge runtime, and Chromium (import map and an
# esbuild bundle), each also with remoteJwks against a counting JWKS server
# (remote-smoke.js, jwks-server.mjs), plus the edge-worker example in workerd against a
# real tollgate server, and a key rotation end to end: a real server rotating, revoking and
# retiring keys while the same edge worker verifies in all six runtimes (rotation.mjs).
# Installs what it needs, once: pkg/dist (scripts/build-pkg.sh), the npm packages pinned
# in package-lock.json (`npm ci` when the lock changed), Debian's chromium, the server.
#
#   tests/runtimes/run.sh        ends with "runtimes: N passed, M failed"; exit 1 on failure
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

[ -f "$root/pkg/dist/tollgate_wasm_bg.wasm" ] && [ -f "$root/pkg/dist/browser.js" ] || "$root/scripts/build-pkg.sh"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat node_modules/.package-lock.sha256 2>/dev/null || true)" != "$want" ]; then
  echo "installing npm packages (bun, deno, workerd, edge-runtime, esbuild, playwright-core)"
  # A registry mirror without the other platforms' optional binaries (@deno/darwin-x64...)
  # makes `npm ci` refuse the lock; `npm install --no-save` installs the same locked tree.
  npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 ||
    npm install --no-save --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" >node_modules/.package-lock.sha256
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium (apt)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
(cd "$root" && cargo build --quiet -p tollgate-server)
node make-fixture.mjs

passed=0 failed=0
step() { # step NAME COMMAND...: runs one runtime, prints its output only if it fails
  local name="$1" start=$SECONDS log
  shift
  if log="$(timeout 120 "$@" 2>&1)"; then
    passed=$((passed + 1)); echo "ok   $name ($((SECONDS - start))s)"
  else
    failed=$((failed + 1)); echo "FAIL $name ($((SECONDS - start))s)"; echo "$log" | sed 's/^/    /'
  fi
}
# jwks-server.mjs: a JWKS endpoint for the remoteJwks checks, its URL the last argument.
step "node (ESM)" node jwks-server.mjs node cli.mjs
step "bun" node jwks-server.mjs node_modules/.bin/bun cli.mjs
step "deno" node jwks-server.mjs node_modules/.bin/deno run --allow-read --allow-net=127.0.0.1 --no-lock cli.mjs
# Every vector through every signature path (module, node:crypto, WebCrypto): native-paths.js.
step "signature paths agree on every vector: bun" node_modules/.bin/bun native-cli.mjs
step "signature paths agree on every vector: deno" node_modules/.bin/deno run --allow-read --no-lock native-cli.mjs
step "signature paths agree on every vector: workerd" node native.mjs workerd
step "signature paths agree on every vector: chromium" node native.mjs chromium
step "cloudflare workers (workerd)" node workerd.mjs smoke
step "vercel edge runtime (edge-runtime)" node edge.mjs
step "chromium: import map + esbuild bundle" node browser.mjs
step "example edge-worker.js (workerd + tollgate server)" node example.mjs
step "key rotation end to end: 3 rotations, a revocation, a retirement, an outage; workerd, node, deno, bun, edge-runtime, chromium" node rotation.mjs
step "demo page (www/) end to end in chromium, served by tollgate" node demo.mjs
step "two tabs of the demo page share one login and refresh once per access token" node tabs.mjs
step "cookie mode in chromium: HttpOnly refresh cookie, reload, logout, cross-origin CSRF" node cookie.mjs
step "staff console (www/admin/) in chromium: refusal without staff, revoke a session, blacklist a token, rotate a key, audit trail" node console.mjs

echo "runtimes: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
