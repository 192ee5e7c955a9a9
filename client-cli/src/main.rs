//! `samtale`: the command-line client for every role. The commands are thin:
//! the work is in the `samtale_cli` library, which the chat view shares.

mod commands;
mod devices;
mod records;
mod scan;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Samtale: secure messaging between municipalities and citizens.
///
/// Messages are end-to-end encrypted: the server relays ciphertext only.
/// Each account lives in a profile (--profile) whose keys are kept in a
/// keystore encrypted with your passphrase.
#[derive(Debug, Parser)]
#[command(
    name = "samtale",
    version,
    after_help = "\
Getting started:
  samtale admin init --server https://samtale.example --enrolment-code XXXX-XXXX-... \\
      --organisation \"Randers Kommune\"                                                   (a new organisation)
  samtale login --server https://samtale.example --username mette                       (staff)
  samtale join --server https://samtale.example --code XXXX-XXXX-...                     (citizens)
  samtale chat

Passphrase: prompted for, or SAMTALE_PASSPHRASE, or --passphrase-file.
Profiles live in the platform's config directory (or SAMTALE_HOME).

Exit codes: 0 done; 1 `scan` found personal data; 2 error; 3 session ended
(log in again); 4 server unreachable; 5 refused or not found (including
withdrawn consent); 6 a security check failed (do not trust the data)."
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The profile (account) to use; several can live side by side.
    #[arg(
        long,
        global = true,
        env = "SAMTALE_PROFILE",
        default_value = "default"
    )]
    pub profile: String,
    /// Where profiles are kept (default: the platform's config directory).
    #[arg(long, global = true, env = "SAMTALE_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Read the keystore passphrase from this file (first line).
    #[arg(long, global = true, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Staff: log in on this machine, or start a new session.
    ///
    /// The first login registers this machine as a new device; later, it
    /// starts a new session when yours has ended.
    ///
    /// The first login makes the profile: a device key and an encrypted
    /// keystore. Ask an admin to certify the device (`samtale admin certify
    /// USER`) before you can receive the team's key.
    ///
    /// Example:
    ///
    ///   samtale login --server https://samtale.randers.dk --username mette
    #[command(verbatim_doc_comment)]
    Login(commands::LoginArgs),
    /// Staff: changes your password.
    ///
    /// Asks for the current password and the new one (twice), or reads them
    /// from SAMTALE_PASSWORD and SAMTALE_NEW_PASSWORD (or the files given).
    /// Every other session of your account ends: log in again there.
    ///
    /// Example:  samtale password
    Password(commands::PasswordArgs),
    /// Citizens: join with the code from your letter and your eID.
    ///
    /// Your national eID: MitID, BankID, Freja.
    /// Opens your browser for the eID login (or prints the address with
    /// --print-url), shows the consent text, and checks the organisation's
    /// fingerprint against the one on your letter.
    ///
    /// Example:
    ///
    ///   samtale join --server https://samtale.randers.dk --code 7K2Q-XM3P-... --fingerprint ABCDE-...
    #[command(verbatim_doc_comment)]
    Join(commands::JoinArgs),
    /// Ends this profile's session on the server (the keys stay).
    ///
    /// Example:  samtale logout
    Logout,
    /// Shows who this profile is.
    ///
    /// Account, organisation and its fingerprint, roles, identity level and
    /// consent.
    ///
    /// Example:  samtale whoami --json
    Whoami,
    /// Lists your threads as a table.
    ///
    /// Newest first: unread count, last activity, participants with their
    /// identity level, journal state.
    ///
    /// Example:
    ///
    ///   samtale threads
    ///   samtale threads --ready      (record clerks: threads to journal)
    #[command(verbatim_doc_comment)]
    Threads(commands::ThreadsArgs),
    /// Shows a thread's messages and marks them read.
    ///
    /// Each message with its verified sender.
    ///
    /// THREAD is an id or the start of one (see `samtale threads`).
    ///
    /// Example:  samtale show 3f2a
    Show(commands::ShowArgs),
    /// Sends a message (and files) to a thread.
    ///
    /// Staff are warned (and stopped, unless --force) when the text holds
    /// personal data. The text comes from the argument, or standard input with "-".
    ///
    /// Example:
    ///
    ///   samtale send 3f2a "Hej Maja, her er bevillingen." --file bevilling.pdf
    #[command(verbatim_doc_comment)]
    Send(commands::SendArgs),
    /// Downloads an attachment: checks its hash, decrypts it, saves it.
    ///
    /// Example:  samtale download 3f2a 4 1 --out ~/Downloads/
    Download(commands::DownloadArgs),
    /// Staff: starts a thread with one or more citizens of your team.
    ///
    /// Example:
    ///
    ///   samtale new-thread --team Familieplejen --citizen "Maja Hansen" --citizen "Ole Hansen"
    #[command(verbatim_doc_comment)]
    NewThread(commands::NewThreadArgs),
    /// Staff: invites a citizen; prints the letter to send.
    ///
    /// The national id number is sent to the server, which keeps only a
    /// keyed hash of it. The letter is checked for personal data before
    /// it is printed.
    ///
    /// Example:
    ///
    ///   samtale invite --team Jobcenter --national-id 010203-1234 --name "Maja"
    #[command(verbatim_doc_comment)]
    Invite(commands::InviteArgs),
    /// Staff: the outstanding invitations of your teams (not used, not
    /// expired); revoke one whose letter went astray.
    ///
    /// Examples:
    ///
    ///   samtale invitations
    ///   samtale invitations revoke 0193c0de
    #[command(verbatim_doc_comment)]
    Invitations(commands::InvitationsArgs),
    /// Staff: lists your team's citizens.
    ///
    /// With identity level and consent.
    ///
    /// Example:  samtale citizens --team Jobcenter
    Citizens(commands::CitizensArgs),
    /// Shows safety numbers to compare with the other participants.
    ///
    /// One number per person, over all their devices. Read them to each
    /// other (by phone or in person); they must match. When someone's
    /// devices were reset, nothing more is sent to them until you have
    /// compared and confirmed.
    ///
    /// Examples:
    ///
    ///   samtale safety 3f2a
    ///   samtale safety 3f2a --confirm "Maja"    (after comparing: the numbers matched)
    #[command(verbatim_doc_comment)]
    Safety(devices::SafetyArgs),
    /// Keeps keys in order (run after changes to teams or devices).
    ///
    /// Opens new grants, makes your team's or your own key if it is
    /// missing, rotates keys that are due, and grants them to colleagues'
    /// certified devices (so a new colleague can read the team's history)
    /// and to your other devices.
    ///
    /// Examples:
    ///
    ///   samtale keys
    ///   samtale keys --rotate    (a new epoch now, e.g. after a suspected compromise)
    #[command(verbatim_doc_comment)]
    Keys(commands::KeysArgs),
    /// Lists your devices; approves a new one; revokes one (a lost phone).
    ///
    /// Your devices are kept in a signed list that your other devices and
    /// your organisation check: a device the server adds on its own never
    /// receives your keys.
    ///
    /// Examples:
    ///
    ///   samtale devices
    ///   samtale devices approve --fingerprint 3F2A9-0C1DE-77B10-9A4C2-E5D18
    ///   samtale devices revoke 0193c0de
    ///   samtale devices reset     (every other device is lost)
    #[command(verbatim_doc_comment)]
    Devices(devices::DevicesArgs),
    /// Citizens: show the consent you gave, or withdraw it.
    ///
    /// Example:  samtale consent withdraw
    Consent(commands::ConsentArgs),
    /// Checks the organisation's fingerprint against your letter.
    ///
    /// Example:  samtale fingerprint ABCDE-FGHJK-MNPQR-STVWX-YZ012
    Fingerprint(commands::FingerprintArgs),
    /// Citizens: exports everything held about you, as JSON.
    ///
    /// Your messages are decrypted on this machine.
    ///
    /// Example:  samtale export --out mine.json
    Export(commands::ExportArgs),
    /// The interactive chat: thread list and conversation, live.
    ///
    /// Example:  samtale chat
    Chat(commands::ChatArgs),
    /// Record clerks: export a thread into a case file, verified, and
    /// record the filing; verify a filed export again.
    #[command(subcommand)]
    Journal(records::JournalCommand),
    /// Admins: organisation, teams, staff, certificates, archive key,
    /// retention and holds.
    #[command(subcommand)]
    Admin(commands::AdminCommand),
    /// Profiles on this machine.
    #[command(subcommand)]
    Profile(commands::ProfileCommand),
    /// Checks text for personal data before it leaves the channel.
    ///
    /// Finds national id numbers (Danish CPR, Swedish personnummer, also
    /// partial ones), e-mail addresses and phone numbers, and, for the people
    /// you name with --person, a full name, or a name together with a named
    /// school, an address or health details. Exits 0 when the text is clean,
    /// 1 when something was found, 2 on errors.
    ///
    /// Examples:
    ///
    ///   samtale scan letter.txt
    ///
    ///   echo "Sofie Hansen går på Søndervangskolen" | samtale scan --person "Sofie Hansen"
    ///
    ///   samtale scan --json --person "Elsa Lindqvist" --school "Vasaskolan" draft.txt
    #[command(verbatim_doc_comment)]
    Scan(scan::ScanArgs),
}

/// A reader that stops early (`samtale --json show X | head`) closes the
/// pipe: printing then fails with a broken pipe, which is not an error of
/// ours. End quietly, as `cat` and `grep` do, instead of panicking.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    // The local time zone must be read before any thread starts.
    let offset = samtale_cli::output::local_offset();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("samtale: cannot start: {e}");
            return ExitCode::from(2);
        }
    };
    let style = samtale_cli::output::Style::detect(cli.global.json, offset);
    let result = runtime.block_on(commands::dispatch(cli.command, &cli.global, style));
    match result {
        Ok(code) => code,
        Err(error) => {
            let code = commands::exit_code(&error);
            if cli.global.json {
                // Scripts that asked for JSON get the error as JSON too (on
                // standard error, so standard output stays data only).
                eprintln!(
                    "{}",
                    serde_json::json!({"error": format!("{error:#}"), "exit_code": code})
                );
            } else {
                eprintln!("samtale: {error:#}");
            }
            ExitCode::from(code)
        }
    }
}
