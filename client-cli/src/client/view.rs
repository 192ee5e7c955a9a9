//! Threads as people see them: the participant list verified, every
//! message opened and its sender checked ([`super::trust`]) before anything
//! is shown, delivered/read marks, and the banners staff must see. Sending
//! is in [`super::send`].

use std::collections::HashMap;

use samtale_protocol::payload::MessagePayload;
use samtale_protocol::trust::Directory;
use samtale_protocol::wire::{
    AssuranceLevel, ConsentState, MessagePage, ReceiptList, RemovedRange, StoredMessage, TeamInfo,
    ThreadCitizen, ThreadDetail, ThreadDevice, ThreadSummary,
};
use samtale_protocol::{
    AccountId, DeliveryContext, DeviceCertificate, Envelope, IdentityKey, MessageId, Receipt,
    ReceiptKind, TeamId, ThreadId,
};
use serde::Serialize;

use super::trust::{CheckedSender, VerifiedThread};
use super::{ClientError, Session, now_secs};

/// Progress of long work, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tick {
    /// Messages fetched so far, of a total.
    Messages(u64, u64),
    /// Bytes transferred so far, of a total (when known).
    Bytes(u64, Option<u64>),
}

/// How far a sender is verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Badge {
    /// A staff device certified by the organisation root for this team.
    Certified,
    /// A citizen of the thread, with their identity level.
    Citizen {
        /// The level of assurance.
        assurance: AssuranceLevel,
    },
}

/// Who sent a message, verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sender {
    /// The name (the certificate's staff name, or the citizen's name).
    pub name: String,
    /// The team (staff).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// How it was verified.
    pub badge: Badge,
    /// Whether it is this account.
    pub me: bool,
}

/// What a shown message says (or why it cannot be shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Body {
    /// Opened and verified.
    Ok {
        /// The text.
        text: String,
        /// Attached files.
        attachments: Vec<AttachmentInfo>,
    },
    /// Not shown: the reason.
    Failed {
        /// Why.
        reason: String,
    },
    /// Not readable on this device: it holds no key for it (not granted
    /// yet, or sent after the citizen withdrew). Nothing is wrong with it,
    /// and its sender is simply not known until it can be opened.
    Unreadable {
        /// Why.
        reason: String,
    },
}

/// Why a message could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unopened {
    /// In words.
    pub(crate) reason: String,
    /// Only that this device holds no key for it.
    pub(crate) no_key: bool,
}

impl From<String> for Unopened {
    fn from(reason: String) -> Self {
        Self {
            reason,
            no_key: false,
        }
    }
}

impl From<&str> for Unopened {
    fn from(reason: &str) -> Self {
        reason.to_owned().into()
    }
}

/// An attachment as listed (the key stays inside the client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachmentInfo {
    /// Its number within the message, from 1.
    pub index: usize,
    /// The file name.
    pub name: String,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: u64,
}

/// One message in a thread view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShownMessage {
    /// Its position in the thread.
    pub seq: u64,
    /// Its id.
    pub message_id: MessageId,
    /// When the server committed it (Unix milliseconds).
    pub at_ms: u64,
    /// Who sent it (None: the sender could not be verified).
    pub sender: Option<Sender>,
    /// The content.
    pub body: Body,
    /// For own messages: another device has received it.
    pub delivered: bool,
    /// For own messages: another participant has read it.
    pub read: bool,
    /// The thread was filed on a case, but not this far yet.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub not_journaled: bool,
}

