// One run: overview, config tree, summary, charts, live logs, files.

import { useEffect, useMemo, useState } from "react";
import { api, type Run } from "../api";
import type { Series } from "../chart";
import type { PlotView } from "../components/LinePlot";
import { Panels } from "../components/Panels";
import { StateBadge } from "../components/RunsTable";
import { flatten, formatBytes, formatRuntime, formatTime, formatValue, runtimeSeconds } from "../format";
import { subscribe, throttle } from "../live";
import { samplesToSeries, systemByKey } from "../system";
import type { ViewState } from "../url";
import { PlotToolbar } from "./Workspace";

interface Props {
  entity: string;
  project: string;
  runId: string;
  view: ViewState;
  setView: (patch: Partial<ViewState>, push?: boolean) => void;
}

const tabs = ["overview", "config", "summary", "charts", "system", "logs", "files"] as const;

export function RunPage({ entity, project, runId, view, setView }: Props) {
  const [run, setRun] = useState<Run | null>(null);
  const [error, setError] = useState("");
  const [keys, setKeys] = useState<string[]>([]);
  const [versions, setVersions] = useState<Record<string, number>>({});
  const [logTick, setLogTick] = useState(0);
  const tab = (tabs as readonly string[]).includes(view.tab) ? view.tab : "overview";

  useEffect(() => {
    const load = () =>
      api.run(entity, project, runId).then(
        (r) => {
          setRun(r);
          setError("");
        },
        (e: Error) => setError(e.message),
      );
    const loadKeys = () =>
      api.runKeys(entity, project, runId).then(
        (ks) => setKeys(ks.map((k) => k.key)),
        () => {},
      );
    load();
    loadKeys();
    const reload = throttle(load, 300);
    const reKeys = throttle(loadKeys, 300);
    const bump = throttle((ks: string[]) => {
      setVersions((v) => {
        const n = { ...v };
        for (const k of ks) n[k] = (n[k] ?? 0) + 1;
        return n;
      });
      setLogTick((t) => t + 1);
    }, 100);
    return subscribe(entity, project, (ev) => {
      const id = ev.data.run ?? ev.data.id;
      if (id !== runId && ev.type !== "reset") return;
      if (ev.type === "history") {
        reKeys();
        bump(ev.data.keys ?? []);
      }
      reload();
    });
  }, [entity, project, runId]);

  const names = useMemo(() => new Map([[runId, run?.name ?? runId]]), [runId, run?.name]);
  const runStart = useMemo(
    () => new Map(run ? [[runId, Date.parse(run.created_at) / 1000]] : []),
    [runId, run?.created_at, run],
  );
  const plotView = useMemo(
    () => ({ x: view.x, smoothing: view.smoothing, logY: view.logY, zoom: view.zoom }),
    [view.x, view.smoothing, view.logY, view.zoom],
  );

  if (error) return <div className="error page">{error}</div>;
  if (!run) return <div className="page muted">loading…</div>;

  return (
    <div className="page run-page">
      <header className="run-head">
        <h2>
          {run.name} <StateBadge state={run.state} /> <span className="muted mono">{run.id}</span>
        </h2>
      </header>
      <nav className="tabs" aria-label="Run sections">
        {tabs.map((t) => (
          <button
            type="button"
            key={t}
            className={t === tab ? "active" : ""}
            aria-current={t === tab}
            onClick={() => setView({ tab: t === "overview" ? "" : t })}
          >
            {t}
          </button>
        ))}
      </nav>
      {tab === "overview" && <Overview run={run} onSaved={setRun} />}
      {tab === "config" && <ConfigTree data={run.config} />}
      {tab === "summary" && <KeyValues data={run.summary} />}
      {tab === "charts" && (
        <>
          <PlotToolbar view={view} setView={setView} keys={keys} />
          <Panels
            entity={entity}
            project={project}
            keys={keys}
            keySearch={view.keySearch}
            runs={[runId]}
            names={names}
            runStart={runStart}
            view={plotView}
            versions={versions}
            onZoom={(zoom) => setView({ zoom }, true)}
          />
        </>
      )}
      {tab === "system" && (
        <SystemTab
          entity={entity}
          project={project}
          runId={runId}
          names={names}
          runStart={runStart}
          view={plotView}
          tick={logTick}
        />
      )}
      {tab === "logs" && <Logs entity={entity} project={project} runId={runId} tick={logTick} />}
      {tab === "files" && <Files entity={entity} project={project} runId={runId} />}
    </div>
  );
}

