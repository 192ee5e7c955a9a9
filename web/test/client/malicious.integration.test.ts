// A malicious server operator against the citizen's client layer, in the
// style of client-cli/tests/malicious_server.rs: the test tampers with the
// real server's SQLite file directly (as an operator with database access
// would), then lets the client act as usual, and checks that it refuses
// with a named security error and that nothing was sealed, granted or
// shown. Each case has its positive control: through the same server it
// shows that the tampered data now names the operator's key, device or
// citizen — so a client that followed the server's lists would have leaked.

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Cli, organisation, startServer, type Server } from "../../e2e/harness";
import {
  b64Decode,
  blobSha256,
  decodeLogRecords,
  Directory,
  DeviceKeys,
  encodePayload,
  Envelope,
  Grant,
  HolderKeyPair,
  HolderKeyRecord,
  idToBytes,
  randomId,
  type DeviceId,
  type HolderId,
  type HolderPublicKey,
  type MessageId,
  type ThreadId,
} from "../../src/protocol";
import type { EntitledDevices, SignedLog, ThreadDetail, ThreadDevices, ThreadKeys } from "../../src/protocol/rest";
import { get } from "../../src/client/context";
import { heldKey, upkeep } from "../../src/client/keys";
import { send } from "../../src/client/send";
import { threadView } from "../../src/client/threads";
import { blob, missingBinaries, signUpForTest, sql, type Citizen } from "./support";

const skipped = missingBinaries();
const now = (): number => Math.floor(Date.now() / 1000);

/** What a client that believed the server would seal to: the recipients the
 *  thread lists, each with the key its record serves (signature checked,
 *  nothing else). */
async function naiveRecipients(c: Citizen, thread: ThreadId): Promise<HolderPublicKey[]> {
  const detail = await get<ThreadDetail>(c.ctx, `/v1/threads/${thread}`);
  const keys = await get<ThreadKeys>(c.ctx, `/v1/threads/${thread}/keys`);
  return detail.recipients.map((want) => {
    const set = keys.holders.find((h) => h.holder_id === want.holder);
    const entry = set?.records[want.epoch];
    if (entry === undefined) throw new Error("the server lists a recipient it does not serve");
    return HolderKeyRecord.decodeAndVerify(b64Decode(entry.record)).key;
  });
}

/** The positive control's proof: sealed to what the server lists, a
 *  message opens with `reader`'s key. */
async function readsWhatIsSealedTo(recipients: HolderPublicKey[], reader: HolderKeyPair): Promise<void> {
  expect(recipients.some((r) => r.holder === reader.epoch.holder && r.key.equals(reader.public.key))).toBe(true);
  const thread = randomId<ThreadId>();
  const message = randomId<MessageId>();
  const sealed = await Envelope.seal(DeviceKeys.generate(), thread, message, recipients, new TextEncoder().encode("Dit CPR-nummer er ..."));
  const opened = await Envelope.decode(sealed.bytes).open({ threadId: thread, messageId: message }, reader);
  expect(new TextDecoder().decode(opened.payload)).toBe("Dit CPR-nummer er ...");
}

async function messages(server: Server, thread: string): Promise<number> {
  return Number(await sql(server, `SELECT COUNT(*) FROM messages WHERE thread_id = '${thread}'`));
}

