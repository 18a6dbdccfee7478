// Renders /api/schema/ (OpenAPI 3.1) as one page: operations by tag, then the schemas.
// Text only (textContent), so nothing in the document can become markup.
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
};
const anchor = (name) => `schema-${name}`;
const refName = (ref) => ref.split("/").pop();

/** A schema as compact text; `$ref`s become links to the schema section. */
function schemaView(schema) {
  const pre = el("pre");
  const text = JSON.stringify(schema ?? {}, null, 2);
  let at = 0;
  for (const m of text.matchAll(/"\$ref": "#\/components\/schemas\/([^"]+)"/g)) {
    pre.append(text.slice(at, m.index), "→ ", el("a", { href: `#${anchor(m[1])}` }, m[1]));
    at = m.index + m[0].length;
  }
  pre.append(text.slice(at));
  return pre;
}

function resolve(doc, value) {
  return value && value.$ref ? doc.components.responses[refName(value.$ref)] ?? value : value;
}

function operation(doc, path, method, op) {
  const id = `op-${op.operationId ?? `${method}-${path}`}`;
  const title = el("h3", { id }, el("span", { class: `method ${method}` }, method), " ", el("code", {}, path));
  if (op.security?.length) title.append(el("span", { class: "lock", title: "needs authentication" }, "🔒 Bearer"));
  const section = el("section", { class: "op" }, title, el("p", {}, op.summary ?? ""));
  if (op.description) section.append(el("p", {}, op.description));
  for (const p of op.parameters ?? []) {
    section.append(el("p", {}, "Parameter ", el("code", {}, p.name), ` (${p.in}${p.required ? ", required" : ""})`));
  }
  if (op.requestBody) {
    const types = Object.keys(op.requestBody.content);
    section.append(el("h4", {}, `Request body${op.requestBody.required ? "" : " (optional)"}: ${types.join(", ")}`));
    section.append(schemaView(op.requestBody.content[types[0]].schema));
  }
  const table = el("table", {}, el("tr", {}, el("th", {}, "Status"), el("th", {}, "Answer")));
  for (const [status, raw] of Object.entries(op.responses)) {
    const r = resolve(doc, raw);
    const cell = el("td", {}, r.description ?? "");
    for (const [type, media] of Object.entries(r.content ?? {})) {
      cell.append(el("div", {}, el("code", {}, type)), schemaView(media.schema));
    }
    table.append(el("tr", {}, el("td", {}, el("code", {}, status)), cell));
  }
  section.append(table);
  return [id, section];
}

async function main() {
  const main = document.getElementById("main");
  const response = await fetch("/api/schema/", { headers: { accept: "application/vnd.oai.openapi+json" } });
  if (!response.ok) throw new Error(`/api/schema/ answered ${response.status}`);
  const doc = await response.json();
  document.getElementById("title").textContent = `${doc.info.title} API ${doc.info.version}`;
  main.replaceChildren(el("p", {}, doc.info.description ?? ""));
  const toc = el("ul");
  const byTag = new Map((doc.tags ?? []).map((t) => [t.name, { tag: t, ops: [] }]));
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (method === "parameters") continue;
      const name = op.tags?.[0] ?? "other";
      if (!byTag.has(name)) byTag.set(name, { tag: { name }, ops: [] });
      byTag.get(name).ops.push(operation(doc, path, method, op));
    }
  }
  for (const { tag, ops } of byTag.values()) {
    main.append(el("h2", {}, tag.name), el("p", {}, tag.description ?? ""));
    for (const [id, section] of ops) {
      main.append(section);
      toc.append(el("li", {}, el("a", { href: `#${id}` }, section.querySelector("h3 code").textContent)));
    }
  }
  main.append(el("h2", {}, "Schemas"));
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    main.append(el("h3", { id: anchor(name) }, name), schemaView(schema));
  }
  const schemes = Object.entries(doc.components.securitySchemes ?? {});
  main.append(el("h2", {}, "Security schemes"));
  for (const [name, scheme] of schemes) main.append(el("p", {}, el("code", {}, name), ` ${scheme.description ?? ""}`));
  document.getElementById("toc").replaceChildren(toc);
}

main().catch((e) => {
  document.getElementById("main").replaceChildren(el("p", { role: "alert" }, `Could not render the document: ${e.message}`));
});
