package baton_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/baton-dev/baton/clients/go/baton"
	batonv1 "github.com/baton-dev/baton/clients/go/gen/baton/v1"
)

// A DAG in one EnqueueMany: a root, three parallel children and a fan-in whose handler sees
// the three children's results, in the order it named them.
func TestDAGFanInSeesEveryResult(t *testing.T) {
	ctx := testContext(t)
	queue := newQueue(t)
	specs := []baton.JobSpec{
		{Queue: queue, Payload: []byte("root")},
		{Queue: queue, Payload: []byte("a"), DependsOnIndex: []int32{0}},
		{Queue: queue, Payload: []byte("b"), DependsOnIndex: []int32{0}},
		{Queue: queue, Payload: []byte("c"), DependsOnIndex: []int32{0}},
		{Queue: queue, Payload: []byte("fan-in"), DependsOnIndex: []int32{1, 2, 3}},
	}
	enqueued, err := client.EnqueueMany(ctx, specs)
	if err != nil {
		t.Fatal(err)
	}
	root := enqueued[0].Job
	var mu sync.Mutex
	var fanIn []*baton.JobResult
	startWorker(t, baton.WorkerOptions{Queues: []string{queue}}, func(_ context.Context, task *baton.Task) ([]byte, error) {
		payload := string(task.Job.GetPayload())
		switch payload {
		case "root":
			return []byte("r"), nil
		case "fan-in":
			mu.Lock()
			fanIn = task.DependsOnResults
			mu.Unlock()
			parts := make([]string, len(task.DependsOnResults))
			for i, result := range task.DependsOnResults {
				parts[i] = string(result.GetResult())
			}
			return []byte(strings.Join(parts, ",")), nil
		default:
			return []byte(fmt.Sprintf("%s<%s", payload, task.DependsOnResults[0].GetResult())), nil
		}
	})
	chain, err := client.WaitChain(ctx, root.GetId())
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 5 {
		t.Fatalf("chain has %d jobs, want 5", len(chain))
	}
	for _, job := range chain {
		if job.GetState() != batonv1.JobState_JOB_STATE_SUCCEEDED || job.GetChainId() != root.GetId() {
			t.Errorf("job %s is %v in chain %s, want SUCCEEDED in chain %s", job.GetId(), job.GetState(), job.GetChainId(), root.GetId())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, result := range fanIn {
		if want := enqueued[i+1].Job.GetId(); result.GetJobId() != want || result.GetOmitted() {
			t.Errorf("fan-in result %d is of job %s (omitted %v), want job %s", i, result.GetJobId(), result.GetOmitted(), want)
		}
	}
	if got := string(chain[0].GetResult()); got != "a<r,b<r,c<r" {
		t.Errorf("fan-in result %q, want %q", got, "a<r,b<r,c<r")
	}
}

// A typed blocker's result decodes with its JobType.
func TestDecodeDependsOnResult(t *testing.T) {
	type sum struct{ Total int }
	sums := baton.JSONJob[struct{}, sum]("sums")
	got, err := sums.DecodeDependsOnResult(&baton.JobResult{JobId: "1", Result: []byte(`{"Total":3}`)})
	if err != nil || got.Total != 3 {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	if _, err := sums.DecodeDependsOnResult(&baton.JobResult{JobId: "2", Omitted: true}); err == nil || !strings.Contains(err.Error(), "omitted") {
		t.Fatalf("an omitted result decoded without error: %v", err)
	}
}
