//! Journal export (journalisering): the record clerk's client fetches every
//! message and attachment of a thread, decrypts them with the archive key,
//! verifies every signature, certificate and the sequence, and writes a
//! case-file export: a PDF for people, JSON for machines, an EML message for
//! case systems that file mail, the attachments, and a manifest of SHA-256
//! hashes. Then it records on the server "filed on case X up to message N".
//!
//! Nothing half-written is left behind: the export is built in a hidden
//! directory next to the target and renamed into place only when every
//! check passed and every file is on disk. The server never decrypts.

mod eml;
mod pdf;

pub use samtale_protocol::journal::{document, manifest, verify};

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use samtale_protocol::payload::{MessagePayload, blob_sha256 as sha256_hex};
use samtale_protocol::wire::{AccountKind, FileJournal, JournalReceipt};
use samtale_protocol::{DeliveryContext, Envelope, ThreadId, b64};

use crate::client::{Badge, Tick};
use crate::client::{ClientError, Session, device_fingerprint};
use document::{
    Attachment, Case, Clerk, Device, Export, FORMAT, Journal, Message, Organisation, Participant,
    Role, Sender, Team,
};

/// What to export and where.
#[derive(Debug, Clone)]
pub struct ExportRequest<'a> {
    /// The thread.
    pub thread: ThreadId,
    /// The case reference in the case system.
    pub case_ref: &'a str,
    /// The KLE subject number (optional).
    pub kle: Option<&'a str>,
    /// The directory the export's own directory is made in.
    pub out_dir: &'a Path,
    /// Record the filing on the server afterwards.
    pub file_receipt: bool,
    /// The time zone the PDF shows times in.
    pub offset: time::UtcOffset,
}

/// What was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportOutcome {
    /// The export's directory.
    pub dir: PathBuf,
    /// Every file written (relative to `dir`) with its SHA-256.
    pub files: Vec<(String, String)>,
    /// SHA-256 of `MANIFEST.sha256`.
    pub manifest_sha256: String,
    /// The KLE number written, given or taken from the earlier filing on the
    /// same case.
    pub kle: Option<String>,
    /// The KLE number came from the earlier filing, not from `--kle`.
    pub kle_from_earlier_filing: bool,
    /// The last message exported.
    pub up_to_seq: u64,
    /// The filing recorded on the server, if asked for.
    pub receipt: Option<JournalReceipt>,
}

/// The manifest's file name (`sha256sum -c MANIFEST.sha256` checks it).
pub const MANIFEST: &str = "MANIFEST.sha256";

/// The clerk device's signature over the manifest.
pub const MANIFEST_SIGNATURE: &str = "MANIFEST.sig";

/// Removes a half-built export unless it was completed.
struct Staging {
    dir: PathBuf,
    done: bool,
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn io(what: &str, path: &Path, e: std::io::Error) -> ClientError {
    ClientError::Refused(format!("cannot write {what} {}: {e}", path.display()))
}

/// A file name made of the case reference: letters, digits, `.`, `-`, `_`.
fn slug(text: &str) -> String {
    let s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.trim_matches('-').chars().take(60).collect()
}

/// The server's rules for a case reference and KLE number (from the
/// protocol crate), checked first so that a refused one costs no export.
fn check_case(case_ref: &str, kle: Option<&str>) -> Result<(), ClientError> {
    use samtale_protocol::minimise::{check_case_reference, check_kle};
    check_case_reference(case_ref).map_err(|e| ClientError::Refused(format!("--case: {e}")))?;
    if let Some(kle) = kle {
        check_kle(kle).map_err(|e| ClientError::Refused(format!("--kle: {e}")))?;
    }
    Ok(())
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<String, ClientError> {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io("the directory", parent, e))?;
    }
    let mut file = std::fs::File::create(&path).map_err(|e| io("the file", &path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| io("the file", &path, e))?;
    Ok(sha256_hex(bytes))
}

impl Session {
    /// This device's certificate from the organisation root, checked here:
    /// the export's manifest is signed with this device, and a reader
    /// trusts that signature only through the certificate.
    async fn signing_certificate(
        &mut self,
    ) -> Result<samtale_protocol::DeviceCertificate, ClientError> {
        let own = self.config.device_id;
        let identity = self.device()?.public().identity;
        let root = self.config.root_public_key;
        let devices: Vec<samtale_protocol::wire::DeviceInfo> = self.get("/v1/devices").await?;
        devices
            .into_iter()
            .find(|d| d.device_id == own)
            .and_then(|d| d.certificate)
            .and_then(|c| samtale_protocol::DeviceCertificate::decode(&c).ok())
            .filter(|c| {
                c.verify_signer(&root, crate::client::now_secs(), &identity)
                    .is_ok()
            })
            .ok_or_else(|| {
                ClientError::Refused(
                    "this device has no valid certificate from the organisation, and an export is signed with it: ask an admin to certify it (`samtale admin certify`)".into(),
                )
            })
    }

