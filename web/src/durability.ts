// Durability: points a run's client logged and spooled that never reached
// the server (api.md#durability). While a run is running a batch interval
// of them is always on its way, so only a run that has ended is warned
// about: its machine still holds data that `fluoro sync` would send.

import type { Run } from "./api";
import { formatCount } from "./format";

type Figures = Pick<Run, "state" | "points_pending">;

/** Points still in the spool of a run that has ended; 0 while it runs, or when its writers do not say. */
export function strandedPoints(r: Figures): number {
  const n = r.points_pending ?? 0;
  return r.state !== "running" && n > 0 ? n : 0;
}

const points = (n: number) => `${formatCount(n)} point${n === 1 ? "" : "s"}`;
const where = (host: string) => (host ? `host ${host}` : "the machine that ran it");

/** The shell command that sends a run's spool, run where the run started (the SDK writes fluoro/run-<time>-<id>/ there). */
export function syncCommand(id: string): string {
  return `fluoro sync fluoro/run-*-${id}`;
}

/**
 * The run page's warning for a run that ended with points still in its
 * spool, null otherwise. Commands are in backticks (the page shows them as
 * code).
 */
export function pendingWarning(r: Figures & Pick<Run, "id" | "host">): string | null {
  const n = strandedPoints(r);
  if (n === 0) return null;
  return (
    `${points(n)} never reached the server. ${n === 1 ? "It is" : "They are"} still in the run's spool on ${where(r.host)}: ` +
    `there, in the directory the run started in (or its FLUORO_DIR), run \`${syncCommand(r.id)}\` ` +
    "(or `python -m fluoro sync` with the same path)."
  );
}

/** The runs table's tooltip for the same run, null when there is nothing to warn about. */
export function pendingTitle(r: Figures & Pick<Run, "host">): string | null {
  const n = strandedPoints(r);
  if (n === 0) return null;
  return `${points(n)} still on the client (${where(r.host)}), not at the server: run fluoro sync there`;
}
