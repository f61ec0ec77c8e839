// Panels for non-numeric keys: histograms over time and watch's layer norms
// as heatmaps on a canvas, media (images with masks and boxes, tables and the
// custom charts drawn from them, HTML, Plotly, audio, video) with a step
// slider, and the latest values of string keys. Each fetches its key for the
// drawn runs once it scrolls near the viewport, like the line panels; the
// pure parts live in media.ts.

import { useEffect, useMemo, useRef, useState } from "react";
import { api } from "../api";
import type { Series } from "../chart";
import { runColor } from "../colors";
import { formatValue } from "../format";
import {
  type BoxSet,
  type ChartFigure,
  type ChartSpec,
  cellText,
  chartFigure,
  chartKeyOf,
  chartSpec,
  classColor,
  colorMask,
  configMaskLabels,
  cssColor,
  type FileMedia,
  fileUrl,
  filterRows,
  type HeatGrid,
  histogramGrid,
  type ImageMedia,
  isGif,
  logCount,
  logScale,
  maskDrawn,
  type NormsGrid,
  nearestIndex,
  normsGrid,
  overlayCharts,
  overlayFigure,
  type PanelKind,
  parseBoxes,
  parseClasses,
  parseFileMedia,
  parseFileMediaList,
  parseHistogram,
  parseImages,
  parseTable,
  rowRange,
  sortRows,
  type TableData,
  unionSteps,
  viridis,
} from "../media";
import { useColorScheme } from "../theme";
import { RemovePanel } from "./RemovePanel";

/** Runs drawn in one media panel at most (the rest are counted in the header). */
const maxRuns = 6;

export interface MediaPanelProps {
  entity: string;
  project: string;
  metric: string;
  kind: PanelKind;
  /** the key's type from the keys endpoint (shown for kinds without a viewer) */
  type?: string;
  runs: string[];
  names: Map<string, string>;
  /** bumped when new points arrived for this key */
  version: number;
  zoom?: [number, number] | null;
  /** run configs (the wandb client keeps mask class labels and custom chart specs there) */
  configs?: Map<string, Record<string, unknown>>;
  panelId?: string;
  onRemove?: () => void;
}

function useVisible(ref: React.RefObject<HTMLElement | null>) {
  const [visible, setVisible] = useState(false);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
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
  }, [ref]);
  return visible;
}

function useWidth(ref: React.RefObject<HTMLElement | null>) {
  const [w, setW] = useState(0);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    setW(el.clientWidth);
    const ro = new ResizeObserver(() => setW(el.clientWidth));
    ro.observe(el);
    return () => ro.disconnect();
  }, [ref]);
  return w;
}

/** The key's history for the drawn runs (at most `points`, M4 keeps one value per bucket), steps ascending. */
function useSeries(p: MediaPanelProps, visible: boolean, points: number) {
  const [series, setSeries] = useState<Series[] | null>(null);
  const [error, setError] = useState("");
  const runs = p.runs.slice(0, maxRuns);
  const runsKey = runs.join(",");
  const zoomKey = p.zoom ? p.zoom.join("..") : "";
  // biome-ignore lint/correctness/useExhaustiveDependencies: refetch on these inputs only
  useEffect(() => {
    if (!visible) return;
    if (runs.length === 0) {
      setSeries([]);
      return;
    }
    const ctl = new AbortController();
    api
      .history(
        p.entity,
        p.project,
        { runs, keys: [p.metric], points, minStep: p.zoom?.[0], maxStep: p.zoom?.[1] },
        ctl.signal,
      )
      .then((all) => {
        setError("");
        const byRun = new Map(all.filter((s) => s.key === p.metric).map((s) => [s.run, sortSeries(s)]));
        setSeries(runs.map((r) => byRun.get(r)).filter((s): s is Series => !!s));
      })
      .catch((e: Error) => {
        if (e.name !== "AbortError") setError(e.message);
      });
    return () => ctl.abort();
  }, [visible, p.entity, p.project, p.metric, runsKey, zoomKey, points, p.version]);
  return { series, error };
}

function sortSeries(s: Series): Series {
  let sorted = true;
  for (let i = 1; i < s.steps.length; i++) if (s.steps[i] < s.steps[i - 1]) sorted = false;
  if (sorted) return s;
  const idx = s.steps.map((_, i) => i).sort((a, b) => s.steps[a] - s.steps[b]);
  return {
    ...s,
    steps: idx.map((i) => s.steps[i]),
    times: idx.map((i) => s.times[i]),
    values: idx.map((i) => s.values[i]),
  };
}

const kindLabel: Partial<Record<PanelKind, string>> = {
  histogram: "histogram",
  norms: "layer norms",
  image: "image",
  table: "table",
  html: "html",
  plotly: "plotly",
  audio: "audio",
  video: "video",
  text: "values",
};

function Frame(
  p: MediaPanelProps & {
    box: React.RefObject<HTMLDivElement | null>;
    error: string;
    children: React.ReactNode;
    wide?: boolean;
  },
) {
  const more = p.runs.length - maxRuns;
  // a custom chart's table is named by its chart, when the first drawn run has the chart's spec
  const chart =
    p.kind === "table" && p.runs.length > 0 && chartSpec(p.configs?.get(p.runs[0]), p.metric)
      ? chartKeyOf(p.metric)
      : null;
  return (
    <div
      className={`panel media-panel${p.wide ? " wide" : ""}`}
      ref={p.box}
      data-key={p.metric}
      data-panel={p.panelId ?? p.metric}
      data-kind={p.kind}
    >
      <div className="panel-head">
        <span className="panel-title" title={p.metric}>
          {chart ?? p.metric}
        </span>
        <span className="badge">{chart != null ? "chart" : (kindLabel[p.kind] ?? p.type ?? p.kind)}</span>
        {more > 0 && p.kind !== "text" && (
          <span className="muted small" title="Media panels show the first drawn runs">
            first {maxRuns} of {p.runs.length} runs
          </span>
        )}
        {p.onRemove && <RemovePanel metric={p.metric} onRemove={p.onRemove} />}
      </div>
      {p.error && <div className="error small">{p.error}</div>}
      {p.children}
    </div>
  );
}

