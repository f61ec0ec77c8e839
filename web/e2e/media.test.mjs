// Media, histogram and layer-norm panels, and the run page's Environment and
// Files tabs, in headless Chromium against the real binary. The run is seeded
// over HTTP: history rows holding wandb's media JSON (ingest) and the files
// they point at (PUT), including PNGs made here.

import assert from "node:assert/strict";
import { copyFileSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { deflateSync } from "node:zlib";
import { call, ingest, KEY, mediaPanel, openBrowser, outDir, startServer } from "./harness.mjs";

const P = "media";
const RUN = "media001";
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
let srv;
let browser;
let page;

// ---- a tiny PNG encoder (filter 0 on every row), so the test needs no image library

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** PNG of width × height; channels 1 (grey: class ids) or 3 (RGB); px(x, y) returns the channel values. */
function png(width, height, channels, px) {
  const raw = Buffer.alloc((width * channels + 1) * height);
  let o = 0;
  for (let y = 0; y < height; y++) {
    raw[o++] = 0;
    for (let x = 0; x < width; x++) for (const v of px(x, y)) raw[o++] = v;
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = channels === 1 ? 0 : 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

async function putFile(name, body, type = "application/octet-stream") {
  const res = await fetch(`${srv.base}/api/v1/projects/admin/${P}/runs/${RUN}/files/${name}`, {
    method: "PUT",
    headers: { Authorization: `Bearer ${KEY}`, "Content-Type": type },
    body,
  });
  if (!res.ok) throw new Error(`PUT ${name}: ${res.status} ${await res.text()}`);
}

// ---- the run's values

const W = 32;
const H = 24;
const image = (step) => ({
  _type: "image-file",
  path: `media/images/examples_${step}.png`,
  sha256: "x",
  size: 1,
  format: "png",
  width: W,
  height: H,
  caption: `sample at ${step}`,
  masks: {
    pred: {
      _type: "mask",
      path: `media/images/mask/pred_${step}.mask.png`,
      format: "png",
      class_labels: { 0: "background", 1: "cat", 2: "dog" },
    },
  },
  boxes: { truth: { _type: "boxes2D", path: `media/metadata/boxes2D/truth_${step}.boxes2D.json` } },
});

function histogram(step) {
  const r = 2 / (1 + step / 10);
  const bins = Array.from({ length: 65 }, (_, i) => -r + (2 * r * i) / 64);
  const values = Array.from({ length: 64 }, (_, i) => Math.round(1000 * Math.exp(-(((i - 32) / 8) ** 2))));
  return { _type: "histogram", values, bins };
}

const layers = Array.from({ length: 300 }, (_, i) => `block${Math.floor(i / 3)}.layer${i % 3}.weight`);
const norms = (step) => ({
  _type: "fluoro.layer-norms",
  names: layers,
  values: layers.map((_, i) => (i === 7 ? 10 ** (step / 4) : i === 250 ? 1e-8 : 1 + (i % 10) / 10)),
});

before(async () => {
  srv = await startServer();
  await call(srv.base, "POST", `/projects/admin/${P}/runs`, {
    id: RUN,
    name: "vision",
    config: { lr: 0.01 },
    host: "media-host",
    program: "train.py",
    git: { remote: "https://example.com/repo.git", branch: "main", commit: COMMIT, dirty: true },
  });
  const steps = [0, 10, 20];
  for (const s of steps) {
    // a picture with a gradient, a mask of two classes (left: cat, right: dog), a box
    await putFile(
      `media/images/examples_${s}.png`,
      png(W, H, 3, (x, y) => [x * 8, y * 10, 128 + s * 4]),
      "image/png",
    );
    await putFile(
      `media/images/mask/pred_${s}.mask.png`,
      png(W, H, 1, (x, y) => [y < 4 ? 0 : x < W / 2 ? 1 : 2]),
      "image/png",
    );
    await putFile(
      `media/metadata/boxes2D/truth_${s}.boxes2D.json`,
      JSON.stringify({
        box_data: [
          { position: { minX: 0.1, maxX: 0.6, minY: 0.2, maxY: 0.8 }, class_id: 1, box_caption: "cat" },
          {
            position: { middle: [24, 12], width: 8, height: 8 },
            domain: "pixel",
            class_id: 2,
            scores: { p: 0.9 },
          },
        ],
        class_labels: { 1: "cat", 2: "dog" },
      }),
      "application/json",
    );
  }
  await putFile(
    "media/table/predictions_20.table.json",
    JSON.stringify({
      columns: ["id", "image", "label", "score"],
      data: Array.from({ length: 45 }, (_, i) => [
        i,
        { _type: "image-file", path: "media/images/examples_0.png", width: W, height: H, format: "png" },
        i % 2 ? "dog" : "cat",
        i / 50,
      ]),
    }),
    "application/json",
  );
  await putFile(
    "media/html/report_20.html",
    "<!doctype html><html><body><h1 id=t>static</h1><script>document.getElementById('t').textContent='script ran'</script></body></html>",
    "text/html",
  );
  await putFile(
    "fluoro-metadata.json",
    JSON.stringify({
      host: "media-host",
      os: "Linux-6.1-x86_64",
      python: "3.12.1",
      python_implementation: "CPython",
      program: "train.py",
      args: ["--lr", "0.01"],
      executable: "/usr/bin/python3",
      git: { remote: "https://example.com/repo.git", branch: "main", commit: COMMIT, dirty: true },
      cpu_count: 16,
      memory_total_gb: 62.5,
      gpu_count: 1,
      gpu: "NVIDIA H100",
      gpus: [{ index: 0, name: "NVIDIA H100", uuid: "GPU-1234", memory_total_mb: 81559 }],
      packages: ["numpy==2.1.0", "torch==2.5.1"],
    }),
    "application/json",
  );
  await putFile(
    "media/plotly/figure_20.plotly.json",
    JSON.stringify({
      data: [{ type: "scatter", mode: "lines+markers", x: [1, 2, 3, 4], y: [3, 1, 4, 1.5], name: "loss" }],
      layout: { title: { text: "a logged figure" } },
    }),
    "application/json",
  );
  await putFile("diff.patch", "diff --git a/train.py b/train.py\n+print('hi')\n", "text/x-diff");
  const rows = [];
  for (let s = 0; s <= 20; s++) {
    const values = {
      "train/loss": 1 / (1 + s),
      "gradients/fc1.weight": histogram(s),
      "parameters/_norms": norms(s),
      status: `epoch ${Math.floor(s / 10)}`,
    };
    if (steps.includes(s)) values.examples = image(s);
    if (s === 20) {
      values.predictions = {
        _type: "table-file",
        path: "media/table/predictions_20.table.json",
        ncols: 4,
        nrows: 45,
      };
      values.report = { _type: "html-file", path: "media/html/report_20.html" };
      values["plots/figure"] = { _type: "plotly-file", path: "media/plotly/figure_20.plotly.json" };
    }
    rows.push({ step: s, values });
  }
  await ingest(srv.base, P, RUN, rows);
  browser = await openBrowser();
  page = await browser.ctx.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(`${srv.base}/admin/${P}?token=${KEY}`);
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

/** The panel of key on the test's page, loaded (harness mediaPanel). */
const panel = (key) => mediaPanel(page, key);

/** Count of canvas pixels that are not fully transparent. */
const paintedPixels = (canvas) =>
  canvas.evaluate((c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });

test("the keys endpoint types the media keys", async () => {
  const r = await call(srv.base, "GET", `/projects/admin/${P}/keys`);
  assert.equal(r.types["gradients/fc1.weight"], "histogram");
  assert.equal(r.types["parameters/_norms"], "fluoro.layer-norms");
  assert.equal(r.types.examples, "image-file");
  assert.equal(r.types["train/loss"], undefined);
});

test("workspace: sections by key type, a histogram heatmap with pixels and hover", async () => {
  await page.goto(`${srv.base}/admin/${P}`);
  await page.locator('.section[data-section="gradients"]').waitFor();
  const sections = await page
    .locator(".section")
    .evaluateAll((els) =>
      els.map((e) => [
        e.getAttribute("data-section"),
        [...e.querySelectorAll(".panel")].map((p) => [
          p.getAttribute("data-key"),
          p.getAttribute("data-kind"),
        ]),
      ]),
    );
  assert.deepEqual(sections, [
    ["train", [["train/loss", null]]],
    [
      "media",
      [
        ["examples", "image"],
        ["plots/figure", "plotly"],
        ["predictions", "table"],
        ["report", "html"],
      ],
    ],
    ["gradients", [["gradients/fc1.weight", "histogram"]]],
    ["parameters", [["parameters/_norms", "norms"]]],
    ["other", [["status", "text"]]],
  ]);
  // a string key: its latest value per run
  const st = await panel("status");
  await st.locator('[data-testid="latest-values"] td', { hasText: "epoch 2" }).waitFor();
  assert.match(await st.locator('[data-testid="latest-values"]').textContent(), /vision.*epoch 2.*step 20/);
  const h = await panel("gradients/fc1.weight");
  const canvas = h.locator(".heatmap canvas");
  await canvas.waitFor();
  await page.waitForFunction((el) => Number(el.dataset.painted) > 0, await canvas.elementHandle());
  assert.ok((await paintedPixels(canvas)) > 1000, "the heatmap has coloured pixels");
  // hovering names the step, the bin range and the count
  const box = await canvas.boundingBox();
  await canvas.hover({ position: { x: box.width - 3, y: box.height / 2 } });
  const tip = await h.locator(".heat-tip").textContent();
  assert.match(tip, /^step 20 · bin .+ … .+ · count /);
});

test("layer norms: a layers × steps heatmap, hover names the layer", async () => {
  const n = await panel("parameters/_norms");
  const run = n.locator(".heat-run");
  await run.waitFor();
  assert.equal(await run.getAttribute("data-layers"), "300");
  const canvas = n.locator(".heatmap canvas");
  await page.waitForFunction((el) => Number(el.dataset.painted) > 0, await canvas.elementHandle());
  assert.ok((await paintedPixels(canvas)) > 1000);
  const box = await canvas.boundingBox();
  // Row 7 of 300 (the exploding layer) near the top. A row is under a pixel
  // high and the mouse lands on whole pixels, so try the pixels around its middle.
  const tips = [];
  for (const dy of [0, -1, 1, -2, 2]) {
    await canvas.hover({ position: { x: box.width - 2, y: (7.5 / 300) * box.height + dy } });
    tips.push(await n.locator(".heat-tip").textContent());
  }
  assert.ok(
    tips.some((t) => /^block2\.layer1\.weight · step 20 · norm /.test(t)),
    `hovering row 7 names the layer: ${tips.join(" | ")}`,
  );
  assert.match(await n.locator(".norms-extremes").textContent(), /largest block2\.layer1\.weight/);
});

test("image panel: the image, its mask overlay toggles, boxes and the step slider", async () => {
  const p = await panel("examples");
  const img = p.locator(".media-image img");
  await img.waitFor();
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle());
  assert.equal(await img.evaluate((el) => el.naturalWidth), W);
  assert.equal(await p.locator("figcaption").textContent(), "sample at 20");
  // the slider's steps came without their values (steps_only), the value of the step on its own
  const urls = await page.evaluate(() => performance.getEntriesByType("resource").map((e) => e.name));
  assert.ok(
    urls.some((u) => /\/runs\/media001\/history\?key=examples&steps_only=true/.test(u)),
    "steps_only",
  );
  assert.ok(urls.some((u) => /\/runs\/media001\/history\?key=examples&min_step=20&max_step=20/.test(u)));
  const overlay = p.locator('.mask-overlay[data-mask="pred"]');
  await overlay.waitFor();
  await page.waitForFunction((el) => Number(el.dataset.pixels) > 0, await overlay.elementHandle());
  // rows 0-3 are background (transparent); the rest is coloured
  assert.equal(await overlay.getAttribute("data-pixels"), String(W * (H - 4)));
  assert.equal(await paintedPixels(overlay), W * (H - 4));
  await p.locator(".class-legend", { hasText: "cat" }).waitFor();
  await p.locator('svg.boxes g[data-boxes="truth"] > rect').nth(1).waitFor();
  assert.equal(await p.locator("svg.boxes g[data-boxes] > rect").count(), 2);
  // the mask toggle removes and restores the overlay
  await p.getByLabel("mask pred").uncheck();
  assert.equal(await p.locator(".mask-overlay").count(), 0);
  await p.getByLabel("boxes truth").uncheck();
  assert.equal(await p.locator("svg.boxes g[data-boxes] > rect").count(), 0);
  await p.getByLabel("mask pred").check();
  await p.locator('.mask-overlay[data-mask="pred"]').waitFor();
  // the slider goes back to an earlier step
  const slider = p.getByLabel("Step of examples");
  await slider.fill("0");
  await p.locator("figcaption", { hasText: "sample at 0" }).waitFor();
  assert.match(await p.locator(".step-slider").textContent(), /step 0/);
  // the toggles hold across steps: boxes still hidden, the mask drawn
  await p.locator('.mask-overlay[data-mask="pred"]').waitFor();
  assert.equal(await p.getByLabel("boxes truth").isChecked(), false);
  assert.equal(await p.locator("svg.boxes g[data-boxes] > rect").count(), 0);
  await p.getByLabel("boxes truth").check();
  await p.locator("svg.boxes g[data-boxes] > rect").nth(1).waitFor();
});

test("table panel: rows with inline images, filter, sort and pages", async () => {
  const p = await panel("predictions");
  const rows = p.locator(".media-table tbody tr");
  await rows.first().waitFor();
  assert.equal(await rows.count(), 20, "first page");
  const cellImg = p.locator("img.cell-img").first();
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await cellImg.elementHandle());
  assert.match(await p.locator(".table-tools").textContent(), /1–20 of 45/);
  await p.getByLabel("Filter rows").fill("dog");
  await page.waitForFunction(
    (el) => el.querySelectorAll("tbody tr").length === 20 && /of 22/.test(el.textContent),
    await p.elementHandle(),
  );
  await p.getByLabel("Filter rows").fill("");
  // sort by score, descending (second click)
  const head = p.locator("th button", { hasText: "score" });
  await head.click();
  await head.click();
  assert.equal(await rows.first().locator("td").first().textContent(), "44");
  await p.getByRole("button", { name: "next ›" }).click();
  assert.equal(await rows.first().locator("td").first().textContent(), "24");
});

test("html panel: a sandboxed iframe (scripts, never same-origin) from the files endpoint", async () => {
  const p = await panel("report");
  await p.screenshot({ path: join(outDir, "media-html.png") });
  const frame = p.locator("iframe.media-html");
  await frame.waitFor();
  assert.equal(await frame.getAttribute("sandbox"), "allow-scripts");
  assert.ok(!(await frame.getAttribute("sandbox")).includes("allow-same-origin"));
  assert.match(await frame.getAttribute("src"), /\/runs\/media001\/files\/media\/html\/report_20\.html$/);
  // the page loaded with the session cookie and its script ran
  await p.frameLocator("iframe.media-html").locator("h1", { hasText: "script ran" }).waitFor();
});

// A logged HTML page whose script goes for the app around it: the parent
// page's title, DOM and cookie, and the API with the viewer's session. The
// frame is sandboxed without allow-same-origin, so its origin is opaque:
// every attempt must fail inside the frame, which records what happened in
// its own document for the test to read.
const hostile = `<!doctype html><html><body><h1>report</h1><script>
const r = { origin: self.origin };
const attempt = (name, fn) => {
  try { r[name] = "allowed: " + String(fn()); } catch (e) { r[name] = "threw " + e.name; }
};
attempt("title", () => { parent.document.title = "pwned"; return parent.document.title; });
attempt("cookie", () => parent.document.cookie);
attempt("dom", () => { parent.document.body.innerHTML = "<h1>pwned</h1>"; return "replaced"; });
attempt("ownCookie", () => document.cookie);
fetch("/api/v1/viewer", { credentials: "include", headers: { "X-Fluoro-Client": "web" } })
  .then(async (res) => { r.fetch = "status " + res.status + " " + (await res.text()).slice(0, 200); })
  .catch((e) => { r.fetch = "threw " + e.name; })
  .finally(() => { document.body.dataset.result = JSON.stringify(r); });
</script></body></html>`;

test("html panel: a logged page's script cannot reach the app or the session", async () => {
  const project = "media-sandbox";
  const run = "sandbox1";
  await call(srv.base, "POST", `/projects/admin/${project}/runs`, { id: run, name: "hostile" });
  const res = await fetch(
    `${srv.base}/api/v1/projects/admin/${project}/runs/${run}/files/media/html/x_1.html`,
    {
      method: "PUT",
      headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "text/html" },
      body: hostile,
    },
  );
  assert.ok(res.ok, `PUT: ${res.status}`);
  await ingest(srv.base, project, run, [
    { step: 1, values: { report: { _type: "html-file", path: "media/html/x_1.html" } } },
  ]);
  const p = await browser.ctx.newPage();
  try {
    await p.goto(`${srv.base}/admin/${project}`);
    await p.locator('.panel[data-key="report"]').waitFor();
    const title = await p.title();
    const frame = p.frameLocator('.panel[data-key="report"] iframe.media-html');
    await frame.locator("body[data-result]").waitFor();
    const r = JSON.parse(await frame.locator("body").getAttribute("data-result"));
    // the frame's origin is opaque, and every reach for the parent threw there
    assert.equal(r.origin, "null");
    assert.equal(r.title, "threw SecurityError");
    assert.equal(r.cookie, "threw SecurityError");
    assert.equal(r.dom, "threw SecurityError");
    assert.equal(r.ownCookie, "threw SecurityError");
    // the API call went out without the session: refused by CORS, or a 401
    assert.ok(r.fetch === "threw TypeError" || r.fetch.startsWith("status 401"), r.fetch);
    assert.ok(!r.fetch.includes('"admin"'), r.fetch);
    // and the app around it is untouched
    assert.equal(await p.title(), title);
    assert.notEqual(title, "pwned");
    assert.equal(await p.locator("h1", { hasText: "pwned" }).count(), 0);
    await p.locator(".panels-pane").waitFor();
    await p.locator("header.top .logo").waitFor();
  } finally {
    await p.close();
  }
});

test("plotly panel: plotly.js is its own chunk, loaded when the panel shows", async () => {
  // the main bundle does not carry Plotly
  const html = await (await fetch(`${srv.base}/`)).text();
  const main = /<script[^>]+src="([^"]+\.js)"/.exec(html)[1];
  const js = await (await fetch(new URL(main, srv.base))).text();
  assert.ok(!js.includes("scattergl"), "plotly is not in the main bundle");
  assert.ok(js.length < 600_000, `main bundle ${js.length} bytes`);
  // a fresh page: the run's overview loads no Plotly; its charts tab, with the figure on screen, does
  const p2 = await browser.ctx.newPage();
  const plotlyLoaded = () =>
    p2.evaluate(() =>
      performance.getEntriesByType("resource").some((e) => /\/assets\/plotly[^/]*\.js/.test(e.name)),
    );
  try {
    await p2.goto(`${srv.base}/admin/${P}/runs/${RUN}`);
    await p2.locator(".run-page .tabs").waitFor();
    assert.equal(await plotlyLoaded(), false, "no plotly on the overview");
    await p2.goto(`${srv.base}/admin/${P}/runs/${RUN}?tab=charts&keys=plots`);
    const p = p2.locator('.panel[data-key="plots/figure"]');
    await p.locator('.media-plotly [data-ready="1"]').waitFor({ timeout: 60_000 });
    await p.locator(".media-plotly svg.main-svg").first().waitFor();
    assert.match(await p.locator(".media-plotly").textContent(), /a logged figure/);
    assert.equal(await plotlyLoaded(), true, "the plotly chunk was fetched");
    await p.screenshot({ path: join(outDir, "media-plotly.png") });
  } finally {
    await p2.close();
  }
});

