//! Authentication and request-origin checks.
//!
//! With `auth.token` set, every route but the login form and the site's
//! static files needs one of: `Authorization: Bearer <token>`, a session
//! cookie from the login form (HttpOnly, SameSite=Strict), or, for the
//! WebSockets only (browsers cannot set headers on them), `?token=`.
//! Unauthenticated API calls and WebSocket upgrades get 401; pages redirect
//! to the login form.
//!
//! Independently of the token, a WebSocket upgrade from a page on another
//! site is refused (cross-site WebSocket hijacking), and a cookie-
//! authenticated POST must come from this site's own pages (CSRF).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use crate::config::AuthConfig;

/// The session cookie's name.
const COOKIE: &str = "logdeck_session";
/// A failed login waits this long, to slow down guessing.
const FAILED_LOGIN_DELAY: Duration = Duration::from_millis(400);

/// The token, the sessions it opened, and the origins allowed besides the
/// server's own.
#[derive(Debug)]
pub struct Auth {
    token: Option<String>,
    ttl: Duration,
    allowed_origins: Vec<String>,
    /// Session id → expiry. A std mutex: held for a map lookup only.
    sessions: Mutex<HashMap<String, Instant>>,
}

/// How a request proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// No token is configured: everyone is let in.
    Open,
    Bearer,
    QueryToken,
    Cookie,
}

impl Auth {
    pub fn new(config: &AuthConfig) -> Auth {
        Auth {
            token: config.token.clone(),
            ttl: config.session_ttl,
            allowed_origins: config.allowed_origins.clone(),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.token.is_some()
    }

    fn token_matches(&self, candidate: &str) -> bool {
        self.token
            .as_deref()
            .is_some_and(|token| constant_time_eq(token.as_bytes(), candidate.as_bytes()))
    }

    /// The credential `request` carries, if any is valid.
    pub fn credential(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        websocket: bool,
    ) -> Option<Credential> {
        if !self.enabled() {
            return Some(Credential::Open);
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            });
        if bearer.is_some_and(|t| self.token_matches(t.trim())) {
            return Some(Credential::Bearer);
        }
        if websocket {
            let token = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.into_owned());
            if token.is_some_and(|t| self.token_matches(&t)) {
                return Some(Credential::QueryToken);
            }
        }
        let session = cookie(headers, COOKIE)?;
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        sessions.retain(|_, expiry| *expiry > now);
        sessions
            .contains_key(&session)
            .then_some(Credential::Cookie)
    }

    fn open_session(&self) -> String {
        let id = format!(
            "{:016x}{:016x}{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..),
            fastrand::u64(..),
            fastrand::u64(..)
        );
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), Instant::now() + self.ttl);
        id
    }

    fn close_session(&self, id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Whether a page at `origin` may talk to this server: its own origin
    /// (the `Host`, or `X-Forwarded-Host` behind a proxy), or a configured
    /// one.
    pub fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
            // Not a browser: cross-site abuse needs a browser.
            return true;
        };
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.allowed_origins.contains(&origin) {
            return true;
        }
        let origin_host = origin.split_once("://").map_or("", |(_, host)| host);
        [header::HOST.as_str(), "x-forwarded-host"]
            .iter()
            .filter_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
            .flat_map(|hosts| hosts.split(','))
            .any(|host| host.trim().eq_ignore_ascii_case(origin_host))
    }
}

/// Compares secrets in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Paths anyone may fetch: the login form and the site's static files
/// (the login form needs the stylesheet).
fn public(path: &str) -> bool {
    path == "/login" || path.starts_with("/pkg/") || path == "/favicon.svg"
}

/// The middleware in front of every route.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let websocket = path.starts_with("/ws/");
    let auth = &state.auth;
    if websocket && !auth.origin_allowed(request.headers()) {
        return (
            StatusCode::FORBIDDEN,
            Json(json!({ "error": "this origin may not open Logdeck's WebSockets (see auth.allowed_origins)" })),
        )
            .into_response();
    }
    if public(&path) {
        return next.run(request).await;
    }
    let credential = auth.credential(request.headers(), request.uri().query(), websocket);
    match credential {
        Some(Credential::Cookie)
            if request.method() != Method::GET
                && request.method() != Method::HEAD
                && !auth.origin_allowed(request.headers()) =>
        {
            (
                StatusCode::FORBIDDEN,
                Json(json!({ "error": "cross-site request refused" })),
            )
                .into_response()
        }
        Some(_) => next.run(request).await,
        None => unauthorized(&request, &path),
    }
}

fn unauthorized(request: &Request, path: &str) -> Response {
    let is_page = request.method() == Method::GET
        && !path.starts_with("/api/")
        && !path.starts_with("/ws/")
        && !path.starts_with("/process/")
        && path != "/logs"
        && path != "/health"
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    if is_page {
        let next = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let target = format!(
            "/login?next={}",
            form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        );
        return Redirect::to(&target).into_response();
    }
    let mut response = (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "error": "authentication required: send Authorization: Bearer <token>" })),
    )
        .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"logdeck\""),
    );
    response
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
    next: Option<String>,
}

