//! The CLI commands that act on a running agent (`baseline accept`, `ack`, `incidents`, `handover`, `inventory`) ask it
//! over its own HTTP interface: the agent owns the state store, and one writer keeps it whole.
//!
//! When the agent's web configuration gives it TLS and users, the same file tells the commands
//! to speak TLS; the login and the trust come from the environment (see [`CREDENTIALS_HINT`]).

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use crate::config::{Config, SecretSource};
use crate::exit;

/// Where the commands find a login for an agent with `basic_auth_users`.
pub const CREDENTIALS_HINT: &str = "set CAMWATCH_WEB_USERNAME and CAMWATCH_WEB_PASSWORD (or CAMWATCH_WEB_PASSWORD_FILE, a \
                                    file holding only the password) to a user of the agent's web config";

/// How to reach the agent: scheme, trust and login, from the web configuration and environment.
struct Connection {
    scheme: &'static str,
    client: reqwest::Client,
    login: Option<(String, SecretString)>,
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn connection(config: &Config) -> Result<Connection, i32> {
    let tls = match &config.agent.web_config_file {
        None => false,
        Some(path) => crate::web::config::speaks_tls(path).map_err(|e| {
            eprint!("{e}");
            exit::CONFIG
        })?,
    };
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none());
    if tls {
        let ca = env_path("CAMWATCH_WEB_CA_FILE");
        let trust = match &ca {
            Some(path) => crate::probe::tls::Trust::CaFile(path),
            None => crate::probe::tls::Trust::System,
        };
        let identity = match (
            env_path("CAMWATCH_WEB_CLIENT_CERT_FILE"),
            env_path("CAMWATCH_WEB_CLIENT_KEY_FILE"),
        ) {
            (Some(cert), Some(key)) => Some(client_identity(&cert, &key)?),
            (None, None) => None,
            _ => {
                eprintln!(
                    "camwatch: set both CAMWATCH_WEB_CLIENT_CERT_FILE and CAMWATCH_WEB_CLIENT_KEY_FILE, or neither"
                );
                return Err(exit::CONFIG);
            }
        };
        let tls_config =
            crate::probe::tls::client_config_with(&trust, "CAMWATCH_WEB_CA_FILE", identity).map_err(|e| {
                eprintln!("camwatch: {e}");
                exit::CONFIG
            })?;
        builder = builder.tls_backend_preconfigured(tls_config);
    }
    let client = builder.build().map_err(|e| {
        eprintln!("camwatch: cannot set up HTTP: {e}");
        exit::RUNTIME
    })?;
    Ok(Connection {
        scheme: if tls { "https" } else { "http" },
        client,
        login: login()?,
    })
}

fn client_identity(cert: &std::path::Path, key: &std::path::Path) -> Result<crate::probe::tls::Identity, i32> {
    use rustls::pki_types::pem::PemObject;
    let chain: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(cert)
        .and_then(|c| c.collect::<Result<Vec<_>, _>>())
        .ok()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            eprintln!(
                "camwatch: CAMWATCH_WEB_CLIENT_CERT_FILE {} holds no readable PEM certificate",
                cert.display()
            );
            exit::CONFIG
        })?;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key).map_err(|_| {
        eprintln!(
            "camwatch: CAMWATCH_WEB_CLIENT_KEY_FILE {} holds no readable PEM private key",
            key.display()
        );
        exit::CONFIG
    })?;
    Ok((chain, key))
}

/// The login from CAMWATCH_WEB_USERNAME and CAMWATCH_WEB_PASSWORD or CAMWATCH_WEB_PASSWORD_FILE.
fn login() -> Result<Option<(String, SecretString)>, i32> {
    let Some(user) = std::env::var("CAMWATCH_WEB_USERNAME").ok().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    // Read the way every secret of the configuration is (one place decides trimming and errors).
    let source = match (
        std::env::var_os("CAMWATCH_WEB_PASSWORD").map(|_| ()),
        env_path("CAMWATCH_WEB_PASSWORD_FILE"),
    ) {
        (Some(()), None) => SecretSource::Env("CAMWATCH_WEB_PASSWORD".to_owned()),
        (None, Some(file)) => SecretSource::File(file),
        (Some(()), Some(_)) => {
            eprintln!("camwatch: set CAMWATCH_WEB_PASSWORD or CAMWATCH_WEB_PASSWORD_FILE, not both");
            return Err(exit::CONFIG);
        }
        (None, None) => {
            eprintln!("camwatch: CAMWATCH_WEB_USERNAME is set but no password: {CREDENTIALS_HINT}");
            return Err(exit::CONFIG);
        }
    };
    match source.resolve() {
        Ok(password) => Ok(Some((user, password))),
        Err(e) => {
            eprintln!("camwatch: {e}");
            Err(exit::CONFIG)
        }
    }
}

/// The agent's answer: its HTTP status and body.
pub struct Answer {
    pub ok: bool,
    pub body: String,
}

/// Sends one request to the agent `config` describes (loopback when it listens on every
/// address). Unreachable: the message is printed and the exit code returned.
pub async fn request(
    config: &Config,
    method: reqwest::Method,
    path: &str,
    body: Option<String>,
) -> Result<Answer, i32> {
    let mut addr = config.agent.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let connection = connection(config)?;
    let mut request = connection
        .client
        .request(method, format!("{}://{addr}{path}", connection.scheme));
    if let Some((user, password)) = &connection.login {
        request = request.basic_auth(user, Some(password.expose_secret()));
    }
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body);
    }
    match request.send().await {
        Ok(response) if response.status() == reqwest::StatusCode::UNAUTHORIZED => {
            match &connection.login {
                None => eprintln!("camwatch: the agent at {addr} asks for a login (401): {CREDENTIALS_HINT}"),
                Some((user, _)) => eprintln!(
                    "camwatch: the agent at {addr} refused the login of {user:?} (401): check CAMWATCH_WEB_USERNAME and \
                     the password against the web config's basic_auth_users"
                ),
            }
            Err(exit::CONFIG)
        }
        Ok(response) if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS => {
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("a while");
            eprintln!(
                "camwatch: the agent at {addr} refuses logins from here after too many failures; retry after {wait} s"
            );
            Err(exit::RUNTIME)
        }
        Ok(response) => {
            let ok = response.status().is_success();
            let body = response.text().await.unwrap_or_default();
            Ok(Answer { ok, body })
        }
        Err(e) => {
            // reqwest's Display stops at the outermost error; the TLS reason sits underneath.
            let mut why = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(inner) = source {
                why = format!("{why}: {inner}");
                source = inner.source();
            }
            eprintln!(
                "camwatch: cannot reach the agent at {}://{addr} ({why}); is `camwatch run` running with this configuration \
                 (and its web config)?",
                connection.scheme
            );
            Err(exit::RUNTIME)
        }
    }
}

/// The body of the agent's success; a refusal is printed and its exit code returned.
pub async fn ask(config: &Config, method: reqwest::Method, path: &str, body: Option<String>) -> Result<String, i32> {
    let answer = request(config, method, path, body).await?;
    if answer.ok {
        Ok(answer.body)
    } else {
        eprint!("camwatch: the agent refused: {}", answer.body);
        Err(exit::CHECK_FAILED)
    }
}

/// Prints what the agent said: the body on success (exit 0), its refusal on standard error (1).
pub fn report(answer: Answer) -> i32 {
    if answer.ok {
        print!("{}", answer.body);
        exit::OK
    } else {
        eprint!("camwatch: the agent refused: {}", answer.body);
        exit::CHECK_FAILED
    }
}
