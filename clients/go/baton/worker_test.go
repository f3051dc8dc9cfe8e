package baton_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baton-dev/baton/clients/go/baton"
	batonv1 "github.com/baton-dev/baton/clients/go/gen/baton/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

var errNegative = errors.New("negative")

func TestTypedJobAckWithResultAndContinuation(t *testing.T) {
	greet := baton.ProtoJob[*wrapperspb.StringValue, *wrapperspb.StringValue](newQueue(t))
	shout := baton.ProtoJob[*wrapperspb.StringValue, *wrapperspb.StringValue](newQueue(t))
	router := baton.Router{
		greet.Queue: greet.Handler(func(ctx context.Context, task *baton.Task, name *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
			next, err := shout.Spec(wrapperspb.String("hello "+name.GetValue()), baton.JobSpec{})
			if err != nil {
				return nil, err
			}
			task.ContinueWith(next)
			return wrapperspb.String("greeted " + name.GetValue()), nil
		}),
		shout.Queue: shout.Handler(func(ctx context.Context, task *baton.Task, text *wrapperspb.StringValue) (*wrapperspb.StringValue, error) {
			return wrapperspb.String(strings.ToUpper(text.GetValue())), nil
		}),
	}
	startWorker(t, baton.WorkerOptions{Queues: router.Queues()}, router.Handle)

	ctx := testContext(t)
	enqueued, err := greet.Enqueue(ctx, client, wrapperspb.String("ada"), baton.JobSpec{})
	if err != nil {
		t.Fatal(err)
	}
	root := waitFinished(t, enqueued.Job.GetId())
	if result, _ := greet.DecodeResult(root); root.GetState() != batonv1.JobState_JOB_STATE_SUCCEEDED || result.GetValue() != "greeted ada" {
		t.Fatalf("root job: %v", root)
	}
	list, err := client.Jobs.ListJobs(ctx, &batonv1.ListJobsRequest{ChainId: root.GetId()})
	if status.Code(err) == codes.Unimplemented {
		t.Skip("ListJobs is not served by this broker yet; cannot find the continuation")
	}
	if err != nil {
		t.Fatal(err)
	}
	var child *batonv1.Job
	for _, job := range list.GetJobs() {
		if job.GetParentId() == root.GetId() {
			child = job
		}
	}
	if child == nil {
		t.Fatalf("no continuation in chain %s: %v", root.GetId(), list.GetJobs())
	}
	child = waitFinished(t, child.GetId())
	if result, _ := shout.DecodeResult(child); result.GetValue() != "HELLO ADA" || child.GetChainId() != root.GetId() {
		t.Fatalf("continuation: %v", child)
	}
}

func TestFailedAttemptIsRetriedThenDeadLettered(t *testing.T) {
	queue := newQueue(t)
	var attempts atomic.Int32
	startWorker(t, baton.WorkerOptions{Queues: []string{queue}}, func(ctx context.Context, task *baton.Task) ([]byte, error) {
		switch string(task.Job.GetPayload()) {
		case "flaky":
			if attempts.Add(1) == 1 {
				return nil, baton.RetryAfter(errors.New("first try fails"), 10*time.Millisecond)
			}
			return []byte("ok"), nil
		case "panics":
			panic("boom")
		default:
			return nil, baton.DeadLetter(errors.New("hopeless"))
		}
	})
	ctx := testContext(t)
	specs := []baton.JobSpec{
		{Queue: queue, Payload: []byte("flaky"), MaxAttempts: 3},
		{Queue: queue, Payload: []byte("hopeless"), MaxAttempts: 3},
		{Queue: queue, Payload: []byte("panics"), MaxAttempts: 1},
	}
	results, err := client.EnqueueMany(ctx, specs)
	if err != nil {
		t.Fatal(err)
	}
	flaky := waitFinished(t, results[0].Job.GetId())
	if flaky.GetState() != batonv1.JobState_JOB_STATE_SUCCEEDED || flaky.GetAttempt() != 2 {
		t.Fatalf("flaky job: %v", flaky)
	}
	hopeless := waitFinished(t, results[1].Job.GetId())
	if hopeless.GetState() != batonv1.JobState_JOB_STATE_DEAD || hopeless.GetAttempt() != 1 || hopeless.GetLastError() != "hopeless" {
		t.Fatalf("dead-lettered job: %v", hopeless)
	}
	panicked := waitFinished(t, results[2].Job.GetId())
	if panicked.GetState() != batonv1.JobState_JOB_STATE_DEAD || !strings.Contains(panicked.GetLastError(), "panicked: boom") {
		t.Fatalf("panicking job: %v", panicked)
	}
}

func TestProgressIsStored(t *testing.T) {
	queue := newQueue(t)
	release := make(chan struct{})
	startWorker(t, baton.WorkerOptions{Queues: []string{queue}}, func(ctx context.Context, task *baton.Task) ([]byte, error) {
		task.Progress(40, "halfway there")
		<-release
		return nil, nil
	})
	ctx := testContext(t)
	enqueued, err := client.Enqueue(ctx, baton.JobSpec{Queue: queue})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "progress", func() bool {
		job, err := client.Get(ctx, enqueued.Job.GetId())
		return err == nil && job.GetProgressPercent() == 40 && job.GetProgressMessage() == "halfway there"
	})
	close(release)
	waitFinished(t, enqueued.Job.GetId())
}

