// Package spool reads the on-disk spool the Python SDK writes in every run
// directory (docs/spool.md is the contract, sdk/testdata/spool holds the
// shared test vectors) and replays it to a server: the Go side of
// `fluoro sync`.
package spool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Version is the spool format this package reads.
const Version = 1

// Header is the first line of every segment.
type Header struct {
	Version int     `json:"fluoro_spool"`
	Entity  string  `json:"entity"`
	Project string  `json:"project"`
	RunID   string  `json:"run_id"`
	Writer  string  `json:"writer"`
	BaseURL string  `json:"base_url"`
	Mode    string  `json:"mode"`
	SDK     string  `json:"sdk"`
	Acked   int64   `json:"acked"`
	Created float64 `json:"created"`
}

// Record kinds.
const (
	KindCreate = "create"
	KindUpdate = "update"
	KindFinish = "finish"
	KindBatch  = "batch"
)

// Record is one operation or ingest batch of the spool.
type Record struct {
	Seq     int64
	Kind    string
	Body    []byte // the request body as spooled (before entity completion)
	Segment string
}

// Spool is a parsed spool directory.
type Spool struct {
	Dir       string // the spool/ directory
	Header    Header
	Segments  []string // segment file names, in order
	Torn      []string // segments whose last line is torn (no newline)
	Acked     int64    // every record with seq <= Acked is done
	Records   []Record // in seq order
	HasFinish bool
	Skipped   int // lines of unknown kind
	// Spooled is the "logged" of the newest batch: the points the writer
	// spooled in all (0 when its batches do not count them). Sent with
	// every batch as SpooledHeader.
	Spooled int64

	Files        []File // run files of spool/files.idx: each name's latest record
	HasFileIndex bool   // whether spool/files.idx exists
	FilesTorn    bool   // whether its last line is torn
	FilesErr     error  // a file index this package cannot read (its files are not uploaded)
}

// Read parses the spool of a run directory (one that holds spool/) or a
// spool directory itself.
func Read(dir string) (*Spool, error) {
	sdir := dir
	if st, err := os.Stat(filepath.Join(dir, "spool")); err == nil && st.IsDir() {
		sdir = filepath.Join(dir, "spool")
	}
	entries, err := os.ReadDir(sdir)
	if err != nil {
		return nil, fmt.Errorf("read spool %s: %w", sdir, err)
	}
	sp := &Spool{Dir: sdir}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".jsonl") {
			sp.Segments = append(sp.Segments, e.Name())
		}
	}
	if len(sp.Segments) == 0 {
		return nil, fmt.Errorf("read spool %s: no segments (*.jsonl)", sdir)
	}
	// Segment names are the first seq they hold; sort numerically.
	sort.Slice(sp.Segments, func(i, j int) bool { return segNum(sp.Segments[i]) < segNum(sp.Segments[j]) })
	seen := map[int64]bool{}
	for i, name := range sp.Segments {
		if err := sp.readSegment(name, i == 0, seen); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(sp.Records, func(i, j int) bool { return sp.Records[i].Seq < sp.Records[j].Seq })
	for i := len(sp.Records) - 1; i >= 0 && sp.Spooled == 0; i-- {
		if sp.Records[i].Kind == KindBatch {
			sp.Spooled = batchLogged(sp.Records[i].Body)
		}
	}
	if err := sp.readFiles(); err != nil {
		return nil, err
	}
	return sp, nil
}

func segNum(name string) int64 {
	n, err := strconv.ParseInt(strings.TrimSuffix(name, ".jsonl"), 10, 64)
	if err != nil {
		return 1<<62 - 1
	}
	return n
}

