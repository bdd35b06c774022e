//! KIP-848 consumer groups (`group.protocol=consumer`): the broker computes the assignment,
//! members reconcile towards it incrementally through ConsumerGroupHeartbeat, and nothing
//! stops the world.
//!
//! - [`records`]: Kafka's consumer group records (key versions 3, 5–8, 16) and their bytes;
//! - [`group`]: one group's state, changed only by replaying those records;
//! - [`assignor`]: the `uniform` and `range` server-side assignors (pure functions);
//! - [`reconcile`]: a member's current assignment moving towards its target (revoke first);
//! - [`heartbeat`]: ConsumerGroupHeartbeat (join, heartbeat, leave) as a runtime operation;
//! - [`describe`]: ConsumerGroupDescribe, and the member-epoch checks of OffsetCommit/Fetch;
//! - [`subscription`]: topic names plus regex matches (RE2 dialect, whole names);
//! - [`regexes`]: when the group's regexes are resolved, filtered by the DESCRIBE ACLs of
//!   the member whose heartbeat resolves them (key 16 records);
//! - [`static_members`]: `group.instance.id` — leaving with −2, replacing, the instance errors;
//! - [`timers`]: session and rebalance (revocation) timeouts.

pub mod assignor;
pub mod describe;
pub mod group;
pub mod heartbeat;
pub mod reconcile;
pub mod records;
pub mod regexes;
pub mod static_members;
pub mod subscription;
pub mod timers;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_commit_epochs;
#[cfg(test)]
mod tests_conversion;
#[cfg(test)]
mod tests_librdkafka;
#[cfg(test)]
mod tests_regex;
