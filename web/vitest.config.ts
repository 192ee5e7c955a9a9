import { defineConfig } from "vitest/config";

// Unit and conformance tests under Node (no DOM: the protocol layer must
// not need one). The end-to-end suite in e2e/ has its own entry point.
// The client layer's integration tests open WebSockets: Node 20 has the
// WHATWG WebSocket behind a flag (Node 22 has it by default).
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    testTimeout: 30_000,
    execArgv: typeof globalThis.WebSocket === "undefined" ? ["--experimental-websocket"] : [],
  },
});