/** One panel for a non-numeric key, by kind. */
export function MediaPanel(p: MediaPanelProps) {
  if (p.kind === "histogram" || p.kind === "norms") return <HeatPanel {...p} />;
  if (p.kind === "text") return <TextPanel {...p} />;
  return <StepMediaPanel {...p} />;
}

function RunLabel({ run, name, extra }: { run: string; name: string; extra?: React.ReactNode }) {
  return (
    <div className="run-label">
      <i style={{ background: runColor(run) }} />
      <span>{name}</span>
      {extra}
    </div>
  );
}

// ---------------------------------------------------------------- heatmaps

function HeatPanel(p: MediaPanelProps) {
  const box = useRef<HTMLDivElement>(null);
  const visible = useVisible(box);
  const width = useWidth(box);
  // about a column per 3 px (in steps of 20, so resizing rarely refetches): the server keeps
  // one value per bucket of 4 points. Layer norms carry every layer's name: fewer columns.
  const most = p.kind === "norms" ? 120 : 300;
  const cols = Math.max(40, Math.min(most, Math.round((width || 400) / 60) * 20));
  const { series, error } = useSeries(p, visible, cols * 4);
  return (
    <Frame {...p} box={box} error={error}>
      {!series ? (
        <div className="media-empty media-loading muted">loading…</div>
      ) : series.length === 0 ? (
        <div className="media-empty muted">no values for the drawn runs</div>
      ) : (
        series.map((s) =>
          p.kind === "histogram" ? (
            <HistogramHeat key={s.run} series={s} name={p.names.get(s.run) ?? s.run} />
          ) : (
            <NormsHeat key={s.run} series={s} name={p.names.get(s.run) ?? s.run} />
          ),
        )
      )}
    </Frame>
  );
}

const fmt = (v: number) => formatValue(+v.toPrecision(4));

function HistogramHeat({ series, name }: { series: Series; name: string }) {
  const grid = useMemo(
    () =>
      histogramGrid(
        series.steps,
        series.values.map((v) => parseHistogram(v)),
        48,
      ),
    [series],
  );
  if (grid.steps.length === 0)
    return <RunLabel run={series.run} name={name} extra={<em> no histograms</em>} />;
  return (
    <div className="heat-run" data-run={series.run}>
      <RunLabel run={series.run} name={name} />
      <div className="heat-body">
        <div className="heat-yaxis" style={{ width: 40 }}>
          <span>{fmt(grid.hi)}</span>
          <span>{fmt(grid.lo)}</span>
        </div>
        <Heatmap
          cols={grid.steps.length}
          rows={grid.rows}
          height={150}
          flipY
          color={(c, r) => histColor(grid, c, r)}
          hover={(c, r) => {
            const [a, b] = rowRange(grid, r);
            return `step ${grid.steps[c]} · bin ${fmt(a)} … ${fmt(b)} · count ${fmt(grid.cells[c * grid.rows + r])}`;
          }}
          data={grid}
        />
      </div>
      <StepAxis steps={grid.steps} indent={44} />
    </div>
  );
}

function histColor(g: HeatGrid, c: number, r: number): [number, number, number] | null {
  const v = g.cells[c * g.rows + r];
  return v > 0 ? viridis(0.08 + 0.92 * logCount(v, g.max)) : null;
}

function NormsHeat({ series, name }: { series: Series; name: string }) {
  const grid = useMemo(() => normsGrid(series.steps, series.values), [series]);
  const n = grid.layers.length;
  if (grid.steps.length === 0 || n === 0)
    return <RunLabel run={series.run} name={name} extra={<em> no layer norms</em>} />;
  // 8 px a layer up to 400 px, then thinner rows, but never under one CSS pixel, so no layer
  // is dropped when the map is scaled (1000 layers: 1000 px)
  const height = Math.max(80, Math.min(Math.max(400, n), n * 8));
  const last = grid.steps.length - 1;
  let hi = -1;
  let lo = -1;
  for (let r = 0; r < n; r++) {
    const v = grid.cells[last * n + r];
    if (!(v >= 0) || !Number.isFinite(v)) continue;
    if (hi < 0 || v > grid.cells[last * n + hi]) hi = r;
    if (lo < 0 || v < grid.cells[last * n + lo]) lo = r;
  }
  return (
    <div className="heat-run" data-run={series.run} data-layers={n}>
      <RunLabel run={series.run} name={name} extra={<span className="muted"> {n} layers</span>} />
      <div className="heat-body">
        <div className="heat-yaxis layers" style={{ width: 90 }}>
          <span title={grid.layers[0]}>{grid.layers[0]}</span>
          <span title={grid.layers[n - 1]}>{grid.layers[n - 1]}</span>
        </div>
        <Heatmap
          cols={grid.steps.length}
          rows={n}
          height={height}
          color={(c, r) => normColor(grid, c, r)}
          hover={(c, r) =>
            `${grid.layers[r]} · step ${grid.steps[c]} · norm ${formatValue(grid.cells[c * n + r])}`
          }
          data={grid}
        />
      </div>
      <StepAxis steps={grid.steps} indent={94} />
      <div className="colorbar small">
        <span>{formatValue(grid.min)}</span>
        <i />
        <span>{formatValue(grid.max)}</span>
        <span className="muted">(log)</span>
      </div>
      {hi >= 0 && (
        <div className="small muted norms-extremes">
          at step {grid.steps[last]}: largest <b>{grid.layers[hi]}</b>{" "}
          {formatValue(grid.cells[last * n + hi])}
          {lo !== hi && (
            <>
              , smallest <b>{grid.layers[lo]}</b> {formatValue(grid.cells[last * n + lo])}
            </>
          )}
        </div>
      )}
    </div>
  );
}

function normColor(g: NormsGrid, c: number, r: number): [number, number, number] | null {
  const v = g.cells[c * g.layers.length + r];
  if (Number.isNaN(v)) return null;
  if (!Number.isFinite(v)) return [220, 38, 38]; // inf: red
  if (v <= 0) return [0, 0, 0];
  return viridis(logScale(v, g.min, g.max));
}

