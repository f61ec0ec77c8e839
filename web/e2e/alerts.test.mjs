// A run's alerts on its page in headless Chromium: listed newest first on the
// overview with their level, a repeat held back by its wait shown as not sent,
// the header's count coloured by the worst level, and a new alert appearing
// live while the page is open.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { call, ingest, KEY, openBrowser, outDir, startServer } from "./harness.mjs";

const P = "alerts-e2e";
const RUN = "alerting1";
let srv;
let browser;
let page;

before(async () => {
  srv = await startServer();
  await call(srv.base, "POST", `/projects/admin/${P}/runs`, { id: RUN, name: "noisy" });
  await ingest(srv.base, P, RUN, [{ step: 0, values: { loss: 1 } }], {
    alerts: [
      {
        time: 1_764_000_000,
        title: "slow epoch",
        text: "epoch 1 took 2x longer",
        level: "INFO",
        wait_ms: 60_000,
      },
      { time: 1_764_000_010, title: "slow epoch", text: "epoch 2 too", level: "INFO", wait_ms: 60_000 },
      {
        time: 1_764_000_020,
        title: "grad norm high",
        text: "norm 48.2 at step 120\nclipping",
        level: "WARN",
      },
    ],
  });
  browser = await openBrowser();
  page = await browser.ctx.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(`${srv.base}/admin/${P}/runs/${RUN}?token=${KEY}`);
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

test("the overview lists the alerts, newest first, with the repeat marked not sent", async () => {
  const items = page.locator(".alerts li.alert");
  await items.first().waitFor();
  assert.equal(await items.count(), 3);
  assert.deepEqual(await page.locator(".alerts .alert-title").allTextContents(), [
    "grad norm high",
    "slow epoch",
    "slow epoch",
  ]);
  assert.match(await items.nth(0).getAttribute("class"), /level-warn/);
  assert.equal(await items.nth(0).locator(".alert-text").textContent(), "norm 48.2 at step 120\nclipping");
  assert.match(await items.nth(1).getAttribute("class"), /suppressed/);
  assert.match(await items.nth(1).textContent(), /a repeat within 1m 0s: not sent/);
  assert.doesNotMatch(await items.nth(2).getAttribute("class"), /suppressed/);
  const badge = page.locator(".run-head .alert-count");
  assert.equal(await badge.textContent(), "2 alerts"); // the repeat was not sent
  assert.match(await badge.getAttribute("class"), /level-warn/);
});

test("an alert raised while the page is open appears live, and the badge turns to error", async () => {
  await ingest(srv.base, P, RUN, [], {
    alerts: [{ title: "loss is NaN", text: "at step 130", level: "ERROR" }],
  });
  await page.locator(".alerts .alert-title", { hasText: "loss is NaN" }).waitFor({ timeout: 10_000 });
  assert.equal(
    await page.locator(".alerts li.alert").first().locator(".alert-title").textContent(),
    "loss is NaN",
  );
  const badge = page.locator(".run-head .alert-count");
  await page.waitForFunction(
    () => document.querySelector(".run-head .alert-count")?.textContent === "3 alerts",
  );
  assert.match(await badge.getAttribute("class"), /level-error/);
  await page.screenshot({ path: join(outDir, "run-alerts.png") });
  // the badge leads back to the overview from another tab
  await page.getByRole("button", { name: "config" }).click();
  assert.equal(await page.locator(".alerts").count(), 0);
  await badge.click();
  await page.locator(".alerts li.alert").first().waitFor();
});
