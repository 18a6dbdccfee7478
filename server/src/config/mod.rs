//! Configuration: raw values from a TOML file, `TOLLGATE_<NAME>` environment variables
//! and flags, validated once into [`Config`].
//!
//! Keys are Simple JWT's settings in lower case (`access_token_lifetime = "30m"`) plus
//! the server's own (`bind`, `data_dir`, ...). Unknown keys are errors, so a typo never
//! silently falls back to a default. Secrets are redacted in `Debug`.

use std::{
    collections::BTreeMap,
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;
use tollgate_core::{Algorithm, Audience, ClaimNames, Settings, SigningKey, VerifyingKey};

use crate::store::Backend;

use crate::users::throttle::{parse_rate, Rate};
pub use crate::users::UsernameField;

mod cookie;
mod database;
mod keys;

pub use database::backend;
use database::beside_django;

use cookie::refresh_transport;
pub use cookie::{RefreshCookie, RefreshTransport, MAX_COOKIE_NAME};
pub use keys::{data_dir_key_path, generate_key_text, write_new_key};
use keys::{key_encryption_key, signing_key, verifying_key_text};

/// A configuration problem, with the setting's name.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub setting: String,
    pub message: String,
}

impl ConfigError {
    fn new(setting: &str, message: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            message: message.into(),
        }
    }

    /// Stable code.
    pub fn code(&self) -> &'static str {
        "config_invalid"
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "setting `{}`: {}", self.setting, self.message)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Duration,
    Bool,
    Int,
    Str,
    List,
}

/// Every setting: name, kind. Environment variables are `TOLLGATE_` + the name in upper case.
const SETTINGS: &[(&str, Kind)] = &[
    ("access_token_lifetime", Kind::Duration),
    ("refresh_token_lifetime", Kind::Duration),
    ("sliding_token_lifetime", Kind::Duration),
    ("sliding_token_refresh_lifetime", Kind::Duration),
    ("max_token_lifetime", Kind::Duration),
    ("rotate_refresh_tokens", Kind::Bool),
    ("blacklist_after_rotation", Kind::Bool),
    ("update_last_login", Kind::Bool),
    ("algorithm", Kind::Str),
    ("signing_key", Kind::Str),
    ("signing_key_file", Kind::Str),
    ("verifying_key", Kind::Str),
    ("verifying_key_file", Kind::Str),
    ("previous_verifying_keys", Kind::List),
    ("key_encryption_key", Kind::Str),
    ("key_encryption_key_file", Kind::Str),
    ("signing_key_rotation", Kind::Duration),
    ("allowed_algorithms", Kind::List),
    ("jwks_max_age", Kind::Duration),
    ("audience", Kind::List),
    ("issuer", Kind::Str),
    ("leeway", Kind::Duration),
    ("user_id_field", Kind::Str),
    ("user_id_claim", Kind::Str),
    ("token_type_claim", Kind::Str),
    ("jti_claim", Kind::Str),
    ("sliding_token_refresh_exp_claim", Kind::Str),
    ("auth_header_types", Kind::List),
    ("auth_header_name", Kind::Str),
    ("auth_token_classes", Kind::List),
    ("jwk_url", Kind::Str),
    ("check_user_is_active", Kind::Bool),
    ("check_revoke_token", Kind::Bool),
    ("reuse_detection", Kind::Bool),
    ("refresh_reuse_interval", Kind::Duration),
    ("session_id_claim", Kind::Str),
    ("username_field", Kind::Str),
    ("token_claims", Kind::List),
    ("pbkdf2_iterations", Kind::Int),
    ("hash_concurrency", Kind::Int),
    ("login_throttle_username", Kind::Str),
    ("login_throttle_ip", Kind::Str),
    ("bind", Kind::Str),
    ("data_dir", Kind::Str),
    ("database_url", Kind::Str),
    ("django_schema", Kind::Bool),
    ("cors_allowed_origins", Kind::List),
    ("flush_expired_interval", Kind::Duration),
    ("www_dir", Kind::Str),
    ("pkg_dir", Kind::Str),
    ("log_format", Kind::Str),
    ("refresh_transport", Kind::Str),
    ("refresh_cookie_name", Kind::Str),
    ("refresh_cookie_domain", Kind::Str),
    ("refresh_cookie_secure", Kind::Bool),
];

