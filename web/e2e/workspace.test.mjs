// The workspace, run page and compare page in headless Chromium against the
// real binary, with runs logged by the real Python SDK (`import fluoro as
// wandb`). Run with `make test-web-e2e` (builds bin/fluoro with the UI).

import assert from "node:assert/strict";
import { copyFileSync, mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import {
  call,
  ingest,
  ingestSystem,
  KEY,
  openBrowser,
  outDir,
  seedWithSDK,
  startServer,
} from "./harness.mjs";

const P = "e2e";
let srv;
let browser;
let page;

const runs = [
  {
    id: "alpha001",
    name: "alpha",
    config: { lr: 0.1, optimizer: "adam", model: { layers: 4 } },
    tags: ["baseline"],
    nanAt: 700,
  },
  { id: "beta0002", name: "beta", config: { lr: 0.01, optimizer: "sgd", model: { layers: 4 } }, exitCode: 1 },
  // still training: the live test logs to it
  {
    id: "gamma003",
    name: "gamma",
    config: { lr: 0.003, optimizer: "adam", model: { layers: 8 } },
    running: true,
  },
];

// System metrics (the SDK does not sample them yet): through the native ingest API.
const sysSamples = (t0, n, cpu) =>
  Array.from({ length: n }, (_, i) => ({
    time: t0 + i * 10,
    values: { cpu: cpu + (i % 5), "gpu.0.util": 80 + (i % 3) },
  }));

before(async () => {
  srv = await startServer();
  await seedWithSDK(srv.base, P, runs);
  const now = Math.ceil(Date.now() / 1000) + 1;
  // alpha has finished: resume it to add its samples, then finish it again
  await call(srv.base, "POST", `/projects/admin/${P}/runs`, { id: "alpha001", resume: "must" });
  await ingestSystem(srv.base, P, "alpha001", sysSamples(now, 30, 40));
  await call(srv.base, "POST", `/projects/admin/${P}/runs/alpha001/finish`, { exit_code: 0 });
  await ingestSystem(srv.base, P, "gamma003", sysSamples(now, 20, 70));
  browser = await openBrowser();
  page = await browser.ctx.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

const shot = (name) => page.screenshot({ path: join(outDir, `${name}.png`) });

async function panel(key) {
  const loc = page.locator(`.panel[data-key="${key}"]`);
  await loc.waitFor();
  return loc;
}

/** Waits until a panel has drawn (its data attributes are set). */
async function drawn(key) {
  const loc = await panel(key);
  await loc.scrollIntoViewIfNeeded();
  await loc.locator("canvas").first().waitFor();
  return loc;
}

test("the login link sets a session cookie and drops the token from the URL", async () => {
  await page.goto(`${srv.base}/admin/${P}?token=${KEY}`);
  assert.equal(new URL(page.url()).search, "");
  const cookies = await browser.ctx.cookies();
  const c = cookies.find((x) => x.name === "fluoro_session");
  assert.ok(c, "session cookie set");
  assert.equal(c.httpOnly, true);
  assert.equal(c.sameSite, "Lax");
  // The cookie alone authenticates API calls from the page.
  const status = await page.evaluate(() => fetch("/api/v1/viewer").then((r) => r.status));
  assert.equal(status, 200);
  // A cookie-authenticated change without the SPA's header is refused (CSRF).
  const csrf = await page.evaluate(() =>
    fetch("/api/v1/projects/admin/e2e/runs/alpha001", { method: "PATCH", body: '{"notes":"x"}' }).then(
      (r) => r.status,
    ),
  );
  assert.equal(csrf, 403);
});

test("workspace: panels grouped by prefix, one series per drawn run", async () => {
  await page.goto(`${srv.base}/admin/${P}`);
  await page.locator('[data-testid="run-count"]', { hasText: "3 runs" }).waitFor();
  // system metrics load after the charts
  await page.locator('.section[data-section="system"]').waitFor();
  const sections = await page
    .locator(".section")
    .evaluateAll((els) =>
      els.map((e) => [
        e.getAttribute("data-section"),
        [...e.querySelectorAll(".panel")].map((p) => p.getAttribute("data-key")),
      ]),
    );
  assert.deepEqual(sections, [
    ["train", ["train/acc", "train/loss"]],
    ["val", ["val/acc", "val/loss"]],
    ["system", ["system/cpu", "system/gpu.0.util"]],
    ["other", ["lr"]],
  ]);
  const loss = await drawn("train/loss");
  assert.equal(await loss.getAttribute("data-series"), "3");
  // Smoothing is on by default: a raw and a smoothed line per run.
  assert.equal(await loss.getAttribute("data-lines"), "6");
  // 2000 steps into a ~400 px panel: the server downsampled, and says so.
  assert.equal(await loss.getAttribute("data-sampled"), "true");
  await loss.locator(".badge.sampled").waitFor();
  // The NaN logged at step 700 is a marker, not dropped.
  assert.equal(await loss.getAttribute("data-nonfinite"), "1");
  // Hover legend lists every run at that x.
  const box = await loss.locator(".u-over").boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await loss.locator(".legend-row").nth(2).waitFor();
  await shot("workspace");
  // System metrics (their own endpoint, in time): one line per run that has them.
  const cpu = await drawn("system/cpu");
  assert.equal(await cpu.getAttribute("data-series"), "2");
  assert.equal(await cpu.getAttribute("data-x"), "rel");
  if (process.env.FLUORO_UPDATE_SCREENSHOT) {
    mkdirSync(resolve(import.meta.dirname, "../../docs/img"), { recursive: true });
    copyFileSync(join(outDir, "workspace.png"), resolve(import.meta.dirname, "../../docs/img/workspace.png"));
  }
});

test("smoothing changes the drawn data", async () => {
  const loss = await drawn("train/loss");
  const before = await loss.getAttribute("data-checksum");
  await page.getByLabel("Smoothing", { exact: true }).selectOption("none");
  await page.waitForFunction(
    (b) => document.querySelector('.panel[data-key="train/loss"]')?.getAttribute("data-checksum") !== b,
    before,
  );
  assert.equal(await loss.getAttribute("data-lines"), "3");
  assert.match(page.url(), /smooth=none/);
  await page.getByLabel("Smoothing", { exact: true }).selectOption("gauss");
  await page.waitForFunction(
    () => document.querySelector('.panel[data-key="train/loss"]')?.getAttribute("data-lines") === "6",
  );
  await shot("smoothing-gauss");
});

test("drag to zoom re-queries the server for the range", async () => {
  const loss = await drawn("train/loss");
  const fetches = Number(await loss.getAttribute("data-fetches"));
  const box = await loss.locator(".u-over").boundingBox();
  await page.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction(
    (n) => Number(document.querySelector('.panel[data-key="train/loss"]')?.getAttribute("data-fetches")) > n,
    fetches,
  );
  const range = await loss.getAttribute("data-range");
  const [lo, hi] = range.split("..").map(Number);
  assert.ok(lo > 200 && hi < 800 && lo < hi, `zoomed range ${range}`);
  assert.match(page.url(), /zoom=/);
  // Zoomed to ~200 steps with a bucket per pixel: every point, no longer downsampled.
  await page.waitForFunction(
    () => document.querySelector('.panel[data-key="train/loss"]')?.getAttribute("data-sampled") === "false",
  );
  await shot("zoomed");
  await page.getByRole("button", { name: /Reset zoom/ }).click();
  await page.waitForFunction(
    () => !document.querySelector('.panel[data-key="train/loss"]')?.getAttribute("data-range"),
  );
});

test("a filter changes the table", async () => {
  await page.getByLabel("Filter expression").fill('config.optimizer = "adam"');
  await page.getByRole("button", { name: "Filter", exact: true }).click();
  await page.locator('[data-testid="run-count"]', { hasText: "2 runs" }).waitFor();
  const names = await page.locator(".runs-table .tr[data-run] .name a").allTextContents();
  assert.deepEqual(names.sort(), ["alpha", "gamma"]);
  assert.match(page.url(), /filter=/);
  await shot("filtered");
  await page.getByLabel("Search runs by name").fill("gam");
  await page.locator('[data-testid="run-count"]', { hasText: "1 runs" }).waitFor();
  await page.getByLabel("Search runs by name").fill("");
  await page.getByLabel("Filter expression").fill("");
  await page.getByRole("button", { name: "Filter", exact: true }).click();
  await page.locator('[data-testid="run-count"]', { hasText: "3 runs" }).waitFor();
});

const attr = (key, name) =>
  page.evaluate(([k, n]) => document.querySelector(`.panel[data-key="${k}"]`)?.getAttribute(n), [key, name]);

test("group by a config key: the table groups and the panels draw mean lines with bands", async () => {
  await page.goto(`${srv.base}/admin/${P}?smooth=none`);
  await drawn("train/loss");
  await page.getByLabel("Group by").selectOption("config.optimizer");
  assert.match(page.url(), /group=config\.optimizer/);
  // The table: a collapsible header per group with its count, runs under it.
  await page.locator(".runs-table .group-row").nth(1).waitFor();
  const groups = await page
    .locator(".runs-table .group-row")
    .evaluateAll((els) =>
      els.map((e) => [e.dataset.group, e.querySelector('[data-testid="group-count"]').textContent]),
    );
  assert.deepEqual(groups.sort(), [
    ["adam", "2 runs"],
    ["sgd", "1 run"],
  ]);
  // The panels: one mean line and one band per group instead of a line per run.
  await page.waitForFunction(
    () => document.querySelector('.panel[data-key="train/loss"]')?.getAttribute("data-bands") === "2",
  );
  assert.equal(await attr("train/loss", "data-series"), "2");
  assert.equal(await attr("train/loss", "data-lines"), "6");
  await shot("grouped");
  // Grouped by user: all three runs in one group. ± std instead of min–max
  // changes the band (with three runs they differ), and is in the URL.
  await page.getByLabel("Group by").selectOption("user");
  await page.waitForFunction(
    () => document.querySelector('.panel[data-key="train/loss"]')?.getAttribute("data-bands") === "1",
  );
  const minmax = await attr("train/loss", "data-checksum");
  await page.getByLabel("Band").selectOption("std");
  await page.waitForFunction(
    (b) => document.querySelector('.panel[data-key="train/loss"]')?.getAttribute("data-checksum") !== b,
    minmax,
  );
  assert.match(page.url(), /band=std/);
  // Collapsing a group hides its runs in the table.
  const rows = () => page.locator(".runs-table .tr[data-run]").count();
  assert.equal(await rows(), 3);
  await page.locator(".group-row .group-toggle").first().click();
  await page.waitForFunction(() => document.querySelectorAll(".runs-table .tr[data-run]").length === 0);
  // The URL alone restores the grouped view.
  await page.reload();
  await page.waitForFunction(
    () => document.querySelector('.panel[data-key="train/loss"]')?.getAttribute("data-bands") === "1",
  );
  assert.equal(await page.getByLabel("Band").inputValue(), "std");
  await page.getByLabel("Group by").selectOption("");
  await page.waitForFunction(
    () => document.querySelector('.panel[data-key="train/loss"]')?.getAttribute("data-bands") === "0",
  );
  assert.equal(await page.locator(".runs-table .group-row").count(), 0);
  assert.equal(await attr("train/loss", "data-series"), "3");
});

test("panels: add and remove, and the layout is kept for the project", async () => {
  await page.goto(`${srv.base}/admin/${P}`);
  await drawn("train/loss");
  await page.locator(".panels-menu summary", { hasText: "Add panel" }).click();
  await page.getByLabel("Panel metric").selectOption("val/loss");
  await page.locator(".add-panel").getByText("log y").click();
  await page.locator(".add-panel").getByRole("button", { name: "Add" }).click();
  const custom = page.locator('.section[data-section="custom"] .panel[data-panel="p1"]');
  await custom.locator("canvas").first().waitFor();
  assert.equal(await custom.getAttribute("data-key"), "val/loss");
  assert.match(await custom.locator(".panel-head").textContent(), /log y/);
  // Remove an automatic panel: its section goes when it was the only one.
  await page.getByRole("button", { name: "Remove panel lr" }).click();
  await page.locator('.section[data-section="other"]').waitFor({ state: "detached" });
  // Both survive a reload (localStorage, per entity/project).
  await page.reload();
  await custom.locator("canvas").first().waitFor();
  assert.equal(await page.locator('.section[data-section="other"]').count(), 0);
  await shot("custom-panel");
  await page.getByRole("button", { name: /restore 1 removed panel/ }).click();
  await page.locator('.panel[data-key="lr"]').waitFor();
  await custom.getByRole("button", { name: "Remove panel val/loss" }).click();
  await page.locator('.section[data-section="custom"]').waitFor({ state: "detached" });
});

test("columns: pin and reorder in the runs table, kept for the project", async () => {
  await page.goto(`${srv.base}/admin/${P}`);
  await page.locator(".runs-table .tr[data-run]").first().waitFor();
  const order = () =>
    page.locator(".runs-table .tr.th [data-col]").evaluateAll((els) => els.map((e) => e.dataset.col));
  const before = await order();
  assert.deepEqual(before.slice(0, 3), ["state", "created", "runtime"]);
  await page.locator(".runs-meta summary", { hasText: "Columns" }).click();
  await page.getByRole("button", { name: "Pin column config.lr" }).click();
  await page.getByRole("button", { name: "Move column user left" }).click();
  const after = await order();
  assert.equal(after[0], "config.lr");
  assert.ok(after.indexOf("user") < before.indexOf("user") + 1, after.join(","));
  assert.ok(after.indexOf("user") < after.indexOf("group"), after.join(","));
  // A pinned column stays in view when the table scrolls sideways.
  const pinned = page.locator('.runs-table .tr.th [data-col="config.lr"]');
  assert.equal(await pinned.evaluate((e) => getComputedStyle(e).position), "sticky");
  const x0 = (await pinned.boundingBox()).x;
  await page.locator(".runs-table").evaluate((e) => {
    e.scrollLeft = 400;
  });
  assert.equal((await pinned.boundingBox()).x, x0);
  await page.reload();
  await page.locator(".runs-table .tr[data-run]").first().waitFor();
  assert.deepEqual(await order(), after);
  await shot("columns");
  await page.locator(".runs-meta summary", { hasText: "Columns" }).click();
  await page.getByRole("button", { name: "default order" }).click();
  assert.deepEqual(await order(), before);
});

test("a run logging live extends its line within a second", async () => {
  await page.goto(`${srv.base}/admin/${P}`);
  const loss = await drawn("train/loss");
  await page.waitForFunction(
    () => document.querySelector('.panel[data-key="train/loss"]')?.getAttribute("data-max-step") === "1999",
  );
  const t0 = Date.now();
  await ingest(srv.base, P, "gamma003", [{ step: 2500, values: { "train/loss": 0.05 } }]);
  await page.waitForFunction(
    () => document.querySelector('.panel[data-key="train/loss"]')?.getAttribute("data-max-step") === "2500",
    null,
    { timeout: 5000 },
  );
  const took = Date.now() - t0;
  console.log(`live: logged point visible in the chart after ${took} ms`);
  assert.ok(took < 1000, `took ${took} ms`);
  assert.equal(await loss.getAttribute("data-series"), "3");
  // A new run appears in the table without a reload.
  await call(srv.base, "POST", `/projects/admin/${P}/runs`, {
    id: "delta004",
    name: "delta",
    config: { lr: 0.2 },
  });
  await page.locator('[data-testid="run-count"]', { hasText: "4 runs" }).waitFor({ timeout: 3000 });
});

test("system panels take a running run's new samples live", async () => {
  await page.goto(`${srv.base}/admin/${P}`);
  const sel = '.panel[data-key="system/cpu"]';
  await page.locator('.section[data-section="system"]').waitFor();
  const cpu = await drawn("system/cpu");
  await page.waitForFunction((s) => document.querySelector(s)?.getAttribute("data-series") === "2", sel);
  const before = Number(await cpu.getAttribute("data-points"));
  // gamma is still running: three samples later than any drawn
  await ingestSystem(srv.base, P, "gamma003", sysSamples(Math.ceil(Date.now() / 1000) + 1000, 3, 75));
  await page.waitForFunction(
    ([s, b]) => Number(document.querySelector(s)?.getAttribute("data-points")) >= b + 3,
    [sel, before],
    { timeout: 5000 },
  );
});

test("run page shows the logged config, summary and overview", async () => {
  await page.goto(`${srv.base}/admin/${P}/runs/alpha001?tab=config`);
  const cfg = page.locator('[data-testid="config"]');
  await cfg.waitFor();
  const text = await cfg.textContent();
  for (const want of ["lr", "0.1", "optimizer", "adam", "layers", "4"])
    assert.ok(text.includes(want), `config has ${want}: ${text}`);
  await shot("run-config");
  await page.getByRole("button", { name: "overview" }).click();
  // what the SDK recorded about the process that logged the run
  await page.locator(`text=${hostname()}`).first().waitFor();
  await page.locator("text=train.py").first().waitFor();
  await page.getByRole("button", { name: "charts" }).click();
  const loss = await drawn("train/loss");
  assert.equal(await loss.getAttribute("data-series"), "1");
  await shot("run-charts");
});

test("system metrics: the run page's System tab draws them against time", async () => {
  await page.goto(`${srv.base}/admin/${P}/runs/alpha001?tab=system`);
  const cpu = await drawn("system/cpu");
  assert.equal(await cpu.getAttribute("data-series"), "1");
  assert.equal(await cpu.getAttribute("data-points"), "30");
  // relative time by default (seconds since the run started), wall time on request
  assert.equal(await cpu.getAttribute("data-x"), "rel");
  const [x0] = (await cpu.getAttribute("data-x-range")).split("..").map(Number);
  assert.ok(x0 >= 0 && x0 < 3600, `relative x starts at ${x0}`);
  await page.getByLabel("System x axis").selectOption("wall");
  await page.waitForFunction(
    () => document.querySelector('.panel[data-key="system/cpu"]')?.getAttribute("data-x") === "wall",
  );
  const [w0, w1] = (await cpu.getAttribute("data-x-range")).split("..").map(Number);
  assert.ok(w0 > 1.7e9 && w1 - w0 === 290, `wall x range ${w0}..${w1}`);
  await shot("run-system");
});

test("compare shows only the differing config", async () => {
  await page.goto(`${srv.base}/admin/${P}/compare?runs=alpha001,gamma003`);
  const diff = page.locator('[data-testid="config-diff"]');
  await diff.waitFor();
  const keys = await diff.locator("tbody th").allTextContents();
  assert.deepEqual(keys, ["lr", "model.layers"]);
  await page.getByLabel("only differences").uncheck();
  await page.waitForFunction(
    () => document.querySelectorAll('[data-testid="config-diff"] tbody tr').length === 3,
  );
  await shot("compare");
});

test("an empty project shows the three lines of Python that log to it", async () => {
  await page.goto(`${srv.base}/admin/nothing-here`);
  const snippet = page.locator('[data-testid="snippet"]');
  await snippet.waitFor();
  const text = await snippet.textContent();
  assert.match(
    text,
    /import fluoro as wandb\nwandb\.init\(entity="admin", project="nothing-here"\)\nwandb\.log\(/,
  );
  await shot("empty-project");
});

// These run last: the live test above added a fourth run (delta, no history)
// and extended gamma to step 2500.

test("the zoom is kept while a live point extends the line", async () => {
  await page.goto(`${srv.base}/admin/${P}?zoom=100..3000`);
  const loss = await drawn("train/loss");
  await page.waitForFunction(
    () => document.querySelector('.panel[data-key="train/loss"]')?.getAttribute("data-max-step") === "2500",
  );
  const fetches = Number(await loss.getAttribute("data-fetches"));
  await ingest(srv.base, P, "gamma003", [{ step: 2800, values: { "train/loss": 0.04 } }]);
  await page.waitForFunction(
    () => document.querySelector('.panel[data-key="train/loss"]')?.getAttribute("data-max-step") === "2800",
    null,
    { timeout: 5000 },
  );
  // refetched at the zoomed range, and the zoom is still the view's
  assert.ok(Number(await loss.getAttribute("data-fetches")) > fetches);
  assert.equal(await loss.getAttribute("data-range"), "100..3000");
  assert.equal(new URL(page.url()).searchParams.get("zoom"), "100..3000");
  const [x0] = (await loss.getAttribute("data-x-range")).split("..").map(Number);
  assert.ok(x0 >= 100, `x starts at ${x0}`);
  await page.getByRole("button", { name: /Reset zoom \(100–3000\)/ }).waitFor();
});

test("a section collapses, and stays collapsed after a reload", async () => {
  await page.goto(`${srv.base}/admin/${P}`);
  await drawn("val/loss");
  const head = page.locator('.section[data-section="val"] [aria-expanded]');
  assert.equal(await head.getAttribute("aria-expanded"), "true");
  await head.click();
  await page.locator('.section[data-section="val"] .panel').first().waitFor({ state: "detached" });
  assert.equal(await head.getAttribute("aria-expanded"), "false");
  await page.reload();
  await drawn("train/loss");
  assert.equal(await page.locator('.section[data-section="val"] .panel').count(), 0);
  await page.locator('.section[data-section="val"] [aria-expanded]').click();
  await drawn("val/loss");
});

test("the panel search keeps the panels whose key matches", async () => {
  await page.goto(`${srv.base}/admin/${P}`);
  await drawn("train/loss");
  await page.getByLabel("Search panels").fill("acc");
  await page.waitForFunction(() => !document.querySelector('.panel[data-key="train/loss"]'));
  const shown = await page.locator(".panel").evaluateAll((els) => els.map((e) => e.dataset.key).sort());
  assert.deepEqual(shown, ["train/acc", "val/acc"]);
  assert.equal(new URL(page.url()).searchParams.get("keys"), "acc");
  await page.getByLabel("Search panels").fill("");
  await drawn("train/loss");
});

test("a column can be hidden from the Columns menu", async () => {
  await page.goto(`${srv.base}/admin/${P}`);
  await page.locator('.runs-table [role="columnheader"][data-col="config.lr"]').waitFor();
  await page.locator(".runs-meta summary", { hasText: "Columns" }).click();
  await page.locator(".columns-menu .column-item", { hasText: "config.lr" }).getByRole("checkbox").uncheck();
  await page.locator('.runs-table [data-col="config.lr"]').waitFor({ state: "detached" });
  assert.equal(new URL(page.url()).searchParams.get("hide"), "config.lr");
  // the search box narrows the list of columns
  await page.getByLabel("Search columns").fill("optim");
  assert.deepEqual(await page.locator(".columns-menu .column-item label").allTextContents(), [
    "config.optimizer",
  ]);
  await page.getByLabel("Search columns").fill("");
  await page.locator(".columns-menu .column-item", { hasText: "config.lr" }).getByRole("checkbox").check();
  await page.locator('.runs-table [data-col="config.lr"]').waitFor();
});

test("clicking a header sorts on the server, ascending then descending", async () => {
  await page.goto(`${srv.base}/admin/${P}`);
  await page.locator(".runs-table .tr[data-run]").first().waitFor();
  const names = () => page.locator(".runs-table .tr[data-run] .name a").allTextContents();
  const lr = page.locator('.runs-table [role="columnheader"][data-col="config.lr"]');
  await lr.getByRole("button").click();
  await page.waitForFunction(() => new URL(location.href).searchParams.get("sort") === "config.lr");
  assert.equal(await lr.getAttribute("aria-sort"), "ascending");
  await page.waitForFunction(
    () => document.querySelector(".runs-table .tr[data-row='0'] .name a")?.textContent === "gamma",
  );
  assert.deepEqual(await names(), ["gamma", "beta", "alpha", "delta"]);
  await lr.getByRole("button").click();
  await page.waitForFunction(() => new URL(location.href).searchParams.get("sort") === "-config.lr");
  assert.equal(await lr.getAttribute("aria-sort"), "descending");
  await page.waitForFunction(
    () => document.querySelector(".runs-table .tr[data-row='0'] .name a")?.textContent === "delta",
  );
  assert.deepEqual(await names(), ["delta", "alpha", "beta", "gamma"]);
});
