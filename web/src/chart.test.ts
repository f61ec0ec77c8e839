import { describe, expect, it } from "vitest";
import {
  buildPanelData,
  formatDuration,
  gridX,
  lineOptions,
  manyRuns,
  pointsFor,
  type Series,
  sectionOf,
  sections,
  stepRange,
  toNumber,
} from "./chart";
import { runColor } from "./colors";

const s = (run: string, steps: number[], values: Series["values"], sampled = false): Series => ({
  run,
  key: "loss",
  total: steps.length,
  sampled,
  steps,
  times: steps.map((x) => 1000 + x * 2),
  values,
});

const theme = { axis: "#000", grid: "#ccc", font: "12px sans-serif" };

describe("toNumber", () => {
  it("maps the API's non-finite strings", () => {
    expect(toNumber("NaN")).toBeNaN();
    expect(toNumber("Infinity")).toBe(Number.POSITIVE_INFINITY);
    expect(toNumber("-Infinity")).toBe(Number.NEGATIVE_INFINITY);
    expect(toNumber("hello")).toBeNull();
    expect(toNumber(2.5)).toBe(2.5);
  });
});

describe("buildPanelData", () => {
  const none = { kind: "none" as const, value: 0 };
  it("aligns runs on the union of x values", () => {
    const pd = buildPanelData([s("a", [0, 1, 2], [1, 2, 3]), s("b", [1, 3], [5, 6])], {
      x: "step",
      smoothing: none,
      logY: false,
    });
    expect(Array.from(pd.data[0])).toEqual([0, 1, 2, 3]);
    expect(pd.data[1]).toEqual([1, 2, 3, null]);
    expect(pd.data[2]).toEqual([null, 5, null, 6]);
    expect(pd.lines).toEqual([
      { run: "a", role: "raw" },
      { run: "b", role: "raw" },
    ]);
  });
  it("adds a smoothed line per run and changes the drawn values", () => {
    const pd = buildPanelData([s("a", [0, 1, 2, 3], [0, 10, 0, 10])], {
      x: "step",
      smoothing: { kind: "ema", value: 0.6 },
      logY: false,
    });
    expect(pd.lines.map((l) => l.role)).toEqual(["raw", "smooth"]);
    expect(pd.data[1]).toEqual([0, 10, 0, 10]);
    expect(pd.data[2]).not.toEqual(pd.data[1]);
  });
  it("turns non-finite values into markers, not line points", () => {
    const pd = buildPanelData([s("a", [0, 1, 2, 3], [1, "NaN", "Infinity", "-Infinity"])], {
      x: "step",
      smoothing: none,
      logY: false,
    });
    expect(pd.data[1]).toEqual([1, null, null, null]);
    expect(pd.nonFinite.map((n) => n.kind)).toEqual(["nan", "inf", "-inf"]);
  });
  it("reports downsampling", () => {
    const pd = buildPanelData([s("a", [0, 9], [1, 2], true), s("b", [0], [1])], {
      x: "step",
      smoothing: none,
      logY: false,
    });
    expect(pd.sampled).toBe(true);
  });
  it("drops non-positive values on a log axis", () => {
    const pd = buildPanelData([s("a", [0, 1], [0, 10])], { x: "step", smoothing: none, logY: true });
    expect(pd.data[1]).toEqual([null, 10]);
  });
  it("uses relative time and metric x-axes", () => {
    const rel = buildPanelData([s("a", [0, 5], [1, 2])], {
      x: "rel",
      smoothing: none,
      logY: false,
      runStart: new Map([["a", 990]]),
    });
    expect(Array.from(rel.data[0])).toEqual([10, 20]);
    const epoch = s("a", [0, 5], [3, 1]);
    const byKey = buildPanelData([s("a", [0, 5], [1, 2])], {
      x: "key:epoch",
      smoothing: none,
      logY: false,
      xSeries: new Map([["a", epoch]]),
    });
    expect(Array.from(byKey.data[0])).toEqual([1, 3]);
    expect(byKey.data[1]).toEqual([2, 1]);
  });
  it("maps a zoomed x range back to steps", () => {
    const pd = buildPanelData([s("a", [0, 5, 10, 15], [1, 2, 3, 4])], {
      x: "wall",
      smoothing: none,
      logY: false,
    });
    expect(stepRange(pd, "wall", 1009, 1021)).toEqual([5, 10]);
    expect(stepRange(pd, "step", 2.5, 11.2)).toEqual([3, 11]);
    expect(stepRange(pd, "wall", 0, 1)).toBeNull();
  });
});

