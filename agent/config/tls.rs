//! How a device's TLS certificate is trusted, as its tables say (`ca_file`,
//! `fingerprint_sha256`): shared by every table that speaks TLS (ONVIF, ISAPI, snapshots).

use toml::Spanned;

use std::path::PathBuf;

use super::Resolver;

/// How a device's TLS certificate is trusted (the probes borrow it as `probe::tls::Trust`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum TlsTrust {
    CaFile(PathBuf),
    Pinned([u8; 32]),
    #[default]
    System,
}

impl TlsTrust {
    /// Parses `AB:CD:...` or plain hex into a SHA-256 fingerprint.
    pub fn parse_fingerprint(text: &str) -> Option<[u8; 32]> {
        let hex: String = text.chars().filter(|c| !matches!(c, ':' | ' ')).collect();
        if hex.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(out)
    }
}

impl Resolver {
    pub(super) fn trust(
        &mut self,
        ca_file: &Option<std::path::PathBuf>,
        fingerprint: &Option<Spanned<String>>,
        what: &str,
    ) -> TlsTrust {
        match (ca_file, fingerprint) {
            (Some(_), Some(f)) => {
                self.error(
                    Some(f.span()),
                    format!("{what}: both ca_file and fingerprint_sha256"),
                    "trust the device one way: its CA, or its certificate's fingerprint",
                );
                TlsTrust::System
            }
            (Some(path), None) => TlsTrust::CaFile(path.clone()),
            (None, Some(f)) => match TlsTrust::parse_fingerprint(f.get_ref()) {
                Some(pin) => TlsTrust::Pinned(pin),
                None => {
                    self.error(
                        Some(f.span()),
                        format!("{what}: {:?} is not a SHA-256 fingerprint", f.get_ref()),
                        "write 64 hex digits, with or without colons (openssl x509 -noout -fingerprint -sha256)",
                    );
                    TlsTrust::System
                }
            },
            (None, None) => TlsTrust::System,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let colons = "AB:".repeat(31) + "CD";
        assert_eq!(TlsTrust::parse_fingerprint(&colons).unwrap()[31], 0xCD);
        assert_eq!(TlsTrust::parse_fingerprint(&"ab".repeat(32)).unwrap()[0], 0xAB);
        assert!(TlsTrust::parse_fingerprint("ABCD").is_none());
        assert!(TlsTrust::parse_fingerprint(&"zz".repeat(32)).is_none());
    }
}