/// The longest `refresh_reuse_interval` accepted: long enough for a retry after a lost
/// answer on a slow network, short enough that a stolen rotated-out token is soon useless.
const MAX_REUSE_INTERVAL: u64 = 300;

/// A duration: whole seconds, or text like "30m", "1h30m", "3d", "2w", "45s".
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Secs(u64),
    Text(String),
}

/// A string or a list of strings (`audience = "api"` or `audience = ["a", "b"]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    access_token_lifetime: Option<RawDuration>,
    refresh_token_lifetime: Option<RawDuration>,
    sliding_token_lifetime: Option<RawDuration>,
    sliding_token_refresh_lifetime: Option<RawDuration>,
    max_token_lifetime: Option<RawDuration>,
    rotate_refresh_tokens: Option<bool>,
    blacklist_after_rotation: Option<bool>,
    update_last_login: Option<bool>,
    algorithm: Option<String>,
    signing_key: Option<String>,
    signing_key_file: Option<String>,
    verifying_key: Option<String>,
    verifying_key_file: Option<String>,
    previous_verifying_keys: Option<OneOrMany>,
    key_encryption_key: Option<String>,
    key_encryption_key_file: Option<String>,
    signing_key_rotation: Option<RawDuration>,
    allowed_algorithms: Option<OneOrMany>,
    jwks_max_age: Option<RawDuration>,
    audience: Option<OneOrMany>,
    issuer: Option<String>,
    leeway: Option<RawDuration>,
    user_id_field: Option<String>,
    user_id_claim: Option<String>,
    token_type_claim: Option<String>,
    jti_claim: Option<String>,
    sliding_token_refresh_exp_claim: Option<String>,
    auth_header_types: Option<OneOrMany>,
    auth_header_name: Option<String>,
    auth_token_classes: Option<OneOrMany>,
    jwk_url: Option<String>,
    check_user_is_active: Option<bool>,
    check_revoke_token: Option<bool>,
    reuse_detection: Option<bool>,
    refresh_reuse_interval: Option<RawDuration>,
    session_id_claim: Option<String>,
    username_field: Option<String>,
    token_claims: Option<OneOrMany>,
    pbkdf2_iterations: Option<u64>,
    hash_concurrency: Option<u64>,
    login_throttle_username: Option<String>,
    login_throttle_ip: Option<String>,
    bind: Option<String>,
    data_dir: Option<String>,
    database_url: Option<String>,
    django_schema: Option<bool>,
    cors_allowed_origins: Option<OneOrMany>,
    flush_expired_interval: Option<RawDuration>,
    www_dir: Option<String>,
    pkg_dir: Option<String>,
    log_format: Option<String>,
    refresh_transport: Option<String>,
    refresh_cookie_name: Option<String>,
    refresh_cookie_domain: Option<String>,
    refresh_cookie_secure: Option<bool>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the signing key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `signing_key` / `TOLLGATE_SIGNING_KEY`.
    Setting,
    /// `signing_key_file`.
    File(PathBuf),
    /// `<data_dir>/signing_key`, generated on first start.
    DataDir(PathBuf),
}

