//! Helpers shared by the vector tests: hex, deterministic byte runs, and
//! writing or comparing `tests/vectors/*.json`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use serde_json::Value;

pub fn h(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

pub fn seq(start: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| start.wrapping_add(i as u8)).collect()
}

pub fn arr<const N: usize>(start: u8) -> [u8; N] {
    seq(start, N).try_into().unwrap()
}

pub fn check(name: &str, value: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text = serde_json::to_string_pretty(value).unwrap() + "\n";
    if std::env::var_os("SAMTALE_WRITE_VECTORS").is_some() {
        std::fs::write(&path, &text).unwrap();
        println!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with SAMTALE_WRITE_VECTORS=1 to create)",
            path.display()
        )
    });
    assert!(
        committed == text,
        "{name} differs from what the crate produces now: the wire format changed"
    );
}

pub fn committed(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn bytes_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}
