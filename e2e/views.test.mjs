// The views a management team reads together, in a real headless Chromium: the scorecard with
// its sections, a KPI tree, the pipeline funnel, the wall screen, and a chart whose period in
// progress is drawn as in progress — each asserted and kept as a screenshot
// (TABLERO_SCREENSHOTS, set by scripts/e2e.sh).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.TABLERO_URL ?? "http://127.0.0.1:8080";
const shots = process.env.TABLERO_SCREENSHOTS ?? "screenshots";
const asOf = process.env.TABLERO_AS_OF;
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

test("the management scorecard reads by sections", async () => {
  await page.goto(url("/dashboards/direccion"));
  const sections = page.getByTestId("score-section");
  assert.deepEqual(await sections.allInnerTexts(),
    ["Resultados", "Clientes y mercado", "Personas y entrega"]);
  assert.equal(await page.getByTestId("score-row").count(), 9);
  await shot("scorecard-sections");
});

test("a KPI tree splits the change between its drivers", async () => {
  await page.goto(url("/kpi/ventas_ganadas"));
  await page.getByTestId("tree-link").click();
  await page.waitForURL(/\/kpi\/ventas_ganadas\/tree/);
  assert.equal(await page.getByTestId("tree-driver").count(), 3);
  // The change from the month before is split in three parts (a year ago too, when every
  // driver had a value then).
  assert.ok(await page.getByTestId("tree-contribution").count() >= 3);
  await shot("kpi-tree");
});

test("the pipeline funnel shows each stage's conversion", async () => {
  await page.goto(url("/kpi/oportunidades_calificadas"));
  await page.getByTestId("funnel-link").click();
  await page.waitForURL(/\/funnel\/embudo/);
  const stages = page.getByTestId("funnel-stage");
  assert.equal(await stages.count(), 4);
  const conversions = await page.getByTestId("funnel-conversion").allInnerTexts();
  assert.equal(conversions[0].trim(), "—", "the first stage has no stage before");
  for (const c of conversions.slice(1)) assert.match(c.trim(), /^\d+,\d %$/);
  await shot("funnel");
});

test("the wall screen has large cards and no controls", async () => {
  await page.goto(url("/tv/direccion"));
  assert.equal(await page.getByTestId("kpi-card").count(), 9);
  assert.equal(await page.locator("form, input, select, button").count(), 0);
  await shot("tv-direccion");
});

test("the period in progress is drawn as in progress", async () => {
  await page.goto(url("/kpi/ventas_netas_totales"));
  assert.equal(await page.getByTestId("partial-point").count(), 1);
  assert.equal(await page.getByTestId("pace-mark").count(), 1);
  await shot("chart-in-progress");
});
