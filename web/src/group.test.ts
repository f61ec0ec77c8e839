import { describe, expect, it } from "vitest";
import { lineOptions, type Series } from "./chart";
import { aggregate, alignSteps, buildGroupPanelData, groupRuns, groupValue } from "./group";
import { noSmoothing } from "./smoothing";

const run = (id: string, config: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  id,
  config,
  ...extra,
});

describe("groupRuns", () => {
  it("groups by a nested config key in order of first appearance, with a (none) group", () => {
    const runs = [
      run("a", { opt: "adam", model: { layers: 4 } }),
      run("b", { opt: "sgd", model: { layers: 8 } }),
      run("c", { opt: "adam", model: { layers: 8 } }),
      run("d", {}),
    ];
    expect(groupRuns(runs, "config.opt").map((g) => [g.label, g.runs])).toEqual([
      ["adam", ["a", "c"]],
      ["sgd", ["b"]],
      ["(none)", ["d"]],
    ]);
    expect(groupRuns(runs, "config.model.layers").map((g) => [g.label, g.runs])).toEqual([
      ["4", ["a"]],
      ["8", ["b", "c"]],
      ["(none)", ["d"]],
    ]);
  });
  it("groups by run fields and gives each group a distinct id", () => {
    const runs = [run("a", {}, { state: "running" }), run("b", {}, { state: "finished" })];
    const gs = groupRuns(runs, "state");
    expect(gs.map((g) => g.label)).toEqual(["running", "finished"]);
    expect(new Set(gs.map((g) => g.id)).size).toBe(2);
    expect(groupValue(run("x", {}, { tags: ["b", "a"] }), "tags")).toBe("a, b");
    expect(groupValue(run("x", { l: [1, 2] }), "config.l")).toBe("[1,2]");
  });
});

describe("aggregate", () => {
  it("means, min–max and std at shared steps", () => {
    const a = aggregate(
      [
        { steps: [0, 1, 2], xs: [0, 1, 2], ys: [1, 2, 3] },
        { steps: [0, 1, 2], xs: [0, 1, 2], ys: [3, 4, 5] },
      ],
      "minmax",
    );
    expect(a.steps).toEqual([0, 1, 2]);
    expect(a.mean).toEqual([2, 3, 4]);
    expect(a.lo).toEqual([1, 2, 3]);
    expect(a.hi).toEqual([3, 4, 5]);
    expect(a.std).toEqual([1, 1, 1]);
    expect(a.n).toEqual([2, 2, 2]);
    const s = aggregate(
      [
        { steps: [0], xs: [0], ys: [1] },
        { steps: [0], xs: [0], ys: [3] },
      ],
      "std",
    );
    expect([s.lo[0], s.mean[0], s.hi[0]]).toEqual([1, 2, 3]);
  });
  it("interpolates runs at each other's steps, never beyond a run's own range", () => {
    const a = aggregate(
      [
        { steps: [0, 10], xs: [0, 10], ys: [0, 10] },
        { steps: [5, 20], xs: [5, 20], ys: [100, 100] },
      ],
      "minmax",
    );
    expect(a.steps).toEqual([0, 5, 10, 20]);
    // step 0: only the first run; step 5: 5 (interpolated) and 100; step 10: 10 and 100; 20: the second only
    expect(a.n).toEqual([1, 2, 2, 1]);
    expect(a.mean).toEqual([0, 52.5, 55, 100]);
    expect(a.lo).toEqual([0, 5, 10, 100]);
    expect(a.hi).toEqual([0, 100, 100, 100]);
  });
  it("skips NaN, infinities and nulls instead of averaging them", () => {
    const a = aggregate(
      [
        { steps: [0, 1, 2], xs: [0, 1, 2], ys: [1, Number.NaN, 3] },
        { steps: [0, 1, 2], xs: [0, 1, 2], ys: [1, null, Number.POSITIVE_INFINITY] },
      ],
      "minmax",
    );
    // the NaN and null are gaps (step 1 is no one's point); b's Infinity ends b's range at step 0
    expect(a.steps).toEqual([0, 2]);
    expect(a.mean).toEqual([1, 3]);
    expect(a.n).toEqual([2, 1]);
    expect(aggregate([], "minmax").steps).toEqual([]);
  });
  it("averages the x values (time axes) of the runs present", () => {
    const a = aggregate(
      [
        { steps: [0, 2], xs: [100, 120], ys: [1, 1] },
        { steps: [0, 2], xs: [200, 240], ys: [1, 1] },
      ],
      "minmax",
    );
    expect(a.x).toEqual([150, 180]);
  });
  it("aligns on an even grid when the union of steps is too long", () => {
    const st = alignSteps(
      [
        [0, 3, 7, 1000],
        [1, 4, 999],
      ],
      5,
    );
    expect(st).toEqual([0, 250, 500, 750, 1000, 1, 999].sort((x, y) => x - y));
    expect(alignSteps([[0, 1]], 10)).toEqual([0, 1]);
  });
});

