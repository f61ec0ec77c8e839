// The home page: every project the viewer can see, most recent first.

import { useEffect, useState } from "react";
import { api, type Project } from "../api";
import { formatTime } from "../format";

export function Projects({ nav }: { nav: (p: string) => void }) {
  const [projects, setProjects] = useState<Project[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    api
      .viewer()
      .then((v) => Promise.all((v.entities?.length ? v.entities : [v.entity]).map((e) => api.projects(e))))
      .then((ps) => setProjects(ps.flat().sort((a, b) => b.updated_at.localeCompare(a.updated_at))))
      .catch((e: Error) => setError(e.message));
  }, []);
  if (error) return <div className="page error">{error}</div>;
  if (!projects) return <div className="page muted">loading…</div>;
  if (projects.length === 0)
    return (
      <div className="page empty-project">
        <h2>No projects yet</h2>
        <p>A project appears with its first run:</p>
        <pre className="code">{`import fluoro as wandb
wandb.init(project="my-project")
wandb.log({"train/loss": 0.5})`}</pre>
      </div>
    );
  return (
    <div className="page">
      <h2>Projects</h2>
      <table className="kv projects">
        <thead>
          <tr>
            <th>Project</th>
            <th>Runs</th>
            <th>Last activity</th>
          </tr>
        </thead>
        <tbody>
          {projects.map((p) => {
            const href = `/${encodeURIComponent(p.entity)}/${encodeURIComponent(p.name)}`;
            return (
              <tr key={href}>
                <td>
                  <a
                    href={href}
                    onClick={(e) => {
                      e.preventDefault();
                      nav(href);
                    }}
                  >
                    <span className="muted">{p.entity}/</span>
                    {p.name}
                  </a>
                </td>
                <td>{p.run_count}</td>
                <td>{formatTime(p.updated_at)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
