// The demo page: a frontend using the npm package exactly as a user would.
import { createClient, decode, localStorageStorage, remoteJwks, secondsLeft, Verifier, TollgateError } from "tollgate";

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
  // The same header the client reports as api.lastReuse: a rotated-out token presented
  // again ("grace": within the reuse interval, answered with the same successor) or a replay.
  const reuse = response.headers.get("Tollgate-Refresh-Reuse");
  if (reuse) detail = `Tollgate-Refresh-Reuse: ${reuse}`;
  if (!response.ok) {
    try {
      const body = await response.clone().json();
      detail = [body.detail, body.code, detail].filter(Boolean).join(" · ");
    } catch { /* not JSON */ }
  }
  log(init.method ?? "GET", path, response.status, detail);
  return response;
};

// ?refreshAhead=N (seconds) for a server whose access tokens live only seconds (the tests).
const REFRESH_AHEAD = Math.max(0, Number(new URLSearchParams(location.search).get("refreshAhead") ?? 30) || 0);
// Shared by the tabs of this browser, which then refresh once between them; autoRefresh
// refreshes ahead of expiry on a timer, so an idle tab stays logged in.
const storage = localStorageStorage("tollgate-demo.tokens");
// random: 0.5 takes out the refreshAhead jitter, so the timeline marks the exact moment.
const client = createClient({
  baseUrl: location.origin,
  storage,
  fetch: loggingFetch,
  refreshAhead: REFRESH_AHEAD,
  autoRefresh: true,
  random: () => 0.5,
});
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

let shown; // the tokens render() last showed: another tab, or autoRefresh, may replace them
function render() {
  const tokens = client.tokens;
  const changedLogin = !tokens !== !shown;
  shown = tokens;
  for (const kind of ["access", "refresh"]) {
    const token = tokens?.[kind];
    $(`${kind}-claims`).textContent = token ? JSON.stringify(decode(token), null, 2) : "—";
    timeline($(`${kind}-timeline`), token);
  }
  for (const id of ["me", "refresh", "logout", "logout-all", "sessions-reload", "revoke-others"]) $(id).disabled = !tokens;
  edgeCheck(tokens?.access);
  if (changedLogin) loadSessions(); // logged in or out, here or in another tab
}

const when = (iso) => (iso ? new Date(iso).toLocaleString() : "never");

/** The user's sessions (one per login), each with a button that revokes it. */
async function loadSessions() {
  const body = $("sessions").tBodies[0];
  if (!client.tokens) {
    body.replaceChildren();
    $("sessions-note").textContent = "Log in to see your sessions.";
    return;
  }
  let sessions;
  try {
    sessions = await client.sessions();
  } catch (error) {
    showError(error);
    render();
    return;
  }
  body.replaceChildren(
    ...sessions.map((session, i) => {
      const row = document.createElement("tr");
      if (session.current) row.className = "current";
      const seen = session.last_refresh ?? session.login;
      const cells = [seen?.user_agent || "unknown device", seen?.ip ?? "—", when(session.created_at), when(session.last_refreshed_at)];
      for (const text of cells) row.insertCell().textContent = text;
      row.cells[0].className = "device";
      if (session.current) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "this browser";
        row.cells[0].append(badge);
      }
      const revoke = document.createElement("button");
      revoke.textContent = "Revoke";
      revoke.setAttribute("aria-label", `Revoke session ${i + 1}${session.current ? " (this browser)" : ""}`);
      revoke.addEventListener("click", () =>
        run(async () => {
          await client.revokeSession(session.id);
          await loadSessions();
        }),
      );
      row.insertCell().append(revoke);
      return row;
    }),
  );
  const known = sessions.some((s) => s.current !== null);
  $("sessions-note").textContent =
    `${sessions.length} session${sessions.length === 1 ? "" : "s"}` +
    (known ? "." : '; which one is this browser\'s is known when the server runs with session_id_claim = "sid".');
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
  // verifyAsync: a token signed by a key this page has not seen (the server rotated)
  // refetches the JWKS once, instead of failing until a reload.
  jwksVerifier.verifyAsync(access).then(
    (claims) => {
      note.className = "note ok";
      note.textContent = `Verified in this page with the server's JWKS (${algorithm}): user ${claims.user_id}.`;
    },
    (error) => {
      note.className = "note error";
      note.textContent = `Not valid here: ${error.message} (${error.code}).`;
    },
  );
}

// The server's keys through remoteJwks(), as an edge worker would hold them: cached for
// the server's max-age, refetched on an unknown kid. With HMAC the JWKS is empty (the
// package refuses it: jwks_invalid) and only the server verifies.
async function loadKeys() {
  const source = remoteJwks(new URL("/.well-known/jwks.json", location.origin), { fetch: loggingFetch });
  try {
    await source.ready();
  } catch (error) {
    if (error?.code === "jwks_invalid") return;
    throw error;
  }
  algorithm = source.jwks.keys[0].alg;
  jwksVerifier = new Verifier(source, { algorithm, type: "access" });
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
    // Logged in (or in again as someone else): render() reloads the sessions.
    shown = null;
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
    render(); // the new tokens first, then the note about the old one
    $("previous-refresh").textContent = `The previous refresh token (jti ${decode(old).payload.jti}) is now blacklisted.`;
    $("previous-refresh").dataset.token = old;
    await loadSessions();
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

$("sessions-reload").addEventListener("click", () => run(loadSessions));
$("revoke-others").addEventListener("click", () =>
  run(async () => {
    const { revoked } = await client.revokeOtherSessions();
    $("sessions-note").textContent = `Revoked ${revoked} other session${revoked === 1 ? "" : "s"}.`;
    await loadSessions();
  }),
);
// The second tab opens this page as it is (with its query), sharing the login.
$("new-tab").href = location.pathname + location.search;

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
  if (client.tokens?.access !== shown?.access) return render();
  timeline($("access-timeline"), client.tokens?.access);
  timeline($("refresh-timeline"), client.tokens?.refresh);
}, 1000);
// Another tab logged in, refreshed or logged out: show it now rather than on the next tick.
storage.subscribe(render);

loadKeys().catch(showError).finally(render);
