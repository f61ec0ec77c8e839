// Panels: one per metric key, generated, in collapsible sections by prefix;
// panels added by hand come first, in their own section. Removed and added
// panels are the project's layout (localStorage, see layout.ts); collapsed
// sections are remembered per project too. System metrics (their own
// endpoint, in time) join the system/ section, drawn against time. Keys
// the keys endpoint types as non-numeric (histograms, layer norms, media,
// strings) get the panels of MediaPanels.tsx instead of a line plot.

import { useMemo, useState } from "react";
import { type Section, type Series, sections } from "../chart";
import type { Band, RunGroup } from "../group";
import { addPanel, type Layout, removePanel } from "../layout";
import { panelKind } from "../media";
import { systemX } from "../system";
import type { XAxis } from "../url";
import { LinePlot, type PlotView } from "./LinePlot";
import { MediaPanel } from "./MediaPanels";

const titles: Record<Section | "custom", string> = {
  custom: "Custom",
  train: "train/",
  val: "val/",
  media: "Media",
  gradients: "gradients/",
  parameters: "parameters/",
  system: "system/",
  other: "Other",
};

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
  /** draw groups of runs (mean and band) instead of runs */
  groups?: RunGroup[] | null;
  band?: Band;
  /** the project's layout; without a setter panels cannot be added or removed */
  layout?: Layout;
  setLayout?: (l: Layout) => void;
  /** system metrics of the drawn runs, by key (system/NAME) */
  system?: Map<string, Series[]>;
  /** types of the non-numeric keys (histogram, image-file…); a key not here is numeric */
  types?: Record<string, string>;
  /** run configs, for media panels (the wandb client keeps mask class labels there) */
  configs?: Map<string, Record<string, unknown>>;
}

const noTypes: Record<string, string> = {};

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
  const layout = p.layout;
  const removed = useMemo(() => new Set(layout?.removed ?? []), [layout]);
  const historyKeys = useMemo(() => new Set(p.keys), [p.keys]);
  const systemKeys = useMemo(
    () => [...(p.system?.keys() ?? [])].filter((k) => !historyKeys.has(k)),
    [p.system, historyKeys],
  );
  const allKeys = useMemo(() => [...p.keys, ...systemKeys], [p.keys, systemKeys]);
  const types = p.types ?? noTypes;
  const secs = sections(
    allKeys.filter((k) => !removed.has(k)),
    p.keySearch,
    types,
  );
  const q = p.keySearch.trim().toLowerCase();
  const custom = (layout?.custom ?? []).filter((c) => !q || c.key.toLowerCase().includes(q));
  const systemView = useMemo(() => ({ ...p.view, x: systemX(p.view.x) as XAxis, zoom: null }), [p.view]);
  const setLayout = p.setLayout;
  const plot = (
    key: string,
    extra: { panelId?: string; x?: XAxis; logY?: boolean; onRemove?: () => void } = {},
  ) => {
    const sys = !historyKeys.has(key) ? p.system?.get(key) : undefined;
    const kind = sys ? "line" : panelKind(types[key]);
    if (kind !== "line")
      return (
        <MediaPanel
          key={extra.panelId ?? key}
          panelId={extra.panelId}
          entity={p.entity}
          project={p.project}
          metric={key}
          kind={kind}
          type={types[key]}
          runs={p.runs}
          names={p.names}
          version={p.versions[key] ?? 0}
          zoom={p.view.zoom}
          configs={p.configs}
          onRemove={extra.onRemove}
        />
      );
    const view =
      extra.x != null || extra.logY != null
        ? {
            ...p.view,
            ...(extra.x != null ? { x: extra.x, zoom: null } : {}),
            ...(extra.logY != null ? { logY: extra.logY } : {}),
          }
        : p.view;
    const note = [extra.x ? `x: ${extra.x.replace(/^key:/, "")}` : "", extra.logY ? "log y" : ""]
      .filter(Boolean)
      .join(", ");
    return (
      <LinePlot
        key={extra.panelId ?? key}
        panelId={extra.panelId}
        entity={p.entity}
        project={p.project}
        metric={key}
        runs={p.runs}
        names={p.names}
        runStart={p.runStart}
        view={sys ? systemView : view}
        version={p.versions[key] ?? 0}
        onZoom={p.onZoom}
        groups={sys ? null : p.groups}
        band={p.band}
        data={sys}
        note={note || undefined}
        onRemove={extra.onRemove}
      />
    );
  };
  const head = (sec: string, n: number) => (
    <h3>
      <button
        type="button"
        className="section-toggle"
        aria-expanded={!collapsed[sec]}
        onClick={() => toggle(sec)}
      >
        {collapsed[sec] ? "▸" : "▾"} {titles[sec as Section]} <span className="muted">{n}</span>
      </button>
    </h3>
  );
  return (
    <>
      {layout && setLayout && <PanelsMenu keys={allKeys} layout={layout} setLayout={setLayout} />}
      {secs.length === 0 && custom.length === 0 ? (
        <div className="empty">
          {allKeys.length === 0
            ? "No metrics logged yet: panels appear with the first wandb.log()."
            : "No key matches the search."}
        </div>
      ) : (
        <div className="sections">
          {custom.length > 0 && (
            <section className="section" data-section="custom">
              {head("custom", custom.length)}
              {!collapsed.custom && (
                <div className="grid">
                  {custom.map((c) =>
                    plot(c.key, {
                      panelId: c.id,
                      x: c.x,
                      logY: c.logY,
                      onRemove:
                        setLayout && layout ? () => setLayout(removePanel(layout, { id: c.id })) : undefined,
                    }),
                  )}
                </div>
              )}
            </section>
          )}
          {secs.map(([sec, keys]) => (
            <section key={sec} className="section" data-section={sec}>
              {head(sec, keys.length)}
              {!collapsed[sec] && (
                <div className="grid">
                  {keys.map((k) =>
                    plot(k, {
                      onRemove:
                        setLayout && layout ? () => setLayout(removePanel(layout, { key: k })) : undefined,
                    }),
                  )}
                </div>
              )}
            </section>
          ))}
        </div>
      )}
    </>
  );
}

