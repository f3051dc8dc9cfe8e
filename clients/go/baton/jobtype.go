package baton

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"
)

// Codec turns a job's payload or result into bytes and back.
type Codec[T any] interface {
	Marshal(value T) ([]byte, error)
	Unmarshal(data []byte) (T, error)
}

// JobType declares a kind of job once, for producers and workers alike: its queue, how its
// payload and result are encoded, and an optional check of the payload.
type JobType[P, R any] struct {
	Queue   string
	Payload Codec[P]
	Result  Codec[R]
	// Validate, if set, rejects a bad payload before it is enqueued, and before a handler sees it.
	Validate func(payload P) error
}

// ProtoJob declares a job type whose payload and result are protobuf messages, e.g.
// ProtoJob[*pb.ResizeImage, *pb.Thumbnail]("thumbnails").
func ProtoJob[P, R proto.Message](queue string) JobType[P, R] {
	return JobType[P, R]{Queue: queue, Payload: protoCodec[P]{}, Result: protoCodec[R]{}}
}

// JSONJob declares a job type whose payload and result are JSON, the encoding the TypeScript
// client uses for objects.
func JSONJob[P, R any](queue string) JobType[P, R] {
	return JobType[P, R]{Queue: queue, Payload: jsonCodec[P]{}, Result: jsonCodec[R]{}}
}

// Spec encodes payload into a job of this type; options supplies everything but Queue and
// Payload. Use it with EnqueueMany and Task.ContinueWith.
func (t JobType[P, R]) Spec(payload P, options JobSpec) (JobSpec, error) {
	if t.Validate != nil {
		if err := t.Validate(payload); err != nil {
			return JobSpec{}, fmt.Errorf("baton: invalid %s payload: %w", t.Queue, err)
		}
	}
	data, err := t.Payload.Marshal(payload)
	if err != nil {
		return JobSpec{}, fmt.Errorf("baton: encode %s payload: %w", t.Queue, err)
	}
	options.Queue, options.Payload = t.Queue, data
	return options, nil
}

// Enqueue validates, encodes and enqueues one job of this type.
func (t JobType[P, R]) Enqueue(ctx context.Context, client *Client, payload P, options JobSpec) (Enqueued, error) {
	spec, err := t.Spec(payload, options)
	if err != nil {
		return Enqueued{}, err
	}
	return client.Enqueue(ctx, spec)
}

// DecodePayload reads a delivered job's payload, checking it with Validate.
func (t JobType[P, R]) DecodePayload(job *Job) (P, error) {
	payload, err := t.Payload.Unmarshal(job.GetPayload())
	if err == nil && t.Validate != nil {
		err = t.Validate(payload)
	}
	if err != nil {
		return payload, fmt.Errorf("baton: bad %s payload in job %s: %w", t.Queue, job.GetId(), err)
	}
	return payload, nil
}

// DecodeResult reads the result of a SUCCEEDED job of this type.
func (t JobType[P, R]) DecodeResult(job *Job) (R, error) {
	return t.Result.Unmarshal(job.GetResult())
}

// DecodeDependsOnResult reads the result of a blocker of this type, as its dependant's
// Task.DependsOnResults carries it. An omitted result is an error: Client.Get has it.
func (t JobType[P, R]) DecodeDependsOnResult(result *JobResult) (R, error) {
	if result.GetOmitted() {
		var zero R
		return zero, fmt.Errorf("baton: the result of job %s was omitted from the delivery (BATON_MAX_DEPENDS_ON_RESULT_BYTES); read it with Client.Get", result.GetJobId())
	}
	return t.Result.Unmarshal(result.GetResult())
}

// Handler adapts a typed function to a Handler. A payload that does not decode or validate
// fails the job for good (DeadLetter): running it again cannot help.
func (t JobType[P, R]) Handler(fn func(ctx context.Context, task *Task, payload P) (R, error)) Handler {
	return func(ctx context.Context, task *Task) ([]byte, error) {
		payload, err := t.DecodePayload(task.Job)
		if err != nil {
			return nil, DeadLetter(err)
		}
		result, err := fn(ctx, task, payload)
		if err != nil {
			return nil, err
		}
		return t.Result.Marshal(result)
	}
}

// Router runs several job types in one worker: it sends each job to the handler of its queue.
type Router map[string]Handler

// Queues lists the router's queues, for WorkerOptions.Queues.
func (r Router) Queues() []string {
	queues := make([]string, 0, len(r))
	for queue := range r {
		queues = append(queues, queue)
	}
	slices.Sort(queues)
	return queues
}

// Handle is the router's Handler.
func (r Router) Handle(ctx context.Context, task *Task) ([]byte, error) {
	handler, ok := r[task.Job.GetQueue()]
	if !ok {
		return nil, DeadLetter(fmt.Errorf("baton: no handler for queue %q", task.Job.GetQueue()))
	}
	return handler(ctx, task)
}

type protoCodec[T proto.Message] struct{}

func (protoCodec[T]) Marshal(value T) ([]byte, error) { return proto.Marshal(value) }

func (protoCodec[T]) Unmarshal(data []byte) (T, error) {
	// The zero value of a generated message type is a typed nil pointer, which still knows
	// how to make a new message of its type.
	var zero T
	message := zero.ProtoReflect().New().Interface().(T)
	return message, proto.Unmarshal(data, message)
}

type jsonCodec[T any] struct{}

func (jsonCodec[T]) Marshal(value T) ([]byte, error) { return json.Marshal(value) }

func (jsonCodec[T]) Unmarshal(data []byte) (T, error) {
	var value T
	return value, json.Unmarshal(data, &value)
}
