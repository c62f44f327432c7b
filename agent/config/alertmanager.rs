//! `[alertmanager]`: incidents posted to Prometheus Alertmanager (`/api/v2/alerts`), so a site
//! that runs an Alertmanager cluster routes, silences and deduplicates camwatch's faults with the
//! rest of its alerts. Without the table nothing is posted.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;

use super::raw::RawAlertmanager;
use super::{Resolver, SecretSource, TlsTrust};

/// Prometheus's own resend delay: Alertmanager forgets an alert not heard of for its
/// `resolve_timeout` (5m by default), so a firing alert is posted again well within it.
pub const DEFAULT_RESEND_EVERY: Duration = Duration::from_secs(60);
/// Prometheus's default for its Alertmanager requests.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Labels camwatch sets itself; static labels may not replace them.
pub const OWN_LABELS: [&str; 6] = ["alertname", "device", "check", "site", "kind", "severity"];

#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerSettings {
    /// Base URLs (`http://am1:9093`, with any route prefix); every one is posted to, as
    /// Prometheus does with the members of a cluster.
    pub urls: Vec<reqwest::Url>,
    pub resend_every: Duration,
    pub timeout: Duration,
    pub trust: TlsTrust,
    pub auth: Option<AlertmanagerAuth>,
    /// The agent's address as people reach it; alerts link to its incident list.
    pub generator_url_base: Option<String>,
    /// Added to every alert (`env = "prod"`).
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertmanagerAuth {
    Basic { username: String, password: SecretSource },
    Bearer(SecretSource),
}

impl AlertmanagerSettings {
    /// The secrets posting reads, with what they are for (for `check-config`).
    pub fn secrets(&self) -> Vec<(&'static str, &SecretSource)> {
        match &self.auth {
            Some(AlertmanagerAuth::Basic { password, .. }) => vec![("password", password)],
            Some(AlertmanagerAuth::Bearer(token)) => vec![("bearer token", token)],
            None => Vec::new(),
        }
    }
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

impl Resolver {
    pub(super) fn alertmanager(&mut self, table: Spanned<RawAlertmanager>) -> AlertmanagerSettings {
        let span = table.span();
        let raw = table.into_inner();
        let mut urls = Vec::new();
        match &raw.urls {
            None => self.error(
                Some(span.clone()),
                "[alertmanager] has no urls",
                "add urls = [\"http://alertmanager:9093\"] (every member of an Alertmanager cluster), or remove the table",
            ),
            Some(list) if list.get_ref().is_empty() => self.error(
                Some(list.span()),
                "[alertmanager] urls is empty, so no alert could be posted",
                "list at least one Alertmanager, like \"http://alertmanager:9093\", or remove the table",
            ),
            Some(list) => {
                for text in list.get_ref() {
                    if let Some(url) = self.http_url(text, "[alertmanager] urls") {
                        urls.push(url);
                    }
                }
            }
        }
        let mut duration = |value: &Option<Spanned<super::raw::HumanDuration>>, key: &str, default: Duration| {
            let Some(value) = value else { return default };
            if value.get_ref().0.is_zero() {
                self.error(
                    Some(value.span()),
                    format!("[alertmanager] {key} is zero"),
                    if key == "timeout" {
                        "write how long one post may take, like \"10s\""
                    } else {
                        "write how often firing alerts are posted again, like \"1m\" (well under Alertmanager's resolve_timeout)"
                    },
                );
                return default;
            }
            value.get_ref().0
        };
        let resend_every = duration(&raw.resend_every, "resend_every", DEFAULT_RESEND_EVERY);
        let timeout = duration(&raw.timeout, "timeout", DEFAULT_TIMEOUT);
        let password = self.secret(&raw.password_env, &raw.password_file, "[alertmanager]", "password");
        let token = self.secret(
            &raw.bearer_token_env,
            &raw.bearer_token_file,
            "[alertmanager]",
            "bearer_token",
        );
        let auth = match (&raw.username, password, token) {
            (Some(user), Some(password), None) => Some(AlertmanagerAuth::Basic {
                username: user.get_ref().clone(),
                password,
            }),
            (None, None, Some(token)) => Some(AlertmanagerAuth::Bearer(token)),
            (None, None, None) => None,
            (Some(user), None, None) => {
                self.error(
                    Some(user.span()),
                    "[alertmanager] has a username but no password",
                    "add password_env = \"VARIABLE\" (or password_file) for Basic authentication",
                );
                None
            }
            (None, Some(_), None) => {
                self.error(
                    raw.password_env
                        .as_ref()
                        .map(Spanned::span)
                        .or(raw.password_file.as_ref().map(Spanned::span)),
                    "[alertmanager] has a password but no username",
                    "add username = \"...\"",
                );
                None
            }
            (_, _, Some(_)) => {
                self.error(
                    raw.bearer_token_env
                        .as_ref()
                        .map(Spanned::span)
                        .or(raw.bearer_token_file.as_ref().map(Spanned::span)),
                    "[alertmanager] sets both a Basic login and a bearer token",
                    "keep one: username with password_env/password_file, or bearer_token_env/bearer_token_file",
                );
                None
            }
        };
        let generator_url_base = raw.generator_url_base.as_ref().and_then(|text| {
            self.http_url(text, "[alertmanager] generator_url_base")
                .map(|url| url.as_str().trim_end_matches('/').to_owned())
        });
        let mut labels = BTreeMap::new();
        for (name, value) in raw.labels.iter().flatten() {
            if !is_label_name(name.get_ref()) {
                self.error(
                    Some(name.span()),
                    format!(
                        "[alertmanager] label name {:?} is not a Prometheus label name",
                        name.get_ref()
                    ),
                    "use letters, digits and underscores, not starting with a digit or \"__\"",
                );
            } else if OWN_LABELS.contains(&name.get_ref().as_str()) {
                self.error(
                    Some(name.span()),
                    format!("[alertmanager] label {:?} is one camwatch sets itself", name.get_ref()),
                    format!("choose another name; camwatch sets {}", OWN_LABELS.join(", ")),
                );
            } else if value.get_ref().is_empty() {
                self.error(
                    Some(value.span()),
                    format!("[alertmanager] label {:?} is empty", name.get_ref()),
                    "give it a value (Alertmanager treats an empty label as absent), or remove it",
                );
            } else {
                labels.insert(name.get_ref().clone(), value.get_ref().clone());
            }
        }
        AlertmanagerSettings {
            urls,
            resend_every,
            timeout,
            trust: raw.ca_file.map_or(TlsTrust::System, TlsTrust::CaFile),
            auth,
            generator_url_base,
            labels,
        }
    }

