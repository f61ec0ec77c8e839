// Non-numeric history values (wandb's media JSON, histograms, watch's layer
// norms) as pure functions, tested without a DOM: parsing the JSON shapes,
// re-binning histograms onto one grid for a heatmap, the colour scale, the
// step slider's nearest step, box geometry and the table viewer's sort and
// filter. The components in components/MediaPanels.tsx draw what these return.

/** What kind of panel a key gets, from the type the keys endpoint reports (absent = numeric). */
export type PanelKind =
  | "line"
  | "histogram"
  | "norms"
  | "image"
  | "table"
  | "html"
  | "plotly"
  | "audio"
  | "video"
  | "text"
  | "other";

export function panelKind(type: string | undefined): PanelKind {
  switch (type) {
    case undefined:
    case "":
    case "number":
      return "line";
    case "histogram":
      return "histogram";
    case "fluoro.layer-norms":
      return "norms";
    case "image-file":
    case "images/separated":
      return "image";
    case "table-file":
    case "partitioned-table":
    case "joined-table":
      return "table";
    case "html-file":
    case "html":
      return "html";
    case "plotly-file":
      return "plotly";
    case "audio-file":
    case "audio":
      return "audio";
    case "video-file":
    case "videos":
      return "video";
    case "string":
    case "bool":
      return "text";
    default:
      return "other";
  }
}

/** Kinds drawn as media with a step slider. */
export const mediaKinds: ReadonlySet<PanelKind> = new Set([
  "image",
  "table",
  "html",
  "plotly",
  "audio",
  "video",
  "other",
]);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** The URL of a run file for <img>/<iframe>/fetch (the session cookie authenticates). */
export function fileUrl(entity: string, project: string, run: string, path: string): string {
  const name = path
    .replace(/^\/+/, "")
    .split("/")
    .map((s) => encodeURIComponent(s))
    .join("/");
  return `/api/v1/projects/${encodeURIComponent(entity)}/${encodeURIComponent(project)}/runs/${encodeURIComponent(run)}/files/${name}`;
}

// ---------------------------------------------------------------- histograms

export interface Histogram {
  /** bin edges, one more than counts, ascending */
  edges: number[];
  counts: number[];
}

/**
 * A histogram value: wandb's `{"_type":"histogram","values":[n counts],"bins":[n+1 edges]}`
 * or its packed form `{"packedBins":{"min","size","count"},"values":[…]}`. Null when malformed.
 */
export function parseHistogram(v: unknown): Histogram | null {
  if (!isObj(v)) return null;
  const counts = Array.isArray(v.values) ? v.values.map((c) => (typeof c === "number" ? c : 0)) : null;
  if (!counts || counts.length === 0) return null;
  let edges: number[] | null = null;
  if (Array.isArray(v.bins) && v.bins.length === counts.length + 1) {
    edges = v.bins.map(Number);
  } else if (isObj(v.packedBins)) {
    const min = num(v.packedBins.min);
    const size = num(v.packedBins.size);
    if (min != null && size != null && size > 0)
      edges = counts.map((_, i) => min + i * size).concat(min + counts.length * size);
  }
  if (!edges || edges.some((e) => !Number.isFinite(e))) return null;
  return { edges, counts };
}

/**
 * Spreads a histogram's counts over `rows` equal bins between lo and hi, each
 * source bin's count shared in proportion to its overlap (a zero-width bin goes
 * whole into the row that holds it). Row 0 is lo.
 */
export function rebin(h: Histogram, lo: number, hi: number, rows: number): Float64Array {
  const out = new Float64Array(rows);
  const span = hi - lo;
  if (!(span > 0) || rows <= 0) {
    if (rows > 0) out[0] = h.counts.reduce((a, b) => a + b, 0);
    return out;
  }
  const w = span / rows;
  const rowOf = (x: number) => Math.min(rows - 1, Math.max(0, Math.floor((x - lo) / w)));
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i];
    if (!c) continue;
    const a = h.edges[i];
    const b = h.edges[i + 1];
    if (!(b > a)) {
      out[rowOf(a)] += c;
      continue;
    }
    const r0 = rowOf(a);
    const r1 = rowOf(b);
    if (r0 === r1) {
      out[r0] += c;
      continue;
    }
    for (let r = r0; r <= r1; r++) {
      const rlo = r === 0 ? Number.NEGATIVE_INFINITY : lo + r * w;
      const rhi = r === rows - 1 ? Number.POSITIVE_INFINITY : lo + (r + 1) * w;
      const overlap = Math.min(b, rhi) - Math.max(a, rlo);
      if (overlap > 0) out[r] += (c * overlap) / (b - a);
    }
  }
  return out;
}

export interface HeatGrid {
  /** one column per sample, in step order */
  steps: number[];
  rows: number;
  /** value range of the rows: row r covers lo + r·(hi−lo)/rows … */
  lo: number;
  hi: number;
  /** column-major: cells[col * rows + row] */
  cells: Float64Array;
  max: number;
}

