//! The OpenAPI 3.1 document served at `/api/schema/`, and the page that renders it for
//! people at `/api/schema/docs/`.
//!
//! The document is assembled from JSON files embedded in the binary, one per area of
//! the API (`server/openapi/<part>.json`, each with its `paths`, `tags` and the
//! `components` it adds) over `server/openapi/base.json` (info, security schemes, the
//! shared error schemas and the `ErrorCode` enum). **A new area is one file and one line
//! in [`PARTS`].** Tests below keep it true: every route the server answers is in the
//! document with exactly its methods and the reverse, every error code the server can
//! emit is in the enum, and each part's names do not collide.

use std::sync::OnceLock;

use bytes::Bytes;
use serde_json::{Map, Value};

/// The parts, in the order their tags are listed.
pub const PARTS: &[(&str, &str)] = &[
    ("tokens", include_str!("../openapi/tokens.json")),
    ("account", include_str!("../openapi/account.json")),
    ("sessions", include_str!("../openapi/sessions.json")),
    ("meta", include_str!("../openapi/meta.json")),
    ("admin", include_str!("../openapi/admin.json")),
];

const BASE: &str = include_str!("../openapi/base.json");

/// The page at `/api/schema/docs/`: its HTML, style and script (embedded; the script
/// fetches `/api/schema/` and renders it, see ARCHITECTURE.md "Decisions").
const DOCS_HTML: &str = include_str!("../openapi/docs/index.html");
const DOCS_CSS: &str = include_str!("../openapi/docs/docs.css");
const DOCS_JS: &str = include_str!("../openapi/docs/docs.js");

/// `base` with every part laid over it: `paths` and `components` entries added (a name
/// two parts define is an error), `tags` appended.
pub fn assemble(base: &str, parts: &[(&str, &str)]) -> Result<Value, String> {
    let mut doc: Value = serde_json::from_str(base).map_err(|e| format!("base: {e}"))?;
    for (name, text) in parts {
        let part: Value = serde_json::from_str(text).map_err(|e| format!("{name}: {e}"))?;
        let Value::Object(part) = part else {
            return Err(format!("{name}: not an object"));
        };
        for (key, value) in part {
            match key.as_str() {
                "tags" => {
                    let tags = doc["tags"]
                        .as_array_mut()
                        .ok_or("base: tags is not an array")?;
                    tags.extend(value.as_array().cloned().unwrap_or_default());
                }
                "paths" => add_all(&mut doc["paths"], value, &format!("{name}: path"))?,
                "components" => {
                    let Value::Object(kinds) = value else {
                        return Err(format!("{name}: components is not an object"));
                    };
                    for (kind, entries) in kinds {
                        let slot = &mut doc["components"][&kind];
                        if slot.is_null() {
                            *slot = Value::Object(Map::new());
                        }
                        add_all(slot, entries, &format!("{name}: components.{kind}"))?;
                    }
                }
                other => return Err(format!("{name}: unexpected key {other:?}")),
            }
        }
    }
    Ok(doc)
}

fn add_all(into: &mut Value, entries: Value, what: &str) -> Result<(), String> {
    let (Value::Object(into), Value::Object(entries)) = (into, entries) else {
        return Err(format!("{what}s are not objects"));
    };
    for (key, value) in entries {
        if into.insert(key.clone(), value).is_some() {
            return Err(format!("{what} {key:?} is defined twice"));
        }
    }
    Ok(())
}

/// The document as served (compact JSON), assembled once; `None` if the embedded parts
/// do not assemble (a build the tests would have refused; logged).
pub fn document() -> Option<&'static Bytes> {
    static DOCUMENT: OnceLock<Option<Bytes>> = OnceLock::new();
    DOCUMENT
        .get_or_init(|| match assemble(BASE, PARTS) {
            Ok(doc) => Some(Bytes::from(doc.to_string())),
            Err(err) => {
                tracing::error!(error = %err, "the OpenAPI document does not assemble");
                None
            }
        })
        .as_ref()
}

