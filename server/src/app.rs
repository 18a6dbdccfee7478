//! The HTTP API: one router, one handler per endpoint, one error table.
//!
//! Requests are routed by hand rather than with warp's path filters so that 404, 405
//! (with `Allow`), 413 and 415 come out exactly as DRF writes them.

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
    time::Instant,
};

use bytes::Bytes;
use futures_util::StreamExt as _;
use http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};
use tokio::sync::Semaphore;
use tollgate_core::{Claims, Error as TokenError, Expect, Jti, TokenKind, Verified};
use warp::Filter;

use crate::{
    body::{self, Fields, Trim},
    config::{Config, UsernameField},
    errors::ApiError,
    idle::{self, Activity},
    metrics::Metrics,
    password,
    store::{
        BlacklistReason, Blacklisting, Outstanding, Revocation, Rotation, Store, StoredKind, User,
    },
    throttle::Throttle,
};

/// Request bodies over this are refused before parsing.
pub const MAX_BODY: usize = 64 * 1024;
/// Authorization headers over this are refused before parsing.
pub const MAX_AUTH_HEADER: usize = 8 * 1024;

/// A clock in Unix milliseconds (injectable so tests can move time).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(crate::store::now_ms)
}

/// `wall`, but never earlier than a time already returned, nor than the store's clock
/// floor (the time persisted at the last flush of expired tokens or shutdown): a wall
/// clock stepped back never revives a token that had expired, nor one whose records a
/// flush forgot. Stepped forward, tokens expire early (the safe side) and time goes on
/// from there.
pub fn monotonic(wall: Clock, store: Store) -> Clock {
    let latest = std::sync::atomic::AtomicU64::new(0);
    Arc::new(move || {
        let t = wall().max(store.clock_floor_ms());
        latest
            .fetch_max(t, std::sync::atomic::Ordering::SeqCst)
            .max(t)
    })
}

/// Everything a request needs.
pub struct App {
    pub config: Config,
    pub store: Store,
    pub metrics: Metrics,
    clock: Clock,
    hash_pool: Arc<Semaphore>,
    throttle_user: Throttle,
    throttle_ip: Throttle,
    realm: String,
    idle_timeout: Duration,
    body_timeout: Duration,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// A response ready to send.
pub type Reply = Response<Bytes>;

struct Request {
    method: Method,
    path: String,
    headers: HeaderMap,
    remote: Option<SocketAddr>,
    body: Result<Bytes, BodyError>,
}

/// Why a request body could not be read (kept apart from [`ApiError`] so that it can
/// be copied into the answer wherever the body is needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyError {
    TooLarge,
    Incomplete,
    Timeout,
}

impl From<BodyError> for ApiError {
    fn from(err: BodyError) -> Self {
        match err {
            BodyError::TooLarge => ApiError::PayloadTooLarge,
            BodyError::Incomplete => ApiError::BodyIncomplete,
            BodyError::Timeout => ApiError::BodyTimeout,
        }
    }
}

/// How long a connection may go without starting a request, counted from its accept or
/// its last answer (then it is closed: this covers a client stalled in its request line
/// or headers), and how long a client may take to send a body (then 408), unless
/// [`App::with_timeouts`] says otherwise.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// The peer address of a connection, set by [`serve`] on every request.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

impl App {
    /// Builds the application state. `clock` is the wall clock (or a test's); the app
    /// runs on [`monotonic`] of it.
    pub fn new(config: Config, store: Store, clock: Clock) -> Self {
        let clock = monotonic(clock, store.clone());
        let realm = format!("{} realm=\"api\"", config.auth_header_types[0]);
        Self {
            hash_pool: Arc::new(Semaphore::new(config.hash_concurrency)),
            throttle_user: Throttle::new(config.login_throttle_username, 100_000),
            throttle_ip: Throttle::new(config.login_throttle_ip, 100_000),
            metrics: Metrics::default(),
            realm,
            clock,
            config,
            store,
            idle_timeout: IDLE_TIMEOUT,
            body_timeout: BODY_TIMEOUT,
        }
    }

    /// Other limits for slow clients (tests use short ones).
    #[must_use]
    pub fn with_timeouts(mut self, idle: Duration, body: Duration) -> Self {
        self.idle_timeout = idle;
        self.body_timeout = body;
        self
    }

    /// The server's clock (Unix ms; see [`monotonic`]).
    pub fn now_ms(&self) -> u64 {
        (self.clock)()
    }

    fn now(&self) -> u64 {
        self.now_ms() / 1000
    }

