package baton

import (
	"context"
	"sync"

	batonv1 "github.com/baton-dev/baton/clients/go/gen/baton/v1"
)

// Task is a job being run by a handler, with the means to report on it.
type Task struct {
	// Job as delivered (lean): id, queue, payload, headers, priority, attempt (1 on the first
	// run), max_attempts, chain and parent ids, timeout and lease_expire_time (the lease's end
	// at delivery; the broker renews it). The fields that describe the job's history rather than
	// this attempt (state, times, dedup_key, fairness_key, depends_on, progress, errors,
	// last_error) are unset; Client.Get has them.
	Job *Job
	// DependsOnResults are the results of the job's blockers (depends_on, depends_on_index), in
	// the order of the job's depends_on; empty for a job without blockers. An entry with Omitted
	// set carries no result (past the broker's BATON_MAX_DEPENDS_ON_RESULT_BYTES): Client.Get
	// has it. JobType.DecodeDependsOnResult decodes an entry.
	DependsOnResults []*JobResult

	worker  *Worker
	held    *heldJob
	ctx     context.Context
	mu      sync.Mutex
	next    []*batonv1.EnqueueJobRequest
	settled bool
}

// Context is the job's own context, the one a Handler gets: cancelled when the job is
// cancelled, its lease is lost, or the worker's shutdown timeout passes; context.Cause tells
// which. A BatchHandler reads each job's here.
func (t *Task) Context() context.Context {
	return t.ctx
}

// markSettled answers whether this call is the first to settle the task.
func (t *Task) markSettled() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.settled {
		return false
	}
	t.settled = true
	return true
}

// Progress reports how far the job has come; only the latest report is kept. It is dropped
// while the worker is reconnecting.
func (t *Task) Progress(percent int32, message string) {
	t.worker.mu.Lock()
	defer t.worker.mu.Unlock()
	if t.worker.held[t.Job.GetId()] == t.held {
		t.worker.sendLocked(progress(t.Job.GetId(), t.held.token, percent, message))
	}
}

// ContinueWith adds jobs that the broker creates in the same transaction as this job's ack, in
// the same chain, with this job as their parent. They are dropped if the handler fails.
func (t *Task) ContinueWith(specs ...JobSpec) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, spec := range specs {
		// Named explicitly: the broker takes a continuation without chain_id as a new chain.
		if spec.ChainID == "" {
			spec.ChainID = t.Job.GetChainId()
		}
		t.next = append(t.next, spec.Request())
	}
}

func (t *Task) continuations() []*batonv1.EnqueueJobRequest {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next
}
