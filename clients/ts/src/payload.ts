/** What a producer may pass as a payload, or a handler may return as a result. */
export type Payload = Uint8Array | string | object | undefined | null;

const encoder = new TextEncoder();

/** Bytes pass through; strings are UTF-8; anything else is JSON. */
export function encodePayload(value: Payload): Uint8Array {
  if (value === undefined || value === null) return new Uint8Array();
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return encoder.encode(value);
  return encoder.encode(JSON.stringify(value));
}