    fn jti(&self) -> Jti {
        self.jti_at(self.now_ms())
    }

    /// A UUIDv7 jti stamped `ms`: the instant the token counts as issued.
    fn jti_at(&self, ms: u64) -> Jti {
        let mut random = [0u8; 10];
        // getrandom only fails when the OS has no entropy source at all.
        let _ = getrandom::getrandom(&mut random);
        Jti::v7(ms, random)
    }

    async fn handle(self: Arc<Self>, req: Request) -> Reply {
        let started = Instant::now();
        let (route, allow) = route_of(&req.path);
        let result = self.dispatch(&req, route, allow).await;
        let mut reply = match result {
            Ok(reply) => reply,
            Err(err) => self.error_reply(&err, route),
        };
        if let Some(allow) = allow {
            if !reply.headers().contains_key(header::ALLOW) {
                reply
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static(allow));
            }
        }
        self.cors(&req, &mut reply);
        let h = reply.headers_mut();
        h.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        h.insert("x-frame-options", HeaderValue::from_static("DENY"));
        h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
        h.insert(header::VARY, HeaderValue::from_static("Accept, Origin"));
        self.metrics.observe(
            route,
            reply.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
        reply
    }

    fn error_reply(&self, err: &ApiError, route: &str) -> Reply {
        if let ApiError::Unavailable(store) = err {
            tracing::error!(route, code = store.code(), error = %store, "store failure");
            self.store.note_failure(store);
        }
        let reply = err.reply(&self.realm);
        let mut response = json_response(reply.status, &reply.body);
        for (name, value) in reply.headers {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }

    async fn dispatch(
        &self,
        req: &Request,
        route: &'static str,
        allow: Option<&'static str>,
    ) -> Result<Reply, ApiError> {
        let method = &req.method;
        if *method == Method::OPTIONS {
            return Ok(self.options(req, route, allow));
        }
        let post_only = allow == Some("POST, OPTIONS");
        if let Some(allow) = allow {
            let ok = if post_only {
                *method == Method::POST
            } else {
                *method == Method::GET || *method == Method::HEAD
            };
            if !ok {
                return Err(ApiError::MethodNotAllowed {
                    method: method.as_str().to_string(),
                    allow,
                });
            }
        }
        match route {
            "token_obtain"
            | "token_refresh"
            | "token_verify"
            | "token_blacklist"
            | "token_sliding"
            | "token_sliding_refresh" => {
                let fields = self.fields(req)?;
                let body = match route {
                    "token_obtain" => self.obtain(&fields, req, TokenKind::Refresh).await?,
                    "token_sliding" => self.obtain(&fields, req, TokenKind::Sliding).await?,
                    "token_refresh" => {
                        let body = self.refresh(&fields).await?;
                        return Ok(json_response_ordered(200, &body, &["access", "refresh"]));
                    }
                    "token_verify" => self.verify(&fields)?,
                    "token_blacklist" => {
                        self.blacklist_one(&fields, "refresh").await?;
                        json!({})
                    }
                    _ => self.refresh_sliding(&fields).await?,
                };
                Ok(json_response(200, &body))
            }
            "logout" => {
                let user = self.authenticate(&req.headers)?;
                let fields = self.fields(req)?;
                Ok(json_response(200, &self.logout(&user, &fields).await?))
            }
            "me" => {
                let user = self.authenticate(&req.headers)?;
                let body = json!({"id": user.id, "username": user.username});
                Ok(json_response_ordered(200, &body, &["id", "username"]))
            }
            "jwks" => {
                let keys: Vec<Value> = self
                    .config
                    .tokens
                    .verifier()
                    .keys()
                    .iter()
                    .filter_map(|k| k.to_public_jwk())
                    .collect();
                let mut reply = json_response(200, &json!({ "keys": keys }));
                reply.headers_mut().insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=300"),
                );
                Ok(reply)
            }
            "healthz" => Ok(json_response(200, &json!({"status": "ok"}))),
            "metrics" => {
                let text = self.metrics.render(self.store.counts());
                let mut reply = Response::new(Bytes::from(text));
                reply.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                Ok(reply)
            }
            _ => self.static_file(req).await,
        }
    }

    fn fields(&self, req: &Request) -> Result<Fields, ApiError> {
        let body = req.body.as_ref().map_err(|err| ApiError::from(*err))?;
        let content_type = req
            .headers
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        Ok(body::parse(content_type.as_deref(), body)?)
    }

