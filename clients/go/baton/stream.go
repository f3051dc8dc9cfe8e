package baton

import (
	"context"
	"sync"
	"time"

	batonv1 "github.com/baton-dev/baton/clients/go/gen/baton/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// stream is one Subscribe stream. A gRPC stream allows one sender at a time, so messages are
// queued here and written by a single goroutine; queueing never blocks, so a handler reporting
// its outcome never waits on the network or holds the worker's lock while it does.
type stream struct {
	grpc   batonv1.WorkerService_SubscribeClient
	cancel context.CancelFunc

	mu      sync.Mutex
	queue   []*batonv1.SubscribeRequest
	closing bool
	wake    chan struct{}
}

func newStream(grpc batonv1.WorkerService_SubscribeClient, cancel context.CancelFunc) *stream {
	s := &stream{grpc: grpc, cancel: cancel, wake: make(chan struct{}, 1)}
	go s.sendLoop()
	return s
}

func (s *stream) send(message *batonv1.SubscribeRequest) {
	s.mu.Lock()
	if !s.closing {
		s.queue = append(s.queue, message)
	}
	s.mu.Unlock()
	s.notify()
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
		batch, closing := s.queue, s.closing
		s.queue = nil
		s.mu.Unlock()
		for _, message := range batch {
			if err := s.grpc.Send(message); err != nil {
				// The receiving side sees the stream's real error and reconnects.
				s.cancel()
				return
			}
		}
		if len(batch) > 0 {
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

func hello(workerID string, queues []string, maxInFlight int32, resumeGrace time.Duration, resume []*batonv1.LeaseRef) *batonv1.SubscribeRequest {
	message := &batonv1.SubscribeRequest_Hello{WorkerId: workerID, Queues: queues, MaxInFlight: maxInFlight, Resume: resume}
	if resumeGrace > 0 {
		message.ResumeGrace = durationpb.New(resumeGrace)
	}
	return &batonv1.SubscribeRequest{Message: &batonv1.SubscribeRequest_Hello_{Hello: message}}
}

func credit(n int32) *batonv1.SubscribeRequest {
	return &batonv1.SubscribeRequest{Message: &batonv1.SubscribeRequest_Credit_{Credit: &batonv1.SubscribeRequest_Credit{N: n}}}
}

func pong() *batonv1.SubscribeRequest {
	return &batonv1.SubscribeRequest{Message: &batonv1.SubscribeRequest_Pong_{Pong: &batonv1.SubscribeRequest_Pong{}}}
}

func progress(jobID, leaseToken string, percent int32, message string) *batonv1.SubscribeRequest {
	return &batonv1.SubscribeRequest{Message: &batonv1.SubscribeRequest_Progress_{Progress: &batonv1.SubscribeRequest_Progress{
		JobId: jobID, LeaseToken: leaseToken, Percent: percent, Message: message,
	}}}
}