/** Histograms over steps on one grid: the union of their ranges cut into `rows` bins. */
export function histogramGrid(steps: number[], hists: (Histogram | null)[], rows: number): HeatGrid {
  const cols: { step: number; h: Histogram }[] = [];
  for (let i = 0; i < steps.length; i++) {
    const h = hists[i];
    if (h) cols.push({ step: steps[i], h });
  }
  cols.sort((a, b) => a.step - b.step);
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const { h } of cols) {
    lo = Math.min(lo, h.edges[0]);
    hi = Math.max(hi, h.edges[h.edges.length - 1]);
  }
  if (!Number.isFinite(lo)) {
    lo = 0;
    hi = 1;
  } else if (!(hi > lo)) {
    // every value equal: a unit range around it, so the counts sit in the middle row
    lo -= 0.5;
    hi += 0.5;
  }
  const cells = new Float64Array(cols.length * rows);
  let max = 0;
  cols.forEach(({ h }, c) => {
    const col = rebin(h, lo, hi, rows);
    cells.set(col, c * rows);
    for (const v of col) if (v > max) max = v;
  });
  return { steps: cols.map((c) => c.step), rows, lo, hi, cells, max };
}

/** The value range a grid row covers. */
export function rowRange(g: Pick<HeatGrid, "lo" | "hi" | "rows">, row: number): [number, number] {
  const w = (g.hi - g.lo) / g.rows;
  return [g.lo + row * w, g.lo + (row + 1) * w];
}

// ---------------------------------------------------------------- colour

// Viridis, sampled at 9 stops (dark purple → yellow).
const stops: [number, number, number][] = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

/** Viridis colour at t in [0, 1] (clamped), as [r, g, b]. */
export function viridis(t: number): [number, number, number] {
  const x = Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 0;
  const f = x * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(f));
  const u = f - i;
  const a = stops[i];
  const b = stops[i + 1];
  return [
    Math.round(a[0] + (b[0] - a[0]) * u),
    Math.round(a[1] + (b[1] - a[1]) * u),
    Math.round(a[2] + (b[2] - a[2]) * u),
  ];
}

/** A count on a log scale: 0 for 0, 1 for max (log(1 + v) / log(1 + max)). */
export function logCount(v: number, max: number): number {
  if (!(v > 0) || !(max > 0)) return 0;
  return Math.log1p(v) / Math.log1p(max);
}

/** A positive value on a log scale between lo and hi (both > 0): 0 at lo, 1 at hi; NaN for v ≤ 0. */
export function logScale(v: number, lo: number, hi: number): number {
  if (!(v > 0)) return Number.NaN;
  if (!(hi > lo)) return 1;
  return (Math.log(v) - Math.log(lo)) / (Math.log(hi) - Math.log(lo));
}

// ---------------------------------------------------------------- layer norms

export interface NormsGrid {
  steps: number[];
  /** layer names in first-seen order (rows) */
  layers: string[];
  /** column-major: cells[col * layers.length + row]; NaN where a layer has no value */
  cells: Float64Array;
  /** smallest positive and largest finite norm */
  min: number;
  max: number;
}

/** `{"_type":"fluoro.layer-norms","names":[…],"values":[…]}` per step → a layers × steps grid. */
export function normsGrid(steps: number[], values: unknown[]): NormsGrid {
  const cols: { step: number; names: string[]; vals: number[] }[] = [];
  for (let i = 0; i < steps.length; i++) {
    const v = values[i];
    if (!isObj(v) || !Array.isArray(v.names) || !Array.isArray(v.values)) continue;
    cols.push({
      step: steps[i],
      names: v.names.map(String),
      vals: v.values.map((x) => (typeof x === "number" ? x : Number(x))),
    });
  }
  cols.sort((a, b) => a.step - b.step);
  const index = new Map<string, number>();
  for (const c of cols) for (const n of c.names) if (!index.has(n)) index.set(n, index.size);
  const rows = index.size;
  const cells = new Float64Array(cols.length * rows).fill(Number.NaN);
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  cols.forEach((c, ci) => {
    c.names.forEach((n, j) => {
      const x = c.vals[j];
      if (x == null || Number.isNaN(x)) return;
      cells[ci * rows + (index.get(n) as number)] = x;
      if (Number.isFinite(x)) {
        if (x > 0 && x < min) min = x;
        if (x > max) max = x;
      }
    });
  });
  if (!Number.isFinite(min)) min = max > 0 ? max : 1;
  return { steps: cols.map((c) => c.step), layers: [...index.keys()], cells, min, max: max || 1 };
}

// ---------------------------------------------------------------- step slider

/** Index of the step closest to target (ties: the lower step); -1 for none. steps ascending. */
export function nearestIndex(steps: ArrayLike<number>, target: number): number {
  const n = steps.length;
  if (n === 0) return -1;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (steps[mid] < target) lo = mid + 1;
    else hi = mid;
  }
  // lo: first step ≥ target (or the last)
  if (lo > 0 && Math.abs(steps[lo - 1] - target) <= Math.abs(steps[lo] - target)) return lo - 1;
  return lo;
}

