import { describe, expect, it } from "vitest";
import { buildPanelData } from "./chart";
import { noSmoothing } from "./smoothing";
import { type SystemSample, samplesToSeries, systemByKey, systemKey, systemX } from "./system";

describe("system metrics", () => {
  const samples: SystemSample[] = [
    { time: 100, values: { cpu: 50, "gpu.0.util": 90 } },
    { time: 110, values: { cpu: 70 } },
  ];
  it("turns samples into series keyed system/NAME", () => {
    const ss = samplesToSeries("r1", samples);
    expect(ss.map((s) => [s.key, s.steps, s.times, s.values])).toEqual([
      ["system/cpu", [0, 1], [100, 110], [50, 70]],
      ["system/gpu.0.util", [0], [100], [90]],
    ]);
    expect(systemKey("system/cpu")).toBe("system/cpu");
  });
  it("groups several runs by key and draws against relative time", () => {
    const by = systemByKey([
      samplesToSeries("a", samples),
      samplesToSeries("b", [{ time: 500, values: { cpu: 1 } }]),
    ]);
    expect([...by.keys()]).toEqual(["system/cpu", "system/gpu.0.util"]);
    expect(by.get("system/cpu")?.map((s) => s.run)).toEqual(["a", "b"]);
    const pd = buildPanelData(by.get("system/cpu") ?? [], {
      x: systemX("step"),
      smoothing: noSmoothing,
      logY: false,
      runStart: new Map([
        ["a", 95],
        ["b", 500],
      ]),
    });
    expect(Array.from(pd.data[0])).toEqual([0, 5, 15]);
    expect(systemX("wall")).toBe("wall");
  });
});
