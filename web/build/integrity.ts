// A Vite plugin that writes Subresource Integrity (SHA-384) on every script
// and stylesheet index.html loads, computed from the files as written to
// disk (after every other plugin has had its say), so a browser refuses a
// file that differs from what was built. The server's Content-Security-
// Policy already forbids anything but the server's own files; SRI pins
// their exact bytes.

import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Plugin } from "vite";

export function subresourceIntegrity(): Plugin {
  let outDir = "dist";
  return {
    name: "samtale-subresource-integrity",
    apply: "build",
    enforce: "post",
    configResolved(config) {
      outDir = join(config.root, config.build.outDir);
    },
    writeBundle() {
      const pagePath = join(outDir, "index.html");
      const page = readFileSync(pagePath, "utf8");
      let missing = 0;
      const out = page.replace(
        /<(script|link)\b([^>]*?)\b(src|href)="\/([^"]+)"([^>]*)>/g,
        (tag: string, name: string, before: string, attr: string, path: string, after: string) => {
          const loads = name === "script" || /rel="(stylesheet|modulepreload)"/.test(tag);
          if (!loads || tag.includes("integrity=")) return tag;
          let bytes: Buffer;
          try {
            bytes = readFileSync(join(outDir, path));
          } catch {
            missing += 1;
            return tag;
          }
          const sri = `sha384-${createHash("sha384").update(bytes).digest("base64")}`;
          return `<${name}${before}${attr}="/${path}" integrity="${sri}"${after}>`;
        },
      );
      if (missing > 0) this.error(`index.html loads ${missing} file(s) that were not written`);
      writeFileSync(pagePath, out);
    },
  };
}