    /// Exports a thread for the case file (see the module documentation).
    /// A message that fails any check stops the export with an error that
    /// names it, and nothing is left on disk.
    pub async fn journal_export(
        &mut self,
        req: &ExportRequest<'_>,
        progress: &(dyn Fn(Tick) + Sync),
    ) -> Result<ExportOutcome, ClientError> {
        check_case(req.case_ref, req.kle)?;
        let thread = req.thread;
        // A later filing on the same case keeps its KLE number unless a new
        // one is given.
        let earlier_kle = if req.kle.is_none() {
            let list: samtale_protocol::wire::JournalList =
                self.get(&format!("/v1/threads/{thread}/journal")).await?;
            list.receipts
                .iter()
                .filter(|r| r.case_ref == req.case_ref.trim())
                .max_by_key(|r| r.journaled_at)
                .and_then(|r| r.kle.clone())
        } else {
            None
        };
        let kle: Option<String> = req.kle.map(str::to_owned).or_else(|| earlier_kle.clone());
        let me = self.me().await?;
        let certificate = self.signing_certificate().await?;
        let before = self.keystore.secrets().pins.clone();
        let mut pins = before.clone();
        let verified = self.verified(thread, &mut pins).await;
        self.save_pins(&before, &pins)?;
        let v = verified?;
        let (detail, devices, teams) = (&v.detail, &v.devices, &v.teams);
        let last_seq = detail.summary.last_seq;
        if last_seq == 0
            || detail
                .removed
                .iter()
                .any(|r| r.from_seq == 1 && r.to_seq == last_seq)
        {
            return Err(ClientError::Refused(
                "nothing to journal: the thread has no messages yet".into(),
            ));
        }
        let stored = self
            .fetch_messages(thread, 0, last_seq, &detail.removed, progress)
            .await?;
        let removed: u64 = detail
            .removed
            .iter()
            .map(|r| r.to_seq.saturating_sub(r.from_seq) + 1)
            .sum();
        if stored.len() as u64 + removed != last_seq {
            return Err(ClientError::Verification(format!(
                "the server counts {last_seq} messages in the thread but sent {}; nothing was written",
                stored.len()
            )));
        }
        // The archive holder the signed participant list names (the
        // server's `archive_holder` is only a hint).
        let archive = v.vt.archive;
        let has_archive_key = |s: &Session, e: &Envelope| {
            e.recipients()
                .iter()
                .any(|r| r.holder == archive && s.keystore.secrets().holder(*r).is_some())
        };
        if stored
            .iter()
            .any(|m| Envelope::decode(&m.envelope).is_ok_and(|e| !has_archive_key(self, &e)))
        {
            self.sync_grants().await?;
        }

        // Staged next to the target, so the final rename stays on one disk.
        std::fs::create_dir_all(req.out_dir).map_err(|e| io("the directory", req.out_dir, e))?;
        // A later filing (new messages since) goes into a folder of its
        // own, named by the last message it covers; the earlier one stays.
        let first = format!(
            "samtale-journal-{}-{}",
            slug(req.case_ref),
            &thread.to_string()[..8]
        );
        let name = if req.out_dir.join(&first).exists() {
            format!("{first}-{last_seq}")
        } else {
            first
        };
        let target = req.out_dir.join(&name);
        if target.exists() {
            return Err(ClientError::Refused(format!(
                "{} exists already: this thread was exported up to message {last_seq} into it. Nothing new to file; move it away or choose another --out to export again",
                target.display()
            )));
        }
        let mut staging = Staging {
            dir: req.out_dir.join(format!(".{name}.partial")),
            done: false,
        };
        let _ = std::fs::remove_dir_all(&staging.dir);
        std::fs::create_dir_all(&staging.dir).map_err(|e| io("the directory", &staging.dir, e))?;

        let mut messages = Vec::with_capacity(stored.len());
        let mut senders: BTreeMap<String, (Participant, Device)> = BTreeMap::new();
        let mut files: Vec<(String, String)> = Vec::new();
        for (i, m) in stored.iter().enumerate() {
            let named = |why: String| {
                ClientError::Verification(format!(
                    "message {} ({}): {why}; the export was stopped and nothing was written",
                    m.seq, m.message_id
                ))
            };
            let envelope =
                Envelope::decode(&m.envelope).map_err(|e| named(format!("malformed: {e}")))?;
            let epoch = envelope
                .recipients()
                .iter()
                .find(|r| r.holder == archive)
                .copied()
                .ok_or_else(|| {
                    named("it is not sealed to the organisation's archive key".into())
                })?;
            let key = self.keystore.secrets().holder(epoch).ok_or_else(|| {
                named("this device does not hold the archive key it is sealed to: an admin grants it with `samtale admin archive-key`".into())
            })?;
            let ctx = DeliveryContext {
                thread_id: thread,
                message_id: m.message_id,
            };
            let (opened, content_key) = envelope.open_disclosing(&ctx, key).map_err(|e| {
                named(format!(
                    "it does not open with the organisation's archive key ({e}). That is a security event, not a missing grant: the key it was sealed to under the archive's name is not the organisation's, so someone may have read it. Keep this thread as it is, do not journal it, and report it to your security officer"
                ))
            })?;
            let sender = self
                .verify_sender(&opened.sender, m.committed_at_ms / 1000, &v)
                .map_err(named)?;
            let device = devices
                .iter()
                .find(|d| d.keys.identity == opened.sender)
                .ok_or_else(|| named("its sender's device is not listed".into()))?;
            let payload = MessagePayload::from_bytes(&opened.payload)
                .map_err(|e| named(format!("the decrypted message is malformed: {e}")))?;
            let role = match device.kind {
                AccountKind::Staff => Role::Staff,
                AccountKind::Citizen => Role::Citizen,
            };
            let assurance = match &sender.badge {
                Badge::Citizen { assurance } => Some(*assurance),
                Badge::Certified => None,
            };
            let mut attachments = Vec::new();
            for (k, reference) in payload.attachments.iter().enumerate() {
                let file = self
                    .download_referenced(reference, progress)
                    .await?
                    .map_err(|e| {
                        named(format!("attachment {} ({}): {e}", k + 1, reference.name))
                    })?;
                let rel = format!("attachments/{:04}-{}-{}", m.seq, k + 1, reference.name);
                let sha = write_file(&staging.dir, &rel, &file)?;
                files.push((rel.clone(), sha.clone()));
                attachments.push(Attachment {
                    name: reference.name.clone(),
                    media_type: reference.media_type.clone(),
                    size: reference.size,
                    sha256: sha,
                    blob_sha256: reference.blob_sha256.clone(),
                    file: rel,
                });
            }
            senders
                .entry(device.device_id.to_string())
                .or_insert_with(|| {
                    (
                        Participant {
                            account_id: device.account_id,
                            name: sender.name.clone(),
                            role,
                            assurance,
                        },
                        Device {
                            device_id: device.device_id,
                            account_id: device.account_id,
                            role,
                            identity_key: b64::encode(&device.keys.identity.to_bytes()),
                            certificate: device.certificate.as_deref().map(b64::encode),
                        },
                    )
                });
            let bytes = envelope.as_bytes();
            messages.push(Message {
                seq: m.seq,
                message_id: m.message_id,
                committed_at_ms: m.committed_at_ms,
                committed_at: rfc3339(m.committed_at_ms),
                sender: Sender {
                    account_id: device.account_id,
                    device_id: device.device_id,
                    name: sender.name.clone(),
                    role,
                    team: sender.team.clone(),
                    assurance,
                },
                text: payload.text.clone(),
                attachments,
                envelope: b64::encode(bytes),
                envelope_sha256: sha256_hex(bytes),
                signature: b64::encode(&bytes[bytes.len().saturating_sub(64)..]),
                content_key: b64::encode(&content_key.to_bytes()),
            });
            progress(Tick::Messages(i as u64 + 1, last_seq));
        }

        // Participants: the citizens, then every staff member who wrote.
        let mut participants: Vec<Participant> = detail
            .citizens
            .iter()
            .map(|c| Participant {
                account_id: c.account_id,
                name: c.display_name.clone(),
                role: Role::Citizen,
                assurance: Some(c.assurance),
            })
            .collect();
        let mut writers: Vec<Device> = Vec::new();
        for (participant, device) in senders.into_values() {
            if participant.role == Role::Staff
                && !participants
                    .iter()
                    .any(|p| p.account_id == participant.account_id)
            {
                participants.push(participant);
            }
            writers.push(device);
        }
        let team_name = teams
            .get(&detail.summary.team_id)
            .cloned()
            .unwrap_or_else(|| detail.summary.team_id.to_string());
        let now_ms = crate::client::now_secs().saturating_mul(1000);
        let mut journal = Journal {
            format: FORMAT.into(),
            subject: format!("Samtale: {team_name}, sag {}", req.case_ref.trim()),
            case: Case {
                reference: req.case_ref.trim().to_owned(),
                kle: kle.clone(),
            },
            organisation: Organisation {
                id: me.org_id,
                name: me.organisation_name.clone(),
                root_public_key: b64::encode(&self.config.root_public_key.to_bytes()),
                root_fingerprint: samtale_protocol::org_fingerprint(&self.config.root_public_key),
            },
            team: Team {
                id: detail.summary.team_id,
                name: team_name,
            },
            thread_id: thread,
            archive_holder: archive,
            participants,
            devices: writers,
            messages,
            removed: detail
                .removed
                .iter()
                .map(|r| document::Removed {
                    from_seq: r.from_seq,
                    to_seq: r.to_seq,
                    reason: r.reason.clone(),
                })
                .collect(),
            export: Export {
                exported_at_ms: now_ms,
                exported_at: rfc3339(now_ms),
                server: self.config.server.clone(),
                clerk: Clerk {
                    account_id: me.account_id,
                    name: me.display_name.clone(),
                    device_id: me.device_id,
                    device_fingerprint: device_fingerprint(&self.device()?.public().identity),
                },
                up_to_seq: last_seq,
                checks: Vec::new(),
                generator: format!("samtale {}", env!("CARGO_PKG_VERSION")),
            },
        };
        journal.export.checks = verify::checks(&journal);
        // The document must stand on its own: verify it as a reader would.
        verify::verify(&journal, None).map_err(|e| {
            ClientError::Verification(format!(
                "{e}; the export was stopped and nothing was written"
            ))
        })?;

        let json = serde_json::to_vec_pretty(&journal)
            .map_err(|e| ClientError::Refused(format!("cannot write the JSON: {e}")))?;
        let pdf = pdf::render(&journal, req.offset)
            .map_err(|e| ClientError::Refused(format!("cannot make the PDF: {e}")))?;
        // The EML carries every file a case system must keep, the message
        // attachments too (read back from what was just written).
        let mut attached: Vec<(String, String, Vec<u8>)> = Vec::new();
        for a in journal.messages.iter().flat_map(|m| m.attachments.iter()) {
            let path = staging.dir.join(&a.file);
            let bytes = std::fs::read(&path).map_err(|e| io("the attachment", &path, e))?;
            let name = a.file.rsplit('/').next().unwrap_or(&a.file).to_owned();
            attached.push((name, a.media_type.clone(), bytes));
        }
        let eml = eml::render(&journal, &pdf, &json, &attached);
        drop(attached);
        for (rel, bytes) in [
            ("journal.json", &json[..]),
            ("journal.pdf", &pdf[..]),
            ("journal.eml", &eml[..]),
        ] {
            let sha = write_file(&staging.dir, rel, bytes)?;
            files.push((rel.to_owned(), sha));
        }
        files.sort();
        let manifest: String = files
            .iter()
            .map(|(rel, sha)| format!("{sha}  {rel}\n"))
            .collect();
        let manifest_sha256 = write_file(&staging.dir, MANIFEST, manifest.as_bytes())?;
        let signature = manifest::sign(self.device()?, &certificate, manifest.as_bytes());
        let signature = serde_json::to_vec_pretty(&signature)
            .map_err(|e| ClientError::Refused(format!("cannot write the signature: {e}")))?;
        write_file(&staging.dir, MANIFEST_SIGNATURE, &signature)?;
        std::fs::rename(&staging.dir, &target).map_err(|e| io("the export", &target, e))?;
        staging.done = true;

        let receipt = if req.file_receipt {
            Some(
                self.post::<_, JournalReceipt>(
                    &format!("/v1/threads/{thread}/journal"),
                    &FileJournal {
                        case_ref: req.case_ref.trim().to_owned(),
                        kle: kle.clone(),
                        up_to_seq: last_seq,
                        manifest_sha256: manifest_sha256.clone(),
                    },
                )
                .await?,
            )
        } else {
            None
        };
        Ok(ExportOutcome {
            dir: target,
            files,
            manifest_sha256,
            kle_from_earlier_filing: req.kle.is_none() && kle.is_some(),
            kle,
            up_to_seq: last_seq,
            receipt,
        })
    }
}

/// What `journal verify` checked beside the document.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The document.
    pub journal: Journal,
    /// The files the signed manifest bound to the clerk and that were
    /// checked against it; `None` when no manifest lies beside the document
    /// (only `journal.json` itself was checked).
    pub signed_files: Option<Vec<String>>,
}

