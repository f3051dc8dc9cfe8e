// Numbers typed into the dashboard's forms. Only what could not be sent at all is refused here
// (not a number, a fraction or more than an int32 where the field is whole); ranges are the
// broker's to judge, so its message, naming the field, is the one people read.

const INT32_MAX = 2 ** 31 - 1;

/** Decimal notation only: Number() would also take "0x10", "Infinity" and "". */
const DECIMAL = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/** The value of a non-empty input, or why it is none, starting with the field's label. */
export function parseNumberInput(label: string, text: string, whole: boolean): { value: number } | { error: string } {
  const value = Number(text);
  if (!DECIMAL.test(text) || !Number.isFinite(value)) return { error: `${label}: "${text}" is not a number` };
  if (whole && !Number.isInteger(value)) return { error: `${label}: "${text}" is not a whole number` };
  // Beyond an int32 the call could not even be encoded.
  if (whole && Math.abs(value) > INT32_MAX) return { error: `${label}: ${text} is out of range (at most ${INT32_MAX})` };
  return { value };
}
