package baton_test

import (
	"strings"
	"testing"

	batonv1 "github.com/baton-dev/baton/clients/go/gen/baton/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

func TestScheduleControl(t *testing.T) {
	ctx := testContext(t)
	queue := newQueue(t)
	created, err := client.Schedules.CreateSchedule(ctx, &batonv1.CreateScheduleRequest{Schedule: &batonv1.Schedule{
		Name: queue, Queue: queue, Cron: "0 0 1 1 *",
		CatchupWindow: durationpb.New(3600e9), OverlapPolicy: batonv1.OverlapPolicy_OVERLAP_POLICY_SKIP,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetSchedule().GetCatchupWindow().AsDuration().Hours() != 1 {
		t.Fatalf("catchup_window not kept: %v", created.GetSchedule())
	}
	t.Cleanup(func() {
		_, _ = client.Schedules.DeleteSchedule(testContext(t), &batonv1.DeleteScheduleRequest{Name: queue})
	})

	paused, err := client.Schedules.PauseSchedule(ctx, &batonv1.PauseScheduleRequest{Name: queue})
	if err != nil || !paused.GetSchedule().GetPaused() {
		t.Fatalf("pause: %v %v", paused, err)
	}
	triggered, err := client.Schedules.TriggerSchedule(ctx, &batonv1.TriggerScheduleRequest{Name: queue})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(triggered.GetJob().GetDedupKey(), "schedule:"+queue+":trigger:") || triggered.GetJob().GetQueue() != queue {
		t.Fatalf("unexpected triggered job %v", triggered.GetJob())
	}
	// SKIP: the triggered job is unfinished, so a second trigger is refused.
	_, err = client.Schedules.TriggerSchedule(ctx, &batonv1.TriggerScheduleRequest{Name: queue})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("second trigger: want FAILED_PRECONDITION, got %v", err)
	}
	resumed, err := client.Schedules.ResumeSchedule(ctx, &batonv1.ResumeScheduleRequest{Name: queue})
	if err != nil || resumed.GetSchedule().GetPaused() {
		t.Fatalf("resume: %v %v", resumed, err)
	}
	updated, err := client.Schedules.UpdateSchedule(ctx, &batonv1.UpdateScheduleRequest{
		Schedule:   &batonv1.Schedule{Name: queue, Priority: 5},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"priority"}},
	})
	if err != nil || updated.GetSchedule().GetPriority() != 5 || updated.GetSchedule().GetCron() != "0 0 1 1 *" {
		t.Fatalf("update: %v %v", updated, err)
	}
	_, err = client.Schedules.UpdateSchedule(ctx, &batonv1.UpdateScheduleRequest{
		Schedule:   &batonv1.Schedule{Name: queue, CatchupWindow: durationpb.New(1e9)},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"catchup_window"}},
	})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "schedule.catchup_window is 1s") {
		t.Fatalf("a 1 s catch-up window: want INVALID_ARGUMENT, got %v", err)
	}
}