/** The sorted distinct steps of several runs. */
export function unionSteps(lists: ArrayLike<number>[]): number[] {
  const s = new Set<number>();
  for (const l of lists) for (let i = 0; i < l.length; i++) s.add(l[i]);
  return [...s].sort((a, b) => a - b);
}

// ---------------------------------------------------------------- media JSON

export interface MaskRef {
  name: string;
  path: string;
  /** class id → label, when the mask carries them */
  labels: Record<number, string>;
}

export interface BoxesRef {
  name: string;
  /** the boxes2D JSON file (box_data, class_labels) */
  path?: string;
  /** boxes given inline */
  inline?: unknown;
}

export interface ImageMedia {
  kind: "image";
  path: string;
  width?: number;
  height?: number;
  caption?: string;
  masks: MaskRef[];
  boxes: BoxesRef[];
  /** class id → label from the image's classes (inline), merged with the masks' */
  classes: Record<number, string>;
  /** a classes file to fetch for labels */
  classesPath?: string;
}

export interface FileMedia {
  kind: "table" | "html" | "plotly" | "audio" | "video";
  path: string;
  caption?: string;
  width?: number;
  height?: number;
  nrows?: number;
  ncols?: number;
}

function labelMap(v: unknown): Record<number, string> {
  const out: Record<number, string> = {};
  if (Array.isArray(v)) {
    for (const c of v) if (isObj(c) && num(c.id) != null) out[num(c.id) as number] = String(c.name ?? c.id);
  } else if (isObj(v)) {
    for (const [k, name] of Object.entries(v)) {
      const id = Number(k);
      if (Number.isInteger(id)) out[id] = String(name);
    }
  }
  return out;
}

/** A classes file (`{"class_set":[{"id","name"}]}`) or inline labels → class id → label. */
export function parseClasses(v: unknown): Record<number, string> {
  return labelMap(isObj(v) && v.class_set != null ? v.class_set : v);
}

/**
 * Mask class labels the wandb client keeps in the run's config instead of the
 * mask JSON: `_wandb["mask/class_labels"]["{key}_wandb_delimeter_{mask}"]`
 * (each level possibly wrapped as `{"value": …}`).
 */
export function configMaskLabels(config: unknown, key: string, mask: string): Record<number, string> {
  const unwrap = (v: unknown) => (isObj(v) && "value" in v && Object.keys(v).length <= 2 ? v.value : v);
  const w = isObj(config) ? unwrap(config._wandb) : undefined;
  const all = isObj(w) ? unwrap(w["mask/class_labels"]) : undefined;
  const entry = isObj(all) ? unwrap(all[`${key}_wandb_delimeter_${mask}`]) : undefined;
  return labelMap(entry);
}

function masksOf(v: unknown): MaskRef[] {
  if (!isObj(v)) return [];
  const out: MaskRef[] = [];
  for (const [name, m] of Object.entries(v)) {
    if (!isObj(m)) continue;
    const path = str(m.path);
    if (path) out.push({ name, path, labels: labelMap(m.class_labels) });
  }
  return out;
}

function boxesOf(v: unknown): BoxesRef[] {
  if (!isObj(v)) return [];
  const out: BoxesRef[] = [];
  for (const [name, b] of Object.entries(v)) {
    if (!isObj(b)) continue;
    const path = str(b.path);
    if (path) out.push({ name, path });
    else if (Array.isArray(b.box_data)) out.push({ name, inline: b });
  }
  return out;
}

/** One image-file JSON → ImageMedia (null when it has no path). */
export function parseImage(v: unknown): ImageMedia | null {
  if (!isObj(v)) return null;
  const path = str(v.path);
  if (!path) return null;
  const masks = masksOf(v.masks);
  const classes: Record<number, string> = {};
  for (const m of masks) Object.assign(classes, m.labels);
  let classesPath: string | undefined;
  if (isObj(v.classes)) {
    if (str(v.classes.path)) classesPath = str(v.classes.path);
    else Object.assign(classes, labelMap(v.classes.class_set ?? v.classes));
  } else if (Array.isArray(v.classes)) Object.assign(classes, labelMap(v.classes));
  return {
    kind: "image",
    path,
    width: num(v.width),
    height: num(v.height),
    caption: v.caption != null ? String(v.caption) : undefined,
    masks,
    boxes: boxesOf(v.boxes),
    classes,
    classesPath,
  };
}

/** Images of one step: an image-file, or wandb's `images/separated` list of several. */
export function parseImages(v: unknown): ImageMedia[] {
  if (!isObj(v)) return [];
  if (v._type !== "images/separated") {
    const one = parseImage(v);
    return one ? [one] : [];
  }
  const files = Array.isArray(v.filenames) ? v.filenames : [];
  const captions = Array.isArray(v.captions) ? v.captions : [];
  const allMasks = Array.isArray(v.all_masks) ? v.all_masks : [];
  const allBoxes = Array.isArray(v.all_boxes) ? v.all_boxes : [];
  const out: ImageMedia[] = [];
  files.forEach((f, i) => {
    const img = parseImage({
      path: f,
      width: v.width,
      height: v.height,
      caption: captions[i] ?? undefined,
      masks: allMasks[i] ?? undefined,
      boxes: allBoxes[i] ?? undefined,
    });
    if (img) out.push(img);
  });
  return out;
}

