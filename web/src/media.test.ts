import { describe, expect, it } from "vitest";
import {
  cellText,
  classColor,
  colorMask,
  commandLine,
  configMaskLabels,
  fileUrl,
  filterRows,
  histogramGrid,
  isGif,
  logCount,
  logScale,
  maskDrawn,
  nearestIndex,
  normsGrid,
  panelKind,
  parseBoxes,
  parseFileMedia,
  parseFileMediaList,
  parseHistogram,
  parseImage,
  parseImages,
  parseLenientJSON,
  parseTable,
  rebin,
  rowRange,
  sortRows,
  unionSteps,
  viridis,
} from "./media";

describe("panel kinds", () => {
  it("maps the keys endpoint's types", () => {
    expect(panelKind(undefined)).toBe("line");
    expect(panelKind("histogram")).toBe("histogram");
    expect(panelKind("fluoro.layer-norms")).toBe("norms");
    expect(panelKind("image-file")).toBe("image");
    expect(panelKind("images/separated")).toBe("image");
    expect(panelKind("table-file")).toBe("table");
    expect(panelKind("html-file")).toBe("html");
    expect(panelKind("plotly-file")).toBe("plotly");
    expect(panelKind("audio-file")).toBe("audio");
    expect(panelKind("video-file")).toBe("video");
    expect(panelKind("string")).toBe("text");
    expect(panelKind("bool")).toBe("text");
    expect(panelKind("molecule-file")).toBe("other");
  });
  it("builds file URLs with each segment escaped", () => {
    expect(fileUrl("a b", "p", "r1", "media/images/x y#1.png")).toBe(
      "/api/v1/projects/a%20b/p/runs/r1/files/media/images/x%20y%231.png",
    );
  });
});

describe("histograms", () => {
  it("parses bins and packed bins, refuses malformed", () => {
    expect(parseHistogram({ _type: "histogram", values: [1, 2], bins: [0, 1, 2] })).toEqual({
      edges: [0, 1, 2],
      counts: [1, 2],
    });
    expect(
      parseHistogram({ _type: "histogram", packedBins: { min: -1, size: 0.5, count: 2 }, values: [3, 4] }),
    ).toEqual({ edges: [-1, -0.5, 0], counts: [3, 4] });
    expect(parseHistogram({ values: [1, 2], bins: [0, 1] })).toBeNull();
    expect(parseHistogram("x")).toBeNull();
    expect(parseHistogram({ values: [], bins: [0] })).toBeNull();
  });
  it("rebins in proportion to overlap and keeps the total", () => {
    const h = { edges: [0, 2, 4], counts: [10, 4] };
    expect([...rebin(h, 0, 4, 4)]).toEqual([5, 5, 2, 2]);
    expect([...rebin(h, 0, 4, 1)]).toEqual([14]);
    // a source bin inside one row goes whole to it
    expect([...rebin({ edges: [0.1, 0.2], counts: [7] }, 0, 1, 2)]).toEqual([7, 0]);
    // zero-width bin (all values equal)
    expect([...rebin({ edges: [3, 3], counts: [5] }, 0, 4, 4)]).toEqual([0, 0, 0, 5]);
    const wide = rebin({ edges: [-10, 10], counts: [20] }, -10, 10, 7);
    expect(wide.reduce((a, b) => a + b, 0)).toBeCloseTo(20);
  });
  it("puts histograms of different ranges on one grid, in step order", () => {
    const g = histogramGrid(
      [20, 10, 30],
      [{ edges: [0, 1], counts: [4] }, { edges: [-1, 0], counts: [2] }, null],
      2,
    );
    expect(g.steps).toEqual([10, 20]);
    expect(g.lo).toBe(-1);
    expect(g.hi).toBe(1);
    expect([...g.cells]).toEqual([2, 0, 0, 4]);
    expect(g.max).toBe(4);
    expect(rowRange(g, 1)).toEqual([0, 1]);
    const flat = histogramGrid([0], [{ edges: [3, 3], counts: [5] }], 3);
    expect([flat.lo, flat.hi]).toEqual([2.5, 3.5]);
    expect([...flat.cells]).toEqual([0, 5, 0]);
  });
});

