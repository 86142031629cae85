// The numbers the home page shows, checked against an independent computation. scripts/e2e.sh
// starts `tablero demo --today 2026-10-15` (fixed seed), recomputes every KPI from the demo's
// files with DuckDB (tests/example_check.py, written from SPEC.md, not from the engine) into
// TABLERO_EXPECTED, and sets TABLERO_AS_OF to the same day. Here each card's value, target,
// period, status, change against the previous period and the period in progress (value, pace,
// forecast, status) must read exactly as those numbers formatted for the es locale, and the
// card's value must be the API's value for the same KPI and period.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.TABLERO_URL ?? "http://127.0.0.1:8080";
const shots = process.env.TABLERO_SCREENSHOTS ?? "screenshots";
const asOf = process.env.TABLERO_AS_OF;
const expectedFile = process.env.TABLERO_EXPECTED;
if (!asOf || !expectedFile) {
  throw new Error("TABLERO_AS_OF and TABLERO_EXPECTED are needed: run scripts/e2e.sh");
}
mkdirSync(shots, { recursive: true });

/** DuckDB's results: KPI id → its values, period by period. */
const expected = new Map(
  readFileSync(expectedFile, "utf8").trim().split("\n")
    .map((line) => JSON.parse(line))
    .map((k) => [k.kpi, k.values]),
);

// ---- Numbers as the es locale writes them (SPEC §7, README): 1.234.567,5 · 27,5 % · $1.234.

/** `x` ≥ 0 rounded to `decimals` digits, from its exact decimal expansion (toFixed(100) is
 * exact for these magnitudes), an exact tie going to the even digit. */
function rounded(x, decimals) {
  const [int, frac = ""] = x.toFixed(100).split(".");
  const kept = frac.slice(0, decimals);
  const rest = frac.slice(decimals).replace(/0+$/, "");
  let digits = BigInt(int + kept);
  const up = rest > "5" || (rest === "5" && digits % 2n === 1n);
  if (up) digits += 1n;
  const text = digits.toString().padStart(decimals + 1, "0");
  return decimals === 0
    ? text
    : `${text.slice(0, text.length - decimals)}.${text.slice(text.length - decimals)}`;
}

function formatNumber(value, decimals) {
  const [int, frac] = rounded(Math.abs(value), decimals).split(".");
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ".");
  const nonzero = /[1-9]/.test(int + (frac ?? ""));
  const sign = value < 0 && nonzero ? "-" : "";
  return sign + grouped + (frac === undefined ? "" : `,${frac}`);
}

function formatValue(value, kpi) {
  if (value === null || value === undefined) return "—";
  const n = formatNumber(value, kpi.decimals);
  switch (kpi.unit) {
    case "percent": return `${n} %`;
    case "currency": return n.startsWith("-") ? `-$${n.slice(1)}` : `$${n}`;
    case "days": return `${n} días`;
    case "hours": return `${n} h`;
    case "minutes": return `${n} min`;
    default: return n;
  }
}

const statusLabel = {
  on_track: "en meta", at_risk: "en riesgo", off_track: "fuera de meta",
  no_data: "sin datos", no_target: "sin meta",
};

function changeOf(last, previous, kpi) {
  const diff = last - previous;
  const text = diff > 0 ? `▲ +${formatValue(diff, kpi)}`
    : diff < 0 ? `▼ ${formatValue(diff, kpi)}`
    : `= ${formatValue(0, kpi)}`;
  const better = kpi.direction === "up" ? diff > 0 : diff < 0;
  return { text, class: diff === 0 ? "same" : better ? "better" : "worse" };
}

function close(a, b) {
  return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
}

function squash(text) {
  return text.replace(/\s+/g, " ").trim();
}

async function json(path) {
  const response = await fetch(`${base}${path}`);
  assert.equal(response.status, 200, path);
  return response.json();
}

// ---- The browser.

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

