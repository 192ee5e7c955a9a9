// Message templates per team ("please call me", an appointment reminder):
// written once, kept on the server sealed to the team's key, inserted into
// the composer and checked by the minimisation rules like any text.
//
// A template is an envelope (PROTOCOL.md §4) sealed by the writer's device
// to the team's current key, with the team id in place of the thread id and
// the template id in place of the message id, so it opens only as that
// template of that team. Its payload is `{"title", "text"}`, which no
// message payload parser accepts. A colleague's page opens it with the team
// key it holds and shows it only when the signer's certificate verifies
// against the pinned root and the signer is in the team's signed member
// list now: the server, which knows the team's public key, cannot slip a
// template of its own into the composer.

import {
  b64Decode,
  b64Encode,
  DeviceCertificate,
  Envelope,
  hasRole,
  idToBytes,
  idFromBytes,
  randomId,
  Roles,
  type MessageId,
  type TeamId,
  type ThreadId,
} from "../protocol";
import type { TeamTemplate, TemplateList } from "../protocol/rest";
import { ClientError, del, get, put, type Context } from "./context";
import { heldKey, verifiedHolderOf } from "./keys";
import { directory, loadStaff, loadTeam, pinsForWork, savePins } from "./trust";

/** The longest title and text a template may have (characters). */
export const MAX_TITLE = 80;
export const MAX_TEXT = 2000;

export interface Template {
  id: MessageId;
  title: string;
  text: string;
  /** The colleague who saved it (from their verified certificate). */
  author: string;
  /** Unix seconds (the server's word). */
  updatedAt: number;
}

export interface TemplateShelf {
  templates: Template[];
  /** Stored templates this page could not open or verify (not shown). */
  refused: number;
}

const te = new TextEncoder();
const td = new TextDecoder("utf-8", { fatal: true });

/** The team id as the envelope's thread id. */
function asThread(team: TeamId): ThreadId {
  return idFromBytes<ThreadId>(idToBytes(team));
}

function encodePayload(title: string, text: string): Uint8Array {
  return te.encode(JSON.stringify({ title, text }));
}

