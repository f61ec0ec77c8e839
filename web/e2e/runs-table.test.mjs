// The runs table over a few thousand runs, in headless Chromium against the
// real binary: rows page in as the table scrolls (the last run can be seen
// and opened), grouping counts every matching run, the CSV holds every run
// at full precision, a live history event refetches only the run it names,
// a config key only the last run has is a column and a group-by field before
// its page loads (and one given to it later, on the live update),
// a filter that matches nothing says what to do, and the keyboard alone
// sorts, draws and opens a run. The runs are created through the native API
// (a few thousand SDK processes would take minutes); their history does not
// matter here.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { call, ingest, KEY, openBrowser, outDir, startServer } from "./harness.mjs";

const P = "many";
const N = 3001; // arm 0 gets 1001 runs: more than one page of the API (1000)
const id = (i) => `r${String(i).padStart(4, "0")}`;
const name = (i) => `run-${String(i).padStart(4, "0")}`;
let srv;
let browser;
let page;

before(async () => {
  srv = await startServer();
  const t0 = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < N) {
      const i = next++;
      await call(srv.base, "POST", `/projects/admin/${P}/runs`, {
        id: id(i),
        name: name(i),
        config: {
          arm: i % 3,
          lr: i === 0 ? 0.00012345678 : 0.001 * (1 + (i % 10)),
          seed: i,
          // a key only the last run (by name) has: its column is there before its page is
          ...(i === N - 1 ? { only: { last: "yes" } } : {}),
        },
      });
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  console.log(`created ${N} runs in ${Date.now() - t0} ms`);
  browser = await openBrowser();
  page = await browser.ctx.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(`${srv.base}/?token=${KEY}`);
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

const count = (text) => page.locator('[data-testid="run-count"]', { hasText: text }).waitFor();

test("scrolling the table pages in runs up to the last one", async () => {
  const offsets = [];
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.pathname.endsWith(`/${P}/runs`)) offsets.push(Number(u.searchParams.get("offset") ?? 0));
  });
  await page.goto(`${srv.base}/admin/${P}?sort=name`);
  await count(`${N} runs`);
  await page.locator(`.runs-table .tr[data-run="${id(0)}"]`).waitFor();
  // The table is as tall as every run, though only the first page is here.
  const rowCount = await page.locator(".runs-table").getAttribute("aria-rowcount");
  assert.equal(Number(rowCount), N + 1);
  await page.locator(".runs-table").evaluate((e) => {
    e.scrollTop = e.scrollHeight;
  });
  const last = page.locator(`.runs-table .tr[data-run="${id(N - 1)}"]`);
  await last.waitFor();
  assert.equal(await last.locator(".name a").textContent(), name(N - 1));
  assert.equal(await last.getAttribute("aria-rowindex"), String(N + 1));
  // Only the pages in view were asked for: the first and the last.
  assert.ok(offsets.includes(0), offsets.join(","));
  assert.ok(
    offsets.some((o) => o > 2800),
    `asked offsets ${offsets.join(",")}`,
  );
  assert.ok(offsets.length <= 4, `asked offsets ${offsets.join(",")}`);
  await page.screenshot({ path: join(outDir, "runs-table-last.png") });
  // The last run can be drawn and opened.
  await last.getByRole("checkbox").check();
  await page.waitForFunction(
    (r) => new URL(location.href).searchParams.get("runs")?.split(",").includes(r),
    id(N - 1),
  );
  await last.locator(".name a").click();
  await page.waitForURL(`**/admin/${P}/runs/${id(N - 1)}`);
});

