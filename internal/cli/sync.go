package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fluoro-dev/fluoro/internal/spool"
)

const syncUsage = `usage: fluoro sync [--url URL] [--key KEY] DIR...

Sends what the Python SDK spooled but did not deliver (offline runs, runs
killed mid-way, runs cut off from the server), uploads the run files it
saved (media, save()d files, diff.patch, fluoro-metadata.json) and
finishes runs whose process died as "crashed". DIR is a run directory, its spool/, or a folder
holding run directories (e.g. ./fluoro). Safe to run twice, or while the
run is still alive: the server applies each batch once.

The server URL comes from --url, FLUORO_BASE_URL, the spool, or the login
file; the key from --key, FLUORO_API_KEY or the login file
(~/.config/fluoro/login.json, as written by fluoro.login()).
`

// findSpools expands DIR arguments into spool directories.
func findSpools(dirs []string) ([]string, error) {
	var out []string
	for _, d := range dirs {
		if st, err := os.Stat(filepath.Join(d, "spool")); err == nil && st.IsDir() {
			out = append(out, d)
			continue
		}
		if matches, _ := filepath.Glob(filepath.Join(d, "*.jsonl")); len(matches) > 0 {
			out = append(out, d)
			continue
		}
		var found []string
		for _, pattern := range []string{filepath.Join(d, "run-*", "spool"), filepath.Join(d, "fluoro", "run-*", "spool")} {
			m, _ := filepath.Glob(pattern)
			found = append(found, m...)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no spool here (looked for spool/, *.jsonl and run-*/spool)", d)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

type loginFile struct {
	BaseURL string `json:"base_url"`
	Hosts   map[string]struct {
		APIKey string `json:"api_key"`
	} `json:"hosts"`
}

func readLogin(getenv func(string) string) loginFile {
	dir := getenv("FLUORO_CONFIG_DIR")
	if dir == "" {
		base := getenv("XDG_CONFIG_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".config")
		}
		dir = filepath.Join(base, "fluoro")
	}
	var lf loginFile
	if b, err := os.ReadFile(filepath.Join(dir, "login.json")); err == nil {
		_ = json.Unmarshal(b, &lf)
	}
	return lf
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func runSync(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() { fmt.Fprint(env.Stderr, syncUsage) }
	urlFlag := fs.String("url", "", "server URL [FLUORO_BASE_URL]")
	keyFlag := fs.String("key", "", "API key [FLUORO_API_KEY]")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprint(env.Stderr, syncUsage)
		return errUsage
	}
	dirs, err := findSpools(fs.Args())
	if err != nil {
		return err
	}
	login := readLogin(env.Getenv)
	var failed []string
	for _, d := range dirs {
		sp, err := spool.Read(d)
		if err != nil {
			failed = append(failed, err.Error())
			continue
		}
		base := strings.TrimRight(firstNonEmpty(*urlFlag, env.Getenv("FLUORO_BASE_URL"), sp.Header.BaseURL, login.BaseURL), "/")
		key := firstNonEmpty(*keyFlag, env.Getenv("FLUORO_API_KEY"), login.Hosts[base].APIKey)
		if base == "" || key == "" {
			return fmt.Errorf("%s: no server URL or API key: pass --url and --key or set FLUORO_BASE_URL and FLUORO_API_KEY", d)
		}
		name := sp.Header.Project + "/" + sp.Header.RunID
		pending := len(sp.Pending())
		s := &spool.Syncer{BaseURL: base, Key: key, Client: &http.Client{Timeout: 2 * time.Minute},
			Progress: progressBar(env.Stderr, name)}
		res, err := s.Sync(ctx, sp)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", name, err))
			if errors.Is(err, spool.ErrAuth) {
				break
			}
			continue
		}
		line := fmt.Sprintf("%s: %d of %d pending records sent", name, res.Sent, pending)
		if res.Duplicates > 0 {
			line += fmt.Sprintf(" (%d already on the server)", res.Duplicates)
		}
		if res.Files > 0 {
			line += fmt.Sprintf(", %d run files uploaded", res.Files)
		}
		if res.FilesLeft > 0 {
			line += fmt.Sprintf(", %d run files left to the live process", res.FilesLeft)
		}
		if res.Refused > 0 {
			line += fmt.Sprintf(", %d refused (first: %s)", res.Refused, res.FirstFail)
		}
		if res.Finished != "" {
			line += ", run finished as " + res.Finished
		}
		if !res.Owner {
			line += " (the run is still alive: its process keeps the spool)"
		}
		fmt.Fprintln(env.Stdout, line)
	}
	if len(failed) > 0 {
		return fmt.Errorf("sync failed:\n  %s", strings.Join(failed, "\n  "))
	}
	return nil
}

// progressBar draws "name [#####-----] 12/40" on w, redrawn in place.
func progressBar(w io.Writer, name string) func(int, int) {
	last := time.Time{}
	return func(sent, total int) {
		if sent < total && time.Since(last) < 100*time.Millisecond {
			return
		}
		last = time.Now()
		const width = 30
		fill := width * sent / max(total, 1)
		fmt.Fprintf(w, "\r%s [%s%s] %d/%d", name, strings.Repeat("#", fill), strings.Repeat("-", width-fill), sent, total)
		if sent == total {
			fmt.Fprint(w, "\n")
		}
	}
}
