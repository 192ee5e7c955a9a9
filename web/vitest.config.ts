import { defineConfig } from "vitest/config";

// Unit and conformance tests under Node (no DOM: the protocol layer must
// not need one). The end-to-end suite in e2e/ has its own entry point.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    testTimeout: 30_000,
  },
});
