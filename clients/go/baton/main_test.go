package baton_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baton-dev/baton/clients/go/baton"
	batonv1 "github.com/baton-dev/baton/clients/go/gen/baton/v1"
	"github.com/baton-dev/baton/clients/go/internal/brokertest"
)

// One broker for the package; each test uses queues of its own.
var (
	broker *brokertest.Broker
	client *baton.Client
)

func TestMain(m *testing.M) {
	var err error
	broker, err = brokertest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	client, err = baton.New(broker.URL)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	client.Close()
	if err := broker.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	if code != 0 {
		fmt.Fprintln(os.Stderr, "broker log:\n"+broker.Logs())
	}
	os.Exit(code)
}

var queueCounter atomic.Int64

// newQueue returns a queue name no other test uses.
func newQueue(t *testing.T) string {
	return fmt.Sprintf("go-test-%d-%d", os.Getpid(), queueCounter.Add(1))
}

// startWorker runs a worker until the test ends. stop begins a graceful stop; wait returns Run's
// error once it has returned.
func startWorker(t *testing.T, opts baton.WorkerOptions, handler baton.Handler) (stop context.CancelFunc, wait func() error) {
	t.Helper()
	return startWorkerOn(t, client, opts, handler)
}

func startWorkerOn(t *testing.T, client *baton.Client, opts baton.WorkerOptions, handler baton.Handler) (stop context.CancelFunc, wait func() error) {
	t.Helper()
	return runWorker(t, client.NewWorker(withTestOnError(t, opts), handler))
}

// withTestOnError logs the errors a worker survives, unless the test watches them itself.
func withTestOnError(t *testing.T, opts baton.WorkerOptions) baton.WorkerOptions {
	if opts.OnError == nil {
		opts.OnError = func(err error) { t.Logf("worker: %v", err) }
	}
	return opts
}

// runWorker runs a worker until the test ends; see startWorker.
func runWorker(t *testing.T, worker *baton.Worker) (stop context.CancelFunc, wait func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = worker.Run(ctx)
	}()
	wait = func() error {
		select {
		case <-done:
			return runErr
		case <-time.After(40 * time.Second):
			return errors.New("worker did not stop within 40 s")
		}
	}
	t.Cleanup(func() {
		cancel()
		if err := wait(); err != nil {
			t.Error(err)
		}
	})
	return cancel, wait
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFinished waits for a job to reach an end state.
func waitFinished(t *testing.T, id string) *batonv1.Job {
	t.Helper()
	job, err := client.Wait(testContext(t), id)
	if err != nil {
		t.Fatalf("wait for job %s: %v", id, err)
	}
	return job
}

// eventually polls condition until it holds or ten seconds pass.
func eventually(t *testing.T, what string, condition func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !condition() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
