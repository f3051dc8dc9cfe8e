import { execFileSync } from "node:child_process";
import { expect, test } from "vitest";
import { startTestBroker } from "./helpers/broker.js";

test("curl example", async () => {
  const b = await startTestBroker();
  const curl = (path: string, body: string) =>
    execFileSync("curl", ["-s", "-H", "content-type: application/json", "-d", body, `${b.baseUrl}/baton.v1.ScheduleService/${path}`], { encoding: "utf8" });
  console.log(curl("CreateSchedule", '{"schedule":{"name":"nightly-report","queue":"reports","cron":"30 2 * * *","timeZone":"Europe/Paris","payload":"eyJkYXlzIjoxfQ=="}}'));
  console.log(curl("ListSchedules", "{}"));
  console.log(curl("CreateSchedule", '{"schedule":{"name":"x","queue":"reports","cron":"30 2 * *"}}'));
  console.log(curl("DeleteSchedule", '{"name":"nightly-report"}'));
  console.log(curl("DeleteSchedule", '{"name":"nightly-report"}'));
  await b.stop();
  expect(1).toBe(1);
});
