// The citizen's client layer (src/client) against the real samtale-server
// and the real `samtale` CLI for the staff side: nothing mocked. A citizen
// in Node (a memory keystore, Node's fetch and WebSocket) reads what a
// caseworker sent, replies with text and a file that the CLI verifies and
// downloads byte for byte, approves a second device that then reads the
// history, and stays in step over the relay through a dropped connection,
// an offline spell and a lost ack.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Cli, organisation, startServer, type Server } from "../../e2e/harness";
import type { ThreadId } from "../../src/protocol";
import { approveDevice, deviceStanding, resetDevices } from "../../src/client/devices";
import { upkeep } from "../../src/client/keys";
import { Outbox } from "../../src/client/outbox";
import type { Delivered } from "../../src/client/relay";
import { deliveredReceipts, fetchAttachment, markRead, send } from "../../src/client/send";
import { safetyNumbers } from "../../src/client/safety";
import { openDelivered, threadRows, threadView } from "../../src/client/threads";
import { missingBinaries, Network, signUpForTest, sql, until, type Citizen } from "./support";

interface ShowJson {
  messages: {
    seq: number;
    sender: { name: string; badge: { kind: string }; me: boolean } | null;
    body: { status: string; text?: string; attachments?: { name: string; size: number }[]; reason?: string };
    read: boolean;
  }[];
}

const skipped = missingBinaries();

