// The ocpulse dashboard in a real browser: Debian's chromium driven by playwright-core
// (nothing downloaded at run time), against `ocpulse demo --login` (started by run.sh).
// Usage: node test_dashboard.mjs BASE_URL ADMIN_TOKEN OUT_DIR
// Each step prints `ok` or `FAIL`; the exit code is the number of failures (capped).
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import assert from "node:assert/strict";

const [base, token, out] = process.argv.slice(2);
if (!base || !token || !out) {
  console.error("usage: node test_dashboard.mjs BASE_URL ADMIN_TOKEN OUT_DIR");
  process.exit(2);
}
mkdirSync(out, { recursive: true });
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
// bypassCSP: the page forbids inline scripts, and axe-core is injected as one.
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, bypassCSP: true });
const page = await context.newPage();
page.setDefaultTimeout(20000);
const pageErrors = [];
page.on("pageerror", (e) => pageErrors.push(e.message));

// The JSON API with the admin token, to drive stations and check what the browser did.
async function api(method, path, body) {
  const r = await fetch(base + path, {
    method,
    headers: { authorization: "Bearer " + token, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

let failures = 0;
async function step(name, fn) {
  const started = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
    await page.screenshot({ path: `${out}/failed-${name.replace(/\W+/g, "-")}.png` }).catch(() => {});
  }
}

async function shot(name) {
  await page.screenshot({ path: `${out}/${name}.png` });
}

// axe-core on the current page: no serious or critical violation.
async function accessible(label) {
  if (!(await page.evaluate(() => typeof window.axe !== "undefined"))) {
    await page.addScriptTag({ content: axeSource });
  }
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  const text = bad.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")})`);
  assert.equal(bad.length, 0, `axe on ${label}:\n  ${text.join("\n  ")}`);
  return result.violations.length;
}

// Presses Tab until the focused element satisfies `want` (a function of its text and tag).
async function tabTo(description, want, max = 80) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    const f = await page.evaluate(() => {
      const a = document.activeElement;
      return { tag: a.tagName, text: (a.textContent || "").trim(), id: a.id, href: a.getAttribute("href") || "",
        outline: getComputedStyle(a).outlineStyle };
    });
    if (want(f)) {
      assert.notEqual(f.outline, "none", `focus on ${description} is visible`);
      return f;
    }
  }
  throw new Error(`Tab never reached ${description}`);
}

await step("login", async () => {
  await page.goto(base + "/");
  assert.match(page.url(), /\/ui\/login\?next=%2F$/);
  await accessible("login page");
  await page.fill("#token", token);
  await page.click("button[type=submit]");
  await page.waitForURL(base + "/");
  assert.equal(await page.textContent("h1"), "Fleet overview");
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === "ocpulse_session");
  assert.ok(session, "session cookie set");
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Strict");
});

await step("overview shows the fleet and its chart", async () => {
  // The demo fleet: 3 + 2 healthy stations and 4 faulty ones, all connecting.
  await page.waitForFunction(() => document.querySelector("#count-connected")?.textContent === "9", null, { timeout: 30000 });
  assert.equal(await page.textContent("#count-known"), "9");
  await page.waitForFunction(() => document.querySelector("#count-alerts")?.textContent !== "0");
  await page.waitForSelector("#fleet-chart canvas");
  await accessible("overview");
  await shot("overview");
});

await step("a station's status changes live on the stations page", async () => {
  await page.goto(base + "/ui/stations");
  const cell = 'tr[data-station="REJECT01"] td.status';
  await page.waitForFunction((sel) => document.querySelector(sel)?.textContent.includes("Available"), cell);
  await page.evaluate(() => { window.__notReloaded = true; });
  const r = await api("POST", "/api/v1/stations/REJECT01/change-availability", { operative: false, connectorId: 1 });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await page.waitForFunction((sel) => document.querySelector(sel)?.textContent.includes("Unavailable"), cell);
  assert.equal(await page.evaluate(() => window.__notReloaded), true, "the page was not reloaded");
  await accessible("stations");
  await shot("stations");
  const back = await api("POST", "/api/v1/stations/REJECT01/change-availability", { operative: true, connectorId: 1 });
  assert.equal(back.status, 200, JSON.stringify(back.body));
  await page.waitForFunction((sel) => !document.querySelector(sel)?.textContent.includes("Unavailable"), cell);
});