func TestCancelJobCancelsTheHandlerContext(t *testing.T) {
	queue := newQueue(t)
	causes := make(chan error, 1)
	started := make(chan struct{})
	startWorker(t, baton.WorkerOptions{Queues: []string{queue}}, func(ctx context.Context, task *baton.Task) ([]byte, error) {
		close(started)
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return nil, context.Cause(ctx)
	})
	ctx := testContext(t)
	enqueued, err := client.Enqueue(ctx, baton.JobSpec{Queue: queue})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if _, err := client.Jobs.CancelJob(ctx, &batonv1.CancelJobRequest{Id: enqueued.Job.GetId()}); status.Code(err) == codes.Unimplemented {
		t.Skip("CancelJob is not served by this broker yet")
	} else if err != nil {
		t.Fatal(err)
	}
	select {
	case cause := <-causes:
		if !errors.Is(cause, baton.ErrJobCancelled) {
			t.Fatalf("handler context cancelled with %v", cause)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handler context was not cancelled")
	}
	if job := waitFinished(t, enqueued.Job.GetId()); job.GetState() != batonv1.JobState_JOB_STATE_CANCELLED {
		t.Fatalf("cancelled job ended %v", job.GetState())
	}
}

func TestGracefulStopFinishesRunningJobs(t *testing.T) {
	queue := newQueue(t)
	started := make(chan struct{})
	stop, wait := startWorker(t, baton.WorkerOptions{Queues: []string{queue}}, func(ctx context.Context, task *baton.Task) ([]byte, error) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		return []byte("finished"), ctx.Err()
	})
	enqueued, err := client.Enqueue(testContext(t), baton.JobSpec{Queue: queue})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	stop()
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Run returned only after the ack was committed.
	job, err := client.Get(testContext(t), enqueued.Job.GetId())
	if err != nil || job.GetState() != batonv1.JobState_JOB_STATE_SUCCEEDED || string(job.GetResult()) != "finished" {
		t.Fatalf("job after stop: %v %v", job, err)
	}
}

func TestGracefulStopDrainsTheStream(t *testing.T) {
	// Settling the running jobs returns their credit; the stopping worker's drain keeps the
	// broker from handing out more, so no job loses an attempt to the stop.
	queue := newQueue(t)
	specs := make([]baton.JobSpec, 20)
	for i := range specs {
		specs[i] = baton.JobSpec{Queue: queue}
	}
	enqueued, err := client.EnqueueMany(testContext(t), specs)
	if err != nil {
		t.Fatal(err)
	}
	running, release := make(chan struct{}, len(specs)), make(chan struct{})
	stop, wait := startWorker(t, baton.WorkerOptions{Queues: []string{queue}, Concurrency: 2}, func(ctx context.Context, task *baton.Task) ([]byte, error) {
		running <- struct{}{}
		<-release
		return nil, nil
	})
	<-running
	<-running
	stop()
	close(release)
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, e := range enqueued {
		job, err := client.Get(testContext(t), e.Job.GetId())
		if err != nil {
			t.Fatal(err)
		}
		ran := job.GetState() == batonv1.JobState_JOB_STATE_SUCCEEDED
		untouched := job.GetState() == batonv1.JobState_JOB_STATE_AVAILABLE && job.GetAttempt() == 0
		if !ran && !untouched {
			t.Fatalf("job %s after stop: %v, attempt %d", job.GetId(), job.GetState(), job.GetAttempt())
		}
	}
}

func TestBurstModeReturnsWhenTheQueueIsDrained(t *testing.T) {
	queue := newQueue(t)
	specs := make([]baton.JobSpec, 25)
	for i := range specs {
		specs[i] = baton.JobSpec{Queue: queue}
	}
	if _, err := client.EnqueueMany(testContext(t), specs); err != nil {
		t.Fatal(err)
	}
	var processed atomic.Int32
	worker := client.NewWorker(baton.WorkerOptions{Queues: []string{queue}, Concurrency: 4, Burst: true, BurstIdle: 300 * time.Millisecond},
		func(ctx context.Context, task *baton.Task) ([]byte, error) {
			processed.Add(1)
			return nil, nil
		})
	ctx := testContext(t)
	if err := worker.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ctx.Err() != nil || processed.Load() != 25 {
		t.Fatalf("burst run processed %d of 25 jobs (context: %v)", processed.Load(), ctx.Err())
	}
}

func TestWorkerLabelsRouteJobs(t *testing.T) {
	queue := newQueue(t)
	var ranOnPlain sync.Map
	startWorker(t, baton.WorkerOptions{Queues: []string{queue}}, func(ctx context.Context, task *baton.Task) ([]byte, error) {
		ranOnPlain.Store(task.Job.GetId(), true)
		return []byte("plain"), nil
	})
	ctx := testContext(t)
	labelled, err := client.Enqueue(ctx, baton.JobSpec{Queue: queue, WorkerLabels: map[string]string{"gpu": "a100"}})
	if err != nil {
		t.Fatal(err)
	}
	if labelled.Job.GetWorkerLabels()["gpu"] != "a100" {
		t.Fatalf("worker_labels not stored: %v", labelled.Job)
	}
	// An unlabelled job enqueued after it runs on the plain worker, which never takes it.
	unlabelled, err := client.Enqueue(ctx, baton.JobSpec{Queue: queue})
	if err != nil {
		t.Fatal(err)
	}
	if job := waitFinished(t, unlabelled.Job.GetId()); string(job.GetResult()) != "plain" {
		t.Fatalf("unlabelled job: %v", job)
	}
	startWorker(t, baton.WorkerOptions{Queues: []string{queue}, Labels: map[string]string{"gpu": "a100", "region": "eu"}},
		func(ctx context.Context, task *baton.Task) ([]byte, error) { return []byte("gpu"), nil })
	if job := waitFinished(t, labelled.Job.GetId()); string(job.GetResult()) != "gpu" {
		t.Fatalf("labelled job: %v", job)
	}
	if _, ran := ranOnPlain.Load(labelled.Job.GetId()); ran {
		t.Fatal("the worker without labels ran the labelled job")
	}
}
