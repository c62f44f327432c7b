//! The HTTP interface's security, from the exporter-toolkit web configuration file: TLS (with
//! client certificates), Basic authentication against bcrypt hashes, response headers, and the
//! limits on requests and on failed logins.
//!
//! `config` reads and checks the file; `tls` accepts connections (handshakes off the accept
//! loop); this module decides, request by request, who may pass.

pub mod config;
pub mod connections;
pub mod tls;

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use config::WebSettings;

/// Failed logins allowed from one address within [`LOGIN_WINDOW`]; past that, 429.
pub const LOGIN_FAILURES_ALLOWED: usize = 5;
pub const LOGIN_WINDOW: Duration = Duration::from_secs(60);
/// Addresses whose failures are remembered at once; past that the expired ones are forgotten,
/// and if none has expired, all of them (the memory stays bounded whatever an attacker does).
const REMEMBERED_ADDRESSES: usize = 4096;
/// Successful logins remembered, so that bcrypt runs once per user and password, not per request.
const VERIFIED_CACHE: usize = 100;

/// Why a login was refused: the label of `camwatch_http_auth_failures_total`. A wrong user name
/// and a wrong password are one reason, so that an open /metrics cannot tell which names exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    BadCredentials,
    Malformed,
    RateLimited,
}

impl Refusal {
    pub const ALL: [Refusal; 3] = [Refusal::BadCredentials, Refusal::Malformed, Refusal::RateLimited];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::BadCredentials => "bad_credentials",
            Refusal::Malformed => "malformed",
            Refusal::RateLimited => "rate_limited",
        }
    }
}

/// The web configuration in force and what the guard remembers between requests.
#[derive(Debug, Default)]
pub struct WebState {
    current: RwLock<Arc<WebSettings>>,
    /// SHA-256 of (user, hash, password) of logins bcrypt accepted.
    verified: Mutex<Vec<[u8; 32]>>,
    /// bcrypt is slow on purpose: one verification at a time keeps a burst of logins from
    /// taking every core.
    bcrypt_turn: tokio::sync::Mutex<()>,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    /// exporter-toolkit's `rate_limit` token bucket: (tokens, last refill).
    bucket: Mutex<Option<(f64, Instant)>>,
    refused: [AtomicU64; 3],
    /// Open and refused HTTP connections (see `connections`).
    pub connections: Arc<connections::ConnectionCounts>,
}

impl WebState {
    pub fn new(settings: WebSettings) -> Self {
        WebState {
            current: RwLock::new(Arc::new(settings)),
            ..WebState::default()
        }
    }

    pub fn current(&self) -> Arc<WebSettings> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// A reload: new connections and requests use `settings`; remembered logins are forgotten.
    pub fn replace(&self, settings: WebSettings) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
        self.verified.lock().unwrap_or_else(|e| e.into_inner()).clear();
        *self.bucket.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Logins refused since start, by reason.
    pub fn refused(&self) -> [(Refusal, u64); 3] {
        Refusal::ALL.map(|r| (r, self.refused[r as usize].load(Ordering::Relaxed)))
    }

    fn count(&self, why: Refusal) {
        self.refused[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Decides whether a request may go on: `None` lets it through, `Some` is the answer to send
    /// instead. `needs_login`: this endpoint requires a user when users are configured.
    pub async fn admit(&self, headers: &HeaderMap, client: Option<IpAddr>, needs_login: bool) -> Option<Response> {
        let settings = self.current();
        if let Some(limit) = settings.rate_limit
            && !self.take_token(limit)
        {
            return Some(too_many(limit.0.as_secs().max(1)));
        }
        if !settings.auth_required() || !needs_login {
            return None;
        }
        let client = client.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        if let Some(wait) = self.blocked(client) {
            self.count(Refusal::RateLimited);
            return Some(too_many(wait));
        }
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            // No credentials yet (a browser's first request): ask, but that is no failed login.
            return Some(unauthorized());
        };
        let Some((user, password)) = basic_credentials(value) else {
            self.count(Refusal::Malformed);
            self.failed(client);
            return Some(unauthorized());
        };
        if self.verify(&settings, &user, &password).await {
            None
        } else {
            self.count(Refusal::BadCredentials);
            self.failed(client);
            Some(unauthorized())
        }
    }

    async fn verify(&self, settings: &WebSettings, user: &str, password: &[u8]) -> bool {
        let known = settings.users.get(user);
        // Unknown users are checked against a decoy of the same cost: no faster answer.
        let hash = known.unwrap_or(&settings.decoy_hash).clone();
        let key = cache_key(user, &hash, password);
        if known.is_some() && self.was_verified(&key) {
            return true;
        }
        let _turn = self.bcrypt_turn.lock().await;
        let password = password.to_vec();
        let verified = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        let ok = verified && known.is_some();
        if ok {
            let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if cache.len() >= VERIFIED_CACHE {
                cache.clear();
            }
            cache.push(key);
        }
        ok
    }

    /// Compares against every remembered login in constant time, without stopping at a match.
    fn was_verified(&self, key: &[u8; 32]) -> bool {
        let cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        let hit = cache
            .iter()
            .fold(subtle::Choice::from(0), |found, known| found | known.ct_eq(key));
        hit.into()
    }

    /// Seconds until `client` may try again, when it failed too often lately.
    fn blocked(&self, client: IpAddr) -> Option<u64> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let times = failures.get_mut(&client)?;
        while times.front().is_some_and(|t| now.duration_since(*t) >= LOGIN_WINDOW) {
            times.pop_front();
        }
        if times.len() < LOGIN_FAILURES_ALLOWED {
            if times.is_empty() {
                failures.remove(&client);
            }
            return None;
        }
        let oldest = *times.front()?;
        let wait = LOGIN_WINDOW.saturating_sub(now.duration_since(oldest));
        Some(wait.as_secs_f64().ceil().max(1.0) as u64)
    }

