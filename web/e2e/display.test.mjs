// Screens and themes, in headless Chromium against the real binary: on a
// 4K screen (3840×2160, device scale 1) the panels lay out in more columns
// than at 1280×720; with the system's dark scheme the page and the charts'
// axes are dark, and switching the scheme while the page is open rebuilds
// the charts in the new colours. Runs are logged through the native API
// (what is drawn does not matter here, only where and in which colours).

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { call, ingest, KEY, openBrowser, outDir, startServer } from "./harness.mjs";

const P = "display";
const keys = Array.from({ length: 12 }, (_, k) => `train/m${String(k).padStart(2, "0")}`);
let srv;
let browser;

before(async () => {
  srv = await startServer();
  for (let r = 0; r < 3; r++) {
    const id = `disp000${r}`;
    await call(srv.base, "POST", `/projects/admin/${P}/runs`, { id, name: `display-${r}`, config: { r } });
    const rows = Array.from({ length: 300 }, (_, s) => ({
      step: s,
      values: Object.fromEntries(keys.map((k, i) => [k, Math.exp(-s / (50 + 20 * r)) + i * 0.01])),
    }));
    await ingest(srv.base, P, id, rows);
  }
  browser = await openBrowser();
  const login = await browser.ctx.newPage();
  await login.goto(`${srv.base}/?token=${KEY}`);
  await login.close();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

/** Opens the workspace at a size and waits for the first panels to draw. */
async function open(width, height, scheme = "light") {
  const page = await browser.ctx.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.setViewportSize({ width, height });
  await page.emulateMedia({ colorScheme: scheme });
  await page.goto(`${srv.base}/admin/${P}`);
  await page.locator('.panel[data-key="train/m00"] canvas').first().waitFor();
  return page;
}

/** How many columns the train section's panels are laid out in. */
const columns = (page) =>
  page
    .locator('.section[data-section="train"] .panel')
    .evaluateAll((els) => new Set(els.map((e) => Math.round(e.getBoundingClientRect().left))).size);

test("a 4K screen lays the panels out in more columns", async () => {
  const small = await open(1280, 720);
  const at720 = await columns(small);
  await small.close();
  const big = await open(3840, 2160);
  assert.equal(await big.evaluate(() => devicePixelRatio), 1);
  const at4k = await columns(big);
  console.log(`panel columns: ${at720} at 1280×720, ${at4k} at 3840×2160`);
  assert.ok(at4k >= 2 * at720 && at4k >= 5, `${at720} columns at 1280, ${at4k} at 4K`);
  // every panel in view has drawn, at its width (not stretched from a smaller one)
  const panel = big.locator('.panel[data-key="train/m05"]');
  await panel.locator("canvas").first().waitFor();
  const [pw, cw] = await panel.evaluate((e) => [e.clientWidth, e.querySelector("canvas")?.width ?? 0]);
  assert.ok(cw >= pw * 0.7, `canvas ${cw} px wide in a ${pw} px panel`);
  await big.screenshot({ path: join(outDir, "workspace-4k.png") });
  await big.close();
});

test("the dark scheme: dark page and axes, and charts rebuild when the scheme changes", async () => {
  const page = await open(1280, 720, "light");
  const sel = '.panel[data-key="train/m00"]';
  const attr = (n) => page.evaluate(([s, a]) => document.querySelector(s)?.getAttribute(a), [sel, n]);
  assert.equal(await attr("data-scheme"), "light");
  const lightAxis = await attr("data-axis");
  // The system switches to dark while the page is open.
  await page.emulateMedia({ colorScheme: "dark" });
  await page.waitForFunction((s) => document.querySelector(s)?.getAttribute("data-scheme") === "dark", sel);
  const darkAxis = await attr("data-axis");
  assert.notEqual(darkAxis, lightAxis);
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = bg.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 3 * 60, `dark background ${bg}`);
  // The axis colour is light on the dark background: the tick labels' pixels say so too.
  const [ar, ag, ab] = [1, 3, 5].map((i) => Number.parseInt(darkAxis.slice(i, i + 2), 16));
  assert.ok(ar + ag + ab > 3 * 120, `axis ${darkAxis} on ${bg}`);
  const lum = await page.locator(sel).evaluate((e) => {
    const c = e.querySelector("canvas");
    const ctx = c?.getContext("2d");
    if (!c || !ctx) return -1;
    // the y axis's labels are on the left of the canvas: its brightest pixel
    const d = ctx.getImageData(0, 0, Math.min(50, c.width), c.height).data;
    let max = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) max = Math.max(max, d[i] + d[i + 1] + d[i + 2]);
    return max;
  });
  assert.ok(lum > 3 * 120, `brightest axis pixel ${lum}`);
  await page.screenshot({ path: join(outDir, "workspace-dark.png") });
  // and back
  await page.emulateMedia({ colorScheme: "light" });
  await page.waitForFunction((s) => document.querySelector(s)?.getAttribute("data-scheme") === "light", sel);
  assert.equal(await attr("data-axis"), lightAxis);
  await page.close();
});
