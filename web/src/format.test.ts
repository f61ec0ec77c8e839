import { describe, expect, it } from "vitest";
import { configDiff, flatten, formatCount, formatRuntime, formatValue, runtimeSeconds } from "./format";

describe("format", () => {
  it("formats values", () => {
    expect(formatValue(3)).toBe("3");
    expect(formatValue(0.123456789)).toBe("0.12346");
    expect(formatValue(3e-5)).toBe("3.000e-5");
    expect(formatValue("adam")).toBe("adam");
    expect(formatValue([1, 2])).toBe("[1,2]");
    expect(formatValue(null)).toBe("");
  });
  it("formats counts with the locale's thousands separators", () => {
    expect(formatCount(0)).toBe("0");
    expect(formatCount(999)).toBe("999");
    expect(formatCount(1234567)).toBe((1234567).toLocaleString());
    expect(formatCount(1234567)).toMatch(/^1\D?234\D?567$/);
  });
  it("formats runtimes", () => {
    expect(formatRuntime(5)).toBe("5s");
    expect(formatRuntime(125)).toBe("2m 5s");
    expect(formatRuntime(3725)).toBe("1h 2m");
    const r = {
      created_at: "2026-01-01T00:00:00Z",
      finished_at: "2026-01-01T00:01:00Z",
      heartbeat_at: "",
      state: "finished",
    };
    expect(runtimeSeconds(r)).toBe(60);
  });
  it("flattens and diffs configs", () => {
    expect(flatten({ a: { b: 1 }, c: [1], d: { _type: "x" } })).toEqual({
      "a.b": 1,
      c: [1],
      d: { _type: "x" },
    });
    const d = configDiff([
      { lr: 0.1, opt: "adam", model: { layers: 2 } },
      { lr: 0.2, opt: "adam" },
    ]);
    expect(d).toEqual([
      { key: "lr", values: [0.1, 0.2], differs: true },
      { key: "model.layers", values: [2, undefined], differs: true },
      { key: "opt", values: ["adam", "adam"], differs: false },
    ]);
  });
});
