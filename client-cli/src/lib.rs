//! The `samtale` client as a library: profiles and the encrypted keystore,
//! the API client, the client logic every command and the chat view share,
//! and the terminal UI's rendering. `src/main.rs` is the command line over
//! it; the tests drive the same code.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod api;
pub mod client;
pub mod journal;
pub mod keystore;
pub mod oidc;
pub mod output;
pub mod profile;
pub mod relay;
pub mod tui;
