package baton

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	batonv1 "github.com/baton-dev/baton/clients/go/gen/baton/v1"
)

// Handler runs one job. It returns the job's result, or an error to fail the attempt (retried
// with backoff; see RetryAfter and DeadLetter). ctx is cancelled when the job is cancelled, its
// lease is lost, or the worker's shutdown timeout passes; context.Cause tells which.
type Handler func(ctx context.Context, task *Task) ([]byte, error)

// WorkerOptions configures a Worker. Only Queues is required.
type WorkerOptions struct {
	// Queues to take jobs from.
	Queues []string
	// Concurrency is how many jobs run at once; also the stream's max_in_flight. Default 10.
	Concurrency int
	// WorkerID names the process to operators. Default "<hostname>-<pid>".
	WorkerID string
	// Burst makes Run return once the queues are drained: when nothing is running and no job
	// has been delivered for BurstIdle although the worker had free credit. Jobs that become
	// due later (delayed jobs, retries waiting out their backoff) are left for the next run.
	Burst bool
	// BurstIdle is how long an idle worker waits for a delivery before it calls the queues
	// empty. Default 1 s: the broker delivers an available job within milliseconds of credit.
	BurstIdle time.Duration
	// ResumeGrace is how long the broker keeps this worker's leases when its stream breaks,
	// so that the worker can reconnect and resume its running jobs instead of having them run
	// again elsewhere. It is also how long the jobs of a crashed worker wait before another
	// worker gets them. The broker caps it. Default 0: leases are released at once (a
	// reconnect may still resume those the broker has not released yet).
	ResumeGrace time.Duration
	// ShutdownTimeout is how long running handlers may take to finish once Run's context is
	// done; then their contexts are cancelled and their jobs left to the broker. Default 30 s.
	ShutdownTimeout time.Duration
	// MinBackoff and MaxBackoff bound the jittered reconnect delay. Default 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// OnError receives errors the worker survives: a dropped stream, a refused ack.
	OnError func(error)
}

// Worker runs a Handler for the jobs of some queues over one Subscribe stream.
//
// The broker renews the leases of a live stream itself, so handlers never heartbeat. When the
// stream drops, running handlers keep going while the worker reconnects with backoff and asks
// to resume their leases; the broker's welcome says which it kept, and the handlers of the
// others are cancelled with ErrLeaseLost.
type Worker struct {
	client  *Client
	opts    WorkerOptions
	handler Handler
	// batches gathers jobs for a BatchHandler instead; nil for a Handler of single jobs.
	batches *batcher

	mu       sync.Mutex
	held     map[string]*heldJob
	stream   *stream // the welcomed stream, nil while disconnected
	stopping bool
	// lastActivity is when a job last arrived or settled, for burst mode.
	lastActivity time.Time
	// stopped is closed when graceful stop begins; hardStop when ShutdownTimeout passes.
	stopped  chan struct{}
	hardStop chan struct{}
}

// heldJob is a job the worker holds a lease on: running, or finished and awaiting `settled`.
type heldJob struct {
	job    *Job
	token  string
	cancel context.CancelCauseFunc
	// outcome is the ack or nack, kept until settled so it can be resent after a resume.
	outcome *batonv1.SubscribeRequest
}

// NewWorker prepares a worker; Run starts it.
func (c *Client) NewWorker(opts WorkerOptions, handler Handler) *Worker {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 10
	}
	if opts.WorkerID == "" {
		host, _ := os.Hostname()
		opts.WorkerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if opts.BurstIdle <= 0 {
		opts.BurstIdle = time.Second
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 30 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 100 * time.Millisecond
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Second
	}
	if opts.OnError == nil {
		opts.OnError = func(error) {}
	}
	return &Worker{
		client:   c,
		opts:     opts,
		handler:  handler,
		held:     map[string]*heldJob{},
		stopped:  make(chan struct{}),
		hardStop: make(chan struct{}),
	}
}

// Run processes jobs until ctx is done, then stops gracefully: it takes no new work, lets
// running handlers finish and waits for their outcomes to be committed. In burst mode it also
// returns, with nil, once the queues are drained. It returns an error only if it could not stop
// cleanly: handlers outlived ShutdownTimeout. A Worker runs once.
func (w *Worker) Run(ctx context.Context) error {
	if len(w.opts.Queues) == 0 {
		return errors.New("baton: WorkerOptions.Queues is empty")
	}
	if w.batches != nil {
		if err := w.batches.validate(w.opts.Concurrency); err != nil {
			return err
		}
	}
	stopWatch := context.AfterFunc(ctx, w.beginStop)
	defer stopWatch()
	if w.opts.Burst {
		go w.watchForDrain()
	}
	failures := 0
	for !w.finished() {
		started := time.Now()
		err := w.runStream()
		if w.finished() {
			break
		}
		select {
		case <-w.hardStop:
			return fmt.Errorf("%w: %d jobs were still running", ErrShutdownTimeout, w.heldCount())
		default:
		}
		if err != nil {
			w.opts.OnError(fmt.Errorf("baton: worker stream: %w", err))
		}
		// A stream that lived a while was healthy: start the backoff over.
		if time.Since(started) > 30*time.Second {
			failures = 0
		}
		delay := min(w.opts.MaxBackoff, w.opts.MinBackoff<<min(failures, 20))
		failures++
		// A stop that begins during the wait ends it: with nothing held, Run is done. (A nil
		// channel never fires, so a worker already stopping still backs off.)
		stopped := w.stopped
		if w.isStopping() {
			stopped = nil
		}
		select {
		case <-time.After(delay/2 + rand.N(delay/2+1)):
		case <-stopped:
		case <-w.hardStop:
		}
	}
	return nil
}

