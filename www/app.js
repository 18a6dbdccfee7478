// The demo page: a frontend using the npm package exactly as a user would.
import { createClient, decode, secondsLeft, Verifier, TollgateError } from "tollgate";

const $ = (id) => document.getElementById(id);
const log = (method, path, status, detail = "") => {
  const item = document.createElement("li");
  item.textContent = `${method} ${path} → ${status}${detail ? ` ${detail}` : ""}`;
  if (status >= 400) item.className = "bad";
  $("log").prepend(item);
};

// Log every request the client makes, with its status.
const loggingFetch = async (input, init = {}) => {
  const response = await fetch(input, init);
  const path = new URL(typeof input === "string" ? input : input.url, location.href).pathname;
  let detail = "";
  if (!response.ok) {
    try {
      const body = await response.clone().json();
      detail = [body.detail, body.code].filter(Boolean).join(" · ");
    } catch { /* not JSON */ }
  }
  log(init.method ?? "GET", path, response.status, detail);
  return response;
};

const REFRESH_AHEAD = 30;
// random: 0.5 takes out the refreshAhead jitter, so the timeline marks the exact moment.
const client = createClient({ baseUrl: location.origin, fetch: loggingFetch, refreshAhead: REFRESH_AHEAD, random: () => 0.5 });
let jwksVerifier = null;
let algorithm = null;

function showError(error) {
  // As the server sent it: its detail, and its code when it sent one.
  const serverCode = error?.body?.code;
  const text = !(error instanceof TollgateError)
    ? String(error)
    : error.body !== undefined
      ? (serverCode ? `${error.message} (${serverCode})` : error.message)
      : `${error.message} (${error.code})`;
  $("error").textContent = text;
  $("error").hidden = false;
}

function timeline(element, token) {
  if (!token) {
    element.replaceChildren();
    return;
  }
  const { iat, exp } = decode(token).payload;
  const now = Date.now() / 1000;
  const share = Math.min(1, Math.max(0, (now - iat) / Math.max(1, exp - iat)));
  const left = secondsLeft(token);
  // Times within a day show the clock; longer lifetimes (refresh: days) the date too.
  const fmt = (t) => (exp - iat > 86_400 ? new Date(t * 1000).toLocaleString() : new Date(t * 1000).toLocaleTimeString());
  // The client refreshes the access token this many seconds before it lapses.
  const ahead = element.id === "access-timeline" ? REFRESH_AHEAD : 0;
  const refreshAt = Math.min(1, Math.max(0, (exp - ahead - iat) / Math.max(1, exp - iat)));
  const marker = ahead
    ? `<div class="marker" style="left:${(refreshAt * 100).toFixed(1)}%" title="the client refreshes here"></div>`
    : "";
  const note = ahead && left > 0 ? `; the client refreshes it at ${fmt(exp - ahead)}` : "";
  element.innerHTML = `
    <div class="labels"><span>issued ${fmt(iat)}</span><span>expires ${fmt(exp)}</span></div>
    <div class="bar"></div><div class="fill" style="width:${(share * 100).toFixed(1)}%"></div>${marker}
    <div class="left">${left > 0 ? `${left} s left${note}` : "expired"}</div>`;
}

function render() {
  const tokens = client.tokens;
  for (const kind of ["access", "refresh"]) {
    const token = tokens?.[kind];
    $(`${kind}-claims`).textContent = token ? JSON.stringify(decode(token), null, 2) : "—";
    timeline($(`${kind}-timeline`), token);
  }
  for (const id of ["me", "refresh", "logout", "logout-all"]) $(id).disabled = !tokens;
  edgeCheck(tokens?.access);
}

// Verify the access token right here, with the server's public keys, when it signs with
// an asymmetric algorithm; with HMAC only the server holds the secret.
function edgeCheck(access) {
  const note = $("edge-check");
  if (!access) {
    note.textContent = "";
    return;
  }
  if (!jwksVerifier) {
    note.textContent = `${algorithm ?? "HMAC"}: only the server can verify this token (the secret never leaves it).`;
    return;
  }
  try {
    const claims = jwksVerifier.verify(access);
    note.className = "note ok";
    note.textContent = `Verified in this page with the server's JWKS (${algorithm}): user ${claims.user_id}.`;
  } catch (error) {
    note.className = "note error";
    note.textContent = `Not valid here: ${error.message} (${error.code}).`;
  }
}

async function loadKeys() {
  const response = await loggingFetch("/.well-known/jwks.json");
  const jwks = await response.json();
  const key = jwks.keys?.[0];
  if (key?.alg) {
    algorithm = key.alg;
    jwksVerifier = new Verifier(jwks, { algorithm, type: "access" });
  }
}

async function run(action) {
  $("error").hidden = true;
  try {
    await action();
  } catch (error) {
    showError(error);
  }
  render();
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  run(async () => {
    await client.login($("username").value, $("password").value);
    $("previous-refresh").textContent = "";
    if (!algorithm) algorithm = decode(client.tokens.access).header.alg;
  });
});

$("me").addEventListener("click", () =>
  run(async () => {
    const response = await client.fetch("/api/me/");
    $("verify-result").textContent = `/api/me/: ${JSON.stringify(await response.json())}`;
  }),
);

$("refresh").addEventListener("click", () =>
  run(async () => {
    const old = client.tokens.refresh;
    await client.refresh();
    $("previous-refresh").textContent = `The previous refresh token (jti ${decode(old).payload.jti}) is now blacklisted.`;
    $("previous-refresh").dataset.token = old;
  }),
);

$("logout").addEventListener("click", () => run(() => client.logout()));
let kept = null;
$("logout-all").addEventListener("click", () =>
  run(async () => {
    // Keep the refresh token to show that it no longer works.
    kept = client.tokens.refresh;
    await client.logoutAll();
    $("verify-token").value = kept;
    $("retry-refresh").hidden = false;
  }),
);

$("retry-refresh").addEventListener("click", () =>
  run(async () => {
    const response = await loggingFetch("/api/token/refresh/", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh: kept }),
    });
    const body = await response.json();
    $("verify-result").textContent = `refresh: ${response.status} ${JSON.stringify(body)}`;
  }),
);

$("verify").addEventListener("submit", (event) => {
  event.preventDefault();
  run(async () => {
    const token = $("verify-token").value.trim();
    const response = await loggingFetch("/api/token/verify/", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
    });
    const body = await response.json();
    $("verify-result").textContent = `${response.status} ${JSON.stringify(body)}`;
  });
});

setInterval(() => {
  timeline($("access-timeline"), client.tokens?.access);
  timeline($("refresh-timeline"), client.tokens?.refresh);
}, 1000);

loadKeys().catch(showError).finally(render);
