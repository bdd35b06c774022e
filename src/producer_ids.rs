//! Hands out producer ids for idempotent producers (InitProducerId), never reusing one across
//! restarts.
//!
//! Ids are reserved in blocks: before the first id of a block is handed out, the block's end
//! is written (and fsynced) to `producer-id-block`, so after any crash the next start resumes
//! past every id that may have been given out — as Kafka's controller does with its blocks.
//!
//! Thread-safety: a mutex around the counter; the file write happens at most once per block.

use std::io;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::log::layout;

const BLOCK_SIZE: i64 = 1000;

/// The producer id allocator (see the module doc).
pub struct ProducerIds {
    path: PathBuf,
    /// (next id to hand out, end of the reserved block)
    state: Mutex<(i64, i64)>,
}

impl ProducerIds {
    pub fn open(data_dir: &std::path::Path) -> io::Result<ProducerIds> {
        let path = data_dir.join(layout::PRODUCER_ID_FILE);
        let next = match std::fs::read_to_string(&path) {
            Ok(t) => t
                .trim()
                .parse::<i64>()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok(ProducerIds {
            path,
            state: Mutex::new((next, next)),
        })
    }

    /// The next unused producer id (blocking: may write the block file).
    pub fn next(&self) -> io::Result<i64> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| io::Error::other("producer id lock poisoned"))?;
        if st.0 >= st.1 {
            let end = st.1 + BLOCK_SIZE;
            let tmp = self.path.with_extension("tmp");
            std::fs::write(&tmp, format!("{end}\n"))?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &self.path)?;
            st.1 = end;
        }
        let id = st.0;
        st.0 += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_not_reused_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let a = ProducerIds::open(dir.path()).unwrap();
        assert_eq!(a.next().unwrap(), 0);
        assert_eq!(a.next().unwrap(), 1);
        drop(a);
        let b = ProducerIds::open(dir.path()).unwrap();
        assert_eq!(b.next().unwrap(), BLOCK_SIZE);
    }
}
