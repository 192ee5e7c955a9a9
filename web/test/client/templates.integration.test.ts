// Message templates against the real server: a caseworker's client seals a
// template to the team key and a colleague's opens it; an operator who
// swaps in a template of their own (sealed to the team's public key, which
// the server knows, under the real writer's certificate) gets it refused.
// The positive control shows the swapped template does open with the team
// key: a client that only decrypted would have put the operator's text in
// the composer.

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Cli, organisation, PASSWORD, startServer, type Server } from "../../e2e/harness";
import { b64Decode, deviceFingerprint, DeviceKeys, Envelope, idFromBytes, idToBytes, type TeamId, type ThreadId } from "../../src/protocol";
import type { AccountInfo, TeamInfo, TemplateList, TokenPair } from "../../src/protocol/rest";
import { Api } from "../../src/client/api";
import { contextOf, get, type Context } from "../../src/client/context";
import { newSecrets } from "../../src/client/join";
import { heldKey, upkeep } from "../../src/client/keys";
import { Keystore, memoryBacking } from "../../src/client/keystore";
import { deleteTemplate, listTemplates, saveTemplate } from "../../src/client/templates";
import { Tokens } from "../../src/client/tokens";
import { blob, memoryMarker, missingBinaries, sql } from "./support";

const skipped = missingBinaries();

/** A staff member logged in from this process as a new device, certified by
 *  the admin's CLI after comparing its fingerprint. */
async function staffClient(server: Server, cli: Cli, username: string): Promise<Context> {
  const plain = new Api(null, server.url);
  const device = DeviceKeys.generate();
  const pair = await plain.post<TokenPair>("/v1/sessions", {
    username,
    password: PASSWORD,
    device: device.toJSON(),
    device_label: "test",
  });
  const probe = new Api({ token: () => Promise.resolve(pair.access_token), renew: () => Promise.resolve(null) }, server.url);
  const me = await probe.get<AccountInfo>("/v1/me");
  const fingerprint = deviceFingerprint(device.public.identity);
  const keystore = await Keystore.create(memoryBacking(), memoryMarker(), { ...newSecrets(pair, me, device, true), username });
  device.wipe();
  const ctx = contextOf(new Api(new Tokens(keystore, new Api(null, server.url)), server.url), keystore);
  await cli.run("admin", ["admin", "certify", username, "--fingerprint", fingerprint]);
  await cli.run("mette", ["keys"]);
  await upkeep(ctx);
  return ctx;
}

describe.skipIf(skipped !== null)("message templates", () => {
  let server: Server;
  let cli: Cli;
  let karl: Context;
  let sara: Context;
  let team: TeamId;

  beforeAll(async () => {
    server = await startServer(null);
    cli = new Cli(server);
    await organisation(cli, server);
    for (const [user, name] of [
      ["karl", "Karl Nielsen"],
      ["sara", "Sara Holm"],
    ] as const) {
      await cli.run("admin", ["admin", "staff", "create", user, "--name", name, "--role", "staff", "--team", "Jobcenter"]);
    }
    karl = await staffClient(server, cli, "karl");
    sara = await staffClient(server, cli, "sara");
    const teams = await get<TeamInfo[]>(karl, "/v1/teams");
    team = teams[0]?.team_id as TeamId;
  }, 180_000);

  afterAll(async () => {
    cli?.cleanup();
    await server?.stop();
  });

  it("a template sealed by one caseworker opens for a colleague, named after its writer; the server holds no text", async () => {
    const id = await saveTemplate(karl, team, { title: "Ring til mig", text: "Vil du ringe til mig i dag mellem 9 og 15?" });
    const shelf = await listTemplates(sara, team);
    expect(shelf.refused).toBe(0);
    expect(shelf.templates).toEqual([
      expect.objectContaining({ id, title: "Ring til mig", text: "Vil du ringe til mig i dag mellem 9 og 15?", author: "Karl Nielsen" }),
    ]);
    const stored = await sql(server, "SELECT hex(sealed) FROM team_templates");
    expect(Buffer.from(stored, "hex").toString("latin1")).not.toContain("ringe");
    // Changed by the colleague: the same id, her name.
    await saveTemplate(sara, team, { id, title: "Ring til mig", text: "Ring til mig, når du kan." });
    expect((await listTemplates(karl, team)).templates.map((t) => [t.text, t.author])).toEqual([["Ring til mig, når du kan.", "Sara Holm"]]);
    await deleteTemplate(karl, team, id);
    expect((await listTemplates(sara, team)).templates).toEqual([]);
  });

  it("a template the operator swaps in (sealed to the team key, under a real writer's certificate) is refused, not shown", async () => {
    const id = await saveTemplate(karl, team, { title: "Påmindelse", text: "Husk mødet på torsdag." });
    const list = await get<TemplateList>(karl, `/v1/teams/${team}/templates`);
    const stored = Envelope.decode(b64Decode(list.templates[0]?.sealed ?? ""));
    const epoch = stored.recipients[0];
    const teamKey = epoch === undefined ? undefined : heldKey(karl.keystore.secrets, epoch);
    expect(teamKey).toBeDefined();
    // The operator's template: its own device key, the team's public key.
    const rogue = DeviceKeys.generate();
    const asThread = idFromBytes<ThreadId>(idToBytes(team));
    const forged = await Envelope.seal(
      rogue,
      asThread,
      id,
      [teamKey!.public],
      new TextEncoder().encode(JSON.stringify({ title: "Påmindelse", text: "Log ind på https://evil.example med dit MitID." })),
    );
    // Positive control: it opens with the team key, so a client that only
    // decrypted would show it.
    const opened = await Envelope.decode(forged.bytes).open({ threadId: asThread, messageId: id }, teamKey!);
    expect(new TextDecoder().decode(opened.payload)).toContain("evil.example");
    await sql(server, `UPDATE team_templates SET sealed = ${blob(forged.bytes)} WHERE template_id = '${id}'`);
    const shelf = await listTemplates(sara, team);
    expect(shelf.templates).toEqual([]);
    expect(shelf.refused).toBe(1);
  });
});