    /// `POST /api/token/` and `/api/token/sliding/`.
    async fn obtain(
        &self,
        fields: &Fields,
        req: &Request,
        kind: TokenKind,
    ) -> Result<Value, ApiError> {
        let login_field = self.config.username_field;
        let values = body::strings(
            fields,
            &[(login_field.name(), Trim::Yes), ("password", Trim::No)],
        )?;
        let [login, password] =
            <[String; 2]>::try_from(values).map_err(|_| ApiError::NoActiveAccount)?;
        let now_ms = self.now_ms();
        let ip = req
            .remote
            .map(|a| a.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let wait_user = self.throttle_user.check(&login, now_ms).err();
        let wait_ip = self.throttle_ip.check(&ip.to_string(), now_ms).err();
        if let Some(wait) = wait_user.max(wait_ip) {
            self.metrics
                .logins_throttled
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(ApiError::Throttled(wait));
        }
        let (user, now_ms) = self.check_credentials(login_field, login, password).await?;
        let Some(user) = user.filter(|u| u.is_active || !self.config.check_user_is_active) else {
            self.metrics
                .logins_failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(ApiError::NoActiveAccount);
        };
        let now = now_ms / 1000;
        let settings = &self.config.tokens;
        let user_id = user.id.to_string();
        let body = if kind == TokenKind::Sliding {
            let token = settings.mint(
                TokenKind::Sliding,
                &user_id,
                &Claims::new(),
                now,
                self.jti_at(now_ms),
            )?;
            let refresh_exp = token
                .claims
                .get(&settings.claim_names().refresh_exp)
                .and_then(Value::as_u64)
                .unwrap_or(token.exp);
            let record = outstanding(
                &token.token,
                &token.jti,
                user.id,
                StoredKind::Sliding,
                now_ms,
                sliding_expiry(refresh_exp, settings),
            );
            self.store.record(&record)?;
            json!({"token": token.token})
        } else {
            let custom = custom_claims(&self.config.token_claims, &user);
            let refresh = settings.mint(
                TokenKind::Refresh,
                &user_id,
                &custom,
                now,
                self.jti_at(now_ms),
            )?;
            let access = settings.mint(
                TokenKind::Access,
                &user_id,
                &custom,
                now,
                self.jti_at(now_ms),
            )?;
            let record = outstanding(
                &refresh.token,
                &refresh.jti,
                user.id,
                StoredKind::Refresh,
                now_ms,
                refresh.exp,
            );
            self.store.record(&record)?;
            json!({"refresh": refresh.token, "access": access.token})
        };
        if self.config.update_last_login {
            self.store
                .update_user(user.id, |u| u.last_login = Some(now as i64))?;
        }
        self.store.durable().await?;
        self.metrics
            .logins_ok
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(body)
    }

    /// Checks a password on the blocking pool, with bounded concurrency. Unknown users
    /// cost the same hashing work as a wrong password. A correct password stored with
    /// other parameters is re-hashed, as Django does on login.
    ///
    /// Returns the user and the instant (ms) the login counts from. Hashing takes long
    /// (about 0.1 s per million iterations), so the user is read again afterwards: a
    /// password change or deactivation that committed meanwhile fails the login, and one
    /// that commits later is stamped after this instant, so it revokes these tokens.
    async fn check_credentials(
        &self,
        field: UsernameField,
        login: String,
        password: String,
    ) -> Result<(Option<User>, u64), ApiError> {
        let permit = Arc::clone(&self.hash_pool)
            .acquire_owned()
            .await
            .map_err(|_| ApiError::ShuttingDown)?;
        let store = self.store.clone();
        let clock = Arc::clone(&self.clock);
        let iterations = self.config.pbkdf2_iterations;
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let user = match field {
                UsernameField::Username => store.user_by_username(&login)?,
                UsernameField::Email => store.user_by_email(&login)?,
            };
            let Some(user) = user else {
                password::dummy_check(&password, iterations);
                return Ok((None, clock()));
            };
            let verdict = password::verify_password(&password, &user.password, iterations);
            if !verdict.is_correct {
                return Ok((None, clock()));
            }
            let verified = user.password.clone();
            let replacement = verdict
                .must_update
                .then(|| password::make_password(&password, iterations));
            let at = clock();
            let current = match &replacement {
                // Compare and set: only the hash that was verified is replaced.
                Some(new) => store.update_user(user.id, |u| {
                    if u.password == verified {
                        u.password = new.clone();
                    }
                })?,
                None => match store.user(user.id)? {
                    Some(current) => current,
                    None => return Ok((None, at)),
                },
            };
            let unchanged = match &replacement {
                Some(new) => current.password == *new,
                None => current.password == verified,
            };
            Ok((unchanged.then_some(current), at))
        })
        .await
        .map_err(|_| ApiError::ShuttingDown)?;
        result.map_err(ApiError::Unavailable)
    }

    /// Verifies a refresh or sliding token, checking the blacklist the store keeps; a
    /// replayed rotated-out refresh token revokes its whole family.
    async fn verify_stored(&self, token: &str, kind: TokenKind) -> Result<Verified, ApiError> {
        let now = self.now();
        let mut store_error = None;
        let mut hit = None;
        let result = self
            .config
            .tokens
            .verifier()
            .verify(token, Expect::Kind(kind), now, |jti| {
                match self.store.blacklisted(jti) {
                    Ok(entry) => {
                        let listed = entry.is_some();
                        hit = entry.map(|e| (e.jti, e.reason));
                        listed
                    }
                    Err(err) => {
                        store_error = Some(err);
                        false
                    }
                }
            });
        if let Some(err) = store_error {
            return Err(ApiError::Unavailable(err));
        }
        match result {
            Err(TokenError::Blacklisted) => {
                if let Some((jti, BlacklistReason::Rotated)) = hit {
                    self.reuse_detected(&jti).await?;
                }
                Err(ApiError::Token(TokenError::Blacklisted))
            }
            Err(err) => Err(ApiError::Token(err)),
            Ok(verified) => Ok(verified),
        }
    }

    async fn reuse_detected(&self, jti: &str) -> Result<(), ApiError> {
        if !self.config.reuse_detection {
            return Ok(());
        }
        let Some(record) = self.store.outstanding(jti)? else {
            return Ok(());
        };
        let revoked = self.store.revoke_family(&record.family, self.now())?;
        self.store.durable().await?;
        self.metrics
            .reuse_detections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(family = %record.family, user_id = record.user_id, revoked, "refresh token replay: family revoked");
        Ok(())
    }

    /// The user a refresh/sliding token belongs to, if it may still be used.
    fn token_user(&self, verified: &Verified) -> Result<User, ApiError> {
        let Some(raw) = verified.user_id() else {
            return Err(ApiError::NoActiveAccountForToken);
        };
        let id = canonical_user_id(raw).ok_or(ApiError::Token(TokenError::ClaimInvalid))?;
        match self.store.user(id)? {
            Some(user) if user.is_active || !self.config.check_user_is_active => Ok(user),
            _ => Err(ApiError::NoActiveAccountForToken),
        }
    }

    /// The stored record of a verified token, or the one it would have had (a token
    /// from the Simple JWT site tollgate replaces, or one flushed... never: flushed
    /// tokens have expired).
    fn record_of(
        &self,
        verified: &Verified,
        token: &str,
        user: &User,
        kind: StoredKind,
    ) -> Result<(Outstanding, bool), ApiError> {
        if let Some(record) = self.store.outstanding(verified.jti())? {
            return Ok((record, true));
        }
        let claims = verified.claims();
        let iat = claims.get("iat").and_then(Value::as_u64).unwrap_or(0);
        let expires_at = match kind {
            StoredKind::Refresh => verified.exp(),
            StoredKind::Sliding => claims
                .get(&self.config.tokens.claim_names().refresh_exp)
                .and_then(Value::as_u64)
                .map_or(verified.exp(), |r| sliding_expiry(r, &self.config.tokens)),
        };
        let mut record = outstanding(token, verified.jti(), user.id, kind, iat * 1000, expires_at);
        record.created_at_ms = issued_ms(verified);
        Ok((record, false))
    }

    /// `POST /api/token/refresh/`.
    async fn refresh(&self, fields: &Fields) -> Result<Value, ApiError> {
        let [token] = one_string(fields, "refresh")?;
        let result = self.refresh_inner(&token).await;
        let counter = if result.is_ok() {
            &self.metrics.refreshes_ok
        } else {
            &self.metrics.refreshes_failed
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        result
    }

    async fn refresh_inner(&self, token: &str) -> Result<Value, ApiError> {
        let verified = self.verify_stored(token, TokenKind::Refresh).await?;
        let user = self.token_user(&verified)?;
        let (old, known) = self.record_of(&verified, token, &user, StoredKind::Refresh)?;
        if old.created_at_ms < user.refresh_revoked_before_ms {
            return Err(ApiError::Token(TokenError::Blacklisted));
        }
        let settings = &self.config.tokens;
        let now_ms = self.now_ms();
        let now = now_ms / 1000;
        let access = settings.access_from_refresh(&verified, now, self.jti())?;
        if !settings.rotate_refresh_tokens() {
            if !known {
                self.store.record(&old)?;
                self.store.durable().await?;
            }
            return Ok(json!({"access": access.token}));
        }
        let rotated = settings.rotate_refresh(&verified, now, self.jti())?;
        let new = outstanding(
            &rotated.token,
            &rotated.jti,
            user.id,
            StoredKind::Refresh,
            now_ms,
            rotated.exp,
        );
        match self
            .store
            .rotate(&old, &new, settings.blacklist_after_rotation(), now)?
        {
            Rotation::Done => {}
            Rotation::AlreadyBlacklisted(reason) => {
                if reason == BlacklistReason::Rotated {
                    self.reuse_detected(&old.jti).await?;
                }
                return Err(ApiError::Token(TokenError::Blacklisted));
            }
            Rotation::FamilyRevoked | Rotation::UserRevoked => {
                return Err(ApiError::Token(TokenError::Blacklisted))
            }
        }
        self.store.durable().await?;
        Ok(json!({"access": access.token, "refresh": rotated.token}))
    }

    /// `POST /api/token/verify/`: any token type, no user lookup.
    fn verify(&self, fields: &Fields) -> Result<Value, ApiError> {
        let [token] = one_string(fields, "token")?;
        let verified = self
            .config
            .tokens
            .verifier()
            .verify(&token, Expect::Untyped, self.now(), |_| false)
            .map_err(ApiError::Token)?;
        if self.config.tokens.blacklist_after_rotation()
            && self.store.blacklisted(verified.jti())?.is_some()
        {
            return Err(ApiError::VerifyBlacklisted);
        }
        Ok(json!({}))
    }

    /// Blacklists the refresh token in `field` (blacklist endpoint and logout).
    async fn blacklist_one(&self, fields: &Fields, field: &str) -> Result<(), ApiError> {
        let [token] = one_string(fields, field)?;
        let verified = self.verify_stored(&token, TokenKind::Refresh).await?;
        let user_id = verified.user_id().and_then(canonical_user_id).unwrap_or(0);
        let placeholder = User::new(user_id, "", "", String::new(), 0);
        let (record, _) = self.record_of(&verified, &token, &placeholder, StoredKind::Refresh)?;
        match self
            .store
            .blacklist(&record, BlacklistReason::Logout, self.now())?
        {
            Blacklisting::Done => {}
            Blacklisting::AlreadyBlacklisted(_) => {
                return Err(ApiError::Token(TokenError::Blacklisted))
            }
        }
        self.store.durable().await?;
        Ok(())
    }

    /// `POST /api/token/sliding/refresh/`.
    async fn refresh_sliding(&self, fields: &Fields) -> Result<Value, ApiError> {
        let [token] = one_string(fields, "token")?;
        let verified = self.verify_stored(&token, TokenKind::Sliding).await?;
        let settings = &self.config.tokens;
        settings
            .verifier()
            .check_refresh_exp(&verified, self.now())
            .map_err(ApiError::Token)?;
        let user = self.token_user(&verified)?;
        let (record, known) = self.record_of(&verified, &token, &user, StoredKind::Sliding)?;
        if record.created_at_ms < user.refresh_revoked_before_ms {
            return Err(ApiError::Token(TokenError::Blacklisted));
        }
        let slid = settings.refresh_sliding(&verified, self.now())?;
        if !known {
            self.store.record(&record)?;
            self.store.durable().await?;
        }
        Ok(json!({"token": slid.token}))
    }

    /// `POST /api/logout/`.
    async fn logout(&self, user: &User, fields: &Fields) -> Result<Value, ApiError> {
        if fields.truthy("all") {
            self.store
                .revoke_user(user.id, Revocation::LogoutAll, self.now_ms())?;
            self.store.durable().await?;
            return Ok(json!({"status": "OK, goodbye, all refresh tokens blacklisted"}));
        }
        self.blacklist_one(fields, "refresh_token").await?;
        Ok(json!({"status": "OK, goodbye"}))
    }

    /// Simple JWT's `JWTAuthentication`: the user of a Bearer access token.
    fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<User>, ApiError> {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        // Repeated headers are joined as WSGI servers do, so they never authenticate.
        let joined: Vec<u8>;
        let header_value: Option<&[u8]> = match (values.next(), values.next()) {
            (None, _) => None,
            (Some(one), None) => Some(one.as_bytes()),
            (Some(first), Some(second)) => {
                let rest = [first, second].into_iter().chain(values);
                joined = rest
                    .map(HeaderValue::as_bytes)
                    .collect::<Vec<_>>()
                    .join(&b","[..]);
                Some(&joined)
            }
        };
        if header_value.is_some_and(|v| v.len() > MAX_AUTH_HEADER) {
            return Err(ApiError::HeaderTooLarge);
        }
        let token = match crate::auth::bearer(header_value, &self.config.auth_header_types) {
            crate::auth::Bearer::Missing => return Err(ApiError::NotAuthenticated),
            crate::auth::Bearer::Malformed => return Err(ApiError::BadAuthorizationHeader),
            crate::auth::Bearer::Token(token) => token,
        };
        let token = std::str::from_utf8(token)
            .map_err(|_| ApiError::AccessToken(TokenError::TokenMalformed))?;
        let verified = self
            .config
            .tokens
            .verifier()
            .verify(token, Expect::Kind(TokenKind::Access), self.now(), |_| {
                false
            })
            .map_err(ApiError::AccessToken)?;
        let Some(raw) = verified.user_id() else {
            return Err(ApiError::NoUserIdentification);
        };
        let id = canonical_user_id(raw).ok_or(ApiError::AccessToken(TokenError::ClaimInvalid))?;
        let user = self.store.user_shared(id)?.ok_or(ApiError::UserNotFound)?;
        if self.config.check_user_is_active && !user.is_active {
            return Err(ApiError::UserInactive);
        }
        if self.config.check_revoke_token && issued_ms(&verified) < user.access_revoked_before_ms {
            return Err(ApiError::PasswordChanged);
        }
        Ok(user)
    }

    fn options(&self, req: &Request, route: &str, allow: Option<&'static str>) -> Reply {
        let preflight = req.headers.contains_key(header::ORIGIN)
            && req
                .headers
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if preflight {
            let mut reply = json_response(200, &json!({}));
            *reply.body_mut() = Bytes::new();
            reply.headers_mut().remove(header::CONTENT_TYPE);
            return reply;
        }
        match allow {
            None if route == "static" || route == "other" => {
                self.error_reply(&ApiError::NotFound, route)
            }
            _ => json_response(
                200,
                &json!({
                    "name": route,
                    "renders": ["application/json"],
                    "parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"],
                }),
            ),
        }
    }

    /// CORS for browser frontends on other origins: only listed origins get headers;
    /// credentials only for explicitly listed ones (never for `*`).
    fn cors(&self, req: &Request, reply: &mut Reply) {
        let Some(origin) = req
            .headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
        else {
            return;
        };
        let origins = &self.config.cors_allowed_origins;
        let listed = origins.iter().any(|o| o == origin);
        if !listed && !origins.iter().any(|o| o == "*") {
            return;
        }
        let h = reply.headers_mut();
        if listed {
            if let Ok(value) = HeaderValue::from_str(origin) {
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            }
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        } else {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        if req.method == Method::OPTIONS {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
    }

    /// The demo page (`www_dir`) and the npm package it imports (`pkg_dir`, at `/pkg/`).
    async fn static_file(&self, req: &Request) -> Result<Reply, ApiError> {
        let (dir, rel) = match req.path.strip_prefix("/pkg/") {
            Some(rel) => (self.config.pkg_dir.as_ref(), rel),
            None => (
                self.config.www_dir.as_ref(),
                req.path.trim_start_matches('/'),
            ),
        };
        let Some(dir) = dir else {
            return Err(ApiError::NotFound);
        };
        if req.method != Method::GET && req.method != Method::HEAD {
            return Err(ApiError::NotFound);
        }
        let rel = if rel.is_empty() { "index.html" } else { rel };
        if rel
            .split('/')
            .any(|part| part.is_empty() || part.starts_with('.'))
            || rel.contains('\\')
        {
            return Err(ApiError::NotFound);
        }
        let path: PathBuf = dir.join(rel);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|_| ApiError::NotFound)?;
        let mime = match path.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("js" | "mjs") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("wasm") => "application/wasm",
            Some("json") => "application/json",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            Some("ico") => "image/x-icon",
            _ => "application/octet-stream",
        };
        let mut reply = Response::new(Bytes::from(bytes));
        reply
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
        reply
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        Ok(reply)
    }
}