/// Only local paths: an open redirect would let a link send users away.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(next) if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') => {
            next.to_owned()
        }
        _ => "/".to_owned(),
    }
}

async fn login_form(axum::extract::Query(query): axum::extract::Query<LoginQuery>) -> Html<String> {
    Html(login_page(&safe_next(query.next.as_deref()), None))
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    if !state.auth.enabled() {
        return Redirect::to(&next).into_response();
    }
    if !state.auth.origin_allowed(&headers) || !state.auth.token_matches(&form.token) {
        tokio::time::sleep(FAILED_LOGIN_DELAY).await;
        return (
            StatusCode::UNAUTHORIZED,
            Html(login_page(&next, Some("That token is not right."))),
        )
            .into_response();
    }
    let session = state.auth.open_session();
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let cookie = format!(
        "{COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        state.auth.ttl.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    let mut response = Redirect::to(&next).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(session) = cookie(&headers, COOKIE) {
        state.auth.close_session(&session);
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("logdeck_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    response
}

/// The login form: plain HTML, no script.
fn login_page(next: &str, error: Option<&str>) -> String {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let error = error
        .map(|e| format!(r#"<p class="login-error" role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · Logdeck</title>
<link rel="stylesheet" href="/pkg/logdeck.css">
<link rel="icon" type="image/svg+xml" href="/favicon.svg">
</head>
<body>
<main class="login">
<h1>Logdeck</h1>
<form method="post" action="/login">
<label for="token">Access token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus data-testid="login-token">
<input type="hidden" name="next" value="{next}">
{error}
<button type="submit" data-testid="login-submit">Log in</button>
</form>
</main>
</body>
</html>"#,
        next = escape(next),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(token: Option<&str>) -> Auth {
        Auth::new(&AuthConfig {
            token: token.map(str::to_owned),
            allow_unauthenticated: false,
            allowed_origins: vec!["https://dash.example.com".into()],
            allowed_hosts: Vec::new(),
            session_ttl: Duration::from_secs(60),
        })
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        map
    }

    #[test]
    fn compares_in_constant_time_and_exactly() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-token", b"secret-tokem"));
        assert!(!constant_time_eq(b"secret", b"secret-token"));
    }

    #[test]
    fn accepts_bearer_query_token_only_for_websockets_and_sessions() {
        let auth = auth(Some("correct-horse-battery"));
        assert_eq!(auth.credential(&headers(&[]), None, false), None);
        assert_eq!(
            auth.credential(
                &headers(&[("authorization", "Bearer correct-horse-battery")]),
                None,
                false
            ),
            Some(Credential::Bearer)
        );
        assert_eq!(
            auth.credential(&headers(&[("authorization", "Bearer wrong")]), None, false),
            None
        );
        assert_eq!(
            auth.credential(&headers(&[]), Some("token=correct-horse-battery"), true),
            Some(Credential::QueryToken)
        );
        assert_eq!(
            auth.credential(&headers(&[]), Some("token=correct-horse-battery"), false),
            None
        );
        let session = auth.open_session();
        let with_cookie = headers(&[("cookie", &format!("other=1; logdeck_session={session}"))]);
        assert_eq!(
            auth.credential(&with_cookie, None, false),
            Some(Credential::Cookie)
        );
        auth.close_session(&session);
        assert_eq!(auth.credential(&with_cookie, None, false), None);
    }

    #[test]
    fn without_a_token_everyone_is_in() {
        assert_eq!(
            auth(None).credential(&headers(&[]), None, true),
            Some(Credential::Open)
        );
    }

    #[test]
    fn origins_must_be_this_site_or_listed() {
        let auth = auth(None);
        assert!(
            auth.origin_allowed(&headers(&[])),
            "no Origin: not a browser"
        );
        assert!(auth.origin_allowed(&headers(&[
            ("origin", "http://127.0.0.1:3000"),
            ("host", "127.0.0.1:3000")
        ])));
        assert!(auth.origin_allowed(&headers(&[
            ("origin", "https://logs.example.com"),
            ("host", "127.0.0.1:3000"),
            ("x-forwarded-host", "logs.example.com")
        ])));
        assert!(auth.origin_allowed(&headers(&[
            ("origin", "https://dash.example.com"),
            ("host", "a:1")
        ])));
        assert!(!auth.origin_allowed(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:3000")
        ])));
    }

    #[test]
    fn redirects_only_to_local_paths() {
        assert_eq!(
            safe_next(Some("/processes/web?level=ERROR")),
            "/processes/web?level=ERROR"
        );
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn the_login_page_escapes_what_it_echoes() {
        let page = login_page("/\"><script>", Some("<b>"));
        assert!(!page.contains("<script>"));
        assert!(page.contains("&quot;&gt;&lt;script&gt;"));
    }
}
