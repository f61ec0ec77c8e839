package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), Env{Args: args, Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s changed; review and rerun with -update (-golden +got):\n%s", name, diff)
	}
}

func TestConfigDumpGolden(t *testing.T) {
	code, out, errs := runCLI(t, map[string]string{
		"FLUORO_DATA":          "/srv/fluoro",
		"FLUORO_ADMIN_API_KEY": "fluoro-secretsecretsecretsecretsecretsecret0000",
		"FLUORO_LOG_LEVEL":     "warn",
	}, "config", "dump", "--addr", "0.0.0.0:9000")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Contains(out, "secretsecret") {
		t.Fatal("config dump leaked the admin key")
	}
	golden(t, "config-dump.golden", out)
}

func TestHelpGolden(t *testing.T) {
	code, out, _ := runCLI(t, nil, "help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	_, _, serverHelp := runCLI(t, nil, "server", "-h")
	golden(t, "help.golden", out+"\n--- fluoro server -h ---\n"+serverHelp)
}

func TestErrors(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{nil, nil, 2, "Usage"},
		{[]string{"frobnicate"}, nil, 2, "unknown command"},
		{[]string{"config"}, nil, 2, "usage: fluoro config dump"},
		{[]string{"server", "--nope"}, nil, 2, "flag provided but not defined"},
		{[]string{"config", "dump", "--max-body", "12"}, nil, 1, "max-body"},
		{[]string{"config", "dump"}, map[string]string{"FLUORO_LOG_LEVEL": "loud"}, 1, "log-level"},
		{[]string{"config", "dump", "--db", "postgres://x"}, nil, 1, "not supported yet"},
		{[]string{"server", "--addr", "256.0.0.1:99999", "--data", ""}, nil, 1, "data"},
	}
	for _, c := range cases {
		code, _, errs := runCLI(t, c.env, c.args...)
		if code != c.code || !strings.Contains(errs, c.want) {
			t.Errorf("fluoro %v = exit %d, stderr %q; want %d containing %q", c.args, code, errs, c.code, c.want)
		}
	}
}

func TestPrecedence(t *testing.T) {
	_, out, _ := runCLI(t, map[string]string{"FLUORO_ADDR": "127.0.0.1:1111"}, "config", "dump")
	if !strings.Contains(out, `addr: "127.0.0.1:1111"`) {
		t.Errorf("env ignored: %s", out)
	}
	_, out, _ = runCLI(t, map[string]string{"FLUORO_ADDR": "127.0.0.1:1111"}, "config", "dump", "--addr", "127.0.0.1:2222")
	if !strings.Contains(out, `addr: "127.0.0.1:2222"`) {
		t.Errorf("flag did not win over env: %s", out)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "fluoro ") {
		t.Errorf("version = %d %q", code, out)
	}
}

// TestStorePasswordsNeverPrinted: a password in --db or --blobs stays out
// of whatever config dump and server print, even when they refuse the URL.
func TestStorePasswordsNeverPrinted(t *testing.T) {
	for _, args := range [][]string{
		{"config", "dump", "--db", "postgres://fluoro:hunter2@db/fluoro"},
		{"config", "dump", "--blobs", "s3://AKIAEXAMPLE:hunter2@bucket/p"},
		{"server", "--data", t.TempDir(), "--db", "postgresql://fluoro:hunter2@db/fluoro?sslmode=require"},
	} {
		code, out, errs := runCLI(t, nil, args...)
		if code != 1 || !strings.Contains(errs, "not supported yet") || !strings.Contains(errs, "xxxxx") {
			t.Errorf("fluoro %v = exit %d, stderr %q; want 1, naming the URL redacted", args, code, errs)
		}
		if strings.Contains(out+errs, "hunter2") {
			t.Errorf("fluoro %v printed the password:\n%s%s", args, out, errs)
		}
	}
}