describe.skipIf(skipped !== null)("a citizen's client against the real server and CLI", () => {
  let server: Server;
  let cli: Cli;
  let fingerprint: string;
  let maja: Citizen;
  let thread: ThreadId;
  let short: string;
  const out = mkdtempSync(join(tmpdir(), "samtale-web-client-"));

  beforeAll(async () => {
    server = await startServer(null);
    cli = new Cli(server);
    ({ fingerprint } = await organisation(cli, server));
    const invitation = await cli.json<{ code: string }>("mette", ["invite", "--national-id", "010203-1234", "--name", "Maja"]);
    maja = await signUpForTest(server.url, invitation.code, fingerprint, "Maja's phone");
    await upkeep(maja.ctx);
    const created = await cli.json<{ thread_id: ThreadId }>("mette", ["new-thread", "--citizen", "Maja"]);
    thread = created.thread_id;
    short = thread.slice(0, 8);
    await cli.run("mette", ["send", short, "Hej Maja, her er bevillingen."]);
  }, 120_000);

  afterAll(async () => {
    cli?.cleanup();
    await server?.stop();
    rmSync(out, { recursive: true, force: true });
  });

  it("reads the caseworker's message with a verified sender, and the CLI sees her reply and file verified and byte-identical", async () => {
    const rows = await threadRows(maja.ctx);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ threadId: thread, team: "Jobcenter", messages: 1, unread: 1 });

    const view = await threadView(maja.ctx, thread);
    expect(view.organisation).toBe("Randers Kommune");
    expect(view.messages).toHaveLength(1);
    expect(view.messages[0]?.body).toEqual({ status: "ok", text: "Hej Maja, her er bevillingen.", attachments: [] });
    expect(view.messages[0]?.sender).toMatchObject({ kind: "staff", name: "Mette Jensen", team: "Jobcenter", me: false });

    const relay = maja.relay();
    relay.start();
    try {
      await relay.ready();
      await markRead(maja.ctx, thread, 1, relay);
      const pdf = new Uint8Array(40_000).map((_, i) => (i * 7 + 3) % 256);
      const ticks: number[] = [];
      const sent = await send(maja.ctx, thread, "Tak! Her er min underskrift.", [{ name: "underskrift.pdf", bytes: pdf }], relay, (t) => {
        if (t.kind === "bytes") ticks.push(t.done);
      });
      expect(sent.seq).toBe(2);
      expect(ticks.at(-1)).toBeGreaterThan(pdf.length);

      const shown = await cli.json<ShowJson>("mette", ["show", short]);
      const reply = shown.messages.find((m) => m.seq === 2);
      expect(reply?.sender).toMatchObject({ name: "Maja", badge: { kind: "citizen" }, me: false });
      expect(reply?.body).toMatchObject({ status: "ok", text: "Tak! Her er min underskrift." });
      expect(reply?.body.attachments).toEqual([expect.objectContaining({ name: "underskrift.pdf", size: pdf.length })]);
      await cli.run("mette", ["download", short, "2", "1", "--out", out]);
      expect(new Uint8Array(readFileSync(join(out, "underskrift.pdf")))).toEqual(pdf);

      // Her own copy opens too, and Mette's `show` marked it read.
      const file = await fetchAttachment(maja.ctx, thread, 2, 1);
      expect(file).toMatchObject({ name: "underskrift.pdf", mediaType: "application/pdf" });
      expect(file.bytes).toEqual(pdf);
      const after = await threadView(maja.ctx, thread);
      expect(after.messages[1]).toMatchObject({ sender: { kind: "citizen", me: true }, delivered: true, read: true });
      expect(after.row.unread).toBe(0);
      // Mette's CLI sees Maja's read receipt for message 1.
      expect(shown.messages[0]?.read).toBe(true);
    } finally {
      relay.close();
    }
  });

  it("a second device, approved on the first by its fingerprint, is granted the key and reads the history", async () => {
    const invitation = await cli.json<{ code: string }>("mette", ["invite", "--national-id", "010203-1234", "--name", "Maja"]);
    const laptop = await signUpForTest(server.url, invitation.code, fingerprint, "Maja's laptop");
    expect(laptop.ctx.accountId).toBe(maja.ctx.accountId);
    const waiting = await upkeep(laptop.ctx);
    expect(waiting.skipped[0]).toContain("waits for approval");
    expect(await deviceStanding(laptop.ctx)).toEqual({ kind: "pending" });
    const before = await threadView(laptop.ctx, thread);
    // Waiting for its keys: not readable here yet, which is not a warning.
    expect(before.messages[0]?.body.status).toBe("unreadable");

    const phone = await upkeep(maja.ctx);
    expect(phone.granted).toBe(0);
    const laptopFingerprint = phone.pending[0]?.fingerprint ?? "";
    expect(phone.pending).toEqual([expect.objectContaining({ deviceId: laptop.ctx.deviceId, label: "Maja's laptop" })]);
    await expect(approveDevice(maja.ctx, "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA")).rejects.toThrow(
      "no waiting device has the fingerprint",
    );
    const approved = await approveDevice(maja.ctx, laptopFingerprint.toLowerCase());
    expect(approved.approved.deviceId).toBe(laptop.ctx.deviceId);
    expect(approved.report.granted).toBeGreaterThanOrEqual(1);

    const history = await threadView(laptop.ctx, thread);
    expect(history.messages.map((m) => m.body.status === "ok" && m.body.text)).toEqual([
      "Hej Maja, her er bevillingen.",
      "Tak! Her er min underskrift.",
    ]);
    expect(history.messages[1]?.sender).toMatchObject({ kind: "citizen", me: true });
    // Both devices count in the safety number Mette compares.
    const rows = await safetyNumbers(laptop.ctx, thread);
    expect(rows).toEqual([expect.objectContaining({ name: "Mette Jensen", staff: true, devices: 1 })]);
  });

  it("the relay delivers live, catches up after a dropped connection, and sends delivered receipts", async () => {
    const network = new Network();
    const relay = maja.relay({ WebSocket: network.WebSocket });
    const got: Delivered[] = [];
    const statuses: string[] = [];
    relay.on("status", (s) => statuses.push(s));
    relay.onDeliver((d) => got.push(d));
    // The thread is not open on this device: what arrives is "delivered".
    const stopReceipts = deliveredReceipts(maja.ctx, relay, () => false);
    relay.start();
    try {
      await relay.ready();
      const seen = (await threadView(maja.ctx, thread)).messages.length;
      relay.subscribe(thread, seen);
      await cli.run("mette", ["send", short, "Mødet er torsdag kl. 10."]);
      await until(() => got.length === 1, 10_000, "the live message");
      const live = await openDelivered(maja.ctx, thread, got);
      expect(live[0]).toMatchObject({ seq: seen + 1, body: { status: "ok", text: "Mødet er torsdag kl. 10." } });
      expect(live[0]?.sender).toMatchObject({ kind: "staff", name: "Mette Jensen" });

      network.down = true;
      network.drop();
      await until(() => relay.status !== "online", 5_000, "the relay to notice");
      await cli.run("mette", ["send", short, "Husk dit sygesikringskort."]);
      await cli.run("mette", ["send", short, "Vi ses."]);
      network.down = false;
      relay.nudge();
      await until(() => got.length === 3, 10_000, "the catch-up");
      expect(got.map((d) => d.seq)).toEqual([seen + 1, seen + 2, seen + 3]);
      expect(statuses).toEqual(expect.arrayContaining(["online", "offline", "connecting"]));
      const caught = await openDelivered(maja.ctx, thread, got.slice(1));
      expect(caught.map((m) => m.body.status === "ok" && m.body.text)).toEqual(["Husk dit sygesikringskort.", "Vi ses."]);

      await until(
        async () => Number(await sql(server, `SELECT COALESCE(MAX(up_to_seq), 0) FROM receipts WHERE thread_id = '${thread}' AND kind = 'delivered'`)) === seen + 3,
        5_000,
        "the delivered receipt",
      );
    } finally {
      stopReceipts();
      relay.close();
    }
  });

  it("a message written offline survives reloads, is sealed once online, and is stored once although its ack was lost", async () => {
    const network = new Network();
    // The page with no network: the message waits, its text in the keystore.
    network.down = true;
    const relay1 = maja.relay({ WebSocket: network.WebSocket });
    const outbox1 = new Outbox(maja.ctx, relay1);
    relay1.start();
    const id = await outbox1.compose(thread, "Skrevet i toget uden net.");
    expect(outbox1.list()).toEqual([expect.objectContaining({ messageId: id, threadId: thread, state: "queued" })]);
    expect(maja.keystore.secrets.outbox).toEqual([expect.objectContaining({ messageId: id, envelope: null })]);
    outbox1.dispose();
    relay1.close();

    // Reloaded and online: it is sealed, kept, sent — and the ack is lost
    // before the page closes again.
    network.down = false;
    network.loseAcks = 1;
    const relay2 = maja.relay({ WebSocket: network.WebSocket });
    const outbox2 = new Outbox(maja.ctx, relay2);
    relay2.start();
    outbox2.restore();
    const stored = `SELECT COUNT(*) FROM messages WHERE thread_id = '${thread}' AND message_id = '${id}'`;
    await until(async () => (await sql(server, stored)) === "1", 10_000, "the server to store it");
    await until(() => network.loseAcks === 0, 5_000, "the lost ack");
    const sealed = maja.keystore.secrets.outbox?.[0]?.envelope;
    expect(sealed).toEqual(expect.any(String));
    outbox2.dispose();
    relay2.close();

    // Reloaded again: the same bytes go out once more and the server answers
    // with the same ack instead of storing a second copy.
    const relay3 = maja.relay({ WebSocket: network.WebSocket });
    const outbox3 = new Outbox(maja.ctx, relay3);
    const sent = new Promise<number>((resolve) => outbox3.onSent((m) => resolve(m.seq)));
    relay3.start();
    outbox3.restore();
    try {
      const seq = await sent;
      expect(outbox3.list()).toEqual([]);
      expect(maja.keystore.secrets.outbox).toEqual([]);
      expect(await sql(server, stored)).toBe("1");
      const envelope = await sql(server, `SELECT hex(envelope) FROM messages WHERE message_id = '${id}'`);
      expect(envelope.toLowerCase()).toBe(Buffer.from(sealed ?? "", "base64url").toString("hex"));
      const shown = await cli.json<ShowJson>("mette", ["show", short]);
      expect(shown.messages.find((m) => m.seq === seq)?.body.text).toBe("Skrevet i toget uden net.");
    } finally {
      outbox3.dispose();
      relay3.close();
    }
  });

  it("a citizen who lost every device resets her list from a new one, which starts a new key that the caseworker seals to once she has compared safety numbers", async () => {
    const invitation = await cli.json<{ code: string }>("mette", ["invite", "--national-id", "010203-1234", "--name", "Maja"]);
    const newPhone = await signUpForTest(server.url, invitation.code, fingerprint, "Maja's new phone");
    expect((await upkeep(newPhone.ctx)).skipped[0]).toContain("waits for approval");
    const report = await resetDevices(newPhone.ctx);
    expect(report.published).toEqual([expect.stringMatching(/^Citizen key .* \(rotation\)$/)]);
    expect(await deviceStanding(newPhone.ctx)).toEqual({ kind: "listed" });
    // The lost phone was revoked by the reset.
    await expect(upkeep(maja.ctx)).rejects.toThrow("your session has ended");

    // Mette's client flags the reset and seals nothing until she confirms.
    await expect(cli.run("mette", ["send", short, "Er det dig, Maja?"])).rejects.toThrow("devices were reset");
    await cli.run("mette", ["safety", short, "--confirm", "Maja"]);
    await cli.run("mette", ["send", short, "Velkommen tilbage."]);

    const view = await threadView(newPhone.ctx, thread);
    const last = view.messages.at(-1);
    expect(last?.body).toEqual({ status: "ok", text: "Velkommen tilbage.", attachments: [] });
    expect(last?.sender).toMatchObject({ kind: "staff", name: "Mette Jensen" });
    // What was sealed to the lost devices' key stays closed to the new one:
    // not readable here, which is not a failed check.
    expect(view.messages[0]?.body).toMatchObject({ status: "unreadable" });
  });
});