// runStream opens one stream and serves it until it ends.
func (w *Worker) runStream() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	grpcStream, err := w.client.Workers.Subscribe(ctx)
	if err != nil {
		return err
	}
	s := newStream(grpcStream, cancel)
	// A hard stop tears the stream down at once; a graceful one half-closes it (closeIfDoneLocked).
	go func() {
		select {
		case <-w.hardStop:
			cancel()
		case <-ctx.Done():
		}
	}()
	s.send(hello(w.opts.WorkerID, w.opts.Queues, int32(w.opts.Concurrency), w.opts.ResumeGrace, w.leases()))
	defer w.disconnect(s)
	for {
		response, err := grpcStream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		s.observe(response)
		w.handle(s, response)
	}
}

func (w *Worker) handle(s *stream, response *batonv1.SubscribeResponse) {
	switch message := response.GetMessage().(type) {
	case *batonv1.SubscribeResponse_Welcome_:
		w.welcome(s, message.Welcome.GetResumed())
	case *batonv1.SubscribeResponse_Jobs:
		for _, delivery := range message.Jobs.GetDeliveries() {
			w.start(delivery)
		}
		// With every slot taken, or the worker stopping, no further job can come to fill a
		// batch: run what is there.
		if w.batches != nil && (w.heldCount() >= w.opts.Concurrency || w.isStopping()) {
			w.batches.releaseAll()
		}
	case *batonv1.SubscribeResponse_Job:
		w.start(message.Job)
	case *batonv1.SubscribeResponse_Cancel_:
		w.cancelJob(message.Cancel.GetJobId())
	case *batonv1.SubscribeResponse_LeaseLost_:
		w.loseLease(message.LeaseLost.GetJobId())
	case *batonv1.SubscribeResponse_SettledBatch_:
		w.settled(message.SettledBatch.GetCommitted(), message.SettledBatch.GetRefused())
	case *batonv1.SubscribeResponse_Settled_:
		if message.Settled.GetOk() {
			w.settled([]string{message.Settled.GetJobId()}, nil)
		} else {
			w.settled(nil, []*batonv1.SubscribeResponse_Settled{message.Settled})
		}
	case *batonv1.SubscribeResponse_Ping_:
		s.send(pong())
	}
}