describe("gridX", () => {
  const keep = () => true;
  it("keeps each column's smallest and largest point, in x order", () => {
    // 0..100 in 10 columns of 10; two slots each, at whole steps
    const g = gridX([{ xs: [0, 100] }], 10, keep);
    expect(g.xs).toHaveLength(20);
    expect(Array.from(g.xs.slice(0, 4))).toEqual([3, 8, 13, 18]);
    const col = g.place([0, 2, 4, 6, 12, 100], [5, 9, 1, 4, 7, null]);
    // column 0 holds 5, 9, 1, 4: the largest (9) comes before the smallest (1)
    expect(col.slice(0, 4)).toEqual([9, 1, 7, 7]);
    expect(col.slice(4, 18).every((v) => v == null)).toBe(true);
    expect(col.slice(18)).toEqual([null, null]); // 100 had no value
  });
  it("skips NaN and refused values, and keeps fractional slots for fractional x", () => {
    const g = gridX([{ xs: [0, 0.5, 1] }], 2, (y) => y > 0);
    expect(Array.from(g.xs)).toEqual([0.125, 0.375, 0.625, 0.875]);
    expect(g.place([0, 0.2, 0.9], [Number.NaN, -1, 3])).toEqual([null, null, 3, 3]);
  });
  it("is used when the runs' points are many more than the pixel columns", () => {
    const none = { kind: "none" as const, value: 0 };
    const runs = [0, 1, 2].map((r) =>
      s(
        `r${r}`,
        Array.from({ length: 300 }, (_, i) => i * 3 + r),
        Array.from({ length: 300 }, (_, i) => (i === 150 && r === 1 ? 100 : i % 7)),
        true,
      ),
    );
    const exact = buildPanelData(runs, { x: "step", smoothing: none, logY: false });
    expect(exact.data[0]).toHaveLength(900);
    const pd = buildPanelData(runs, { x: "step", smoothing: none, logY: false, columns: 100 });
    expect(pd.data[0]).toHaveLength(200);
    expect(pd.lines).toHaveLength(3);
    // every run's extremes survive, the spike included
    for (let c = 1; c <= 3; c++) {
      const ys = (pd.data[c] as (number | null)[]).filter((v) => v != null) as number[];
      expect(Math.max(...ys)).toBe(c === 2 ? 100 : 6);
      expect(Math.min(...ys)).toBe(0);
    }
    // zoom maps back to steps as before
    expect(stepRange(pd, "step", 10.2, 20.7)).toEqual([11, 20]);
  });
});

describe("lineOptions", () => {
  it("draws raw lines faint when smoothing, in the run's colour", () => {
    const o = lineOptions({
      width: 400,
      height: 200,
      x: "step",
      logY: true,
      theme,
      lines: [
        { run: "a", role: "raw" },
        { run: "a", role: "smooth" },
      ],
    });
    expect(o.series).toHaveLength(3);
    expect(o.series[1].stroke).toBe(`${runColor("a")}40`);
    expect(o.series[2].stroke).toBe(runColor("a"));
    expect(o.scales?.y?.distr).toBe(3);
    expect(o.cursor?.drag?.setScale).toBe(false);
  });
  it("draws 1 px lines when a panel has many runs", () => {
    const base = { width: 1, height: 1, logY: false, theme, x: "step" as const };
    const lines = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ run: `r${i}`, role: "raw" as const }));
    expect(lineOptions({ ...base, lines: lines(3) }).series[1].width).toBe(1.5);
    expect(lineOptions({ ...base, lines: lines(manyRuns + 1) }).series[1].width).toBe(1);
  });
  it("uses a time scale for wall time only", () => {
    const base = { width: 1, height: 1, logY: false, theme, lines: [] };
    expect(lineOptions({ ...base, x: "wall" }).scales?.x?.time).toBe(true);
    expect(lineOptions({ ...base, x: "step" }).scales?.x?.time).toBe(false);
  });
});

describe("panels", () => {
  it("sections keys by prefix", () => {
    expect(sectionOf("train/loss")).toBe("train");
    expect(sectionOf("val/acc")).toBe("val");
    expect(sectionOf("eval/acc")).toBe("val");
    expect(sectionOf("system/gpu.0.util")).toBe("system");
    expect(sectionOf("lr")).toBe("other");
    expect(sectionOf("custom/thing")).toBe("other");
    expect(sections(["lr", "val/acc", "train/loss", "train/acc"], "")).toEqual([
      ["train", ["train/acc", "train/loss"]],
      ["val", ["val/acc"]],
      ["other", ["lr"]],
    ]);
    expect(sections(["lr", "train/loss"], "LOSS")).toEqual([["train", ["train/loss"]]]);
    expect(sectionOf("gradients/fc1.weight", "histogram")).toBe("gradients");
    expect(sectionOf("parameters/_norms", "fluoro.layer-norms")).toBe("parameters");
    expect(sectionOf("examples", "image-file")).toBe("media");
    expect(sectionOf("samples/table", "table-file")).toBe("media");
    expect(sectionOf("note", "string")).toBe("other");
    expect(
      sections(["examples", "val/img", "lr"], "", { examples: "image-file", "val/img": "image-file" }),
    ).toEqual([
      ["val", ["val/img"]],
      ["media", ["examples"]],
      ["other", ["lr"]],
    ]);
  });
  it("formats durations and sizes requests", () => {
    expect(formatDuration(30)).toBe("30s");
    expect(formatDuration(90)).toBe("1.5m");
    expect(formatDuration(7200)).toBe("2h");
    expect(pointsFor(600)).toBe(2400);
    expect(pointsFor(10)).toBe(400);
  });
});
