// Signing in (SPEC §13): scripts/e2e.sh serves a copy of the example with accounts — a viewer
// limited to People Growth — at TABLERO_ACCOUNTS_URL. The browser is sent to the sign-in page,
// signs in, sees only People Growth's cards, and signs out.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const base = process.env.TABLERO_ACCOUNTS_URL;
const email = process.env.TABLERO_VIEWER_EMAIL;
const password = process.env.TABLERO_VIEWER_PASSWORD;
const shots = process.env.TABLERO_SCREENSHOTS ?? "screenshots";
if (!base || !email || !password) {
  throw new Error("TABLERO_ACCOUNTS_URL, TABLERO_VIEWER_EMAIL and TABLERO_VIEWER_PASSWORD are needed: run scripts/e2e.sh");
}
mkdirSync(shots, { recursive: true });

// The example's People Growth KPIs (crates/example/workspace/kpis/people_growth.yaml).
const PEOPLE_GROWTH = ["tasa_absentismo", "tasa_rotacion_profesionales"];

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox"],
  });
});
after(async () => {
  await browser?.close();
});

test("a viewer signs in, sees only People Growth, and signs out", async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/`);
  assert.match(new URL(page.url()).pathname, /^\/login$/, "nobody signed in is sent to sign in");
  assert.equal(await page.locator("h1").textContent(), "Iniciar sesión");

  // A wrong password first: the page says so and stays.
  await page.getByTestId("login-email").fill(email);
  await page.getByTestId("login-password").fill("not the password");
  await page.getByTestId("login-submit").click();
  await page.getByTestId("login-problem").waitFor();
  assert.match(await page.getByTestId("login-problem").textContent(), /incorrectos/);

  await page.getByTestId("login-password").fill(password);
  await page.getByTestId("login-submit").click();
  await page.getByTestId("account-email").waitFor();
  assert.equal(new URL(page.url()).pathname, "/");
  assert.equal(await page.getByTestId("account-email").textContent(), email);
  await page.screenshot({ path: join(shots, "signed-in-viewer.png"), fullPage: true });

  const cards = await page.locator("a.card").evaluateAll((as) =>
    as.map((a) => new URL(a.href).pathname.replace("/kpi/", "")).sort());
  assert.deepEqual(cards, PEOPLE_GROWTH);
  const html = await page.content();
  for (const hidden of ["ventas_netas_totales", "margen_ebitda", "/dashboards/finances"]) {
    assert.ok(!html.includes(hidden), `the viewer's page mentions ${hidden}`);
  }
  // A Finances KPI is not there for this account, even by its address.
  const response = await page.goto(`${base}/kpi/ventas_netas_totales`);
  assert.equal(response.status(), 404);

  await page.goto(`${base}/`);
  await page.getByTestId("sign-out").click();
  await page.waitForURL(/\/login/);
  const again = await page.goto(`${base}/`);
  assert.match(new URL(page.url()).pathname, /^\/login$/, "signed out: back to the sign-in page");
  assert.equal(again.status(), 200);
  await page.close();
});
