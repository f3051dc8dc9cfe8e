package baton_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/baton-dev/baton/clients/go/baton"
	batonv1 "github.com/baton-dev/baton/clients/go/gen/baton/v1"
)

func TestWorkerKilledMidJobLosesNothing(t *testing.T) {
	queue := newQueue(t)
	specs := make([]baton.JobSpec, 5)
	for i := range specs {
		specs[i] = baton.JobSpec{Queue: queue, Payload: []byte("step")}
	}
	enqueued, err := client.EnqueueMany(testContext(t), specs)
	if err != nil {
		t.Fatal(err)
	}
	victim := startProcess(t, "fixtureworker", map[string]string{"QUEUE": queue, "HOLD_MS": "600000"})
	for _, e := range enqueued {
		victim.waitFor(t, "started", map[string]any{"id": e.Job.GetId()})
	}
	if err := victim.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}

	rescuer := startProcess(t, "fixtureworker", map[string]string{"QUEUE": queue})
	for _, e := range enqueued {
		job := waitFinished(t, e.Job.GetId())
		if job.GetState() != batonv1.JobState_JOB_STATE_SUCCEEDED || job.GetAttempt() != 2 || string(job.GetResult()) != "step|go" {
			t.Fatalf("job %s after the kill: %v", e.Job.GetId(), job)
		}
		rescuer.waitFor(t, "done", map[string]any{"id": e.Job.GetId()})
	}
}

// A dropped connection (cut by a proxy) while a job runs: the worker reconnects and asks to
// resume the lease. Within the broker's grace the job goes on without running twice; with
// resume turned off its handler is cancelled with ErrLeaseLost and the job runs again.
func TestWorkerReconnectsAfterTheConnectionDrops(t *testing.T) {
	for _, mode := range []struct {
		name        string
		resumeGrace time.Duration
		// Without grace the broker releases the job as soon as it sees the break; reconnecting
		// later than that makes sure the release came first.
		minBackoff  time.Duration
		wantAttempt int32
		wantCause   error
	}{
		{name: "resumed", resumeGrace: 10 * time.Second, minBackoff: 10 * time.Millisecond, wantAttempt: 1},
		{name: "released", resumeGrace: 0, minBackoff: time.Second, wantAttempt: 2, wantCause: baton.ErrLeaseLost},
	} {
		t.Run(mode.name, func(t *testing.T) {
			proxy := startProxy(t, broker.URL[len("http://"):])
			proxied, err := baton.New(proxy.address())
			if err != nil {
				t.Fatal(err)
			}
			// Cleanups run last-registered first: the worker stops before its connection closes.
			t.Cleanup(func() { proxied.Close() })
			queue := newQueue(t)
			started, release := make(chan struct{}), make(chan struct{})
			causes := make(chan error, 1)
			var once sync.Once
			startWorkerOn(t, proxied, baton.WorkerOptions{Queues: []string{queue}, MinBackoff: mode.minBackoff, ResumeGrace: mode.resumeGrace},
				func(ctx context.Context, task *baton.Task) ([]byte, error) {
					if string(task.Job.GetPayload()) != "held" || task.Job.GetAttempt() != 1 {
						return []byte("ok"), nil
					}
					once.Do(func() { close(started) })
					select {
					case <-release:
						return []byte("ok"), nil
					case <-ctx.Done():
						causes <- context.Cause(ctx)
						return nil, context.Cause(ctx)
					}
				})

			held, err := client.Enqueue(testContext(t), baton.JobSpec{Queue: queue, Payload: []byte("held")})
			if err != nil {
				t.Fatal(err)
			}
			<-started
			proxy.cut()
			// A job enqueued after the cut is taken: the worker is back on a new stream.
			later, err := client.Enqueue(testContext(t), baton.JobSpec{Queue: queue, Payload: []byte("later")})
			if err != nil {
				t.Fatal(err)
			}
			if job := waitFinished(t, later.Job.GetId()); job.GetState() != batonv1.JobState_JOB_STATE_SUCCEEDED {
				t.Fatalf("job enqueued after the drop: %v", job)
			}
			close(release)
			job := waitFinished(t, held.Job.GetId())
			if job.GetState() != batonv1.JobState_JOB_STATE_SUCCEEDED || job.GetAttempt() != mode.wantAttempt {
				t.Fatalf("held job after the drop: %v", job)
			}
			var cause error
			select {
			case cause = <-causes:
			default:
			}
			if !errors.Is(cause, mode.wantCause) || (mode.wantCause == nil && cause != nil) {
				t.Fatalf("held job's handler cancelled with %v, want %v", cause, mode.wantCause)
			}
		})
	}
}

// proxy forwards TCP connections to the broker and can cut them all at once.
type proxy struct {
	listener net.Listener
	mu       sync.Mutex
	conns    []net.Conn
}

func startProxy(t *testing.T, target string) *proxy {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{listener: listener}
	t.Cleanup(func() {
		listener.Close()
		p.cut()
	})
	go func() {
		for {
			client, err := listener.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, client, server)
			p.mu.Unlock()
			go pipe(client, server)
			go pipe(server, client)
		}
	}()
	return p
}

func (p *proxy) address() string { return "http://" + p.listener.Addr().String() }

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, conn := range p.conns {
		conn.Close()
	}
	p.conns = nil
}

func pipe(to, from net.Conn) {
	_, _ = io.Copy(to, from)
	to.Close()
}