/// A warning shown above a thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Banner {
    /// A citizen without eID verification.
    Unverified {
        /// Their name.
        name: String,
    },
    /// A citizen who withdrew consent (shown to staff).
    ConsentWithdrawn {
        /// Their name.
        name: String,
        /// Other citizens of the thread still consent: messages go on to
        /// them, no longer sealed to this one.
        others_continue: bool,
    },
    /// The citizen using this profile withdrew her consent.
    OwnConsentWithdrawn,
    /// A citizen's device list was reset (a new device replaced every
    /// earlier one) and nobody here has compared safety numbers since:
    /// nothing is sealed to them until someone does.
    DevicesReset {
        /// Their name.
        name: String,
        /// When (Unix seconds, as the reset record says).
        at: u64,
    },
    /// A participant's account no longer exists on the server (erased):
    /// nothing is sent to them.
    AccountGone {
        /// Their name, if known.
        name: String,
    },
    /// A citizen's devices changed since this device last looked.
    DevicesChanged {
        /// Their name.
        name: String,
        /// Devices added (each approved on one of their devices).
        added: usize,
        /// Devices removed.
        removed: usize,
    },
    /// The thread is filed on a case up to a message.
    Journaled {
        /// The case reference.
        case: Option<String>,
        /// The last filed message.
        up_to_seq: u64,
        /// Messages after it (not yet journaled).
        later: u64,
    },
}

impl Banner {
    /// The sentence shown to people.
    pub fn text(&self) -> String {
        match self {
            Self::Unverified { name } => format!(
                "{name} has not verified their identity with eID — give general answers only"
            ),
            Self::ConsentWithdrawn {
                name,
                others_continue: false,
            } => {
                format!("{name} has withdrawn consent — use letter or digital post")
            }
            Self::ConsentWithdrawn {
                name,
                others_continue: true,
            } => format!(
                "{name} has withdrawn consent — what you send now reaches the others only; write to {name} by letter or digital post"
            ),
            Self::OwnConsentWithdrawn => "You withdrew your consent: you can read and export this conversation, but not write, and nothing sent from now on reaches you here".into(),
            Self::DevicesReset { name, at } => format!(
                "{name}'s devices were reset on {}: compare safety numbers with {name} (`samtale safety`) before anything more is sent to them",
                crate::output::utc_date(*at)
            ),
            Self::AccountGone { name } => format!(
                "{name} no longer has an account (it was erased): messages here no longer reach them"
            ),
            Self::DevicesChanged {
                name,
                added,
                removed,
            } => format!(
                "{name}'s devices changed since you last looked: {added} added (approved on one of their devices), {removed} removed"
            ),
            Self::Journaled {
                case,
                up_to_seq,
                later,
            } => {
                let case = case
                    .as_deref()
                    .map_or_else(String::new, |c| format!(" {c}"));
                match later {
                    0 => format!("Filed on case{case} (messages 1 to {up_to_seq})"),
                    n => format!(
                        "Filed on case{case} up to message {up_to_seq}; the {n} later message(s) are not yet journaled"
                    ),
                }
            }
        }
    }
}

/// A participant as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Participant {
    /// The name.
    pub name: String,
    /// Identity level.
    pub assurance: AssuranceLevel,
    /// Consent state.
    pub consent: ConsentState,
    /// The person using this profile (a citizen looking at her own thread).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub me: bool,
}

impl Participant {
    /// The name to show: "you" for the person using this profile.
    pub fn shown_name(&self) -> &str {
        if self.me { "you" } else { &self.name }
    }
}

/// A thread in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadRow {
    /// The thread.
    pub thread_id: ThreadId,
    /// Its team.
    pub team: String,
    /// The citizens.
    pub participants: Vec<Participant>,
    /// Messages in it.
    pub messages: u64,
    /// Messages after the last one this profile read.
    pub unread: u64,
    /// Last activity (Unix milliseconds).
    pub last_activity_ms: u64,
    /// Filed on a case up to this message.
    pub journaled_up_to: Option<u64>,
}

impl ThreadRow {
    /// "journaled", "partly (up to N)" or "no".
    pub fn journal_state(&self) -> String {
        match self.journaled_up_to {
            Some(n) if n >= self.messages => "journaled".into(),
            Some(n) => format!("up to {n}"),
            None => "no".into(),
        }
    }
}

