// Enqueues one email job and waits for its outcome. Run: npx tsx clients/ts/examples/producer.ts
import { JobState, createClient } from "../src/index.js";
import { emails } from "./emails.js";

const client = createClient({ baseUrl: process.env.BATON_URL ?? "http://localhost:7600" });
const { job } = await emails.enqueue(client, { to: "ada@example.com" });
console.log(JSON.stringify({ event: "enqueued", id: job.id }));

const finished = await client.waitJob(job.id, { signal: AbortSignal.timeout(60_000) });
console.log(
  JSON.stringify({ event: "finished", id: finished.id, state: JobState[finished.state], result: new TextDecoder().decode(finished.result) }),
);
