//! TLS settings for devices, one place for every protocol (NUT STARTTLS, HTTPS for ONVIF and
//! snapshots). Cameras and recorders mostly carry self-signed certificates, so a device either
//! names the CA that signed its certificate or pins the certificate's SHA-256 fingerprint. There
//! is deliberately no "accept any certificate" switch.
//!
//! The ring provider is passed explicitly rather than installed process-wide: nothing else has to
//! have installed one, and nothing can swap it.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use super::{ProbeError, ProbeErrorKind};
use crate::config::TlsTrust;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn agent(message: String) -> ProbeError {
    ProbeError::new(ProbeErrorKind::Agent, message)
}

/// Roots from a PEM file; `what` names the setting in messages (`[device.nut] ca_file`).
pub fn roots_from(path: &Path, what: &str) -> Result<rustls::RootCertStore, ProbeError> {
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| {
            agent(format!(
                "cannot read the CA certificates in {} ({what}): {e}",
                path.display()
            ))
        })?;
    if certificates.is_empty() {
        return Err(agent(format!("{} ({what}) holds no PEM certificate", path.display())));
    }
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates {
        roots.add(certificate).map_err(|e| {
            agent(format!(
                "{} ({what}) holds a certificate rustls cannot use: {e}",
                path.display()
            ))
        })?;
    }
    Ok(roots)
}

/// How a device's certificate is trusted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Trust<'a> {
    /// The CA certificate(s) in this PEM file signed it; the name must match the address.
    CaFile(&'a Path),
    /// Exactly this certificate (SHA-256 of its DER), whatever its name and issuer.
    Pinned([u8; 32]),
    /// The operating system's trust store.
    System,
}

pub fn client_config(trust: &Trust<'_>, what: &str) -> Result<rustls::ClientConfig, ProbeError> {
    client_config_with(trust, what, None)
}

/// A client certificate chain and its key, for servers that ask for one.
pub type Identity = (Vec<CertificateDer<'static>>, rustls::pki_types::PrivateKeyDer<'static>);

/// [`client_config`] presenting `identity` when the server asks for a client certificate.
pub fn client_config_with(
    trust: &Trust<'_>,
    what: &str,
    identity: Option<Identity>,
) -> Result<rustls::ClientConfig, ProbeError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| agent(format!("cannot set up TLS: {e}")))?;
    let builder = match trust {
        Trust::CaFile(path) => builder.with_root_certificates(roots_from(path, what)?),
        Trust::Pinned(fingerprint) => builder.dangerous().with_custom_certificate_verifier(Arc::new(Pinned {
            fingerprint: *fingerprint,
            algorithms: provider().signature_verification_algorithms,
        })),
        Trust::System => {
            let verifier = rustls_platform_verifier::Verifier::new(provider())
                .map_err(|e| agent(format!("cannot load the system's trusted certificates: {e}")))?;
            builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier))
        }
    };
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| agent(format!("the client certificate cannot be used ({what}): {e}"))),
    }
}

/// A host as a TLS server name: IP addresses are valid, and the certificate must then carry them.
pub fn server_name(host: &str) -> Result<ServerName<'static>, ProbeError> {
    ServerName::try_from(host.to_owned()).map_err(|e| {
        agent(format!(
            "{host} cannot be checked against a certificate ({e}); use an IP address or DNS name"
        ))
    })
}

#[derive(Debug)]
struct Pinned {
    fingerprint: [u8; 32],
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if seen == self.fingerprint {
            Ok(ServerCertVerified::assertion())
        } else {
            let hex: Vec<String> = seen.iter().map(|b| format!("{b:02X}")).collect();
            Err(rustls::Error::General(format!(
                "the certificate's SHA-256 fingerprint is {}, not the pinned one",
                hex.join(":")
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

impl<'a> From<&'a TlsTrust> for Trust<'a> {
    fn from(trust: &'a TlsTrust) -> Self {
        match trust {
            TlsTrust::CaFile(p) => Trust::CaFile(p),
            TlsTrust::Pinned(f) => Trust::Pinned(*f),
            TlsTrust::System => Trust::System,
        }
    }
}
