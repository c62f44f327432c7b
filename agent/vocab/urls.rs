//! URLs as people may see them: without a password in the userinfo, and with every query value
//! whose name says it is a credential shown as `***`. One rule, used wherever a URL reaches a
//! summary, a log, the API, a report, the store or a configuration error. Cameras take logins in
//! the query (`snap.cgi?user=admin&pwd=...`), and the URLs they hand out over ONVIF carry the
//! same; a URL is shown far more often than it is typed.

use std::borrow::Cow;

/// Query parameter names (or parts of them) that carry a credential.
const SECRET_PARAMS: [&str; 12] = [
    "pass",
    "pwd",
    "token",
    "secret",
    "auth",
    "key",
    "sign",
    "sig",
    "session",
    "sid",
    "credential",
    "cookie",
];

fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "p" || SECRET_PARAMS.iter().any(|s| name.contains(s))
}

/// One URL as it may be shown (`scheme://user:pass@host/path?pwd=x` ->
/// `scheme://user@host/path?pwd=***`).
pub fn shown_url(url: &str) -> String {
    let (head, fragment) = match url.split_once('#') {
        Some((h, f)) => (h, Some(f)),
        None => (url, None),
    };
    let (base, query) = match head.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (head, None),
    };
    let mut out = without_password(base);
    if let Some(query) = query {
        out.push('?');
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) if is_secret_param(k) && !v.is_empty() => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push_str(&pairs.join("&"));
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// `scheme://user:pass@host/...` without `:pass` (the last `@` of the authority ends the
/// userinfo: a password may hold an unencoded `@`).
fn without_password(base: &str) -> String {
    let Some((scheme, rest)) = base.split_once("://") else {
        return base.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}@{host}{path}")
        }
        None => base.to_owned(),
    }
}

/// Free text with every URL in it shown as [`shown_url`] says (a URL runs from its scheme to the
/// next space, quote or angle bracket). Text without a URL is returned as it is.
pub fn mask_urls(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        // The scheme: the letters, digits, '+', '-' and '.' right before "://".
        let start = rest[..at]
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .map_or(rest.len(), |i| at + i);
        out.push_str(&rest[..start]);
        out.push_str(&shown_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    if out == text {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_query_and_the_userinfo_are_masked() {
        assert_eq!(
            shown_url("http://cam/snap.cgi?user=admin&password=SECRET&channel=1"),
            "http://cam/snap.cgi?user=admin&password=***&channel=1"
        );
        assert_eq!(
            shown_url("rtsp://admin:p@ss@10.0.0.5:554/Streaming?token=abc#x"),
            "rtsp://admin@10.0.0.5:554/Streaming?token=***#x"
        );
        for key in [
            "pwd",
            "passwd",
            "PassWord",
            "api_key",
            "auth",
            "sign",
            "access_token",
            "p",
        ] {
            assert_eq!(
                shown_url(&format!("http://h/?{key}=v")),
                format!("http://h/?{key}=***"),
                "{key}"
            );
        }
        assert_eq!(shown_url("http://h/a?user=bo&page=2"), "http://h/a?user=bo&page=2");
        assert_eq!(shown_url("http://h/?pwd="), "http://h/?pwd=", "nothing to hide");
    }

    #[test]
    fn every_url_in_free_text_is_masked_and_other_text_kept() {
        let text = "GET http://cam/snap.cgi?pwd=SECRET answered 401; see \"rtsp://u:SECRET@cam/1\".";
        let masked = mask_urls(text);
        assert!(!masked.contains("SECRET"), "{masked}");
        assert_eq!(
            masked,
            "GET http://cam/snap.cgi?pwd=*** answered 401; see \"rtsp://u@cam/1\"."
        );
        assert!(matches!(mask_urls("no url here"), Cow::Borrowed(_)));
        // A scheme right after a multi-byte character.
        assert_eq!(mask_urls("见http://h/?pwd=x"), "见http://h/?pwd=***");
        assert_eq!(mask_urls("://?key=v"), "://?key=***");
    }
}
