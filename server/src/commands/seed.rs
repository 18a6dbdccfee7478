//! `tollgate tokens seed`: fills a store with what the server would hold after issuing
//! many refresh tokens, without a million HTTP calls. Used to measure the server with a
//! large store (BENCHMARKS.md); runs offline, on a database no server holds.
//!
//! The tokens are real: minted with the configured key, lifetimes and custom claims, for
//! the users already in the store, their records built as the server builds them. They
//! come in rotation chains (families): each blacklisted token is the rotated-out
//! predecessor of the next one in its family, as `POST /api/token/refresh/` leaves them,
//! and the last token of every family is live. Creation times are spread over the past so
//! that the chosen share of the tokens has already expired (work for `flush-expired`).

use tollgate_core::{Jti, TokenKind};

use crate::{
    config::Config,
    store::{BlacklistReason, Blacklisted, Outstanding, Store, StoreError, StoredKind, User},
    tokens::records::{custom_claims, outstanding},
};

/// What to seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Outstanding refresh token records, blacklisted ones included (Simple JWT's
    /// `OutstandingToken` rows).
    pub outstanding: u64,
    /// How many of them are blacklisted (rotated out); fewer than `outstanding`, since
    /// every family ends with a live token.
    pub blacklisted: u64,
    /// About this share of the records (percent, 0 to 90) has already expired.
    pub expired_percent: u8,
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seeded {
    pub outstanding: u64,
    pub blacklisted: u64,
    pub families: u64,
    pub users: u64,
    /// Records whose expiry had passed when they were written.
    pub expired: u64,
}

/// Why seeding could not start or stopped.
#[derive(Debug)]
pub enum SeedError {
    /// The plan is impossible (and nothing was written).
    Plan(String),
    Store(StoreError),
    Token(tollgate_core::Error),
}

impl From<StoreError> for SeedError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<tollgate_core::Error> for SeedError {
    fn from(err: tollgate_core::Error) -> Self {
        Self::Token(err)
    }
}

/// Tokens handed to `Store::bulk_load` at a time: bounds the memory of the records
/// waiting to be written (the store writes them key by key, not as a sled batch).
const BATCH_TOKENS: usize = 20_000;

/// SplitMix64: the jtis' random bits and the creation times. Not for secrets: seeded
/// tokens only fill a store.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    fn jti(&mut self, unix_ms: u64) -> Jti {
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&self.next().to_le_bytes());
        random[8..].copy_from_slice(&self.next().to_le_bytes()[..2]);
        Jti::v7(unix_ms, random)
    }
}

