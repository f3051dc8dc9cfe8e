// Package baton is the Go client of the Baton job-queue broker: a producer (Client) and a worker
// runner (Worker) on top of the generated gRPC stubs in gen/baton/v1.
package baton

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	batonv1 "github.com/baton-dev/baton/clients/go/gen/baton/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// Job is everything the broker knows about a job.
type Job = batonv1.Job

// JobResult is what a blocker returned, as its dependant's Task.DependsOnResults carries it.
type JobResult = batonv1.JobResult

// Client talks to one broker. It is safe for concurrent use; share one per process.
type Client struct {
	conn *grpc.ClientConn
	// Jobs is the generated JobService client, for RPCs without a helper.
	Jobs batonv1.JobServiceClient
	// Workers is the generated WorkerService client.
	Workers batonv1.WorkerServiceClient
	// Schedules is the generated ScheduleService client: cron schedules, and pausing, resuming,
	// updating and triggering them.
	Schedules batonv1.ScheduleServiceClient
	// Queues is the generated QueueService client: counts, settings, pause and resume, and the
	// history of jobs per minute (GetQueueHistory).
	Queues batonv1.QueueServiceClient
}

// New connects to a broker. address is "host:port", "http://host:port" (plaintext HTTP/2) or
// "https://host:port" (TLS with the system roots). Extra options are appended to the defaults,
// so a later option overrides an earlier one.
//
// The connection sends HTTP/2 keepalive PINGs every 10 s even when idle, so a dead broker or a
// half-open connection is noticed within seconds and a worker reconnects.
func New(address string, options ...grpc.DialOption) (*Client, error) {
	target, creds := parseAddress(address)
	defaults := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                10 * time.Second,
			Timeout:             10 * time.Second,
			PermitWithoutStream: true,
		}),
	}
	conn, err := grpc.NewClient(target, append(defaults, options...)...)
	if err != nil {
		return nil, fmt.Errorf("baton: connect to %q: %w", address, err)
	}
	return &Client{
		conn:      conn,
		Jobs:      batonv1.NewJobServiceClient(conn),
		Workers:   batonv1.NewWorkerServiceClient(conn),
		Schedules: batonv1.NewScheduleServiceClient(conn),
		Queues:    batonv1.NewQueueServiceClient(conn),
	}, nil
}

// WithToken sends an API token (from "baton tokens create") as "authorization: Bearer <token>"
// on every call and stream, as a broker with authentication on (BATON_AUTH) requires. It is
// sent over plaintext connections too ("http://" addresses, e.g. inside a cluster): use
// "https://" wherever the network is not trusted.
func WithToken(token string) grpc.DialOption {
	return grpc.WithPerRPCCredentials(bearerToken(token))
}

type bearerToken string

func (t bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

func (bearerToken) RequireTransportSecurity() bool { return false }

// Close ends the connection; workers using the client must have stopped.
func (c *Client) Close() error {
	return c.conn.Close()
}

func parseAddress(address string) (string, credentials.TransportCredentials) {
	if rest, ok := strings.CutPrefix(address, "https://"); ok {
		return strings.TrimSuffix(rest, "/"), credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	return strings.TrimSuffix(strings.TrimPrefix(address, "http://"), "/"), insecure.NewCredentials()
}
