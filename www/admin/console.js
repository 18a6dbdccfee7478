// The staff console (issue #18): plain ES modules over the admin API (/api/admin/),
// signed in with tollgate/client. The tokens stay in this module's memory (memoryStorage):
// no cookie is sent, so no other site can make this browser act here (CSRF), and a reload
// signs out. Every change asks for confirmation first; the server records it on the
// audit trail. Text from the server only ever goes in through textContent.
import { createClient, memoryStorage } from "/pkg/client.js";
import { barChart, lineChart } from "./charts.js";

// JSON mode; a server in cookie mode answers the JSON login `csrf_failed`, and the
// console then signs in as that server's frontends do (the refresh token in its HttpOnly
// cookie, which only the token endpoints read: the admin API reads the Bearer header).
let client = createClient({ storage: memoryStorage(), autoRefresh: true });
const $ = (id) => document.getElementById(id);
const PAGE = 20;

// ---- the API ----

/** A call to /api/admin/<path>: the JSON answer, or an Error with .code and .status. */
async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await client.fetch(`/api/admin/${path}`, init);
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = new Error(typeof data?.detail === "string" ? data.detail : `HTTP ${response.status}`);
    error.code = data?.code ?? `http_${response.status}`;
    error.status = response.status;
    throw error;
  }
  return data;
}

const query = (params) =>
  new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== "")).toString();

// ---- messages and confirmation ----

function say(text) {
  $("status").textContent = text;
}

function fail(error) {
  const box = $("message");
  box.textContent = error.code ? `${error.message} (${error.code})` : String(error.message ?? error);
  box.hidden = false;
}

function clearFailure() {
  $("message").hidden = true;
  $("message").textContent = "";
}

/** Resolves true when the person confirms `text` in the dialog. */
function confirmAction(text) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  return new Promise((resolve) => {
    const done = (answer) => () => {
      $("confirm-ok").onclick = $("confirm-cancel").onclick = dialog.oncancel = null;
      dialog.close();
      resolve(answer);
    };
    $("confirm-ok").onclick = done(true);
    $("confirm-cancel").onclick = done(false);
    dialog.oncancel = done(false);
    dialog.showModal();
    $("confirm-cancel").focus();
  });
}

/** Asks, then runs `action`; says what happened and refreshes `after`. */
async function act(question, action, after) {
  if (!(await confirmAction(question))) return;
  clearFailure();
  try {
    const answer = await action();
    say(answer?.detail ?? "Done.");
    await after?.();
  } catch (error) {
    fail(error);
  }
}

// ---- small DOM helpers ----

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text ?? "—";
  return td;
}

function button(text, onClick, className = "") {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.className = className;
  b.addEventListener("click", onClick);
  return b;
}

function row(values, extra) {
  const tr = document.createElement("tr");
  for (const v of values) tr.append(cell(v));
  if (extra !== undefined) {
    const td = document.createElement("td");
    if (extra) td.append(extra);
    tr.append(td);
  }
  return tr;
}

const yes = (b) => (b ? "yes" : "no");
const when = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "—");
const short = (id) => (id.length > 16 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id);

// ---- sign-in ----

let me = null;

async function signIn(event) {
  event.preventDefault();
  clearFailure();
  const username = $("username").value;
  try {
    try {
      await client.login(username, $("password").value);
    } catch (error) {
      if (error.code !== "csrf_failed") throw error;
      client.stop();
      client = createClient({ storage: memoryStorage(), autoRefresh: true, refreshTransport: "cookie" });
      await client.login(username, $("password").value);
    }
  } catch (error) {
    fail(error);
    return;
  }
  $("password").value = "";
  // The console's first call tells whether this account is staff.
  try {
    await api("GET", "figures/");
  } catch (error) {
    await client.logout().catch(() => {});
    if (error.status === 403) {
      fail({ message: "This account is not staff: the console is not open to it.", code: error.code });
    } else {
      fail(error);
    }
    return;
  }
  me = username;
  // Staff who are not superusers can look but not change: the change controls go.
  const self = await api("GET", `users/?${query({ username })}`).catch(() => null);
  const superuser = self?.results?.[0]?.is_superuser === true;
  document.body.classList.toggle("readonly", !superuser);
  $("readonly").hidden = superuser;
  $("who-name").textContent = `Signed in as ${username}`;
  $("who").hidden = false;
  $("sign-in").hidden = true;
  $("console").hidden = false;
  show("users");
  await loadUsers();
}

async function signOut() {
  await client.logout().catch(() => {});
  me = null;
  location.reload();
}

// ---- sections ----

const loaders = {};

