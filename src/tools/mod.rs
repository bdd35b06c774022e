//! Command-line tools that talk to a running broker over the Kafka protocol.

pub mod acls;
pub mod client;
pub mod cluster;
mod cluster_render;
pub mod configs;
pub mod groups;
pub mod users;