const fileKinds: Record<string, FileMedia["kind"]> = {
  "table-file": "table",
  "partitioned-table": "table",
  "joined-table": "table",
  "html-file": "html",
  "plotly-file": "plotly",
  "audio-file": "audio",
  "video-file": "video",
};

/**
 * The files of one step: a single file media JSON, or wandb's lists of several
 * (`{"_type":"html","html":[…]}`, `{"_type":"audio","audio":[…],"captions"?}`,
 * `{"_type":"videos","videos":[…]}`).
 */
export function parseFileMediaList(v: unknown): FileMedia[] {
  if (!isObj(v)) return [];
  const list =
    v._type === "html" ? v.html : v._type === "audio" ? v.audio : v._type === "videos" ? v.videos : null;
  if (!Array.isArray(list)) {
    const one = parseFileMedia(v);
    return one ? [one] : [];
  }
  const captions = Array.isArray(v.captions) ? v.captions : [];
  const out: FileMedia[] = [];
  list.forEach((item, i) => {
    const f = parseFileMedia(item);
    if (!f) return;
    if (f.caption == null && captions[i]) f.caption = String(captions[i]);
    out.push(f);
  });
  return out;
}

/** A video file the browser shows as an image (wandb writes GIFs for arrays). */
export const isGif = (path: string) => /\.gif$/i.test(path);

/**
 * JSON, leniently: files written by the wandb client may hold bare NaN and
 * ±Infinity (Python's json), which JSON.parse refuses; they become the
 * strings "NaN", "Infinity", "-Infinity", as the API sends them.
 */
export function parseLenientJSON(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    const fixed = text.replace(/("(?:[^"\\]|\\.)*")|(-?Infinity|NaN)/g, (m, str) => (str ? m : `"${m}"`));
    if (fixed === text) throw e;
    return JSON.parse(fixed);
  }
}

/** A media JSON that points at one file (table, html, plotly, audio, video). */
export function parseFileMedia(v: unknown): FileMedia | null {
  if (!isObj(v)) return null;
  const kind = fileKinds[String(v._type)];
  const path = str(v.path);
  if (!kind || !path) return null;
  return {
    kind,
    path,
    caption: v.caption != null ? String(v.caption) : undefined,
    width: num(v.width),
    height: num(v.height),
    nrows: num(v.nrows),
    ncols: num(v.ncols),
  };
}

// ---------------------------------------------------------------- boxes

export interface Box {
  /** in image pixels */
  x: number;
  y: number;
  w: number;
  h: number;
  classId: number;
  caption: string;
  scores?: Record<string, number>;
}

export interface BoxSet {
  boxes: Box[];
  labels: Record<number, string>;
}

/**
 * A boxes2D value (`{"box_data":[…],"class_labels":{…}}`) in pixels of a
 * width × height image. Positions are `{minX,maxX,minY,maxY}` or
 * `{middle:[x,y],width,height}`, fractions of the image unless `domain` is "pixel".
 */
export function parseBoxes(v: unknown, width: number, height: number): BoxSet {
  const labels = isObj(v) ? labelMap(v.class_labels) : {};
  const boxes: Box[] = [];
  const data = isObj(v) && Array.isArray(v.box_data) ? v.box_data : [];
  for (const b of data) {
    if (!isObj(b) || !isObj(b.position)) continue;
    const p = b.position;
    let x0: number | undefined;
    let y0: number | undefined;
    let x1: number | undefined;
    let y1: number | undefined;
    if (Array.isArray(p.middle) && num(p.width) != null && num(p.height) != null) {
      const mx = Number(p.middle[0]);
      const my = Number(p.middle[1]);
      x0 = mx - (p.width as number) / 2;
      x1 = mx + (p.width as number) / 2;
      y0 = my - (p.height as number) / 2;
      y1 = my + (p.height as number) / 2;
    } else {
      x0 = num(p.minX);
      x1 = num(p.maxX);
      y0 = num(p.minY);
      y1 = num(p.maxY);
    }
    if (x0 == null || x1 == null || y0 == null || y1 == null || !Number.isFinite(x0 + x1 + y0 + y1)) continue;
    const sx = b.domain === "pixel" ? 1 : width;
    const sy = b.domain === "pixel" ? 1 : height;
    const classId = num(b.class_id) ?? 0;
    const scores: Record<string, number> = {};
    if (isObj(b.scores))
      for (const [k, s] of Object.entries(b.scores)) if (num(s) != null) scores[k] = s as number;
    boxes.push({
      x: Math.min(x0, x1) * sx,
      y: Math.min(y0, y1) * sy,
      w: Math.abs(x1 - x0) * sx,
      h: Math.abs(y1 - y0) * sy,
      classId,
      caption: b.box_caption != null ? String(b.box_caption) : (labels[classId] ?? ""),
      ...(Object.keys(scores).length ? { scores } : {}),
    });
  }
  return { boxes, labels };
}

