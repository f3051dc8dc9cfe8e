// A worker for the "emails" queue. Run: go run ./examples/worker [-burst]
//
// With -burst it exits once the queue is drained, as a cron job or CI step would.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/baton-dev/baton/clients/go/baton"
)

// SendEmail is the payload of an "emails" job; the TypeScript example producer sends the same JSON.
type SendEmail struct {
	To string `json:"to"`
}

// Delivery is the result of an "emails" job.
type Delivery struct {
	Delivered bool `json:"delivered"`
}

var emails = baton.JSONJob[SendEmail, Delivery]("emails")

func main() {
	burst := flag.Bool("burst", false, "exit once the queue is drained")
	flag.Parse()
	client, err := baton.New(envOr("BATON_URL", "http://localhost:7600"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	worker := client.NewWorker(baton.WorkerOptions{
		Queues:      []string{emails.Queue},
		Concurrency: 10,
		Burst:       *burst,
		OnError:     func(err error) { log.Print(err) },
	}, emails.Handler(func(ctx context.Context, task *baton.Task, email SendEmail) (Delivery, error) {
		task.Progress(50, "sending to "+email.To)
		emit(map[string]any{"event": "sent", "id": task.Job.GetId(), "to": email.To, "attempt": task.Job.GetAttempt()})
		return Delivery{Delivered: true}, nil
	}))

	// Ctrl-C or SIGTERM: finish the jobs in hand, then stop.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := worker.Run(ctx); err != nil {
		log.Fatal(err)
	}
	emit(map[string]any{"event": "stopped"})
}

func emit(event map[string]any) {
	line, _ := json.Marshal(event)
	fmt.Println(string(line))
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}
