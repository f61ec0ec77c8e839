// Package notify delivers run alerts to a webhook, one POST per alert, as
// JSON that Slack's incoming webhooks accept (a "text" field, Slack's link
// and bold markup), with the alert's and the run's fields beside it for any
// other receiver. Delivery is asynchronous: the ingest path only queues, and
// a slow or broken receiver never holds a batch's acknowledgement.
//
// Alerts are queued after the batch that carries them is durable. Delivery
// itself is at-most-once: an alert queued when the server stops, or one the
// receiver keeps refusing, is not retried later (it stays in the run's
// alert list).
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/fluoro-dev/fluoro/internal/store"
)

// Alert is an alert with the run it came from.
type Alert struct {
	store.Alert
	Entity  string
	Project string
	RunID   string
	RunName string
}

// Outcomes passed to Options.Observe.
const (
	Delivered = "delivered" // the receiver answered 2xx
	Failed    = "failed"    // refused (4xx) or still failing after every attempt
	Dropped   = "dropped"   // the queue was full, or the server stopped first
)

// Options tune a Webhook; zero values take the defaults.
type Options struct {
	PublicURL string               // the UI's address, for links to the run; none when empty
	Queue     int                  // alerts waiting for delivery (default 1000)
	Attempts  int                  // tries per alert for 5xx, 429 and network errors (default 4)
	Backoff   time.Duration        // first retry delay, doubled each time (default 1 s)
	Timeout   time.Duration        // per request (default 10 s)
	Client    *http.Client         // default: a client with Timeout
	Log       *slog.Logger         // default: slog.Default()
	Observe   func(outcome string) // counts outcomes (metrics); may be nil
}

// Webhook posts alerts to one URL from a single goroutine.
type Webhook struct {
	url  string
	opts Options
	q    chan Alert
	stop chan struct{}
	done chan struct{}
	once sync.Once

	dropMu    sync.Mutex
	dropped   int       // dropped since the last warning
	droppedAt time.Time // when that warning was logged
}

// New validates the URL and starts the delivery goroutine.
func New(rawURL string, opts Options) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("alert webhook: want an http(s) URL, got %q", redact(rawURL))
	}
	if opts.Queue <= 0 {
		opts.Queue = 1000
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 4
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: opts.Timeout}
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	w := &Webhook{url: rawURL, opts: opts, q: make(chan Alert, opts.Queue), stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w, nil
}

// Send queues an alert; false when the queue is full (the alert is dropped
// and counted, never blocking the caller).
func (w *Webhook) Send(a Alert) bool {
	select {
	case <-w.stop:
		w.observe(Dropped)
		return false
	default:
	}
	select {
	case w.q <- a:
		return true
	default:
		w.observe(Dropped)
		w.warnDropped(a)
		return false
	}
}

// warnDropped logs dropped alerts at most once a minute, with how many.
func (w *Webhook) warnDropped(a Alert) {
	w.dropMu.Lock()
	defer w.dropMu.Unlock()
	w.dropped++
	if now := time.Now(); now.Sub(w.droppedAt) >= time.Minute {
		w.opts.Log.Warn("alert webhook: queue full, alerts dropped", "dropped", w.dropped, "run", a.RunID, "title", a.Title)
		w.dropped, w.droppedAt = 0, now
	}
}

// Close delivers what is queued (one try each) for up to grace, then
// returns; later Sends are dropped.
func (w *Webhook) Close(grace time.Duration) {
	w.once.Do(func() {
		close(w.stop)
		select {
		case <-w.done:
		case <-time.After(grace):
		}
	})
}

func (w *Webhook) loop() {
	defer close(w.done)
	for {
		select {
		case a := <-w.q:
			w.deliver(a)
		case <-w.stop:
			// Deliver what was queued before the stop, without retries.
			for {
				select {
				case a := <-w.q:
					if _, err := w.post(context.Background(), a); err != nil {
						w.observe(Failed)
					}
				default:
					return
				}
			}
		}
	}
}

// deliver posts one alert, retrying transient failures with backoff.
func (w *Webhook) deliver(a Alert) {
	delay := w.opts.Backoff
	for attempt := 1; ; attempt++ {
		retry, err := w.post(context.Background(), a)
		if err == nil {
			return
		}
		if !retry || attempt >= w.opts.Attempts {
			w.opts.Log.Warn("alert webhook: not delivered", "run", a.RunID, "title", a.Title, "attempts", attempt, "err", err)
			w.observe(Failed)
			return
		}
		select {
		case <-time.After(delay):
		case <-w.stop:
			w.observe(Dropped)
			return
		}
		delay *= 2
	}
}

// post sends the alert once; retry says whether a failure is worth another try.
func (w *Webhook) post(ctx context.Context, a Alert) (retry bool, err error) {
	body, err := json.Marshal(Payload(a, w.opts.PublicURL))
	if err != nil {
		return false, fmt.Errorf("encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "fluoro-alerts")
	resp, err := w.opts.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold a secret token: keep it out of the log
		}
		return true, err
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		w.observe(Delivered)
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return true, fmt.Errorf("HTTP %d", resp.StatusCode)
	default:
		return false, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
}

func (w *Webhook) observe(outcome string) {
	if w.opts.Observe != nil {
		w.opts.Observe(outcome)
	}
}

// Payload is the JSON posted for an alert: Slack's "text" (bold title,
// level, a link to the run when publicURL is set, then the alert's text),
// and the alert and run as fields.
func Payload(a Alert, publicURL string) map[string]any {
	name := a.RunName
	if name == "" {
		name = a.RunID
	}
	link := ""
	runRef := fmt.Sprintf("%s (%s/%s)", slackEscape(name), slackEscape(a.Entity), slackEscape(a.Project))
	if publicURL != "" {
		link = strings.TrimRight(publicURL, "/") + "/" + url.PathEscape(a.Entity) + "/" + url.PathEscape(a.Project) +
			"/runs/" + url.PathEscape(a.RunID)
		runRef = fmt.Sprintf("<%s|%s> (%s/%s)", link, slackEscape(name), slackEscape(a.Entity), slackEscape(a.Project))
	}
	text := fmt.Sprintf("[%s] *%s* from run %s", a.Level, slackEscape(a.Title), runRef)
	if a.Text != "" {
		text += "\n" + slackEscape(a.Text)
	}
	return map[string]any{
		"text": text,
		"alert": map[string]any{
			"title": a.Title, "text": a.Text, "level": a.Level, "wait_ms": a.WaitMS,
			"time": time.UnixMilli(int64(a.Time * 1000)).UTC().Format(time.RFC3339Nano),
		},
		"run": map[string]any{"entity": a.Entity, "project": a.Project, "id": a.RunID, "name": a.RunName, "url": link},
	}
}

// slackEscape escapes the three characters Slack's markup gives meaning.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// redact keeps a webhook URL's scheme and host: its path and query are the secret.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<unparsable>"
	}
	return u.Scheme + "://" + u.Host + "/…"
}
