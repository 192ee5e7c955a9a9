//! A small filesystem that can be filled: a tmpfs mounted with a size
//! limit (the tests run as root), unmounted on drop.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs; unmounted (and its mount point removed) on drop.
pub struct Tmpfs {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it); `Err` with
    /// `mount`'s own words when that is not permitted.
    pub fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("small");
        std::fs::create_dir(&path).map_err(|e| e.to_string())?;
        let output = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !output.status.success() {
            let said = String::from_utf8_lossy(&output.stderr);
            return Err(format!(
                "mount -t tmpfs failed ({}): {}",
                output.status,
                said.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
        Ok(Tmpfs { path, _dir: dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Something still holds it open: detach it now, gone when released.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// A file that takes up every free byte of a filesystem.
pub struct Filler {
    path: PathBuf,
    pub bytes: u64,
}

impl Filler {
    /// Writes `dir/filler` until the filesystem refuses (ENOSPC).
    pub fn fill(dir: &Path) -> Filler {
        let path = dir.join("filler");
        let mut file = std::fs::File::create(&path).expect("create the filler");
        let mut bytes = 0u64;
        // Large writes first, then single pages, so that nothing is left.
        for chunk in [64 * 1024, 4096, 512] {
            let block = vec![0xa5u8; chunk];
            loop {
                match file.write(&block) {
                    Ok(0) => break,
                    Ok(n) => bytes += n as u64,
                    Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                    Err(e) => panic!("filling {}: {e}", path.display()),
                }
            }
        }
        let _ = file.sync_all();
        Filler { path, bytes }
    }

    /// Deletes the file: the space is free again.
    pub fn free(self) {
        std::fs::remove_file(&self.path).expect("remove the filler");
    }
}