/** "Add panel" (a metric, with its own x-axis and log scale) and restoring removed panels. */
function PanelsMenu({
  keys,
  layout,
  setLayout,
}: {
  keys: string[];
  layout: Layout;
  setLayout: (l: Layout) => void;
}) {
  const sorted = useMemo(() => [...keys].sort(), [keys]);
  const [key, setKey] = useState("");
  const [x, setX] = useState("");
  const [logY, setLogY] = useState(false);
  const chosen = key || sorted[0] || "";
  return (
    <div className="panels-menu">
      <details className="menu">
        <summary>Add panel</summary>
        <form
          className="menu-body add-panel"
          onSubmit={(e) => {
            e.preventDefault();
            if (!chosen) return;
            setLayout(
              addPanel(layout, { key: chosen, ...(x ? { x: x as XAxis } : {}), ...(logY ? { logY } : {}) }),
            );
            (e.currentTarget.closest("details") as HTMLDetailsElement | null)?.removeAttribute("open");
          }}
        >
          <label>
            Metric{" "}
            <select aria-label="Panel metric" value={chosen} onChange={(e) => setKey(e.target.value)}>
              {sorted.map((k) => (
                <option key={k} value={k}>
                  {k}
                </option>
              ))}
            </select>
          </label>
          <label>
            X{" "}
            <select aria-label="Panel x axis" value={x} onChange={(e) => setX(e.target.value)}>
              <option value="">workspace's</option>
              <option value="step">Step</option>
              <option value="wall">Wall time</option>
              <option value="rel">Relative time</option>
            </select>
          </label>
          <label>
            <input type="checkbox" checked={logY} onChange={(e) => setLogY(e.target.checked)} /> log y
          </label>
          <button type="submit" disabled={!chosen}>
            Add
          </button>
        </form>
      </details>
      {layout.removed.length > 0 && (
        <button
          type="button"
          className="link"
          onClick={() => setLayout({ ...layout, removed: [] })}
          title={layout.removed.join(", ")}
        >
          restore {layout.removed.length} removed panel{layout.removed.length > 1 ? "s" : ""}
        </button>
      )}
    </div>
  );
}
