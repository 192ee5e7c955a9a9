//! # samtale-server
//!
//! The Samtale server: it relays and stores ciphertext between staff and
//! citizens, never plaintext. This crate is the library behind the thin
//! `samtale-server` binary, so tests can build the whole application in
//! process ([`startup::Application`]).
//!
//! * [`config`]: layered settings (defaults, file, `SAMTALE_*`, flags).
//! * [`storage`]: the one storage interface, on SQLite or PostgreSQL.
//! * [`http`]: routes, errors, middleware.
//! * [`relay`]: the WebSocket relay, group-commit writer, fan-out.
//! * [`audit`]: the hash-chained, content-free audit log.
//! * [`retention`]: the purge job (gallring).
//! * [`notify`]: content-free notifications to offline recipients.
//! * [`serve`]: the accept loop: timeouts, connection caps, file limit.
//! * [`startup`]: bind, serve, graceful shutdown.
//! * [`telemetry`]: structured logs that carry no personal data.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod audit;
pub mod auth;
pub mod config;
pub mod eid;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod notify;
pub mod relay;
pub mod retention;
pub mod startup;
pub mod storage;
pub mod telemetry;
