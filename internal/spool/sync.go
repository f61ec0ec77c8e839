package spool

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrAuth means the server refused the API key: nothing more can be sent.
var ErrAuth = errors.New("the server refused the API key")

// Syncer sends spools to a server.
type Syncer struct {
	BaseURL  string // e.g. http://127.0.0.1:8080
	Key      string
	Client   *http.Client
	Progress func(sent, total int) // may be nil
	// Retry backoff: first wait and cap (defaults 200 ms and 30 s), and how
	// long to keep retrying one record (default 10 minutes).
	Backoff, MaxBackoff, GiveUpAfter time.Duration
}

// Result summarises one sync.
type Result struct {
	Sent       int    // records the server accepted (duplicates included)
	Duplicates int    // of those, the ones it had applied before (a replay changed nothing)
	Refused    int    // records refused for good (4xx other than auth)
	Finished   string // state the run was finished with by this sync, if any
	Owner      bool   // whether this sync owned the spool (its writer was gone)
	FirstFail  string // the first refusal, for the report
	Files      int    // run files uploaded
	FilesLeft  int    // run files not uploaded (the run is alive: its process uploads them)
}

// lock takes the spool's lock without blocking; ok is false when the
// writing process is still alive.
func lock(dir string) (release func(), ok bool, err error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("open spool lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("lock spool: %w", err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, true, nil
}

type answer struct {
	status int
	body   []byte
}

func (s *Syncer) call(ctx context.Context, r Request) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, s.BaseURL+r.Path, bytes.NewReader(r.Body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+s.Key)
	if r.Method == http.MethodPut { // a run file: the server takes its type from the name
		sum := sha256.Sum256(r.Body)
		req.Header.Set("X-Fluoro-SHA256", hex.EncodeToString(sum[:]))
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.Op != "" {
		req.Header.Set(OpHeader, r.Op)
	}
	if r.Spooled > 0 {
		req.Header.Set(SpooledHeader, strconv.FormatInt(r.Spooled, 10))
	}
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return answer{res.StatusCode, b}, err
}

func retryable(status int) bool {
	return status == 408 || status == 425 || status == 429 || status >= 500
}

// send delivers one request, retrying transient failures with exponential
// backoff and jitter.
func (s *Syncer) send(ctx context.Context, req Request) (answer, error) {
	wait, capWait, giveUp := s.Backoff, s.MaxBackoff, s.GiveUpAfter
	if wait <= 0 {
		wait = 200 * time.Millisecond
	}
	if capWait <= 0 {
		capWait = 30 * time.Second
	}
	if giveUp <= 0 {
		giveUp = 10 * time.Minute
	}
	deadline := time.Now().Add(giveUp)
	for {
		a, err := s.call(ctx, req)
		if err == nil && !retryable(a.status) {
			if a.status == 401 || a.status == 403 {
				return a, fmt.Errorf("%w (%d): %s", ErrAuth, a.status, bytes.TrimSpace(a.body))
			}
			return a, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("server answered %d: %s", a.status, bytes.TrimSpace(a.body))
			}
			return a, fmt.Errorf("give up on %s %s: %w", req.Method, req.Path, err)
		}
		d := wait/2 + rand.N(wait/2+1)
		select {
		case <-ctx.Done():
			return a, ctx.Err()
		case <-time.After(d):
		}
		wait = min(2*wait, capWait)
	}
}

// Limits of one /ingest/batches request.
const (
	maxBatchLines = 1000
	maxBatchBytes = 8 << 20
)

// batchRun is how many records at the start of rs are batches that fit in
// one /ingest/batches request.
func batchRun(rs []Record) int {
	n, size := 0, 0
	for _, r := range rs {
		if r.Kind != KindBatch || n == maxBatchLines || (n > 0 && size+len(r.Body)+1 > maxBatchBytes) {
			break
		}
		n++
		size += len(r.Body) + 1
	}
	return n
}

