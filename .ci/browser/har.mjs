// A HAR file made by a real client run, for `tokengate diff` (issue 18): headless Chromium
// (Debian's package) submits HTML forms to the gateway's token routes, as a browser page of a
// legacy application would, and Playwright records the exchanges as HAR 1.2.
//
// node har.mjs BASE OUT.har
//   BASE  the gateway, e.g. http://127.0.0.1:8080
//   OUT   where the HAR goes

import { chromium } from "playwright-core";

const [base, out] = process.argv.slice(2);
if (!base || !out) {
  console.error("usage: node har.mjs BASE OUT.har");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

// Each form: the route and its fields, as the demo's routes take them (fixtures/demo.toml).
const FORMS = [
  ["/Token", { grant_type: "password", username: "user@example.com", password: "P@ssw0rd!" }],
  ["/Token", { grant_type: "password", username: "user@example.com", password: "wrong" }],
  ["/api/Token", { grant_type: "client_credentials", client_id: "demo-client" }],
  ["/api/v1/auth/token", { grant_type: "client_credentials", client_id: "demo-client" }],
];

const escape = (s) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
let failed = false;
try {
  const context = await browser.newContext({ recordHar: { path: out, content: "embed" } });
  const page = await context.newPage();
  for (const [path, fields] of FORMS) {
    const inputs = Object.entries(fields)
      .map(([name, value]) => `<input name="${escape(name)}" value="${escape(value)}">`)
      .join("");
    await page.setContent(
      `<form method="post" action="${escape(base + path)}">${inputs}<button>Sign in</button></form>`,
    );
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url() === base + path, { timeout: 10_000 }),
      page.click("button"),
    ]);
    console.log(`${path}: ${response.status()}`);
    await page.waitForLoadState("load", { timeout: 10_000 }).catch(() => {});
  }
  await context.close(); // writes the HAR
} catch (e) {
  console.error(e);
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
