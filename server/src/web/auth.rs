//! Authentication and request-origin checks.
//!
//! With `auth.token` set, every route but the login form and the site's
//! static files needs one of: `Authorization: Bearer <token>`, a session
//! cookie from the login form (HttpOnly, SameSite=Strict), or, for the
//! WebSockets only (browsers cannot set headers on them), `?token=`.
//! Unauthenticated API calls and WebSocket upgrades get 401; pages redirect
//! to the login form. A client address that keeps presenting wrong tokens
//! is made to wait, longer each time (429).
//!
//! Whatever the token setting, which also covers the default (no token, on
//! loopback):
//! - a request must name this server in its `Host`: a loopback name, an IP
//!   address, or one of `auth.allowed_hosts`. A page of another site that
//!   rebinds its own name to 127.0.0.1 (DNS rebinding) is refused.
//! - a request that changes something (any method but GET, HEAD, OPTIONS)
//!   from a page of another site (its `Origin`, else its `Referer` or
//!   `Sec-Fetch-Site`) is refused (CSRF), as is a WebSocket upgrade from
//!   one (cross-site WebSocket hijacking); `auth.allowed_origins` lists
//!   the sites allowed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::connection::ClientAddr;
use super::AppState;
use crate::config::AuthConfig;

/// The session cookie's name.
const COOKIE: &str = "logdeck_session";
/// A failed login waits this long, to slow down guessing.
const FAILED_LOGIN_DELAY: Duration = Duration::from_millis(400);
/// Wrong tokens an address may present before it must wait...
const FREE_FAILURES: u32 = 5;
/// ...first this long, doubling with each further failure...
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// ...up to this.
const LONGEST_WAIT: Duration = Duration::from_secs(300);
/// An address's failures are forgotten this long after its last one.
const FAILURE_MEMORY: Duration = Duration::from_secs(900);
/// Addresses whose failures are remembered at most (the oldest go first).
const MAX_TRACKED: usize = 10_000;

/// The token, the sessions it opened, the origins and hosts allowed
/// besides the server's own, and who keeps guessing.
#[derive(Debug)]
pub struct Auth {
    token: Option<String>,
    ttl: Duration,
    allowed_origins: Vec<String>,
    allowed_hosts: Vec<String>,
    /// Session id → expiry. A std mutex: held for a map lookup only.
    sessions: Mutex<HashMap<String, Instant>>,
    failures: Throttle,
    /// `metrics.token`: lets a scraper read `/metrics` and nothing else.
    metrics_token: Option<String>,
}

/// Wrong tokens per client address, and until when each must wait.
#[derive(Debug, Default)]
struct Throttle {
    /// A std mutex: held for one map update.
    addresses: Mutex<HashMap<IpAddr, Failures>>,
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
    wait_until: Option<Instant>,
}

impl Throttle {
    /// How much longer `address` must wait before it may try again.
    fn waiting(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        let addresses = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
        let until = addresses.get(&address)?.wait_until?;
        (until > now).then(|| until - now)
    }

    /// Counts a wrong token from `address`.
    fn failed(&self, address: IpAddr, now: Instant) {
        let mut addresses = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
        if addresses.len() >= MAX_TRACKED {
            addresses.retain(|_, f| now.duration_since(f.last) < FAILURE_MEMORY);
            if addresses.len() >= MAX_TRACKED {
                if let Some(oldest) = addresses
                    .iter()
                    .min_by_key(|(_, f)| f.last)
                    .map(|(a, _)| *a)
                {
                    addresses.remove(&oldest);
                }
            }
        }
        let failures = addresses.entry(address).or_insert(Failures {
            count: 0,
            last: now,
            wait_until: None,
        });
        if now.duration_since(failures.last) >= FAILURE_MEMORY {
            failures.count = 0;
        }
        failures.count += 1;
        failures.last = now;
        if failures.count > FREE_FAILURES {
            let doublings = (failures.count - FREE_FAILURES - 1).min(16);
            let wait = FIRST_WAIT.saturating_mul(1 << doublings).min(LONGEST_WAIT);
            failures.wait_until = Some(now + wait);
        }
    }

