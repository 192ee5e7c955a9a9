// Inviting a citizen from the browser (the counterpart of `samtale invite`):
// the national id goes to the server once, in the request, and is kept
// nowhere in the page; the letter is made here from the organisation this
// device pinned (its fingerprint computed here, never the server's word)
// and checked by the minimisation rules before it is printed.

import { orgFingerprint, type TeamId } from "../protocol";
import type { InvitationCreated } from "../protocol/rest";
import { post, type Context } from "./context";
import { minimiserFor } from "./staff";
import type { Finding } from "../protocol/minimise";

export interface Invitation {
  code: string;
  /** Unix seconds. */
  expiresAt: number;
  /** The server's public address, as the letter prints it. */
  server: string;
  /** `{server}/join#{code}/{fingerprint}`, with this device's fingerprint. */
  link: string;
  /** The organisation's fingerprint, computed from the pinned root. */
  fingerprint: string;
  organisation: string;
}

/** Creates an invitation for a person (their national id is checked and
 *  stored as a keyed hash by the server, never kept here). */
export async function createInvitation(
  ctx: Context,
  req: { teamId: TeamId; nationalId: string; name: string },
): Promise<Invitation> {
  const created = await post<InvitationCreated>(ctx, "/v1/invitations", {
    team_id: req.teamId,
    national_id: req.nationalId,
    display_name: req.name,
  });
  const fingerprint = orgFingerprint(ctx.root);
  const server = created.server.replace(/\/+$/, "");
  return {
    code: created.code,
    expiresAt: created.expires_at,
    server,
    link: `${server}/join#${created.code}/${fingerprint}`,
    fingerprint,
    organisation: ctx.keystore.secrets.orgName,
  };
}

/** What the minimisation rules find in a letter's text, knowing the
 *  person's name (a letter must name nobody: it may be read by anyone who
 *  opens the envelope). */
export function letterFindings(text: string, name: string): Finding[] {
  return minimiserFor([{ name }]).scan(text);
}
