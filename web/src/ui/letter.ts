// The invitation letter's content, in one language: the paragraphs the
// screen shows and the PDF prints, and the QR code's modules.

import qrcode from "qrcode-generator";
import type { Invitation } from "../client/invitations";
import { type Language, translator } from "../i18n";
import type { PdfBlock } from "./pdf";

/** The letter's paragraphs in one language. */
export function letterBlocks(inv: Invitation, language: Language): PdfBlock[] {
  const t = translator(language);
  const org = inv.organisation;
  const locale = language === "da" ? "da-DK" : language === "sv" ? "sv-SE" : "en-GB";
  const date = new Intl.DateTimeFormat(locale, { dateStyle: "long" }).format(inv.expiresAt * 1000);
  return [
    { text: t("letter.title", { org }), size: 18, bold: true, after: 14 },
    { text: t("letter.intro", { org }), size: 11 },
    { text: t("letter.sms"), size: 11 },
    { text: t("letter.how"), size: 11, after: 12 },
    { text: t("letter.address"), size: 10, bold: true, after: 2 },
    { text: inv.server, size: 12, mono: true, after: 10 },
    { text: t("letter.code"), size: 10, bold: true, after: 2 },
    { text: inv.code, size: 16, mono: true, after: 10 },
    { text: t("letter.fingerprint"), size: 10, bold: true, after: 2 },
    { text: inv.fingerprint, size: 12, mono: true, after: 10 },
    { text: t("letter.expires", { date }), size: 11 },
    { text: t("letter.help", { org }), size: 11 },
  ];
}

export function qrModules(text: string): boolean[][] {
  const code = qrcode(0, "M");
  code.addData(text);
  code.make();
  const n = code.getModuleCount();
  return Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, c) => code.isDark(r, c)));
}
