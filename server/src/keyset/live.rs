//! The keys a running server signs and verifies with: the configured settings until the
//! store holds a key set with a current key, then the set's (re-read every few seconds,
//! and at once after a `tollgate keys` command through the admin socket), so a rotation
//! or a revocation takes effect without a restart on every replica.

use std::sync::{Arc, RwLock};

use tollgate_core::{Algorithm, Settings, Verifier, VerifyingKey};

use super::{open, Kek, KeyError};
use crate::store::{KeyState, Store, StoredKey};

/// How often a server reads the key set again (each replica on its own).
pub const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The token settings in force, swapped as the stored key set changes.
pub struct LiveKeys {
    /// The configuration's settings (its `signing_key` and `previous_verifying_keys`).
    configured: Arc<Settings>,
    kek: Option<Kek>,
    /// `signing_key_rotation` in ms (`None`: off).
    rotation_ms: Option<u64>,
    /// How long a next key is published before it may sign ([`super::publish_ahead_ms`]).
    hold_ms: u64,
    /// `allowed_algorithms`.
    allowed: Vec<Algorithm>,
    store: Store,
    current: RwLock<Arc<InForce>>,
    /// The (kid, state) pairs the settings in force were built from; held for a whole
    /// reload, so that a slower reload of an older set never replaces a newer one.
    loaded: tokio::sync::Mutex<Vec<(String, KeyState)>>,
}

impl std::fmt::Debug for LiveKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveKeys").finish_non_exhaustive()
    }
}

