// W10 (BENCHMARKS.md): headless Chromium opens a workspace of 100 runs ×
// 50 panels × 10k steps, every run drawn. Reports time to the first chart,
// time until every chart in the viewport has drawn, the JS heap, and the
// history requests the page made.
//
//   node bench/w10.mjs [--small] [--runs N --keys K --steps S] [--loads 3]
//                      [--width 1280 --height 720] [--fluoro ../bin/fluoro]
//                      [--data DIR]
//
// Starts bin/fluoro on a temp dir and seeds it through the native ingest API
// (batches of 500 rows). Full size is 50M points and takes minutes to seed;
// --small is 10 runs × 10 keys × 1k steps. --data keeps the server's data
// directory and seeds it only when it does not hold the runs yet, so
// before/after comparisons (and repeats) skip the seeding. Targets: first chart ≤ 1 s,
// visible charts ≤ 2 s, heap ≤ 200 MB.

import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { call, chromiumPath, KEY, startServer } from "../e2e/harness.mjs";

const { values: a } = parseArgs({
  options: {
    small: { type: "boolean", default: false },
    runs: { type: "string" },
    keys: { type: "string" },
    steps: { type: "string" },
    loads: { type: "string", default: "3" },
    width: { type: "string", default: "1280" },
    height: { type: "string", default: "720" },
    fluoro: { type: "string" },
    concurrency: { type: "string", default: "4" },
    data: { type: "string" },
  },
});
const RUNS = Number(a.runs ?? (a.small ? 10 : 100));
const KEYS = Number(a.keys ?? (a.small ? 10 : 50));
const STEPS = Number(a.steps ?? (a.small ? 1000 : 10000));
const BATCH = 500;
const P = "w10";
if (a.fluoro) process.env.FLUORO_BIN = resolve(a.fluoro);

// 50 keys spread over the sections the workspace draws: train/, val/, other.
const keyNames = Array.from({ length: KEYS }, (_, k) => {
  const n = String(k).padStart(2, "0");
  return k % 3 === 0 ? `train/m${n}` : k % 3 === 1 ? `val/m${n}` : `m${n}`;
});

const ids = Array.from({ length: RUNS }, (_, r) => `w10run${String(r).padStart(3, "0")}`);

