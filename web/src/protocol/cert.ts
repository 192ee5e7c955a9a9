// Device certificates (PROTOCOL.md §5): the organisation root certifies
// that a device key belongs to a named staff member with given roles in
// given teams, for a validity period. Mirrors `protocol/src/cert.rs`.

import { keyField as key, ObjectType, Reader, Writer } from "./codec";
import { CertificateError, DecodeError } from "./errors";
import { idFromBytes, idToBytes, type AccountId, type OrgId, type TeamId } from "./ids";
import { AgreementKey, IdentityKey, type DevicePublicKeys, type OrgRootKey, type OrgRootPublicKey } from "./keys";
import { concat, toHex } from "./bytes";
import { Context, sha256, verifyTrailing } from "./primitives";
import { utf8Length } from "./utf8";

export const CERTIFICATE_VERSION = 1;
/** The longest organisation, staff or team name, in bytes. */
export const MAX_NAME_BYTES = 200;
/** The most teams one certificate names. */
export const MAX_CERTIFIED_TEAMS = 64;

/** The role bits of a certificate. */
export const Roles = {
  staff: 0b001,
  recordClerk: 0b010,
  admin: 0b100,
} as const;
const ALL_ROLES = 0b111;

/** Whether a role set holds every bit of `role`. */
export function hasRole(roles: number, role: number): boolean {
  return (roles & role) === role;
}

export interface CertifiedTeam {
  readonly id: TeamId;
  readonly name: string;
}

/** What a certificate says. Authentic only once `verify` succeeded. */
export interface CertificateBody {
  readonly orgId: OrgId;
  readonly orgName: string;
  readonly device: DevicePublicKeys;
  readonly staffId: AccountId;
  readonly staffName: string;
  /** Bit set of `Roles`. */
  readonly roles: number;
  readonly teams: readonly CertifiedTeam[];
  /** Unix seconds, inclusive. */
  readonly notBefore: bigint;
  /** Unix seconds, exclusive; greater than `notBefore`. */
  readonly notAfter: bigint;
}

function encodeBody(body: CertificateBody): Writer {
  const names = [body.orgName, body.staffName, ...body.teams.map((t) => t.name)];
  if (names.some((n) => utf8Length(n) > MAX_NAME_BYTES)) throw CertificateError.of("name_too_long");
  if (body.teams.length > MAX_CERTIFIED_TEAMS) throw CertificateError.of("too_many_teams");
  if (body.notAfter <= body.notBefore) throw CertificateError.of("empty_validity");
  if ((body.roles & ~ALL_ROLES) !== 0) throw new RangeError("unknown role bits");
  const w = new Writer(256)
    .u8(ObjectType.deviceCertificate)
    .u8(CERTIFICATE_VERSION)
    .bytes(idToBytes(body.orgId))
    .str(body.orgName)
    .bytes(body.device.identity.bytes)
    .bytes(body.device.agreement.bytes)
    .bytes(idToBytes(body.staffId))
    .str(body.staffName)
    .u8(body.roles)
    .u8(body.teams.length);
  for (const team of body.teams) w.bytes(idToBytes(team.id)).str(team.name);
  return w.u64(body.notBefore).u64(body.notAfter);
}

/** An encoded, signed device certificate. */
export class DeviceCertificate {
  readonly #body: CertificateBody;
  readonly #bytes: Uint8Array;

  private constructor(body: CertificateBody, bytes: Uint8Array) {
    this.#body = body;
    this.#bytes = bytes;
  }

  /** The root signs a certificate for `body`. */
  static issue(root: OrgRootKey, body: CertificateBody): DeviceCertificate {
    const w = encodeBody(body);
    w.bytes(root.sign(Context.deviceCertificate, w.view()));
    return new DeviceCertificate(body, w.toBytes());
  }

  /** Decodes a certificate; `verify` checks its signature and validity. */
  static decode(bytes: Uint8Array): DeviceCertificate {
    try {
      const r = new Reader(bytes);
      r.header(ObjectType.deviceCertificate, CERTIFICATE_VERSION);
      const orgId = idFromBytes<OrgId>(r.take(16));
      const orgName = r.str(MAX_NAME_BYTES, "organisation name");
      const identity = key(() => IdentityKey.fromBytes(r.take(32)), "device identity key");
      const agreement = key(() => AgreementKey.fromBytes(r.take(32)), "device agreement key");
      const staffId = idFromBytes<AccountId>(r.take(16));
      const staffName = r.str(MAX_NAME_BYTES, "staff name");
      const roles = r.u8();
      if ((roles & ~ALL_ROLES) !== 0) throw DecodeError.invalid("roles");
      const n = r.u8();
      if (n > MAX_CERTIFIED_TEAMS) throw CertificateError.of("too_many_teams");
      const teams: CertifiedTeam[] = [];
      for (let i = 0; i < n; i++) {
        const id = idFromBytes<TeamId>(r.take(16));
        teams.push({ id, name: r.str(MAX_NAME_BYTES, "team name") });
      }
      const notBefore = r.u64();
      const notAfter = r.u64();
      r.take(64);
      r.finish();
      if (notAfter <= notBefore) throw CertificateError.of("empty_validity");
      const body = { orgId, orgName, device: { identity, agreement }, staffId, staffName, roles, teams, notBefore, notAfter };
      return new DeviceCertificate(body, bytes.slice());
    } catch (e) {
      if (e instanceof DecodeError) throw CertificateError.malformed(e);
      throw e;
    }
  }

  /** A copy of the encoded certificate. */
  get bytes(): Uint8Array {
    return this.#bytes.slice();
  }

  /** The body, not yet verified. */
  get bodyUnverified(): CertificateBody {
    return this.#body;
  }

  /** Verifies the root's signature and that the certificate is valid at
   *  `now` (Unix seconds); returns the certified facts. */
  verify(root: OrgRootPublicKey, now: bigint): CertificateBody {
    if (!signatureVerified(root.bytes, this.#bytes)) {
      throw CertificateError.of("bad_signature");
    }
    if (now < this.#body.notBefore) throw CertificateError.of("not_yet_valid");
    if (now >= this.#body.notAfter) throw CertificateError.of("expired");
    return this.#body;
  }

  /** As `verify`, and that the certificate is for `signer`'s key. */
  verifySigner(root: OrgRootPublicKey, now: bigint, signer: IdentityKey): CertificateBody {
    const body = this.verify(root, now);
    if (!body.device.identity.equals(signer)) throw CertificateError.of("wrong_device");
    return body;
  }
}

/** Certificates whose root signature verified, by the SHA-256 of root key
 *  and certificate: a thread's messages come from a few devices, and the
 *  same certificate need not be verified again for each of them (the
 *  validity times still are). Bounded; only successes are kept. */
const verifiedCertificates = new Set<string>();
const VERIFIED_CACHE = 256;

function signatureVerified(root: Uint8Array, bytes: Uint8Array): boolean {
  const id = toHex(sha256(concat(root, bytes)));
  if (verifiedCertificates.has(id)) return true;
  if (!verifyTrailing(root, Context.deviceCertificate, bytes)) return false;
  verifiedCertificates.add(id);
  if (verifiedCertificates.size > VERIFIED_CACHE) {
    const oldest = verifiedCertificates.values().next().value;
    if (oldest !== undefined) verifiedCertificates.delete(oldest);
  }
  return true;
}
