// Honest run states in headless Chromium: a run that sends nothing for
// --lost-after turns "lost" on its page and in the runs table, live, with a
// tooltip that says why; when it sends again (a heartbeat) it is running
// again, live too.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { call, KEY, openBrowser, outDir, startServer } from "./harness.mjs";

const P = "lost-e2e";
let srv;
let browser;

before(async () => {
  srv = await startServer(undefined, { FLUORO_LOST_AFTER: "2s" });
  browser = await openBrowser();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

let seq = 0;
/** An empty batch: the SDK's heartbeat. */
async function heartbeat(run) {
  seq++;
  const body = { entity: "admin", project: P, run_id: run, writer: "w", seq };
  const res = await fetch(`${srv.base}/api/v1/ingest`, {
    method: "POST",
    headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200);
}

test("a silent run is lost, live, and running again once it sends", async () => {
  await call(srv.base, "POST", `/projects/admin/${P}/runs`, { id: "quiet001", name: "quiet" });
  const page = await browser.ctx.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(`${srv.base}/admin/${P}/runs/quiet001?token=${KEY}`);
  const table = await browser.ctx.newPage();
  await table.goto(`${srv.base}/admin/${P}?token=${KEY}`);
  const row = table.locator('.runs-table .tr[data-run="quiet001"] [data-state]');
  await row.waitFor();
  assert.equal(await row.getAttribute("data-state"), "running");

  // nothing arrives: lost within about lost-after plus a check interval, on both pages without a reload
  await page.locator('[data-state="lost"]').first().waitFor({ timeout: 10000 });
  await table.locator('.runs-table .tr[data-run="quiet001"] [data-state="lost"]').waitFor({ timeout: 5000 });
  const badge = page.locator('[data-state="lost"]').first();
  assert.match(await badge.getAttribute("title"), /heartbeat/);
  assert.match(await badge.textContent(), /lost/);
  assert.equal((await call(srv.base, "GET", `/projects/admin/${P}/runs/quiet001`)).state, "lost");
  assert.match(
    await page.locator(".overview tr", { hasText: "Last heard from" }).textContent(),
    /\d{1,2}:\d\d/,
  );
  await page.screenshot({ path: join(outDir, "run-lost.png") });

  // it sends again: running, live (heartbeats keep it so while we look)
  await heartbeat("quiet001");
  const beat = setInterval(() => heartbeat("quiet001").catch(() => {}), 300);
  try {
    await page.locator('[data-state="running"]').first().waitFor({ timeout: 5000 });
    await table
      .locator('.runs-table .tr[data-run="quiet001"] [data-state="running"]')
      .waitFor({ timeout: 5000 });
    assert.equal(await page.locator('[data-state="lost"]').count(), 0);
  } finally {
    clearInterval(beat);
  }
});