test("the math of the check itself: es formatting and rounding", () => {
  const money = { unit: "currency", decimals: 0 };
  assert.equal(formatValue(1343596348, money), "$1.343.596.348");
  assert.equal(formatValue(-140247012.4, money), "-$140.247.012");
  assert.equal(formatValue(27.45, { unit: "percent", decimals: 1 }), "27,4 %"); // 27.449999…
  assert.equal(formatValue(0.25, { unit: "percent", decimals: 1 }), "0,2 %"); // a tie: even
  assert.equal(formatValue(0.75, { unit: "number", decimals: 1 }), "0,8");
  assert.equal(formatValue(-0.001, { unit: "number", decimals: 1 }), "0,0");
  assert.equal(formatValue(999.5, { unit: "count", decimals: 0 }), "1.000");
  assert.equal(formatValue(46.91815, { unit: "days", decimals: 1 }), "46,9 días");
  assert.equal(formatValue(null, money), "—");
  assert.deepEqual(changeOf(10, 12, { unit: "hours", decimals: 1, direction: "down" }),
    { text: "▼ -2,0 h", class: "better" });
});

test("every card shows the numbers DuckDB computes, and the API's value", async (t) => {
  await page.goto(`${base}/?as_of=${asOf}`);
  const cards = page.getByTestId("kpi-card");
  assert.equal(await cards.count(), 28);
  let withPace = 0;
  for (const card of await cards.all()) {
    const id = await card.getAttribute("data-kpi");
    const kpi = await json(`/api/v1/kpis/${id}`);
    const values = expected.get(id);
    assert.ok(values, `${id}: not recomputed by DuckDB`);
    // The card shows the latest complete period with a value, and its change against the
    // complete period before it (the home page's range ends with the period in progress).
    const complete = values.filter((v) => !v.partial && v.value !== null);
    const [previous, last] = complete.slice(-2);
    const partial = values.find((v) => v.partial);
    assert.ok(last && previous && partial, `${id}: DuckDB has too few periods`);

    const shown = {
      value: squash(await card.getByTestId("kpi-value").innerText()),
      meta: squash(await card.locator(".card-meta").innerText()),
      status: squash(await card.getByTestId("kpi-status").innerText()),
      dataStatus: await card.getAttribute("data-status"),
      change: squash(await card.locator(".change").innerText()),
      changeClass: await card.locator(".change").getAttribute("class"),
      partial: squash(await card.locator(".partial").innerText()),
    };
    const change = changeOf(last.value, previous.value, kpi);
    let inProgress = `En curso ${partial.period}: ${formatValue(partial.value, kpi)}`;
    if (partial.pace_target != null) {
      inProgress += ` · ritmo ${formatValue(partial.pace_target, kpi)}`;
      withPace += 1;
    }
    if (partial.forecast != null) inProgress += ` · proyección ${formatValue(partial.forecast, kpi)}`;
    inProgress += ` (${statusLabel[partial.status]})`;
    assert.deepEqual(shown, {
      value: formatValue(last.value, kpi),
      meta: `Meta ${formatValue(last.target, kpi)} · ${last.period}`,
      status: statusLabel[last.status],
      dataStatus: last.status,
      change: `${change.text} vs. periodo anterior`,
      changeClass: `change change-${change.class}`,
      partial: inProgress,
    }, id);

    // The API answers the same number for the same KPI and period.
    const api = await json(`/api/v1/kpis/${id}/values?as_of=${asOf}`);
    const same = api.values.find((v) => v.period === last.period);
    assert.ok(same, `${id}: the API has no ${last.period}`);
    assert.ok(close(same.value, last.value), `${id} ${last.period}: API ${same.value}, DuckDB ${last.value}`);
    assert.equal(formatValue(same.value, kpi), shown.value, id);
    t.diagnostic(`${id} ${last.period}: ${shown.value} (${shown.status}), ${shown.change}; ${shown.partial}`);
  }
  // Sales, the projects, the applications, the leads, the closed opportunities and the four
  // pipeline stages are flows with a pace in the month in progress (won sales, a product of
  // KPIs, is not).
  assert.equal(withPace, 9);
  await page.screenshot({ path: join(shots, "home-checked.png"), fullPage: true });
});
