// End-to-end tests of the dashboard in a real headless Chromium (Debian's), driven by
// playwright-core. scripts/e2e.sh starts `tablero demo --today DAY` and sets TABLERO_URL,
// TABLERO_AS_OF (that day: pages are viewed as of it, so the data does not end before "now")
// and TABLERO_SCREENSHOTS (the folder where each page's screenshot is written).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.TABLERO_URL ?? "http://127.0.0.1:8080";
const shots = process.env.TABLERO_SCREENSHOTS ?? "screenshots";
const asOf = process.env.TABLERO_AS_OF;
/** A page's address, viewed as of the demo's day. */
const url = (path) => `${base}${path}${asOf ? `?as_of=${asOf}` : ""}`;
mkdirSync(shots, { recursive: true });

let browser;
let page;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (err) => { throw err; });
});

after(async () => {
  await browser?.close();
});

async function shot(name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

test("home shows every KPI with a value and a status", async () => {
  await page.goto(url("/"));
  const cards = page.getByTestId("kpi-card");
  assert.equal(await cards.count(), 28);
  for (const card of await cards.all()) {
    const value = (await card.getByTestId("kpi-value").innerText()).trim();
    const status = (await card.getByTestId("kpi-status").innerText()).trim();
    assert.notEqual(value, "—", `${await card.getAttribute("data-kpi")} has no value`);
    assert.ok(["en meta", "en riesgo", "fuera de meta", "sin datos", "sin meta"].includes(status), status);
  }
  // Spanish by default: the example company's locale.
  assert.equal(await page.getAttribute("html", "lang"), "es");
  await shot("home");
});

test("a card opens its KPI page with a chart", async () => {
  await page.goto(url("/"));
  await page.locator('[data-kpi="ventas_netas_totales"]').click();
  await page.waitForURL(/\/kpi\/ventas_netas_totales/);
  assert.equal((await page.getByTestId("kpi-title").innerText()).trim(), "Ventas Netas Totales");
  const chart = page.getByTestId("kpi-chart").locator("svg");
  assert.equal(await chart.getAttribute("role"), "img");
  assert.ok((await chart.locator("circle").count()) >= 10, "points on the chart");
  assert.ok((await page.getByTestId("breakdown").count()) >= 1, "a breakdown by dimension");
  assert.match(await page.getByTestId("sql").innerText(), /SELECT/);
  await shot("kpi");
});

test("changing the period changes the numbers", async () => {
  await page.goto(url("/kpi/ventas_netas_totales"));
  const before = await page.getByTestId("period-value").allInnerTexts();
  await page.getByTestId("grain").selectOption("quarter");
  await page.getByTestId("apply").click();
  await page.waitForURL(/grain=quarter/);
  const after = await page.getByTestId("period-value").allInnerTexts();
  assert.notDeepEqual(after, before);
  const periods = await page.locator('[data-testid="periods"] tbody th').allInnerTexts();
  assert.ok(periods.every((p) => /^\d{4}-Q[1-4]$/.test(p.trim())), periods.join(","));
  await shot("kpi-quarter");
});

test("switching to English changes the text", async () => {
  await page.goto(url("/"));
  await page.getByTestId("lang-switch").click();
  await page.waitForURL(/lang=en/);
  assert.equal(await page.getAttribute("html", "lang"), "en");
  const statuses = await page.getByTestId("kpi-status").allInnerTexts();
  assert.ok(statuses.some((s) => ["on track", "at risk", "off track"].includes(s.trim())), statuses.join(","));
  assert.ok(!(await page.content()).includes(">Aplicar<"));
  await shot("home-en");
});

test("a department scorecard and a phone-width home", async () => {
  await page.goto(url("/dashboards/finances"));
  assert.equal(await page.getByTestId("score-row").count(), 4);
  await shot("dashboard-finances");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(url("/"));
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no horizontal scroll at phone width (${width}px)`);
  await shot("home-phone");
  await page.setViewportSize({ width: 1280, height: 900 });
});
