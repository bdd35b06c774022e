//! The Kafka wire protocol: request headers and response framing ([`codec`]), the one table of
//! served APIs and their versions ([`apis`]), and the hand-encoded replies the codec crate
//! cannot produce ([`legacy`]).

pub mod apis;
pub mod codec;
pub mod fetch_frame;
pub mod legacy;

pub use apis::{dispatch, lookup, ApiRange, APIS};
pub use codec::{DispatchError, Frame, Reply, RequestContext};