/// The docs page and its `Content-Security-Policy`: the style and script are inlined
/// and allowed by their SHA-256 alone (nothing else runs; the script may fetch the
/// document from this origin only).
pub fn docs_page() -> &'static (Bytes, String) {
    static PAGE: OnceLock<(Bytes, String)> = OnceLock::new();
    PAGE.get_or_init(|| {
        use base64::Engine as _;
        use sha2::Digest as _;
        let hash = |text: &str| {
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text))
        };
        let html = DOCS_HTML
            .replace("/*STYLE*/", DOCS_CSS)
            .replace("/*SCRIPT*/", DOCS_JS);
        let csp = format!(
            "default-src 'none'; style-src 'sha256-{}'; script-src 'sha256-{}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            hash(DOCS_CSS),
            hash(DOCS_JS)
        );
        (Bytes::from(html), csp)
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::http::{errors::ApiError, route::Route};

    fn doc() -> Value {
        assemble(BASE, PARTS).unwrap()
    }

    /// Every route the server answers; the match makes a new `Route` variant fail to
    /// compile here until it is listed (and so checked against the document).
    fn routes() -> Vec<Route> {
        let all = [
            Route::TokenObtain,
            Route::TokenRefresh,
            Route::TokenVerify,
            Route::TokenBlacklist,
            Route::TokenSliding,
            Route::TokenSlidingRefresh,
            Route::Logout,
            Route::Me,
            Route::Sessions,
            Route::Session,
            Route::SessionsRevokeOthers,
            Route::Jwks,
            Route::Healthz,
            Route::Metrics,
            Route::Schema,
            Route::SchemaDocs,
            Route::Admin,
        ];
        for route in all {
            match route {
                Route::TokenObtain
                | Route::TokenRefresh
                | Route::TokenVerify
                | Route::TokenBlacklist
                | Route::TokenSliding
                | Route::TokenSlidingRefresh
                | Route::Logout
                | Route::Me
                | Route::Sessions
                | Route::Session
                | Route::SessionsRevokeOthers
                | Route::Jwks
                | Route::Healthz
                | Route::Metrics
                | Route::Schema
                | Route::SchemaDocs
                | Route::Admin => {}
                // Not endpoints: 404 under /api/, static files elsewhere.
                Route::OtherApi | Route::Static => unreachable!(),
            }
        }
        all.to_vec()
    }

    /// A concrete path for a document path (`{id}` filled in).
    fn concrete(path: &str) -> String {
        path.replace("{id}", "0190a1b2-c3d4-7e5f-8a9b-0123456789ab")
            .replace("{jti}", "0190a1b2c3d4")
            .replace("{kid}", "k-1")
    }

    fn methods_of(route: Route, path: &str) -> BTreeSet<String> {
        // The admin API routes its own paths (`handlers::admin::allow`).
        let allow = match route {
            Route::Admin => crate::handlers::admin::allow(path),
            _ => route.allow(),
        };
        allow
            .unwrap_or_default()
            .split(", ")
            .filter(|m| *m != "OPTIONS" && *m != "HEAD")
            .map(str::to_ascii_lowercase)
            .collect()
    }

    #[test]
    fn every_route_is_documented_with_its_methods_and_nothing_else_is() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        let mut documented = Vec::new();
        for (path, item) in paths {
            let route = Route::of(&concrete(path));
            assert!(
                !matches!(route, Route::OtherApi | Route::Static),
                "{path} is documented but the server does not answer it"
            );
            let methods: BTreeSet<String> = item
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| *k != "parameters")
                .cloned()
                .collect();
            assert_eq!(methods, methods_of(route, &concrete(path)), "{path}");
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                if route.authenticated() {
                    assert_eq!(operation["security"], serde_json::json!([{"bearer": []}]));
                    assert!(responses.contains_key("401"), "{method} {path}: 401");
                }
                if method == "post" {
                    for status in ["400", "413", "415", "503"] {
                        assert!(responses.contains_key(status), "{path}: {status}");
                    }
                }
            }
            documented.push(route);
        }
        for route in routes() {
            assert!(
                documented.contains(&route),
                "{} is answered but not documented",
                route.name()
            );
        }
    }

    /// Every `$ref` names a component that exists.
    #[test]
    fn every_reference_resolves() {
        let doc = doc();
        fn walk(value: &Value, doc: &Value) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        let pointer = target.strip_prefix('#').unwrap();
                        assert!(doc.pointer(pointer).is_some(), "{target}");
                    }
                    map.values().for_each(|v| walk(v, doc));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, doc)),
                _ => {}
            }
        }
        walk(&doc, &doc);
    }

    #[test]
    fn every_error_code_is_in_the_enum_and_only_those() {
        let doc = doc();
        let listed: BTreeSet<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut emitted: BTreeSet<&str> = BTreeSet::new();
        let mut in_bodies = Vec::new();
        for err in ApiError::examples() {
            emitted.insert(err.code());
            if let Some(Value::String(code)) = err.reply("Bearer").body.get("code") {
                in_bodies.push(code.clone());
            }
        }
        emitted.extend(in_bodies.iter().map(String::as_str));
        // A refused body other than a 415 (examples() has the 415).
        let refused = ApiError::Body(crate::http::drf::Reject {
            status: 400,
            body: serde_json::json!({"detail": "JSON parse error - x"}),
        });
        emitted.insert(refused.code());
        // A fault of the server's own data or configuration carries the core's code.
        for code in tollgate_core::Error::ALL_CODES {
            if !code.starts_with("token_") {
                emitted.insert(code);
            }
        }
        emitted.insert("refresh_cookie_too_large");
        // The admin API's own checks and the admin commands' failures it passes on.
        emitted.extend(crate::handlers::admin::CODES.iter().copied());
        emitted.insert("schema_invalid");
        assert_eq!(listed, emitted);
    }

    #[test]
    fn a_name_two_parts_define_is_refused() {
        let twice = [("a", PARTS[0].1), ("b", PARTS[0].1)];
        let err = assemble(BASE, &twice).unwrap_err();
        assert!(err.contains("defined twice"), "{err}");
        assert!(assemble(BASE, &[("x", r#"{"webhooks": {}}"#)]).is_err());
    }

    #[test]
    fn the_docs_page_allows_exactly_its_own_style_and_script() {
        let (html, csp) = docs_page();
        let html = std::str::from_utf8(html).unwrap();
        assert!(html.contains(DOCS_JS) && html.contains(DOCS_CSS));
        assert!(!html.contains("/*SCRIPT*/"));
        assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"));
        assert!(!csp.contains("unsafe"));
        assert!(document().is_some());
    }
}