async function post(base, body) {
  const res = await fetch(`${base}/api/v1/ingest`, {
    method: "POST",
    headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
    body,
  });
  if (!res.ok) throw new Error(`ingest: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
}

async function seed(base) {
  const t0 = performance.now();
  for (const [r, id] of ids.entries()) {
    await call(base, "POST", `/projects/admin/${P}/runs`, {
      id,
      name: `run-${r}`,
      config: { lr: 10 ** -(2 + (r % 4)), seed: r, optimizer: r % 2 ? "adam" : "sgd" },
    });
  }
  // Every (run, batch) pair as a job, a few in flight at once.
  const jobs = [];
  for (const [r, id] of ids.entries())
    for (let start = 0, seq = 1; start < STEPS; start += BATCH, seq++) jobs.push({ r, id, start, seq });
  let next = 0;
  let done = 0;
  const tStart = Math.floor(Date.now() / 1000) - STEPS;
  const worker = async () => {
    while (next < jobs.length) {
      const { r, id, start, seq } = jobs[next++];
      const rows = [];
      for (let s = start; s < Math.min(STEPS, start + BATCH); s++) {
        const values = {};
        for (let k = 0; k < KEYS; k++) {
          const decay = Math.exp(-s * (0.0002 + r * 0.00001 + k * 0.00002));
          values[keyNames[k]] = +(decay + 0.05 * Math.sin(s * 0.37 + r + k)).toFixed(6);
        }
        rows.push(`{"step":${s},"time":${tStart + s},"values":${JSON.stringify(values)}}`);
      }
      const body = `{"entity":"admin","project":"${P}","run_id":"${id}","writer":"w10","seq":${seq},"history":[${rows.join(",")}]}`;
      await post(base, body);
      done++;
      if (done % 200 === 0) {
        const pts = done * BATCH * KEYS;
        process.stderr.write(
          `  seeded ${done}/${jobs.length} batches (${(pts / 1e6).toFixed(1)}M points, ${(pts / ((performance.now() - t0) / 1000) / 1e6).toFixed(2)}M/s)\n`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: Number(a.concurrency) }, worker));
  return (performance.now() - t0) / 1000;
}

// A kept data directory already holds every run with every step.
async function seeded(base) {
  try {
    const r = await call(base, "GET", `/projects/admin/${P}/runs?limit=1000`);
    return r.runs.length === RUNS && r.runs.every((x) => x.last_step === STEPS - 1);
  } catch {
    return false;
  }
}

// Records, in the page, when each panel first drew (data-points set, then the
// next frame), relative to navigation start.
const probe = () => {
  window.__w10 = { drawn: {} };
  const seen = (el) => {
    const k = el.getAttribute("data-panel");
    // drawn with data (not the empty first pass before the runs table loads)
    if (!k || window.__w10.drawn[k] != null || el.getAttribute("data-series") === "0") return;
    requestAnimationFrame(() => {
      window.__w10.drawn[k] ??= performance.now();
    });
  };
  new MutationObserver((ms) => {
    for (const m of ms) if (m.attributeName === "data-points") seen(m.target);
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-points"] });
};

async function load(ctx, url) {
  const page = await ctx.newPage();
  let history = 0;
  let system = 0;
  page.on("request", (r) => {
    if (r.url().includes("/history?")) history++;
    if (r.url().includes("/system?")) system++;
  });
  await page.addInitScript(probe);
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("Performance.enable");
  await page.goto(url);
  // Wait until every panel that intersects the viewport has drawn.
  const r = await page.waitForFunction(
    () => {
      const panels = [...document.querySelectorAll(".panel")];
      if (panels.length === 0) return false;
      const vh = innerHeight;
      const vis = panels.filter((p) => {
        const b = p.getBoundingClientRect();
        return b.bottom > 0 && b.top < vh;
      });
      const d = window.__w10.drawn;
      if (vis.length === 0 || !vis.every((p) => d[p.getAttribute("data-panel")] != null)) return false;
      const times = Object.values(d);
      const hist = performance.getEntriesByType("resource").filter((e) => e.name.includes("/history?"));
      const runsReq = performance.getEntriesByType("resource").find((e) => e.name.includes("/runs?"));
      return {
        runsLoaded: runsReq ? runsReq.responseEnd : 0,
        historyFirst: hist.length ? Math.min(...hist.map((e) => e.responseEnd)) : 0,
        historyLast: hist.length ? Math.max(...hist.map((e) => e.responseEnd)) : 0,
        historyServerMax: hist.length ? Math.max(...hist.map((e) => e.responseStart - e.requestStart)) : 0,
        first: Math.min(...times),
        visible: Math.max(...vis.map((p) => d[p.getAttribute("data-panel")])),
        nVisible: vis.length,
        panels: panels.length,
        series: vis[0].getAttribute("data-series"),
        points: vis[0].getAttribute("data-points"),
      };
    },
    null,
    { timeout: 120000, polling: 50 },
  );
  const res = await r.jsonValue();
  const metric = async (name) =>
    (await cdp.send("Performance.getMetrics")).metrics.find((m) => m.name === name)?.value ?? 0;
  res.heapMB = (await metric("JSHeapUsedSize")) / 2 ** 20;
  res.heapTotalMB = (await metric("JSHeapTotalSize")) / 2 ** 20;
  await cdp.send("HeapProfiler.collectGarbage");
  res.heapAfterGcMB = (await metric("JSHeapUsedSize")) / 2 ** 20;
  res.historyRequests = history;
  res.systemRequests = system;
  await page.close();
  return res;
}

const srv = await startServer(a.data ? resolve(a.data) : undefined);
try {
  console.log(
    `W10: ${RUNS} runs × ${KEYS} keys × ${STEPS} steps = ${((RUNS * KEYS * STEPS) / 1e6).toFixed(1)}M points`,
  );
  if (a.data && (await seeded(srv.base))) {
    console.log(`reusing the runs seeded in ${a.data}`);
  } else {
    const seedS = await seed(srv.base);
    console.log(
      `seeded in ${seedS.toFixed(1)} s (${((RUNS * KEYS * STEPS) / seedS / 1e6).toFixed(2)}M points/s)`,
    );
  }
  const ctx = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--enable-precise-memory-info",
      "--disable-background-networking",
    ],
  });
  const bctx = await ctx.newContext({ viewport: { width: Number(a.width), height: Number(a.height) } });
  // Log in once (the ?token= link sets the session cookie).
  const login = await bctx.newPage();
  await login.goto(`${srv.base}/?token=${KEY}`);
  await login.close();
  const url = `${srv.base}/admin/${P}?runs=${ids.join(",")}`;
  const results = [];
  for (let i = 0; i < Number(a.loads); i++) {
    const r = await load(bctx, url);
    results.push(r);
    console.log(
      `load ${i + 1}: first chart ${r.first.toFixed(0)} ms, ${r.nVisible} visible charts ${r.visible.toFixed(0)} ms ` +
        `(${r.series} runs/panel, ${r.points} x values), heap ${r.heapMB.toFixed(1)} MB ` +
        `(${r.heapAfterGcMB.toFixed(1)} MB after GC), ${r.historyRequests} history requests, ` +
        `runs table loaded ${r.runsLoaded.toFixed(0)} ms, history responses ${r.historyFirst.toFixed(0)}–${r.historyLast.toFixed(0)} ms ` +
        `(slowest server wait ${r.historyServerMax.toFixed(0)} ms), ` +
        `${r.systemRequests} system requests, ${r.panels} panels in the DOM`,
    );
  }
  const med = (f) => results.map(f).sort((x, y) => x - y)[Math.floor(results.length / 2)];
  const first = med((r) => r.first);
  const visible = med((r) => r.visible);
  const heap = med((r) => r.heapMB);
  const ok = (v, t) => (v <= t ? "ok" : "MISSED");
  console.log(
    `W10 median of ${results.length}: first chart ${first.toFixed(0)} ms (target ≤ 1000: ${ok(first, 1000)}), ` +
      `visible charts ${visible.toFixed(0)} ms (≤ 2000: ${ok(visible, 2000)}), ` +
      `heap ${heap.toFixed(1)} MB (≤ 200: ${ok(heap, 200)})`,
  );
  await ctx.close();
} finally {
  await srv.stop();
}
