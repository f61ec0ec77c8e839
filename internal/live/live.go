// Package live fans out change notifications (run created, updated,
// finished; new history) to Server-Sent Events subscribers. It keeps a ring
// of recent events so a client that reconnects with Last-Event-ID misses
// nothing; when the gap is too old, or the server restarted, it is told to
// reload instead.
package live

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Event is one notification. ID is "<epoch>-<n>", unique per server process.
type Event struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Entity  string          `json:"entity"`
	Project string          `json:"project"`
	Data    json.RawMessage `json:"data"`
	n       uint64
}

// Event types.
const (
	RunCreated  = "run.created"
	RunUpdated  = "run.updated"
	RunFinished = "run.finished"
	RunDeleted  = "run.deleted"
	History     = "history"
	Console     = "console" // new console lines or system samples of a run
	Alert       = "alert"   // a run raised an alert (not one suppressed as a repeat)
	Reset       = "reset"   // the client must reload: events were missed
)

// Hub distributes events to subscribers.
type Hub struct {
	epoch string
	mu    sync.Mutex
	ring  []Event
	start int // index of the oldest event in ring
	count int
	next  uint64
	subs  map[*Sub]struct{}
}

// NewHub returns a hub that remembers the last size events.
func NewHub(size int) *Hub {
	if size <= 0 {
		size = 4096
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &Hub{epoch: hex.EncodeToString(b), ring: make([]Event, size), next: 1, subs: map[*Sub]struct{}{}}
}

// Sub is one subscriber. C is closed when the subscriber falls too far behind
// or is cancelled.
type Sub struct {
	C       chan Event
	filter  func(Event) bool
	dropped bool
}

// Publish records an event and sends it to every matching subscriber.
func (h *Hub) Publish(typ, entity, project string, data any) {
	raw, err := json.Marshal(data)
	if err != nil {
		raw = []byte("null")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	e := Event{Type: typ, Entity: entity, Project: project, Data: raw, n: h.next}
	e.ID = h.epoch + "-" + strconv.FormatUint(h.next, 10)
	h.next++
	idx := (h.start + h.count) % len(h.ring)
	if h.count == len(h.ring) {
		h.start = (h.start + 1) % len(h.ring)
	} else {
		h.count++
	}
	h.ring[idx] = e
	for s := range h.subs {
		if s.filter != nil && !s.filter(e) {
			continue
		}
		select {
		case s.C <- e:
		default:
			// Too slow: cut it off; it reconnects with Last-Event-ID.
			s.dropped = true
			close(s.C)
			delete(h.subs, s)
		}
	}
}

// Subscribe registers a subscriber for events matching filter (nil: all).
// lastID is the Last-Event-ID the client sent, or "". The returned backlog
// holds the events after lastID; when they cannot be replayed it holds a
// single Reset event.
func (h *Hub) Subscribe(lastID string, filter func(Event) bool) (*Sub, []Event) {
	s := &Sub{C: make(chan Event, 1024), filter: filter}
	h.mu.Lock()
	defer h.mu.Unlock()
	var backlog []Event
	if lastID != "" {
		backlog = h.since(lastID, filter)
	}
	h.subs[s] = struct{}{}
	return s, backlog
}

func (h *Hub) since(lastID string, filter func(Event) bool) []Event {
	epoch, num, ok := strings.Cut(lastID, "-")
	n, err := strconv.ParseUint(num, 10, 64)
	reset := []Event{{ID: h.epoch + "-" + strconv.FormatUint(h.next-1, 10), Type: Reset, Data: json.RawMessage(`{}`)}}
	if !ok || err != nil || epoch != h.epoch || n >= h.next {
		return reset
	}
	oldest := h.next - uint64(h.count)
	if n+1 < oldest {
		return reset
	}
	var out []Event
	for i := 0; i < h.count; i++ {
		e := h.ring[(h.start+i)%len(h.ring)]
		if e.n > n && (filter == nil || filter(e)) {
			out = append(out, e)
		}
	}
	return out
}

// Cancel removes a subscriber.
func (h *Hub) Cancel(s *Sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.C)
	}
}

// Subscribers returns the number of live subscribers.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Format writes e in the SSE wire format.
func Format(e Event) string {
	body, _ := json.Marshal(e)
	return fmt.Sprintf("id: %s\nevent: %s\ndata: %s\n\n", e.ID, e.Type, body)
}
