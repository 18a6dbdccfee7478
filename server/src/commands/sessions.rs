//! `tollgate sessions ...`: a user's live sessions, and ending one.

use std::fmt::Write as _;

use super::{fail, find_user, CliError, Context, SessionsCommand};
use crate::{clock::iso8601, store::Session};

/// A session as `sessions list --json` and the admin API show it.
pub fn session_json(session: &Session) -> serde_json::Value {
    let family = &session.family;
    serde_json::json!({
        "id": session.id, "user_id": family.user_id,
        "created_at": iso8601(family.created_at_ms),
        "last_refreshed_at": family.last_refresh.as_ref().map(|s| iso8601(s.at_ms)),
        "expires_at": iso8601(family.expires_at.saturating_mul(1000)),
        "login": family.login, "last_refresh": family.last_refresh,
    })
}

pub(super) async fn run(
    ctx: &Context,
    cmd: SessionsCommand,
    out: &mut String,
) -> Result<(), CliError> {
    let store = &ctx.store;
    let now = ctx.now_ms() / 1000;
    match cmd {
        SessionsCommand::List { user, json } => {
            let user = find_user(store, &user).await?;
            for session in store.sessions(user.id, now).await? {
                let family = &session.family;
                let seen = family.last_refresh.as_ref().or(family.login.as_ref());
                let (agent, ip) = seen.map_or(("", ""), |s| (s.user_agent.as_str(), s.ip.as_str()));
                if json {
                    let _ = writeln!(out, "{}", session_json(&session));
                } else {
                    let last = family.last_refresh.as_ref().map(|s| iso8601(s.at_ms));
                    let _ = writeln!(
                        out,
                        "{}  created {}  last refresh {}  {ip}  {agent:?}",
                        session.id,
                        iso8601(family.created_at_ms),
                        last.as_deref().unwrap_or("-"),
                    );
                }
            }
        }
        SessionsCommand::Revoke { id } => {
            let revoked = if Session::is_valid_id(&id) {
                store.revoke_session(&id, now).await?
            } else {
                None
            };
            let Some(family) = revoked else {
                return Err(fail("session_not_found", format!("no session {id:?}")));
            };
            let _ = writeln!(out, "ended session {id} of user {}", family.user_id);
        }
    }
    Ok(())
}
