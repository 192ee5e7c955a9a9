import { defineConfig } from "vite";
import { subresourceIntegrity } from "./build/integrity";

// One bundle for the app (no lazy chunks: every script the page runs is
// listed in index.html with its integrity), assets under /assets/ with
// content hashes (served immutable), no inline scripts or styles (the
// server's CSP forbids them), reproducible output.
export default defineConfig({
  base: "/",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    target: "es2022",
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    sourcemap: false,
    reportCompressedSize: true,
    rolldownOptions: {
      output: { codeSplitting: false },
    },
  },
  plugins: [subresourceIntegrity()],
});