    fn succeeded(&self, address: IpAddr) {
        self.addresses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&address);
    }
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
            allowed_hosts: config.allowed_hosts.clone(),
            sessions: Mutex::new(HashMap::new()),
            failures: Throttle::default(),
            metrics_token: config.metrics_token.clone(),
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

    /// Whether `headers` carry `metrics.token` as a bearer token (good for
    /// `GET /metrics` alone).
    pub fn metrics_token_matches(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.metrics_token else {
            return false;
        };
        bearer(headers).is_some_and(|t| constant_time_eq(token.as_bytes(), t.trim().as_bytes()))
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
        if bearer(headers).is_some_and(|t| self.token_matches(t.trim())) {
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

    /// A new session, its id 256 bits from the operating system's
    /// cryptographic generator; `None` if that generator fails.
    fn open_session(&self) -> Option<String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).ok()?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), Instant::now() + self.ttl);
        Some(id)
    }

    fn close_session(&self, id: &str) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
    }

    /// Whether `origin` (`scheme://host[:port]`) is this server's own (its
    /// `Host`, or `X-Forwarded-Host` behind a proxy) or a configured one.
    fn origin_allowed(&self, origin: &str, headers: &HeaderMap) -> bool {
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.allowed_origins.contains(&origin) {
            return true;
        }
        let Some((_, origin_host)) = origin.split_once("://") else {
            // `null` (a sandboxed frame, a file) and anything else unusual.
            return false;
        };
        [header::HOST.as_str(), "x-forwarded-host"]
            .iter()
            .filter_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
            .flat_map(|hosts| hosts.split(','))
            .any(|host| host.trim().eq_ignore_ascii_case(origin_host))
    }

    /// The origin of a request sent by a page of another site, if it was:
    /// its `Origin`; without one (older browsers), its `Referer`'s, or
    /// `Sec-Fetch-Site` saying so. Requests from programs carry none of
    /// these and are not cross-site.
    pub fn foreign_origin(&self, headers: &HeaderMap) -> Option<String> {
        let header = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("(not text)");
            return (!self.origin_allowed(origin, headers)).then(|| origin.to_owned());
        }
        if let Some(site @ ("cross-site" | "same-site")) =
            header(header::HeaderName::from_static("sec-fetch-site"))
        {
            return Some(format!("a {site} page"));
        }
        let referer = header(header::REFERER)?;
        let origin = referer_origin(referer)?;
        (!self.origin_allowed(&origin, headers)).then_some(origin)
    }

    /// Whether `host` (a `Host` header) names this server: a loopback
    /// name, an IP address (rebinding needs a name the attacker controls),
    /// or one of `auth.allowed_hosts`.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        if host.starts_with('[') {
            // An IPv6 literal, with or without a port.
            return true;
        }
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host.as_str(),
        };
        if name.parse::<std::net::Ipv4Addr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
        {
            return true;
        }
        self.allowed_hosts.iter().any(|allowed| {
            allowed == "*"
                || allowed == name
                || allowed
                    .strip_prefix('.')
                    .is_some_and(|domain| name == domain || name.ends_with(allowed.as_str()))
        })
    }
}

/// `scheme://host[:port]` of a URL.
fn referer_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty()).then(|| format!("{scheme}://{authority}"))
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
/// The token of an `Authorization: Bearer` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
}

