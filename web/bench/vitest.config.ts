import { defineConfig } from "vitest/config";

// The browser benchmark (not part of `npm test` or `npm run e2e`).
export default defineConfig({
  test: {
    include: ["bench/**/*.bench.ts"],
    environment: "node",
    testTimeout: 3_600_000,
    hookTimeout: 600_000,
  },
});
