// WebSocket frames and error codes (PROTOCOL.md §11, §12), parsed as
// strictly as the server parses them (protocol/src/wire.rs), and the
// fingerprints people compare (§10).

import { describe, expect, it } from "vitest";

import { deviceFingerprint, fingerprintsMatch, orgFingerprint, safetyNumber } from "../src/protocol/safety";
import { DeviceKeys, OrgRootKey } from "../src/protocol/keys";
import { MAX_ENVELOPE_BYTES } from "../src/protocol/envelope";
import { ERROR_CODES, frameToJson, MAX_FRAME_BYTES, MAX_TOKEN_BYTES, parseClientFrame, parseServerFrame, type ServerFrame } from "../src/protocol/wire";

const ID = "0b0d6a4e-4f1c-4e8a-9d3b-2c6f1a7e5d90";

function code(f: () => unknown): string {
  try {
    f();
    return "ok";
  } catch (e) {
    return (e as { code: string }).code;
  }
}

describe("frames", () => {
  it("round-trip through JSON", () => {
    const frames: ServerFrame[] = [
      { type: "ready", device_id: ID as never, server_time_ms: 1_767_225_600_000 },
      { type: "deliver", thread_id: ID as never, seq: 42, message_id: ID as never, committed_at_ms: 1, envelope: "AQE" },
      { type: "error", code: "consent_withdrawn", message: "use letter or digital post" },
      { type: "error", code: "conflict", message: "x", message_id: ID as never },
    ];
    for (const f of frames) expect(parseServerFrame(frameToJson(f))).toEqual(f);
    expect(parseClientFrame('{"type":"sync","thread_id":"' + ID + '","after_seq":0}')).toEqual({ type: "sync", thread_id: ID, after_seq: 0 });
  });

  it("are refused with the server's codes: unknown fields, types and shapes, oversize frames and tokens", () => {
    expect(code(() => parseClientFrame('{"type":"auth","token":"t","extra":1}'))).toBe("bad_request");
    expect(code(() => parseClientFrame('{"type":"teleport"}'))).toBe("unknown_frame_type");
    expect(code(() => parseClientFrame('{"token":"t"}'))).toBe("bad_request");
    expect(code(() => parseClientFrame('{"type":null}'))).toBe("bad_request");
    expect(code(() => parseClientFrame('{"type":5}'))).toBe("bad_request");
    expect(code(() => parseClientFrame("not json"))).toBe("bad_request");
    expect(code(() => parseClientFrame("[1,2]"))).toBe("bad_request");
    expect(code(() => parseClientFrame(" ".repeat(MAX_FRAME_BYTES + 1)))).toBe("too_large");
    expect(code(() => parseClientFrame(`{"type":"auth","token":"${"a".repeat(MAX_TOKEN_BYTES + 1)}"}`))).toBe("too_large");
    expect(code(() => parseClientFrame('{"type":"send","thread_id":"x","message_id":"y","envelope":"AA"}'))).toBe("bad_request");
    expect(code(() => parseClientFrame(`{"type":"sync","thread_id":"${ID}","after_seq":-1}`))).toBe("bad_request");
    expect(code(() => parseClientFrame(`{"type":"sync","thread_id":"${ID}"}`))).toBe("bad_request");
    expect(code(() => parseClientFrame(`{"type":"sync","thread_id":"${ID}","after_seq":0,"after_seq":1}`))).toBe("bad_request");
    expect(code(() => parseServerFrame('{"type":"receipt","receipt":"AA=="}'))).toBe("bad_request");
    expect(code(() => parseServerFrame('{"type":"error","code":"no_such_code","message":"x"}'))).toBe("bad_request");
    expect(code(() => parseServerFrame('{"type":"error","code":"internal","message":"x","message_id":null}'))).toBe("ok");
  });

  it("never echo the frame's content in an error", () => {
    const secret = "hemmelig-besked-123";
    let message = "";
    try {
      parseClientFrame(`{"type":"sync","thread_id":"${secret}","after_seq":0}`);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).not.toBe("");
    expect(message).not.toContain(secret);
  });

  it("have the limits and codes PROTOCOL.md states", () => {
    expect([MAX_ENVELOPE_BYTES, MAX_FRAME_BYTES]).toEqual([67_575, 91_124]);
    expect(Object.keys(ERROR_CODES)).toHaveLength(18);
    expect(ERROR_CODES.too_large).toEqual({ http: 413, close: 1009 });
    expect(ERROR_CODES.password_change_required).toEqual({ http: 403, close: 4014 });
  });
});

describe("fingerprints", () => {
  const root = OrgRootKey.fromSeed(new Uint8Array(32).fill(8)).public;

  it("of an organisation are 25 readable characters matched as a person types them", () => {
    const fp = orgFingerprint(root);
    expect(fp).toMatch(/^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){4}$/);
    expect(fingerprintsMatch(fp.toLowerCase().replaceAll("-", " "), fp)).toBe(true);
    expect(fingerprintsMatch(fp.replaceAll("0", "O").replaceAll("1", "l"), fp)).toBe(true);
    expect(fingerprintsMatch(` ${fp}\u00a0\u3000`, fp)).toBe(true);
    expect(fingerprintsMatch(`${fp}\ufeff`, fp)).toBe(false);
    expect(fingerprintsMatch("", fp)).toBe(false);
    expect(fingerprintsMatch(orgFingerprint(OrgRootKey.fromSeed(new Uint8Array(32).fill(9)).public), fp)).toBe(false);
  });

  it("of a device are 25 hex digits in five groups", () => {
    expect(deviceFingerprint(DeviceKeys.generate().public.identity)).toMatch(/^[0-9A-F]{5}(-[0-9A-F]{5}){4}$/);
  });

  it("change the safety number when either party's devices change", () => {
    const [a, b, c] = [DeviceKeys.generate(), DeviceKeys.generate(), DeviceKeys.generate()].map((d) => d.public.identity);
    if (a === undefined || b === undefined || c === undefined) throw new Error("keys");
    const id = (n: number): Uint8Array => new Uint8Array(16).fill(n);
    const ab = safetyNumber({ stableId: id(1), devices: [a] }, { stableId: id(2), devices: [b] });
    expect(ab).toBe(safetyNumber({ stableId: id(2), devices: [b] }, { stableId: id(1), devices: [a] }));
    expect(ab).not.toBe(safetyNumber({ stableId: id(1), devices: [a] }, { stableId: id(2), devices: [c] }));
    expect(ab).not.toBe(safetyNumber({ stableId: id(1), devices: [a, c] }, { stableId: id(2), devices: [b] }));
    expect(ab).not.toBe(safetyNumber({ stableId: id(3), devices: [a] }, { stableId: id(2), devices: [b] }));
  });
});
