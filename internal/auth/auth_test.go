package auth

import (
	"encoding/base64"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/fluoro-dev/fluoro/internal/store"
)

func TestNewKeyShape(t *testing.T) {
	// The wandb client splits on the first '-' and wants >= 40 of [\w-]
	// after it; clients <= 0.22.2 want exactly 40.
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidKey(k); err != nil {
		t.Fatalf("NewKey() = %q invalid: %v", k, err)
	}
	_, secret, _ := cutFirstDash(k)
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(secret) {
		t.Errorf("secret part %q is not 40 hex chars", secret)
	}
	k2, _ := NewKey()
	if k == k2 {
		t.Error("two keys are equal")
	}
}

func cutFirstDash(s string) (string, string, bool) {
	for i := range s {
		if s[i] == '-' {
			return s[:i], s[i+1:], true
		}
	}
	return "", s, false
}

func TestKeyFromRequest(t *testing.T) {
	key := "fluoro-0123456789abcdef0123456789abcdef01234567"
	basic := base64.StdEncoding.EncodeToString([]byte("api:" + key))
	tests := []struct {
		name, header, want string
	}{
		{"bearer", "Bearer " + key, key},
		{"basic as wandb sends", "Basic " + basic, key},
		{"none", "", ""},
		{"bad base64", "Basic !!!", ""},
		{"basic without colon", "Basic " + base64.StdEncoding.EncodeToString([]byte(key)), ""},
		{"unknown scheme", "Digest abc", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			if got := KeyFromRequest(r); got != tc.want {
				t.Errorf("KeyFromRequest = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHashIsNotTheKey(t *testing.T) {
	k, _ := NewKey()
	h := Hash(k)
	if len(h) != 32 || string(h) == k {
		t.Fatalf("Hash = %x", h)
	}
	if Prefix(k) == k {
		t.Error("Prefix reveals the whole key")
	}
}

func TestCanAccess(t *testing.T) {
	owner := store.User{ID: 2}
	e := store.Entity{OwnerUserID: 2}
	if !CanAccess(owner, e) {
		t.Error("owner denied")
	}
	if CanAccess(store.User{ID: 3}, e) {
		t.Error("stranger allowed")
	}
	if !CanAccess(store.User{ID: 3, Admin: true}, e) {
		t.Error("admin denied")
	}
	if CanAccess(store.User{}, store.Entity{}) {
		t.Error("zero user allowed on ownerless entity")
	}
}
