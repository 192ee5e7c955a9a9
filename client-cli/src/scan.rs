//! `samtale scan`: the minimisation check staff use before text leaves the
//! encrypted channel (a notification template, an invitation letter, an SMS
//! they still have to send).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use samtale_protocol::minimise::{Finding, Minimiser};

/// `samtale scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// A person the text may be about, as "First Last", or a first name
    /// alone (repeatable).
    #[arg(long = "person", value_name = "NAME")]
    people: Vec<String>,
    /// A school name to treat as identifying (repeatable).
    #[arg(long = "school", value_name = "NAME")]
    schools: Vec<String>,
    /// Your own phone number or e-mail address, not reported (repeatable).
    #[arg(long = "own-contact", value_name = "CONTACT")]
    own_contacts: Vec<String>,
    /// The file to check; standard input when absent or "-".
    file: Option<PathBuf>,
}

/// Runs the check; exit 0 clean, 1 findings, 2 errors.
pub fn run(args: ScanArgs, json: bool) -> ExitCode {
    match scan(args, json) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("samtale: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn scan(args: ScanArgs, json: bool) -> anyhow::Result<ExitCode> {
    let text = read_input(args.file.as_deref())?;
    let mut minimiser = Minimiser::new();
    for person in &args.people {
        if person.trim().is_empty() {
            anyhow::bail!("--person needs a name, like \"Sofie Hansen\" or \"Maja\"");
        }
        minimiser = minimiser.with_name(person);
    }
    for contact in &args.own_contacts {
        minimiser = minimiser.with_own_contact(contact);
    }
    for school in &args.schools {
        minimiser = minimiser.with_school(school);
    }
    let findings = minimiser.scan(&text);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report(&text, &findings))?
        );
    } else {
        print_table(&text, &findings);
    }
    Ok(if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn read_input(file: Option<&std::path::Path>) -> anyhow::Result<String> {
    match file {
        Some(path) if path.as_os_str() != "-" => {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
        }
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read standard input (is it UTF-8 text?)")?;
            Ok(text)
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn report(text: &str, findings: &[Finding]) -> serde_json::Value {
    serde_json::Value::Array(
        findings
            .iter()
            .map(|f| {
                let (line, column) = line_col(text, f.span.start);
                serde_json::json!({
                    "category": f.category,
                    "line": line,
                    "column": column,
                    "start": f.span.start,
                    "end": f.span.end,
                    "text": &text[f.span.clone()],
                    "label": f.category.label(),
                    "explanation": f.category.explanation(),
                })
            })
            .collect(),
    )
}

fn print_table(text: &str, findings: &[Finding]) {
    if findings.is_empty() {
        println!("No personal data found.");
        return;
    }
    let rows: Vec<[String; 3]> = findings
        .iter()
        .map(|f| {
            let (line, col) = line_col(text, f.span.start);
            [
                format!("{line}:{col}"),
                f.category.label().to_owned(),
                text[f.span.clone()].replace('\n', " "),
            ]
        })
        .collect();
    let headers = ["WHERE", "WHAT", "TEXT"];
    let widths: Vec<usize> = (0..3)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    println!(
        "{:<w0$}  {:<w1$}  {}",
        headers[0],
        headers[1],
        headers[2],
        w0 = widths[0],
        w1 = widths[1]
    );
    for r in &rows {
        println!(
            "{:<w0$}  {:<w1$}  {}",
            r[0],
            r[1],
            r[2],
            w0 = widths[0],
            w1 = widths[1]
        );
    }
    println!();
    let mut seen = Vec::new();
    for f in findings {
        if !seen.contains(&f.category) {
            seen.push(f.category);
            println!("{}: {}", f.category.label(), f.category.explanation());
        }
    }
    println!(
        "\n{} finding(s). Remove or rewrite them before this text leaves the encrypted channel.",
        findings.len()
    );
}