describe("colour scales", () => {
  it("viridis runs dark to bright and clamps", () => {
    expect(viridis(0)).toEqual([68, 1, 84]);
    expect(viridis(1)).toEqual([253, 231, 37]);
    expect(viridis(-3)).toEqual(viridis(0));
    expect(viridis(Number.NaN)).toEqual(viridis(0));
    const lum = (c: number[]) => c[0] * 0.3 + c[1] * 0.59 + c[2] * 0.11;
    expect(lum(viridis(0.5))).toBeGreaterThan(lum(viridis(0.2)));
  });
  it("log scales counts and norms", () => {
    expect(logCount(0, 100)).toBe(0);
    expect(logCount(100, 100)).toBe(1);
    expect(logCount(9, 99)).toBeCloseTo(0.5);
    expect(logScale(10, 1, 100)).toBeCloseTo(0.5);
    expect(logScale(0, 1, 100)).toBeNaN();
    expect(logScale(5, 5, 5)).toBe(1);
  });
});

describe("layer norms", () => {
  it("builds a layers × steps grid over the union of layer names", () => {
    const g = normsGrid(
      [1, 0, 2],
      [
        { _type: "fluoro.layer-norms", names: ["a", "b"], values: [2, 0.001] },
        { _type: "fluoro.layer-norms", names: ["a", "b"], values: [1, 1] },
        { _type: "fluoro.layer-norms", names: ["a", "c"], values: [1e6, 3] },
      ],
    );
    expect(g.steps).toEqual([0, 1, 2]);
    expect(g.layers).toEqual(["a", "b", "c"]);
    expect(g.cells[1 * 3 + 1]).toBe(0.001);
    expect(g.cells[2 * 3 + 1]).toBeNaN();
    expect(g.min).toBe(0.001);
    expect(g.max).toBe(1e6);
  });
  it("skips malformed values", () => {
    expect(normsGrid([0], ["x"]).steps).toEqual([]);
  });
});

describe("step slider", () => {
  it("finds the nearest step, lower on ties", () => {
    const s = [0, 10, 20, 40];
    expect(nearestIndex(s, -5)).toBe(0);
    expect(nearestIndex(s, 0)).toBe(0);
    expect(nearestIndex(s, 14)).toBe(1);
    expect(nearestIndex(s, 15)).toBe(1);
    expect(nearestIndex(s, 16)).toBe(2);
    expect(nearestIndex(s, 31)).toBe(3);
    expect(nearestIndex(s, 99)).toBe(3);
    expect(nearestIndex([], 3)).toBe(-1);
    expect(nearestIndex([7], 3)).toBe(0);
  });
  it("unions the runs' steps", () => {
    expect(
      unionSteps([
        [0, 10],
        [5, 10, 20],
      ]),
    ).toEqual([0, 5, 10, 20]);
  });
});

