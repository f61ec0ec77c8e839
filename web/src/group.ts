// Grouping: runs that share a config value (or group, state, user) are drawn
// as one mean line with a band (min–max, or mean ± one standard deviation).
// Pure functions: the runs' downsampled series are aligned by step (each run
// linearly interpolated at the union of the group's steps, inside its own
// range only: no extrapolation), then reduced per step.

import type uPlot from "uplot";
import type { BuildOptions, Line, NonFinite, PanelData, Series } from "./chart";
import { alignX, toNumber, xValues } from "./chart";
import { flatten } from "./format";
import { isSmoothing, smooth } from "./smoothing";

export type Band = "minmax" | "std";

export interface RunGroup {
  /** stable id (used for the colour and as the line's "run") */
  id: string;
  /** the value, as shown */
  label: string;
  runs: string[];
}

/** Fields a workspace can group by besides config keys (`config.KEY`). */
export const groupFields = ["group", "job_type", "state", "user", "tags"] as const;

interface Groupable {
  id: string;
  config?: Record<string, unknown>;
  group?: string;
  job_type?: string;
  state?: string;
  user?: string;
  tags?: string[];
}

/** The value of a run's grouping field (`config.a.b`, `group`, `state`…), as a label. */
export function groupValue(r: Groupable, by: string, flatConfig?: Record<string, unknown>): string {
  let v: unknown;
  if (by.startsWith("config.")) v = (flatConfig ?? flatten(r.config ?? {}))[by.slice(7)];
  else if (by === "tags") v = [...(r.tags ?? [])].sort().join(", ");
  else v = (r as unknown as Record<string, unknown>)[by];
  if (v == null || v === "") return "(none)";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

/** Runs grouped by a field, groups in order of their first run (so the table's sort decides). */
export function groupRuns(runs: Groupable[], by: string): RunGroup[] {
  const out = new Map<string, RunGroup>();
  for (const r of runs) {
    const label = groupValue(r, by);
    let g = out.get(label);
    if (!g) {
      g = { id: `group:${by}=${label}`, label, runs: [] };
      out.set(label, g);
    }
    g.runs.push(r.id);
  }
  return [...out.values()];
}

export interface Curve {
  /** steps, ascending */
  steps: ArrayLike<number>;
  /** x value at each step (the step itself, a time, another metric) */
  xs: ArrayLike<number>;
  /** y; null or non-finite values are skipped */
  ys: ArrayLike<number | null>;
}

export interface Aggregate {
  steps: number[];
  /** mean x of the runs present at each step */
  x: number[];
  mean: number[];
  lo: number[];
  hi: number[];
  std: number[];
  /** runs present at each step */
  n: number[];
}

/** Reduces curves aligned by step: mean, band (min–max or ±std) and count per step. */
export function aggregate(curves: Curve[], band: Band, maxPoints = 4000): Aggregate {
  // Each curve's finite points only, so a NaN is not interpolated through.
  const cs = curves
    .map((c) => {
      const st: number[] = [];
      const xs: number[] = [];
      const ys: number[] = [];
      for (let i = 0; i < c.steps.length; i++) {
        const y = c.ys[i];
        if (y == null || !Number.isFinite(y) || !Number.isFinite(c.xs[i])) continue;
        st.push(c.steps[i]);
        xs.push(c.xs[i]);
        ys.push(y);
      }
      return { st, xs, ys };
    })
    .filter((c) => c.st.length > 0);
  const out: Aggregate = { steps: [], x: [], mean: [], lo: [], hi: [], std: [], n: [] };
  if (cs.length === 0) return out;
  let grid = alignSteps(
    cs.map((c) => c.st),
    maxPoints,
  );
  if (grid.length === 0) grid = [cs[0].st[0]];
  const pos = cs.map(() => 0);
  for (const s of grid) {
    let n = 0;
    let sum = 0;
    let sumSq = 0;
    let xsum = 0;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < cs.length; k++) {
      const c = cs[k];
      const last = c.st.length - 1;
      if (s < c.st[0] || s > c.st[last]) continue;
      let i = pos[k];
      while (i < last && c.st[i + 1] <= s) i++;
      pos[k] = i;
      let y: number;
      let x: number;
      if (c.st[i] === s || i === last) {
        y = c.ys[i];
        x = c.xs[i];
      } else {
        const t = (s - c.st[i]) / (c.st[i + 1] - c.st[i]);
        y = c.ys[i] + t * (c.ys[i + 1] - c.ys[i]);
        x = c.xs[i] + t * (c.xs[i + 1] - c.xs[i]);
      }
      n++;
      sum += y;
      sumSq += y * y;
      xsum += x;
      if (y < min) min = y;
      if (y > max) max = y;
    }
    if (n === 0) continue;
    const mean = sum / n;
    const std = Math.sqrt(Math.max(0, sumSq / n - mean * mean));
    out.steps.push(s);
    out.x.push(xsum / n);
    out.mean.push(mean);
    out.std.push(std);
    out.lo.push(band === "std" ? mean - std : min);
    out.hi.push(band === "std" ? mean + std : max);
    out.n.push(n);
  }
  return out;
}