function StepAxis({ steps, indent }: { steps: number[]; indent: number }) {
  return (
    <div className="heat-xaxis small muted" style={{ marginLeft: indent }}>
      <span>step {steps[0]}</span>
      <span>{steps[steps.length - 1]}</span>
    </div>
  );
}

/**
 * A cols × rows grid drawn on a canvas at its own resolution and scaled to
 * the panel, without smoothing. Hover reports the cell under the pointer.
 */
function Heatmap(p: {
  cols: number;
  rows: number;
  height: number;
  /** row 0 at the bottom */
  flipY?: boolean;
  color: (col: number, row: number) => [number, number, number] | null;
  hover: (col: number, row: number) => string;
  /** redraws when this changes */
  data: unknown;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const wrap = useRef<HTMLDivElement>(null);
  const width = useWidth(wrap);
  const [tip, setTip] = useState<{ x: number; y: number; text: string } | null>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: data stands for the colour function's inputs
  useEffect(() => {
    const cv = canvas.current;
    if (!cv || width === 0) return;
    const dpr = devicePixelRatio || 1;
    cv.width = Math.round(width * dpr);
    cv.height = Math.round(p.height * dpr);
    const off = document.createElement("canvas");
    off.width = p.cols;
    off.height = p.rows;
    const octx = off.getContext("2d");
    const ctx = cv.getContext("2d");
    if (!octx || !ctx) return;
    const img = octx.createImageData(p.cols, p.rows);
    let painted = 0;
    for (let c = 0; c < p.cols; c++) {
      for (let r = 0; r < p.rows; r++) {
        const rgb = p.color(c, r);
        if (!rgb) continue;
        const y = p.flipY ? p.rows - 1 - r : r;
        const i = (y * p.cols + c) * 4;
        img.data[i] = rgb[0];
        img.data[i + 1] = rgb[1];
        img.data[i + 2] = rgb[2];
        img.data[i + 3] = 255;
        painted++;
      }
    }
    octx.putImageData(img, 0, 0);
    ctx.clearRect(0, 0, cv.width, cv.height);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, 0, 0, cv.width, cv.height);
    cv.dataset.painted = String(painted);
  }, [width, p.cols, p.rows, p.height, p.flipY, p.data]);
  const onMove = (e: React.MouseEvent) => {
    const r = e.currentTarget.getBoundingClientRect();
    const x = e.clientX - r.left;
    const y = e.clientY - r.top;
    const col = Math.min(p.cols - 1, Math.max(0, Math.floor((x / r.width) * p.cols)));
    const yr = Math.min(p.rows - 1, Math.max(0, Math.floor((y / r.height) * p.rows)));
    const row = p.flipY ? p.rows - 1 - yr : yr;
    setTip({ x, y, text: p.hover(col, row) });
  };
  return (
    <div className="heatmap" ref={wrap} style={{ height: p.height }}>
      <canvas
        ref={canvas}
        style={{ width: "100%", height: p.height }}
        onMouseMove={onMove}
        onMouseLeave={() => setTip(null)}
      />
      {tip && (
        <div
          className="heat-tip"
          role="tooltip"
          style={{
            left: Math.min(tip.x + 10, Math.max(0, width - 220)),
            top: tip.y + 12,
          }}
        >
          {tip.text}
        </div>
      )}
    </div>
  );
}

// ---------------------------------------------------------------- text values