fn public(path: &str) -> bool {
    path == "/login" || path.starts_with("/pkg/") || path == "/favicon.svg"
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// The client's address, when the server records it (it always does).
fn client_address(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map(|ConnectInfo(ClientAddr(address))| address.ip())
}

/// Whether a request presents a token (rather than nothing, or a cookie).
fn presents_token(request: &Request, websocket: bool) -> bool {
    request.headers().contains_key(header::AUTHORIZATION)
        || (websocket
            && form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
                .any(|(k, _)| k == "token"))
}

/// 429, with how long to wait.
fn too_many_failures(wait: Duration) -> Response {
    let seconds = wait.as_secs().max(1);
    let mut response = refuse(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many wrong tokens from this address; try again in {seconds} s"),
    );
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The middleware in front of every route.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let websocket = path.starts_with("/ws/");
    let auth = &state.auth;
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()));
    if let Some(host) = host.filter(|h| !auth.host_allowed(h)) {
        tracing::warn!(host, "refused a request for a host this server is not (add it to auth.allowed_hosts if it is)");
        return refuse(
            StatusCode::FORBIDDEN,
            format!("this server is not reachable as `{host}`; if that name is yours, add it to auth.allowed_hosts"),
        );
    }
    let changes_something = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if websocket || changes_something {
        if let Some(origin) = auth.foreign_origin(request.headers()) {
            tracing::warn!(
                origin,
                path,
                "refused a request from another site's page (add its origin to auth.allowed_origins to allow it)"
            );
            let what = if websocket {
                "this origin may not open Logdeck's WebSockets"
            } else {
                "cross-site request refused"
            };
            return refuse(
                StatusCode::FORBIDDEN,
                format!("{what} ({origin}; see auth.allowed_origins)"),
            );
        }
    }
    if public(&path) {
        return next.run(request).await;
    }
    let address = client_address(&request);
    let now = Instant::now();
    if let Some(wait) = address.and_then(|a| auth.failures.waiting(a, now)) {
        return too_many_failures(wait);
    }
    if path == "/metrics" && auth.metrics_token_matches(request.headers()) {
        return next.run(request).await;
    }
    match auth.credential(request.headers(), request.uri().query(), websocket) {
        Some(credential) => {
            if let (Some(address), Credential::Bearer | Credential::QueryToken) =
                (address, credential)
            {
                auth.failures.succeeded(address);
            }
            next.run(request).await
        }
        None => {
            if let Some(address) = address.filter(|_| presents_token(&request, websocket)) {
                auth.failures.failed(address, now);
            }
            unauthorized(&request, &path)
        }
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

/// Only a path on this site: an open redirect would let a link send users
/// away. Browsers drop tabs and newlines from URLs and read `\\` as `/`,
/// so `/\t/evil.example` would be `//evil.example`: anything but plain
/// printable ASCII, a backslash, or a second leading slash gives `/`.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(next)
            if next.starts_with('/')
                && !next.starts_with("//")
                && next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
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
    ConnectInfo(ClientAddr(client)): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let auth = &state.auth;
    if !auth.enabled() {
        return Redirect::to(&next).into_response();
    }
    let now = Instant::now();
    if let Some(wait) = auth.failures.waiting(client.ip(), now) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, wait.as_secs().max(1).to_string())],
            Html(login_page(
                &next,
                Some("Too many wrong tokens from this address; wait a moment and try again."),
            )),
        )
            .into_response();
    }
    if !auth.token_matches(&form.token) {
        auth.failures.failed(client.ip(), now);
        tokio::time::sleep(FAILED_LOGIN_DELAY).await;
        return (
            StatusCode::UNAUTHORIZED,
            Html(login_page(&next, Some("That token is not right."))),
        )
            .into_response();
    }
    auth.failures.succeeded(client.ip());
    let Some(session) = auth.open_session() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Html(login_page(
                &next,
                Some("The server cannot make a session now; try again."),
            )),
        )
            .into_response();
    };
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    let cookie = format!(
        "{COOKIE}={session}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        auth.ttl.as_secs(),
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
            allowed_hosts: vec!["logs.example.com".into(), ".example.org".into()],
            session_ttl: Duration::from_secs(60),
            metrics_token: Some("metrics-only-token-0123".into()),
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
        let session = auth.open_session().expect("session");
        assert_eq!(session.len(), 64);
        assert_ne!(auth.open_session(), Some(session.clone()));
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
    fn requests_from_pages_of_other_sites_are_foreign() {
        let auth = auth(None);
        let foreign = |pairs: &[(&str, &str)]| auth.foreign_origin(&headers(pairs));
        assert_eq!(
            foreign(&[("host", "127.0.0.1:3000")]),
            None,
            "not a browser"
        );
        assert_eq!(
            foreign(&[
                ("origin", "http://127.0.0.1:3000"),
                ("host", "127.0.0.1:3000")
            ]),
            None
        );
        assert_eq!(
            foreign(&[
                ("origin", "https://logs.example.com"),
                ("host", "127.0.0.1:3000"),
                ("x-forwarded-host", "logs.example.com")
            ]),
            None
        );
        assert_eq!(
            foreign(&[("origin", "https://dash.example.com"), ("host", "a:1")]),
            None
        );
        assert_eq!(
            foreign(&[
                ("origin", "https://evil.example"),
                ("host", "127.0.0.1:3000")
            ]),
            Some("https://evil.example".into())
        );
        assert!(foreign(&[("origin", "null"), ("host", "127.0.0.1:3000")]).is_some());
        // Without an Origin: the Referer's, or what Sec-Fetch-Site says.
        assert_eq!(
            foreign(&[
                ("referer", "https://evil.example/page?x=1"),
                ("host", "127.0.0.1:3000")
            ]),
            Some("https://evil.example".into())
        );
        assert_eq!(
            foreign(&[
                ("referer", "http://127.0.0.1:3000/processes/web"),
                ("host", "127.0.0.1:3000")
            ]),
            None
        );
        assert!(foreign(&[("sec-fetch-site", "cross-site"), ("host", "a:1")]).is_some());
        assert_eq!(
            foreign(&[("sec-fetch-site", "same-origin"), ("host", "a:1")]),
            None
        );
    }

    #[test]
    fn hosts_must_be_loopback_an_address_or_listed() {
        let auth = auth(None);
        for host in [
            "127.0.0.1:3000",
            "localhost:3000",
            "LOCALHOST",
            "app.localhost:80",
            "[::1]:3000",
            "10.1.2.3",
            "logs.example.com",
            "example.org:8443",
            "a.b.example.org",
        ] {
            assert!(auth.host_allowed(host), "{host}");
        }
        for host in [
            "rebind.attacker.example:3000",
            "example.com",
            "logs.example.com.evil",
            "evilexample.org",
            "localhost.evil.com",
        ] {
            assert!(!auth.host_allowed(host), "{host}");
        }
        let any = Auth::new(&AuthConfig {
            allowed_hosts: vec!["*".into()],
            ..AuthConfig::default()
        });
        assert!(any.host_allowed("anything.example"));
    }

    #[test]
    fn wrong_tokens_make_an_address_wait_longer_each_time() {
        let throttle = Throttle::default();
        let (ip, other): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let now = Instant::now();
        for _ in 0..FREE_FAILURES {
            throttle.failed(ip, now);
            assert_eq!(throttle.waiting(ip, now), None);
        }
        throttle.failed(ip, now);
        assert_eq!(throttle.waiting(ip, now), Some(FIRST_WAIT));
        throttle.failed(ip, now);
        assert_eq!(throttle.waiting(ip, now), Some(FIRST_WAIT * 2));
        assert_eq!(throttle.waiting(other, now), None);
        assert_eq!(throttle.waiting(ip, now + FIRST_WAIT * 2), None);
        for _ in 0..40 {
            throttle.failed(ip, now);
        }
        assert_eq!(throttle.waiting(ip, now), Some(LONGEST_WAIT));
        throttle.succeeded(ip);
        assert_eq!(throttle.waiting(ip, now), None);
    }

    #[test]
    fn redirects_only_to_local_paths() {
        assert_eq!(
            safe_next(Some("/processes/web?level=ERROR")),
            "/processes/web?level=ERROR"
        );
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "/\t/evil.example/phish",
            "/\n/evil.example",
            "/x\r\nSet-Cookie: a=b",
            "/ /evil",
            "/é",
            "evil",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn the_login_page_escapes_what_it_echoes() {
        let page = login_page("/\"><script>", Some("<b>"));
        assert!(!page.contains("<script>"));
        assert!(page.contains("&quot;&gt;&lt;script&gt;"));
    }
}
