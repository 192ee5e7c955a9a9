//! Journal export with the real `samtale` binary against a real server: a
//! multi-party conversation with two attachments is exported by the record
//! clerk, read back with tools that share no code with it (`pdftotext`,
//! Python's `jsonschema` and MIME parser), verified again from the JSON,
//! and refused, naming the message, when the stored data was tampered with.
//!
//! `pdftotext` and the Python checks run when available and are skipped
//! loudly when not; with `SAMTALE_JOURNAL_TOOLS=1` (as `bash .ci/run` sets)
//! a missing tool fails the test instead.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use sqlx::{Connection, SqliteConnection};
use support::{Cli, Server};

const CASE: &str = "2026-004711";

fn tools_required() -> bool {
    std::env::var("SAMTALE_JOURNAL_TOOLS").is_ok_and(|v| v == "1")
}

fn skip(what: &str) {
    use std::io::Write;
    assert!(
        !tools_required(),
        "{what} is required (SAMTALE_JOURNAL_TOOLS=1) but not available"
    );
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED (journal): {what} is not available; `bash .ci/run` installs it and runs this check"
    );
}

async fn db(server: &Server) -> SqliteConnection {
    SqliteConnection::connect(&format!("sqlite:{}", server.db_path.display()))
        .await
        .unwrap()
}

