// The workspace: runs table on the left, panels on the right, everything the
// user changes kept in the URL. Live events refresh the table and extend
// the drawn lines without touching the zoom.

import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ApiError, api, chartsIdle, type Run, whatToDo } from "../api";
import type { Series } from "../chart";
import { Panels } from "../components/Panels";
import {
  type Column,
  columnsFor,
  defaultKeyColumns,
  type ProjectFields,
  RunsTable,
  toCSV,
} from "../components/RunsTable";
import { combineFilter } from "../filter";
import { type Band, groupFields, type RunGroup } from "../group";
import { arrangeColumns, type Layout, moveColumn, togglePin, useLayout } from "../layout";
import { subscribe, throttle } from "../live";
import { bulkSize, idFilters, readsLiveFields } from "../runpages";
import type { SmoothKind } from "../smoothing";
import { samplesToSeries, systemByKey } from "../system";
import type { ViewState, XAxis } from "../url";
import { useRunPages } from "../useRunPages";

interface Props {
  entity: string;
  project: string;
  view: ViewState;
  setView: (patch: Partial<ViewState>, push?: boolean) => void;
  nav: (path: string) => void;
}

const defaultDrawn = 10;
/** "Draw all runs" draws at most this many (the first rows) */
const maxDrawAll = 1000;

