// A page that could not load: what failed, the server's message, and what
// to do about it (whatToDo), with a way back and a reload.

import { whatToDo } from "../api";

export function ErrorState({
  title,
  error,
  back,
}: {
  title: string;
  error: unknown;
  back?: { href: string; label: string };
}) {
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div className="page error-state" role="alert" data-testid="error-state">
      <h2>{title}</h2>
      <p className="error">{message}</p>
      <p>{whatToDo(error)}</p>
      <p>
        {back && (
          <>
            <a href={back.href}>{back.label}</a> ·{" "}
          </>
        )}
        <button type="button" className="link" onClick={() => location.reload()}>
          Reload
        </button>
      </p>
    </div>
  );
}
