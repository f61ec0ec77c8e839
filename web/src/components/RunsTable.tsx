// The runs table: virtualised rows (only what is on screen is in the DOM,
// and only the pages on screen are asked of the server: runpages.ts),
// server-side sort (click a header), a checkbox per run to draw it,
// hideable, pinnable (sticky) and movable columns, and rows grouped under
// collapsible headers when the workspace groups by a field. Table
// semantics (role table/row/columnheader/cell, aria-sort) for screen
// readers; every control is a button, link or checkbox, so the keyboard
// reaches them with Tab and uses them with Enter or Space. The rows are
// divs with those roles, not <table> elements (a virtualised row is
// absolutely placed, which a table row cannot be): biome.json turns off
// the two lints that ask for native table elements for this file.

import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useMemo, useRef } from "react";
import type { Run } from "../api";
import { runColor } from "../colors";
import { pendingTitle } from "../durability";
import { field, nextSort, sortDirection } from "../filter";
import { flatten, formatRuntime, formatTime, formatValue, runtimeSeconds } from "../format";
import type { RunGroup } from "../group";

export interface Column {
  id: string;
  title: string;
  width: number;
  /** sort field in the API's language; undefined: not sortable */
  sort?: string;
  get: (r: Run, flat: { config: Record<string, unknown>; summary: Record<string, unknown> }) => unknown;
  render?: (r: Run) => React.ReactNode;
  /** past the default number of key columns: hidden unless shown */
  overflow?: boolean;
}

/** Config and summary columns the table draws by default, each; the rest start hidden (the Columns menu lists them). */
export const defaultKeyColumns = 60;

/** Config paths and summary keys of a whole project (the API's run-keys), named as flatOf names them. */
export interface ProjectFields {
  config: string[];
  summary: string[];
}

/**
 * The table's columns: the fixed ones, then one per config key and per
 * summary key of the project (`fields`, from the server: runs on pages not
 * loaded yet have columns too) and of every run given (loaded runs: a key
 * newer than `fields`, or every key when the server's list could not be
 * had). Past `defaultKeyColumns` of each kind a column is `overflow`: not
 * drawn unless the user shows it.
 */
export function columnsFor(runs: Iterable<Run>, fields?: ProjectFields | null): Column[] {
  const cfg = new Set<string>();
  const sum = new Set<string>();
  for (const k of fields?.config ?? []) if (!k.startsWith("_")) cfg.add(k);
  for (const k of fields?.summary ?? []) if (!k.startsWith("_")) sum.add(k);
  for (const r of runs) {
    const f = flatOf(r);
    for (const k in f.config) if (!k.startsWith("_")) cfg.add(k);
    for (const k in f.summary) if (!k.startsWith("_")) sum.add(k);
  }
  const fixed: Column[] = [
    {
      id: "state",
      title: "State",
      width: 92,
      sort: "state",
      get: (r) => r.state,
      render: (r) => (
        <>
          <StateBadge state={r.state} />
          <PendingMark run={r} />
        </>
      ),
    },
    {
      id: "created",
      title: "Created",
      width: 150,
      sort: "created_at",
      get: (r) => r.created_at,
      render: (r) => formatTime(r.created_at),
    },
    {
      id: "runtime",
      title: "Runtime",
      width: 80,
      get: (r) => runtimeSeconds(r),
      render: (r) => formatRuntime(runtimeSeconds(r)),
    },
    {
      id: "tags",
      title: "Tags",
      width: 120,
      get: (r) => (r.tags ?? []).join(" "),
      render: (r) =>
        (r.tags ?? []).map((t) => (
          <span key={t} className="tag">
            {t}
          </span>
        )),
    },
    { id: "group", title: "Group", width: 100, sort: "group", get: (r) => r.group },
    { id: "user", title: "User", width: 80, get: (r) => r.user },
  ];
  const c = [...cfg].sort().map(
    (k, i): Column => ({
      overflow: i >= defaultKeyColumns || undefined,
      id: `config.${k}`,
      title: k,
      width: 100,
      sort: field("config", k),
      get: (_r, f) => f.config[k],
    }),
  );
  const s = [...sum].sort().map(
    (k, i): Column => ({
      overflow: i >= defaultKeyColumns || undefined,
      id: `summary.${k}`,
      title: k,
      width: 100,
      sort: field("summary", k),
      get: (_r, f) => f.summary[k],
    }),
  );
  return [...fixed, ...c, ...s];
}

