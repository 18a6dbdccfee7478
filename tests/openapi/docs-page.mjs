// The page at /api/schema/docs/ in Chromium: it renders every operation of the document
// under the server's Content-Security-Policy, with no error or CSP violation in the
// console; a screenshot at desktop and phone width goes to the folder given (not kept).
// Usage: node tests/openapi/docs-page.mjs BASE_URL OUT_DIR
import { chromium } from "../runtimes/node_modules/playwright-core/index.mjs";
import { chromiumOptions } from "../runtimes/lib.mjs";

const [base, out] = process.argv.slice(2);
const doc = await (await fetch(`${base}/api/schema/`)).json();
const operations = Object.values(doc.paths).flatMap((item) => Object.keys(item).filter((m) => m !== "parameters"));
const browser = await chromium.launch(chromiumOptions);
const problems = [];
try {
  for (const [name, viewport] of [["desktop", { width: 1280, height: 900 }], ["phone", { width: 390, height: 844 }]]) {
    const page = await browser.newPage({ viewport });
    page.on("console", (m) => m.type() === "error" && problems.push(`${name}: console: ${m.text()}`));
    page.on("pageerror", (e) => problems.push(`${name}: ${e.message}`));
    const response = await page.goto(`${base}/api/schema/docs/`);
    if (!response.headers()["content-security-policy"]?.startsWith("default-src 'none'")) problems.push(`${name}: no CSP`);
    await page.waitForSelector("section.op", { timeout: 15000 });
    const shown = await page.locator("section.op").count();
    if (shown !== operations.length) problems.push(`${name}: ${shown} operations shown, ${operations.length} in the document`);
    const schemas = await page.locator("h3[id^=schema-]").count();
    if (schemas !== Object.keys(doc.components.schemas).length) problems.push(`${name}: ${schemas} schemas shown`);
    await page.screenshot({ path: `${out}/schema-docs-${name}.png`, fullPage: false });
    await page.close();
  }
} finally {
  await browser.close();
}
if (problems.length) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(`docs page: ${operations.length} operations rendered in Chromium at desktop and phone width, no console error or CSP violation`);