impl From<TokenError> for ApiError {
    /// A token's fault is the client's (401); anything else (say, user attributes that
    /// make a token larger than 8 KiB) is the server's.
    fn from(err: TokenError) -> Self {
        if err.is_token_error() {
            ApiError::Token(err)
        } else {
            ApiError::Internal(err.code())
        }
    }
}

/// The latest a sliding token (and every token slid from it) can still verify: a slide
/// is allowed until `refresh_exp` (+ leeway) and gives `exp = now + lifetime`, which
/// verifies until `exp + leeway`. Its records must outlive that.
fn sliding_expiry(refresh_exp: u64, settings: &tollgate_core::Settings) -> u64 {
    refresh_exp + 2 * settings.leeway() + settings.sliding_token_lifetime()
}

/// Route name (for metrics) and `Allow` value of a path.
fn route_of(path: &str) -> (&'static str, Option<&'static str>) {
    const POST: Option<&str> = Some("POST, OPTIONS");
    const GET: Option<&str> = Some("GET, HEAD, OPTIONS");
    match path {
        "/api/token/" => ("token_obtain", POST),
        "/api/token/refresh/" => ("token_refresh", POST),
        "/api/token/verify/" => ("token_verify", POST),
        "/api/token/blacklist/" => ("token_blacklist", POST),
        "/api/token/sliding/" => ("token_sliding", POST),
        "/api/token/sliding/refresh/" => ("token_sliding_refresh", POST),
        "/api/logout/" => ("logout", POST),
        "/api/me/" => ("me", GET),
        "/.well-known/jwks.json" => ("jwks", GET),
        "/healthz" => ("healthz", GET),
        "/metrics" => ("metrics", GET),
        p if p.starts_with("/api/") => ("other", None),
        _ => ("static", None),
    }
}

