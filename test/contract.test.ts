import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, expect, test } from "vitest";

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

test.each(["src/gen", "clients/ts/src/gen"])("checked-in %s is exactly what buf generate writes", (out) => {
  buf("generate", "--output", scratch);
  const fresh = path.join(scratch, out);
  const committed = path.join(root, out);
  expect(listFiles(committed)).toEqual(listFiles(fresh));
  for (const file of listFiles(fresh)) {
    expect(readFileSync(path.join(committed, file), "utf8"), file).toBe(readFileSync(path.join(fresh, file), "utf8"));
  }
});
