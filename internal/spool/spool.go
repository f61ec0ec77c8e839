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

// batchSeq reads a batch line's seq without a JSON parser: it is the
// integer after the first `,"seq":` (strings before it cannot contain that
// text unescaped).
func batchSeq(line []byte) (int64, error) {
	i := bytes.Index(line, []byte(`,"seq":`))
	if i < 0 {
		return 0, errors.New("batch line without a seq")
	}
	rest := line[i+len(`,"seq":`):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, err := strconv.ParseInt(string(rest[:j]), 10, 64)
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
}

// Request returns the request for r, with entity filling in an empty
// header entity (see "Completing the entity" in docs/spool.md).
func (sp *Spool) Request(r Record, entity string) Request {
	runs := "/api/v1/projects/" + url.PathEscape(entity) + "/" + url.PathEscape(sp.Header.Project) + "/runs"
	run := runs + "/" + url.PathEscape(sp.Header.RunID)
	switch r.Kind {
	case KindCreate:
		return Request{"POST", runs, r.Body}
	case KindUpdate:
		return Request{"PATCH", run, r.Body}
	case KindFinish:
		return Request{"POST", run + "/finish", r.Body}
	}
	body := r.Body
	if sp.Header.Entity == "" && bytes.HasPrefix(body, []byte(`{"entity":""`)) {
		q, _ := json.Marshal(entity)
		body = append(append([]byte(`{"entity":`), q...), body[len(`{"entity":""`):]...)
	}
	return Request{"POST", "/api/v1/ingest", body}
}
