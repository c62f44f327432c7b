//! SOAP 1.2 for ONVIF: envelopes written here (never from user text unescaped), WS-Security
//! UsernameToken with PasswordDigest, and faults recognised whatever the HTTP status (some devices
//! send a fault with 200, others with 400, 401 or 500).

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::probe::xml::Element;

pub const NS: &str = concat!(
    r#"xmlns:s="http://www.w3.org/2003/05/soap-envelope" "#,
    r#"xmlns:tds="http://www.onvif.org/ver10/device/wsdl" "#,
    r#"xmlns:trt="http://www.onvif.org/ver10/media/wsdl" "#,
    r#"xmlns:tse="http://www.onvif.org/ver10/search/wsdl" "#,
    r#"xmlns:trc="http://www.onvif.org/ver10/recording/wsdl" "#,
    r#"xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" "#,
    r#"xmlns:tns1="http://www.onvif.org/ver10/topics" "#,
    r#"xmlns:tt="http://www.onvif.org/ver10/schema""#
);

/// `Base64(SHA1(nonce + created + password))`, as WS-Security UsernameToken Profile 1.0 defines.
pub fn password_digest(nonce: &[u8], created: &str, password: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(nonce);
    hasher.update(created.as_bytes());
    hasher.update(password.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hasher.finalize())
}

/// The `wsse:Security` header for `user`, created at `created` (the device's idea of now).
pub fn security_header(user: &str, password: &str, nonce: &[u8], created: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    format!(
        concat!(
            r#"<s:Header><wsse:Security s:mustUnderstand="1" "#,
            r#"xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" "#,
            r#"xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">"#,
            r#"<wsse:UsernameToken><wsse:Username>{user}</wsse:Username>"#,
            r#"<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">{digest}</wsse:Password>"#,
            r#"<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary">{nonce}</wsse:Nonce>"#,
            r#"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header>"#
        ),
        user = quick_xml::escape::escape(user),
        digest = password_digest(nonce, created, password),
        nonce = b64.encode(nonce),
        created = created,
    )
}

pub fn envelope(header: &str, body: &str) -> String {
    format!(r#"<?xml version="1.0" encoding="UTF-8"?><s:Envelope {NS}>{header}<s:Body>{body}</s:Body></s:Envelope>"#)
}

/// A SOAP fault, as the device put it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: String,
    pub subcode: Option<String>,
    pub reason: String,
}

impl Fault {
    /// Whether the fault says the login was refused (ter:NotAuthorized, or wording to that effect).
    pub fn is_auth(&self) -> bool {
        let all = format!(
            "{} {} {}",
            self.code,
            self.subcode.as_deref().unwrap_or(""),
            self.reason
        )
        .to_ascii_lowercase();
        [
            "notauthorized",
            "not authorized",
            "unauthorized",
            "failedauthentication",
            "authentication failed",
            "sender not authorized",
        ]
        .iter()
        .any(|w| all.contains(w))
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(sub) = &self.subcode {
            write!(f, "/{sub}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// The fault in a parsed envelope, if it holds one.
pub fn fault(envelope: &Element) -> Option<Fault> {
    let fault = envelope.child("Body")?.child("Fault")?;
    let strip = |s: String| s.rsplit(':').next().unwrap_or(&s).trim().to_owned();
    // SOAP 1.2 (Code/Value, Reason/Text), SOAP 1.1 (faultcode, faultstring).
    let code = fault
        .text_at(&["Code", "Value"])
        .or_else(|| fault.text_at(&["faultcode"]))
        .map(strip)
        .unwrap_or_default();
    let subcode = fault.text_at(&["Code", "Subcode", "Value"]).map(strip);
    let reason = fault
        .text_at(&["Reason", "Text"])
        .or_else(|| fault.text_at(&["faultstring"]))
        .unwrap_or_else(|| "no reason given".to_owned());
    Some(Fault { code, subcode, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_digest_known_answer() {
        // The known answer from the project's crate notes.
        assert_eq!(
            password_digest(&[1u8; 16], "2026-11-29T06:00:00Z", "admin"),
            "aKJPj1P6TI9XvXMT+CZ6jlVOF0c="
        );
    }

    #[test]
    fn user_names_are_escaped_in_the_header() {
        let header = security_header("a<b&c", "pw", &[0u8; 16], "2026-01-01T00:00:00Z");
        assert!(
            header.contains("<wsse:Username>a&lt;b&amp;c</wsse:Username>"),
            "{header}"
        );
        assert!(!header.contains("pw<"), "the password itself is never sent");
    }

    #[test]
    fn soap_1_2_and_1_1_faults() {
        let f12 = Element::parse(br#"<e:Envelope xmlns:e="x"><e:Body><e:Fault><e:Code><e:Value>e:Sender</e:Value><e:Subcode><e:Value>ter:NotAuthorized</e:Value></e:Subcode></e:Code><e:Reason><e:Text>Sender not Authorized</e:Text></e:Reason></e:Fault></e:Body></e:Envelope>"#).unwrap();
        let f = fault(&f12).unwrap();
        assert_eq!(f.to_string(), "Sender/NotAuthorized: Sender not Authorized");
        assert!(f.is_auth());
        let f11 = Element::parse(br#"<E><Body><Fault><faultcode>s:Client</faultcode><faultstring>bad request</faultstring></Fault></Body></E>"#).unwrap();
        let f = fault(&f11).unwrap();
        assert_eq!((f.code.as_str(), f.reason.as_str()), ("Client", "bad request"));
        assert!(!f.is_auth());
    }
}