test("run page: media in the charts, the environment and the files", async () => {
  await page.goto(`${srv.base}/admin/${P}/runs/${RUN}?tab=charts`);
  await page.locator('.panel[data-key="examples"][data-kind="image"]').waitFor();
  await page.locator('.panel[data-key="gradients/fc1.weight"][data-kind="histogram"]').waitFor();

  await page.goto(`${srv.base}/admin/${P}/runs/${RUN}?tab=environment`);
  const env = page.locator('[data-testid="environment"]');
  await env.waitFor();
  assert.match(await env.locator('tr[data-field="Host"] td').textContent(), /media-host/);
  assert.equal(await env.locator('[data-testid="git-commit"]').textContent(), COMMIT);
  assert.match(await env.locator('tr[data-field="Command"] td').textContent(), /python train\.py --lr 0\.01/);
  assert.match(await env.locator('tr[data-field="GPUs"] td').textContent(), /1 × NVIDIA H100/);
  const diff = env.locator('tr[data-field="Diff"] a');
  assert.match(await diff.getAttribute("href"), /\/files\/diff\.patch$/);
  await env.locator("summary", { hasText: "diff.patch" }).click();
  await env.locator("pre.diff", { hasText: "+print('hi')" }).waitFor();
  await env.locator("summary", { hasText: "2 Python packages" }).waitFor();
  await page.screenshot({ path: join(outDir, "environment.png") });

  await page.goto(`${srv.base}/admin/${P}/runs/${RUN}?tab=files`);
  const meta = page.locator('[data-testid="files"] tr[data-file="fluoro-metadata.json"]');
  await meta.waitFor();
  assert.match(await meta.locator("td").nth(3).getAttribute("title"), /^[0-9a-f]{64}$/);
  assert.match(
    await meta.locator("a", { hasText: "download" }).getAttribute("href"),
    /^\/api\/v1\/files\/download\?/,
  );
});

