// The runs table's rows, a page at a time. The server filters and sorts
// (docs/api.md: `filter`, `sort`, `limit`, `offset`, and `total` in the
// answer); the table asks for the pages its virtualiser shows, so 10k runs
// cost what is on screen. Grouping and the CSV export need every matching
// run: `bulkSize` at a time, into the same pages. Pure (no fetch, no React):
// `useRunPages.ts` does the asking.

import type { Run } from "./api";
import { quote } from "./filter";

/** rows per page the table asks for as it scrolls */
export const pageSize = 200;
/** the API's largest page: what loading every matching run asks for at a time */
export const bulkSize = 1000;

export class RunPages {
  /** page number → its runs (a full page, except the last) */
  readonly pages = new Map<number, Run[]>();
  /** pages shown but due to be asked again (a live event changed the runs) */
  readonly stale = new Set<number>();
  /** matching runs, from the server's last answer; null before the first */
  total: number | null = null;
  private index: Map<string, number> | null = null;

  constructor(
    /** what the pages answer: project, filter and sort */
    readonly key: string,
    readonly size = pageSize,
  ) {}

  /** the run at row i, when its page is here */
  at(i: number): Run | undefined {
    return this.pages.get(Math.floor(i / this.size))?.[i % this.size];
  }

  lastPage(): number {
    return Math.max(0, Math.ceil((this.total ?? 0) / this.size) - 1);
  }

  /** pages holding rows start..end (inclusive) that are missing or stale */
  wanted(start: number, end: number): number[] {
    const out: number[] = [];
    const first = Math.floor(Math.max(0, start) / this.size);
    let last = Math.floor(Math.max(0, end) / this.size);
    if (this.total != null) last = Math.min(last, this.lastPage());
    for (let p = first; p <= last; p++) if (!this.pages.has(p) || this.stale.has(p)) out.push(p);
    return out;
  }

  /** whether rows offset..offset+n-1 are here and fresh */
  fresh(offset: number, n: number): boolean {
    return this.wanted(offset, offset + n - 1).length === 0 && this.total != null;
  }

  /**
   * Stores an answer: `runs` from row `offset` (a multiple of the page size)
   * on, of `total` matching. When the total moved, rows have shifted since
   * the other pages came: they stay shown, marked stale.
   */
  put(offset: number, runs: Run[], total: number): void {
    if (offset % this.size !== 0) throw new Error(`offset ${offset} is not a page boundary`);
    const first = offset / this.size;
    if (this.total != null && total !== this.total) for (const p of this.pages.keys()) this.stale.add(p);
    this.total = total;
    const n = Math.max(1, Math.ceil(runs.length / this.size));
    for (let i = 0; i < n; i++) {
      this.pages.set(first + i, runs.slice(i * this.size, (i + 1) * this.size));
      this.stale.delete(first + i);
    }
    for (const p of this.pages.keys())
      if (p > this.lastPage()) {
        this.pages.delete(p);
        this.stale.delete(p);
      }
    this.index = null;
  }

  /** every page due to be asked again (shown until it is) */
  markStale(): void {
    for (const p of this.pages.keys()) this.stale.add(p);
  }

  /** whether every matching run is here, fresh */
  complete(): boolean {
    return this.total != null && this.fresh(0, Math.max(1, this.total));
  }

  /** every run here, in row order (a run seen twice, across shifted pages, once) */
  loaded(): Run[] {
    const out: Run[] = [];
    const seen = new Set<string>();
    for (const p of [...this.pages.keys()].sort((a, b) => a - b))
      for (const r of this.pages.get(p) ?? [])
        if (!seen.has(r.id)) {
          seen.add(r.id);
          out.push(r);
        }
    return out;
  }

  /** the row of a run that is here; undefined otherwise */
  rowOf(id: string): number | undefined {
    if (!this.index) {
      this.index = new Map();
      for (const [p, runs] of this.pages)
        runs.forEach((r, i) => {
          if (!this.index?.has(r.id)) this.index?.set(r.id, p * this.size + i);
        });
    }
    return this.index.get(id);
  }

  /** replaces runs here by id with newer copies; returns how many it replaced */
  replace(runs: Run[]): number {
    let n = 0;
    for (const r of runs) {
      const row = this.rowOf(r.id);
      if (row == null) continue;
      const page = this.pages.get(Math.floor(row / this.size));
      if (page) {
        page[row % this.size] = r;
        n++;
      }
    }
    return n;
  }
}

/** The API's limits on a filter (internal/query): 100 values in one `in`, 4096 bytes. */
const maxIn = 100;
const maxFilterBytes = 4096;

/**
 * Filters that each select some of `ids` (`id in (…)`), and all of them
 * together every one, within the API's limits; `base` (a filter, or "") is
 * and-ed to each.
 */
export function idFilters(ids: string[], base = ""): string[] {
  const wrap = (list: string[]) => {
    const f = `id in (${list.join(", ")})`;
    return base ? `(${base}) and ${f}` : f;
  };
  const out: string[] = [];
  let cur: string[] = [];
  const bytes = (s: string) => new TextEncoder().encode(s).length;
  for (const id of ids) {
    const q = quote(id);
    if (cur.length > 0 && (cur.length >= maxIn || bytes(wrap([...cur, q])) > maxFilterBytes)) {
      out.push(wrap(cur));
      cur = [];
    }
    cur.push(q);
  }
  if (cur.length > 0) out.push(wrap(cur));
  return out;
}

/** Whether a filter or sort reads what a run's live history changes (summary, last step, times). */
export function readsLiveFields(filterOrSort: string): boolean {
  return /(^|[^A-Za-z0-9_."])(summary\.|last_step|updated_at|heartbeat_at)/.test(filterOrSort);
}
