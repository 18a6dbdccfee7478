//! Mint and verify per algorithm, for a Simple JWT-shaped access token of about 300
//! bytes (username, email, is_staff as custom claims). Run: `cargo bench -p tollgate-core`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tollgate_core::{decode, Algorithm, Claims, Expect, Jti, Settings, SigningKey, TokenKind};

const NOW: u64 = 1_700_000_000;

fn signing_key(alg: Algorithm) -> SigningKey {
    match alg {
        Algorithm::EdDsa | Algorithm::Es256 => SigningKey::from_raw(alg, &[7; 32]).unwrap(),
        Algorithm::Es384 => SigningKey::from_raw(alg, &[7; 48]).unwrap(),
        Algorithm::Es512 => {
            SigningKey::from_raw(alg, &[[1].as_slice(), &[7; 65]].concat()).unwrap()
        }
        _ if alg.is_rsa() => {
            // The 2048-bit key of the shared vectors (RSA keys are not made from a few bytes).
            let keys: serde_json::Value =
                serde_json::from_str(include_str!("../../tests/vectors/keys.json")).unwrap();
            SigningKey::from_pem(alg, keys["rsa"]["private_pem"].as_str().unwrap()).unwrap()
        }
        _ => SigningKey::hmac(alg, &[0x5a; 64]).unwrap(),
    }
}

fn bench(c: &mut Criterion) {
    let custom = Claims::new()
        .with("username", "alice")
        .with("email", "alice@example.com")
        .with("is_staff", false);
    for alg in Algorithm::ALL {
        let settings = Settings::builder(signing_key(alg)).build().unwrap();
        let jti = Jti::from_random_bytes([9; 16]);
        let token = settings
            .mint(TokenKind::Access, "42", &custom, NOW, jti)
            .unwrap()
            .token;
        let mut group = c.benchmark_group(alg.name());
        group.bench_function(format!("mint ({} bytes)", token.len()), |b| {
            b.iter(|| {
                settings
                    .mint(
                        TokenKind::Access,
                        black_box("42"),
                        &custom,
                        black_box(NOW),
                        jti,
                    )
                    .unwrap()
            })
        });
        let verifier = settings.verifier();
        group.bench_function(format!("verify ({} bytes)", token.len()), |b| {
            b.iter(|| {
                verifier
                    .verify(
                        black_box(&token),
                        Expect::Kind(TokenKind::Access),
                        NOW,
                        |_| false,
                    )
                    .unwrap()
            })
        });
        if alg == Algorithm::Hs256 {
            group.bench_function("decode (unverified)", |b| {
                b.iter(|| decode(black_box(&token)).unwrap())
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
