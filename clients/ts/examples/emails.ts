// The "emails" job type, declared once for the example worker and producer.
import { z } from "zod";
import { defineJob } from "../src/index.js";

export const emails = defineJob({
  queue: "emails",
  // A bad address is refused by enqueue, before anything reaches the broker.
  payload: z.object({ to: z.email() }),
  result: z.object({ delivered: z.boolean() }),
  defaults: { maxAttempts: 5 },
});
