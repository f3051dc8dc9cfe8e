// Package brokertest runs a real Baton broker for tests: `baton serve` from this repository, as
// a child process on a free port, over an embedded PostgreSQL in a temporary directory.
package brokertest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Broker is a running broker.
type Broker struct {
	// URL is the broker's address, e.g. "http://127.0.0.1:41234".
	URL     string
	cmd     *exec.Cmd
	dataDir string
	logs    *syncBuffer
	exited  chan struct{}
}

// Start runs a broker and waits until it answers /healthz. With BATON_TEST_BROKER_URL set, it
// uses that broker instead and Stop does nothing.
func Start() (*Broker, error) {
	if url := os.Getenv("BATON_TEST_BROKER_URL"); url != "" {
		return &Broker{URL: url}, nil
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dataDir, err := os.MkdirTemp("", "baton-go-test-")
	if err != nil {
		return nil, err
	}
	// The broker runs from source (tsx), so it is always the code of this checkout.
	cmd := exec.Command("node", "--import", "tsx", "src/cli/main.ts", "serve")
	cmd.Dir = repoRoot()
	cmd.Env = append(withoutDatabaseURLs(os.Environ()), "BATON_DATA_DIR="+dataDir, fmt.Sprint("BATON_PORT=", port), "BATON_HOST=127.0.0.1",
		// Queue history is flushed every second rather than every 5: tests read it sooner.
		"BATON_HISTORY_FLUSH_SECONDS=1")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	// If the test binary dies, the broker (and so its PostgreSQL) gets SIGTERM too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start broker: %w", err)
	}
	b := &Broker{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, dataDir: dataDir, logs: logs, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(b.exited)
	}()
	if err := b.waitHealthy(90 * time.Second); err != nil {
		_ = b.Stop()
		return nil, err
	}
	return b, nil
}

// Stop sends SIGTERM, waits for the broker's bounded drain, and removes its data.
func (b *Broker) Stop() error {
	if b.cmd == nil {
		return nil
	}
	defer os.RemoveAll(b.dataDir)
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
		return nil
	case <-time.After(60 * time.Second):
		_ = b.cmd.Process.Kill()
		return errors.New("broker did not stop within 60 s of SIGTERM")
	}
}

// Logs returns what the broker has printed, for failure messages.
func (b *Broker) Logs() string {
	if b.logs == nil {
		return ""
	}
	return b.logs.String()
}

func (b *Broker) waitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-b.exited:
			return fmt.Errorf("broker exited during start:\n%s", b.Logs())
		default:
		}
		response, err := http.Get(b.URL + "/healthz")
		if err == nil {
			response.Body.Close()
			if response.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("broker not healthy within %s:\n%s", timeout, b.Logs())
}

func freePort() (int, error) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer listener.Close()
	return listener.Addr().(*net.TCPAddr).Port, nil
}

// withoutDatabaseURLs drops the variables that would point the broker at an outside database.
func withoutDatabaseURLs(env []string) []string {
	kept := env[:0:0]
	for _, entry := range env {
		name, _, _ := bytes.Cut([]byte(entry), []byte("="))
		if string(name) != "BATON_DATABASE_URL" && string(name) != "DATABASE_URL" {
			kept = append(kept, entry)
		}
	}
	return kept
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
