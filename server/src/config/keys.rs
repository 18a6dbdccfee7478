//! The signing and verifying keys of the configuration: from a setting, a file, or the
//! key file in the data folder (generated on first start, owner-only).

use std::path::{Path, PathBuf};

use tollgate_core::{Algorithm, SigningKey};

use super::{ConfigError, KeySource, Raw};
pub use crate::keyset::generate_key_text;
use crate::keyset::{parse_key_text, Kek};

pub(super) fn verifying_key_text(raw: &Raw) -> Result<Option<String>, ConfigError> {
    match (&raw.verifying_key, &raw.verifying_key_file) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            "verifying_key",
            "set verifying_key or verifying_key_file, not both",
        )),
        (Some(text), None) => Ok(Some(text.clone())),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(Some)
            .map_err(|e| ConfigError::new("verifying_key_file", format!("{path}: {e}"))),
        (None, None) => Ok(None),
    }
}

/// The key file generated in the data folder when no key is configured.
pub fn data_dir_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("signing_key")
}

fn parse_key(algorithm: Algorithm, text: &str, setting: &str) -> Result<SigningKey, ConfigError> {
    parse_key_text(algorithm, text)
        .map_err(|e| ConfigError::new(setting, format!("{e} ({})", e.code())))
}

/// `key_encryption_key` / `key_encryption_key_file`: the key sealing stored signing keys.
pub(super) fn key_encryption_key(raw: &Raw) -> Result<Option<Kek>, ConfigError> {
    let (setting, text) = match (&raw.key_encryption_key, &raw.key_encryption_key_file) {
        (Some(_), Some(_)) => {
            return Err(ConfigError::new(
                "key_encryption_key",
                "set key_encryption_key or key_encryption_key_file, not both",
            ))
        }
        (Some(text), None) => ("key_encryption_key", text.clone()),
        (None, Some(path)) => (
            "key_encryption_key_file",
            std::fs::read_to_string(path)
                .map_err(|e| ConfigError::new("key_encryption_key_file", format!("{path}: {e}")))?,
        ),
        (None, None) => return Ok(None),
    };
    Kek::from_text(&text)
        .map(Some)
        .map_err(|why| ConfigError::new(setting, why))
}

pub(super) fn signing_key(
    raw: &Raw,
    algorithm: Algorithm,
    data_dir: &Path,
    generate: bool,
) -> Result<(SigningKey, KeySource), ConfigError> {
    match (&raw.signing_key, &raw.signing_key_file) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            "signing_key",
            "set signing_key or signing_key_file, not both",
        )),
        (Some(text), None) => Ok((
            parse_key(algorithm, text, "signing_key")?,
            KeySource::Setting,
        )),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::new("signing_key_file", format!("{path}: {e}")))?;
            let text = if algorithm.is_hmac() {
                text.trim_end_matches(['\n', '\r']).to_string()
            } else {
                text
            };
            Ok((
                parse_key(algorithm, &text, "signing_key_file")?,
                KeySource::File(path.into()),
            ))
        }
        (None, None) => {
            let path = data_dir_key_path(data_dir);
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && generate => {
                    write_new_key(&path, algorithm)?
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(ConfigError::new(
                        "signing_key",
                        format!("no key configured and none in {} yet (run `tollgate serve` or `tollgate keys generate` once)", path.display()),
                    ))
                }
                Err(e) => return Err(ConfigError::new("signing_key", format!("{}: {e}", path.display()))),
            };
            let text = if algorithm.is_hmac() {
                text.trim_end_matches(['\n', '\r']).to_string()
            } else {
                text
            };
            let is_pem = text.trim_start().starts_with("-----BEGIN");
            if is_pem == algorithm.is_hmac() {
                return Err(ConfigError::new(
                    "signing_key",
                    format!(
                        "{} holds a key for another algorithm than {algorithm}",
                        path.display()
                    ),
                ));
            }
            Ok((
                parse_key(algorithm, &text, "signing_key")?,
                KeySource::DataDir(path),
            ))
        }
    }
}

/// Generates a key for `algorithm` and writes it to `path` (owner-only permissions),
/// refusing to replace an existing file.
pub fn write_new_key(path: &Path, algorithm: Algorithm) -> Result<String, ConfigError> {
    let text = generate_key_text(algorithm).map_err(|e| ConfigError::new("signing_key", e))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| ConfigError::new("data_dir", format!("{}: {e}", dir.display())))?;
    }
    write_private(path, &text)
        .map_err(|e| ConfigError::new("signing_key", format!("{}: {e}", path.display())))?;
    Ok(text)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
