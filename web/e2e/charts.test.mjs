// Custom charts (wandb.plot.*) in headless Chromium against the real binary.
// The run is seeded over HTTP as the client leaves it: table files (PUT),
// history values pointing at them under "{key}_table", and the charts' specs
// in the run config at _wandb.visualize[key].

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { call, ingest, KEY, mediaPanel, openBrowser, outDir, runSDKScript, startServer } from "./harness.mjs";

const P = "charts";
const RUN = "charts001";
let srv;
let browser;
let page;

async function putFile(name, body) {
  const res = await fetch(`${srv.base}/api/v1/projects/admin/${P}/runs/${RUN}/files/${name}`, {
    method: "PUT",
    headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`PUT ${name}: ${res.status} ${await res.text()}`);
}

/** A chart's config entry, as wandb.plot.* writes it. */
const visualize = (id, fields, strings) => ({
  panel_type: "Vega2",
  panel_config: {
    panelDefId: id,
    fieldSettings: fields,
    stringSettings: strings,
    transform: { name: "tableWithLeafColNames" },
    // the Vega query fills ${runSets} in; we read the table file instead
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a Vega placeholder, as wandb writes it
    userQuery: { queryFields: [{ name: "runSets", args: [{ name: "runSets", value: "${runSets}" }] }] },
  },
});

const classes = ["cat", "dog", "bird"];
// counts[actual][predicted]
const counts = [
  [17, 2, 1],
  [3, 12, 0],
  [0, 4, 9],
];
const cmTable = {
  columns: ["Actual", "Predicted", "nPredictions"],
  data: classes.flatMap((a, i) => classes.map((p, j) => [a, p, counts[i][j]])),
};
const rocTable = {
  columns: ["class", "fpr", "tpr"],
  data: classes.flatMap((c, k) =>
    Array.from({ length: 11 }, (_, i) => [c, i / 10, Math.min(1, (i / 10) ** (0.3 + k * 0.2))]),
  ),
};
const lineKeys = ["train", "val", "test"];
const lossTable = {
  columns: ["step", "lineKey", "lineVal"],
  data: lineKeys.flatMap((k, n) => Array.from({ length: 10 }, (_, s) => [s, k, 2 / (1 + s) + n * 0.1])),
};
const oddTable = { columns: ["a", "b"], data: [[1, 2]] };

const tables = { cm: cmTable, roc: rocTable, loss_curve: lossTable, odd: oddTable };

before(async () => {
  srv = await startServer();
  const specs = {
    // the official client wraps config values as {"value": …}
    cm: {
      value: visualize(
        "wandb/confusion_matrix/v1",
        { Actual: "Actual", Predicted: "Predicted", nPredictions: "nPredictions" },
        { title: "Confusion Matrix Curve" },
      ),
    },
    roc: visualize(
      "wandb/area-under-curve/v0",
      { x: "fpr", y: "tpr", class: "class" },
      { title: "ROC", "x-axis-title": "False positive rate", "y-axis-title": "True positive rate" },
    ),
    loss_curve: visualize(
      "wandb/lineseries/v0",
      { step: "step", lineKey: "lineKey", lineVal: "lineVal" },
      { title: "Losses", xname: "epoch" },
    ),
    odd: visualize("wandb/foo/v1", { a: "a" }, { title: "odd" }),
  };
  await call(srv.base, "POST", `/projects/admin/${P}/runs`, {
    id: RUN,
    name: "classifier",
    config: { lr: 0.01, _wandb: { visualize: specs } },
  });
  const values = {};
  for (const [key, t] of Object.entries(tables)) {
    const path = `media/table/${key}_table_3_0123456789abcdef0123.table.json`;
    await putFile(path, t);
    values[`${key}_table`] = {
      _type: "table-file",
      path,
      sha256: "0123456789abcdef",
      size: JSON.stringify(t).length,
      ncols: t.columns.length,
      nrows: t.data.length,
    };
  }
  await ingest(srv.base, P, RUN, [
    { step: 0, values: { "train/loss": 1 } },
    { step: 3, values: { "train/loss": 0.5, ...values } },
  ]);
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

/** The panel's chart, once Plotly has drawn it. */
async function chart(p, id) {
  const c = p.locator('.media-chart[data-ready="1"]');
  await c.waitFor({ timeout: 60_000 });
  assert.equal(await c.getAttribute("data-chart"), id);
  return c;
}

test("chart panels are titled by their chart key, with a chart badge", async () => {
  // panels show before the run's config (which names the charts) has loaded
  await page.locator('.panel[data-key="cm_table"] .panel-head .badge', { hasText: "chart" }).waitFor();
  for (const key of ["cm", "roc", "loss_curve", "odd"]) {
    const p = page.locator(`.panel[data-key="${key}_table"]`);
    const title = p.locator(".panel-title");
    assert.equal(await title.textContent(), key);
    assert.equal(await title.getAttribute("title"), `${key}_table`);
    assert.equal(await p.locator(".panel-head .badge").textContent(), "chart");
  }
});

test("confusion matrix: a heatmap with every count annotated", async () => {
  const p = await panel("cm_table");
  const c = await chart(p, "wandb/confusion_matrix/v1");
  await c.locator(".heatmaplayer .hm").first().waitFor();
  const notes = await c.locator("g.annotation text").allTextContents();
  assert.deepEqual(
    notes.map(Number).sort((a, b) => a - b),
    counts.flat().sort((a, b) => a - b),
  );
  const text = await c.textContent();
  assert.match(text, /Confusion Matrix Curve/);
  assert.match(text, /Predicted/);
  assert.match(text, /Actual/);
  // the classes in the table's order, on both axes
  const ticks = await c.locator(".xtick text").allTextContents();
  assert.deepEqual(ticks, classes);
});

test("ROC curve: one line per class on the unit square", async () => {
  const p = await panel("roc_table");
  const c = await chart(p, "wandb/area-under-curve/v0");
  assert.equal(await c.locator(".scatterlayer .trace").count(), classes.length);
  const text = await c.textContent();
  assert.match(text, /False positive rate/);
  assert.match(text, /True positive rate/);
});

test("line series: one trace per line key; the Table button shows the rows", async () => {
  const p = await panel("loss_curve_table");
  const c = await chart(p, "wandb/lineseries/v0");
  assert.equal(await c.locator(".scatterlayer .trace").count(), lineKeys.length);
  assert.match(await c.textContent(), /epoch/);
  await p.screenshot({ path: join(outDir, "chart-lineseries.png") });
  assert.equal(
    await p.getByRole("button", { name: "Chart", exact: true }).getAttribute("aria-pressed"),
    "true",
  );
  await p.getByRole("button", { name: "Table", exact: true }).click();
  const table = p.locator(".media-table");
  await table.waitFor();
  assert.equal(await table.getAttribute("data-rows"), String(lossTable.data.length));
  assert.equal(await table.locator("tbody tr").count(), 20, "first page");
  assert.match(await p.locator(".table-tools").textContent(), /1–20 of 30/);
  assert.equal(await p.locator(".media-chart").count(), 0);
  // and back
  await p.getByRole("button", { name: "Chart", exact: true }).click();
  await chart(p, "wandb/lineseries/v0");
  assert.equal(await p.locator(".media-table").count(), 0);
});

test("an unknown chart: its table, with a note", async () => {
  const p = await panel("odd_table");
  await p.locator(".media-table").waitFor();
  assert.equal(await p.locator(".media-table").getAttribute("data-rows"), "1");
  assert.match(
    await p.locator(".chart-note").textContent(),
    /custom chart "wandb\/foo\/v1" is not supported here; showing its table/,
  );
  assert.equal(await p.locator(".media-chart").count(), 0);
  assert.equal(await p.getByRole("button", { name: "Chart", exact: true }).count(), 0);
});

test("screenshot of the charts", async () => {
  await page.setViewportSize({ width: 1280, height: 1400 });
  for (const key of ["cm", "roc", "loss_curve"])
    await (await panel(`${key}_table`)).locator('.media-chart[data-ready="1"]').waitFor({ timeout: 60_000 });
  await page.evaluate(() => {
    document.querySelector(".panels-pane").scrollTop = 0;
  });
  await page.mouse.move(0, 0);
  await page.screenshot({ path: join(outDir, "charts.png") });
  await page.setViewportSize({ width: 1280, height: 720 });
});

test("charts logged by the real Python SDK (import fluoro as wandb): two runs' PR curves share a plot", async () => {
  const project = "charts-sdk";
  await runSDKScript(
    srv.base,
    `
import random
import fluoro as wandb
names = ["neg", "neutral", "pos"]
y_true = [0, 0, 1, 1, 2, 2, 2, 1]
for rid, noise in (("eval-a", 0.0), ("eval-b", 0.3)):
    rnd = random.Random(rid)
    probs = [[0.8, 0.1, 0.1], [0.4, 0.5, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1],
             [0.1, 0.2, 0.7], [0.3, 0.3, 0.4], [0.2, 0.1, 0.7], [0.6, 0.3, 0.1]]
    if noise:
        probs = [[p + rnd.uniform(0, noise) for p in row] for row in probs]
    run = wandb.init(project=${JSON.stringify(project)}, entity="admin", id=rid, name=rid, reinit="create_new")
    run.log({"loss": 0.5})
    run.log({"eval/cm": wandb.plot.confusion_matrix(probs=probs, y_true=y_true, class_names=names),
             "eval/pr": wandb.plot.pr_curve(y_true, probs, labels=names)})
    run.finish()
`,
  );
  const p2 = await browser.ctx.newPage();
  try {
    await p2.goto(`${srv.base}/admin/${project}?token=${KEY}`);
    // a confusion matrix per run (matrices do not overlay)
    const cm = p2.locator('.panel[data-key="eval/cm_table"]');
    await cm.waitFor();
    await cm.scrollIntoViewIfNeeded();
    const charts = cm.locator('.media-chart[data-ready="1"]');
    await charts.nth(1).waitFor({ timeout: 60_000 }); // drawn once the runs' configs (naming the charts) are in
    assert.equal(await cm.locator(".panel-title").textContent(), "eval/cm");
    assert.equal(await charts.count(), 2);
    assert.equal(await charts.first().getAttribute("data-chart"), "wandb/confusion_matrix/v1");
    // run eval-a, argmax of probs against y_true: rows neg [1 1 0], neutral [1 2 0], pos [0 0 3]
    const a = cm.locator('.media-run[data-run="eval-a"] .media-chart[data-ready="1"]');
    await a.locator(".heatmaplayer .hm").first().waitFor();
    const cells = await a.locator("g.annotation text").allTextContents();
    assert.deepEqual(
      cells.map(Number).sort((x, y) => x - y),
      [0, 0, 0, 0, 1, 1, 1, 2, 3],
    );
    // both runs' PR curves in one plot: 2 runs x 3 classes, named by run and class
    const pr = p2.locator('.panel[data-key="eval/pr_table"]');
    await pr.scrollIntoViewIfNeeded();
    const overlay = pr.locator('.media-overlay[data-runs="2"]');
    await overlay.waitFor({ timeout: 30_000 });
    const pc = overlay.locator('.media-chart[data-ready="1"]');
    await pc.waitFor({ timeout: 60_000 });
    assert.equal(await pc.getAttribute("data-chart"), "wandb/area-under-curve/v0");
    assert.equal(await pc.locator(".scatterlayer .trace").count(), 6);
    const legend = await pc.locator(".legend .legendtext").allTextContents();
    assert.deepEqual(legend.slice().sort(), [
      "eval-a · neg",
      "eval-a · neutral",
      "eval-a · pos",
      "eval-b · neg",
      "eval-b · neutral",
      "eval-b · pos",
    ]);
    assert.match(await pc.textContent(), /Recall/);
    await pr.screenshot({ path: join(outDir, "chart-overlay.png") });
    // the Table switch shows each run's rows (3 classes x 21 recall levels)
    await overlay.getByRole("button", { name: "Table", exact: true }).click();
    const tables = pr.locator(".media-table");
    await tables.nth(1).waitFor();
    assert.deepEqual(await tables.evaluateAll((ts) => ts.map((t) => t.getAttribute("data-rows"))), [
      "63",
      "63",
    ]);
    await pr.getByRole("button", { name: "Chart", exact: true }).first().click();
    await overlay.waitFor();
  } finally {
    await p2.close();
  }
});
