// Package store defines Fluoro's metadata store: users, API keys, entities,
// projects, runs, console lines, system samples, files and the ingest of
// batched records. Backends live in subpackages (sqlite today); every backend
// must pass the conformance suite in storetest.
//
// The interfaces are small and split by domain so that consumers depend only
// on what they use; a backend's concrete type implements all of them.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/fluoro-dev/fluoro/internal/history"
	"github.com/fluoro-dev/fluoro/internal/query"
)

// Sentinel errors that callers branch on. Backends wrap them with context.
var (
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("already exists")
	ErrConflict    = errors.New("conflict")
	ErrRunFinished = errors.New("run is finished")
	ErrInvalid     = errors.New("invalid")
	// ErrDuplicate means an op's (run, writer, seq) was applied before:
	// nothing changed this time (see OpID).
	ErrDuplicate = errors.New("already applied")
)

// Run states. A run is created "running". One that has sent nothing for a
// while is "lost" until it sends again (Runs.MarkLost); the others are
// terminal.
const (
	StateRunning  = "running"
	StateLost     = "lost"
	StateFinished = "finished"
	StateFailed   = "failed"
	StateKilled   = "killed"
	StateCrashed  = "crashed"
	// StatePreempted: stopped by the scheduler (SIGTERM under SLURM, or the
	// script said so), usually to be resumed.
	StatePreempted = "preempted"
)

// ValidState reports whether s is one of the run states.
func ValidState(s string) bool {
	switch s {
	case StateRunning, StateLost, StateFinished, StateFailed, StateKilled, StateCrashed, StatePreempted:
		return true
	}
	return false
}

// TerminalState reports whether s ends a run: not running, and not lost
// (a lost run's process may come back).
func TerminalState(s string) bool { return ValidState(s) && s != StateRunning && s != StateLost }

// User is a person (or service account) who holds API keys.
type User struct {
	ID        int64
	Name      string
	Email     string
	Admin     bool
	CreatedAt time.Time
}

// Entity owns projects: a user's personal namespace or, later, a team.
type Entity struct {
	ID          int64
	Name        string
	Kind        string // "user" or "team"
	OwnerUserID int64
	CreatedAt   time.Time
}

// Project groups runs under an entity.
type Project struct {
	ID        int64
	EntityID  int64
	Entity    string
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
	RunCount  int64
}

// RunKey names a run the way users do: entity/project/run id.
type RunKey struct {
	Entity  string
	Project string
	RunID   string
}

// String formats the key as entity/project/id.
func (k RunKey) String() string { return k.Entity + "/" + k.Project + "/" + k.RunID }

// Git describes the source tree a run came from.
type Git struct {
	Remote string `json:"remote,omitempty"`
	Commit string `json:"commit,omitempty"`
	Branch string `json:"branch,omitempty"`
	Dirty  bool   `json:"dirty,omitempty"`
}

// Run is one execution of a training script.
type Run struct {
	PK          int64 // internal primary key
	ProjectPK   int64
	RunKey             // entity/project/id
	Name        string // display name
	State       string // see the State constants
	UserID      int64  // who created it
	Config      map[string]any
	Summary     map[string]any
	Tags        []string
	Group       string
	JobType     string
	Notes       string
	Host        string
	Program     string
	Git         Git
	CreatedAt   time.Time
	UpdatedAt   time.Time
	HeartbeatAt time.Time
	FinishedAt  *time.Time
	ExitCode    *int
	LastStep    int64 // highest history step stored, -1 when none
	Points      int64 // history points stored

	// What the run's writers report (Batch.Logged, Batch.Spooled), summed
	// over its writers; both 0 when no writer reports.
	PointsLogged   int64 // points the writers had logged and spooled, as of each one's last batch
	PointsReceived int64 // points of those in batches the server has answered (applied, or refused)
}

// PointsPending is how many points the run's writers had spooled that have
// not reached the server, as of each writer's last contact.
func (r Run) PointsPending() int64 { return max(0, r.PointsLogged-r.PointsReceived) }

// ResumeMode says what creating a run does when the id already exists.
type ResumeMode string

// Resume modes, as in wandb.init(resume=...).
const (
	ResumeAllow ResumeMode = "allow" // resume if it exists, else create
	ResumeMust  ResumeMode = "must"  // resume; ErrNotFound if it does not exist
	ResumeNever ResumeMode = "never" // create; ErrExists if it exists
)

// OpID names one run op (create, update, finish) replayed from a spool: the
// writer that spooled it and its seq. Batches and ops of one writer share
// one seq space, so an op is remembered like a Batch: applying the same
// (run, writer, seq) again changes nothing and returns ErrDuplicate. The
// zero value (no writer) means the op is applied every time it is sent.
type OpID struct {
	Writer string
	Seq    int64
}

