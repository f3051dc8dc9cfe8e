package baton

import (
	"context"
	"sync"

	batonv1 "github.com/baton-dev/baton/clients/go/gen/baton/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// wireForm is which form of the worker protocol the broker speaks on a stream. The hello asks
// for the batched form; a broker that predates it ignores the request and delivers single
// `job` messages, and the stream then falls back to single settlements and credit messages.
type wireForm int

const (
	// formUnknown: nothing delivered yet. Settlements go out singly, which every broker takes.
	formUnknown wireForm = iota
	formBatched
	formSingle
)

// stream is one Subscribe stream. A gRPC stream allows one sender at a time, so messages are
// queued here and written by a single goroutine; queueing never blocks, so a handler reporting
// its outcome never waits on the network or holds the worker's lock while it does. Whatever
// accumulated while the sender was busy goes out together: in the batched form, all pending
// settlements in as few `settle` messages as the caps allow.
type stream struct {
	grpc   batonv1.WorkerService_SubscribeClient
	cancel context.CancelFunc

	mu    sync.Mutex
	queue []*batonv1.SubscribeRequest
	form  wireForm
	// draining: the worker is stopping and wants no more deliveries.
	draining bool
	closing  bool
	wake     chan struct{}
}

func newStream(grpc batonv1.WorkerService_SubscribeClient, cancel context.CancelFunc) *stream {
	s := &stream{grpc: grpc, cancel: cancel, wake: make(chan struct{}, 1)}
	go s.sendLoop()
	return s
}

// send queues a message: hello, pong, or a single ack, nack or progress (settlement).
func (s *stream) send(message *batonv1.SubscribeRequest) {
	s.mu.Lock()
	s.queueLocked(message)
	s.mu.Unlock()
}

func (s *stream) queueLocked(message *batonv1.SubscribeRequest) {
	if !s.closing {
		s.queue = append(s.queue, message)
		s.notify()
	}
}

// observe learns the broker's wire form from what it sends.
func (s *stream) observe(response *batonv1.SubscribeResponse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch response.GetMessage().(type) {
	case *batonv1.SubscribeResponse_Jobs, *batonv1.SubscribeResponse_SettledBatch_:
		if s.form != formBatched && s.draining {
			s.queueLocked(drainMessage())
		}
		s.form = formBatched
	case *batonv1.SubscribeResponse_Job:
		if s.form == formUnknown {
			s.form = formSingle
		}
	}
}

// drain asks the broker for no more deliveries: the worker is stopping. Only a broker that
// speaks the batched form knows the message (an older one would end the stream over it), so it
// is sent once the broker has shown its form; in the single form a stopping worker simply
// returns no more credit.
func (s *stream) drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.draining && s.form == formBatched {
		s.queueLocked(drainMessage())
	}
	s.draining = true
}

// slotFreed gives the broker room for one more delivery after a job finished. In the batched
// form the broker returns the credit itself when the job's settlement arrives
// (hello.credit_on_settle); a broker speaking the single form needs a credit message.
func (s *stream) slotFreed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.form == formSingle {
		s.queueLocked(credit(1))
	}
}

// closeSend half-closes the stream once everything queued is written; the broker then ends it.
func (s *stream) closeSend() {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.notify()
}

func (s *stream) notify() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *stream) sendLoop() {
	for {
		s.mu.Lock()
		pending, form, closing := s.queue, s.form, s.closing
		s.queue = nil
		s.mu.Unlock()
		if form == formBatched {
			pending = packSettlements(pending)
		}
		for _, message := range pending {
			if err := s.grpc.Send(message); err != nil {
				// The receiving side sees the stream's real error and reconnects.
				s.cancel()
				return
			}
		}
		if len(pending) > 0 {
			continue
		}
		if closing {
			_ = s.grpc.CloseSend()
			return
		}
		select {
		case <-s.wake:
		case <-s.grpc.Context().Done():
			return
		}
	}
}

// hello opens a stream for a worker with these options (their defaults filled in).
func hello(opts WorkerOptions, resume []*batonv1.LeaseRef) *batonv1.SubscribeRequest {
	message := &batonv1.SubscribeRequest_Hello{
		WorkerId: opts.WorkerID, Queues: opts.Queues, Labels: opts.Labels, MaxInFlight: int32(opts.Concurrency), Resume: resume,
		Batch: true, CreditOnSettle: true, LeanJobs: true,
	}
	if opts.ResumeGrace > 0 {
		message.ResumeGrace = durationpb.New(opts.ResumeGrace)
	}
	return &batonv1.SubscribeRequest{Message: &batonv1.SubscribeRequest_Hello_{Hello: message}}
}

func credit(n int32) *batonv1.SubscribeRequest {
	return &batonv1.SubscribeRequest{Message: &batonv1.SubscribeRequest_Credit_{Credit: &batonv1.SubscribeRequest_Credit{N: n}}}
}

func drainMessage() *batonv1.SubscribeRequest {
	return &batonv1.SubscribeRequest{Message: &batonv1.SubscribeRequest_Drain_{Drain: &batonv1.SubscribeRequest_Drain{}}}
}

func pong() *batonv1.SubscribeRequest {
	return &batonv1.SubscribeRequest{Message: &batonv1.SubscribeRequest_Pong_{Pong: &batonv1.SubscribeRequest_Pong{}}}
}

func progress(jobID, leaseToken string, percent int32, message string) *batonv1.SubscribeRequest {
	return &batonv1.SubscribeRequest{Message: &batonv1.SubscribeRequest_Progress_{Progress: &batonv1.SubscribeRequest_Progress{
		JobId: jobID, LeaseToken: leaseToken, Percent: percent, Message: message,
	}}}
}