impl LiveKeys {
    /// Starts from the configured settings; [`LiveKeys::reload`] takes the stored set up.
    pub fn new(
        configured: Settings,
        kek: Option<Kek>,
        rotation_ms: Option<u64>,
        hold_ms: u64,
        allowed: Vec<Algorithm>,
        store: Store,
    ) -> Self {
        let configured = Arc::new(configured);
        Self {
            current: RwLock::new(Arc::new(InForce {
                settings: Arc::clone(&configured),
                others: Vec::new(),
            })),
            configured,
            kek,
            rotation_ms,
            hold_ms,
            allowed,
            store,
            loaded: tokio::sync::Mutex::new(Vec::new()),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> Arc<Settings> {
        Arc::clone(&self.in_force().settings)
    }

    /// The keys in force: the settings that sign, and the verifiers of the other allowed
    /// algorithms.
    pub fn in_force(&self) -> Arc<InForce> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Reads the stored key set and, if it changed, builds the settings it implies and
    /// puts them in force. On an error the settings in force stay (and the error is
    /// returned to be logged): a store that cannot be read never stops signing.
    pub async fn reload(&self) -> Result<bool, KeyError> {
        let mut loaded = self.loaded.lock().await;
        let keys = self.store.signing_keys().await?;
        let seen: Vec<(String, KeyState)> = keys.iter().map(|k| (k.kid.clone(), k.state)).collect();
        if *loaded == seen {
            return Ok(false);
        }
        let in_force = in_force(&self.configured, &self.allowed, &keys, self.kek.as_ref())?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(in_force);
        *loaded = seen;
        Ok(true)
    }

    /// Every [`RELOAD_EVERY`] for as long as the server runs: retires the previous keys
    /// whose tokens have all expired ([`super::retire_due`]), rotates when
    /// `signing_key_rotation` says so ([`super::rotate_if_due`]), then reloads. `now_ms`
    /// is the server's clock.
    pub async fn reload_periodically(self: Arc<Self>, now_ms: impl Fn() -> u64) {
        let mut tick = tokio::time::interval(RELOAD_EVERY);
        let after_ms = super::retire_after_ms(&self.configured);
        loop {
            tick.tick().await;
            if let Some(kek) = &self.kek {
                match super::retire_due(&self.store, kek, now_ms(), after_ms).await {
                    Ok(retired) if !retired.is_empty() => {
                        tracing::info!(
                            ?retired,
                            "previous signing keys retired: every token they signed has expired"
                        );
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::error!(error = %err, code = err.code(), "retiring previous signing keys failed");
                    }
                }
                if let Some(period_ms) = self.rotation_ms {
                    let algorithm = self.configured.algorithm();
                    match super::rotate_if_due(
                        &self.store,
                        kek,
                        algorithm,
                        now_ms(),
                        period_ms,
                        self.hold_ms,
                    )
                    .await
                    {
                        Ok(Some(rotated)) => {
                            tracing::info!(?rotated, "signing keys rotated (signing_key_rotation)")
                        }
                        Ok(None) => {}
                        Err(err) => {
                            tracing::error!(error = %err, code = err.code(), "rotating the signing keys failed");
                        }
                    }
                }
            }
            match self.reload().await {
                Ok(true) => {
                    let settings = self.settings();
                    let kid = settings.signing_key().map(|k| k.kid().to_string());
                    tracing::info!(kid = ?kid, "signing keys changed in the store: taken up");
                }
                Ok(false) => {}
                Err(err) => {
                    tracing::error!(error = %err, code = err.code(), "the stored signing keys cannot be used; the keys in force stay")
                }
            }
        }
    }
}

/// What signs and verifies: the settings of the signing algorithm, and one verifier per
/// other allowed algorithm that has keys (an algorithm being migrated from or to).
#[derive(Debug)]
pub struct InForce {
    pub settings: Arc<Settings>,
    pub others: Vec<Verifier>,
}

impl InForce {
    /// The verifier of `token`'s algorithm among those in force (the signing one when the
    /// token names no other): a header can only pick an allowed algorithm, each with its
    /// own keys, never a key of another algorithm.
    pub fn verifier(&self, token: &str) -> &Verifier {
        if !self.others.is_empty() {
            if let Ok(untrusted) = tollgate_core::Untrusted::parse(token) {
                if let Some(v) = self
                    .others
                    .iter()
                    .find(|v| v.algorithm().name() == untrusted.alg())
                {
                    return v;
                }
            }
        }
        self.settings.verifier()
    }

    /// Every verifying key in force.
    pub fn keys(&self) -> impl Iterator<Item = &VerifyingKey> {
        self.settings
            .verifier()
            .keys()
            .iter()
            .chain(self.others.iter().flat_map(|v| v.keys()))
    }
}

/// [`settings_for`] plus verifiers for the keys of the other `allowed` algorithms (stored
/// next and previous keys, and the configured keys).
pub fn in_force(
    configured: &Arc<Settings>,
    allowed: &[Algorithm],
    keys: &[StoredKey],
    kek: Option<&Kek>,
) -> Result<InForce, KeyError> {
    let settings = settings_for(configured, keys, kek)?;
    let signing = settings.algorithm();
    let mut others = Vec::new();
    for &algorithm in allowed.iter().filter(|a| **a != signing) {
        let mut verifying: Vec<VerifyingKey> = Vec::new();
        if let Some(kek) = kek {
            for key in keys.iter().filter(|k| {
                matches!(k.state, KeyState::Next | KeyState::Previous)
                    && k.algorithm == algorithm.name()
            }) {
                verifying.push(open(kek, key)?.key.verifying_key());
            }
        }
        let dropped = |kid: &str| keys.iter().any(|k| k.kid == kid && !k.state.verifies());
        verifying.extend(
            configured
                .verifier()
                .keys()
                .iter()
                .filter(|k| k.algorithm() == algorithm && !dropped(k.kid()))
                .cloned(),
        );
        if !verifying.is_empty() {
            let verifier = configured
                .verifier()
                .with_keys(algorithm, verifying)
                .map_err(|e| KeyError::Unusable(e.to_string()))?;
            others.push(verifier);
        }
    }
    Ok(InForce { settings, others })
}

/// The settings a stored key set implies: the configured settings while the set has no
/// current or next key; else the current key signs (the configured one while none is
/// current), every token carries its `kid`, and it, the next and previous keys and the
/// configured keys verify. Retired and revoked keys never do.
pub fn settings_for(
    configured: &Arc<Settings>,
    keys: &[StoredKey],
    kek: Option<&Kek>,
) -> Result<Arc<Settings>, KeyError> {
    let current = keys.iter().find(|k| k.state == KeyState::Current);
    let verifying: Vec<&StoredKey> = keys
        .iter()
        .filter(|k| matches!(k.state, KeyState::Next | KeyState::Previous))
        .collect();
    if current.is_none() && verifying.is_empty() {
        return Ok(Arc::clone(configured));
    }
    let kek = kek.ok_or(KeyError::NoKek)?;
    let signing = match current {
        Some(current) => open(kek, current)?.key,
        None => configured
            .signing_key()
            .cloned()
            .ok_or_else(|| KeyError::Unusable("no signing key configured".into()))?,
    };
    let algorithm = signing.algorithm();
    let mut others: Vec<VerifyingKey> = Vec::new();
    for key in verifying {
        let opened = open(kek, key)?.key;
        if opened.algorithm() == algorithm {
            others.push(opened.verifying_key());
        }
    }
    // The configured keys keep verifying what they signed before the set took over,
    // unless the set revoked or retired one of them.
    let dropped = |kid: &str| keys.iter().any(|k| k.kid == kid && !k.state.verifies());
    for key in configured.verifier().keys() {
        if key.algorithm() == algorithm
            && !dropped(key.kid())
            && !others.iter().any(|o| o.kid() == key.kid())
            && key.kid() != signing.kid()
        {
            others.push(key.clone());
        }
    }
    configured
        .with_keys(signing, others, true)
        .map(Arc::new)
        .map_err(|e| KeyError::Unusable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use tollgate_core::{Algorithm, Claims, Expect, Jti, SigningKey, TokenKind};

    use super::*;
    use crate::keyset::fresh_key;

    const SECRET: &[u8] = b"configured-secret-configured-secret-0123456789";

    fn configured() -> Arc<Settings> {
        let key = SigningKey::hmac(Algorithm::Hs256, SECRET).unwrap();
        Arc::new(Settings::builder(key).build().unwrap())
    }

    fn mint(settings: &Settings) -> String {
        let jti = Jti::from_random_bytes([5; 16]);
        settings
            .mint(TokenKind::Access, "1", &Claims::new(), 1_700_000_000, jti)
            .unwrap()
            .token
    }

    fn verifies(settings: &Settings, token: &str) -> bool {
        settings
            .verifier()
            .verify(token, Expect::Untyped, 1_700_000_000, |_| false)
            .is_ok()
    }

    #[test]
    fn the_stored_set_signs_and_verifies_and_revoked_keys_never_do() {
        let kek = Kek::from_bytes([1; 32]);
        let configured = configured();
        let same = settings_for(&configured, &[], None).unwrap();
        assert!(
            Arc::ptr_eq(&same, &configured),
            "no set: the configured settings"
        );
        let old_token = mint(&configured);

        let alg = Algorithm::Hs256;
        let mut previous = fresh_key(&kek, alg, KeyState::Current, 1).unwrap();
        let previous_settings = settings_for(&configured, &[previous.clone()], Some(&kek)).unwrap();
        let previous_token = mint(&previous_settings);
        let header = tollgate_core::decode(&previous_token).unwrap().header();
        assert_eq!(header.get_str("kid"), Some(previous.kid.as_str()));
        previous = super::super::moved(&kek, &previous, KeyState::Previous, 2).unwrap();
        let current = fresh_key(&kek, alg, KeyState::Current, 2).unwrap();
        let set = vec![previous.clone(), current.clone()];
        assert_eq!(
            settings_for(&configured, &set, None).unwrap_err().code(),
            "key_encryption_key_missing"
        );
        let settings = settings_for(&configured, &set, Some(&kek)).unwrap();
        assert_eq!(settings.signing_key().unwrap().kid(), current.kid);
        for token in [&old_token, &previous_token, &mint(&settings)] {
            assert!(verifies(&settings, token), "{token}");
        }
        let revoked = super::super::moved(&kek, &previous, KeyState::Revoked, 3).unwrap();
        let settings = settings_for(&configured, &[revoked, current.clone()], Some(&kek)).unwrap();
        assert!(!verifies(&settings, &previous_token));
        assert!(verifies(&settings, &old_token));
        // A record changed outside tollgate does not open: refused, never used.
        let mut forged = current;
        forged.state = KeyState::Next;
        let mut other = fresh_key(&kek, alg, KeyState::Current, 4).unwrap();
        other.kid = "x".into();
        assert_eq!(
            settings_for(&configured, &[forged, other], Some(&kek))
                .unwrap_err()
                .code(),
            "key_unsealable"
        );
    }
}
