//! Accounts: Django's password hashes, importing Django's users, login throttles, and
//! checking a login's credentials.

pub mod import;
mod login;
pub mod password;
pub mod throttle;

pub use login::{LoginDenied, LoginSettings, Logins};

/// Which user field people log in with (Django's `USERNAME_FIELD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsernameField {
    Username,
    Email,
}

impl UsernameField {
    /// The request field's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Username => "username",
            Self::Email => "email",
        }
    }
}