/// Reads and verifies a `journal.json`; when `MANIFEST.sha256` lies beside
/// it, also the clerk's signature over it (`MANIFEST.sig`) and every file it
/// lists, which must include the document itself, the PDF, the EML and
/// every attachment.
pub fn verify_file(path: &Path, expected_root: Option<&str>) -> Result<Verified, ClientError> {
    let text = std::fs::read(path)
        .map_err(|e| ClientError::Refused(format!("cannot read {}: {e}", path.display())))?;
    let journal: Journal = serde_json::from_slice(&text).map_err(|e| {
        ClientError::Verification(format!("{} is not a journal document: {e}", path.display()))
    })?;
    verify::verify(&journal, expected_root).map_err(|e| ClientError::Verification(e.0))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    for m in &journal.messages {
        for a in &m.attachments {
            let file = dir.join(&a.file);
            if let Ok(bytes) = std::fs::read(&file)
                && sha256_hex(&bytes) != a.sha256
            {
                return Err(ClientError::Verification(format!(
                    "message {} ({}): the attachment file {} does not match its SHA-256",
                    m.seq, m.message_id, a.file
                )));
            }
        }
    }
    let manifest_path = dir.join(MANIFEST);
    let signature_path = dir.join(MANIFEST_SIGNATURE);
    let manifest = match (
        std::fs::read(&manifest_path),
        std::fs::read(&signature_path),
    ) {
        (Err(a), Err(b))
            if a.kind() == std::io::ErrorKind::NotFound
                && b.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(Verified {
                journal,
                signed_files: None,
            });
        }
        (Ok(manifest), Ok(signature)) => {
            let signature: manifest::ManifestSignature = serde_json::from_slice(&signature)
                .map_err(|e| {
                    ClientError::Verification(format!("{MANIFEST_SIGNATURE} is malformed: {e}"))
                })?;
            manifest::verify(&journal, &manifest, &signature)
                .map_err(|e| ClientError::Verification(e.0))?;
            manifest
        }
        (Ok(_), Err(_)) => {
            return Err(ClientError::Verification(format!(
                "{MANIFEST} lies beside the document but {MANIFEST_SIGNATURE} does not: nothing ties the files to the clerk who exported them"
            )));
        }
        (Err(_), _) => {
            return Err(ClientError::Verification(format!(
                "{MANIFEST_SIGNATURE} lies beside the document but {MANIFEST} cannot be read"
            )));
        }
    };
    let manifest = String::from_utf8(manifest)
        .map_err(|_| ClientError::Verification(format!("{MANIFEST} is not UTF-8 text")))?;
    let mut listed: BTreeMap<String, String> = BTreeMap::new();
    for line in manifest.lines() {
        let (sha, rel) = line.split_once("  ").ok_or_else(|| {
            ClientError::Verification(format!(
                "{MANIFEST}: the line {line:?} is not \"SHA-256  FILE\""
            ))
        })?;
        let safe = Path::new(rel)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !safe {
            return Err(ClientError::Verification(format!(
                "{MANIFEST} names {rel:?}, outside the export"
            )));
        }
        listed.insert(rel.to_owned(), sha.to_owned());
    }
    let mut required = vec![
        "journal.json".to_owned(),
        "journal.pdf".to_owned(),
        "journal.eml".to_owned(),
    ];
    required.extend(
        journal
            .messages
            .iter()
            .flat_map(|m| m.attachments.iter().map(|a| a.file.clone())),
    );
    for rel in &required {
        if !listed.contains_key(rel) {
            return Err(ClientError::Verification(format!(
                "{MANIFEST} does not list {rel}, so the clerk's signature does not cover it"
            )));
        }
    }
    if listed.get("journal.json").map(String::as_str) != Some(sha256_hex(&text).as_str()) {
        return Err(ClientError::Verification(format!(
            "{} is not the journal.json the clerk signed",
            path.display()
        )));
    }
    for (rel, sha) in &listed {
        let ok = std::fs::read(dir.join(rel))
            .map(|b| &sha256_hex(&b) == sha)
            .unwrap_or(false);
        if !ok {
            return Err(ClientError::Verification(format!(
                "{rel} is missing or is not the file the clerk signed"
            )));
        }
    }
    Ok(Verified {
        journal,
        signed_files: Some(listed.into_keys().collect()),
    })
}

/// RFC 3339 in UTC, e.g. `2026-11-30T10:15:00Z`.
pub fn rfc3339(unix_ms: u64) -> String {
    let Ok(t) =
        time::OffsetDateTime::from_unix_timestamp(i64::try_from(unix_ms / 1000).unwrap_or(0))
    else {
        return "1970-01-01T00:00:00Z".into();
    };
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}
