package baton

import (
	"errors"
	"fmt"
	"time"

	batonv1 "github.com/baton-dev/baton/clients/go/gen/baton/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Causes of a handler's context being cancelled; read them with context.Cause.
var (
	// ErrJobCancelled: CancelJob was called for the running job.
	ErrJobCancelled = errors.New("baton: job cancelled")
	// ErrLeaseLost: the broker took the job back (its stream dropped, or the lease expired);
	// whatever the handler returns now is discarded.
	ErrLeaseLost = errors.New("baton: lease lost")
	// ErrShutdownTimeout: the worker was stopped and the job outlived WorkerOptions.ShutdownTimeout.
	ErrShutdownTimeout = errors.New("baton: shutdown timeout")
)

// nackError carries how a failed attempt should be retried.
type nackError struct {
	err        error
	retryDelay time.Duration
	deadLetter bool
}

func (e *nackError) Error() string { return e.err.Error() }
func (e *nackError) Unwrap() error { return e.err }

// RetryAfter fails the attempt and asks for the next one no sooner than delay, instead of the
// queue's exponential backoff.
func RetryAfter(err error, delay time.Duration) error {
	return &nackError{err: err, retryDelay: delay}
}

// DeadLetter fails the job for good: no further attempts, it becomes DEAD now.
func DeadLetter(err error) error {
	return &nackError{err: err, deadLetter: true}
}

func ackMessage(jobID, leaseToken string, result []byte, next []*batonv1.EnqueueJobRequest) *batonv1.SubscribeRequest {
	return &batonv1.SubscribeRequest{Message: &batonv1.SubscribeRequest_Ack_{Ack: &batonv1.SubscribeRequest_Ack{
		JobId: jobID, LeaseToken: leaseToken, Result: result, ContinueWith: next,
	}}}
}

func nackMessage(jobID, leaseToken string, err error) *batonv1.SubscribeRequest {
	nack := &batonv1.SubscribeRequest_Nack{JobId: jobID, LeaseToken: leaseToken, Error: err.Error()}
	var control *nackError
	if errors.As(err, &control) {
		nack.DeadLetter = control.deadLetter
		if control.retryDelay > 0 {
			nack.RetryDelay = durationpb.New(control.retryDelay)
		}
	}
	return &batonv1.SubscribeRequest{Message: &batonv1.SubscribeRequest_Nack_{Nack: nack}}
}

// withLeaseToken is a kept ack or nack pointed at the fresh token a resume handed out. It is a
// copy: the stream that carried the original may still be encoding it.
func withLeaseToken(outcome *batonv1.SubscribeRequest, token string) *batonv1.SubscribeRequest {
	resent := proto.Clone(outcome).(*batonv1.SubscribeRequest)
	switch message := resent.GetMessage().(type) {
	case *batonv1.SubscribeRequest_Ack_:
		message.Ack.LeaseToken = token
	case *batonv1.SubscribeRequest_Nack_:
		message.Nack.LeaseToken = token
	}
	return resent
}

// panicError turns a handler's panic into a failed attempt rather than a dead worker process.
func panicError(value any) error {
	return fmt.Errorf("baton: handler panicked: %v", value)
}
