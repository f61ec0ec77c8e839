// The workspace: runs table on the left, panels on the right, everything the
// user changes kept in the URL. Live events refresh the table and extend
// the drawn lines without touching the zoom.

import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ApiError, api, chartsIdle, type Run } from "../api";
import type { Series } from "../chart";
import { Panels } from "../components/Panels";
import { type Column, columnsFor, RunsTable, toCSV } from "../components/RunsTable";
import { combineFilter } from "../filter";
import { type Band, groupFields, groupRuns, type RunGroup } from "../group";
import { arrangeColumns, type Layout, moveColumn, togglePin, useLayout } from "../layout";
import { subscribe, throttle } from "../live";
import type { SmoothKind } from "../smoothing";
import { samplesToSeries, systemByKey } from "../system";
import type { ViewState, XAxis } from "../url";

interface Props {
  entity: string;
  project: string;
  view: ViewState;
  setView: (patch: Partial<ViewState>, push?: boolean) => void;
  nav: (path: string) => void;
}

const defaultDrawn = 10;

export function Workspace({ entity, project, view, setView, nav }: Props) {
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [total, setTotal] = useState(0);
  const [keys, setKeys] = useState<string[]>([]);
  const [types, setTypes] = useState<Record<string, string>>({});
  const [error, setError] = useState("");
  const [missing, setMissing] = useState(false);
  const [versions, setVersions] = useState<Record<string, number>>({});
  const [reload, setReload] = useState(0);
  const [search, setSearch] = useState(view.search);
  const [filterText, setFilterText] = useState(view.filter);
  const filter = combineFilter(view.search, view.filter);
  const [layout, setLayout] = useLayout(entity, project);
  const [collapsedGroups, setCollapsedGroups] = useState<Set<string>>(() => new Set());

  // biome-ignore lint/correctness/useExhaustiveDependencies: reload is a live-update trigger
  useEffect(() => {
    let stale = false;
    api
      .runs(entity, project, { filter, sort: view.sort, limit: 1000 })
      .then((r) => {
        if (stale) return;
        setRuns(r.runs);
        setTotal(r.total);
        setError("");
      })
      .catch((e: Error) => {
        if (stale) return;
        // A project exists from its first run on: until then, show how to log one.
        if (e instanceof ApiError && e.status === 404 && !filter) setMissing(true);
        else setError(e.message);
      });
    return () => {
      stale = true;
    };
  }, [entity, project, filter, view.sort, reload]);

  const loadKeys = useCallback(() => {
    api.keys(entity, project).then(
      (r) => {
        setKeys(r.keys);
        setTypes(r.types);
      },
      () => {},
    );
  }, [entity, project]);
  useEffect(loadKeys, [loadKeys]);

  // Debounced name search.
  useEffect(() => {
    if (search === view.search) return;
    const t = setTimeout(() => setView({ search }), 250);
    return () => clearTimeout(t);
  }, [search, view.search, setView]);

  const drawn = useMemo(
    () => view.selected ?? (runs ?? []).slice(0, defaultDrawn).map((r) => r.id),
    [view.selected, runs],
  );
  const drawnSet = useMemo(() => new Set(drawn), [drawn]);
  const drawnRef = useRef(drawnSet);
  drawnRef.current = drawnSet;
  const [systemTick, setSystemTick] = useState(0);
  const systemDirty = useRef(new Set<string>());
  const keysRef = useRef(keys);
  keysRef.current = keys;

  // Live: runs appear and change, lines extend.
  useEffect(() => {
    const pending = new Set<string>();
    const flushHistory = throttle(() => {
      const ks = [...pending];
      pending.clear();
      setVersions((v) => {
        const n = { ...v };
        for (const k of ks) n[k] = (n[k] ?? 0) + 1;
        return n;
      });
    }, 100);
    const refreshRuns = throttle(() => setReload((n) => n + 1), 300);
    // samples arrive every second or two per run: refetch at most once a second
    const flushSystem = throttle(() => setSystemTick((n) => n + 1), 1000);
    const refreshKeys = throttle(loadKeys, 300);
    return subscribe(entity, project, (ev) => {
      if (ev.type === "history") {
        const ks = ev.data.keys ?? [];
        if (ks.some((k) => !keysRef.current.includes(k))) refreshKeys();
        if (ev.data.run && drawnRef.current.has(ev.data.run)) {
          for (const k of ks) pending.add(k);
          flushHistory();
        }
        refreshRuns(); // summary, last step and runtime change too
      } else if (ev.type === "reset") {
        refreshRuns();
        refreshKeys();
      } else if (ev.type === "console") {
        // console lines change nothing here; new system samples of a drawn run redraw its system panels
        const run = ev.data.run;
        if (run && Number(ev.data.samples ?? 0) > 0 && drawnRef.current.has(run)) {
          systemDirty.current.add(run);
          flushSystem();
        }
      } else {
        refreshRuns();
      }
    });
  }, [entity, project, loadKeys]);

  const configs = useMemo(() => new Map((runs ?? []).map((r) => [r.id, r.config])), [runs]);
  const numericKeys = useMemo(() => keys.filter((k) => !types[k]), [keys, types]);
  const names = useMemo(() => new Map((runs ?? []).map((r) => [r.id, r.name || r.id])), [runs]);
  const runStart = useMemo(
    () => new Map((runs ?? []).map((r) => [r.id, Date.parse(r.created_at) / 1000])),
    [runs],
  );
  const columns = useMemo(() => columnsFor(runs ?? []), [runs]);
  const arranged = useMemo(() => arrangeColumns(columns, layout), [columns, layout]);
  const shown = arranged.filter((c) => !view.hidden.includes(c.id));
  const pinned = layout.pinned.filter((id) => shown.some((c) => c.id === id));
  const moveTo = (from: string, to: string) => {
    const ids = arranged.map((c) => c.id).filter((id) => id !== from);
    ids.splice(ids.indexOf(to), 0, from);
    // Dropped among the pinned columns: pinned there; among the others: unpinned.
    const pins = layout.pinned.includes(to)
      ? ids.filter((id) => id === from || layout.pinned.includes(id))
      : layout.pinned.filter((id) => id !== from);
    setLayout({ ...layout, order: ids, pinned: pins });
  };

  // Grouping: the table's groups (all loaded runs) and the drawn runs' groups (panels).
  const tableGroups = useMemo(
    () => (view.groupBy && runs ? groupRuns(runs, view.groupBy) : null),
    [view.groupBy, runs],
  );
  const plotView = useMemo(
    () => ({ x: view.x, smoothing: view.smoothing, logY: view.logY, zoom: view.zoom }),
    [view.x, view.smoothing, view.logY, view.zoom],
  );
  // Runs named in the URL are drawn before the runs table answers (charts
  // fetch in parallel with it); then in the table's order, and only those
  // the table holds.
  const drawnOrdered = useMemo(
    () => (runs ? runs.map((r) => r.id).filter((id) => drawnSet.has(id)) : (view.selected ?? [])),
    [runs, drawnSet, view.selected],
  );
  const drawnKey = drawnOrdered.join(",");
  const panelGroups = useMemo(
    (): RunGroup[] | null =>
      tableGroups
        ? tableGroups
            .map((g) => ({ ...g, runs: g.runs.filter((id) => drawnSet.has(id)) }))
            .filter((g) => g.runs.length > 0)
        : null,
    [tableGroups, drawnSet],
  );
  const plotNames = useMemo(() => {
    if (!panelGroups) return names;
    const n = new Map(names);
    const by = view.groupBy.replace(/^config\./, "");
    for (const g of panelGroups) n.set(g.id, `${by}=${g.label} (${g.runs.length})`);
    return n;
  }, [names, panelGroups, view.groupBy]);

  // System metrics of the drawn runs: one request per run (the endpoint is per
  // run), a few at a time and after the charts have had their turn. Live
  // samples (console events) mark their run dirty: only those are asked again.
  const [system, setSystem] = useState<Map<string, Series[]>>(() => new Map());
  const systemRuns = useRef(new Map<string, Series[]>());
  // biome-ignore lint/correctness/useExhaustiveDependencies: drawnKey stands for drawnOrdered
  useEffect(() => {
    const ctl = new AbortController();
    const ids = drawnOrdered.slice();
    systemDirty.current.clear();
    const timer = setTimeout(async () => {
      const perRun = new Map<string, Series[]>();
      let next = 0;
      const worker = async () => {
        while (next < ids.length && !ctl.signal.aborted) {
          await chartsIdle(); // charts first, and drawn
          await new Promise((ok) =>
            typeof requestIdleCallback === "function" ? requestIdleCallback(ok, { timeout: 1000 }) : ok(null),
          );
          if (ctl.signal.aborted || next >= ids.length) return;
          const id = ids[next++];
          try {
            perRun.set(id, samplesToSeries(id, await api.system(entity, project, id, 2000, ctl.signal)));
          } catch {
            // a run without samples (or gone) draws nothing
          }
        }
      };
      await Promise.all([worker(), worker(), worker()]);
      if (ctl.signal.aborted) return;
      systemRuns.current = perRun;
      setSystem(systemByKey([...perRun.values()]));
    }, 1000);
    return () => {
      clearTimeout(timer);
      ctl.abort();
    };
  }, [entity, project, drawnKey]);
  // biome-ignore lint/correctness/useExhaustiveDependencies: refetch on live ticks only
  useEffect(() => {
    if (systemTick === 0) return;
    const ids = [...systemDirty.current].filter((id) => drawnRef.current.has(id));
    systemDirty.current.clear();
    if (ids.length === 0) return;
    const ctl = new AbortController();
    Promise.all(
      ids.map((id) =>
        api.system(entity, project, id, 2000, ctl.signal).then(
          (s) => systemRuns.current.set(id, samplesToSeries(id, s)),
          () => {},
        ),
      ),
    ).then(() => {
      if (!ctl.signal.aborted) setSystem(systemByKey([...systemRuns.current.values()]));
    });
    return () => ctl.abort();
  }, [systemTick]);

  const toggle = (id: string) => {
    const next = drawnSet.has(id) ? drawn.filter((x) => x !== id) : [...drawn, id];
    setView({ selected: next });
  };
  const onZoom = useCallback((zoom: [number, number] | null) => setView({ zoom }, true), [setView]);

  const groupOptions = useMemo(
    () => [...groupFields, ...columns.filter((c) => c.id.startsWith("config.")).map((c) => c.id)],
    [columns],
  );

  if (missing || (runs && total === 0 && !filter)) return <EmptyProject entity={entity} project={project} />;

  const exportCSV = () => {
    const blob = new Blob([toCSV(runs ?? [], shown)], { type: "text/csv" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `${project}-runs.csv`;
    a.click();
    URL.revokeObjectURL(a.href);
  };

  return (
    <div className="workspace">
      <aside className="runs-pane">
        <div className="runs-tools">
          <input
            className="search"
            type="search"
            placeholder="Search runs by name"
            aria-label="Search runs by name"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
          />
          <form
            className="filter"
            onSubmit={(e) => {
              e.preventDefault();
              setView({ filter: filterText.trim() });
            }}
          >
            <input
              type="text"
              name="filter"
              aria-label="Filter expression"
              placeholder='Filter, e.g. config.lr >= 0.001 and state = "finished"'
              value={filterText}
              onChange={(e) => setFilterText(e.target.value)}
            />
            <button type="submit">Filter</button>
          </form>
          <div className="runs-meta">
            <span data-testid="run-count">
              {runs ? `${runs.length}${total > runs.length ? ` of ${total}` : ""} runs` : "loading…"}
            </span>
            <span className="muted"> · {drawn.length} drawn</span>
            {view.selected && (
              <button type="button" className="link" onClick={() => setView({ selected: null })}>
                draw first {defaultDrawn}
              </button>
            )}
            {drawn.length >= 2 && (
              <button
                type="button"
                className="link"
                onClick={() =>
                  nav(
                    `/${encodeURIComponent(entity)}/${encodeURIComponent(project)}/compare?runs=${drawn.join(",")}`,
                  )
                }
              >
                compare {drawn.length}
              </button>
            )}
            <ColumnsMenu
              columns={arranged}
              hidden={view.hidden}
              setHidden={(hidden) => setView({ hidden })}
              layout={layout}
              setLayout={setLayout}
            />
            <button type="button" className="link" onClick={exportCSV}>
              CSV
            </button>
          </div>
          <label className="group-by">
            Group by{" "}
            <select
              aria-label="Group by"
              value={view.groupBy}
              onChange={(e) => setView({ groupBy: e.target.value })}
            >
              <option value="">none</option>
              {(groupOptions.includes(view.groupBy) || !view.groupBy
                ? groupOptions
                : [...groupOptions, view.groupBy]
              ).map((g) => (
                <option key={g} value={g}>
                  {g.replace(/^config\./, "")}
                  {g.startsWith("config.") ? "" : " (run)"}
                </option>
              ))}
            </select>
            {tableGroups && <span className="muted"> {tableGroups.length} groups</span>}
          </label>
          {error && <div className="error">{error}</div>}
        </div>
        <RunsTable
          runs={runs ?? []}
          columns={shown}
          drawn={drawnSet}
          sort={view.sort}
          onSort={(sort) => setView({ sort })}
          onToggle={toggle}
          onToggleAll={(on) => setView({ selected: on ? (runs ?? []).map((r) => r.id) : [] })}
          onOpen={(id) =>
            nav(
              `/${encodeURIComponent(entity)}/${encodeURIComponent(project)}/runs/${encodeURIComponent(id)}`,
            )
          }
          pinned={pinned}
          onMoveColumn={moveTo}
          groups={tableGroups}
          groupBy={view.groupBy}
          collapsedGroups={collapsedGroups}
          onToggleGroup={(id) =>
            setCollapsedGroups((c) => {
              const n = new Set(c);
              if (n.has(id)) n.delete(id);
              else n.add(id);
              return n;
            })
          }
          onDrawGroup={(g, on) => {
            const set = new Set(drawn);
            for (const id of g.runs) {
              if (on) set.add(id);
              else set.delete(id);
            }
            setView({ selected: (runs ?? []).map((r) => r.id).filter((id) => set.has(id)) });
          }}
        />
      </aside>
      <main className="panels-pane">
        <PlotToolbar view={view} setView={setView} keys={numericKeys} />
        <Panels
          entity={entity}
          project={project}
          keys={keys}
          keySearch={view.keySearch}
          runs={drawnOrdered}
          names={plotNames}
          runStart={runStart}
          view={plotView}
          versions={versions}
          onZoom={onZoom}
          groups={panelGroups}
          band={view.band}
          layout={layout}
          setLayout={setLayout}
          system={system}
          types={types}
          configs={configs}
        />
      </main>
    </div>
  );
}

/** Show/hide, pin and move columns (moving also works by dragging a header). */
function ColumnsMenu({
  columns,
  hidden,
  setHidden,
  layout,
  setLayout,
}: {
  columns: Column[];
  hidden: string[];
  setHidden: (h: string[]) => void;
  layout: Layout;
  setLayout: (l: Layout) => void;
}) {
  const ids = columns.map((c) => c.id);
  const move = (id: string, d: -1 | 1) =>
    setLayout({ ...layout, order: moveColumn(ids, layout.pinned, id, d) });
  return (
    <details className="menu">
      <summary>Columns</summary>
      <div className="menu-body columns-menu">
        {ids.map((c) => {
          const pin = layout.pinned.includes(c);
          return (
            <div key={c} className="column-item">
              <label>
                <input
                  type="checkbox"
                  checked={!hidden.includes(c)}
                  onChange={(e) =>
                    setHidden(e.target.checked ? hidden.filter((h) => h !== c) : [...hidden, c])
                  }
                />
                {c}
              </label>
              <span className="column-tools">
                <button
                  type="button"
                  className={`link${pin ? " on" : ""}`}
                  aria-pressed={pin}
                  aria-label={`Pin column ${c}`}
                  title={pin ? "Unpin" : "Pin: show first and keep in view"}
                  onClick={() => setLayout({ ...layout, pinned: togglePin(layout.pinned, c), order: ids })}
                >
                  {pin ? "unpin" : "pin"}
                </button>
                <button
                  type="button"
                  className="link"
                  aria-label={`Move column ${c} left`}
                  onClick={() => move(c, -1)}
                >
                  ↑
                </button>
                <button
                  type="button"
                  className="link"
                  aria-label={`Move column ${c} right`}
                  onClick={() => move(c, 1)}
                >
                  ↓
                </button>
              </span>
            </div>
          );
        })}
        {(layout.order.length > 0 || layout.pinned.length > 0) && (
          <button
            type="button"
            className="link"
            onClick={() => setLayout({ ...layout, order: [], pinned: [] })}
          >
            default order
          </button>
        )}
      </div>
    </details>
  );
}

export function PlotToolbar({
  view,
  setView,
  keys,
}: {
  view: ViewState;
  setView: (p: Partial<ViewState>) => void;
  keys: string[];
}) {
  const s = view.smoothing;
  const weighted = s.kind === "ema" || s.kind === "twema";
  return (
    <div className="toolbar">
      <input
        type="search"
        placeholder="Search panels"
        aria-label="Search panels"
        value={view.keySearch}
        onChange={(e) => setView({ keySearch: e.target.value })}
      />
      <label>
        Smoothing{" "}
        <select
          aria-label="Smoothing"
          value={s.kind}
          onChange={(e) => {
            const kind = e.target.value as SmoothKind;
            const value =
              kind === "ema" || kind === "twema" ? 0.6 : kind === "gauss" ? 3 : kind === "avg" ? 10 : 0;
            setView({ smoothing: { kind, value } });
          }}
        >
          <option value="none">none</option>
          <option value="twema">time-weighted EMA</option>
          <option value="ema">EMA</option>
          <option value="gauss">Gaussian</option>
          <option value="avg">running average</option>
        </select>
      </label>
      {s.kind !== "none" && (
        <input
          type="range"
          aria-label="Smoothing amount"
          min={weighted ? 0 : 1}
          max={weighted ? 0.99 : 100}
          step={weighted ? 0.01 : 1}
          value={s.value}
          onChange={(e) => setView({ smoothing: { kind: s.kind, value: Number(e.target.value) } })}
        />
      )}
      {s.kind !== "none" && <span className="muted num">{s.value}</span>}
      <label>
        X{" "}
        <select
          aria-label="X axis"
          value={view.x}
          onChange={(e) => setView({ x: e.target.value as XAxis, zoom: null })}
        >
          <option value="step">Step</option>
          <option value="wall">Wall time</option>
          <option value="rel">Relative time</option>
          {keys.map((k) => (
            <option key={k} value={`key:${k}`}>
              {k}
            </option>
          ))}
        </select>
      </label>
      <label>
        <input type="checkbox" checked={view.logY} onChange={(e) => setView({ logY: e.target.checked })} />{" "}
        log y
      </label>
      {view.groupBy && (
        <label>
          Band{" "}
          <select
            aria-label="Band"
            value={view.band}
            onChange={(e) => setView({ band: e.target.value as Band })}
          >
            <option value="minmax">min–max</option>
            <option value="std">± std</option>
          </select>
        </label>
      )}
      {view.zoom && (
        <button type="button" onClick={() => setView({ zoom: null })}>
          Reset zoom ({view.zoom[0]}–{view.zoom[1]})
        </button>
      )}
    </div>
  );
}

export function EmptyProject({ entity, project }: { entity: string; project: string }) {
  const code = `import fluoro as wandb
wandb.init(entity="${entity}", project="${project}")
wandb.log({"train/loss": 0.5})`;
  return (
    <div className="empty-project">
      <h2>No runs in {project} yet</h2>
      <p>
        Log to it from Python with the Fluoro SDK (or the unmodified wandb client with WANDB_BASE_URL set to
        this server):
      </p>
      <pre className="code" data-testid="snippet">
        {code}
      </pre>
      <p className="muted">
        Set FLUORO_BASE_URL={location.origin} and FLUORO_API_KEY to your key. Runs appear here live.
      </p>
    </div>
  );
}
