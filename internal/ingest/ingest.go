// Package ingest turns HTTP batches into durable history. Decode validates
// a batch (keeping good records when some are bad); a Committer gathers the
// batches that arrive while the previous commit is being fsynced into one
// transaction (group commit), so the cost of durability is paid once per
// group, not per batch or per point. A batch is acknowledged only after its
// group committed.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fluoro-dev/fluoro/internal/store"
)

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("ingest is shutting down")

// Observer hears about every committed group; the server uses it for
// metrics and live notifications. It runs on the committer's goroutine and
// must be quick.
type Observer interface {
	Committed(batches []store.Batch, results []store.BatchResult, took time.Duration)
}

// Options tune a Committer.
type Options struct {
	MaxGroup  int // batches per transaction (default 256)
	MaxPoints int // history points per transaction, soft (default 500k)
	Observer  Observer
}

type request struct {
	batches []store.Batch // applied in this order, in one transaction
	done    chan result
}

type result struct {
	res []store.BatchResult
	err error
}

type Committer struct {
	st    store.Ingester
	opts  Options
	reqs  chan *request
	stop  chan struct{}
	done  chan struct{}
	mu    sync.RWMutex
	close bool
}

// NewCommitter starts a committer writing to st. Call Close to stop it.
func NewCommitter(st store.Ingester, opts Options) *Committer {
	if opts.MaxGroup <= 0 {
		opts.MaxGroup = 256
	}
	if opts.MaxPoints <= 0 {
		opts.MaxPoints = 500_000
	}
	c := &Committer{
		st:   st,
		opts: opts,
		reqs: make(chan *request, opts.MaxGroup),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go c.loop()
	return c
}

// Submit queues b and waits until it is durable (or rejected). The result
// says whether it was a duplicate or why the store refused it; the error is
// set when the commit itself failed or the committer is closed.
func (c *Committer) Submit(ctx context.Context, b store.Batch) (store.BatchResult, error) {
	res, err := c.SubmitAll(ctx, []store.Batch{b})
	if err != nil {
		return store.BatchResult{}, err
	}
	return res[0], nil
}

// SubmitAll applies batches in their order, in one transaction (with
// others' batches before or after them), and returns a result per batch:
// for a client replaying a backlog, one commit instead of one per batch.
func (c *Committer) SubmitAll(ctx context.Context, bs []store.Batch) ([]store.BatchResult, error) {
	req := &request{batches: bs, done: make(chan result, 1)}
	c.mu.RLock()
	if c.close {
		c.mu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case c.reqs <- req:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		return nil, ctx.Err()
	}
	r := <-req.done
	return r.res, r.err
}

func (c *Committer) Close() {
	c.mu.Lock()
	if !c.close {
		c.close = true
		close(c.stop)
	}
	c.mu.Unlock()
	<-c.done
}

func (c *Committer) loop() {
	defer close(c.done)
	for {
		var first *request
		select {
		case first = <-c.reqs:
		case <-c.stop:
			// Submit holds the read lock while queueing, so after stop
			// nothing new arrives: drain what is there.
			for {
				select {
				case r := <-c.reqs:
					c.commit(c.gather(r))
				default:
					return
				}
			}
		}
		c.commit(c.gather(first))
	}
}

// gather takes first plus whatever else is already queued, up to the limits.
func (c *Committer) gather(first *request) []*request {
	group := []*request{first}
	n, points := len(first.batches), countPoints(first.batches)
	for n < c.opts.MaxGroup && points < c.opts.MaxPoints {
		select {
		case r := <-c.reqs:
			group = append(group, r)
			n += len(r.batches)
			points += countPoints(r.batches)
		default:
			return group
		}
	}
	return group
}

func countPoints(bs []store.Batch) int {
	n := 0
	for _, b := range bs {
		n += len(b.Console) + len(b.System) + len(b.Alerts)
		for _, r := range b.History {
			n += len(r.Fields)
		}
	}
	return n
}

func (c *Committer) commit(group []*request) {
	var batches []store.Batch
	for _, r := range group {
		batches = append(batches, r.batches...)
	}
	start := time.Now()
	// The commit must finish even during shutdown: its callers are waiting.
	results, err := c.st.ApplyBatches(context.Background(), batches)
	took := time.Since(start)
	if err != nil {
		err = fmt.Errorf("commit %d batches: %w", len(batches), err)
		for _, r := range group {
			r.done <- result{err: err}
		}
		return
	}
	if c.opts.Observer != nil {
		c.opts.Observer.Committed(batches, results, took)
	}
	for _, r := range group {
		r.done <- result{res: results[:len(r.batches):len(r.batches)]}
		results = results[len(r.batches):]
	}
}
