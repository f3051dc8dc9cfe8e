import { execFileSync, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/**
 * Whether this machine can build and test the Go and Python clients. `npm test` skips what a
 * missing toolchain prevents, saying why; CI sets BATON_REQUIRE_POLYGLOT=1 so it fails instead.
 */
export const root = fileURLToPath(new URL("../../", import.meta.url));
export const requirePolyglot = process.env.BATON_REQUIRE_POLYGLOT === "1";

/** Go 1.26 is the oldest that the client module's go.mod accepts (grpc-go needs it). */
export function goMissing(): string | undefined {
  const result = spawnSync("go", ["env", "GOVERSION"], { encoding: "utf8" });
  if (result.error || result.status !== 0) return "Go is not installed (no `go` on PATH)";
  const [, minor] = /^go1\.(\d+)/.exec(result.stdout.trim()) ?? [];
  if (minor === undefined || Number(minor) < 26) return `Go 1.26 or newer is needed, found ${result.stdout.trim()}`;
  return undefined;
}

export function pythonMissing(): string | undefined {
  const result = spawnSync("python3", ["-c", "import sys, venv; print(sys.version_info >= (3, 11))"], { encoding: "utf8" });
  if (result.error || result.status !== 0) return "Python 3 with venv is not installed (no usable `python3` on PATH)";
  if (result.stdout.trim() !== "True") return "Python 3.11 or newer is needed";
  return undefined;
}

/** Skips a test for want of a toolchain, saying why; fails it instead under BATON_REQUIRE_POLYGLOT=1. */
export function skipWithout(reason: string | undefined, context: { skip(note?: string): never }): void {
  if (reason === undefined) return;
  if (requirePolyglot) throw new Error(`BATON_REQUIRE_POLYGLOT=1 but ${reason}`);
  context.skip(reason);
}

/** Why the Go and Python code generators cannot run here, if they cannot. */
export function codegenMissing(): string | undefined {
  return goMissing() ?? pythonMissing();
}

/**
 * Installs the pinned generators and the Python client's venv (scripts/install-codegen.sh). It is
 * a no-op when they are current, so every test file that needs them may call it.
 */
export function installCodegen(): void {
  execFileSync("scripts/install-codegen.sh", { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
}

/** Installs only the Python client's venv, which needs no Go. */
export function installPythonVenv(): void {
  execFileSync("clients/python/scripts/install-venv.sh", { cwd: root, stdio: ["ignore", "inherit", "inherit"] });
}