/** Why a run is "lost" (api.md, Lost runs), as the state's tooltip. */
export const LOST_TITLE =
  "Nothing has arrived from this run for a while (the SDK sends a heartbeat every 30 s): its process may be hung, " +
  "killed without a chance to say so, or cut off from the server. It is running again as soon as it sends.";

export function StateBadge({ state }: { state: string }) {
  return (
    <span
      className={`state state-${state}`}
      data-state={state}
      title={state === "lost" ? LOST_TITLE : undefined}
    >
      {state === "running" && <i className="live-dot" aria-hidden="true" />}
      {state}
    </span>
  );
}

/** A warning sign on a run that ended with points still in its client's spool (durability.ts); nothing otherwise. */
export function PendingMark({ run }: { run: Run }) {
  const title = pendingTitle(run);
  if (!title) return null;
  return (
    <span
      className="pending-mark"
      role="img"
      title={title}
      aria-label={title}
      data-pending={run.points_pending}
    >
      ⚠
    </span>
  );
}

interface Props {
  /** rows: every matching run (or, grouped, every run in the groups) */
  count: number;
  /** the run at a row, when its page is here (a placeholder row otherwise) */
  rowAt: (i: number) => Run | undefined;
  /** a run by id (grouped rows) */
  runById?: (id: string) => Run | undefined;
  /** the virtualiser shows rows start..end: the pages there are wanted */
  onRange?: (start: number, end: number) => void;
  /** grouped: the virtualiser shows these runs (by id): those not here are wanted */
  onIds?: (ids: string[]) => void;
  /** changes when runs arrive (the rows re-render) */
  version?: number;
  /** shown columns, in display order (pinned ones first) */
  columns: Column[];
  drawn: Set<string>;
  /** the "draw all" checkbox is ticked */
  allDrawn: boolean;
  sort: string;
  onSort: (s: string) => void;
  onToggle: (id: string) => void;
  onToggleAll: (on: boolean) => void;
  onOpen: (id: string) => void;
  /** pinned column ids: they stay in view when the table scrolls sideways */
  pinned?: string[];
  /** drag a header onto another to move it there */
  onMoveColumn?: (from: string, to: string) => void;
  /** grouped rows: a collapsible header per group, with its count */
  groups?: RunGroup[] | null;
  groupBy?: string;
  collapsedGroups?: Set<string>;
  onToggleGroup?: (id: string) => void;
  onDrawGroup?: (g: RunGroup, on: boolean) => void;
  /** shown instead of rows when there are none (say what to do) */
  empty?: React.ReactNode;
}

type Item = { kind: "group"; g: RunGroup } | { kind: "run"; id: string };

type Flat = { config: Record<string, unknown>; summary: Record<string, unknown> };
// Flattened configs, once per run object (a live refresh brings a new one).
const flats = new WeakMap<Run, Flat>();
export function flatOf(r: Run): Flat {
  let f = flats.get(r);
  if (!f) {
    f = { config: flatten(r.config ?? {}), summary: r.summary ?? {} };
    flats.set(r, f);
  }
  return f;
}