// sendBatches sends recs (batches) in one /ingest/batches request and
// acknowledges those applied, in order, up to the first that was not. It
// returns how many were, and false if the server does not take such
// requests (then none was).
func (s *Syncer) sendBatches(ctx context.Context, sp *Spool, entity string, recs []Record, owner bool, res *Result) (int, bool, error) {
	var body bytes.Buffer
	for _, r := range recs {
		body.Write(sp.Request(r, entity).Body)
		body.WriteByte('\n')
	}
	a, err := s.send(ctx, Request{Method: "POST", Path: "/api/v1/ingest/batches", Body: body.Bytes(), Spooled: sp.Spooled})
	if err != nil {
		return 0, true, err
	}
	if a.status == http.StatusNotFound || a.status == http.StatusMethodNotAllowed {
		return 0, false, nil // a server older than the endpoint
	}
	var out struct {
		Results []struct {
			Status    int  `json:"status"`
			Duplicate bool `json:"duplicate"`
		} `json:"results"`
	}
	if a.status != http.StatusOK || json.Unmarshal(a.body, &out) != nil || len(out.Results) != len(recs) {
		return 0, true, nil // sent again one by one, which reports the problem
	}
	done := 0
	for _, r := range out.Results {
		if r.Status/100 != 2 {
			break
		}
		done++
		res.Sent++
		if r.Duplicate {
			res.Duplicates++
		}
	}
	if owner && done > 0 { // an ack covers every record up to its seq
		if err := sp.appendLine(fmt.Sprintf(`{"op":"ack","seq":%d}`, recs[done-1].Seq)); err != nil {
			return done, true, err
		}
	}
	return done, true, nil
}

// duplicate reports whether a 2xx answer says the record was applied before.
func duplicate(body []byte) bool {
	var d struct {
		Duplicate bool `json:"duplicate"`
	}
	_ = json.Unmarshal(body, &d)
	return d.Duplicate
}

func errorCode(body []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Error.Code
}

// Sync sends every pending record of sp, in order. When the writing process
// is gone (the lock is free), it also acknowledges records in the spool,
// finishes a run that died without a finish record as "crashed", and trims
// acknowledged segments. It is safe to run twice or while the run is alive.
func (s *Syncer) Sync(ctx context.Context, sp *Spool) (Result, error) {
	var res Result
	release, owner, err := lock(sp.Dir)
	if err != nil {
		return res, err
	}
	if owner {
		defer release()
		if err := sp.repairTorn(); err != nil {
			return res, err
		}
	}
	res.Owner = owner
	entity := sp.Header.Entity
	if entity == "" {
		a, err := s.send(ctx, Request{Method: "GET", Path: "/api/v1/viewer"})
		if err != nil {
			return res, err
		}
		var v struct {
			Entity string `json:"entity"`
		}
		if a.status != 200 || json.Unmarshal(a.body, &v) != nil || v.Entity == "" {
			return res, fmt.Errorf("find the default entity: viewer answered %d", a.status)
		}
		entity = v.Entity
	}
	pending := sp.Pending()
	// The state to restore after resuming a finished run: dropped when the
	// spool's own finish record is applied after the data, kept when the
	// server had applied that record before (a duplicate changes nothing).
	var refinish []byte
	multi := true // the server takes /ingest/batches (an older one may not)
	for i := 0; i < len(pending); i++ {
		// Consecutive batches go several to a request, one commit for all;
		// from the first one not applied, one at a time as below.
		if n := batchRun(pending[i:]); multi && n > 1 {
			done, ok, err := s.sendBatches(ctx, sp, entity, pending[i:i+n], owner, &res)
			if err != nil {
				return res, err
			}
			multi = ok
			i += done
			if s.Progress != nil && done > 0 {
				s.Progress(i, len(pending))
			}
			if done == n {
				i-- // the loop's i++: the next record is pending[i]
				continue
			}
		}
		r := pending[i]
		req := sp.Request(r, entity)
		a, err := s.send(ctx, req)
		if err != nil {
			return res, err
		}
		// A batch for a finished run: resume it, send, and finish it again
		// at the end as it was. A missing run: create it and retry.
		code := errorCode(a.body)
		if r.Kind == KindBatch && a.status == 409 && code == "run_finished" || a.status == 404 && r.Kind != KindCreate && code == "not_found" {
			if a.status == 409 && refinish == nil {
				refinish, err = s.finishedState(ctx, sp, entity)
				if err != nil {
					return res, err
				}
			}
			if err := s.resume(ctx, sp, entity); err != nil {
				return res, err
			}
			if a, err = s.send(ctx, req); err != nil {
				return res, err
			}
		}
		switch {
		case a.status/100 == 2:
			res.Sent++
			dup := duplicate(a.body)
			if dup {
				res.Duplicates++
			}
			if r.Kind == KindFinish && !dup {
				refinish = nil
			}
			if owner {
				if err := sp.appendLine(fmt.Sprintf(`{"op":"ack","seq":%d}`, r.Seq)); err != nil {
					return res, err
				}
			}
		default:
			res.Refused++
			msg := string(bytes.TrimSpace(a.body))
			if res.FirstFail == "" {
				res.FirstFail = fmt.Sprintf("record %d (%s): %d %s", r.Seq, r.Kind, a.status, msg)
			}
			if owner {
				line, _ := json.Marshal(map[string]any{"op": "ack", "seq": r.Seq, "status": a.status, "error": msg})
				if err := sp.appendLine(string(line)); err != nil {
					return res, err
				}
			}
		}
		if s.Progress != nil {
			s.Progress(i+1, len(pending))
		}
	}
	if refinish != nil {
		if _, err := s.send(ctx, Request{Method: "POST", Path: sp.Request(Record{Kind: KindFinish}, entity).Path, Body: refinish}); err != nil {
			return res, err
		}
	}
	if owner {
		if err := s.syncFiles(ctx, sp, entity, &res); err != nil {
			return res, err
		}
	} else {
		res.FilesLeft = len(sp.PendingFiles())
	}
	if owner && !sp.HasFinish {
		state, err := s.runState(ctx, sp, entity)
		if err != nil {
			return res, err
		}
		if state == "running" || state == "lost" { // its process is gone: the spool is not taken
			if err := s.finishCrashed(ctx, sp, entity); err != nil {
				return res, err
			}
			res.Finished = "crashed"
		}
	}
	if owner {
		if err := sp.trim(); err != nil {
			return res, err
		}
	}
	return res, nil
}

