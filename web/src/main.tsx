// The entry point: asks the browser to keep this app's storage (so the
// device's keys are not evicted), registers the service worker through the
// page's one Trusted Types policy, and renders the app.

import { render } from "preact";
import { indexedDbBacking } from "./client/keystore";
import { setWorkerScriptUrl } from "./client/opener";
import { App } from "./ui/App";
import "./ui/styles.css";

interface TrustedTypePolicyFactory {
  createPolicy(name: string, rules: { createScriptURL(url: string): string }): {
    createScriptURL(url: string): unknown;
  };
}

/** The page's one Trusted Types policy (the server's CSP allows only this
 *  name): it makes script URLs for the service worker and for this app's
 *  own workers under /assets/, and nothing else. */
const policy = (globalThis as { trustedTypes?: TrustedTypePolicyFactory }).trustedTypes?.createPolicy("samtale", {
  createScriptURL: (url: string) => {
    const u = new URL(url, location.href);
    const own = u.origin === location.origin && (u.pathname === "/sw.js" || /^\/assets\/[\w.-]+\.js$/.test(u.pathname));
    if (!own) throw new TypeError(`not a script of this app: ${url}`);
    return u.href;
  },
});

function scriptUrl(url: string): string {
  return (policy?.createScriptURL(url) ?? url) as string;
}

setWorkerScriptUrl(scriptUrl);

function registerServiceWorker(): void {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register(scriptUrl("/sw.js"), { scope: "/" }).catch(() => undefined);
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
