// A worker for the "emails" queue. Run: npx tsx clients/ts/examples/worker.ts [--burst]
// With --burst it exits once the queue is drained, as a cron job or CI step would.
import { runWorker } from "../src/index.js";
import { emails } from "./emails.js";

const worker = runWorker({
  baseUrl: process.env.BATON_URL ?? "http://localhost:7600",
  queues: [emails.queue],
  concurrency: 10,
  burst: process.argv.includes("--burst"),
  handler: emails.handler(({ to }, job, { progress }) => {
    progress(50, `sending to ${to}`);
    console.log(JSON.stringify({ event: "sent", id: job.id, to, attempt: job.attempt }));
    return { delivered: true };
  }),
  onError: (error) => console.error(String(error)),
});

// Ctrl-C: finish the jobs in hand, then stop.
process.once("SIGINT", () => void worker.stop());
process.once("SIGTERM", () => void worker.stop());
await worker.done;