test("a config key only the last run has is listed before its page loads", async () => {
  const offsets = [];
  const onRequest = (r) => {
    const u = new URL(r.url());
    if (u.pathname.endsWith(`/${P}/runs`)) offsets.push(Number(u.searchParams.get("offset") ?? 0));
  };
  page.on("request", onRequest);
  try {
    await page.goto(`${srv.base}/admin/${P}?sort=name`);
    await count(`${N} runs`);
    await page.locator(`.runs-table .tr[data-run="${id(0)}"]`).waitFor();
    // In the group-by list…
    await page
      .locator('select[aria-label="Group by"] option[value="config.only.last"]')
      .waitFor({ state: "attached" });
    // …and a column (shown: fewer than 60 config keys), listed in the Columns menu.
    await page.locator('.runs-table [data-col="config.only.last"]').first().waitFor();
    await page.locator(".runs-meta summary", { hasText: "Columns" }).click();
    await page.locator(".columns-menu .column-item", { hasText: "config.only.last" }).waitFor();
    await page.locator(".runs-meta summary", { hasText: "Columns" }).click();
    // The last run's page was never asked for.
    assert.ok(
      offsets.every((o) => o < 2800),
      `asked offsets ${offsets.join(",")}`,
    );
    assert.equal(await page.locator(`.runs-table .tr[data-run="${id(N - 1)}"]`).count(), 0);
    // A key given to that run now comes with the live update, still without its page.
    await call(srv.base, "PATCH", `/projects/admin/${P}/runs/${id(N - 1)}`, { config: { later: 1 } });
    await page
      .locator('select[aria-label="Group by"] option[value="config.later"]')
      .waitFor({ state: "attached", timeout: 10000 });
    assert.ok(
      offsets.every((o) => o < 2800),
      `asked offsets ${offsets.join(",")}`,
    );
  } finally {
    page.off("request", onRequest);
  }
});

test("grouping counts every matching run, not a page of them", async () => {
  // The server groups (run-groups): the browser asks for the rows it shows by id, not for every run.
  const asked = [];
  const onRequest = (r) => {
    const u = new URL(r.url());
    if (u.pathname.endsWith(`/${P}/runs`) || u.pathname.endsWith(`/${P}/run-groups`))
      asked.push({
        path: u.pathname.split("/").pop(),
        offset: Number(u.searchParams.get("offset") ?? 0),
        filter: u.searchParams.get("filter") ?? "",
      });
  };
  page.on("request", onRequest);
  await page.goto(`${srv.base}/admin/${P}?sort=name&group=config.arm`);
  // Each group header is followed by its runs: collapse the first two to see all three headers.
  await page.locator(".group-by", { hasText: "3 groups" }).waitFor({ timeout: 20000 });
  for (const g of ["0", "1"])
    await page.locator(`.runs-table .group-row[data-group="${g}"] .group-toggle`).click();
  await page.locator(".runs-table .group-row").nth(2).waitFor();
  const groups = await page
    .locator(".runs-table .group-row")
    .evaluateAll((els) =>
      els.map((e) => [e.dataset.group, e.querySelector('[data-testid="group-count"]').textContent]),
    );
  assert.deepEqual(groups, [
    ["0", "1001 runs"],
    ["1", "1000 runs"],
    ["2", "1000 runs"],
  ]);
  // The last group's runs are not on the first page (sorted by name, arm 2 starts at run 2):
  // scrolled to its end, its last run is there with its name, asked for by id.
  await page.locator(".runs-table").evaluate((e) => {
    e.scrollTop = e.scrollHeight;
  });
  const lastOfArm2 = id(N - 2); // 2999 % 3 == 2
  const row = page.locator(`.runs-table .tr[data-run="${lastOfArm2}"]`);
  await row.waitFor();
  await row.locator(".name a", { hasText: name(N - 2) }).waitFor();
  page.off("request", onRequest);
  assert.equal(asked.filter((a) => a.path === "run-groups").length >= 1, true);
  const pages = asked.filter((a) => a.path === "runs" && !a.filter.includes("id in"));
  assert.ok(
    pages.every((a) => a.offset === 0),
    `grouping asked for pages past the first: ${JSON.stringify(pages)}`,
  );
  assert.ok(
    asked.some((a) => a.path === "runs" && a.filter.includes(`"${lastOfArm2}"`)),
    "the last row was asked by id",
  );
  // A live update that moves a run to another group moves it in the table (the groups are asked again).
  const move = (arm) =>
    call(srv.base, "PATCH", `/projects/admin/${P}/runs/${id(3)}`, {
      config: { arm },
      allow_val_change: true,
    });
  const countsAre = (want) =>
    page.waitForFunction(
      (w) =>
        [...document.querySelectorAll('.runs-table .group-row [data-testid="group-count"]')]
          .map((e) => e.textContent)
          .join(",") === w,
      want,
      { timeout: 10000 },
    );
  await page.locator(".runs-table").evaluate((e) => {
    e.scrollTop = 0;
  });
  await move(2);
  await countsAre("1000 runs,1000 runs,1001 runs");
  await move(0);
  await countsAre("1001 runs,1000 runs,1000 runs");
  await page.screenshot({ path: join(outDir, "runs-table-grouped.png") });
});

