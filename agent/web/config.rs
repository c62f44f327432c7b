//! The Prometheus exporter-toolkit web configuration file (`--web.config.file`), read as it is:
//! the same YAML an exporter takes, with the same strictness (unknown keys are errors, only five
//! response headers may be set, passwords are bcrypt hashes). Errors point at file, line and
//! column and say how to fix them, as the TOML configuration's do.
//!
//! Where rustls cannot do what Go's crypto/tls would (TLS 1.0/1.1, CBC cipher suites, P-521),
//! the file is still accepted when the result is at least as strict, with a warning saying so;
//! what would loosen security or cannot be honoured safely is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use crate::config::diagnostic::{ConfigError, Diagnostic};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    #[serde(default)]
    basic_auth_users: Option<BTreeMap<String, String>>,
    rate_limit: Option<RawRateLimit>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_ca_file: Option<PathBuf>,
    client_auth_type: Option<ClientAuthType>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<TlsVersion>,
    max_version: Option<TlsVersion>,
    cipher_suites: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<String>>,
}

/// Go's `tls.ClientAuthType` names, as exporter-toolkit takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ClientAuthType {
    NoClientCert,
    RequestClientCert,
    /// exporter-toolkit still takes the old name `RequireClientCert`.
    #[serde(alias = "RequireClientCert")]
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
enum TlsVersion {
    TLS10,
    TLS11,
    TLS12,
    TLS13,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    headers: Option<RawHeaders>,
}

/// The only headers exporter-toolkit lets a file set; any other name is an unknown field.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeaders {
    #[serde(rename = "Strict-Transport-Security")]
    strict_transport_security: Option<String>,
    #[serde(rename = "X-Content-Type-Options")]
    x_content_type_options: Option<String>,
    #[serde(rename = "X-Frame-Options")]
    x_frame_options: Option<String>,
    #[serde(rename = "X-XSS-Protection")]
    x_xss_protection: Option<String>,
    #[serde(rename = "Content-Security-Policy")]
    content_security_policy: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    interval: Option<String>,
    burst: Option<u32>,
}

/// A web configuration ready to serve with.
#[derive(Default)]
pub struct WebSettings {
    /// The file, for messages; `None` when no file is given (plain HTTP, no users).
    pub path: Option<PathBuf>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// User name to bcrypt hash.
    pub users: BTreeMap<String, String>,
    /// A hash of no password, at the users' highest cost: verified for unknown user names so
    /// that they take as long as known ones.
    pub decoy_hash: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Requests allowed: one per `interval`, with bursts up to `burst`.
    pub rate_limit: Option<(Duration, u32)>,
    /// What the file asks that rustls does differently; logged at start and by check-config.
    pub warnings: Vec<String>,
}

/// Names the users but shows no hash and nothing of the TLS key.
impl std::fmt::Debug for WebSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSettings")
            .field("path", &self.path)
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("headers", &self.headers)
            .field("rate_limit", &self.rate_limit)
            .field("warnings", &self.warnings)
            .finish()
    }
}

impl WebSettings {
    pub fn auth_required(&self) -> bool {
        !self.users.is_empty()
    }
}

const BCRYPT_FIX: &str = "write a bcrypt hash, e.g. the output of `htpasswd -nBC 10 \"\" | tr -d ':\\n'`";
const HEADER_FIX: &str = "only Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection and \
                          Content-Security-Policy can be set (as in exporter-toolkit)";

struct Loader<'a> {
    source: &'a str,
    dir: PathBuf,
    diagnostics: Vec<Diagnostic>,
    warnings: Vec<String>,
}

