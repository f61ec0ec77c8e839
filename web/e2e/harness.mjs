// Test harness: starts the real fluoro binary on 127.0.0.1:0 with a fresh
// data directory, seeds it with the real Python SDK (`import fluoro as
// wandb`) or through the native API, and drives Debian's Chromium with
// playwright-core (never a downloaded browser).

import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

export const KEY = "fluoro-e2e0123456789abcdef0123456789abcdef01234";
export const outDir = resolve(import.meta.dirname, "../../test-output/web");

export function chromiumPath() {
  return process.env.CHROMIUM ?? "/usr/bin/chromium";
}

/**
 * Starts bin/fluoro; resolves with its base URL once it prints the listening
 * line. A given data directory is kept (benchmarks reuse a seeded one); env
 * adds FLUORO_* settings.
 */
export async function startServer(keepData, env = {}) {
  const bin = process.env.FLUORO_BIN ?? resolve(import.meta.dirname, "../../bin/fluoro");
  const data = keepData ?? mkdtempSync(join(tmpdir(), "fluoro-web-e2e-"));
  if (keepData) mkdirSync(keepData, { recursive: true });
  const proc = spawn(bin, ["server", "--addr", "127.0.0.1:0", "--data", data, "--log-level", "warn"], {
    env: { ...process.env, FLUORO_ADMIN_API_KEY: KEY, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  const base = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`fluoro did not start in 15 s:\n${log}`)), 15000);
    const on = (b) => {
      log += b;
      const m = /Fluoro \S+ listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    };
    proc.stdout.on("data", on);
    proc.stderr.on("data", on);
    proc.on("exit", (code) => fail(new Error(`fluoro exited with ${code}:\n${log}`)));
  });
  return {
    base,
    async stop() {
      proc.kill("SIGTERM");
      await new Promise((r) => proc.once("exit", r));
      if (!keepData) rmSync(data, { recursive: true, force: true });
    },
  };
}

/** Calls the native API with the admin key. */
export async function call(base, method, path, body) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${KEY}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

const seqs = new Map();

/** Ingests history rows ({step, values}) for a run; values may hold NaN/Infinity (sent as bare tokens). */
export async function ingest(base, project, runId, rows, extra = {}) {
  const seq = (seqs.get(runId) ?? 0) + 1;
  seqs.set(runId, seq);
  const t0 = 1_764_000_000;
  const history = rows.map((r) => ({ step: r.step, time: r.time ?? t0 + r.step, values: r.values }));
  // JSON.stringify writes NaN as null: write Python's bare tokens instead.
  const body = JSON.stringify(
    { entity: "admin", project, run_id: runId, writer: "e2e", seq, history, ...extra },
    (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? `__${v}__` : v),
  ).replace(/"__(NaN|Infinity|-Infinity)__"/g, "$1");
  return call(base, "POST", "/ingest", body);
}

/** Creates a run and logs `steps` steps of train/val curves shaped by its learning rate. */
export async function seedRun(
  base,
  project,
  { id, name, config, tags = [], group = "", steps = 2000, nanAt = -1 },
) {
  await call(base, "POST", `/projects/admin/${project}/runs`, {
    id,
    name,
    config,
    tags,
    group,
    host: "e2e-host",
    program: "train.py",
  });
  const lr = config.lr;
  for (let start = 0; start < steps; start += 500) {
    const rows = [];
    for (let s = start; s < Math.min(steps, start + 500); s++) {
      const noise = Math.sin(s * 12.9898 + lr * 1000) * 0.05;
      const loss = 2 * Math.exp(-s * lr * 0.02) + 0.1 + noise;
      const values = {
        "train/loss": s === nanAt ? Number.NaN : loss,
        "train/acc": 1 - loss / 2.2,
        lr: lr * (1 - s / steps),
      };
      if (s % 50 === 0) Object.assign(values, { "val/loss": loss * 1.1, "val/acc": 1 - (loss * 1.1) / 2.2 });
      rows.push({ step: s, values });
    }
    await ingest(base, project, id, rows, { summary: { "val/loss": 0.2 + lr, best: lr * 10 } });
  }
}

export const sdkPath = resolve(import.meta.dirname, "../../sdk/python/src");