/// Validated configuration.
#[derive(Clone)]
pub struct Config {
    /// Token settings (keys, lifetimes, claims, rotation).
    pub tokens: Settings,
    pub key_source: KeySource,
    /// `key_encryption_key`: seals the signing keys kept in the store (`tollgate keys`).
    pub key_encryption_key: Option<crate::keyset::Kek>,
    /// `signing_key_rotation` (seconds; `None`: off, the default): the stored key set
    /// rotates by itself this long after its current key started signing.
    pub signing_key_rotation: Option<u64>,
    /// `allowed_algorithms`: the algorithms stored keys may have, all of which verify
    /// (default: `algorithm` alone). A token's header picks among these only.
    pub allowed_algorithms: Vec<Algorithm>,
    /// `jwks_max_age` (seconds, default 300): how long `/.well-known/jwks.json` may be
    /// cached; a next key of a public-key algorithm is published two of these (plus
    /// [`crate::keyset::RELOAD_EVERY`]) before it may sign.
    pub jwks_max_age: u64,
    pub update_last_login: bool,
    pub check_user_is_active: bool,
    pub check_revoke_token: bool,
    pub reuse_detection: bool,
    /// Seconds after a rotation during which the rotated-out refresh token, presented
    /// again, gets the same successor instead of counting as a replay (0: off).
    pub refresh_reuse_interval: u64,
    /// The claim that carries the session (token family) id in refresh and access tokens
    /// (`sid`), so that a revoked session's access tokens are refused at once; `None`
    /// (the default) keeps Simple JWT's exact payload.
    pub session_id_claim: Option<String>,
    pub auth_header_types: Vec<String>,
    /// `auth_header_name` (Simple JWT's `AUTH_HEADER_NAME`): the request header the
    /// Bearer token comes in (default `Authorization`).
    pub auth_header_name: http::HeaderName,
    /// `auth_token_classes` (Simple JWT's `AUTH_TOKEN_CLASSES`): the token types that
    /// authenticate Bearer requests, tried in this order (default: access alone).
    pub auth_token_classes: Vec<tollgate_core::TokenKind>,
    /// `jwk_url` (Simple JWT's `JWK_URL`): a JWKS whose keys also verify Bearer tokens
    /// (those whose `kid` none of the server's keys has), read as `algorithm`'s keys.
    pub jwk_url: Option<(crate::remote_jwks::JwkUrl, String)>,
    pub username_field: UsernameField,
    pub token_claims: Vec<String>,
    pub pbkdf2_iterations: u32,
    pub hash_concurrency: usize,
    pub login_throttle_username: Rate,
    pub login_throttle_ip: Rate,
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    /// Where the store is: sled in `data_dir` (no `database_url`), or PostgreSQL.
    pub backend: Backend,
    pub cors_allowed_origins: Vec<String>,
    pub flush_expired_interval: u64,
    pub www_dir: Option<PathBuf>,
    /// The npm package folder, served at `/pkg/` so the demo page imports it as a
    /// user's frontend would (default: `pkg` when `pkg/browser.js` exists).
    pub pkg_dir: Option<PathBuf>,
    pub log_format: LogFormat,
    /// `refresh_transport`: JSON bodies (default) or an `HttpOnly` cookie.
    pub refresh_transport: RefreshTransport,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Settings`' Debug redacts the keys.
        f.debug_struct("Config")
            .field("tokens", &self.tokens)
            .field("key_source", &self.key_source)
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("username_field", &self.username_field)
            .field("token_claims", &self.token_claims)
            .field("pbkdf2_iterations", &self.pbkdf2_iterations)
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .field("refresh_transport", &self.refresh_transport)
            .finish_non_exhaustive()
    }
}

/// Where configuration comes from: a file (optional), the environment, flags.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// `--config FILE`; `tollgate.toml` in the working folder is used if present.
    pub file: Option<PathBuf>,
    /// `TOLLGATE_*` variables (taken from the process environment by the CLI).
    pub env: BTreeMap<String, String>,
    /// Flags, by setting name (`bind`, `data_dir`).
    pub flags: BTreeMap<String, String>,
}

impl Sources {
    /// The process environment's `TOLLGATE_*` variables.
    pub fn from_process_env(file: Option<PathBuf>) -> Self {
        Self {
            file,
            // TOLLGATE_LOG is the log filter (read by the logger), and TOLLGATE_TEST_* the
            // test suites' (which backend, which database cluster): not settings.
            env: std::env::vars()
                .filter(|(k, _)| {
                    k.starts_with("TOLLGATE_")
                        && k != "TOLLGATE_LOG"
                        && !k.starts_with("TOLLGATE_TEST_")
                })
                .collect(),
            flags: BTreeMap::new(),
        }
    }
}

/// Parses "30m", "1h30m", "3d", "2w", "45s" or "90" into seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(secs);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => {
                return Err(format!(
                    "unknown unit {ch:?} in {text:?} (use s, m, h, d, w)"
                ))
            }
        };
        let n: u64 = number
            .parse()
            .map_err(|_| format!("{text:?} is not a duration like 30m or 1h30m"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("{text:?} is too long"))?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(format!("{text:?} ends without a unit"));
    }
    Ok(total)
}

fn env_value(name: &str, kind: Kind, text: &str) -> Result<toml::Value, ConfigError> {
    let bad =
        |what: &str| ConfigError::new(name, format!("TOLLGATE_{}: {what}", name.to_uppercase()));
    Ok(match kind {
        Kind::Duration | Kind::Str => toml::Value::String(text.into()),
        Kind::Bool => match text.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => toml::Value::Boolean(true),
            "0" | "false" | "no" | "off" => toml::Value::Boolean(false),
            _ => return Err(bad("expected true or false")),
        },
        Kind::Int => toml::Value::Integer(
            text.trim()
                .parse()
                .map_err(|_| bad("expected an integer"))?,
        ),
        Kind::List => toml::Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.into()))
                .collect(),
        ),
    })
}

impl Config {
    /// Reads and validates. The signing key may still be missing (`None` in the
    /// returned `NeedsKey`): [`Config::load`] resolves it from the data folder.
    pub fn load(sources: &Sources, generate_key: bool) -> Result<Config, ConfigError> {
        let table = merged(sources)?;
        let raw: Raw = table
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::new("config", e.message().to_string()))?;
        validate(raw, generate_key)
    }

    /// One setting's text as configured (file, environment, flags), unvalidated: for
    /// commands that need, say, the algorithm without loading (or creating) a key.
    pub fn peek(sources: &Sources, name: &str) -> Result<Option<String>, ConfigError> {
        Ok(merged(sources)?
            .get(name)
            .and_then(|v| v.as_str())
            .map(String::from))
    }
}

/// The file's table with environment variables and then flags laid over it.
fn merged(sources: &Sources) -> Result<toml::Table, ConfigError> {
    let mut table = match &sources.file {
        Some(path) => read_file(path)?,
        None if Path::new("tollgate.toml").exists() => read_file(Path::new("tollgate.toml"))?,
        None => toml::Table::new(),
    };
    for (var, value) in &sources.env {
        let name = var.trim_start_matches("TOLLGATE_").to_ascii_lowercase();
        let Some((_, kind)) = SETTINGS.iter().find(|(n, _)| *n == name) else {
            return Err(ConfigError::new(
                &name,
                format!("unknown environment variable {var}"),
            ));
        };
        table.insert(name.clone(), env_value(&name, *kind, value)?);
    }
    for (name, value) in &sources.flags {
        let kind = SETTINGS
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, k)| *k)
            .unwrap_or(Kind::Str);
        table.insert(name.clone(), env_value(name, kind, value)?);
    }
    Ok(table)
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new("config", format!("{}: {e}", path.display())))?;
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::new("config", format!("{}: {}", path.display(), e.message())))
}

fn duration(name: &str, raw: Option<RawDuration>, default: u64) -> Result<u64, ConfigError> {
    match raw {
        None => Ok(default),
        Some(RawDuration::Secs(s)) => Ok(s),
        Some(RawDuration::Text(t)) => parse_duration(&t).map_err(|e| ConfigError::new(name, e)),
    }
}

fn list(raw: Option<OneOrMany>, default: &[&str]) -> Vec<String> {
    match raw {
        None => default.iter().map(|s| s.to_string()).collect(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    }
}

/// `auth_header_name` as Simple JWT users write it: Django's `META` key
/// (`HTTP_X_ACCESS_TOKEN`: `HTTP_`, upper case, `-` as `_`) or the header's own name
/// (`X-Access-Token`). Both name the header `x-access-token`.
fn auth_header_name(raw: Option<&str>) -> Result<http::HeaderName, ConfigError> {
    let Some(raw) = raw else {
        return Ok(http::header::AUTHORIZATION);
    };
    let name = match raw.strip_prefix("HTTP_") {
        Some(meta) => meta.replace('_', "-"),
        None => raw.to_string(),
    };
    // Headers a proxy or the server itself owns would never carry a token of the client's.
    const RESERVED: &[&str] = &[
        "host",
        "cookie",
        "content-type",
        "content-length",
        "transfer-encoding",
        "connection",
        "origin",
        "tollgate-csrf",
    ];
    http::HeaderName::from_bytes(name.as_bytes())
        .ok()
        .filter(|name| !name.as_str().is_empty() && !RESERVED.contains(&name.as_str()))
        .ok_or_else(|| {
            ConfigError::new(
                "auth_header_name",
                format!("{raw:?}: use a header name like \"HTTP_X_ACCESS_TOKEN\" (Django's META spelling) or \"X-Access-Token\""),
            )
        })
}

/// `auth_token_classes`: `access`, `sliding`, or Simple JWT's class paths
/// (`rest_framework_simplejwt.tokens.SlidingToken`).
fn auth_token_classes(
    raw: Option<OneOrMany>,
) -> Result<Vec<tollgate_core::TokenKind>, ConfigError> {
    use tollgate_core::TokenKind;
    let mut classes = Vec::new();
    for name in list(raw, &["access"]) {
        let class = name.rsplit('.').next().unwrap_or_default();
        let kind = match class {
            "access" | "AccessToken" => TokenKind::Access,
            "sliding" | "SlidingToken" => TokenKind::Sliding,
            _ => {
                return Err(ConfigError::new(
                    "auth_token_classes",
                    format!("{name:?}: use \"access\", \"sliding\" or both (refresh tokens never authenticate requests)"),
                ))
            }
        };
        if !classes.contains(&kind) {
            classes.push(kind);
        }
    }
    if classes.is_empty() {
        return Err(ConfigError::new(
            "auth_token_classes",
            "at least one of \"access\" and \"sliding\"",
        ));
    }
    Ok(classes)
}

fn validate(raw: Raw, generate_key: bool) -> Result<Config, ConfigError> {
    let algorithm_name = raw.algorithm.clone().unwrap_or_else(|| "HS256".into());
    let algorithm = Algorithm::from_name(&algorithm_name)
        .map_err(|e| ConfigError::new("algorithm", e.to_string()))?;
    let data_dir = PathBuf::from(
        raw.data_dir
            .clone()
            .unwrap_or_else(|| "./tollgate-data".into()),
    );

    let backend = backend(raw.database_url.as_deref(), &data_dir)?;
    let backend = beside_django(backend, raw.django_schema.unwrap_or(false))?;
    let (signing_key, key_source) = signing_key(&raw, algorithm, &data_dir, generate_key)?;
    if matches!(backend, Backend::Postgres(_) | Backend::Django(_))
        && matches!(key_source, KeySource::DataDir(_))
    {
        return Err(ConfigError::new(
            "signing_key",
            "with database_url every replica must sign with the same key: set signing_key or signing_key_file (a key generated in one replica's data folder would be its own)",
        ));
    }
    let mut signing_key = signing_key;
    let kek = key_encryption_key(&raw)?;
    let signing_key_rotation =
        match duration("signing_key_rotation", raw.signing_key_rotation.clone(), 0)? {
            0 => None,
            _ if kek.is_none() => {
                return Err(ConfigError::new(
                    "signing_key_rotation",
                    "rotating keys are kept in the store, sealed: set key_encryption_key too",
                ))
            }
            secs => Some(secs),
        };
    let jwks_max_age = duration(
        "jwks_max_age",
        raw.jwks_max_age.clone(),
        crate::keyset::DEFAULT_JWKS_MAX_AGE,
    )?;
    if !(1..=crate::keyset::MAX_JWKS_MAX_AGE).contains(&jwks_max_age) {
        return Err(ConfigError::new(
            "jwks_max_age",
            format!(
                "must be from 1 s to {} s (a day): verifiers re-read the JWKS this often, and a next key waits two of these before it signs",
                crate::keyset::MAX_JWKS_MAX_AGE
            ),
        ));
    }
    let mut allowed_algorithms = vec![algorithm];
    for name in list(raw.allowed_algorithms.clone(), &[]) {
        let allowed = Algorithm::from_name(&name)
            .map_err(|e| ConfigError::new("allowed_algorithms", e.to_string()))?;
        if !allowed_algorithms.contains(&allowed) {
            allowed_algorithms.push(allowed);
        }
    }
    if let Some(verifying) = verifying_key_text(&raw)? {
        let verifying = VerifyingKey::from_pem(algorithm, &verifying)
            .or_else(|_| VerifyingKey::from_jwk(algorithm, &verifying))
            .map_err(|e| ConfigError::new("verifying_key", e.to_string()))?;
        if algorithm.is_hmac() {
            return Err(ConfigError::new(
                "verifying_key",
                "HMAC algorithms use the signing key to verify",
            ));
        }
        if verifying.thumbprint() != signing_key.verifying_key().thumbprint() {
            return Err(ConfigError::new(
                "verifying_key",
                "does not match the signing key",
            ));
        }
        signing_key = signing_key.with_kid(verifying.kid().to_string());
    }

    let audience = match raw.audience {
        None => None,
        Some(OneOrMany::One(a)) => Some(Audience::One(a)),
        Some(OneOrMany::Many(v)) => Some(Audience::Many(v)),
    };
    let claims = ClaimNames {
        user_id: raw.user_id_claim.unwrap_or_else(|| "user_id".into()),
        token_type: raw.token_type_claim.unwrap_or_else(|| "token_type".into()),
        jti: raw.jti_claim.unwrap_or_else(|| "jti".into()),
        refresh_exp: raw
            .sliding_token_refresh_exp_claim
            .unwrap_or_else(|| "refresh_exp".into()),
    };
    if let Some(field) = &raw.user_id_field {
        if field != "id" {
            return Err(ConfigError::new(
                "user_id_field",
                "only \"id\" is supported",
            ));
        }
    }
    // Keys being rotated out: tokens they signed keep verifying until they expire, and
    // minted tokens carry a `kid` so verifiers (and JWKS users) can tell keys apart.
    let previous: Vec<VerifyingKey> = list(raw.previous_verifying_keys, &[])
        .iter()
        .map(|text| {
            let key = if algorithm.is_hmac() {
                VerifyingKey::hmac(algorithm, text.as_bytes())
            } else if text.trim_start().starts_with('{') {
                VerifyingKey::from_jwk(algorithm, text)
            } else {
                VerifyingKey::from_pem(algorithm, text)
                    .or_else(|_| SigningKey::from_pem(algorithm, text).map(|k| k.verifying_key()))
            };
            key.map_err(|e| {
                ConfigError::new("previous_verifying_keys", format!("{e} ({})", e.code()))
            })
        })
        .collect::<Result<_, _>>()?;
    let rotating = !previous.is_empty();
    let lifetimes = [
        duration("access_token_lifetime", raw.access_token_lifetime, 30 * 60)?,
        duration(
            "refresh_token_lifetime",
            raw.refresh_token_lifetime,
            3 * 86_400,
        )?,
        duration("sliding_token_lifetime", raw.sliding_token_lifetime, 5 * 60)?,
        duration(
            "sliding_token_refresh_lifetime",
            raw.sliding_token_refresh_lifetime,
            86_400,
        )?,
    ];
    // Default: the longest lifetime configured, so a validly signed token this
    // configuration would never mint (exp in year 9999) is refused. Tokens minted under
    // an earlier configuration with a longer lifetime need it raised until they expire.
    let longest = lifetimes.into_iter().max().unwrap_or_default();
    let max_token_lifetime = match raw.max_token_lifetime {
        None => None,
        raw => Some(duration("max_token_lifetime", raw, 0)?),
    };
    if max_token_lifetime.is_some_and(|max| max < longest) {
        return Err(ConfigError::new(
            "max_token_lifetime",
            format!("must be at least the longest token lifetime ({longest} s), or the server refuses its own tokens"),
        ));
    }
    if max_token_lifetime.is_some_and(|max| max > tollgate_core::MAX_LIFETIME) {
        return Err(ConfigError::new(
            "max_token_lifetime",
            "must be at most 10 years, as every lifetime",
        ));
    }
    let [access, refresh, sliding, sliding_refresh] = lifetimes;
    let tokens = Settings::builder(signing_key)
        .previous_keys(previous)
        .include_kid(rotating)
        .access_token_lifetime(access)
        .refresh_token_lifetime(refresh)
        .sliding_token_lifetime(sliding)
        .sliding_token_refresh_lifetime(sliding_refresh)
        .rotate_refresh_tokens(raw.rotate_refresh_tokens.unwrap_or(true))
        .blacklist_after_rotation(raw.blacklist_after_rotation.unwrap_or(true))
        .leeway(duration("leeway", raw.leeway, 0)?)
        .audience(audience)
        .issuer(raw.issuer)
        .claim_names(claims)
        .max_token_lifetime(max_token_lifetime)
        .build()
        .map_err(|e| ConfigError::new("token settings", e.to_string()))?;

    let auth_header_types = list(raw.auth_header_types, &["Bearer"]);
    if auth_header_types.is_empty()
        || auth_header_types.iter().any(|t| {
            t.is_empty()
                || t.chars()
                    .any(|c| c.is_whitespace() || !c.is_ascii_graphic())
        })
    {
        return Err(ConfigError::new(
            "auth_header_types",
            "one or more words like \"Bearer\"",
        ));
    }
    let auth_header_name = auth_header_name(raw.auth_header_name.as_deref())?;
    let auth_token_classes = auth_token_classes(raw.auth_token_classes)?;
    let jwk_url = match raw.jwk_url.filter(|url| !url.is_empty()) {
        None => None,
        Some(_) if algorithm.is_hmac() => {
            return Err(ConfigError::new(
                "jwk_url",
                format!("keys from a URL are public keys, never HMAC secrets: set algorithm to the outside issuer's (EdDSA, ES256, RS256, ...), not {}", algorithm.name()),
            ))
        }
        Some(url) => match crate::remote_jwks::JwkUrl::parse(&url) {
            Ok(parsed) => Some((parsed, url)),
            Err(why) => {
                return Err(ConfigError::new(
                    "jwk_url",
                    format!("{url:?}: {why}"),
                ))
            }
        },
    };
    let username_field = match raw.username_field.as_deref().unwrap_or("username") {
        "username" => UsernameField::Username,
        "email" => UsernameField::Email,
        other => {
            return Err(ConfigError::new(
                "username_field",
                format!("{other:?}: use \"username\" or \"email\""),
            ))
        }
    };
    let token_claims = list(raw.token_claims, &["username", "email", "is_staff"]);
    for claim in &token_claims {
        if tokens.claim_names().is_reserved(claim) || claim.is_empty() {
            return Err(ConfigError::new(
                "token_claims",
                format!("{claim:?} is managed by tollgate"),
            ));
        }
        if ["password", "revoked_before_ms", "revoked_reason", "attrs"].contains(&claim.as_str()) {
            return Err(ConfigError::new(
                "token_claims",
                format!("{claim:?} must never be put in a token"),
            ));
        }
    }
    let session_id_claim = raw.session_id_claim.filter(|c| !c.is_empty());
    if let Some(claim) = &session_id_claim {
        let taken = tokens.claim_names().is_reserved(claim) || token_claims.contains(claim);
        if taken || claim.len() > 64 || claim.chars().any(|c| c.is_control()) {
            return Err(ConfigError::new(
                "session_id_claim",
                format!("{claim:?} is a claim tollgate or token_claims already use, or not a usable claim name"),
            ));
        }
    }
    let pbkdf2_iterations = raw
        .pbkdf2_iterations
        .unwrap_or(u64::from(crate::users::password::DEFAULT_ITERATIONS));
    let pbkdf2_iterations = u32::try_from(pbkdf2_iterations)
        .ok()
        .filter(|n| (1..=100_000_000).contains(n))
        .ok_or_else(|| ConfigError::new("pbkdf2_iterations", "between 1 and 100000000"))?;
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let hash_concurrency = raw.hash_concurrency.map_or(cpus, |n| n as usize);
    if !(1..=1024).contains(&hash_concurrency) {
        return Err(ConfigError::new("hash_concurrency", "between 1 and 1024"));
    }
    let rate = |name: &str, raw: Option<String>, default: &str| {
        parse_rate(raw.as_deref().unwrap_or(default)).map_err(|e| ConfigError::new(name, e))
    };
    let bind = raw.bind.unwrap_or_else(|| "127.0.0.1:8000".into());
    let bind: SocketAddr = bind.parse().map_err(|_| {
        ConfigError::new(
            "bind",
            format!("{bind:?} is not an address like 127.0.0.1:8000"),
        )
    })?;
    let cors_allowed_origins = list(raw.cors_allowed_origins, &[]);
    for origin in &cors_allowed_origins {
        let ok = (origin.starts_with("http://") || origin.starts_with("https://"))
            && !origin.ends_with('/')
            && !origin.contains(char::is_whitespace);
        if !ok && origin != "*" {
            return Err(ConfigError::new(
                "cors_allowed_origins",
                format!("{origin:?}: origins look like https://app.example.com (no path, no trailing slash)"),
            ));
        }
    }
    let log_format = match raw.log_format.as_deref().unwrap_or("text") {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            return Err(ConfigError::new(
                "log_format",
                format!("{other:?}: use text or json"),
            ))
        }
    };
    let refresh_reuse_interval =
        duration("refresh_reuse_interval", raw.refresh_reuse_interval, 10)?;
    if refresh_reuse_interval > MAX_REUSE_INTERVAL {
        return Err(ConfigError::new(
            "refresh_reuse_interval",
            format!(
                "{refresh_reuse_interval} s is longer than {MAX_REUSE_INTERVAL} s: a thief holding a rotated-out token gets the live successor for that long (see SECURITY.md)"
            ),
        ));
    }
    let refresh_transport = refresh_transport(
        raw.refresh_transport,
        raw.refresh_cookie_name,
        raw.refresh_cookie_domain,
        raw.refresh_cookie_secure,
        bind,
    )?;
    Ok(Config {
        tokens,
        key_source,
        key_encryption_key: kek,
        signing_key_rotation,
        jwks_max_age,
        allowed_algorithms,
        update_last_login: raw.update_last_login.unwrap_or(false),
        check_user_is_active: raw.check_user_is_active.unwrap_or(true),
        check_revoke_token: raw.check_revoke_token.unwrap_or(true),
        reuse_detection: raw.reuse_detection.unwrap_or(true),
        refresh_reuse_interval,
        session_id_claim,
        auth_header_types,
        auth_header_name,
        auth_token_classes,
        jwk_url,
        username_field,
        token_claims,
        pbkdf2_iterations,
        hash_concurrency,
        login_throttle_username: rate(
            "login_throttle_username",
            raw.login_throttle_username,
            "10/min",
        )?,
        login_throttle_ip: rate("login_throttle_ip", raw.login_throttle_ip, "60/min")?,
        bind,
        flush_expired_interval: duration(
            "flush_expired_interval",
            raw.flush_expired_interval,
            3600,
        )?
        .max(1),
        pkg_dir: raw.pkg_dir.map(PathBuf::from).or_else(|| {
            let default = PathBuf::from("pkg");
            default.join("browser.js").exists().then_some(default)
        }),
        www_dir: raw.www_dir.map(PathBuf::from).or_else(|| {
            let default = PathBuf::from("www");
            default.join("index.html").exists().then_some(default)
        }),
        data_dir,
        backend,
        cors_allowed_origins,
        log_format,
        refresh_transport,
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod rotation_tests;
