package baton_test

import (
	"syscall"
	"testing"

	"github.com/baton-dev/baton/clients/go/baton"
)

// The README's Go walkthrough: these programs must keep working.
func TestExampleProducerAndWorker(t *testing.T) {
	worker := startProcess(t, "worker", nil)
	producer := startProcess(t, "producer", nil)
	enqueued := producer.waitFor(t, "enqueued", nil)
	worker.waitFor(t, "sent", map[string]any{"id": enqueued["id"], "to": "grace@example.com"})
	producer.waitFor(t, "finished", map[string]any{"id": enqueued["id"], "state": "JOB_STATE_SUCCEEDED", "delivered": true})
	if code := producer.wait(t); code != 0 {
		t.Fatalf("producer exited %d", code)
	}
	_ = worker.cmd.Process.Signal(syscall.SIGTERM)
	worker.waitFor(t, "stopped", nil)
	if code := worker.wait(t); code != 0 {
		t.Fatalf("worker exited %d after SIGTERM", code)
	}
}

func TestExampleWorkerInBurstModeExitsWhenDrained(t *testing.T) {
	ctx := testContext(t)
	for range 3 {
		if _, err := client.Enqueue(ctx, baton.JobSpec{Queue: "emails", Payload: []byte(`{"to":"burst@example.com"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	worker := startProcess(t, "worker", nil, "-burst")
	worker.waitFor(t, "stopped", nil)
	if code := worker.wait(t); code != 0 {
		t.Fatalf("burst worker exited %d", code)
	}
}
