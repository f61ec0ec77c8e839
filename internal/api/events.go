package api

import (
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/fluoro-dev/fluoro/internal/auth"
	"github.com/fluoro-dev/fluoro/internal/live"
)

// sseKeepAlive is how often an idle stream gets a comment line, so proxies
// keep it open and dead clients are noticed.
const sseKeepAlive = 15 * time.Second

// events streams live notifications as Server-Sent Events. ?project=e/p
// narrows it to one project; Last-Event-ID resumes after a reconnect.
func (a *API) events(w http.ResponseWriter, r *http.Request) error {
	u, _ := auth.UserFrom(r.Context())
	var onlyEntity, onlyProject string
	if p := r.URL.Query().Get("project"); p != "" {
		var ok bool
		onlyEntity, onlyProject, ok = strings.Cut(p, "/")
		if !ok {
			return badData("project=%q: use entity/project", p)
		}
	}
	ents, err := a.d.Store.ListEntities(r.Context())
	if err != nil {
		return err
	}
	allowed := map[string]bool{}
	for _, e := range ents {
		if auth.CanAccess(u, e) {
			allowed[e.Name] = true
		}
	}
	if onlyEntity != "" && !allowed[onlyEntity] {
		return errorf(http.StatusForbidden, CodeForbidden, "user %q may not access entity %q", u.Name, onlyEntity)
	}
	filter := func(e live.Event) bool {
		if e.Type == live.Reset {
			return true
		}
		if onlyEntity != "" {
			return e.Entity == onlyEntity && e.Project == onlyProject
		}
		return allowed[e.Entity] || (u.Admin && e.Entity != "")
	}
	lastID := r.Header.Get("Last-Event-ID")
	if lastID == "" {
		lastID = r.URL.Query().Get("last_event_id")
	}
	sub, backlog := a.d.Hub.Subscribe(lastID, filter)
	defer a.d.Hub.Cancel(sub)

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, "retry: 1000\n: connected\n\n"); err != nil {
		return nil
	}
	for _, e := range backlog {
		if _, err := io.WriteString(w, live.Format(e)); err != nil {
			return nil
		}
	}
	_ = rc.Flush()
	tick := time.NewTicker(sseKeepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-a.stopping:
			return nil
		case e, ok := <-sub.C:
			if !ok {
				return nil // cut off as too slow: the client reconnects and resumes
			}
			if _, err := io.WriteString(w, live.Format(e)); err != nil {
				return nil
			}
			// Send whatever else is queued before flushing.
			for drained := false; !drained; {
				select {
				case e, ok := <-sub.C:
					if !ok {
						_ = rc.Flush()
						return nil
					}
					if _, err := io.WriteString(w, live.Format(e)); err != nil {
						return nil
					}
				default:
					drained = true
				}
			}
			if err := rc.Flush(); err != nil {
				return nil
			}
		case <-tick.C:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			if err := rc.Flush(); err != nil {
				return nil
			}
		}
	}
}
