// Chart data and uPlot options, as pure functions (tested without a DOM).
// Data is columnar end to end: the API sends per-run columns, we align them
// on one x array ([xs, ys1, ys2…], null where a run has no point) and uPlot
// draws that. The server has already downsampled to about the panel's width.

import type uPlot from "uplot";
import { runColor, withAlpha } from "./colors";
import { isSmoothing, type Smoothing, smoothF64 } from "./smoothing";
import type { XAxis } from "./url";

export type Value = number | string | boolean | null | Record<string, unknown> | unknown[];

export interface Series {
  run: string;
  key: string;
  total: number;
  sampled: boolean;
  steps: number[];
  times: number[];
  values: Value[];
}

/** A numeric value, NaN/±Infinity for the API's strings, null for anything else. */
export function toNumber(v: Value): number | null {
  if (typeof v === "number") return v;
  if (v === "NaN") return Number.NaN;
  if (v === "Infinity") return Number.POSITIVE_INFINITY;
  if (v === "-Infinity") return Number.NEGATIVE_INFINITY;
  if (typeof v === "boolean") return v ? 1 : 0;
  return null;
}

export type NonFiniteKind = "nan" | "inf" | "-inf";

export interface NonFinite {
  run: string;
  x: number;
  kind: NonFiniteKind;
}

export interface Line {
  run: string;
  /**
   * raw: the logged values (faint when smoothing); smooth: the smoothed line;
   * mean, hi, lo: a group's mean line and the edges of its band ("run" is the group id)
   */
  role: "raw" | "smooth" | "mean" | "hi" | "lo";
}

export interface PanelData {
  data: uPlot.AlignedData;
  lines: Line[];
  nonFinite: NonFinite[];
  sampled: boolean;
  /** points the server had in range, summed over runs */
  total: number;
  /** for mapping a zoomed x range back to steps: per line's run, x → step */
  steps: Map<string, { xs: number[]; steps: number[] }>;
}

export interface BuildOptions {
  x: XAxis;
  smoothing: Smoothing;
  logY: boolean;
  /** run id → start time in seconds, for relative time */
  runStart?: Map<string, number>;
  /** for x = key:NAME: that key's series per run, aligned by step */
  xSeries?: Map<string, Series>;
  /** order of runs (lines are drawn in this order); defaults to the series order */
  runOrder?: string[];
  /**
   * the plot's width in pixel columns: when the runs' x values are many more
   * than four per column (runs downsampled on different steps), every line is
   * placed on a shared grid of four slots per column instead (see gridX)
   */
  columns?: number;
}

/** x values of one run's points for the chosen axis (null: the point has no x). */
export function xValues(s: Series, o: BuildOptions): (number | null)[] {
  switch (o.x) {
    case "step":
      return s.steps.slice();
    case "wall":
      return s.times.slice();
    case "rel": {
      const t0 = o.runStart?.get(s.run) ?? s.times[0] ?? 0;
      return s.times.map((t) => t - t0);
    }
    default: {
      const xs = o.xSeries?.get(s.run);
      if (!xs) return s.steps.map(() => null);
      const byStep = new Map<number, number | null>();
      xs.steps.forEach((st, i) => {
        byStep.set(st, toNumber(xs.values[i]));
      });
      return s.steps.map((st) => {
        const v = byStep.get(st);
        return v != null && Number.isFinite(v) ? v : null;
      });
    }
  }
}

