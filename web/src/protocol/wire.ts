// The WebSocket frames and their error codes (PROTOCOL.md §11–12), as the
// Rust crate's `wire.rs` defines them. Frames are closed JSON objects with
// a `type`; parsing here is as strict as the server's (unknown types and
// fields refused), so a client notices a server that speaks another version.
// Binary fields stay base64url strings in the frame types; decode them with
// the object they carry (`Envelope.decode(b64Decode(frame.envelope))`).

import { b64Decode, Base64Error } from "./b64";
import { MAX_ENVELOPE_BYTES } from "./envelope";
import { IdError, parseId, type DeviceId, type MessageId, type ThreadId } from "./ids";
import { isWellFormed, JsonObject, JsonSyntaxError, parseJson, unsignedInteger, type JsonValue } from "./json";
import { utf8Length } from "./utf8";

/** The WebSocket subprotocol for this version. */
export const WS_SUBPROTOCOL = "samtale.v1";
/** The REST path prefix for this version. */
export const API_PREFIX = "/v1";
/** The largest frame either side may send (91,124 bytes). */
export const MAX_FRAME_BYTES = Math.ceil(MAX_ENVELOPE_BYTES / 3) * 4 + 1024;
/** The largest REST request body outside attachment uploads. */
export const MAX_REST_BODY_BYTES = 256 * 1024;
/** The longest access token accepted in an `auth` frame. */
export const MAX_TOKEN_BYTES = 4096;

/** Stable error codes, shared by REST error bodies and `error` frames, with
 *  the HTTP status and WebSocket close code each carries. */