/// Seeds `store` as `plan` says, as of `now_ms`; `progress` hears the running total of
/// records after every batch.
pub async fn seed(
    config: &Config,
    store: &Store,
    plan: Plan,
    now_ms: u64,
    seed: u64,
    mut progress: impl FnMut(u64),
) -> Result<Seeded, SeedError> {
    if plan.outstanding == 0 {
        return Err(SeedError::Plan("--outstanding must be at least 1".into()));
    }
    if plan.blacklisted >= plan.outstanding {
        return Err(SeedError::Plan(
            "--blacklisted must be below --outstanding: every blacklisted token is the \
             rotated-out predecessor of a live one"
                .into(),
        ));
    }
    if plan.expired_percent > 90 {
        return Err(SeedError::Plan("--expired-percent is 0 to 90".into()));
    }
    let users: Vec<User> = store.users().await?;
    if users.is_empty() {
        return Err(SeedError::Plan(
            "the store has no users: add one first (tollgate users add)".into(),
        ));
    }
    let settings = &config.tokens;
    let lifetime = settings.refresh_token_lifetime();
    // A client rotates its refresh token about once per access token lifetime.
    let gap = settings.access_token_lifetime().max(1);
    // Logins are spread evenly over `window_ms`, which ends when the last
    // chain's last rotation is done; the records created more than `lifetime` ago (about
    // the first `expired_percent` of it) have expired. Families start in time order, as
    // a server records them: sled then appends at the right edge of each tree instead
    // of splitting leaves all over it.
    let longest_chain = plan
        .outstanding
        .div_ceil(plan.outstanding - plan.blacklisted);
    let window_ms = lifetime * 100_000 / (100 - u64::from(plan.expired_percent));
    let families = plan.outstanding - plan.blacklisted;
    let first_ms = now_ms
        .saturating_sub(window_ms)
        .saturating_sub((longest_chain - 1) * gap * 1000);
    let step_ms = window_ms / families;
    let now = now_ms / 1000;
    let claims: Vec<_> = users
        .iter()
        .map(|u| custom_claims(&config.token_claims, u))
        .collect();
    let mut rng = Rng(seed);
    let mut done = Seeded {
        families,
        users: users.len() as u64,
        ..Seeded::default()
    };
    let mut tokens: Vec<Outstanding> = Vec::with_capacity(BATCH_TOKENS + 64);
    let mut blacklist: Vec<Blacklisted> = Vec::new();
    for family in 0..families {
        // Chains as even as the counts allow.
        let length = plan.outstanding / families + u64::from(family < plan.outstanding % families);
        let owner = (family % users.len() as u64) as usize;
        let user_id = users[owner].id.to_string();
        let start_ms = first_ms + family * step_ms + rng.below(step_ms.max(1));
        let mut family_id = None;
        for position in 0..length {
            let created_ms = start_ms + position * gap * 1000;
            let created = created_ms / 1000;
            let jti = rng.jti(created_ms);
            let issued =
                settings.mint(TokenKind::Refresh, &user_id, &claims[owner], created, jti)?;
            let mut record = outstanding(
                &issued.token,
                &issued.jti,
                users[owner].id,
                StoredKind::Refresh,
                created_ms,
                issued.exp,
            );
            let family_id = family_id.get_or_insert_with(|| record.jti.clone());
            record.family.clone_from(family_id);
            if position > 0 {
                // The entry of its predecessor, pushed last, names it as the successor.
                if let Some(previous) = blacklist.last_mut() {
                    previous.successor = Some(record.jti.clone());
                }
            }
            if position + 1 < length {
                blacklist.push(Blacklisted {
                    jti: record.jti.clone(),
                    blacklisted_at: created + gap,
                    reason: BlacklistReason::Rotated,
                    expires_at: record.expires_at,
                    successor: None,
                });
            }
            done.expired += u64::from(record.expires_at <= now);
            tokens.push(record);
        }
        if tokens.len() >= BATCH_TOKENS || family + 1 == families {
            store.bulk_load(&tokens, &blacklist).await?;
            done.outstanding += tokens.len() as u64;
            done.blacklisted += blacklist.len() as u64;
            tokens.clear();
            blacklist.clear();
            progress(done.outstanding);
        }
    }
    store.flush().await?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use tollgate_core::Expect;

    use super::*;
    use crate::{
        config::Sources,
        store::{RotateRule, Rotation},
    };

    const SECRET: &str = "tollgate-test-vectors-hmac-secret-0123456789abcdefghijklmnopqrstuvwxyz";
    const NOW_MS: u64 = 1_800_000_000_000;

    async fn setup(dir: &tempfile::TempDir) -> (Config, Store) {
        let mut sources = Sources::default();
        sources
            .env
            .insert("TOLLGATE_SIGNING_KEY".into(), SECRET.into());
        sources
            .flags
            .insert("data_dir".into(), dir.path().display().to_string());
        let config = Config::load(&sources, false).unwrap();
        let store = Store::open(dir.path()).unwrap();
        for name in ["alice", "bob"] {
            let user = User::new(0, name, &format!("{name}@example.com"), "!".into(), 0);
            store.add_user(user, false).await.unwrap();
        }
        (config, store)
    }

    fn plan(outstanding: u64, blacklisted: u64, expired_percent: u8) -> Plan {
        Plan {
            outstanding,
            blacklisted,
            expired_percent,
        }
    }

    #[tokio::test]
    async fn seeds_what_the_server_would_hold() {
        let dir = tempfile::tempdir().unwrap();
        let (config, store) = setup(&dir).await;
        let plan = plan(1_000, 400, 20);
        let mut batches = 0;
        let seeded = seed(&config, &store, plan, NOW_MS, 7, |_| batches += 1)
            .await
            .unwrap();
        assert_eq!(
            (
                seeded.outstanding,
                seeded.blacklisted,
                seeded.families,
                seeded.users
            ),
            (1_000, 400, 600, 2)
        );
        assert_eq!(batches, 1);
        let counts = store.counts();
        assert_eq!((counts.outstanding, counts.blacklisted), (1_000, 400));
        // About 20% expired (uniform creation times; the chains shift it a little).
        assert!((100..=300).contains(&seeded.expired), "{seeded:?}");

        let now = NOW_MS / 1000;
        let tokens = store.tokens(None).await.unwrap();
        let mut live = None;
        for (record, entry) in &tokens {
            let family = store.family(&record.family).await.unwrap().unwrap();
            assert!(family.expires_at >= record.expires_at);
            assert_eq!(family.user_id, record.user_id);
            assert_eq!(
                record.expires_at,
                record.created_at_ms / 1000 + config.tokens.refresh_token_lifetime()
            );
            assert_eq!(Jti::v7_unix_ms(&record.jti), Some(record.created_at_ms));
            match entry {
                Some(entry) => assert_eq!(entry.reason, BlacklistReason::Rotated),
                None if record.expires_at > now => live = Some(record.clone()),
                None => {}
            }
        }
        // A user's tokens are indexed (logout-all finds them).
        let alice = store.user_by_username("alice").await.unwrap().unwrap();
        assert_eq!(store.tokens(Some(alice.id)).await.unwrap().len(), 500);

        // A live seeded token rotates like any other.
        let old = live.expect("some seeded token is live");
        let mut new = old.clone();
        new.jti = "new".into();
        new.expires_at = now + 100;
        assert_eq!(
            store
                .rotate(&old, &new, RotateRule::BLACKLIST, now, None)
                .await
                .unwrap(),
            Rotation::Done
        );

        // flush-expired removes exactly the expired records and their entries.
        let flushed = store.flush_expired(now, 0).await.unwrap();
        assert_eq!(flushed.outstanding as u64, seeded.expired);
        let after = store.counts();
        assert_eq!(after.outstanding as u64, 1_000 + 1 - seeded.expired);
        assert!(store
            .tokens(None)
            .await
            .unwrap()
            .iter()
            .all(|(record, _)| record.expires_at > now));
    }

    #[tokio::test]
    async fn seeded_tokens_are_real_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let (config, store) = setup(&dir).await;
        let plan = plan(30, 10, 0);
        seed(&config, &store, plan, NOW_MS, 1, |_| {})
            .await
            .unwrap();
        // Re-mint the first record's token from its stored times and compare digests:
        // the record describes a token the configured key signed.
        let (record, _) = store.tokens(None).await.unwrap().remove(0);
        let user = store.user(record.user_id).await.unwrap().unwrap();
        let issued = config
            .tokens
            .mint(
                TokenKind::Refresh,
                &user.id.to_string(),
                &custom_claims(&config.token_claims, &user),
                record.created_at_ms / 1000,
                jti_from_hex(&record.jti),
            )
            .unwrap();
        let rebuilt = outstanding(
            &issued.token,
            &issued.jti,
            user.id,
            StoredKind::Refresh,
            record.created_at_ms,
            issued.exp,
        );
        assert_eq!(rebuilt.token_sha256, record.token_sha256);
        let verified = config
            .tokens
            .verifier()
            .verify(
                &issued.token,
                Expect::Kind(TokenKind::Refresh),
                record.created_at_ms / 1000,
                |_| false,
            )
            .unwrap();
        assert_eq!(
            verified.claims().get_str("username"),
            Some(user.username.as_str())
        );
    }

    fn jti_from_hex(hex: &str) -> Jti {
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
        Jti::from_bytes(bytes)
    }

    #[tokio::test]
    async fn impossible_plans_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (config, store) = setup(&dir).await;
        for (outstanding, blacklisted, expired_percent) in [(0, 0, 10), (10, 10, 10), (10, 1, 95)] {
            let plan = plan(outstanding, blacklisted, expired_percent);
            let err = seed(&config, &store, plan, NOW_MS, 1, |_| {})
                .await
                .unwrap_err();
            assert!(matches!(err, SeedError::Plan(_)), "{err:?}");
        }
        assert_eq!(store.counts().outstanding, 0);
        let empty = tempfile::tempdir().unwrap();
        let store = Store::open(empty.path()).unwrap();
        let plan = plan(1, 0, 0);
        let err = seed(&config, &store, plan, NOW_MS, 1, |_| {})
            .await
            .unwrap_err();
        assert!(
            matches!(err, SeedError::Plan(ref why) if why.contains("no users")),
            "{err:?}"
        );
    }
}
