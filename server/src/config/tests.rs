//! Configuration loading: sources, precedence, validation and their error messages.

use super::*;

/// Loads a configuration from `TOLLGATE_*` variables over a fresh data folder.
pub(super) fn load<V: AsRef<str>>(pairs: &[(&str, V)]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let mut sources = Sources::default();
    sources
        .flags
        .insert("data_dir".into(), dir.path().display().to_string());
    for (k, v) in pairs {
        sources
            .env
            .insert(format!("TOLLGATE_{}", k.to_uppercase()), v.as_ref().into());
    }
    Config::load(&sources, true)
}

#[test]
fn durations() {
    assert_eq!(parse_duration("30m"), Ok(1800));
    assert_eq!(parse_duration("1h30m"), Ok(5400));
    assert_eq!(parse_duration("3d"), Ok(259_200));
    assert_eq!(parse_duration("90"), Ok(90));
    assert_eq!(parse_duration("2w"), Ok(1_209_600));
    for bad in ["", "m", "5x", "10m5", "-5m", "99999999999999999999d"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn defaults_are_simple_jwts() {
    let c = load::<&str>(&[]).unwrap();
    assert_eq!(c.tokens.access_token_lifetime(), 1800);
    assert_eq!(c.tokens.refresh_token_lifetime(), 259_200);
    assert_eq!(c.tokens.max_token_lifetime(), 259_200);
    assert_eq!(c.tokens.algorithm(), Algorithm::Hs256);
    assert_eq!(c.token_claims, ["username", "email", "is_staff"]);
    assert_eq!(c.bind.to_string(), "127.0.0.1:8000");
    assert!(matches!(c.key_source, KeySource::DataDir(_)));
    assert_eq!(c.auth_header_types, ["Bearer"]);
}

#[test]
fn auth_header_name_and_token_classes() {
    use tollgate_core::TokenKind::{Access, Sliding};
    let c = load::<&str>(&[]).unwrap();
    assert_eq!(c.auth_header_name, http::header::AUTHORIZATION);
    assert_eq!(c.auth_token_classes, [Access]);
    for (raw, header) in [
        ("HTTP_X_ACCESS_TOKEN", "x-access-token"),
        ("X-Access-Token", "x-access-token"),
        ("HTTP_AUTHORIZATION", "authorization"),
    ] {
        let c = load(&[("auth_header_name", raw)]).unwrap();
        assert_eq!(c.auth_header_name.as_str(), header, "{raw}");
    }
    for bad in ["", "HTTP_", "X Token", "HTTP_COOKIE", "Host", "x:y", "é"] {
        let err = load(&[("auth_header_name", bad)]).unwrap_err();
        assert_eq!(err.setting, "auth_header_name", "{bad:?}");
        assert_eq!(err.code(), "config_invalid");
    }
    let classes = |raw: &str| load(&[("auth_token_classes", raw)]).map(|c| c.auth_token_classes);
    assert_eq!(classes("sliding").unwrap(), [Sliding]);
    assert_eq!(classes("access,sliding").unwrap(), [Access, Sliding]);
    assert_eq!(
        classes("rest_framework_simplejwt.tokens.SlidingToken,AccessToken").unwrap(),
        [Sliding, Access]
    );
    for bad in ["refresh", "RefreshToken", "Access", "", ","] {
        let err = classes(bad).unwrap_err();
        assert_eq!(err.setting, "auth_token_classes", "{bad:?}");
    }
}

#[test]
fn jwk_url_needs_a_public_key_algorithm_and_a_url() {
    let url = "https://idp.example.com/.well-known/jwks.json";
    let c = load(&[("jwk_url", url), ("algorithm", "EdDSA")]).unwrap();
    assert_eq!(c.jwk_url.unwrap().1, url);
    assert!(load::<&str>(&[]).unwrap().jwk_url.is_none());
    let err = load(&[("jwk_url", url)]).unwrap_err();
    assert_eq!(err.setting, "jwk_url");
    assert!(err.message.contains("never HMAC"), "{err}");
    for bad in [
        "idp.example.com",
        "ftp://x/",
        "http://u:p@x/",
        "http://x:0/",
    ] {
        let err = load(&[("jwk_url", bad), ("algorithm", "EdDSA")]).unwrap_err();
        assert_eq!(err.setting, "jwk_url", "{bad}");
    }
}

#[test]
fn max_token_lifetime_defaults_to_the_longest_lifetime() {
    let c = load(&[("sliding_token_refresh_lifetime", "2w")]).unwrap();
    assert_eq!(c.tokens.max_token_lifetime(), 14 * 86_400);
    let c = load(&[("max_token_lifetime", "30d")]).unwrap();
    assert_eq!(c.tokens.max_token_lifetime(), 30 * 86_400);
    let err = load(&[("max_token_lifetime", "1d")]).unwrap_err();
    assert_eq!(err.setting, "max_token_lifetime");
    assert!(err.message.contains("259200 s"), "{err}");
    let err = load(&[("max_token_lifetime", "10x")]).unwrap_err();
    assert_eq!(err.setting, "max_token_lifetime");
    let err = load(&[("max_token_lifetime", "600w")]).unwrap_err();
    assert_eq!(err.setting, "max_token_lifetime");
    // A previous key retires once its tokens have expired: after the longest token
    // lifetime, or after a max_token_lifetime raised above every lifetime.
    let retire =
        |pairs: &[(&str, &str)]| crate::keyset::retire_after_ms(&load(pairs).unwrap().tokens);
    assert_eq!(retire(&[]), 259_200_000);
    assert_eq!(
        retire(&[("sliding_token_refresh_lifetime", "2w")]),
        259_200_000
    );
    assert_eq!(
        retire(&[("max_token_lifetime", "30d"), ("leeway", "5")]),
        (30 * 86_400 + 5) * 1000
    );
}

#[test]
fn django_schema_needs_a_postgres_database_url() {
    let err = load(&[("django_schema", "true")]).unwrap_err();
    assert_eq!(err.setting, "django_schema");
    let url = "postgres://tollgate@127.0.0.1:5432/site";
    let config = load(&[
        ("django_schema", "true"),
        ("database_url", url),
        (
            "signing_key",
            "a-key-long-enough-for-hs256-0123456789abcdef",
        ),
    ])
    .unwrap();
    assert_eq!(config.backend, Backend::Django(url.into()));
    let config = load(&[
        ("django_schema", "false"),
        ("database_url", url),
        (
            "signing_key",
            "a-key-long-enough-for-hs256-0123456789abcdef",
        ),
    ])
    .unwrap();
    assert_eq!(config.backend, Backend::Postgres(url.into()));
}

#[test]
fn environment_overrides_and_errors_name_the_setting() {
    let c = load(&[
        ("access_token_lifetime", "5m"),
        ("rotate_refresh_tokens", "false"),
    ])
    .unwrap();
    assert_eq!(c.tokens.access_token_lifetime(), 300);
    assert!(!c.tokens.rotate_refresh_tokens());
    let err = load(&[("access_token_lifetim", "5m")]).unwrap_err();
    assert!(
        err.message.contains("TOLLGATE_ACCESS_TOKEN_LIFETIM"),
        "{err}"
    );
    let err = load(&[("signing_key", "short")]).unwrap_err();
    assert_eq!(err.setting, "signing_key");
    assert!(err.to_string().contains("key_weak"), "{err}");
    let err = load(&[("algorithm", "none")]).unwrap_err();
    assert_eq!(err.setting, "algorithm");
    let err = load(&[("bind", "nowhere")]).unwrap_err();
    assert_eq!(err.setting, "bind");
    let err = load(&[("token_claims", "username,password")]).unwrap_err();
    assert_eq!(err.setting, "token_claims");
    assert_eq!(load::<&str>(&[]).unwrap().jwks_max_age, 300);
    assert_eq!(load(&[("jwks_max_age", "2")]).unwrap().jwks_max_age, 2);
    for bad in ["0", "2d", "soon"] {
        let err = load(&[("jwks_max_age", bad)]).unwrap_err();
        assert_eq!(err.setting, "jwks_max_age", "{bad}");
    }
}

#[test]
fn refresh_transport_and_cookie_settings() {
    assert_eq!(
        load::<&str>(&[]).unwrap().refresh_transport,
        RefreshTransport::Json
    );
    let c = load(&[("refresh_transport", "cookie")]).unwrap();
    let default = RefreshCookie {
        name: "tollgate_refresh".into(),
        domain: None,
        secure: true,
    };
    assert_eq!(c.refresh_transport, RefreshTransport::Cookie(default));
    let c = load(&[
        ("refresh_transport", "cookie"),
        ("refresh_cookie_name", "__Secure-rt"),
        ("refresh_cookie_domain", "Example.COM"),
        ("refresh_cookie_secure", "false"),
        ("bind", "[::1]:9000"),
    ]);
    // __Secure- needs Secure.
    assert_eq!(c.unwrap_err().setting, "refresh_cookie_name");
    let c = load(&[
        ("refresh_transport", "cookie"),
        ("refresh_cookie_name", "rt"),
        ("refresh_cookie_domain", "Example.COM"),
        ("refresh_cookie_secure", "false"),
        ("bind", "[::1]:9000"),
    ])
    .unwrap();
    let set = RefreshCookie {
        name: "rt".into(),
        domain: Some("example.com".into()),
        secure: false,
    };
    assert_eq!(c.refresh_transport, RefreshTransport::Cookie(set));
    let refused = |pairs: &[(&str, &str)]| load(pairs).unwrap_err().setting;
    assert_eq!(
        refused(&[("refresh_transport", "Cookie")]),
        "refresh_transport"
    );
    assert_eq!(
        refused(&[("refresh_transport", "header")]),
        "refresh_transport"
    );
    let long_name = "n".repeat(MAX_COOKIE_NAME + 1);
    for bad in [
        "",
        "a b",
        "a;b",
        "a=b",
        "a,b",
        "\"a\"",
        "é",
        "a\tb",
        "__Host-rt",
        "__host-rt",
        &long_name,
    ] {
        assert_eq!(
            refused(&[("refresh_cookie_name", bad)]),
            "refresh_cookie_name",
            "{bad:?}"
        );
    }
    for bad in [
        ".example.com",
        "example.com.",
        "https://example.com",
        "example.com:443",
        "exa mple.com",
        "-a.example.com",
        "a..b",
        "exämple.com",
    ] {
        assert_eq!(
            refused(&[("refresh_cookie_domain", bad)]),
            "refresh_cookie_domain",
            "{bad:?}"
        );
    }
    // Not Secure only on a loopback bind (plain-HTTP development).
    for bind in ["0.0.0.0:8000", "192.168.1.10:8000", "[::]:8000"] {
        let err = load(&[("refresh_cookie_secure", "false"), ("bind", bind)]).unwrap_err();
        assert_eq!(err.setting, "refresh_cookie_secure", "{bind}");
        assert!(err.message.contains("loopback"), "{err}");
    }
    assert!(load(&[("refresh_cookie_secure", "false"), ("bind", "127.0.0.2:80")]).is_ok());
    assert!(load(&[("refresh_cookie_secure", "true"), ("bind", "0.0.0.0:8000")]).is_ok());
}

#[test]
fn secrets_never_in_debug() {
    let secret = "s3cret-s3cret-s3cret-s3cret-s3cret-s3cret";
    let c = load(&[("signing_key", secret)]).unwrap();
    assert!(!format!("{c:?}").contains(secret));
}

#[test]
fn generated_key_is_kept_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let mut sources = Sources::default();
    sources
        .flags
        .insert("data_dir".into(), dir.path().display().to_string());
    let first = Config::load(&sources, true).unwrap();
    let again = Config::load(&sources, false).unwrap();
    assert_eq!(
        first.tokens.signing_key().unwrap().kid(),
        again.tokens.signing_key().unwrap().kid()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(data_dir_key_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    sources
        .env
        .insert("TOLLGATE_ALGORITHM".into(), "EdDSA".into());
    let err = Config::load(&sources, true).unwrap_err();
    assert!(err.message.contains("another algorithm"), "{err}");
}
