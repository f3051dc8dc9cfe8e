import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "vitest";
import { parse } from "yaml";
import { codegenMissing, installCodegen, requirePolyglot } from "./polyglot/toolchains.js";

const root = fileURLToPath(new URL("../", import.meta.url));
const bin = path.join(root, "node_modules", ".bin");
const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` };
const scratch = mkdtempSync(path.join(tmpdir(), "baton-gen-"));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const buf = (...args: string[]) => execFileSync(path.join(bin, "buf"), args, { cwd: root, env, encoding: "utf8" });

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

test("buf lint passes on proto/", () => {
  expect(buf("lint")).toBe("");
});

/** The Go and Python plugins need their toolchains; without them only TypeScript is checked. */
const polyglotOutputs = ["clients/go/gen", "clients/python/gen"];
const codegenSkipReason = codegenMissing();

beforeAll(() => {
  if (codegenSkipReason === undefined) {
    installCodegen();
    buf("generate", "--output", scratch);
  } else if (requirePolyglot) {
    throw new Error(`BATON_REQUIRE_POLYGLOT=1 but ${codegenSkipReason}`);
  } else {
    const template = parse(readFileSync(path.join(root, "buf.gen.yaml"), "utf8")) as { plugins: { out: string }[] };
    template.plugins = template.plugins.filter((plugin) => !polyglotOutputs.includes(plugin.out));
    buf("generate", "--output", scratch, "--template", JSON.stringify(template));
  }
}, 300_000);

test.for(["clients/ts/src/gen", ...polyglotOutputs])("checked-in %s is exactly what buf generate writes", (out, context) => {
  if (polyglotOutputs.includes(out) && codegenSkipReason !== undefined) context.skip(codegenSkipReason);
  const fresh = path.join(scratch, out);
  const committed = path.join(root, out);
  expect(listFiles(committed)).toEqual(listFiles(fresh));
  for (const file of listFiles(fresh)) {
    expect(readFileSync(path.join(committed, file), "utf8"), file).toBe(readFileSync(path.join(fresh, file), "utf8"));
  }
});