impl Loader<'_> {
    /// Where `key` is written under the top-level section `section`, to point at it.
    fn at(&self, section: &str, key: &str) -> Option<std::ops::Range<usize>> {
        locate(self.source, section, key)
    }

    fn error(&mut self, span: Option<std::ops::Range<usize>>, message: impl Into<String>, fix: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(span, message).fix(fix));
    }

    /// Paths in the file are relative to the file's folder, as exporter-toolkit resolves them.
    fn path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }

    /// PEM from `inline` or from the file `file`; both or neither given is an error.
    fn pem(&mut self, inline: Option<&String>, file: Option<&PathBuf>, key: &str, required: bool) -> Option<Vec<u8>> {
        match (inline, file) {
            (Some(text), None) => Some(text.as_bytes().to_vec()),
            (inline, Some(path)) => {
                if inline.is_some() {
                    // exporter-toolkit takes the file then; say so rather than pick silently.
                    self.warnings.push(format!(
                        "both {key} and {key}_file are given: {key}_file is used, {key} ignored"
                    ));
                }
                let full = self.path(path);
                match std::fs::read(&full) {
                    Ok(bytes) => Some(bytes),
                    Err(e) => {
                        self.error(
                            self.at("tls_server_config", &format!("{key}_file")),
                            format!("cannot read {key}_file {}: {e}", full.display()),
                            "give a PEM file readable by the agent's user (relative paths start at the web config's folder)",
                        );
                        None
                    }
                }
            }
            (None, None) => {
                if required {
                    self.error(
                        self.at("tls_server_config", "tls_server_config").or(Some(0..0)),
                        format!("tls_server_config has no {key}_file"),
                        format!("add {key}_file: the PEM file of the server's {key}"),
                    );
                }
                None
            }
        }
    }

    fn tls(&mut self, raw: RawTls) -> Option<Arc<rustls::ServerConfig>> {
        if raw.cert.is_none() && raw.cert_file.is_none() && raw.key.is_none() && raw.key_file.is_none() {
            // exporter-toolkit serves plain HTTP when no certificate is given at all.
            if raw.client_ca_file.is_some() || raw.client_auth_type.is_some() {
                self.error(
                    self.at("", "tls_server_config"),
                    "tls_server_config sets client certificates but no server certificate",
                    "add cert_file and key_file (client certificates need TLS)",
                );
            }
            return None;
        }
        let cert_pem = self.pem(raw.cert.as_ref(), raw.cert_file.as_ref(), "cert", true);
        let key_pem = self.pem(raw.key.as_ref(), raw.key_file.as_ref(), "key", true);
        let ca_pem = self.pem(raw.client_ca.as_ref(), raw.client_ca_file.as_ref(), "client_ca", false);
        let certs: Vec<CertificateDer<'static>> = match &cert_pem {
            Some(pem) => match CertificateDer::pem_slice_iter(pem).collect::<Result<Vec<_>, _>>() {
                Ok(c) if !c.is_empty() => c,
                Ok(_) | Err(_) => {
                    self.error(
                        self.at("tls_server_config", "cert_file").or(self.at("tls_server_config", "cert")),
                        "the server certificate is not a PEM certificate",
                        "give the PEM file holding the certificate (-----BEGIN CERTIFICATE-----), then any intermediates",
                    );
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        // The key's text is never shown: only that it could not be read as a key.
        let key = key_pem
            .as_ref()
            .and_then(|pem| match PrivateKeyDer::from_pem_slice(pem) {
                Ok(k) => Some(k),
                Err(_) => {
                    self.error(
                        self.at("tls_server_config", "key_file")
                            .or(self.at("tls_server_config", "key")),
                        "the server key is not a PEM private key",
                        "give the PEM file holding the private key (PKCS#8, PKCS#1 or SEC1) of cert_file",
                    );
                    None
                }
            });
        let auth = raw.client_auth_type.unwrap_or(ClientAuthType::NoClientCert);
        let roots = ca_pem.as_ref().and_then(|pem| {
            let mut roots = rustls::RootCertStore::empty();
            let parsed: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
            match parsed {
                Ok(certs) if !certs.is_empty() => {
                    let (added, _) = roots.add_parsable_certificates(certs);
                    (added > 0).then_some(roots)
                }
                _ => None,
            }
            .or_else(|| {
                self.error(
                    self.at("tls_server_config", "client_ca_file")
                        .or(self.at("tls_server_config", "client_ca")),
                    "client_ca holds no usable PEM CA certificate",
                    "give the PEM file of the CA that signs the clients' certificates",
                );
                None
            })
        });
        let auth_span = self.at("tls_server_config", "client_auth_type");
        let verify = matches!(
            auth,
            ClientAuthType::VerifyClientCertIfGiven | ClientAuthType::RequireAndVerifyClientCert
        );
        if verify && ca_pem.is_none() {
            self.error(
                auth_span.clone(),
                format!("client_auth_type {auth:?} verifies client certificates, but no client_ca_file is given"),
                "add client_ca_file: the PEM file of the CA that signs the clients' certificates",
            );
        }
        if auth == ClientAuthType::NoClientCert && ca_pem.is_some() {
            // Same refusal as exporter-toolkit: a CA without a policy would check nothing.
            self.error(
                self.at("tls_server_config", "client_ca_file")
                    .or(self.at("tls_server_config", "client_ca")),
                "client CAs are configured without a client auth policy that verifies them",
                "set client_auth_type: RequireAndVerifyClientCert (or VerifyClientCertIfGiven), or remove client_ca_file",
            );
        }
        if auth == ClientAuthType::RequestClientCert {
            self.warnings.push(
                "client_auth_type RequestClientCert: camwatch makes no use of an unverified client certificate, \
                 so it does not ask for one (as NoClientCert)"
                    .into(),
            );
        }
        let sans = raw.client_allowed_sans.unwrap_or_default();
        if !sans.is_empty() {
            if !matches!(
                auth,
                ClientAuthType::RequireAnyClientCert | ClientAuthType::RequireAndVerifyClientCert
            ) {
                // As exporter-toolkit: a client that may send no certificate has no SAN to match.
                self.error(
                    self.at("tls_server_config", "client_allowed_sans"),
                    "client_allowed_sans needs a client certificate on every connection",
                    "set client_auth_type: RequireAndVerifyClientCert (or RequireAnyClientCert)",
                );
            }
            for san in sans.iter().filter(|s| s.contains('@') && !s.contains(':')) {
                self.warnings.push(format!(
                    "client_allowed_sans {san:?}: e-mail SANs cannot be checked by camwatch; this entry admits nobody"
                ));
            }
        }
        let (versions, version_span) = self.versions(raw.min_version, raw.max_version);
        let mut provider = rustls::crypto::ring::default_provider();
        if let Some(names) = &raw.cipher_suites {
            provider.cipher_suites = self.cipher_suites(&provider.cipher_suites, names);
        }
        if let Some(names) = &raw.curve_preferences {
            provider.kx_groups = self.curves(&provider.kx_groups, names);
        }
        let (Some(key), false) = (key, certs.is_empty()) else {
            return None;
        };
        if !self.diagnostics.is_empty() {
            return None;
        }
        let builder = match rustls::ServerConfig::builder_with_provider(Arc::new(provider.clone()))
            .with_protocol_versions(&versions)
        {
            Ok(b) => b,
            Err(e) => {
                self.error(
                    version_span.or(self.at("tls_server_config", "cipher_suites")),
                    format!("no TLS version can be spoken with these settings: {e}"),
                    "allow TLS13, or a TLS 1.2 cipher suite rustls implements",
                );
                return None;
            }
        };
        let verifier: Arc<dyn rustls::server::danger::ClientCertVerifier> = match (auth, roots) {
            (ClientAuthType::RequireAndVerifyClientCert, Some(roots)) => {
                match rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::new(provider))
                    .build()
                {
                    Ok(v) => v,
                    Err(e) => return self.verifier_error(auth_span, e),
                }
            }
            (ClientAuthType::VerifyClientCertIfGiven, Some(roots)) => {
                match rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::new(provider))
                    .allow_unauthenticated()
                    .build()
                {
                    Ok(v) => v,
                    Err(e) => return self.verifier_error(auth_span, e),
                }
            }
            (ClientAuthType::RequireAnyClientCert, _) => Arc::new(super::tls::AnyClientCert::new(Arc::new(provider))),
            _ => rustls::server::WebPkiClientVerifier::no_client_auth(),
        };
        let verifier: Arc<dyn rustls::server::danger::ClientCertVerifier> = if sans.is_empty() {
            verifier
        } else {
            Arc::new(super::tls::AllowedSans {
                inner: verifier,
                allowed: sans,
            })
        };
        match builder.with_client_cert_verifier(verifier).with_single_cert(certs, key) {
            Ok(mut config) => {
                // Go's prefer_server_cipher_suites (default true): the server's order wins.
                config.ignore_client_order = raw.prefer_server_cipher_suites.unwrap_or(true);
                // HTTP/1.1 only: the server speaks nothing else (see http2 below).
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Some(Arc::new(config))
            }
            Err(e) => {
                self.error(
                    self.at("tls_server_config", "key_file")
                        .or(self.at("tls_server_config", "key")),
                    format!("the key does not fit the certificate: {e}"),
                    "give the private key that belongs to cert_file",
                );
                None
            }
        }
    }

    fn verifier_error(
        &mut self,
        span: Option<std::ops::Range<usize>>,
        e: rustls::server::VerifierBuilderError,
    ) -> Option<Arc<rustls::ServerConfig>> {
        self.error(
            span,
            format!("cannot verify client certificates: {e}"),
            "give a client_ca_file holding a CA certificate",
        );
        None
    }

    fn versions(
        &mut self,
        min: Option<TlsVersion>,
        max: Option<TlsVersion>,
    ) -> (
        Vec<&'static rustls::SupportedProtocolVersion>,
        Option<std::ops::Range<usize>>,
    ) {
        let min_span = self.at("tls_server_config", "min_version");
        let max_span = self.at("tls_server_config", "max_version");
        let min = min.unwrap_or(TlsVersion::TLS12);
        let max = max.unwrap_or(TlsVersion::TLS13);
        if min > max {
            self.error(
                min_span.clone(),
                format!("min_version {min:?} is above max_version {max:?}"),
                "make min_version at most max_version",
            );
        }
        if max < TlsVersion::TLS12 {
            self.error(
                max_span.clone(),
                format!("max_version {max:?}: camwatch (rustls) speaks TLS 1.2 and 1.3 only"),
                "set max_version: TLS12 or TLS13 (or remove it)",
            );
        }
        if min < TlsVersion::TLS12 {
            self.warnings.push(format!(
                "min_version {min:?}: camwatch (rustls) speaks TLS 1.2 and 1.3 only, so older clients are refused"
            ));
        }
        let mut versions = Vec::new();
        if min <= TlsVersion::TLS12 && max >= TlsVersion::TLS12 {
            versions.push(&rustls::version::TLS12);
        }
        if max >= TlsVersion::TLS13 {
            versions.push(&rustls::version::TLS13);
        }
        (versions, min_span.or(max_span))
    }

    /// Go's names to rustls suites. Like Go, the list governs TLS 1.2 only; TLS 1.3 suites stay.
    fn cipher_suites(
        &mut self,
        available: &[rustls::SupportedCipherSuite],
        names: &[String],
    ) -> Vec<rustls::SupportedCipherSuite> {
        let span = self.at("tls_server_config", "cipher_suites");
        let mut chosen: Vec<rustls::SupportedCipherSuite> = Vec::new();
        for name in names {
            // Go also spells the ChaCha20 suites without the _SHA256 suffix.
            let found = available.iter().find(|s| {
                let rustls_name = s.suite().as_str().unwrap_or("");
                rustls_name == name || rustls_name == format!("{name}_SHA256")
            });
            match found {
                Some(suite) if suite.version() == &rustls::version::TLS12 => chosen.push(*suite),
                Some(_) => {}
                None if GO_CIPHER_SUITES.contains(&name.as_str()) => self.warnings.push(format!(
                    "cipher suite {name} is not implemented by rustls (no CBC, RC4, 3DES or RSA key exchange); left out"
                )),
                None => self.error(
                    span.clone(),
                    format!("unknown cipher suite {name:?}"),
                    "use Go's names, e.g. TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 or TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                ),
            }
        }
        chosen.extend(
            available
                .iter()
                .filter(|s| s.version() == &rustls::version::TLS13)
                .copied(),
        );
        chosen
    }

    fn curves(
        &mut self,
        available: &[&'static dyn rustls::crypto::SupportedKxGroup],
        names: &[String],
    ) -> Vec<&'static dyn rustls::crypto::SupportedKxGroup> {
        let span = self.at("tls_server_config", "curve_preferences");
        let mut chosen = Vec::new();
        for name in names {
            let group = match name.as_str() {
                "CurveP256" => Some(rustls::NamedGroup::secp256r1),
                "CurveP384" => Some(rustls::NamedGroup::secp384r1),
                "X25519" => Some(rustls::NamedGroup::X25519),
                "CurveP521" | "X25519MLKEM768" => None,
                other => {
                    self.error(
                        span.clone(),
                        format!("unknown curve {other:?}"),
                        "use Go's names: CurveP256, CurveP384, CurveP521, X25519",
                    );
                    continue;
                }
            };
            match group.and_then(|g| available.iter().find(|k| k.name() == g)) {
                Some(k) => chosen.push(*k),
                None => self
                    .warnings
                    .push(format!("curve {name} is not implemented by rustls with ring; left out")),
            }
        }
        if chosen.is_empty() {
            self.error(
                span,
                "none of curve_preferences is implemented by rustls",
                "list at least one of X25519, CurveP256, CurveP384",
            );
        }
        chosen
    }

    fn headers(&mut self, raw: RawHeaders) -> Vec<(HeaderName, HeaderValue)> {
        let given = [
            ("Strict-Transport-Security", raw.strict_transport_security, &[][..]),
            ("X-Content-Type-Options", raw.x_content_type_options, &["nosniff"][..]),
            ("X-Frame-Options", raw.x_frame_options, &["deny", "sameorigin"][..]),
            ("X-XSS-Protection", raw.x_xss_protection, &[][..]),
            ("Content-Security-Policy", raw.content_security_policy, &[][..]),
        ];
        let mut headers = Vec::new();
        for (name, value, allowed) in given {
            // Blank means unset, as in exporter-toolkit.
            let Some(value) = value.filter(|v| !v.is_empty()) else {
                continue;
            };
            if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
                self.error(
                    self.at("http_server_config", name),
                    format!("{name} {value:?} is not allowed"),
                    format!("use one of: {}", allowed.join(", ")),
                );
                continue;
            }
            match HeaderValue::from_str(&value) {
                Ok(v) => headers.push((HeaderName::from_static(lower(name)), v)),
                Err(_) => self.error(
                    self.at("http_server_config", name),
                    format!("{name} holds characters an HTTP header cannot carry"),
                    "write the value on one line in visible ASCII",
                ),
            }
        }
        headers
    }

    fn users(&mut self, users: BTreeMap<String, String>) -> (BTreeMap<String, String>, String) {
        let mut cost = 0;
        for (user, hash) in &users {
            match hash.parse::<bcrypt::HashParts>() {
                Ok(parts) => cost = cost.max(parts.get_cost()),
                // The hash is not shown: only whose it is.
                Err(_) => self.error(
                    locate_user(self.source, user),
                    format!("the password of user {user:?} is not a bcrypt hash"),
                    BCRYPT_FIX,
                ),
            }
            if user.contains(':') {
                self.error(
                    locate_user(self.source, user),
                    format!("user name {user:?} contains a colon, which Basic authentication cannot carry"),
                    "choose a user name without ':'",
                );
            }
        }
        let decoy = if users.is_empty() || !self.diagnostics.is_empty() {
            String::new()
        } else {
            bcrypt::hash("camwatch decoy for unknown users", cost).unwrap_or_default()
        };
        (users, decoy)
    }

    fn rate_limit(&mut self, raw: RawRateLimit) -> Option<(Duration, u32)> {
        let span = self.at("rate_limit", "interval").or(self.at("", "rate_limit"));
        let interval = match raw.interval.as_deref().map(str::trim) {
            None | Some("0") | Some("") => Duration::ZERO,
            Some(text) => humantime::parse_duration(text).unwrap_or_else(|_| {
                self.error(
                    span.clone(),
                    format!("rate_limit interval {text:?} is not a duration"),
                    "write it like \"100ms\" or \"1s\"; 0 turns the limiter off",
                );
                Duration::ZERO
            }),
        };
        let burst = raw.burst.unwrap_or(0);
        if !interval.is_zero() && burst == 0 {
            self.error(
                self.at("rate_limit", "burst").or(span),
                "rate_limit has an interval but a burst of 0, so no request would ever be served",
                "set burst: 1 or more",
            );
        }
        (!interval.is_zero()).then_some((interval, burst))
    }
}