export function Workspace({ entity, project, view, setView, nav }: Props) {
  const [keys, setKeys] = useState<string[]>([]);
  const [types, setTypes] = useState<Record<string, string>>({});
  const [versions, setVersions] = useState<Record<string, number>>({});
  const [search, setSearch] = useState(view.search);
  const [filterText, setFilterText] = useState(view.filter);
  const filter = combineFilter(view.search, view.filter);
  const [layout, setLayout] = useLayout(entity, project);
  const [collapsedGroups, setCollapsedGroups] = useState<Set<string>>(() => new Set());
  const [exporting, setExporting] = useState("");
  const [actionError, setActionError] = useState("");

  // The table's rows, a page at a time (server-side filter and sort).
  const rows = useRunPages(entity, project, filter, view.sort);
  const { pages, version } = rows;
  const total = pages.total ?? 0;
  const loaded = pages.total != null;
  const error = rows.error;
  // A project exists from its first run on: until then, show how to log one.
  const missing = error instanceof ApiError && error.status === 404 && !filter;
  // biome-ignore lint/correctness/useExhaustiveDependencies: version: pages arrived
  const loadedRuns = useMemo(() => pages.loaded(), [pages, version]);

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

  // Every config and summary key of the project, for the key columns and
  // the group-by list before the runs that have them are loaded. Failing,
  // the columns come from the loaded runs alone (as they also do for keys
  // newer than the list). A failed refetch keeps the list it had.
  const [fields, setFields] = useState<ProjectFields | null>(null);
  const loadFields = useCallback(() => {
    api.fields(entity, project).then(setFields, () => {});
  }, [entity, project]);
  useEffect(loadFields, [loadFields]);

  // Debounced name search.
  const pushedSearch = useRef(view.search);
  useEffect(() => {
    if (search === view.search) return;
    const t = setTimeout(() => {
      pushedSearch.current = search;
      setView({ search });
    }, 250);
    return () => clearTimeout(t);
  }, [search, view.search, setView]);
  // The URL changed the search or filter (cleared, back button): the inputs follow.
  // Not the search this box just pushed: the user may have typed on since.
  useEffect(() => {
    if (view.search !== pushedSearch.current) {
      pushedSearch.current = view.search;
      setSearch(view.search);
    }
  }, [view.search]);
  useEffect(() => setFilterText(view.filter), [view.filter]);

  // Grouping: the server lists every matching run's id under its group (a
  // group's count is over all of them); the rows in view come by id.
  const [grouped, setGrouped] = useState<{ by: string; groups: RunGroup[] } | null>(null);
  const [groupNote, setGroupNote] = useState("");
  // groups of another field (the answer for the new one is on its way) are not shown
  const tableGroups = grouped && grouped.by === view.groupBy ? grouped.groups : null;
  const { rowsVersion } = rows;
  // biome-ignore lint/correctness/useExhaustiveDependencies: rowsVersion: runs were created or changed
  useEffect(() => {
    const by = view.groupBy;
    if (!by) {
      setGrouped(null);
      setGroupNote("");
      return;
    }
    let gone = false;
    api.runGroups(entity, project, { by, filter, sort: view.sort }).then(
      (r) => {
        if (gone) return;
        setGrouped({
          by,
          groups: r.groups.map((g) => ({ id: `group:${by}=${g.label}`, label: g.label, runs: g.runs })),
        });
        setGroupNote(
          r.truncated
            ? ` (the first ${r.groups.reduce((n, g) => n + g.runs.length, 0)} of ${r.total} runs)`
            : "",
        );
      },
      (e: Error) => {
        if (gone) return;
        setGrouped(null);
        setGroupNote(`could not group the runs: ${e.message}`);
      },
    );
    return () => {
      gone = true;
    };
  }, [entity, project, view.groupBy, filter, view.sort, rowsVersion]);

  // The first rows, drawn when the URL names no runs.
  // biome-ignore lint/correctness/useExhaustiveDependencies: version: pages arrived
  const firstKey = useMemo(() => {
    const ids: string[] = [];
    for (let i = 0; i < Math.min(defaultDrawn, total); i++) {
      const r = pages.at(i);
      if (r) ids.push(r.id);
    }
    return ids.join(",");
  }, [pages, version, total]);
  const firstRows = useMemo(() => (firstKey ? firstKey.split(",") : []), [firstKey]);
  const drawn = view.selected ?? firstRows;
  const drawnSet = useMemo(() => new Set(drawn), [drawn]);
  const drawnRef = useRef(drawnSet);
  drawnRef.current = drawnSet;

  // Which drawn runs match the filter, in the sort's order, and their data
  // (names, configs, start times), wherever they are in the table: asked by
  // id, so a drawn run on a page not loaded is still drawn and named.
  const selKey = view.selected ? [...view.selected].sort().join(",") : null;
  const [matched, setMatched] = useState<Map<string, Run> | null>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: selKey stands for view.selected
  useEffect(() => {
    const ids = view.selected;
    if (!ids) {
      setMatched(null);
      return;
    }
    let gone = false;
    Promise.all(
      idFilters(ids, filter).map((f) =>
        api.runs(entity, project, { filter: f, sort: view.sort, limit: bulkSize }),
      ),
    ).then(
      (rs) => {
        if (!gone) setMatched(new Map(rs.flatMap((r) => r.runs ?? []).map((r) => [r.id, r])));
      },
      () => {},
    );
    return () => {
      gone = true;
    };
  }, [entity, project, filter, view.sort, selKey]);
  const runOf = useCallback(
    (id: string): Run | undefined => {
      const row = pages.rowOf(id);
      return (row != null ? pages.at(row) : undefined) ?? rows.runById(id) ?? matched?.get(id);
    },
    [pages, rows.runById, matched],
  );

  // Runs named in the URL are drawn before the runs table answers (charts
  // fetch in parallel with it); then in the table's order, and only those
  // that match the filter.
  // biome-ignore lint/correctness/useExhaustiveDependencies: version: pages arrived
  const drawnOrdered = useMemo(() => {
    const sel = view.selected;
    if (!sel) return firstRows;
    if (pages.total == null && !matched) return sel;
    const order = [...(matched?.keys() ?? [])];
    const rank = (id: string) => pages.rowOf(id) ?? total + order.indexOf(id);
    return sel.filter((id) => pages.rowOf(id) != null || matched?.has(id)).sort((a, b) => rank(a) - rank(b));
  }, [view.selected, firstRows, pages, version, matched, total]);
  const drawnKey = drawnOrdered.join(",");
  const [systemTick, setSystemTick] = useState(0);
  const systemDirty = useRef(new Set<string>());
  const keysRef = useRef(keys);
  keysRef.current = keys;
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  // A filter or sort on what history changes (summary, last step): a
  // history event can move rows, not only change them.
  const liveOrder = readsLiveFields(filter) || readsLiveFields(view.sort);
  const liveOrderRef = useRef(liveOrder);
  liveOrderRef.current = liveOrder;

  // Live: runs appear and change, lines extend. Only what changed is asked
  // again: the runs a history event names (by id, in place), or the rows in
  // view when runs were created or finished (or the order reads live fields).
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
    const changedRuns = new Set<string>();
    const refreshChanged = throttle(() => {
      const ids = [...changedRuns];
      changedRuns.clear();
      rowsRef.current.refreshRuns(ids);
    }, 300);
    const refreshRows = throttle(() => rowsRef.current.refreshRows(), 300);
    // samples arrive every second or two per run: refetch at most once a second
    const flushSystem = throttle(() => setSystemTick((n) => n + 1), 1000);
    const refreshKeys = throttle(loadKeys, 300);
    // runs created or updated, or a batch (which may bring summary keys)
    const refreshFields = throttle(loadFields, 2000);
    return subscribe(entity, project, (ev) => {
      if (ev.type === "alert") return; // shown on the run's page
      if (ev.type !== "console") refreshFields();
      if (ev.type === "history") {
        const ks = ev.data.keys ?? [];
        if (ks.some((k) => !keysRef.current.includes(k))) refreshKeys();
        if (ev.data.run && drawnRef.current.has(ev.data.run)) {
          for (const k of ks) pending.add(k);
          flushHistory();
        }
        // summary, last step and runtime change too
        if (liveOrderRef.current) refreshRows();
        else if (ev.data.run) {
          changedRuns.add(ev.data.run);
          refreshChanged();
        }
      } else if (ev.type === "reset") {
        refreshRows();
        refreshKeys();
      } else if (ev.type === "console") {
        // console lines change nothing here; new system samples of a drawn run redraw its system panels
        const run = ev.data.run;
        if (run && Number(ev.data.samples ?? 0) > 0 && drawnRef.current.has(run)) {
          systemDirty.current.add(run);
          flushSystem();
        }
      } else {
        refreshRows();
      }
    });
  }, [entity, project, loadKeys, loadFields]);

  // biome-ignore lint/correctness/useExhaustiveDependencies: drawnKey stands for drawnOrdered
  const drawnRuns = useMemo(
    () => drawnOrdered.map(runOf).filter((r): r is Run => r != null),
    [drawnKey, runOf],
  );
  const configs = useMemo(() => new Map(drawnRuns.map((r) => [r.id, r.config])), [drawnRuns]);
  const numericKeys = useMemo(() => keys.filter((k) => !types[k]), [keys, types]);
  const names = useMemo(() => new Map(drawnRuns.map((r) => [r.id, r.name || r.id])), [drawnRuns]);
  const runStart = useMemo(
    () => new Map(drawnRuns.map((r) => [r.id, Date.parse(r.created_at) / 1000])),
    [drawnRuns],
  );
  // Columns: every config and summary key of the project, and of every loaded run.
  const columns = useMemo(() => columnsFor(loadedRuns, fields), [loadedRuns, fields]);
  const arranged = useMemo(() => arrangeColumns(columns, layout), [columns, layout]);
  const isShown = (c: Column) => !view.hidden.includes(c.id) && (!c.overflow || view.shown.includes(c.id));
  const shown = arranged.filter(isShown);
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

  // The drawn runs' groups (panels).
  const plotView = useMemo(
    () => ({ x: view.x, smoothing: view.smoothing, logY: view.logY, zoom: view.zoom }),
    [view.x, view.smoothing, view.logY, view.zoom],
  );
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

  if (missing || (loaded && total === 0 && !filter))
    return <EmptyProject entity={entity} project={project} />;

  // "Draw all": every matching run up to maxDrawAll, in the table's order.
  const drawAll = async () => {
    try {
      const all =
        total <= maxDrawAll
          ? await rows.loadAll()
          : (await api.runs(entity, project, { filter, sort: view.sort, limit: maxDrawAll })).runs;
      setView({ selected: all.slice(0, maxDrawAll).map((r) => r.id) });
    } catch (e) {
      setActionError(`Could not load the runs to draw: ${(e as Error).message}. Try again.`);
    }
  };
  // CSV of every matching run (not only the rows loaded), raw values.
  const exportCSV = async () => {
    setExporting("exporting…");
    try {
      const all = await rows.loadAll((n, t) => setExporting(`exporting ${n} of ${t}…`));
      download(toCSV(all, shown), `${project}-runs.csv`);
      setActionError("");
    } catch (e) {
      setActionError(`The CSV export failed: ${(e as Error).message}. Try again.`);
    } finally {
      setExporting("");
    }
  };
  const clearFilter = () => {
    setSearch("");
    setFilterText("");
    setView({ search: "", filter: "" });
  };
  const noMatch = (
    <div className="empty" data-testid="no-match">
      <p>
        No runs match{" "}
        {view.search && view.filter ? "this search and filter" : view.search ? "this search" : "this filter"}.
      </p>
      <p className="muted">
        Change it, or{" "}
        <button type="button" className="link" onClick={clearFilter}>
          clear the {view.search && view.filter ? "search and filter" : view.search ? "search" : "filter"}
        </button>{" "}
        to see every run.
      </p>
    </div>
  );

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
            <span data-testid="run-count">{loaded ? `${total} runs` : "loading…"}</span>
            <span className="muted"> · {drawnOrdered.length} drawn</span>
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
              isShown={isShown}
              setShown={(c, on) => {
                const hidden = view.hidden.filter((h) => h !== c.id);
                const extra = view.shown.filter((h) => h !== c.id);
                if (!on && !c.overflow) hidden.push(c.id);
                if (on && c.overflow) extra.push(c.id);
                setView({ hidden, shown: extra });
              }}
              layout={layout}
              setLayout={setLayout}
            />
            <button type="button" className="link" onClick={exportCSV} disabled={!!exporting}>
              {exporting || "CSV"}
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
            {tableGroups && (
              <span className="muted">
                {" "}
                {tableGroups.length} groups{groupNote}
              </span>
            )}
            {view.groupBy && !tableGroups && (
              <span className="muted" data-testid="group-progress">
                {" "}
                {groupNote || "grouping the runs…"}
              </span>
            )}
          </label>
          {error && !missing && (
            <div className="error" role="alert">
              <RunsError error={error} filtered={!!filter} onClear={clearFilter} />
            </div>
          )}
          {actionError && (
            <div className="error" role="alert">
              {actionError}
            </div>
          )}
        </div>
        <RunsTable
          count={total}
          rowAt={(i) => pages.at(i)}
          runById={rows.runById}
          onRange={rows.ensure}
          onIds={rows.ensureIds}
          version={version}
          columns={shown}
          drawn={drawnSet}
          allDrawn={total > 0 && drawnOrdered.length >= Math.min(total, maxDrawAll)}
          sort={view.sort}
          onSort={(sort) => setView({ sort })}
          onToggle={toggle}
          onToggleAll={(on) => (on ? drawAll() : setView({ selected: [] }))}
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
            // in the table's order: the groups', then any drawn run outside them
            const order = [...(tableGroups ?? []).flatMap((x) => x.runs), ...drawn];
            setView({ selected: [...new Set(order)].filter((id) => set.has(id)) });
          }}
          empty={loaded && total === 0 && filter ? noMatch : null}
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