/// Every file under `dir`, recursively, hidden ones included.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.push(p.clone());
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Runs an export that must be refused; returns its stderr.
async fn refused_export(cli: &Cli, thread: &str, out: &Path) -> String {
    let run = cli
        .run(
            "rita",
            &[
                "journal",
                "export",
                thread,
                "--case",
                CASE,
                "--no-receipt",
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .await
        .code(6);
    assert!(
        files_under(out).is_empty(),
        "a refused export left {:?}",
        files_under(out)
    );
    run.stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_exports_a_verified_case_file_and_tampering_is_refused_by_name() {
    let server = Server::start(None).await;
    let cli = Cli::new(&server.url);

    // Organisation, caseworker, record clerk, archive key.
    let init = cli
        .run(
            "admin",
            &[
                "--json",
                "admin",
                "init",
                "--enrolment-code",
                &server.enrolment_code,
                "--organisation",
                "Randers Kommune",
                "--username",
                "anne",
                "--name",
                "Anne Admin",
            ],
        )
        .await
        .ok()
        .json();
    let fingerprint = init["root_fingerprint"].as_str().unwrap().to_owned();
    cli.run("admin", &["admin", "team", "create", "Familieafdelingen"])
        .await
        .ok();
    for (user, name, role) in [
        ("mette", "Mette Jensen", "staff"),
        ("rita", "Rita Clerk", "record-clerk"),
    ] {
        let mut args = vec![
            "admin", "staff", "create", user, "--name", name, "--role", role,
        ];
        if role == "staff" {
            args.extend(["--team", "Familieafdelingen"]);
        }
        cli.run("admin", &args).await.ok();
        cli.run(user, &["login", "--username", user]).await.ok();
        cli.certify(user).await;
    }
    cli.run("mette", &["keys"]).await.ok();
    cli.run("admin", &["admin", "archive-key"]).await.ok();

    // Two citizens and a multi-party thread with two attachments.
    for (profile, id, name) in [
        ("maja", "010203-1234", "Maja"),
        ("elsa", "19811218-9876", "Elsa"),
    ] {
        let inv = cli
            .run(
                "mette",
                &["--json", "invite", "--national-id", id, "--name", name],
            )
            .await
            .ok()
            .json();
        cli.run(
            profile,
            &[
                "join",
                "--code",
                inv["code"].as_str().unwrap(),
                "--fingerprint",
                &fingerprint,
                "--accept-consent",
            ],
        )
        .await
        .ok();
    }
    let thread = cli
        .run(
            "mette",
            &[
                "--json",
                "new-thread",
                "--citizen",
                "Maja",
                "--citizen",
                "Elsa",
            ],
        )
        .await
        .ok()
        .json();
    let thread = thread["thread_id"].as_str().unwrap().to_owned();
    let short = thread[..8].to_owned();
    let files = cli.home.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let plan = files.join("handleplan.pdf");
    std::fs::write(&plan, b"%PDF-1.7 handleplan").unwrap();
    let photo = files.join("tegning.png");
    std::fs::write(&photo, [0x89, b'P', b'N', b'G', 1, 2, 3, 4]).unwrap();
    let texts = [
        (
            "mette",
            "Hej begge to. Her er handleplanen og Sofies tegning.",
        ),
        ("maja", "Tak, vi kommer på torsdag."),
        ("elsa", "Tack! Vi ses på mötet – blåbär och æøå."),
    ];
    cli.run(
        "mette",
        &[
            "send",
            &short,
            texts[0].1,
            "--file",
            plan.to_str().unwrap(),
            "--file",
            photo.to_str().unwrap(),
        ],
    )
    .await
    .ok();
    for (who, text) in &texts[1..] {
        cli.run(who, &["send", &short, text]).await.ok();
    }

    // The export.
    let out = cli.home.path().join("journal");
    let outcome = cli
        .run(
            "rita",
            &[
                "--json",
                "journal",
                "export",
                &short,
                "--case",
                CASE,
                "--kle",
                "27.12.04",
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .await
        .ok()
        .json();
    assert_eq!(outcome["up_to_seq"], 3);
    assert_eq!(outcome["receipt"]["case_ref"], CASE);
    let dir = PathBuf::from(outcome["dir"].as_str().unwrap());
    if let Ok(keep) = std::env::var("SAMTALE_KEEP_JOURNAL") {
        // For people: look at the PDF this test made.
        std::fs::copy(dir.join("journal.pdf"), keep).unwrap();
    }
    // The EML carries the message attachments too.
    let eml = std::fs::read_to_string(dir.join("journal.eml")).unwrap();
    for name in ["0001-1-handleplan.pdf", "0001-2-tegning.png"] {
        assert!(
            eml.contains(&format!("filename=\"{name}\"")),
            "{name} not in the EML"
        );
    }
    for f in [
        "journal.pdf",
        "journal.json",
        "journal.eml",
        "MANIFEST.sha256",
        "MANIFEST.sig",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    assert_eq!(
        std::fs::read(dir.join("attachments/0001-1-handleplan.pdf")).unwrap(),
        b"%PDF-1.7 handleplan"
    );
    assert!(dir.join("attachments/0001-2-tegning.png").is_file());
    let json: Value =
        serde_json::from_slice(&std::fs::read(dir.join("journal.json")).unwrap()).unwrap();
    assert_eq!(json["format"], "samtale-journal/1");
    assert_eq!(json["case"]["reference"], CASE);
    assert_eq!(json["team"]["name"], "Familieafdelingen");
    assert_eq!(json["messages"][0]["sender"]["name"], "Mette Jensen");
    assert_eq!(json["messages"][0]["sender"]["team"], "Familieafdelingen");
    assert_eq!(
        json["messages"][0]["attachments"].as_array().unwrap().len(),
        2
    );
    assert_eq!(json["messages"][2]["text"], texts[2].1);
    assert_eq!(json["participants"].as_array().unwrap().len(), 3);
    assert_eq!(json["export"]["clerk"]["name"], "Rita Clerk");

    // The PDF, read by poppler.
    match std::process::Command::new("pdftotext")
        .arg("-enc")
        .arg("UTF-8")
        .arg(dir.join("journal.pdf"))
        .arg("-")
        .output()
    {
        Ok(o) if o.status.success() => {
            // pdftotext keeps our line breaks: compare with whitespace folded.
            let text = String::from_utf8(o.stdout).unwrap();
            let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
            for needle in [
                CASE,
                "Randers Kommune",
                "Familieafdelingen",
                "Mette Jensen",
                "Maja",
                "Elsa",
                "handleplan.pdf",
                "tegning.png",
                "Verification",
            ]
            .into_iter()
            .chain(texts.iter().map(|(_, t)| *t))
            {
                assert!(
                    folded.contains(needle),
                    "pdftotext has no {needle:?}:\n{text}"
                );
            }
        }
        _ => skip("pdftotext (Debian package poppler-utils)"),
    }

    // The JSON against its schema, the EML with a standard MIME parser.
    let python = std::env::var("SAMTALE_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let has_jsonschema = std::process::Command::new(&python)
        .args(["-c", "import jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_jsonschema {
        let o = std::process::Command::new(&python)
            .arg(root.join("tests/journal/check_export.py"))
            .arg(&dir)
            .arg(root.join("docs/journal.schema.json"))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "check_export.py failed:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    } else {
        skip("Python with jsonschema (SAMTALE_TEST_PYTHON, tests/journal/requirements.txt)");
    }

    // It verifies again from the JSON alone; a changed text is named.
    let verified = cli
        .run(
            "rita",
            &[
                "--json",
                "journal",
                "verify",
                dir.join("journal.json").to_str().unwrap(),
                "--root-fingerprint",
                &fingerprint,
            ],
        )
        .await
        .ok()
        .json();
    assert_eq!(verified["messages"], 3);
    assert_eq!(verified["anchored"], true);
    // Without the fingerprint it says plainly that nothing anchored it.
    let unanchored = cli
        .run(
            "rita",
            &[
                "journal",
                "verify",
                dir.join("journal.json").to_str().unwrap(),
            ],
        )
        .await
        .ok();
    assert!(
        unanchored.stdout.contains("not anchored") && !unanchored.stdout.contains('✔'),
        "{}",
        unanchored.stdout
    );
    let signed: Vec<&str> = verified["signed_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for f in [
        "journal.json",
        "journal.pdf",
        "journal.eml",
        "attachments/0001-1-handleplan.pdf",
    ] {
        assert!(
            signed.contains(&f),
            "{f} not covered by the signature: {signed:?}"
        );
    }

    // The PDF edited and the manifest recomputed to match: a self-consistent
    // manifest (`sha256sum -c` would pass: the positive control), refused
    // because the clerk's signature covers the old one.
    let tampered = cli.home.path().join("tampered");
    copy_dir(&dir, &tampered);
    let mut pdf = std::fs::read(tampered.join("journal.pdf")).unwrap();
    pdf.extend_from_slice(b"\n% a changed page\n");
    std::fs::write(tampered.join("journal.pdf"), &pdf).unwrap();
    let manifest: String = std::fs::read_to_string(tampered.join("MANIFEST.sha256"))
        .unwrap()
        .lines()
        .map(|line| {
            let (_, rel) = line.split_once("  ").unwrap();
            let bytes = std::fs::read(tampered.join(rel)).unwrap();
            format!(
                "{}  {rel}\n",
                samtale_protocol::payload::blob_sha256(&bytes)
            )
        })
        .collect();
    std::fs::write(tampered.join("MANIFEST.sha256"), &manifest).unwrap();
    for line in manifest.lines() {
        let (sha, rel) = line.split_once("  ").unwrap();
        let bytes = std::fs::read(tampered.join(rel)).unwrap();
        assert_eq!(samtale_protocol::payload::blob_sha256(&bytes), sha);
    }
    let verify_tampered = async |expect: &str| {
        let run = cli
            .run(
                "rita",
                &[
                    "journal",
                    "verify",
                    tampered.join("journal.json").to_str().unwrap(),
                    "--root-fingerprint",
                    &fingerprint,
                ],
            )
            .await
            .code(6);
        assert!(run.stderr.contains(expect), "{expect:?}: {}", run.stderr);
    };
    verify_tampered("made for another MANIFEST.sha256").await;
    // Signed again by a key the organisation never certified, with the
    // clerk's certificate copied over: refused.
    let signature: samtale_protocol::journal::manifest::ManifestSignature =
        serde_json::from_slice(&std::fs::read(tampered.join("MANIFEST.sig")).unwrap()).unwrap();
    let certificate = samtale_protocol::DeviceCertificate::decode(
        &samtale_protocol::b64::decode(&signature.certificate).unwrap(),
    )
    .unwrap();
    let forger = samtale_protocol::DeviceKeys::generate().unwrap();
    let forged_signature =
        samtale_protocol::journal::manifest::sign(&forger, &certificate, manifest.as_bytes());
    std::fs::write(
        tampered.join("MANIFEST.sig"),
        serde_json::to_vec(&forged_signature).unwrap(),
    )
    .unwrap();
    verify_tampered("certificate does not verify").await;
    // Without the signature file the manifest ties nothing to anyone.
    std::fs::remove_file(tampered.join("MANIFEST.sig")).unwrap();
    verify_tampered("MANIFEST.sig does not").await;
    // A manifest that leaves the PDF out does not cover it.
    std::fs::write(
        tampered.join("MANIFEST.sig"),
        serde_json::to_vec(&signature).unwrap(),
    )
    .unwrap();
    std::fs::copy(
        dir.join("MANIFEST.sha256"),
        tampered.join("MANIFEST.sha256"),
    )
    .unwrap();
    verify_tampered("journal.pdf is missing or is not the file the clerk signed").await;

    let mut forged = json.clone();
    forged["messages"][1]["text"] = Value::from("Vi kommer ikke.");
    let forged_path = cli.home.path().join("forged.json");
    std::fs::write(&forged_path, serde_json::to_vec(&forged).unwrap()).unwrap();
    let run = cli
        .run(
            "rita",
            &["journal", "verify", forged_path.to_str().unwrap()],
        )
        .await
        .code(6);
    let second = json["messages"][1]["message_id"].as_str().unwrap();
    assert!(
        run.stderr.contains(&format!("message 2 ({second})")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("text"), "{}", run.stderr);

    // Every participant sees where it was filed; a later message is not journaled yet.
    let shown = cli
        .run("maja", &["--json", "show", &short])
        .await
        .ok()
        .json();
    let banner = shown["banners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["kind"] == "journaled")
        .cloned();
    assert_eq!(
        banner.as_ref().map(|b| b["case"].clone()),
        Some(Value::from(CASE)),
        "{shown}"
    );
    cli.run("mette", &["send", &short, "Husk mødet."])
        .await
        .ok();
    let human = cli.run("elsa", &["show", &short]).await.ok().stdout;
    assert!(
        human.contains(&format!(
            "Filed on case {CASE} up to message 3; the 1 later message(s) are not yet journaled"
        )),
        "{human}"
    );
    let marked: Vec<&str> = human
        .lines()
        .filter(|l| l.contains("(not yet journaled)"))
        .collect();
    assert!(
        marked.len() == 1 && marked[0].starts_with("#4 "),
        "only message 4 is marked: {human}"
    );
    let listed = cli
        .run("mette", &["--json", "journal", "list", &short])
        .await
        .ok()
        .json();
    assert_eq!(listed["receipts"][0]["up_to_seq"], 3);

    // The clerk's thread table has no unread counts (she reads no thread as
    // a participant); the caseworker's has; a citizen sees herself as "you".
    let clerk = cli.run("rita", &["threads"]).await.ok().stdout;
    assert!(
        !clerk.contains("UNREAD") && clerk.contains("JOURNALED"),
        "{clerk}"
    );
    let caseworker = cli.run("mette", &["threads"]).await.ok().stdout;
    assert!(caseworker.contains("UNREAD"), "{caseworker}");
    let own = cli.run("maja", &["threads"]).await.ok().stdout;
    assert!(own.contains("you ("), "{own}");
    assert!(
        own.contains("Elsa"),
        "the other citizen keeps her name: {own}"
    );

    // A later filing on the same case: a new folder of its own (the first
    // stays as filed), covering the new message, with the KLE number of
    // the earlier filing; the same again has nothing new and is refused.
    let again = cli
        .run(
            "rita",
            &[
                "--json",
                "journal",
                "export",
                &short,
                "--case",
                CASE,
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .await
        .ok()
        .json();
    assert_eq!(again["up_to_seq"], 4);
    assert_eq!(again["kle"], "27.12.04");
    assert_eq!(again["kle_from_earlier_filing"], true);
    let again_dir = PathBuf::from(again["dir"].as_str().unwrap());
    assert_ne!(again_dir, dir);
    assert!(dir.join("journal.json").is_file(), "the first filing stays");
    let again_json: Value =
        serde_json::from_slice(&std::fs::read(again_dir.join("journal.json")).unwrap()).unwrap();
    assert_eq!(again_json["case"]["kle"], "27.12.04");
    cli.run(
        "rita",
        &[
            "journal",
            "verify",
            again_dir.join("journal.json").to_str().unwrap(),
            "--root-fingerprint",
            &fingerprint,
        ],
    )
    .await
    .ok();
    let refused = cli
        .run(
            "rita",
            &[
                "journal",
                "export",
                &short,
                "--case",
                CASE,
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .await
        .code(5);
    assert!(
        refused.stderr.contains("exists already"),
        "{}",
        refused.stderr
    );
    let listed = cli
        .run("mette", &["--json", "journal", "list", &short])
        .await
        .ok()
        .json();
    assert_eq!(listed["receipts"].as_array().unwrap().len(), 2, "{listed}");

    // Holds: the admin puts the thread on hold by its full id (from a team
    // member), sees it listed, and releases it by a start of the id.
    let full = cli.run("mette", &["--json", "threads"]).await.ok().json()["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["thread_id"].as_str().unwrap().to_owned())
        .find(|id| id.starts_with(&short))
        .unwrap();
    let unknown = cli.run("admin", &["admin", "hold", "ffffffff"]).await;
    assert_ne!(unknown.code, 0);
    assert!(
        unknown.stderr.contains("full thread id"),
        "{}",
        unknown.stderr
    );
    cli.run("admin", &["admin", "hold", &full]).await.ok();
    let held = cli
        .run("admin", &["--json", "admin", "holds"])
        .await
        .ok()
        .json();
    assert_eq!(held.as_array().unwrap().len(), 1, "{held}");
    assert_eq!(held[0]["thread_id"], full.as_str());
    let table = cli.run("admin", &["admin", "holds"]).await.ok().stdout;
    assert!(
        table.contains("Familieafdelingen") && table.contains("Anne Admin"),
        "{table}"
    );
    cli.run("admin", &["admin", "hold", &short, "--release"])
        .await
        .ok();
    let none = cli.run("admin", &["admin", "holds"]).await.ok().stdout;
    assert!(none.contains("No thread is on hold"), "{none}");

    // Tampering with what the server stores: each is refused, naming the message.
    let mut conn = db(&server).await;
    let ids: Vec<(i64, String, Vec<u8>)> = sqlx::query_as(
        "SELECT seq, message_id, envelope FROM messages WHERE thread_id = ?1 ORDER BY seq",
    )
    .bind(&thread)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let (_, second_id, second_envelope) = ids[1].clone();
    let third_envelope = ids[2].2.clone();
    let set_envelope = async |conn: &mut SqliteConnection, seq: i64, envelope: &[u8]| {
        sqlx::query("UPDATE messages SET envelope = ?1 WHERE thread_id = ?2 AND seq = ?3")
            .bind(envelope)
            .bind(&thread)
            .bind(seq)
            .execute(&mut *conn)
            .await
            .unwrap();
    };

    // 1. A flipped byte in the stored ciphertext.
    let mut flipped = second_envelope.clone();
    let at = flipped.len() - 64 - 20;
    flipped[at] ^= 0x01;
    set_envelope(&mut conn, 2, &flipped).await;
    let err = refused_export(&cli, &short, &cli.home.path().join("t1")).await;
    assert!(err.contains(&format!("message 2 ({second_id})")), "{err}");
    set_envelope(&mut conn, 2, &second_envelope).await;

    // 2. A forged signature (another message's, over these bytes).
    let mut forged_sig = second_envelope.clone();
    let n = forged_sig.len();
    forged_sig[n - 64..].copy_from_slice(&third_envelope[third_envelope.len() - 64..]);
    set_envelope(&mut conn, 2, &forged_sig).await;
    let err = refused_export(&cli, &short, &cli.home.path().join("t2")).await;
    assert!(err.contains(&format!("message 2 ({second_id})")), "{err}");
    assert!(err.contains("signature"), "{err}");
    set_envelope(&mut conn, 2, &second_envelope).await;

    // 3. A missing sequence number.
    sqlx::query("CREATE TABLE stash AS SELECT * FROM messages WHERE thread_id = ?1 AND seq = 3")
        .bind(&thread)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM messages WHERE thread_id = ?1 AND seq = 3")
        .bind(&thread)
        .execute(&mut conn)
        .await
        .unwrap();
    let err = refused_export(&cli, &short, &cli.home.path().join("t3")).await;
    assert!(err.contains("message 3 is missing"), "{err}");
    sqlx::query("INSERT INTO messages SELECT * FROM stash")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DROP TABLE stash")
        .execute(&mut conn)
        .await
        .unwrap();

    // 4. A message from a device the organisation has not certified.
    let first_id = ids[0].1.clone();
    let (device, certificate): (String, Option<Vec<u8>>) = sqlx::query_as(
        "SELECT d.id, d.certificate FROM devices d JOIN messages m ON m.sender_device_id = d.id \
         WHERE m.message_id = ?1",
    )
    .bind(&first_id)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    sqlx::query("UPDATE devices SET certificate = NULL WHERE id = ?1")
        .bind(&device)
        .execute(&mut conn)
        .await
        .unwrap();
    // The same device signed the thread's participant list, so the export
    // stops there, before any message: the list does not verify.
    let err = refused_export(&cli, &short, &cli.home.path().join("t4")).await;
    assert!(err.contains("participant list"), "{err}");
    assert!(
        err.contains("without a certificate from the organisation"),
        "{err}"
    );
    sqlx::query("UPDATE devices SET certificate = ?1 WHERE id = ?2")
        .bind(certificate)
        .bind(&device)
        .execute(&mut conn)
        .await
        .unwrap();

    // Restored, it exports again (all four messages now).
    let again = cli
        .run(
            "rita",
            &[
                "--json",
                "journal",
                "export",
                &short,
                "--case",
                CASE,
                "--out",
                cli.home.path().join("t5").to_str().unwrap(),
            ],
        )
        .await
        .ok()
        .json();
    assert_eq!(again["up_to_seq"], 4);

    // Access and erasure: Maja's export lists what the server holds about
    // her; the admin erases her; she is gone from the server.
    let export_path = cli.home.path().join("maja.json");
    cli.run("maja", &["export", "--out", export_path.to_str().unwrap()])
        .await
        .ok();
    let export: Value = serde_json::from_slice(&std::fs::read(&export_path).unwrap()).unwrap();
    let held = &export["held_by_server"];
    assert_eq!(held["consents"].as_array().unwrap().len(), 1, "{held}");
    assert_eq!(held["devices"].as_array().unwrap().len(), 1);
    assert_eq!(held["threads"].as_array().unwrap().len(), 1);
    assert_eq!(held["national_id_hash_stored"], true);
    assert!(
        export.to_string().contains(texts[1].1),
        "her messages, decrypted"
    );
    let account = held["account"]["account_id"].as_str().unwrap().to_owned();
    let refused = cli
        .run("admin", &["admin", "erase", &account])
        .await
        .code(2);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    let erased = cli
        .run("admin", &["--json", "admin", "erase", &account, "--yes"])
        .await
        .ok()
        .json();
    assert_eq!(
        erased["threads_left"], 1,
        "the group goes on with Elsa: {erased}"
    );
    assert_eq!(erased["devices_deleted"], 1);
    cli.run("maja", &["threads"]).await.code(3);
    let group = cli
        .run("elsa", &["--json", "show", &short])
        .await
        .ok()
        .json();
    let senders: Vec<&str> = group["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["sender"]["name"].as_str())
        .collect();
    assert!(!senders.contains(&"Maja"), "{senders:?}");

    // The clerk can still file the thread: the deleted message is declared,
    // not missing, and the export verifies with it listed.
    let after = cli
        .run(
            "rita",
            &[
                "--json",
                "journal",
                "export",
                &short,
                "--case",
                CASE,
                "--no-receipt",
                "--out",
                cli.home.path().join("t6").to_str().unwrap(),
            ],
        )
        .await
        .ok()
        .json();
    let dir = PathBuf::from(after["dir"].as_str().unwrap());
    let doc: Value =
        serde_json::from_slice(&std::fs::read(dir.join("journal.json")).unwrap()).unwrap();
    assert_eq!(
        doc["removed"],
        serde_json::json!([{"from_seq": 2, "to_seq": 2, "reason": "erasure"}])
    );
    cli.run(
        "rita",
        &[
            "journal",
            "verify",
            dir.join("journal.json").to_str().unwrap(),
        ],
    )
    .await
    .ok();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
