//! tollgate-server: the issuing server, as a library with a thin `main`.
//!
//! Laid out by concern, dependencies pointing one way: `http` (transport, routing,
//! replies) -> `handlers` (one per endpoint) -> `tokens` and `users` (policy) ->
//! `store` (the storage interface and its backends). `app` holds the shared state,
//! `commands` the admin commands (command line and admin socket), `cli` the command
//! line. See ARCHITECTURE.md for the map.

pub mod app;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod handlers;
pub mod http;
pub mod keyset;
pub mod metrics;
pub mod openapi;
pub mod remote_jwks;
pub mod store;
pub mod tokens;
pub mod users;

pub use app::App;
pub use handlers::{routes, serve};