/** Show/hide, pin and move columns (moving also works by dragging a header). Lists every column, with a search. */
function ColumnsMenu({
  columns,
  isShown,
  setShown,
  layout,
  setLayout,
}: {
  columns: Column[];
  isShown: (c: Column) => boolean;
  setShown: (c: Column, on: boolean) => void;
  layout: Layout;
  setLayout: (l: Layout) => void;
}) {
  const [q, setQ] = useState("");
  const ids = columns.map((c) => c.id);
  const move = (id: string, d: -1 | 1) =>
    setLayout({ ...layout, order: moveColumn(ids, layout.pinned, id, d) });
  const needle = q.trim().toLowerCase();
  const listed = needle ? columns.filter((c) => c.id.toLowerCase().includes(needle)) : columns;
  const hiddenExtra = columns.filter((c) => c.overflow && !isShown(c)).length;
  return (
    <details className="menu">
      <summary>Columns</summary>
      <div className="menu-body columns-menu">
        <input
          type="search"
          aria-label="Search columns"
          placeholder={`Search ${columns.length} columns`}
          value={q}
          onChange={(e) => setQ(e.target.value)}
        />
        {hiddenExtra > 0 && (
          <div className="muted small">
            {hiddenExtra} key columns past the first {defaultKeyColumns} config and {defaultKeyColumns}{" "}
            summary keys start hidden: tick them to show them.
          </div>
        )}
        {listed.map((col) => {
          const c = col.id;
          const pin = layout.pinned.includes(c);
          return (
            <div key={c} className="column-item">
              <label>
                <input
                  type="checkbox"
                  checked={isShown(col)}
                  onChange={(e) => setShown(col, e.target.checked)}
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

/** Saves text as a file. The object URL is revoked once the download has started, not before. */
function download(text: string, name: string) {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  // click() only queues the download: revoking now can cancel it (Firefox, Safari).
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Why the runs did not load, and what to do about it. */
function RunsError({ error, filtered, onClear }: { error: Error; filtered: boolean; onClear: () => void }) {
  const bad = error instanceof ApiError && error.code === "bad_data";
  return (
    <>
      {bad && filtered ? "The filter is not valid: " : "Could not load the runs: "}
      {error.message}.{" "}
      {bad && filtered ? (
        <>
          Fix the expression (see the filter language in docs/api.md) or{" "}
          <button type="button" className="link" onClick={onClear}>
            clear the filter
          </button>
          .
        </>
      ) : (
        <>
          {whatToDo(error)}{" "}
          <button type="button" className="link" onClick={() => location.reload()}>
            Reload
          </button>
        </>
      )}
    </>
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
