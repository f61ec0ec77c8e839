package config

import (
	"bytes"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://fluoro:hunter2@db.internal:5432/fluoro?sslmode=require", "postgres://fluoro:xxxxx@db.internal:5432/fluoro?sslmode=require"},
		{"postgresql://u:p%40ss@h/db", "postgresql://u:xxxxx@h/db"},
		{"postgres://h/db?user=u&password=hunter2", "postgres://h/db?password=xxxxx&user=u"},
		{"postgres://h/db?sslpassword=hunter2", "postgres://h/db?sslpassword=xxxxx"},
		{"s3://AKIAEXAMPLE:hunter2@bucket/prefix", "s3://AKIAEXAMPLE:xxxxx@bucket/prefix"},
		{"s3://bucket/prefix?region=eu&secret_access_key=hunter2", "s3://bucket/prefix?region=eu&secret_access_key=xxxxx"},
		{"postgres://fluoro@db/fluoro", "postgres://fluoro@db/fluoro"},
		// Nothing to hide: byte for byte, odd paths included.
		{"sqlite:///srv/fluoro data/fluoro.db", "sqlite:///srv/fluoro data/fluoro.db"},
		{"sqlite://rel/x.db", "sqlite://rel/x.db"},
		{"file://%zz", "file://%zz"},
		// Unparseable, with a password.
		{"postgres://u:hunter2@h/%zz", "postgres://xxxxx@h/%zz"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestDumpRedactsStoreURLs: a password in the db or blobs URL, or the
// admin key, never reaches a dump or the start-up log line.
func TestDumpRedactsStoreURLs(t *testing.T) {
	c := Default()
	c.Data = "/srv/fluoro"
	c.DB = "postgres://fluoro:hunter2@db/fluoro"
	c.Blobs = "s3://AKIAEXAMPLE:hunter3@bucket/p?token=hunter4"
	c.AdminAPIKey = "fluoro-hunter5hunter5hunter5hunter5hunter5hunter5"
	var out bytes.Buffer
	if err := Dump(&out, c); err != nil {
		t.Fatal(err)
	}
	nd := strings.Join(NonDefault(c), "\n")
	for _, s := range []string{out.String(), nd} {
		if strings.Contains(s, "hunter") {
			t.Errorf("a secret leaked:\n%s", s)
		}
	}
	for _, want := range []string{`db: "postgres://fluoro:xxxxx@db/fluoro"`, `blobs: "s3://AKIAEXAMPLE:xxxxx@bucket/p?token=xxxxx"`, `admin-api-key: "<redacted>"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dump lacks %s:\n%s", want, out.String())
		}
	}
	if !strings.Contains(nd, "db=postgres://fluoro:xxxxx@db/fluoro") {
		t.Errorf("start-up log line: %s", nd)
	}
}

// TestStoreURLErrorsRedact: an unsupported or malformed store URL is
// refused with a message that names it without its password.
func TestStoreURLErrorsRedact(t *testing.T) {
	for _, u := range []string{"postgres://fluoro:hunter2@db/fluoro", "mysql://u:hunter2@h/db", "sqlite://u:hunter2@h/%zz"} {
		_, _, err := ParseStoreURL(u)
		if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "xxxxx") {
			t.Errorf("ParseStoreURL(%q) = %v; want an error without the password", u, err)
		}
	}
}
