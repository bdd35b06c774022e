//! The TCP front end: a listener with a connection limit ([`listener`]) and one task per
//! connection that frames requests and writes response frames in order ([`connection`]), over
//! a plain socket or, on SSL listeners, over TLS after a handshake in that task ([`tls`]).
//! It knows frames only; the [`crate::router::Router`] serves them.
//!
//! Shutdown is a broadcast signal: it stops the listener and every connection task at its
//! next read; a request in flight has a second to finish and be answered, then is cut short.
//! Each connection task holds a clone of a `done` sender, so the owner learns when the last
//! one has ended.

pub mod connection;
pub mod listener;
pub mod tls;
