// The workspace, run page and compare page in headless Chromium against the
// real binary. Run with `make test-web-e2e` (builds bin/fluoro with the UI).

import assert from "node:assert/strict";
import { copyFileSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { call, ingest, KEY, openBrowser, outDir, seedRun, startServer } from "./harness.mjs";

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
  { id: "beta0002", name: "beta", config: { lr: 0.01, optimizer: "sgd", model: { layers: 4 } } },
  { id: "gamma003", name: "gamma", config: { lr: 0.003, optimizer: "adam", model: { layers: 8 } } },
];

before(async () => {
  srv = await startServer();
  for (const r of runs) await seedRun(srv.base, P, r);
  await call(srv.base, "POST", `/projects/admin/${P}/runs/alpha001/finish`, { exit_code: 0 });
  await call(srv.base, "POST", `/projects/admin/${P}/runs/beta0002/finish`, { exit_code: 1 });
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

test("run page shows the logged config, summary and overview", async () => {
  await page.goto(`${srv.base}/admin/${P}/runs/alpha001?tab=config`);
  const cfg = page.locator('[data-testid="config"]');
  await cfg.waitFor();
  const text = await cfg.textContent();
  for (const want of ["lr", "0.1", "optimizer", "adam", "layers", "4"])
    assert.ok(text.includes(want), `config has ${want}: ${text}`);
  await shot("run-config");
  await page.getByRole("button", { name: "overview" }).click();
  await page.locator("text=e2e-host").waitFor();
  await page.getByRole("button", { name: "charts" }).click();
  const loss = await drawn("train/loss");
  assert.equal(await loss.getAttribute("data-series"), "1");
  await shot("run-charts");
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