fn lower(name: &'static str) -> &'static str {
    match name {
        "Strict-Transport-Security" => "strict-transport-security",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-Frame-Options" => "x-frame-options",
        "X-XSS-Protection" => "x-xss-protection",
        _ => "content-security-policy",
    }
}

/// Go's crypto/tls cipher suite names that rustls does not implement (accepted, left out).
const GO_CIPHER_SUITES: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// The byte offset of `key:` in the file: under the top-level `section` (or at the top when
/// `section` is empty). Serde's errors carry their own place; this finds it for checks made
/// after parsing.
fn locate(source: &str, section: &str, key: &str) -> Option<std::ops::Range<usize>> {
    let mut offset = 0;
    let mut inside = section.is_empty();
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let is_key = |k: &str| {
            trimmed
                .strip_prefix(k)
                .or_else(|| trimmed.strip_prefix(&format!("\"{k}\"")))
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        };
        if indent == 0 && !trimmed.is_empty() && !trimmed.starts_with('#') {
            inside = section.is_empty() || is_key(section);
            if section.is_empty() && is_key(key) {
                return Some(offset..offset + key.len());
            }
        } else if inside && !section.is_empty() && is_key(key) {
            return Some(offset + indent..offset + indent + key.len());
        }
        offset += line.len();
    }
    None
}

