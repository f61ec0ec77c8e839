package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fluoro-dev/fluoro/internal/auth"
	"github.com/fluoro-dev/fluoro/internal/store"
)

const goodKey = "fluoro-0123456789abcdef0123456789abcdef01234567"

type fakeLogin struct{}

func (fakeLogin) UserByKey(_ context.Context, key string) (store.User, error) {
	if key == goodKey {
		return store.User{ID: 3, Name: "admin"}, nil
	}
	return store.User{}, fmt.Errorf("%w: unknown API key", auth.ErrUnauthenticated)
}

func TestHandler(t *testing.T) {
	sessions := auth.NewSessions([]byte("secret"))
	h := New(fakeLogin{}, sessions, "test")
	tests := []struct {
		name, method, target string
		status               int
		location             string
		cookie               bool
		bodyHas              string
	}{
		{"projects page", "GET", "/", 200, "", false, "<!doctype html>"},
		{"workspace", "GET", "/admin/sentiment", 200, "", false, "<!doctype html>"},
		{"run page", "GET", "/admin/sentiment/runs/k3j9x0ab", 200, "", false, "<!doctype html>"},
		{"head", "HEAD", "/admin/sentiment", 200, "", false, ""},
		{"login link", "GET", "/?token=" + goodKey, 303, "/", true, ""},
		{"login link keeps the rest", "GET", "/admin/p?token=" + goodKey + "&smooth=0.6", 303, "/admin/p?smooth=0.6", true, ""},
		{"bad token", "GET", "/?token=nope", 401, "", false, "not valid"},
		{"never shadows the API", "GET", "/api/v1/nothing", 404, "", false, ""},
		{"never shadows health", "GET", "/healthz", 404, "", false, ""},
		{"never shadows metrics", "GET", "/metrics", 404, "", false, ""},
		{"post refused", "POST", "/admin/p", 405, "", false, ""},
		{"missing asset", "GET", "/assets/nope.js", 404, "", false, ""},
		{"placeholder file hidden", "GET", "/.gitkeep", 404, "", false, ""},
		{"logout", "GET", "/logout", 303, "/", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tc.method, tc.target, nil))
			res := w.Result()
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %q", res.StatusCode, tc.status, w.Body.String())
			}
			if tc.location != "" && res.Header.Get("Location") != tc.location {
				t.Errorf("Location %q, want %q", res.Header.Get("Location"), tc.location)
			}
			if got := len(res.Cookies()) > 0; got != tc.cookie {
				t.Errorf("cookie set = %v, want %v", got, tc.cookie)
			}
			if !strings.Contains(strings.ToLower(w.Body.String()), strings.ToLower(tc.bodyHas)) {
				t.Errorf("body lacks %q: %q", tc.bodyHas, w.Body.String())
			}
		})
	}
}

func TestLoginCookieAuthenticates(t *testing.T) {
	sessions := auth.NewSessions([]byte("secret"))
	w := httptest.NewRecorder()
	New(fakeLogin{}, sessions, "test").ServeHTTP(w, httptest.NewRequest("GET", "/?token="+goodKey, nil))
	cs := w.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != auth.SessionCookie || !cs[0].HttpOnly || cs[0].SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookies = %+v", cs)
	}
	if id, err := sessions.Verify(cs[0].Value); err != nil || id != 3 {
		t.Fatalf("Verify = %d, %v", id, err)
	}
}
