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

func TestWorkerReconnectsAfterTheConnectionDrops(t *testing.T) {
	proxy := startProxy(t, broker.URL[len("http://"):])
	proxied, err := baton.New(proxy.address())
	if err != nil {
		t.Fatal(err)
	}
	defer proxied.Close()
	queue := newQueue(t)
	var mu sync.Mutex
	causes := map[string]error{}
	firstStarted := make(chan struct{})
	var once sync.Once
	worker := proxied.NewWorker(baton.WorkerOptions{Queues: []string{queue}, MinBackoff: 10 * time.Millisecond, OnError: func(err error) { t.Logf("worker: %v", err) }},
		func(ctx context.Context, task *baton.Task) ([]byte, error) {
			if task.Job.GetAttempt() == 1 && string(task.Job.GetPayload()) == "held" {
				once.Do(func() { close(firstStarted) })
				<-ctx.Done()
				mu.Lock()
				causes[task.Job.GetId()] = context.Cause(ctx)
				mu.Unlock()
				return nil, context.Cause(ctx)
			}
			return []byte("ok"), nil
		})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = worker.Run(ctx) }()

	held, err := client.Enqueue(testContext(t), baton.JobSpec{Queue: queue, Payload: []byte("held")})
	if err != nil {
		t.Fatal(err)
	}
	<-firstStarted
	proxy.cut()

	// The worker reconnects and asks to resume the lease; the broker either keeps it (then
	// the handler goes on) or has released it, and then the handler is told ErrLeaseLost and
	// the job runs again. Either way it ends SUCCEEDED and later jobs are still taken.
	later, err := client.Enqueue(testContext(t), baton.JobSpec{Queue: queue, Payload: []byte("later")})
	if err != nil {
		t.Fatal(err)
	}
	if job := waitFinished(t, later.Job.GetId()); job.GetState() != batonv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("job enqueued after the drop: %v", job)
	}
	eventually(t, "the held job to be resumed or released", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return causes[held.Job.GetId()] != nil
	})
	mu.Lock()
	cause := causes[held.Job.GetId()]
	mu.Unlock()
	if !errors.Is(cause, baton.ErrLeaseLost) {
		t.Fatalf("held job's handler cancelled with %v", cause)
	}
	if job := waitFinished(t, held.Job.GetId()); job.GetState() != batonv1.JobState_JOB_STATE_SUCCEEDED || job.GetAttempt() != 2 {
		t.Fatalf("held job after the drop: %v", job)
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
