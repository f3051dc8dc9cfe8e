import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from "vitest";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { type ChildEnv, type TestProcess, killAll, runCommand, spawnProcess } from "./helpers/process.js";
import { type CodeBlock, documents, readCodeBlocks } from "./helpers/snippets.js";
import { eventually } from "./helpers/wait.js";
import { goMissing, installPythonVenv, pythonMissing, root, skipWithout } from "./polyglot/toolchains.js";

/**
 * The TypeScript, Go and Python blocks of README.md, docs/ and the clients' READMEs are
 * programs that work: each is compiled (tsc, go vet, mypy --strict) against the client of its
 * language in this checkout, and each complete program runs to a clean exit against a broker
 * started here (the documented address localhost:7600 pointed at it) while the workers the
 * documentation shows serve their queues. Markers: test/helpers/snippets.ts. The Go and Python
 * parts are skipped without their toolchains, and fail instead with BATON_REQUIRE_POLYGLOT=1.
 */
const blocks = documents.flatMap(readCodeBlocks).filter((block) => block.mode !== "fragment");
const runTimeoutMs = 60_000;
let broker: TestBroker;
let scratch: string;
const processes: TestProcess[] = [];

beforeAll(() => {
  // Inside the repo, so that the TypeScript blocks resolve its node_modules.
  mkdirSync(path.join(root, ".scratch"), { recursive: true });
  scratch = mkdtempSync(path.join(root, ".scratch", "snippets-"));
});

// A broker per language, so that the workers it lists are that language's.
beforeEach(async () => {
  broker = await startTestBroker();
});

afterEach(async () => {
  await killAll(processes.splice(0));
  await broker.stop();
});

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

interface Snippet {
  /** A file or package name that says where the block stands: README_md_98. */
  name: string;
  block: CodeBlock;
  /** What is compiled: the block, behind its given code if it has any. */
  source: string;
}

function snippets(language: string): Snippet[] {
  return blocks
    .filter((block) => block.language === language)
    .map((block) => ({ name: `${block.file.replace(/\W/g, "_")}_${block.line}`, block, source: block.given + block.code }));
}

/** The block's source with the documented broker address replaced by the test broker's. */
function atTestBroker(snippet: Snippet): string {
  return snippet.source.replaceAll("localhost:7600", new URL(broker.baseUrl).host);
}

/**
 * Against the test broker: starts the `worker` programs and, once their streams are open, runs
 * each `run` program to a clean exit; then stops the workers with SIGTERM, on which they must
 * exit 0 too. `compile` blocks are left alone.
 */
async function runPrograms(programs: { snippet: Snippet; command: string; args: string[] }[], cwd: string, env: ChildEnv = {}): Promise<void> {
  const where = ({ block }: Snippet) => `${block.file}:${block.line}`;
  const workers = programs
    .filter((program) => program.snippet.block.mode === "worker")
    .map((program) => ({ at: where(program.snippet), process: spawnProcess(program.command, program.args, env) }));
  processes.push(...workers.map((worker) => worker.process));
  await eventually(async () => (await broker.workers.listWorkers({})).workers.length === workers.length, {
    what: `the worker programs (${workers.map((worker) => worker.at).join(", ")}) to connect`,
  });
  for (const { snippet, command, args } of programs.filter((program) => program.snippet.block.mode === "run")) {
    await runCommand(command, args, cwd, { env, timeoutMs: runTimeoutMs }).catch((error: Error) => {
      throw new Error(`${where(snippet)}: ${error.message}`);
    });
  }
  for (const worker of workers) worker.process.killGroup("SIGTERM");
  const exits = await Promise.all(workers.map(async (worker) => [worker.at, await worker.process.exited]));
  expect(Object.fromEntries(exits), "exit codes after SIGTERM").toEqual(Object.fromEntries(exits.map(([at]) => [at, 0])));
}

