/**
 * Seeds and sizes of the fault suite, from the environment so that `npm run soak` can run the
 * same scenarios longer:
 *   BATON_FAULT_SEED   base seed (default 20261202); every scenario derives its own stream
 *   BATON_FAULT_SEEDS  how many seeds each scenario runs, seed, seed+1, … (default 1)
 *   BATON_FAULT_SCALE  multiplies job counts and fault counts (default 1)
 *
 * A failing run prints its seed; rerun with BATON_FAULT_SEED=<seed> BATON_FAULT_SEEDS=1 to get
 * the same fault schedule (which worker dies, after how many acks, proxy delays, payload work
 * times). Process scheduling is the operating system's, so a schedule is reproduced, not a
 * byte-identical interleaving.
 */

const int = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return n;
};

export const BASE_SEED = Math.floor(int("BATON_FAULT_SEED", 20261202));
export const SEED_COUNT = Math.floor(int("BATON_FAULT_SEEDS", 1));
export const SCALE = int("BATON_FAULT_SCALE", 1);

/** The seeds every scenario runs with. */
export const SEEDS: number[] = Array.from({ length: SEED_COUNT }, (_, i) => BASE_SEED + i);

/** A size scaled for soak runs, at least `min`. */
export function size(n: number, min = 1): number {
  return Math.max(min, Math.round(n * SCALE));
}

/** A per-test timeout that grows with the scale and the number of seeds. */
export function timeoutMs(baseMs: number): number {
  return Math.round(baseMs * Math.max(1, SCALE));
}

/** Deterministic pseudo-random numbers (mulberry32) for one scenario and seed. */
export interface Rng {
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  /** Eight hex digits. */
  hex(): string;
}

export function rng(seed: number, label: string): Rng {
  let state = (seed ^ hash(label)) >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    seed,
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)]!,
    hex: () => Math.floor(next() * 0x100000000).toString(16).padStart(8, "0"),
  };
}

/** FNV-1a, to turn labels into seed material. */
export function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