fn one_string(fields: &Fields, name: &str) -> Result<[String; 1], ApiError> {
    let values = body::strings(fields, &[(name, Trim::Yes)])?;
    <[String; 1]>::try_from(values).map_err(|_| ApiError::NotFound)
}

/// A user id claim in canonical decimal form: no sign, no leading zeros, no spaces.
fn canonical_user_id(raw: &str) -> Option<u64> {
    let canonical = !raw.is_empty()
        && raw.bytes().all(|b| b.is_ascii_digit())
        && (raw == "0" || !raw.starts_with('0'));
    canonical.then(|| raw.parse().ok()).flatten()
}

/// When a token was issued, in ms: exact for tollgate's UUIDv7 jtis, else from `iat`.
fn issued_ms(verified: &Verified) -> u64 {
    Jti::v7_unix_ms(verified.jti()).unwrap_or_else(|| {
        verified
            .claims()
            .get("iat")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            * 1000
    })
}

/// The user fields named in `token_claims`, in that order (missing attributes are left
/// out): the custom claims of every token minted for `user`.
pub(crate) fn custom_claims(token_claims: &[String], user: &User) -> Claims {
    let mut claims = Claims::new();
    for name in token_claims {
        if let Some(value) = user.field(name) {
            claims.set(name, value);
        }
    }
    claims
}

