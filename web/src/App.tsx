// The app shell: a tiny router over history.pushState, the header, and the
// login screen for browsers without a session.

import { useCallback, useEffect, useState } from "react";
import { ApiError, api, type Viewer } from "./api";
import { Compare } from "./pages/Compare";
import { Projects } from "./pages/Projects";
import { RunPage } from "./pages/RunPage";
import { Workspace } from "./pages/Workspace";
import { decodeView, encodeView, parseRoute, type ViewState } from "./url";

function useLocation() {
  const [loc, setLoc] = useState(() => ({ path: location.pathname, search: location.search }));
  useEffect(() => {
    const on = () => setLoc({ path: location.pathname, search: location.search });
    addEventListener("popstate", on);
    return () => removeEventListener("popstate", on);
  }, []);
  const nav = useCallback((to: string, replace = false) => {
    if (replace) history.replaceState(null, "", to);
    else history.pushState(null, "", to);
    setLoc({ path: location.pathname, search: location.search });
    if (!replace) scrollTo(0, 0);
  }, []);
  return { loc, nav };
}

export function App() {
  const { loc, nav } = useLocation();
  const [viewer, setViewer] = useState<Viewer | null>(null);
  const [authError, setAuthError] = useState<string | null>(null);
  useEffect(() => {
    api
      .viewer()
      .then(setViewer, (e: Error) =>
        setAuthError(
          e instanceof ApiError && e.status === 401 ? e.message : `Cannot reach the server: ${e.message}`,
        ),
      );
  }, []);

  const route = parseRoute(loc.path);
  const view = decodeView(loc.search);
  const setView = useCallback(
    (patch: Partial<ViewState>, push = false) => {
      const next = encodeView({ ...decodeView(location.search), ...patch });
      nav(`${location.pathname}${next ? `?${next}` : ""}`, !push);
    },
    [nav],
  );
  const go = useCallback((p: string) => nav(p), [nav]);

  let page: React.ReactNode;
  if (authError) page = <Login message={authError} />;
  // The workspace does not wait for the viewer: its runs, keys and charts
  // load in parallel with it (a 401 turns the page into the login screen).
  else if (!viewer && route.page !== "workspace") page = <div className="page muted">loading…</div>;
  else if (route.page === "projects") page = <Projects nav={go} />;
  else if (route.page === "workspace")
    page = (
      <Workspace
        key={`${route.entity}/${route.project}`}
        entity={route.entity}
        project={route.project}
        view={view}
        setView={setView}
        nav={go}
      />
    );
  else if (route.page === "run")
    page = (
      <RunPage
        key={route.run}
        entity={route.entity}
        project={route.project}
        runId={route.run}
        view={view}
        setView={setView}
        nav={go}
      />
    );
  else if (route.page === "compare")
    page = <Compare entity={route.entity} project={route.project} view={view} setView={setView} />;
  else
    page = (
      <div className="page">
        Nothing here. <a href="/">Projects</a>
      </div>
    );

  const crumbs: [string, string][] = [];
  if (route.page === "workspace" || route.page === "run" || route.page === "compare") {
    const base = `/${encodeURIComponent(route.entity)}/${encodeURIComponent(route.project)}`;
    crumbs.push([route.entity, "/"], [route.project, base]);
    if (route.page === "run") crumbs.push([route.run, `${base}/runs/${encodeURIComponent(route.run)}`]);
    if (route.page === "compare") crumbs.push(["compare", `${base}/compare${loc.search}`]);
  }
  return (
    <>
      <header className="top">
        <a
          className="logo"
          href="/"
          onClick={(e) => {
            e.preventDefault();
            go("/");
          }}
        >
          Fluoro
        </a>
        {crumbs.map(([label, href]) => (
          <span key={href} className="crumb">
            /{" "}
            <a
              href={href}
              onClick={(e) => {
                e.preventDefault();
                go(href);
              }}
            >
              {label}
            </a>
          </span>
        ))}
        <span className="spacer" />
        {viewer && <span className="muted">{viewer.name}</span>}
        {viewer && <a href="/logout">log out</a>}
      </header>
      {page}
    </>
  );
}

function Login({ message }: { message: string }) {
  const [key, setKey] = useState("");
  return (
    <div className="page login">
      <h2>Log in to Fluoro</h2>
      <p>
        Open the login link the server printed at start (<code>Log in: http://…/?token=…</code>), or paste an
        API key (the admin key is in <code>&lt;data&gt;/admin-api-key</code>).
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          location.assign(`${location.pathname}?token=${encodeURIComponent(key.trim())}`);
        }}
      >
        <input
          type="password"
          aria-label="API key"
          placeholder="fluoro-…"
          value={key}
          onChange={(e) => setKey(e.target.value)}
        />
        <button type="submit">Log in</button>
      </form>
      <p className="muted small">{message}</p>
    </div>
  );
}
