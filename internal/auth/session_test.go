package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fluoro-dev/fluoro/internal/store"
)

func testSessions(now *time.Time) *Sessions {
	s := NewSessions([]byte("server secret"))
	s.Now = func() time.Time { return *now }
	return s
}

func TestSessionRoundTrip(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := testSessions(&now)
	v := s.Issue(42)
	id, err := s.Verify(v)
	if err != nil || id != 42 {
		t.Fatalf("Verify(Issue(42)) = %d, %v", id, err)
	}
	other := NewSessions([]byte("another secret"))
	other.Now = s.Now
	tampered := []byte(v)
	tampered[2] ^= 1
	bad := map[string]string{
		"empty":          "",
		"garbage":        "abc",
		"tampered":       string(tampered),
		"no signature":   strings.SplitN(v, ".", 2)[0],
		"other key":      other.Issue(42),
		"signature only": "." + strings.SplitN(v, ".", 2)[1],
	}
	for name, val := range bad {
		if _, err := s.Verify(val); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: Verify = %v, want ErrUnauthenticated", name, err)
		}
	}
	now = now.Add(s.TTL)
	if _, err := s.Verify(v); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("expired: Verify = %v, want ErrUnauthenticated", err)
	}
}

func TestSessionKeyIsDerived(t *testing.T) {
	// A file-link signature made with the raw secret must never pass as a
	// cookie signature: the cookie key is derived, not the secret itself.
	s := NewSessions([]byte("server secret"))
	if string(s.key) == "server secret" || len(s.key) != 32 {
		t.Fatalf("session key not derived: %q", s.key)
	}
}

func TestCheckCSRF(t *testing.T) {
	tests := []struct {
		name, method string
		headers      map[string]string
		ok           bool
	}{
		{"get needs nothing", "GET", nil, true},
		{"head needs nothing", "HEAD", nil, true},
		{"patch without header", "PATCH", nil, false},
		{"patch from the SPA", "PATCH", map[string]string{CSRFHeader: "web", "Sec-Fetch-Site": "same-origin", "Origin": "http://example.test"}, true},
		{"post from another site", "POST", map[string]string{CSRFHeader: "web", "Sec-Fetch-Site": "cross-site"}, false},
		{"post with foreign origin", "POST", map[string]string{CSRFHeader: "web", "Origin": "http://evil.test"}, false},
		{"post with header only", "POST", map[string]string{CSRFHeader: "web"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "http://example.test/api/v1/x", nil)
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			err := CheckCSRF(r)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckCSRF = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrCSRF) {
				t.Errorf("error %v is not ErrCSRF", err)
			}
		})
	}
}

// fakeUsers is the smallest store.Users for the authenticator.
type fakeUsers struct {
	store.Users
	byID  map[int64]store.User
	byKey map[string]store.User
}

func (f fakeUsers) UserByID(_ context.Context, id int64) (store.User, error) {
	if u, ok := f.byID[id]; ok {
		return u, nil
	}
	return store.User{}, store.ErrNotFound
}

func (f fakeUsers) UserByAPIKeyHash(_ context.Context, h []byte) (store.User, error) {
	if u, ok := f.byKey[string(h)]; ok {
		return u, nil
	}
	return store.User{}, store.ErrNotFound
}

func TestAuthenticateCookieAndKey(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := testSessions(&now)
	key := "fluoro-0123456789abcdef0123456789abcdef01234567"
	alice := store.User{ID: 7, Name: "alice"}
	a := &Authenticator{Users: fakeUsers{byID: map[int64]store.User{7: alice}, byKey: map[string]store.User{string(Hash(key)): alice}}, Sessions: s}
	cookie := &http.Cookie{Name: SessionCookie, Value: s.Issue(7)}
	tests := []struct {
		name    string
		method  string
		cookie  *http.Cookie
		key     string
		csrf    bool
		wantErr error
	}{
		{"key", "POST", nil, key, false, nil},
		{"cookie get", "GET", cookie, "", false, nil},
		{"cookie patch with header", "PATCH", cookie, "", true, nil},
		{"cookie patch without header", "PATCH", cookie, "", false, ErrCSRF},
		{"unknown user", "GET", &http.Cookie{Name: SessionCookie, Value: s.Issue(8)}, "", false, ErrUnauthenticated},
		{"bad cookie", "GET", &http.Cookie{Name: SessionCookie, Value: "x.y"}, "", false, ErrUnauthenticated},
		{"nothing", "GET", nil, "", false, ErrUnauthenticated},
		{"key wins over a bad cookie", "GET", &http.Cookie{Name: SessionCookie, Value: "x.y"}, key, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, "/api/v1/viewer", nil)
			if tc.cookie != nil {
				r.AddCookie(tc.cookie)
			}
			if tc.key != "" {
				r.Header.Set("Authorization", "Bearer "+tc.key)
			}
			if tc.csrf {
				r.Header.Set(CSRFHeader, "web")
			}
			u, err := a.Authenticate(context.Background(), r)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || u.ID != 7 {
				t.Fatalf("Authenticate = %+v, %v", u, err)
			}
		})
	}
}

func TestSetCookieAttributes(t *testing.T) {
	s := NewSessions([]byte("k"))
	w := httptest.NewRecorder()
	s.SetCookie(w, httptest.NewRequest("GET", "/", nil), 1)
	c := w.Result().Cookies()
	if len(c) != 1 || !c[0].HttpOnly || c[0].SameSite != http.SameSiteLaxMode || c[0].Path != "/" || c[0].Secure {
		t.Fatalf("cookie = %+v", c)
	}
}
