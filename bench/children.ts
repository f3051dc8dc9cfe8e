import { type ChildProcess, type StdioOptions, fork } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The repository root: children run with it as working directory, so `--import tsx` resolves. */
export const repoRoot = fileURLToPath(new URL("..", import.meta.url));

const children = new Set<ChildProcess>();

/**
 * Starts a JavaScript file in its own Node process, with an IPC channel (a child notices its
 * parent's death through it: 'disconnect'). Every child is remembered so that `killChildren` can
 * end them all when the bench exits, however it exits.
 */
export function forkNode(
  file: string,
  { args = [], env = {}, stdio = ["ignore", "inherit", "inherit", "ipc"], execArgv = [] }: { args?: string[]; env?: NodeJS.ProcessEnv; stdio?: StdioOptions; execArgv?: string[] } = {},
): ChildProcess {
  const child = fork(file, args, { cwd: repoRoot, execArgv, env: { ...process.env, ...env }, stdio });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/**
 * Starts a TypeScript module of bench/ (path relative to this file) through tsx, like `forkNode`.
 * BENCH_WORKER_NODE_ARGS adds Node flags, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
 */
export function forkTs(modulePath: string): ChildProcess {
  const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? "").split(" ").filter(Boolean);
  return forkNode(fileURLToPath(new URL(modulePath, import.meta.url)), { execArgv: ["--import", "tsx", ...nodeArgs] });
}

/** Resolves when the child has exited. */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Sends `signal`, then SIGKILL if the child is still alive after `graceMs`. */
export async function terminate(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited(child);
  clearTimeout(timer);
}

/** Last resort, synchronous so it can run in an 'exit' handler. */
export function killChildren(): void {
  for (const child of children) child.kill("SIGKILL");
}