fn locate_user(source: &str, user: &str) -> Option<std::ops::Range<usize>> {
    locate(source, "basic_auth_users", user).or_else(|| locate(source, "", "basic_auth_users"))
}

/// The file with the values of secret or hash-holding lines blanked, same length, so spans still
/// point at the right line and column: an inline `key:` PEM block and the users' hashes.
fn redacted(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut hiding_block_deeper_than: Option<usize> = None;
    let mut in_users = false;
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let content = !trimmed.trim().is_empty() && !trimmed.starts_with('#');
        if content && indent == 0 {
            in_users = trimmed.starts_with("basic_auth_users");
        }
        if let Some(depth) = hiding_block_deeper_than {
            if !content || indent > depth {
                out.push_str(&blank(line, 0));
                continue;
            }
            hiding_block_deeper_than = None;
        }
        let is_key_line = trimmed.starts_with("key:") || trimmed.starts_with("\"key\":");
        if (in_users && indent > 0 && content) || is_key_line {
            let keep = line.find(':').map_or(0, |i| i + 1);
            out.push_str(&blank(line, keep));
            if is_key_line {
                hiding_block_deeper_than = Some(indent);
            }
            continue;
        }
        out.push_str(line);
    }
    out
}

/// `line` with every character after byte `keep` (but the line end) replaced by `*`, keeping
/// its byte length.
fn blank(line: &str, keep: usize) -> String {
    let (head, tail) = line.split_at(keep);
    let body = tail.trim_end_matches('\n');
    let mut s = head.to_owned();
    s.push_str(&"*".repeat(body.len()));
    if tail.ends_with('\n') {
        s.push('\n');
    }
    s
}

