import { settings } from "../../config.js";
import type { Command, CommandInput, FlagSpec } from "../args.js";

/**
 * `baton serve` and `baton migrate` as entries of the command table, so that they parse, show
 * help and complete like every other command. The work is in server.ts, imported only when one
 * of them runs: the client commands start without loading the broker.
 */

const flags: Record<string, FlagSpec> = {
  port: { type: "string", value: "<n>", description: `listen port (${settings.port.env}, default ${settings.port.default})` },
  "data-dir": {
    type: "string",
    value: "<dir>",
    description: `embedded database directory (${settings.dataDir.env}, default ${settings.dataDir.default})`,
  },
};

const notes = `Every setting is also read from the environment:
${Object.values(settings)
  .map((s) => `  ${s.env.padEnd(28)} ${s.description} (default ${s.default})`)
  .join("\n")}`;

async function run(command: "serve" | "migrate", { flags }: CommandInput): Promise<number> {
  const port = flags.int("port", { min: 0, max: 65535 });
  const dataDir = flags.string("data-dir");
  const { runServer } = await import("./server.js");
  return runServer(command, { ...(port !== undefined && { port }), ...(dataDir !== undefined && { dataDir }) });
}

const serve: Command = {
  name: "serve",
  summary: "Run the broker (embedded PostgreSQL unless BATON_DATABASE_URL or DATABASE_URL is set).",
  flags,
  outputs: [],
  offline: true,
  notes,
  examples: ["baton serve", "BATON_DATABASE_URL=postgres://baton@db/baton baton serve --port 7600"],
  run: (input) => run("serve", input),
};

const migrateCommand: Command = {
  name: "migrate",
  summary: "Apply database migrations and exit.",
  flags,
  outputs: [],
  offline: true,
  notes,
  examples: ["BATON_DATABASE_URL=postgres://baton@db/baton baton migrate"],
  run: (input) => run("migrate", input),
};

export const brokerCommands: Command[] = [serve, migrateCommand];
