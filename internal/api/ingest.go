package api

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/fluoro-dev/fluoro/internal/ingest"
	"github.com/fluoro-dev/fluoro/internal/live"
	"github.com/fluoro-dev/fluoro/internal/notify"
	"github.com/fluoro-dev/fluoro/internal/store"
)

// SpooledHeader is how many points the writer had logged (spooled on its
// machine) when it sent a batch, counted as the batch's "logged" field is:
// the server learns how far a writer got beyond the batches it has.
const SpooledHeader = "X-Fluoro-Spooled"

// spooledHeader reads SpooledHeader; 0 when it is absent.
func spooledHeader(r *http.Request) (int64, error) {
	v := r.Header.Get(SpooledHeader)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, errorf(http.StatusBadRequest, CodeBadData, "header %s must be a non-negative integer (points the writer has spooled), not %q", SpooledHeader, v)
	}
	return n, nil
}

// ingestResponse acknowledges one batch.
type ingestResponse struct {
	Writer    string             `json:"writer"`
	Seq       int64              `json:"seq"`         // the acknowledged sequence: durable now
	Durable   int64              `json:"durable_seq"` // the writer's highest sequence applied to the run (batches and ops)
	Duplicate bool               `json:"duplicate"`   // applied before; nothing changed this time
	Accepted  int                `json:"accepted"`    // records this request applied (0 for a duplicate)
	Rejected  []ingest.Rejection `json:"rejected"`    // records refused on their own
}

func (a *API) ingest(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	d, err := ingest.Decode(body)
	if err != nil {
		return err
	}
	// Access and run checks reuse the path-based helpers.
	r.SetPathValue("entity", d.Key.Entity)
	r.SetPathValue("project", d.Key.Project)
	r.SetPathValue("run", d.Key.RunID)
	run, err := a.run(r)
	if err != nil {
		return err
	}
	spooled, err := spooledHeader(r)
	if err != nil {
		return err
	}
	rejected := d.Rejected
	if rejected == nil {
		rejected = []ingest.Rejection{}
	}
	if d.Records > 0 && len(rejected) == d.Records {
		if d.Batch.Logged > 0 || spooled > 0 {
			// Refused, so no longer pending on the writer's side.
			p := store.Batch{RunPK: run.PK, ProjectPK: run.ProjectPK, Writer: d.Batch.Writer, Seq: d.Batch.Seq,
				Logged: d.Batch.Logged, Spooled: spooled, ProgressOnly: true, Now: a.now()}
			if _, err := a.d.Committer.Submit(r.Context(), p); err != nil {
				return err
			}
		}
		return &Error{Status: http.StatusUnprocessableEntity, Code: CodeUnprocessable,
			Message: "every record was rejected: " + joinRejections(rejected), Details: map[string]any{"rejected": rejected}}
	}
	b := d.Batch
	b.RunPK, b.ProjectPK, b.Now, b.Spooled = run.PK, run.ProjectPK, a.now(), spooled
	fillTimes(&b, b.Now)
	res, err := a.d.Committer.Submit(r.Context(), b)
	if err != nil {
		return err
	}
	if res.Err != nil {
		if errors.Is(res.Err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, CodeNotFound, "run %s not found", d.Key)
		}
		return res.Err
	}
	if res.Revived {
		run.State = store.StateRunning
		a.RunChanged(run)
	}
	if !res.Duplicate && len(b.History) > 0 {
		a.publishHistory(run, b)
	}
	if !res.Duplicate && (len(b.Console) > 0 || len(b.System) > 0) {
		a.d.Hub.Publish(live.Console, run.Entity, run.Project,
			map[string]any{"run": run.RunID, "lines": len(b.Console), "samples": len(b.System)})
	}
	if !res.Duplicate {
		a.alerts(run, res.Alerts)
	}
	accepted := d.Records - len(rejected)
	if res.Duplicate {
		accepted = 0 // applied by the first request, not this one
	}
	durable, err := a.d.Store.HighestSeq(r.Context(), run.PK, b.Writer)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ingestResponse{
		Writer: b.Writer, Seq: b.Seq, Durable: max(durable, b.Seq), Duplicate: res.Duplicate,
		Accepted: accepted, Rejected: rejected,
	})
	return nil
}

// fillTimes gives rows and lines without a time the server's clock.
func fillTimes(b *store.Batch, now time.Time) {
	t := float64(now.UnixNano()) / 1e9
	for i := range b.History {
		if b.History[i].Time == 0 {
			b.History[i].Time = t
		}
	}
	for i := range b.Console {
		if b.Console[i].Time == 0 {
			b.Console[i].Time = t
		}
	}
	for i := range b.System {
		if b.System[i].Time == 0 {
			b.System[i].Time = t
		}
	}
	for i := range b.Alerts {
		if b.Alerts[i].Time == 0 {
			b.Alerts[i].Time = t
		}
	}
}

// alerts publishes and sends on a batch's newly stored alerts; those
// suppressed as a repeat of their title within its wait are only counted.
func (a *API) alerts(run store.Run, alerts []store.Alert) {
	for _, al := range alerts {
		if al.Suppressed {
			if a.d.Observer != nil {
				a.d.Observer.ObserveAlert("suppressed")
			}
			continue
		}
		a.d.Hub.Publish(live.Alert, run.Entity, run.Project,
			map[string]any{"run": run.RunID, "id": al.ID, "title": al.Title, "level": al.Level})
		if a.d.Alerts != nil {
			a.d.Alerts.Send(notify.Alert{Alert: al, Entity: run.Entity, Project: run.Project, RunID: run.RunID, RunName: run.Name})
		}
	}
}

type historyEvent struct {
	Run     string   `json:"run"`
	Keys    []string `json:"keys"`
	MinStep int64    `json:"min_step"`
	MaxStep int64    `json:"max_step"`
	Rows    int      `json:"rows"`
}

func (a *API) publishHistory(run store.Run, b store.Batch) {
	ev := historyEvent{Run: run.RunID, MinStep: b.History[0].Step, MaxStep: b.History[0].Step, Rows: len(b.History)}
	seen := map[string]bool{}
	for _, row := range b.History {
		ev.MinStep, ev.MaxStep = min(ev.MinStep, row.Step), max(ev.MaxStep, row.Step)
		for _, f := range row.Fields {
			if !seen[f.Key] && len(seen) < 1000 {
				seen[f.Key] = true
				ev.Keys = append(ev.Keys, f.Key)
			}
		}
	}
	a.d.Hub.Publish(live.History, run.Entity, run.Project, ev)
}

func joinRejections(rs []ingest.Rejection) string {
	s := ""
	for i, r := range rs {
		if i == 3 {
			return s + "; …"
		}
		if i > 0 {
			s += "; "
		}
		s += r.Record + ": " + r.Error
	}
	return s
}