/// Reads and checks the web configuration file, loading its certificates and keys.
pub fn load(path: &Path) -> Result<WebSettings, ConfigError> {
    let (label, source) = read(path)?;
    let raw = parse(&label, &source)?;
    let mut loader = Loader {
        source: &source,
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        diagnostics: Vec::new(),
        warnings: Vec::new(),
    };
    let tls = raw.tls_server_config.and_then(|t| loader.tls(t));
    let mut headers = Vec::new();
    if let Some(http) = raw.http_server_config {
        if http.http2 == Some(true) {
            loader
                .warnings
                .push("http_server_config http2: camwatch serves HTTP/1.1 only; HTTP/2 is not offered".into());
        }
        if let Some(h) = http.headers {
            headers = loader.headers(h);
        }
    }
    let (users, decoy_hash) = loader.users(raw.basic_auth_users.unwrap_or_default());
    let rate_limit = raw.rate_limit.and_then(|r| loader.rate_limit(r));
    if !loader.diagnostics.is_empty() {
        return Err(ConfigError::new(label, redacted(&source), loader.diagnostics));
    }
    Ok(WebSettings {
        path: Some(path.to_path_buf()),
        tls,
        users,
        decoy_hash,
        headers,
        rate_limit,
        warnings: loader.warnings,
    })
}