await step("trigger a StatusNotification from the station page and see the payload", async () => {
  await page.goto(base + "/ui/stations/CP0001");
  await page.selectOption("#requested", "StatusNotification");
  await page.fill("#target", "1");
  await page.click("#trigger-form button[type=submit]");
  await page.waitForSelector("#trigger-result pre");
  const text = await page.textContent("#trigger-result");
  assert.match(text, /Completed/);
  const payload = JSON.parse(await page.textContent("#trigger-result pre"));
  assert.equal(payload.connectorId, 1);
  assert.ok(typeof payload.status === "string", "the station's status is shown");
  await page.waitForFunction(() => document.querySelector("#recent-triggers tbody")?.textContent.includes("StatusNotification"));
  // The live journal shows the exchange too.
  await page.waitForFunction(() => [...document.querySelectorAll("#journal tbody tr")].some((r) => r.dataset.action === "TriggerMessage"));
  // The journal's filters: only what went out to the station.
  await page.selectOption("#journal-direction", "out");
  assert.equal(await page.evaluate(() => [...document.querySelectorAll("#journal tbody tr")].filter((r) => !r.hidden && r.dataset.direction !== "out").length), 0);
  assert.ok(await page.evaluate(() => [...document.querySelectorAll("#journal tbody tr")].some((r) => !r.hidden)), "outgoing entries stay shown");
  await page.selectOption("#journal-direction", "");
  // Older entries, a page at a time (the demo's station has more than one page by now).
  const rows = await page.locator("#journal tbody tr").count();
  if (await page.isVisible("#journal-older")) {
    await page.click("#journal-older");
    await page.waitForFunction((n) => document.querySelectorAll("#journal tbody tr").length > n, rows);
  }
  await accessible("station");
  await page.locator("#trigger-section").scrollIntoViewIfNeeded();
  await shot("station");
});

await step("a job counts its stations live and reaches 100%", async () => {
  await page.goto(base + "/ui/jobs");
  await page.selectOption("#job-message", "Heartbeat");
  await page.selectOption("#job-protocol", "ocpp1.6");
  // CP0001-3, FAULTY01 and REJECT01 are connected 1.6 stations.
  await page.waitForFunction(() => document.querySelector("#job-count")?.textContent.startsWith("5 station"));
  await page.selectOption("#job-protocol", "ocpp2.0.1");
  await page.waitForFunction(() => document.querySelector("#job-count")?.textContent.startsWith("4 station"));
  await page.selectOption("#job-protocol", "ocpp1.6");
  await page.waitForFunction(() => document.querySelector("#job-count")?.textContent.startsWith("5 station"));
  await page.fill("#job-name", "browser test");
  await page.click("#job-form button[type=submit]");
  await page.waitForFunction(() => document.querySelector("#job-progress")?.value === 100, null, { timeout: 30000 });
  await page.waitForFunction(() => document.querySelectorAll("#job-results tbody tr").length === 5);
  assert.match(await page.textContent("#job-progress-text"), /^100% · 5 of 5 stations done · 5 succeeded/);
  await page.waitForFunction(() => document.querySelector("#jobs-table tbody")?.textContent.includes("browser test"));
  await accessible("jobs");
  await shot("jobs");
});

await step("acknowledge an alert", async () => {
  await page.goto(base + "/ui/alerts");
  const button = page.locator("button.ack").first();
  await button.waitFor();
  const id = await button.getAttribute("data-alert");
  await accessible("alerts");
  await button.click();
  // The row says so, then the live list of open alerts drops it.
  await page.waitForFunction((a) => {
    const row = document.querySelector(`tr[data-alert="${a}"]`);
    return !row || row.querySelector(".alert-status").textContent.includes("acknowledged");
  }, id);
  const r = await api("GET", `/api/v1/alerts/${id}`);
  assert.equal(r.body.status, "acknowledged");
  assert.equal(r.body.acknowledgedBy, "demo-admin");
  await page.waitForFunction((a) => !document.querySelector(`tr[data-alert="${a}"]`), id);
  await page.click("text=acknowledged");
  await page.waitForURL(/status=acknowledged/);
  assert.match(await page.textContent(`tr[data-alert="${id}"] .alert-status`), /acknowledged by demo-admin/);
  await shot("alerts");
});

