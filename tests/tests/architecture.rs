//! Architecture invariants from docs/ARCHITECTURE.md, checked mechanically.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use samtale_tests::workspace_root;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Architecture Invariant: `protocol` compiles without tokio, axum or sqlx.
#[test]
fn the_protocol_crate_depends_on_no_runtime_web_framework_or_database() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "tree",
            "--offline",
            "-p",
            "samtale-protocol",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    assert!(
        tree.contains("samtale-protocol"),
        "unexpected cargo tree output:\n{tree}"
    );
    for forbidden in ["tokio ", "axum ", "sqlx ", "hyper ", "reqwest ", "mio "] {
        assert!(
            !tree.lines().any(|l| l.starts_with(forbidden)),
            "samtale-protocol depends on {forbidden}:\n{tree}"
        );
    }
}

/// Architecture Invariant: `protocol` does no I/O.
#[test]
fn the_protocol_crate_source_touches_no_files_sockets_or_processes() {
    let mut files = Vec::new();
    rust_files(&workspace_root().join("protocol/src"), &mut files);
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for forbidden in [
            "std::fs",
            "std::net",
            "std::process",
            "std::env",
            "File::open",
            "TcpStream",
        ] {
            assert!(
                !text.contains(forbidden),
                "{} uses {forbidden}",
                file.display()
            );
        }
    }
}

/// Architecture Invariant: only the HTTP layer knows status codes.
#[test]
fn only_the_http_layer_of_the_server_names_status_codes() {
    let mut files = Vec::new();
    rust_files(&workspace_root().join("server/src"), &mut files);
    for file in files {
        if file.ends_with("http.rs") || file.components().any(|c| c.as_os_str() == "http") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains("StatusCode"),
            "{} names an HTTP status code",
            file.display()
        );
    }
}

/// Architecture Invariant: unsafe code is forbidden workspace-wide.
#[test]
fn unsafe_code_is_forbidden_in_the_workspace_manifest() {
    let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    assert!(manifest.contains("unsafe_code = \"forbid\""));
    for member in ["protocol", "server", "client-cli", "tests"] {
        let m = std::fs::read_to_string(workspace_root().join(member).join("Cargo.toml")).unwrap();
        assert!(
            m.contains("[lints]\nworkspace = true"),
            "{member} does not inherit the workspace lints"
        );
    }
}
