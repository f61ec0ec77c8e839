// Compare 2+ runs: config side by side with "only differences", and summary.

import { useEffect, useState } from "react";
import { api, type Run } from "../api";
import { runColor } from "../colors";
import { ErrorState } from "../components/ErrorState";
import { configDiff, formatValue } from "../format";
import type { ViewState } from "../url";

interface Props {
  entity: string;
  project: string;
  view: ViewState;
  setView: (patch: Partial<ViewState>) => void;
}

export function Compare({ entity, project, view, setView }: Props) {
  const ids = view.selected ?? [];
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [error, setError] = useState<{ run: string; e: Error } | null>(null);
  const idKey = ids.join(",");
  // biome-ignore lint/correctness/useExhaustiveDependencies: ids is derived from idKey
  useEffect(() => {
    setError(null);
    Promise.all(
      ids.map((id) =>
        api.run(entity, project, id).catch((e: Error) => {
          throw { run: id, e };
        }),
      ),
    ).then(setRuns, (x: { run: string; e: Error }) => setError(x));
  }, [entity, project, idKey]);
  if (ids.length < 2)
    return <div className="page">Select two or more runs in the workspace, then "compare".</div>;
  if (error)
    return (
      <ErrorState
        title={`Run ${error.run} could not be loaded for the comparison`}
        error={error.e}
        back={{
          href: `/${encodeURIComponent(entity)}/${encodeURIComponent(project)}`,
          label: `back to ${project}'s runs, to pick others`,
        }}
      />
    );
  if (!runs) return <div className="page muted">loading…</div>;
  const cfg = configDiff(runs.map((r) => r.config));
  const sum = configDiff(runs.map((r) => r.summary));
  const head = (
    <thead>
      <tr>
        <th>key</th>
        {runs.map((r) => (
          <th key={r.id}>
            <i className="swatch" style={{ background: runColor(r.id) }} /> {r.name}
          </th>
        ))}
      </tr>
    </thead>
  );
  const body = (rows: ReturnType<typeof configDiff>) => (
    <tbody>
      {rows
        .filter((r) => !view.onlyDiff || r.differs)
        .map((r) => (
          <tr key={r.key} className={r.differs ? "differs" : ""}>
            <th>{r.key}</th>
            {r.values.map((v, i) => (
              <td key={runs[i].id} className="mono">
                {formatValue(v)}
              </td>
            ))}
          </tr>
        ))}
    </tbody>
  );
  return (
    <div className="page compare">
      <h2>Compare {runs.length} runs</h2>
      <label>
        <input
          type="checkbox"
          checked={view.onlyDiff}
          onChange={(e) => setView({ onlyDiff: e.target.checked })}
        />{" "}
        only differences
      </label>
      <h3>Config</h3>
      <table className="kv diff" data-testid="config-diff">
        {head}
        {body(cfg)}
      </table>
      <h3>Summary</h3>
      <table className="kv diff" data-testid="summary-diff">
        {head}
        {body(sum)}
      </table>
    </div>
  );
}
