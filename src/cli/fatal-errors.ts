import type { Logger } from "../util/log.js";
import { ExitCode } from "./errors.js";

/**
 * What `baton serve` does with an error nothing caught (an unhandled promise rejection, an
 * uncaught exception): Node would print it as plain text and die mid-flight. Instead it is
 * logged as a JSON line, with its stack and cause, and `stop` is called once, to shut down as
 * on SIGTERM and exit with a failure. The shutdown gets `hardExitAfterMs`: the error may have
 * broken what it waits for, and a process that cannot stop must still exit.
 */
export function stopOnFatalErrors(log: Logger, stop: () => void, hardExitAfterMs: number): void {
  let stopping = false;
  const handle = (what: string) => (error: unknown) => {
    log.error(`${what}; stopping`, { error });
    if (stopping) return;
    stopping = true;
    setTimeout(() => {
      log.error("shutdown after the fatal error did not finish in time; exiting", { waitedMs: hardExitAfterMs });
      process.exit(ExitCode.error);
    }, hardExitAfterMs).unref();
    stop();
  };
  process.on("unhandledRejection", handle("unhandled promise rejection"));
  process.on("uncaughtException", handle("uncaught exception"));
}