const classPalette = [
  [230, 25, 75],
  [60, 180, 75],
  [255, 225, 25],
  [0, 130, 200],
  [245, 130, 48],
  [145, 30, 180],
  [70, 240, 240],
  [240, 50, 230],
  [210, 245, 60],
  [250, 190, 212],
  [0, 128, 128],
  [220, 190, 255],
  [170, 110, 40],
  [128, 0, 0],
  [170, 255, 195],
  [128, 128, 0],
] as const;

/** The colour of a class id (masks and boxes), as [r, g, b]. */
export function classColor(id: number): [number, number, number] {
  const c = classPalette[((id % classPalette.length) + classPalette.length) % classPalette.length];
  return [c[0], c[1], c[2]];
}

export const cssColor = ([r, g, b]: [number, number, number], a = 1) => `rgba(${r},${g},${b},${a})`;

/**
 * Whether a mask pixel's class is drawn: class 0 is background (left
 * transparent) unless the labels name it something other than "background".
 */
export function maskDrawn(id: number, labels: Record<number, string>): boolean {
  if (id !== 0) return true;
  const l = labels[0];
  return l != null && !/^(background|bg|none|_?unlabell?ed)$/i.test(l.trim());
}

/**
 * Colours a mask's class ids (one byte per pixel, e.g. the red channel of the
 * decoded PNG, stride 4) into RGBA with alpha; returns the count of pixels drawn.
 */
export function colorMask(
  src: ArrayLike<number>,
  dst: Uint8ClampedArray,
  labels: Record<number, string>,
  alpha = 140,
): number {
  let n = 0;
  const drawn = new Map<number, boolean>();
  for (let i = 0; i + 3 < src.length && i + 3 < dst.length; i += 4) {
    const id = src[i];
    let d = drawn.get(id);
    if (d == null) {
      d = maskDrawn(id, labels);
      drawn.set(id, d);
    }
    if (!d) {
      dst[i + 3] = 0;
      continue;
    }
    const [r, g, b] = classColor(id);
    dst[i] = r;
    dst[i + 1] = g;
    dst[i + 2] = b;
    dst[i + 3] = alpha;
    n++;
  }
  return n;
}

// ---------------------------------------------------------------- tables

export interface TableData {
  columns: string[];
  data: unknown[][];
}

/** A table file (`{"columns":[…],"data":[[…]]}`), padded to rectangular; null when malformed. */
export function parseTable(v: unknown): TableData | null {
  if (!isObj(v) || !Array.isArray(v.columns) || !Array.isArray(v.data)) return null;
  const columns = v.columns.map(String);
  const data = v.data
    .filter(Array.isArray)
    .map((r) =>
      r.length >= columns.length ? r : [...r, ...new Array(columns.length - r.length).fill(null)],
    );
  return { columns, data };
}

/** The text a cell is searched and shown by (media cells: their caption or file name). */
export function cellText(v: unknown): string {
  if (v == null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (isObj(v) && typeof v._type === "string") {
    if (v.caption != null) return String(v.caption);
    if (typeof v.path === "string") return v.path.split("/").pop() ?? "";
    return v._type;
  }
  return JSON.stringify(v);
}

/** Row indices matching a case-insensitive text filter on any cell. */
export function filterRows(t: TableData, q: string): number[] {
  const s = q.trim().toLowerCase();
  const out: number[] = [];
  t.data.forEach((r, i) => {
    if (!s || r.some((c) => cellText(c).toLowerCase().includes(s))) out.push(i);
  });
  return out;
}

function cmpCells(a: unknown, b: unknown): number {
  const an = a == null || a === "";
  const bn = b == null || b === "";
  if (an || bn) return an === bn ? 0 : an ? 1 : -1; // empty last
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b);
  return collator.compare(cellText(a), cellText(b));
}

// one collator for every comparison: localeCompare with options builds one per call (slow on big tables)
const collator = new Intl.Collator(undefined, { numeric: true });

/** Sorts row indices by a column (stable; empty cells last in both directions). */
export function sortRows(t: TableData, rows: number[], col: number, desc: boolean): number[] {
  if (col < 0 || col >= t.columns.length) return rows;
  return rows
    .map((r, i) => ({ r, i }))
    .sort((x, y) => {
      const a = t.data[x.r][col];
      const b = t.data[y.r][col];
      const ae = a == null || a === "";
      const be = b == null || b === "";
      if (ae || be) return ae === be ? x.i - y.i : ae ? 1 : -1;
      const c = cmpCells(a, b);
      return (desc ? -c : c) || x.i - y.i;
    })
    .map((x) => x.r);
}

// ---------------------------------------------------------------- custom charts