describe("media JSON", () => {
  it("parses an image with masks, boxes and classes", () => {
    const img = parseImage({
      _type: "image-file",
      path: "media/images/a.png",
      width: 8,
      height: 4,
      caption: "cat",
      masks: {
        pred: { _type: "mask", path: "media/images/mask/p.png", class_labels: { 1: "cat", 2: "dog" } },
        bad: { _type: "mask" },
      },
      boxes: { gt: { _type: "boxes2D", path: "media/metadata/boxes2D/b.json" } },
      classes: [{ id: 3, name: "bird" }],
    });
    expect(img?.path).toBe("media/images/a.png");
    expect(img?.caption).toBe("cat");
    expect(img?.masks).toEqual([
      { name: "pred", path: "media/images/mask/p.png", labels: { 1: "cat", 2: "dog" } },
    ]);
    expect(img?.boxes).toEqual([{ name: "gt", path: "media/metadata/boxes2D/b.json" }]);
    expect(img?.classes).toEqual({ 1: "cat", 2: "dog", 3: "bird" });
    expect(parseImage({ _type: "image-file" })).toBeNull();
    expect(
      parseImage({ path: "x.png", classes: { type: "classes-file", path: "media/classes/c.json" } })
        ?.classesPath,
    ).toBe("media/classes/c.json");
  });
  it("expands images/separated into images", () => {
    const imgs = parseImages({
      _type: "images/separated",
      width: 4,
      height: 4,
      count: 2,
      filenames: ["media/images/a.png", "media/images/b.png"],
      captions: ["a", "b"],
      all_masks: [null, { m: { path: "media/images/mask/b.png" } }],
    });
    expect(imgs.map((i) => [i.path, i.caption, i.masks.length, i.width])).toEqual([
      ["media/images/a.png", "a", 0, 4],
      ["media/images/b.png", "b", 1, 4],
    ]);
    expect(parseImages({ _type: "image-file", path: "x.png" })).toHaveLength(1);
  });
  it("parses file media", () => {
    expect(
      parseFileMedia({ _type: "table-file", path: "media/table/t.table.json", nrows: 3, ncols: 2 }),
    ).toEqual({
      kind: "table",
      path: "media/table/t.table.json",
      caption: undefined,
      width: undefined,
      height: undefined,
      nrows: 3,
      ncols: 2,
    });
    expect(parseFileMedia({ _type: "audio-file", path: "a.wav", caption: "hi" })?.caption).toBe("hi");
    expect(parseFileMedia({ _type: "html-file" })).toBeNull();
    expect(parseFileMedia({ _type: "histogram", path: "x" })).toBeNull();
  });
});

describe("lists of media and lenient JSON", () => {
  it("expands wandb's lists of html, audio and videos", () => {
    expect(panelKind("html")).toBe("html");
    expect(panelKind("audio")).toBe("audio");
    expect(panelKind("videos")).toBe("video");
    const audio = parseFileMediaList({
      _type: "audio",
      count: 2,
      audio: [
        { _type: "audio-file", path: "a.wav" },
        { _type: "audio-file", path: "b.wav" },
      ],
      captions: ["", "second"],
    });
    expect(audio.map((a) => [a.path, a.caption])).toEqual([
      ["a.wav", undefined],
      ["b.wav", "second"],
    ]);
    expect(
      parseFileMediaList({ _type: "videos", videos: [{ _type: "video-file", path: "v.gif" }] }),
    ).toHaveLength(1);
    expect(
      parseFileMediaList({ _type: "html", html: [{ _type: "html-file", path: "h.html" }] })[0].kind,
    ).toBe("html");
    expect(parseFileMediaList({ _type: "html-file", path: "h.html" })).toHaveLength(1);
    expect(parseFileMediaList({ _type: "object3D-file", path: "x.obj" })).toEqual([]);
    expect(isGif("media/videos/r.GIF")).toBe(true);
    expect(isGif("media/videos/r.mp4")).toBe(false);
  });
  it("reads bare NaN and Infinity outside strings", () => {
    expect(parseLenientJSON('{"a": 1}')).toEqual({ a: 1 });
    expect(parseLenientJSON('{"data": [[NaN, -Infinity, "NaN is fine", Infinity]]}')).toEqual({
      data: [["NaN", "-Infinity", "NaN is fine", "Infinity"]],
    });
    expect(() => parseLenientJSON("{oops")).toThrow();
  });
});

