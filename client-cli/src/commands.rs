//! The commands: parse what the user asked, call the client library, print
//! a table (people) or JSON (`--json`, scripts).

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use samtale_cli::client::{
    self, Badge, Body, ClientError, InitRequest, JoinRequest, LoginRequest, Session, ShownMessage,
    ThreadRow, Tick,
};
use samtale_cli::output::{Style, assurance_words, print_json, table};
use samtale_cli::profile::{Home, Profile};
use samtale_protocol::membership::Operation;
use samtale_protocol::minimise::Minimiser;
use samtale_protocol::wire::{
    AccountInfo, AccountKind, AssuranceLevel, CitizenInfo, ConsentState, ConsentText,
    CreateInvitationRequest, CreateStaffRequest, CreateTeamRequest, DeviceInfo, EidProviders,
    InvitationCreated, Role, StaffInfo, TeamInfo,
};
use samtale_protocol::{AccountId, DeviceKeys, TeamId, eid_nonce, fingerprints_match};
use serde::Serialize;

use crate::{Command, Global};

// ---------------------------------------------------------------- arguments

/// `samtale login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The server's address (first login only).
    #[arg(long, env = "SAMTALE_SERVER")]
    server: Option<String>,
    /// Your staff user name (first login only).
    #[arg(long)]
    username: Option<String>,
    /// Read the password from this file (else SAMTALE_PASSWORD, else a prompt).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// After an admin reset your password: read your new password from
    /// this file (else SAMTALE_NEW_PASSWORD, else a prompt).
    #[arg(long, value_name = "FILE")]
    new_password_file: Option<PathBuf>,
    /// A name for this device, shown in device lists (default: "samtale
    /// on" and this computer's name).
    #[arg(long)]
    device_label: Option<String>,
    /// Citizens: log in again with eID (when your session has ended).
    #[arg(long)]
    eid: bool,
    /// With --eid: print the login address instead of opening a browser.
    #[arg(long)]
    print_url: bool,
    /// Citizens on a server without eID: log this device in again with the
    /// code from a new invitation letter the municipality sent you.
    #[arg(long, value_name = "CODE", conflicts_with = "eid")]
    code: Option<String>,
    /// With --code: accept the consent text without being asked.
    #[arg(long, requires = "code")]
    accept_consent: bool,
}

/// `samtale password`.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the current password from this file (else SAMTALE_PASSWORD, else a prompt).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Read the new password from this file (else SAMTALE_NEW_PASSWORD, else a prompt).
    #[arg(long, value_name = "FILE")]
    new_password_file: Option<PathBuf>,
}

/// `samtale join`.
#[derive(Debug, Args)]
pub struct JoinArgs {
    /// The server's address, from your letter.
    #[arg(long, env = "SAMTALE_SERVER")]
    server: String,
    /// The invitation code from your letter.
    #[arg(long)]
    code: String,
    /// The organisation fingerprint from your letter (strongly advised).
    #[arg(long)]
    fingerprint: Option<String>,
    /// Print the eID login address instead of opening a browser; open it
    /// in a browser on this computer (the login returns to this program).
    #[arg(long)]
    print_url: bool,
    /// Accept the consent text without asking (it is still printed).
    #[arg(long)]
    accept_consent: bool,
    /// A name for this device, shown in device lists (default: "samtale
    /// on" and this computer's name).
    #[arg(long)]
    device_label: Option<String>,
    /// Seconds to wait for the eID login to finish.
    #[arg(long, default_value_t = 600)]
    eid_timeout: u64,
}

/// `samtale keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Also start a new epoch of every key you keep (your teams' keys, or
    /// your own), as after a suspected compromise.
    #[arg(long)]
    rotate: bool,
}

/// `samtale threads`.
#[derive(Debug, Args)]
pub struct ThreadsArgs {
    /// Only threads with messages not yet journaled (record clerks).
    #[arg(long)]
    ready: bool,
}

/// A thread argument.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The thread: its id or the start of it.
    thread: String,
}

/// `samtale send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The thread: its id or the start of it.
    thread: String,
    /// The text; "-" reads standard input. May be empty with --file.
    text: Option<String>,
    /// A file to attach (repeatable; at most 25 MiB each).
    #[arg(long = "file", value_name = "PATH")]
    files: Vec<PathBuf>,
    /// Send even if the text contains personal data (staff are warned).
    #[arg(long)]
    force: bool,
}

/// `samtale download`.
#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The thread.
    thread: String,
    /// The message's number in the thread (see `samtale show`).
    seq: u64,
    /// The attachment's number within the message.
    #[arg(default_value_t = 1)]
    index: usize,
    /// Where to save: a file, or a directory (the sender's file name).
    #[arg(long, default_value = ".")]
    out: PathBuf,
}

/// `samtale new-thread`.
#[derive(Debug, Args)]
pub struct NewThreadArgs {
    /// The team (name or id); optional when you are in one team.
    #[arg(long)]
    team: Option<String>,
    /// A citizen of the team (name or account id; repeatable).
    #[arg(long = "citizen", required = true)]
    citizens: Vec<String>,
}

/// `samtale invite`.
#[derive(Debug, Args)]
pub struct InviteArgs {
    /// The team (name or id); optional when you are in one team.
    #[arg(long)]
    team: Option<String>,
    /// The citizen's national id number (CPR or personnummer).
    #[arg(long)]
    national_id: String,
    /// How the team will see the citizen (a first name is enough).
    #[arg(long)]
    name: String,
    /// The letter's language (default: Danish for a CPR number, Swedish for
    /// a personnummer).
    #[arg(long, value_enum)]
    language: Option<Language>,
}

/// A letter's language.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Language {
    /// Dansk.
    Da,
    /// Svenska.
    Sv,
    /// English.
    En,
}

impl From<Language> for samtale_protocol::wire::LetterLanguage {
    fn from(l: Language) -> Self {
        match l {
            Language::Da => Self::Da,
            Language::Sv => Self::Sv,
            Language::En => Self::En,
        }
    }
}

/// `samtale citizens`.
#[derive(Debug, Args)]
pub struct CitizensArgs {
    /// The team (name or id); optional when you are in one team.
    #[arg(long)]
    team: Option<String>,
}

/// `samtale consent`.
#[derive(Debug, Args)]
pub struct ConsentArgs {
    #[command(subcommand)]
    action: ConsentAction,
}