// welcome adopts the stream. Resumed leases come with fresh tokens; the others are gone. The
// outcomes of resumed jobs that finished while disconnected are sent again.
func (w *Worker) welcome(s *stream, resumed []*batonv1.LeaseRef) {
	tokens := make(map[string]string, len(resumed))
	for _, lease := range resumed {
		tokens[lease.GetJobId()] = lease.GetLeaseToken()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stream = s
	// A worker that reconnects only to settle what it holds takes nothing new.
	if w.stopping {
		s.drain()
	}
	w.lastActivity = time.Now()
	for id, held := range w.held {
		token, ok := tokens[id]
		if !ok {
			w.loseLeaseLocked(id, held)
			continue
		}
		held.token = token
		if held.outcome != nil {
			held.outcome = withLeaseToken(held.outcome, token)
			s.send(held.outcome)
		}
	}
	w.closeIfDoneLocked()
}

func (w *Worker) start(delivery *batonv1.SubscribeResponse_JobDelivery) {
	job := delivery.GetJob()
	// A lean job leaves the lease's end to the delivery.
	if job.LeaseExpireTime == nil {
		job.LeaseExpireTime = delivery.GetLeaseExpireTime()
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	held := &heldJob{job: job, token: delivery.GetLeaseToken(), cancel: cancel}
	w.mu.Lock()
	w.held[job.GetId()] = held
	w.lastActivity = time.Now()
	w.mu.Unlock()
	task := &Task{Job: job, DependsOnResults: delivery.GetDependsOnResults(), worker: w, held: held, ctx: ctx}
	if w.batches != nil {
		w.batches.add(task)
	} else {
		go w.run(task)
	}
}

func (w *Worker) run(task *Task) {
	result, err := w.call(task.ctx, task)
	w.finish(task, result, err)
}

// finish settles the task's job with its outcome, once: it answers false when the job was
// settled already.
func (w *Worker) finish(task *Task, result []byte, err error) bool {
	if !task.markSettled() {
		return false
	}
	held := task.held
	held.cancel(nil)
	w.mu.Lock()
	defer w.mu.Unlock()
	// A job whose lease was lost meanwhile is no longer ours to settle. The token is read under
	// the lock: a resume may have replaced it while the handler ran.
	if w.held[held.job.GetId()] == held {
		if err != nil {
			held.outcome = nackMessage(held.job.GetId(), held.token, err)
		} else {
			held.outcome = ackMessage(held.job.GetId(), held.token, result, task.continuations())
		}
		w.sendLocked(held.outcome)
	}
	// The slot is free again: room for one more delivery, unless the worker is winding down.
	if !w.stopping && w.stream != nil {
		w.stream.slotFreed()
	}
	return true
}

func (w *Worker) call(ctx context.Context, task *Task) (result []byte, err error) {
	defer func() {
		if value := recover(); value != nil {
			err = panicError(value)
		}
	}()
	return w.handler(ctx, task)
}

// cancelJob cancels the context of a held job; its handler decides how the job ends.
func (w *Worker) cancelJob(jobID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if held := w.held[jobID]; held != nil {
		held.cancel(ErrJobCancelled)
	}
}

// loseLease forgets a job whose lease the broker took back.
func (w *Worker) loseLease(jobID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if held := w.held[jobID]; held != nil {
		w.loseLeaseLocked(jobID, held)
		w.closeIfDoneLocked()
	}
}

// loseLeaseLocked forgets a job that is no longer this worker's: its context is cancelled with
// ErrLeaseLost, and if it still waits for its batch, it leaves it, so no handler sees it.
func (w *Worker) loseLeaseLocked(jobID string, held *heldJob) {
	held.cancel(ErrLeaseLost)
	delete(w.held, jobID)
	if w.batches != nil {
		w.batches.remove(jobID)
	}
}

// settled forgets the jobs whose outcome the broker committed or refused; a refused one is the
// broker's again. A refused progress report leaves its running job alone.
func (w *Worker) settled(committed []string, refused []*batonv1.SubscribeResponse_Settled) {
	for _, refusal := range refused {
		w.opts.OnError(fmt.Errorf("baton: job %s not settled: %s", refusal.GetJobId(), refusal.GetError()))
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, jobID := range committed {
		w.forgetSettledLocked(jobID)
	}
	for _, refusal := range refused {
		w.forgetSettledLocked(refusal.GetJobId())
	}
	w.lastActivity = time.Now()
	w.closeIfDoneLocked()
}

func (w *Worker) forgetSettledLocked(jobID string) {
	if held := w.held[jobID]; held != nil && held.outcome != nil {
		delete(w.held, jobID)
	}
}

// disconnect forgets the stream; held jobs wait for the next stream to resume them.
func (w *Worker) disconnect(s *stream) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stream == s {
		w.stream = nil
	}
}

func (w *Worker) sendLocked(message *batonv1.SubscribeRequest) {
	if w.stream != nil {
		w.stream.send(message)
	}
}

func (w *Worker) leases() []*batonv1.LeaseRef {
	w.mu.Lock()
	defer w.mu.Unlock()
	leases := make([]*batonv1.LeaseRef, 0, len(w.held))
	for id, held := range w.held {
		leases = append(leases, &batonv1.LeaseRef{JobId: id, LeaseToken: held.token})
	}
	return leases
}

// beginStop starts a graceful stop; the stream is half-closed once every held job settled.
func (w *Worker) beginStop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopping {
		return
	}
	w.stopping = true
	close(w.stopped)
	if w.stream != nil {
		w.stream.drain()
	}
	// No more deliveries will fill the waiting batches.
	if w.batches != nil {
		w.batches.releaseAll()
	}
	time.AfterFunc(w.opts.ShutdownTimeout, w.forceStop)
	w.closeIfDoneLocked()
}

// forceStop cancels the handlers that outlived the shutdown timeout and drops the stream; the
// broker releases their jobs to other workers.
func (w *Worker) forceStop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.held) == 0 {
		return
	}
	for _, held := range w.held {
		held.cancel(ErrShutdownTimeout)
	}
	close(w.hardStop)
}

func (w *Worker) closeIfDoneLocked() {
	if w.stopping && len(w.held) == 0 && w.stream != nil {
		w.stream.closeSend()
	}
}

func (w *Worker) finished() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopping && len(w.held) == 0
}

func (w *Worker) isStopping() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopping
}

func (w *Worker) heldCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.held)
}

// watchForDrain stops a burst worker once a welcomed stream has stayed idle for BurstIdle.
func (w *Worker) watchForDrain() {
	ticker := time.NewTicker(w.opts.BurstIdle / 4)
	defer ticker.Stop()
	for {
		select {
		case <-w.stopped:
			return
		case <-ticker.C:
			w.mu.Lock()
			drained := w.stream != nil && len(w.held) == 0 && time.Since(w.lastActivity) >= w.opts.BurstIdle
			w.mu.Unlock()
			if drained {
				w.beginStop()
				return
			}
		}
	}
}
