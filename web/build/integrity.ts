// A Vite plugin that writes Subresource Integrity (SHA-384) on every script
// and stylesheet index.html loads, computed from the built files, so a
// browser refuses a file that differs from what was built. The server's
// Content-Security-Policy already forbids anything but the server's own
// files; SRI pins their exact bytes.

import { createHash } from "node:crypto";
import type { Plugin } from "vite";

export function subresourceIntegrity(): Plugin {
  return {
    name: "samtale-subresource-integrity",
    apply: "build",
    enforce: "post",
    generateBundle(_options, bundle) {
      const page = bundle["index.html"];
      if (page === undefined || page.type !== "asset" || typeof page.source !== "string") return;
      const digest = (fileName: string): string | null => {
        const file = bundle[fileName];
        if (file === undefined) return null;
        const bytes = file.type === "chunk" ? file.code : file.source;
        return `sha384-${createHash("sha384").update(bytes).digest("base64")}`;
      };
      let missing = 0;
      page.source = page.source.replace(
        /<(script|link)\b([^>]*?)\b(src|href)="\/([^"]+)"([^>]*)>/g,
        (tag: string, name: string, before: string, attr: string, path: string, after: string) => {
          const loads = name === "script" || /rel="(stylesheet|modulepreload)"/.test(tag);
          if (!loads || tag.includes("integrity=")) return tag;
          const sri = digest(path);
          if (sri === null) {
            missing += 1;
            return tag;
          }
          return `<${name}${before}${attr}="/${path}" integrity="${sri}"${after}>`;
        },
      );
      if (missing > 0) this.error(`index.html loads ${missing} file(s) that are not in the bundle`);
    },
  };
}