/**
 * The steps to align on: the union of the curves' steps, or, when that is
 * larger than maxPoints (downsampled runs rarely share steps), an even grid
 * over the union's range that keeps every curve's first and last step.
 */
export function alignSteps(stepLists: number[][], maxPoints: number): number[] {
  const all = new Set<number>();
  for (const st of stepLists) for (const s of st) all.add(s);
  const union = Float64Array.from(all).sort();
  if (union.length <= maxPoints) return Array.from(union);
  const lo = union[0];
  const hi = union[union.length - 1];
  const grid = new Set<number>();
  const n = Math.max(2, maxPoints);
  for (let i = 0; i < n; i++) grid.add(Math.round(lo + ((hi - lo) * i) / (n - 1)));
  for (const st of stepLists) {
    if (st.length === 0) continue;
    grid.add(st[0]);
    grid.add(st[st.length - 1]);
  }
  return Array.from(Float64Array.from(grid).sort());
}

export interface GroupOptions extends BuildOptions {
  groups: RunGroup[];
  band: Band;
}

/**
 * Panel data for grouped runs: per group three columns on a shared x array,
 * hi, lo (filled between as a band) and the mean. Smoothing applies to each
 * run before aggregating, so the mean and the band are smoothed alike.
 */
export function buildGroupPanelData(series: Series[], o: GroupOptions): PanelData {
  const byRun = new Map(series.map((s) => [s.run, s]));
  const smoothing = isSmoothing(o.smoothing);
  const nonFinite: NonFinite[] = [];
  const aggs: { g: RunGroup; a: Aggregate }[] = [];
  const steps = new Map<string, { xs: number[]; steps: number[] }>();
  let sampled = false;
  let total = 0;
  for (const g of o.groups) {
    const curves: Curve[] = [];
    for (const run of g.runs) {
      const s = byRun.get(run);
      if (!s) continue;
      sampled ||= s.sampled;
      total += s.total;
      const xv = xValues(s, o);
      const st: number[] = [];
      const xs: number[] = [];
      const ys: (number | null)[] = [];
      for (let i = 0; i < s.steps.length; i++) {
        const x = xv[i];
        const y = toNumber(s.values[i]);
        if (x == null || y == null) continue;
        if (!Number.isFinite(y))
          nonFinite.push({ run: g.id, x, kind: Number.isNaN(y) ? "nan" : y > 0 ? "inf" : "-inf" });
        st.push(s.steps[i]);
        xs.push(x);
        ys.push(Number.isFinite(y) && !(o.logY && y <= 0) ? y : null);
      }
      curves.push({ steps: st, xs, ys: smoothing ? smooth(st, ys, o.smoothing) : ys });
    }
    if (curves.length === 0) continue;
    const a = aggregate(curves, o.band);
    if (o.x.startsWith("key:")) {
      // A metric x-axis need not grow with the step: draw in x order.
      const idx = a.x.map((_, i) => i).sort((i, j) => a.x[i] - a.x[j]);
      for (const k of ["steps", "x", "mean", "lo", "hi", "std", "n"] as const) a[k] = idx.map((i) => a[k][i]);
    }
    steps.set(g.id, { xs: a.x, steps: a.steps });
    aggs.push({ g, a });
  }
  const allX = new Set<number>();
  for (const { a } of aggs) for (const x of a.x) allX.add(x);
  const { xs: xsAll, place: scatter } = alignX(allX, (y) => Number.isFinite(y) && !(o.logY && y <= 0));
  const columns: (number | null)[][] = [];
  const lines: Line[] = [];
  for (const { g, a } of aggs) {
    columns.push(scatter(a.x, a.hi), scatter(a.x, a.lo), scatter(a.x, a.mean));
    lines.push({ run: g.id, role: "hi" }, { run: g.id, role: "lo" }, { run: g.id, role: "mean" });
  }
  return {
    data: [xsAll as unknown as number[], ...columns] as uPlot.AlignedData,
    lines,
    nonFinite,
    sampled,
    total,
    steps,
  };
}
