// Live updates: one EventSource per project, shared by every component that
// listens. The browser reconnects by itself and sends Last-Event-ID, so the
// server replays what was missed; a "reset" event means reload the view.

export interface LiveEvent {
  id: string;
  type:
    | "run.created"
    | "run.updated"
    | "run.finished"
    | "run.deleted"
    | "history"
    | "console"
    | "alert"
    | "reset";
  entity: string;
  project: string;
  data: {
    id?: string;
    run?: string;
    keys?: string[];
    min_step?: number;
    max_step?: number;
    state?: string;
  } & Record<string, unknown>;
}

type Listener = (e: LiveEvent) => void;

const streams = new Map<string, { es: EventSource; listeners: Set<Listener> }>();

const types = [
  "run.created",
  "run.updated",
  "run.finished",
  "run.deleted",
  "history",
  "console",
  "alert",
  "reset",
] as const;

/** Listens to a project's events until the returned function is called. */
export function subscribe(entity: string, project: string, fn: Listener): () => void {
  const key = `${entity}/${project}`;
  let s = streams.get(key);
  if (!s) {
    const es = new EventSource(`/api/v1/events?project=${encodeURIComponent(key)}`, {
      withCredentials: true,
    });
    const listeners = new Set<Listener>();
    const entry = { es, listeners };
    for (const t of types) {
      es.addEventListener(t, (m) => {
        let ev: LiveEvent;
        try {
          ev = JSON.parse((m as MessageEvent).data);
        } catch {
          return;
        }
        for (const l of entry.listeners) l(ev);
      });
    }
    streams.set(key, entry);
    s = entry;
  }
  s.listeners.add(fn);
  return () => {
    const cur = streams.get(key);
    if (!cur) return;
    cur.listeners.delete(fn);
    if (cur.listeners.size === 0) {
      cur.es.close();
      streams.delete(key);
    }
  };
}

/** Calls fn at most once per `ms`, with the latest arguments, trailing. */
export function throttle<A extends unknown[]>(fn: (...a: A) => void, ms: number): (...a: A) => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let last: A | null = null;
  return (...a: A) => {
    last = a;
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      if (last) fn(...last);
    }, ms);
  };
}
