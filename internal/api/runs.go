package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/fluoro-dev/fluoro/internal/auth"
	"github.com/fluoro-dev/fluoro/internal/ingest"
	"github.com/fluoro-dev/fluoro/internal/live"
	"github.com/fluoro-dev/fluoro/internal/query"
	"github.com/fluoro-dev/fluoro/internal/store"
)

// RunJSON is a run as the API shows it.
type RunJSON struct {
	Entity      string         `json:"entity"`
	Project     string         `json:"project"`
	ID          string         `json:"id"`
	Name        string         `json:"name"`
	State       string         `json:"state"`
	User        string         `json:"user"`
	Config      map[string]any `json:"config"`
	Summary     map[string]any `json:"summary"`
	Tags        []string       `json:"tags"`
	Group       string         `json:"group"`
	JobType     string         `json:"job_type"`
	Notes       string         `json:"notes"`
	Host        string         `json:"host"`
	Program     string         `json:"program"`
	Git         store.Git      `json:"git"`
	CreatedAt   string         `json:"created_at"`
	UpdatedAt   string         `json:"updated_at"`
	HeartbeatAt string         `json:"heartbeat_at"`
	FinishedAt  *string        `json:"finished_at"`
	ExitCode    *int           `json:"exit_code"`
	LastStep    int64          `json:"last_step"`
	Points      int64          `json:"points"`
	// Reported by the SDK's writers; absent when none reports (docs/api.md, "Durability").
	PointsLogged   *int64 `json:"points_logged,omitempty"`
	PointsReceived *int64 `json:"points_received,omitempty"`
	PointsPending  *int64 `json:"points_pending,omitempty"`
	Resumed        *bool  `json:"resumed,omitempty"`
	Duplicate      *bool  `json:"duplicate,omitempty"` // set for ops sent with OpHeader
}

// OpHeader names the spooled op a create, update or finish replays:
// "<writer>/<seq>", the writer percent-encoded. The server applies each op
// once per (run, writer, seq), as it does batches (docs/spool.md). Requests
// without it (the web UI, API users) are applied every time.
const OpHeader = "X-Fluoro-Op"

// opID reads OpHeader; the zero OpID when it is absent.
func opID(r *http.Request) (store.OpID, error) {
	v := r.Header.Get(OpHeader)
	if v == "" {
		return store.OpID{}, nil
	}
	i := strings.LastIndexByte(v, '/')
	if i >= 0 {
		w, err := url.PathUnescape(v[:i])
		seq, serr := strconv.ParseInt(v[i+1:], 10, 64)
		if err == nil && serr == nil && w != "" && len(w) <= ingest.MaxWriterLen && utf8.ValidString(w) && seq >= 0 {
			return store.OpID{Writer: w, Seq: seq}, nil
		}
	}
	return store.OpID{}, badData("%s %.80q: want <writer>/<seq>: the percent-encoded writer id (1-%d bytes) and a non-negative integer",
		OpHeader, v, ingest.MaxWriterLen)
}

// opDone answers an op: the run, and for an op sent with OpHeader whether
// it was a duplicate. A duplicate (err is store.ErrDuplicate) is a 200 with
// the run as it is now; it changed nothing, so nothing is published.
func (a *API) opDone(w http.ResponseWriter, r *http.Request, op store.OpID, key store.RunKey, run store.Run, err error,
	status int, event string, resumed *bool) error {
	dup := errors.Is(err, store.ErrDuplicate)
	if dup {
		if run, err = a.d.Store.Run(r.Context(), key); err != nil {
			return err
		}
		status, resumed = http.StatusOK, nil
	} else if err != nil {
		return err
	}
	if a.d.Observer != nil {
		outcome := "applied"
		if dup {
			outcome = "duplicate"
		}
		a.d.Observer.ObserveOp(event, outcome)
	}
	out := a.runJSON(r.Context(), run)
	out.Resumed = resumed
	if op.Writer != "" {
		out.Duplicate = &dup
	}
	if !dup {
		a.d.Hub.Publish(event, run.Entity, run.Project, out)
	}
	writeJSON(w, status, out)
	return nil
}

func (a *API) runJSON(ctx context.Context, run store.Run) RunJSON {
	out := RunJSON{
		Entity: run.Entity, Project: run.Project, ID: run.RunID, Name: run.Name, State: run.State,
		User: a.userName(ctx, run.UserID), Config: run.Config, Summary: run.Summary, Tags: run.Tags,
		Group: run.Group, JobType: run.JobType, Notes: run.Notes, Host: run.Host, Program: run.Program, Git: run.Git,
		CreatedAt: fmtTime(run.CreatedAt), UpdatedAt: fmtTime(run.UpdatedAt), HeartbeatAt: fmtTime(run.HeartbeatAt),
		FinishedAt: fmtTimePtr(run.FinishedAt), ExitCode: run.ExitCode, LastStep: run.LastStep, Points: run.Points,
	}
	if run.PointsLogged > 0 || run.PointsReceived > 0 {
		logged, received, pending := run.PointsLogged, run.PointsReceived, run.PointsPending()
		out.PointsLogged, out.PointsReceived, out.PointsPending = &logged, &received, &pending
	}
	return out
}

