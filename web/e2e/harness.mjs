// Test harness: starts the real fluoro binary on 127.0.0.1:0 with a fresh
// data directory, seeds it through the native API, and drives Debian's
// Chromium with playwright-core (never a downloaded browser).

import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

export const KEY = "fluoro-e2e0123456789abcdef0123456789abcdef0123";
export const outDir = resolve(import.meta.dirname, "../../test-output/web");

export function chromiumPath() {
  return process.env.CHROMIUM ?? "/usr/bin/chromium";
}

/** Starts bin/fluoro; resolves with its base URL once it prints the listening line. */
export async function startServer() {
  const bin = process.env.FLUORO_BIN ?? resolve(import.meta.dirname, "../../bin/fluoro");
  const data = mkdtempSync(join(tmpdir(), "fluoro-web-e2e-"));
  const proc = spawn(bin, ["server", "--addr", "127.0.0.1:0", "--data", data, "--log-level", "warn"], {
    env: { ...process.env, FLUORO_ADMIN_API_KEY: KEY },
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
      rmSync(data, { recursive: true, force: true });
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