// wandb.plot.* (and fluoro.plot.*) log a table under "{key}_table" (or
// "Custom Chart Tables/{key}_table" with split_table) and put the chart's
// spec in the run config, at _wandb.visualize[key]: a Vega preset id
// (panelDefId), which table column feeds each of its fields, and its string
// constants. We draw the presets the client ships with Plotly instead of Vega.

export interface ChartSpec {
  /** the preset, e.g. "wandb/confusion_matrix/v1" */
  id: string;
  /** the preset's field → a column of the table (null: unset) */
  fields: Record<string, string | null>;
  /** the preset's string constants (title, axis titles) */
  strings: Record<string, string>;
}

const chartTableSuffix = "_table";
const chartTablePrefix = "Custom Chart Tables/";

/** The chart key of a custom chart's table key ("eval/cm_table" → "eval/cm"); null when not one. */
export function chartKeyOf(metric: string): string | null {
  if (!metric.endsWith(chartTableSuffix)) return null;
  let key = metric.slice(0, -chartTableSuffix.length);
  if (key.startsWith(chartTablePrefix)) key = key.slice(chartTablePrefix.length);
  return key || null;
}

/** `{"value": v}` or `{"value": v, "desc": …}`: how the wandb client wraps config values. */
const isWrapped = (v: Obj) => "value" in v && Object.keys(v).every((k) => k === "value" || k === "desc");

/**
 * v[key], looking through `{"value": …}` wrappers when v has no such key (a
 * chart may itself be named "value", so the key is tried before unwrapping).
 */
function member(v: unknown, key: string): unknown {
  for (let depth = 0; depth < 4 && isObj(v); depth++) {
    if (key in v) return v[key];
    if (!isWrapped(v)) return undefined;
    v = v.value;
  }
  return undefined;
}

/** A leaf (string, number, null) with its wrappers removed. */
function leaf(v: unknown): unknown {
  for (let depth = 0; depth < 4 && isObj(v) && isWrapped(v); depth++) v = v.value;
  return v;
}

/**
 * A map of leaves, unwrapped. `{"value": "score"}` is the histogram's field
 * map, not a wrapper: only an object inside "value" is unwrapped.
 */
function leafMap(v: unknown): Obj {
  for (let depth = 0; depth < 4 && isObj(v) && isWrapped(v) && isObj(v.value); depth++) v = v.value;
  return isObj(v) ? v : {};
}

/** The custom chart spec the run config holds for a table key; null when there is none. */
export function chartSpec(config: unknown, metric: string): ChartSpec | null {
  const key = chartKeyOf(metric);
  if (key == null) return null;
  const panel = member(member(member(member(config, "_wandb"), "visualize"), key), "panel_config");
  const id = leaf(member(panel, "panelDefId"));
  if (typeof id !== "string" || !id) return null;
  const fields: Record<string, string | null> = {};
  for (const [k, v] of Object.entries(leafMap(member(panel, "fieldSettings")))) {
    const c = leaf(v);
    fields[k] = c == null || c === "" ? null : String(c);
  }
  const strings: Record<string, string> = {};
  for (const [k, v] of Object.entries(leafMap(member(panel, "stringSettings")))) {
    const s = leaf(v);
    if (typeof s === "string" || typeof s === "number") strings[k] = String(s);
  }
  return { id, fields, strings };
}

/** A Plotly figure: traces and layout, as Plotly.newPlot takes them. */
export interface ChartFigure {
  data: unknown[];
  layout: Record<string, unknown>;
}

// Tableau 10: distinct on light and dark backgrounds.
export const chartColors = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
];

/** Annotating each cell of a confusion matrix past this many cells draws slowly and reads as noise. */
const maxAnnotatedCells = 900;

class ChartError extends Error {}

/** Reads a table through a chart spec's fields; throws ChartError with a message for the reader. */
function chartReader(spec: ChartSpec, table: TableData) {
  const name = (col: number) => table.columns[col];
  return {
    name,
    /** The column a field names; -1 for an unset optional field. */
    column(field: string, optional = false): number {
      const c = spec.fields[field];
      if (c == null) {
        if (optional) return -1;
        throw new ChartError(`custom chart "${spec.id}": field "${field}" names no column`);
      }
      const i = table.columns.indexOf(c);
      if (i < 0) throw new ChartError(`custom chart "${spec.id}": its table has no column "${c}"`);
      return i;
    },
    /** A column's numbers, null for gaps (null, NaN, ±Infinity, as numbers or as the API's strings). */
    numbers(col: number): (number | null)[] {
      return table.data.map((row) => {
        const v = row[col];
        if (v == null || v === "NaN" || v === "Infinity" || v === "-Infinity") return null;
        if (typeof v === "number") return Number.isFinite(v) ? v : null;
        const shown = JSON.stringify(cellText(v).slice(0, 40));
        throw new ChartError(`custom chart "${spec.id}": column "${name(col)}" holds ${shown}, not a number`);
      });
    },
    /** A column's cells as text (class names, line keys, bar labels). */
    labels(col: number): string[] {
      return table.data.map((row) => cellText(row[col]));
    },
  };
}

