//! HTTP authentication challenges and answers (RFC 7617 Basic, RFC 7616 / 2617 Digest), shared by
//! every protocol that uses them: ONVIF and snapshots over HTTP, RTSP streams. Cameras answer
//! `401` with one or more `WWW-Authenticate` challenges; the strongest one we can answer wins.

use base64::Engine;
use md5::Md5;
use sha2::{Digest as _, Sha256};

/// One `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic {
        realm: String,
    },
    Digest {
        realm: String,
        nonce: String,
        opaque: Option<String>,
        /// `MD5`, `MD5-sess`, `SHA-256`, `SHA-256-sess`.
        algorithm: String,
        /// Whether the server offers `qop=auth` (else the RFC 2069 form is used).
        qop_auth: bool,
    },
}

impl Challenge {
    fn strength(&self) -> u8 {
        match self {
            Self::Basic { .. } => 0,
            Self::Digest { algorithm, .. } if algorithm.to_ascii_uppercase().starts_with("SHA-256") => 2,
            Self::Digest { .. } => 1,
        }
    }

    pub fn scheme(&self) -> &'static str {
        match self {
            Self::Basic { .. } => "Basic",
            Self::Digest { .. } => "Digest",
        }
    }
}

/// Splits a header value into its auth-params, honouring quoted strings (which may hold commas).
fn params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            v.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            rest = quoted[end.min(quoted.len())..].trim_start();
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_owned();
            rest = &rest[end..];
        }
        rest = rest.trim_start_matches(',').trim_start();
        out.push((key, value));
    }
    out
}

/// Parses the challenges of one or more `WWW-Authenticate` header values. Unknown schemes are
/// skipped; a header may hold several challenges (`Digest ..., Basic realm="x"`).
pub fn parse_challenges<'a>(headers: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut found = Vec::new();
    for header in headers {
        // Split before each scheme token: a word followed by a space that is not inside params.
        let mut pieces: Vec<String> = Vec::new();
        for part in header.split(',') {
            let trimmed = part.trim_start();
            let first = trimmed.split_whitespace().next().unwrap_or("");
            let starts_scheme = !first.contains('=')
                && matches!(
                    first.to_ascii_lowercase().as_str(),
                    "basic" | "digest" | "bearer" | "negotiate" | "ntlm"
                );
            if starts_scheme || pieces.is_empty() {
                pieces.push(trimmed.to_owned());
            } else if let Some(last) = pieces.last_mut() {
                last.push(',');
                last.push_str(part);
            }
        }
        for piece in pieces {
            let (scheme, rest) = piece.split_once(' ').unwrap_or((piece.as_str(), ""));
            let p = params(rest);
            let get = |k: &str| p.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
            match scheme.to_ascii_lowercase().as_str() {
                "basic" => found.push(Challenge::Basic {
                    realm: get("realm").unwrap_or_default(),
                }),
                "digest" => {
                    if let Some(nonce) = get("nonce") {
                        found.push(Challenge::Digest {
                            realm: get("realm").unwrap_or_default(),
                            nonce,
                            opaque: get("opaque"),
                            algorithm: get("algorithm").unwrap_or_else(|| "MD5".to_owned()),
                            qop_auth: get("qop").is_some_and(|q| q.split(',').any(|v| v.trim() == "auth")),
                        });
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// The challenge to answer: the strongest one we support.
pub fn best(challenges: &[Challenge]) -> Option<&Challenge> {
    challenges
        .iter()
        .filter(|c| match c {
            Challenge::Digest { algorithm, .. } => {
                matches!(
                    algorithm.to_ascii_uppercase().as_str(),
                    "MD5" | "MD5-SESS" | "SHA-256" | "SHA-256-SESS"
                )
            }
            Challenge::Basic { .. } => true,
        })
        .max_by_key(|c| c.strength())
}

fn hex_hash(algorithm: &str, data: &str) -> String {
    let bytes: Vec<u8> = if algorithm.to_ascii_uppercase().starts_with("SHA-256") {
        Sha256::digest(data.as_bytes()).to_vec()
    } else {
        Md5::digest(data.as_bytes()).to_vec()
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The `Authorization` header value answering `challenge` for `method` on `uri` (the request
/// target as sent: a path for HTTP, the full URL for RTSP). `nc` counts uses of the same nonce;
/// `cnonce` is the client nonce (random in use, fixed in tests).
pub fn authorization(
    challenge: &Challenge,
    method: &str,
    uri: &str,
    user: &str,
    password: &str,
    nc: u32,
    cnonce: &str,
) -> String {
    match challenge {
        Challenge::Basic { .. } => {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
        }
        Challenge::Digest {
            realm,
            nonce,
            opaque,
            algorithm,
            qop_auth,
        } => {
            let mut ha1 = hex_hash(algorithm, &format!("{user}:{realm}:{password}"));
            if algorithm.to_ascii_uppercase().ends_with("-SESS") {
                ha1 = hex_hash(algorithm, &format!("{ha1}:{nonce}:{cnonce}"));
            }
            let ha2 = hex_hash(algorithm, &format!("{method}:{uri}"));
            let nc = format!("{nc:08x}");
            let response = if *qop_auth {
                hex_hash(algorithm, &format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
            } else {
                hex_hash(algorithm, &format!("{ha1}:{nonce}:{ha2}"))
            };
            let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
            let mut header = format!(
                "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", algorithm={algorithm}, response=\"{response}\"",
                quote(user),
                quote(realm),
                quote(nonce),
                quote(uri)
            );
            if *qop_auth {
                header.push_str(&format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""));
            }
            if let Some(opaque) = opaque {
                header.push_str(&format!(", opaque=\"{}\"", quote(opaque)));
            }
            header
        }
    }
}

/// A fresh client nonce.
pub fn cnonce() -> String {
    format!("{:016x}", fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_2617_example_answers_correctly() {
        // RFC 2617 section 3.5: Mufasa / "Circle Of Life".
        let c = parse_challenges([
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        ]);
        assert_eq!(c.len(), 1);
        let header = authorization(
            &c[0],
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle Of Life",
            1,
            "0a4f113b",
        );
        assert!(
            header.contains(r#"response="6629fae49393a05397450978507c4ef1""#),
            "{header}"
        );
        assert!(
            header.contains("qop=auth, nc=00000001, cnonce=\"0a4f113b\""),
            "{header}"
        );
        assert!(
            header.contains(r#"opaque="5ccc069c403ebaf9f0171e9517f40e41""#),
            "{header}"
        );
    }

    #[test]
    fn rfc_7616_sha256_example_answers_correctly() {
        // RFC 7616 section 3.9.1.
        let c = parse_challenges([
            r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
            r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
        ]);
        let chosen = best(&c).unwrap();
        let header = authorization(
            chosen,
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle of Life",
            1,
            "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        );
        assert!(
            header.contains(r#"response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1""#),
            "{header}"
        );
    }

    #[test]
    fn several_challenges_in_one_header_and_basic() {
        let c = parse_challenges([r#"Basic realm="cam", Digest realm="cam, inc", nonce="abc", qop="auth""#]);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(best(&c).unwrap().scheme(), "Digest");
        assert!(matches!(&c[1], Challenge::Digest { realm, .. } if realm == "cam, inc"));
        let basic = authorization(&c[0], "GET", "/", "admin", "12345", 1, "x");
        assert_eq!(basic, "Basic YWRtaW46MTIzNDU=");
        assert!(parse_challenges(["Negotiate abc"]).is_empty());
        assert!(parse_challenges(["garbage,,,=\"\\"]).is_empty());
    }
}
