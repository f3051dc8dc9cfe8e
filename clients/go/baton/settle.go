package baton

import (
	batonv1 "github.com/baton-dev/baton/clients/go/gen/baton/v1"
	"google.golang.org/protobuf/proto"
)

// Caps of one settle message. The byte cap keeps a message well under the broker's request
// limit (at least 4 MiB); a settlement larger than the cap (an ack with a big result) goes alone.
const (
	maxSettleEntries = 1000
	maxSettleBytes   = 1 << 20
)

// packSettlements packs the single acks, nacks and progress reports among queued into settle
// messages; other messages pass through in their order. Each settle names a job at most once:
// the broker answers the entries of one message in no promised order, so a second report on a
// job (its ack after a progress report) starts the next message and stays behind the first.
func packSettlements(queued []*batonv1.SubscribeRequest) []*batonv1.SubscribeRequest {
	packed := make([]*batonv1.SubscribeRequest, 0, 1)
	var settle *batonv1.SubscribeRequest_Settle
	var entries, bytes int
	var named map[string]bool
	for _, message := range queued {
		jobID, isSettlement := settlementJobID(message)
		if !isSettlement {
			packed = append(packed, message)
			continue
		}
		// Each entry is encoded inside settle exactly as inside the single message.
		size := proto.Size(message)
		if settle == nil || entries == maxSettleEntries || bytes+size > maxSettleBytes || named[jobID] {
			settle = &batonv1.SubscribeRequest_Settle{}
			packed = append(packed, &batonv1.SubscribeRequest{Message: &batonv1.SubscribeRequest_Settle_{Settle: settle}})
			entries, bytes, named = 0, 0, map[string]bool{}
		}
		addToSettle(settle, message)
		entries, bytes, named[jobID] = entries+1, bytes+size, true
	}
	return packed
}

func settlementJobID(message *batonv1.SubscribeRequest) (string, bool) {
	switch m := message.GetMessage().(type) {
	case *batonv1.SubscribeRequest_Ack_:
		return m.Ack.GetJobId(), true
	case *batonv1.SubscribeRequest_Nack_:
		return m.Nack.GetJobId(), true
	case *batonv1.SubscribeRequest_Progress_:
		return m.Progress.GetJobId(), true
	}
	return "", false
}

func addToSettle(settle *batonv1.SubscribeRequest_Settle, message *batonv1.SubscribeRequest) {
	switch m := message.GetMessage().(type) {
	case *batonv1.SubscribeRequest_Ack_:
		settle.Acks = append(settle.Acks, m.Ack)
	case *batonv1.SubscribeRequest_Nack_:
		settle.Nacks = append(settle.Nacks, m.Nack)
	case *batonv1.SubscribeRequest_Progress_:
		settle.Progress = append(settle.Progress, m.Progress)
	}
}
