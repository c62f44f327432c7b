//! Device text as people may read it: one line, no terminal control, no credential, not too long.
//! Everything a device says reaches people through verdicts (summaries, figures, events: the
//! status page, the `once` table, mail, reports, the human log) and probe transcripts, so this
//! is applied there, once, whatever protocol brought the text.
//!
//! Why each rule: an ESC sequence in a camera's model name repaints the terminal running
//! `camwatch once`; a newline in a serial number forges a line in the log; a recorder that
//! echoes the request into its error text hands back our `Authorization` header; a 5,000-
//! character fault string buries the sentence a worker needs.

use std::borrow::Cow;

use super::urls::mask_urls;

/// Longest summary shown; longer text is cut with an ellipsis.
pub const MAX_SUMMARY_CHARS: usize = 600;
/// Longest text figure (an identity field, a note).
pub const MAX_FIGURE_CHARS: usize = 1000;

/// `text` made safe to show: credentials masked (an `Authorization` header or a `Basic`/`Digest`
/// credential echoed back, URLs per `vocab::urls`), line breaks and tabs as spaces, other
/// control and bidirectional-override characters as `?`, at most `max_chars` characters.
pub fn for_people(text: &str, max_chars: usize) -> Cow<'_, str> {
    let needs_work = text.chars().count() > max_chars
        || text.chars().any(|c| c.is_control() || is_bidi_override(c))
        || text.contains("://")
        || contains_credential(text);
    if !needs_work {
        return Cow::Borrowed(text);
    }
    let urls_masked = mask_urls(text);
    let masked = mask_credentials(&urls_masked);
    let mut out: String = masked
        .chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() || is_bidi_override(c) => '?',
            c => c,
        })
        .take(max_chars)
        .collect();
    if masked.chars().count() > max_chars {
        out.push('…');
    }
    Cow::Owned(out)
}

fn is_bidi_override(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Marks after which the rest of the line is a credential: an echoed header, a Digest answer.
const CREDENTIAL_MARKS: [&str; 3] = ["authorization:", "cookie:", "digest username="];

/// Where a credential starts in `line` (lower-cased), after which everything is masked: one of
/// the marks, or `Basic ` followed by what looks like base64 (`Basic login accepted` is words).
fn credential_at(lower: &str) -> Option<usize> {
    let marked = CREDENTIAL_MARKS
        .iter()
        .filter_map(|m| lower.find(m).map(|i| i + m.len()))
        .min();
    let basic = lower.match_indices("basic ").map(|(i, m)| i + m.len()).find(|&at| {
        let token: &str = lower[at..].split_whitespace().next().unwrap_or("");
        token.len() >= 8
            && token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
            && token
                .chars()
                .any(|c| c.is_ascii_digit() || matches!(c, '+' | '/' | '='))
    });
    match (marked, basic) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn contains_credential(text: &str) -> bool {
    credential_at(&text.to_ascii_lowercase()).is_some()
}

/// Each line's rest after a credential (`Authorization: Digest username="admin", ...`,
/// `Cookie: ...`, a bare `Basic YWRtaW46...`) becomes `***`.
fn mask_credentials(text: &str) -> Cow<'_, str> {
    if !contains_credential(text) {
        return Cow::Borrowed(text);
    }
    let lines: Vec<String> = text
        .split_inclusive('\n')
        .map(|line| {
            let Some(at) = credential_at(&line.to_ascii_lowercase()) else {
                return line.to_owned();
            };
            let keep = line[at..]
                .char_indices()
                .find(|(_, c)| *c != ' ')
                .map_or(line.len(), |(i, _)| at + i);
            let end = if line.ends_with('\n') { "\n" } else { "" };
            format!("{}***{end}", &line[..keep])
        })
        .collect();
    Cow::Owned(lines.concat())
}

/// Every string inside `value` (a verdict's figures) passed through [`for_people`].
pub fn for_people_in_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            if let Cow::Owned(safe) = for_people(s, MAX_FIGURE_CHARS) {
                *s = safe;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(for_people_in_json),
        serde_json::Value::Object(map) => map.values_mut().for_each(for_people_in_json),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_line_breaks_and_length_are_tamed() {
        assert_eq!(
            for_people("Acme\u{1b}[2J\nFAKE line\r\tx", 100),
            "Acme?[2J FAKE line  x"
        );
        assert_eq!(for_people("abc\u{202E}def", 100), "abc?def");
        assert_eq!(for_people("é".repeat(10).as_str(), 4), "éééé…");
        assert!(matches!(for_people("plain words", 100), Cow::Borrowed(_)));
    }

    #[test]
    fn echoed_credentials_are_masked() {
        let echoed = "bad request: GET /ISAPI/x HTTP/1.1\r\nHost: nvr\r\nAuthorization: Digest username=\"admin\", response=\"6629fae4\"\r\nAccept: */*";
        let shown = for_people(echoed, 600);
        assert!(!shown.contains("6629fae4") && !shown.contains("admin"), "{shown}");
        assert!(
            shown.contains("Authorization: ***") && shown.contains("Accept: */*"),
            "{shown}"
        );
        assert_eq!(for_people("token Basic YWRtaW46c2VjcmV0", 100), "token Basic ***");
        assert_eq!(for_people("Cookie: SESSION=abc", 100), "Cookie: ***");
        // Words are no credential.
        for words in [
            "stream answers (Basic login accepted)",
            "needs Basic authentication",
            "no cookie support",
        ] {
            assert!(matches!(for_people(words, 100), Cow::Borrowed(_)), "{words}");
        }
    }

    #[test]
    fn every_string_of_the_figures_is_made_safe() {
        let mut values = serde_json::json!({"uri": "http://c/?key=K", "list": ["https://x/?sig=S", "a\nb"], "n": 1});
        for_people_in_json(&mut values);
        assert_eq!(values["uri"], "http://c/?key=***");
        assert_eq!(values["list"][0], "https://x/?sig=***");
        assert_eq!(values["list"][1], "a b");
        assert_eq!(values["n"], 1);
    }
}
