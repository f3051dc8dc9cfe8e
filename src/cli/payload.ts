import { readFileSync } from "node:fs";
import { type FlagSpec, type Flags } from "./args.js";
import { UsageError } from "./errors.js";

/** The three ways to give a payload; at most one per command. */
export const PAYLOAD_FLAGS: Record<string, FlagSpec> = {
  payload: { type: "string", value: "<text>", description: "payload as text (sent as UTF-8 bytes)" },
  "payload-file": { type: "string", value: "<path>", description: "payload read from a file, byte for byte (- reads stdin)" },
  "json-payload": { type: "string", value: "<json>", description: "payload as JSON, checked and sent compact" },
};

const encoder = new TextEncoder();

/** The payload bytes the flags ask for; empty when none was given. */
export function payloadFromFlags(flags: Flags): Uint8Array {
  const given = flags.count("payload", "payload-file", "json-payload");
  if (given > 1) throw new UsageError("give at most one of --payload, --payload-file and --json-payload");
  const text = flags.string("payload");
  if (text !== undefined) return encoder.encode(text);
  const file = flags.string("payload-file");
  if (file !== undefined) {
    try {
      return new Uint8Array(readFileSync(file === "-" ? 0 : file));
    } catch (error) {
      throw new UsageError(`--payload-file: cannot read ${file}: ${(error as Error).message}`);
    }
  }
  const json = flags.string("json-payload");
  if (json !== undefined) {
    try {
      return encoder.encode(JSON.stringify(JSON.parse(json)));
    } catch (error) {
      throw new UsageError(`--json-payload is not valid JSON: ${(error as Error).message}`);
    }
  }
  return new Uint8Array();
}
