//! The audit trail (issue #18): who did what to whom, and when, for every admin action
//! (the staff console's API and the command line alike). Kept in the store beside what
//! it describes, each entry durable before the action is answered, and bounded: a write
//! keeps the newest `keep` entries and deletes the older ones in the same unit.

use serde::{Deserialize, Serialize};

/// How many entries the store keeps (about 200 bytes each: ~2 MB).
pub const AUDIT_KEPT: usize = 10_000;

/// The most entries one read returns.
pub const MAX_AUDIT_PAGE: usize = 500;

/// One admin action as recorded. `id` grows with every entry (the store assigns it:
/// newest has the highest); the texts are bounded by [`AuditEntry::bounded`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: u64,
    /// When (Unix ms, the server's clock).
    pub at_ms: u64,
    /// Who: a username (API), or the operating-system account (command line).
    pub actor: String,
    /// Through what: `api`, `cli` (on the store directly) or `socket` (through the
    /// running server's admin socket).
    pub via: String,
    /// What: `users.add`, `sessions.revoke`, `keys.rotate`, ... (see `commands`).
    pub action: String,
    /// On what: a username, a session id, a jti, a kid (empty when the action has none).
    pub target: String,
    /// `ok`, or the stable code of the error the action ended with.
    pub outcome: String,
}

/// Longest text kept in any field of an entry (longer is cut on a char boundary).
pub const MAX_AUDIT_FIELD: usize = 256;

impl AuditEntry {
    /// The entry with every text cut to [`MAX_AUDIT_FIELD`] bytes.
    #[must_use]
    pub fn bounded(mut self) -> Self {
        for field in [
            &mut self.actor,
            &mut self.via,
            &mut self.action,
            &mut self.target,
            &mut self.outcome,
        ] {
            if field.len() > MAX_AUDIT_FIELD {
                let mut end = MAX_AUDIT_FIELD;
                while !field.is_char_boundary(end) {
                    end -= 1;
                }
                field.truncate(end);
            }
        }
        self
    }
}