await step("a trigger's timeline", async () => {
  await page.goto(base + "/ui/stations/CP0001");
  // The capability matrix now has the trigger sent before.
  const caps = await page.textContent("#caps-title + table");
  assert.match(caps, /StatusNotification/);
  assert.match(caps, /Completed/);
  const link = page.locator("#recent-triggers tbody tr", { hasText: "StatusNotification" }).first().locator("a");
  await link.waitFor();
  await link.click();
  await page.waitForURL(/\/ui\/triggers\//);
  await page.waitForFunction(() => document.querySelector("#trigger-timeline")?.textContent.includes("Ended"));
  const text = await page.textContent("#trigger-timeline");
  assert.match(text, /Sent TriggerMessage/);
  assert.match(text, /Station answered Accepted/);
  assert.match(text, /Station sent StatusNotification/);
  // The frames themselves, from the journal.
  await page.waitForFunction(() => !document.querySelector("#trigger-frames")?.textContent.includes("Loading"));
  const frames = await page.textContent("#trigger-frames");
  assert.match(frames, /→ station CALL TriggerMessage/);
  assert.match(frames, /station → CALLRESULT TriggerMessage/);
  assert.match(frames, /station → CALL StatusNotification/);
  await accessible("trigger timeline");
});

await step("sessions, schedules and webhooks pages", async () => {
  const s = await api("POST", "/api/v1/schedules", { name: "browser schedule", selector: { all: true }, trigger: { requestedMessage: "Heartbeat" }, everySeconds: 3600 });
  assert.equal(s.status, 201, JSON.stringify(s.body));
  await page.goto(base + "/ui/schedules");
  await page.waitForFunction(() => document.querySelector("#schedules-table tbody")?.textContent.includes("browser schedule"));
  await page.waitForFunction(() => !document.querySelector("#freshness-table tbody")?.textContent.includes("Loading"));
  await accessible("schedules");
  await page.goto(base + "/ui/sessions");
  // The demo's stations charge every few seconds: sessions appear with their energy.
  await page.waitForFunction(() => document.querySelectorAll("#sessions-table tbody a").length > 0, null, { timeout: 30000 });
  await accessible("sessions");
  await page.goto(base + "/ui/operations");
  await page.waitForFunction(() => !document.querySelector("#drift-profiles-table tbody")?.textContent.includes("Loading")
    && !document.querySelector("#rollouts-table tbody")?.textContent.includes("Loading"));
  assert.doesNotMatch(await page.textContent("#rollouts-table tbody"), /^\d{3}:/, "the rollouts list loads");
  await accessible("firmware and configuration");
  await page.goto(base + "/ui/webhooks");
  await page.waitForFunction(() => !document.querySelector("#webhooks-table tbody")?.textContent.includes("Loading"));
  await accessible("webhooks");
});

await step("keyboard-only navigation of the main pages", async () => {
  await page.goto(base + "/");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => document.activeElement.id), "main", "skip link moves focus to the content");
  await page.goto(base + "/");
  await tabTo("the Stations link", (f) => f.tag === "A" && f.text === "Stations");
  await page.keyboard.press("Enter");
  await page.waitForURL(base + "/ui/stations");
  await tabTo("the search field", (f) => f.id === "q");
  await page.keyboard.type("CP0002");
  await page.keyboard.press("Enter");
  await page.waitForURL(/q=cp0002/i);
  await tabTo("the station's link", (f) => f.tag === "A" && f.text === "CP0002");
  await page.keyboard.press("Enter");
  await page.waitForURL(base + "/ui/stations/CP0002");
  await tabTo("the trigger button", (f) => f.tag === "BUTTON" && f.text === "Trigger");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#trigger-result p");
  await tabTo("the Jobs link", (f) => f.tag === "A" && f.text === "Jobs", 200).catch(async () => {
    // Past the end of the page focus wraps to the browser; start again from the top.
    await page.evaluate(() => document.activeElement.blur());
    await tabTo("the Jobs link", (f) => f.tag === "A" && f.text === "Jobs");
  });
  await page.keyboard.press("Enter");
  await page.waitForURL(base + "/ui/jobs");
  await tabTo("the Alerts link", (f) => f.tag === "A" && f.text === "Alerts");
  await page.keyboard.press("Enter");
  await page.waitForURL(base + "/ui/alerts");
  await tabTo("the Log out button", (f) => f.tag === "BUTTON" && f.text === "Log out");
});

await step("logout", async () => {
  // A second tab stays open on the stations page while the first logs out.
  const other = await context.newPage();
  await other.goto(base + "/ui/stations");
  await other.waitForSelector('tr[data-station="REJECT01"]');
  await page.goto(base + "/");
  await page.click("text=Log out");
  await page.waitForURL(/\/ui\/login$/);
  await page.goto(base + "/ui/stations");
  assert.match(page.url(), /\/ui\/login\?next=/);
  // Its next live refresh finds the session ended and goes to the login page.
  const r = await api("POST", "/api/v1/stations/REJECT01/change-availability", { operative: false, connectorId: 1 });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await other.waitForURL(/\/ui\/login/);
  await api("POST", "/api/v1/stations/REJECT01/change-availability", { operative: true, connectorId: 1 });
  await other.close();
});

await step("no script errors", async () => {
  assert.deepEqual(pageErrors, []);
});

await browser.close();
console.log(failures === 0 ? "dashboard browser tests: all passed" : `dashboard browser tests: ${failures} failed`);
process.exit(Math.min(failures, 100));
