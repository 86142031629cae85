// A manual value entered in the browser (SPEC §12): scripts/e2e.sh adds a `manual: true`
// survey source and its KPI to the accounts server's workspace, and a Finances editor. The
// editor signs in, enters 7 for 5 October 2026, and the KPI's page then shows 7 for October.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const base = process.env.TABLERO_ACCOUNTS_URL;
const email = process.env.TABLERO_EDITOR_EMAIL;
const password = process.env.TABLERO_EDITOR_PASSWORD;
if (!base || !email || !password) {
  throw new Error("TABLERO_ACCOUNTS_URL, TABLERO_EDITOR_EMAIL and TABLERO_EDITOR_PASSWORD are needed: run scripts/e2e.sh");
}

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

test("an editor enters a value and the KPI counts it", async () => {
  const page = await browser.newPage();
  await page.goto(`${base}/login`);
  await page.getByTestId("login-email").fill(email);
  await page.getByTestId("login-password").fill(password);
  await page.getByTestId("login-submit").click();
  await page.getByTestId("account-email").waitFor();

  // Before: nothing entered, October sums to 0.
  const kpi = `${base}/kpi/puntaje_encuesta?as_of=2026-10-15&from=2026-10&to=2026-10`;
  await page.goto(kpi);
  assert.equal((await page.getByTestId("period-value").first().textContent()).trim(), "0");
  await page.getByTestId("enter-values").click();
  await page.getByTestId("entry-form").waitFor();

  // A wrong number is named next to its field and nothing is stored.
  await page.getByTestId("entry-fecha").fill("2026-10-05");
  await page.getByTestId("entry-puntaje").fill("siete");
  await page.getByTestId("entry-save").click();
  await page.getByTestId("problem-puntaje").waitFor();

  await page.getByTestId("entry-puntaje").fill("7");
  await page.getByTestId("entry-save").click();
  await page.getByTestId("entry-saved").waitFor();

  await page.goto(kpi);
  assert.equal((await page.getByTestId("period-value").first().textContent()).trim(), "7");
  await page.close();
});
