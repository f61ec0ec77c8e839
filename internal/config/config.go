// Package config holds the server's settings: defaults, FLUORO_* environment
// variables and flags, in that order of increasing precedence. One table of
// settings drives the flags, the environment binding, `fluoro config dump`
// and the start-up log of non-default values, so they cannot drift apart.
package config

import (
	"flag"
	"fmt"
	"io"
	"net/url"

	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is the server's effective configuration.
type Config struct {
	Addr        string        // listen address
	Data        string        // data directory
	DB          string        // metadata store URL; default sqlite under Data
	Blobs       string        // blob store URL; default a directory under Data
	AdminUser   string        // name of the local admin created at first start
	AdminAPIKey string        // preset admin key (secret); generated when empty
	MaxBody     int64         // largest request body in bytes
	MaxFile     int64         // largest run file upload in bytes
	LogLevel    string        // debug, info, warn, error
	PublicURL   string        // the address users open the UI at, for links in alerts
	AlertHook   string        // webhook URL run alerts are posted to (secret); none when empty
	BlobGC      time.Duration // how often unused blobs are collected; 0: never
	LostAfter   time.Duration // a running run silent this long is lost; 0: never
}

// Setting describes one configuration value.
type Setting struct {
	Name   string // flag name; env is FLUORO_ + upper-case with '_'
	Usage  string
	Secret bool // redacted in dumps and logs
	URL    bool // a store URL: its password and secret parameters are redacted
	Flag   bool // also settable by flag (secrets are env-only: flags show in ps)
	get    func(*Config) string
	set    func(*Config, string) error
	def    string
}

// Env returns the environment variable name of a setting.
func (s Setting) Env() string {
	return "FLUORO_" + strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
}

func str(p func(*Config) *string) (func(*Config) string, func(*Config, string) error) {
	return func(c *Config) string { return *p(c) }, func(c *Config, v string) error { *p(c) = v; return nil }
}

// Settings lists every setting in dump order.
func Settings() []Setting {
	mk := func(name, def, usage string, secret, flag bool, p func(*Config) *string) Setting {
		g, s := str(p)
		return Setting{Name: name, Usage: usage, Secret: secret, Flag: flag, get: g, set: s, def: def}
	}
	return []Setting{
		mk("addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)", false, true, func(c *Config) *string { return &c.Addr }),
		mk("data", "fluoro-data", "data directory (database, blobs, admin key)", false, true, func(c *Config) *string { return &c.Data }),
		storeURL(mk("db", "", "metadata store URL (default sqlite://<data>/fluoro.db)", false, true, func(c *Config) *string { return &c.DB })),
		storeURL(mk("blobs", "", "blob store URL (default file://<data>/blobs)", false, true, func(c *Config) *string { return &c.Blobs })),
		mk("admin-user", "admin", "name of the admin user created at first start", false, true, func(c *Config) *string { return &c.AdminUser }),
		mk("admin-api-key", "", "preset API key for the admin user (environment only)", true, false, func(c *Config) *string { return &c.AdminAPIKey }),
		{
			Name: "max-body", Usage: "largest accepted request body in bytes", Flag: true, def: "33554432",
			get: func(c *Config) string { return strconv.FormatInt(c.MaxBody, 10) },
			set: func(c *Config, v string) error {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 1024 {
					return fmt.Errorf("max-body %q: want a byte count of at least 1024", v)
				}
				c.MaxBody = n
				return nil
			},
		},
		{
			Name: "max-file", Usage: "largest accepted run file upload in bytes", Flag: true, def: "5368709120",
			get: func(c *Config) string { return strconv.FormatInt(c.MaxFile, 10) },
			set: func(c *Config, v string) error {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 1024 {
					return fmt.Errorf("max-file %q: want a byte count of at least 1024", v)
				}
				c.MaxFile = n
				return nil
			},
		},
		mk("log-level", "info", "log level: debug, info, warn or error", false, true, func(c *Config) *string { return &c.LogLevel }),
		mk("public-url", "", "the address users open the UI at (e.g. https://fluoro.example.com), for links in alerts", false, true, func(c *Config) *string { return &c.PublicURL }),
		{
			Name: "blob-gc-interval", Usage: "how often to delete file contents no run file uses any more (0 turns it off)", Flag: true, def: "6h",
			get: func(c *Config) string { return c.BlobGC.String() },
			set: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < 0 || (d > 0 && d < time.Minute) {
					return fmt.Errorf("blob-gc-interval %q: want a duration of at least 1m, such as 6h, or 0 to turn it off", v)
				}
				c.BlobGC = d
				return nil
			},
		},
		{
			Name: "lost-after", Usage: "a running run that sent nothing (the SDK sends a heartbeat every 30s) for this long is shown as lost until it sends again (0 turns it off)", Flag: true, def: "5m",
			get: func(c *Config) string { return c.LostAfter.String() },
			set: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < 0 || (d > 0 && d < time.Second) {
					return fmt.Errorf("lost-after %q: want a duration of at least 1s, such as 5m, or 0 to turn it off", v)
				}
				c.LostAfter = d
				return nil
			},
		},
		mk("alert-webhook", "", "URL run alerts are posted to as Slack-compatible JSON (environment only: it holds a secret)", true, false, func(c *Config) *string { return &c.AlertHook }),
	}
}

