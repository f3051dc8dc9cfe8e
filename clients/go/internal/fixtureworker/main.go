// A worker process for tests that need one to kill or to chain with other languages.
//
// It takes jobs from QUEUE and prints JSON lines: {"event":"started"} when a job starts and
// {"event":"done"} after its ack is sent. HOLD_MS keeps each job running that long first. The
// result is the payload with "|go" appended, so a chain's result shows who ran each step; a
// dependant's payload first takes "<" and its blockers' results joined with "+".
// BATON_TOKEN, when set, is the API token it connects with.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/baton-dev/baton/clients/go/baton"
	"google.golang.org/grpc"
)

func main() {
	var options []grpc.DialOption
	if token := os.Getenv("BATON_TOKEN"); token != "" {
		options = append(options, baton.WithToken(token))
	}
	client, err := baton.New(os.Getenv("BATON_URL"), options...)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	hold, _ := strconv.Atoi(os.Getenv("HOLD_MS"))
	worker := client.NewWorker(baton.WorkerOptions{
		Queues:  []string{os.Getenv("QUEUE")},
		OnError: func(err error) { emit("error", map[string]any{"error": err.Error()}) },
	}, func(ctx context.Context, task *baton.Task) ([]byte, error) {
		job := task.Job
		emit("started", map[string]any{"id": job.GetId(), "attempt": job.GetAttempt(), "chainId": job.GetChainId(), "parentId": job.GetParentId()})
		select {
		case <-time.After(time.Duration(hold) * time.Millisecond):
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		emit("done", map[string]any{"id": job.GetId()})
		result := append([]byte{}, job.GetPayload()...)
		separator := "<"
		for _, blocker := range task.DependsOnResults {
			result = append(append(result, separator...), blocker.GetResult()...)
			separator = "+"
		}
		return append(result, "|go"...), nil
	})
	emit("ready", nil)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := worker.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

func emit(event string, fields map[string]any) {
	line := map[string]any{"event": event}
	for key, value := range fields {
		line[key] = value
	}
	data, _ := json.Marshal(line)
	fmt.Println(string(data))
}