func (sp *Spool) readSegment(name string, first bool, seen map[int64]bool) error {
	data, err := os.ReadFile(filepath.Join(sp.Dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil // trimmed while we listed
	}
	if err != nil {
		return fmt.Errorf("read segment %s: %w", name, err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		sp.Torn = append(sp.Torn, name)
		data = data[:bytes.LastIndexByte(data, '\n')+1]
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1<<20), 1<<30)
	for ln := 1; sc.Scan(); ln++ {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte(`{"fluoro_spool":`)):
			var h Header
			if err := json.Unmarshal(line, &h); err != nil {
				return fmt.Errorf("segment %s line %d: header: %w", name, ln, err)
			}
			if h.Version != Version {
				return fmt.Errorf("segment %s: spool format %d; this fluoro reads version %d", name, h.Version, Version)
			}
			if first && sp.Header.Version == 0 {
				sp.Header = h
			}
			sp.Acked = max(sp.Acked, h.Acked)
		case bytes.HasPrefix(line, []byte(`{"op":`)):
			var op struct {
				Op   string          `json:"op"`
				Seq  int64           `json:"seq"`
				Body json.RawMessage `json:"body"`
			}
			if err := json.Unmarshal(line, &op); err != nil {
				return fmt.Errorf("segment %s line %d: %w", name, ln, err)
			}
			switch op.Op {
			case "ack":
				sp.Acked = max(sp.Acked, op.Seq)
			case KindCreate, KindUpdate, KindFinish:
				if !seen[op.Seq] {
					seen[op.Seq] = true
					sp.Records = append(sp.Records, Record{Seq: op.Seq, Kind: op.Op, Body: append([]byte(nil), op.Body...), Segment: name})
				}
				if op.Op == KindFinish {
					sp.HasFinish = true
				}
			default:
				sp.Skipped++
			}
		case bytes.HasPrefix(line, []byte(`{"entity":`)):
			seq, err := batchSeq(line)
			if err != nil {
				return fmt.Errorf("segment %s line %d: %w", name, ln, err)
			}
			if !seen[seq] {
				seen[seq] = true
				sp.Records = append(sp.Records, Record{Seq: seq, Kind: KindBatch, Body: append([]byte(nil), line...), Segment: name})
			}
		default:
			sp.Skipped++
		}
	}
	return sc.Err()
}

// batchLogged reads a batch line's "logged", which the SDK writes right
// after its seq; 0 when it has none.
func batchLogged(line []byte) int64 {
	i := bytes.Index(line, []byte(`,"seq":`))
	if i < 0 {
		return 0
	}
	_, rest, err := leadingInt(line[i+len(`,"seq":`):])
	if err != nil {
		return 0
	}
	rest, ok := bytes.CutPrefix(rest, []byte(`,"logged":`))
	if !ok {
		return 0
	}
	n, _, err := leadingInt(rest)
	if err != nil {
		return 0
	}
	return n
}

// leadingInt parses the decimal digits b starts with and returns the rest.
func leadingInt(b []byte) (int64, []byte, error) {
	j := 0
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(string(b[:j]), 10, 64)
	return n, b[j:], err
}

// batchSeq reads a batch line's seq without a JSON parser: it is the
// integer after the first `,"seq":` (strings before it cannot contain that
// text unescaped).
func batchSeq(line []byte) (int64, error) {
	i := bytes.Index(line, []byte(`,"seq":`))
	if i < 0 {
		return 0, errors.New("batch line without a seq")
	}
	n, _, err := leadingInt(line[i+len(`,"seq":`):])
	if err != nil {
		return 0, fmt.Errorf("batch line: bad seq: %w", err)
	}
	return n, nil
}

// Pending returns the records not yet acknowledged, in seq order.
func (sp *Spool) Pending() []Record {
	var out []Record
	for _, r := range sp.Records {
		if r.Seq > sp.Acked {
			out = append(out, r)
		}
	}
	return out
}

// Request is an HTTP request a record turns into.
type Request struct {
	Method string
	Path   string
	Body   []byte
	Op     string // an op's X-Fluoro-Op header, "<writer>/<seq>"; "" for batches and other requests
	// Spooled is a batch's SpooledHeader: Spool.Spooled; 0 sends none.
	Spooled int64
}

// SpooledHeader says how many points the writer spooled in all, with each
// batch, so the server can show what has not reached it yet (docs/api.md,
// "Durability").
const SpooledHeader = "X-Fluoro-Spooled"

// OpHeader is the header that names the op a request replays, so that the
// server applies it once (docs/spool.md, "Sending rules").
const OpHeader = "X-Fluoro-Op"

