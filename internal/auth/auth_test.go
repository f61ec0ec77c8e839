package auth

import (
	"encoding/base64"
	"net/http/httptest"
	"regexp"
	"strings"
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

// TestKeyRules checks ValidKey and WandbAccepts against the wandb client's
// rule (0.22.3+: at least 40 of [\w-] after the first '-', or in the whole
// key without one) and against every preset key the repository's tests and
// benchmarks start servers with: those must stay valid.
func TestKeyRules(t *testing.T) {
	hex40 := "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name      string
		key       string
		valid     bool // ValidKey
		wandbOK   bool // WandbAccepts
		wandbNote string
	}{
		{"minted shape", "fluoro-" + hex40, true, true, ""},
		{"W&B Server shape", "local-" + hex40, true, true, ""},
		{"40 hex, no dash", hex40, true, true, ""},
		{"long secret", "fluoro-" + hex40 + "abc_DEF", true, true, ""},
		{"dash inside the secret", "fluoro-" + hex40[:20] + "-" + hex40[20:], true, true, ""},
		{"39 after the first dash", "fluoro-" + hex40[:39], true, false, "39 characters there"},
		{"prefix of many dashes", "a-b-c-d-" + hex40[:33], true, false, "39 characters there"},
		{"39, no dash", hex40[:39], false, false, "39 characters there"},
		{"empty", "", false, false, "0 characters there"},
		{"dot", "fluoro-" + hex40[:39] + ".", false, false, "other characters there"},
		{"space", "fluoro-" + hex40 + " ", false, false, "other characters there"},
		{"unicode", "fluoro-" + hex40 + "é", false, false, "other characters there"},
		{"over 256", "fluoro-" + strings.Repeat("a", 250), false, true, ""},
		// Fixtures in the repository (must stay ValidKey).
		{"e2e/e2e_test.go", "fluoro-e2e00000000000000000000000000000000000key", true, true, ""},
		{"internal/api tests", "fluoro-test0000000000000000000000000000000000key", true, true, ""},
		{"bench/benchserver", "fluoro-bench000000000000000000000000000000000key", true, true, ""},
		{"bench/peers/servers.py", "fluoro-bench" + strings.Repeat("0", 36) + "key", true, true, ""},
		{"sdk/python/tests/conftest.py", "fluoro_test_" + strings.Repeat("k", 40), true, true, ""},
		{"bench/ingest/sdk.py", "fluoro_bench_" + strings.Repeat("b", 40), true, true, ""},
		{"bench/watch/gpu_check.py", "fluoro_gpucheck_" + strings.Repeat("k", 40), true, true, ""},
		{"web/e2e/harness.mjs", "fluoro-e2e0123456789abcdef0123456789abcdef01234", true, true, ""},
		{"bench/gpu/run.sh", "fluoro-gpucheck00000000000000000000000000000000", true, true, ""},
		{"internal/cli tests", "fluoro-secretsecretsecretsecretsecretsecret0000", true, true, ""},
		// A key Fluoro takes but the wandb client refuses (the server warns at start).
		{"server_test's short key", "fluoro-gpucheck000000000000000000000000000000", true, false, "38 characters there"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := ValidKey(tc.key); (err == nil) != tc.valid {
				t.Errorf("ValidKey(%q) = %v, want valid %v", tc.key, err, tc.valid)
			}
			err := WandbAccepts(tc.key)
			if (err == nil) != tc.wandbOK || (err != nil && !strings.Contains(err.Error(), tc.wandbNote)) {
				t.Errorf("WandbAccepts(%q) = %v, want ok %v (%q)", tc.key, err, tc.wandbOK, tc.wandbNote)
			}
		})
	}
	k, _ := NewKey()
	if err := WandbAccepts(k); err != nil {
		t.Errorf("minted key %q: %v", k, err)
	}
}
