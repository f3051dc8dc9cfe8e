import { ListWorkersResponseSchema, type Worker } from "../../../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import { type Command, TABLE_OUTPUTS } from "../args.js";
import { connect } from "../client.js";
import { ExitCode } from "../errors.js";
import { fullTime, mapText, relativeTime, table } from "../output.js";

/** `wide` shows the times in full. */
function workerTable(workers: Worker[], { wide = false, now = Date.now() } = {}): string {
  const time = (ts: Worker["connectTime"]) => (wide ? fullTime(ts, now) : relativeTime(ts, now));
  return table(
    ["WORKER", "SESSION", "QUEUES", "LABELS", { header: "IN FLIGHT", align: "right" }, "CONNECTED", "LAST SEEN", "REPLICA"],
    workers.map((w) => [
      w.workerId,
      w.sessionId,
      w.queues.join(","),
      mapText(w.labels).replace(/\n/g, ","),
      `${w.inFlight}/${w.maxInFlight}`,
      time(w.connectTime),
      time(w.lastSeenTime),
      w.replica,
    ]),
  );
}

const list: Command = {
  name: "workers list",
  aliases: ["ls"],
  summary: "List the worker streams open on every broker replica.",
  notes: "-o wide shows when each stream connected and was last heard from in full.",
  flags: {
    queue: { type: "string", value: "<queue>", description: "only workers subscribed to this queue" },
  },
  outputs: TABLE_OUTPUTS,
  examples: ["baton workers list --queue emails", "baton workers ls -o wide"],
  async run({ flags, url, document, wide, out }) {
    const response = await connect(url).workers.listWorkers({ queue: flags.string("queue") ?? "" });
    if (document) out.message(document, ListWorkersResponseSchema, response);
    else if (response.workers.length === 0) out.note("no workers connected");
    else out.print(workerTable(response.workers, { wide }));
    return ExitCode.ok;
  },
};

export const workerCommands: Command[] = [list];
