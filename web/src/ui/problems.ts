// Errors in words that say what to do next.

import { ApiError } from "../client/api";
import { ClientError } from "../client/context";
import { RelayError } from "../client/relay";
import type { Translate } from "../i18n";

export function problemText(t: Translate, e: unknown): string {
  if (e instanceof ApiError && e.code === "unreachable") return t("error.network");
  if (e instanceof ClientError && e.kind === "api" && e.is("unreachable")) return t("error.network");
  if (e instanceof ClientError || e instanceof ApiError || e instanceof RelayError) {
    return t("error.server", { message: e.message });
  }
  return t("error.server", { message: e instanceof Error ? e.message : String(e) });
}