describe("boxes and masks", () => {
  it("converts fractional and pixel boxes to pixels", () => {
    const s = parseBoxes(
      {
        box_data: [
          { position: { minX: 0.1, maxX: 0.5, minY: 0.2, maxY: 0.6 }, class_id: 1, scores: { acc: 0.9 } },
          {
            position: { middle: [50, 20], width: 10, height: 4 },
            domain: "pixel",
            class_id: 2,
            box_caption: "b",
          },
          { position: { minX: "x" } },
        ],
        class_labels: { 1: "cat", 2: "dog" },
      },
      100,
      50,
    );
    expect(s.labels).toEqual({ 1: "cat", 2: "dog" });
    expect(s.boxes).toHaveLength(2);
    expect(s.boxes[0].x).toBeCloseTo(10);
    expect(s.boxes[0].y).toBeCloseTo(10);
    expect(s.boxes[0].w).toBeCloseTo(40);
    expect(s.boxes[0].h).toBeCloseTo(20);
    expect(s.boxes[0].caption).toBe("cat");
    expect(s.boxes[0].scores).toEqual({ acc: 0.9 });
    expect(s.boxes[1]).toMatchObject({ x: 45, y: 18, w: 10, h: 4, caption: "b", classId: 2 });
  });
  it("finds the wandb client's mask labels in the run config", () => {
    const cfg = {
      lr: 1,
      _wandb: { value: { "mask/class_labels": { examples_wandb_delimeter_pred: { 1: "cat" } } } },
    };
    expect(configMaskLabels(cfg, "examples", "pred")).toEqual({ 1: "cat" });
    expect(configMaskLabels(cfg, "examples", "other")).toEqual({});
    expect(configMaskLabels({}, "examples", "pred")).toEqual({});
    expect(
      configMaskLabels(
        { _wandb: { "mask/class_labels": { k_wandb_delimeter_m: { value: { 0: "bg", 2: "x" } } } } },
        "k",
        "m",
      ),
    ).toEqual({ 0: "bg", 2: "x" });
  });
  it("colours mask classes, background transparent", () => {
    expect(maskDrawn(0, {})).toBe(false);
    expect(maskDrawn(0, { 0: "background" })).toBe(false);
    expect(maskDrawn(0, { 0: "road" })).toBe(true);
    expect(maskDrawn(3, {})).toBe(true);
    const src = new Uint8ClampedArray([0, 0, 0, 255, 1, 1, 1, 255]);
    const dst = new Uint8ClampedArray(8);
    expect(colorMask(src, dst, {}, 100)).toBe(1);
    expect([...dst.slice(0, 4)]).toEqual([0, 0, 0, 0]);
    expect([...dst.slice(4)]).toEqual([...classColor(1), 100]);
    expect(classColor(-1)).toHaveLength(3);
  });
});

describe("tables", () => {
  const t = parseTable({
    columns: ["id", "img", "score", "label"],
    data: [
      [1, { _type: "image-file", path: "media/images/a.png", caption: "apple" }, 0.5, "fruit"],
      [2, { _type: "image-file", path: "media/images/b.png" }, null, "Veg"],
      [3, null, 0.9, "fruit"],
      [10, null, 0.1],
    ],
  });
  it("parses and pads rows", () => {
    expect(t?.columns).toEqual(["id", "img", "score", "label"]);
    expect(t?.data[3]).toEqual([10, null, 0.1, null]);
    expect(parseTable({ columns: [] })).toBeNull();
  });
  it("shows media cells by caption or file name", () => {
    expect(cellText({ _type: "image-file", path: "media/images/b.png" })).toBe("b.png");
    expect(cellText({ _type: "image-file", path: "x", caption: "c" })).toBe("c");
    expect(cellText(null)).toBe("");
    expect(cellText([1, 2])).toBe("[1,2]");
  });
  it("filters on any cell, case-insensitively", () => {
    if (!t) throw new Error("no table");
    expect(filterRows(t, "")).toEqual([0, 1, 2, 3]);
    expect(filterRows(t, "FRUIT")).toEqual([0, 2]);
    expect(filterRows(t, "apple")).toEqual([0]);
    expect(filterRows(t, "veg")).toEqual([1]);
  });
  it("sorts by a column, numbers numerically, empty cells last", () => {
    if (!t) throw new Error("no table");
    const all = [0, 1, 2, 3];
    expect(sortRows(t, all, 0, true)).toEqual([3, 2, 1, 0]);
    expect(sortRows(t, all, 2, false)).toEqual([3, 0, 2, 1]);
    expect(sortRows(t, all, 2, true)).toEqual([2, 0, 3, 1]);
    expect(sortRows(t, all, 3, false)).toEqual([0, 2, 1, 3]);
    expect(sortRows(t, all, 9, false)).toEqual(all);
  });
});

describe("environment", () => {
  it("shows the command line, quoting where needed", () => {
    expect(
      commandLine({ program: "train.py", args: ["--lr", "0.1", "a b"], executable: "/usr/bin/python3" }),
    ).toBe("python train.py --lr 0.1 'a b'");
    expect(commandLine({})).toBe("");
  });
});
