//! Commands about whom to trust: `samtale devices` (the signed device list:
//! list, approve, revoke, reset) and `samtale safety` (safety numbers, and
//! confirming them after a device reset).

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use samtale_cli::client::ClientError;
use samtale_cli::output::{Style, print_json, table};
use samtale_protocol::DeviceId;

use crate::Global;
use crate::commands::{done, open};

/// `samtale devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    #[command(subcommand)]
    action: Option<DevicesAction>,
}

#[derive(Debug, Subcommand)]
enum DevicesAction {
    /// Lists your devices, their fingerprints and whether your signed
    /// device list names them.  Example: samtale devices list
    List,
    /// Citizens: approves a new device of yours, so it can read your
    /// messages. Read the fingerprint off the new device's screen (it
    /// printed it when it joined; `samtale whoami` there shows it again)
    /// and give it here; a device whose fingerprint does not match is
    /// refused.
    ///
    /// Example: samtale devices approve --fingerprint 3F2A9-0C1DE-77B10-9A4C2-E5D18
    Approve {
        /// The new device's fingerprint, as its screen shows it. Without it
        /// (at a terminal) you are asked for each waiting device.
        #[arg(long)]
        fingerprint: Option<String>,
    },
    /// Revokes a device: its sessions and connections end at once, it is
    /// removed from your signed device list, and it receives no keys for
    /// new messages.
    ///
    /// Example: samtale devices revoke 0193c0de
    Revoke {
        /// The device: its id, a unique start of it, or its fingerprint
        /// (see `samtale devices`).
        device: String,
    },
    /// Citizens who lost every other device: makes this device the only
    /// one in your signed list. Messages sealed before can no longer be
    /// read by you (only your lost devices held that key); everyone in your
    /// threads is told, and staff compare safety numbers with you before
    /// they write again.
    ///
    /// Example: samtale devices reset --yes
    Reset {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

fn ask(question: &str) -> anyhow::Result<String> {
    eprint!("{question}");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(answer.trim().to_owned())
}

pub(crate) async fn devices(
    global: &Global,
    style: &Style,
    a: DevicesArgs,
) -> anyhow::Result<ExitCode> {
    let mut s = open(global).await?;
    match a.action.unwrap_or(DevicesAction::List) {
        DevicesAction::List => {
            let list = s.own_devices().await?;
            if style.json {
                print_json(&list)?;
                return done();
            }
            let me = s.config.device_id;
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|d| {
                    let state = match d.info.revoked_at {
                        Some(t) => format!("revoked {}", style.time(t * 1000)),
                        None if d.info.device_id == me && d.listed => "this device".into(),
                        None if d.info.device_id == me => "this device, not approved yet".into(),
                        None if d.listed => "approved".into(),
                        None if s.is_staff() => "waiting for certification".into(),
                        None => "waiting for your approval".into(),
                    };
                    vec![
                        d.info.device_id.to_string(),
                        d.info.label.clone(),
                        d.fingerprint.clone(),
                        style.time(d.info.created_at * 1000),
                        state,
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["DEVICE", "LABEL", "FINGERPRINT", "ADDED", "STATE"], &rows)
            );
            if !s.is_staff()
                && list
                    .iter()
                    .any(|d| !d.listed && d.info.revoked_at.is_none() && d.info.device_id != me)
            {
                println!(
                    "\nA device waits for approval. Compare its fingerprint with what the new device shows, then: samtale devices approve --fingerprint FINGERPRINT"
                );
            }
        }
        DevicesAction::Approve { fingerprint } => {
            let fingerprint = match fingerprint {
                Some(f) => f,
                None => {
                    if !std::io::stdin().is_terminal() {
                        bail!(
                            "give the new device's fingerprint with --fingerprint (read it off the new device's screen)"
                        );
                    }
                    let report = s.upkeep(false).await?;
                    let Some(first) = report.pending.first() else {
                        bail!("no device of yours waits for approval");
                    };
                    eprintln!(
                        "Device {:?} wants to join your account.\nIts fingerprint here: {}",
                        first.label, first.fingerprint
                    );
                    ask("Type the fingerprint the new device shows (or nothing to stop): ")?
                }
            };
            if fingerprint.is_empty() {
                bail!("nothing was approved");
            }
            let (device, report) = s.approve_device(&fingerprint).await?;
            if style.json {
                print_json(&serde_json::json!({"approved": device, "keys": report}))?;
            } else {
                println!(
                    "{}",
                    style.good(&format!(
                        "Approved {} ({}): it is in your signed device list and was granted your key ({} grant(s)).",
                        device.label, device.fingerprint, report.granted
                    ))
                );
            }
        }
        DevicesAction::Revoke { device } => {
            let device = own_device(&mut s, &device).await?;
            s.remove_device(device).await?;
            if style.json {
                print_json(&serde_json::json!({"revoked": device}))?;
            } else if device == s.config.device_id {
                println!("This device is revoked; its session has ended.");
            } else {
                println!("Revoked {device}: its sessions and connections have ended.");
                println!(
                    "Run `samtale keys` soon: your keys rotate so it cannot read new messages."
                );
            }
        }
        DevicesAction::Reset { yes } => {
            if !yes {
                if !std::io::stdin().is_terminal() {
                    bail!("pass --yes to reset your device list from a script");
                }
                let answer = ask(
                    "Make this the only device of your account? Every other device is revoked, you can no longer read earlier messages, and everyone in your threads is told. [y/N] ",
                )?;
                if !matches!(answer.as_str(), "y" | "Y" | "yes" | "ja" | "j") {
                    bail!("nothing was changed");
                }
            }
            let report = s.reset_devices().await?;
            if style.json {
                print_json(&report)?;
            } else {
                println!(
                    "This is now the only device of your account. Staff will compare safety numbers with you before they write again: `samtale safety THREAD` shows yours."
                );
            }
        }
    }
    done()
}

/// `samtale safety`.
#[derive(Debug, Args)]
pub struct SafetyArgs {
    /// The thread: its id or the start of it.
    thread: String,
    /// After comparing: the numbers with this participant (a name or an
    /// account id) matched. Confirms a reset of their devices.
    #[arg(long, value_name = "NAME")]
    confirm: Option<String>,
}

pub(crate) async fn safety(
    global: &Global,
    style: &Style,
    a: SafetyArgs,
) -> anyhow::Result<ExitCode> {
    let mut s = open(global).await?;
    let thread = s.resolve_thread(&a.thread).await?;
    if let Some(name) = &a.confirm {
        let row = s.confirm_safety(thread, name).await?;
        if style.json {
            print_json(&row)?;
        } else {
            println!(
                "{}",
                style.good(&format!(
                    "Confirmed: your safety number with {} matched. Messages to them can be sent again.",
                    row.name
                ))
            );
        }
        return done();
    }
    let rows = s.safety_numbers(thread).await?;
    if style.json {
        print_json(&rows)?;
        return done();
    }
    println!("Read these numbers to each other; they must match exactly on both screens.\n");
    for r in &rows {
        let who = if r.staff { "staff" } else { "citizen" };
        println!(
            "{} ({who}, {} device{})",
            style.bold(&r.name),
            r.devices,
            if r.devices == 1 { "" } else { "s" }
        );
        println!("    {}", r.safety_number);
        if r.reset_unconfirmed {
            println!(
                "    {}",
                style.warn(&format!(
                    "Their devices were reset. When the numbers match: samtale safety {} --confirm \"{}\"",
                    &thread.to_string()[..8],
                    r.name
                ))
            );
        }
        println!();
    }
    done()
}

/// One of this account's live devices, named by its id, a unique start of
/// the id, or its fingerprint.
async fn own_device(s: &mut samtale_cli::client::Session, given: &str) -> anyhow::Result<DeviceId> {
    let given = given.trim();
    let devices = s.own_devices().await?;
    let matches: Vec<_> = devices
        .iter()
        .filter(|d| d.info.revoked_at.is_none())
        .filter(|d| {
            d.info
                .device_id
                .to_string()
                .starts_with(&given.to_lowercase())
                || samtale_protocol::fingerprints_match(given, &d.fingerprint)
        })
        .collect();
    match matches.as_slice() {
        [one] if !given.is_empty() => Ok(one.info.device_id),
        [] | [_] => Err(ClientError::Refused(format!(
            "none of your live devices is {given:?}; `samtale devices` lists them"
        ))
        .into()),
        _ => Err(ClientError::Refused(format!(
            "{given:?} names {} of your devices; give more of the id",
            matches.len()
        ))
        .into()),
    }
}
