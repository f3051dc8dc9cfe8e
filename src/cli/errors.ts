import { Code, ConnectError } from "@connectrpc/connect";
import { codeName } from "../api/error-mapping.js";

/** What `baton` exits with; scripts branch on these, so they never change meaning. */
export const ExitCode = {
  ok: 0,
  /** The broker answered with an error, or could not be reached. */
  error: 1,
  /** The command line was wrong; nothing was sent. */
  usage: 2,
  /** `jobs wait` gave up before the job finished. */
  timedOut: 3,
  /** The job, queue or schedule does not exist. */
  notFound: 4,
  /** `jobs wait`: the job finished, but DEAD or CANCELLED rather than SUCCEEDED. */
  jobFailed: 5,
} as const;

export const EXIT_CODES_HELP = `exit codes:
  0  ok
  1  the broker answered with an error (its code and message are printed) or was unreachable
  2  usage error
  3  jobs wait: timed out before the job finished
  4  not found (job, queue or schedule)
  5  jobs wait: the job finished DEAD or CANCELLED`;

/** A mistake on the command line, reported with a pointer to the command's help. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Prints what went wrong on stderr and returns the exit code. Broker errors keep their
 * Connect code so that a script's log says why (`not_found`, `unimplemented`, …).
 */
export function reportError(error: unknown, context: { command: string; url?: string }): number {
  const prefix = `baton ${context.command}`.trimEnd();
  if (error instanceof UsageError) {
    process.stderr.write(`${prefix}: ${error.message}\nRun "${prefix} --help" for usage.\n`);
    return ExitCode.usage;
  }
  if (error instanceof ConnectError) {
    let line = `${prefix}: ${codeName(error.code)}: ${error.rawMessage}`;
    if (error.code === Code.Unavailable && context.url) {
      line += ` (is a broker running at ${context.url}? Set --url or BATON_URL)`;
    } else if (error.code === Code.Unimplemented) {
      line += ` (the broker at ${context.url ?? "this address"} does not support this command yet)`;
    }
    process.stderr.write(`${line}\n`);
    return error.code === Code.NotFound ? ExitCode.notFound : ExitCode.error;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`${prefix}: ${message}\n`);
  return ExitCode.error;
}
