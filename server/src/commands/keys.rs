//! `tollgate keys list | add | rotate | revoke`: the signing-key set in the store
//! ([`crate::keyset`]). Run on the store directly, or inside a running sled server
//! through its admin socket; either way a running server picks the change up.

use std::fmt::Write as _;

use tollgate_core::Algorithm;

use super::{fail, CliError, Context, KeysCommand};
use crate::{
    keyset::{self, Kek, KeyError, Revoked, Rotated},
    store::KeyState,
};

impl From<KeyError> for CliError {
    fn from(err: KeyError) -> Self {
        CliError {
            code: err.code().into(),
            message: err.to_string(),
        }
    }
}

/// A stored key as `keys list --json` and the admin API show it (never its material).
pub fn key_json(key: &crate::store::StoredKey) -> serde_json::Value {
    serde_json::json!({"kid": key.kid, "algorithm": key.algorithm,
        "state": key.state, "created_ms": key.created_ms,
        "activated_ms": key.activated_ms, "deactivated_ms": key.deactivated_ms,
        "retired_ms": key.retired_ms})
}

fn kek(ctx: &Context) -> Result<&Kek, CliError> {
    ctx.config
        .key_encryption_key
        .as_ref()
        .ok_or_else(|| KeyError::NoKek.into())
}

pub(super) async fn run(ctx: &Context, cmd: KeysCommand, out: &mut String) -> Result<(), CliError> {
    let store = &ctx.store;
    let configured = ctx.config.tokens.algorithm();
    match cmd {
        KeysCommand::List { json } => {
            let keys = store.signing_keys().await?;
            if keys.is_empty() && !json {
                let _ = writeln!(
                    out,
                    "no signing keys in the store: the configured signing key signs (`tollgate keys rotate` starts a key set)"
                );
            }
            for key in keys {
                if json {
                    let _ = writeln!(out, "{}", key_json(&key));
                } else {
                    let ms = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
                    let _ = writeln!(
                        out,
                        "{}  {:<6} {:<8}  created_ms={}  activated_ms={}  retired_ms={}",
                        key.kid,
                        key.algorithm,
                        key.state.name(),
                        key.created_ms,
                        ms(key.activated_ms),
                        ms(key.retired_ms),
                    );
                }
            }
        }
        KeysCommand::Add { algorithm } => {
            let algorithm = match algorithm {
                Some(name) => Algorithm::from_name(&name).map_err(|_| {
                    fail(
                        "key_algorithm_not_allowed",
                        format!("{name:?} is not an algorithm tollgate signs with (HS256, HS384, HS512, EdDSA, ES256)"),
                    )
                })?,
                None => configured,
            };
            keyset::check_allowed(&ctx.config.allowed_algorithms, algorithm)?;
            let key = keyset::add(store, kek(ctx)?, algorithm, ctx.now_ms()).await?;
            let _ = writeln!(
                out,
                "added {} key {} as next: published, signing after `tollgate keys rotate`",
                key.algorithm, key.kid
            );
        }
        KeysCommand::Rotate { now } => {
            let kek = kek(ctx)?;
            let keys = store.signing_keys().await?;
            let from = keys
                .iter()
                .find(|k| k.state == KeyState::Current)
                .map(|k| k.kid.clone());
            // The key that would sign: the next one (of its own algorithm), or a fresh one.
            let incoming = keys
                .iter()
                .find(|k| k.state == KeyState::Next)
                .and_then(|k| Algorithm::from_name(&k.algorithm).ok())
                .unwrap_or(configured);
            let hold_ms = if now {
                0
            } else {
                keyset::publish_ahead_ms(incoming, ctx.config.jwks_max_age)
            };
            let rotated = keyset::rotate(
                store,
                kek,
                from.as_deref(),
                configured,
                ctx.now_ms(),
                hold_ms,
            );
            match rotated.await? {
                Rotated::Done { current, previous } => {
                    let _ = write!(out, "{current} signs now");
                    match previous {
                        Some(previous) => {
                            let _ = writeln!(out, "; {previous} is previous (verifies until its tokens expire)");
                        }
                        None => {
                            let _ = writeln!(out, "; the configured signing key still verifies the tokens it signed");
                        }
                    }
                }
                Rotated::Lost { current } => {
                    return Err(fail(
                        "key_rotation_raced",
                        format!(
                            "another rotation ran at the same time; {} signs now (nothing else changed)",
                            current.as_deref().unwrap_or("no stored key")
                        ),
                    ))
                }
            }
        }
        KeysCommand::Revoke { kid } => {
            let kek = kek(ctx)?;
            match keyset::revoke(store, kek, &kid, configured, ctx.now_ms()).await? {
                Revoked::Done { replacement } => {
                    let _ = write!(out, "{kid} revoked: the tokens it signed are refused");
                    match replacement {
                        Some(current) => {
                            let _ = writeln!(out, "; {current} signs now");
                        }
                        None => out.push('\n'),
                    }
                }
                Revoked::Already => {
                    let _ = writeln!(out, "{kid} was revoked already");
                }
            }
        }
    }
    Ok(())
}
