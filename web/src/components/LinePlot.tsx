// One line panel: fetches its key for the drawn runs when it first scrolls
// into view, and draws with uPlot. The chart is created once per shape
// (lines, axis kind, log scale) and fed with setData afterwards, so live
// updates and smoothing changes do not rebuild it. Hover legend, zoom and
// markers are driven imperatively, off React's render path.

import { useEffect, useLayoutEffect, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { api } from "../api";
import {
  buildPanelData,
  lineOptions,
  type PanelData,
  pointsFor,
  type Series,
  stepRange,
  type Theme,
  xLabel,
} from "../chart";
import { runColor } from "../colors";
import { formatValue } from "../format";
import { type Band, buildGroupPanelData, type RunGroup } from "../group";
import type { Smoothing } from "../smoothing";
import { useColorScheme } from "../theme";
import type { XAxis } from "../url";
import { RemovePanel } from "./RemovePanel";

export interface PlotView {
  x: XAxis;
  smoothing: Smoothing;
  logY: boolean;
  zoom: [number, number] | null;
}

interface Props {
  entity: string;
  project: string;
  metric: string;
  runs: string[];
  names: Map<string, string>;
  runStart: Map<string, number>;
  view: PlotView;
  /** bumped when new points arrived for this key */
  version: number;
  onZoom: (range: [number, number] | null) => void;
  height?: number;
  /** draw these groups of runs as mean lines with a band, instead of one line per run */
  groups?: RunGroup[] | null;
  band?: Band;
  /** series already loaded (system metrics): nothing is fetched, and zoom is local to the panel */
  data?: Series[];
  /** identifies the panel in the DOM (custom panels); defaults to the metric */
  panelId?: string;
  /** shows a remove button */
  onRemove?: () => void;
  /** what the panel header adds after the title (e.g. "log y") */
  note?: string;
}

function theme(): Theme {
  const css = getComputedStyle(document.documentElement);
  return {
    axis: css.getPropertyValue("--muted").trim() || "#666",
    grid: css.getPropertyValue("--grid").trim() || "#8883",
    font: "11px system-ui, sans-serif",
  };
}

export function LinePlot(p: Props) {
  const box = useRef<HTMLDivElement>(null);
  const plotEl = useRef<HTMLDivElement>(null);
  const legend = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const shape = useRef("");
  const pdRef = useRef<PanelData | null>(null);
  const fetches = useRef(0);
  const [visible, setVisible] = useState(false);
  // What is drawn: fetched (or given) series, kept off React's state so that
  // data arriving draws at once, imperatively; `series` only says whether
  // anything came (placeholders).
  const data = useRef<{ series: Series[]; xSeries: Series[] | null } | null>(null);
  const draw = useRef(() => {});
  const scheme = useColorScheme();
  const [series, setSeries] = useState<Series[] | null>(null);
  const [error, setError] = useState("");
  const [meta, setMeta] = useState({ sampled: false, nonFinite: 0 });
  const height = p.height ?? 200;
  const onZoom = useRef(p.onZoom);
  onZoom.current = p.onZoom;
  const zoomed = useRef(false);
  zoomed.current = p.view.zoom != null;

  // Render lazily: only once the panel scrolls near the viewport. A panel
  // already there when it mounts starts at once (its fetch goes out in the
  // same task), not a frame later from the observer.
  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.top < innerHeight + 200 && r.bottom > -200) {
      setVisible(true);
      return;
    }
    const io = new IntersectionObserver(
      (es) => {
        if (es.some((e) => e.isIntersecting)) {
          setVisible(true);
          io.disconnect();
        }
      },
      { rootMargin: "200px" },
    );
    io.observe(el);
    return () => io.disconnect();
  }, []);

  // The set of runs decides what is fetched; their order only how it is drawn
  // (the runs table's order arrives after the runs named in the URL).
  const runsKey = [...p.runs].sort().join(",");
  const zoomKey = p.view.zoom ? p.view.zoom.join("..") : "";
  const xKey = p.view.x.startsWith("key:") ? p.view.x.slice(4) : "";
  // Wall and relative time need the points' times; other axes only steps and values.
  const needTimes = p.view.x === "wall" || p.view.x === "rel";
  // biome-ignore lint/correctness/useExhaustiveDependencies: refetch on these inputs only
  useEffect(() => {
    if (!visible || p.data) return;
    if (p.runs.length === 0) {
      data.current = { series: [], xSeries: null };
      draw.current();
      setSeries([]);
      return;
    }
    const ctl = new AbortController();
    const width = box.current?.clientWidth ?? 600;
    const q = {
      runs: p.runs,
      points: pointsFor(width - yAxisWidth), // a bucket per pixel column of the plot area
      minStep: p.view.zoom?.[0],
      maxStep: p.view.zoom?.[1],
    };
    fetches.current++;
    if (box.current) {
      box.current.dataset.fetches = String(fetches.current);
      box.current.dataset.range = zoomKey;
    }
    const keys = xKey && xKey !== p.metric ? [p.metric, xKey] : [p.metric];
    const fields = needTimes ? undefined : (["steps", "values"] as ("steps" | "values")[]);
    api
      .history(p.entity, p.project, { ...q, keys, fields }, ctl.signal)
      .then((all) => {
        if (ctl.signal.aborted) return; // superseded while it was read
        const mine = all.filter((s) => s.key === p.metric);
        data.current = { series: mine, xSeries: xKey ? all.filter((s) => s.key === xKey) : null };
        draw.current();
        setError("");
        setSeries(mine);
      })
      .catch((e: Error) => {
        if (e.name !== "AbortError") setError(e.message);
      });
    return () => ctl.abort();
  }, [visible, p.entity, p.project, p.metric, runsKey, zoomKey, xKey, needTimes, p.version]);

  useEffect(() => {
    if (!p.data || !visible) return;
    data.current = { series: p.data, xSeries: null };
    draw.current();
    setSeries(p.data);
  }, [p.data, visible]);

  // Build the data and draw: when data arrives (above) and when the view changes (below).
  draw.current = () => {
    const el = plotEl.current;
    if (!el || !data.current) return;
    const { series, xSeries } = data.current;
    const o = {
      x: p.view.x,
      smoothing: p.view.smoothing,
      logY: p.view.logY,
      runStart: p.runStart,
      runOrder: p.runs,
      xSeries: xSeries ? new Map(xSeries.map((s) => [s.run, s])) : undefined,
      // the plot area's pixel columns: the panel less the y axis
      columns: Math.max(100, (el.clientWidth || 400) - yAxisWidth),
    };
    const pd = p.groups
      ? buildGroupPanelData(series, { ...o, groups: p.groups, band: p.band ?? "minmax" })
      : buildPanelData(series, o);
    pdRef.current = pd;
    setMeta((m) =>
      m.sampled === pd.sampled && m.nonFinite === pd.nonFinite.length
        ? m
        : { sampled: pd.sampled, nonFinite: pd.nonFinite.length },
    );
    const b = box.current;
    if (b) {
      b.dataset.series = String(new Set(pd.lines.map((l) => l.run)).size);
      b.dataset.bands = String(pd.lines.filter((l) => l.role === "hi").length);
      b.dataset.lines = String(pd.lines.length);
      b.dataset.points = String(pd.data[0].length);
      b.dataset.x = p.view.x;
      const xs = pd.data[0];
      b.dataset.xRange = xs.length ? `${xs[0]}..${xs[xs.length - 1]}` : "";
      b.dataset.sampled = String(pd.sampled);
      b.dataset.nonfinite = String(pd.nonFinite.length);
      // A digest for the tests, off the path to the first picture.
      const bb = b;
      idle(() => {
        if (pdRef.current === pd) bb.dataset.checksum = checksum(pd);
      });
      b.dataset.maxStep = String(Math.max(-1, ...series.map((s) => s.steps[s.steps.length - 1] ?? -1)));
    }
    // The scheme too: the axis and grid colours are read when the chart is built.
    const sig = `${pd.lines.map((l) => `${l.run}:${l.role}`).join(",")}|${p.view.x}|${p.view.logY}|${scheme}`;
    if (chart.current && shape.current === sig) {
      chart.current.setData(pd.data);
      return;
    }
    chart.current?.destroy();
    shape.current = sig;
    const th = theme();
    if (b) {
      b.dataset.scheme = scheme;
      b.dataset.axis = th.axis;
    }
    const opts = lineOptions({
      width: el.clientWidth || 400,
      height,
      lines: pd.lines,
      x: p.view.x,
      logY: p.view.logY,
      theme: th,
      names: p.names,
    });
    const local = !!p.data;
    opts.hooks = {
      setSelect: [
        (u) => {
          if (u.select.width < 3) return;
          const lo = u.posToVal(u.select.left, "x");
          const hi = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          if (local) {
            u.setScale("x", { min: lo, max: hi });
            return;
          }
          const cur = pdRef.current;
          const r = cur ? stepRange(cur, p.view.x, lo, hi) : null;
          if (r) onZoom.current(r);
        },
      ],
      setCursor: [(u) => renderLegend(u, legend.current, pdRef.current, p.names, p.view.x)],
      draw: [(u) => drawMarkers(u, pdRef.current)],
    };
    chart.current = new uPlot(opts, pd.data, el);
    // Double-click resets the zoom (uPlot's own reset would only rescale).
    const c = chart.current;
    chart.current.over.addEventListener("dblclick", () => {
      if (!local) return zoomed.current && onZoom.current(null);
      const xs = c.data[0];
      if (xs.length) c.setScale("x", { min: xs[0], max: xs[xs.length - 1] });
    });
  };
  // biome-ignore lint/correctness/useExhaustiveDependencies: redraw on these inputs (data draws itself)
  useEffect(() => {
    draw.current();
  }, [
    p.view.x,
    p.view.smoothing,
    p.view.logY,
    p.runStart,
    p.names,
    height,
    p.runs,
    p.groups,
    p.band,
    scheme,
  ]);

  useEffect(() => {
    const el = plotEl.current;
    if (!el) return;
    const ro = new ResizeObserver(() => {
      if (chart.current && el.clientWidth > 0) chart.current.setSize({ width: el.clientWidth, height });
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, [height]);

  useEffect(
    () => () => {
      chart.current?.destroy();
      chart.current = null;
    },
    [],
  );

  return (
    <div className="panel" ref={box} data-key={p.metric} data-panel={p.panelId ?? p.metric}>
      <div className="panel-head">
        <span className="panel-title" title={p.metric}>
          {p.metric}
        </span>
        {p.note && <span className="muted small">{p.note}</span>}
        {meta.sampled && (
          <span
            className="badge sampled"
            title="Downsampled on the server (M4: every bucket keeps its first, last, min and max, so spikes stay). Drag to zoom in for every point."
          >
            downsampled
          </span>
        )}
        {meta.nonFinite > 0 && (
          <span
            className="badge nonfinite"
            title="NaN or ±Inf values, drawn as markers at the top (NaN ●, +Inf ▲) or bottom (−Inf ▼)"
          >
            {meta.nonFinite} NaN/Inf
          </span>
        )}
        {p.view.zoom && !p.data && (
          <button
            type="button"
            className="link"
            onClick={() => p.onZoom(null)}
            title="Reset zoom (or double-click the chart)"
          >
            reset zoom
          </button>
        )}
        {p.onRemove && <RemovePanel metric={p.metric} onRemove={p.onRemove} />}
      </div>
      {error && <div className="error small">{error}</div>}
      <div className="plot" ref={plotEl} style={{ minHeight: height }}>
        {!visible || !series ? <div className="placeholder">loading…</div> : null}
        {series && series.length === 0 && p.runs.length > 0 ? (
          <div className="placeholder">no points for the drawn runs</div>
        ) : null}
      </div>
      <div className="legend" ref={legend} aria-live="off" />
    </div>
  );
}

const yAxisWidth = 56; // lineOptions' y axis size

/** Runs fn when the browser has a moment (soon, whatever happens). */
function idle(fn: () => void) {
  if (typeof requestIdleCallback === "function") requestIdleCallback(fn, { timeout: 500 });
  else setTimeout(fn, 50);
}

/** A stable digest of the drawn values, so tests can see the data change. */
function checksum(pd: PanelData): string {
  let s = 0;
  for (let c = 1; c < pd.data.length; c++) {
    const col = pd.data[c] as (number | null)[];
    for (let i = 0; i < col.length; i++) if (col[i] != null) s += (col[i] as number) * ((i % 7) + c);
  }
  return s.toPrecision(10);
}

function nearest(col: (number | null)[], idx: number): number | null {
  for (let d = 0; d < 64; d++) {
    const a = col[idx - d];
    if (a != null) return a;
    const b = col[idx + d];
    if (b != null) return b;
  }
  return null;
}

function renderLegend(
  u: uPlot,
  el: HTMLDivElement | null,
  pd: PanelData | null,
  names: Map<string, string>,
  x: XAxis,
) {
  if (!el || !pd) return;
  const idx = u.cursor.idx;
  if (idx == null) {
    el.replaceChildren();
    return;
  }
  const xv = (u.data[0] as ArrayLike<number>)[idx];
  const rows: { run: string; v: number }[] = [];
  pd.lines.forEach((l, i) => {
    if (l.role === "hi" || l.role === "lo") return; // a group's band: the legend shows its mean
    const smoothed = pd.lines[i + 1]?.run === l.run && pd.lines[i + 1]?.role === "smooth";
    if (smoothed) return; // show the smoothed value; the raw line is behind it
    const v = nearest(u.data[i + 1] as (number | null)[], idx);
    if (v != null) rows.push({ run: l.run, v });
  });
  rows.sort((a, b) => b.v - a.v);
  const head = document.createElement("div");
  head.className = "legend-x";
  head.textContent = `${xLabel(x)} ${x === "wall" ? new Date(xv * 1000).toLocaleString() : formatValue(xv)}`;
  const items = rows.slice(0, 12).map((r) => {
    const d = document.createElement("div");
    d.className = "legend-row";
    const sw = document.createElement("i");
    sw.style.background = runColor(r.run);
    const n = document.createElement("span");
    n.textContent = names.get(r.run) ?? r.run;
    const v = document.createElement("b");
    v.textContent = formatValue(r.v);
    d.append(sw, n, v);
    return d;
  });
  if (rows.length > 12) {
    const more = document.createElement("div");
    more.textContent = `+${rows.length - 12} more`;
    items.push(more);
  }
  el.replaceChildren(head, ...items);
}

function drawMarkers(u: uPlot, pd: PanelData | null) {
  if (!pd || pd.nonFinite.length === 0) return;
  const ctx = u.ctx;
  const { left, top, width, height } = u.bbox;
  ctx.save();
  const r = 4 * devicePixelRatio;
  for (const m of pd.nonFinite) {
    const cx = u.valToPos(m.x, "x", true);
    if (cx < left || cx > left + width) continue;
    ctx.fillStyle = runColor(m.run);
    ctx.beginPath();
    if (m.kind === "nan") {
      ctx.arc(cx, top + r, r, 0, 2 * Math.PI);
    } else if (m.kind === "inf") {
      ctx.moveTo(cx, top);
      ctx.lineTo(cx - r, top + 2 * r);
      ctx.lineTo(cx + r, top + 2 * r);
    } else {
      const b = top + height;
      ctx.moveTo(cx, b);
      ctx.lineTo(cx - r, b - 2 * r);
      ctx.lineTo(cx + r, b - 2 * r);
    }
    ctx.fill();
  }
  ctx.restore();
}
