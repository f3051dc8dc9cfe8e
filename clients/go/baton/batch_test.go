package baton_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baton-dev/baton/clients/go/baton"
	batonv1 "github.com/baton-dev/baton/clients/go/gen/baton/v1"
)

// enqueueAll enqueues one job per payload on queue, with one attempt each; their ids in order.
func enqueueAll(t *testing.T, queue string, payloads ...string) []string {
	t.Helper()
	specs := make([]baton.JobSpec, len(payloads))
	for i, payload := range payloads {
		specs[i] = baton.JobSpec{Queue: queue, Payload: []byte(payload), MaxAttempts: 1}
	}
	enqueued, err := client.EnqueueManyIDs(testContext(t), specs)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(enqueued))
	for i, job := range enqueued {
		ids[i] = job.ID
	}
	return ids
}

func TestBatchHandlerSettlesEachJobOnItsOwn(t *testing.T) {
	queue := newQueue(t)
	payloads := []string{"bad", "silent"}
	for i := range 10 {
		payloads = append(payloads, fmt.Sprintf("ok-%d", i))
	}
	// Enqueued before the worker starts, so they are delivered together.
	ids := enqueueAll(t, queue, payloads...)
	var mu sync.Mutex
	var sizes []int
	var doubleSettle error
	worker := client.NewBatchWorker(withTestOnError(t, baton.WorkerOptions{Queues: []string{queue}, Concurrency: 20}),
		baton.BatchOptions{MaxJobs: 12, MaxWait: 10 * time.Second},
		func(ctx context.Context, batch *baton.Batch) error {
			mu.Lock()
			sizes = append(sizes, len(batch.Tasks))
			mu.Unlock()
			for _, task := range batch.Tasks {
				switch payload := string(task.Job.GetPayload()); payload {
				case "bad":
					_ = batch.Fail(task, baton.DeadLetter(errors.New("cannot handle bad")))
				case "silent": // acked with no result when the handler returns
				default:
					_ = batch.Ack(task, []byte("done "+payload))
				}
			}
			err := batch.Ack(batch.Tasks[0], []byte("again"))
			mu.Lock()
			doubleSettle = err
			mu.Unlock()
			return nil
		})
	runWorker(t, worker)
	for i, id := range ids {
		job := waitFinished(t, id)
		switch {
		case i == 0:
			if job.GetState() != batonv1.JobState_JOB_STATE_DEAD || job.GetLastError() != "cannot handle bad" {
				t.Fatalf("bad job: %v", job)
			}
		case i == 1:
			if job.GetState() != batonv1.JobState_JOB_STATE_SUCCEEDED || len(job.GetResult()) != 0 {
				t.Fatalf("silent job: %v", job)
			}
		default:
			if job.GetState() != batonv1.JobState_JOB_STATE_SUCCEEDED || string(job.GetResult()) != "done "+payloads[i] {
				t.Fatalf("job %s: %v", payloads[i], job)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	largest, total := 0, 0
	for _, size := range sizes {
		largest, total = max(largest, size), total+size
	}
	if largest < 2 || total != len(ids) {
		t.Fatalf("batch sizes %v: want one of several jobs, %d in all", sizes, len(ids))
	}
	if doubleSettle == nil || !strings.HasSuffix(doubleSettle.Error(), "is settled already") {
		t.Fatalf("a second settlement answered %v", doubleSettle)
	}
}

func TestBatchHandlerErrorFailsTheJobsItDidNotSettle(t *testing.T) {
	queue := newQueue(t)
	ids := enqueueAll(t, queue, "first", "second", "third")
	worker := client.NewBatchWorker(withTestOnError(t, baton.WorkerOptions{Queues: []string{queue}}),
		baton.BatchOptions{MaxJobs: 3, MaxWait: 10 * time.Second},
		func(ctx context.Context, batch *baton.Batch) error {
			for _, task := range batch.Tasks {
				if string(task.Job.GetPayload()) == "first" {
					_ = batch.Ack(task, []byte("kept"))
				}
			}
			return errors.New("the batch broke")
		})
	runWorker(t, worker)
	if first := waitFinished(t, ids[0]); first.GetState() != batonv1.JobState_JOB_STATE_SUCCEEDED || string(first.GetResult()) != "kept" {
		t.Fatalf("first job: %v", first)
	}
	for _, id := range ids[1:] {
		if job := waitFinished(t, id); job.GetState() != batonv1.JobState_JOB_STATE_DEAD || job.GetLastError() != "the batch broke" {
			t.Fatalf("job %s: %v", id, job)
		}
	}
}

func TestBatchOptionsAWorkerCannotHonourAreRefused(t *testing.T) {
	handler := func(context.Context, *baton.Batch) error { return nil }
	for _, tc := range []struct {
		batch baton.BatchOptions
		want  string
	}{
		{baton.BatchOptions{MaxJobs: 0}, "baton: BatchOptions.MaxJobs must be from 1 to the worker's Concurrency (10), got 0"},
		{baton.BatchOptions{MaxJobs: 11}, "baton: BatchOptions.MaxJobs must be from 1 to the worker's Concurrency (10), got 11"},
		{baton.BatchOptions{MaxJobs: 2, MaxWait: -1}, "baton: BatchOptions.MaxWait must not be negative, got -1ns"},
	} {
		err := client.NewBatchWorker(baton.WorkerOptions{Queues: []string{newQueue(t)}}, tc.batch, handler).Run(testContext(t))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%+v: got %v, want %q", tc.batch, err, tc.want)
		}
	}
}

func TestBatchesHoldOneSlotPerJobAndAFullWorkerRunsAShortBatchAtOnce(t *testing.T) {
	queue := newQueue(t)
	payloads := make([]string, 10)
	for i := range payloads {
		payloads[i] = fmt.Sprint(i)
	}
	ids := enqueueAll(t, queue, payloads...)
	var mu sync.Mutex
	var sizes []int
	running, mostRunning := 0, 0
	gate := make(chan struct{})
	// MaxWait is longer than the test may take: the batch of 2 can only start because all 6
	// slots are taken.
	worker := client.NewBatchWorker(withTestOnError(t, baton.WorkerOptions{Queues: []string{queue}, Concurrency: 6}),
		baton.BatchOptions{MaxJobs: 4, MaxWait: 10 * time.Minute},
		func(ctx context.Context, batch *baton.Batch) error {
			mu.Lock()
			sizes = append(sizes, len(batch.Tasks))
			running += len(batch.Tasks)
			mostRunning = max(mostRunning, running)
			if running == 6 {
				close(gate)
			}
			mu.Unlock()
			<-gate
			mu.Lock()
			running -= len(batch.Tasks)
			mu.Unlock()
			return nil
		})
	runWorker(t, worker)
	for _, id := range ids {
		waitFinished(t, id)
	}
	mu.Lock()
	defer mu.Unlock()
	// The first two batches run side by side, in either order.
	if mostRunning != 6 || len(sizes) < 2 || min(sizes[0], sizes[1]) != 2 || max(sizes[0], sizes[1]) != 4 {
		t.Fatalf("batch sizes %v, at most %d jobs running: want batches of 4 and 2 filling the 6 slots first", sizes, mostRunning)
	}
}

func TestAStoppingBatchWorkerRunsItsWaitingBatchAtOnce(t *testing.T) {
	queue := newQueue(t)
	ids := enqueueAll(t, queue, "alone")
	// MaxWait is longer than the test may take: the batch of one can only run because the
	// worker stops.
	worker := client.NewBatchWorker(withTestOnError(t, baton.WorkerOptions{Queues: []string{queue}}),
		baton.BatchOptions{MaxJobs: 5, MaxWait: 10 * time.Minute},
		func(ctx context.Context, batch *baton.Batch) error { return nil })
	stop, wait := runWorker(t, worker)
	eventually(t, "the job to be delivered", func() bool {
		job, err := client.Get(testContext(t), ids[0])
		return err == nil && job.GetState() == batonv1.JobState_JOB_STATE_LEASED
	})
	stop()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if job := waitFinished(t, ids[0]); job.GetState() != batonv1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("job: %v", job)
	}
}

func TestAJobWhoseLeaseIsLostWhileItWaitsForItsBatchLeavesTheBatch(t *testing.T) {
	queue := newQueue(t)
	lost, err := client.EnqueueManyIDs(testContext(t), []baton.JobSpec{{Queue: queue, Payload: []byte("lost"), MaxAttempts: 1, Timeout: 300 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen [][]string
	// MaxWait is longer than the test may take: only two live jobs can fill the batch.
	worker := client.NewBatchWorker(withTestOnError(t, baton.WorkerOptions{Queues: []string{queue}, Concurrency: 2}),
		baton.BatchOptions{MaxJobs: 2, MaxWait: 10 * time.Minute},
		func(ctx context.Context, batch *baton.Batch) error {
			payloads := make([]string, len(batch.Tasks))
			for i, task := range batch.Tasks {
				payloads[i] = string(task.Job.GetPayload())
			}
			mu.Lock()
			seen = append(seen, payloads)
			mu.Unlock()
			return nil
		})
	runWorker(t, worker)
	// The attempt times out while the job waits for a second one; the broker takes its lease.
	if job := waitFinished(t, lost[0].ID); job.GetState() != batonv1.JobState_JOB_STATE_DEAD || job.GetLastError() != "attempt timed out" {
		t.Fatalf("lost job: %v", job)
	}
	// Delivered on the same stream after the lease loss: they find the batch without it.
	for _, id := range enqueueAll(t, queue, "first", "second") {
		waitFinished(t, id)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := fmt.Sprint(seen); got != "[[first second]]" {
		t.Fatalf("batches seen: %s", got)
	}
}