test("TypeScript blocks type-check against @baton/client, and complete programs run", async () => {
  const dir = path.join(scratch, "ts");
  mkdirSync(dir);
  const ts = snippets("ts");
  expect(ts.length).toBeGreaterThan(5);
  const fileOf = (snippet: Snippet) => path.join(dir, `${snippet.name}.ts`);
  for (const snippet of ts) writeFileSync(fileOf(snippet), snippet.source);
  // The repo's compiler settings, with the package name resolved to the client's source (its
  // dist/ is built only when the package is packed).
  const tsconfig = path.join(dir, "tsconfig.json");
  const client = path.join(root, "clients/ts/src/index.ts");
  writeFileSync(
    tsconfig,
    JSON.stringify({ extends: path.join(root, "tsconfig.json"), compilerOptions: { noEmit: true, paths: { "@baton/client": [client] } }, include: ["*.ts"] }),
  );
  await runCommand(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", tsconfig], root);
  for (const snippet of ts) writeFileSync(fileOf(snippet), atTestBroker(snippet));
  const programs = ts.map((snippet) => ({ snippet, command: process.execPath, args: ["--import", "tsx", fileOf(snippet)] }));
  await runPrograms(programs, root, { TSX_TSCONFIG_PATH: tsconfig });
}, 300_000);

test("Go blocks pass gofmt and go vet against clients/go, and complete programs run", async (context) => {
  skipWithout(goMissing(), context);
  const dir = path.join(scratch, "go");
  mkdirSync(dir);
  const go = snippets("go");
  expect(go.length).toBeGreaterThan(0);
  // A module of its own that takes the client from this checkout, with the client's
  // requirements (and their checksums) so that nothing new is resolved.
  const clientModule = readFileSync(path.join(root, "clients/go/go.mod"), "utf8");
  const clientPath = /^module (\S+)/m.exec(clientModule)![1]!;
  writeFileSync(
    path.join(dir, "go.mod"),
    `${clientModule.replace(/^module .*$/m, "module snippets")}\nrequire ${clientPath} v0.0.0\n\nreplace ${clientPath} => ${path.join(root, "clients/go")}\n`,
  );
  copyFileSync(path.join(root, "clients/go/go.sum"), path.join(dir, "go.sum"));
  const fileOf = (snippet: Snippet) => path.join(dir, snippet.name, "main.go");
  for (const snippet of go) {
    mkdirSync(path.dirname(fileOf(snippet)));
    writeFileSync(fileOf(snippet), snippet.source);
  }
  expect(await runCommand("gofmt", ["-d", "."], dir), "what gofmt would change").toBe("");
  await runCommand("go", ["vet", "./..."], dir);
  // Built rather than `go run`, so that SIGTERM reaches the worker itself.
  for (const snippet of go) writeFileSync(fileOf(snippet), atTestBroker(snippet));
  await runCommand("go", ["build", "-o", path.join(dir, "bin") + "/", "./..."], dir);
  await runPrograms(go.map((snippet) => ({ snippet, command: path.join(dir, "bin", snippet.name), args: [] })), dir);
}, 300_000);

test("Python blocks pass mypy --strict against clients/python, and complete programs run", async (context) => {
  skipWithout(pythonMissing(), context);
  installPythonVenv();
  const dir = path.join(scratch, "python");
  mkdirSync(dir);
  const python = snippets("python");
  expect(python.length).toBeGreaterThan(0);
  const fileOf = (snippet: Snippet) => path.join(dir, `${snippet.name}.py`);
  for (const snippet of python) writeFileSync(fileOf(snippet), snippet.source);
  // The client's own mypy settings (strict; its src/, gen/ and examples/ on the path), run
  // where they are. Blocks that take names as given may await at the top, as in a notebook.
  const venvPython = path.join(root, "clients/python/.venv/bin/python");
  await runCommand(venvPython, ["-m", "mypy", "--disable-error-code", "top-level-await", ...python.map(fileOf)], path.join(root, "clients/python"));
  for (const snippet of python) writeFileSync(fileOf(snippet), atTestBroker(snippet));
  const programs = python.map((snippet) => ({ snippet, command: venvPython, args: [fileOf(snippet)] }));
  // The examples' modules (the emails job type) importable, as mypy_path has them.
  await runPrograms(programs, dir, { PYTHONPATH: path.join(root, "clients/python/examples") });
}, 300_000);
