package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

const runsUsage = `usage: fluoro runs list ENTITY/PROJECT [--filter EXPR] [--sort FIELDS] [--limit N] [--columns PATHS] [--json]
       fluoro runs show ENTITY/PROJECT/RUN [--json]
       fluoro runs delete ENTITY/PROJECT/RUN... [--yes]

list    a project's runs as a table: id, name, state, last step, points
        stored, points pending (spooled by the client, not yet received) and
        age, newest first.
          --filter EXPR    e.g. 'config.lr > 0.001 and state = "finished"'
          --sort FIELDS    e.g. -summary.val/acc,created_at ('-' descending)
          --limit N        at most N runs (default 50; 0 for all)
          --columns PATHS  more columns, comma-separated: config.PATH,
                           summary.KEY (e.g. summary.val/loss) or a run field
          --json           the runs as a JSON array, as the API sends them
show    one run: its fields, points, config and summary (--json: the API's
        object).
delete  delete runs with everything logged to them; asks first unless --yes.

Every subcommand takes --url URL and --key KEY. The server URL comes from
--url, FLUORO_BASE_URL or the login file; the key from --key,
FLUORO_API_KEY or the login file (~/.config/fluoro/login.json, as written
by fluoro.login()).
`

// maxPage is the API's largest page of runs.
const maxPage = 1000

func runRuns(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, runsUsage)
		return errUsage
	}
	switch cmd, args := args[0], args[1:]; cmd {
	case "list":
		return runsList(ctx, env, args)
	case "show":
		return runsShow(ctx, env, args)
	case "delete":
		return runsDelete(ctx, env, args)
	case "help", "-h", "--help", "-help":
		fmt.Fprint(env.Stdout, runsUsage)
		return nil
	}
	fmt.Fprintf(env.Stderr, "fluoro runs: unknown subcommand %q\n\n%s", args[0], runsUsage)
	return errUsage
}

// runsFlags is the flag set every runs subcommand starts from.
type runsFlags struct {
	*flag.FlagSet
	url, key string
}

func newRunsFlags(env Env, name string) *runsFlags {
	f := &runsFlags{FlagSet: flag.NewFlagSet("runs "+name, flag.ContinueOnError)}
	f.SetOutput(env.Stderr)
	f.Usage = func() { fmt.Fprint(env.Stderr, runsUsage) }
	f.StringVar(&f.url, "url", "", "server URL [FLUORO_BASE_URL]")
	f.StringVar(&f.key, "key", "", "API key [FLUORO_API_KEY]")
	return f
}

// parse parses flags before, between and after the positional arguments
// and returns those; "--" ends the flags.
func (f *runsFlags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		rest := f.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// usageErr prints a one-line complaint and the usage, for exit status 2.
func usageErr(env Env, format string, args ...any) error {
	fmt.Fprintf(env.Stderr, "fluoro runs: "+format+"\n\n%s", append(args, runsUsage)...)
	return errUsage
}

// splitPath splits ENTITY/PROJECT or ENTITY/PROJECT/RUN into n non-empty parts.
func splitPath(s string, n int) ([]string, bool) {
	parts := strings.Split(s, "/")
	if len(parts) != n {
		return nil, false
	}
	for _, p := range parts {
		if p == "" {
			return nil, false
		}
	}
	return parts, true
}

func runsList(ctx context.Context, env Env, args []string) error {
	f := newRunsFlags(env, "list")
	filter := f.String("filter", "", "filter expression")
	sortBy := f.String("sort", "", "comma-separated fields, '-' for descending")
	limit := f.Int("limit", 50, "at most this many runs (0: all)")
	columns := f.String("columns", "", "more columns: config.PATH, summary.KEY, ...")
	asJSON := f.Bool("json", false, "print the runs as JSON")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr(env, "list wants one ENTITY/PROJECT, got %d arguments", len(pos))
	}
	proj, ok := splitPath(pos[0], 2)
	if !ok {
		return usageErr(env, "list: %q is not ENTITY/PROJECT", pos[0])
	}
	if *limit < 0 {
		return usageErr(env, "--limit %d: want 0 (all) or more", *limit)
	}
	var cols []string
	for _, c := range strings.Split(*columns, ",") {
		if c = strings.TrimSpace(c); c != "" {
			cols = append(cols, c)
		}
	}
	c, err := newClient(env, f)
	if err != nil {
		return err
	}
	runs, total, err := c.listRuns(ctx, proj, *filter, *sortBy, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		raws := make([]json.RawMessage, len(runs))
		for i, r := range runs {
			raws[i] = r.raw
		}
		if err := printJSON(env.Stdout, raws); err != nil {
			return err
		}
	} else if len(runs) > 0 {
		if err := printTable(env.Stdout, runs, cols, time.Now()); err != nil {
			return err
		}
	}
	switch {
	case len(runs) == 0 && !*asJSON:
		what := "no runs in " + pos[0]
		if *filter != "" {
			what += " match the filter"
		}
		fmt.Fprintln(env.Stderr, what)
	case int64(len(runs)) < total:
		fmt.Fprintf(env.Stderr, "%d of %d runs\n", len(runs), total)
	}
	return nil
}

