// Reads the shared test vectors from `protocol/tests/vectors/` (the Rust
// crate's; never copied here) and the helpers every vector test uses.

import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

import { fromHex, toHex } from "../../src/protocol/bytes";

/** The repository's `protocol/tests/vectors` directory. */
export const VECTORS_DIR = resolve(import.meta.dirname, "../../../protocol/tests/vectors");

/** A committed vector file, parsed. */
export function vector<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(readFileSync(join(VECTORS_DIR, name), "utf8")) as T;
}

/** Hex to bytes. */
export const hex = (text: string): Uint8Array => fromHex(text);

/** Bytes to lowercase hex. */
export const h = (bytes: Uint8Array): string => toHex(bytes);

/** Compares a generated vector file with the committed one, or rewrites it
 *  with SAMTALE_WRITE_VECTORS=1 (as the Rust vector tests do). */
export function checkVectorFile(name: string, value: unknown): { written: boolean; committed: string; generated: string } {
  const path = join(VECTORS_DIR, name);
  const generated = JSON.stringify(value, null, 2) + "\n";
  if (process.env.SAMTALE_WRITE_VECTORS !== undefined) {
    writeFileSync(path, generated);
    return { written: true, committed: generated, generated };
  }
  return { written: false, committed: readFileSync(path, "utf8"), generated };
}

/** A deterministic byte run: start, start+1, … (as the Rust vectors' `arr`). */
export function run(start: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);
}

/** A small deterministic PRNG (xorshift32) for property tests. */
export function prng(seed: number): { next(): number; bytes(n: number): Uint8Array; int(max: number): number } {
  let s = seed >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  return {
    next,
    bytes: (n) => Uint8Array.from({ length: n }, () => next() & 0xff),
    int: (max) => next() % max,
  };
}