/// The record the store keeps for an issued refresh or sliding token (a family of its
/// own until [`Store::rotate`] puts it in its predecessor's).
pub(crate) fn outstanding(
    token: &str,
    jti: &str,
    user_id: u64,
    kind: StoredKind,
    created_at_ms: u64,
    expires_at: u64,
) -> Outstanding {
    let digest = Sha256::digest(token.as_bytes());
    let token_sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
    Outstanding {
        jti: jti.to_string(),
        user_id,
        kind,
        family: jti.to_string(),
        created_at_ms,
        expires_at,
        token_sha256,
    }
}

/// Keys that lead a body, in DRF's order (the rest follow sorted): error bodies put
/// `detail` before `code`, field errors follow the serializer's field order.
const KEY_ORDER: &[&str] = &[
    "detail",
    "code",
    "messages",
    "non_field_errors",
    "username",
    "email",
    "password",
    "refresh",
    "access",
    "token",
    "refresh_token",
    "id",
    "status",
];

fn json_response(status: u16, body: &Value) -> Reply {
    json_response_ordered(status, body, KEY_ORDER)
}

/// Serializes `body` with its top-level keys in `order` first (Simple JWT answers
/// `{"refresh","access"}` on login but `{"access","refresh"}` on refresh).
fn json_response_ordered(status: u16, body: &Value, order: &[&str]) -> Reply {
    // Writing JSON values into a Vec cannot fail, so the results are not looked at.
    let mut out = Vec::with_capacity(256);
    match body.as_object() {
        Some(map) => {
            let rank = |k: &str| order.iter().position(|o| *o == k).unwrap_or(order.len());
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            // Stable: keys outside `order` keep the map's (sorted) order.
            members.sort_by_key(|(k, _)| rank(k));
            out.push(b'{');
            for (i, (key, value)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut out, key);
                out.push(b':');
                let _ = serde_json::to_writer(&mut out, value);
            }
            out.push(b'}');
        }
        None => {
            let _ = serde_json::to_writer(&mut out, body);
        }
    }
    let mut reply = Response::new(Bytes::from(out));
    *reply.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    reply
}