#[derive(Debug, Subcommand)]
enum ConsentAction {
    /// Shows the consent text and whether you have given it.
    ///
    /// Example: samtale consent show
    Show,
    /// Withdraws your consent: no more messages in Samtale; the
    /// municipality writes to you by letter or digital post. You can still
    /// read your conversations and export them (`samtale export`).
    ///
    /// Example: samtale consent withdraw
    Withdraw {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// `samtale fingerprint`.
#[derive(Debug, Args)]
pub struct FingerprintArgs {
    /// The fingerprint printed on your letter.
    expected: Option<String>,
}

/// `samtale export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The file to write (JSON); standard output when absent.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `samtale chat`.
#[derive(Debug, Args)]
pub struct ChatArgs {
    /// Open this thread first.
    thread: Option<String>,
}

/// `samtale admin …`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Sets up a new organisation on a server: makes the organisation's
    /// root key (kept in this profile's keystore), registers it with the
    /// enrolment code the server printed, and prints its fingerprint for
    /// invitation letters.
    ///
    /// Example:
    ///
    ///   samtale admin init --server https://samtale.randers.dk --enrolment-code ABCD-... \
    ///       --organisation "Randers Kommune" --username anne --name "Anne Admin"
    #[command(verbatim_doc_comment)]
    Init(InitArgs),
    /// Teams: create, list, add or remove members.
    #[command(subcommand)]
    Team(TeamCommand),
    /// Staff accounts: create, list, disable.
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Certifies a staff member's new device with the organisation root.
    ///
    /// Lists the devices waiting for certification with their
    /// fingerprints, and certifies only the one whose fingerprint you type
    /// after reading it on the staff member's own screen (their `samtale
    /// login` or `samtale whoami` shows it). A waiting device nobody can
    /// account for may be a login with a stolen password: revoke it with
    /// `samtale admin staff revoke-device`.
    ///
    /// Examples:
    ///
    ///   samtale admin certify mette        (asks for the fingerprint)
    ///   samtale admin certify mette --fingerprint 3F2A9-0C1DE-77B10-9A4C2-E5D18
    #[command(verbatim_doc_comment)]
    Certify {
        /// The staff member's user name.
        username: String,
        /// The fingerprint read off the device's own screen (repeatable,
        /// for several devices); without it, you are asked.
        #[arg(long = "fingerprint", value_name = "FINGERPRINT")]
        fingerprints: Vec<String>,
    },
    /// Makes the organisation's archive key if it has none and grants it to
    /// every certified record clerk device (run again after certifying a
    /// new clerk).
    ///
    /// Example:  samtale admin archive-key
    ArchiveKey,
    /// Lists the threads on hold (ids, team, since when, by whom).
    ///
    /// Example:  samtale admin holds
    Holds,
    /// Puts a thread on hold (a complaint, a court case, an access request
    /// in progress): retention deletes nothing of it until released.
    ///
    /// An admin sees no thread's content, so give the thread's full id (a
    /// team member or record clerk finds it with `samtale threads --json`);
    /// a start of the id is enough for threads you can see or that are on
    /// hold (`samtale admin holds`).
    ///
    /// Examples:  samtale admin hold 0193c0de-…    samtale admin hold 0193c0de --release
    Hold {
        /// The thread (id or its first characters).
        thread: String,
        /// Release the hold instead.
        #[arg(long)]
        release: bool,
    },
    /// Erases a citizen (a GDPR erasure request): their account, the
    /// keyed hash of their national id, eID link, consents, devices and
    /// keys, their messages and attachments, and the threads where they
    /// were the only citizen. Threads already filed on a case live on in
    /// the case system; the audit log keeps its content-free entries.
    /// Refused while one of their threads is on hold.
    ///
    /// Example:  samtale admin erase 0193c0de-7c1a-7d2e-9f00-5b1e2f3a4b5c --yes
    Erase {
        /// The citizen's account id (see `samtale citizens` or the request).
        account: AccountId,
        /// Erase without asking (there is no undo).
        #[arg(long)]
        yes: bool,
    },
}

/// `samtale admin init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The server's address.
    #[arg(long, env = "SAMTALE_SERVER")]
    server: String,
    /// The enrolment code the server printed (or `samtale-server enrol`).
    #[arg(long)]
    enrolment_code: String,
    /// The organisation's name, as citizens will see it.
    #[arg(long)]
    organisation: String,
    /// Your user name.
    #[arg(long)]
    username: String,
    /// Your name, as colleagues see it.
    #[arg(long)]
    name: String,
    /// Read the new password from this file (else SAMTALE_PASSWORD, else a prompt).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

/// `samtale admin team …`.
#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// Creates a team.  Example: samtale admin team create Jobcenter
    Create {
        /// Its name.
        name: String,
    },
    /// Lists teams.  Example: samtale admin team list
    List,
    /// Adds a staff member to a team; then a team member runs `samtale keys`
    /// to grant them the team key (and its history).
    ///
    /// Example: samtale admin team add Jobcenter mette
    Add {
        /// The team (name or id).
        team: String,
        /// The staff member's user name.
        username: String,
    },
    /// Shows or sets how long a team's messages are kept (gallring):
    /// deleted a number of days after they are filed on a case, and at an
    /// age for messages never filed. The defaults are 30 and 90 days.
    ///
    /// Examples:
    ///
    ///   samtale admin team retention Jobcenter
    ///
    ///   samtale admin team retention Jobcenter --journaled-days 30 --unjournaled-days 90
    #[command(verbatim_doc_comment)]
    Retention {
        /// The team (name or id).
        team: String,
        /// Days after filing on a case.
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
        journaled_days: Option<u32>,
        /// Maximum age of messages never filed.
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=3650))]
        unjournaled_days: Option<u32>,
    },
    /// Removes a staff member from a team; the team key is rotated so they
    /// cannot read new messages.
    ///
    /// Example: samtale admin team remove Jobcenter mette
    Remove {
        /// The team (name or id).
        team: String,
        /// The staff member's user name.
        username: String,
    },
}

/// `samtale admin staff …`.
#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Creates a staff account.
    ///
    /// Example:
    ///
    ///   samtale admin staff create mette --name "Mette Jensen" --role staff --team Jobcenter
    #[command(verbatim_doc_comment)]
    Create {
        /// The user name.
        username: String,
        /// The name colleagues and citizens see.
        #[arg(long)]
        name: String,
        /// A role: staff, record-clerk, admin (repeatable).
        #[arg(long = "role", value_parser = parse_role, required = true)]
        roles: Vec<Role>,
        /// A team (name or id; repeatable).
        #[arg(long = "team")]
        teams: Vec<String>,
        /// Read the initial password from this file (else SAMTALE_PASSWORD, else a prompt).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Lists staff accounts.  Example: samtale admin staff list
    List,
    /// Disables a staff account: it can no longer log in and its sessions
    /// end at once.  Example: samtale admin staff disable mette
    Disable {
        /// The user name.
        username: String,
    },
    /// Lets a disabled staff account log in again (its revoked devices
    /// stay revoked: they log in as a new device and you certify it).
    ///
    /// Example: samtale admin staff enable mette
    Enable {
        /// The user name.
        username: String,
    },
    /// Resets a staff member's forgotten or exposed password: prints a
    /// one-time temporary password (valid three days) to hand over in
    /// person or by phone. Their sessions end at once; at the next login
    /// they must choose a new password.
    ///
    /// Example: samtale admin staff reset-password mette
    ResetPassword {
        /// The user name.
        username: String,
    },
    /// Lists a staff member's devices with their fingerprints and whether
    /// they are certified.
    ///
    /// Example: samtale admin staff devices mette
    Devices {
        /// The user name.
        username: String,
    },
    /// Revokes a staff member's device (a lost laptop, a login that was not
    /// theirs): a removal signed by the organisation root. Its sessions end
    /// and its connections close at once, and the keys it held are rotated
    /// at the next `samtale keys` of a team member, as for a lost phone.
    ///
    /// Example: samtale admin staff revoke-device mette 0193c0de
    RevokeDevice {
        /// The user name.
        username: String,
        /// The device: its id, the start of it, or its fingerprint.
        device: String,
    },
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Staff => "staff",
        Role::RecordClerk => "record-clerk",
        Role::Admin => "admin",
    }
}

fn parse_role(s: &str) -> Result<Role, String> {
    match s {
        "staff" => Ok(Role::Staff),
        "record-clerk" | "record_clerk" | "clerk" => Ok(Role::RecordClerk),
        "admin" => Ok(Role::Admin),
        _ => Err("one of: staff, record-clerk, admin".into()),
    }
}

/// `samtale profile …`.
#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Lists the profiles on this machine.  Example: samtale profile list
    List,
    /// Your own work phone numbers and e-mail addresses (and the
    /// organisation's): the minimisation check does not report them, so a
    /// signature with your work phone is not held. Shows them without
    /// options; --set replaces them; --clear removes them.
    ///
    /// Example: samtale profile contacts --set "+45 8915 1515" --set mette.jensen@randers.dk
    Contacts {
        /// A phone number or e-mail address (repeatable).
        #[arg(long = "set", value_name = "CONTACT")]
        set: Vec<String>,
        /// Remove them all.
        #[arg(long, conflicts_with = "set")]
        clear: bool,
    },
    /// Removes a profile's files from this machine (revoke the device
    /// first with `samtale devices revoke` if it is not lost).
    ///
    /// Example: samtale profile remove old-laptop
    Remove {
        /// The profile.
        name: String,
    },
}

// ---------------------------------------------------------------- plumbing

/// `samtale invitations`.
#[derive(Debug, Args)]
pub struct InvitationsArgs {
    #[command(subcommand)]
    action: Option<InvitationsAction>,
}

#[derive(Debug, Subcommand)]
enum InvitationsAction {
    /// Lists them (the default).
    List,
    /// Revokes one: its code stops working at once.
    ///
    /// Example:  samtale invitations revoke 0193c0de
    Revoke {
        /// The invitation's id, or a unique start of it (see the list).
        invitation: String,
    },
}