// Request returns the request for r, with entity filling in an empty
// header entity (see "Completing the entity" in docs/spool.md).
func (sp *Spool) Request(r Record, entity string) Request {
	runs := "/api/v1/projects/" + url.PathEscape(entity) + "/" + url.PathEscape(sp.Header.Project) + "/runs"
	run := runs + "/" + url.PathEscape(sp.Header.RunID)
	var op string
	if sp.Header.Writer != "" {
		op = url.PathEscape(sp.Header.Writer) + "/" + strconv.FormatInt(r.Seq, 10)
	}
	switch r.Kind {
	case KindCreate:
		return Request{Method: "POST", Path: runs, Body: r.Body, Op: op}
	case KindUpdate:
		return Request{Method: "PATCH", Path: run, Body: r.Body, Op: op}
	case KindFinish:
		return Request{Method: "POST", Path: run + "/finish", Body: r.Body, Op: op}
	}
	body := r.Body
	if sp.Header.Entity == "" && bytes.HasPrefix(body, []byte(`{"entity":""`)) {
		q, _ := json.Marshal(entity)
		body = append(append([]byte(`{"entity":`), q...), body[len(`{"entity":""`):]...)
	}
	return Request{Method: "POST", Path: "/api/v1/ingest", Body: body, Spooled: sp.Spooled}
}

// FileIndexName is the spool's index of run files (docs/spool.md, "Run
// files"): JSON lines saying which files under <run dir>/files/ are to be
// uploaded, and which were.
const FileIndexName = "files.idx"

// FilesVersion is the file index format this package reads.
const FilesVersion = 1

// File is the latest record of one run file in the file index.
type File struct {
	Name   string
	SHA256 string
	Size   int64
	Acked  bool // uploaded (or refused for good) with this content
}

// RunDir is the run directory that holds the spool (and files/).
func (sp *Spool) RunDir() string {
	return filepath.Dir(sp.Dir)
}

// readFiles parses spool/files.idx when there is one: for each name, its
// latest record, in the order of those records.
func (sp *Spool) readFiles() error {
	data, err := os.ReadFile(filepath.Join(sp.Dir, FileIndexName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read file index: %w", err)
	}
	sp.HasFileIndex = true
	if len(data) > 0 && data[len(data)-1] != '\n' {
		sp.FilesTorn = true
		data = data[:bytes.LastIndexByte(data, '\n')+1]
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		var rec struct {
			Version *int    `json:"fluoro_files"`
			File    *string `json:"file"`
			Ack     *string `json:"file_ack"`
			SHA256  string  `json:"sha256"`
			Size    int64   `json:"size"`
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if json.Unmarshal(line, &rec) != nil {
			sp.Skipped++
			continue
		}
		switch {
		case rec.Version != nil:
			if *rec.Version != FilesVersion {
				sp.Files = nil
				sp.FilesErr = fmt.Errorf("file index: format %d; this fluoro reads version %d", *rec.Version, FilesVersion)
				return nil
			}
		case rec.File != nil:
			sp.Files = slicesDeleteName(sp.Files, *rec.File)
			sp.Files = append(sp.Files, File{Name: *rec.File, SHA256: rec.SHA256, Size: rec.Size})
		case rec.Ack != nil:
			for i := range sp.Files {
				if sp.Files[i].Name == *rec.Ack && sp.Files[i].SHA256 == rec.SHA256 {
					sp.Files[i].Acked = true
				}
			}
		default:
			sp.Skipped++
		}
	}
	return nil
}

func slicesDeleteName(fs []File, name string) []File {
	out := fs[:0]
	for _, f := range fs {
		if f.Name != name {
			out = append(out, f)
		}
	}
	return out
}

// PendingFiles returns the run files whose latest content is not uploaded,
// in the order of their latest records.
func (sp *Spool) PendingFiles() []File {
	var out []File
	for _, f := range sp.Files {
		if !f.Acked {
			out = append(out, f)
		}
	}
	return out
}

// FileRequest returns the upload request of a run file, without its body
// (the content of <run dir>/files/<name>).
func (sp *Spool) FileRequest(f File, entity string) Request {
	segs := strings.Split(f.Name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	run := "/api/v1/projects/" + url.PathEscape(entity) + "/" + url.PathEscape(sp.Header.Project) + "/runs/" + url.PathEscape(sp.Header.RunID)
	return Request{Method: "PUT", Path: run + "/files/" + strings.Join(segs, "/")}
}

// FilePath is where a run file's content is kept.
func (sp *Spool) FilePath(name string) string {
	return filepath.Join(sp.RunDir(), "files", filepath.FromSlash(name))
}
