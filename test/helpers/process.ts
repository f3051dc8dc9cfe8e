import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

export interface TestProcess {
  child: ChildProcess;
  /** Parsed JSON lines the process printed on stdout or stderr (logs), in order. */
  readonly events: Record<string, unknown>[];
  /** Resolves with the first event (past or future) that matches. */
  waitFor(match: (event: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
  /** Signals the whole process group. */
  killGroup(signal?: NodeJS.Signals): void;
}

/** Runs a TypeScript file of this repo in its own Node process; it reports with JSON lines. */
/** Extra environment for a child; `undefined` removes a variable the runner has. */
export type ChildEnv = Record<string, string | undefined>;

export function spawnTs(file: string, env: ChildEnv, args: string[] = []): TestProcess {
  return spawnProcess(process.execPath, ["--import", "tsx", file, ...args], env);
}

export function spawnProcess(command: string, args: string[], env: ChildEnv): TestProcess {
  const merged = Object.fromEntries(Object.entries({ ...process.env, ...env }).filter(([, value]) => value !== undefined));
  const child = spawn(command, args, {
    cwd: root,
    env: merged,
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group, so a signal reaches what it started too (npm → node → postgres).
    detached: true,
  });
  const events: Record<string, unknown>[] = [];
  const waiters: { match(event: Record<string, unknown>): boolean; resolve(event: Record<string, unknown>): void }[] = [];
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const onLine = (line: string) => {
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    events.push(event);
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.match(event)) waiters.splice(i, 1)[0]!.resolve(event);
    }
  };
  createInterface({ input: child.stdout }).on("line", onLine);
  createInterface({ input: child.stderr }).on("line", onLine);
  const exited = new Promise<number | string>((resolve) => child.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  return {
    child,
    events,
    exited,
    waitFor(match) {
      const seen = events.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        void exited.then((code) => reject(new Error(`process exited (${code}) before the event; stderr:\n${stderr}`)));
      });
    },
    kill: (signal = "SIGTERM") => {
      child.kill(signal);
    },
    killGroup: (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, signal);
    },
  };
}

/** Ends every process that a test left running. */
export async function killAll(processes: TestProcess[]): Promise<void> {
  for (const p of processes) p.killGroup("SIGKILL");
  await Promise.all(processes.map((p) => p.exited));
}

export interface CompletedRun {
  code: number | string;
  stdout: string;
  stderr: string;
}

/**
 * Runs a TypeScript file of this repo (the CLI, mostly) to completion and collects everything
 * it wrote. The process is added to `processes`, so a test that fails midway still ends it.
 */
export async function runTs(file: string, env: ChildEnv, args: string[], processes: TestProcess[]): Promise<CompletedRun> {
  const run = spawnTs(file, env, args);
  processes.push(run);
  let stdout = "";
  let stderr = "";
  run.child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  run.child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  await once(run.child, "close");
  return { code: await run.exited, stdout, stderr };
}

export interface RunOptions {
  /** Extra environment; the test database's URL is never passed on (a child starts its own broker). */
  env?: ChildEnv;
  /** Ends the command with SIGKILL (so it "exited SIGKILL") if it runs longer; default none. */
  timeoutMs?: number;
}

/** Runs a command to completion and returns its stdout; fails with the tail of its output if it exits non-zero. */
export function runCommand(command: string, args: string[], cwd: string, { env = {}, timeoutMs }: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const merged = Object.fromEntries(
      Object.entries({ ...process.env, ...env }).filter(([name, value]) => value !== undefined && name !== "BATON_DATABASE_URL" && name !== "DATABASE_URL"),
    );
    const child = spawn(command, args, { cwd, env: merged, stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs, killSignal: "SIGKILL" });
    let output = "";
    let stdout = "";
    const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000));
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      keep(chunk);
    });
    child.stderr.on("data", keep);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(" ")} exited ${code ?? signal}:\n${output}`));
    });
  });
}
