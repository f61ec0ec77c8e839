// A project's workspace layout, kept in this browser's localStorage (keyed
// by entity/project): panels the user removed or added, and the runs table's
// column order and pins. What the user is looking at (selection, grouping,
// smoothing, zoom…) stays in the URL; this is how the workspace is arranged.

import { useCallback, useState } from "react";
import type { XAxis } from "./url";

export interface CustomPanel {
  id: string;
  key: string;
  /** overrides of the workspace's x-axis and log scale for this panel */
  x?: XAxis;
  logY?: boolean;
}

export interface Layout {
  /** metric keys whose automatic panel was removed */
  removed: string[];
  /** panels added by hand, shown first in their own section */
  custom: CustomPanel[];
  /** runs-table column ids in the user's order (columns not listed follow, in their default order) */
  order: string[];
  /** pinned column ids: shown first, and kept in view when the table scrolls sideways */
  pinned: string[];
}

export const emptyLayout: Layout = { removed: [], custom: [], order: [], pinned: [] };

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : [];

/** Reads a stored layout; anything malformed becomes the empty layout's field. */
export function parseLayout(text: string | null): Layout {
  let o: Record<string, unknown> = {};
  try {
    const v = JSON.parse(text ?? "{}");
    if (v && typeof v === "object" && !Array.isArray(v)) o = v;
  } catch {
    // keep the defaults
  }
  const custom = Array.isArray(o.custom)
    ? o.custom
        .filter(
          (c): c is CustomPanel =>
            !!c && typeof c === "object" && typeof c.id === "string" && typeof c.key === "string",
        )
        .map((c) => ({
          id: c.id,
          key: c.key,
          ...(typeof c.x === "string" ? { x: c.x } : {}),
          ...(typeof c.logY === "boolean" ? { logY: c.logY } : {}),
        }))
    : [];
  return { removed: strings(o.removed), custom, order: strings(o.order), pinned: strings(o.pinned) };
}

export const layoutStorageKey = (entity: string, project: string) => `fluoro.layout.${entity}/${project}`;

/** Columns in display order: pinned first (in pin order), then the user's order, then the rest. */
export function arrangeColumns<T extends { id: string }>(
  cols: T[],
  l: Pick<Layout, "order" | "pinned">,
): T[] {
  const byId = new Map(cols.map((c) => [c.id, c]));
  const out: T[] = [];
  const seen = new Set<string>();
  const take = (id: string) => {
    const c = byId.get(id);
    if (c && !seen.has(id)) {
      seen.add(id);
      out.push(c);
    }
  };
  for (const id of l.pinned) take(id);
  for (const id of l.order) take(id);
  for (const c of cols) take(c.id);
  return out;
}

/**
 * Moves a column one place left (-1) or right (+1) among the shown columns,
 * staying within its block (pinned or not). `shown` is the current display
 * order; the result is the new full order to store.
 */
export function moveColumn(shown: string[], pinned: string[], id: string, delta: -1 | 1): string[] {
  const i = shown.indexOf(id);
  const j = i + delta;
  if (i < 0 || j < 0 || j >= shown.length) return shown;
  if (pinned.includes(shown[i]) !== pinned.includes(shown[j])) return shown;
  const out = shown.slice();
  [out[i], out[j]] = [out[j], out[i]];
  return out;
}

/** Pins a column (to the end of the pinned block) or unpins it. */
export function togglePin(pinned: string[], id: string): string[] {
  return pinned.includes(id) ? pinned.filter((p) => p !== id) : [...pinned, id];
}

/** Adds a panel with a fresh id. */
export function addPanel(l: Layout, p: Omit<CustomPanel, "id">): Layout {
  let n = l.custom.length + 1;
  while (l.custom.some((c) => c.id === `p${n}`)) n++;
  return { ...l, custom: [...l.custom, { id: `p${n}`, ...p }] };
}

/** Removes a custom panel (by id) or an automatic one (by metric key). */
export function removePanel(l: Layout, what: { id: string } | { key: string }): Layout {
  if ("id" in what) return { ...l, custom: l.custom.filter((c) => c.id !== what.id) };
  return l.removed.includes(what.key) ? l : { ...l, removed: [...l.removed, what.key] };
}

/** The project's layout and a setter that stores it. */
export function useLayout(entity: string, project: string): [Layout, (l: Layout) => void] {
  const key = layoutStorageKey(entity, project);
  const [layout, setState] = useState(() => {
    try {
      return parseLayout(localStorage.getItem(key));
    } catch {
      return emptyLayout;
    }
  });
  const set = useCallback(
    (l: Layout) => {
      setState(l);
      try {
        localStorage.setItem(key, JSON.stringify(l));
      } catch {
        // storage full or disabled: the layout lasts for this page only
      }
    },
    [key],
  );
  return [layout, set];
}
