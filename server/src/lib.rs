//! tollgate-server: the issuing server, as a library with a thin `main`.
//!
//! [`app::routes`] is the whole HTTP API as one warp filter over an [`app::App`]
//! (configuration, store, metrics). See ARCHITECTURE.md for the map.

pub mod admin;
pub mod app;
pub mod auth;
pub mod body;
pub mod cli;
pub mod config;
pub mod errors;
pub mod idle;
pub mod import;
pub mod metrics;
pub mod password;
pub mod seed;
pub mod store;
pub mod throttle;

pub use app::{routes, App};