// RunChanged announces a change the server made to a run by itself (it was
// lost, or is running again) as a run.updated event.
func (a *API) RunChanged(run store.Run) {
	a.d.Hub.Publish(live.RunUpdated, run.Entity, run.Project, a.runJSON(context.Background(), run))
}

type userJSON struct {
	Name     string   `json:"name"`
	Email    string   `json:"email"`
	Admin    bool     `json:"admin"`
	Entity   string   `json:"entity"`
	Entities []string `json:"entities"`
}

func (a *API) viewer(w http.ResponseWriter, r *http.Request) error {
	u, _ := auth.UserFrom(r.Context())
	ents, err := a.d.Store.ListEntities(r.Context())
	if err != nil {
		return err
	}
	out := userJSON{Name: u.Name, Email: u.Email, Admin: u.Admin, Entity: u.Name, Entities: []string{}}
	for _, e := range ents {
		if auth.CanAccess(u, e) {
			out.Entities = append(out.Entities, e.Name)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

type entityJSON struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	CreatedAt string `json:"created_at"`
}

func (a *API) listEntities(w http.ResponseWriter, r *http.Request) error {
	u, _ := auth.UserFrom(r.Context())
	ents, err := a.d.Store.ListEntities(r.Context())
	if err != nil {
		return err
	}
	out := []entityJSON{}
	for _, e := range ents {
		if auth.CanAccess(u, e) {
			out = append(out, entityJSON{Name: e.Name, Kind: e.Kind, CreatedAt: fmtTime(e.CreatedAt)})
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entities": out})
	return nil
}

type projectJSON struct {
	Entity    string `json:"entity"`
	Name      string `json:"name"`
	RunCount  int64  `json:"run_count"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

func toProjectJSON(p store.Project) projectJSON {
	return projectJSON{Entity: p.Entity, Name: p.Name, RunCount: p.RunCount, CreatedAt: fmtTime(p.CreatedAt), UpdatedAt: fmtTime(p.UpdatedAt)}
}

func (a *API) listProjects(w http.ResponseWriter, r *http.Request) error {
	e, err := a.entity(r)
	if err != nil {
		return err
	}
	ps, err := a.d.Store.ListProjects(r.Context(), e.ID)
	if err != nil {
		return err
	}
	out := []projectJSON{}
	for _, p := range ps {
		out = append(out, toProjectJSON(p))
	}
	writeJSON(w, http.StatusOK, map[string]any{"projects": out})
	return nil
}

func (a *API) getProject(w http.ResponseWriter, r *http.Request) error {
	p, err := a.project(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toProjectJSON(p))
	return nil
}

// createRunRequest is the body of POST .../runs.
type createRunRequest struct {
	ID      string         `json:"id"`
	Resume  string         `json:"resume"`
	Name    string         `json:"name"`
	Config  map[string]any `json:"config"`
	Tags    []string       `json:"tags"`
	Group   string         `json:"group"`
	JobType string         `json:"job_type"`
	Notes   string         `json:"notes"`
	Host    string         `json:"host"`
	Program string         `json:"program"`
	Git     store.Git      `json:"git"`
	// StepsAfterLast: the client resumed without knowing the run's last
	// step; its steps (from 0) are stored after it. Needs X-Fluoro-Op.
	StepsAfterLast bool `json:"steps_after_last"`
}

func checkTags(tags []string) error {
	if len(tags) > 256 {
		return badData("at most 256 tags")
	}
	for _, t := range tags {
		if t == "" || len(t) > 256 {
			return badData("tag %.40q must be 1-256 bytes", t)
		}
	}
	return nil
}

func (a *API) createRun(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.entity(r); err != nil {
		return err
	}
	var req createRunRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	mode := store.ResumeMode(req.Resume)
	switch req.Resume {
	case "":
		mode = store.ResumeNever
		if req.ID != "" {
			mode = store.ResumeAllow
		}
	case "allow", "must", "never":
	default:
		return badData("resume %q: use allow, must or never", req.Resume)
	}
	if req.ID != "" && !store.ValidRunID(req.ID) {
		return badData("run id %q: use 1-64 letters, digits, '_', '-' or '.', not starting with '.'", req.ID)
	}
	if mode == store.ResumeMust && req.ID == "" {
		return badData("resume=must needs the id of the run to resume")
	}
	if err := checkTags(req.Tags); err != nil {
		return err
	}
	op, err := opID(r)
	if err != nil {
		return err
	}
	if req.StepsAfterLast && op.Writer == "" {
		return badData("steps_after_last needs the %s header: the writer whose steps move", OpHeader)
	}
	u, _ := auth.UserFrom(r.Context())
	key := store.RunKey{Entity: r.PathValue("entity"), Project: r.PathValue("project"), RunID: req.ID}
	run, resumed, err := a.d.Store.UpsertRun(r.Context(), store.RunSpec{
		RunKey: key, Op: op,
		Resume: mode, UserID: u.ID, Name: req.Name, Config: req.Config, Tags: req.Tags, Group: req.Group,
		JobType: req.JobType, Notes: req.Notes, Host: req.Host, Program: req.Program, Git: req.Git, Now: a.now(),
		StepsAfterLast: req.StepsAfterLast,
	})
	typ, status := live.RunCreated, http.StatusCreated
	if resumed {
		typ, status = live.RunUpdated, http.StatusOK
	}
	return a.opDone(w, r, op, key, run, err, status, typ, &resumed)
}

func (a *API) getRun(w http.ResponseWriter, r *http.Request) error {
	run, err := a.run(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.runJSON(r.Context(), run))
	return nil
}

type updateRunRequest struct {
	Name           *string        `json:"name"`
	Config         map[string]any `json:"config"`
	AllowValChange bool           `json:"allow_val_change"`
	Summary        map[string]any `json:"summary"`
	Tags           *[]string      `json:"tags"`
	Notes          *string        `json:"notes"`
	Group          *string        `json:"group"`
	JobType        *string        `json:"job_type"`
}

func (a *API) updateRun(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.run(r); err != nil {
		return err
	}
	var req updateRunRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.Tags != nil {
		if err := checkTags(*req.Tags); err != nil {
			return err
		}
	}
	if req.Name != nil && *req.Name == "" {
		return badData("name must not be empty")
	}
	op, err := opID(r)
	if err != nil {
		return err
	}
	run, err := a.d.Store.UpdateRun(r.Context(), runKey(r), store.RunUpdate{
		Op: op, Name: req.Name, Config: req.Config, AllowValChange: req.AllowValChange, Summary: req.Summary,
		Tags: req.Tags, Notes: req.Notes, Group: req.Group, JobType: req.JobType, Now: a.now(),
	})
	return a.opDone(w, r, op, runKey(r), run, err, http.StatusOK, live.RunUpdated, nil)
}

func (a *API) deleteRun(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.run(r); err != nil {
		return err
	}
	u, _ := auth.UserFrom(r.Context())
	// No upload may file a blob and store its row between the store listing
	// the blobs the run leaves unused and their deletion.
	a.d.BlobLock.Lock()
	defer a.d.BlobLock.Unlock()
	run, err := a.d.Store.DeleteRun(r.Context(), runKey(r), u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, CodeNotFound, "run %s not found", runKey(r))
	}
	if err != nil {
		return err
	}
	for _, k := range run.UnusedBlobs {
		a.dropBlob(r.Context(), k) // the run is gone either way: a blob left behind only costs space
	}
	a.d.Log.Info("run deleted", "run", runKey(r).String(), "user", u.Name, "points", run.Points, "blobs", len(run.UnusedBlobs))
	a.d.Hub.Publish(live.RunDeleted, run.Entity, run.Project, map[string]any{"id": run.RunID})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type finishRunRequest struct {
	ExitCode *int   `json:"exit_code"`
	State    string `json:"state"`
}

func (a *API) finishRun(w http.ResponseWriter, r *http.Request) error {
	if _, err := a.run(r); err != nil {
		return err
	}
	var req finishRunRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if req.State != "" && !store.TerminalState(req.State) {
		return badData("state %q: use finished, failed, killed, crashed or preempted", req.State)
	}
	op, err := opID(r)
	if err != nil {
		return err
	}
	run, err := a.d.Store.FinishRun(r.Context(), runKey(r), store.RunFinish{Op: op, State: req.State, ExitCode: req.ExitCode, Now: a.now()})
	return a.opDone(w, r, op, runKey(r), run, err, http.StatusOK, live.RunFinished, nil)
}

func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badData("%s=%q: want an integer from %d to %d", name, s, lo, hi)
	}
	return n, nil
}

func (a *API) listRuns(w http.ResponseWriter, r *http.Request) error {
	p, err := a.project(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	filter, err := query.Parse(q.Get("filter"))
	if err != nil {
		return badData("%s", err)
	}
	sort, err := query.ParseSort(q.Get("sort"))
	if err != nil {
		return badData("%s", err)
	}
	limit, err := intParam(r, "limit", 50, 1, 1000)
	if err != nil {
		return err
	}
	offset, err := intParam(r, "offset", 0, 0, 1<<30)
	if err != nil {
		return err
	}
	page, err := a.d.Store.ListRuns(r.Context(), store.RunQuery{ProjectPK: p.ID, Filter: filter, Sort: sort, Limit: limit, Offset: offset})
	if err != nil {
		return err
	}
	runs := make([]RunJSON, 0, len(page.Runs))
	for _, run := range page.Runs {
		runs = append(runs, a.runJSON(r.Context(), run))
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": runs, "total": page.Total, "limit": limit, "offset": offset})
	return nil
}

// maxRunFields caps each list of runFields: past it a table has far more
// columns than anyone reads, and the answer says it was cut.
const maxRunFields = 10_000

func (a *API) runFields(w http.ResponseWriter, r *http.Request) error {
	p, err := a.project(r)
	if err != nil {
		return err
	}
	fp, err := a.d.Store.RunFieldPaths(r.Context(), p.ID, maxRunFields)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"config": fp.Config, "summary": fp.Summary, "truncated": fp.Truncated})
	return nil
}
