// Smoothing of one series for display. Every function takes the x values
// (step, time…) and y values of one run, in x order, and returns a new y
// array of the same length. null (no point) and non-finite values are left
// as null and do not feed the average, so a NaN spike shows as a marker,
// not as a hole that drags the smoothed line.

export type SmoothKind = "none" | "twema" | "ema" | "gauss" | "avg";

export interface Smoothing {
  kind: SmoothKind;
  /** weight in [0, 1) for twema/ema; sigma in points for gauss; window in points for avg */
  value: number;
}

export const noSmoothing: Smoothing = { kind: "none", value: 0 };

type Y = ArrayLike<number | null>;

const finite = (v: number | null | undefined): v is number => v != null && Number.isFinite(v);

/** Mean spacing of the finite-y points' x values (1 when there are fewer than two). */
export function meanSpacing(xs: ArrayLike<number>, ys: Y): number {
  let first = Number.NaN;
  let last = Number.NaN;
  let n = 0;
  for (let i = 0; i < xs.length; i++) {
    if (!finite(ys[i])) continue;
    if (n === 0) first = xs[i];
    last = xs[i];
    n++;
  }
  return n > 1 && last > first ? (last - first) / (n - 1) : 1;
}

/**
 * Exponential moving average with debiasing (so the first points are not
 * pulled towards zero), as TensorBoard and W&B draw it. weight 0 is the raw line.
 */
export function ema(ys: Y, weight: number): (number | null)[] {
  return nullable(emaF64(ys, weight));
}

// The EMAs compute into a Float64Array (NaN: no point): a chart smooths 100
// runs, and an array of numbers and nulls holds every number boxed.
function emaF64(ys: Y, weight: number): Float64Array {
  const w = clampWeight(weight);
  const out = new Float64Array(ys.length);
  let acc = 0;
  let norm = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (!finite(y)) {
      out[i] = Number.NaN;
      continue;
    }
    acc = acc * w + (1 - w) * y;
    norm = norm * w + (1 - w);
    out[i] = acc / norm;
  }
  return out;
}

/**
 * Time-weighted EMA: the decay between two points depends on how far apart
 * they are in x, so unevenly spaced points (late evals, downsampled ranges)
 * smooth the same as evenly spaced ones. On evenly spaced data it equals ema.
 */
export function timeWeightedEma(xs: ArrayLike<number>, ys: Y, weight: number): (number | null)[] {
  return nullable(timeWeightedEmaF64(xs, ys, weight));
}

function timeWeightedEmaF64(xs: ArrayLike<number>, ys: Y, weight: number): Float64Array {
  const w = clampWeight(weight);
  const dx = meanSpacing(xs, ys);
  const out = new Float64Array(ys.length);
  let acc = 0;
  let norm = 0;
  let prevX = Number.NaN;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (!finite(y)) {
      out[i] = Number.NaN;
      continue;
    }
    // The first point decays as if one mean spacing away, like ema's.
    const decay = Number.isNaN(prevX) ? w : w ** (Math.max(0, xs[i] - prevX) / dx);
    acc = acc * decay + (1 - decay) * y;
    norm = norm * decay + (1 - decay);
    out[i] = norm > 0 ? acc / norm : y;
    prevX = xs[i];
  }
  return out;
}

/** Gaussian kernel smoothing with sigma given in points (scaled by the mean x spacing). */
export function gaussian(xs: ArrayLike<number>, ys: Y, sigmaPoints: number): (number | null)[] {
  const out: (number | null)[] = new Array(ys.length);
  if (sigmaPoints <= 0) {
    for (let i = 0; i < ys.length; i++) out[i] = finite(ys[i]) ? ys[i] : null;
    return out;
  }
  const sigma = sigmaPoints * meanSpacing(xs, ys);
  const reach = 3 * sigma;
  let lo = 0;
  for (let i = 0; i < ys.length; i++) {
    if (!finite(ys[i])) {
      out[i] = null;
      continue;
    }
    while (xs[lo] < xs[i] - reach) lo++;
    let sum = 0;
    let wsum = 0;
    for (let j = lo; j < ys.length && xs[j] <= xs[i] + reach; j++) {
      const y = ys[j];
      if (!finite(y)) continue;
      const d = xs[j] - xs[i];
      const wt = Math.exp(-(d * d) / (2 * sigma * sigma));
      sum += wt * y;
      wsum += wt;
    }
    out[i] = sum / wsum;
  }
  return out;
}

/** Mean of the last `window` finite values (fewer at the start). */
export function runningAverage(ys: Y, window: number): (number | null)[] {
  const n = Math.max(1, Math.floor(window));
  const out: (number | null)[] = new Array(ys.length);
  const ring: number[] = [];
  let sum = 0;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (!finite(y)) {
      out[i] = null;
      continue;
    }
    ring.push(y);
    sum += y;
    if (ring.length > n) sum -= ring.shift() as number;
    out[i] = sum / ring.length;
  }
  return out;
}

/** Applies a smoothing to one series. */
export function smooth(xs: ArrayLike<number>, ys: Y, s: Smoothing): (number | null)[] {
  switch (s.kind) {
    case "twema":
      return timeWeightedEma(xs, ys, s.value);
    case "ema":
      return ema(ys, s.value);
    case "gauss":
      return gaussian(xs, ys, s.value);
    case "avg":
      return runningAverage(ys, s.value);
    default:
      return Array.from(ys, (y) => (finite(y) ? y : null));
  }
}

/** smooth() into a Float64Array, NaN where it has null (for charts: no boxed numbers). */
export function smoothF64(xs: ArrayLike<number>, ys: Y, s: Smoothing): Float64Array {
  if (s.kind === "twema") return timeWeightedEmaF64(xs, ys, s.value);
  if (s.kind === "ema") return emaF64(ys, s.value);
  const out = smooth(xs, ys, s);
  const f = new Float64Array(out.length);
  for (let i = 0; i < out.length; i++) f[i] = out[i] ?? Number.NaN;
  return f;
}

function nullable(a: Float64Array): (number | null)[] {
  const out: (number | null)[] = new Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Number.isNaN(a[i]) ? null : a[i];
  return out;
}

/** True when the smoothing changes the line. */
export function isSmoothing(s: Smoothing): boolean {
  return s.kind !== "none" && s.value > 0 && !(s.kind === "avg" && s.value <= 1);
}

function clampWeight(w: number): number {
  return Math.min(0.999, Math.max(0, w));
}
