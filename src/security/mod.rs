//! Who a client is and what it may do: the principal a connection authenticates as (plain
//! listeners: `User:ANONYMOUS`; TLS client certificates and SASL set it), SASL's mechanisms
//! ([`sasl`], with Kafka's JAAS configuration values in [`jaas`]), and later the authorizer
//! that checks the principal against ACLs.
//!
//! Why a module of its own: authentication happens at the edge (the socket and the router's
//! per-connection session) and authorization deep inside (handlers, per resource); both speak
//! of the same [`KafkaPrincipal`], which must depend on nothing above it.

pub mod acl;
mod acl_index;
pub mod authorizer;
pub mod jaas;
pub mod principal;
pub mod sasl;
pub mod ssl;

pub use authorizer::{AclMap, Authorizer};
pub use principal::KafkaPrincipal;
