// Asks the server for the runs table's pages (runpages.ts holds them): the
// rows in view as the table scrolls, every matching run when grouping or
// exporting needs them, and fresh copies of the runs a live event names.

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

  const refreshRows = useCallback(() => {
    const c = current.current;
    c.markStale();
    const [s, e] = range.current;
    for (const p of c.wanted(s, e)) fetchPage(c, p);
  }, [fetchPage]);

  const refreshRuns = useCallback(
    (ids: string[]) => {
      const c = current.current;
      const here = ids.filter((id) => c.rowOf(id) != null);
      for (const f of idFilters(here)) {
        api.runs(entity, project, { filter: f, limit: bulkSize }).then(
          (r) => {
            if (c.replace(r.runs ?? []) > 0 && current.current === c) bump();
          },
          () => {}, // the next event or page asks again
        );
      }
    },
    [entity, project, bump],
  );

  return { pages, version, error, ensure, loadAll, refreshRows, refreshRuns };
}
