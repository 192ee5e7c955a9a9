// Paths the app answers: the server serves index.html for every path
// without a file extension, so reloading any screen works. Secrets never go
// into a path: the invitation code and the fingerprint ride in the
// fragment, which no server sees.

import { useEffect, useState } from "preact/hooks";

export type Route =
  | { name: "start" }
  | { name: "join" }
  | { name: "login" }
  | { name: "staff-login" }
  | { name: "invite" }
  | { name: "new-thread" }
  | { name: "threads" }
  | { name: "thread"; id: string }
  | { name: "safety"; id: string }
  | { name: "settings" }
  | { name: "setup" }
  | { name: "templates" }
  | { name: "admin"; tab: AdminTab };

/** The admin's screens. */
export type AdminTab = "teams" | "staff" | "devices" | "holds" | "audit";
export const ADMIN_TABS: readonly AdminTab[] = ["teams", "staff", "devices", "holds", "audit"];

export function parse(path: string): Route {
  const parts = path.split("/").filter((p) => p !== "");
  switch (parts[0]) {
    case "join":
      return { name: "join" };
    case "login":
      return { name: "login" };
    case "staff":
      return { name: "staff-login" };
    case "invite":
      return { name: "invite" };
    case "threads":
      if (parts[1] === "new") return { name: "new-thread" };
      if (parts[1] !== undefined && parts[2] === "safety") return { name: "safety", id: parts[1] };
      if (parts[1] !== undefined) return { name: "thread", id: parts[1] };
      return { name: "threads" };
    case "settings":
      return { name: "settings" };
    case "setup":
      return { name: "setup" };
    case "templates":
      return { name: "templates" };
    case "admin": {
      const tab = ADMIN_TABS.find((t) => t === parts[1]);
      return { name: "admin", tab: tab ?? "devices" };
    }
    case undefined:
    default:
      return { name: "start" };
  }
}

export function href(route: Route): string {
  switch (route.name) {
    case "start":
      return "/";
    case "join":
      return "/join";
    case "login":
      return "/login";
    case "staff-login":
      return "/staff";
    case "invite":
      return "/invite";
    case "new-thread":
      return "/threads/new";
    case "threads":
      return "/threads";
    case "thread":
      return `/threads/${route.id}`;
    case "safety":
      return `/threads/${route.id}/safety`;
    case "settings":
      return "/settings";
    case "setup":
      return "/setup";
    case "templates":
      return "/templates";
    case "admin":
      return `/admin/${route.tab}`;
  }
}

const listeners = new Set<() => void>();

export function navigate(route: Route, replace = false): void {
  const url = href(route);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  for (const l of listeners) l();
}

/** The current route; re-renders on navigation and the back button. */
export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(() => parse(location.pathname));
  useEffect(() => {
    const update = (): void => setRoute(parse(location.pathname));
    listeners.add(update);
    addEventListener("popstate", update);
    return () => {
      listeners.delete(update);
      removeEventListener("popstate", update);
    };
  }, []);
  return route;
}
