package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestGracefulShutdown sends SIGTERM while many large batches are being
// uploaded and committed, and checks what graceful means: the process
// exits 0; every batch acknowledged with a 2xx, before or after the signal,
// is all there after a restart; every other request was refused cleanly
// (no connection, or 503) and left nothing behind; and at least one batch
// in flight at the signal was still finished and acknowledged.
//
// "Refused" includes a reset: a request written to a kept-alive connection
// the server closed while idle, or to a connection still in the listen
// backlog when the listener closed, is never read. Writers retry such a
// batch with the same writer and sequence, which the server applies once.
func TestGracefulShutdown(t *testing.T) {
	const (
		writers   = 16   // concurrent connections
		rows      = 1000 // rows per batch: 20k points, about 300 KB of JSON
		perWriter = 6    // batches each writer sends at most
		run       = "graceful"
	)
	data := t.TempDir()
	s := start(t, data)
	s.mustCall("POST", "/api/v1/projects/admin/e2e/runs", []byte(`{"id":"graceful"}`), 201)

	type outcome struct {
		code     int
		err      error
		afterSig bool // finished after SIGTERM was sent
	}
	var (
		mu       sync.Mutex
		started  = map[int]bool{}
		outcomes = map[int]outcome{}
		signaled bool
		acked    = make(chan struct{})
		ackOnce  sync.Once
		wg       sync.WaitGroup
	)
	// Bodies are built up front so that every writer is uploading by the
	// time the first acknowledgement comes back.
	bodies := make([][]byte, writers*perWriter)
	for b := range bodies {
		bodies[b] = runBatchBody(run, fmt.Sprintf("w%d", b%writers), b/writers, b, rows)
	}
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				b := w + i*writers
				body := bodies[b]
				mu.Lock()
				started[b] = true
				mu.Unlock()
				code, _, err := s.call("POST", "/api/v1/ingest", body)
				mu.Lock()
				outcomes[b] = outcome{code: code, err: err, afterSig: signaled}
				mu.Unlock()
				if err != nil || code/100 != 2 {
					return // refused: the server is going away
				}
				ackOnce.Do(func() { close(acked) })
			}
		}(w)
	}
	select {
	case <-acked:
	case <-time.After(2 * time.Minute):
		t.Fatalf("no batch acknowledged in 2 minutes\n%s", s.logs)
	}
	// Snapshot what is in flight and signal under the lock, so no request
	// can finish between the two.
	mu.Lock()
	var inflight []int
	for b := range started {
		if _, done := outcomes[b]; !done {
			inflight = append(inflight, b)
		}
	}
	err := s.cmd.Process.Signal(syscall.SIGTERM)
	signaled = true
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("server exited with %v after SIGTERM\n%s", err, s.logs)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("server did not stop within 60s of SIGTERM\n%s", s.logs)
	}
	if s.cmd.ProcessState.ExitCode() != 0 {
		t.Errorf("exit code %d, want 0", s.cmd.ProcessState.ExitCode())
	}
	if len(inflight) == 0 {
		t.Fatal("no request was in flight when SIGTERM arrived; the test proved nothing")
	}
	finished := 0 // in flight at the signal, acknowledged after it
	for _, b := range inflight {
		if o := outcomes[b]; o.err == nil && o.code/100 == 2 && o.afterSig {
			finished++
		}
	}
	if finished == 0 {
		t.Errorf("none of the %d requests in flight at SIGTERM was finished and acknowledged", len(inflight))
	}

	s2 := start(t, data)
	got := storedRun(t, s2, run)
	var nAcked, nRefused int
	for b := 0; b < writers*perWriter; b++ {
		present, absent := checkRows(t, got, b, rows)
		o, sent := outcomes[b]
		switch {
		case !sent:
			if present > 0 {
				t.Errorf("batch %d was never sent but %d points of it are stored", b, present)
			}
		case o.err == nil && o.code/100 == 2:
			nAcked++
			if absent > 0 {
				t.Errorf("acknowledged batch %d lost %d of %d points over a graceful restart", b, absent, present+absent)
			}
		case o.err != nil && !refusedCleanly(o.err):
			t.Errorf("batch %d: %v; want a 2xx or a refused connection", b, o.err)
		case o.err == nil && o.code != http.StatusServiceUnavailable:
			t.Errorf("batch %d: status %d; want a 2xx or 503", b, o.code)
		default:
			nRefused++
			if present > 0 {
				t.Errorf("refused batch %d (%v, status %d) left %d of %d points behind", b, o.err, o.code, present, present+absent)
			}
		}
	}
	t.Logf("SIGTERM with %d requests in flight, %d of them finished after it; %d batches acknowledged, %d refused",
		len(inflight), finished, nAcked, nRefused)
	if !strings.Contains(s.logs.String(), "stopped") {
		t.Errorf("no clean stop in the log:\n%s", s.logs)
	}
}

// refusedCleanly reports whether err means the server never took the
// request: no listener any more, or a kept-alive connection the server
// closed while it was idle (before reading the request), or a connection
// still in the listen backlog when the listener closed (reset; the client
// then finds its own end closed under the request it is writing).
func refusedCleanly(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) ||
		strings.Contains(err.Error(), "server closed idle connection")
}