// listRuns pages through the project's runs until it has limit of them
// (all when 0). A run seen on an earlier page is not listed again.
func (c *client) listRuns(ctx context.Context, proj []string, filter, sortBy string, limit int) ([]runInfo, int64, error) {
	var runs []runInfo
	var total int64
	seen := map[string]bool{}
	for offset := 0; ; {
		page := c.page
		if limit > 0 {
			page = min(page, limit-len(runs))
		}
		q := url.Values{"limit": {strconv.Itoa(page)}, "offset": {strconv.Itoa(offset)}}
		if filter != "" {
			q.Set("filter", filter)
		}
		if sortBy != "" {
			q.Set("sort", sortBy)
		}
		body, err := c.call(ctx, http.MethodGet, runPath(proj), q)
		if err != nil {
			return nil, 0, err
		}
		var list struct {
			Runs  []json.RawMessage `json:"runs"`
			Total int64             `json:"total"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			return nil, 0, fmt.Errorf("decode run list: %w", err)
		}
		total = list.Total
		for _, b := range list.Runs {
			r, err := decodeRun(b)
			if err != nil {
				return nil, 0, err
			}
			if !seen[r.ID] {
				seen[r.ID] = true
				runs = append(runs, r)
			}
		}
		offset += len(list.Runs)
		if len(list.Runs) < page || int64(offset) >= total || (limit > 0 && len(runs) >= limit) {
			return runs, total, nil
		}
	}
}

// printJSON writes v indented, leaving <, > and & as they are.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write json: %w", err)
	}
	return nil
}

func printTable(w io.Writer, runs []runInfo, cols []string, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := []string{"ID", "NAME", "STATE", "STEP", "POINTS", "PENDING", "CREATED"}
	for _, c := range cols {
		head = append(head, strings.ToUpper(c))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range runs {
		row := []string{r.ID, r.Name, r.State, step(r.LastStep), strconv.FormatInt(r.Points, 10), optInt(r.PointsPending), age(r.CreatedAt, now)}
		for _, c := range cols {
			v, ok := lookup(r.fields, c)
			row = append(row, cell(v, ok))
		}
		for i := range row {
			row[i] = strings.Map(func(r rune) rune {
				if r < ' ' || r == 0x7f {
					return ' '
				}
				return r
			}, row[i])
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

func step(s int64) string {
	if s < 0 {
		return "-"
	}
	return strconv.FormatInt(s, 10)
}

func optInt(p *int64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatInt(*p, 10)
}

// age is how long ago an RFC 3339 time was, or its local date past a week.
func age(ts string, now time.Time) string {
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return firstNonEmpty(ts, "-")
	}
	switch d := now.Sub(t); {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh ago", int(d/time.Hour))
	case d < 7*24*time.Hour:
		return fmt.Sprintf("%dd ago", int(d/(24*time.Hour)))
	}
	return t.Local().Format("2006-01-02")
}

// lookup finds a dotted path in nested objects, preferring the longest
// key that matches: "summary.val/loss" is m["summary"]["val/loss"] and
// "config.optimizer.lr" is m["config"]["optimizer.lr"] if the config has
// that key, else m["config"]["optimizer"]["lr"].
func lookup(m map[string]any, path string) (any, bool) {
	if v, ok := m[path]; ok {
		return v, true
	}
	for i := strings.LastIndexByte(path, '.'); i > 0; i = strings.LastIndexByte(path[:i], '.') {
		if sub, ok := m[path[:i]].(map[string]any); ok {
			if v, ok := lookup(sub, path[i+1:]); ok {
				return v, true
			}
		}
	}
	return nil, false
}

// cell formats a value for the table: numbers compactly, long values cut.
func cell(v any, ok bool) string {
	if !ok {
		return "-"
	}
	switch v := v.(type) {
	case json.Number:
		if _, err := v.Int64(); err == nil {
			return v.String()
		}
		if f, err := v.Float64(); err == nil {
			return strconv.FormatFloat(f, 'g', 4, 64)
		}
	case []any: // tags and other lists of scalars: a, b
		items := make([]string, len(v))
		for i, x := range v {
			if _, nested := x.(map[string]any); nested {
				return truncate(value(v), 40)
			}
			items[i] = cell(x, true)
		}
		return truncate(firstNonEmpty(strings.Join(items, ", "), "-"), 40)
	}
	return truncate(value(v), 40)
}

// value formats a config or summary value: strings as they are, numbers
// as the server sent them, anything else as JSON.
func value(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func runsShow(ctx context.Context, env Env, args []string) error {
	f := newRunsFlags(env, "show")
	asJSON := f.Bool("json", false, "print the run as JSON")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr(env, "show wants one ENTITY/PROJECT/RUN, got %d arguments", len(pos))
	}
	parts, ok := splitPath(pos[0], 3)
	if !ok {
		return usageErr(env, "show: %q is not ENTITY/PROJECT/RUN", pos[0])
	}
	c, err := newClient(env, f)
	if err != nil {
		return err
	}
	body, err := c.call(ctx, http.MethodGet, runPath(parts), nil)
	if err != nil {
		return err
	}
	r, err := decodeRun(body)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env.Stdout, r.raw)
	}
	return printRun(env.Stdout, r, time.Now())
}

// printRun writes a run for a person to read.
func printRun(w io.Writer, r runInfo, now time.Time) error {
	orDash := func(s string) string { return firstNonEmpty(s, "-") }
	when := func(ts string) string {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return orDash(ts)
		}
		return t.Local().Format("2006-01-02 15:04:05") + " (" + age(ts, now) + ")"
	}
	finished, exit := "-", "-"
	if r.FinishedAt != nil {
		finished = when(*r.FinishedAt)
	}
	if r.ExitCode != nil {
		exit = strconv.Itoa(*r.ExitCode)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	lines := [][2]string{
		{"name", r.Name}, {"id", r.Entity + "/" + r.Project + "/" + r.ID}, {"state", r.State},
		{"user", orDash(r.User)}, {"host", orDash(r.Host)}, {"program", orDash(r.Program)},
		{"group", orDash(r.Group)}, {"job type", orDash(r.JobType)}, {"tags", orDash(strings.Join(r.Tags, ", "))},
	}
	if r.Git.Commit != "" || r.Git.Remote != "" {
		lines = append(lines, [2]string{"git", strings.TrimSpace(r.Git.Remote + " " + r.Git.Commit + " " + r.Git.Branch)})
	}
	if r.Notes != "" {
		lines = append(lines, [2]string{"notes", strings.ReplaceAll(r.Notes, "\n", " ")})
	}
	lines = append(lines, [2]string{"created", when(r.CreatedAt)}, [2]string{"finished", finished},
		[2]string{"exit code", exit}, [2]string{"last step", step(r.LastStep)})
	for _, l := range lines {
		fmt.Fprintf(tw, "%s\t%s\n", l[0], l[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nPoints")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  stored\t%d\n", r.Points)
	for _, p := range []struct {
		name string
		n    *int64
	}{{"logged", r.PointsLogged}, {"received", r.PointsReceived}, {"pending", r.PointsPending}} {
		if p.n != nil {
			fmt.Fprintf(tw, "  %s\t%d\n", p.name, *p.n)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.PointsPending != nil && *r.PointsPending > 0 && r.State != "running" {
		host := "the machine that ran it"
		if r.Host != "" {
			host = "host " + r.Host
		}
		fmt.Fprintf(w, "  %d points were spooled by the client but never reached the server. On %s, run\n"+
			"  `fluoro sync .` in the directory the run started in (or in FLUORO_DIR): it finds fluoro/run-…-%s/\n",
			*r.PointsPending, host, r.ID)
	}
	for _, sec := range []struct {
		title string
		m     map[string]any
	}{{"Config", r.Config}, {"Summary", r.Summary}} {
		fmt.Fprintf(w, "\n%s\n", sec.title)
		flat := map[string]string{}
		flatten(flat, "", sec.m)
		if len(flat) == 0 {
			fmt.Fprintln(w, "  (empty)")
		}
		keys := make([]string, 0, len(flat))
		for k := range flat {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %s = %s\n", k, flat[k])
		}
	}
	return nil
}

// flatten names each leaf of nested objects by its dotted path. An object
// with a "_type" key (a media value), an array or a scalar is a leaf.
func flatten(out map[string]string, prefix string, m map[string]any) {
	for k, v := range m {
		if prefix != "" {
			k = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok && sub["_type"] == nil && len(sub) > 0 {
			flatten(out, k, sub)
			continue
		}
		out[k] = value(v)
	}
}

func runsDelete(ctx context.Context, env Env, args []string) error {
	f := newRunsFlags(env, "delete")
	yes := f.Bool("yes", false, "delete without asking")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErr(env, "delete wants ENTITY/PROJECT/RUN...")
	}
	targets := make([][]string, len(pos))
	for i, p := range pos {
		if targets[i], _ = splitPath(p, 3); targets[i] == nil {
			return usageErr(env, "delete: %q is not ENTITY/PROJECT/RUN", p)
		}
	}
	if !*yes && env.Stdin == nil {
		fmt.Fprintln(env.Stderr, "fluoro runs delete: no input to confirm on: pass --yes to delete without asking")
		return errUsage
	}
	c, err := newClient(env, f)
	if err != nil {
		return err
	}
	var in *bufio.Reader
	if !*yes {
		in = bufio.NewReader(env.Stdin)
	}
	var failed []string
	var lastErr error
	for i, parts := range targets {
		name := pos[i]
		if !*yes {
			ok, err := c.confirmDelete(ctx, env, in, parts, name)
			if err != nil {
				failed, lastErr = append(failed, fmt.Sprintf("%s: %v", name, err)), err
				if fatal(err) {
					break
				}
				continue
			}
			if !ok {
				fmt.Fprintf(env.Stderr, "kept %s\n", name)
				continue
			}
		}
		if _, err := c.call(ctx, http.MethodDelete, runPath(parts), nil); err != nil {
			failed, lastErr = append(failed, fmt.Sprintf("%s: %v", name, err)), err
			if fatal(err) {
				break
			}
			continue
		}
		fmt.Fprintf(env.Stdout, "deleted %s\n", name)
	}
	switch {
	case len(failed) == 1 && len(targets) == 1:
		return lastErr // it names the run
	case len(failed) > 0:
		return fmt.Errorf("%d of %d runs not deleted:\n  %s", len(failed), len(targets), strings.Join(failed, "\n  "))
	}
	return nil
}

// fatal says whether the runs after one that failed with err would fail
// the same way: the server is unreachable or refused the key.
func fatal(err error) bool {
	var ae *apiError
	return !errors.As(err, &ae) || ae.status == http.StatusUnauthorized || ae.status == http.StatusForbidden
}

// confirmDelete shows what the run holds and asks on stderr; "y" or
// "yes" is a yes, anything else (or no line) a no.
func (c *client) confirmDelete(ctx context.Context, env Env, in *bufio.Reader, parts []string, name string) (bool, error) {
	body, err := c.call(ctx, http.MethodGet, runPath(parts), nil)
	if err != nil {
		return false, err
	}
	r, err := decodeRun(body)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(env.Stderr, "Delete run %s (%q, %s, %d points) and everything logged to it? [y/N] ", name, r.Name, r.State, r.Points)
	line, err := in.ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(env.Stderr)
		return false, nil // no answer is a no
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}
