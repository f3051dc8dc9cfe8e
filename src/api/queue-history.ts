import { create } from "@bufbuild/protobuf";
import { type Duration, durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type GetQueueHistoryRequest,
  type GetQueueHistoryResponse,
  GetQueueHistoryResponseSchema,
  QueueHistoryPointSchema,
} from "../../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { invalidArgument } from "../errors.js";
import type { Queryable } from "../store/database.js";
import { queueHistorySeries } from "../store/queue-history.js";
import { durationSeconds, validateQueueName } from "./validate.js";

/** The window of a request that names none. */
const DEFAULT_WINDOW_SECONDS = 3600;
/** Longest window: the history is kept 7 days by default, and a longer retention is unusual. */
const MAX_WINDOW_SECONDS = 31 * 24 * 3600;
/** Points of a default step. */
const DEFAULT_POINTS = 60;
/** Most points of one answer: a day of minutes. */
const MAX_POINTS = 1440;

/** The series a GetQueueHistory request asks for: steps of whole minutes covering its window. */
export function historyRange(request: GetQueueHistoryRequest): { queue?: string; stepSeconds: number; points: number } {
  const queue = request.queue === "" ? undefined : validateQueueName(request.queue);
  const window = seconds(request.window, "window") ?? DEFAULT_WINDOW_SECONDS;
  if (window > MAX_WINDOW_SECONDS) throw invalidArgument(`window must be at most ${MAX_WINDOW_SECONDS / 86400} days, got ${window}s`);
  const asked = seconds(request.step, "step");
  if (asked !== undefined && asked % 60 !== 0) throw invalidArgument(`step must be a whole number of minutes (60s, 300s, …), got ${asked}s`);
  const stepSeconds = asked ?? 60 * Math.ceil(window / 60 / DEFAULT_POINTS);
  const points = Math.ceil(window / stepSeconds);
  if (points > MAX_POINTS) {
    throw invalidArgument(`window / step gives ${points} points, at most ${MAX_POINTS}: ask for a longer step or a shorter window`);
  }
  return { queue, stepSeconds, points };
}

/** A duration field in seconds; undefined when unset or zero, which mean the default. */
function seconds(duration: Duration | undefined, field: string): number | undefined {
  if (!duration) return undefined;
  const value = durationSeconds(duration, field);
  if (value < 0) throw invalidArgument(`${field} must not be negative`);
  return value === 0 ? undefined : value;
}

export async function getQueueHistory(db: Queryable, request: GetQueueHistoryRequest): Promise<GetQueueHistoryResponse> {
  const range = historyRange(request);
  const points = await queueHistorySeries(db, range);
  return create(GetQueueHistoryResponseSchema, {
    step: durationFromMs(range.stepSeconds * 1000),
    points: points.map((p) =>
      create(QueueHistoryPointSchema, {
        startTime: timestampFromDate(p.startTime),
        enqueued: BigInt(p.enqueued),
        succeeded: BigInt(p.succeeded),
        retried: BigInt(p.retried),
        dead: BigInt(p.dead),
        cancelled: BigInt(p.cancelled),
      }),
    ),
  });
}
