//! The real `samtale-server` binary: starts on an empty data directory,
//! answers health checks, and stops cleanly on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_samtale-server");

struct Server {
    child: Child,
    address: String,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    fn start(args: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut command = Command::new(BIN);
        command
            .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(args)
            .env_remove("SAMTALE_DATABASE_URL")
            .env_remove("SAMTALE_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn samtale-server");
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let mut server = Server {
            child,
            address: String::new(),
            lines,
            seen: Vec::new(),
        };
        let listening = server.wait_for("listening");
        let json: serde_json::Value = serde_json::from_str(&listening).expect("JSON log line");
        server.address = json["address"].as_str().expect("address field").to_string();
        server
    }

    fn wait_for(&mut self, needle: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no log line containing {needle:?}; output so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, body)
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        panic!(
            "the server did not exit within 30 s of SIGTERM; output:\n{}",
            self.seen.join("\n")
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_server_starts_on_an_empty_data_directory_answers_health_checks_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh").join("data");
    let mut server = Server::start(&["--data-dir", data.to_str().unwrap()], &[]);

    assert_eq!(
        server.get("/healthz"),
        (200, r#"{"status":"ok"}"#.to_string())
    );
    assert_eq!(
        server.get("/readyz"),
        (200, r#"{"status":"ok"}"#.to_string())
    );
    assert!(
        data.join("samtale.db").exists(),
        "database file created in the data directory"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode, 0o700,
            "the data directory is private to the server's user"
        );
        for file in [
            "samtale.db",
            "samtale.db-wal",
            "samtale.db-shm",
            "enrolment-code",
        ] {
            let mode = std::fs::metadata(data.join(file))
                .unwrap_or_else(|e| panic!("{file}: {e}"))
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "{file} is readable only by the server's user");
        }
    }
    // Standard output is a pipe, not a terminal: the enrolment code is in
    // the file, and nowhere in the output (which a log could keep).
    let code = std::fs::read_to_string(data.join("enrolment-code")).unwrap();
    let code = code.trim();
    assert_eq!(code.len(), 24, "an enrolment code: {code:?}");
    assert!(
        server
            .seen
            .iter()
            .any(|line| line.contains(&*data.join("enrolment-code").to_string_lossy())),
        "the file's path is printed"
    );
    assert!(
        !server.seen.iter().any(|line| line.contains(code)),
        "the code was printed:\n{}",
        server.seen.join("\n")
    );

    let status = server.terminate();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    server.wait_for("stopped cleanly");

    // The database was left consistent and in WAL mode.
    let db = rusqlite_like_journal_mode(&data.join("samtale.db"));
    assert_eq!(db, "wal");
}

/// Reads the journal mode with sqlx (the same driver the server uses).
fn rusqlite_like_journal_mode(path: &std::path::Path) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let url = format!("sqlite://{}", path.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        mode
    })
}

/// On a terminal (a pseudo-terminal from util-linux's `script`), the code
/// is shown there and no file is written.
#[cfg(unix)]
#[test]
fn on_a_terminal_enrol_shows_the_code_and_writes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let command = format!("{BIN} --data-dir {} enrol", dir.path().to_str().unwrap());
    let output = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("SAMTALE_DATABASE_URL")
        .env_remove("SAMTALE_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("util-linux's script (Debian's bsdutils, an essential package)");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let code = stdout
        .split_whitespace()
        .find(|w| w.len() == 24 && w.matches('-').count() == 4)
        .unwrap_or_else(|| panic!("no code on the terminal: {stdout}"));
    assert!(code.chars().all(|c| c == '-' || c.is_ascii_alphanumeric()));
    assert!(!dir.path().join("enrolment-code").exists());
}

#[cfg(unix)]
#[test]
fn database_files_left_readable_by_an_older_version_are_made_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    for file in ["samtale.db", "samtale.db-wal"] {
        std::fs::write(data.join(file), b"").unwrap();
        std::fs::set_permissions(data.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
        // The positive control: the file starts out readable by others.
        let mode = std::fs::metadata(data.join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0o044);
    }
    let mut server = Server::start(&["--data-dir", data.to_str().unwrap()], &[]);
    assert_eq!(server.get("/readyz").0, 200);
    for file in ["samtale.db", "samtale.db-wal", "samtale.db-shm"] {
        let mode = std::fs::metadata(data.join(file))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    assert!(server.terminate().success());
}

#[test]
fn the_environment_configures_the_server_and_the_command_line_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    let from_env = dir.path().join("env-data");
    let from_cli = dir.path().join("cli-data");
    let mut server = Server::start(
        &["--data-dir", from_cli.to_str().unwrap()],
        &[("SAMTALE_DATA_DIR", from_env.to_str().unwrap())],
    );
    assert!(from_cli.join("samtale.db").exists());
    assert!(!from_env.exists());
    assert!(server.terminate().success());
}

#[test]
fn an_invalid_setting_stops_the_server_with_a_message_that_says_what_to_fix() {
    let output = Command::new(BIN)
        .env("SAMTALE_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("SAMTALE_LISTEN") && stderr.contains("127.0.0.1:8080"),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_database_fails_the_start_without_printing_the_password() {
    let output = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            "postgres://samtale:topsecret@127.0.0.1:9/samtale",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        all.contains("cannot connect to the postgres database"),
        "{all}"
    );
    assert!(!all.contains("topsecret"), "{all}");
}

#[test]
fn help_explains_every_option_with_an_example() {
    let output = Command::new(BIN).arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "--listen",
        "--data-dir",
        "--database-url",
        "--config",
        "SAMTALE_LISTEN",
        "Examples:",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}

#[test]
fn enrol_prints_a_one_time_code_for_another_organisation_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args(["--data-dir", dir.path().to_str().unwrap(), "enrol"])
        .env_remove("SAMTALE_DATABASE_URL")
        .env_remove("SAMTALE_CONFIG")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    // Standard output is a pipe: the code is in a 0600 file whose path is
    // printed, not in the output.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let file = dir.path().join("enrolment-code");
    assert!(stdout.contains(&*file.to_string_lossy()), "{stdout}");
    let code = std::fs::read_to_string(&file).unwrap();
    let code = code.trim();
    assert!(
        code.len() == 24 && code.matches('-').count() == 4,
        "{code:?}"
    );
    assert!(code.chars().all(|c| c == '-' || c.is_ascii_alphanumeric()));
    assert!(!stdout.contains(code), "{stdout}");
    // The database exists and holds only the hash, not the code.
    let db = std::fs::read(dir.path().join("samtale.db")).unwrap();
    let wal = std::fs::read(dir.path().join("samtale.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!String::from_utf8_lossy(&bytes).contains(code));
    }
}
