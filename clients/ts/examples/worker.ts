// A worker for the "emails" queue. Run: npx tsx clients/ts/examples/worker.ts
import { runWorker } from "../src/index.js";

const worker = runWorker({
  baseUrl: process.env.BATON_URL ?? "http://localhost:7600",
  queues: ["emails"],
  concurrency: 10,
  async handler(job, { progress }) {
    const { to } = JSON.parse(new TextDecoder().decode(job.payload)) as { to: string };
    progress(50, `sending to ${to}`);
    console.log(JSON.stringify({ event: "sent", id: job.id, to, attempt: job.attempt }));
    return { delivered: true };
  },
  onError: (error) => console.error(String(error)),
});

// Ctrl-C: finish the jobs in hand, then stop.
process.once("SIGINT", () => void worker.stop());
process.once("SIGTERM", () => void worker.stop());
await worker.done;
