//! The Kafka wire protocol, below everything else in gregor (it depends on no other gregor
//! module): request headers and response framing ([`codec`]), the Fetch response encoder that
//! keeps record bytes as their own chunks ([`fetch_frame`]), and the hand-encoded replies the
//! codec crate cannot produce ([`legacy`]).

pub mod codec;
pub mod fetch_frame;
pub mod legacy;
pub mod reader;

pub use codec::{DispatchError, Frame};
