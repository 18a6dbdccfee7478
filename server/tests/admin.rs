//! The staff console's API (`/api/admin/`, issue #18), in-process through `warp::test`
//! against a temporary sled store: who may read and change what, input errors and their
//! codes, and that every change lands on the audit trail as the command line's do.

use std::sync::Arc;

use serde_json::{json, Value};
use tempfile::TempDir;
use tollgate_server::{
    commands::{execute, Actor, AdminCommand, Context, Input, TokensCommand},
    config::{Config, Sources},
    routes,
    store::User,
    users::password,
    App,
};

mod common;

const SECRET: &str = "tollgate-test-vectors-hmac-secret-0123456789abcdefghijklmnopqrstuvwxyz";
/// 32 bytes, hex: stored signing keys are sealed under it (`keys rotate`).
const KEK: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

struct Harness {
    app: Arc<App>,
    _dir: TempDir,
}

struct Resp {
    status: u16,
    body: Value,
}

/// alice: superuser; sam: staff only; bob: neither; dave: staff but inactive.
async fn harness() -> Harness {
    harness_with(&[]).await
}

async fn harness_with(env: &[(&str, &str)]) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let mut sources = Sources::default();
    sources
        .flags
        .insert("data_dir".into(), dir.path().display().to_string());
    for (k, v) in [
        ("signing_key", SECRET),
        ("key_encryption_key", KEK),
        ("pbkdf2_iterations", "1000"),
        ("session_id_claim", "sid"),
        ("login_throttle_username", "1000/min"),
        ("login_throttle_ip", "1000/min"),
    ]
    .iter()
    .chain(env)
    {
        sources
            .env
            .insert(format!("TOLLGATE_{}", k.to_uppercase()), v.to_string());
    }
    let config = Config::load(&sources, true).unwrap();
    let store = common::open_store(dir.path());
    for (id, name, staff, superuser, active) in [
        (1, "alice", true, true, true),
        (2, "sam", true, false, true),
        (3, "bob", false, false, true),
        (4, "dave", true, true, true),
    ] {
        let hash = password::make_password_with_salt(&format!("{name}-password"), "salt", 1000);
        let mut user = User::new(id, name, &format!("{name}@example.com"), hash, 0);
        (user.is_staff, user.is_superuser, user.is_active) = (staff, superuser, active);
        store.add_user(user, false).await.unwrap();
    }
    let app = Arc::new(App::new(
        config,
        store,
        tollgate_server::clock::system_clock(),
    ));
    Harness { app, _dir: dir }
}

impl Harness {
    async fn send(&self, req: warp::test::RequestBuilder) -> Resp {
        let res = req.reply(&routes(Arc::clone(&self.app))).await;
        let body = serde_json::from_slice(res.body()).unwrap_or(Value::Null);
        Resp {
            status: res.status().as_u16(),
            body,
        }
    }

