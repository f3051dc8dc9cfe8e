package baton_test

import (
	"testing"
	"time"

	batonv1 "github.com/baton-dev/baton/clients/go/gen/baton/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The broker adds its counts to the history every BATON_HISTORY_FLUSH_SECONDS (1 s for the
// test broker): the test reads until they are there.
func TestQueueHistory(t *testing.T) {
	ctx := testContext(t)
	queue := newQueue(t)
	for i := 0; i < 2; i++ {
		if _, err := client.Jobs.EnqueueJob(ctx, &batonv1.EnqueueJobRequest{Queue: queue}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the history to count the two jobs", func() bool {
		history, err := client.Queues.GetQueueHistory(ctx, &batonv1.GetQueueHistoryRequest{Queue: queue})
		if err != nil {
			t.Fatal(err)
		}
		if len(history.GetPoints()) != 60 || history.GetStep().AsDuration() != time.Minute {
			t.Fatalf("want 60 points of a minute, got %d of %v", len(history.GetPoints()), history.GetStep().AsDuration())
		}
		enqueued := int64(0)
		for _, point := range history.GetPoints() {
			enqueued += point.GetEnqueued()
		}
		return enqueued == 2
	})
	_, err := client.Queues.GetQueueHistory(ctx, &batonv1.GetQueueHistoryRequest{Queue: queue, Step: durationpb.New(90 * time.Second)})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a step of 90s: want INVALID_ARGUMENT, got %v", err)
	}
}
