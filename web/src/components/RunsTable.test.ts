import { describe, expect, it } from "vitest";
import type { Run } from "../api";
import { columnsFor, defaultKeyColumns, rawValue, toCSV } from "./RunsTable";

const run = (id: string, config: Record<string, unknown>, summary: Record<string, unknown>) =>
  ({
    id,
    name: `run ${id}`,
    entity: "e",
    project: "p",
    state: "finished",
    user: "u",
    tags: ["a", "b"],
    group: "",
    created_at: "2026-11-01T00:00:00Z",
    finished_at: "2026-11-01T00:01:40Z",
    heartbeat_at: "2026-11-01T00:01:40Z",
    config,
    summary,
  }) as unknown as Run;

describe("toCSV", () => {
  it("writes raw values at full precision, not as the table shows them", () => {
    const runs = [run("r1", { lr: 0.00012345678, opt: { name: "adam" } }, { loss: 1234567.891, n: 3 })];
    const cols = columnsFor(runs);
    const csv = toCSV(runs, cols);
    const [head, row] = csv.trim().split("\n");
    const h = head.split(",");
    const v = row.split(",");
    const at = (k: string) => v[h.indexOf(k)];
    expect(at("config.lr")).toBe("0.00012345678");
    expect(at("config.opt.name")).toBe("adam");
    expect(at("summary.loss")).toBe("1234567.891");
    expect(at("summary.n")).toBe("3");
    expect(at("runtime")).toBe("100");
    expect(at("created")).toBe("2026-11-01T00:00:00Z");
    expect(at("name")).toBe("run r1");
  });

  it("quotes commas, quotes and newlines; writes NaN, Infinity and objects", () => {
    const runs = [
      run("r2", { note: 'a, "b"\nc', v: [1, 2] }, { x: Number.NaN, y: Number.POSITIVE_INFINITY }),
    ];
    const csv = toCSV(runs, columnsFor(runs));
    expect(csv).toContain('"a, ""b""\nc"');
    expect(csv).toContain('"[1,2]"');
    expect(csv).toMatch(/,NaN,Infinity\n$/);
    expect(csv.endsWith("\n")).toBe(true);
  });

  it("rawValue", () => {
    expect(rawValue(null)).toBe("");
    expect(rawValue(undefined)).toBe("");
    expect(rawValue(1e-12)).toBe("1e-12");
    expect(rawValue(true)).toBe("true");
    expect(rawValue({ a: 1 })).toBe('{"a":1}');
  });
});

describe("columnsFor", () => {
  it("takes the keys of every run, and marks those past the default count as overflow", () => {
    const many = Object.fromEntries(
      Array.from({ length: 70 }, (_, i) => [`k${String(i).padStart(2, "0")}`, i]),
    );
    const runs = [
      ...Array.from({ length: 300 }, (_, i) => run(`r${i}`, {}, {})),
      run("late", many, { only: 1 }),
    ];
    const cols = columnsFor(runs);
    const cfg = cols.filter((c) => c.id.startsWith("config."));
    expect(cfg).toHaveLength(70);
    expect(cfg.filter((c) => c.overflow)).toHaveLength(70 - defaultKeyColumns);
    expect(cfg[defaultKeyColumns].id).toBe(`config.k${defaultKeyColumns}`);
    expect(cols.some((c) => c.id === "summary.only")).toBe(true);
  });

  it("takes the project's keys from the server too, with those of loaded runs", () => {
    const fields = {
      config: ["_wandb.x", "a.b", ...Array.from({ length: 64 }, (_, i) => `k${String(i).padStart(2, "0")}`)],
      summary: ["val/loss"],
    };
    const cols = columnsFor([run("r1", { fresh: { x: 1 } }, { acc: 1 })], fields);
    const cfg = cols.filter((c) => c.id.startsWith("config."));
    expect(cfg.map((c) => c.id).slice(0, 3)).toEqual(["config.a.b", "config.fresh.x", "config.k00"]);
    expect(cfg).toHaveLength(66);
    expect(cfg.filter((c) => c.overflow).map((c) => c.id)).toEqual([
      "config.k58",
      "config.k59",
      "config.k60",
      "config.k61",
      "config.k62",
      "config.k63",
    ]);
    expect(cols.filter((c) => c.id.startsWith("summary.")).map((c) => c.id)).toEqual([
      "summary.acc",
      "summary.val/loss",
    ]);
    // no list from the server: the loaded runs' keys alone
    expect(columnsFor([run("r1", { fresh: { x: 1 } }, {})], null).map((c) => c.id)).toContain(
      "config.fresh.x",
    );
  });
});