async fn invitations(
    global: &Global,
    style: &Style,
    a: InvitationsArgs,
) -> anyhow::Result<ExitCode> {
    let mut s = open(global).await?;
    let list: samtale_protocol::wire::InvitationList = s.get("/v1/invitations").await?;
    match a.action.unwrap_or(InvitationsAction::List) {
        InvitationsAction::List => {
            if style.json {
                print_json(&list)?;
            } else if list.invitations.is_empty() {
                println!(
                    "No outstanding invitations: every letter's code has been used or has expired."
                );
            } else {
                let teams: Vec<TeamInfo> = s.get("/v1/teams").await?;
                let rows: Vec<Vec<String>> = list
                    .invitations
                    .iter()
                    .map(|i| {
                        vec![
                            i.invitation_id.chars().take(8).collect(),
                            i.display_name.clone(),
                            teams
                                .iter()
                                .find(|t| t.team_id == i.team_id)
                                .map_or_else(|| i.team_id.to_string(), |t| t.name.clone()),
                            style.time(i.created_at.saturating_mul(1000)),
                            style.time(i.expires_at.saturating_mul(1000)),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(&["ID", "CITIZEN", "TEAM", "MADE", "EXPIRES"], &rows)
                );
            }
        }
        InvitationsAction::Revoke { invitation } => {
            let given = invitation.trim().to_lowercase();
            let found: Vec<_> = list
                .invitations
                .iter()
                .filter(|i| !given.is_empty() && i.invitation_id.starts_with(&given))
                .collect();
            let target = match found.as_slice() {
                [one] => *one,
                [] => bail!(ClientError::Refused(format!(
                    "no outstanding invitation of your teams is {invitation:?}; `samtale invitations` lists them"
                ))),
                _ => bail!(ClientError::Refused(format!(
                    "{invitation:?} names {} invitations; give more of the id",
                    found.len()
                ))),
            };
            s.call::<()>(
                Method::DELETE,
                &format!("/v1/invitations/{}", target.invitation_id),
                None,
            )
            .await?;
            if style.json {
                print_json(&serde_json::json!({"revoked": target.invitation_id}))?;
            } else {
                println!(
                    "Revoked the invitation for {}: its code no longer works. Make a new one with `samtale invite` if the letter went astray.",
                    target.display_name
                );
            }
        }
    }
    done()
}

/// "samtale on mette-pc": this computer's name (so a colleague's device
/// list tells machines apart), else "samtale desktop".
pub(crate) fn default_device_label() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(60)
                .collect::<String>()
        })
        .filter(|h| !h.is_empty());
    host.map_or_else(|| "samtale desktop".into(), |h| format!("samtale on {h}"))
}

/// The exit code for an error (see `samtale --help`).
pub fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(e) = cause.downcast_ref::<ClientError>() {
            return e.exit_code();
        }
        if let Some(e) = cause.downcast_ref::<samtale_cli::api::ApiError>() {
            return e.exit_code();
        }
        if cause
            .downcast_ref::<samtale_cli::relay::RelayError>()
            .is_some()
        {
            return 4;
        }
    }
    2
}

fn read_secret_file(path: &Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text.lines().next().unwrap_or("").to_owned())
}

/// The keystore passphrase: --passphrase-file, SAMTALE_PASSPHRASE, or a
/// prompt (twice when `new`).
fn passphrase(global: &Global, new: bool) -> anyhow::Result<String> {
    if let Some(p) = &global.passphrase_file {
        return read_secret_file(p);
    }
    if let Ok(p) = std::env::var("SAMTALE_PASSPHRASE") {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no passphrase: set SAMTALE_PASSPHRASE or use --passphrase-file for scripts");
    }
    if new {
        let a = rpassword::prompt_password(
            "Choose a passphrase for this device's keystore (at least 8 characters): ",
        )?;
        let b = rpassword::prompt_password("Repeat it: ")?;
        if a != b {
            bail!("the passphrases differ; nothing was saved");
        }
        Ok(a)
    } else {
        Ok(rpassword::prompt_password("Keystore passphrase: ")?)
    }
}

/// A password: --password-file, SAMTALE_PASSWORD, or a prompt.
fn password(file: Option<&Path>, prompt: &str) -> anyhow::Result<String> {
    if let Some(p) = file {
        return read_secret_file(p);
    }
    if let Ok(p) = std::env::var("SAMTALE_PASSWORD") {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no password: set SAMTALE_PASSWORD or use --password-file for scripts");
    }
    Ok(rpassword::prompt_password(prompt)?)
}

/// A new password of the user's own: the file, SAMTALE_NEW_PASSWORD, or a
/// prompt (twice).
fn new_password(file: Option<&Path>) -> anyhow::Result<String> {
    if let Some(p) = file {
        return read_secret_file(p);
    }
    if let Ok(p) = std::env::var("SAMTALE_NEW_PASSWORD") {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no new password: set SAMTALE_NEW_PASSWORD or use --new-password-file for scripts");
    }
    let a = rpassword::prompt_password(
        "New password (at least 12 characters; a few words are best): ",
    )?;
    let b = rpassword::prompt_password("Repeat it: ")?;
    if a != b {
        bail!("the passwords differ; nothing was changed");
    }
    Ok(a)
}

/// Whether the server asks for a new password (an admin reset the old one).
fn needs_new_password(error: &anyhow::Error) -> bool {
    error.chain().any(|c| {
        c.downcast_ref::<samtale_cli::api::ApiError>()
            .and_then(samtale_cli::api::ApiError::code)
            == Some(samtale_protocol::wire::ErrorCode::PasswordChangeRequired)
    })
}

async fn change_password(
    global: &Global,
    style: &Style,
    a: PasswordArgs,
) -> anyhow::Result<ExitCode> {
    let mut s = open(global).await?;
    let current = password(a.password_file.as_deref(), "Current password: ")?;
    let new = new_password(a.new_password_file.as_deref())?;
    s.call(
        Method::POST,
        "/v1/me/password",
        Some(&samtale_protocol::wire::ChangePasswordRequest {
            current_password: current,
            new_password: new,
        }),
    )
    .await?;
    if style.json {
        print_json(&serde_json::json!({"password_changed": true}))?;
    } else {
        println!(
            "Your password is changed. Your other sessions have ended: log in again there with the new password."
        );
    }
    done()
}

fn profile(global: &Global) -> anyhow::Result<Profile> {
    let home = Home::locate(global.home.as_deref())?;
    Profile::new(&home, &global.profile)
}

pub(crate) async fn open(global: &Global) -> anyhow::Result<Session> {
    let profile = profile(global)?;
    // Say what is missing before asking for a passphrase.
    profile.config()?;
    let pass = passphrase(global, false)?;
    Session::open(profile, &pass).await
}

/// A progress bar on a terminal (hidden for scripts).
pub(crate) fn bar(style: &Style, message: &str) -> ProgressBar {
    if style.json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message.to_owned());
    bar
}

pub(crate) fn ticker(bar: &ProgressBar) -> impl Fn(Tick) + '_ {
    move |t| match t {
        Tick::Messages(done, total) | Tick::Bytes(done, Some(total)) => {
            bar.set_length(total);
            bar.set_position(done);
        }
        Tick::Bytes(done, None) => bar.set_position(done),
    }
}

