import { Code, ConnectError } from "@connectrpc/connect";
import { expect, test } from "vitest";
import { toConnectError } from "../src/api/error-mapping.js";
import { BatonError } from "../src/errors.js";
import type { Logger } from "../src/util/log.js";

/** A logger that keeps its lines, to see what an error mapping logs and at which level. */
function recordingLogger(): Logger & { lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (message: string) => void lines.push({ level, message });
  const logger = { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error"), debugEnabled: true, child: () => logger };
  return logger;
}

test("a client that went away mid-request is CANCELED and no error of the broker's", () => {
  const log = recordingLogger();
  const closed = Object.assign(new Error("Premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" });
  const mapped = toConnectError(closed, log);
  expect([Code[mapped.code], mapped.rawMessage]).toEqual(["Canceled", "the client closed the request"]);
  expect(log.lines).toEqual([{ level: "debug", message: "client closed the request" }]);
});

test("a bug is INTERNAL with a generic message, and logged as an error; a domain error keeps its words", () => {
  const log = recordingLogger();
  const bug = toConnectError(new Error('relation "baton.jbos" does not exist'), log);
  expect([Code[bug.code], bug.rawMessage]).toEqual(["Internal", "internal error"]);
  expect(log.lines).toEqual([{ level: "error", message: "request failed" }]);
  const domain = toConnectError(new BatonError("not_found", "job 7 not found"), log);
  expect(domain).toBeInstanceOf(ConnectError);
  expect([Code[domain.code], domain.rawMessage]).toEqual(["NotFound", "job 7 not found"]);
});