export function RunsTable(p: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const dragged = useRef<string | null>(null);
  const rowH = 30;
  // Grouped: a header per group, then its runs (ids; the runs come by id).
  const items = useMemo((): Item[] | null => {
    if (!p.groups) return null;
    const out: Item[] = [];
    for (const g of p.groups) {
      out.push({ kind: "group", g });
      if (p.collapsedGroups?.has(g.id)) continue;
      for (const id of g.runs) out.push({ kind: "run", id });
    }
    return out;
  }, [p.groups, p.collapsedGroups]);
  const count = items ? items.length : p.count;
  const v = useVirtualizer({
    count,
    getScrollElement: () => scroller.current,
    estimateSize: () => rowH,
    overscan: 12,
  });
  const virtual = v.getVirtualItems();
  const first = virtual[0]?.index ?? 0;
  const last = virtual[virtual.length - 1]?.index ?? 0;
  const { onRange } = p;
  const grouped = items != null;
  // biome-ignore lint/correctness/useExhaustiveDependencies: version: the pages changed (a new filter's rows)
  useEffect(() => {
    if (!grouped) onRange?.(first, last);
  }, [first, last, grouped, onRange, p.version]);
  const { onIds } = p;
  // biome-ignore lint/correctness/useExhaustiveDependencies: version: runs arrived or went stale
  useEffect(() => {
    if (!items || !onIds) return;
    const ids: string[] = [];
    for (let i = first; i <= last && i < items.length; i++) {
      const it = items[i];
      if (it.kind === "run") ids.push(it.id);
    }
    if (ids.length > 0) onIds(ids);
  }, [first, last, items, onIds, p.version]);
  const nameW = 200;
  const width = 36 + nameW + p.columns.reduce((a, c) => a + c.width, 0);
  const template = `36px ${nameW}px ${p.columns.map((c) => `${c.width}px`).join(" ")}`;
  // Sticky offsets: the checkbox, the name and the pinned columns stay put.
  const pinned = new Set(p.pinned ?? []);
  const stickyLeft = new Map<string, number>();
  let left = 36 + nameW;
  for (const c of p.columns) {
    if (!pinned.has(c.id)) break;
    stickyLeft.set(c.id, left);
    left += c.width;
  }
  const lastPinned = [...stickyLeft.keys()].pop();
  const cellStyle = (id: string): React.CSSProperties | undefined => {
    const l = stickyLeft.get(id);
    return l == null ? undefined : { position: "sticky", left: l, zIndex: 1 };
  };
  const ariaSort = (sort?: string): React.AriaAttributes["aria-sort"] => {
    const dir = sort ? sortDirection(p.sort, sort) : null;
    return dir === "asc" ? "ascending" : dir === "desc" ? "descending" : undefined;
  };
  const header = (title: string, sort?: string) => {
    const dir = sort ? sortDirection(p.sort, sort) : null;
    return sort ? (
      <button
        type="button"
        className="th-sort"
        onClick={() => p.onSort(nextSort(p.sort, sort))}
        title={`Sort by ${sort}`}
      >
        {title} {dir === "asc" ? "▲" : dir === "desc" ? "▼" : ""}
      </button>
    ) : (
      <span>{title}</span>
    );
  };
  const cls = (c: Column, base = "") =>
    [
      base,
      c.id.startsWith("summary.") ? "col-summary" : c.id.startsWith("config.") ? "col-config" : "",
      pinned.has(c.id) ? "pinned" : "",
      c.id === lastPinned ? "pinned-last" : "",
    ]
      .filter(Boolean)
      .join(" ");
  const nCols = p.columns.length + 2;
  return (
    <div
      className="runs-table"
      ref={scroller}
      role="table"
      aria-label="Runs"
      aria-rowcount={count + 1}
      aria-colcount={nCols}
    >
      <div className="tr th" role="row" aria-rowindex={1} style={{ gridTemplateColumns: template, width }}>
        <span className="sticky-0" role="columnheader" aria-label="Draw">
          <input
            type="checkbox"
            aria-label="Draw all runs"
            checked={p.allDrawn}
            onChange={(e) => p.onToggleAll(e.target.checked)}
          />
        </span>
        <span className="sticky-1" role="columnheader" aria-sort={ariaSort("name")}>
          {header("Name", "name")}
        </span>
        {p.columns.map((c) => (
          // dragging is a shortcut; the Columns menu moves columns by keyboard
          <span
            key={c.id}
            role="columnheader"
            aria-sort={ariaSort(c.sort)}
            title={`${c.id}${p.onMoveColumn ? " (drag to move)" : ""}`}
            className={cls(c)}
            style={cellStyle(c.id)}
            data-col={c.id}
            draggable={!!p.onMoveColumn}
            onDragStart={(e) => {
              dragged.current = c.id;
              e.dataTransfer.effectAllowed = "move";
            }}
            onDragOver={(e) => {
              if (dragged.current) e.preventDefault();
            }}
            onDrop={(e) => {
              e.preventDefault();
              const from = dragged.current;
              dragged.current = null;
              if (from && from !== c.id) p.onMoveColumn?.(from, c.id);
            }}
          >
            {header(c.title, c.sort)}
          </span>
        ))}
      </div>
      {count === 0 && p.empty ? (
        <div className="table-empty" role="row">
          <span role="cell">{p.empty}</span>
        </div>
      ) : null}
      <div role="rowgroup" style={{ height: v.getTotalSize(), position: "relative", width }}>
        {virtual.map((vr) => {
          const it: Item = items ? items[vr.index] : { kind: "run", id: "" };
          const style = { transform: `translateY(${vr.start}px)`, height: rowH, width };
          if (it.kind === "group") {
            const g = it.g;
            const open = !p.collapsedGroups?.has(g.id);
            const on = g.runs.every((id) => p.drawn.has(id));
            return (
              <div
                key={g.id}
                className="tr group-row"
                role="row"
                aria-rowindex={vr.index + 2}
                data-group={g.label}
                style={style}
              >
                <span className="sticky-0" role="cell">
                  <input
                    type="checkbox"
                    aria-label={`Draw group ${g.label}`}
                    checked={on}
                    onChange={(e) => p.onDrawGroup?.(g, e.target.checked)}
                    style={{ accentColor: runColor(g.id) }}
                  />
                </span>
                <span className="group-cell" role="cell" aria-colspan={nCols - 1}>
                  <button
                    type="button"
                    className="group-toggle"
                    aria-expanded={open}
                    onClick={() => p.onToggleGroup?.(g.id)}
                  >
                    {open ? "▾" : "▸"} <i className="swatch" style={{ background: runColor(g.id) }} />{" "}
                    <span className="muted">{(p.groupBy ?? "").replace(/^config\./, "")} =</span> {g.label}{" "}
                    <span className="muted" data-testid="group-count">
                      {g.runs.length} run{g.runs.length === 1 ? "" : "s"}
                    </span>
                  </button>
                </span>
              </div>
            );
          }
          const r = items ? p.runById?.(it.id) : p.rowAt(vr.index);
          if (!r)
            return (
              <div
                key={`row-${vr.index}`}
                className="tr loading-row"
                role="row"
                aria-rowindex={vr.index + 2}
                aria-busy="true"
                style={{ ...style, gridTemplateColumns: template }}
              >
                <span className="sticky-0" role="cell" />
                <span className="sticky-1 muted" role="cell">
                  loading…
                </span>
              </div>
            );
          const f = flatOf(r);
          return (
            <div
              key={r.id}
              className={`tr${p.drawn.has(r.id) ? " drawn" : ""}${items ? " grouped" : ""}`}
              role="row"
              aria-rowindex={vr.index + 2}
              data-run={r.id}
              data-row={vr.index}
              style={{ ...style, gridTemplateColumns: template }}
            >
              <span className="sticky-0" role="cell">
                <input
                  type="checkbox"
                  aria-label={`Draw ${r.name || r.id}`}
                  checked={p.drawn.has(r.id)}
                  onChange={() => p.onToggle(r.id)}
                  style={{ accentColor: runColor(r.id) }}
                />
              </span>
              <span className="name sticky-1" role="cell">
                <i className="swatch" style={{ background: runColor(r.id) }} />
                <a
                  href={`/${encodeURIComponent(r.entity)}/${encodeURIComponent(r.project)}/runs/${encodeURIComponent(r.id)}`}
                  onClick={(e) => {
                    if (!e.metaKey && !e.ctrlKey) {
                      e.preventDefault();
                      p.onOpen(r.id);
                    }
                  }}
                >
                  {r.name || r.id}
                </a>
              </span>
              {p.columns.map((c) => (
                <span
                  key={c.id}
                  role="cell"
                  className={cls(c, "td")}
                  style={cellStyle(c.id)}
                  title={formatValue(c.get(r, f))}
                >
                  {c.render ? c.render(r) : formatValue(c.get(r, f))}
                </span>
              ))}
            </div>
          );
        })}
      </div>
    </div>
  );
}

/** A value as exported: numbers at full precision (not as displayed), objects as JSON. */
export function rawValue(v: unknown): string {
  if (v == null) return "";
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

/** CSV of runs and columns, raw values (RFC 4180 quoting). */
export function toCSV(runs: Run[], columns: Column[]): string {
  const esc = (v: unknown) => {
    const s = rawValue(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = [["id", "name", ...columns.map((c) => c.id)].map(esc).join(",")];
  for (const r of runs) {
    const f = flatOf(r);
    lines.push([r.id, r.name, ...columns.map((c) => c.get(r, f))].map(esc).join(","));
  }
  return `${lines.join("\n")}\n`;
}