function decodePayload(bytes: Uint8Array): { title: string; text: string } | null {
  let value: unknown;
  try {
    value = JSON.parse(td.decode(bytes));
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const keys = Object.keys(value);
  const { title, text } = value as Record<string, unknown>;
  if (keys.length !== 2 || typeof title !== "string" || typeof text !== "string") return null;
  if (title.length > MAX_TITLE || text.length > MAX_TEXT) return null;
  return { title, text };
}

/** The team's templates, each opened with the team key this page holds and
 *  shown only if a certified colleague in the team signed it. */
export async function listTemplates(ctx: Context, team: TeamId): Promise<TemplateShelf> {
  const list = await get<TemplateList>(ctx, `/v1/teams/${team}/templates`);
  const dir = directory(ctx);
  const { before, pins } = pinsForWork(ctx);
  const out: TemplateShelf = { templates: [], refused: 0 };
  try {
    await loadTeam(ctx, dir, pins, team);
    for (const stored of list.templates) {
      const shown = await openTemplate(ctx, team, stored, async (signer, cert) => {
        // The certificate names the writer; their signed device list must
        // name this device too (certifiedAt checks both).
        await loadStaff(ctx, dir, pins, cert.bodyUnverified.staffId);
        const body = dir.certifiedAt(signer, cert, ctx.now());
        if (typeof body === "string" || !hasRole(body.roles, Roles.staff)) return null;
        return dir.teamMemberNow(team, body.staffId) ? body.staffName : null;
      });
      if (shown === null) out.refused += 1;
      else out.templates.push(shown);
    }
  } finally {
    await savePins(ctx, before, pins);
  }
  out.templates.sort((a, b) => a.title.localeCompare(b.title));
  return out;
}

async function openTemplate(
  ctx: Context,
  team: TeamId,
  stored: TeamTemplate,
  signerName: (signer: Envelope["sender"], cert: DeviceCertificate) => Promise<string | null>,
): Promise<Template | null> {
  try {
    const envelope = Envelope.decode(b64Decode(stored.sealed));
    const epoch = envelope.recipients[0];
    const key = epoch === undefined ? undefined : heldKey(ctx.keystore.secrets, epoch);
    if (key === undefined || stored.signer_certificate === undefined || stored.signer_certificate === null) return null;
    const opened = await envelope.open({ threadId: asThread(team), messageId: stored.template_id }, key);
    const author = await signerName(opened.sender, DeviceCertificate.decode(b64Decode(stored.signer_certificate)));
    const payload = decodePayload(opened.payload);
    opened.payload.fill(0);
    if (author === null || payload === null) return null;
    return { id: stored.template_id, ...payload, author, updatedAt: stored.updated_at };
  } catch {
    return null;
  }
}

/** Saves a template (new, or replacing `id`) sealed to the team's current
 *  key. */
export async function saveTemplate(
  ctx: Context,
  team: TeamId,
  template: { id?: MessageId; title: string; text: string },
): Promise<MessageId> {
  const title = template.title.trim();
  const text = template.text.trim();
  if (title === "" || text === "") throw ClientError.refused("a template needs a title and a text");
  if (title.length > MAX_TITLE || text.length > MAX_TEXT) {
    throw ClientError.refused(`a template's title is at most ${MAX_TITLE} characters and its text ${MAX_TEXT}`);
  }
  const dir = directory(ctx);
  const { before, pins } = pinsForWork(ctx);
  let holder;
  try {
    holder = await verifiedHolderOf(ctx, dir, pins, { kind: "team", team });
  } finally {
    await savePins(ctx, before, pins);
  }
  if (holder === null) throw ClientError.refused("the team has no key yet: a certified team member's app makes it");
  const id = template.id ?? randomId<MessageId>();
  const envelope = await Envelope.seal(ctx.device, asThread(team), id, [holder.verified.current.key], encodePayload(title, text));
  await put<TeamTemplate>(ctx, `/v1/teams/${team}/templates/${id}`, { sealed: b64Encode(envelope.bytes) });
  return id;
}

export function deleteTemplate(ctx: Context, team: TeamId, id: MessageId): Promise<void> {
  return del<void>(ctx, `/v1/teams/${team}/templates/${id}`);
}

/** The templates a team starts with, in the writer's language. */
export const SUGGESTED: Record<"da" | "sv" | "en", { title: string; text: string }[]> = {
  da: [
    { title: "Påmindelse om møde", text: "Hej. Husk vores møde [dag] kl. [tid] på [sted]. Skriv her, hvis tidspunktet ikke passer." },
    { title: "Ring til mig", text: "Hej. Vil du ringe til mig, når du har tid? Du fanger mig på mit arbejdsnummer i dag mellem kl. 9 og 15." },
    { title: "Nyt dokument i Digital Post", text: "Hej. Der ligger et nyt dokument til dig i Digital Post. Læs det, når du kan, og skriv her, hvis du har spørgsmål." },
  ],
  sv: [
    { title: "Påminnelse om möte", text: "Hej. Kom ihåg vårt möte [dag] kl. [tid] på [plats]. Skriv här om tiden inte passar." },
    { title: "Ring mig", text: "Hej. Kan du ringa mig när du har tid? Du når mig på mitt arbetsnummer i dag mellan kl. 9 och 15." },
    { title: "Nytt dokument i Mina meddelanden", text: "Hej. Det finns ett nytt dokument till dig i din digitala brevlåda. Läs det när du kan och skriv här om du har frågor." },
  ],
  en: [
    { title: "Appointment reminder", text: "Hello. A reminder of our meeting on [day] at [time] at [place]. Write here if the time does not suit you." },
    { title: "Please call me", text: "Hello. Could you call me when you have time? You can reach me on my work number today between 9 and 15." },
    { title: "New document in Digital Post", text: "Hello. There is a new document for you in Digital Post. Read it when you can, and write here if you have questions." },
  ],
};
