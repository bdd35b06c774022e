//! Atomic replacement of small files: write a temp file beside the target, fsync it, rename it
//! over the target, fsync the directory. Rename is atomic on POSIX file systems, so readers
//! and a restart after a crash see the old content or the new one; the two fsyncs make the new
//! content and the rename itself durable before the call returns (without the first, a power
//! loss can leave the renamed file empty; without the second, the rename can be lost).
//!
//! On a latency-critical path (a segment roll, under the partition lock) the two halves can be
//! split, as Kafka does with the producer snapshot of a roll: [`replace_unsynced`] now,
//! [`sync_file_and_dir`] later on a background thread. Until then a power loss may leave the
//! file empty or torn, so only files whose reader validates them and can fall back (producer
//! snapshots) may take that path.
//!
//! The temp file is `<target>.tmp`. Writers of the same path must not overlap (the caller
//! serialises them, as Kafka's `CheckpointFile` does with its lock); a temp file left by a
//! crash is harmless and overwritten by the next write.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replaces `path` with `bytes` atomically and durably (see the module doc).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with(path, bytes, sync_dir)
}

/// Replaces `path` with `bytes` atomically but not yet durably; [`sync_file_and_dir`] finishes
/// the job (see the module doc for when that is acceptable).
pub fn replace_unsynced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, bytes, false)
}

/// Makes a file replaced by [`replace_unsynced`] durable: fsyncs it, then its directory.
pub fn sync_file_and_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()?;
    sync_dir(parent_dir(path))
}

/// fsyncs a directory, making the creation, deletion or renaming of its entries durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// [`write_atomic`] with the directory sync passed in, so a test can watch it happen.
fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    sync_parent: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<()> {
    replace(path, bytes, true)?;
    sync_parent(parent_dir(path))
}

/// Writes the temp file (fsynced when `sync`) and renames it over `path`; on failure the temp
/// file is removed and `path` is untouched.
fn replace(path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
    let tmp = temp_path(path);
    let written = File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
        Ok(())
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".tmp");
    PathBuf::from(name)
}

/// The directory holding `path`: its parent, or `.` for a bare file name.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_the_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recovery-point-offset-checkpoint");
        write_atomic(&path, b"0\n1\nt 0 5\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"0\n1\nt 0 5\n");
        write_atomic(&path, b"0\n0\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"0\n0\n");
        assert_eq!(names(dir.path()), vec!["recovery-point-offset-checkpoint"]);
    }

    #[test]
    fn the_directory_is_synced_after_the_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        std::fs::write(&path, b"old").unwrap();
        let mut synced = None;
        write_atomic_with(&path, b"new", |d| {
            // By now the rename is done: the target holds the new bytes, the temp is gone.
            assert_eq!(std::fs::read(&path).unwrap(), b"new");
            assert_eq!(names(d), vec!["state"]);
            synced = Some(d.to_path_buf());
            sync_dir(d)
        })
        .unwrap();
        assert_eq!(synced.as_deref(), Some(dir.path()));
        assert_eq!(parent_dir(Path::new("bare-name")), Path::new("."));
    }

    #[test]
    fn replace_unsynced_then_sync_file_and_dir() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000042.snapshot");
        replace_unsynced(&path, b"v1").unwrap();
        replace_unsynced(&path, b"v2").unwrap();
        sync_file_and_dir(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"v2");
        assert_eq!(names(dir.path()), vec!["00000000000000000042.snapshot"]);
        assert!(sync_file_and_dir(&dir.path().join("gone")).is_err());
    }

    #[test]
    fn a_failed_rename_leaves_the_target_alone_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory cannot be renamed over: the temp file is written, then the
        // rename fails.
        let path = dir.path().join("state");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), b"old").unwrap();
        assert!(write_atomic(&path, b"new").is_err());
        assert_eq!(names(dir.path()), vec!["state"]);
        assert_eq!(std::fs::read(path.join("inside")).unwrap(), b"old");
        assert!(write_atomic(&dir.path().join("missing/state"), b"x").is_err());
        assert!(sync_dir(&dir.path().join("missing")).is_err());
    }
}
