// Enqueues one email job and waits for its outcome. Run: go run ./examples/producer
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/baton-dev/baton/clients/go/baton"
)

// The job type, declared as in the example worker; a real project shares one package.
type SendEmail struct {
	To string `json:"to"`
}

type Delivery struct {
	Delivered bool `json:"delivered"`
}

var emails = baton.JSONJob[SendEmail, Delivery]("emails")

func main() {
	// A bad address is refused here, before anything is enqueued.
	emails.Validate = func(email SendEmail) error {
		if email.To == "" {
			return fmt.Errorf("to is empty")
		}
		return nil
	}
	client, err := baton.New(envOr("BATON_URL", "http://localhost:7600"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	enqueued, err := emails.Enqueue(ctx, client, SendEmail{To: "grace@example.com"}, baton.JobSpec{MaxAttempts: 5})
	if err != nil {
		log.Fatal(err)
	}
	emit(map[string]any{"event": "enqueued", "id": enqueued.Job.GetId()})

	job, err := client.Wait(ctx, enqueued.Job.GetId())
	if err != nil {
		log.Fatal(err)
	}
	delivery, err := emails.DecodeResult(job)
	if err != nil {
		log.Fatal(err)
	}
	emit(map[string]any{"event": "finished", "id": job.GetId(), "state": job.GetState().String(), "delivered": delivery.Delivered})
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
