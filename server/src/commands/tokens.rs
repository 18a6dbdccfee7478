//! `tollgate tokens ...`: list, blacklist a user's tokens, flush the expired ones.

use std::fmt::Write as _;

use super::{fail, find_user, CliError, Context, TokensCommand};
use crate::store::{BlacklistReason, Blacklisted, Blacklisting, Outstanding, Revocation};

/// A token record as `tokens list --json` and the admin API show it (never its text).
pub fn token_json(record: &Outstanding, blacklisted: Option<&Blacklisted>) -> serde_json::Value {
    serde_json::json!({"jti": record.jti, "user_id": record.user_id, "kind": record.kind,
        "family": record.family, "created_at_ms": record.created_at_ms,
        "expires_at": record.expires_at, "blacklisted": blacklisted})
}

/// Longest jti `tokens revoke` looks up (tollgate's are 32 hex digits; Simple JWT's too).
const MAX_JTI: usize = 255;

pub(super) async fn run(
    ctx: &Context,
    cmd: TokensCommand,
    out: &mut String,
) -> Result<(), CliError> {
    let (config, store) = (&ctx.config, &ctx.store);
    match cmd {
        TokensCommand::List { user, json } => {
            let user_id = match &user {
                Some(name) => Some(find_user(store, name).await?.id),
                None => None,
            };
            for (record, blacklisted) in store.tokens(user_id).await? {
                let status = match &blacklisted {
                    Some(entry) => format!("blacklisted:{:?}", entry.reason).to_lowercase(),
                    None => "outstanding".into(),
                };
                if json {
                    let _ = writeln!(out, "{}", token_json(&record, blacklisted.as_ref()));
                } else {
                    let _ = writeln!(
                        out,
                        "{}  user={:<6} {:?}  expires_at={}  {status}",
                        record.jti, record.user_id, record.kind, record.expires_at
                    );
                }
            }
        }
        TokensCommand::Blacklist { user } => {
            let found = find_user(store, &user).await?;
            let revoked = store
                .revoke_user(found.id, Revocation::LogoutAll, ctx.now_ms(), |_| {})
                .await?;
            let _ = writeln!(out, "{revoked} tokens of {user:?} blacklisted");
        }
        TokensCommand::Revoke { jti } => {
            let record = if jti.is_empty() || jti.len() > MAX_JTI {
                None
            } else {
                store.outstanding(&jti).await?
            };
            let Some(record) = record else {
                return Err(fail("token_not_found", format!("no token {jti:?}")));
            };
            let now = ctx.now_ms() / 1000;
            match store.blacklist(&record, BlacklistReason::User, now).await? {
                Blacklisting::Done => {
                    let _ = writeln!(out, "token {jti} of user {} blacklisted", record.user_id);
                }
                Blacklisting::AlreadyBlacklisted(reason) => {
                    let _ = writeln!(
                        out,
                        "token {jti} was blacklisted already ({})",
                        format!("{reason:?}").to_lowercase()
                    );
                }
            }
        }
        TokensCommand::Seed { .. } => {
            // Only reachable through the admin socket: the server holds the database.
            return Err(fail(
                "seed_offline",
                "tokens seed runs on a database no server holds: stop the server first",
            ));
        }
        TokensCommand::FlushExpired => {
            let now = ctx.now_ms() / 1000;
            let flushed = store.flush_expired(now, config.tokens.leeway()).await?;
            let _ = writeln!(
                out,
                "flushed {} outstanding and {} blacklisted tokens, {} families",
                flushed.outstanding, flushed.blacklisted, flushed.families
            );
        }
    }
    Ok(())
}
