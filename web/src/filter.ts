// Helpers for the server's run filter language (docs/api.md): quoting,
// field paths, and combining the name search with a typed expression.

/** A string literal in the filter language. */
export function quote(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

const plainSegment = /^[A-Za-z_][A-Za-z0-9_/-]*$/;

/** A field reference, e.g. field("summary", "val/loss") → summary.val/loss; odd keys are quoted. */
export function field(root: "config" | "summary", key: string): string {
  const segs = key.split(".");
  return [root, ...segs.map((s) => (plainSegment.test(s) ? s : quote(s)))].join(".");
}

/** Combines the name search and the user's expression into one filter. */
export function combineFilter(search: string, expr: string): string {
  const parts: string[] = [];
  const s = search.trim();
  if (s) parts.push(`name ~ ${quote(s)}`);
  const e = expr.trim();
  if (e) parts.push(parts.length ? `(${e})` : e);
  return parts.join(" and ");
}

/** A sort spec for a column: toggles ascending → descending → none on repeated clicks. */
export function nextSort(current: string, column: string): string {
  if (current === column) return `-${column}`;
  if (current === `-${column}`) return "";
  return column;
}

/** Which way a column is sorted in a sort spec. */
export function sortDirection(current: string, column: string): "asc" | "desc" | null {
  const first = current.split(",")[0];
  if (first === column) return "asc";
  if (first === `-${column}`) return "desc";
  return null;
}

/** An equality clause for a value, as "click a cell to filter" uses. */
export function equals(fieldRef: string, value: unknown): string {
  if (typeof value === "number" || typeof value === "boolean") return `${fieldRef} = ${value}`;
  return `${fieldRef} = ${quote(String(value))}`;
}
