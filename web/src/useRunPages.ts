// Asks the server for the runs table's pages (runpages.ts holds them): the
// rows in view as the table scrolls, the runs a grouped table shows by id
// (groups list run ids in their own order), every matching run when an
// export needs them, and fresh copies of the runs a live event names.

import { useCallback, useEffect, useRef, useState } from "react";
import { api, type Run } from "./api";
import { bulkSize, idFilters, RunPages } from "./runpages";

export interface RunRows {
  /** the pages; a new filter or sort swaps it once its first page is in */
  pages: RunPages;
  /** bumps whenever a page or run arrives (a dependency for memos) */
  version: number;
  error: Error | null;
  /** the table shows rows start..end: ask for the pages missing there */
  ensure: (start: number, end: number) => void;
  /** every matching run, asked a bulk page at a time when not all here */
  loadAll: (onProgress?: (loaded: number, total: number) => void) => Promise<Run[]>;
  /** runs changed in ways that move rows (created, finished, sort on a live field): refetch the rows in view, the rest when next shown */
  refreshRows: () => void;
  /** these runs' values changed (history, summary), not which rows match: refetch them by id, in place */
  refreshRuns: (ids: string[]) => void;
  /** a grouped table shows these runs: ask by id for those not here (or stale) */
  ensureIds: (ids: string[]) => void;
  /** a run on a loaded page, or asked for by id */
  runById: (id: string) => Run | undefined;
  /** bumps when which runs match, or their order, may have changed (a new filter, a live run event) */
  rowsVersion: number;
}