// The training script the SDK seed runs: the same curves as seedRun, logged
// with wandb's API through Fluoro's SDK (stdlib only, so no virtualenv).
const seedScript = `
import json, math, os, sys
import fluoro as wandb

spec = json.load(sys.stdin)
left_running = False
for r in spec["runs"]:
    run = wandb.init(project=spec["project"], entity="admin", id=r["id"], name=r["name"],
                     config=r["config"], tags=r.get("tags", []), group=r.get("group") or None,
                     reinit="create_new")
    lr = r["config"]["lr"]
    steps = r.get("steps", 2000)
    for s in range(steps):
        noise = math.sin(s * 12.9898 + lr * 1000) * 0.05
        loss = 2 * math.exp(-s * lr * 0.02) + 0.1 + noise
        row = {"train/loss": float("nan") if s == r.get("nanAt", -1) else loss,
               "train/acc": 1 - loss / 2.2, "lr": lr * (1 - s / steps)}
        if s % 50 == 0:
            row["val/loss"] = loss * 1.1
            row["val/acc"] = 1 - (loss * 1.1) / 2.2
        run.log(row, step=s, commit=(s == steps - 1) or None)
    run.summary["best"] = lr * 10
    if r.get("running"):
        # still training: everything is on the server, the run stays open
        assert run.flush(timeout=60), "flush timed out"
        left_running = True
    else:
        run.finish(exit_code=r.get("exitCode", 0))
sys.stdout.flush()
if left_running:
    os._exit(0)  # leave without finishing the open runs, like a job still going
`;

/**
 * Logs runs with the real Python SDK (python3, PYTHONPATH=sdk/python/src,
 * `import fluoro as wandb`) against the server. Each run: {id, name, config
 * (with lr), tags, group, steps, nanAt, exitCode, running}; the same curves
 * as seedRun. A `running` run is flushed but not finished, so it can still be
 * logged to (the process exits without finishing it).
 */
export async function seedWithSDK(base, project, runs) {
  return runSDKScript(base, seedScript, JSON.stringify({ project, runs }));
}

/**
 * Runs a Python script with the real SDK on its path (python3,
 * PYTHONPATH=sdk/python/src) against the server, stdin given; resolves to
 * its output, rejects when it exits non-zero.
 */
export async function runSDKScript(base, source, stdin = "") {
  const dir = mkdtempSync(join(tmpdir(), "fluoro-sdk-script-"));
  const script = join(dir, "train.py");
  writeFileSync(script, source);
  const proc = spawn(process.env.PYTHON ?? "python3", [script], {
    cwd: dir,
    env: {
      ...process.env,
      PYTHONPATH: sdkPath,
      FLUORO_BASE_URL: base,
      FLUORO_API_KEY: KEY,
      FLUORO_DIR: dir,
      FLUORO_QUIET: "1",
      FLUORO_CONFIG_DIR: join(dir, "config"),
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout.on("data", (b) => {
    out += b;
  });
  proc.stderr.on("data", (b) => {
    out += b;
  });
  proc.stdin.end(stdin);
  const code = await new Promise((r) => proc.on("exit", r));
  rmSync(dir, { recursive: true, force: true });
  if (code !== 0) throw new Error(`SDK script exited with ${code}:\n${out}`);
  return out;
}

/** Logs system-metric samples ({time, values}) for a run through the native ingest API. */
export function ingestSystem(base, project, runId, samples) {
  return ingest(base, project, runId, [], { system: samples });
}

/** Launches Chromium with a fresh profile and logs in through the ?token= link. */
export async function openBrowser() {
  const profile = mkdtempSync(join(tmpdir(), "fluoro-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath(),
    headless: true,
    viewport: { width: 1280, height: 720 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  mkdirSync(outDir, { recursive: true });
  return {
    ctx,
    async close() {
      await ctx.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * The panel of key on page, scrolled into view until it has loaded: a panel
 * loads once seen, and panels above it may grow as they load and push it away.
 */
export async function mediaPanel(page, key) {
  const loc = page.locator(`.panel[data-key="${key}"]`);
  await loc.waitFor();
  const end = Date.now() + 30_000;
  for (;;) {
    await loc.scrollIntoViewIfNeeded();
    if ((await loc.locator(":scope > .media-loading").count()) === 0) return loc;
    if (Date.now() > end) throw new Error(`panel ${key} still loading after 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
