//! Accounts: Django's password hashes, importing Django's users, login throttles, and
//! checking a login's credentials.

pub mod import;
mod login;
pub mod password;
pub mod throttle;

pub use login::{LoginDenied, Logins};
