import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { api } from "./api";
import "./styles.css";
import { parseRoute } from "./url";

// A workspace's keys decide its panels, which fetch the charts: ask for them
// before React's first render.
const route = parseRoute(location.pathname);
if (route.page === "workspace") api.prefetchKeys(route.entity, route.project);

createRoot(document.getElementById("root") as HTMLElement).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
