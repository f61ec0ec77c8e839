// The system's colour scheme, live: the CSS follows prefers-color-scheme by
// itself, but charts draw on canvases with colours read once, so they must
// be rebuilt when the scheme changes (LinePlot keys its chart on this).

import { useSyncExternalStore } from "react";

const query = "(prefers-color-scheme: dark)";

function subscribe(on: () => void): () => void {
  if (typeof matchMedia !== "function") return () => {};
  const m = matchMedia(query);
  m.addEventListener("change", on);
  return () => m.removeEventListener("change", on);
}

function current(): "dark" | "light" {
  return typeof matchMedia === "function" && matchMedia(query).matches ? "dark" : "light";
}

/** "dark" or "light", re-rendering the caller when the system setting changes. */
export function useColorScheme(): "dark" | "light" {
  return useSyncExternalStore(subscribe, current, () => "light");
}
