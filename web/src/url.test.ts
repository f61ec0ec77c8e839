import { describe, expect, it } from "vitest";
import { decodeSmoothing, decodeView, defaultView, encodeView, parseRoute, routePath } from "./url";

describe("routes", () => {
  it.each([
    ["/", { page: "projects" }],
    ["/admin/sentiment", { page: "workspace", entity: "admin", project: "sentiment" }],
    ["/admin/sentiment/", { page: "workspace", entity: "admin", project: "sentiment" }],
    ["/admin/sentiment/runs/k3j9", { page: "run", entity: "admin", project: "sentiment", run: "k3j9" }],
    ["/admin/sentiment/compare", { page: "compare", entity: "admin", project: "sentiment" }],
    ["/a%20b/p", { page: "workspace", entity: "a b", project: "p" }],
    ["/a/b/c", { page: "notfound", path: "/a/b/c" }],
  ])("%s", (path, want) => {
    const r = parseRoute(path);
    expect(r).toEqual(want);
    if (r.page !== "notfound") expect(parseRoute(routePath(r))).toEqual(r);
  });
});

describe("view state", () => {
  it("encodes defaults as nothing", () => {
    expect(encodeView(defaultView)).toBe("");
    expect(decodeView("")).toEqual(defaultView);
  });
  it("round-trips every field", () => {
    const v = {
      ...defaultView,
      selected: ["a1", "b2"],
      search: "bert",
      filter: 'config.lr >= 0.001 and tags has "x"',
      sort: "-summary.val/acc",
      groupBy: "config.seed",
      band: "std" as const,
      smoothing: { kind: "gauss" as const, value: 3 },
      x: "key:epoch" as const,
      logY: true,
      zoom: [10, 200] as [number, number],
      keySearch: "loss",
      hidden: ["user"],
      shown: ["config.k99"],
      onlyDiff: false,
      tab: "config",
    };
    expect(decodeView(`?${encodeView(v)}`)).toEqual(v);
  });
  it("keeps an explicitly empty selection apart from the default", () => {
    expect(decodeView("runs=").selected).toEqual([]);
    expect(decodeView("").selected).toBeNull();
  });
  it("ignores junk", () => {
    const v = decodeView("zoom=9..1&x=bogus&smooth=cubic:3");
    expect(v.zoom).toBeNull();
    expect(v.x).toBe("step");
    expect(v.smoothing).toEqual(defaultView.smoothing);
  });
  it("decodes smoothing", () => {
    expect(decodeSmoothing("none")).toEqual({ kind: "none", value: 0 });
    expect(decodeSmoothing("ema:5")).toEqual({ kind: "ema", value: 0.999 });
    expect(decodeSmoothing("avg:10")).toEqual({ kind: "avg", value: 10 });
    expect(decodeSmoothing("ema:-1")).toEqual(defaultView.smoothing);
  });
});
