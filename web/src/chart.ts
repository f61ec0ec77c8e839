// Chart data and uPlot options, as pure functions (tested without a DOM).
// Data is columnar end to end: the API sends per-run columns, we align them
// on one x array ([xs, ys1, ys2…], null where a run has no point) and uPlot
// draws that. The server has already downsampled to about the panel's width.

import type uPlot from "uplot";
import { runColor, withAlpha } from "./colors";
import { isSmoothing, type Smoothing, smooth } from "./smoothing";
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
  const perRun: { run: string; xs: number[]; ys: (number | null)[]; sm: (number | null)[] | null }[] = [];
  const nonFinite: NonFinite[] = [];
  const steps = new Map<string, { xs: number[]; steps: number[] }>();
  const allX = new Set<number>();
  let sampled = false;
  let total = 0;
  for (const run of order) {
    const s = byRun.get(run);
    if (!s) continue;
    sampled ||= s.sampled;
    total += s.total;
    const xv = xValues(s, o);
    // Points sorted by x (they come in step order; a metric x-axis may not be monotone).
    const idx = xv.map((_, i) => i).filter((i) => xv[i] != null);
    if (o.x.startsWith("key:")) idx.sort((a, b) => (xv[a] as number) - (xv[b] as number));
    const xs: number[] = [];
    const ys: (number | null)[] = [];
    const st: number[] = [];
    for (const i of idx) {
      const x = xv[i] as number;
      const y = toNumber(s.values[i]);
      if (y == null) continue;
      if (!Number.isFinite(y)) {
        nonFinite.push({ run, x, kind: Number.isNaN(y) ? "nan" : y > 0 ? "inf" : "-inf" });
      }
      xs.push(x);
      ys.push(Number.isFinite(y) && !(o.logY && y <= 0) ? y : null);
      st.push(s.steps[i]);
      allX.add(x);
    }
    steps.set(run, { xs, steps: st });
    perRun.push({ run, xs, ys, sm: smoothing ? smooth(xs, ys, o.smoothing) : null });
  }
  const { xs: xsAll, place: scatter } = alignX(allX, (y) => !(o.logY && y <= 0));
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
          width: faint ? 1 : 1.5,
          spanGaps: true,
          points: { show: false },
        };
      }),
    ],
  };
}

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
  const place = (sx: number[], ys: (number | null)[]) => {
    const col: (number | null)[] = new Array(xs.length).fill(null);
    for (let i = 0; i < sx.length; i++) {
      const y = ys[i];
      if (y != null && keep(y)) col[pos.get(sx[i]) as number] = y;
    }
    return col;
  };
  return { xs, place };
}
