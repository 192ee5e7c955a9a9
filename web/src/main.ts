// Placeholder entry point until the app's screens land: it loads the
// protocol layer (so the build shows its size) and says what this page is.

import { WS_SUBPROTOCOL } from "./protocol";

const app = document.getElementById("app");
if (app !== null) {
  app.textContent = `Samtale (${WS_SUBPROTOCOL})`;
}