const series = (run: string, ys: number[], steps = ys.map((_, i) => i)): Series => ({
  run,
  key: "loss",
  total: ys.length,
  sampled: false,
  steps,
  times: steps.map((s) => 1000 + s),
  values: ys,
});

describe("buildGroupPanelData", () => {
  it("draws each group as hi, lo and mean columns on one x array", () => {
    const pd = buildGroupPanelData([series("a", [1, 2]), series("b", [3, 4]), series("c", [10, 10])], {
      x: "step",
      smoothing: noSmoothing,
      logY: false,
      band: "minmax",
      groups: [
        { id: "g1", label: "adam", runs: ["a", "b"] },
        { id: "g2", label: "sgd", runs: ["c"] },
      ],
    });
    expect(pd.lines).toEqual([
      { run: "g1", role: "hi" },
      { run: "g1", role: "lo" },
      { run: "g1", role: "mean" },
      { run: "g2", role: "hi" },
      { run: "g2", role: "lo" },
      { run: "g2", role: "mean" },
    ]);
    expect(Array.from(pd.data[0])).toEqual([0, 1]);
    expect(pd.data.slice(1).map((c) => Array.from(c))).toEqual([
      [3, 4],
      [1, 2],
      [2, 3],
      [10, 10],
      [10, 10],
      [10, 10],
    ]);
    // lineOptions fills between each group's hi and lo
    const opts = lineOptions({
      width: 400,
      height: 200,
      lines: pd.lines,
      x: "step",
      logY: false,
      theme: { axis: "#000", grid: "#eee", font: "11px sans-serif" },
    });
    expect(opts.bands?.map((b) => b.series)).toEqual([
      [1, 2],
      [4, 5],
    ]);
  });
  it("keeps non-finite values as markers of the group and smooths before aggregating", () => {
    const pd = buildGroupPanelData([series("a", [1, Number.NaN, 1, 1]), series("b", [3, 3, 3, 3])], {
      x: "step",
      smoothing: { kind: "avg", value: 2 },
      logY: false,
      band: "std",
      groups: [{ id: "g", label: "x", runs: ["a", "b"] }],
    });
    expect(pd.nonFinite).toEqual([{ run: "g", x: 1, kind: "nan" }]);
    // a's NaN is bridged (1 on both sides), not averaged in: the mean stays (1 + 3) / 2
    expect(Array.from(pd.data[3] as number[])).toEqual([2, 2, 2, 2]);
  });
  it("uses relative time per run for x = rel", () => {
    const pd = buildGroupPanelData([series("a", [1, 1])], {
      x: "rel",
      smoothing: noSmoothing,
      logY: false,
      band: "minmax",
      runStart: new Map([["a", 1000]]),
      groups: [{ id: "g", label: "x", runs: ["a"] }],
    });
    expect(Array.from(pd.data[0])).toEqual([0, 1]);
  });
});