func storeURL(s Setting) Setting {
	s.URL = true
	return s
}

// Default returns the built-in defaults.
func Default() Config {
	var c Config
	for _, s := range Settings() {
		if err := s.set(&c, s.def); err != nil {
			panic(err) // defaults are constants; a bad one is a programming error
		}
	}
	return c
}

// Load builds a config from defaults, then env (via getenv), then flags
// already parsed into fs (only those explicitly set count).
func Load(getenv func(string) string, fs *flag.FlagSet) (Config, error) {
	c := Default()
	for _, s := range Settings() {
		if v := getenv(s.Env()); v != "" {
			if err := s.set(&c, v); err != nil {
				return c, fmt.Errorf("%s: %w", s.Env(), err)
			}
		}
	}
	if fs != nil {
		var err error
		fs.Visit(func(f *flag.Flag) {
			for _, s := range Settings() {
				if s.Name == f.Name && err == nil {
					if e := s.set(&c, f.Value.String()); e != nil {
						err = fmt.Errorf("--%s: %w", s.Name, e)
					}
				}
			}
		})
		if err != nil {
			return c, err
		}
	}
	return c, c.resolve()
}

// RegisterFlags adds a flag for every flag-settable setting to fs.
func RegisterFlags(fs *flag.FlagSet) {
	for _, s := range Settings() {
		if s.Flag {
			fs.String(s.Name, s.def, s.Usage+" ["+s.Env()+"]")
		}
	}
}

func (c *Config) resolve() error {
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.Data == "" {
		return fmt.Errorf("data: must not be empty")
	}
	if c.DB == "" {
		c.DB = "sqlite://" + filepath.ToSlash(filepath.Join(c.Data, "fluoro.db"))
	}
	if c.Blobs == "" {
		c.Blobs = "file://" + filepath.ToSlash(filepath.Join(c.Data, "blobs"))
	}
	if _, _, err := ParseStoreURL(c.DB); err != nil {
		return fmt.Errorf("db: %w", err)
	}
	if _, _, err := ParseStoreURL(c.Blobs); err != nil {
		return fmt.Errorf("blobs: %w", err)
	}
	return nil
}

// ParseStoreURL splits a store URL into its scheme and location. A path
// after "sqlite://" or "file://" may be relative ("sqlite://data/x.db").
// Its errors show the URL with any password redacted.
func ParseStoreURL(s string) (scheme, location string, err error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || rest == "" {
		return "", "", fmt.Errorf("%q is not a URL like sqlite://path/fluoro.db or file://path/blobs", RedactURL(s))
	}
	switch scheme {
	case "sqlite", "file":
		p, err := url.PathUnescape(rest)
		if err != nil {
			return "", "", fmt.Errorf("%q: %w", RedactURL(s), err)
		}
		return scheme, p, nil
	case "postgres", "postgresql", "s3":
		return "", "", fmt.Errorf("%q: %s is not supported yet; use sqlite:// or file://", RedactURL(s), scheme)
	}
	return "", "", fmt.Errorf("%q: unknown scheme %q", RedactURL(s), scheme)
}

// secretParams are query parameters of store URLs whose values are secret
// (libpq's password and sslpassword, S3-style secret keys and tokens).
var secretParams = []string{"password", "secret", "token", "credential"}

// RedactURL returns u with the password of its user info and the values of
// secret-looking query parameters replaced by "xxxxx" (as url.URL.Redacted
// does); anything else comes back unchanged, byte for byte. A string that
// does not parse as a URL loses everything between "://" and its last '@'.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		if scheme, rest, ok := strings.Cut(u, "://"); ok {
			if i := strings.LastIndex(rest, "@"); i >= 0 {
				return scheme + "://xxxxx@" + rest[i+1:]
			}
		}
		return u
	}
	changed := false
	if _, ok := p.User.Password(); ok {
		p.User = url.UserPassword(p.User.Username(), "xxxxx")
		changed = true
	}
	if p.RawQuery != "" {
		q := p.Query()
		for k := range q {
			for _, s := range secretParams {
				if strings.Contains(strings.ToLower(k), s) {
					q[k] = []string{"xxxxx"}
					changed = true
				}
			}
		}
		if changed {
			p.RawQuery = q.Encode()
		}
	}
	if !changed {
		return u
	}
	return p.String()
}

// Redacted returns the value of s in c as it may be shown.
func (s Setting) Redacted(c Config) string {
	v := s.get(&c)
	switch {
	case s.Secret && v != "":
		return "<redacted>"
	case s.URL:
		return RedactURL(v)
	}
	return v
}

// Dump writes the effective config, one "name: value" line per setting,
// with secrets redacted.
func Dump(w io.Writer, c Config) error {
	for _, s := range Settings() {
		if _, err := fmt.Fprintf(w, "%s: %q\n", s.Name, s.Redacted(c)); err != nil {
			return err
		}
	}
	return nil
}

// NonDefault returns "name=value" for every setting that differs from its
// default, secrets redacted, for the start-up log.
func NonDefault(c Config) []string {
	d := Default()
	_ = d.resolve()
	var out []string
	for _, s := range Settings() {
		if s.get(&c) != s.get(&d) {
			out = append(out, s.Name+"="+s.Redacted(c))
		}
	}
	return out
}