test("CSV export holds every matching run at full precision", async () => {
  await page.goto(`${srv.base}/admin/${P}?sort=name`);
  await count(`${N} runs`);
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("button", { name: "CSV" }).click(),
  ]);
  const csv = readFileSync(await download.path(), "utf8");
  const lines = csv.trim().split("\n");
  assert.equal(lines.length, N + 1);
  const head = lines[0].split(",");
  const row0 = lines[1].split(",");
  assert.equal(row0[head.indexOf("id")], id(0));
  // not the table's 1.235e-4
  assert.equal(row0[head.indexOf("config.lr")], "0.00012345678");
  assert.equal(lines[N].split(",")[head.indexOf("id")], id(N - 1));
  // the page stays usable: the object URL was not revoked before the download started
  assert.equal(download.failure ? await download.failure() : null, null);
});

test("a live history event refetches the run it names, not the pages", async () => {
  await page.goto(`${srv.base}/admin/${P}?sort=name`);
  await page.locator(`.runs-table .tr[data-run="${id(1)}"]`).waitFor();
  const asked = [];
  const listen = (r) => {
    const u = new URL(r.url());
    if (u.pathname.endsWith(`/${P}/runs`)) asked.push(u.search);
  };
  page.on("request", listen);
  await ingest(srv.base, P, id(1), [{ step: 1, values: { acc: 0.5 } }], { summary: { acc: 0.987654321 } });
  // The summary column appears with the new value, without a reload.
  await page
    .locator(`.runs-table .tr[data-run="${id(1)}"] .td`, { hasText: "0.98765" })
    .waitFor({ timeout: 5000 });
  page.off("request", listen);
  assert.ok(asked.length >= 1, "asked again");
  for (const q of asked) {
    const f = new URLSearchParams(q).get("filter") ?? "";
    assert.match(f, /^id in \("r0001"\)$/, `asked ${q}`);
  }
});

test("a filter that matches nothing says so and how to clear it", async () => {
  await page.goto(`${srv.base}/admin/${P}?filter=${encodeURIComponent("config.arm = 99")}`);
  const empty = page.locator('[data-testid="no-match"]');
  await empty.waitFor();
  assert.match(await empty.textContent(), /No runs match this filter/);
  await page.screenshot({ path: join(outDir, "runs-table-no-match.png") });
  await empty.getByRole("button", { name: "clear the filter" }).click();
  await count(`${N} runs`);
  assert.equal(new URL(page.url()).searchParams.get("filter"), null);
  // A filter the server cannot parse: the message says how to fix it.
  await page.getByLabel("Filter expression").fill("config.arm ==");
  await page.getByRole("button", { name: "Filter", exact: true }).click();
  const err = page.locator(".runs-tools .error");
  await err.waitFor();
  assert.match(await err.textContent(), /The filter is not valid: .*Fix the expression/);
});