// syncFiles uploads the run files the index has not acknowledged, and
// acknowledges each in spool/files.idx (owner only). A run directory from
// before the index gets its files/fluoro-metadata.json indexed first.
func (s *Syncer) syncFiles(ctx context.Context, sp *Spool, entity string, res *Result) error {
	if sp.FilesErr != nil {
		return sp.FilesErr
	}
	if sp.FilesTorn {
		p := filepath.Join(sp.Dir, FileIndexName)
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("repair file index: %w", err)
		}
		if err := os.Truncate(p, int64(bytes.LastIndexByte(data, '\n')+1)); err != nil {
			return fmt.Errorf("repair file index: %w", err)
		}
		sp.FilesTorn = false
	}
	if err := sp.adoptLegacyMetadata(); err != nil {
		return err
	}
	for _, f := range sp.PendingFiles() {
		req := sp.FileRequest(f, entity)
		body, err := os.ReadFile(sp.FilePath(f.Name))
		if err != nil {
			res.Refused++
			if res.FirstFail == "" {
				res.FirstFail = fmt.Sprintf("run file %s: %v", f.Name, err)
			}
			if err := sp.appendFileAck(f, 0, "cannot read: "+err.Error()); err != nil {
				return err
			}
			continue
		}
		req.Body = body
		a, err := s.send(ctx, req)
		if err != nil {
			return err
		}
		if a.status/100 == 2 {
			res.Files++
			if err := sp.appendFileAck(f, 0, ""); err != nil {
				return err
			}
			continue
		}
		res.Refused++
		msg := string(bytes.TrimSpace(a.body))
		if res.FirstFail == "" {
			res.FirstFail = fmt.Sprintf("run file %s: %d %s", f.Name, a.status, msg)
		}
		if err := sp.appendFileAck(f, a.status, msg); err != nil {
			return err
		}
	}
	return nil
}

// appendFileAck records in the file index that f is done (refused for good
// when errMsg is set).
func (sp *Spool) appendFileAck(f File, status int, errMsg string) error {
	ack := struct { // fields in the documented order: the first key says the line's kind
		FileAck string `json:"file_ack"`
		SHA256  string `json:"sha256"`
		Status  int    `json:"status,omitempty"`
		Error   string `json:"error,omitempty"`
	}{f.Name, f.SHA256, status, errMsg[:min(len(errMsg), 500)]}
	line, _ := json.Marshal(ack)
	if err := sp.appendFileIndex(string(line)); err != nil {
		return err
	}
	for i := range sp.Files {
		if sp.Files[i].Name == f.Name && sp.Files[i].SHA256 == f.SHA256 {
			sp.Files[i].Acked = true
		}
	}
	return nil
}

func (sp *Spool) appendFileIndex(lines ...string) error {
	p := filepath.Join(sp.Dir, FileIndexName)
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("append to file index: %w", err)
	}
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("append to file index: %w", err)
	}
	return nil
}

// adoptLegacyMetadata indexes files/fluoro-metadata.json of a run directory
// written before the file index existed, so that it is uploaded.
func (sp *Spool) adoptLegacyMetadata() error {
	if sp.HasFileIndex {
		return nil
	}
	const name = "fluoro-metadata.json"
	data, err := os.ReadFile(sp.FilePath(name))
	if err != nil {
		return nil // nothing to adopt
	}
	sum := sha256.Sum256(data)
	f := File{Name: name, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}
	now := float64(time.Now().UnixMilli()) / 1000
	hdr := fmt.Sprintf(`{"fluoro_files":%d,"created":%.3f}`, FilesVersion, now)
	rec, _ := json.Marshal(struct {
		File   string  `json:"file"`
		SHA256 string  `json:"sha256"`
		Size   int64   `json:"size"`
		Time   float64 `json:"time"`
	}{f.Name, f.SHA256, f.Size, now})
	if err := sp.appendFileIndex(hdr, string(rec)); err != nil {
		return err
	}
	sp.HasFileIndex = true
	sp.Files = append(sp.Files, f)
	return nil
}