export function useRunPages(entity: string, project: string, filter: string, sort: string): RunRows {
  const key = `${entity}/${project}?${filter}&${sort}`;
  const [pages, setPages] = useState(() => new RunPages(key));
  const current = useRef(pages);
  const [version, setVersion] = useState(0);
  const [error, setError] = useState<Error | null>(null);
  const range = useRef<[number, number]>([0, 50]);
  const inflight = useRef(new Set<string>());
  const bump = useCallback(() => setVersion((v) => v + 1), []);
  const [rowsVersion, setRowsVersion] = useState(0);
  // Runs asked for by id (a grouped table's rows), for this filter and sort;
  // stale ones stay shown until their fresh copy is in.
  // (gone: asked for and not there, no longer matching: not asked again until a live run event)
  const newById = () => ({
    key,
    runs: new Map<string, Run>(),
    stale: new Set<string>(),
    asked: new Set<string>(),
    gone: new Set<string>(),
  });
  const byId = useRef(newById());
  if (byId.current.key !== key) byId.current = newById();

  const fetchPage = useCallback(
    (c: RunPages, page: number, onDone?: () => void) => {
      const tag = `${c.key}#${page}`;
      if (inflight.current.has(tag)) return;
      inflight.current.add(tag);
      api
        .runs(entity, project, { filter, sort, limit: c.size, offset: page * c.size })
        .then(
          (r) => {
            c.put(page * c.size, r.runs ?? [], r.total);
            setError(null);
            onDone?.();
            if (current.current === c) bump();
          },
          (e: Error) => {
            if (current.current === c || c.total == null) setError(e);
          },
        )
        .finally(() => inflight.current.delete(tag));
    },
    [entity, project, filter, sort, bump],
  );

  const ensure = useCallback(
    (start: number, end: number) => {
      range.current = [start, end];
      const c = current.current;
      if (c.key !== key) return; // a new filter's first page is on its way
      for (const p of c.wanted(start, end)) fetchPage(c, p);
    },
    [key, fetchPage],
  );

  // A new filter or sort: the old rows stay until the new first page is in
  // (no flash of an empty table), then the rows in view are asked for.
  useEffect(() => {
    if (current.current.key === key) {
      if (current.current.total == null) fetchPage(current.current, 0);
      return;
    }
    const next = new RunPages(key);
    let gone = false;
    fetchPage(next, 0, () => {
      if (gone) return;
      current.current = next;
      setPages(next);
      const [s, e] = range.current;
      for (const p of next.wanted(s, e)) fetchPage(next, p);
    });
    return () => {
      gone = true;
    };
  }, [key, fetchPage]);

  const loadEvery = useCallback(
    async (c: RunPages, onProgress?: (loaded: number, total: number) => void): Promise<Run[]> => {
      if (c.total == null) {
        const r = await api.runs(entity, project, { filter, sort, limit: bulkSize, offset: 0 });
        c.put(0, r.runs ?? [], r.total);
      }
      for (let off = 0; off < (c.total ?? 0); off += bulkSize) {
        if (current.current !== c) throw new DOMException("the filter changed", "AbortError");
        if (c.fresh(off, Math.min(bulkSize, (c.total ?? 0) - off))) continue;
        const r = await api.runs(entity, project, { filter, sort, limit: bulkSize, offset: off });
        c.put(off, r.runs ?? [], r.total);
        onProgress?.(Math.min(off + bulkSize, r.total), r.total);
      }
      if (current.current === c) bump();
      return c.loaded();
    },
    [entity, project, filter, sort, bump],
  );
  // One load of every run at a time, per set of pages (grouping and an
  // export asking together share it).
  const allPending = useRef<{ c: RunPages; p: Promise<Run[]> } | null>(null);
  const loadAll = useCallback(
    (onProgress?: (loaded: number, total: number) => void): Promise<Run[]> => {
      const c = current.current;
      if (allPending.current?.c === c) return allPending.current.p;
      const p = loadEvery(c, onProgress).finally(() => {
        if (allPending.current?.p === p) allPending.current = null;
      });
      allPending.current = { c, p };
      return p;
    },
    [loadEvery],
  );

  const fetchIds = useCallback(
    (ids: string[]) => {
      const b = byId.current;
      const want = ids.filter((id) => !b.asked.has(id));
      if (want.length === 0) return;
      for (const id of want) b.asked.add(id);
      Promise.all(
        idFilters(want, filter).map((f) => api.runs(entity, project, { filter: f, sort, limit: bulkSize })),
      )
        .then(
          (rs) => {
            const got = new Set<string>();
            for (const run of rs.flatMap((r) => r.runs ?? [])) {
              b.runs.set(run.id, run);
              b.stale.delete(run.id);
              got.add(run.id);
            }
            for (const id of want) if (!got.has(id)) b.gone.add(id);
            if (byId.current === b) bump();
          },
          () => {}, // asked again when next shown
        )
        .finally(() => {
          for (const id of want) b.asked.delete(id);
        });
    },
    [entity, project, filter, sort, bump],
  );

  const ensureIds = useCallback(
    (ids: string[]) => {
      const b = byId.current;
      const c = current.current;
      fetchIds(
        ids.filter(
          (id) =>
            (c.key !== key || c.rowOf(id) == null) && !b.gone.has(id) && (!b.runs.has(id) || b.stale.has(id)),
        ),
      );
    },
    [key, fetchIds],
  );

  const runById = useCallback(
    (id: string): Run | undefined => {
      const c = current.current;
      const row = c.key === key ? c.rowOf(id) : undefined;
      return (row != null ? c.at(row) : undefined) ?? byId.current.runs.get(id);
    },
    [key],
  );

  const refreshRows = useCallback(() => {
    const c = current.current;
    c.markStale();
    const [s, e] = range.current;
    for (const p of c.wanted(s, e)) fetchPage(c, p);
    const b = byId.current;
    for (const id of b.runs.keys()) b.stale.add(id);
    b.gone.clear();
    setRowsVersion((v) => v + 1);
  }, [fetchPage]);

  const refreshRuns = useCallback(
    (ids: string[]) => {
      const c = current.current;
      const here = ids.filter((id) => c.rowOf(id) != null);
      const b = byId.current;
      const asked = ids.filter((id) => c.rowOf(id) == null && b.runs.has(id));
      if (asked.length > 0) fetchIds(asked);
      for (const f of idFilters(here)) {
        api.runs(entity, project, { filter: f, limit: bulkSize }).then(
          (r) => {
            if (c.replace(r.runs ?? []) > 0 && current.current === c) bump();
          },
          () => {}, // the next event or page asks again
        );
      }
    },
    [entity, project, bump, fetchIds],
  );

  return {
    pages,
    version,
    error,
    ensure,
    loadAll,
    refreshRows,
    refreshRuns,
    ensureIds,
    runById,
    rowsVersion,
  };
}
