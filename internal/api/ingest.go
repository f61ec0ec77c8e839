package api

import (
	"bytes"
	"context"
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

// readIngest reads an ingest request's body and its SpooledHeader (0 when
// absent).
func readIngest(r *http.Request) ([]byte, int64, error) {
	var n int64
	if v := r.Header.Get(SpooledHeader); v != "" {
		var err error
		if n, err = strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
			return nil, 0, errorf(http.StatusBadRequest, CodeBadData, "header %s must be a non-negative integer (points the writer has spooled), not %q", SpooledHeader, v)
		}
	}
	body, err := io.ReadAll(r.Body)
	return body, n, err
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
	body, spooled, err := readIngest(r)
	if err != nil {
		return err
	}
	it := a.prepareBatch(r, body, spooled)
	if it.fail != nil {
		return it.fail
	}
	res, err := a.d.Committer.Submit(r.Context(), it.batch)
	if err != nil {
		return err
	}
	ack, err := a.answerBatch(r.Context(), it, res)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ack)
	return nil
}

// maxBatchesPerRequest bounds the lines of one ingest/batches request.
const maxBatchesPerRequest = 10_000

// batchAnswer is one line's answer in an ingest/batches response: the
// acknowledgement, or the error a single ingest request would have got.
type batchAnswer struct {
	Status int `json:"status"`
	*ingestResponse
	Error *errorDetail `json:"error,omitempty"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// ingestBatches applies several batches, one per line (NDJSON), in their
// order and in one transaction: a client replaying a backlog (fluoro sync)
// pays one commit for many batches instead of one each. Each line is
// answered as POST /ingest would answer it alone.
func (a *API) ingestBatches(w http.ResponseWriter, r *http.Request) error {
	body, spooled, err := readIngest(r)
	if err != nil {
		return err
	}
	var lines [][]byte
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return badData("no batches: the body is one ingest batch (JSON) per line")
	}
	if len(lines) > maxBatchesPerRequest {
		return badData("%d batches in one request: send at most %d", len(lines), maxBatchesPerRequest)
	}
	items := make([]ingestItem, len(lines))
	var batches []store.Batch
	for i, line := range lines {
		items[i] = a.prepareBatch(r, line, spooled)
		if items[i].fail == nil {
			batches = append(batches, items[i].batch)
		}
	}
	results, err := a.d.Committer.SubmitAll(r.Context(), batches)
	if err != nil {
		return err
	}
	out := struct {
		Results []batchAnswer `json:"results"`
	}{make([]batchAnswer, len(items))}
	for i, it := range items {
		if it.fail == nil {
			var ack ingestResponse
			if ack, it.fail = a.answerBatch(r.Context(), it, results[0]); it.fail == nil {
				out.Results[i] = batchAnswer{Status: http.StatusOK, ingestResponse: &ack}
			}
			results = results[1:]
		}
		if it.fail != nil {
			e := toAPIError(it.fail)
			if e.Status >= 500 {
				return it.fail
			}
			out.Results[i] = batchAnswer{Status: e.Status, Error: &errorDetail{e.Code, e.Message, e.Details}}
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ingestItem is one decoded batch: what to submit, or the error that
// answers it without submitting.
type ingestItem struct {
	d       *ingest.Decoded
	run     store.Run
	batch   store.Batch
	fail    error // answered without submitting
	refused bool  // batch is ProgressOnly: every record was rejected (422 once submitted)
}

// prepareBatch decodes a batch body, checks the caller may write to its
// run, and makes the store.Batch to submit.
func (a *API) prepareBatch(r *http.Request, body []byte, spooled int64) ingestItem {
	d, err := ingest.Decode(body)
	if err != nil {
		return ingestItem{fail: err}
	}
	// Access and run checks reuse the path-based helpers.
	r.SetPathValue("entity", d.Key.Entity)
	r.SetPathValue("project", d.Key.Project)
	r.SetPathValue("run", d.Key.RunID)
	run, err := a.run(r)
	if err != nil {
		return ingestItem{fail: err}
	}
	it := ingestItem{d: d, run: run}
	if d.Records > 0 && len(d.Rejected) == d.Records {
		it.refused = true
		if d.Batch.Logged == 0 && spooled == 0 {
			it.fail = it.unprocessable()
			return it
		}
		// Refused, so no longer pending on the writer's side.
		it.batch = store.Batch{RunPK: run.PK, ProjectPK: run.ProjectPK, Writer: d.Batch.Writer, Seq: d.Batch.Seq,
			Logged: d.Batch.Logged, Spooled: spooled, ProgressOnly: true, Now: a.now()}
		return it
	}
	b := d.Batch
	b.RunPK, b.ProjectPK, b.Now, b.Spooled = run.PK, run.ProjectPK, a.now(), spooled
	fillTimes(&b, b.Now)
	it.batch = b
	return it
}

func (it ingestItem) unprocessable() error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: CodeUnprocessable,
		Message: "every record was rejected: " + joinRejections(it.d.Rejected), Details: map[string]any{"rejected": it.d.Rejected}}
}

// answerBatch publishes what a submitted batch changed and makes its
// acknowledgement.
func (a *API) answerBatch(ctx context.Context, it ingestItem, res store.BatchResult) (ingestResponse, error) {
	run, b, d := it.run, it.batch, it.d
	if res.Err != nil {
		if errors.Is(res.Err, store.ErrNotFound) {
			return ingestResponse{}, errorf(http.StatusNotFound, CodeNotFound, "run %s not found", d.Key)
		}
		return ingestResponse{}, res.Err
	}
	if it.refused {
		return ingestResponse{}, it.unprocessable()
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
	rejected := d.Rejected
	if rejected == nil {
		rejected = []ingest.Rejection{}
	}
	accepted := d.Records - len(rejected)
	if res.Duplicate {
		accepted = 0 // applied by the first request, not this one
	}
	durable, err := a.d.Store.HighestSeq(ctx, run.PK, b.Writer)
	if err != nil {
		return ingestResponse{}, err
	}
	return ingestResponse{
		Writer: b.Writer, Seq: b.Seq, Durable: max(durable, b.Seq), Duplicate: res.Duplicate,
		Accepted: accepted, Rejected: rejected,
	}, nil
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
