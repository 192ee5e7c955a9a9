// The entry point: asks the browser to keep this app's storage (so the
// device's keys are not evicted), registers the service worker through the
// page's one Trusted Types policy, and renders the app.

import { render } from "preact";
import { indexedDbBacking } from "./client/keystore";
import { App } from "./ui/App";
import "./ui/styles.css";

interface TrustedTypePolicyFactory {
  createPolicy(name: string, rules: { createScriptURL(url: string): string }): {
    createScriptURL(url: string): unknown;
  };
}

function registerServiceWorker(): void {
  if (!("serviceWorker" in navigator)) return;
  const tt = (globalThis as { trustedTypes?: TrustedTypePolicyFactory }).trustedTypes;
  // The policy makes exactly one URL: the service worker's own.
  const policy = tt?.createPolicy("samtale", {
    createScriptURL: (url: string) => {
      if (url !== "/sw.js") throw new TypeError("only /sw.js");
      return url;
    },
  });
  const url = (policy?.createScriptURL("/sw.js") ?? "/sw.js") as string;
  navigator.serviceWorker.register(url, { scope: "/" }).catch(() => undefined);
}

void navigator.storage?.persist?.().catch(() => false);
registerServiceWorker();

const root = document.getElementById("app");
if (root !== null) {
  render(
    <App
      platform={{
        backing: indexedDbBacking(),
        marker: localStorage,
        storage: localStorage,
        languages: navigator.languages,
        userAgent: navigator.userAgent,
      }}
    />,
    root,
  );
}
