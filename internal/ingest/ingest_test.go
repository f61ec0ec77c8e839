package ingest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fluoro-dev/fluoro/internal/history"
	"github.com/fluoro-dev/fluoro/internal/store"
)

// slowStore is a unit-test double of the store's ingest side that records
// the groups it is given and takes a while per commit, as an fsync does.
type slowStore struct {
	mu     sync.Mutex
	groups []int
	fail   bool
}

func (s *slowStore) ApplyBatches(ctx context.Context, bs []store.Batch) ([]store.BatchResult, error) {
	time.Sleep(5 * time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return nil, errors.New("disk on fire")
	}
	s.groups = append(s.groups, len(bs))
	out := make([]store.BatchResult, len(bs))
	for i, b := range bs {
		out[i].Duplicate = b.Seq < 0
	}
	return out, nil
}

func TestGroupCommit(t *testing.T) {
	st := &slowStore{}
	c := NewCommitter(st, Options{})
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			b := store.Batch{Seq: int64(i), History: []history.Row{{Fields: []history.Field{{Key: "x"}}}}}
			if _, err := c.Submit(context.Background(), b); err != nil {
				t.Errorf("Submit: %v", err)
			}
		}(i)
	}
	wg.Wait()
	c.Close()
	total, biggest := 0, 0
	for _, g := range st.groups {
		total += g
		biggest = max(biggest, g)
	}
	if total != 64 {
		t.Fatalf("committed %d batches, want 64", total)
	}
	if biggest < 2 || len(st.groups) >= 64 {
		t.Errorf("groups %v: concurrent batches were not grouped", st.groups)
	}
	if _, err := c.Submit(context.Background(), store.Batch{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close = %v, want ErrClosed", err)
	}
}

func TestCommitFailureReachesEveryCaller(t *testing.T) {
	st := &slowStore{fail: true}
	c := NewCommitter(st, Options{})
	defer c.Close()
	if _, err := c.Submit(context.Background(), store.Batch{Seq: 1}); err == nil {
		t.Fatal("failed commit acknowledged")
	}
}
