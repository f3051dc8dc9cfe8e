import { Code, ConnectError } from "@connectrpc/connect";
import { expect } from "vitest";

/**
 * Fails unless `call` rejects with a ConnectError of `code` whose message matches `message` (a
 * pattern, or text it must contain). Codes are compared by name, so a failure reads
 * "NOT_FOUND" against "INVALID_ARGUMENT" rather than 5 against 3.
 */
export async function expectError(call: Promise<unknown>, code: Code, message: RegExp | string): Promise<void> {
  const error = await refusal(call, `expected ${Code[code]}: ${String(message)}`);
  expect(Code[error.code]).toBe(Code[code]);
  expect(error.rawMessage).toMatch(message);
}

/** The ConnectError `call` rejects with; fails the test if it succeeds or fails otherwise. */
export async function refusal(call: Promise<unknown>, what = "a refusal"): Promise<ConnectError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, what).toBeInstanceOf(ConnectError);
  return error as ConnectError;
}