    fn failed(&self, client: IpAddr) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= REMEMBERED_ADDRESSES && !failures.contains_key(&client) {
            failures.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) < LOGIN_WINDOW));
            if failures.len() >= REMEMBERED_ADDRESSES {
                failures.clear();
            }
        }
        let times = failures.entry(client).or_default();
        times.push_back(now);
        while times.len() > LOGIN_FAILURES_ALLOWED {
            times.pop_front();
        }
    }

    /// exporter-toolkit's `rate_limit`: a token every `interval`, at most `burst` saved up.
    fn take_token(&self, (interval, burst): (Duration, u32)) -> bool {
        let now = Instant::now();
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = bucket.get_or_insert((f64::from(burst), now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() / interval.as_secs_f64()).min(f64::from(burst));
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Adds the configured response headers (to refusals too, as exporter-toolkit does).
    pub fn decorate(&self, response: &mut Response) {
        for (name, value) in &self.current().headers {
            response.headers_mut().insert(name.clone(), value.clone());
        }
    }
}

fn cache_key(user: &str, hash: &str, password: &[u8]) -> [u8; 32] {
    let mut sha = Sha256::new();
    // Lengths first, so no two different triples hash the same bytes.
    for part in [user.as_bytes(), hash.as_bytes(), password] {
        sha.update((part.len() as u64).to_be_bytes());
        sha.update(part);
    }
    sha.finalize().into()
}

/// User and password of an `Authorization: Basic` header; `None` when it is anything else.
fn basic_credentials(value: &HeaderValue) -> Option<(String, Vec<u8>)> {
    let text = value.to_str().ok()?;
    let (scheme, encoded) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    let user = String::from_utf8(decoded[..colon].to_vec()).ok()?;
    Some((user, decoded[colon + 1..].to_vec()))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"camwatch\", charset=\"UTF-8\"")],
        "Unauthorized\n",
    )
        .into_response()
}

fn too_many(retry_after: u64) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, retry_after.to_string())],
        "Too Many Requests\n",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_split_at_the_first_colon() {
        let header = |s: &str| HeaderValue::from_str(s).unwrap();
        // "alice:pa:ss"
        let (user, password) = basic_credentials(&header("Basic YWxpY2U6cGE6c3M=")).unwrap();
        assert_eq!(user, "alice");
        assert_eq!(password, b"pa:ss");
        assert!(basic_credentials(&header("Bearer abc")).is_none());
        assert!(basic_credentials(&header("Basic !!!")).is_none());
        // "alice" without a colon
        assert!(basic_credentials(&header("Basic YWxpY2U=")).is_none());
    }

    #[test]
    fn cache_keys_differ_when_parts_shift() {
        assert_ne!(cache_key("ab", "c", b"d"), cache_key("a", "bc", b"d"));
        assert_eq!(cache_key("a", "b", b"c"), cache_key("a", "b", b"c"));
    }

    #[test]
    fn failures_block_after_the_allowed_count_then_say_how_long() {
        let state = WebState::default();
        let ip = IpAddr::from([127, 0, 0, 1]);
        for _ in 0..LOGIN_FAILURES_ALLOWED {
            assert_eq!(state.blocked(ip), None);
            state.failed(ip);
        }
        let wait = state.blocked(ip).unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(state.blocked(IpAddr::from([127, 0, 0, 2])), None);
    }

    #[test]
    fn token_bucket_allows_the_burst_then_refuses() {
        let state = WebState::default();
        let limit = (Duration::from_secs(3600), 2);
        assert!(state.take_token(limit));
        assert!(state.take_token(limit));
        assert!(!state.take_token(limit));
    }
}
