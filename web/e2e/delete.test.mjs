// Deleting a run from its page in headless Chromium: the browser's confirm
// dialog, then the project's workspace without the run; a workspace open in
// another tab drops the row live; the run's page answers "not found" after.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, ingest, KEY, openBrowser, startServer } from "./harness.mjs";

const P = "delete-e2e";
let srv;
let browser;

before(async () => {
  srv = await startServer();
  for (const [id, name] of [
    ["keeper01", "keeper"],
    ["doomed01", "doomed"],
  ]) {
    await call(srv.base, "POST", `/projects/admin/${P}/runs`, { id, name });
    await ingest(srv.base, P, id, [
      { step: 0, values: { loss: 1 } },
      { step: 1, values: { loss: 0.5 } },
    ]);
  }
  browser = await openBrowser();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

test("delete a run from its page: confirmed, gone from the table, here and live in another tab", async () => {
  const watcher = await browser.ctx.newPage();
  await watcher.goto(`${srv.base}/admin/${P}?token=${KEY}`);
  const row = (pg, id) => pg.locator(`.runs-table .tr[data-run="${id}"]`);
  await row(watcher, "doomed01").waitFor();

  const page = await browser.ctx.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(`${srv.base}/admin/${P}/runs/doomed01?token=${KEY}`);
  const button = page.getByRole("button", { name: "Delete run…" });
  // dismissing the dialog deletes nothing
  page.once("dialog", (d) => d.dismiss());
  await button.click();
  await call(srv.base, "GET", `/projects/admin/${P}/runs/doomed01`);
  let message = "";
  page.once("dialog", (d) => {
    message = d.message();
    d.accept();
  });
  await button.click();
  await page.waitForURL(`${srv.base}/admin/${P}`);
  assert.match(message, /Delete run "doomed" \(doomed01\) and everything logged to it/);
  await row(page, "keeper01").waitFor();
  assert.equal(await row(page, "doomed01").count(), 0);
  // the other tab's table drops the row without a reload
  await row(watcher, "doomed01").waitFor({ state: "detached", timeout: 10_000 });
  assert.equal(await row(watcher, "keeper01").count(), 1);
  await assert.rejects(call(srv.base, "GET", `/projects/admin/${P}/runs/doomed01`), /404/);
  await page.goto(`${srv.base}/admin/${P}/runs/doomed01`);
  await page.getByText("Run doomed01 could not be loaded").waitFor();
  await watcher.close();
  await page.close();
});
