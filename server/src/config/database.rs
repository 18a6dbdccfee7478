//! Which store the configuration names: sled in the data folder, PostgreSQL at
//! `database_url`, or PostgreSQL beside a Django site's tables (`django_schema`).

use std::path::Path;

use super::ConfigError;
use crate::store::Backend;

/// The store `database_url` names (sled in `data_dir` without one). Only `postgres://`
/// and `postgresql://` URLs are known: anything else is an error, never a fresh sled
/// folder in its place.
pub fn backend(url: Option<&str>, data_dir: &Path) -> Result<Backend, ConfigError> {
    let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(Backend::Sled(data_dir.to_path_buf()));
    };
    let known = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if !known {
        let scheme = url.split_once("://").map_or(url, |(s, _)| s);
        let scheme: String = scheme.chars().take(32).collect();
        return Err(ConfigError::new(
            "database_url",
            format!("{scheme:?} is not a database tollgate knows: use postgres://user@host:port/database"),
        ));
    }
    crate::store::postgres::DatabaseUrl::parse(url)
        .map_err(|why| ConfigError::new("database_url", why))?;
    Ok(Backend::Postgres(url.to_string()))
}

/// `django_schema = true`: the PostgreSQL store beside a Django site's tables, which
/// needs a PostgreSQL `database_url`.
pub(super) fn beside_django(backend: Backend, django_schema: bool) -> Result<Backend, ConfigError> {
    match backend {
        Backend::Postgres(url) if django_schema => Ok(Backend::Django(url)),
        Backend::Sled(_) if django_schema => Err(ConfigError::new(
            "django_schema",
            "django_schema = true needs database_url: the Django site's PostgreSQL database",
        )),
        other => Ok(other),
    }
}