pub(crate) async fn resolve_team(
    session: &mut Session,
    given: Option<&str>,
) -> anyhow::Result<TeamInfo> {
    let teams: Vec<TeamInfo> = session.get("/v1/teams").await?;
    match given {
        None => match teams.as_slice() {
            [one] => Ok(one.clone()),
            [] => bail!("you are in no team; ask an admin to add you (`samtale admin team add`)"),
            _ => bail!(
                "you are in several teams; choose one with --team ({})",
                teams
                    .iter()
                    .map(|t| t.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        Some(g) => teams
            .iter()
            .find(|t| t.team_id.to_string() == g || t.name.eq_ignore_ascii_case(g))
            .cloned()
            .with_context(|| {
                format!(
                    "no team {g:?}; yours are: {}",
                    teams
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }),
    }
}

async fn resolve_staff(session: &mut Session, username: &str) -> anyhow::Result<StaffInfo> {
    let staff: Vec<StaffInfo> = session.get("/v1/staff").await?;
    staff
        .into_iter()
        .find(|s| s.username == username)
        .with_context(|| {
            format!("no staff member {username:?}; `samtale admin staff list` shows them")
        })
}

pub(crate) fn done() -> anyhow::Result<ExitCode> {
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------- dispatch

/// Runs one command.
pub async fn dispatch(command: Command, global: &Global, style: Style) -> anyhow::Result<ExitCode> {
    match command {
        Command::Login(a) => login(global, &style, a).await,
        Command::Join(a) => join(global, &style, a).await,
        Command::Password(a) => change_password(global, &style, a).await,
        Command::Logout => {
            let mut s = open(global).await?;
            s.logout().await?;
            if style.json {
                print_json(&serde_json::json!({"logged_out": true}))?;
            } else {
                println!(
                    "Logged out. `{}` starts a new session on this device.",
                    if s.is_staff() {
                        "samtale login"
                    } else {
                        "samtale login --eid"
                    }
                );
            }
            done()
        }
        Command::Whoami => whoami(global, &style).await,
        Command::Threads(a) => threads(global, &style, a).await,
        Command::Show(a) => show(global, &style, a).await,
        Command::Send(a) => send(global, &style, a).await,
        Command::Download(a) => download(global, &style, a).await,
        Command::NewThread(a) => new_thread(global, &style, a).await,
        Command::Invite(a) => invite(global, &style, a).await,
        Command::Invitations(a) => invitations(global, &style, a).await,
        Command::Citizens(a) => citizens(global, &style, a).await,
        Command::Safety(a) => crate::devices::safety(global, &style, a).await,
        Command::Keys(a) => {
            let mut s = open(global).await?;
            let report = s.upkeep(a.rotate).await?;
            print_upkeep(&style, &report)?;
            done()
        }
        Command::Devices(a) => crate::devices::devices(global, &style, a).await,
        Command::Consent(a) => consent(global, &style, a).await,
        Command::Fingerprint(a) => fingerprint(global, &style, a).await,
        Command::Export(a) => export(global, &style, a).await,
        Command::Chat(a) => {
            let mut s = open(global).await?;
            let thread = match &a.thread {
                Some(t) => Some(s.resolve_thread(t).await?),
                None => None,
            };
            samtale_cli::tui::run(&mut s, thread, style.offset).await?;
            done()
        }
        Command::Journal(c) => crate::records::journal(global, &style, c).await,
        Command::Admin(c) => admin(global, &style, c).await,
        Command::Profile(c) => profiles(global, &style, c),
        Command::Scan(a) => Ok(crate::scan::run(a, global.json)),
    }
}

fn print_upkeep(style: &Style, r: &client::UpkeepReport) -> anyhow::Result<()> {
    if style.json {
        return print_json(r);
    }
    println!(
        "Keys: {} new from grants, {} published, {} grants issued.",
        r.opened,
        r.published.len(),
        r.granted
    );
    for p in &r.published {
        println!("  published {p}");
    }
    for s in &r.skipped {
        println!("  {}", style.warn(&format!("not granted to {s}")));
    }
    for p in &r.pending {
        println!(
            "  {}",
            style.warn(&format!(
                "your device {:?} ({}) waits for approval: if its screen shows the fingerprint {}, run `samtale devices approve --fingerprint {}`",
                p.label, p.device_id, p.fingerprint, p.fingerprint
            ))
        );
    }
    for r in &r.refused {
        println!("  {}", style.bad(&format!("refused {r}")));
    }
    Ok(())
}

// ---------------------------------------------------------------- setup

async fn login(global: &Global, style: &Style, a: LoginArgs) -> anyhow::Result<ExitCode> {
    let profile = profile(global)?;
    if profile.exists() {
        // A new session for this device.
        let config = profile.config()?;
        let pass = passphrase(global, false)?;
        let session = if let Some(code) = &a.code {
            let api = samtale_cli::api::Api::new(&config.server)?;
            let consent = accept_consent(&api, style, a.accept_consent).await?;
            Session::relogin_with_code(profile, &pass, code, &consent).await?
        } else if a.eid || config.kind == AccountKind::Citizen {
            let api = samtale_cli::api::Api::new(&config.server)?;
            let keystore = samtale_cli::keystore::Keystore::open(&profile.keystore_path(), &pass)?;
            let device = keystore
                .secrets()
                .device()
                .context("the keystore holds no device key")?;
            let token = eid_login(&api, device, a.print_url, 600)
                .await?
                .context("this server has no eID broker: ask the municipality for a new invitation letter, then run `samtale login --code CODE` with its code (this device keeps its keys and your conversations)")?;
            Session::relogin(profile, &pass, None, None, Some(token)).await?
        } else {
            let pw = password(a.password_file.as_deref(), "Password: ")?;
            match Session::relogin(profile.clone(), &pass, Some(&pw), None, None).await {
                Err(e) if needs_new_password(&e) => {
                    eprintln!(
                        "An administrator reset your password: choose a new one of your own."
                    );
                    let new = new_password(a.new_password_file.as_deref())?;
                    Session::relogin(profile, &pass, Some(&pw), Some(&new), None).await?
                }
                other => other?,
            }
        };
        if style.json {
            print_json(
                &serde_json::json!({"logged_in": true, "account_id": session.config.account_id}),
            )?;
        } else {
            println!("Logged in again as {}.", session.config.display_name);
        }
        return done();
    }
    let server = a
        .server
        .context("the first login needs --server (the address your admin gave you)")?;
    let username = a.username.context("the first login needs --username")?;
    let pw = password(a.password_file.as_deref(), "Password: ")?;
    let pass = passphrase(global, true)?;
    let mut request = LoginRequest {
        server: &server,
        username: &username,
        password: &pw,
        new_password: None,
        device_label: &a.device_label.clone().unwrap_or_else(default_device_label),
    };
    let mut session = match client::login(profile.clone(), &pass, &request).await {
        Err(e) if needs_new_password(&e) => {
            eprintln!("An administrator reset your password: choose a new one of your own.");
            let new = new_password(a.new_password_file.as_deref())?;
            request.new_password = Some(&new);
            client::login(profile, &pass, &request).await?
        }
        other => other?,
    };
    let me = session.me().await?;
    let report = session.upkeep(false).await.ok();
    let fingerprint = client::device_fingerprint(&session.device()?.public().identity);
    if style.json {
        print_json(&serde_json::json!({
            "account_id": me.account_id,
            "device_id": me.device_id,
            "organisation": me.organisation_name,
            "root_fingerprint": me.root_fingerprint,
            "device_fingerprint": fingerprint,
            "keys": report,
        }))?;
    } else {
        println!(
            "Logged in as {} at {}.",
            me.display_name, me.organisation_name
        );
        println!("Organisation fingerprint: {}", me.root_fingerprint);
        println!("This device: {}", me.device_id);
        println!("Device fingerprint (your admin compares it when certifying): {fingerprint}");
        println!(
            "{}",
            style.warn("Next: ask an admin to run `samtale admin certify USERNAME`, then run `samtale keys`.")
        );
    }
    done()
}

/// Runs the eID login; `None` when the server has no broker.
async fn eid_login(
    api: &samtale_cli::api::Api,
    device: &DeviceKeys,
    print_url: bool,
    timeout: u64,
) -> anyhow::Result<Option<String>> {
    let brokers: EidProviders = api.get("/v1/eid").await?;
    let Some(provider) = brokers.providers.first() else {
        return Ok(None);
    };
    let flow = samtale_cli::oidc::start(provider, &eid_nonce(&device.public())).await?;
    // The address is always printed (on stderr, so --json output stays
    // clean; scripts and tests read it): a browser that is said to open
    // may never appear. The login comes back to this program on
    // 127.0.0.1, so it must be opened on this computer.
    if print_url || !samtale_cli::oidc::open_browser(&flow.url) {
        eprintln!(
            "Open this address in a browser on this computer to log in with eID (it returns to this program):"
        );
    } else {
        eprintln!(
            "Your browser should open for the eID login. If it does not, open this address in a browser on this computer:"
        );
    }
    eprintln!("EID-LOGIN-URL {}", flow.url);
    let wait = if timeout >= 120 && timeout.is_multiple_of(60) {
        format!("{} minutes", timeout / 60)
    } else {
        format!("{timeout} seconds")
    };
    eprintln!("Waiting up to {wait} for the login…");
    let token = flow.finish(Duration::from_secs(timeout)).await?;
    Ok(Some(token))
}

/// Shows the server's consent text and has the user accept it (or takes
/// `--accept-consent` for it).
async fn accept_consent(
    api: &samtale_cli::api::Api,
    style: &Style,
    accepted: bool,
) -> anyhow::Result<ConsentText> {
    let consent: ConsentText = api.get("/v1/consent").await?;
    if !style.json {
        println!(
            "{}\n",
            samtale_cli::output::wrap(&consent.text, samtale_cli::output::text_width())
        );
    }
    if !accepted {
        if !std::io::stdin().is_terminal() {
            bail!("read the consent text above and pass --accept-consent to accept it");
        }
        eprint!("Do you accept? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "ja" | "j") {
            bail!("you did not accept; nothing was done");
        }
    }
    Ok(consent)
}

async fn join(global: &Global, style: &Style, a: JoinArgs) -> anyhow::Result<ExitCode> {
    let profile = profile(global)?;
    if profile.exists() {
        bail!(
            "profile {:?} is already set up; join with another --profile NAME",
            profile.name
        );
    }
    if let Some(fp) = &a.fingerprint {
        let chars = fp.chars().filter(char::is_ascii_alphanumeric).count();
        if chars != 25 {
            bail!(
                "--fingerprint must be the 25-character code from your letter, like ABCDE-FGHJK-MNPQR-STVWX-YZ012 (got {chars} characters)"
            );
        }
    }
    let api = samtale_cli::api::Api::new(&a.server)?;
    // The code and the letter's fingerprint first: nothing is spent, and
    // no eID login is asked for, with a code that cannot work.
    let preview = client::preview_invitation(&api, &a.code, a.fingerprint.as_deref()).await?;
    if !style.json {
        println!(
            "This invitation is from {} (fingerprint {}).",
            preview.organisation_name, preview.root_fingerprint
        );
    }
    let consent = accept_consent(&api, style, a.accept_consent).await?;
    let pass = passphrase(global, true)?;
    let device = DeviceKeys::generate()?;
    let id_token = eid_login(&api, &device, a.print_url, a.eid_timeout).await?;
    if id_token.is_none() && !style.json {
        println!(
            "{}",
            style.warn("This server has no eID broker: you join unverified, and staff will give general answers only.")
        );
    }
    let mut session = client::join(
        profile,
        &pass,
        JoinRequest {
            server: &a.server,
            code: &a.code,
            fingerprint: a.fingerprint.as_deref(),
            preview: &preview,
            id_token,
            device,
            device_label: &a.device_label.clone().unwrap_or_else(default_device_label),
            consent: &consent,
        },
    )
    .await?;
    let me = session.me().await?;
    let device_fingerprint = client::device_fingerprint(&session.device()?.public().identity);
    let listed = session
        .own_devices()
        .await?
        .iter()
        .any(|d| d.info.device_id == session.config.device_id && d.listed);
    if style.json {
        print_json(&serde_json::json!({
            "account_id": me.account_id,
            "organisation": me.organisation_name,
            "root_fingerprint": me.root_fingerprint,
            "fingerprint_checked": a.fingerprint.is_some(),
            "assurance": me.assurance,
            "device_fingerprint": device_fingerprint,
            "approval_needed": !listed,
        }))?;
    } else {
        println!(
            "Welcome. You are connected to {} ({}).",
            me.organisation_name,
            assurance_words(me.assurance.unwrap_or(AssuranceLevel::Unverified))
        );
        if a.fingerprint.is_some() {
            println!(
                "{}",
                style.good("The organisation's fingerprint matches your letter.")
            );
        } else {
            println!(
                "{}",
                style.warn(&format!(
                    "Check the organisation's fingerprint against your letter: {}  (`samtale fingerprint CODE`)",
                    me.root_fingerprint
                ))
            );
        }
        if listed {
            println!("Next: `samtale chat` or `samtale threads`.");
        } else {
            println!(
                "{}",
                style.warn(&format!(
                    "This is a new device of an account you already have. On your other device, run\n    samtale devices approve --fingerprint {device_fingerprint}\nafter checking that this fingerprint is the one shown here. Until then this device cannot read your messages."
                ))
            );
        }
    }
    done()
}

async fn whoami(global: &Global, style: &Style) -> anyhow::Result<ExitCode> {
    let mut s = open(global).await?;
    let me: AccountInfo = s.me().await?;
    let device_fingerprint = client::device_fingerprint(&s.device()?.public().identity);
    if style.json {
        let mut out = serde_json::to_value(&me)?;
        if let Some(map) = out.as_object_mut() {
            map.insert("device_fingerprint".into(), device_fingerprint.into());
        }
        print_json(&out)?;
        return done();
    }
    println!("{} ({:?})", style.bold(&me.display_name), me.kind);
    println!("Organisation: {}", me.organisation_name);
    println!("Fingerprint:  {}", me.root_fingerprint);
    if !me.roles.is_empty() {
        let roles: Vec<&str> = me.roles.iter().map(|r| role_name(*r)).collect();
        println!("Roles:        {}", roles.join(", "));
    }
    if let Some(a) = me.assurance {
        println!("Identity:     {}", assurance_words(a));
    }
    if let Some(c) = me.consent {
        println!("Consent:      {c:?}");
    }
    println!("This device:  {}", me.device_id);
    println!("Fingerprint of this device: {device_fingerprint}");
    done()
}

// ---------------------------------------------------------------- threads

#[derive(Serialize)]
struct ThreadsOut<'a> {
    threads: &'a [ThreadRow],
}

async fn threads(global: &Global, style: &Style, a: ThreadsArgs) -> anyhow::Result<ExitCode> {
    let mut s = open(global).await?;
    let mut rows = s.thread_rows().await?;
    if a.ready {
        rows.retain(|r| r.messages > r.journaled_up_to.unwrap_or(0));
    }
    if style.json {
        print_json(&ThreadsOut { threads: &rows })?;
        return done();
    }
    if rows.is_empty() {
        println!(
            "{}",
            if a.ready {
                "No threads wait for journaling."
            } else {
                "No threads yet."
            }
        );
        return done();
    }
    // A record clerk who does not write in the team's threads reads none of
    // them as a participant: an unread count would only mislead.
    let clerk_only = s.is_staff() && {
        let roles = s.me().await?.roles;
        roles.contains(&Role::RecordClerk) && !roles.contains(&Role::Staff)
    };
    let mut headers = vec![
        "THREAD",
        "TEAM",
        "PARTICIPANTS",
        "MESSAGES",
        "UNREAD",
        "LAST ACTIVITY",
        "JOURNALED",
    ];
    let mut table_rows: Vec<Vec<String>> = rows.iter().map(|r| thread_cells(style, r)).collect();
    if clerk_only {
        headers.remove(4);
        for row in &mut table_rows {
            row.remove(4);
        }
    }
    print!("{}", table(&headers, &table_rows));
    done()
}

/// One row of the thread table.
pub fn thread_cells(style: &Style, r: &ThreadRow) -> Vec<String> {
    let people: Vec<String> = r
        .participants
        .iter()
        .map(|p| {
            let mut s = format!("{} ({})", p.shown_name(), assurance_words(p.assurance));
            if p.consent == ConsentState::Withdrawn {
                s.push_str(" [consent withdrawn]");
            }
            s
        })
        .collect();
    vec![
        r.thread_id.to_string()[..8].to_owned(),
        r.team.clone(),
        people.join(", "),
        r.messages.to_string(),
        r.unread.to_string(),
        style.time(r.last_activity_ms),
        r.journal_state(),
    ]
}

/// A message for people.
pub fn render_message(style: &Style, thread: &str, m: &ShownMessage) -> String {
    let mut out = String::new();
    let who = match &m.sender {
        None if matches!(m.body, Body::Unreadable { .. }) => style.dim("(not readable here yet)"),
        None => style.bad("⚠ unverified sender"),
        Some(s) => {
            let mut w = style.bold(&s.name);
            if let Some(t) = &s.team {
                w.push_str(&format!(" · {t}"));
            }
            match &s.badge {
                Badge::Certified => w.push_str(&style.good(" ✔ verified")),
                Badge::Citizen { assurance: a } => {
                    let text = format!(" ({})", assurance_words(*a));
                    w.push_str(&if *a == AssuranceLevel::Unverified {
                        style.warn(&text)
                    } else {
                        style.good(&text)
                    });
                }
            }
            if s.me {
                w.push_str(&style.dim(if m.read {
                    "  ✓✓ read"
                } else if m.delivered {
                    "  ✓ delivered"
                } else {
                    "  · sent"
                }));
            }
            w
        }
    };
    out.push_str(&format!(
        "#{} {} {}{}\n",
        m.seq,
        style.dim(&style.time(m.at_ms)),
        who,
        if m.not_journaled {
            style.dim("  (not yet journaled)")
        } else {
            String::new()
        }
    ));
    match &m.body {
        Body::Ok { text, attachments } => {
            for l in text.lines() {
                out.push_str(&format!("    {l}\n"));
            }
            for a in attachments {
                out.push_str(&format!(
                    "    📎 {} ({} bytes) — `samtale download {thread} {} {}`\n",
                    a.name, a.size, m.seq, a.index
                ));
            }
        }
        Body::Failed { reason } => {
            out.push_str(&format!(
                "    {}\n",
                style.bad(&format!("⚠ not shown: {reason}"))
            ));
        }
        Body::Unreadable { reason } => {
            out.push_str(&format!("    {}\n", style.dim(&format!("… {reason}"))));
        }
    }
    out
}

async fn show(global: &Global, style: &Style, a: ShowArgs) -> anyhow::Result<ExitCode> {
    let mut s = open(global).await?;
    let thread = s.resolve_thread(&a.thread).await?;
    let bar = bar(style, "Fetching messages");
    let view = s.thread_view(thread, &ticker(&bar)).await?;
    bar.finish_and_clear();
    if let Some(last) = view.messages.last() {
        s.mark_read(thread, last.seq, None).await?;
    }
    if style.json {
        print_json(&view)?;
        return done();
    }
    let names: Vec<&str> = view
        .row
        .participants
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    println!("{} — {}", style.bold(&view.row.team), names.join(", "));
    for b in &view.banners {
        println!("{}", style.warn(&format!("⚠ {}", b.text())));
    }
    println!();
    if view.messages.is_empty() {
        println!(
            "No messages yet. `samtale send {} \"…\"` writes the first.",
            &thread.to_string()[..8]
        );
    }
    for m in &view.messages {
        print!("{}", render_message(style, &thread.to_string()[..8], m));
    }
    done()
}

async fn send(global: &Global, style: &Style, a: SendArgs) -> anyhow::Result<ExitCode> {
    let text = match a.text.as_deref() {
        Some("-") => {
            let mut t = String::new();
            std::io::stdin()
                .read_to_string(&mut t)
                .context("cannot read standard input (is it UTF-8 text?)")?;
            t
        }
        Some(t) => t.to_owned(),
        None => String::new(),
    };
    let mut s = open(global).await?;
    let thread = s.resolve_thread(&a.thread).await?;
    if s.is_staff() && !a.force {
        let detail = s.thread_detail(thread).await?;
        let names: Vec<&str> = detail
            .citizens
            .iter()
            .map(|c| c.display_name.as_str())
            .collect();
        let warnings =
            samtale_cli::tui::minimisation_warnings(&text, &names, &s.config.own_contacts);
        if !warnings.is_empty() {
            for w in &warnings {
                eprintln!("{}", style.warn(&format!("⚠ {w}")));
            }
            bail!(ClientError::Refused(format!(
                "{}: --force sends it anyway",
                samtale_cli::tui::HELD
            )));
        }
    }
    let files: Vec<&Path> = a.files.iter().map(PathBuf::as_path).collect();
    let bar = bar(style, "Uploading");
    let (seq, id) = s.send(thread, &text, &files, None, &ticker(&bar)).await?;
    bar.finish_and_clear();
    if style.json {
        print_json(&serde_json::json!({"thread_id": thread, "seq": seq, "message_id": id}))?;
    } else {
        println!("Sent as message {seq}.");
    }
    done()
}

async fn download(global: &Global, style: &Style, a: DownloadArgs) -> anyhow::Result<ExitCode> {
    let mut s = open(global).await?;
    let thread = s.resolve_thread(&a.thread).await?;
    let bar = bar(style, "Downloading");
    let (name, bytes) = s
        .fetch_attachment(thread, a.seq, a.index, &ticker(&bar))
        .await?;
    bar.finish_and_clear();
    let target = if a.out.is_dir() {
        a.out.join(&name)
    } else {
        a.out.clone()
    };
    if target.exists() {
        bail!(
            "{} already exists; choose another place with --out",
            target.display()
        );
    }
    samtale_cli::keystore::write_atomically(&target, &bytes)?;
    if style.json {
        print_json(&serde_json::json!({"saved": target, "bytes": bytes.len()}))?;
    } else {
        println!(
            "Saved {} ({} bytes, hash and signature checked).",
            target.display(),
            bytes.len()
        );
    }
    done()
}

async fn new_thread(global: &Global, style: &Style, a: NewThreadArgs) -> anyhow::Result<ExitCode> {
    let mut s = open(global).await?;
    let team = resolve_team(&mut s, a.team.as_deref()).await?;
    let known: Vec<CitizenInfo> = s
        .get(&format!("/v1/teams/{}/citizens", team.team_id))
        .await?;
    let mut ids: Vec<AccountId> = Vec::new();
    for given in &a.citizens {
        let found: Vec<&CitizenInfo> = known
            .iter()
            .filter(|c| {
                c.account_id.to_string() == *given || c.display_name.eq_ignore_ascii_case(given)
            })
            .collect();
        match found.as_slice() {
            [one] => ids.push(one.account_id),
            [] => bail!(
                "no citizen {given:?} in {}; `samtale citizens` lists them",
                team.name
            ),
            _ => bail!(
                "{given:?} matches several citizens; use the account id from `samtale citizens`"
            ),
        }
    }
    // The team key must exist before anyone can write.
    s.upkeep(false).await?;
    let detail = s.create_thread(team.team_id, &ids).await?;
    if style.json {
        print_json(&detail.summary)?;
    } else {
        println!(
            "Started thread {} in {}. `samtale send {} \"…\"` or `samtale chat`.",
            detail.summary.thread_id,
            team.name,
            &detail.summary.thread_id.to_string()[..8]
        );
        for c in &detail.citizens {
            if c.assurance == AssuranceLevel::Unverified {
                println!(
                    "{}",
                    style.warn(&format!(
                        "⚠ {} has not verified their identity — give general answers only",
                        c.display_name
                    ))
                );
            }
        }
    }
    done()
}

async fn invite(global: &Global, style: &Style, a: InviteArgs) -> anyhow::Result<ExitCode> {
    let mut s = open(global).await?;
    let team = resolve_team(&mut s, a.team.as_deref()).await?;
    let created: InvitationCreated = s
        .post(
            "/v1/invitations",
            &CreateInvitationRequest {
                team_id: team.team_id,
                national_id: a.national_id.clone(),
                display_name: a.name.clone(),
                language: a.language.map(Into::into),
            },
        )
        .await?;
    // Nothing personal may go on paper: the letter is checked against the
    // name given and any national id.
    let m = Minimiser::new().with_name(&a.name);
    let findings: Vec<String> = m
        .scan(&created.letter)
        .iter()
        .map(|f| format!("{:?}: {}", f.category, f.category.explanation()))
        .collect();
    if style.json {
        print_json(&serde_json::json!({
            "code": created.code,
            "expires_at": created.expires_at,
            "letter": created.letter,
            "link": created.link,
            "findings": findings,
        }))?;
    } else {
        println!("{}", created.letter);
        if let Some(qr) = qr_text(&created.link) {
            println!(
                "The invitation link as a QR code (the citizen can scan it with a phone):\n\n{qr}"
            );
        }
        println!(
            "\nCode {} expires {}.",
            style.bold(&created.code),
            style.time(created.expires_at * 1000)
        );
        for f in &findings {
            println!(
                "{}",
                style.warn(&format!("⚠ The letter contains personal data — {f}"))
            );
        }
    }
    done()
}

/// A QR code of `text` drawn with Unicode half blocks (dark modules as
/// full blocks, with the quiet zone), for a light terminal or a printout.
fn qr_text(text: &str) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M).ok()?;
    Some(code.render::<Dense1x2>().quiet_zone(true).build())
}

async fn citizens(global: &Global, style: &Style, a: CitizensArgs) -> anyhow::Result<ExitCode> {
    let mut s = open(global).await?;
    let team = resolve_team(&mut s, a.team.as_deref()).await?;
    let list: Vec<CitizenInfo> = s
        .get(&format!("/v1/teams/{}/citizens", team.team_id))
        .await?;
    if style.json {
        print_json(&list)?;
        return done();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                c.display_name.clone(),
                assurance_words(c.assurance).into(),
                format!("{:?}", c.consent).to_lowercase(),
                c.notice.clone().unwrap_or_default(),
                c.account_id.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["NAME", "IDENTITY", "CONSENT", "NOTICE", "ACCOUNT"], &rows)
    );
    done()
}

// ---------------------------------------------------------------- consent

async fn consent(global: &Global, style: &Style, a: ConsentArgs) -> anyhow::Result<ExitCode> {
    let mut s = open(global).await?;
    match a.action {
        ConsentAction::Show => {
            let me = s.me().await?;
            let text: ConsentText = s.get("/v1/consent").await?;
            if style.json {
                print_json(
                    &serde_json::json!({"consent": me.consent, "version": text.version, "text": text.text}),
                )?;
            } else {
                println!("{}\n", text.text);
                println!(
                    "Your consent: {:?}",
                    me.consent.unwrap_or(ConsentState::Given)
                );
            }
        }
        ConsentAction::Withdraw { yes } => {
            if !yes {
                if !std::io::stdin().is_terminal() {
                    bail!("pass --yes to withdraw consent from a script");
                }
                eprint!(
                    "Withdraw consent? The municipality will write to you by letter or digital post instead. [y/N] "
                );
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes" | "ja" | "j") {
                    bail!("nothing was changed");
                }
            }
            s.call::<()>(Method::POST, "/v1/consent/withdraw", None)
                .await?;
            if style.json {
                print_json(&serde_json::json!({"consent": "withdrawn"}))?;
            } else {
                println!(
                    "Consent withdrawn. No more messages can be sent to you or by you in Samtale. You can still read your conversations and get a copy of everything held about you: `samtale export --out FILE`."
                );
            }
        }
    }
    done()
}

