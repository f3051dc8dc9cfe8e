import { ListWorkersResponseSchema, type Worker } from "../../../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import type { Command } from "../args.js";
import { connect } from "../client.js";
import { ExitCode } from "../errors.js";
import { relativeTime, table } from "../output.js";

function workerTable(workers: Worker[], now = Date.now()): string {
  return table(
    ["WORKER", "SESSION", "QUEUES", { header: "IN FLIGHT", align: "right" }, "CONNECTED", "LAST SEEN", "REPLICA"],
    workers.map((w) => [
      w.workerId,
      w.sessionId,
      w.queues.join(","),
      `${w.inFlight}/${w.maxInFlight}`,
      relativeTime(w.connectTime, now),
      relativeTime(w.lastSeenTime, now),
      w.replica,
    ]),
  );
}

const list: Command = {
  name: "workers list",
  summary: "List the worker streams open on every broker replica.",
  flags: {
    queue: { type: "string", value: "<queue>", description: "only workers subscribed to this queue" },
  },
  examples: ["baton workers list --queue emails"],
  async run({ flags, url, json, out }) {
    const response = await connect(url).workers.listWorkers({ queue: flags.string("queue") ?? "" });
    if (json) out.json(ListWorkersResponseSchema, response);
    else if (response.workers.length === 0) out.note("no workers connected");
    else out.print(workerTable(response.workers));
    return ExitCode.ok;
  },
};

export const workerCommands: Command[] = [list];
