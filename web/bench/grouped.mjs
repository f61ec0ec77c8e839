// The runs table grouped by a config key over a big project, in headless
// Chromium: time from navigation until the group headers show, the bytes of
// the runs and run-groups responses, and the requests made. Two binaries on
// the same data compare old and new side by side (loads interleaved).
//
//   node bench/grouped.mjs [--runs 10000] [--loads 3] [--fluoro ../bin/fluoro] [--old OTHER_BINARY]
//
// Seeds N runs (5 config keys each, arm = i % 3) through the native API into
// a temp data dir, once, then serves it with each binary in turn.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { call, KEY, openBrowser, startServer } from "../e2e/harness.mjs";

const { values: a } = parseArgs({
  options: {
    runs: { type: "string", default: "10000" },
    loads: { type: "string", default: "3" },
    fluoro: { type: "string", default: resolve(import.meta.dirname, "../../bin/fluoro") },
    old: { type: "string" },
  },
});
const N = Number(a.runs);
const P = "grouped";
const data = mkdtempSync(join(tmpdir(), "fluoro-bench-grouped-"));

async function serve(bin) {
  process.env.FLUORO_BIN = bin;
  return startServer(data);
}

const srv = await serve(a.fluoro);
const t0 = Date.now();
let next = 0;
const worker = async () => {
  while (next < N) {
    const i = next++;
    await call(srv.base, "POST", `/projects/admin/${P}/runs`, {
      id: `r${String(i).padStart(5, "0")}`,
      config: {
        arm: i % 3,
        lr: 0.001 * (1 + (i % 10)),
        seed: i,
        depth: 2 + (i % 4),
        opt: i % 2 ? "adam" : "sgd",
      },
    });
  }
};
await Promise.all(Array.from({ length: 8 }, worker));
console.log(`seeded ${N} runs in ${Date.now() - t0} ms`);
await srv.stop();

const binaries = [["new", a.fluoro]];
if (a.old) binaries.unshift(["old", a.old]);
const results = Object.fromEntries(binaries.map(([n]) => [n, []]));
for (let l = 0; l < Number(a.loads); l++) {
  for (const [label, bin] of binaries) {
    const s = await serve(bin);
    const browser = await openBrowser();
    const page = await browser.ctx.newPage();
    await page.goto(`${s.base}/?token=${KEY}`);
    let bytes = 0;
    let requests = 0;
    page.on("response", async (r) => {
      const u = new URL(r.url());
      if (!/\/(runs|run-groups)$/.test(u.pathname)) return;
      requests++;
      try {
        bytes += (await r.body()).length;
      } catch {}
    });
    const t = performance.now();
    await page.goto(`${s.base}/admin/${P}?sort=name&group=config.arm`);
    await page.locator(".group-by", { hasText: "3 groups" }).waitFor({ timeout: 60000 });
    const ms = performance.now() - t;
    await page.waitForTimeout(500); // responses still being read
    const heap = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? 0);
    results[label].push({ ms, bytes, requests, heap });
    console.log(
      `${label} load ${l + 1}: groups in ${ms.toFixed(0)} ms, ${requests} requests, ${(bytes / 1024).toFixed(0)} KB, heap ${(heap / 1048576).toFixed(1)} MB`,
    );
    await browser.close();
    await s.stop();
  }
}
rmSync(data, { recursive: true, force: true });
console.log("| binary | groups shown, ms (each load) | requests | KB | JS heap, MB |");
console.log("|---|---|---|---|---|");
for (const [label, rs] of Object.entries(results))
  console.log(
    `| ${label} | ${rs.map((r) => r.ms.toFixed(0)).join(", ")} | ${rs[0].requests} | ${(rs[0].bytes / 1024).toFixed(0)} | ${rs.map((r) => (r.heap / 1048576).toFixed(1)).join(", ")} |`,
  );
