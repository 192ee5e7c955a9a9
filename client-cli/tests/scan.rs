//! The real `samtale` binary's `scan` command.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Stdio};

fn scan(args: &[&str], input: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_samtale"))
        .arg("scan")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_neutral_notification_is_clean_and_exits_zero() {
    let (code, out, _) = scan(&[], "Du har en ny besked fra Randers Kommune");
    assert_eq!(code, 0);
    assert!(out.contains("No personal data found"));
}

#[test]
fn findings_are_listed_in_a_table_with_explanations_and_exit_one() {
    let (code, out, _) = scan(
        &["--person", "Sofie Hansen"],
        "Hej\nSofie Hansen går på Søndervangskolen, cpr 010190-1234",
    );
    assert_eq!(code, 1);
    for needle in [
        "WHERE",
        "2:1",
        "full name",
        "name with school",
        "CPR number",
        "010190-1234",
        "use the first name only",
    ] {
        assert!(out.contains(needle), "missing {needle}:\n{out}");
    }
    // Words, not the program's internal names.
    for internal in ["FullName", "NameWithSchool", "DanishCpr"] {
        assert!(!out.contains(internal), "{internal} shown:\n{out}");
    }
}

#[test]
fn json_output_is_machine_readable() {
    let (code, out, _) = scan(&["--json"], "ring på 12 34 56 78");
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["category"], "phone");
    assert_eq!(v[0]["text"], "12 34 56 78");
    assert_eq!(v[0]["line"], 1);
}

#[test]
fn a_first_name_alone_is_a_person_and_an_empty_one_a_usage_error() {
    // Invitations often name a citizen by her first name only: that name
    // followed by a capitalised word is her full name.
    let (code, out, _) = scan(
        &["--json", "--person", "Sofie"],
        "Sofie Hansen går på Søndervangskolen",
    );
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let found: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["category"].as_str().unwrap())
        .collect();
    assert_eq!(found, ["full_name", "name_with_school"], "{out}");
    let (code, _, err) = scan(&["--person", " "], "x");
    assert_eq!(code, 2);
    assert!(err.contains("\"Sofie Hansen\""), "{err}");
}

#[test]
fn a_reader_that_stops_early_ends_the_output_quietly_not_with_a_panic() {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_samtale"))
        .args(["--json", "scan"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Enough findings for far more output than a pipe holds.
    let input = "cpr 010190-1234\n".repeat(20_000);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout); // like `| head -c 16`
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
}

#[test]
fn with_json_an_error_is_json_too() {
    let home = std::env::temp_dir().join(format!("samtale-json-error-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_samtale"))
        .args(["--json", "--profile", "nobody", "threads"])
        .env("SAMTALE_HOME", &home)
        .env("SAMTALE_PASSPHRASE", "a long keystore passphrase")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value =
        serde_json::from_str(stderr.trim()).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert!(v["error"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert_eq!(v["exit_code"], out.status.code().unwrap());
    assert!(out.stdout.is_empty());
    // Without --json, words (the control).
    let plain = Command::new(env!("CARGO_BIN_EXE_samtale"))
        .args(["--profile", "nobody", "threads"])
        .env("SAMTALE_HOME", &home)
        .env("SAMTALE_PASSPHRASE", "a long keystore passphrase")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&plain.stderr).starts_with("samtale: "));
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn the_writers_own_contact_details_are_not_reported() {
    let text = "Ring gerne på 89 15 15 15 eller skriv til mette.jensen@randers.dk. Din mors nummer er 12 34 56 78.";
    // Without them known, all three are reported (the positive control).
    let (code, out, _) = scan(&["--json"], text);
    assert_eq!(code, 1);
    let all: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 3, "{out}");
    let (code, out, _) = scan(
        &[
            "--json",
            "--own-contact",
            "+45 8915 1515",
            "--own-contact",
            "Mette.Jensen@randers.dk",
        ],
        text,
    );
    assert_eq!(code, 1);
    let left: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(left.as_array().unwrap().len(), 1, "{out}");
    assert_eq!(left[0]["text"], "12 34 56 78");
}
