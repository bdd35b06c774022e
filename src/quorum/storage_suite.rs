//! openraft's own storage test suite (`openraft::testing::Suite::test_all`) run against
//! gregor's log store and state machine, each test on a fresh data directory.

use std::sync::Arc;

use openraft::testing::{StoreBuilder, Suite};

use super::log_store::LogStore;
use super::state_machine::StateMachine;
use super::types::{QuorumTypes, StorageError};
use crate::config::BrokerConfig;
use crate::log::LogManager;
use crate::metadata::{Metadata, MetadataImage};

/// A fresh `__cluster_metadata-0` in a temporary directory per test.
struct TempStores;

impl StoreBuilder<QuorumTypes, LogStore, StateMachine, tempfile::TempDir> for TempStores {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let io = |e: std::io::Error| -> StorageError { super::types::write_error(e) };
        let dir = tempfile::tempdir().map_err(io)?;
        let logs = LogManager::open(dir.path()).map_err(io)?;
        let partition = crate::metadata::log::open(&logs, &BrokerConfig::default()).map_err(io)?;
        let store = LogStore::open(partition).map_err(io)?;
        let metadata = Arc::new(Metadata::new(MetadataImage::new("suite".into())));
        let sm = StateMachine::new(metadata, Vec::new(), store.clone());
        Ok((dir, store, sm))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    Suite::test_all(TempStores).expect("openraft storage suite");
}
