import { describe, expect, it } from "vitest";
import type { Run } from "./api";
import { idFilters, RunPages, readsLiveFields } from "./runpages";

const run = (id: string, extra: Partial<Run> = {}) => ({ id, name: id, ...extra }) as Run;
const runs = (from: number, n: number) => Array.from({ length: n }, (_, i) => run(`r${from + i}`));

describe("RunPages", () => {
  it("asks for the pages in view only, up to the total", () => {
    const p = new RunPages("k", 10);
    expect(p.wanted(0, 25)).toEqual([0, 1, 2]);
    p.put(0, runs(0, 10), 35);
    expect(p.wanted(0, 25)).toEqual([1, 2]);
    expect(p.wanted(30, 500)).toEqual([3]); // nothing past row 34
    p.put(30, runs(30, 5), 35);
    expect(p.at(34)?.id).toBe("r34");
    expect(p.at(12)).toBeUndefined();
    expect(p.complete()).toBe(false);
  });

  it("splits a bulk answer into pages and knows when every run is here", () => {
    const p = new RunPages("k", 10);
    p.put(0, runs(0, 25), 25);
    expect([...p.pages.keys()]).toEqual([0, 1, 2]);
    expect(p.at(24)?.id).toBe("r24");
    expect(p.complete()).toBe(true);
    expect(p.loaded().map((r) => r.id)).toEqual(runs(0, 25).map((r) => r.id));
    expect(p.rowOf("r17")).toBe(17);
  });

  it("marks the other pages stale when the total moves, and drops pages past the end", () => {
    const p = new RunPages("k", 10);
    p.put(0, runs(0, 10), 30);
    p.put(20, runs(20, 10), 30);
    p.put(0, runs(100, 10), 12); // runs went away
    expect([...p.pages.keys()]).toEqual([0]);
    p.put(10, runs(10, 2), 12);
    p.put(0, runs(200, 10), 13); // a run came
    expect(p.stale.has(1)).toBe(true);
    expect(p.wanted(0, 12)).toEqual([1]);
    expect(p.at(11)?.id).toBe("r11"); // still shown until asked again
  });

  it("a stale page is asked again, and shown meanwhile", () => {
    const p = new RunPages("k", 10);
    p.put(0, runs(0, 10), 10);
    p.markStale();
    expect(p.wanted(0, 9)).toEqual([0]);
    expect(p.at(3)?.id).toBe("r3");
    expect(p.complete()).toBe(false);
  });

  it("replaces runs in place by id, ignoring those not here", () => {
    const p = new RunPages("k", 10);
    p.put(0, runs(0, 10), 10);
    const n = p.replace([run("r3", { state: "finished" }), run("elsewhere")]);
    expect(n).toBe(1);
    expect(p.at(3)?.state).toBe("finished");
  });

  it("lists a run once when shifted pages hold it twice", () => {
    const p = new RunPages("k", 2);
    p.put(0, [run("a"), run("b")], 4);
    p.put(2, [run("b"), run("c")], 4);
    expect(p.loaded().map((r) => r.id)).toEqual(["a", "b", "c"]);
  });
});

describe("idFilters", () => {
  it("batches ids within the API's 100 values per `in`", () => {
    const ids = Array.from({ length: 250 }, (_, i) => `id${i}`);
    const fs = idFilters(ids);
    expect(fs).toHaveLength(3);
    expect(fs[0]).toMatch(/^id in \("id0", "id1", /);
    const back = fs.flatMap((f) => [...f.matchAll(/"([^"]+)"/g)].map((m) => m[1]));
    expect(back).toEqual(ids);
  });

  it("ands the base filter and stays under 4096 bytes", () => {
    const long = "x".repeat(60);
    const fs = idFilters(
      Array.from({ length: 200 }, (_, i) => `${long}${i}`),
      'config.a = "b"',
    );
    for (const f of fs) {
      expect(f.startsWith('(config.a = "b") and id in (')).toBe(true);
      expect(new TextEncoder().encode(f).length).toBeLessThanOrEqual(4096);
    }
    expect(fs.length).toBeGreaterThan(2);
  });

  it("quotes ids", () => {
    expect(idFilters(['a"b'])).toEqual(['id in ("a\\"b")']);
  });
});

describe("readsLiveFields", () => {
  it.each([
    ["-summary.val/loss", true],
    ["summary.acc > 0.5", true],
    ["last_step > 100", true],
    ["created_at,-heartbeat_at", true],
    ['config.lr > 0.1 and state = "finished"', false],
    ["config.summary.x = 1", false],
    ["", false],
  ])("%s → %s", (s, want) => {
    expect(readsLiveFields(s)).toBe(want);
  });
});
