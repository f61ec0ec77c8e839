// Package benchserver starts the real fluoro binary for benchmark programs
// and gives them a small authenticated HTTP client.
package benchserver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// Key is the admin API key the benchmark server is started with.
const Key = "fluoro-bench000000000000000000000000000000000key"

// Server is a running fluoro binary.
type Server struct {
	URL    string
	Data   string
	cmd    *exec.Cmd
	client *http.Client
	done   chan error
}

var listenRe = regexp.MustCompile(`listening on (http://\S+)`)

// Start runs `bin server` on a free loopback port with data in dir.
func Start(bin, dir string, conns int) (*Server, error) {
	cmd := exec.Command(bin, "server", "--addr", "127.0.0.1:0", "--data", dir, "--log-level", "warn")
	cmd.Env = append(os.Environ(), "FLUORO_ADMIN_API_KEY="+Key)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Data: dir, cmd: cmd, done: make(chan error, 1),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}, Timeout: 5 * time.Minute}}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := listenRe.FindStringSubmatch(sc.Text()); m != nil {
			s.URL = m[1]
			break
		}
	}
	if s.URL == "" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("fluoro exited before listening")
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	go func() { s.done <- cmd.Wait() }()
	return s, nil
}

// Memory returns the server's resident set size and its peak, in bytes
// (Linux /proc; zeros elsewhere).
func (s *Server) Memory() (rss, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb int64
		if n, _ := fmt.Sscanf(line, "VmRSS: %d kB", &kb); n == 1 {
			rss = kb << 10
		}
		if n, _ := fmt.Sscanf(line, "VmHWM: %d kB", &kb); n == 1 {
			peak = kb << 10
		}
	}
	return rss, peak
}

// Stop sends SIGTERM and waits for a clean exit.
func (s *Server) Stop() error {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		return err
	case <-time.After(time.Minute):
		s.cmd.Process.Kill()
		return fmt.Errorf("fluoro did not stop within a minute")
	}
}

// Call sends one request and returns the body; a non-2xx status is an error.
func (s *Server) Call(method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+Key)
	res, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode/100 != 2 {
		return b, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	return b, nil
}
