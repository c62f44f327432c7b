//! HTTP for device probes (ONVIF SOAP, snapshots, vendor APIs): one client per trust setting,
//! kept for the agent's life; Basic or Digest authentication answered when a device challenges;
//! bodies read up to a limit, so a device that sends 40 MB where a JPEG was expected cannot fill
//! the agent's memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, WWW_AUTHENTICATE};
use secrecy::ExposeSecret;

use super::digest;
use super::tls::{Trust, client_config};
use super::{ProbeError, ProbeErrorKind, Transcript};

/// What came back.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The authentication scheme that was answered, if the device asked for one.
    pub answered: Option<&'static str>,
}

#[derive(Debug, Default)]
pub struct HttpClients {
    clients: Mutex<HashMap<String, reqwest::Client>>,
}

impl HttpClients {
    fn client(&self, trust: &Trust<'_>, what: &str) -> Result<reqwest::Client, ProbeError> {
        let key = format!("{trust:?}");
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(client_config(trust, what)?)
            // Devices are addressed directly; a proxy from the environment would only get in the way.
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            // Cameras allow few HTTP sessions, and polls are a minute apart: a connection lives
            // for one poll's requests, not between polls.
            .pool_idle_timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(1)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ProbeError::new(ProbeErrorKind::Agent, format!("cannot set up HTTP: {e}")))?;
        clients.insert(key, client.clone());
        Ok(client)
    }

    /// Sends a request; answers one authentication challenge when `login` is given. `max_bytes`
    /// bounds the body. `what` names the TLS settings in errors.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: HeaderMap,
        body: Option<Vec<u8>>,
        login: Option<&super::Login>,
        trust: &Trust<'_>,
        max_bytes: usize,
        transcript: &mut Transcript,
    ) -> Result<HttpReply, ProbeError> {
        let client = self.client(trust, "the device's TLS settings")?;
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| ProbeError::new(ProbeErrorKind::Agent, format!("{url} is not a usable URL: {e}")))?;
        let target = match parsed.query() {
            Some(q) => format!("{}?{q}", parsed.path()),
            None => parsed.path().to_owned(),
        };
        let shown = redact_url(&parsed);
        let mut authorization: Option<(String, &'static str)> = None;
        for round in 0..2 {
            let mut request = client.request(method.clone(), parsed.clone()).headers(headers.clone());
            if let Some(body) = &body {
                request = request.body(body.clone());
            }
            if let Some((value, _)) = &authorization {
                let value = HeaderValue::from_str(value).map_err(|_| {
                    ProbeError::new(ProbeErrorKind::Agent, "the user name cannot be sent in an HTTP header")
                })?;
                request = request.header(AUTHORIZATION, value);
            }
            transcript.note(|| {
                format!(
                    "{method} {shown}{}",
                    if round == 1 { " (with authentication)" } else { "" }
                )
            });
            let response = request.send().await.map_err(|e| connection_error(&shown, &e))?;
            let status = response.status().as_u16();
            transcript.note(|| format!("  -> HTTP {status}"));
            if status == 401
                && authorization.is_none()
                && let Some(login) = &login
            {
                let offered: Vec<&str> = response
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                let challenges = digest::parse_challenges(offered.iter().copied());
                if let Some(challenge) = digest::best(&challenges) {
                    transcript.note(|| format!("  challenged for {} authentication", challenge.scheme()));
                    authorization = Some((
                        digest::authorization(
                            challenge,
                            method.as_str(),
                            &target,
                            &login.user,
                            login.password.expose_secret(),
                            1,
                            &digest::cnonce(),
                        ),
                        challenge.scheme(),
                    ));
                    continue;
                }
            }
            let headers = response.headers().clone();
            let body = read_limited(response, max_bytes, &shown).await?;
            return Ok(HttpReply {
                status,
                headers,
                body,
                answered: authorization.map(|(_, scheme)| scheme),
            });
        }
        unreachable!("the second round always returns")
    }
}

/// A URL as it may be shown: without any user or password in it, and credentials in its query
/// masked (`vocab::urls`).
pub fn redact_url(url: &reqwest::Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    crate::vocab::urls::shown_url(shown.as_str())
}

async fn read_limited(mut response: reqwest::Response, max_bytes: usize, shown: &str) -> Result<Vec<u8>, ProbeError> {
    if let Some(length) = response.content_length()
        && length > max_bytes as u64
    {
        return Err(ProbeError::new(
            ProbeErrorKind::Device,
            format!("{shown} announced {length} bytes, more than the {max_bytes} allowed; not read"),
        ));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ProbeError::new(ProbeErrorKind::Device, format!("{shown}: the answer broke off: {e}")))?
    {
        if body.len() + chunk.len() > max_bytes {
            return Err(ProbeError::new(
                ProbeErrorKind::Device,
                format!("{shown} sent more than the {max_bytes} bytes allowed; stopped reading"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn connection_error(shown: &str, e: &reqwest::Error) -> ProbeError {
    // The chain says what really happened (refused, TLS, certificate); the top level rarely does.
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        detail = inner.to_string();
        source = inner.source();
    }
    let kind = if e.is_timeout() {
        ProbeErrorKind::Timeout
    } else {
        ProbeErrorKind::Device
    };
    ProbeError::new(kind, format!("{shown}: {detail}"))
}
