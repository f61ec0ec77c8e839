// The runs table: virtualised rows (only what is on screen is in the DOM),
// server-side sort (click a header), a checkbox per run to draw it, and
// hideable columns. Sorting and filtering happen in the server's SQL, so the
// table holds one page of up to 1000 runs however many the project has.

import { useVirtualizer } from "@tanstack/react-virtual";
import { useRef } from "react";
import type { Run } from "../api";
import { runColor } from "../colors";
import { field, nextSort, sortDirection } from "../filter";
import { flatten, formatRuntime, formatTime, formatValue, runtimeSeconds } from "../format";

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
  columns: Column[];
  drawn: Set<string>;
  sort: string;
  onSort: (s: string) => void;
  onToggle: (id: string) => void;
  onToggleAll: (on: boolean) => void;
  onOpen: (id: string) => void;
}

export function RunsTable(p: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const rowH = 30;
  const v = useVirtualizer({
    count: p.runs.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => rowH,
    overscan: 12,
  });
  const nameW = 200;
  const width = 36 + nameW + p.columns.reduce((a, c) => a + c.width, 0);
  const template = `36px ${nameW}px ${p.columns.map((c) => `${c.width}px`).join(" ")}`;
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
  return (
    <div className="runs-table" ref={scroller}>
      <div className="tr th" style={{ gridTemplateColumns: template, width }}>
        <span>
          <input
            type="checkbox"
            aria-label="Draw all runs"
            checked={allOn}
            onChange={(e) => p.onToggleAll(e.target.checked)}
          />
        </span>
        <span>{header("Name", "name")}</span>
        {p.columns.map((c) => (
          <span
            key={c.id}
            title={c.id}
            className={
              c.id.startsWith("summary.") ? "col-summary" : c.id.startsWith("config.") ? "col-config" : ""
            }
          >
            {header(c.title, c.sort)}
          </span>
        ))}
      </div>
      <div style={{ height: v.getTotalSize(), position: "relative", width }}>
        {v.getVirtualItems().map((vr) => {
          const r = p.runs[vr.index];
          const f = flat.get(r.id) as { config: Record<string, unknown>; summary: Record<string, unknown> };
          return (
            <div
              key={r.id}
              className={`tr${p.drawn.has(r.id) ? " drawn" : ""}`}
              data-run={r.id}
              style={{
                gridTemplateColumns: template,
                transform: `translateY(${vr.start}px)`,
                height: rowH,
                width,
              }}
            >
              <span>
                <input
                  type="checkbox"
                  aria-label={`Draw ${r.name}`}
                  checked={p.drawn.has(r.id)}
                  onChange={() => p.onToggle(r.id)}
                  style={{ accentColor: runColor(r.id) }}
                />
              </span>
              <span className="name">
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
                <span key={c.id} className="td" title={formatValue(c.get(r, f))}>
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
