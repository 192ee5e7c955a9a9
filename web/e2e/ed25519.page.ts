// Bundled for e2e/ed25519.e2e.ts: the app's own Ed25519 verification,
// exposed to the test page.
import { ed25519VerifyStrictAsync, usesPlatformEd25519 } from "../src/protocol/primitives";

(globalThis as unknown as { samtaleEd25519: unknown }).samtaleEd25519 = {
  verify: ed25519VerifyStrictAsync,
  usesPlatform: usesPlatformEd25519,
};