// RunSpec is what a client sends to create or resume a run.
type RunSpec struct {
	RunKey
	Op      OpID // when set, a repeat is ErrDuplicate (the run unchanged)
	Resume  ResumeMode
	UserID  int64
	Name    string
	Config  map[string]any
	Tags    []string
	Group   string
	JobType string
	Notes   string
	Host    string
	Program string
	Git     Git
	Now     time.Time
	// StepsAfterLast: the writer of Op resumed the run without knowing its
	// last step (offline, or the server unreachable), so its steps count
	// from 0. The store records the run's last step + 1 at this op as the
	// writer's base and adds it to the steps of the writer's batches, so
	// they land after the run's points instead of over them. Needs Op.
	StepsAfterLast bool
}

// RunUpdate changes a run's metadata; nil fields are left alone.
type RunUpdate struct {
	Op             OpID // when set, a repeat is ErrDuplicate (the run unchanged)
	Name           *string
	Config         map[string]any // merged at the top level
	AllowValChange bool           // permit changing existing config values
	Summary        map[string]any // merged at the top level; a nil value deletes the key
	Tags           *[]string
	Notes          *string
	Group          *string
	JobType        *string
	Now            time.Time
}

// RunFinish ends a run.
type RunFinish struct {
	Op       OpID   // when set, a repeat is ErrDuplicate (the run unchanged)
	State    string // terminal state; derived from ExitCode when empty
	ExitCode *int
	Now      time.Time
}

// RunQuery selects and orders runs of one project.
type RunQuery struct {
	ProjectPK int64
	Filter    query.Expr   // nil matches every run
	Sort      []query.Sort // empty sorts by creation time, newest first
	Offset    int
	Limit     int
}

// RunPage is one page of a run listing.
type RunPage struct {
	Runs  []Run
	Total int64
}

// Batch is one ingest request from one writer of one run. Applying the same
// (run, writer, seq) twice is a no-op the second time.
type Batch struct {
	RunPK     int64
	ProjectPK int64
	Writer    string
	Seq       int64
	// Logged counts the points the writer logged from its first batch
	// through this one (0: it does not count). Spooled counts those it had
	// logged when it sent this batch, the batches not sent yet included (0:
	// not said). The store keeps each writer's highest, as the run's
	// PointsLogged and PointsReceived.
	Logged, Spooled int64
	// ProgressOnly: the server refused every record of the batch, so only
	// Logged and Spooled are recorded; the batch is not remembered as
	// applied.
	ProgressOnly bool
	History      []history.Row
	Summary      map[string]any
	Console      []ConsoleLine
	System       []SystemSample
	Alerts       []Alert
	Now          time.Time
}

// DeletedRun is a run as it was when deleted, and the blobs it leaves unused.
type DeletedRun struct {
	Run
	UnusedBlobs []string // blob keys no remaining file refers to
}

// BatchResult says what happened to one batch of a group.
type BatchResult struct {
	Duplicate bool    // already applied earlier: nothing changed
	Revived   bool    // the run was lost and is running again
	Err       error   // the batch was not applied (run finished, gone, ...)
	Alerts    []Alert // the batch's alerts as stored (ID and Suppressed set), when applied
}

// Alert levels.
const (
	AlertInfo  = "INFO"
	AlertWarn  = "WARN"
	AlertError = "ERROR"
)

// Alert is a notification a run raised. An alert whose title matches one
// delivered less than WaitMS before it (by Time) is stored Suppressed: the
// store decides, inside the ingest transaction, so a replayed or concurrent
// batch cannot send a title twice within its wait.
type Alert struct {
	ID         int64   // assigned by the store
	Time       float64 // unix seconds, when the run raised it
	Title      string
	Text       string
	Level      string // AlertInfo, AlertWarn or AlertError
	WaitMS     int64  // least time between two delivered alerts of this title
	Suppressed bool
}

// ConsoleLine is one line of a run's stdout or stderr.
type ConsoleLine struct {
	Offset int64   // position in the run's console, assigned by the store
	Time   float64 // unix seconds
	Stream string  // "stdout" or "stderr"
	Line   string
}

// SystemSample is one reading of system metrics at a time.
type SystemSample struct {
	Time   float64            // unix seconds
	Values map[string]float64 // e.g. "cpu": 12.5
}

// File is a run file's metadata; its contents live in the blob store.
type File struct {
	RunPK       int64
	Name        string
	Size        int64
	SHA256      string
	BlobKey     string
	ContentType string
	UpdatedAt   time.Time
}

