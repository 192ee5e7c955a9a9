import { defineConfig } from "vitest/config";

// The end-to-end suite: Debian's Chromium (playwright-core) against the
// real samtale-server, the real OpenID Provider and the real CLI. One file
// at a time (each starts its own server and browser); generous timeouts
// for a 2-core machine, but no assertion on time.
export default defineConfig({
  test: {
    include: ["e2e/**/*.e2e.ts"],
    environment: "node",
    testTimeout: 180_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    sequence: { concurrent: false },
  },
});