function TextPanel(p: MediaPanelProps) {
  const box = useRef<HTMLDivElement>(null);
  const visible = useVisible(box);
  const { index, error } = useStepIndex(p, visible);
  const series = index?.series ?? null;
  // each run's last logged step, and its value
  const wanted = (series ?? []).map((s) => ({ run: s.run, at: s.steps[s.steps.length - 1] ?? null }));
  const loadError = useValuesAt(p, index, wanted);
  return (
    <Frame {...p} box={box} error={error || loadError}>
      {!series ? (
        <div className="media-empty media-loading muted">loading…</div>
      ) : (
        <table className="kv latest" data-testid="latest-values">
          <tbody>
            {wanted.map(({ run, at }) => {
              const key = `${run}@${at}`;
              return (
                <tr key={run}>
                  <th>
                    <RunLabel run={run} name={p.names.get(run) ?? run} />
                  </th>
                  <td className="mono">{index?.cache.has(key) ? formatValue(index.cache.get(key)) : "…"}</td>
                  <td className="muted small">{at != null ? `step ${at}` : ""}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {series && series.length === 0 && <div className="media-empty muted">no values for the drawn runs</div>}
    </Frame>
  );
}

// ---------------------------------------------------------------- media with a step slider

/**
 * The steps that hold a value, per drawn run (`steps_only`: no values read),
 * and a cache of the values fetched so far ("run@step"). A server without
 * `steps_only` gets one request for up to 250 values per run instead.
 */
function useStepIndex(p: MediaPanelProps, visible: boolean) {
  const [index, setIndex] = useState<{ series: Series[]; cache: Map<string, unknown> } | null>(null);
  const [error, setError] = useState("");
  const runs = p.runs.slice(0, maxRuns);
  const runsKey = runs.join(",");
  const zoomKey = p.zoom ? p.zoom.join("..") : "";
  // biome-ignore lint/correctness/useExhaustiveDependencies: refetch on these inputs only
  useEffect(() => {
    if (!visible) return;
    if (runs.length === 0) {
      setIndex({ series: [], cache: new Map() });
      return;
    }
    const ctl = new AbortController();
    const range = { minStep: p.zoom?.[0], maxStep: p.zoom?.[1] };
    const ok = (series: Series[], cache = new Map<string, unknown>()) => {
      setError("");
      setIndex({ series: series.filter((s) => s.steps.length > 0).map(sortSeries), cache });
    };
    Promise.all(
      runs.map((r) =>
        api
          .runHistory(p.entity, p.project, r, { keys: [p.metric], stepsOnly: true, ...range }, ctl.signal)
          .then((ss) => ss.find((s) => s.key === p.metric && s.steps) ?? null),
      ),
    )
      .then((list) => ok(list.flatMap((s, i) => (s ? [{ ...s, run: s.run || runs[i] }] : []))))
      .catch(async (e: Error) => {
        if (e.name === "AbortError") return;
        try {
          const all = await api.history(
            p.entity,
            p.project,
            { runs, keys: [p.metric], points: 1000, ...range },
            ctl.signal,
          );
          const series = runs
            .map((r) => all.find((s) => s.run === r && s.key === p.metric))
            .filter((s): s is Series => !!s);
          const cache = new Map<string, unknown>();
          for (const s of series)
            for (let i = 0; i < s.steps.length; i++) cache.set(`${s.run}@${s.steps[i]}`, s.values[i]);
          ok(series, cache);
        } catch (e2) {
          if ((e2 as Error).name !== "AbortError") setError((e2 as Error).message);
        }
      });
    return () => ctl.abort();
  }, [visible, p.entity, p.project, p.metric, runsKey, zoomKey, p.version]);
  return { index, error };
}

/**
 * Fetches the values of `wanted` (run, step) missing from the index's cache:
 * one request per run (min_step = max_step), 60 ms after the last change (a
 * slider being dragged). Re-renders the caller when they arrive.
 */
function useValuesAt(
  p: MediaPanelProps,
  index: { cache: Map<string, unknown> } | null,
  wanted: { run: string; at: number | null }[],
): string {
  const wantedKey = wanted.map((w) => `${w.run}@${w.at}`).join(",");
  const [, setLoaded] = useState(0);
  const [retry, setRetry] = useState(0);
  const [loadError, setLoadError] = useState("");
  // biome-ignore lint/correctness/useExhaustiveDependencies: wantedKey stands for wanted
  useEffect(() => {
    if (!index) return;
    let absent = 0;
    const missing = wanted.filter((w) => w.at != null && !index.cache.has(`${w.run}@${w.at}`));
    if (missing.length === 0) return;
    const ctl = new AbortController();
    const t = setTimeout(() => {
      Promise.all(
        missing.map((w) =>
          api
            .runHistory(
              p.entity,
              p.project,
              w.run,
              { keys: [p.metric], minStep: w.at ?? 0, maxStep: w.at ?? 0 },
              ctl.signal,
            )
            .then((ss) => {
              const s = ss.find((x) => x.key === p.metric);
              const i = s ? s.steps.indexOf(w.at as number) : -1;
              if (i >= 0 && s) index.cache.set(`${w.run}@${w.at}`, s.values[i]);
              else absent++; // listed but not read back (yet): asked again below, a few times
            }),
        ),
      ).then(
        () => {
          setLoadError("");
          setLoaded((n) => n + 1);
          if (absent > 0 && retry < 5) setTimeout(() => !ctl.signal.aborted && setRetry((r) => r + 1), 500);
        },
        (e: Error) => e.name !== "AbortError" && setLoadError(e.message),
      );
    }, 60);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
  }, [index, wantedKey, p.entity, p.project, p.metric, retry]);
  return loadError;
}

function StepMediaPanel(p: MediaPanelProps) {
  const box = useRef<HTMLDivElement>(null);
  const visible = useVisible(box);
  const { index, error } = useStepIndex(p, visible);
  const series = index?.series ?? null;
  const steps = useMemo(() => unionSteps((series ?? []).map((s) => s.steps)), [series]);
  // null: follow the latest step (live updates move it)
  const [target, setTarget] = useState<number | null>(null);
  const [off, setOff] = useState<Set<string>>(() => new Set());
  const overlays = useMemo(() => ({ off, toggle: (k: string) => setOff((s) => toggled(s, k)) }), [off]);
  const idx = steps.length === 0 ? -1 : target == null ? steps.length - 1 : nearestIndex(steps, target);
  const step = idx >= 0 ? steps[idx] : null;
  // each run's nearest logged step to the slider's
  const wanted = (series ?? []).map((s) => {
    const i = step == null ? -1 : nearestIndex(s.steps, step);
    return { run: s.run, at: i >= 0 ? s.steps[i] : null };
  });
  const loadError = useValuesAt(p, index, wanted);
  const shown = useRef(new Map<string, { at: number; value: unknown }>());
  const wide = p.kind === "table" || p.kind === "html" || p.kind === "plotly";
  // Several runs' charts of one curve preset share a plot (their tables at the runs' steps).
  let overlay: OverlayItem[] | null = null;
  if (p.kind === "table" && wanted.length > 1) {
    const items: OverlayItem[] = [];
    for (const { run, at } of wanted) {
      const v = at != null ? index?.cache.get(`${run}@${at}`) : undefined;
      const f = v === undefined ? null : parseFileMedia(v);
      const spec = chartSpec(p.configs?.get(run), p.metric);
      if (f?.kind !== "table" || !spec || !overlayCharts.has(spec.id)) break;
      items.push({ run, name: p.names.get(run) ?? run, path: f.path, spec });
    }
    if (items.length === wanted.length && items.every((it) => it.spec.id === items[0].spec.id))
      overlay = items;
  }
  return (
    <Frame {...p} box={box} error={error || loadError} wide={wide}>
      {steps.length > 1 && (
        <div className="step-slider">
          <input
            type="range"
            aria-label={`Step of ${p.metric}`}
            min={0}
            max={steps.length - 1}
            value={idx}
            onChange={(e) => {
              const i = Number(e.target.value);
              setTarget(i === steps.length - 1 ? null : steps[i]);
            }}
          />
          <span className="num small">
            step {step} <span className="muted">({steps.length} logged)</span>
          </span>
        </div>
      )}
      {!series ? (
        <div className="media-empty media-loading muted">loading…</div>
      ) : series.length === 0 ? (
        <div className="media-empty muted">no values for the drawn runs</div>
      ) : overlay && !overlays.off.has("chart") ? (
        <ChartOverlay entity={p.entity} project={p.project} items={overlay} toggle={overlays.toggle} />
      ) : (
        <div className={`media-runs${wide ? " stacked" : ""}`}>
          {wanted.map(({ run, at }) => {
            const key = `${run}@${at}`;
            let cur: { at: number; value: unknown } | undefined;
            if (at != null && index?.cache.has(key)) {
              cur = { at, value: index.cache.get(key) };
              shown.current.set(run, cur);
            } else cur = shown.current.get(run); // the previous value until the new one arrives
            return (
              <div
                key={run}
                className={`media-run${cur && cur.at !== at ? " stale" : ""}`}
                data-run={run}
                data-step={cur?.at ?? ""}
              >
                {(series.length > 1 || at !== step) && (
                  <RunLabel
                    run={run}
                    name={p.names.get(run) ?? run}
                    extra={at !== step && at != null ? <span className="muted small"> step {at}</span> : null}
                  />
                )}
                {!cur ? (
                  <div className="media-empty media-loading muted">loading…</div>
                ) : (
                  <MediaValue
                    entity={p.entity}
                    project={p.project}
                    run={run}
                    metric={p.metric}
                    config={p.configs?.get(run)}
                    overlays={overlays}
                    kind={p.kind}
                    value={cur.value}
                  />
                )}
              </div>
            );
          })}
        </div>
      )}
    </Frame>
  );
}

function MediaValue(p: {
  entity: string;
  project: string;
  run: string;
  metric: string;
  kind: PanelKind;
  value: unknown;
  config?: Record<string, unknown>;
  overlays?: Overlays;
}) {
  // the wandb client's mask labels live in the run config: only that part, as a string, so
  // a config object refreshed by live updates does not rebuild the images (and refetch boxes)
  const maskConfig = useMemo(() => {
    const w = p.config?._wandb;
    return w ? JSON.stringify({ _wandb: w }) : "";
  }, [p.config]);
  const imgs = useMemo(() => {
    if (p.kind !== "image") return [];
    const cfg = maskConfig ? JSON.parse(maskConfig) : {};
    return parseImages(p.value).map((img) => {
      if (!cfg._wandb || img.masks.every((m) => Object.keys(m.labels).length > 0)) return img;
      const masks = img.masks.map((m) =>
        Object.keys(m.labels).length > 0 ? m : { ...m, labels: configMaskLabels(cfg, p.metric, m.name) },
      );
      const classes = { ...img.classes };
      for (const m of masks) Object.assign(classes, m.labels);
      return { ...img, masks, classes };
    });
  }, [p.kind, p.value, p.metric, maskConfig]);
  // a custom chart's spec, by value: a refreshed config with the same spec does not redraw
  const specJSON = useMemo(() => {
    const spec = p.kind === "table" ? chartSpec(p.config, p.metric) : null;
    return spec ? JSON.stringify(spec) : "";
  }, [p.kind, p.config, p.metric]);
  const spec = useMemo(() => (specJSON ? (JSON.parse(specJSON) as ChartSpec) : null), [specJSON]);
  if (p.kind === "image") {
    if (imgs.length === 0) return <Raw value={p.value} />;
    return (
      <div className="images">
        {imgs.map((img) => (
          <ImageView
            key={img.path}
            entity={p.entity}
            project={p.project}
            run={p.run}
            img={img}
            overlays={p.overlays}
          />
        ))}
      </div>
    );
  }
  const files = parseFileMediaList(p.value);
  if (files.length === 0) return <Raw value={p.value} />;
  return (
    <div className={files.length > 1 ? "media-list" : undefined}>
      {files.map((f) => (
        <FileView
          key={f.path}
          entity={p.entity}
          project={p.project}
          run={p.run}
          file={f}
          spec={spec}
          overlays={p.overlays}
        />
      ))}
    </div>
  );
}

function FileView({
  entity,
  project,
  run,
  file: f,
  spec,
  overlays,
}: {
  entity: string;
  project: string;
  run: string;
  file: FileMedia;
  /** a table's custom chart */
  spec?: ChartSpec | null;
  overlays?: Overlays;
}) {
  const url = (path: string) => fileUrl(entity, project, run, path);
  switch (f.kind) {
    case "table":
      return (
        <TableView entity={entity} project={project} run={run} file={f} spec={spec} overlays={overlays} />
      );
    case "html":
      return (
        <iframe
          className="media-html"
          title={f.path}
          // scripts run, in an opaque origin: never allow-same-origin (the page could call the API as the viewer)
          sandbox="allow-scripts"
          src={url(f.path)}
          loading="lazy"
        />
      );
    case "plotly":
      return <PlotlyView entity={entity} project={project} run={run} file={f} />;
    case "audio":
      return (
        <figure className="media-audio">
          {/* biome-ignore lint/a11y/useMediaCaption: logged audio has no caption track */}
          <audio controls preload="metadata" src={url(f.path)} />
          {f.caption && <figcaption>{f.caption}</figcaption>}
        </figure>
      );
    case "video":
      return (
        <figure className="media-video">
          {isGif(f.path) ? (
            <img src={url(f.path)} alt={f.caption ?? f.path} width={f.width} />
          ) : (
            // biome-ignore lint/a11y/useMediaCaption: logged video has no caption track
            <video controls preload="metadata" src={url(f.path)} width={f.width} />
          )}
          {f.caption && <figcaption>{f.caption}</figcaption>}
        </figure>
      );
  }
}

/**
 * What is switched off in a panel, shared by its runs and steps: mask and box
 * sets ("mask:NAME", "boxes:NAME"), and "chart" when custom charts show their table.
 */
interface Overlays {
  off: Set<string>;
  toggle: (k: string) => void;
}

function toggled(s: Set<string>, k: string): Set<string> {
  const n = new Set(s);
  if (n.has(k)) n.delete(k);
  else n.add(k);
  return n;
}

function Raw({ value }: { value: unknown }) {
  return <pre className="code media-raw">{JSON.stringify(value, null, 2)}</pre>;
}

// ---------------------------------------------------------------- images

function ImageView({
  entity,
  project,
  run,
  img,
  thumb,
  overlays,
}: {
  entity: string;
  project: string;
  run: string;
  img: ImageMedia;
  thumb?: boolean;
  /** which mask and box sets are hidden ("mask:NAME", "boxes:NAME"), shared by the panel's images and steps */
  overlays?: Overlays;
}) {
  const url = (path: string) => fileUrl(entity, project, run, path);
  const [size, setSize] = useState<{ w: number; h: number } | null>(
    img.width && img.height ? { w: img.width, h: img.height } : null,
  );
  const [ownOff, setOwnOff] = useState<Set<string>>(() => new Set());
  const off = overlays?.off ?? ownOff;
  const [boxes, setBoxes] = useState<Map<string, BoxSet>>(() => new Map());
  const [classes, setClasses] = useState<Record<number, string>>(img.classes);
  const wrap = useRef<HTMLDivElement>(null);
  const shownWidth = useWidth(wrap);
  // Boxes files and a classes file, fetched once the image's size is known.
  useEffect(() => {
    if (!size || thumb) return;
    const ctl = new AbortController();
    for (const b of img.boxes) {
      const got = b.path ? api.fileJSON(entity, project, run, b.path, ctl.signal) : Promise.resolve(b.inline);
      got.then(
        (v) => setBoxes((m) => new Map(m).set(b.name, parseBoxes(v, size.w, size.h))),
        () => {},
      );
    }
    if (img.classesPath)
      api.fileJSON(entity, project, run, img.classesPath, ctl.signal).then(
        (v) => setClasses((c) => ({ ...parseClasses(v), ...c })),
        () => {},
      );
    return () => ctl.abort();
  }, [entity, project, run, img, size, thumb]);
  const toggle = overlays?.toggle ?? ((k: string) => setOwnOff((s) => toggled(s, k)));
  if (thumb) return <img className="cell-img" src={url(img.path)} alt={img.caption ?? ""} loading="lazy" />;
  const labels: Record<number, string> = { ...classes };
  for (const s of boxes.values()) Object.assign(labels, s.labels);
  // class 0 is background unless named otherwise: not drawn, not in the legend
  const legend = Object.entries(labels)
    .map(([id, l]) => [Number(id), l] as const)
    .filter(([id]) => maskDrawn(id, labels));
  const shownMasks = img.masks.filter((m) => !off.has(`mask:${m.name}`));
  // box captions at about 11 CSS pixels, whatever the image's scale
  const px = size && shownWidth > 0 ? size.w / shownWidth : 1;
  return (
    <figure className="media-image" data-path={img.path}>
      <div
        className="img-wrap"
        ref={wrap}
        style={size ? { aspectRatio: `${size.w} / ${size.h}` } : undefined}
      >
        <img
          src={url(img.path)}
          alt={img.caption ?? img.path}
          // small images scale up with sharp pixels; large ones scale down smoothly
          style={{ imageRendering: size && shownWidth > size.w ? "pixelated" : "auto" }}
          onLoad={(e) => {
            const el = e.currentTarget;
            if (!size || size.w !== el.naturalWidth) setSize({ w: el.naturalWidth, h: el.naturalHeight });
          }}
        />
        {shownMasks.map((m) => (
          <MaskOverlay key={m.name} name={m.name} src={url(m.path)} labels={{ ...labels, ...m.labels }} />
        ))}
        {size && boxes.size > 0 && (
          <svg
            className="boxes"
            viewBox={`0 0 ${size.w} ${size.h}`}
            preserveAspectRatio="none"
            role="img"
            aria-label="bounding boxes"
          >
            {[...boxes]
              .filter(([name]) => !off.has(`boxes:${name}`))
              .flatMap(([name, set]) =>
                set.boxes.map((b, i) => {
                  const c = cssColor(classColor(b.classId));
                  const scores = b.scores
                    ? Object.entries(b.scores)
                        .map(([k, v]) => `${k}=${formatValue(v)}`)
                        .join(" ")
                    : "";
                  return (
                    // biome-ignore lint/suspicious/noArrayIndexKey: boxes have no id; the list is fixed per file
                    <g key={`${name}:${i}`} data-boxes={name}>
                      <rect
                        x={b.x}
                        y={b.y}
                        width={b.w}
                        height={b.h}
                        fill="none"
                        stroke={c}
                        strokeWidth={2}
                        vectorEffect="non-scaling-stroke"
                      />
                      {(b.caption || scores) && (
                        <BoxLabel
                          x={b.x}
                          y={b.y}
                          px={px}
                          color={c}
                          ink={luminance(classColor(b.classId)) > 150 ? "#000" : "#fff"}
                          text={[b.caption, scores].filter(Boolean).join(" ")}
                        />
                      )}
                    </g>
                  );
                }),
              )}
          </svg>
        )}
      </div>
      {img.caption && <figcaption>{img.caption}</figcaption>}
      {(img.masks.length > 0 || img.boxes.length > 0) && (
        <div className="overlay-tools small">
          {[...img.masks.map((m) => `mask ${m.name}`), ...img.boxes.map((b) => `boxes ${b.name}`)].map(
            (label) => {
              const id = label.replace(" ", ":");
              return (
                <label key={id}>
                  <input
                    type="checkbox"
                    aria-label={label}
                    checked={!off.has(id)}
                    onChange={() => toggle(id)}
                  />{" "}
                  {label}
                </label>
              );
            },
          )}
        </div>
      )}
      {legend.length > 0 && (
        <div className="class-legend small">
          {legend.map(([id, l]) => (
            <span key={id}>
              <i style={{ background: cssColor(classColor(id)) }} />
              {l}
            </span>
          ))}
        </div>
      )}
    </figure>
  );
}

const luminance = ([r, g, b]: [number, number, number]) => 0.299 * r + 0.587 * g + 0.114 * b;

/** A box's caption on the class colour, above the box (inside it at the image's top edge). */
function BoxLabel({
  x,
  y,
  px,
  color,
  ink,
  text,
}: {
  x: number;
  y: number;
  px: number;
  color: string;
  ink: string;
  text: string;
}) {
  const h = 14 * px;
  const w = (text.length * 6.2 + 6) * px; // about 11 px system-ui
  const top = y - h >= 0 ? y - h : y;
  return (
    <g>
      <rect x={x} y={top} width={w} height={h} fill={color} />
      <text x={x + 3 * px} y={top + 11 * px} fill={ink} fontSize={11 * px}>
        {text}
      </text>
    </g>
  );
}

/** A segmentation mask (class id per pixel) drawn as a coloured, translucent overlay. */
function MaskOverlay({ name, src, labels }: { name: string; src: string; labels: Record<number, string> }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const labelsKey = JSON.stringify(labels);
  // biome-ignore lint/correctness/useExhaustiveDependencies: labelsKey stands for labels
  useEffect(() => {
    let stale = false;
    const im = new Image();
    im.src = src;
    im.decode().then(
      () => {
        const cv = canvas.current;
        if (stale || !cv) return;
        cv.width = im.naturalWidth;
        cv.height = im.naturalHeight;
        const ctx = cv.getContext("2d", { willReadFrequently: true });
        if (!ctx) return;
        ctx.drawImage(im, 0, 0);
        const d = ctx.getImageData(0, 0, cv.width, cv.height);
        const n = colorMask(d.data, d.data, labels);
        ctx.putImageData(d, 0, 0);
        cv.dataset.pixels = String(n);
      },
      () => {
        if (canvas.current) canvas.current.dataset.pixels = "error";
      },
    );
    return () => {
      stale = true;
    };
  }, [src, labelsKey]);
  return <canvas ref={canvas} className="mask-overlay" data-mask={name} />;
}

// ---------------------------------------------------------------- tables

const pageSize = 20;

/** A table file, fetched and parsed. */
function useTableFile(entity: string, project: string, run: string, path: string) {
  const [table, setTable] = useState<TableData | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    const ctl = new AbortController();
    api.fileJSON(entity, project, run, path, ctl.signal).then(
      (v) => {
        const t = parseTable(v);
        if (t) setTable(t);
        else setError("not a table file");
      },
      (e: Error) => e.name !== "AbortError" && setError(e.message),
    );
    return () => ctl.abort();
  }, [entity, project, run, path]);
  return { table, error };
}

/**
 * A table file: its rows, or, when the run config holds a custom chart spec
 * for it, the chart with a switch to the rows (the table with a note when the
 * chart cannot be drawn).
 */
function TableView({
  entity,
  project,
  run,
  file,
  spec,
  overlays,
}: {
  entity: string;
  project: string;
  run: string;
  file: FileMedia;
  spec?: ChartSpec | null;
  overlays?: Overlays;
}) {
  const { table, error } = useTableFile(entity, project, run, file.path);
  const figure = useMemo(() => (spec && table ? chartFigure(spec, table) : null), [spec, table]);
  const [ownOff, setOwnOff] = useState<Set<string>>(() => new Set());
  const off = overlays?.off ?? ownOff;
  const toggle = overlays?.toggle ?? ((k: string) => setOwnOff((s) => toggled(s, k)));
  if (error) return <div className="error small">{error}</div>;
  if (!table) return <div className="media-empty muted">loading table…</div>;
  const grid = <TableGrid entity={entity} project={project} run={run} table={table} />;
  if (!spec || !figure) return grid;
  if ("error" in figure)
    return (
      <>
        <div className="chart-note muted small">{figure.error}; showing its table</div>
        {grid}
      </>
    );
  const asTable = off.has("chart");
  const show = (table: boolean) => {
    if (table !== asTable) toggle("chart");
  };
  return (
    <>
      <fieldset className="chart-switch" aria-label="Show as">
        <button type="button" aria-pressed={!asTable} onClick={() => show(false)}>
          Chart
        </button>
        <button type="button" aria-pressed={asTable} onClick={() => show(true)}>
          Table
        </button>
      </fieldset>
      {asTable ? grid : <ChartView id={spec.id} figure={figure} />}
    </>
  );
}

function TableGrid({
  entity,
  project,
  run,
  table,
}: {
  entity: string;
  project: string;
  run: string;
  table: TableData;
}) {
  const [q, setQ] = useState("");
  const [sort, setSort] = useState<{ col: number; desc: boolean } | null>(null);
  const [page, setPage] = useState(0);
  const rows = useMemo(() => {
    const f = filterRows(table, q);
    return sort ? sortRows(table, f, sort.col, sort.desc) : f;
  }, [table, q, sort]);
  const pages = Math.max(1, Math.ceil(rows.length / pageSize));
  const pg = Math.min(page, pages - 1);
  const shown = rows.slice(pg * pageSize, (pg + 1) * pageSize);
  return (
    <div className="media-table" data-rows={table.data.length}>
      <div className="table-tools">
        <input
          type="search"
          placeholder="Filter rows"
          aria-label="Filter rows"
          value={q}
          onChange={(e) => {
            setQ(e.target.value);
            setPage(0);
          }}
        />
        <span className="muted small">
          {rows.length === 0
            ? "no rows"
            : `${pg * pageSize + 1}–${pg * pageSize + shown.length} of ${rows.length}`}
          {rows.length !== table.data.length ? ` (of ${table.data.length})` : ""}
        </span>
        {pages > 1 && (
          <>
            <button type="button" className="link" disabled={pg === 0} onClick={() => setPage(pg - 1)}>
              ‹ prev
            </button>
            <button type="button" className="link" disabled={pg >= pages - 1} onClick={() => setPage(pg + 1)}>
              next ›
            </button>
          </>
        )}
      </div>
      <div className="table-scroll">
        <table>
          <thead>
            <tr>
              {table.columns.map((c, i) => (
                <th
                  key={c}
                  aria-sort={sort?.col === i ? (sort.desc ? "descending" : "ascending") : undefined}
                >
                  <button
                    type="button"
                    className="link"
                    onClick={() =>
                      setSort(
                        sort?.col === i
                          ? sort.desc
                            ? null
                            : { col: i, desc: true }
                          : { col: i, desc: false },
                      )
                    }
                  >
                    {c}
                    {sort?.col === i ? (sort.desc ? " ↓" : " ↑") : ""}
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => (
              <tr key={r}>
                {table.data[r].map((cell, ci) => (
                  <td key={table.columns[ci] ?? ci}>
                    <Cell entity={entity} project={project} run={run} value={cell} />
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

function Cell({
  entity,
  project,
  run,
  value,
}: {
  entity: string;
  project: string;
  run: string;
  value: unknown;
}) {
  if (value && typeof value === "object" && !Array.isArray(value)) {
    const t = (value as { _type?: unknown })._type;
    if (t === "image-file") {
      const img = parseImages(value)[0];
      if (img) return <ImageView entity={entity} project={project} run={run} img={img} thumb />;
    }
    const f = parseFileMedia(value);
    if (f) {
      return (
        <a href={fileUrl(entity, project, run, f.path)} target="_blank" rel="noreferrer">
          {cellText(value)}
        </a>
      );
    }
  }
  return <>{typeof value === "number" ? formatValue(value) : cellText(value)}</>;
}

// ---------------------------------------------------------------- plotly

/** Plotly (~1.4 MB) is its own chunk, fetched when the first figure is on screen. */
const loadPlotly = () => import("plotly.js-dist-min").then((m) => m.default);

/**
 * Draws a figure with Plotly (null: not there yet; Plotly is fetched
 * meanwhile) and purges it on unmount. Its div gets data-ready="1" once drawn.
 */
function PlotlyFigure({
  figure,
  error,
  className,
  chart,
}: {
  figure: ChartFigure | null;
  error?: string;
  /** the plot div's class */
  className?: string;
  /** the plot div's data-chart */
  chart?: string;
}) {
  const el = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState("loading plotly…");
  useEffect(() => {
    const div = el.current;
    if (!figure || !div) {
      loadPlotly().catch(() => {}); // a failure is reported once there is a figure
      return;
    }
    let live = true;
    let purge: (() => void) | null = null;
    delete div.dataset.ready;
    loadPlotly()
      .then(async (Plotly) => {
        if (!live) return;
        const h = figure.layout.height;
        await Plotly.newPlot(
          div,
          figure.data,
          { ...figure.layout, autosize: true, height: typeof h === "number" ? h : 320 },
          // no "Share chart" button: it uploads the figure to Plotly's cloud
          { responsive: true, displaylogo: false, showSendToCloud: false },
        );
        purge = () => Plotly.purge(div);
        if (!live) return purge();
        setStatus("");
        div.dataset.ready = "1";
      })
      .catch((e: Error) => live && setStatus(e.message));
    return () => {
      live = false;
      purge?.();
    };
  }, [figure]);
  return (
    <>
      {(error || status) && <div className={error ? "error small" : "muted small"}>{error || status}</div>}
      <div ref={el} className={className} data-chart={chart} />
    </>
  );
}

function PlotlyView({
  entity,
  project,
  run,
  file,
}: {
  entity: string;
  project: string;
  run: string;
  file: FileMedia;
}) {
  const [figure, setFigure] = useState<ChartFigure | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    const ctl = new AbortController();
    api.fileJSON<Record<string, unknown>>(entity, project, run, file.path, ctl.signal).then(
      (fig) =>
        setFigure({
          data: Array.isArray(fig.data) ? fig.data : [],
          layout: (fig.layout ?? {}) as Record<string, unknown>,
        }),
      (e: Error) => e.name !== "AbortError" && setError(e.message),
    );
    return () => ctl.abort();
  }, [entity, project, run, file.path]);
  return (
    <div className="media-plotly">
      <PlotlyFigure figure={figure} error={error} />
    </div>
  );
}

/** A custom chart's figure, in the page's text colour (it follows the colour scheme). */
interface OverlayItem {
  run: string;
  name: string;
  path: string;
  spec: ChartSpec;
}

/**
 * The drawn runs' charts of one curve preset in one plot, each run in its
 * colour (overlayFigure), with the switch to the runs' tables.
 */
function ChartOverlay({
  entity,
  project,
  items,
  toggle,
}: {
  entity: string;
  project: string;
  items: OverlayItem[];
  toggle: (k: string) => void;
}) {
  // by value: a re-render with the same runs, steps and specs keeps the plot
  const key = JSON.stringify(items);
  const [state, setState] = useState<{ key: string; figure: ChartFigure | null; error: string }>({
    key: "",
    figure: null,
    error: "",
  });
  useEffect(() => {
    const its = JSON.parse(key) as OverlayItem[];
    const ctl = new AbortController();
    Promise.all(its.map((it) => api.fileJSON(entity, project, it.run, it.path, ctl.signal))).then(
      (values) => {
        const runs: { name: string; color: string; figure: ChartFigure }[] = [];
        const problems: string[] = [];
        values.forEach((v, i) => {
          const t = parseTable(v);
          const f = t ? chartFigure(its[i].spec, t) : { error: "not a table file" };
          if ("error" in f) problems.push(`${its[i].name}: ${f.error}`);
          else runs.push({ name: its[i].name, color: runColor(its[i].run), figure: f });
        });
        setState({ key, figure: runs.length ? overlayFigure(runs) : null, error: problems.join("; ") });
      },
      (e: Error) => e.name !== "AbortError" && setState({ key, figure: null, error: e.message }),
    );
    return () => ctl.abort();
  }, [entity, project, key]);
  const current = state.key === key ? state : { figure: null, error: "" };
  return (
    <div className="media-overlay" data-runs={items.length}>
      <fieldset className="chart-switch" aria-label="Show as">
        <button type="button" aria-pressed={true}>
          Chart
        </button>
        <button type="button" aria-pressed={false} onClick={() => toggle("chart")}>
          Table
        </button>
      </fieldset>
      {current.error && <div className="chart-note muted small">{current.error}</div>}
      {current.figure ? (
        <ChartView id={items[0].spec.id} figure={current.figure} />
      ) : (
        !current.error && <div className="media-empty muted">loading tables…</div>
      )}
    </div>
  );
}

function ChartView({ id, figure }: { id: string; figure: ChartFigure }) {
  const scheme = useColorScheme();
  // biome-ignore lint/correctness/useExhaustiveDependencies: --fg changes with the scheme
  const themed = useMemo(() => {
    const fg = getComputedStyle(document.documentElement).getPropertyValue("--fg").trim();
    return fg ? { ...figure, layout: { ...figure.layout, font: { color: fg } } } : figure;
  }, [figure, scheme]);
  return <PlotlyFigure figure={themed} className="media-chart" chart={id} />;
}
