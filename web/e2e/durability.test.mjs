// Durability in headless Chromium: a run whose writer reports what it logged
// and spooled (the batch's `logged`, the X-Fluoro-Spooled header) and ended
// with points still on its machine shows them on its page, with a warning
// naming the host and the sync command, and a marker in the runs table; a
// running run's pending points are shown without a warning until it ends
// (live); once the rest arrives the warning is gone; a run whose writer says
// nothing shows no such rows.

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { call, ingest, KEY, openBrowser, outDir, startServer } from "./harness.mjs";

const P = "durability-e2e";
const HOST = "gpu-node-7";
let srv;
let browser;

/** Sends one batch as the SDK does: its `logged` figure, and the X-Fluoro-Spooled header. */
async function send(run, seq, logged, spooled, rows) {
  const res = await fetch(`${srv.base}/api/v1/ingest`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${KEY}`,
      "Content-Type": "application/json",
      "X-Fluoro-Spooled": String(spooled),
    },
    body: JSON.stringify({
      entity: "admin",
      project: P,
      run_id: run,
      writer: `${run}-w`,
      seq,
      logged,
      history: rows.map((step) => ({ step, values: { loss: 1 / (step + 1), acc: step / 10 } })),
    }),
  });
  return res.status;
}

const getRun = (id) => call(srv.base, "GET", `/projects/admin/${P}/runs/${id}`);
const field = (page, name) => page.locator(`.overview tr[data-field="${name}"] td`);

before(async () => {
  srv = await startServer();
  // 2 rows of 2 values sent (logged 4), 10 spooled: 6 left on the machine when it fails
  await call(srv.base, "POST", `/projects/admin/${P}/runs`, { id: "strand01", name: "stranded", host: HOST });
  assert.equal(await send("strand01", 1, 4, 10, [0, 1]), 200);
  await call(srv.base, "POST", `/projects/admin/${P}/runs/strand01/finish`, { exit_code: 1 });
  // still running, with 1,230 spooled and not sent
  await call(srv.base, "POST", `/projects/admin/${P}/runs`, { id: "live0001", name: "live", host: HOST });
  assert.equal(await send("live0001", 1, 4, 1234, [0, 1]), 200);
  // a writer that reports nothing (the wandb client, older SDKs)
  await call(srv.base, "POST", `/projects/admin/${P}/runs`, { id: "plain001", name: "plain", host: HOST });
  await ingest(srv.base, P, "plain001", [
    { step: 0, values: { loss: 1 } },
    { step: 1, values: { loss: 0.5 } },
  ]);
  const r = await getRun("strand01");
  assert.deepEqual(
    [r.state, r.points, r.points_logged, r.points_received, r.points_pending],
    ["failed", 4, 10, 4, 6],
  );
  browser = await openBrowser();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

test("an ended run with pending points: the figures, and a warning naming the host and the command", async () => {
  const page = await browser.ctx.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(`${srv.base}/admin/${P}/runs/strand01?token=${KEY}`);
  const warning = page.locator(".overview .pending-warning");
  await warning.waitFor();
  assert.equal(await field(page, "Points stored").textContent(), "4");
  assert.equal(await field(page, "Points logged").textContent(), "10");
  assert.equal(await field(page, "Points received").textContent(), "4");
  assert.equal(await field(page, "Points pending").textContent(), "6 (still on the client)");
  const text = await warning.textContent();
  assert.match(
    text,
    /6 points never reached the server\. They are still in the run's spool on host gpu-node-7/,
  );
  assert.match(text, /run fluoro sync fluoro\/run-\*-strand01 /);
  assert.equal(await warning.locator("code").first().textContent(), "fluoro sync fluoro/run-*-strand01");
  // it comes first in the overview, and the header has the marker too (seen from every tab)
  assert.equal(
    await page.locator(".overview > *").first().getAttribute("class"),
    "alert level-warn pending-warning",
  );
  assert.match(await page.locator(".run-head .pending-mark").getAttribute("title"), /^6 points still on/);
  await page.screenshot({ path: join(outDir, "run-pending.png") });
  await page.close();
});

test("the runs table marks the ended run, not the running one nor the silent one", async () => {
  const page = await browser.ctx.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(`${srv.base}/admin/${P}?token=${KEY}`);
  const row = (id) => page.locator(`.runs-table .tr[data-run="${id}"]`);
  await row("plain001").waitFor();
  const mark = row("strand01").locator(".pending-mark");
  assert.equal(await mark.count(), 1);
  assert.equal(
    await mark.getAttribute("title"),
    "6 points still on the client (host gpu-node-7), not at the server: run fluoro sync there",
  );
  // next to the state, in the State column (no column of its own)
  assert.equal(await mark.evaluate((e) => e.parentElement.querySelector(".state")?.textContent), "failed");
  assert.equal(await row("live0001").locator(".pending-mark").count(), 0);
  assert.equal(await row("plain001").locator(".pending-mark").count(), 0);
  await page.screenshot({ path: join(outDir, "runs-pending.png") });
  await page.close();
});

test("a running run's pending points are shown without a warning, which comes live when it ends", async () => {
  const table = await browser.ctx.newPage();
  await table.goto(`${srv.base}/admin/${P}?token=${KEY}`);
  const row = table.locator('.runs-table .tr[data-run="live0001"]');
  await row.waitFor();
  const page = await browser.ctx.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(`${srv.base}/admin/${P}/runs/live0001?token=${KEY}`);
  await field(page, "Points pending").waitFor();
  // thousands separators, in the browser's locale
  assert.match(await field(page, "Points logged").textContent(), /^1\D?234$/);
  assert.match(await field(page, "Points pending").textContent(), /^1\D?230 \(not at the server yet\)$/);
  assert.equal(await page.locator(".pending-warning").count(), 0);
  assert.equal(await page.locator(".run-head .pending-mark").count(), 0);

  await call(srv.base, "POST", `/projects/admin/${P}/runs/live0001/finish`, { exit_code: 0 });
  await page.locator(".pending-warning").waitFor({ timeout: 10_000 });
  assert.match(await page.locator(".pending-warning").textContent(), /^WARN 1\D?230 points never reached/);
  assert.match(await field(page, "Points pending").textContent(), /^1\D?230 \(still on the client\)$/);
  await row.locator(".pending-mark").waitFor({ timeout: 10_000 });
  await table.close();
  await page.close();
});

test("once the rest has reached the server the warning and the marker are gone", async () => {
  // a finished run refuses the batch (409) but the server has answered it: received
  assert.equal(await send("strand01", 2, 10, 10, [2, 3, 4]), 409);
  const r = await getRun("strand01");
  assert.deepEqual([r.points_logged, r.points_received, r.points_pending], [10, 10, 0]);
  const page = await browser.ctx.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(`${srv.base}/admin/${P}/runs/strand01?token=${KEY}`);
  await field(page, "Points pending").waitFor();
  assert.equal(await field(page, "Points pending").textContent(), "0");
  assert.equal(await field(page, "Points received").textContent(), "10");
  assert.equal(await page.locator(".pending-warning").count(), 0);
  assert.equal(await page.locator(".pending-mark").count(), 0);
  await page.goto(`${srv.base}/admin/${P}`);
  await page.locator('.runs-table .tr[data-run="strand01"]').waitFor();
  assert.equal(await page.locator('.runs-table .tr[data-run="strand01"] .pending-mark').count(), 0);
  await page.close();
});

test("a run whose writers report nothing has no logged, received or pending rows", async () => {
  const page = await browser.ctx.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(`${srv.base}/admin/${P}/runs/plain001?token=${KEY}`);
  await field(page, "Points stored").waitFor();
  assert.equal(await field(page, "Points stored").textContent(), "2");
  for (const name of ["Points logged", "Points received", "Points pending"])
    assert.equal(await field(page, name).count(), 0, name);
  assert.equal(await page.locator(".pending-warning").count(), 0);
  await page.close();
});
