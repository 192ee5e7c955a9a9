//! Record commands: `samtale journal export|verify|list` for record clerks,
//! and the admin's `samtale admin team retention` and `samtale admin hold`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use reqwest::Method;
use samtale_cli::journal::{self, ExportRequest};
use samtale_cli::output::{Style, print_json, table};
use samtale_protocol::wire::{JournalList, RetentionPolicy};

use crate::Global;
use crate::commands::{bar, done, open, resolve_team, ticker};

/// `samtale journal …`.
#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// Exports a thread into a case file, verified and signed
    ///
    /// Writes a new directory: a PDF for people, JSON for machines, an EML
    /// message for case systems that file mail, the attachments, a SHA-256
    /// manifest and this device's signature over it. Every message is
    /// decrypted with the archive key and its signature, sender certificate
    /// and place in the sequence are checked first; one that fails stops
    /// the export (exit 6) and nothing is written. Then the filing is
    /// recorded on the server, and every participant sees "Filed on case …".
    ///
    /// Examples:
    ///
    ///   samtale journal export 0193c0de --case 2026-004711 --kle 27.12.04 --out ~/journal
    ///
    ///   samtale journal export 0193c0de --case 2026-004711 --no-receipt   (a trial export)
    #[command(verbatim_doc_comment)]
    Export(ExportArgs),
    /// Verifies a filed export again, without a server or a key
    ///
    /// Checks the sequence, every signature and certificate, every text
    /// against its envelope (with the content keys the export holds), and,
    /// when the manifest lies beside the JSON, the clerk's signature over
    /// it and every file it lists (the PDF, the EML, the attachments).
    /// Exits 0 when everything verifies, and 6, naming the first message or
    /// file that does not, otherwise.
    ///
    /// Example:  samtale journal verify ~/journal/samtale-journal-2026-004711-0193c0de/journal.json
    Verify {
        /// The export's journal.json.
        file: PathBuf,
        /// The organisation fingerprint you trust (from an invitation letter
        /// or the case system); without it the export's own root key is used.
        #[arg(long, value_name = "FINGERPRINT")]
        root_fingerprint: Option<String>,
    },
    /// Lists where a thread was filed
    ///
    /// Example:  samtale journal list 0193c0de
    List {
        /// The thread (id or its first characters).
        thread: String,
    },
}

/// `samtale journal export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The thread (id or its first characters; see `samtale threads --ready`).
    thread: String,
    /// The case reference in the case system (no names or national ids).
    #[arg(long = "case", value_name = "REFERENCE")]
    case_ref: String,
    /// The KLE subject number, e.g. 27.12.04.
    #[arg(long, value_name = "NUMBER")]
    kle: Option<String>,
    /// Where to make the export's directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Do not record the filing on the server (a trial export).
    #[arg(long)]
    no_receipt: bool,
}

