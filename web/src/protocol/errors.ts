// One error class per operation family, each with a stable `code` (the
// same words PROTOCOL.md and the Rust crate use) and the Rust crate's
// message, so that the two implementations can be compared by code and read
// side by side. No message ever contains secret material or plaintext.

/** Every error the protocol layer throws on purpose. */
export abstract class ProtocolError<C extends string = string> extends Error {
  constructor(
    readonly code: C,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /** The decoding error behind a `malformed` error, if that is what this is. */
  get decodeError(): DecodeError | undefined {
    return this.cause instanceof DecodeError ? this.cause : undefined;
  }
}

export type DecodeErrorCode =
  | "truncated"
  | "trailing_bytes"
  | "wrong_type"
  | "unsupported_version"
  | "invalid"
  | "too_large";

/** Bytes that are not a valid encoding of the expected object (PROTOCOL.md §1). */
export class DecodeError extends ProtocolError<DecodeErrorCode> {
  override readonly name = "DecodeError";
  /** For `invalid`: which field ("recipient count", "sender key", …). */
  readonly field: string | undefined;

  constructor(code: DecodeErrorCode, message: string, field?: string) {
    super(code, message);
    this.field = field;
  }

  static truncated(): DecodeError {
    return new DecodeError("truncated", "input is truncated");
  }
  static trailingBytes(n: number): DecodeError {
    return new DecodeError("trailing_bytes", `${n} unexpected bytes after the end of the object`);
  }
  static wrongType(expected: number, found: number): DecodeError {
    return new DecodeError("wrong_type", `wrong object type ${hex2(found)}, expected ${hex2(expected)}`);
  }
  static unsupportedVersion(v: number): DecodeError {
    return new DecodeError("unsupported_version", `unsupported version ${v}`);
  }
  static invalid(field: string): DecodeError {
    return new DecodeError("invalid", `invalid ${field}`, field);
  }
  static tooLarge(): DecodeError {
    return new DecodeError("too_large", "object is too large");
  }
}

function hex2(n: number): string {
  return `0x${n.toString(16).padStart(2, "0")}`;
}

/** Bytes that are not a valid key. */
export class KeyError extends ProtocolError<"length" | "invalid_identity_key" | "low_order_agreement_key"> {
  override readonly name = "KeyError";
  static wrongLength(what: string, expected: number, found: number): KeyError {
    return new KeyError("length", `a ${what} is ${expected} bytes, got ${found}`);
  }
  static invalidIdentityKey(): KeyError {
    return new KeyError("invalid_identity_key", "not a valid Ed25519 public key");
  }
  static lowOrderAgreementKey(): KeyError {
    return new KeyError("low_order_agreement_key", "X25519 public key has low order");
  }
}

/** The platform's random number generator failed. */
export class RandomnessError extends ProtocolError<"randomness"> {
  override readonly name = "RandomnessError";
  constructor(options?: ErrorOptions) {
    super("randomness", "the random number generator is unavailable", options);
  }
}

export type CertificateErrorCode =
  | "malformed"
  | "name_too_long"
  | "too_many_teams"
  | "empty_validity"
  | "bad_signature"
  | "not_yet_valid"
  | "expired"
  | "wrong_device";

/** A device certificate that cannot be issued, decoded or trusted (§5). */
export class CertificateError extends ProtocolError<CertificateErrorCode> {
  override readonly name = "CertificateError";
  static malformed(e: DecodeError): CertificateError {
    return new CertificateError("malformed", `malformed certificate: ${e.message}`, { cause: e });
  }
  static of(code: Exclude<CertificateErrorCode, "malformed">): CertificateError {
    const messages = {
      name_too_long: "a name in the certificate is longer than 200 bytes",
      too_many_teams: "a certificate lists at most 64 teams",
      empty_validity: "the validity period is empty",
      bad_signature: "the certificate is not signed by this organisation's root key",
      not_yet_valid: "the certificate is not valid yet",
      expired: "the certificate has expired",
      wrong_device: "the certificate belongs to another device",
    } as const;
    return new CertificateError(code, messages[code]);
  }
}

export type SealErrorCode =
  | "no_recipients"
  | "too_many_recipients"
  | "duplicate_recipient"
  | "payload_too_large"
  | "randomness"
  | "bad_recipient_key";

/** An envelope that could not be sealed (§4.2). */
export class SealError extends ProtocolError<SealErrorCode> {
  override readonly name = "SealError";
  static of(code: SealErrorCode, options?: ErrorOptions): SealError {
    const messages = {
      no_recipients: "an envelope needs at least one recipient",
      too_many_recipients: "too many recipients: at most 16",
      duplicate_recipient: "a recipient holder epoch is listed twice",
      payload_too_large: "payload is larger than 65536 bytes",
      randomness: "the random number generator is unavailable",
      bad_recipient_key: "a recipient's public key was rejected",
    } as const;
    return new SealError(code, messages[code], options);
  }
}

export type OpenErrorCode =
  | "malformed"
  | "bad_signature"
  | "wrong_thread"
  | "wrong_message"
  | "not_a_recipient"
  | "decryption_failed";

/** An envelope that could not be opened (§4.3). Steps 5–8 all fail as one
 *  opaque `decryption_failed`. */
export class OpenError extends ProtocolError<OpenErrorCode> {
  override readonly name = "OpenError";
  static malformed(e: DecodeError): OpenError {
    return new OpenError("malformed", `malformed envelope: ${e.message}`, { cause: e });
  }
  static of(code: Exclude<OpenErrorCode, "malformed">): OpenError {
    const messages = {
      bad_signature: "the envelope's signature does not verify",
      wrong_thread: "the envelope belongs to another thread",
      wrong_message: "the envelope carries another message id",
      not_a_recipient: "this key is not a recipient of the envelope",
      decryption_failed: "the envelope could not be decrypted",
    } as const;
    return new OpenError(code, messages[code]);
  }
}

export type GrantErrorCode =
  | "malformed"
  | "bad_signature"
  | "not_for_this_device"
  | "decryption_failed"
  | "key_mismatch"
  | "randomness"
  | "bad_recipient_key";

/** A grant that could not be issued, decoded or opened (§6). */
export class GrantError extends ProtocolError<GrantErrorCode> {
  override readonly name = "GrantError";
  static malformed(e: DecodeError): GrantError {
    return new GrantError("malformed", `malformed grant: ${e.message}`, { cause: e });
  }
  static of(code: Exclude<GrantErrorCode, "malformed">, options?: ErrorOptions): GrantError {
    const messages = {
      bad_signature: "the grant's signature does not verify",
      not_for_this_device: "the grant is for another device",
      decryption_failed: "the grant could not be decrypted",
      key_mismatch: "the granted key does not match the holder's public key",
      randomness: "the random number generator is unavailable",
      bad_recipient_key: "the recipient device's key was rejected",
    } as const;
    return new GrantError(code, messages[code], options);
  }
}

/** A holder key record that does not decode or verify (§8). */
export class HolderKeyError extends ProtocolError<"malformed" | "bad_signature"> {
  override readonly name = "HolderKeyError";
  static malformed(e: DecodeError): HolderKeyError {
    return new HolderKeyError("malformed", `malformed holder key record: ${e.message}`, { cause: e });
  }
  static badSignature(): HolderKeyError {
    return new HolderKeyError("bad_signature", "the holder key record's signature does not verify");
  }
}

/** A receipt that does not decode or verify (§9). */
export class ReceiptError extends ProtocolError<"malformed" | "bad_signature"> {
  override readonly name = "ReceiptError";
  static malformed(e: DecodeError): ReceiptError {
    return new ReceiptError("malformed", `malformed receipt: ${e.message}`, { cause: e });
  }
  static badSignature(): ReceiptError {
    return new ReceiptError("bad_signature", "the receipt's signature does not verify");
  }
}

export type PayloadErrorCode =
  | "malformed"
  | "unknown_version"
  | "too_large"
  | "invalid"
  | "attachment_corrupt"
  | "attachment_hash_mismatch"
  | "randomness";

/** A payload or attachment that could not be read or written (§4.4, §4.5). */
export class PayloadError extends ProtocolError<PayloadErrorCode> {
  override readonly name = "PayloadError";
  static malformed(): PayloadError {
    return new PayloadError("malformed", "the message content is malformed");
  }
  static unknownVersion(v: number): PayloadError {
    return new PayloadError(
      "unknown_version",
      `the message was written by a newer client (format ${v}); update samtale`,
    );
  }
  static tooLarge(): PayloadError {
    return new PayloadError("too_large", "the message is too long: at most 65536 bytes");
  }
  static invalid(why: string): PayloadError {
    return new PayloadError("invalid", why);
  }
  static attachmentCorrupt(): PayloadError {
    return new PayloadError(
      "attachment_corrupt",
      "the attachment could not be decrypted (damaged or the wrong file)",
    );
  }
  static attachmentHashMismatch(): PayloadError {
    return new PayloadError("attachment_hash_mismatch", "the attachment does not match the hash the sender signed");
  }
}
