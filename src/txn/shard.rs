//! The transaction coordinator's shard: every transactional id of `__transaction_state-0`
//! and how a record changes them.
//!
//! [`TxnShard::replay`] is the only code that applies [`TxnRecord`]s — at start-up and
//! after each successful write — so the state is always what the log says. A value replaces
//! the id's metadata (it carries the whole of it, as Kafka's does); a tombstone removes the
//! id (it expired: Dead).
//!
//! Thread-safety: none of its own; the [runtime](crate::coordinator::runtime) serialises
//! every access.

use std::collections::BTreeMap;

use super::api::TxnConfig;
use super::records::TxnRecord;
use super::state::TransactionMetadata;
use crate::coordinator::clock::Now;
use crate::coordinator::runtime::Shard;

/// Every transactional id and its transaction (see the module doc).
pub struct TxnShard {
    pub config: TxnConfig,
    pub txns: BTreeMap<String, TransactionMetadata>,
}

impl Shard for TxnShard {
    type Record = TxnRecord;

    fn replay(&mut self, record: TxnRecord, _now: Now) {
        match record.value {
            Some(m) => {
                self.txns.insert(record.transactional_id, m);
            }
            None => {
                self.txns.remove(&record.transactional_id);
            }
        }
    }
}

impl TxnShard {
    pub fn new(config: TxnConfig) -> TxnShard {
        TxnShard {
            config,
            txns: BTreeMap::new(),
        }
    }

    pub fn get(&self, transactional_id: &str) -> Option<&TransactionMetadata> {
        self.txns.get(transactional_id)
    }
}
