// Auto-generated panels: one per metric key, in collapsible sections by
// prefix. Collapsed sections are remembered per project in localStorage.

import { useState } from "react";
import { type Section, sections } from "../chart";
import { LinePlot, type PlotView } from "./LinePlot";

const titles: Record<Section, string> = { train: "train/", val: "val/", system: "system/", other: "Other" };

interface Props {
  entity: string;
  project: string;
  keys: string[];
  keySearch: string;
  runs: string[];
  names: Map<string, string>;
  runStart: Map<string, number>;
  view: PlotView;
  versions: Record<string, number>;
  onZoom: (r: [number, number] | null) => void;
}

function loadCollapsed(id: string): Record<string, boolean> {
  try {
    return JSON.parse(localStorage.getItem(`fluoro.collapsed.${id}`) ?? "{}");
  } catch {
    return {};
  }
}

export function Panels(p: Props) {
  const id = `${p.entity}/${p.project}`;
  const [collapsed, setCollapsed] = useState(() => loadCollapsed(id));
  const toggle = (s: string) => {
    const next = { ...collapsed, [s]: !collapsed[s] };
    setCollapsed(next);
    localStorage.setItem(`fluoro.collapsed.${id}`, JSON.stringify(next));
  };
  const secs = sections(p.keys, p.keySearch);
  if (secs.length === 0) {
    return (
      <div className="empty">
        {p.keys.length === 0
          ? "No metrics logged yet: panels appear with the first wandb.log()."
          : "No key matches the search."}
      </div>
    );
  }
  return (
    <div className="sections">
      {secs.map(([sec, keys]) => (
        <section key={sec} className="section" data-section={sec}>
          <h3>
            <button
              type="button"
              className="section-toggle"
              aria-expanded={!collapsed[sec]}
              onClick={() => toggle(sec)}
            >
              {collapsed[sec] ? "▸" : "▾"} {titles[sec]} <span className="muted">{keys.length}</span>
            </button>
          </h3>
          {!collapsed[sec] && (
            <div className="grid">
              {keys.map((k) => (
                <LinePlot
                  key={k}
                  entity={p.entity}
                  project={p.project}
                  metric={k}
                  runs={p.runs}
                  names={p.names}
                  runStart={p.runStart}
                  view={p.view}
                  version={p.versions[k] ?? 0}
                  onZoom={p.onZoom}
                />
              ))}
            </div>
          )}
        </section>
      ))}
    </div>
  );
}