async fn fingerprint(
    global: &Global,
    style: &Style,
    a: FingerprintArgs,
) -> anyhow::Result<ExitCode> {
    let mut s = open(global).await?;
    let me = s.me().await?;
    let Some(expected) = a.expected else {
        if style.json {
            print_json(
                &serde_json::json!({"organisation": me.organisation_name, "fingerprint": me.root_fingerprint}),
            )?;
        } else {
            println!("{}: {}", me.organisation_name, me.root_fingerprint);
        }
        return done();
    };
    let ok = fingerprints_match(&expected, &me.root_fingerprint);
    if ok {
        let mut config = s.config.clone();
        config.root_checked = true;
        s.profile.save_config(&config)?;
    }
    if style.json {
        print_json(&serde_json::json!({"match": ok, "fingerprint": me.root_fingerprint}))?;
    } else if ok {
        println!(
            "{}",
            style.good(&format!(
                "✔ Matches: you are talking to {}.",
                me.organisation_name
            ))
        );
    } else {
        println!(
            "{}",
            style.bad(&format!(
                "✘ Does NOT match. The server's is {}. Do not send anything; call the municipality.",
                me.root_fingerprint
            ))
        );
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(6)
    })
}

async fn export(global: &Global, style: &Style, a: ExportArgs) -> anyhow::Result<ExitCode> {
    let mut s = open(global).await?;
    let me = s.me().await?;
    let devices: Vec<DeviceInfo> = s.get("/v1/devices").await?;
    let consent: ConsentText = s.get("/v1/consent").await?;
    let held: samtale_protocol::wire::AccessExport = s.get("/v1/me/export").await?;
    let list = s.thread_list().await?;
    let bar = bar(style, "Exporting threads");
    bar.set_length(list.threads.len() as u64);
    let mut threads = Vec::new();
    for t in &list.threads {
        threads.push(s.thread_view(t.thread_id, &|_| {}).await?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let out = serde_json::json!({
        "format": "samtale-personal-export",
        "version": 1,
        "exported_at": client::now_secs(),
        "server": s.config.server,
        "account": me,
        "consent_text": {"version": consent.version, "text": consent.text},
        "devices": devices,
        "threads": threads,
        "held_by_server": held,
    });
    let text = serde_json::to_string_pretty(&out)?;
    match a.out {
        Some(path) => {
            samtale_cli::keystore::write_atomically(&path, text.as_bytes())?;
            if !style.json {
                println!(
                    "Wrote {} ({} threads). It holds your messages in plain text: keep it safe.",
                    path.display(),
                    threads.len()
                );
            }
        }
        None => println!("{text}"),
    }
    done()
}

// ---------------------------------------------------------------- admin

async fn admin(global: &Global, style: &Style, c: AdminCommand) -> anyhow::Result<ExitCode> {
    if let AdminCommand::Init(a) = c {
        let profile = profile(global)?;
        let pw = password(
            a.password_file.as_deref(),
            "Choose your password (at least 12 characters): ",
        )?;
        let pass = passphrase(global, true)?;
        let (_session, fingerprint) = client::init_organisation(
            profile,
            &pass,
            &InitRequest {
                server: &a.server,
                enrolment_code: &a.enrolment_code,
                organisation: &a.organisation,
                username: &a.username,
                display_name: &a.name,
                password: &pw,
                device_label: "admin",
            },
        )
        .await?;
        if style.json {
            print_json(
                &serde_json::json!({"organisation": a.organisation, "root_fingerprint": fingerprint}),
            )?;
        } else {
            println!("{} is set up.", a.organisation);
            println!(
                "Organisation fingerprint (print it on every invitation letter): {}",
                style.bold(&fingerprint)
            );
            println!(
                "The organisation's root key is in this profile's keystore: back it up and keep the passphrase safe."
            );
            println!(
                "Next: `samtale admin team create NAME`, `samtale admin staff create …`, `samtale admin archive-key`."
            );
        }
        return done();
    }
    match c {
        AdminCommand::Team(TeamCommand::Retention {
            team,
            journaled_days,
            unjournaled_days,
        }) => {
            return crate::records::retention(
                global,
                style,
                &team,
                journaled_days,
                unjournaled_days,
            )
            .await;
        }
        AdminCommand::Hold { thread, release } => {
            return crate::records::hold(global, style, &thread, release).await;
        }
        AdminCommand::Holds => return crate::records::holds(global, style).await,
        AdminCommand::Erase { account, yes } => {
            return crate::records::erase(global, style, account, yes).await;
        }
        c => admin_with_session(global, style, c).await,
    }
}

async fn admin_with_session(
    global: &Global,
    style: &Style,
    c: AdminCommand,
) -> anyhow::Result<ExitCode> {
    let mut s = open(global).await?;
    match c {
        AdminCommand::Init(_)
        | AdminCommand::Hold { .. }
        | AdminCommand::Holds
        | AdminCommand::Erase { .. }
        | AdminCommand::Team(TeamCommand::Retention { .. }) => {}
        AdminCommand::Team(TeamCommand::Create { name }) => {
            let team: TeamInfo = s.post("/v1/teams", &CreateTeamRequest { name }).await?;
            if style.json {
                print_json(&team)?;
            } else {
                println!("Created team {} ({}).", team.name, team.team_id);
            }
        }
        AdminCommand::Team(TeamCommand::List) => {
            let teams: Vec<TeamInfo> = s.get("/v1/teams").await?;
            if style.json {
                print_json(&teams)?;
            } else {
                let rows: Vec<Vec<String>> = teams
                    .iter()
                    .map(|t| {
                        vec![
                            t.name.clone(),
                            t.staff.len().to_string(),
                            t.team_id.to_string(),
                        ]
                    })
                    .collect();
                print!("{}", table(&["TEAM", "STAFF", "ID"], &rows));
            }
        }
        AdminCommand::Team(TeamCommand::Add { team, username }) => {
            let team = resolve_team(&mut s, Some(&team)).await?;
            let member = resolve_staff(&mut s, &username).await?;
            s.change_team(team.team_id, member.account_id, Operation::Add)
                .await?;
            if style.json {
                print_json(&serde_json::json!({"team": team.team_id, "added": member.account_id}))?;
            } else {
                println!(
                    "Added {username} to {} (a signed record in the team's member list).",
                    team.name
                );
                println!(
                    "Next: a team member runs `samtale keys` to share the team key and its history with {username}'s certified devices."
                );
            }
        }
        AdminCommand::Team(TeamCommand::Remove { team, username }) => {
            let team = resolve_team(&mut s, Some(&team)).await?;
            let member = resolve_staff(&mut s, &username).await?;
            s.change_team(team.team_id, member.account_id, Operation::Remove)
                .await?;
            if style.json {
                print_json(
                    &serde_json::json!({"team": team.team_id, "removed": member.account_id}),
                )?;
            } else {
                println!(
                    "Removed {username} from {}. A team member's next `samtale keys` rotates the team key.",
                    team.name
                );
            }
        }
        AdminCommand::Staff(StaffCommand::Create {
            username,
            name,
            roles,
            teams,
            password_file,
        }) => {
            let mut team_ids: Vec<TeamId> = Vec::new();
            for t in &teams {
                team_ids.push(resolve_team(&mut s, Some(t)).await?.team_id);
            }
            let pw = password(
                password_file.as_deref(),
                &format!("Initial password for {username}: "),
            )?;
            let info: StaffInfo = s
                .post(
                    "/v1/staff",
                    &CreateStaffRequest {
                        username,
                        display_name: name,
                        password: pw,
                        roles,
                    },
                )
                .await?;
            for team in &team_ids {
                s.change_team(*team, info.account_id, Operation::Add)
                    .await?;
            }
            let info = resolve_staff(&mut s, &info.username).await?;
            if style.json {
                print_json(&info)?;
            } else {
                println!(
                    "Created {} ({}). They log in with `samtale login`; then certify their device with `samtale admin certify {}`.",
                    info.display_name, info.username, info.username
                );
            }
        }
        AdminCommand::Staff(StaffCommand::List) => {
            let staff: Vec<StaffInfo> = s.get("/v1/staff").await?;
            if style.json {
                print_json(&staff)?;
            } else {
                let rows: Vec<Vec<String>> = staff
                    .iter()
                    .map(|m| {
                        vec![
                            m.username.clone(),
                            m.display_name.clone(),
                            m.roles
                                .iter()
                                .map(|r| role_name(*r))
                                .collect::<Vec<_>>()
                                .join(", "),
                            m.teams.len().to_string(),
                            if m.disabled {
                                "disabled".into()
                            } else if m.must_change_password {
                                "active, must change password".into()
                            } else {
                                "active".into()
                            },
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(&["USER", "NAME", "ROLES", "TEAMS", "STATE"], &rows)
                );
            }
        }
        AdminCommand::Staff(StaffCommand::Disable { username }) => {
            let member = resolve_staff(&mut s, &username).await?;
            s.call::<()>(
                Method::POST,
                &format!("/v1/staff/{}/disable", member.account_id),
                None,
            )
            .await?;
            if style.json {
                print_json(&serde_json::json!({"disabled": member.account_id}))?;
            } else {
                println!(
                    "Disabled {username}: their sessions have ended. Team keys rotate at the next `samtale keys` of a team member."
                );
            }
        }
        AdminCommand::Staff(StaffCommand::Enable { username }) => {
            let member = resolve_staff(&mut s, &username).await?;
            s.call::<()>(
                Method::POST,
                &format!("/v1/staff/{}/enable", member.account_id),
                None,
            )
            .await?;
            if style.json {
                print_json(&serde_json::json!({"enabled": member.account_id}))?;
            } else {
                println!(
                    "Enabled {username}: they can log in again. A device that was revoked stays revoked; certify the new one with `samtale admin certify {username}`."
                );
            }
        }
        AdminCommand::Staff(StaffCommand::ResetPassword { username }) => {
            let member = resolve_staff(&mut s, &username).await?;
            let temporary: samtale_protocol::wire::TemporaryPassword = s
                .post(
                    &format!("/v1/staff/{}/password", member.account_id),
                    &serde_json::json!({}),
                )
                .await?;
            if style.json {
                print_json(&serde_json::json!({
                    "account_id": member.account_id,
                    "temporary_password": temporary.temporary_password,
                    "expires_at": temporary.expires_at,
                }))?;
            } else {
                println!(
                    "Temporary password for {username}: {}",
                    temporary.temporary_password
                );
                println!(
                    "Hand it over in person or by phone (not by e-mail). It works once, until {}, and only to choose a new password at their next `samtale login`. Their sessions have ended.",
                    style.time(temporary.expires_at.saturating_mul(1000))
                );
            }
        }
        AdminCommand::Staff(StaffCommand::Devices { username }) => {
            let member = resolve_staff(&mut s, &username).await?;
            let devices: Vec<DeviceInfo> = s
                .get(&format!("/v1/staff/{}/devices", member.account_id))
                .await?;
            if style.json {
                let out: Vec<serde_json::Value> = devices
                    .iter()
                    .map(|d| {
                        let mut v = serde_json::to_value(d).unwrap_or_default();
                        if let Some(map) = v.as_object_mut() {
                            map.insert(
                                "fingerprint".into(),
                                client::device_fingerprint(&d.keys.identity).into(),
                            );
                        }
                        v
                    })
                    .collect();
                print_json(&out)?;
            } else {
                let rows: Vec<Vec<String>> = devices
                    .iter()
                    .map(|d| {
                        vec![
                            d.device_id.to_string(),
                            d.label.clone(),
                            client::device_fingerprint(&d.keys.identity),
                            if d.revoked_at.is_some() {
                                "revoked".into()
                            } else if d.certified {
                                "certified".into()
                            } else {
                                "waiting for certification".into()
                            },
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(&["DEVICE", "LABEL", "FINGERPRINT", "STATE"], &rows)
                );
            }
        }
        AdminCommand::Staff(StaffCommand::RevokeDevice { username, device }) => {
            let revoked = s.revoke_staff_device(&username, &device).await?;
            if style.json {
                print_json(&revoked)?;
            } else {
                println!(
                    "Revoked {} ({}) of {username}: its sessions have ended and its connections closed. Team keys rotate at the next `samtale keys` of a team member.",
                    revoked.device_id, revoked.label
                );
            }
        }
        AdminCommand::Certify {
            username,
            fingerprints,
        } => {
            let fingerprints = if fingerprints.is_empty() {
                ask_certify_fingerprints(&mut s, &username).await?
            } else {
                fingerprints
            };
            let done_devices = s.certify_staff(&username, &fingerprints).await?;
            if style.json {
                print_json(&done_devices)?;
            } else {
                for d in &done_devices {
                    println!(
                        "Certified {} ({}) for {username} and added it to their signed device list; device fingerprint {}. It must match what their `samtale login` or `samtale whoami` showed.",
                        d.device_id,
                        d.label,
                        client::device_fingerprint(&d.keys.identity)
                    );
                }
                println!(
                    "Next: {username} (or a colleague) runs `samtale keys` to receive the team key."
                );
            }
        }
        AdminCommand::ArchiveKey => {
            let report = s.maintain_archive_key().await?;
            print_upkeep(style, &report)?;
        }
    }
    done()
}

/// Shows the devices waiting for certification and asks the admin to type
/// the fingerprint of each one to certify, read off its own screen.
async fn ask_certify_fingerprints(s: &mut Session, username: &str) -> anyhow::Result<Vec<String>> {
    let (_, waiting) = s.devices_to_certify(username).await?;
    if waiting.is_empty() {
        bail!(
            "{username} has no device waiting for certification; they log in first (`samtale login`)"
        );
    }
    let listed = waiting
        .iter()
        .map(|w| {
            format!(
                "  {}  {:?}  fingerprint {}",
                w.device_id, w.label, w.fingerprint
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    if !std::io::stdin().is_terminal() {
        bail!(
            "{username}'s devices waiting for certification:\n{listed}\nRead the fingerprint on the device's own screen (`samtale whoami` there), then pass it with --fingerprint"
        );
    }
    println!("{username}'s devices waiting for certification:\n{listed}");
    println!(
        "Read the fingerprint on {username}'s screen (their `samtale login` or `samtale whoami` shows it) and type it here. Leave it empty to certify nothing."
    );
    let mut chosen = Vec::new();
    loop {
        eprint!("Fingerprint: ");
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        let typed = line.trim();
        if typed.is_empty() {
            break;
        }
        if !waiting
            .iter()
            .any(|w| fingerprints_match(typed, &w.fingerprint))
        {
            eprintln!(
                "No waiting device has that fingerprint. Do not certify a device you cannot account for; try again, or leave it empty."
            );
            continue;
        }
        chosen.push(typed.to_owned());
        if chosen.len() == waiting.len() {
            break;
        }
    }
    if chosen.is_empty() {
        bail!("nothing was certified");
    }
    Ok(chosen)
}

fn profiles(global: &Global, style: &Style, c: ProfileCommand) -> anyhow::Result<ExitCode> {
    let home = Home::locate(global.home.as_deref())?;
    match c {
        ProfileCommand::List => {
            let mut rows = Vec::new();
            let mut out = Vec::new();
            for name in home.profiles() {
                let p = Profile::new(&home, &name)?;
                if let Ok(c) = p.config() {
                    rows.push(vec![
                        name.clone(),
                        c.display_name.clone(),
                        format!("{:?}", c.kind).to_lowercase(),
                        c.org_name.clone(),
                        c.server.clone(),
                    ]);
                    out.push(serde_json::json!({"profile": name, "name": c.display_name, "kind": c.kind, "organisation": c.org_name, "server": c.server}));
                }
            }
            if style.json {
                print_json(&out)?;
            } else if rows.is_empty() {
                println!(
                    "No profiles yet. `samtale login`, `samtale join` or `samtale admin init` makes one."
                );
            } else {
                print!(
                    "{}",
                    table(
                        &["PROFILE", "NAME", "KIND", "ORGANISATION", "SERVER"],
                        &rows
                    )
                );
            }
        }
        ProfileCommand::Contacts { set, clear } => {
            let p = Profile::new(&home, &global.profile)?;
            let mut config = p.config()?;
            if clear || !set.is_empty() {
                for c in &set {
                    let phone_digits = c.chars().filter(char::is_ascii_digit).count();
                    if !c.contains('@') && phone_digits < 8 {
                        bail!(
                            "{c:?} is neither an e-mail address nor a phone number of at least 8 digits"
                        );
                    }
                }
                config.own_contacts = set;
                p.save_config(&config)?;
            }
            if style.json {
                print_json(&config.own_contacts)?;
            } else if config.own_contacts.is_empty() {
                println!(
                    "No own contact details: every phone number and e-mail address in what you write is reported."
                );
            } else {
                println!("Not reported as personal data in what you write (your own):");
                for c in &config.own_contacts {
                    println!("  {c}");
                }
            }
        }
        ProfileCommand::Remove { name } => {
            let p = Profile::new(&home, &name)?;
            if !p.dir.exists() {
                bail!("there is no profile {name:?}");
            }
            p.remove()
                .with_context(|| format!("cannot remove {}", p.dir.display()))?;
            if !style.json {
                println!("Removed profile {name} from this machine.");
            }
        }
    }
    done()
}