test("layout: media panels are removed and restored like line panels (and the screenshot)", async () => {
  await page.goto(`${srv.base}/admin/${P}`);
  for (const k of ["train/loss", "plots/figure", "predictions", "report", "status"]) {
    await page.getByLabel(`Remove panel ${k}`).click();
  }
  await page.locator(".panel[data-key]").nth(2).waitFor();
  assert.deepEqual(
    await page.locator(".panel[data-key]").evaluateAll((els) => els.map((e) => e.dataset.key)),
    ["examples", "gradients/fc1.weight", "parameters/_norms"],
  );
  // kept for the project across a reload
  await page.reload();
  await page.locator('.panel[data-key="examples"]').waitFor();
  assert.equal(await page.locator('.panel[data-key="report"]').count(), 0);
  await page.setViewportSize({ width: 1280, height: 900 });
  for (const k of ["examples", "gradients/fc1.weight", "parameters/_norms"]) {
    const p = await panel(k);
    await p.locator("canvas").first().waitFor();
  }
  await page.waitForFunction(() =>
    [...document.querySelectorAll(".heatmap canvas")].every((c) => Number(c.dataset.painted) > 0),
  );
  await page.evaluate(() => {
    document.querySelector(".panels-pane").scrollTop = 0;
  });
  await page.mouse.move(0, 0);
  const file = join(outDir, "media.png");
  await page.screenshot({ path: file, type: "png" });
  if (process.env.FLUORO_UPDATE_SCREENSHOT) {
    mkdirSync(resolve(import.meta.dirname, "../../docs/img"), { recursive: true });
    copyFileSync(file, resolve(import.meta.dirname, "../../docs/img/media.png"));
  }
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.getByRole("button", { name: /restore 5 removed panels/ }).click();
  await page.locator('.panel[data-key="report"]').waitFor();
});
