//! Configuration errors that point at the exact place in the file and say how to fix it.
//!
//! Every problem carries the byte span it is about; rendering turns that into `file:line:column`,
//! the offending source line with a caret, and a `fix:` line. Source lines whose key looks like a
//! secret are redacted before they are shown, so a mistyped `password = "..."` never leaks into a
//! terminal, a log or a CI transcript.

use std::fmt;
use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub span: Option<Range<usize>>,
    pub message: String,
    pub fix: Option<String>,
}

impl Diagnostic {
    pub fn new(span: Option<Range<usize>>, message: impl Into<String>) -> Self {
        Self {
            span,
            message: message.into(),
            fix: None,
        }
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// All problems found in one configuration file.
#[derive(Debug, Clone)]
pub struct ConfigError {
    pub file: String,
    source: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl ConfigError {
    pub fn new(file: impl Into<String>, source: impl Into<String>, diagnostics: Vec<Diagnostic>) -> Self {
        Self {
            file: file.into(),
            source: source.into(),
            diagnostics,
        }
    }

    /// A problem with the file as a whole (cannot be read, not UTF-8).
    pub fn whole_file(file: impl Into<String>, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(file, "", vec![Diagnostic::new(None, message).fix(fix)])
    }

    /// `(line, column)`, both 1-based, of a byte offset; the column counts characters.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        line_column(&self.source, offset)
    }
}

pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(source, offset.min(source.len()));
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = source[line_start..offset].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Key names whose values are secrets. Used both to refuse inline secrets and to redact them.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.trim().trim_matches('"').to_ascii_lowercase();
    if key.ends_with("_env") || key.ends_with("_file") {
        return false;
    }
    [
        "password",
        "passwd",
        "secret",
        "token",
        "community",
        "passphrase",
        "auth_key",
        "priv_key",
        "api_key",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// The line with everything after its first `=` hidden when any key on it (also inside an
/// inline table) names a secret, or a URL on it carries a password.
fn redact_line(line: &str) -> String {
    let holds_secret = line
        .split(['{', ','])
        .filter_map(|part| part.split_once('=').map(|(key, _)| key))
        .any(is_secret_key)
        // A URL with a password, in its userinfo or its query.
        || mask_urls(line) != line;
    match line.split_once('=') {
        _ if !holds_secret => line.to_owned(),
        Some((key, _)) => format!("{key}= <redacted>"),
        // A value on a line of its own (an array written over several lines).
        None => format!("{}<redacted>", &line[..line.len() - line.trim_start().len()]),
    }
}

use crate::vocab::urls::mask_urls;

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            match &d.span {
                Some(span) => {
                    let (line, column) = self.line_column(span.start);
                    writeln!(f, "{}:{line}:{column}: error: {}", self.file, mask_urls(&d.message))?;
                    let text = self.source.lines().nth(line - 1).unwrap_or("");
                    let shown = redact_line(text);
                    let gutter = line.to_string();
                    writeln!(f, "{:>w$} | {shown}", gutter, w = gutter.len())?;
                    if shown == text {
                        let width = self.source[span.clone()]
                            .lines()
                            .next()
                            .map_or(1, |l| l.chars().count().max(1));
                        let width = width.min(text.chars().count().saturating_sub(column - 1).max(1));
                        writeln!(
                            f,
                            "{:>w$} | {}{}",
                            "",
                            " ".repeat(column - 1),
                            "^".repeat(width),
                            w = gutter.len()
                        )?;
                    }
                }
                None => writeln!(f, "{}: error: {}", self.file, mask_urls(&d.message))?,
            }
            if let Some(fix) = &d.fix {
                writeln!(f, "  fix: {}", mask_urls(fix))?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let src = "a = 1\nbé = \"x\"\n";
        assert_eq!(line_column(src, 0), (1, 1));
        let offset = src.find('=').unwrap();
        assert_eq!(line_column(src, offset), (1, 3));
        let offset = src.rfind('"').unwrap();
        assert_eq!(line_column(src, offset), (2, 8));
    }

    #[test]
    fn secret_lines_are_redacted_in_rendering() {
        let src = "[[device]]\npassword = \"hunter2\"\n";
        let start = src.find("password").unwrap();
        let err = ConfigError::new(
            "c.toml",
            src,
            vec![Diagnostic::new(Some(start..start + 8), "inline secret")],
        );
        let text = err.to_string();
        assert!(text.contains("c.toml:2:1: error: inline secret"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn secrets_inside_inline_tables_are_redacted() {
        assert_eq!(
            redact_line("overrides = { interval = \"5s\", password = \"x1\" }"),
            "overrides = <redacted>"
        );
        assert_eq!(redact_line("address = \"192.0.2.1\""), "address = \"192.0.2.1\"");
    }

    #[test]
    fn urls_with_a_password_are_redacted() {
        assert_eq!(
            redact_line("urls = [\"http://am1:9093\", \"http://admin:hunter2@am3:9093\"]"),
            "urls = <redacted>"
        );
        assert_eq!(
            redact_line("uri = \"rtsp://cam:554/live\""),
            "uri = \"rtsp://cam:554/live\""
        );
        assert_eq!(redact_line("    \"http://admin:hunter2@am3:9093\","), "    <redacted>");
        // A user without a password is no secret.
        assert_eq!(
            redact_line("uri = \"rtsp://viewer@cam/live\""),
            "uri = \"rtsp://viewer@cam/live\""
        );
    }

    #[test]
    fn secret_key_names() {
        assert!(is_secret_key("password"));
        assert!(is_secret_key("smtp_password "));
        assert!(is_secret_key("community"));
        assert!(!is_secret_key("password_env"));
        assert!(!is_secret_key("password_file"));
        assert!(!is_secret_key("address"));
    }
}