function Overview({ run, onSaved }: { run: Run; onSaved: (r: Run) => void }) {
  const [notes, setNotes] = useState(run.notes);
  const [status, setStatus] = useState("");
  const rows: [string, React.ReactNode][] = [
    ["State", <StateBadge key="s" state={run.state} />],
    ["User", run.user],
    ["Host", run.host],
    ["Program", run.program],
    [
      "Git",
      run.git?.commit
        ? `${run.git.remote ?? ""} ${run.git.branch ?? ""} ${run.git.commit}${run.git.dirty ? " (dirty)" : ""}`
        : "",
    ],
    ["Started", formatTime(run.created_at)],
    ["Runtime", formatRuntime(runtimeSeconds(run))],
    ["Exit code", run.exit_code ?? ""],
    ["Tags", (run.tags ?? []).join(", ")],
    ["Group", run.group],
    ["Job type", run.job_type],
    ["Last step", run.last_step],
    ["Points stored", run.points],
  ];
  const save = () => {
    setStatus("saving…");
    api.patchRun(run.entity, run.project, run.id, { notes }).then(
      (r) => {
        onSaved(r);
        setStatus("saved");
      },
      (e: Error) => setStatus(e.message),
    );
  };
  return (
    <div className="overview">
      <table className="kv">
        <tbody>
          {rows.map(([k, v]) => (
            <tr key={k}>
              <th>{k}</th>
              <td>{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <label className="notes">
        Notes
        <textarea value={notes} onChange={(e) => setNotes(e.target.value)} rows={3} />
      </label>
      <button type="button" onClick={save} disabled={notes === run.notes}>
        Save notes
      </button>{" "}
      <span className="muted">{status}</span>
    </div>
  );
}

export function ConfigTree({ data }: { data: Record<string, unknown> }) {
  const [q, setQ] = useState("");
  const flat = flatten(data ?? {});
  const rows = Object.entries(flat)
    .filter(
      ([k, v]) =>
        !q ||
        k.toLowerCase().includes(q.toLowerCase()) ||
        formatValue(v).toLowerCase().includes(q.toLowerCase()),
    )
    .sort(([a], [b]) => a.localeCompare(b));
  return (
    <div className="config">
      <input
        type="search"
        placeholder="Search config"
        aria-label="Search config"
        value={q}
        onChange={(e) => setQ(e.target.value)}
      />
      <table className="kv" data-testid="config">
        <tbody>
          {rows.map(([k, v]) => {
            const depth = k.split(".").length - 1;
            return (
              <tr key={k}>
                <th style={{ paddingLeft: `${0.5 + depth}em` }} title={k}>
                  {depth > 0 ? <span className="muted">{k.split(".").slice(0, -1).join(".")}.</span> : null}
                  {k.split(".").pop()}
                </th>
                <td className="mono">{formatValue(v)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {rows.length === 0 && <p className="muted">No config{q ? " matches" : " was logged"}.</p>}
    </div>
  );
}

function KeyValues({ data }: { data: Record<string, unknown> }) {
  const rows = Object.entries(data ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return (
    <table className="kv" data-testid="summary">
      <tbody>
        {rows.map(([k, v]) => (
          <tr key={k}>
            <th>{k}</th>
            <td className="mono">{formatValue(v)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Logs({
  entity,
  project,
  runId,
  tick,
}: {
  entity: string;
  project: string;
  runId: string;
  tick: number;
}) {
  const [lines, setLines] = useState<{ offset: number; stream: string; line: string }[]>([]);
  const [next, setNext] = useState(0);
  const [q, setQ] = useState("");
  // biome-ignore lint/correctness/useExhaustiveDependencies: poll on live ticks
  useEffect(() => {
    let stale = false;
    api.console(entity, project, runId, next).then(
      (r) => {
        if (stale || !r.lines?.length) return;
        setLines((l) => [...l, ...(r.lines ?? [])]);
        setNext(r.next);
      },
      () => {},
    );
    return () => {
      stale = true;
    };
  }, [entity, project, runId, tick]);
  const shown = q ? lines.filter((l) => l.line.toLowerCase().includes(q.toLowerCase())) : lines;
  return (
    <div className="logs">
      <input
        type="search"
        placeholder="Search logs"
        aria-label="Search logs"
        value={q}
        onChange={(e) => setQ(e.target.value)}
      />
      <pre className="console" data-testid="console">
        {shown.map((l) => (
          <div key={l.offset} className={l.stream === "stderr" ? "stderr" : ""}>
            {l.line}
          </div>
        ))}
      </pre>
      {lines.length === 0 && <p className="muted">No console output captured.</p>}
    </div>
  );
}

/** The run's system metrics (CPU, memory, GPU…) against relative or wall time. */
function SystemTab(p: {
  entity: string;
  project: string;
  runId: string;
  names: Map<string, string>;
  runStart: Map<string, number>;
  view: PlotView;
  tick: number;
}) {
  const [system, setSystem] = useState<Map<string, Series[]> | null>(null);
  const [x, setX] = useState<"rel" | "wall">("rel");
  // biome-ignore lint/correctness/useExhaustiveDependencies: reload on live ticks
  useEffect(() => {
    const ctl = new AbortController();
    api.system(p.entity, p.project, p.runId, 10000, ctl.signal).then(
      (s) => setSystem(systemByKey([samplesToSeries(p.runId, s)])),
      () => setSystem(new Map()),
    );
    return () => ctl.abort();
  }, [p.entity, p.project, p.runId, p.tick]);
  const view = useMemo(() => ({ ...p.view, x }), [p.view, x]);
  if (!system) return <p className="muted">loading…</p>;
  if (system.size === 0) return <p className="muted">No system metrics were recorded for this run.</p>;
  return (
    <div data-testid="system">
      <div className="toolbar">
        <label>
          X{" "}
          <select
            aria-label="System x axis"
            value={x}
            onChange={(e) => setX(e.target.value as "rel" | "wall")}
          >
            <option value="rel">Relative time</option>
            <option value="wall">Wall time</option>
          </select>
        </label>
      </div>
      <Panels
        entity={p.entity}
        project={p.project}
        keys={[]}
        keySearch=""
        runs={[p.runId]}
        names={p.names}
        runStart={p.runStart}
        view={view}
        versions={{}}
        onZoom={() => {}}
        system={system}
      />
    </div>
  );
}

function Files({ entity, project, runId }: { entity: string; project: string; runId: string }) {
  const [files, setFiles] = useState<{ name: string; size: number; url: string }[] | null>(null);
  useEffect(() => {
    api.files(entity, project, runId).then(setFiles, () => setFiles([]));
  }, [entity, project, runId]);
  if (!files) return <p className="muted">loading…</p>;
  if (files.length === 0) return <p className="muted">No files. Save some with wandb.save("path").</p>;
  return (
    <table className="kv">
      <tbody>
        {files.map((f) => (
          <tr key={f.name}>
            <th>
              <a href={f.url} download>
                {f.name}
              </a>
            </th>
            <td>{formatBytes(f.size)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