func (s *Syncer) resume(ctx context.Context, sp *Spool, entity string) error {
	body, _ := json.Marshal(map[string]string{"id": sp.Header.RunID, "resume": "allow"})
	a, err := s.send(ctx, Request{Method: "POST", Path: sp.Request(Record{Kind: KindCreate}, entity).Path, Body: body})
	if err != nil {
		return err
	}
	if a.status/100 != 2 {
		return fmt.Errorf("resume run %s: %d %s", sp.Header.RunID, a.status, bytes.TrimSpace(a.body))
	}
	return nil
}

type runInfo struct {
	State    string `json:"state"`
	ExitCode *int   `json:"exit_code"`
}

func (s *Syncer) getRun(ctx context.Context, sp *Spool, entity string) (runInfo, error) {
	var ri runInfo
	path := sp.Request(Record{Kind: KindUpdate}, entity).Path
	a, err := s.send(ctx, Request{Method: "GET", Path: path})
	if err != nil {
		return ri, err
	}
	if a.status == 404 {
		return ri, nil
	}
	if a.status != 200 {
		return ri, fmt.Errorf("get run %s: %d %s", sp.Header.RunID, a.status, bytes.TrimSpace(a.body))
	}
	return ri, json.Unmarshal(a.body, &ri)
}

func (s *Syncer) runState(ctx context.Context, sp *Spool, entity string) (string, error) {
	ri, err := s.getRun(ctx, sp, entity)
	return ri.State, err
}

func (s *Syncer) finishedState(ctx context.Context, sp *Spool, entity string) ([]byte, error) {
	ri, err := s.getRun(ctx, sp, entity)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"state": ri.State, "exit_code": ri.ExitCode})
}

// finishCrashed records a finish op with the next seq, sends it and acks it.
func (s *Syncer) finishCrashed(ctx context.Context, sp *Spool, entity string) error {
	var next int64 = 1
	if n := len(sp.Records); n > 0 {
		next = sp.Records[n-1].Seq + 1
	}
	next = max(next, sp.Acked+1)
	body := []byte(`{"state":"crashed"}`)
	if err := sp.appendLine(fmt.Sprintf(`{"op":"finish","seq":%d,"body":%s}`, next, body)); err != nil {
		return err
	}
	rec := Record{Seq: next, Kind: KindFinish, Body: body}
	sp.Records = append(sp.Records, rec)
	sp.HasFinish = true
	a, err := s.send(ctx, sp.Request(rec, entity))
	if err != nil {
		return err
	}
	if a.status/100 != 2 {
		return fmt.Errorf("finish run %s as crashed: %d %s", sp.Header.RunID, a.status, bytes.TrimSpace(a.body))
	}
	return sp.appendLine(fmt.Sprintf(`{"op":"ack","seq":%d}`, next))
}

// repairTorn truncates torn last lines so appended lines start clean.
func (sp *Spool) repairTorn() error {
	for _, name := range sp.Torn {
		p := filepath.Join(sp.Dir, name)
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("repair segment %s: %w", name, err)
		}
		if err := os.Truncate(p, int64(bytes.LastIndexByte(data, '\n')+1)); err != nil {
			return fmt.Errorf("repair segment %s: %w", name, err)
		}
	}
	sp.Torn = nil
	return nil
}

// appendLine appends one line to the newest segment.
func (sp *Spool) appendLine(line string) error {
	p := filepath.Join(sp.Dir, sp.Segments[len(sp.Segments)-1])
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("append to spool: %w", err)
	}
	_, err = f.WriteString(line + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("append to spool: %w", err)
	}
	var op struct {
		Op  string `json:"op"`
		Seq int64  `json:"seq"`
	}
	if json.Unmarshal([]byte(line), &op) == nil && op.Op == "ack" {
		sp.Acked = max(sp.Acked, op.Seq)
	}
	return nil
}

// trim deletes segments, other than the newest, whose records are all
// acknowledged.
func (sp *Spool) trim() error {
	last := map[string]int64{}
	for _, r := range sp.Records {
		last[r.Segment] = max(last[r.Segment], r.Seq)
	}
	keep := sp.Segments[:0:0]
	for i, name := range sp.Segments {
		if i < len(sp.Segments)-1 && last[name] <= sp.Acked {
			if err := os.Remove(filepath.Join(sp.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("trim spool: %w", err)
			}
			continue
		}
		keep = append(keep, name)
	}
	sp.Segments = keep
	return nil
}
