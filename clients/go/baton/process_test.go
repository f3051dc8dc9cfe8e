package baton_test

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binary returns the path of one of this module's programs, all built once per test run.
func binary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "baton-go-bin-")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir, "./examples/worker", "./examples/producer", "./internal/fixtureworker")
		cmd.Dir = ".."
		if output, err := cmd.CombinedOutput(); err != nil {
			buildErr = &buildError{err, string(output)}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

type buildError struct {
	err    error
	output string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.output }

// process is a program of this module running as a child, printing JSON lines.
type process struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	events []map[string]any
	added  chan struct{}
	exited chan struct{}
}

func startProcess(t *testing.T, name string, env map[string]string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary(t, name), args...)
	cmd.Env = append(os.Environ(), "BATON_URL="+broker.URL)
	for key, value := range env {
		cmd.Env = append(cmd.Env, key+"="+value)
	}
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, added: make(chan struct{}, 1), exited: make(chan struct{})}
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			var event map[string]any
			if json.Unmarshal(scanner.Bytes(), &event) == nil {
				p.mu.Lock()
				p.events = append(p.events, event)
				p.mu.Unlock()
				select {
				case p.added <- struct{}{}:
				default:
				}
			}
		}
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// waitFor returns the first event with the given name whose fields match, past or future.
func (p *process) waitFor(t *testing.T, name string, fields map[string]any) map[string]any {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		p.mu.Lock()
		for _, event := range p.events {
			if event["event"] == name && matches(event, fields) {
				p.mu.Unlock()
				return event
			}
		}
		p.mu.Unlock()
		select {
		case <-p.added:
		case <-p.exited:
			t.Fatalf("%s exited before event %q", p.cmd.Path, name)
		case <-deadline:
			t.Fatalf("%s printed no event %q %v", p.cmd.Path, name, fields)
		}
	}
}

func (p *process) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not exit", p.cmd.Path)
		return -1
	}
}

func matches(event, fields map[string]any) bool {
	for key, value := range fields {
		if event[key] != value {
			return false
		}
	}
	return true
}