type ChartReader = ReturnType<typeof chartReader>;

/** Rows split by a key column (-1: one group named ""), groups in order of first appearance. */
function groupRows(keys: string[] | null, n: number): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const k = keys ? keys[i] : "";
    let g = out.get(k);
    if (!g) {
      g = [];
      out.set(k, g);
    }
    g.push(i);
  }
  return out;
}

/** One line per group, through the rows with both coordinates (sorted by x when asked). */
function lines(
  groups: Map<string, number[]>,
  xs: (number | null)[],
  ys: (number | null)[],
  sortX: boolean,
): unknown[] {
  return [...groups].map(([name, rows]) => {
    const kept = rows.filter((r) => xs[r] != null && ys[r] != null);
    if (sortX) kept.sort((a, b) => (xs[a] as number) - (xs[b] as number));
    return {
      type: "scatter",
      mode: "lines",
      name,
      x: kept.map((r) => xs[r]),
      y: kept.map((r) => ys[r]),
    };
  });
}

const axis = (title: string | undefined, extra: Record<string, unknown> = {}) => ({
  title: { text: title ?? "" },
  gridcolor: "rgba(128,128,128,0.2)",
  zeroline: false,
  automargin: true,
  ...extra,
});

function layout(
  spec: ChartSpec,
  x: string | undefined,
  y: string | undefined,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const title = spec.strings.title ?? "";
  return {
    title: { text: title },
    xaxis: axis(x),
    yaxis: axis(y),
    margin: { l: 48, r: 16, t: title ? 40 : 16, b: 40 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
    colorway: chartColors,
    hovermode: "closest",
    showlegend: false,
    ...extra,
  };
}

/** A confusion matrix's cell colour scale: light (few) to dark blue (many). */
const matrixScale: [number, string][] = [
  [0, "#f7fbff"],
  [0.25, "#c6dbef"],
  [0.5, "#6baed6"],
  [0.75, "#2171b5"],
  [1, "#08306b"],
];

function confusionMatrix(spec: ChartSpec, t: ChartReader, n: number): ChartFigure {
  const actual = t.labels(t.column("Actual"));
  const predicted = t.labels(t.column("Predicted"));
  const counts = t.numbers(t.column("nPredictions"));
  const index = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    if (!index.has(actual[i])) index.set(actual[i], index.size);
    if (!index.has(predicted[i])) index.set(predicted[i], index.size);
  }
  const classes = [...index.keys()];
  const z = classes.map(() => classes.map(() => 0));
  for (let i = 0; i < n; i++)
    z[index.get(actual[i]) as number][index.get(predicted[i]) as number] += counts[i] ?? 0;
  let max = 0;
  for (const row of z) for (const c of row) max = Math.max(max, c);
  const annotations: unknown[] = [];
  if (classes.length ** 2 <= maxAnnotatedCells)
    for (let a = 0; a < classes.length; a++)
      for (let p = 0; p < classes.length; p++) {
        const c = z[a][p];
        annotations.push({
          x: classes[p],
          y: classes[a],
          text: String(+c.toPrecision(6)),
          showarrow: false,
          // white on the dark half of the scale
          font: { color: max > 0 && c / max > 0.5 ? "#ffffff" : "#1d2128" },
        });
      }
  return {
    data: [
      {
        type: "heatmap",
        x: classes,
        y: classes,
        z,
        zmin: 0,
        colorscale: matrixScale,
        hovertemplate: "Actual %{y}<br>Predicted %{x}<br>%{z}<extra></extra>",
      },
    ],
    layout: layout(spec, "Predicted", "Actual", {
      xaxis: axis("Predicted", { type: "category", showgrid: false }),
      // the first class at the top, as in a printed matrix
      yaxis: axis("Actual", { type: "category", autorange: "reversed", showgrid: false }),
      annotations,
    }),
  };
}

/**
 * The Plotly figure of a custom chart preset drawn from its table, or why
 * it cannot be drawn (an unknown preset, a missing column, text where
 * numbers are needed).
 */
