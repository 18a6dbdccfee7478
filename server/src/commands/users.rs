//! `tollgate users ...`: add, list, set a password or attributes, deactivate, import.

use std::fmt::Write as _;

use serde_json::Value;

use super::{fail, find_user, CliError, Context, Input, UsersCommand};
use crate::{
    config,
    store::{Revocation, User},
    users::{import, password},
};

/// A new user (id chosen by the store) with a freshly hashed password, joined at
/// `joined` (epoch seconds).
pub fn new_user(
    username: &str,
    email: Option<String>,
    password_text: &str,
    iterations: u32,
    joined: i64,
) -> User {
    let password = password::make_password(password_text, iterations);
    User::new(
        0,
        username,
        email.as_deref().unwrap_or(""),
        password,
        joined,
    )
}

/// A user as `users list --json` and the admin API show it (never the password hash).
pub fn user_json(user: &User) -> Value {
    serde_json::json!({
        "id": user.id, "username": user.username, "email": user.email,
        "is_active": user.is_active, "is_staff": user.is_staff,
        "is_superuser": user.is_superuser, "last_login": user.last_login,
        "date_joined": user.date_joined, "attrs": user.attrs,
    })
}

/// `KEY=VALUE`: VALUE as JSON if it parses (numbers, true, "quoted"), else as text.
fn parse_attr(text: &str) -> Result<(String, Option<Value>), CliError> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| fail("attr_invalid", format!("{text:?}: expected KEY=VALUE")))?;
    if key.is_empty()
        || key.len() > 64
        || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(fail(
            "attr_invalid",
            format!("{key:?}: attribute names are 1-64 letters, digits or _"),
        ));
    }
    if value.is_empty() {
        return Ok((key.into(), None));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into()));
    Ok((key.into(), Some(value)))
}

pub(super) async fn run(
    ctx: &Context,
    cmd: UsersCommand,
    input: &Input,
    out: &mut String,
) -> Result<(), CliError> {
    let (config, store) = (&ctx.config, &ctx.store);
    let unique_email = config.username_field == config::UsernameField::Email;
    match cmd {
        UsersCommand::Add {
            username,
            email,
            staff,
            superuser,
            inactive,
            attrs,
            password_stdin,
        } => {
            let username = username.trim().to_string();
            if username.is_empty() || username.len() > 150 {
                return Err(fail(
                    "username_invalid",
                    "usernames are 1 to 150 characters (Django's limit)",
                ));
            }
            if unique_email && email.as_deref().unwrap_or("").is_empty() {
                return Err(fail(
                    "email_required",
                    "username_field is email: --email is required",
                ));
            }
            let mut parsed = Vec::new();
            for attr in &attrs {
                parsed.push(parse_attr(attr)?);
            }
            let _ = password_stdin;
            let password_text = input.password()?;
            let joined = (ctx.now_ms() / 1000) as i64;
            let mut user = new_user(
                &username,
                email,
                &password_text,
                config.pbkdf2_iterations,
                joined,
            );
            user.is_staff = staff;
            user.is_superuser = superuser;
            user.is_active = !inactive;
            for (key, value) in parsed {
                if let Some(value) = value {
                    user.attrs.insert(key, value);
                }
            }
            let user = store.add_user(user, unique_email).await?;
            let _ = writeln!(out, "added user {:?} (id {})", user.username, user.id);
        }
        UsersCommand::List { json } => {
            for user in store.users().await? {
                if json {
                    let _ = writeln!(out, "{}", user_json(&user));
                } else {
                    let attrs = serde_json::to_string(&user.attrs).unwrap_or_default();
                    let _ = writeln!(
                        out,
                        "{:>6}  {:<24} {:<32} active={} staff={} attrs={attrs}",
                        user.id, user.username, user.email, user.is_active, user.is_staff
                    );
                }
            }
        }
        UsersCommand::SetPassword {
            username,
            password_stdin,
        } => {
            let user = find_user(store, &username).await?;
            let _ = password_stdin;
            let password_text = input.password()?;
            let encoded = password::make_password(&password_text, config.pbkdf2_iterations);
            // The new hash and the revocation stamp in one write.
            let revoked = store
                .revoke_user(user.id, Revocation::PasswordChanged, ctx.now_ms(), |u| {
                    u.password.clone_from(&encoded)
                })
                .await?;
            let _ = writeln!(
                out,
                "password changed for {username:?}; {revoked} refresh tokens revoked"
            );
        }
        UsersCommand::SetAttr { username, attrs } => {
            let user = find_user(store, &username).await?;
            let mut parsed = Vec::new();
            for attr in &attrs {
                parsed.push(parse_attr(attr)?);
            }
            store
                .update_user(user.id, |u| {
                    for (key, value) in &parsed {
                        match value {
                            Some(value) => u.attrs.insert(key.clone(), value.clone()),
                            None => u.attrs.remove(key),
                        };
                    }
                })
                .await?;
            let _ = writeln!(out, "attributes of {username:?} updated");
        }
        UsersCommand::Deactivate { username } => {
            let user = find_user(store, &username).await?;
            let revoked = store
                .revoke_user(user.id, Revocation::Deactivated, ctx.now_ms(), |_| {})
                .await?;
            let _ = writeln!(
                out,
                "deactivated {username:?}; {revoked} refresh tokens revoked"
            );
        }
        UsersCommand::Import { file } => {
            // The file was read where the command was typed (it may be a relative path
            // the server, behind the admin socket, cannot see).
            let text = input.file.as_deref().ok_or_else(|| {
                fail("import_unreadable", format!("{}: not read", file.display()))
            })?;
            let imported =
                import::parse_dumpdata(text).map_err(|e| fail(e.code(), e.to_string()))?;
            let users = imported
                .into_iter()
                .map(|record| {
                    let mut user = User::new(
                        record.id,
                        &record.username,
                        &record.email,
                        record.password,
                        record.date_joined,
                    );
                    user.first_name = record.first_name;
                    user.last_name = record.last_name;
                    user.is_active = record.is_active;
                    user.is_staff = record.is_staff;
                    user.is_superuser = record.is_superuser;
                    user.last_login = record.last_login;
                    user
                })
                .collect();
            // All or nothing: refused before writing if any user already exists.
            let added = store.import_users(users, unique_email).await?;
            let _ = writeln!(out, "imported {added} users");
        }
    }
    Ok(())
}
