import { describe, expect, it } from "vitest";
import {
  type ChartFigure,
  type ChartSpec,
  cellText,
  chartFigure,
  chartKeyOf,
  chartSpec,
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
  overlayCharts,
  overlayFigure,
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

describe("custom charts", () => {
  const visualize = (
    id: string,
    fields: Record<string, string | null>,
    strings: Record<string, string> = {},
  ) => ({
    panel_type: "Vega2",
    panel_config: {
      panelDefId: id,
      fieldSettings: fields,
      stringSettings: strings,
      transform: { name: "tableWithLeafColNames" },
      userQuery: { queryFields: [{ name: "runSets" }] },
    },
  });
  const cm = visualize(
    "wandb/confusion_matrix/v1",
    { Actual: "Actual", Predicted: "Predicted", nPredictions: "nPredictions" },
    { title: "Confusion Matrix Curve" },
  );
  const figure = (spec: ChartSpec | null, columns: string[], data: unknown[][]): ChartFigure => {
    if (!spec) throw new Error("no spec");
    const f = chartFigure(spec, { columns, data });
    if ("error" in f) throw new Error(f.error);
    return f;
  };
  const spec = (id: string, fields: Record<string, string | null>, strings: Record<string, string> = {}) => ({
    id,
    fields,
    strings,
  });
  type Trace = { type: string; mode?: string; name?: string; x: unknown[]; y: unknown[]; z?: number[][] };
  const traces = (f: ChartFigure) => f.data as Trace[];
  const title = (f: ChartFigure, ax?: "xaxis" | "yaxis") =>
    ((ax ? (f.layout[ax] as Record<string, unknown>) : f.layout).title as { text: string }).text;

  it("finds the chart key of a table key", () => {
    expect(chartKeyOf("cm_table")).toBe("cm");
    expect(chartKeyOf("Custom Chart Tables/cm_table")).toBe("cm");
    expect(chartKeyOf("eval/pr.v2_table")).toBe("eval/pr.v2");
    expect(chartKeyOf("Custom Chart Tables/eval/cm_table")).toBe("eval/cm");
    expect(chartKeyOf("predictions")).toBeNull();
    expect(chartKeyOf("_table")).toBeNull();
  });

  it("reads the spec from the config, wrapped or not", () => {
    const want = {
      id: "wandb/confusion_matrix/v1",
      fields: { Actual: "Actual", Predicted: "Predicted", nPredictions: "nPredictions" },
      strings: { title: "Confusion Matrix Curve" },
    };
    expect(chartSpec({ _wandb: { visualize: { cm: cm } } }, "cm_table")).toEqual(want);
    // the official client: {"value": …} at the top level, and possibly below
    expect(chartSpec({ _wandb: { value: { visualize: { cm } }, desc: null } }, "cm_table")).toEqual(want);
    expect(
      chartSpec({ _wandb: { value: { visualize: { value: { cm: { value: cm } } } } } }, "cm_table"),
    ).toEqual(want);
    // split_table, and keys with dots and slashes
    expect(
      chartSpec({ _wandb: { visualize: { "eval/cm.v1": cm } } }, "Custom Chart Tables/eval/cm.v1_table"),
    ).toEqual(want);
    expect(chartSpec({ _wandb: { visualize: { cm } } }, "other_table")).toBeNull();
    expect(chartSpec({ _wandb: { visualize: { cm } } }, "cm")).toBeNull();
    expect(chartSpec(undefined, "cm_table")).toBeNull();
    expect(chartSpec({ _wandb: { visualize: { cm: { panel_config: {} } } } }, "cm_table")).toBeNull();
  });

  it("keeps a field map that looks like a wrapper, and a chart named value", () => {
    const h = visualize("wandb/histogram/v0", { value: "score" }, { title: "Scores" });
    expect(chartSpec({ _wandb: { value: { visualize: { value: h } } } }, "value_table")).toEqual({
      id: "wandb/histogram/v0",
      fields: { value: "score" },
      strings: { title: "Scores" },
    });
    const line = visualize("wandb/line/v0", { x: "x", y: "y", stroke: null });
    expect(chartSpec({ _wandb: { visualize: { l: line } } }, "l_table")?.fields).toEqual({
      x: "x",
      y: "y",
      stroke: null,
    });
  });

  it("line: one line sorted by x, or one per stroke value", () => {
    const one = figure(
      spec("wandb/line/v0", { x: "epoch", y: "loss", stroke: null }, { title: "Loss" }),
      ["epoch", "loss"],
      [
        [2, 0.5],
        [0, 1],
        [1, 0.7],
        [3, null],
      ],
    );
    expect(traces(one)).toHaveLength(1);
    expect(traces(one)[0]).toMatchObject({ type: "scatter", mode: "lines", x: [0, 1, 2], y: [1, 0.7, 0.5] });
    expect(title(one)).toBe("Loss");
    expect(title(one, "xaxis")).toBe("epoch");
    expect(title(one, "yaxis")).toBe("loss");
    const split = figure(
      spec("wandb/line/v0", { x: "x", y: "y", stroke: "run" }),
      ["x", "y", "run"],
      [
        [1, 1, "b"],
        [0, 2, "a"],
        [0, 3, "b"],
      ],
    );
    expect(traces(split).map((t) => [t.name, t.x, t.y])).toEqual([
      ["b", [0, 1], [3, 1]],
      ["a", [0], [2]],
    ]);
    expect(split.layout.showlegend).toBe(true);
  });

  it("scatter: markers", () => {
    const f = figure(
      spec("wandb/scatter/v0", { x: "a", y: "b" }, { title: "A v B" }),
      ["a", "b"],
      [
        [1, 2],
        [3, 4],
      ],
    );
    expect(traces(f)[0]).toMatchObject({ type: "scatter", mode: "markers", x: [1, 3], y: [2, 4] });
    expect(title(f, "xaxis")).toBe("a");
  });

  it("bar: one horizontal bar per row", () => {
    const f = figure(
      spec("wandb/bar/v0", { label: "cls", value: "n" }),
      ["cls", "n"],
      [
        ["cat", 3],
        ["dog", 5],
      ],
    );
    expect(traces(f)[0]).toMatchObject({ type: "bar", orientation: "h", y: ["cat", "dog"], x: [3, 5] });
    expect(title(f, "yaxis")).toBe("cls");
    expect(title(f, "xaxis")).toBe("n");
  });

  it("histogram: the column's numbers", () => {
    const f = figure(
      spec("wandb/histogram/v0", { value: "score" }),
      ["score"],
      [[0.1], [0.2], [null], [0.2]],
    );
    expect(traces(f)[0]).toMatchObject({ type: "histogram", x: [0.1, 0.2, 0.2] });
    expect(title(f, "xaxis")).toBe("score");
  });

  it("lineseries: one line per key, x the step column", () => {
    const f = figure(
      spec(
        "wandb/lineseries/v0",
        { step: "step", lineKey: "lineKey", lineVal: "lineVal" },
        {
          title: "Losses",
          xname: "epoch",
        },
      ),
      ["step", "lineKey", "lineVal"],
      [
        [0, "train", 1],
        [1, "train", 0.5],
        [0, "val", 1.2],
        [2, "test", 0.9],
        [1, "val", 0.8],
      ],
    );
    expect(traces(f).map((t) => [t.name, t.x, t.y])).toEqual([
      ["train", [0, 1], [1, 0.5]],
      ["val", [0, 1], [1.2, 0.8]],
      ["test", [2], [0.9]],
    ]);
    expect(title(f, "xaxis")).toBe("epoch");
    expect(title(f)).toBe("Losses");
  });

  it("confusion matrix: actual × predicted counts in first-seen class order, annotated", () => {
    const f = figure(
      chartSpec({ _wandb: { visualize: { cm } } }, "cm_table"),
      ["Actual", "Predicted", "nPredictions"],
      [
        ["dog", "dog", 7],
        ["dog", "cat", 2],
        ["cat", "cat", 5],
        ["cat", "bird", 1],
        ["bird", "bird", 4],
      ],
    );
    const [hm] = traces(f);
    expect(hm.type).toBe("heatmap");
    expect(hm.x).toEqual(["dog", "cat", "bird"]);
    expect(hm.y).toEqual(["dog", "cat", "bird"]);
    expect(hm.z).toEqual([
      [7, 2, 0],
      [0, 5, 1],
      [0, 0, 4],
    ]);
    const notes = f.layout.annotations as { x: string; y: string; text: string }[];
    expect(notes).toHaveLength(9);
    expect(notes.find((a) => a.y === "dog" && a.x === "cat")?.text).toBe("2");
    expect(notes.find((a) => a.y === "bird" && a.x === "dog")?.text).toBe("0");
    expect(title(f)).toBe("Confusion Matrix Curve");
    expect(title(f, "xaxis")).toBe("Predicted");
    expect(title(f, "yaxis")).toBe("Actual");
    // v0 is drawn the same way
    const v0 = chartFigure(
      {
        ...(chartSpec({ _wandb: { visualize: { cm } } }, "cm_table") as ChartSpec),
        id: "wandb/confusion_matrix/v0",
      },
      {
        columns: ["Actual", "Predicted", "nPredictions"],
        data: [["a", "b", 1]],
      },
    );
    expect("error" in v0).toBe(false);
  });

  it("PR and ROC curves: one line per class on the unit square, in table order", () => {
    const f = figure(
      spec(
        "wandb/area-under-curve/v0",
        { x: "recall", y: "precision", class: "class" },
        {
          title: "Precision v. Recall",
          "x-axis-title": "Recall",
          "y-axis-title": "Precision",
        },
      ),
      ["class", "recall", "precision"],
      [
        ["cat", 1, 0.5],
        ["cat", 0.5, 0.8],
        ["dog", 1, 0.4],
        ["cat", 0, 1],
      ],
    );
    expect(traces(f).map((t) => [t.name, t.x, t.y])).toEqual([
      ["cat", [1, 0.5, 0], [0.5, 0.8, 1]],
      ["dog", [1], [0.4]],
    ]);
    expect(title(f, "xaxis")).toBe("Recall");
    expect(title(f, "yaxis")).toBe("Precision");
    expect((f.layout.xaxis as { range: number[] }).range).toEqual([0, 1]);
    expect((f.layout.yaxis as { range: number[] }).range).toEqual([0, 1]);
  });

  it("says why a chart cannot be drawn", () => {
    const t = { columns: ["x", "y"], data: [[1, 2]] };
    expect(chartFigure(spec("wandb/foo/v1", { x: "x" }), t)).toEqual({
      error: 'custom chart "wandb/foo/v1" is not supported here',
    });
    expect(chartFigure(spec("wandb/scatter/v0", { x: "x", y: "z" }), t)).toEqual({
      error: 'custom chart "wandb/scatter/v0": its table has no column "z"',
    });
    expect(chartFigure(spec("wandb/scatter/v0", { x: "x", y: null }), t)).toEqual({
      error: 'custom chart "wandb/scatter/v0": field "y" names no column',
    });
    expect(
      chartFigure(spec("wandb/scatter/v0", { x: "x", y: "y" }), { columns: ["x", "y"], data: [[1, "high"]] }),
    ).toEqual({
      error: 'custom chart "wandb/scatter/v0": column "y" holds "high", not a number',
    });
  });
});

describe("overlayFigure", () => {
  type Trace = {
    name: string;
    legendgroup: string;
    line: { color: string; dash: string };
    marker: { color: string };
  };
  const roc = (cls: string[]): ChartFigure => ({
    data: cls.map((c) => ({ type: "scatter", mode: "lines", name: c, x: [0, 1], y: [0, 1] })),
    layout: { title: { text: "ROC" }, showlegend: true, xaxis: { range: [0, 1] } },
  });

  it("colours each run's traces by the run and names them by run and class", () => {
    const f = overlayFigure([
      { name: "run-a", color: "#111111", figure: roc(["cat", "dog"]) },
      { name: "run-b", color: "#222222", figure: roc(["cat", "dog"]) },
    ]);
    const d = f.data as Trace[];
    expect(d.map((t) => t.name)).toEqual(["run-a · cat", "run-a · dog", "run-b · cat", "run-b · dog"]);
    expect(d.map((t) => t.line.color)).toEqual(["#111111", "#111111", "#222222", "#222222"]);
    expect(d.map((t) => t.line.dash)).toEqual(["solid", "dash", "solid", "dash"]);
    expect(d.map((t) => t.legendgroup)).toEqual(["run-a", "run-a", "run-b", "run-b"]);
    expect(f.layout).toMatchObject({ title: { text: "ROC" }, showlegend: true, xaxis: { range: [0, 1] } });
  });

  it("names a run's only trace by the run", () => {
    const one: ChartFigure = { data: [{ type: "scatter", mode: "markers", x: [1], y: [2] }], layout: {} };
    const f = overlayFigure([
      { name: "a", color: "#1", figure: one },
      { name: "b", color: "#2", figure: one },
    ]);
    expect((f.data as Trace[]).map((t) => [t.name, t.marker.color])).toEqual([
      ["a", "#1"],
      ["b", "#2"],
    ]);
    expect(f.layout.showlegend).toBe(true);
  });

  it("knows which presets overlay", () => {
    expect(overlayCharts.has("wandb/area-under-curve/v0")).toBe(true);
    expect(overlayCharts.has("wandb/confusion_matrix/v1")).toBe(false);
    expect(overlayCharts.has("wandb/bar/v0")).toBe(false);
  });
});
