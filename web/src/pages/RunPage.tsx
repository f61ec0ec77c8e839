// One run: overview, config tree, summary, charts (media too), live logs,
// the environment it ran in (fluoro-metadata.json), files.

import { useEffect, useMemo, useState } from "react";
import { api, consoleTextUrl, type Run, type RunAlert, type RunFile } from "../api";
import type { Series } from "../chart";
import { ErrorState } from "../components/ErrorState";
import type { PlotView } from "../components/LinePlot";
import { Panels } from "../components/Panels";
import { PendingMark, StateBadge } from "../components/RunsTable";
import { pendingWarning, strandedPoints } from "../durability";
import {
  flatten,
  formatBytes,
  formatCount,
  formatRuntime,
  formatTime,
  formatValue,
  runtimeSeconds,
} from "../format";
import { subscribe, throttle } from "../live";
import { commandLine, fileUrl, type Metadata } from "../media";
import { samplesToSeries, systemByKey } from "../system";
import type { ViewState } from "../url";
import { PlotToolbar } from "./Workspace";

interface Props {
  entity: string;
  project: string;
  runId: string;
  view: ViewState;
  setView: (patch: Partial<ViewState>, push?: boolean) => void;
  nav?: (path: string) => void;
}

const tabs = ["overview", "config", "summary", "charts", "system", "logs", "environment", "files"] as const;