export function chartFigure(spec: ChartSpec, table: TableData): ChartFigure | { error: string } {
  const t = chartReader(spec, table);
  const n = table.data.length;
  const s = spec.strings;
  try {
    switch (spec.id) {
      case "wandb/line/v0": {
        const x = t.column("x");
        const y = t.column("y");
        const stroke = t.column("stroke", true);
        const groups = groupRows(stroke >= 0 ? t.labels(stroke) : null, n);
        return {
          data: lines(groups, t.numbers(x), t.numbers(y), true),
          layout: layout(spec, t.name(x), t.name(y), { showlegend: stroke >= 0 }),
        };
      }
      case "wandb/scatter/v0": {
        const x = t.column("x");
        const y = t.column("y");
        const xs = t.numbers(x);
        const ys = t.numbers(y);
        const rows = xs.map((_, i) => i).filter((i) => xs[i] != null && ys[i] != null);
        return {
          data: [
            {
              type: "scatter",
              mode: "markers",
              x: rows.map((i) => xs[i]),
              y: rows.map((i) => ys[i]),
              marker: { size: 7, opacity: 0.8 },
            },
          ],
          layout: layout(spec, t.name(x), t.name(y)),
        };
      }
      case "wandb/bar/v0": {
        const label = t.column("label");
        const value = t.column("value");
        const labels = t.labels(label);
        const values = t.numbers(value);
        return {
          // horizontal, the first row at the top, as W&B draws it
          data: [{ type: "bar", orientation: "h", y: labels, x: values }],
          layout: layout(spec, t.name(value), t.name(label), {
            yaxis: axis(t.name(label), { type: "category", autorange: "reversed" }),
          }),
        };
      }
      case "wandb/histogram/v0": {
        const value = t.column("value");
        const values = t.numbers(value).filter((v) => v != null);
        return {
          data: [{ type: "histogram", x: values }],
          layout: layout(spec, t.name(value), "count", { bargap: 0.05 }),
        };
      }
      case "wandb/lineseries/v0": {
        const step = t.column("step");
        const key = t.column("lineKey");
        const val = t.column("lineVal");
        const groups = groupRows(t.labels(key), n);
        return {
          data: lines(groups, t.numbers(step), t.numbers(val), true),
          layout: layout(spec, s.xname ?? t.name(step), "", { showlegend: true }),
        };
      }
      case "wandb/confusion_matrix/v0":
      case "wandb/confusion_matrix/v1":
        return confusionMatrix(spec, t, n);
      case "wandb/area-under-curve/v0": {
        const x = t.column("x");
        const y = t.column("y");
        const cls = t.column("class");
        // the curve's points in table order: a PR curve goes back along x
        const data = lines(groupRows(t.labels(cls), n), t.numbers(x), t.numbers(y), false);
        return {
          data,
          layout: layout(spec, s["x-axis-title"] ?? t.name(x), s["y-axis-title"] ?? t.name(y), {
            xaxis: axis(s["x-axis-title"] ?? t.name(x), { range: [0, 1] }),
            yaxis: axis(s["y-axis-title"] ?? t.name(y), { range: [0, 1] }),
            showlegend: true,
          }),
        };
      }
      default:
        return { error: `custom chart "${spec.id}" is not supported here` };
    }
  } catch (e) {
    if (e instanceof ChartError) return { error: e.message };
    throw e;
  }
}

// ---------------------------------------------------------------- environment

/** fluoro-metadata.json, as written by the SDK (every field optional). */
export interface Metadata {
  host?: string;
  os?: string;
  python?: string;
  python_implementation?: string;
  program?: string;
  args?: string[];
  executable?: string;
  cwd?: string;
  started_at?: string;
  sdk?: string;
  git?: { remote?: string; branch?: string; commit?: string; dirty?: boolean };
  cpu_count?: number;
  cpu_count_usable?: number;
  memory_total_gb?: number;
  cuda_visible_devices?: string;
  gpu_count?: number;
  gpu?: string;
  gpus?: Record<string, unknown>[];
  slurm?: Record<string, string>;
  packages?: string[];
  [k: string]: unknown;
}

/** Quotes a shell argument when it needs it (for the command line shown). */
export function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'"'"'`)}'`;
}

/** The command that started the run, as a shell line. */
export function commandLine(m: Metadata): string {
  if (!m.program) return "";
  const py = m.executable ? "python" : "";
  return [py, m.program, ...(m.args ?? [])]
    .filter(Boolean)
    .map((a) => shellQuote(String(a)))
    .join(" ");
}

/** Presets whose charts of several runs can share one plot (curves and points, not matrices or bars). */
export const overlayCharts: ReadonlySet<string> = new Set([
  "wandb/line/v0",
  "wandb/scatter/v0",
  "wandb/lineseries/v0",
  "wandb/area-under-curve/v0",
]);

const dashes = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"];

/**
 * Several runs' figures of one overlayable preset as one figure: each run's
 * traces in the run's colour, named by the run (and the trace's own name,
 * a class or line key, when the run has several, told apart by dash), one
 * legend group per run. The layout is the first figure's, with a legend.
 */
export function overlayFigure(runs: { name: string; color: string; figure: ChartFigure }[]): ChartFigure {
  const data: unknown[] = [];
  for (const r of runs) {
    const traces = r.figure.data as Record<string, unknown>[];
    traces.forEach((t, j) => {
      const own = typeof t.name === "string" && t.name !== "" ? t.name : "";
      const style = { color: r.color };
      data.push({
        ...t,
        name: traces.length > 1 && own ? `${r.name} · ${own}` : r.name,
        legendgroup: r.name,
        line: { ...(t.line as object | undefined), ...style, dash: dashes[j % dashes.length] },
        marker: { ...(t.marker as object | undefined), ...style },
      });
    });
  }
  const first = runs[0]?.figure.layout ?? {};
  return { data, layout: { ...first, showlegend: true } };
}