pub async fn journal(
    global: &Global,
    style: &Style,
    c: JournalCommand,
) -> anyhow::Result<ExitCode> {
    match c {
        JournalCommand::Export(a) => {
            let mut s = open(global).await?;
            let thread = s.resolve_thread(&a.thread).await?;
            let progress = bar(style, "Verifying messages");
            let outcome = s
                .journal_export(
                    &ExportRequest {
                        thread,
                        case_ref: &a.case_ref,
                        kle: a.kle.as_deref(),
                        out_dir: &a.out,
                        file_receipt: !a.no_receipt,
                        offset: style.offset,
                    },
                    &ticker(&progress),
                )
                .await;
            progress.finish_and_clear();
            let outcome = outcome?;
            if style.json {
                print_json(&outcome)?;
            } else {
                println!(
                    "Exported messages 1 to {} into {}",
                    outcome.up_to_seq,
                    style.bold(&outcome.dir.display().to_string())
                );
                let rows: Vec<Vec<String>> = outcome
                    .files
                    .iter()
                    .map(|(f, sha)| vec![f.clone(), sha[..16].to_owned()])
                    .collect();
                print!("{}", table(&["FILE", "SHA-256 (start)"], &rows));
                println!(
                    "Manifest SHA-256: {} (signed by this device in {})",
                    outcome.manifest_sha256,
                    journal::MANIFEST_SIGNATURE
                );
                if let (Some(kle), true) = (&outcome.kle, outcome.kle_from_earlier_filing) {
                    println!(
                        "KLE {kle}, from the earlier filing on this case (give --kle to change it)."
                    );
                }
                match &outcome.receipt {
                    Some(r) => println!(
                        "{} Filed on case {} up to message {}; every participant sees it.",
                        style.good("✔"),
                        r.case_ref,
                        r.up_to_seq
                    ),
                    None => println!(
                        "Not recorded on the server (--no-receipt). Run again without it to file the thread."
                    ),
                }
            }
            done()
        }
        JournalCommand::Verify {
            file,
            root_fingerprint,
        } => {
            let verified = journal::verify_file(&file, root_fingerprint.as_deref())?;
            let journal = &verified.journal;
            let anchored = root_fingerprint.is_some();
            let named = &journal.organisation.root_fingerprint;
            let files_said = match &verified.signed_files {
                Some(files) => format!(
                    "signed by the clerk's certified device {} ({}) and unchanged: {}",
                    journal.export.clerk.device_fingerprint,
                    journal.export.clerk.name,
                    files.join(", ")
                ),
                None => format!(
                    "no {} and {} beside it: only the document itself was checked, not the PDF, the EML or who exported it",
                    journal::MANIFEST,
                    journal::MANIFEST_SIGNATURE
                ),
            };
            if style.json {
                print_json(&serde_json::json!({
                    "verified": true,
                    "anchored": anchored,
                    "signed_files": verified.signed_files,
                    "root_fingerprint": named,
                    "thread_id": journal.thread_id,
                    "case": journal.case,
                    "messages": journal.messages.len(),
                    "checks": journal.export.checks,
                }))?;
            } else if anchored {
                println!(
                    "{} {}: messages 1 to {} of thread {} verify against {} (case {}).",
                    style.good("✔"),
                    file.display(),
                    journal.messages.len(),
                    journal.thread_id,
                    named,
                    journal.case.reference
                );
                for check in &journal.export.checks {
                    println!("  - {check}");
                }
                println!("  - files: {files_said}");
            } else {
                println!(
                    "{} {}: messages 1 to {} of thread {} are consistent with the organisation key the file itself names ({}), but that was NOT checked against your organisation: whoever made the file could have chosen it. Run again with --root-fingerprint FINGERPRINT (`samtale whoami` shows yours) to verify it.",
                    style.warn("⚠ not anchored:"),
                    file.display(),
                    journal.messages.len(),
                    journal.thread_id,
                    named,
                );
                for check in &journal.export.checks {
                    println!("  - {check}");
                }
                println!("  - files: {files_said}");
            }
            done()
        }
        JournalCommand::List { thread } => {
            let mut s = open(global).await?;
            let thread = s.resolve_thread(&thread).await?;
            let list: JournalList = s.get(&format!("/v1/threads/{thread}/journal")).await?;
            if style.json {
                print_json(&list)?;
            } else if list.receipts.is_empty() {
                println!("Thread {thread} has not been filed on a case.");
            } else {
                let rows: Vec<Vec<String>> = list
                    .receipts
                    .iter()
                    .map(|r| {
                        vec![
                            r.case_ref.clone(),
                            r.kle.clone().unwrap_or_default(),
                            format!("1–{}", r.up_to_seq),
                            style.time(r.journaled_at.saturating_mul(1000)),
                            r.manifest_sha256[..16].to_owned(),
                        ]
                    })
                    .collect();
                print!(
                    "{}",
                    table(&["CASE", "KLE", "MESSAGES", "FILED", "MANIFEST"], &rows)
                );
            }
            done()
        }
    }
}

/// `samtale admin team retention TEAM`: shows or sets the policy.
pub async fn retention(
    global: &Global,
    style: &Style,
    team: &str,
    journaled_days: Option<u32>,
    unjournaled_days: Option<u32>,
) -> anyhow::Result<ExitCode> {
    let mut s = open(global).await?;
    let info = resolve_team(&mut s, Some(team)).await?;
    let mut policy = info.retention;
    if journaled_days.is_some() || unjournaled_days.is_some() {
        policy = RetentionPolicy {
            journaled_days: journaled_days.unwrap_or(policy.journaled_days),
            unjournaled_days: unjournaled_days.unwrap_or(policy.unjournaled_days),
        };
        policy = s
            .put(&format!("/v1/teams/{}/retention", info.team_id), &policy)
            .await?;
    }
    if style.json {
        print_json(&serde_json::json!({"team": info.team_id, "retention": policy}))?;
    } else {
        println!(
            "{}: messages are deleted {} after they are filed on a case; messages never filed are deleted when {} old.",
            info.name,
            days(policy.journaled_days),
            days(policy.unjournaled_days)
        );
    }
    done()
}

