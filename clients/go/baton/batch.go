package baton

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// BatchHandler runs up to BatchOptions.MaxJobs jobs of one queue at once. It may settle each
// job on its own with Batch.Ack or Batch.Fail; when it returns nil, the jobs it left unsettled
// are acked with no result, and when it returns an error (or panics), they all fail with it.
// ctx is cancelled once the worker's shutdown timeout passes; each task's own Context is also
// cancelled when its job is cancelled or its lease is lost.
type BatchHandler func(ctx context.Context, batch *Batch) error

// BatchOptions shapes the batches of a worker made by NewBatchWorker.
type BatchOptions struct {
	// MaxJobs is the most jobs per call: from 1 to the worker's Concurrency.
	MaxJobs int
	// MaxWait is the longest a delivered job waits for others to fill its batch. Default 20 ms.
	MaxWait time.Duration
}

// Batch is the jobs of one call of a BatchHandler, all of one queue.
type Batch struct {
	// Tasks are the batch's jobs, each with its own Progress, ContinueWith and Context.
	Tasks  []*Task
	worker *Worker
}

// Ack settles the task's job now with its own result; its slot frees once the broker commits it.
func (b *Batch) Ack(task *Task, result []byte) error {
	if !b.worker.finish(task, result, nil) {
		return fmt.Errorf("baton: job %s is settled already", task.Job.GetId())
	}
	return nil
}

// Fail fails the task's attempt now with its own error; RetryAfter and DeadLetter steer it as
// from a Handler.
func (b *Batch) Fail(task *Task, err error) error {
	if !b.worker.finish(task, nil, err) {
		return fmt.Errorf("baton: job %s is settled already", task.Job.GetId())
	}
	return nil
}

// NewBatchWorker prepares a worker whose handler takes the jobs of one queue several at a time;
// Run starts it, and refuses BatchOptions it cannot honour.
func (c *Client) NewBatchWorker(opts WorkerOptions, batch BatchOptions, handler BatchHandler) *Worker {
	w := c.NewWorker(opts, nil)
	if batch.MaxWait == 0 {
		batch.MaxWait = 20 * time.Millisecond
	}
	w.batches = &batcher{options: batch, dispatch: func(tasks []*Task) { go w.runBatch(handler, tasks) }, waiting: map[string]*waitingBatch{}}
	return w
}

func (b *batcher) validate(concurrency int) error {
	if b.options.MaxJobs < 1 || b.options.MaxJobs > concurrency {
		return fmt.Errorf("baton: BatchOptions.MaxJobs must be from 1 to the worker's Concurrency (%d), got %d", concurrency, b.options.MaxJobs)
	}
	if b.options.MaxWait < 0 {
		return fmt.Errorf("baton: BatchOptions.MaxWait must not be negative, got %v", b.options.MaxWait)
	}
	return nil
}

// runBatch calls the handler once and settles what it left unsettled by how it ended.
func (w *Worker) runBatch(handler BatchHandler, tasks []*Task) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.hardStop:
			cancel()
		case <-ctx.Done():
		}
	}()
	batch := &Batch{Tasks: tasks, worker: w}
	err := callBatch(ctx, handler, batch)
	for _, task := range tasks {
		w.finish(task, nil, err)
	}
}

func callBatch(ctx context.Context, handler BatchHandler, batch *Batch) (err error) {
	defer func() {
		if value := recover(); value != nil {
			err = panicError(value)
		}
	}()
	return handler(ctx, batch)
}

// batcher gathers delivered jobs into batches of one queue: a batch leaves once it has MaxJobs
// jobs, or MaxWait after its first job arrived, whichever comes first.
type batcher struct {
	options  BatchOptions
	dispatch func([]*Task)
	mu       sync.Mutex
	waiting  map[string]*waitingBatch
}

type waitingBatch struct {
	tasks []*Task
	timer *time.Timer
}

func (b *batcher) add(task *Task) {
	queue := task.Job.GetQueue()
	b.mu.Lock()
	defer b.mu.Unlock()
	group := b.waiting[queue]
	if group == nil {
		group = &waitingBatch{}
		b.waiting[queue] = group
	}
	group.tasks = append(group.tasks, task)
	if len(group.tasks) >= b.options.MaxJobs {
		b.releaseLocked(queue, group)
	} else if group.timer == nil {
		group.timer = time.AfterFunc(b.options.MaxWait, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.releaseLocked(queue, group)
		})
	}
}

// remove takes a job out of its waiting batch: its lease was lost, so no handler may see it.
func (b *batcher) remove(jobID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for queue, group := range b.waiting {
		i := slices.IndexFunc(group.tasks, func(task *Task) bool { return task.Job.GetId() == jobID })
		if i < 0 {
			continue
		}
		group.tasks = slices.Delete(group.tasks, i, i+1)
		if len(group.tasks) == 0 {
			delete(b.waiting, queue)
			if group.timer != nil {
				group.timer.Stop()
			}
		}
		return
	}
}

// releaseAll sends every waiting batch now: used when no further job can arrive to fill them.
func (b *batcher) releaseAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for queue, group := range b.waiting {
		b.releaseLocked(queue, group)
	}
}

// releaseLocked sends the group unless it has left already (a timer that lost the race to MaxJobs).
func (b *batcher) releaseLocked(queue string, group *waitingBatch) {
	if b.waiting[queue] != group {
		return
	}
	delete(b.waiting, queue)
	if group.timer != nil {
		group.timer.Stop()
	}
	b.dispatch(group.tasks)
}