describe.skipIf(skipped !== null)("a malicious server cannot make the citizen's client seal, grant or show for it", () => {
  let server: Server;
  let cli: Cli;
  let maja: Citizen;
  let elsa: Citizen;
  let thread: ThreadId;
  let short: string;
  let orgId: string;

  beforeAll(async () => {
    server = await startServer(null);
    cli = new Cli(server);
    const { fingerprint } = await organisation(cli, server);
    const citizens: Citizen[] = [];
    for (const [name, id] of [
      ["Maja", "010203-1234"],
      ["Elsa", "19811218-9876"],
    ] as const) {
      const invitation = await cli.json<{ code: string }>("mette", ["invite", "--national-id", id, "--name", name]);
      const c = await signUpForTest(server.url, invitation.code, fingerprint, `${name}'s phone`);
      await upkeep(c.ctx);
      citizens.push(c);
    }
    [maja, elsa] = citizens as [Citizen, Citizen];
    orgId = maja.ctx.orgId;
    thread = (await cli.json<{ thread_id: ThreadId }>("mette", ["new-thread", "--citizen", "Maja"])).thread_id;
    short = thread.slice(0, 8);
    await cli.run("mette", ["send", short, "Hej Maja, her er bevillingen."]);
    // A first look pins what this device has verified.
    expect((await threadView(maja.ctx, thread)).messages[0]?.body.status).toBe("ok");
  }, 120_000);

  afterAll(async () => {
    cli?.cleanup();
    await server?.stop();
  });

  it("a device the operator inserts into the citizen's account is never granted her key, and what it sends is not shown as hers", async () => {
    const ghost = DeviceKeys.generate();
    const ghostId = randomId<DeviceId>();
    const account = maja.ctx.accountId;
    await sql(
      server,
      `INSERT INTO devices (id, account_id, identity_key, agreement_key, label, created_at) VALUES ('${ghostId}', '${account}', ${blob(ghost.public.identity.bytes)}, ${blob(ghost.public.agreement.bytes)}, 'Maja''s new phone', ${now()})`,
    );
    const holder = await sql(server, `SELECT id FROM holders WHERE kind = 'citizen' AND owner_id = '${account}'`);

    // Positive control: the server asks for her key to be granted to the
    // ghost, and a grant to the key it lists would give the operator it.
    const entitled = await get<EntitledDevices>(maja.ctx, `/v1/keys/${holder}/devices`);
    const listed = entitled.devices.find((d) => d.device_id === ghostId);
    expect(listed?.missing_epochs.length).toBeGreaterThan(0);
    expect(listed?.keys.agreement).toBe(ghost.public.agreement.toString());
    const key = heldKey(maja.keystore.secrets, { holder: holder as HolderId, epoch: 0 });
    if (key === undefined) throw new Error("Maja holds her key");
    const naive = await Grant.issue(maja.ctx.device, key, ghost.public.agreement, BigInt(now()));
    expect((await naive.open(ghost)).public.key.equals(key.public.key)).toBe(true);

    const report = await upkeep(maja.ctx);
    expect(report.granted).toBe(0);
    expect(report.skipped).toEqual([expect.stringContaining("not in your signed device list")]);
    expect(report.pending).toEqual([expect.objectContaining({ deviceId: ghostId, label: "Maja's new phone" })]);
    expect(await sql(server, `SELECT COUNT(*) FROM grants WHERE device_id = '${ghostId}'`)).toBe("0");

    // The ghost "writes" as Maja, sealed to the thread's real keys.
    const seq = (await messages(server, thread)) + 1;
    const messageId = randomId<MessageId>();
    const payload = encodePayload({ text: "Ring til mig på dette nye nummer", attachments: [] });
    const envelope = await Envelope.seal(ghost, thread, messageId, await naiveRecipients(maja, thread), payload);
    await sql(
      server,
      `INSERT INTO messages (thread_id, seq, message_id, sender_device_id, envelope, envelope_sha256, committed_at_ms) VALUES ('${thread}', ${seq}, '${messageId}', '${ghostId}', ${blob(envelope.bytes)}, X'${blobSha256(envelope.bytes)}', ${Date.now()}); UPDATE threads SET last_seq = ${seq} WHERE id = '${thread}'`,
    );
    const devices = await get<ThreadDevices>(maja.ctx, `/v1/threads/${thread}/devices`);
    expect(devices.devices.some((d) => d.account_id === account && d.keys.identity === ghost.public.identity.toString())).toBe(
      true,
    );
    const view = await threadView(maja.ctx, thread);
    const shown = view.messages.find((m) => m.seq === seq);
    expect(shown?.sender).toBeNull();
    expect(shown?.body).toEqual({
      status: "failed",
      reason: expect.stringContaining("in no participant's signed device list") as unknown,
    });
    expect(JSON.stringify(view)).not.toContain("nye nummer");

    await sql(
      server,
      `DELETE FROM messages WHERE message_id = '${messageId}'; UPDATE threads SET last_seq = ${seq - 1} WHERE id = '${thread}'; DELETE FROM devices WHERE id = '${ghostId}'`,
    );
  });

  it("a citizen the operator adds to the thread outside its signed participant list is never sealed to", async () => {
    await sql(server, `INSERT INTO thread_citizens (thread_id, account_id, added_at) VALUES ('${thread}', '${elsa.ctx.accountId}', ${now()})`);
    const elsaHolder = await sql(server, `SELECT id FROM holders WHERE kind = 'citizen' AND owner_id = '${elsa.ctx.accountId}'`);
    const elsaKey = heldKey(elsa.keystore.secrets, { holder: elsaHolder as HolderId, epoch: 0 });
    if (elsaKey === undefined) throw new Error("Elsa holds her key");
    // Positive control: sealed to what the server lists, Elsa reads it.
    await readsWhatIsSealedTo(await naiveRecipients(maja, thread), elsaKey);

    const before = await messages(server, thread);
    const relay = maja.relay();
    relay.start();
    try {
      await expect(send(maja.ctx, thread, "Om min sag ...", [], relay)).rejects.toThrow("signed participant list");
    } finally {
      relay.close();
    }
    expect(await messages(server, thread)).toBe(before);
    const view = await threadView(maja.ctx, thread);
    expect(view.row.participants.map((p) => p.name)).toEqual(["Maja"]);

    await sql(server, `DELETE FROM thread_citizens WHERE thread_id = '${thread}' AND account_id = '${elsa.ctx.accountId}'`);
  });

  it("an archive epoch the operator publishes with its own key is never sealed to", async () => {
    const archive = await sql(server, `SELECT id FROM holders WHERE kind = 'archive' AND owner_id = '${orgId}'`);
    const next = Number(await sql(server, `SELECT MAX(epoch) FROM holder_epochs WHERE holder_id = '${archive}'`)) + 1;
    const publisher = await sql(server, `SELECT published_by FROM holder_epochs WHERE holder_id = '${archive}' AND epoch = 0`);
    const operator = DeviceKeys.generate();
    const operatorKey = HolderKeyPair.generate(archive as HolderId, "archive", next);
    const forged = HolderKeyRecord.sign(operator, operatorKey.public, idToBytes(maja.ctx.orgId), BigInt(now()));
    await sql(
      server,
      `INSERT INTO holder_epochs (holder_id, epoch, public_key, record, published_by, published_at) VALUES ('${archive}', ${next}, ${blob(operatorKey.public.key.bytes)}, ${blob(forged.bytes)}, '${publisher}', ${now()})`,
    );
    // Positive control: the server now has messages sealed to the operator's key.
    await readsWhatIsSealedTo(await naiveRecipients(maja, thread), operatorKey);

    const before = await messages(server, thread);
    const relay = maja.relay();
    relay.start();
    try {
      const refused = send(maja.ctx, thread, "Mødet er flyttet.", [], relay);
      await expect(refused).rejects.toThrow("security check failed");
      await expect(refused).rejects.toThrow("archive key");
    } finally {
      relay.close();
    }
    expect(await messages(server, thread)).toBe(before);
    await sql(server, `DELETE FROM holder_epochs WHERE holder_id = '${archive}' AND epoch = ${next}`);
  });

  it("a team member list the operator rolls back is refused once this device has seen it longer", async () => {
    const team = (await get<ThreadDetail>(maja.ctx, `/v1/threads/${thread}`)).summary.team_id;
    const last = Number(await sql(server, `SELECT MAX(seq) FROM membership_records WHERE log = 1 AND subject = '${team}'`));
    const saved = await sql(server, `SELECT hex(record) || ' ' || appended_at FROM membership_records WHERE log = 1 AND subject = '${team}' AND seq = ${last}`);
    await sql(server, `DELETE FROM membership_records WHERE log = 1 AND subject = '${team}' AND seq = ${last}`);
    // Positive control: the shorter list still verifies on its own, so a
    // client without pins would take it.
    const served = await get<SignedLog>(maja.ctx, `/v1/teams/${team}/member-log`);
    expect(served.records).toHaveLength(last);
    const fresh = new Directory(maja.ctx.root, maja.ctx.orgId);
    const records = decodeLogRecords(served.records);
    for (const account of Directory.accountsCertified(records.flatMap((r) => (r.certificate ? [r.certificate] : [])))) {
      const log = await get<SignedLog>(maja.ctx, `/v1/accounts/${account}/device-log`);
      fresh.addStaffDeviceLog(account, decodeLogRecords(log.records).map((r) => r.record));
    }
    expect(() => fresh.addTeamLog(team, records)).not.toThrow();

    await expect(threadView(maja.ctx, thread)).rejects.toThrow("the server has rolled it back");
    const [hex, at] = saved.split(" ");
    await sql(
      server,
      `INSERT INTO membership_records (log, subject, seq, record, appended_at) VALUES (1, '${team}', ${last}, X'${hex ?? ""}', ${at ?? now()})`,
    );
    expect((await threadView(maja.ctx, thread)).messages[0]?.body.status).toBe("ok");
  });
});
