// Randomness: the only platform global the protocol touches is
// `crypto.getRandomValues`. Every random value an operation needs is drawn
// up front through an Entropy, so that the test vectors replay fixed bytes
// through exactly the production code path (as `protocol/src/rng.rs` does).

import { RandomnessError } from "./errors";

/** `length` bytes from the platform's CSPRNG. */
export function randomBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  try {
    // getRandomValues fills at most 65,536 bytes per call.
    for (let at = 0; at < length; at += 65536) {
      crypto.getRandomValues(out.subarray(at, Math.min(length, at + 65536)));
    }
  } catch (e) {
    throw new RandomnessError({ cause: e });
  }
  return out;
}

/** A source of the random bytes one operation draws, in order. */
export interface Entropy {
  /** The next `length` bytes; throws RandomnessError when there are none. */
  take(length: number): Uint8Array;
}

/** The platform's CSPRNG. */
export const systemEntropy: Entropy = { take: randomBytes };

/** Fixed bytes, consumed in order: to re-seal test vectors. Not for production. */
export function fixedEntropy(bytes: Uint8Array): Entropy {
  let at = 0;
  return {
    take(length: number): Uint8Array {
      if (at + length > bytes.length) throw new RandomnessError();
      const out = bytes.slice(at, at + length);
      at += length;
      return out;
    },
  };
}
