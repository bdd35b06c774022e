//! Transaction state while the cleaner walks a log (Kafka's `CleanedTransactionMetadata`):
//! which data batches belong to aborted transactions (removed), and when a transaction marker
//! may go (once no batch of its transaction is left).
//!
//! Rules (Kafka's): the aborted transactions of the cleaned range, from the segments'
//! `.txnindex`, become "ongoing aborted" when the walk reaches their first offset; a
//! transactional data batch of a producer with an ongoing aborted transaction is discarded
//! (and remembered as seen), any other transactional batch marks the producer's transaction as
//! having data. An ABORT marker may be discarded when no data of its transaction was seen in
//! this walk — otherwise it is kept and its entry goes into the cleaned segment's
//! `.txnindex`; a COMMIT marker may be discarded when no data of its transaction was seen; an
//! empty (already cleaned) control batch may always be discarded. "May be discarded" becomes
//! "is discarded" only once the marker's delete horizon has passed (see [`super::pass`]).
//!
//! Thread-safety: owned by one cleaning pass.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::log::batch::BatchHeader;
use crate::log::control::{ControlType, Marker};
use crate::log::txn_index::AbortedTxn;

/// One aborted transaction met by the walk, and whether any of its batches was seen.
#[derive(Debug, Clone, Copy)]
struct OngoingAbort {
    txn: AbortedTxn,
    seen_data: bool,
}

/// The transaction state of one cleaning walk (see the module doc).
#[derive(Debug, Default)]
pub struct TxnTracker {
    ongoing_committed: HashSet<i64>,
    ongoing_aborted: HashMap<i64, OngoingAbort>,
    /// Aborted transactions not reached yet, by first offset.
    pending: VecDeque<AbortedTxn>,
}

impl TxnTracker {
    /// A tracker for a walk over the range the aborted transactions `aborted` overlap.
    pub fn new(mut aborted: Vec<AbortedTxn>) -> TxnTracker {
        aborted.sort_by_key(|t| (t.first_offset, t.last_offset));
        TxnTracker {
            pending: aborted.into(),
            ..Default::default()
        }
    }

    fn reach(&mut self, offset: i64) {
        while self
            .pending
            .front()
            .is_some_and(|t| t.first_offset <= offset)
        {
            if let Some(t) = self.pending.pop_front() {
                self.ongoing_aborted
                    .entry(t.producer_id)
                    .or_insert(OngoingAbort {
                        txn: t,
                        seen_data: false,
                    });
            }
        }
    }

    /// A data batch was reached: true when it belongs to an aborted transaction.
    pub fn on_data_batch(&mut self, h: &BatchHeader) -> bool {
        self.reach(h.last_offset());
        if !h.is_transactional() {
            return false;
        }
        match self.ongoing_aborted.get_mut(&h.producer_id) {
            Some(a) => {
                a.seen_data = true;
                true
            }
            None => {
                self.ongoing_committed.insert(h.producer_id);
                false
            }
        }
    }

    /// A control batch was reached (`marker`: its marker, `None` for an empty batch): true
    /// when it may be discarded. An ABORT marker kept for its data returns its index entry
    /// through `keep_entry`.
    pub fn on_control_batch(
        &mut self,
        h: &BatchHeader,
        marker: Option<Marker>,
        keep_entry: &mut Vec<AbortedTxn>,
    ) -> bool {
        self.reach(h.last_offset());
        let Some(marker) = marker else {
            return true;
        };
        match marker.kind {
            ControlType::Abort => match self.ongoing_aborted.remove(&h.producer_id) {
                Some(a) if a.seen_data => {
                    keep_entry.push(a.txn);
                    false
                }
                _ => true,
            },
            ControlType::Commit => !self.ongoing_committed.remove(&h.producer_id),
        }
    }
}
