//! Hands out producer ids for idempotent producers (InitProducerId), never reusing one across
//! restarts.
//!
//! Ids come in blocks reserved from the controller: a block is a ProducerIdsRecord committed
//! to the metadata log before its first id is handed out, so after any crash the next start
//! resumes past every id that may have been given out — as Kafka's controller does.
//!
//! Thread-safety: a mutex around the counter, held while a new block is reserved (at most
//! once per block).

use std::sync::Mutex;

use crate::error::{Error, Result};

/// The producer id allocator (see the module doc).
#[derive(Default)]
pub struct ProducerIds {
    /// (next id to hand out, end of the reserved block)
    state: Mutex<(i64, i64)>,
}

impl ProducerIds {
    /// The next unused producer id; `reserve` is asked for a new block `[start, end)` when
    /// the current one is used up (blocking: it commits a metadata record).
    pub fn next(&self, reserve: impl FnOnce() -> Result<(i64, i64)>) -> Result<i64> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| Error::internal("producer id lock poisoned by an earlier panic"))?;
        if st.0 >= st.1 {
            *st = reserve()?;
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
    fn ids_come_from_reserved_blocks() {
        let ids = ProducerIds::default();
        let mut blocks = vec![(0, 2), (1000, 1002)].into_iter();
        let mut next = || ids.next(|| Ok(blocks.next().expect("a block")));
        assert_eq!(next().unwrap(), 0);
        assert_eq!(next().unwrap(), 1);
        assert_eq!(next().unwrap(), 1000);
        let failing = ProducerIds::default();
        assert!(failing
            .next(|| Err(Error::Io(std::io::Error::other("disk"))))
            .is_err());
    }
}