export function RunPage({ entity, project, runId, view, setView, nav }: Props) {
  const [run, setRun] = useState<Run | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [keys, setKeys] = useState<string[]>([]);
  const [types, setTypes] = useState<Record<string, string>>({});
  const [versions, setVersions] = useState<Record<string, number>>({});
  const [logTick, setLogTick] = useState(0);
  const [alerts, setAlerts] = useState<RunAlert[]>([]);
  const tab = (tabs as readonly string[]).includes(view.tab) ? view.tab : "overview";

  useEffect(() => {
    const load = () =>
      api.run(entity, project, runId).then(
        (r) => {
          setRun(r);
          setError(null);
        },
        (e: Error) => setError(e),
      );
    const loadKeys = () =>
      api.runKeys(entity, project, runId).then(
        (ks) => {
          setKeys(ks.map((k) => k.key));
          setTypes(
            Object.fromEntries(
              ks.filter((k) => k.type && k.type !== "number").map((k) => [k.key, k.type as string]),
            ),
          );
        },
        () => {},
      );
    const loadAlerts = () => api.alerts(entity, project, runId).then(setAlerts, () => {});
    load();
    loadKeys();
    loadAlerts();
    const reload = throttle(load, 300);
    const reAlerts = throttle(loadAlerts, 300);
    const reKeys = throttle(loadKeys, 300);
    const bump = throttle((ks: string[]) => {
      setVersions((v) => {
        const n = { ...v };
        for (const k of ks) n[k] = (n[k] ?? 0) + 1;
        return n;
      });
      setLogTick((t) => t + 1);
    }, 100);
    const tickLogs = throttle(() => setLogTick((t) => t + 1), 100);
    return subscribe(entity, project, (ev) => {
      const id = ev.data.run ?? ev.data.id;
      if (id !== runId && ev.type !== "reset") return;
      if (ev.type === "console") {
        tickLogs(); // new console lines or system samples: the logs and system tabs refetch
        return;
      }
      if (ev.type === "alert" || ev.type === "reset") reAlerts();
      if (ev.type === "alert") return;
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
  const configs = useMemo(() => new Map([[runId, run?.config ?? {}]]), [runId, run?.config]);
  const plotView = useMemo(
    () => ({ x: view.x, smoothing: view.smoothing, logY: view.logY, zoom: view.zoom }),
    [view.x, view.smoothing, view.logY, view.zoom],
  );

  if (error)
    return (
      <ErrorState
        title={`Run ${runId} could not be loaded`}
        error={error}
        back={{
          href: `/${encodeURIComponent(entity)}/${encodeURIComponent(project)}`,
          label: `back to ${project}'s runs`,
        }}
      />
    );
  if (!run) return <div className="page muted">loading…</div>;

  return (
    <div className="page run-page">
      <header className="run-head">
        <h2>
          {run.name} <StateBadge state={run.state} /> <PendingMark run={run} />{" "}
          <span className="muted mono">{run.id}</span>{" "}
          <AlertsBadge alerts={alerts} onClick={() => setView({ tab: "" })} />
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
      {tab === "overview" && (
        <Overview
          run={run}
          onSaved={setRun}
          alerts={alerts}
          onDeleted={() => nav?.(`/${encodeURIComponent(entity)}/${encodeURIComponent(project)}`)}
        />
      )}
      {tab === "config" && <ConfigTree data={run.config} />}
      {tab === "summary" && <KeyValues data={run.summary} />}
      {tab === "charts" && (
        <>
          <PlotToolbar view={view} setView={setView} keys={keys.filter((k) => !types[k])} />
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
            types={types}
            configs={configs}
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
      {tab === "environment" && <Environment run={run} />}
      {tab === "files" && <Files entity={entity} project={project} runId={runId} />}
    </div>
  );
}

const levelRank = { INFO: 0, WARN: 1, ERROR: 2 } as const;

/** The number of alerts a run raised (repeats not sent left out), coloured by the worst level. */
function AlertsBadge({ alerts, onClick }: { alerts: RunAlert[]; onClick: () => void }) {
  const sent = alerts.filter((a) => !a.suppressed);
  if (sent.length === 0) return null;
  const worst = sent.reduce(
    (w, a) => (levelRank[a.level] > levelRank[w] ? a.level : w),
    "INFO" as RunAlert["level"],
  );
  return (
    <button type="button" className={`link alert-count level-${worst.toLowerCase()}`} onClick={onClick}>
      {sent.length === 1 ? "1 alert" : `${sent.length >= 100 ? "100+" : sent.length} alerts`}
    </button>
  );
}

/** A run's alerts, newest first; repeats held back by their wait are shown muted. */
function AlertList({ alerts }: { alerts: RunAlert[] }) {
  return (
    <section className="alerts" aria-label="Alerts">
      <h3>Alerts</h3>
      <ul>
        {alerts.map((a) => (
          <li
            key={a.id}
            className={`alert level-${a.level.toLowerCase()}${a.suppressed ? " suppressed" : ""}`}
          >
            <span className="alert-level">{a.level}</span> <strong className="alert-title">{a.title}</strong>{" "}
            <span className="muted small">{formatTime(new Date(a.time * 1000).toISOString())}</span>
            {a.suppressed && (
              <span className="muted small">
                {" "}
                · a repeat within {formatRuntime(a.wait_ms / 1000)}: not sent
              </span>
            )}
            {a.text && <div className="alert-text">{a.text}</div>}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** Points logged, received and pending, when the run's writers report them. */
function durabilityRows(run: Run): [string, React.ReactNode][] {
  const rows: [string, React.ReactNode][] = [];
  if (run.points_logged != null) rows.push(["Points logged", formatCount(run.points_logged)]);
  if (run.points_received != null) rows.push(["Points received", formatCount(run.points_received)]);
  if (run.points_pending != null) {
    const n = formatCount(run.points_pending);
    rows.push([
      "Points pending",
      strandedPoints(run) > 0 ? (
        <span key="p" className="pending-count">
          {n} (still on the client)
        </span>
      ) : run.state === "running" && run.points_pending > 0 ? (
        <span key="p">
          {n} <span className="muted">(not at the server yet)</span>
        </span>
      ) : (
        n
      ),
    ]);
  }
  return rows;
}

/**
 * The callout for a run that ended with points still in its client's spool:
 * how many, where, what to run (the text's `…` spans are commands: code).
 */
function PendingWarning({ run }: { run: Run }) {
  const text = pendingWarning(run);
  if (!text) return null;
  return (
    <div className="alert level-warn pending-warning" role="alert">
      <span className="alert-level">WARN</span>{" "}
      {text.split("`").map((part, i) =>
        // biome-ignore lint/suspicious/noArrayIndexKey: parts of a fixed text
        i % 2 === 1 ? <code key={i}>{part}</code> : <span key={i}>{part}</span>,
      )}
    </div>
  );
}

function Overview({
  run,
  onSaved,
  alerts,
  onDeleted,
}: {
  run: Run;
  onSaved: (r: Run) => void;
  alerts: RunAlert[];
  onDeleted: () => void;
}) {
  const [notes, setNotes] = useState(run.notes);
  const [status, setStatus] = useState("");
  const [deleting, setDeleting] = useState("");
  const remove = () => {
    const what = `Delete run "${run.name}" (${run.id}) and everything logged to it: history, media, console, files? This cannot be undone.`;
    if (!window.confirm(what)) return;
    setDeleting("deleting…");
    api.deleteRun(run.entity, run.project, run.id).then(onDeleted, (e: Error) => setDeleting(e.message));
  };
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
    // a lost run: when it was last heard from (its last batch or heartbeat)
    ...(run.state === "lost"
      ? ([["Last heard from", formatTime(run.heartbeat_at)]] as [string, string][])
      : []),
    ["Exit code", run.exit_code ?? ""],
    ["Tags", (run.tags ?? []).join(", ")],
    ["Group", run.group],
    ["Job type", run.job_type],
    ["Last step", run.last_step],
    ["Points stored", formatCount(run.points)],
    // what the run's writers report (api.md#durability); absent for the wandb client and older SDKs
    ...durabilityRows(run),
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
      <PendingWarning run={run} />
      {alerts.length > 0 && <AlertList alerts={alerts} />}
      <table className="kv">
        <tbody>
          {rows.map(([k, v]) => (
            <tr key={k} data-field={k}>
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
      <div className="danger-zone">
        <button type="button" className="danger" onClick={remove} disabled={deleting === "deleting…"}>
          Delete run…
        </button>{" "}
        <span className="muted">{deleting}</span>
      </div>
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
      <div className="toolbar">
        <input
          type="search"
          placeholder="Search logs"
          aria-label="Search logs"
          value={q}
          onChange={(e) => setQ(e.target.value)}
        />
        <a href={consoleTextUrl(entity, project, runId)} download>
          Download
        </a>
        {q && (
          <span className="muted">
            {shown.length} of {lines.length} lines
          </span>
        )}
      </div>
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
  const [files, setFiles] = useState<RunFile[] | null>(null);
  const [q, setQ] = useState("");
  useEffect(() => {
    api.files(entity, project, runId).then(setFiles, () => setFiles([]));
  }, [entity, project, runId]);
  if (!files) return <p className="muted">loading…</p>;
  if (files.length === 0) return <p className="muted">No files. Save some with wandb.save("path").</p>;
  const shown = files
    .filter((f) => !q || f.name.toLowerCase().includes(q.toLowerCase()))
    .sort((a, b) => a.name.localeCompare(b.name));
  const total = files.reduce((n, f) => n + f.size, 0);
  return (
    <div className="files" data-testid="files">
      <div className="toolbar">
        <input
          type="search"
          placeholder="Search files"
          aria-label="Search files"
          value={q}
          onChange={(e) => setQ(e.target.value)}
        />
        <span className="muted">
          {files.length} files, {formatBytes(total)}
        </span>
      </div>
      <table className="kv files-table">
        <thead>
          <tr>
            <th>name</th>
            <th>size</th>
            <th>updated</th>
            <th>SHA-256</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {shown.map((f) => (
            <tr key={f.name} data-file={f.name}>
              <td className="mono">
                <a
                  href={fileUrl(entity, project, runId, f.name)}
                  target="_blank"
                  rel="noreferrer"
                  title="Open"
                >
                  {f.name}
                </a>
              </td>
              <td className="num">{formatBytes(f.size)}</td>
              <td className="muted">{f.updated_at ? formatTime(f.updated_at) : ""}</td>
              <td className="mono muted" title={f.sha256}>
                {f.sha256 ? `${f.sha256.slice(0, 12)}…` : ""}
              </td>
              <td>
                <a href={f.url} download={f.name.split("/").pop()}>
                  download
                </a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** fluoro-metadata.json (written by the SDK at init) shown readably, and diff.patch when saved. */
function Environment({ run }: { run: Run }) {
  const [meta, setMeta] = useState<Metadata | null | "none">(null);
  const [files, setFiles] = useState<RunFile[]>([]);
  const [q, setQ] = useState("");
  useEffect(() => {
    const ctl = new AbortController();
    api.fileJSON<Metadata>(run.entity, run.project, run.id, "fluoro-metadata.json", ctl.signal).then(
      (m) => setMeta(m && typeof m === "object" ? m : "none"),
      () => setMeta("none"),
    );
    api.files(run.entity, run.project, run.id).then(setFiles, () => {});
    return () => ctl.abort();
  }, [run.entity, run.project, run.id]);
  if (meta === null) return <p className="muted">loading…</p>;
  const m: Metadata = meta === "none" ? {} : meta;
  const git = { ...(run.git ?? {}), ...(m.git ?? {}) };
  const patch = files.find((f) => f.name === "diff.patch" || f.name.endsWith("/diff.patch"));
  const cmd = commandLine(m);
  const rows: [string, React.ReactNode][] = [
    ["Host", m.host ?? run.host],
    ["OS", m.os],
    [
      "Python",
      m.python ? `${m.python}${m.python_implementation ? ` (${m.python_implementation})` : ""}` : "",
    ],
    ["Executable", m.executable],
    ["Program", m.program ?? run.program],
    ["Command", cmd ? <code key="c">{cmd}</code> : ""],
    ["Working directory", m.cwd],
    ["Started", m.started_at ? formatTime(m.started_at) : ""],
    ["SDK", m.sdk],
    ["Git remote", git.remote],
    ["Git branch", git.branch],
    [
      "Git commit",
      git.commit ? (
        <span key="g">
          <code data-testid="git-commit">{git.commit}</code>
          {git.dirty ? <span className="badge nonfinite"> dirty</span> : null}
        </span>
      ) : (
        ""
      ),
    ],
    [
      "Diff",
      patch ? (
        <a
          key="d"
          href={fileUrl(run.entity, run.project, run.id, patch.name)}
          target="_blank"
          rel="noreferrer"
        >
          {patch.name} ({formatBytes(patch.size)})
        </a>
      ) : git.dirty ? (
        <span key="u" className="muted">
          uncommitted changes (no diff.patch saved)
        </span>
      ) : (
        ""
      ),
    ],
    [
      "CPUs",
      m.cpu_count != null
        ? `${m.cpu_count}${m.cpu_count_usable != null && m.cpu_count_usable !== m.cpu_count ? ` (${m.cpu_count_usable} usable)` : ""}`
        : "",
    ],
    ["Memory", m.memory_total_gb != null ? `${m.memory_total_gb} GiB` : ""],
    ["GPUs", m.gpu_count ? `${m.gpu_count} × ${m.gpu ?? "GPU"}` : m.gpu_count === 0 ? "none" : ""],
    ["CUDA_VISIBLE_DEVICES", m.cuda_visible_devices],
    [
      "Slurm",
      m.slurm
        ? Object.entries(m.slurm)
            .map(([k, v]) => `${k}=${v}`)
            .join(" ")
        : "",
    ],
  ];
  const known = new Set([
    "host",
    "os",
    "python",
    "python_implementation",
    "executable",
    "program",
    "args",
    "cwd",
    "started_at",
    "sdk",
    "git",
    "cpu_count",
    "cpu_count_usable",
    "memory_total_gb",
    "gpu_count",
    "gpu",
    "gpus",
    "cuda_visible_devices",
    "slurm",
    "packages",
  ]);
  const extra = Object.entries(m).filter(([k]) => !known.has(k));
  const pk = (m.packages ?? []).filter((p) => !q || p.toLowerCase().includes(q.toLowerCase()));
  return (
    <div className="environment" data-testid="environment">
      {meta === "none" && (
        <p className="muted">
          No fluoro-metadata.json for this run (the SDK writes it at init unless metadata is disabled): what
          the server knows follows.
        </p>
      )}
      <table className="kv">
        <tbody>
          {rows
            .filter(([, v]) => v !== "" && v != null)
            .map(([k, v]) => (
              <tr key={k} data-field={k}>
                <th>{k}</th>
                <td>{v}</td>
              </tr>
            ))}
          {extra.map(([k, v]) => (
            <tr key={k} data-field={k}>
              <th>{k}</th>
              <td className="mono">{formatValue(v)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {m.gpus && m.gpus.length > 0 && <GpuTable gpus={m.gpus} />}
      {patch && <PatchView run={run} name={patch.name} />}
      {m.packages && m.packages.length > 0 && (
        <details className="packages">
          <summary>{m.packages.length} Python packages</summary>
          <input
            type="search"
            placeholder="Search packages"
            aria-label="Search packages"
            value={q}
            onChange={(e) => setQ(e.target.value)}
          />
          <ul className="mono small">
            {pk.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}

function GpuTable({ gpus }: { gpus: Record<string, unknown>[] }) {
  const cols = [...new Set(gpus.flatMap((g) => Object.keys(g)))];
  return (
    <table className="kv gpus">
      <thead>
        <tr>
          {cols.map((c) => (
            <th key={c}>{c}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {gpus.map((g, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: GPUs are listed by index
          <tr key={i}>
            {cols.map((c) => (
              <td key={c}>{formatValue(g[c])}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The uncommitted changes the run started with, fetched when opened. */
function PatchView({ run, name }: { run: Run; name: string }) {
  const [text, setText] = useState<string | null>(null);
  const load = () => {
    if (text != null) return;
    setText("loading…");
    fetch(fileUrl(run.entity, run.project, run.id, name), { credentials: "same-origin" })
      .then((r) => (r.ok ? r.text() : Promise.reject(new Error(`${r.status}`))))
      .then(
        (t) =>
          setText(t.length > 500_000 ? `${t.slice(0, 500_000)}\n… (cut: open the file for the rest)` : t),
        (e: Error) => setText(`could not load ${name}: ${e.message}`),
      );
  };
  return (
    <details className="patch" onToggle={(e) => e.currentTarget.open && load()}>
      <summary>{name}</summary>
      <pre className="code diff">
        {(text ?? "").split("\n").map((l, i) => (
          // biome-ignore lint/suspicious/noArrayIndexKey: lines of a fixed text
          <div key={i} className={l.startsWith("+") ? "add" : l.startsWith("-") ? "del" : undefined}>
            {l}
          </div>
        ))}
      </pre>
    </details>
  );
}
