// Lint for the whole web app: typescript-eslint's type-checked rules
// (floating promises matter with async HPKE), and for the protocol layer
// the rules that keep it pure: no DOM, network, storage or timers, no
// console, no import but the audited libraries and its own modules, and
// of WebCrypto only crypto.getRandomValues.

import js from "@eslint/js";
import { defineConfig, globalIgnores } from "eslint/config";
import tseslint from "typescript-eslint";

const impureGlobals = [
  "window", "document", "navigator", "location", "history", "self", "globalThis",
  "fetch", "XMLHttpRequest", "WebSocket", "EventSource", "BroadcastChannel", "MessageChannel",
  "indexedDB", "localStorage", "sessionStorage", "caches", "Worker", "SharedWorker",
  "setTimeout", "setInterval", "requestAnimationFrame", "queueMicrotask", "postMessage",
  "console", "alert", "TextEncoder", "TextDecoder", "Date", "performance", "process", "require",
].map((name) => ({ name, message: "src/protocol is pure: the caller passes this in." }));

export default defineConfig(
  globalIgnores(["dist/", "node_modules/", "coverage/"]),
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: ["./tsconfig.json", "./tsconfig.node.json"], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "@typescript-eslint/switch-exhaustiveness-check": "error",
      eqeqeq: ["error", "always"],
    },
  },
  {
    files: ["src/protocol/**/*.ts"],
    rules: {
      "no-restricted-globals": ["error", ...impureGlobals],
      "no-restricted-properties": [
        "error",
        { object: "crypto", property: "subtle", message: "Primitives come from @noble and @hpke only." },
      ],
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "^(?!\\./|@noble/(curves|hashes|ciphers)/|@hpke/(core|dhkem-x25519|chacha20poly1305)$)",
              message: "src/protocol imports only its own modules and the audited libraries.",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    files: ["public/**/*.js"],
    languageOptions: {
      globals: {
        self: "readonly", caches: "readonly", fetch: "readonly", URL: "readonly",
        Response: "readonly", Request: "readonly", console: "readonly", clients: "readonly", crypto: "readonly",
      },
    },
  },
  {
    files: ["test/**/*.mjs", "*.config.js"],
    languageOptions: {
      globals: { process: "readonly", console: "readonly", URL: "readonly" },
    },
  },
);
