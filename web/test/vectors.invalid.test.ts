// invalid.json (PROTOCOL.md §13): every encoding the Rust crate refuses,
// refused here with the same error (and, for `invalid`, the same field).

import { describe, expect, it } from "vitest";

import { DeviceCertificate } from "../src/protocol/cert";
import { Envelope } from "../src/protocol/envelope";
import { ProtocolError, type DecodeError } from "../src/protocol/errors";
import { Grant } from "../src/protocol/grant";
import { HolderKeyRecord } from "../src/protocol/holderKey";
import { HolderKeyPair } from "../src/protocol/keys";
import { MembershipRecord } from "../src/protocol/membership";
import { decodePayload } from "../src/protocol/payload";
import { Receipt } from "../src/protocol/receipt";
import { hex, vector } from "./support/vectors";

interface Case {
  error: string;
  field: string | null;
  hex: string;
  object: string;
  what: string;
}

const cases = vector<{ cases: Case[] }>("invalid.json").cases;

/** Runs the object's decoder (and, for an envelope, opening step 2). */
async function attempt(object: string, bytes: Uint8Array): Promise<void> {
  switch (object) {
    case "envelope": {
      const env = Envelope.decode(bytes);
      const [first] = env.recipients;
      if (first === undefined) throw new Error("no recipient");
      const key = HolderKeyPair.fromSecret(first, "team", new Uint8Array(32).fill(1));
      await env.open({ threadId: env.threadId, messageId: env.messageId }, key);
      return;
    }
    case "grant":
      Grant.decode(bytes);
      return;
    case "certificate":
      DeviceCertificate.decode(bytes);
      return;
    case "membership_record":
      MembershipRecord.decode(bytes);
      return;
    case "holder_key_record":
      HolderKeyRecord.decodeAndVerify(bytes);
      return;
    case "receipt":
      Receipt.decodeAndVerify(bytes);
      return;
    case "payload":
      decodePayload(bytes);
      return;
    default:
      throw new Error(`unknown object ${object}`);
  }
}

/** The error as invalid.json names it: the decoding error inside a
 *  `malformed` one, or the family's own code. */
function verdict(e: unknown): { error: string; field: string | null } {
  if (!(e instanceof ProtocolError)) throw e;
  const err = e as ProtocolError;
  const inner: DecodeError | undefined = err.code === "malformed" ? err.decodeError : undefined;
  if (inner !== undefined) return { error: inner.code, field: inner.field ?? null };
  return { error: err.code, field: null };
}

describe("invalid.json", () => {
  it("has cases for every object type", () => {
    expect(new Set(cases.map((c) => c.object))).toEqual(
      new Set(["envelope", "grant", "certificate", "membership_record", "holder_key_record", "receipt", "payload"]),
    );
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it.each(cases.map((c) => [`${c.object}: ${c.what}`, c] as const))("refuses %s", async (_, c) => {
    let refusal: { error: string; field: string | null } | undefined;
    try {
      await attempt(c.object, hex(c.hex));
    } catch (e) {
      refusal = verdict(e);
    }
    expect(refusal).toEqual({ error: c.error, field: c.object === "payload" ? null : c.field });
  });
});