export const ERROR_CODES = {
  bad_request: { http: 400, close: 4000 },
  unknown_frame_type: { http: 400, close: 4001 },
  too_large: { http: 413, close: 1009 },
  not_authenticated: { http: 401, close: 4002 },
  authentication_failed: { http: 401, close: 4003 },
  token_expired: { http: 401, close: 4004 },
  device_revoked: { http: 401, close: 4005 },
  not_found: { http: 404, close: 4006 },
  forbidden: { http: 403, close: 4007 },
  conflict: { http: 409, close: 4008 },
  validation_failed: { http: 422, close: 4009 },
  invalid_envelope: { http: 400, close: 4010 },
  consent_withdrawn: { http: 403, close: 4011 },
  rate_limited: { http: 429, close: 4012 },
  slow_consumer: { http: 500, close: 4013 },
  password_change_required: { http: 403, close: 4014 },
  internal: { http: 500, close: 1011 },
  unavailable: { http: 503, close: 1013 },
} as const satisfies Record<string, { http: number; close: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(text: string): text is ErrorCode {
  return Object.hasOwn(ERROR_CODES, text);
}

/** The body of every REST error response, and the payload of `error` frames. */
export interface ErrorBody {
  readonly code: ErrorCode;
  readonly message: string;
}

/** Frames a client sends. */
export type ClientFrame =
  | { readonly type: "auth"; readonly token: string }
  | { readonly type: "send"; readonly thread_id: ThreadId; readonly message_id: MessageId; readonly envelope: string }
  | { readonly type: "sync"; readonly thread_id: ThreadId; readonly after_seq: number }
  | { readonly type: "receipt"; readonly receipt: string };

/** Frames the server sends. */
export type ServerFrame =
  | { readonly type: "ready"; readonly device_id: DeviceId; readonly server_time_ms: number }
  | {
      readonly type: "ack";
      readonly thread_id: ThreadId;
      readonly message_id: MessageId;
      readonly seq: number;
      readonly committed_at_ms: number;
    }
  | {
      readonly type: "deliver";
      readonly thread_id: ThreadId;
      readonly seq: number;
      readonly message_id: MessageId;
      readonly committed_at_ms: number;
      readonly envelope: string;
    }
  | { readonly type: "synced"; readonly thread_id: ThreadId; readonly up_to_seq: number }
  | { readonly type: "receipt"; readonly receipt: string }
  | { readonly type: "error"; readonly code: ErrorCode; readonly message: string; readonly message_id?: MessageId };

/** Why a frame was refused, with the code to answer with. */
export class FrameError extends Error {
  override readonly name = "FrameError";
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

type Field = "string" | "id" | "b64" | "u64" | "error_code";
type Shape = Readonly<Record<string, Field>>;

const CLIENT_SHAPES: Readonly<Record<ClientFrame["type"], { required: Shape; optional?: Shape }>> = {
  auth: { required: { token: "string" } },
  send: { required: { thread_id: "id", message_id: "id", envelope: "b64" } },
  sync: { required: { thread_id: "id", after_seq: "u64" } },
  receipt: { required: { receipt: "b64" } },
};

const SERVER_SHAPES: Readonly<Record<ServerFrame["type"], { required: Shape; optional?: Shape }>> = {
  ready: { required: { device_id: "id", server_time_ms: "u64" } },
  ack: { required: { thread_id: "id", message_id: "id", seq: "u64", committed_at_ms: "u64" } },
  deliver: { required: { thread_id: "id", seq: "u64", message_id: "id", committed_at_ms: "u64", envelope: "b64" } },
  synced: { required: { thread_id: "id", up_to_seq: "u64" } },
  receipt: { required: { receipt: "b64" } },
  error: { required: { code: "error_code", message: "string" }, optional: { message_id: "id" } },
};

const badRequest = (message: string): FrameError => new FrameError("bad_request", message);

function fieldValue(kind: Field, v: JsonValue, name: string): string | number {
  const wrong = badRequest(`invalid frame: invalid type or value for field \`${name}\``);
  if (kind === "u64") {
    // The wire allows any u64; past 2^53 a JavaScript number would round,
    // so such a value is refused rather than misread.
    const n = unsignedInteger(v, BigInt(Number.MAX_SAFE_INTEGER));
    if (n === undefined) throw wrong;
    return Number(n);
  }
  if (typeof v !== "string" || !isWellFormed(v)) throw wrong;
  try {
    if (kind === "id") parseId(v);
    if (kind === "b64") b64Decode(v);
  } catch (e) {
    if (e instanceof IdError || e instanceof Base64Error) throw wrong;
    throw e;
  }
  if (kind === "error_code" && !isErrorCode(v)) throw wrong;
  return v;
}

function parseFrame(text: string, shapes: Readonly<Record<string, { required: Shape; optional?: Shape }>>): Record<string, unknown> {
  if (utf8Length(text) > MAX_FRAME_BYTES) {
    throw new FrameError("too_large", `frames are limited to ${MAX_FRAME_BYTES} bytes`);
  }
  let doc: JsonValue;
  try {
    doc = parseJson(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw badRequest("a frame must be a JSON object: syntax error");
    throw e;
  }
  if (!(doc instanceof JsonObject)) throw badRequest("a frame must be a JSON object: a field has the wrong type or value");
  const type = doc.get("type");
  if (type === undefined || type === null) throw badRequest('the frame has no "type" field');
  if (typeof type !== "string" || doc.keys().filter((k) => k === "type").length > 1) {
    throw badRequest("a frame must be a JSON object: a field has the wrong type or value");
  }
  if (!Object.hasOwn(shapes, type)) {
    throw new FrameError(
      "unknown_frame_type",
      `unknown frame type; this server speaks ${WS_SUBPROTOCOL}: ${Object.keys(shapes).join(", ")}`,
    );
  }
  if (doc.hasRepeatedKeys()) throw badRequest("invalid frame: duplicate field");
  const shape = shapes[type] ?? { required: {} };
  const out: Record<string, unknown> = { type };
  for (const [name, value] of doc.members) {
    if (name === "type") continue;
    const optional = shape.optional?.[name];
    const kind = shape.required[name] ?? optional;
    if (kind === undefined) throw badRequest(`invalid frame: unknown field \`${name}\``);
    // An optional field may be null (serde's Option), which means absent.
    if (optional !== undefined && value === null) continue;
    out[name] = fieldValue(kind, value, name);
  }
  for (const name of Object.keys(shape.required)) {
    if (!(name in out)) throw badRequest(`invalid frame: missing field \`${name}\``);
  }
  return out;
}

/** Parses a text frame from the server. */
export function parseServerFrame(text: string): ServerFrame {
  return parseFrame(text, SERVER_SHAPES) as unknown as ServerFrame;
}

/** Parses a text frame from a client (as the server does; for tests and tools). */
export function parseClientFrame(text: string): ClientFrame {
  const frame = parseFrame(text, CLIENT_SHAPES) as unknown as ClientFrame;
  if (frame.type === "auth" && utf8Length(frame.token) > MAX_TOKEN_BYTES) {
    throw new FrameError("too_large", `tokens are limited to ${MAX_TOKEN_BYTES} bytes`);
  }
  return frame;
}

/** A frame as JSON text. */
export function frameToJson(frame: ClientFrame | ServerFrame): string {
  return JSON.stringify(frame);
}
