//! Property tests on the configuration loader: whatever a user (or a broken editor) writes, the
//! loader answers with a configuration or with errors that point inside the file; it never
//! panics and never repeats an inline secret.

use camwatch::config::{self, diagnostic::line_column};
use proptest::prelude::*;

const KEYS: &[&str] = &[
    "name",
    "kind",
    "address",
    "site",
    "room",
    "owner",
    "policy",
    "parent",
    "ping",
    "interval",
    "timeout",
    "failures_before_failed",
    "ping_count",
    "mountpoints",
    "listen",
    "timezone",
    "data_dir",
    "username",
    "password_env",
    "filesystem_warning_free_percent",
];
const VALUES: &[&str] = &[
    "\"cam-1\"",
    "\"camera\"",
    "\"192.0.2.1\"",
    "\"::1\"",
    "\"tcp:554\"",
    "\"icmp\"",
    "\"off\"",
    "\"5s\"",
    "\"0s\"",
    "\"-1s\"",
    "3",
    "0",
    "-7",
    "4294967296",
    "1e309",
    "nan",
    "true",
    "[]",
    "[\"/\"]",
    "{}",
    "\"\"",
    "\"default\"",
    "\"UTC\"",
    "\"\\u0000\"",
    "'''x'''",
    "2026-11-29T06:00:00Z",
];
const HEADERS: &[&str] = &[
    "[agent]",
    "[[device]]",
    "[policy.default]",
    "[policy.x]",
    "[device.overrides]",
    "[device.filesystem]",
    "[device]",
    "[[policy]]",
];

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(HEADERS).prop_map(str::to_owned),
        (prop::sample::select(KEYS), prop::sample::select(VALUES)).prop_map(|(k, v)| format!("{k} = {v}")),
        "[ -~]{0,40}",
    ]
}

fn check_errors_point_inside(source: &str) {
    if let Err(e) = config::parse("p.toml", source) {
        assert!(!e.diagnostics.is_empty());
        for d in &e.diagnostics {
            if let Some(span) = &d.span {
                assert!(
                    span.start <= source.len(),
                    "span {span:?} outside {} bytes",
                    source.len()
                );
                let (line, column) = line_column(source, span.start);
                assert!(line >= 1 && column >= 1);
                assert!(line <= source.lines().count().max(1) + 1);
            }
        }
        let rendered = e.to_string();
        assert!(rendered.contains("p.toml"), "{rendered}");
        assert!(rendered.contains("error:"), "{rendered}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(source in "\\PC{0,300}") {
        check_errors_point_inside(&source);
    }

    #[test]
    fn config_shaped_text_never_panics(lines in prop::collection::vec(line(), 0..30)) {
        check_errors_point_inside(&lines.join("\n"));
    }

    #[test]
    fn inline_secrets_are_never_echoed(secret in "[A-Za-z0-9]{12,24}", key in prop::sample::select(&["password", "community", "auth_key", "api_token"][..])) {
        let source = format!("[[device]]\nname = \"cam\"\nkind = \"camera\"\naddress = \"192.0.2.1\"\n{key} = \"{secret}\"\n");
        let inline = format!("[[device]]\nname = \"cam\"\nkind = \"camera\"\naddress = \"192.0.2.1\"\noverrides = {{ ping_count = 2, {key} = \"{secret}\" }}\n");
        let rendered = config::parse("p.toml", &inline).unwrap_err().to_string();
        prop_assert!(!rendered.contains(&secret), "{}", rendered);
        let rendered = config::parse("p.toml", &source).unwrap_err().to_string();
        prop_assert!(!rendered.contains(&secret), "{}", rendered);
        prop_assert!(rendered.contains("p.toml:5:1"), "{}", rendered);
        let env_hint = format!("{key}_env");
        prop_assert!(rendered.contains(&env_hint), "{}", rendered);
    }

    #[test]
    fn generated_valid_sites_load_with_every_device(
        cameras in 1usize..40,
        interval in 10u64..600,
        with_parent in any::<bool>(),
    ) {
        let mut source = format!("[policy.site]\ninterval = \"{interval}s\"\ntimeout = \"5s\"\n[[device]]\nname = \"switch\"\nkind = \"switch\"\naddress = \"192.0.2.1\"\n");
        for i in 0..cameras {
            source.push_str(&format!("[[device]]\nname = \"cam-{i}\"\nkind = \"camera\"\naddress = \"192.0.2.{}\"\npolicy = \"site\"\n", i + 10));
            if with_parent {
                source.push_str("parent = \"switch\"\n");
            }
        }
        let c = config::parse("p.toml", &source).unwrap();
        prop_assert_eq!(c.devices.len(), cameras + 1);
        prop_assert_eq!(c.devices[1].policy.interval.as_secs(), interval);
        prop_assert_eq!(c.devices[1].parent.is_some(), with_parent);
    }
}
