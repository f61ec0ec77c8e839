// The runs table: virtualised rows (only what is on screen is in the DOM),
// server-side sort (click a header), a checkbox per run to draw it,
// hideable, pinnable (sticky) and movable columns, and rows grouped under
// collapsible headers when the workspace groups by a field. Sorting and filtering happen in the server's SQL, so the
// table holds one page of up to 1000 runs however many the project has.

import { useVirtualizer } from "@tanstack/react-virtual";
import { useMemo, useRef } from "react";
import type { Run } from "../api";
import { runColor } from "../colors";
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
}

export function columnsFor(runs: Run[]): Column[] {
  const cfg = new Set<string>();
  const sum = new Set<string>();
  for (const r of runs.slice(0, 200)) {
    for (const k of Object.keys(flatten(r.config))) if (!k.startsWith("_")) cfg.add(k);
    for (const k of Object.keys(r.summary ?? {})) if (!k.startsWith("_")) sum.add(k);
  }
  const fixed: Column[] = [
    {
      id: "state",
      title: "State",
      width: 92,
      sort: "state",
      get: (r) => r.state,
      render: (r) => <StateBadge state={r.state} />,
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
  const c = [...cfg]
    .sort()
    .slice(0, 60)
    .map(
      (k): Column => ({
        id: `config.${k}`,
        title: k,
        width: 100,
        sort: field("config", k),
        get: (_r, f) => f.config[k],
      }),
    );
  const s = [...sum]
    .sort()
    .slice(0, 60)
    .map(
      (k): Column => ({
        id: `summary.${k}`,
        title: k,
        width: 100,
        sort: field("summary", k),
        get: (_r, f) => f.summary[k],
      }),
    );
  return [...fixed, ...c, ...s];
}

export function StateBadge({ state }: { state: string }) {
  return (
    <span className={`state state-${state}`} data-state={state}>
      {state === "running" && <i className="live-dot" aria-hidden="true" />}
      {state}
    </span>
  );
}

interface Props {
  runs: Run[];
  /** shown columns, in display order (pinned ones first) */
  columns: Column[];
  drawn: Set<string>;
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
}

type Item = { kind: "group"; g: RunGroup } | { kind: "run"; r: Run };

export function RunsTable(p: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const dragged = useRef<string | null>(null);
  const rowH = 30;
  const byId = useMemo(() => new Map(p.runs.map((r) => [r.id, r])), [p.runs]);
  const items = useMemo((): Item[] => {
    if (!p.groups) return p.runs.map((r) => ({ kind: "run", r }));
    const out: Item[] = [];
    for (const g of p.groups) {
      out.push({ kind: "group", g });
      if (p.collapsedGroups?.has(g.id)) continue;
      for (const id of g.runs) {
        const r = byId.get(id);
        if (r) out.push({ kind: "run", r });
      }
    }
    return out;
  }, [p.runs, p.groups, p.collapsedGroups, byId]);
  const v = useVirtualizer({
    count: items.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => rowH,
    overscan: 12,
  });
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
  const allOn = p.runs.length > 0 && p.runs.every((r) => p.drawn.has(r.id));
  const flat = new Map(p.runs.map((r) => [r.id, { config: flatten(r.config), summary: r.summary ?? {} }]));
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
  return (
    <div className="runs-table" ref={scroller}>
      <div className="tr th" style={{ gridTemplateColumns: template, width }}>
        <span className="sticky-0">
          <input
            type="checkbox"
            aria-label="Draw all runs"
            checked={allOn}
            onChange={(e) => p.onToggleAll(e.target.checked)}
          />
        </span>
        <span className="sticky-1">{header("Name", "name")}</span>
        {p.columns.map((c) => (
          // biome-ignore lint/a11y/noStaticElementInteractions: dragging is a shortcut; the Columns menu moves columns by keyboard
          <span
            key={c.id}
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
      <div style={{ height: v.getTotalSize(), position: "relative", width }}>
        {v.getVirtualItems().map((vr) => {
          const it = items[vr.index];
          if (it.kind === "group") {
            const g = it.g;
            const open = !p.collapsedGroups?.has(g.id);
            const on = g.runs.every((id) => p.drawn.has(id));
            return (
              <div
                key={g.id}
                className="tr group-row"
                data-group={g.label}
                style={{ transform: `translateY(${vr.start}px)`, height: rowH, width }}
              >
                <span className="sticky-0">
                  <input
                    type="checkbox"
                    aria-label={`Draw group ${g.label}`}
                    checked={on}
                    onChange={(e) => p.onDrawGroup?.(g, e.target.checked)}
                    style={{ accentColor: runColor(g.id) }}
                  />
                </span>
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
              </div>
            );
          }
          const r = it.r;
          const f = flat.get(r.id) as { config: Record<string, unknown>; summary: Record<string, unknown> };
          return (
            <div
              key={r.id}
              className={`tr${p.drawn.has(r.id) ? " drawn" : ""}${p.groups ? " grouped" : ""}`}
              data-run={r.id}
              style={{
                gridTemplateColumns: template,
                transform: `translateY(${vr.start}px)`,
                height: rowH,
                width,
              }}
            >
              <span className="sticky-0">
                <input
                  type="checkbox"
                  aria-label={`Draw ${r.name}`}
                  checked={p.drawn.has(r.id)}
                  onChange={() => p.onToggle(r.id)}
                  style={{ accentColor: runColor(r.id) }}
                />
              </span>
              <span className="name sticky-1">
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

/** CSV of the shown runs and columns. */
export function toCSV(runs: Run[], columns: Column[]): string {
  const esc = (v: unknown) => {
    const s = formatValue(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const lines = [["id", "name", ...columns.map((c) => c.id)].map(esc).join(",")];
  for (const r of runs) {
    const f = { config: flatten(r.config), summary: r.summary ?? {} };
    lines.push([r.id, r.name, ...columns.map((c) => c.get(r, f))].map(esc).join(","));
  }
  return `${lines.join("\n")}\n`;
}
