package baton

import (
	"context"
	"fmt"
	"time"

	batonv1 "github.com/baton-dev/baton/clients/go/gen/baton/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// JobSpec describes a job to enqueue. Zero fields take the broker's defaults.
type JobSpec struct {
	Queue   string
	Payload []byte
	Headers map[string]string
	// Priority: lower runs first.
	Priority int32
	// RunAt: run no earlier than this time. Give at most one of RunAt and Delay.
	RunAt time.Time
	// Delay: run no earlier than this long from now, by the database's clock.
	Delay time.Duration
	// MaxAttempts before the job is DEAD; 0 takes the queue's default.
	MaxAttempts int32
	// DedupKey: while an unfinished job has this key on the queue, enqueueing returns it instead.
	DedupKey string
	// DedupPolicy, with DedupKey: what this enqueue does to the job that holds the key while it
	// waits. DedupKeep (the zero value) leaves it, DedupReplace gives it this payload and run
	// time, DedupDebounce only this run time. A running or finished job is never changed.
	DedupPolicy DedupPolicy
	// DependsOn: ids of jobs that must succeed before this one runs.
	DependsOn []string
	// DependsOnIndex (EnqueueMany only): positions, in the same call, of earlier jobs that must
	// succeed before this one runs; its handler gets their results (Task.DependsOnResults). A
	// whole DAG goes in one call, atomically; without ChainID a job joins the chain of the job
	// its first position names.
	DependsOnIndex []int32
	// ChainID: the chain to join; empty starts a new chain rooted at this job.
	ChainID string
	// Timeout: the longest one attempt may run before the broker revokes its lease.
	Timeout time.Duration
	// FairnessKey groups jobs (e.g. per tenant) for the queue's per-key concurrency limit.
	FairnessKey string
}

// DedupPolicy is JobSpec.DedupPolicy.
type DedupPolicy = batonv1.DedupPolicy

// The dedup policies (see JobSpec.DedupPolicy and docs/JOBS.md).
const (
	DedupKeep     = batonv1.DedupPolicy_DEDUP_POLICY_UNSPECIFIED
	DedupReplace  = batonv1.DedupPolicy_DEDUP_POLICY_REPLACE
	DedupDebounce = batonv1.DedupPolicy_DEDUP_POLICY_DEBOUNCE
)

// Request maps the spec onto the wire message.
func (s JobSpec) Request() *batonv1.EnqueueJobRequest {
	request := &batonv1.EnqueueJobRequest{
		Queue:       s.Queue,
		Payload:     s.Payload,
		Headers:     s.Headers,
		Priority:    s.Priority,
		MaxAttempts: s.MaxAttempts,
		DedupKey:    s.DedupKey,
		DedupPolicy: s.DedupPolicy,
		DependsOn:   s.DependsOn,
		ChainId:     s.ChainID,
		FairnessKey: s.FairnessKey,
	}
	request.DependsOnIndex = s.DependsOnIndex
	switch {
	case !s.RunAt.IsZero():
		request.Start = &batonv1.EnqueueJobRequest_RunTime{RunTime: timestamppb.New(s.RunAt)}
	case s.Delay > 0:
		request.Start = &batonv1.EnqueueJobRequest_Delay{Delay: durationpb.New(s.Delay)}
	}
	if s.Timeout > 0 {
		request.Timeout = durationpb.New(s.Timeout)
	}
	return request
}

// Enqueued is the job that now represents an enqueue request.
type Enqueued struct {
	Job *Job
	// Deduplicated is true when an unfinished job with the same DedupKey was returned instead.
	Deduplicated bool
}

// Enqueue creates one job.
func (c *Client) Enqueue(ctx context.Context, spec JobSpec) (Enqueued, error) {
	response, err := c.Jobs.EnqueueJob(ctx, spec.Request())
	if err != nil {
		return Enqueued{}, err
	}
	return Enqueued{Job: response.GetJob(), Deduplicated: response.GetDeduplicated()}, nil
}

// EnqueueMany creates all the jobs in one transaction, or none of them.
func (c *Client) EnqueueMany(ctx context.Context, specs []JobSpec) ([]Enqueued, error) {
	response, err := c.Jobs.EnqueueJobs(ctx, &batonv1.EnqueueJobsRequest{Jobs: requestsOf(specs)})
	if err != nil {
		return nil, err
	}
	results := make([]Enqueued, len(response.GetJobs()))
	for i, job := range response.GetJobs() {
		results[i] = Enqueued{Job: job, Deduplicated: i < len(response.GetDeduplicated()) && response.GetDeduplicated()[i]}
	}
	return results, nil
}

// EnqueuedID is what EnqueueManyIDs answers for each job.
type EnqueuedID struct {
	ID string
	// Deduplicated is true when an existing job with the same DedupKey was found; ID is its id.
	Deduplicated bool
}

// EnqueueManyIDs is EnqueueMany answering only each job's id (EnqueueJobs with view
// JOB_VIEW_ID): the fast path for bulk loads, where building and decoding a full Job per entry
// is most of the call.
func (c *Client) EnqueueManyIDs(ctx context.Context, specs []JobSpec) ([]EnqueuedID, error) {
	response, err := c.Jobs.EnqueueJobs(ctx, &batonv1.EnqueueJobsRequest{Jobs: requestsOf(specs), View: batonv1.JobView_JOB_VIEW_ID})
	if err != nil {
		return nil, err
	}
	results := make([]EnqueuedID, len(response.GetJobIds()))
	for i, id := range response.GetJobIds() {
		results[i] = EnqueuedID{ID: id, Deduplicated: i < len(response.GetDeduplicated()) && response.GetDeduplicated()[i]}
	}
	return results, nil
}

func requestsOf(specs []JobSpec) []*batonv1.EnqueueJobRequest {
	requests := make([]*batonv1.EnqueueJobRequest, len(specs))
	for i, spec := range specs {
		requests[i] = spec.Request()
	}
	return requests
}

// Get returns a job by id.
func (c *Client) Get(ctx context.Context, id string) (*Job, error) {
	response, err := c.Jobs.GetJob(ctx, &batonv1.GetJobRequest{Id: id})
	if err != nil {
		return nil, err
	}
	return response.GetJob(), nil
}

// Finished reports whether a job is in an end state: SUCCEEDED, DEAD or CANCELLED.
func Finished(job *Job) bool {
	switch job.GetState() {
	case batonv1.JobState_JOB_STATE_SUCCEEDED, batonv1.JobState_JOB_STATE_DEAD, batonv1.JobState_JOB_STATE_CANCELLED:
		return true
	default:
		return false
	}
}

// waitSlice bounds one WaitJob call, so a broker that drops a long request costs little.
const waitSlice = 30 * time.Second

// Wait returns the job once it is finished (see Finished), or ctx's error.
//
// It long-polls the WaitJob RPC. A broker that answers UNIMPLEMENTED (WaitJob is not served by
// every version) is polled with GetJob instead, every 50 ms growing to 1 s.
func (c *Client) Wait(ctx context.Context, id string) (*Job, error) {
	for {
		response, err := c.Jobs.WaitJob(ctx, &batonv1.WaitJobRequest{Id: id, Timeout: durationpb.New(waitSlice)})
		if status.Code(err) == codes.Unimplemented {
			return c.pollUntilFinished(ctx, id)
		}
		if err != nil {
			return nil, err
		}
		if Finished(response.GetJob()) {
			return response.GetJob(), nil
		}
	}
}

// WaitChain returns every job of the chain of job id once all of them are finished (a DAG
// enqueued in one EnqueueMany is one chain), newest first, or ctx's error. It long-polls
// WaitJob with chain set and pages through the rest of a long chain with ListJobs.
func (c *Client) WaitChain(ctx context.Context, id string) ([]*Job, error) {
	for {
		response, err := c.Jobs.WaitJob(ctx, &batonv1.WaitJobRequest{Id: id, Chain: true, Timeout: durationpb.New(waitSlice)})
		if err != nil {
			return nil, err
		}
		if response.GetTimedOut() {
			continue
		}
		jobs := response.GetChainJobs()
		filter := &batonv1.JobFilter{ChainId: response.GetJob().GetChainId()}
		for token := response.GetChainNextPageToken(); token != ""; {
			page, err := c.Jobs.ListJobs(ctx, &batonv1.ListJobsRequest{Filter: filter, PageSize: 1000, PageToken: token})
			if err != nil {
				return nil, err
			}
			jobs = append(jobs, page.GetJobs()...)
			token = page.GetNextPageToken()
		}
		return jobs, nil
	}
}

func (c *Client) pollUntilFinished(ctx context.Context, id string) (*Job, error) {
	delay := 50 * time.Millisecond
	for {
		job, err := c.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if Finished(job) {
			return job, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("baton: waiting for job %s: %w", id, context.Cause(ctx))
		case <-time.After(delay):
		}
		delay = min(time.Second, delay*3/2)
	}
}
