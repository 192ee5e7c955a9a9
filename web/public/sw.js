// Samtale's service worker: keeps the app shell (the page, its script and
// style, the icons) so the app opens offline and shows what this device's
// keystore holds. It never caches anything from /v1 or /ws: messages stay
// encrypted on the server and are decrypted only in the page, and nothing
// decrypted is ever written here.
//
// The shell's files and their SHA-256 come from the server's asset manifest
// (/.well-known/samtale-web-assets.json); a file whose bytes differ is not
// kept.

const CACHE = "samtale-shell-v1";
const MANIFEST = "/.well-known/samtale-web-assets.json";

async function sha256(buffer) {
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function fillShell() {
  const response = await fetch(MANIFEST, { cache: "no-store" });
  if (!response.ok) return;
  const manifest = await response.json();
  const cache = await caches.open(CACHE);
  for (const [path, expected] of Object.entries(manifest.files)) {
    if (path === "/sw.js") continue;
    const file = await fetch(path, { cache: "no-store" });
    if (!file.ok) continue;
    const body = await file.clone().arrayBuffer();
    if ((await sha256(body)) !== expected) continue;
    await cache.put(path === "/index.html" ? "/" : path, file);
  }
}

self.addEventListener("install", (event) => {
  event.waitUntil(fillShell().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/v1/") || url.pathname === "/ws" || url.pathname.startsWith("/.well-known/")) {
    return;
  }
  if (request.mode === "navigate") {
    // The newest page when online; the kept shell when not.
    event.respondWith(
      fetch(request).catch(() => caches.match("/").then((r) => r ?? Response.error())),
    );
    return;
  }
  if (url.pathname.startsWith("/assets/") || url.pathname.startsWith("/icons/")) {
    event.respondWith(caches.match(url.pathname).then((hit) => hit ?? fetch(request)));
  }
});
