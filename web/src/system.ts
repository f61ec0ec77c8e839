// System metrics (CPU, memory, GPU…) come from their own endpoint as samples
// in time, not steps. They are turned into the same columnar series as
// history, keyed `system/NAME`, so the line panels draw them against wall or
// relative time.

import type { Series } from "./chart";

export interface SystemSample {
  time: number;
  values: Record<string, number>;
}

/** The panel key of a system metric: `system/NAME` (a name already under system/ is kept). */
export function systemKey(name: string): string {
  return name.startsWith("system/") ? name : `system/${name}`;
}

/** One run's samples as one series per metric (steps are the sample indices). */
export function samplesToSeries(run: string, samples: SystemSample[]): Series[] {
  const out = new Map<string, Series>();
  samples.forEach((s, i) => {
    for (const [name, v] of Object.entries(s.values ?? {})) {
      const key = systemKey(name);
      let se = out.get(key);
      if (!se) {
        se = { run, key, total: 0, sampled: false, steps: [], times: [], values: [] };
        out.set(key, se);
      }
      se.steps.push(i);
      se.times.push(s.time);
      se.values.push(v);
      se.total++;
    }
  });
  return [...out.values()];
}

/** Series of several runs, by key. */
export function systemByKey(perRun: Series[][]): Map<string, Series[]> {
  const out = new Map<string, Series[]>();
  for (const ss of perRun)
    for (const s of ss) {
      const l = out.get(s.key);
      if (l) l.push(s);
      else out.set(s.key, [s]);
    }
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}

/** The x-axis for system panels: wall time when the workspace uses it, otherwise relative time. */
export function systemX(x: string): "wall" | "rel" {
  return x === "wall" ? "wall" : "rel";
}