    async fn login(&self, name: &str) -> (String, String) {
        let r = self
            .send(
                warp::test::request()
                    .method("POST")
                    .path("/api/token/")
                    .header("content-type", "application/json")
                    .body(
                        json!({"username": name, "password": format!("{name}-password")})
                            .to_string(),
                    ),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        (
            r.body["refresh"].as_str().unwrap().into(),
            r.body["access"].as_str().unwrap().into(),
        )
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        access: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = warp::test::request().method(method).path(path);
        if let Some(access) = access {
            req = req.header("authorization", format!("Bearer {access}"));
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        self.send(req).await
    }

    async fn get(&self, path: &str, access: &str) -> Resp {
        self.call("GET", path, Some(access), None).await
    }

    async fn post(&self, path: &str, access: &str, body: Value) -> Resp {
        self.call("POST", path, Some(access), Some(body)).await
    }
}

fn check(resp: &Resp, status: u16, code: &str) {
    assert_eq!(
        (resp.status, resp.body["code"].as_str()),
        (status, Some(code)),
        "{}",
        resp.body
    );
}

#[tokio::test]
async fn without_a_token_401_and_without_staff_403_and_no_data() {
    let h = harness().await;
    let r = h.call("GET", "/api/admin/users/", None, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.body,
        json!({"detail": "Authentication credentials were not provided."})
    );
    let r = h
        .call("GET", "/api/admin/users/", Some("not-a-token"), None)
        .await;
    check(&r, 401, "token_not_valid");
    let (_, bob) = h.login("bob").await;
    for (method, path) in [
        ("GET", "/api/admin/users/"),
        ("GET", "/api/admin/users/1/"),
        ("GET", "/api/admin/audit/"),
        ("GET", "/api/admin/figures/"),
        ("GET", "/api/admin/nothing-here/"),
        ("POST", "/api/admin/keys/rotate/"),
        ("DELETE", "/api/admin/sessions/abc/"),
    ] {
        let r = h.call(method, path, Some(&bob), Some(json!({}))).await;
        assert_eq!(
            (r.status, &r.body),
            (
                403,
                &json!({"detail": "You do not have permission to perform this action.", "code": "permission_denied"})
            ),
            "{method} {path}"
        );
    }
    // Staff made inactive keeps no access (with check_user_is_active the token is
    // refused before; the admin check holds either way).
    let (_, dave) = h.login("dave").await;
    h.app
        .store
        .update_user(4, |u| u.is_active = false)
        .await
        .unwrap();
    let r = h.get("/api/admin/users/", &dave).await;
    assert!(matches!(r.status, 401 | 403), "{}", r.body);
    assert!(r.body.get("results").is_none());
}

#[tokio::test]
async fn staff_reads_and_only_superusers_change() {
    let h = harness().await;
    let (_, sam) = h.login("sam").await;
    let r = h.get("/api/admin/users/?q=A&limit=2", &sam).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // alice, sam and dave match "a" (usernames or emails: example.com has an a).
    assert_eq!(r.body["count"], 4);
    assert_eq!(r.body["results"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["results"][0]["username"], "alice");
    assert!(r.body["results"][0].get("password").is_none());
    let r = h.get("/api/admin/users/?q=sam", &sam).await;
    assert_eq!(r.body["count"], 1);
    let r = h.get("/api/admin/users/?username=Sam", &sam).await;
    assert_eq!(r.body["count"], 0, "exact, as stored");
    let r = h.get("/api/admin/users/?username=sam", &sam).await;
    assert_eq!(r.body["results"][0]["id"], 2);
    let r = h.get("/api/admin/users/2/", &sam).await;
    assert_eq!((r.status, &r.body["is_staff"]), (200, &json!(true)));
    for (method, path, body) in [
        (
            "POST",
            "/api/admin/users/",
            json!({"username": "x", "password": "y"}),
        ),
        ("POST", "/api/admin/users/3/deactivate/", json!({})),
        ("POST", "/api/admin/keys/rotate/", json!({"now": true})),
        ("DELETE", "/api/admin/sessions/abc/", json!({})),
        ("POST", "/api/admin/tokens/abc/blacklist/", json!({})),
        ("POST", "/api/admin/tokens/flush-expired/", json!({})),
    ] {
        let r = h.call(method, path, Some(&sam), Some(body)).await;
        check(&r, 403, "superuser_required");
    }
    // Nothing was recorded: refused before anything ran.
    let r = h.get("/api/admin/audit/", &sam).await;
    assert_eq!(r.body["results"], json!([]));
}

#[tokio::test]
async fn input_errors_have_stable_codes() {
    let h = harness().await;
    let (_, alice) = h.login("alice").await;
    let cases: Vec<(&str, &str, Option<Value>, u16, &str)> = vec![
        (
            "GET",
            "/api/admin/users/?limit=0",
            None,
            400,
            "limit_invalid",
        ),
        (
            "GET",
            "/api/admin/users/?limit=201",
            None,
            400,
            "limit_invalid",
        ),
        (
            "GET",
            "/api/admin/users/?offset=-1",
            None,
            400,
            "offset_invalid",
        ),
        (
            "GET",
            "/api/admin/users/?colour=red",
            None,
            400,
            "query_unknown",
        ),
        (
            "GET",
            "/api/admin/users/?q=a&q=b",
            None,
            400,
            "query_repeated",
        ),
        ("GET", "/api/admin/users/?q=%ff", None, 400, "query_invalid"),
        ("GET", "/api/admin/users/99/", None, 404, "user_not_found"),
        ("GET", "/api/admin/users/01/", None, 404, "user_not_found"),
        (
            "GET",
            "/api/admin/tokens/?state=lost",
            None,
            400,
            "state_invalid",
        ),
        (
            "GET",
            "/api/admin/tokens/?user=me",
            None,
            400,
            "user_invalid",
        ),
        (
            "GET",
            "/api/admin/tokens/?expires_before=soon",
            None,
            400,
            "expires_invalid",
        ),
        (
            "GET",
            "/api/admin/audit/?limit=501",
            None,
            400,
            "limit_invalid",
        ),
        (
            "GET",
            "/api/admin/audit/?before=0",
            None,
            400,
            "before_invalid",
        ),
        ("GET", "/api/admin/keys/?all=1", None, 400, "query_unknown"),
        (
            "POST",
            "/api/admin/tokens/0123/blacklist/",
            Some(json!({"why": "x"})),
            400,
            "field_unknown",
        ),
        (
            "POST",
            "/api/admin/users/",
            Some(json!({"username": "x"})),
            400,
            "field_required",
        ),
        (
            "POST",
            "/api/admin/users/",
            Some(json!({"username": " ", "password": "p"})),
            400,
            "field_required",
        ),
        (
            "POST",
            "/api/admin/users/",
            Some(json!({"username": "x", "password": 5})),
            400,
            "field_invalid",
        ),
        (
            "POST",
            "/api/admin/users/",
            Some(json!({"username": "x".repeat(151), "password": "p"})),
            400,
            "field_invalid",
        ),
        (
            "POST",
            "/api/admin/users/",
            Some(json!({"username": "x", "password": "p", "email": "nope"})),
            400,
            "field_invalid",
        ),
        (
            "POST",
            "/api/admin/users/",
            Some(json!({"username": "x", "password": "p", "is_staff": "yes"})),
            400,
            "field_invalid",
        ),
        (
            "POST",
            "/api/admin/users/",
            Some(json!({"username": "x", "password": "p", "admin": true})),
            400,
            "field_unknown",
        ),
        (
            "POST",
            "/api/admin/users/",
            Some(json!({"username": "x", "password": "p", "attrs": {"bad key": 1}})),
            400,
            "attr_invalid",
        ),
        (
            "POST",
            "/api/admin/users/",
            Some(json!({"username": "bob", "password": "p"})),
            409,
            "user_exists",
        ),
        (
            "POST",
            "/api/admin/users/",
            Some(json!([1])),
            400,
            "body_not_object",
        ),
        (
            "POST",
            "/api/admin/users/3/password/",
            Some(json!({})),
            400,
            "field_required",
        ),
        (
            "POST",
            "/api/admin/users/3/attrs/",
            Some(json!({"attrs": {}})),
            400,
            "field_required",
        ),
        (
            "POST",
            "/api/admin/keys/rotate/",
            Some(json!({"now": 1})),
            400,
            "field_invalid",
        ),
        (
            "POST",
            "/api/admin/keys/",
            Some(json!({"algorithm": "none"})),
            400,
            "key_algorithm_not_allowed",
        ),
        (
            "POST",
            "/api/admin/keys/nokid/revoke/",
            Some(json!({})),
            404,
            "key_unknown",
        ),
        (
            "DELETE",
            "/api/admin/sessions/not-a-session/",
            None,
            404,
            "session_not_found",
        ),
        (
            "DELETE",
            "/api/admin/sessions/bad%20id/",
            None,
            404,
            "session_not_found",
        ),
        (
            "POST",
            "/api/admin/tokens/0123/blacklist/",
            Some(json!({})),
            404,
            "token_not_found",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let r = h.call(method, path, Some(&alice), body).await;
        assert_eq!(
            (r.status, r.body["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {}",
            r.body
        );
    }
    for (content_type, body, status, code) in [
        ("text/plain", "username=x", 415, "unsupported_media_type"),
        ("application/json", "{\"username\":", 400, "json_invalid"),
    ] {
        let req = warp::test::request()
            .method("POST")
            .path("/api/admin/users/")
            .header("authorization", format!("Bearer {alice}"))
            .header("content-type", content_type)
            .body(body);
        check(&h.send(req).await, status, code);
    }
    let r = h.call("PUT", "/api/admin/users/", Some(&alice), None).await;
    assert_eq!(r.status, 405);
    let r = h
        .call("GET", "/api/admin/keys/rotate/", Some(&alice), None)
        .await;
    assert_eq!(r.status, 405);
    let r = h.call("GET", "/api/admin/users", Some(&alice), None).await;
    assert_eq!(r.status, 404, "no trailing slash: not an endpoint");
}

#[tokio::test]
async fn changes_act_and_land_on_the_audit_trail() {
    let h = harness().await;
    let (_, alice) = h.login("alice").await;
    // A user is created, logs in twice; one session is ended by the admin, and its
    // access token is refused at once (session_id_claim).
    let r = h
        .post(
            "/api/admin/users/",
            &alice,
            json!({"username": "erin", "password": "erin-password", "email": "erin@example.com", "attrs": {"role": "planner"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (
            r.body["username"].as_str(),
            r.body["attrs"]["role"].as_str()
        ),
        (Some("erin"), Some("planner"))
    );
    let erin = r.body["id"].as_u64().unwrap();
    let (refresh1, access1) = h.login("erin").await;
    let (_, access2) = h.login("erin").await;
    let r = h
        .get(&format!("/api/admin/users/{erin}/sessions/"), &alice)
        .await;
    assert_eq!(r.body["count"], 2, "{}", r.body);
    let session = common::jti(&refresh1);
    assert!(r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == session.as_str()));
    let r = h
        .call(
            "DELETE",
            &format!("/api/admin/sessions/{session}/"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let me = h.call("GET", "/api/me/", Some(&access1), None).await;
    assert_eq!(
        (me.status, me.body["code"].as_str()),
        (401, Some("session_revoked"))
    );
    let me = h.call("GET", "/api/me/", Some(&access2), None).await;
    assert_eq!(me.status, 200);
    // Tokens: filters, then one blacklisted by jti.
    let r = h
        .get(
            &format!("/api/admin/tokens/?user={erin}&state=outstanding"),
            &alice,
        )
        .await;
    assert_eq!(r.body["count"], 1, "{}", r.body);
    let live = r.body["results"][0]["jti"].as_str().unwrap().to_string();
    let r = h
        .get(
            &format!("/api/admin/tokens/?user={erin}&state=blacklisted"),
            &alice,
        )
        .await;
    assert_eq!(r.body["results"][0]["jti"].as_str(), Some(session.as_str()));
    let r = h.get("/api/admin/tokens/?expires_before=1", &alice).await;
    assert_eq!(r.body["count"], 0);
    let r = h
        .post(
            &format!("/api/admin/tokens/{live}/blacklist/"),
            &alice,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h
        .get(
            &format!("/api/admin/tokens/?user={erin}&state=outstanding"),
            &alice,
        )
        .await;
    assert_eq!(r.body["count"], 0, "{}", r.body);
    // Password, attributes, deactivation.
    let r = h
        .post(
            &format!("/api/admin/users/{erin}/password/"),
            &alice,
            json!({"password": "new-secret"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h
        .post(
            &format!("/api/admin/users/{erin}/attrs/"),
            &alice,
            json!({"attrs": {"role": null, "team": "ops"}}),
        )
        .await;
    assert_eq!(r.body["attrs"], json!({"team": "ops"}));
    let r = h
        .post(
            &format!("/api/admin/users/{erin}/deactivate/"),
            &alice,
            json!({}),
        )
        .await;
    assert_eq!((r.status, &r.body["is_active"]), (200, &json!(false)));
    let r = h
        .post("/api/admin/tokens/flush-expired/", &alice, json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["detail"]
        .as_str()
        .unwrap()
        .starts_with("flushed 0 outstanding"));
    // Keys: rotate at once (a stored key set starts), listed with its state.
    let r = h
        .post("/api/admin/keys/rotate/", &alice, json!({"now": true}))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = h.get("/api/admin/keys/", &alice).await;
    assert_eq!(r.body["results"][0]["state"], "current", "{}", r.body);
    // A command line's change is on the same trail.
    let ctx = Context {
        config: (*h.app.config).clone(),
        store: h.app.store.clone(),
        clock: h.app.clock(),
        actor: Actor {
            name: "ops".into(),
            via: "cli",
        },
        keys: None,
    };
    let cmd = AdminCommand::Tokens(TokensCommand::Blacklist { user: "sam".into() });
    execute(&ctx, cmd, &Input::default()).await.unwrap();
    let r = h.get("/api/admin/audit/?limit=3", &alice).await;
    assert_eq!(r.status, 200);
    let got: Vec<(String, String, String, String)> = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_string();
            (s("actor"), s("via"), s("action"), s("target"))
        })
        .collect();
    let own = |a: &str, t: &str| {
        (
            "alice".to_string(),
            "api".to_string(),
            a.to_string(),
            t.to_string(),
        )
    };
    assert_eq!(
        got,
        vec![
            (
                "ops".into(),
                "cli".into(),
                "tokens.blacklist_user".into(),
                "sam".into()
            ),
            own("keys.rotate", "now"),
            own("tokens.flush_expired", ""),
        ]
    );
    let next = r.body["next_before"].as_u64().unwrap();
    let r = h
        .get(&format!("/api/admin/audit/?before={next}&limit=50"), &alice)
        .await;
    let actions: Vec<&str> = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "users.deactivate",
            "users.set_attr",
            "users.set_password",
            "tokens.revoke",
            "sessions.revoke",
            "users.add"
        ]
    );
    assert!(r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["outcome"] == "ok"));
    assert_eq!(r.body["next_before"], Value::Null);
    // A failed change is recorded with its code.
    let r = h
        .post(
            "/api/admin/users/",
            &alice,
            json!({"username": "erin", "password": "x"}),
        )
        .await;
    check(&r, 409, "user_exists");
    let r = h.get("/api/admin/audit/?limit=1", &alice).await;
    assert_eq!(r.body["results"][0]["outcome"], "user_exists");
    // Figures count logins.
    let r = h.get("/api/admin/figures/", &alice).await;
    assert_eq!(r.body["logins"]["ok"], 3, "{}", r.body);
    assert_eq!(r.body["store"]["users"], 5);
}

#[tokio::test]
async fn the_console_page_is_served_under_its_policy() {
    let www = concat!(env!("CARGO_MANIFEST_DIR"), "/../www");
    let h = harness_with(&[("www_dir", www)]).await;
    let app = routes(Arc::clone(&h.app));
    let res = warp::test::request().path("/admin/").reply(&app).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert_eq!(csp, tollgate_server::http::static_files::CONSOLE_CSP);
    assert!(csp.contains("script-src 'self';") && !csp.contains("unsafe"));
    let page = String::from_utf8_lossy(res.body());
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "no inline script or style"
    );
    let res = warp::test::request()
        .path("/admin/console.js")
        .reply(&app)
        .await;
    assert_eq!(res.status(), 200);
    for path in ["/admin//", "/admin/../index.html", "/admin/.hidden/"] {
        let res = warp::test::request().path(path).reply(&app).await;
        assert_eq!(res.status(), 404, "{path}");
    }
    // The demo page keeps its import map (an inline script): no console policy there.
    let res = warp::test::request().path("/").reply(&app).await;
    assert_eq!(res.status(), 200);
    assert!(!res.headers().contains_key("content-security-policy"));
}

/// The OpenAPI part `server/openapi/admin.json` lists each admin endpoint with exactly
/// the methods `admin::allow` gives it, and `allow` answers nothing else of the samples.
#[test]
fn the_openapi_part_lists_every_admin_endpoint_with_its_methods() {
    use std::collections::BTreeSet;
    use tollgate_server::handlers::admin::allow;
    let part: Value =
        serde_json::from_str(include_str!("../openapi/admin.json")).expect("admin.json is JSON");
    let paths = part["paths"].as_object().unwrap();
    let mut concrete = BTreeSet::new();
    for (path, item) in paths {
        let sample = path
            .replace("{id}", "7")
            .replace("{jti}", "0190a1b2c3d4")
            .replace("{kid}", "k-1");
        let methods: BTreeSet<String> = item.as_object().unwrap().keys().cloned().collect();
        let allowed: BTreeSet<String> = allow(&sample)
            .unwrap_or_else(|| panic!("{path} is documented but not an endpoint"))
            .split(", ")
            .filter(|m| *m != "OPTIONS" && *m != "HEAD")
            .map(str::to_ascii_lowercase)
            .collect();
        assert_eq!(methods, allowed, "{path}");
        concrete.insert(sample);
    }
    // Every arm of the table, by a sample path of each.
    let arms = [
        "/api/admin/users/",
        "/api/admin/keys/",
        "/api/admin/users/7/",
        "/api/admin/users/7/sessions/",
        "/api/admin/tokens/",
        "/api/admin/figures/",
        "/api/admin/audit/",
        "/api/admin/users/7/deactivate/",
        "/api/admin/users/7/password/",
        "/api/admin/users/7/attrs/",
        "/api/admin/users/7/logout-all/",
        "/api/admin/tokens/0190a1b2c3d4/blacklist/",
        "/api/admin/tokens/flush-expired/",
        "/api/admin/keys/rotate/",
        "/api/admin/keys/k-1/revoke/",
        "/api/admin/sessions/7/",
    ];
    assert_eq!(concrete, arms.iter().map(|p| p.to_string()).collect());
    for path in [
        "/api/admin/",
        "/api/admin/users",
        "/api/admin/users/7/x/",
        "/api/admin/keys/a/b/c/",
    ] {
        assert_eq!(allow(path), None, "{path}");
    }
}
