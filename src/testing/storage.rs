//! Where a test node keeps its data ([`Storage`], [`DataDir`]): a temporary directory in
//! memory or on disk, removed with the node, or a directory the test names (kept).
//!
//! Why memory by default: a node's start writes a dozen small state files atomically (temp
//! file, fsync, rename, fsync of the directory: `crate::fs::write_atomic`), and on a disk each
//! fsync waits for the device — most of a start's few milliseconds. On a memory file system
//! (Linux's `/dev/shm`, tmpfs) the same code runs unchanged and an fsync returns at once; the
//! broker's durability code is the production one, only the medium differs. Test data is
//! small, but a container may give `/dev/shm` only 64 MiB, so [`Storage::Auto`] takes memory
//! only where at least [`AUTO_MEMORY_MIN`] of it is free.

use std::path::{Path, PathBuf};

use super::Error;

/// The memory file system used for [`Storage::Memory`] (Linux; elsewhere absent).
const SHM: &str = "/dev/shm";

/// [`Storage::Auto`] puts data in memory only when the memory file system has this much free.
pub const AUTO_MEMORY_MIN: u64 = 1 << 30;

/// Where a test node's temporary data directory lives; see
/// [`TestBrokerBuilder::storage`](super::TestBrokerBuilder::storage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Storage {
    /// In memory when the system has a memory file system with at least 1 GiB free
    /// (`/dev/shm` on Linux), else on disk. The default.
    #[default]
    Auto,
    /// In memory (`/dev/shm`) whatever its free space; on disk where the system has none.
    /// fsyncs cost nothing; the data counts against the memory file system's size.
    Memory,
    /// On disk, in the system's temporary directory (`TMPDIR`, else `/tmp`): real fsyncs.
    Disk,
}

impl Storage {
    /// The parent directory of a temporary data directory for this choice.
    fn parent(self) -> PathBuf {
        let shm = Path::new(SHM);
        let memory = match self {
            Storage::Disk => false,
            Storage::Memory => shm.is_dir(),
            Storage::Auto => shm.is_dir() && free_bytes(shm).is_some_and(|b| b >= AUTO_MEMORY_MIN),
        };
        if memory {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        }
    }
}

/// Bytes available to this user on the file system holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Where a test node keeps its data: a temporary directory removed with the node, or the
/// caller's own directory (kept).
pub(crate) enum DataDir {
    Temp(tempfile::TempDir),
    Kept(PathBuf),
}

impl DataDir {
    /// A new temporary directory (`gregor-test-XXXXXX`) where `storage` says.
    pub(crate) fn temp(storage: Storage) -> Result<DataDir, Error> {
        tempfile::Builder::new()
            .prefix("gregor-test-")
            .tempdir_in(storage.parent())
            .map(DataDir::Temp)
            .map_err(Error::Io)
    }

    /// The caller's directory, created if missing and never removed.
    pub(crate) fn kept(dir: PathBuf) -> Result<DataDir, Error> {
        std::fs::create_dir_all(&dir).map_err(Error::Io)?;
        Ok(DataDir::Kept(dir))
    }

    pub(crate) fn path(&self) -> &Path {
        match self {
            DataDir::Temp(t) => t.path(),
            DataDir::Kept(p) => p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_is_the_temp_dir_and_memory_is_shm_where_it_exists() {
        assert_eq!(Storage::Disk.parent(), std::env::temp_dir());
        let shm = Path::new(SHM).is_dir();
        assert_eq!(Storage::Memory.parent() == Path::new(SHM), shm);
        let auto = Storage::Auto.parent();
        assert!(auto == Path::new(SHM) || auto == std::env::temp_dir());
    }

    #[test]
    fn a_temporary_directory_is_removed_with_its_handle() {
        for storage in [Storage::Auto, Storage::Memory, Storage::Disk] {
            let dir = DataDir::temp(storage).unwrap();
            let path = dir.path().to_path_buf();
            assert!(path.starts_with(storage.parent()), "{path:?}");
            std::fs::write(path.join("meta.properties"), b"version=1\n").unwrap();
            drop(dir);
            assert!(!path.exists(), "{path:?} left behind");
        }
    }
}
