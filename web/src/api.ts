// The native API, as the browser uses it: same origin, the session cookie
// authenticates, and every request carries the header that proves it came
// from Fluoro's own pages (the server's CSRF check for cookie sessions).

import type { Series } from "./chart";
import { fileUrl, parseLenientJSON } from "./media";
import type { SystemSample } from "./system";

export interface Run {
  entity: string;
  project: string;
  id: string;
  name: string;
  state: string;
  user: string;
  config: Record<string, unknown>;
  summary: Record<string, unknown>;
  tags: string[];
  group: string;
  job_type: string;
  notes: string;
  host: string;
  program: string;
  git: { remote?: string; commit?: string; branch?: string; dirty?: boolean };
  created_at: string;
  updated_at: string;
  heartbeat_at: string;
  finished_at: string | null;
  exit_code: number | null;
  last_step: number;
  /** points stored (deduplicated by step) */
  points: number;
  /** points the run's writers had logged and spooled, as of each one's last request; absent when they do not say (wandb client, older SDKs) */
  points_logged?: number;
  /** of those, points in batches the server answered (stored, or refused with a reason) */
  points_received?: number;
  /** points_logged - points_received: spooled by a client, not at the server */
  points_pending?: number;
}

export interface Project {
  entity: string;
  name: string;
  run_count: number;
  created_at: string;
  updated_at: string;
}