/// Reads the body, refusing more than [`MAX_BODY`] bytes without buffering them, and a
/// body that does not arrive within `timeout`.
async fn read_body(
    timeout: Duration,
    headers: &HeaderMap,
    stream: impl futures_util::Stream<Item = Result<impl warp::Buf, warp::Error>>,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(BodyError::TooLarge);
    }
    let read = async {
        // No declared length (a GET, a chunked body): grow as it comes, so that a
        // request without a body allocates nothing.
        let mut body = Vec::with_capacity(declared.map_or(0, |n| n as usize));
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = stream.next().await {
            // hyper ends the stream with an error when the connection closes early.
            let mut chunk = chunk.map_err(|_| BodyError::Incomplete)?;
            if body.len() + chunk.remaining() > MAX_BODY {
                return Err(BodyError::TooLarge);
            }
            while chunk.has_remaining() {
                let part = chunk.chunk();
                body.extend_from_slice(part);
                let n = part.len();
                chunk.advance(n);
            }
        }
        Ok(Bytes::from(body))
    };
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or(Err(BodyError::Timeout))
}

/// Serves the API on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish. warp's own server has no limit on how long a connection may sit without
/// asking anything, so a client that stops halfway through its request line or headers
/// would hold its connection forever; here [`idle::watch`] closes a connection that has
/// not started a request within the idle timeout of its accept or its last answer (and
/// [`read_body`] answers 408 after the body timeout). Each request carries its peer
/// address as [`ClientAddr`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<App>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::{
        rt::{TokioExecutor, TokioIo},
        server::{conn::auto::Builder, graceful::GracefulShutdown},
    };
    let idle_timeout = app.idle_timeout;
    let filter = routes(app);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let activity = Activity::new();
        let service = warp::service(filter.clone());
        let service = {
            let activity = Arc::clone(&activity);
            hyper::service::service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
                let busy = activity.begin();
                req.extensions_mut().insert(ClientAddr(peer));
                let mut service = service.clone();
                async move {
                    let reply = tower_service::Service::call(&mut service, req).await;
                    drop(busy);
                    reply
                }
            })
        };
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let mut builder = Builder::new(TokioExecutor::new());
            // Off explicitly: hyper's own timer (which needs `.timer(..)` to run) would
            // be a second limit beside the idle watch.
            builder.http1().header_read_timeout(None);
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::select! {
                // The connection first: a request head that arrived with the deadline
                // starts its request (and so is not idle) before the watch looks.
                biased;
                ended = watcher.watch(connection) => if let Err(err) = ended {
                    tracing::debug!(error = %err, "connection ended with an error");
                },
                () = idle::watch(activity, idle_timeout) => {
                    tracing::debug!("closed a connection idle or stalled past the idle timeout");
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The whole API as one warp filter.
pub fn routes(app: Arc<App>) -> impl Filter<Extract = (Reply,), Error = warp::Rejection> + Clone {
    warp::method()
        .and(warp::path::full())
        .and(warp::header::headers_cloned())
        .and(warp::addr::remote())
        .and(warp::ext::optional::<ClientAddr>())
        .and(warp::body::stream())
        .then(
            move |method: Method,
                  path: warp::path::FullPath,
                  headers: HeaderMap,
                  remote: Option<SocketAddr>,
                  client: Option<ClientAddr>,
                  stream| {
                let app = Arc::clone(&app);
                async move {
                    let body = read_body(app.body_timeout, &headers, stream).await;
                    let req = Request {
                        method,
                        path: path.as_str().to_string(),
                        headers,
                        remote: client.map(|c| c.0).or(remote),
                        body,
                    };
                    app.handle(req).await
                }
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_in_canonical_form_only() {
        assert_eq!(canonical_user_id("1"), Some(1));
        assert_eq!(canonical_user_id("42"), Some(42));
        assert_eq!(canonical_user_id("0"), Some(0));
        for bad in [
            "",
            "01",
            " 1",
            "1 ",
            "+1",
            "-1",
            "1.0",
            "true",
            "١",
            "99999999999999999999999",
        ] {
            assert_eq!(canonical_user_id(bad), None, "{bad:?}");
        }
    }
}
