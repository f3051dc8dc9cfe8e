import { expect, test } from "vitest";
import { useTestBroker } from "./helpers/broker.js";
import { spawnTs } from "./helpers/process.js";

/** The README's walkthrough runs these two programs; they must keep working. */
const shared = useTestBroker();

test("the example producer's job is processed by the example worker", async () => {
  const worker = spawnTs("clients/ts/examples/worker.ts", { BATON_URL: shared.broker.baseUrl });
  const producer = spawnTs("clients/ts/examples/producer.ts", { BATON_URL: shared.broker.baseUrl });
  shared.processes.push(worker, producer);
  const { id } = await producer.waitFor((e) => e.event === "enqueued");
  expect(await worker.waitFor((e) => e.event === "sent")).toMatchObject({ id, to: "ada@example.com", attempt: 1 });
  expect(await producer.waitFor((e) => e.event === "finished")).toMatchObject({
    id,
    state: "SUCCEEDED",
    result: '{"delivered":true}',
  });
  expect(await producer.exited).toBe(0);
  worker.kill("SIGTERM");
  expect(await worker.exited).toBe(0);
});