/** Aligns the runs' series of one key on a shared x array, with smoothing and non-finite markers. */
export function buildPanelData(series: Series[], o: BuildOptions): PanelData {
  const order = o.runOrder ?? series.map((s) => s.run);
  const byRun = new Map(series.map((s) => [s.run, s]));
  const smoothing = isSmoothing(o.smoothing);
  // ys and sm are NaN where nothing is drawn (no boxed numbers: 100 runs × 1,600 points)
  const perRun: { run: string; xs: number[]; ys: Float64Array; sm: Float64Array | null }[] = [];
  const nonFinite: NonFinite[] = [];
  const steps = new Map<string, { xs: number[]; steps: number[] }>();
  const byKey = o.x.startsWith("key:");
  let sampled = false;
  let total = 0;
  let points = 0;
  for (const run of order) {
    const s = byRun.get(run);
    if (!s) continue;
    sampled ||= s.sampled;
    total += s.total;
    const xv = o.x === "step" ? s.steps : xValues(s, o);
    // Points sorted by x (they come in step order; a metric x-axis may not be monotone).
    let idx: number[] | null = null;
    if (byKey) {
      idx = [];
      for (let i = 0; i < xv.length; i++) if (xv[i] != null) idx.push(i);
      idx.sort((a, b) => (xv[a] as number) - (xv[b] as number));
    }
    const n = idx ? idx.length : xv.length;
    const xs: number[] = [];
    const ys = new Float64Array(n);
    const st: number[] = o.x === "step" ? xs : []; // x is the step: one array
    for (let j = 0; j < n; j++) {
      const i = idx ? idx[j] : j;
      const x = xv[i];
      if (x == null) continue;
      const v = s.values[i];
      const y = typeof v === "number" ? v : toNumber(v);
      if (y == null) continue;
      if (!Number.isFinite(y)) {
        nonFinite.push({ run, x, kind: Number.isNaN(y) ? "nan" : y > 0 ? "inf" : "-inf" });
      }
      ys[xs.length] = Number.isFinite(y) && !(o.logY && y <= 0) ? y : Number.NaN;
      xs.push(x);
      if (st !== xs) st.push(s.steps[i]);
    }
    const ysN = ys.subarray(0, xs.length);
    points += xs.length;
    steps.set(run, { xs, steps: st });
    perRun.push({ run, xs, ys: ysN, sm: smoothing ? smoothF64(xs, ysN, o.smoothing) : null });
  }
  const keep = (y: number) => !(o.logY && y <= 0);
  // Many more points than pixel columns: a shared grid; otherwise the exact union.
  const grid = o.columns && points > 3 * o.columns ? gridX(perRun, o.columns, keep) : null;
  const { xs: xsAll, place: scatter } = grid ?? alignX(unionX(perRun), keep);
  const columns: (number | null)[][] = [];
  const lines: Line[] = [];
  for (const r of perRun) {
    columns.push(scatter(r.xs, r.ys));
    lines.push({ run: r.run, role: "raw" });
    if (r.sm) {
      columns.push(scatter(r.xs, r.sm));
      lines.push({ run: r.run, role: "smooth" });
    }
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

function unionX(runs: { xs: number[] }[]): Set<number> {
  const all = new Set<number>();
  for (const r of runs) for (const x of r.xs) all.add(x);
  return all;
}

/** Maps a zoomed x range back to an inclusive step range, for re-querying the server. */
export function stepRange(pd: PanelData, x: XAxis, lo: number, hi: number): [number, number] | null {
  if (x === "step") return [Math.ceil(lo), Math.floor(hi)];
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const { xs, steps } of pd.steps.values()) {
    for (let i = 0; i < xs.length; i++) {
      if (xs[i] >= lo && xs[i] <= hi) {
        min = Math.min(min, steps[i]);
        max = Math.max(max, steps[i]);
      }
    }
  }
  return min <= max ? [min, max] : null;
}

export interface Theme {
  axis: string;
  grid: string;
  font: string;
}

export interface OptionsInput {
  width: number;
  height: number;
  lines: Line[];
  x: XAxis;
  logY: boolean;
  theme: Theme;
  /** runs highlighted (hovered in the table); others are dimmed */
  names?: Map<string, string>;
}

/** uPlot options for a line panel. Hooks (zoom, hover legend, markers) are added by the component. */
export function lineOptions(o: OptionsInput): uPlot.Options {
  const smoothing = o.lines.some((l) => l.role === "smooth");
  // Many runs draw 1 px lines: a crowd of thicker lines is a blur anyway, and
  // a canvas rastered on the CPU strokes hairlines about ten times faster.
  const lineWidth = new Set(o.lines.map((l) => l.run)).size > manyRuns ? 1 : 1.5;
  const axis = (extra: Partial<uPlot.Axis> = {}): uPlot.Axis => ({
    stroke: o.theme.axis,
    grid: { stroke: o.theme.grid, width: 1 },
    ticks: { stroke: o.theme.grid, width: 1 },
    font: o.theme.font,
    ...extra,
  });
  const bands: uPlot.Band[] = [];
  o.lines.forEach((l, i) => {
    const next = o.lines[i + 1];
    if (l.role === "hi" && next?.role === "lo" && next.run === l.run)
      bands.push({ series: [i + 1, i + 2], fill: withAlpha(runColor(l.run), 0.18) });
  });
  return {
    width: o.width,
    height: o.height,
    legend: { show: false },
    bands,
    cursor: {
      drag: { x: true, y: false, setScale: false },
      points: { size: 5 },
      focus: { prox: 16 },
    },
    focus: { alpha: 0.35 },
    scales: {
      x: { time: o.x === "wall" },
      y: o.logY ? { distr: 3, log: 10 } : {},
    },
    axes: [axis({ values: o.x === "rel" ? relTimeTicks : undefined }), axis({ size: 56 })],
    series: [
      { label: xLabel(o.x) },
      ...o.lines.map((l): uPlot.Series => {
        const c = runColor(l.run);
        if (l.role === "hi" || l.role === "lo") {
          return {
            label: `${o.names?.get(l.run) ?? l.run} (${l.role === "hi" ? "upper" : "lower"})`,
            stroke: withAlpha(c, 0.35),
            width: 0.5,
            spanGaps: true,
            points: { show: false },
          };
        }
        if (l.role === "mean") {
          return {
            label: o.names?.get(l.run) ?? l.run,
            stroke: c,
            width: 2,
            spanGaps: true,
            points: { show: false },
          };
        }
        const faint = smoothing && l.role === "raw";
        return {
          label: `${o.names?.get(l.run) ?? l.run}${faint ? " (raw)" : ""}`,
          stroke: faint ? withAlpha(c, 0.25) : c,
          width: faint ? 1 : lineWidth,
          spanGaps: true,
          points: { show: false },
        };
      }),
    ],
  };
}

/** Above this many runs in a panel, lines are 1 px wide. */
export const manyRuns = 20;

export function xLabel(x: XAxis): string {
  if (x === "step") return "Step";
  if (x === "wall") return "Time";
  if (x === "rel") return "Relative time";
  return x.slice(4);
}

function relTimeTicks(_u: uPlot, splits: number[]): string[] {
  return splits.map(formatDuration);
}

/** Seconds as a compact duration: 45s, 12m, 3.5h, 2.1d. */
export function formatDuration(s: number): string {
  const a = Math.abs(s);
  if (a < 60) return `${+s.toFixed(1)}s`;
  if (a < 3600) return `${+(s / 60).toFixed(1)}m`;
  if (a < 86400) return `${+(s / 3600).toFixed(1)}h`;
  return `${+(s / 86400).toFixed(1)}d`;
}

/**
 * Number of points to ask the server for: M4 keeps four points per bucket and
 * makes points/4 buckets, so this is one bucket per pixel column.
 */
export function pointsFor(widthPx: number): number {
  return Math.max(400, Math.min(8000, Math.round(widthPx) * 4));
}

export type Section = "train" | "val" | "media" | "gradients" | "parameters" | "system" | "other";

/**
 * The panel section of a metric key. `types` (the keys endpoint's, non-numeric
 * keys only) sends media without a known prefix to "media".
 */
export function sectionOf(key: string, type?: string): Section {
  const p = key.split("/")[0].toLowerCase();
  const media = type != null && type !== "string" && type !== "bool" && type !== "number";
  if (!key.includes("/")) return media ? "media" : "other";
  if (p === "train" || p === "training") return "train";
  if (p === "val" || p === "valid" || p === "validation" || p === "eval" || p === "test") return "val";
  if (p === "gradients") return "gradients";
  if (p === "parameters") return "parameters";
  if (p === "system" || p === "sys") return "system";
  return media ? "media" : "other";
}

/** Keys grouped by section in display order, filtered by a search string. */
export function sections(
  keys: string[],
  search: string,
  types: Record<string, string> = {},
): [Section, string[]][] {
  const q = search.trim().toLowerCase();
  const out = new Map<Section, string[]>([
    ["train", []],
    ["val", []],
    ["media", []],
    ["gradients", []],
    ["parameters", []],
    ["system", []],
    ["other", []],
  ]);
  for (const k of [...keys].sort()) {
    if (q && !k.toLowerCase().includes(q)) continue;
    out.get(sectionOf(k, types[k]))?.push(k);
  }
  return [...out].filter(([, ks]) => ks.length > 0);
}

/**
 * The sorted union of the x values of several series, and a function that
 * places one series on it (null where the series has no point, or where keep
 * refuses the value): the columnar shape uPlot draws.
 */
export function alignX(allX: Iterable<number>, keep: (y: number) => boolean) {
  const xs = Float64Array.from(allX).sort();
  const pos = new Map<number, number>();
  xs.forEach((x, i) => {
    pos.set(x, i);
  });
  const place = (sx: ArrayLike<number>, ys: ArrayLike<number | null>) => {
    const col: (number | null)[] = new Array(xs.length).fill(null);
    for (let i = 0; i < sx.length; i++) {
      const y = ys[i];
      if (y != null && !Number.isNaN(y) && keep(y)) col[pos.get(sx[i]) as number] = y;
    }
    return col;
  };
  return { xs, place };
}

/**
 * A shared grid for many lines whose x values differ (100 runs downsampled
 * on different steps align on ~10,000 distinct x values, so uPlot would walk
 * 100 × 10,000 mostly empty cells): `columns` pixel columns between the
 * smallest and largest x, two slots each, and a function that places a line
 * (its x values ascending) on it keeping, per column, its smallest and
 * largest point, in x order. That is what uPlot itself draws of a pixel
 * column (a vertical stroke from min to max), so the picture is the same and
 * every extreme stays, in its pixel column; an x moves by under a column.
 * Slots are whole numbers when every x is one (steps) and slots are at least
 * one apart, so the hover legend shows a step.
 */
export function gridX(runs: { xs: number[] }[], columns: number, keep: (y: number) => boolean) {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  let integers = true;
  for (const { xs } of runs) {
    if (xs.length === 0) continue;
    lo = Math.min(lo, xs[0]);
    hi = Math.max(hi, xs[xs.length - 1]);
    if (integers) for (const x of xs) if (!Number.isInteger(x)) integers = false;
  }
  if (!(lo <= hi)) lo = hi = 0;
  const n = Math.max(1, Math.round(columns));
  const w = hi > lo ? (hi - lo) / n : 1;
  const round = integers && w / 2 >= 1;
  const xs = new Float64Array(2 * n);
  for (let i = 0; i < xs.length; i++) {
    const x = lo + ((i + 0.5) / 2) * w;
    xs[i] = round ? Math.round(x) : x;
  }
  const place = (sx: ArrayLike<number>, ys: ArrayLike<number | null>) => {
    const col: (number | null)[] = new Array(xs.length).fill(null);
    let c = -1;
    let mn = -1;
    let mx = -1;
    let vmn = 0;
    let vmx = 0;
    const flush = () => {
      if (c < 0) return;
      col[2 * c] = mn <= mx ? vmn : vmx;
      col[2 * c + 1] = mn <= mx ? vmx : vmn;
    };
    for (let i = 0; i < sx.length; i++) {
      const y = ys[i];
      if (y == null || Number.isNaN(y) || !keep(y)) continue;
      let k = Math.floor((sx[i] - lo) / w);
      if (k >= n) k = n - 1;
      else if (k < 0) k = 0;
      if (k !== c) {
        flush();
        c = k;
        mn = mx = i;
        vmn = vmx = y;
      } else if (y < vmn) {
        mn = i;
        vmn = y;
      } else if (y > vmx) {
        mx = i;
        vmx = y;
      }
    }
    flush();
    return col;
  };
  return { xs, place };
}