test("the keyboard alone sorts, draws and opens a run", async () => {
  // runs= (none drawn), so Space draws the run rather than undrawing a default one
  await page.goto(`${srv.base}/admin/${P}?sort=name&runs=`);
  await page.locator(`.runs-table .tr[data-run="${id(0)}"]`).waitFor();
  await page.getByLabel("Search runs by name").focus();
  const active = () =>
    page.evaluate(() => {
      const a = document.activeElement;
      return `${a?.tagName} ${a?.getAttribute("aria-label") ?? ""} ${a?.textContent?.trim() ?? ""}`;
    });
  const tabTo = async (re, max = 80) => {
    for (let i = 0; i < max; i++) {
      await page.keyboard.press("Tab");
      if (re.test(await active())) return;
    }
    assert.fail(`Tab never reached ${re} (at ${await active()})`);
  };
  // The Name header sorts: ascending now (from the URL), Enter makes it descending.
  const nameHead = page.locator('.runs-table [role="columnheader"]', { hasText: "Name" });
  assert.equal(await nameHead.getAttribute("aria-sort"), "ascending");
  await tabTo(/^BUTTON .*Name/);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => new URL(location.href).searchParams.get("sort") === "-name");
  assert.equal(await nameHead.getAttribute("aria-sort"), "descending");
  await page.locator(`.runs-table .tr[data-row="0"][data-run="${id(N - 1)}"]`).waitFor();
  // A run's checkbox draws it (Space), its name opens it (Enter).
  await tabTo(new RegExp(`^INPUT Draw ${name(N - 1)}`));
  await page.keyboard.press("Space");
  await page.waitForFunction((r) => new URL(location.href).searchParams.get("runs")?.includes(r), id(N - 1));
  await page.locator(`.runs-table .tr.drawn[data-run="${id(N - 1)}"]`).waitFor();
  await page.keyboard.press("Tab");
  assert.match(await active(), new RegExp(`^A .*${name(N - 1)}`));
  await page.keyboard.press("Enter");
  await page.waitForURL(`**/admin/${P}/runs/${id(N - 1)}`);
});

test("a run that cannot be loaded says what to do (run page and compare)", async () => {
  await page.goto(`${srv.base}/admin/${P}/runs/nosuchrun`);
  const err = page.locator('[data-testid="error-state"]');
  await err.waitFor();
  const text = await err.textContent();
  assert.match(text, /Run nosuchrun could not be loaded/);
  assert.match(text, /Check the link/);
  await err.getByRole("link", { name: /back to many's runs/ }).waitFor();
  await page.goto(`${srv.base}/admin/${P}/compare?runs=${id(0)},nosuchrun`);
  await err.waitFor();
  assert.match(await err.textContent(), /Run nosuchrun could not be loaded for the comparison/);
});

test("key columns past the first 60 start hidden, and the Columns menu shows them", async () => {
  const config = Object.fromEntries(
    Array.from({ length: 70 }, (_, i) => [`k${String(i).padStart(2, "0")}`, i]),
  );
  await call(srv.base, "POST", "/projects/admin/wide/runs", { id: "wide0001", name: "wide", config });
  await page.goto(`${srv.base}/admin/wide`);
  await page.locator('.runs-table [data-col="config.k59"]').waitFor();
  assert.equal(await page.locator('.runs-table [data-col="config.k60"]').count(), 0);
  await page.locator(".runs-meta summary", { hasText: "Columns" }).click();
  assert.match(await page.locator(".columns-menu").textContent(), /10 key columns past the first 60/);
  await page.getByLabel("Search columns").fill("k69");
  const item = page.locator(".columns-menu .column-item", { hasText: "config.k69" });
  assert.equal(await item.getByRole("checkbox").isChecked(), false);
  await item.getByRole("checkbox").check();
  await page.locator('.runs-table [data-col="config.k69"]').waitFor();
  assert.equal(new URL(page.url()).searchParams.get("show"), "config.k69");
});