/// "1 day", "30 days".
pub(crate) fn days(n: u32) -> String {
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}

/// `samtale admin hold THREAD [--release]`.
pub async fn hold(
    global: &Global,
    style: &Style,
    thread: &str,
    release: bool,
) -> anyhow::Result<ExitCode> {
    let mut s = open(global).await?;
    let thread = match s.resolve_thread(thread).await {
        Ok(t) => t,
        Err(first) => {
            // An admin lists no threads: a start of an id is looked up
            // among the threads on hold.
            let held: Vec<samtale_protocol::wire::HoldInfo> = s.get("/v1/holds").await?;
            let given = thread.to_ascii_lowercase();
            let found: Vec<_> = held
                .iter()
                .filter(|h| h.thread_id.to_string().starts_with(&given))
                .collect();
            match found.as_slice() {
                [one] => one.thread_id,
                [] => {
                    return Err(anyhow::anyhow!(
                        "{first}. An admin sees no thread's content: give the full thread id (a team member or record clerk finds it with `samtale threads --json`)"
                    ));
                }
                _ => anyhow::bail!("{thread:?} starts several held threads; give more of the id"),
            }
        }
    };
    let method = if release { Method::DELETE } else { Method::PUT };
    s.call::<()>(method, &format!("/v1/threads/{thread}/hold"), None)
        .await?;
    if style.json {
        print_json(&serde_json::json!({"thread": thread, "on_hold": !release}))?;
    } else if release {
        println!("Released the hold on thread {thread}: retention applies to it again.");
    } else {
        println!(
            "Thread {thread} is on hold: retention deletes nothing of it until `samtale admin hold {thread} --release`."
        );
    }
    done()
}

/// `samtale admin holds`.
pub async fn holds(global: &Global, style: &Style) -> anyhow::Result<ExitCode> {
    let mut s = open(global).await?;
    let held: Vec<samtale_protocol::wire::HoldInfo> = s.get("/v1/holds").await?;
    if style.json {
        print_json(&held)?;
        return done();
    }
    if held.is_empty() {
        println!("No thread is on hold.");
        return done();
    }
    let teams: Vec<samtale_protocol::wire::TeamInfo> = s.get("/v1/teams").await?;
    let staff: Vec<samtale_protocol::wire::StaffInfo> = s.get("/v1/staff").await?;
    let rows: Vec<Vec<String>> = held
        .iter()
        .map(|h| {
            vec![
                h.thread_id.to_string(),
                teams
                    .iter()
                    .find(|t| t.team_id == h.team_id)
                    .map_or_else(|| h.team_id.to_string(), |t| t.name.clone()),
                samtale_cli::output::utc_date(h.since),
                h.by.and_then(|by| staff.iter().find(|m| m.account_id == by))
                    .map_or_else(|| "—".to_owned(), |m| m.display_name.clone()),
            ]
        })
        .collect();
    print!("{}", table(&["THREAD", "TEAM", "SINCE", "BY"], &rows));
    done()
}

/// `samtale admin erase ACCOUNT`.
pub async fn erase(
    global: &Global,
    style: &Style,
    account: samtale_protocol::AccountId,
    yes: bool,
) -> anyhow::Result<ExitCode> {
    if !yes {
        use std::io::{BufRead, IsTerminal, Write};
        if !std::io::stdin().is_terminal() {
            anyhow::bail!("erasing cannot be undone: add --yes to confirm");
        }
        print!(
            "Erase citizen {account} and everything the server holds about them? There is no undo. Type yes: "
        );
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            println!("Nothing was erased.");
            return Ok(ExitCode::from(2));
        }
    }
    let mut s = open(global).await?;
    let erased: samtale_protocol::wire::ErasureDone =
        s.delete(&format!("/v1/citizens/{account}")).await?;
    if style.json {
        print_json(&erased)?;
    } else {
        println!(
            "Erased citizen {account}: {} thread(s) deleted, {} thread(s) go on without them, {} message(s) and {} device(s) deleted. The audit log keeps the content-free record of the erasure.",
            erased.threads_deleted,
            erased.threads_left,
            erased.messages_deleted,
            erased.devices_deleted
        );
    }
    done()
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_day_is_singular() {
        assert_eq!(super::days(1), "1 day");
        assert_eq!(super::days(30), "30 days");
        assert_eq!(super::days(0), "0 days");
    }
}
