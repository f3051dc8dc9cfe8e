import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "vitest";

/**
 * Fails unless `call` rejects with a ConnectError of `code` whose message matches `message` (a
 * pattern, or text it must contain). Codes are compared by name, so a failure reads
 * "NOT_FOUND" against "INVALID_ARGUMENT" rather than 5 against 3.
 */
export async function expectError(call: Promise<unknown>, code: Code, message: RegExp | string): Promise<void> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${Code[code]}: ${String(message)}`).toBeInstanceOf(ConnectError);
  expect(Code[(error as ConnectError).code]).toBe(Code[code]);
  expect((error as ConnectError).rawMessage).toMatch(message);
}
