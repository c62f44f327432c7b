//! `[device.nut]`: a UPS read from a NUT server (upsd), resolved into the `ups` check.

use std::path::PathBuf;

use super::raw::RawDevice;
use super::sources::{Checks, Source};
use super::{CheckSpec, Resolver, SecretSource, UpsSpec};

pub const NUT_PORT: u16 = 3493;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NutTls {
    /// Plain TCP (a NUT server on the same host or a trusted network).
    #[default]
    None,
    /// STARTTLS before login; the server's certificate must verify.
    Starttls,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NutSpec {
    /// The UPS name on the NUT server (`upsc NAME@host`).
    pub ups: String,
    pub port: u16,
    pub tls: NutTls,
    /// CA certificate(s) that sign the server's certificate, for STARTTLS.
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<SecretSource>,
}

impl Resolver {
    /// `[device.nut]`: a UPS read from a NUT server.
    pub(super) fn nut_checks(&mut self, d: &RawDevice, name: &str, has_address: bool, checks: &mut Checks) {
        let what = format!("device {name:?}");
        if let Some(nut) = &d.nut {
            let n = nut.get_ref();
            if !has_address {
                self.error(
                    Some(nut.span()),
                    format!("{what} has [device.nut] but no address"),
                    "add the NUT server's address",
                );
            }
            if n.username.is_none() && (n.password_env.is_some() || n.password_file.is_some()) {
                self.error(
                    Some(nut.span()),
                    format!("{what}: a NUT password without a username"),
                    "add username = \"...\"",
                );
            }
            let password = self.secret(
                &n.password_env,
                &n.password_file,
                &format!("{what} [device.nut]"),
                "password",
            );
            if n.tls == Some(super::NutTls::Starttls) && n.ca_file.is_none() {
                self.error(
                    Some(nut.span()),
                    format!("{what}: [device.nut] tls = \"starttls\" needs ca_file"),
                    "add ca_file = \"/path/ca.pem\" with the CA that signed the NUT server's certificate",
                );
            }
            let check = CheckSpec::Ups(UpsSpec::Nut(NutSpec {
                ups: n.ups.get_ref().clone(),
                port: n.port.unwrap_or(NUT_PORT),
                tls: n.tls.unwrap_or_default(),
                ca_file: n.ca_file.clone(),
                username: n.username.clone(),
                password,
            }));
            self.add_check(checks, &what, check, Source::table("[device.nut]", Some(nut.span())));
        }
    }
}