    /// An `http(s)://` URL with no login in it (credentials belong in `*_env`/`*_file` keys).
    fn http_url(&mut self, text: &Spanned<String>, what: &str) -> Option<reqwest::Url> {
        let fix = "write it like \"http://alertmanager:9093\" (http or https, host, port, any route prefix)";
        match reqwest::Url::parse(text.get_ref()) {
            // Before anything that shows the URL: it must not be shown with a password in it.
            Ok(url) if !url.username().is_empty() || url.password().is_some() => {
                self.error(
                    Some(text.span()),
                    format!("{what}: the URL carries a login"),
                    "remove it from the URL; set username with password_env or password_file instead",
                );
                None
            }
            Ok(url) if !matches!(url.scheme(), "http" | "https") || url.host().is_none() => {
                self.error(
                    Some(text.span()),
                    format!("{what}: {:?} is not an http or https URL", text.get_ref()),
                    fix,
                );
                None
            }
            Ok(url) if url.query().is_some() || url.fragment().is_some() => {
                self.error(
                    Some(text.span()),
                    format!("{what}: {:?} has a query or fragment", text.get_ref()),
                    fix,
                );
                None
            }
            Ok(url) => Some(url),
            Err(e) => {
                self.error(
                    Some(text.span()),
                    format!("{what}: {:?} is not a URL ({e})", text.get_ref()),
                    fix,
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    const DEVICE: &str = "[[device]]\nname = \"h\"\nkind = \"host\"\naddress = \"127.0.0.1\"\n";

    #[test]
    fn defaults_and_keys() {
        let config = crate::config::parse("t.toml", DEVICE).unwrap();
        assert!(config.alertmanager.is_none(), "no table, nothing posted");
        let text = format!(
            "[alertmanager]\nurls = [\"http://am1:9093\", \"https://am2:9093/prefix/\"]\nbearer_token_env = \"AM_TOKEN\"\n\
             generator_url_base = \"http://cctv-agent:9810/\"\nlabels = {{ env = \"prod\" }}\n{DEVICE}"
        );
        let am = crate::config::parse("t.toml", &text).unwrap().alertmanager.unwrap();
        assert_eq!(am.urls.len(), 2);
        assert_eq!(am.resend_every, super::DEFAULT_RESEND_EVERY);
        assert_eq!(am.timeout, super::DEFAULT_TIMEOUT);
        assert_eq!(
            am.auth,
            Some(super::AlertmanagerAuth::Bearer(crate::config::SecretSource::Env(
                "AM_TOKEN".into()
            )))
        );
        assert_eq!(am.generator_url_base.as_deref(), Some("http://cctv-agent:9810"));
        assert_eq!(am.labels["env"], "prod");
        assert_eq!(am.secrets()[0].0, "bearer token");
    }
}
