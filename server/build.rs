//! Embeds the built web app (`web/dist/`, made by `npm run build` in
//! `web/`) into the server binary, so the server serves it at `/` with
//! nothing else installed. Generates `$OUT_DIR/web_assets.rs`: one entry per
//! file with its URL path and bytes. Without `web/dist` the server still
//! builds and says at `/` that the app was not built.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            // A file added or removed inside changes the directory.
            println!("cargo:rerun-if-changed={}", path.display());
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let dist = manifest.join("../web/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut found = Vec::new();
    files(&dist, &mut found);
    let mut code = String::from(
        "/// The web app's files: URL path and bytes.\npub static ASSETS: &[(&str, &[u8])] = &[\n",
    );
    for path in &found {
        println!("cargo:rerun-if-changed={}", path.display());
        let Ok(relative) = path.strip_prefix(&dist) else {
            continue;
        };
        let url = format!(
            "/{}",
            relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        );
        let _ = writeln!(
            code,
            "    ({url:?}, include_bytes!({:?})),",
            path.canonicalize().unwrap_or_else(|_| path.clone())
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("web_assets.rs");
    if let Err(e) = std::fs::write(&out, code) {
        println!("cargo:warning=cannot write {}: {e}", out.display());
    }
}
