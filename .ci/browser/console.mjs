// The console's real-browser test (issue 15): headless Chromium (Debian's package) opens the
// control listener's page, sends a token request from a route's form, sees it in the capture,
// sets a fault from the page's form and sees the next request fail in the dialect's exact shape,
// then takes a screenshot. Everything goes through the page, as a person would use it.
//
// node console.mjs [CONTROL] [TOKEN] [SCREENSHOT]
//   CONTROL     the control listener, host:port or a URL  (else $CONSOLE_CONTROL)
//   TOKEN       the control token                        (else $TOKENGATE_CONTROL_TOKEN)
//   SCREENSHOT  where the PNG goes                       (else $CONSOLE_SCREENSHOT, else console.png)

import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { chromium } from "playwright-core";

const OVERALL_MS = 60_000;
const STEP_MS = 10_000;

const [argControl, argToken, argShot] = process.argv.slice(2);
const control = argControl || process.env.CONSOLE_CONTROL;
const token = argToken || process.env.TOKENGATE_CONTROL_TOKEN;
const screenshot = resolve(argShot || process.env.CONSOLE_SCREENSHOT || "console.png");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

if (!control || !token) {
  console.error("usage: node console.mjs CONTROL TOKEN [SCREENSHOT] (or $CONSOLE_CONTROL, $TOKENGATE_CONTROL_TOKEN, $CONSOLE_SCREENSHOT)");
  process.exit(2);
}
const base = (/^https?:\/\//.test(control) ? control : "http://" + control).replace(/\/+$/, "");

// What each demo route answers for the error rows the test forces: the rows of
// dialects/<dialect>.toml [errors], rendered as that dialect's error body. The test picks the
// first route the gateway has, and the first of its rows the route lists in GET /routes.
const EXPECTED = {
  "/api/Token": {
    authentication_failed: { status: 400, body: '{"error":"invalid_grant","error_description":"User authentication failed."}' },
    unauthorized_client: { status: 400, body: '{"error":"unauthorized_client","error_description":"Invalid request"}' },
  },
  "/Token": {
    authentication_failed: { status: 400, body: '{"error":"invalid_grant","error_description":"The user name or password is incorrect."}' },
    unauthorized_client: { status: 400, body: '{"error":"unauthorized_client"}' },
  },
};

let browser = null;
let page = null;
let finished = false;

async function fail(message) {
  if (finished) return;
  finished = true;
  // Playwright's messages quote the address, which holds the control token.
  console.error("FAIL " + String(message).split(token).join("[token]"));
  if (page) {
    try {
      const said = await page.getByTestId("banner").textContent({ timeout: 2000 });
      if (said) console.error("the page says: " + said);
    } catch (_) { /* no page to read */ }
    try {
      mkdirSync(dirname(screenshot), { recursive: true });
      await page.screenshot({ path: screenshot, fullPage: true, timeout: 5000 });
      console.error("the page at the failure: " + screenshot);
    } catch (_) { /* the failure itself is what matters */ }
  }
  // A browser that hangs on close must not hold the exit.
  const closed = browser ? browser.close().catch(() => {}) : Promise.resolve();
  await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
  process.exit(1);
}

const overall = setTimeout(() => fail(`the test did not finish in ${OVERALL_MS / 1000} s`), OVERALL_MS);

function pass(message) { console.log("PASS " + message); }

// Waits until `check` (run in Node against the page) returns a truthy value.
async function until(what, check, ms = STEP_MS) {
  const deadline = Date.now() + ms;
  let last = null;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) { last = e; }
    if (Date.now() > deadline) {
      throw new Error(`${what} (waited ${ms / 1000} s)` + (last ? `: ${last.message.split("\n")[0]}` : ""));
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// Headers and body of a raw HTTP answer, split at the blank line.
function splitAnswer(raw) {
  const at = raw.indexOf("\r\n\r\n");
  return at < 0 ? { head: raw, body: "" } : { head: raw.slice(0, at), body: raw.slice(at + 4) };
}

async function main() {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") pageErrors.push(m.text()); });
  // The page must work offline: any request off the control listener is a failure.
  const foreign = [];
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(base + "/")) return route.continue();
    foreign.push(url);
    return route.abort();
  });

  await page.goto(`${base}/#token=${encodeURIComponent(token)}`, { waitUntil: "load", timeout: STEP_MS });
  if (page.url().includes(token)) throw new Error("the token stayed in the address: " + page.url());
  const stored = await page.evaluate(() => sessionStorage.getItem("tokengate-control-token"));
  if (stored !== token) throw new Error("the token from #token= was not kept in sessionStorage");
  pass("the page took the token from the address (kept in sessionStorage, gone from the URL)");

  // The routes from GET /routes, each with its dialect.
  const routes = page.locator('[data-testid="route"]');
  await until("the routes to be listed", async () => (await routes.count()) > 0);
  const listed = await routes.evaluateAll((nodes) => nodes.map((n) => ({
    path: n.getAttribute("data-route"),
    dialect: n.getAttribute("data-dialect"),
    errors: n.querySelector('[data-testid="route-errors"]').textContent.split(", "),
    grants: n.querySelector('[data-testid="route-grants"]').textContent.split(", "),
  })));
  pass("routes listed: " + listed.map((r) => `${r.path} (${r.dialect})`).join(", "));

  let target = null;
  let row = null;
  for (const path of Object.keys(EXPECTED)) {
    const route = listed.find((r) => r.path === path && r.grants.includes("client_credentials"));
    if (!route) continue;
    row = Object.keys(EXPECTED[path]).find((name) => route.errors.includes(name));
    if (row) { target = route; break; }
  }
  if (!target) throw new Error("neither /api/Token nor /Token is listed with client_credentials and a known error row");
  const expected = EXPECTED[target.path][row];
  const section = page.locator(`[data-testid="route"][data-route="${target.path}"]`);
  const status = section.getByTestId("try-status");
  const response = section.getByTestId("try-response");

  // Start from an empty capture and no faults, through the page's own buttons.
  await page.getByTestId("exchanges-clear").click();
  await page.getByTestId("faults-clear").click();
  await until("the capture to be empty", async () => (await page.locator('[data-testid="exchange"]').count()) === 0);
  await until("the faults to be cleared", async () => (await page.locator('[data-testid="fault"]').count()) === 0);

  // 1. A token request from the route's form.
  const body = await section.getByTestId("try-body").inputValue();
  if (!body.includes("grant_type=client_credentials") || !body.includes("client_id=demo-client")) {
    throw new Error(`the ${target.path} form is not prefilled with a client_credentials request: ${JSON.stringify(body)}`);
  }
  await section.getByTestId("try-send").click();
  await until(`the ${target.path} form to show an answer`, async () => /^\d+$/.test((await status.getAttribute("data-status")) || ""));
  const firstStatus = await status.getAttribute("data-status");
  const first = splitAnswer(await response.textContent());
  if (firstStatus !== "200" || !/^HTTP\/1\.1 200 /.test(first.head)) {
    throw new Error(`the token request got ${firstStatus}, not 200:\n${first.head}\n\n${first.body}`);
  }
  if (!first.body.includes('"access_token"')) throw new Error("the 200 answer has no access_token: " + first.body);
  const sentRaw = await section.getByTestId("try-request").textContent();
  if (!sentRaw.startsWith(`POST ${target.path} HTTP/1.1\r\n`) || !sentRaw.endsWith(body)) {
    throw new Error("the request shown is not the raw bytes sent: " + JSON.stringify(sentRaw));
  }
  const accessToken = JSON.parse(first.body).access_token;
  pass(`the ${target.path} form got 200 with an access_token, raw bytes shown both ways`);

  // 2. The exchange appears in the live capture, redacted.
  const okRow = page.locator(`[data-testid="exchange"][data-route="${target.path}"][data-status="200"]`);
  await until("the token request to appear in the captured exchanges", async () => (await okRow.count()) === 1);
  const grant = await okRow.getByTestId("exchange-grant").textContent();
  const client = await okRow.getByTestId("exchange-client").textContent();
  if (grant !== "client_credentials" || client !== "demo-client") {
    throw new Error(`the captured exchange shows grant ${JSON.stringify(grant)}, client ${JSON.stringify(client)}`);
  }
  await okRow.getByTestId("exchange-toggle").click();
  const capturedAnswer = await page.locator('[data-testid="exchange-detail"]').first().getByTestId("exchange-response").textContent();
  if (!capturedAnswer.includes("[redacted]") || capturedAnswer.includes(accessToken)) {
    throw new Error("the captured answer does not redact the access token: " + capturedAnswer);
  }
  pass("the exchange appeared in the capture (status 200, client_credentials, demo-client), its token redacted");

  // 3. A fault through the page's form: the route's row, once.
  await page.getByTestId("fault-route").selectOption(target.path);
  await page.getByTestId("fault-kind").selectOption("error");
  await page.getByTestId("fault-error").selectOption(row);
  await page.getByTestId("fault-times").fill("1");
  await page.getByTestId("fault-add").click();
  const message = page.getByTestId("fault-message");
  const faultId = await until("the fault to be set", async () => message.getAttribute("data-fault-id"));
  const faultRow = page.locator(`[data-testid="fault"][data-fault-id="${faultId}"]`);
  await until("the fault to be listed", async () => (await faultRow.count()) === 1);
  const action = await faultRow.getByTestId("fault-action").textContent();
  const remaining = await faultRow.getByTestId("fault-remaining").textContent();
  if (!action.includes(row) || remaining !== "1") {
    throw new Error(`the fault is listed as ${JSON.stringify(action)} with ${JSON.stringify(remaining)} left`);
  }
  pass(`fault ${faultId} set from the form: ${target.path} answers ${row} once`);

  // 4. The same request again fails in the dialect's exact shape.
  await section.getByTestId("try-send").click();
  await until("the second answer", async () => {
    const s = await status.getAttribute("data-status");
    return s && s !== "200" && s !== "sending";
  });
  const secondStatus = await status.getAttribute("data-status");
  const second = splitAnswer(await response.textContent());
  if (secondStatus !== String(expected.status) || !second.head.startsWith(`HTTP/1.1 ${expected.status} `)) {
    throw new Error(`the faulted request got ${secondStatus}, not ${expected.status}:\n${second.head}\n\n${second.body}`);
  }
  if (second.body !== expected.body) {
    throw new Error(`the faulted answer is not the ${target.dialect} ${row} row:\n  got      ${second.body}\n  expected ${expected.body}`);
  }
  if (!/^content-type: application\/json/im.test(second.head)) {
    throw new Error("the faulted answer is not JSON:\n" + second.head);
  }
  pass(`the next request got ${expected.status} ${second.body}`);

  // 5. The fault was used up, and the capture says which fault answered.
  await until("the used fault to leave the list", async () => (await faultRow.count()) === 0);
  await until("the faults list to say none is set", async () => page.getByTestId("faults-empty").isVisible());
  const faultedRow = page.locator(`[data-testid="exchange"][data-route="${target.path}"][data-status="${expected.status}"]`);
  await until("the faulted request to appear in the capture", async () => (await faultedRow.count()) === 1);
  const faultCell = await faultedRow.getByTestId("exchange-fault").textContent();
  if (faultCell !== "#" + faultId) throw new Error(`the faulted exchange names fault ${JSON.stringify(faultCell)}, not #${faultId}`);
  pass(`fault ${faultId} is gone after one use; the capture shows the failed exchange, answered by #${faultId}`);

  // 6. A fault until cleared (a raw status), removed with its own delete button.
  await page.getByTestId("fault-kind").selectOption("status");
  await page.getByTestId("fault-times").fill("");
  await page.getByTestId("fault-status").fill("503");
  await page.getByTestId("fault-body").fill("down for a test");
  await page.getByTestId("fault-headers").fill("Retry-After: 1");
  await page.getByTestId("fault-add").click();
  const statusFaultId = await until("the status fault to be set", async () => {
    const id = await message.getAttribute("data-fault-id");
    return id && id !== faultId && id;
  });
  const statusRow = page.locator(`[data-testid="fault"][data-fault-id="${statusFaultId}"]`);
  await until("the status fault to be listed", async () => (await statusRow.count()) === 1);
  const left = await statusRow.getByTestId("fault-remaining").textContent();
  if (left !== "until cleared") throw new Error(`a fault without times shows ${JSON.stringify(left)} left`);
  await statusRow.getByTestId("fault-delete").click();
  await until("the deleted fault to leave the list", async () => (await statusRow.count()) === 0);
  pass(`fault ${statusFaultId} (status 503 until cleared) set and deleted from the page`);

  // 7. The clock: frozen, moved by +15m exactly, then back to the system time.
  const clockNow = page.getByTestId("clock-now");
  const clockState = page.getByTestId("clock-state");
  await page.getByTestId("clock-freeze").click();
  await until("the clock to show frozen", async () => (await clockState.getAttribute("data-frozen")) === "true");
  const frozenAt = Date.parse(await clockNow.textContent());
  await page.getByTestId("clock-advance").fill("+15m");
  await page.getByTestId("clock-advance-button").click();
  const moved = await until("the clock to move by 15 minutes", async () => {
    const at = Date.parse(await clockNow.textContent());
    return at - frozenAt === 15 * 60 * 1000 && at;
  });
  await page.getByTestId("clock-reset").click();
  await until("the clock to run on the system time again", async () =>
    (await clockState.getAttribute("data-frozen")) === "false" &&
    Math.abs(Date.parse(await clockNow.textContent()) - Date.now()) < 5000);
  pass(`the clock froze at ${new Date(frozenAt).toISOString()}, advanced to ${new Date(moved).toISOString()}, and was reset`);

  if (pageErrors.length) throw new Error("the page logged errors:\n  " + pageErrors.join("\n  "));
  if (foreign.length) throw new Error("the page asked for resources off the control listener:\n  " + foreign.join("\n  "));

  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });
  pass("screenshot: " + screenshot);
  await browser.close();
  clearTimeout(overall);
  finished = true;
}

main().catch((e) => fail(e.message));
