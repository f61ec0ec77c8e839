// Display formatting for table cells and the run page.

export function formatValue(v: unknown): string {
  if (v == null) return "";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(3);
    return String(+v.toPrecision(5));
  }
  if (typeof v === "string") return v;
  return JSON.stringify(v);
}

// One formatter for every cell (toLocaleString builds one per call).
let countFormat: Intl.NumberFormat | null = null;

/** A count with the locale's thousands separators (1,234,567 in English). */
export function formatCount(n: number): string {
  countFormat ??= new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  return countFormat.format(n);
}

let timeFormat: Intl.DateTimeFormat | null = null;

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  timeFormat ??= new Intl.DateTimeFormat(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
  return timeFormat.format(d);
}

/** Runtime of a run: until finished, or until now (running) / last heartbeat. */
export function runtimeSeconds(
  r: {
    created_at: string;
    finished_at: string | null;
    heartbeat_at: string;
    state: string;
  },
  now: number = Date.now(),
): number {
  const start = Date.parse(r.created_at);
  const end = r.finished_at
    ? Date.parse(r.finished_at)
    : r.state === "running"
      ? now
      : Date.parse(r.heartbeat_at);
  return Math.max(0, (end - start) / 1000);
}

export function formatRuntime(s: number): string {
  if (!Number.isFinite(s)) return "";
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${sec}s`;
  return `${sec}s`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** Flattens a nested config into dotted keys (the filter language's paths). */
export function flatten(obj: Record<string, unknown>, prefix = "", out: Record<string, unknown> = {}) {
  for (const [k, v] of Object.entries(obj ?? {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === "object" && !Array.isArray(v) && !("_type" in v))
      flatten(v as Record<string, unknown>, key, out);
    else out[key] = v;
  }
  return out;
}

/** Rows of a config diff: every key, each run's value, and whether they differ. */
export function configDiff(
  configs: Record<string, unknown>[],
): { key: string; values: unknown[]; differs: boolean }[] {
  const flat = configs.map((c) => flatten(c));
  const keys = new Set<string>();
  for (const f of flat) for (const k of Object.keys(f)) keys.add(k);
  return [...keys].sort().map((key) => {
    const values = flat.map((f) => f[key]);
    const s = values.map((v) => JSON.stringify(v));
    return { key, values, differs: s.some((x) => x !== s[0]) };
  });
}
