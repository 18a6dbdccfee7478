//! Key rotation settings: previous verifying keys, their kids, their algorithms.

use super::{tests::load, *};

#[test]
fn previous_keys_keep_verifying_and_kids_appear() {
    let old_secret = "old-secret-old-secret-old-secret-old-secret";
    let jti = tollgate_core::Jti::from_random_bytes([1; 16]);
    let mint = |config: &Config| {
        config
            .tokens
            .mint(
                tollgate_core::TokenKind::Access,
                "1",
                &tollgate_core::Claims::new(),
                1_700_000_000,
                jti,
            )
            .unwrap()
    };
    let token = mint(&load(&[("signing_key", old_secret)]).unwrap());
    let new = load(&[
        ("signing_key", "new-secret-new-secret-new-secret-new-secret"),
        ("previous_verifying_keys", old_secret),
    ])
    .unwrap();
    let verifier = new.tokens.verifier();
    assert_eq!(verifier.keys().len(), 2);
    verifier
        .verify(
            &token.token,
            tollgate_core::Expect::Untyped,
            1_700_000_000,
            |_| false,
        )
        .unwrap();
    let fresh = mint(&new);
    let header = tollgate_core::decode(&fresh.token).unwrap().header();
    assert_eq!(
        header.get_str("kid"),
        Some(new.tokens.signing_key().unwrap().kid())
    );
    let short = load(&[
        ("signing_key", "new-secret-new-secret-new-secret-new-secret"),
        ("previous_verifying_keys", "short"),
    ]);
    assert_eq!(short.unwrap_err().setting, "previous_verifying_keys");
}

/// RS*/PS*/ES384/ES512 servers (issue #17): a key of another algorithm, a weak RSA key
/// and another algorithm's previous key are refused at start-up, naming the setting;
/// a data folder without a key gets a fresh one of the algorithm.
#[test]
fn new_algorithms_refuse_foreign_and_weak_keys() {
    let keys: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/vectors/keys.json")).unwrap();
    let pem = |name: &str, which: &str| keys[name][which].as_str().unwrap().to_string();
    let rs256 = ("algorithm", "RS256".to_string());
    let config = load(&[rs256.clone(), ("signing_key", pem("rsa", "private_pem"))]).unwrap();
    assert_eq!(config.tokens.algorithm(), Algorithm::Rs256);
    for (env, setting) in [
        (
            vec![rs256.clone(), ("signing_key", pem("es384", "private_pem"))],
            "signing_key",
        ),
        (
            vec![
                rs256.clone(),
                ("signing_key", pem("rsa-weak", "private_pem")),
            ],
            "signing_key",
        ),
        (
            vec![
                ("algorithm", "ES512".to_string()),
                ("signing_key", pem("es512", "private_pem")),
                ("previous_verifying_keys", pem("es384", "public_pem")),
            ],
            "previous_verifying_keys",
        ),
    ] {
        assert_eq!(load(&env).unwrap_err().setting, setting, "{env:?}");
    }
    for alg in ["PS256", "ES384", "ES512"] {
        let config = load(&[("algorithm", alg.to_string())]).unwrap();
        assert_eq!(config.tokens.algorithm().name(), alg);
    }
}