export interface Viewer {
  name: string;
  admin: boolean;
  entity: string;
  entities: string[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What a user can do about a failed call, in a sentence (error pages add it to the server's message). */
export function whatToDo(e: unknown): string {
  if (!(e instanceof ApiError)) return "Check that the Fluoro server is running and reachable, then reload.";
  switch (e.status) {
    case 401:
      return "Your session has expired: open the login link the server prints (…/?token=KEY) again.";
    case 403:
      return "Your key cannot see this project: ask its owner for access, or log in as another user.";
    case 404:
      return "Check the link: the entity, project or run may be misspelt, or deleted.";
    case 400:
      return "Check what you typed (a filter, an id) and try again.";
    case 503:
      return "The server is shutting down or busy: wait a moment and reload.";
    default:
      return e.status >= 500
        ? "The server failed: reload, and if it persists, look at the server's log."
        : "Reload the page and try again.";
  }
}

async function call<T>(path: string, init: RequestInit = {}): Promise<T> {
  return (await send(path, init)).json() as Promise<T>;
}

/** The response to an API call, once its headers are in; an ApiError when it failed. */
async function send(path: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(`/api/v1${path}`, {
    credentials: "same-origin",
    ...init,
    headers: {
      "X-Fluoro-Client": "web",
      ...(init.body ? { "Content-Type": "application/json" } : {}),
      ...init.headers,
    },
  });
  if (!res.ok) {
    let code = "error";
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      code = body.error?.code ?? code;
      message = body.error?.message ?? message;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(res.status, code, message);
  }
  return res;
}

// Chart history goes out a few requests at a time, in the order the panels
// asked (top first): the server spreads one chart over its cores, so six
// charts at once would all finish late, and keep the browser's six
// connections (one is the live stream) from everything else. A request
// leaves the queue when its response starts (the server has done its
// part), so the server works on the next while this one is read and drawn.
// Other requests that can wait (system metrics) wait for the queue to drain.
// Until the page's first chart answers, one at a time: the first picture
// comes sooner. A server that answers charts quickly (small ones) gets them
// six at a time, as it can take them.
const chartConcurrency = 2;
const chartFastMs = 150;
let chartFirst = true;
let chartFast = false;
let chartActive = 0;
const chartWaiting: (() => void)[] = [];
let idleWaiters: (() => void)[] = [];

const chartLimit = () => (chartFirst ? 1 : chartFast ? 6 : chartConcurrency);

function chartDone(ms: number) {
  chartActive--;
  chartFirst = false;
  chartFast = ms < chartFastMs;
  while (chartWaiting.length > 0 && chartActive < chartLimit()) {
    chartActive++; // handed over: the waiter runs with this slot
    chartWaiting.shift()?.();
  }
  if (chartActive === 0 && chartWaiting.length === 0) {
    const ws = idleWaiters;
    idleWaiters = [];
    for (const w of ws) w();
  }
}

async function chartSlot<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  if (chartActive < chartLimit() && chartWaiting.length === 0) chartActive++;
  else {
    await new Promise<void>((ok, fail) => {
      const go = () => {
        signal?.removeEventListener("abort", drop);
        ok();
      };
      const drop = () => {
        const i = chartWaiting.indexOf(go);
        if (i >= 0) chartWaiting.splice(i, 1);
        fail(new DOMException("aborted", "AbortError"));
      };
      if (signal?.aborted) return drop();
      signal?.addEventListener("abort", drop, { once: true });
      chartWaiting.push(go);
    });
  }
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    chartDone(performance.now() - t0);
  }
}

/** Resolves once no chart history request is queued or in flight. */
export function chartsIdle(): Promise<void> {
  if (chartActive === 0 && chartWaiting.length === 0) return Promise.resolve();
  return new Promise((ok) => idleWaiters.push(ok));
}

interface ProjectKeys {
  keys: string[];
  types: Record<string, string>;
}

const prefetchedKeys = new Map<string, Promise<ProjectKeys>>();

function fetchKeys(e: string, proj: string): Promise<ProjectKeys> {
  return call<{ keys: string[] | null; types?: Record<string, string> | null }>(`${p(e, proj)}/keys`).then(
    (r) => ({ keys: r.keys ?? [], types: r.types ?? {} }),
  );
}

const p = (e: string, proj: string) => `/projects/${encodeURIComponent(e)}/${encodeURIComponent(proj)}`;

/** Every console line of a run as a plain-text download (the session cookie authenticates it). */
export function consoleTextUrl(e: string, proj: string, id: string): string {
  return `/api/v1${p(e, proj)}/runs/${encodeURIComponent(id)}/console?format=text`;
}

export const api = {
  viewer: () => call<Viewer>("/viewer"),
  projects: (entity: string) =>
    call<{ projects: Project[] }>(`/entities/${encodeURIComponent(entity)}/projects`).then((r) => r.projects),
  runs: (e: string, proj: string, q: { filter?: string; sort?: string; limit?: number; offset?: number }) => {
    const u = new URLSearchParams();
    if (q.filter) u.set("filter", q.filter);
    if (q.sort) u.set("sort", q.sort);
    u.set("limit", String(q.limit ?? 1000));
    if (q.offset) u.set("offset", String(q.offset));
    return call<{ runs: Run[]; total: number }>(`${p(e, proj)}/runs?${u}`);
  },
  /** every matching run's id under its group's label (the server groups: no need to load every run) */
  runGroups: (e: string, proj: string, q: { by: string; filter?: string; sort?: string }) => {
    const u = new URLSearchParams({ by: q.by });
    if (q.filter) u.set("filter", q.filter);
    if (q.sort) u.set("sort", q.sort);
    return call<{ groups: { label: string; runs: string[] }[] | null; total: number; truncated?: boolean }>(
      `${p(e, proj)}/run-groups?${u}`,
    ).then((r) => ({ groups: r.groups ?? [], total: r.total, truncated: !!r.truncated }));
  },
  run: (e: string, proj: string, id: string) => call<Run>(`${p(e, proj)}/runs/${encodeURIComponent(id)}`),
  /** deletes a run and everything logged to it */
  deleteRun: (e: string, proj: string, id: string) =>
    send(`${p(e, proj)}/runs/${encodeURIComponent(id)}`, { method: "DELETE" }).then(() => undefined),
  patchRun: (e: string, proj: string, id: string, body: Record<string, unknown>) =>
    call<Run>(`${p(e, proj)}/runs/${encodeURIComponent(id)}`, {
      method: "PATCH",
      body: JSON.stringify(body),
    }),
  /** the project's keys and the types of its non-numeric ones (absent: numeric) */
  keys: (e: string, proj: string): Promise<ProjectKeys> => {
    const key = `${e}/${proj}`;
    const pre = prefetchedKeys.get(key);
    prefetchedKeys.delete(key);
    return pre ? pre.catch(() => fetchKeys(e, proj)) : fetchKeys(e, proj);
  },
  /** asks for a project's keys now, for the next keys() call (the workspace's first request) */
  prefetchKeys: (e: string, proj: string) => {
    const pre = fetchKeys(e, proj);
    pre.catch(() => {}); // keys() retries
    prefetchedKeys.set(`${e}/${proj}`, pre);
  },
  /** every config path and summary key of the project's runs (the runs table's key columns) */
  fields: (e: string, proj: string) =>
    call<{ config: string[] | null; summary: string[] | null; truncated?: boolean }>(
      `${p(e, proj)}/run-keys`,
    ).then((r) => ({ config: r.config ?? [], summary: r.summary ?? [], truncated: !!r.truncated })),
  runKeys: (e: string, proj: string, id: string) =>
    call<{
      keys: { key: string; points: number; min_step: number; max_step: number; type?: string }[] | null;
    }>(`${p(e, proj)}/runs/${encodeURIComponent(id)}/keys`).then((r) => r.keys ?? []),
  history: (
    e: string,
    proj: string,
    q: {
      runs: string[];
      keys: string[];
      points: number;
      minStep?: number;
      maxStep?: number;
      /** the columns to send (steps, times, values); all when absent. Left-out columns come back empty. */
      fields?: ("steps" | "times" | "values")[];
    },
    signal?: AbortSignal,
  ) => {
    const u = new URLSearchParams();
    u.set("runs", q.runs.join(","));
    for (const k of q.keys) u.append("key", k);
    u.set("points", String(q.points));
    if (q.minStep != null) u.set("min_step", String(q.minStep));
    if (q.maxStep != null) u.set("max_step", String(q.maxStep));
    if (q.fields) u.set("fields", q.fields.join(","));
    return chartSlot(() => send(`${p(e, proj)}/history?${u}`, { signal }), signal)
      .then((res) => res.json() as Promise<{ series: Series[] | null }>)
      .then((r) =>
        (r.series ?? []).map((s) => ({
          ...s,
          steps: s.steps ?? [],
          times: s.times ?? [],
          values: s.values ?? [],
        })),
      );
  },
  /** one run's history: every point in range, or (stepsOnly) only the steps that hold a value */
  runHistory: (
    e: string,
    proj: string,
    id: string,
    q: { keys: string[]; stepsOnly?: boolean; minStep?: number; maxStep?: number },
    signal?: AbortSignal,
  ) => {
    const u = new URLSearchParams();
    for (const k of q.keys) u.append("key", k);
    if (q.stepsOnly) u.set("steps_only", "true");
    if (q.minStep != null) u.set("min_step", String(q.minStep));
    if (q.maxStep != null) u.set("max_step", String(q.maxStep));
    return call<{ series: Series[] | null }>(`${p(e, proj)}/runs/${encodeURIComponent(id)}/history?${u}`, {
      signal,
    }).then((r) => r.series ?? []);
  },
  console: (e: string, proj: string, id: string, after: number) =>
    call<{ lines: { offset: number; time: number; stream: string; line: string }[] | null; next: number }>(
      `${p(e, proj)}/runs/${encodeURIComponent(id)}/console?after=${after}&limit=10000`,
    ),
  system: (e: string, proj: string, id: string, limit = 2000, signal?: AbortSignal) =>
    call<{ samples: SystemSample[] | null }>(
      `${p(e, proj)}/runs/${encodeURIComponent(id)}/system?limit=${limit}`,
      { signal },
    ).then((r) => r.samples ?? []),
  alerts: (e: string, proj: string, id: string, limit = 100) =>
    call<{ alerts: RunAlert[] | null }>(
      `${p(e, proj)}/runs/${encodeURIComponent(id)}/alerts?limit=${limit}`,
    ).then((r) => r.alerts ?? []),
  files: (e: string, proj: string, id: string) =>
    call<{ files: RunFile[] | null }>(`${p(e, proj)}/runs/${encodeURIComponent(id)}/files`).then(
      (r) => r.files ?? [],
    ),
  /** a run file's content as JSON (media tables, boxes, plotly figures, the environment) */
  fileJSON: async <T = unknown>(e: string, proj: string, id: string, name: string, signal?: AbortSignal) => {
    const res = await fetch(fileUrl(e, proj, id, name), {
      credentials: "same-origin",
      headers: { "X-Fluoro-Client": "web" },
      signal,
    });
    if (!res.ok)
      throw new ApiError(res.status, res.status === 404 ? "not_found" : "error", `${name}: ${res.status}`);
    return parseLenientJSON(await res.text()) as T;
  },
};

/** An alert a run raised (the SDK's alert()); suppressed: a repeat of its title within wait_ms, not sent. */
export interface RunAlert {
  id: number;
  time: number;
  title: string;
  text: string;
  level: "INFO" | "WARN" | "ERROR";
  wait_ms: number;
  suppressed: boolean;
}

export interface RunFile {
  name: string;
  size: number;
  url: string;
  sha256?: string;
  content_type?: string;
  updated_at?: string;
}