// Users manages users and their API keys.
type Users interface {
	CreateUser(ctx context.Context, u User) (User, error)
	UserByName(ctx context.Context, name string) (User, error)
	UserByID(ctx context.Context, id int64) (User, error)
	CountUsers(ctx context.Context) (int64, error)
	// AddAPIKey stores the hash of a key; the key itself is never stored.
	AddAPIKey(ctx context.Context, userID int64, name string, hash []byte, prefix string) error
	// UserByAPIKeyHash finds the owner of a key by its hash.
	UserByAPIKeyHash(ctx context.Context, hash []byte) (User, error)
}

// Projects manages entities and projects.
type Projects interface {
	CreateEntity(ctx context.Context, e Entity) (Entity, error)
	EntityByName(ctx context.Context, name string) (Entity, error)
	ListEntities(ctx context.Context) ([]Entity, error)
	ListProjects(ctx context.Context, entityID int64) ([]Project, error)
	ProjectByName(ctx context.Context, entity, project string) (Project, error)
}

// Runs manages runs and their metadata.
type Runs interface {
	// UpsertRun creates or resumes a run according to spec.Resume; the bool
	// is true when the run was resumed rather than created. UpsertRun,
	// UpdateRun and FinishRun record a set Op in the transaction that
	// applies it, and return ErrDuplicate, changing nothing, for an Op
	// recorded before (by an op or a Batch of that run).
	UpsertRun(ctx context.Context, spec RunSpec) (Run, bool, error)
	UpdateRun(ctx context.Context, key RunKey, u RunUpdate) (Run, error)
	FinishRun(ctx context.Context, key RunKey, f RunFinish) (Run, error)
	Run(ctx context.Context, key RunKey) (Run, error)
	// DeleteRun removes a run and everything stored with it (history,
	// console, system samples, alerts, file records, ops) in one
	// transaction, and returns it as it was, with the blob keys its files
	// used that no other file uses any more (the caller deletes those
	// blobs). A later run may take its RunID but never its PK.
	DeleteRun(ctx context.Context, key RunKey, byUser int64) (DeletedRun, error)
	ListRuns(ctx context.Context, q RunQuery) (RunPage, error)
	// RunFieldPaths lists every config path (ConfigPaths) and summary key
	// (SummaryPaths) that a run of the project has been given, at most
	// limit of each. A key later deleted or replaced may stay listed: the
	// list is for columns and grouping, where an empty column is harmless.
	RunFieldPaths(ctx context.Context, projectPK int64, limit int) (FieldPaths, error)
	// MarkLost makes every running run whose last batch (heartbeat) is
	// older than before StateLost, and returns those runs. A batch for a
	// lost run makes it running again (BatchResult.Revived).
	MarkLost(ctx context.Context, before, now time.Time) ([]Run, error)
}

// Ingester applies groups of batches in one durable transaction.
type Ingester interface {
	// ApplyBatches applies every batch in one transaction and returns a
	// result per batch. The error is non-nil only when the whole group
	// failed to commit; then nothing was applied.
	ApplyBatches(ctx context.Context, batches []Batch) ([]BatchResult, error)
}

// Acks reads what a writer has made durable.
type Acks interface {
	// HighestSeq returns the highest sequence of the writer's batches and
	// ops applied to the run (committed, so durable), or -1 when none is.
	HighestSeq(ctx context.Context, runPK int64, writer string) (int64, error)
}

// Logs reads a run's console, system samples and alerts.
type Logs interface {
	ConsoleLines(ctx context.Context, runPK, after int64, limit int) ([]ConsoleLine, error)
	SystemSamples(ctx context.Context, runPK int64, limit int) ([]SystemSample, error)
	// Alerts returns the run's most recent alerts, newest first.
	Alerts(ctx context.Context, runPK int64, limit int) ([]Alert, error)
}

// Files records run files.
type Files interface {
	PutFile(ctx context.Context, f File) error
	ListFiles(ctx context.Context, runPK int64) ([]File, error)
	File(ctx context.Context, runPK int64, name string) (File, error)
	// BlobInUse says whether any run's file refers to the blob key.
	BlobInUse(ctx context.Context, key string) (bool, error)
}

// Settings holds small server-wide values, such as the URL-signing key.
type Settings interface {
	// SettingOrInit returns the stored value, storing init first if absent.
	SettingOrInit(ctx context.Context, key string, init []byte) ([]byte, error)
}

// Store is everything a backend provides. Consumers should depend on the
// smaller interfaces above; this one exists for wiring and conformance.
type Store interface {
	Users
	Projects
	Runs
	Ingester
	Acks
	Logs
	Files
	Settings
	history.Reader
	Close() error
}