/// Whether the agent this file configures speaks TLS, without reading its key (the CLI's user
/// may not be allowed to).
pub fn speaks_tls(path: &Path) -> Result<bool, ConfigError> {
    let (label, source) = read(path)?;
    let raw = parse(&label, &source)?;
    Ok(raw
        .tls_server_config
        .is_some_and(|t| t.cert.is_some() || t.cert_file.is_some()))
}

fn read(path: &Path) -> Result<(String, String), ConfigError> {
    let label = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        ConfigError::whole_file(
            &label,
            format!("cannot read the web configuration file: {e}"),
            "pass the right path with --web.config.file FILE, $CAMWATCH_WEB_CONFIG_FILE or [agent] \
             web_config_file, or make the file readable",
        )
    })?;
    let source = String::from_utf8(bytes).map_err(|e| {
        ConfigError::whole_file(
            &label,
            format!("the file is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
            "save the file as UTF-8",
        )
    })?;
    Ok((label, source))
}

fn parse(label: &str, source: &str) -> Result<RawWebConfig, ConfigError> {
    // An empty file is a valid, empty configuration (plain HTTP, no users), as in Go.
    if source
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Ok(RawWebConfig::default());
    }
    serde_norway::from_str(source).map_err(|e| {
        let span = e.location().map(|l| l.index()..l.index() + 1);
        let message = e.to_string();
        // serde_norway appends " at line L column C"; the rendering says where already.
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .trim_end()
            .to_owned();
        let fix = if message.contains("Strict-Transport-Security") && message.contains("unknown field") {
            HEADER_FIX.to_owned()
        } else if message.contains("unknown field") {
            "remove the key or correct its spelling (the file has exporter-toolkit's shape)".to_owned()
        } else if message.contains("unknown variant") {
            "use one of the values listed (names are case-sensitive)".to_owned()
        } else if message.contains("invalid type") {
            "write the value in the form expected (see config/web-config.example.yml)".to_owned()
        } else if message.contains("duplicate") {
            "keep only one of the two keys".to_owned()
        } else {
            "correct the YAML syntax at this place (indent with spaces, `key: value`)".to_owned()
        };
        ConfigError::new(label, redacted(source), vec![Diagnostic::new(span, message).fix(fix)])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_finds_keys_under_their_section() {
        let src = "tls_server_config:\n  cert_file: a\n  key_file: b\nhttp_server_config:\n  headers:\n    X-Frame-Options: x\n";
        let at = |s, k| locate(src, s, k).map(|r| crate::config::diagnostic::line_column(src, r.start));
        assert_eq!(at("tls_server_config", "key_file"), Some((3, 3)));
        assert_eq!(at("http_server_config", "X-Frame-Options"), Some((6, 5)));
        assert_eq!(at("", "http_server_config"), Some((4, 1)));
        assert_eq!(at("http_server_config", "key_file"), None);
    }

    #[test]
    fn redaction_keeps_lengths_and_hides_hashes_and_inline_keys() {
        let src = "basic_auth_users:\n  alice: $2y$10$abcdefghijklmnopqrstuv\ntls_server_config:\n  key: |\n    -----BEGIN PRIVATE KEY-----\n    MIIEv\n  cert_file: c.pem\n";
        let out = redacted(src);
        assert_eq!(out.len(), src.len());
        assert_eq!(out.lines().count(), src.lines().count());
        assert!(!out.contains("$2y$"), "{out}");
        assert!(!out.contains("MIIEv"), "{out}");
        assert!(out.contains("  alice:"), "{out}");
        assert!(out.contains("  cert_file: c.pem"), "{out}");
    }

    #[test]
    fn unknown_keys_and_headers_are_refused_with_a_place() {
        let err = parse("w.yml", "tls_server_config:\n  cert_fil: a\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("w.yml:2:3: error: tls_server_config: unknown field `cert_fil`"),
            "{err}"
        );
        let err = parse("w.yml", "http_server_config:\n  headers:\n    Server: x\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("w.yml:3:5:"), "{err}");
        assert!(err.contains("fix: only Strict-Transport-Security"), "{err}");
    }

    #[test]
    fn debug_output_names_users_but_shows_no_hash() {
        let settings = WebSettings {
            users: [("alice".to_owned(), "$2b$04$abcdefghijklmnopqrstuu".to_owned())].into(),
            decoy_hash: "$2b$04$decoydecoydecoydecoyde".to_owned(),
            ..WebSettings::default()
        };
        let shown = format!("{settings:?}");
        assert!(shown.contains("alice"), "{shown}");
        assert!(!shown.contains("$2b$"), "{shown}");
    }

    #[test]
    fn client_auth_type_takes_go_names() {
        let raw = parse(
            "w.yml",
            "tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n",
        )
        .unwrap();
        assert_eq!(
            raw.tls_server_config.unwrap().client_auth_type,
            Some(ClientAuthType::RequireAndVerifyClientCert)
        );
        let err = parse("w.yml", "tls_server_config:\n  client_auth_type: require\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `require`"), "{err}");
    }
}