/// A thread with its messages, opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThreadView {
    /// The list row.
    pub row: ThreadRow,
    /// Warnings to show above the conversation.
    pub banners: Vec<Banner>,
    /// The messages in order.
    pub messages: Vec<ShownMessage>,
}

/// The thread's citizens, by name (a stable order for lists and scripts);
/// with a verified participant list, only the citizens it names.
fn participants(
    citizens: &[ThreadCitizen],
    verified: Option<&VerifiedThread>,
    me: AccountId,
) -> Vec<Participant> {
    let mut out: Vec<Participant> = citizens
        .iter()
        .filter(|c| verified.is_none_or(|v| v.citizens.contains(&c.account_id)))
        .map(|c| Participant {
            name: c.display_name.clone(),
            assurance: c.assurance,
            consent: c.consent,
            me: c.account_id == me,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// A thread as fetched and verified: what its messages are checked against.
pub(crate) struct Verified {
    /// The server's description (names and identity levels are hints).
    pub detail: ThreadDetail,
    /// The devices that may have written (hints: each is checked).
    pub devices: Vec<ThreadDevice>,
    /// Team names this account knows.
    pub teams: HashMap<TeamId, String>,
    /// The verified logs.
    pub dir: Directory,
    /// The verified participant list.
    pub vt: VerifiedThread,
}

impl Verified {
    /// A citizen's name as the server gives it (for people to read).
    pub fn citizen_name(&self, account: AccountId) -> String {
        self.detail
            .citizens
            .iter()
            .find(|c| c.account_id == account)
            .map_or_else(|| "a former participant".into(), |c| c.display_name.clone())
    }

    /// Every citizen's name.
    pub fn names(&self) -> HashMap<AccountId, String> {
        self.detail
            .citizens
            .iter()
            .map(|c| (c.account_id, c.display_name.clone()))
            .collect()
    }
}

impl Session {
    /// Team names this account can know: its own teams (staff) and the
    /// teams named in the certificates of a thread's staff devices.
    pub(crate) async fn team_names(
        &mut self,
        devices: &[ThreadDevice],
    ) -> Result<HashMap<TeamId, String>, ClientError> {
        let mut names = self.own_team_names().await;
        self.add_certified_team_names(devices, &mut names);
        Ok(names)
    }

    /// The names of a staff account's own teams (none for citizens).
    async fn own_team_names(&mut self) -> HashMap<TeamId, String> {
        let mut names = HashMap::new();
        if self.is_staff()
            && let Ok(teams) = self.get::<Vec<TeamInfo>>("/v1/teams").await
        {
            for t in teams {
                names.insert(t.team_id, t.name);
            }
        }
        names
    }

    /// Adds the team names from the valid certificates among `devices`.
    fn add_certified_team_names(
        &self,
        devices: &[ThreadDevice],
        names: &mut HashMap<TeamId, String>,
    ) {
        let root = self.config.root_public_key;
        for d in devices {
            if let Some(c) = d.certificate.as_deref()
                && let Ok(cert) = DeviceCertificate::decode(c)
                && let Ok(body) = cert.verify(&root, now_secs())
            {
                for t in &body.teams {
                    names.entry(t.id).or_insert_with(|| t.name.clone());
                }
            }
        }
    }

    /// Fetches a thread and verifies its participant list and everything
    /// it rests on (see [`super::trust`]).
    pub(crate) async fn verified(
        &mut self,
        thread: ThreadId,
        pins: &mut super::trust::Pins,
    ) -> Result<Verified, ClientError> {
        let detail = self.thread_detail(thread).await?;
        let devices = self.thread_devices(thread).await?.devices;
        let teams = self.team_names(&devices).await?;
        let mut dir = self.directory();
        let vt = self.verified_thread(&mut dir, pins, &detail).await?;
        // A staff sender is checked against their own signed device list:
        // load the lists of the staff whose certified devices the thread
        // lists, also of colleagues who never signed a record the thread
        // rests on (one who only writes messages, say).
        let certificates: Vec<DeviceCertificate> = devices
            .iter()
            .filter_map(|d| d.certificate.as_deref())
            .filter_map(|c| DeviceCertificate::decode(c).ok())
            .collect();
        self.load_staff_for(&mut dir, pins, certificates.iter())
            .await?;
        Ok(Verified {
            detail,
            devices,
            teams,
            dir,
            vt,
        })
    }

    /// Identifies a message's signer (see [`Session::check_sender`]).
    pub(crate) fn verify_sender(
        &self,
        signer: &IdentityKey,
        at_secs: u64,
        v: &Verified,
    ) -> Result<Sender, String> {
        match self.check_sender(&v.dir, &v.vt, signer, at_secs, &v.devices)? {
            CheckedSender::Staff {
                account,
                name,
                team,
            } => Ok(Sender {
                name,
                team: Some(
                    v.teams
                        .get(&v.vt.team)
                        .cloned()
                        .or(team)
                        .unwrap_or_else(|| "(team)".into()),
                ),
                badge: Badge::Certified,
                me: account == self.config.account_id,
            }),
            CheckedSender::Citizen { account } => {
                let citizen = v.detail.citizens.iter().find(|c| c.account_id == account);
                Ok(Sender {
                    name: citizen.map_or_else(|| "a citizen".into(), |c| c.display_name.clone()),
                    team: None,
                    badge: Badge::Citizen {
                        assurance: citizen.map_or(AssuranceLevel::Unverified, |c| c.assurance),
                    },
                    me: account == self.config.account_id,
                })
            }
        }
    }

    /// Opens one stored envelope with the keys this device holds.
    pub(crate) fn open_message(
        &self,
        m: &StoredMessage,
        v: &Verified,
    ) -> (Option<Sender>, Result<MessagePayload, Unopened>) {
        let envelope = match Envelope::decode(&m.envelope) {
            Ok(e) => e,
            Err(_) => return (None, Err("the message is malformed".into())),
        };
        let ctx = DeliveryContext {
            thread_id: v.vt.thread,
            message_id: m.message_id,
        };
        if envelope.thread_id() != ctx.thread_id {
            return (
                None,
                Err(
                    "this message was sealed for another thread: the server replayed it here"
                        .into(),
                ),
            );
        }
        let Some(key) = envelope
            .recipients()
            .iter()
            .find_map(|r| self.keystore.secrets().holder(*r))
        else {
            let withdrew = v.detail.citizens.iter().any(|c| {
                c.account_id == self.config.account_id && c.consent == ConsentState::Withdrawn
            });
            return (
                None,
                Err(Unopened {
                    reason: if withdrew {
                        "sent after you withdrew your consent, so it was not sealed to you".into()
                    } else {
                        "this device holds no key for this message yet: a newly approved device gets its keys when someone of the conversation is online (`samtale keys`); try again in a moment".into()
                    },
                    no_key: true,
                }),
            );
        };
        let opened = match envelope.open(&ctx, key) {
            Ok(o) => o,
            Err(e) => {
                return (
                    None,
                    Err(format!("the message could not be opened: {e}").into()),
                );
            }
        };
        let sender = match self.verify_sender(&opened.sender, m.committed_at_ms / 1000, v) {
            Ok(s) => s,
            Err(why) => return (None, Err(why.into())),
        };
        match MessagePayload::from_bytes(&opened.payload) {
            Ok(p) => (Some(sender), Ok(p)),
            Err(e) => (Some(sender), Err(e.to_string().into())),
        }
    }

    /// Every stored message of a thread after `after`, in order. The
    /// sequence must be gap-free, except for messages the server says were
    /// deleted on purpose (`removed`: retention or erasure).
    pub(crate) async fn fetch_messages(
        &mut self,
        thread: ThreadId,
        after: u64,
        total: u64,
        removed: &[RemovedRange],
        progress: &(dyn Fn(Tick) + Sync),
    ) -> Result<Vec<samtale_protocol::wire::StoredMessage>, ClientError> {
        let mut out = Vec::new();
        let mut cursor = after;
        loop {
            let page: MessagePage = self
                .get(&format!(
                    "/v1/threads/{thread}/messages?after={cursor}&limit=500"
                ))
                .await?;
            let Some(last) = page.messages.last() else {
                break;
            };
            cursor = last.seq;
            out.extend(page.messages);
            progress(Tick::Messages(
                out.len() as u64,
                total.saturating_sub(after),
            ));
            if cursor >= page.last_seq {
                break;
            }
        }
        let deleted = |seq: u64| removed.iter().any(|r| r.from_seq <= seq && seq <= r.to_seq);
        let mut expected = after + 1;
        for m in &out {
            while expected < m.seq && deleted(expected) {
                expected += 1;
            }
            if m.seq != expected {
                return Err(ClientError::Verification(format!(
                    "message {expected} is missing from the thread"
                )));
            }
            expected += 1;
        }
        while expected <= total && deleted(expected) {
            expected += 1;
        }
        if expected <= total {
            return Err(ClientError::Verification(format!(
                "message {expected} is missing from the thread"
            )));
        }
        Ok(out)
    }

    /// The list rows for every visible thread, most recent first.
    pub async fn thread_rows(&mut self) -> Result<Vec<ThreadRow>, ClientError> {
        let list = self.thread_list().await?;
        let state = self.profile.state();
        let mut team_names = self.own_team_names().await;
        let mut rows = Vec::new();
        for summary in &list.threads {
            // The list carries each thread's citizens; an older server's
            // does not.
            let citizens = match &summary.citizens {
                Some(c) => c.clone(),
                None => self.thread_detail(summary.thread_id).await?.citizens,
            };
            if !team_names.contains_key(&summary.team_id) {
                let devices = self.thread_devices(summary.thread_id).await?.devices;
                self.add_certified_team_names(&devices, &mut team_names);
            }
            rows.push(row_of(
                summary,
                &citizens,
                None,
                &team_names,
                &state,
                self.config.account_id,
            ));
        }
        Ok(rows)
    }

    /// Opens a thread: its participant list verified, then every message
    /// verified and decrypted.
    pub async fn thread_view(
        &mut self,
        thread: ThreadId,
        progress: &(dyn Fn(Tick) + Sync),
    ) -> Result<ThreadView, ClientError> {
        let before = self.keystore.secrets().pins.clone();
        let mut pins = before.clone();
        let verified = self.verified(thread, &mut pins).await;
        self.save_pins(&before, &pins)?;
        let v = verified?;
        let stored = self
            .fetch_messages(
                thread,
                0,
                v.detail.summary.last_seq,
                &v.detail.removed,
                progress,
            )
            .await?;
        // Keys granted since the last look (a colleague's history).
        let needs_keys = stored.iter().any(|m| {
            Envelope::decode(&m.envelope).is_ok_and(|e| {
                !e.recipients()
                    .iter()
                    .any(|r| self.keystore.secrets().holder(*r).is_some())
            })
        });
        if needs_keys {
            self.sync_grants().await?;
        }
        let receipts: ReceiptList = self.get(&format!("/v1/threads/{thread}/receipts")).await?;
        let own_device = self.device()?.public().identity;
        let own_devices: Vec<IdentityKey> = v
            .devices
            .iter()
            .filter(|d| d.account_id == self.config.account_id)
            .map(|d| d.keys.identity)
            .collect();
        let (mut delivered, mut read) = (0u64, 0u64);
        for r in &receipts.receipts {
            let Ok(r) = Receipt::decode_and_verify(&r.receipt) else {
                continue;
            };
            if r.thread_id != thread || r.device == own_device || own_devices.contains(&r.device) {
                continue;
            }
            match r.kind {
                ReceiptKind::Delivered => delivered = delivered.max(r.up_to_seq),
                ReceiptKind::Read => {
                    read = read.max(r.up_to_seq);
                    delivered = delivered.max(r.up_to_seq);
                }
            }
        }
        let mut messages = Vec::with_capacity(stored.len());
        for m in &stored {
            let (sender, body) = self.open_message(m, &v);
            let mine = sender.as_ref().is_some_and(|s| s.me);
            messages.push(ShownMessage {
                seq: m.seq,
                message_id: m.message_id,
                at_ms: m.committed_at_ms,
                delivered: mine && delivered >= m.seq,
                read: mine && read >= m.seq,
                not_journaled: v.detail.summary.journaled_up_to.is_some_and(|n| m.seq > n),
                sender,
                body: match body {
                    Ok(p) => Body::Ok {
                        text: p.text.clone(),
                        attachments: p
                            .attachments
                            .iter()
                            .enumerate()
                            .map(|(i, a)| AttachmentInfo {
                                index: i + 1,
                                name: a.name.clone(),
                                media_type: a.media_type.clone(),
                                size: a.size,
                            })
                            .collect(),
                    },
                    Err(Unopened {
                        reason,
                        no_key: true,
                    }) => Body::Unreadable { reason },
                    Err(Unopened { reason, .. }) => Body::Failed { reason },
                },
            });
        }
        let state = self.profile.state();
        let mut banners = Vec::new();
        for news in &v.vt.news {
            let name = v.citizen_name(news.account);
            match news.reset_at {
                _ if news.gone => banners.push(Banner::AccountGone { name }),
                Some(at) => banners.push(Banner::DevicesReset { name, at }),
                None => banners.push(Banner::DevicesChanged {
                    name,
                    added: news.added,
                    removed: news.removed,
                }),
            }
        }
        let citizens: Vec<_> = v
            .detail
            .citizens
            .iter()
            .filter(|c| v.vt.citizens.contains(&c.account_id))
            .collect();
        for c in &citizens {
            // Each is told what concerns them: staff about every citizen
            // who withdrew, a citizen only about herself.
            if c.consent == ConsentState::Withdrawn {
                if self.is_staff() {
                    banners.push(Banner::ConsentWithdrawn {
                        name: c.display_name.clone(),
                        others_continue: citizens
                            .iter()
                            .any(|o| o.consent != ConsentState::Withdrawn),
                    });
                } else if c.account_id == self.config.account_id {
                    banners.push(Banner::OwnConsentWithdrawn);
                }
            }
            if c.assurance == AssuranceLevel::Unverified && self.is_staff() {
                banners.push(Banner::Unverified {
                    name: c.display_name.clone(),
                });
            }
        }
        if let Some(n) = v.detail.summary.journaled_up_to {
            banners.push(Banner::Journaled {
                case: v.detail.summary.journaled_case.clone(),
                up_to_seq: n,
                later: v.detail.summary.last_seq.saturating_sub(n),
            });
        }
        Ok(ThreadView {
            row: row_of(
                &v.detail.summary,
                &v.detail.citizens,
                Some(&v.vt),
                &v.teams,
                &state,
                self.config.account_id,
            ),
            banners,
            messages,
        })
    }
}

/// A thread's list row.
fn row_of(
    summary: &ThreadSummary,
    citizens: &[ThreadCitizen],
    verified: Option<&VerifiedThread>,
    teams: &HashMap<TeamId, String>,
    state: &crate::profile::ProfileState,
    me: AccountId,
) -> ThreadRow {
    let read = state.read.get(&summary.thread_id).copied().unwrap_or(0);
    ThreadRow {
        thread_id: summary.thread_id,
        team: teams
            .get(&summary.team_id)
            .cloned()
            .unwrap_or_else(|| "(team)".into()),
        participants: participants(citizens, verified, me),
        messages: summary.last_seq,
        unread: summary.last_seq.saturating_sub(read),
        last_activity_ms: summary.last_activity_ms,
        journaled_up_to: summary.journaled_up_to,
    }
}
