package baton

import (
	"fmt"
	"testing"

	batonv1 "github.com/baton-dev/baton/clients/go/gen/baton/v1"
)

func TestSettlementsArePackedUpToTheCountCap(t *testing.T) {
	queued := make([]*batonv1.SubscribeRequest, 2*maxSettleEntries+5)
	for i := range queued {
		queued[i] = ackMessage(fmt.Sprint(i+1), "token", nil, nil)
	}
	packed := packSettlements(queued)
	if got := settleSizes(t, packed); fmt.Sprint(got) != fmt.Sprint([]int{maxSettleEntries, maxSettleEntries, 5}) {
		t.Fatalf("settle messages of %v entries", got)
	}
}

func TestSettlementsArePackedUpToTheByteCap(t *testing.T) {
	result := make([]byte, maxSettleBytes/3)
	queued := make([]*batonv1.SubscribeRequest, 5)
	for i := range queued {
		queued[i] = ackMessage(fmt.Sprint(i+1), "token", result, nil)
	}
	// Three results and their framing exceed the cap: two per message.
	if got := settleSizes(t, packSettlements(queued)); fmt.Sprint(got) != fmt.Sprint([]int{2, 2, 1}) {
		t.Fatalf("settle messages of %v entries", got)
	}
}

func TestASecondReportOnAJobGoesInTheNextSettle(t *testing.T) {
	queued := []*batonv1.SubscribeRequest{
		progress("1", "token", 50, "half"),
		ackMessage("2", "token", nil, nil),
		pong(),
		ackMessage("1", "token", nil, nil),
	}
	packed := packSettlements(queued)
	if len(packed) != 3 || packed[1].GetPong() == nil {
		t.Fatalf("packed %v", packed)
	}
	first, second := packed[0].GetSettle(), packed[2].GetSettle()
	if len(first.GetProgress()) != 1 || len(first.GetAcks()) != 1 || first.GetAcks()[0].GetJobId() != "2" {
		t.Fatalf("first settle %v", first)
	}
	if len(second.GetAcks()) != 1 || second.GetAcks()[0].GetJobId() != "1" {
		t.Fatalf("second settle %v", second)
	}
}

func settleSizes(t *testing.T, packed []*batonv1.SubscribeRequest) []int {
	t.Helper()
	sizes := make([]int, len(packed))
	for i, message := range packed {
		settle := message.GetSettle()
		if settle == nil {
			t.Fatalf("message %d is not a settle: %v", i, message)
		}
		sizes[i] = len(settle.GetAcks()) + len(settle.GetNacks()) + len(settle.GetProgress())
	}
	return sizes
}
