package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fluoro-dev/fluoro/internal/api"
)

// runsHTTPTimeout bounds each request to the server.
const runsHTTPTimeout = 30 * time.Second

// runPath is the API path of a project (two parts) or a run (three).
func runPath(parts []string) string {
	p := "/api/v1/projects/" + url.PathEscape(parts[0]) + "/" + url.PathEscape(parts[1]) + "/runs"
	if len(parts) == 3 {
		p += "/" + url.PathEscape(parts[2])
	}
	return p
}

// client talks to the server's /api/v1 for the runs subcommands.
type client struct {
	base, key         string
	baseFrom, keyFrom string // where they came from, for messages
	page              int    // runs asked for per request, at most maxPage
	http              *http.Client
}

func newClient(env Env, f *runsFlags) (*client, error) {
	login := readLogin(env.Getenv)
	base := strings.TrimRight(firstNonEmpty(f.url, env.Getenv("FLUORO_BASE_URL"), login.BaseURL), "/")
	if base == "" {
		return nil, errors.New("no server URL: pass --url or set FLUORO_BASE_URL")
	}
	baseFrom := "the login file"
	if f.url != "" {
		baseFrom = "--url"
	} else if env.Getenv("FLUORO_BASE_URL") != "" {
		baseFrom = "FLUORO_BASE_URL"
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http://HOST:PORT or https://HOST", base)
	}
	key := firstNonEmpty(f.key, env.Getenv("FLUORO_API_KEY"), login.Hosts[base].APIKey)
	keyFrom := "the login file"
	switch {
	case key == "":
		return nil, fmt.Errorf("no API key for %s: pass --key or set FLUORO_API_KEY", base)
	case f.key != "":
		keyFrom = "--key"
	case env.Getenv("FLUORO_API_KEY") != "":
		keyFrom = "FLUORO_API_KEY"
	}
	return &client{base: base, key: key, baseFrom: baseFrom, keyFrom: keyFrom, page: maxPage, http: &http.Client{Timeout: runsHTTPTimeout}}, nil
}

// apiError is an error answer of the server.
type apiError struct {
	status  int
	message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.message, e.status) }

// call sends one request and returns the body of a 2xx answer. Other
// answers become an *apiError, or an error saying the key was refused.
func (c *client) call(ctx context.Context, method, path string, q url.Values) ([]byte, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Accept", "application/json")
	res, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			if ue.Timeout() {
				return nil, fmt.Errorf("the server at %s did not answer within %s", c.base, runsHTTPTimeout)
			}
			err = ue.Err
		}
		return nil, fmt.Errorf("cannot reach the server at %s (from %s): %w", c.base, c.baseFrom, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("read answer from %s: %w", c.base, err)
	}
	if res.StatusCode/100 == 2 {
		return body, nil
	}
	e := decodeError(res.StatusCode, body)
	switch res.StatusCode {
	case http.StatusUnauthorized:
		return nil, fmt.Errorf("the server at %s refused the API key from %s: %w; pass a valid key with --key or FLUORO_API_KEY", c.base, c.keyFrom, e)
	case http.StatusForbidden:
		return nil, fmt.Errorf("the API key from %s may not do this: %w; pass another key with --key or FLUORO_API_KEY", c.keyFrom, e)
	}
	return nil, e
}

// decodeError reads the API's {"error": {"code", "message"}} body (the
// message is written for people), or
// {"error": "message"}, or failing both, the body's first line.
func decodeError(status int, body []byte) *apiError {
	e := &apiError{status: status}
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && len(env.Error) > 0 {
		var obj struct{ Message string }
		if json.Unmarshal(env.Error, &obj) == nil {
			e.message = obj.Message
		} else {
			_ = json.Unmarshal(env.Error, &e.message)
		}
	}
	if e.message == "" {
		line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
		e.message = firstNonEmpty(truncate(line, 200), http.StatusText(status), "error")
	}
	return e
}

// runInfo is a run as the API sends it, with every field as decoded JSON
// too (for --columns) and the raw object (for --json).
type runInfo struct {
	api.RunJSON
	fields map[string]any
	raw    json.RawMessage
}

// decodeRun decodes one Run object, keeping numbers as json.Number.
func decodeRun(b []byte) (runInfo, error) {
	r := runInfo{raw: b}
	for _, v := range []any{&r, &r.fields} {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(v); err != nil {
			return runInfo{}, fmt.Errorf("decode run: %w", err)
		}
	}
	return r, nil
}
