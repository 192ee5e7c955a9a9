// Decoding signed objects as the server serves them (`LogRecord`,
// `HolderKeyEntry`): the object and, when a staff device signed it, that
// device's certificate. Decoded here, verified by a Directory (`trust.ts`).
// Mirrors `LogRecord::decode_all` and `HolderKeySet::decode_records` in
// `protocol/src/wire.rs`.

import { b64Decode } from "./b64";
import { DeviceCertificate } from "./cert";
import { HolderKeyRecord } from "./holderKey";
import { MembershipRecord } from "./membership";
import type { HolderKeyEntry, LogRecord } from "./rest";
import type { Served } from "./trust";

function certificate(text: string | null | undefined): DeviceCertificate | undefined {
  return text === undefined || text === null ? undefined : DeviceCertificate.decode(b64Decode(text));
}

/** Decodes a served log (not yet verified). Throws the first decoding error. */
export function decodeLogRecords(records: readonly LogRecord[]): Served<MembershipRecord>[] {
  return records.map((r) => ({
    record: MembershipRecord.decode(b64Decode(r.record)),
    certificate: certificate(r.signer_certificate),
  }));
}

/** Decodes and signature-checks a holder's served records (who may have
 *  signed them is checked by `Directory.verifyHolder`). */
export function decodeHolderKeyEntries(entries: readonly HolderKeyEntry[]): Served<HolderKeyRecord>[] {
  return entries.map((e) => ({
    record: HolderKeyRecord.decodeAndVerify(b64Decode(e.record)),
    certificate: certificate(e.signer_certificate),
  }));
}
