//! Shared test harness, split by role: real brokers ([`broker`]: in-process or a child
//! process), several broker processes ([`cluster`]) and a fault-injecting TCP forwarder
//! between them ([`proxy`]) with partition-level views of them ([`replicas`]), the raw protocol ([`raw`]), real clients ([`clients`]) and
//! deadline polling ([`wait`]). Every integration test is a module of the one `it` binary and uses these.
#![allow(dead_code)]

pub mod broker;
pub mod clients;
pub mod cluster;
pub mod proxy;
pub mod raw;
pub mod replicas;
pub mod tls;
pub mod wait;

pub use broker::{free_port, BrokerProcess, TestBroker};
pub use raw::{encode_batch, now_ms, RawClient};
pub use wait::wait_for;
