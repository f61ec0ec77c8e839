import { describe, expect, it } from "vitest";
import { ema, gaussian, isSmoothing, runningAverage, smooth, timeWeightedEma } from "./smoothing";

const close = (a: (number | null)[], b: (number | null)[]) => {
  expect(a.length).toBe(b.length);
  a.forEach((v, i) => {
    if (b[i] === null) expect(v).toBeNull();
    else expect(v).toBeCloseTo(b[i] as number, 9);
  });
};

describe("ema", () => {
  it("is the raw line at weight 0", () => close(ema([1, 5, 2], 0), [1, 5, 2]));
  it("debiases so the first point is the first value", () => {
    expect(ema([10, 10, 10], 0.9)).toEqual([10, 10, 10].map(() => expect.closeTo(10, 9)));
  });
  it("follows the textbook recurrence", () => {
    // acc: 0.5*1=0.5/0.5 → 1; (0.25+0.5*3)=1.75/0.75
    close(ema([1, 3], 0.5), [1, 1.75 / 0.75]);
  });
  it("skips NaN, Inf and gaps without poisoning later points", () => {
    close(ema([1, Number.NaN, null, Number.POSITIVE_INFINITY, 1], 0.5), [1, null, null, null, 1]);
  });
});

describe("time-weighted ema", () => {
  it("equals ema on evenly spaced points", () => {
    const ys = [3, 1, 4, 1, 5, 9, 2, 6];
    close(
      timeWeightedEma(
        ys.map((_, i) => i * 10),
        ys,
        0.7,
      ),
      ema(ys, 0.7),
    );
  });
  it("decays more across a wide gap", () => {
    // Dense points then one far away: the old values count less than in a plain ema.
    const xs = [0, 1, 2, 3, 4, 5, 6, 100];
    const ys = [0, 0, 0, 0, 0, 0, 0, 10];
    const out = timeWeightedEma(xs, ys, 0.9);
    const even = ema(ys, 0.9);
    expect(out[7] as number).toBeGreaterThan((even[7] as number) * 1.5);
  });
});

describe("gaussian", () => {
  it("keeps a constant line constant", () => close(gaussian([0, 1, 2, 3], [2, 2, 2, 2], 2), [2, 2, 2, 2]));
  it("is symmetric around a spike", () => {
    const out = gaussian([0, 1, 2, 3, 4], [0, 0, 10, 0, 0], 1) as number[];
    expect(out[1]).toBeCloseTo(out[3], 9);
    expect(out[2]).toBeLessThan(10);
    expect(out[2]).toBeGreaterThan(out[1]);
  });
  it("passes through at sigma 0", () => close(gaussian([0, 1], [1, Number.NaN], 0), [1, null]));
});

describe("running average", () => {
  it("averages the last n finite values", () => close(runningAverage([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5]));
  it("ignores non-finite values", () => close(runningAverage([2, Number.NaN, 4], 3), [2, null, 3]));
});

describe("smooth", () => {
  it("dispatches by kind", () => {
    const xs = [0, 1, 2];
    const ys = [1, 3, 2];
    close(smooth(xs, ys, { kind: "ema", value: 0.5 }), ema(ys, 0.5));
    close(smooth(xs, ys, { kind: "avg", value: 2 }), runningAverage(ys, 2));
    close(smooth(xs, [1, Number.NaN, 2], { kind: "none", value: 0 }), [1, null, 2]);
  });
  it("knows when it changes nothing", () => {
    expect(isSmoothing({ kind: "none", value: 0.5 })).toBe(false);
    expect(isSmoothing({ kind: "ema", value: 0 })).toBe(false);
    expect(isSmoothing({ kind: "avg", value: 1 })).toBe(false);
    expect(isSmoothing({ kind: "twema", value: 0.6 })).toBe(true);
  });
});