function show(name) {
  for (const b of document.querySelectorAll("nav button")) {
    if (b.dataset.section === name) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  for (const id of ["users", "tokens", "keys", "figures", "audit"]) $(id).hidden = id !== name;
  clearFailure();
  loaders[name]?.().catch(fail);
}

// ---- users ----

let usersOffset = 0;
let selected = null;

async function loadUsers() {
  const page = await api("GET", `users/?${query({ q: $("user-q").value.trim(), limit: PAGE, offset: usersOffset })}`);
  const body = $("user-table").tBodies[0];
  body.replaceChildren();
  for (const user of page.results) {
    const tr = row([String(user.id), user.username, user.email, yes(user.is_active), yes(user.is_staff), yes(user.is_superuser)]);
    tr.tabIndex = 0;
    tr.className = "pick";
    tr.addEventListener("click", () => openUser(user.id).catch(fail));
    tr.addEventListener("keydown", (e) => e.key === "Enter" && openUser(user.id).catch(fail));
    body.append(tr);
  }
  $("users-page").textContent = page.count ? `${usersOffset + 1}–${usersOffset + page.results.length} of ${page.count}` : "no users found";
  $("users-prev").disabled = usersOffset === 0;
  $("users-next").disabled = usersOffset + page.results.length >= page.count;
}
loaders.users = loadUsers;

async function openUser(id) {
  const user = await api("GET", `users/${id}/`);
  selected = user;
  $("user-title").textContent = `${user.username} (id ${user.id})`;
  const facts = $("user-facts");
  facts.replaceChildren();
  const fact = (name, value) => {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    facts.append(dt, dd);
  };
  fact("Email", user.email || "—");
  fact("Active", yes(user.is_active));
  fact("Staff", yes(user.is_staff));
  fact("Superuser", yes(user.is_superuser));
  fact("Joined", when(user.date_joined * 1000));
  fact("Last login", user.last_login ? when(user.last_login * 1000) : "never");
  fact("Attributes", JSON.stringify(user.attrs));
  $("user-detail").hidden = false;
  await loadSessions();
}

async function loadSessions() {
  const { results } = await api("GET", `users/${selected.id}/sessions/`);
  const body = $("session-table").tBodies[0];
  body.replaceChildren();
  for (const s of results) {
    const seen = s.last_refresh ?? s.login;
    const revoke = button("Revoke", () =>
      act(`End session ${short(s.id)} of ${selected.username}? Its tokens are refused from now on.`,
        () => api("DELETE", `sessions/${encodeURIComponent(s.id)}/`), loadSessions), "danger");
    revoke.setAttribute("aria-label", `Revoke session ${s.id}`);
    const tr = row([short(s.id), seen?.user_agent || "—", seen?.ip || "—", s.created_at, s.last_refreshed_at ?? "—"], revoke);
    tr.dataset.session = s.id;
    body.append(tr);
  }
  if (!results.length) body.append(row(["No live sessions."]));
}

function userAction(question, path, body) {
  return act(question(selected.username), () => api("POST", `users/${selected.id}/${path}/`, body),
    async () => {
      await openUser(selected.id);
      await loadUsers();
    });
}

// ---- tokens ----

let tokensOffset = 0;

const epoch = (input) => (input.value ? String(Math.floor(new Date(input.value).getTime() / 1000)) : "");

async function loadTokens() {
  const params = {
    user: $("token-user").value.trim(),
    state: $("token-state").value,
    expires_after: epoch($("token-after")),
    expires_before: epoch($("token-before")),
    limit: PAGE,
    offset: tokensOffset,
  };
  const page = await api("GET", `tokens/?${query(params)}`);
  const body = $("token-table").tBodies[0];
  body.replaceChildren();
  for (const t of page.results) {
    const blacklist = t.state === "outstanding"
      ? button("Blacklist", () =>
        act(`Blacklist token ${short(t.jti)} of user ${t.user_id}? It is refused from now on.`,
          () => api("POST", `tokens/${encodeURIComponent(t.jti)}/blacklist/`, {}), loadTokens), "danger")
      : null;
    blacklist?.setAttribute("aria-label", `Blacklist token ${t.jti}`);
    const state = t.state + (t.expired ? " (expired)" : "");
    const tr = row([short(t.jti), String(t.user_id), t.kind, t.expires, state], blacklist);
    tr.dataset.jti = t.jti;
    body.append(tr);
  }
  $("tokens-page").textContent = page.count ? `${tokensOffset + 1}–${tokensOffset + page.results.length} of ${page.count}` : "no tokens found";
  $("tokens-prev").disabled = tokensOffset === 0;
  $("tokens-next").disabled = tokensOffset + page.results.length >= page.count;
}
loaders.tokens = loadTokens;

// ---- keys ----

async function loadKeys() {
  const { results, configured_algorithm: algorithm } = await api("GET", "keys/");
  $("keys-note").textContent = results.length
    ? `Stored key set (${results.length} keys); the configured algorithm is ${algorithm}.`
    : `No stored keys: the configured ${algorithm} key signs. Rotating starts a stored key set.`;
  const body = $("key-table").tBodies[0];
  body.replaceChildren();
  for (const k of [...results].reverse()) {
    const revoke = ["next", "current", "previous"].includes(k.state)
      ? button("Revoke", () =>
        act(`Revoke key ${k.kid}? Every token it signed is refused at once.`,
          () => api("POST", `keys/${encodeURIComponent(k.kid)}/revoke/`, {}), loadKeys), "danger")
      : null;
    const tr = row([k.kid, k.algorithm, k.state, when(k.created_ms), when(k.activated_ms)], revoke);
    tr.dataset.state = k.state;
    body.append(tr);
  }
}
loaders.keys = loadKeys;

// ---- figures ----

const samples = [];
let sampler = null;

async function sample() {
  const f = await api("GET", "figures/");
  samples.push(f);
  if (samples.length > 60) samples.shift();
  drawFigures();
}

function drawFigures() {
  const last = samples.at(-1);
  if (!last) return;
  const charts = $("charts");
  charts.replaceChildren(
    barChart("Logins", [["ok", last.logins.ok], ["failed", last.logins.failed], ["throttled", last.logins.throttled]]),
    barChart("Refreshes", [["ok", last.refreshes.ok], ["failed", last.refreshes.failed]]),
    barChart("Replays detected", [["replays", last.replays_detected], ["grace reuses", last.reuse_grace]]),
    barChart("Store", [["users", last.store.users], ["outstanding", last.store.outstanding], ["blacklisted", last.store.blacklisted]]),
    lineChart("Logins and refreshes over time", samples.map((s) => s.at_ms), [
      ["logins", samples.map((s) => s.logins.ok)],
      ["refreshes", samples.map((s) => s.refreshes.ok)],
    ]),
  );
}

loaders.figures = async () => {
  await sample();
  sampler ??= setInterval(() => {
    if (me && !$("figures").hidden) sample().catch(fail);
  }, 10000);
};

// ---- audit trail ----

let auditNext = null;

async function loadAudit(more = false) {
  const before = more ? auditNext : undefined;
  const page = await api("GET", `audit/?${query({ before, limit: PAGE })}`);
  const body = $("audit-table").tBodies[0];
  if (!more) body.replaceChildren();
  for (const e of page.results) {
    const tr = row([e.at.replace("T", " ").replace("Z", ""), e.actor, e.via, e.action, e.target || "—", e.outcome]);
    if (e.outcome !== "ok") tr.className = "failed";
    body.append(tr);
  }
  auditNext = page.next_before;
  $("audit-more").disabled = auditNext === null;
}
loaders.audit = () => loadAudit(false);

// ---- wiring ----

$("sign-in-form").addEventListener("submit", signIn);
$("sign-out").addEventListener("click", signOut);
for (const b of document.querySelectorAll("nav button")) b.addEventListener("click", () => show(b.dataset.section));

$("user-search").addEventListener("submit", (e) => {
  e.preventDefault();
  usersOffset = 0;
  loadUsers().catch(fail);
});
$("users-prev").addEventListener("click", () => {
  usersOffset = Math.max(0, usersOffset - PAGE);
  loadUsers().catch(fail);
});
$("users-next").addEventListener("click", () => {
  usersOffset += PAGE;
  loadUsers().catch(fail);
});
$("user-deactivate").addEventListener("click", () =>
  userAction((name) => `Deactivate ${name}? Every token of theirs is revoked.`, "deactivate", {}));
$("user-logout-all").addEventListener("click", () =>
  userAction((name) => `Log ${name} out everywhere? Every refresh token of theirs is blacklisted.`, "logout-all", {}));
$("user-password").addEventListener("submit", (e) => {
  e.preventDefault();
  const password = $("new-password").value;
  $("new-password").value = "";
  userAction((name) => `Set a new password for ${name}? Their tokens are revoked.`, "password", { password });
});
$("user-attr").addEventListener("submit", (e) => {
  e.preventDefault();
  const key = $("attr-key").value.trim();
  const text = $("attr-value").value;
  let value = text === "" ? null : text;
  try {
    if (text !== "") value = JSON.parse(text);
  } catch {
    value = text;
  }
  userAction((name) => (value === null ? `Remove attribute ${key} of ${name}?` : `Set attribute ${key} of ${name} to ${JSON.stringify(value)}?`),
    "attrs", { attrs: { [key]: value } });
});
$("create-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const body = {
    username: $("create-username").value.trim(),
    email: $("create-email").value.trim(),
    password: $("create-password").value,
    is_staff: $("create-staff").checked,
    is_superuser: $("create-superuser").checked,
  };
  act(`Create user ${body.username}${body.is_superuser ? " as a superuser" : body.is_staff ? " as staff" : ""}?`,
    async () => {
      const user = await api("POST", "users/", body);
      $("create-form").reset();
      return user;
    }, loadUsers);
});

$("token-filter").addEventListener("submit", (e) => {
  e.preventDefault();
  tokensOffset = 0;
  loadTokens().catch(fail);
});
$("tokens-prev").addEventListener("click", () => {
  tokensOffset = Math.max(0, tokensOffset - PAGE);
  loadTokens().catch(fail);
});
$("tokens-next").addEventListener("click", () => {
  tokensOffset += PAGE;
  loadTokens().catch(fail);
});

$("rotate").addEventListener("click", () => {
  const now = $("rotate-now").checked;
  act(now ? "Rotate the signing key at once?" : "Rotate the signing key (to the published next key)?",
    () => api("POST", "keys/rotate/", { now }), loadKeys);
});

$("audit-reload").addEventListener("click", () => loadAudit(false).catch(fail));
$("audit-more").addEventListener("click", () => loadAudit(true).catch(fail));
