//! HTTP: the accept loop and its limits, routing, Bearer parsing, CORS, static files,
//! reply writing and the one error table, and DRF's request bodies ([`drf`]). What each
//! endpoint does is in `crate::handlers`, behind [`Endpoints`]: nothing here imports it.

pub mod bearer;
pub mod cookie;
mod cors;
pub mod drf;
pub mod errors;
pub mod idle;
pub mod reply;
pub mod request;
pub mod route;
mod serve;
pub mod static_files;
mod wake;

pub use bearer::MAX_AUTH_HEADER;
pub use request::{Request, MAX_BODY};
pub use serve::{routes, serve, Endpoints};
