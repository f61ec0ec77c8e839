// Routes and view state. Every view is a shareable link: the path says which
// page, the query string holds what the user changed (selection, filter,
// sort, smoothing, x-axis, zoom…). Defaults are left out of the URL.

import type { Smoothing, SmoothKind } from "./smoothing";

export type Route =
  | { page: "projects" }
  | { page: "workspace"; entity: string; project: string }
  | { page: "run"; entity: string; project: string; run: string }
  | { page: "compare"; entity: string; project: string }
  | { page: "notfound"; path: string };

/** Parses a path into a page. Segments are URL-decoded. */
export function parseRoute(path: string): Route {
  const parts = path
    .split("/")
    .filter((p) => p !== "")
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  if (parts.length === 0) return { page: "projects" };
  if (parts.length === 2) return { page: "workspace", entity: parts[0], project: parts[1] };
  if (parts.length === 3 && parts[2] === "compare")
    return { page: "compare", entity: parts[0], project: parts[1] };
  if (parts.length === 4 && parts[2] === "runs")
    return { page: "run", entity: parts[0], project: parts[1], run: parts[3] };
  return { page: "notfound", path };
}

export function routePath(r: Route): string {
  const e = (s: string) => encodeURIComponent(s);
  switch (r.page) {
    case "projects":
      return "/";
    case "workspace":
      return `/${e(r.entity)}/${e(r.project)}`;
    case "compare":
      return `/${e(r.entity)}/${e(r.project)}/compare`;
    case "run":
      return `/${e(r.entity)}/${e(r.project)}/runs/${e(r.run)}`;
    default:
      return r.path;
  }
}

export type XAxis = "step" | "wall" | "rel" | `key:${string}`;

export interface ViewState {
  /** runs drawn; null = the first `defaultDrawn` runs of the table */
  selected: string[] | null;
  search: string;
  filter: string;
  sort: string;
  /** group by this field (`config.KEY`, `group`, `state`…); "" = no grouping */
  groupBy: string;
  /** grouped panels: band around the mean, min–max (default) or ±1 std */
  band: "minmax" | "std";
  smoothing: Smoothing;
  x: XAxis;
  logY: boolean;
  /** step range zoomed into, inclusive; null = everything */
  zoom: [number, number] | null;
  keySearch: string;
  hidden: string[];
  /** columns past the default number of config/summary columns, shown */
  shown: string[];
  onlyDiff: boolean;
  tab: string;
}

export const defaultView: ViewState = {
  selected: null,
  search: "",
  filter: "",
  sort: "",
  groupBy: "",
  band: "minmax",
  smoothing: { kind: "twema", value: 0.6 },
  x: "step",
  logY: false,
  zoom: null,
  keySearch: "",
  hidden: [],
  shown: [],
  onlyDiff: true,
  tab: "",
};

const kinds: SmoothKind[] = ["none", "twema", "ema", "gauss", "avg"];

export function encodeSmoothing(s: Smoothing): string {
  return s.kind === "none" ? "none" : `${s.kind}:${s.value}`;
}

export function decodeSmoothing(v: string | null): Smoothing {
  if (v == null || v === "") return defaultView.smoothing;
  const [kind, num] = v.split(":");
  if (!kinds.includes(kind as SmoothKind)) return defaultView.smoothing;
  if (kind === "none") return { kind: "none", value: 0 };
  const value = Number(num);
  if (!Number.isFinite(value) || value < 0) return defaultView.smoothing;
  return {
    kind: kind as SmoothKind,
    value: kind === "ema" || kind === "twema" ? Math.min(value, 0.999) : value,
  };
}

function splitList(v: string | null): string[] {
  return v ? v.split(",").filter((s) => s !== "") : [];
}

/** Reads the view state from a query string ("?a=b" or "a=b"). */
export function decodeView(search: string): ViewState {
  const q = new URLSearchParams(search);
  const v: ViewState = { ...defaultView };
  if (q.has("runs")) v.selected = splitList(q.get("runs"));
  v.search = q.get("q") ?? "";
  v.filter = q.get("filter") ?? "";
  v.sort = q.get("sort") ?? "";
  v.groupBy = q.get("group") ?? "";
  v.band = q.get("band") === "std" ? "std" : "minmax";
  v.smoothing = decodeSmoothing(q.get("smooth"));
  const x = q.get("x");
  if (x === "step" || x === "wall" || x === "rel" || x?.startsWith("key:")) v.x = x as XAxis;
  v.logY = q.get("logy") === "1";
  const zoom = q.get("zoom");
  if (zoom) {
    const [a, b] = zoom.split("..").map(Number);
    if (Number.isFinite(a) && Number.isFinite(b) && a <= b) v.zoom = [a, b];
  }
  v.keySearch = q.get("keys") ?? "";
  v.hidden = splitList(q.get("hide"));
  v.shown = splitList(q.get("show"));
  v.onlyDiff = q.get("diff") !== "all";
  v.tab = q.get("tab") ?? "";
  return v;
}

/** Writes the view state as a query string without the leading "?"; defaults are omitted. */
export function encodeView(v: ViewState): string {
  const q = new URLSearchParams();
  if (v.selected != null) q.set("runs", v.selected.join(","));
  if (v.search) q.set("q", v.search);
  if (v.filter) q.set("filter", v.filter);
  if (v.sort) q.set("sort", v.sort);
  if (v.groupBy) q.set("group", v.groupBy);
  if (v.band !== "minmax") q.set("band", v.band);
  const sm = encodeSmoothing(v.smoothing);
  if (sm !== encodeSmoothing(defaultView.smoothing)) q.set("smooth", sm);
  if (v.x !== "step") q.set("x", v.x);
  if (v.logY) q.set("logy", "1");
  if (v.zoom) q.set("zoom", `${v.zoom[0]}..${v.zoom[1]}`);
  if (v.keySearch) q.set("keys", v.keySearch);
  if (v.hidden.length) q.set("hide", v.hidden.join(","));
  if (v.shown.length) q.set("show", v.shown.join(","));
  if (!v.onlyDiff) q.set("diff", "all");
  if (v.tab) q.set("tab", v.tab);
  return q.toString();
}
