/**
 * The Baton broker as deployed: the compiled `dist/src/cli/main.js serve` (what `npm start` and
 * the `baton` binary run), not the TypeScript sources under tsx, so that the broker's memory and
 * CPU in the bench are those of production. dist/ is rebuilt first when it is missing or older
 * than its sources.
 */
import { type ChildProcess, type StdioOptions, execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { forkNode, repoRoot } from "./children.js";

const BROKER_SCRIPT = path.join(repoRoot, "dist/src/cli/main.js");
const GUARD = new URL("./broker-guard.mjs", import.meta.url).href;

/**
 * Written by the last step of `npm run build` (vite), so a build that got this far finished,
 * and this file is newer than every other output of it.
 */
const LAST_OUTPUT = path.join(repoRoot, "dist/ui/index.html");

/** What `npm run build` reads (see package.json and tsconfig.build.json). */
const BUILD_INPUTS = ["src", "clients/ts/src", "ui", "scripts/copy-assets.mjs", "tsconfig.json", "tsconfig.build.json", "package.json"];

/** Runs `npm run build` unless dist/ is current; throws with the build's output if it fails. */
export function ensureBrokerBuilt(say: (text: string) => void): void {
  const reason = staleness();
  if (!reason) return;
  say(`building the broker (npm run build): ${reason}`);
  try {
    execFileSync("npm", ["run", "build"], { cwd: repoRoot, stdio: "pipe", encoding: "utf8" });
  } catch (error) {
    const { stdout = "", stderr = "" } = error as { stdout?: string; stderr?: string };
    throw new Error(`npm run build failed:\n${stdout}${stderr}`, { cause: error });
  }
}

/** Why dist/ needs a build, or undefined when it is current. */
function staleness(): string | undefined {
  const built = modified(LAST_OUTPUT);
  if (built === undefined || modified(BROKER_SCRIPT) === undefined) return "dist/ is missing";
  const newer = BUILD_INPUTS.find((input) => newest(path.join(repoRoot, input)) > built);
  return newer && `${newer} changed since the last build`;
}

/**
 * Newest modification time under `file`, directories included (a deleted or renamed source
 * changes its directory's time, and tsc would leave the stale output behind).
 */
function newest(file: string): number {
  const own = modified(file) ?? 0;
  if (!statSync(file, { throwIfNoEntry: false })?.isDirectory()) return own;
  const entries = readdirSync(file, { recursive: true, encoding: "utf8" });
  return Math.max(own, ...entries.map((entry) => modified(path.join(file, entry)) ?? 0));
}

function modified(file: string): number | undefined {
  return statSync(file, { throwIfNoEntry: false })?.mtimeMs;
}

/**
 * `node [nodeArgs] --import broker-guard.mjs dist/src/cli/main.js serve`, configured by `env`.
 * `nodeArgs` are Node flags for the broker, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
 */
export function startBroker({ env, stdio, nodeArgs }: { env: NodeJS.ProcessEnv; stdio: StdioOptions; nodeArgs: string[] }): ChildProcess {
  return forkNode(BROKER_SCRIPT, { args: ["serve"], env, stdio, execArgv: [...nodeArgs, "--import", GUARD] });
}
