// Enqueues one email job and waits for its outcome. Run: npx tsx clients/ts/examples/producer.ts
import { JobState, createClient } from "../src/index.js";

const client = createClient({ baseUrl: process.env.BATON_URL ?? "http://localhost:7600" });
const { job } = await client.enqueue("emails", { to: "ada@example.com" }, { maxAttempts: 5 });
console.log(JSON.stringify({ event: "enqueued", id: job.id }));

let current = job;
while (current.state !== JobState.SUCCEEDED && current.state !== JobState.DEAD) {
  await new Promise((resolve) => setTimeout(resolve, 100));
  current = await client.getJob(job.id);
}
console.log(
  JSON.stringify({ event: "finished", id: current.id, state: JobState[current.state], result: new TextDecoder().decode(current.result) }),
);
