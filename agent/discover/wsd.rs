//! WS-Discovery messages as ONVIF uses them: the 2005/04 draft of WS-Discovery with WS-Addressing
//! 2004/08, in SOAP 1.2 envelopes, one message per UDP datagram (ONVIF Core, "Device discovery").
//!
//! Building is a template (the only variable parts are ours); parsing goes by local element names
//! only, because real devices bind the same namespaces to every prefix imaginable (`SOAP-ENV`,
//! `s`, `env`, `wsa`, `a`, `d`, `wsdd`, or a default namespace).

use quick_xml::Reader;
use quick_xml::events::Event;

/// The WS-Discovery multicast group and port (IPv4).
pub const MULTICAST_GROUP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(239, 255, 255, 250);
pub const PORT: u16 = 3702;

/// `Types` of the two Probes. A WS-Discovery target matches a Probe only if it has *every* type
/// listed, so one Probe naming both would miss a recorder or encoder that is a `tds:Device` but
/// no `NetworkVideoTransmitter`; two Probes find both kinds (answers are deduplicated).
pub const PROBE_TYPES: [&str; 2] = ["dn:NetworkVideoTransmitter", "tds:Device"];

/// A datagram larger than this is not a ProbeMatches anyone sends (real ones are 1-3 KiB); it is
/// dropped unread rather than parsed.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;
/// Bounds on what one message may add, so a hostile answer cannot grow the result without limit.
const MAX_MATCHES: usize = 16;
const MAX_LIST_ITEMS: usize = 64;
const MAX_DEPTH: usize = 32;

/// A fresh `urn:uuid:` (version 4, random) for a MessageID. Uniqueness is all WS-Addressing asks;
/// it is not a secret, so fastrand's generator is enough.
pub fn message_id() -> String {
    let mut bytes: [u8; 16] = fastrand::u128(..).to_be_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A Probe for targets of `types` (a QName with one of the prefixes declared below).
pub fn probe(message_id: &str, types: &str) -> String {
    // Both inputs are ours (a generated UUID and a constant), but escape anyway: the template must
    // stay well-formed whatever a later caller passes.
    let id = quick_xml::escape::escape(message_id);
    let types = quick_xml::escape::escape(types);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><s:Header><a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action><a:MessageID>{id}</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header><s:Body><d:Probe><d:Types>{types}</d:Types></d:Probe></s:Body></s:Envelope>"#
    )
}

/// One `ProbeMatches` message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeMatches {
    /// The MessageID of the Probe this answers (`wsa:RelatesTo`), when the device says.
    pub relates_to: Option<String>,
    pub matches: Vec<ProbeMatch>,
}

/// One target service in a `ProbeMatches`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeMatch {
    /// `EndpointReference/Address`: the device's stable identity (`urn:uuid:...`), which stays
    /// the same across its addresses and reboots.
    pub endpoint: Option<String>,
    /// QNames as the device wrote them, e.g. `dn:NetworkVideoTransmitter`.
    pub types: Vec<String>,
    pub scopes: Vec<String>,
    /// Where its device service answers, e.g. `http://192.0.2.7/onvif/device_service`.
    pub xaddrs: Vec<String>,
    pub metadata_version: Option<u64>,
}

impl ProbeMatch {
    /// A NetworkVideoTransmitter is a camera or an encoder; the prefix is the device's choice, so
    /// only the local part is compared.
    pub fn is_video_transmitter(&self) -> bool {
        self.types
            .iter()
            .any(|t| t.rsplit(':').next() == Some("NetworkVideoTransmitter"))
    }
}

/// Parses a ProbeMatches message. Anything else (garbage, another WS-Discovery message, a SOAP
/// Fault) is an error saying why, for a debug log.
pub fn parse_probe_matches(datagram: &[u8]) -> Result<ProbeMatches, String> {
    if datagram.len() > MAX_MESSAGE_BYTES {
        return Err(format!(
            "{} bytes, more than the {MAX_MESSAGE_BYTES} a ProbeMatches may have",
            datagram.len()
        ));
    }
    let text = std::str::from_utf8(datagram).map_err(|e| format!("not UTF-8 text: {e}"))?;
    let mut reader = Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut buffer = String::new();
    let mut seen_envelope = false;
    let mut in_probe_matches = false;
    let mut out = ProbeMatches::default();
    let mut current: Option<ProbeMatch> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("not well-formed XML at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(e) => {
                let name: String = e.local_name().as_ref().to_owned();
                if path.is_empty() {
                    if name != "Envelope" {
                        return Err(format!("root element is {name:?}, not a SOAP Envelope"));
                    }
                    seen_envelope = true;
                }
                if path.len() >= MAX_DEPTH {
                    return Err(format!("elements nested deeper than {MAX_DEPTH}"));
                }
                match name.as_str() {
                    "ProbeMatches" if parent_is(&path, "Body") => in_probe_matches = true,
                    // Some devices put their ProbeMatch straight in the Body, without the
                    // ProbeMatches wrapper the standard asks for; lenient parsers take it.
                    "ProbeMatch"
                        if (in_probe_matches && parent_is(&path, "ProbeMatches")) || parent_is(&path, "Body") =>
                    {
                        if out.matches.len() >= MAX_MATCHES {
                            return Err(format!("more than {MAX_MATCHES} ProbeMatch elements"));
                        }
                        current = Some(ProbeMatch::default());
                    }
                    _ => {}
                }
                path.push(name);
                buffer.clear();
            }
            Event::Empty(_) => {
                if path.is_empty() {
                    return Err("the document is a single empty element".into());
                }
                buffer.clear();
            }
            Event::End(_) => {
                let Some(name) = path.pop() else {
                    return Err("an end tag without a start".into());
                };
                let text = buffer.trim();
                match (name.as_str(), path.last().map(String::as_str)) {
                    ("RelatesTo", Some("Header")) => out.relates_to = Some(text.to_owned()),
                    ("Address", Some("EndpointReference")) if path.len() >= 2 => {
                        if let Some(m) = current
                            .as_mut()
                            .filter(|_| parent_is(&path[..path.len() - 1], "ProbeMatch"))
                        {
                            m.endpoint = Some(text.to_owned()).filter(|t| !t.is_empty());
                        }
                    }
                    ("Types", Some("ProbeMatch")) => set_list(&mut current, text, |m| &mut m.types)?,
                    ("Scopes", Some("ProbeMatch")) => set_list(&mut current, text, |m| &mut m.scopes)?,
                    ("XAddrs", Some("ProbeMatch")) => set_list(&mut current, text, |m| &mut m.xaddrs)?,
                    ("MetadataVersion", Some("ProbeMatch")) => {
                        if let Some(m) = current.as_mut() {
                            m.metadata_version = text.parse().ok();
                        }
                    }
                    ("ProbeMatch", Some("ProbeMatches" | "Body")) => {
                        if let Some(m) = current.take() {
                            out.matches.push(m);
                        }
                    }
                    ("ProbeMatches", _) => in_probe_matches = false,
                    _ => {}
                }
                buffer.clear();
            }
            Event::Text(t) => buffer.push_str(&t.xml10_content()),
            Event::CData(t) => buffer.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = r.xml10_content();
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| format!("unknown entity &{name};"))?
                            .to_owned()
                    }
                    Err(e) => return Err(format!("bad character reference: {e}")),
                };
                buffer.push_str(&resolved);
            }
            Event::DocType(_) => return Err("a DOCTYPE, which no SOAP message may have".into()),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !path.is_empty() {
        return Err("the message ends inside an element (truncated?)".into());
    }
    if !seen_envelope {
        return Err("no SOAP Envelope".into());
    }
    if out.matches.is_empty() {
        return Err("a SOAP message without ProbeMatch (another message, or a fault)".into());
    }
    Ok(out)
}

fn parent_is(path: &[String], name: &str) -> bool {
    path.last().is_some_and(|p| p == name)
}

fn set_list(
    current: &mut Option<ProbeMatch>,
    text: &str,
    field: impl FnOnce(&mut ProbeMatch) -> &mut Vec<String>,
) -> Result<(), String> {
    let Some(m) = current.as_mut() else { return Ok(()) };
    let items: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    if items.len() > MAX_LIST_ITEMS {
        return Err(format!("a list of {} items (at most {MAX_LIST_ITEMS})", items.len()));
    }
    *field(m) = items;
    Ok(())
}

/// The ONVIF scopes that say who a device is, decoded for people.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes {
    pub name: Option<String>,
    pub hardware: Option<String>,
    /// Each `location/...` scope, e.g. `lobby` or `city/Lund` (hierarchical ones keep their path).
    pub locations: Vec<String>,
    /// `Profile/...` scopes: `Streaming`, `G`, `T`, ...
    pub profiles: Vec<String>,
}

const ONVIF_SCOPE: &str = "onvif://www.onvif.org/";

/// Decodes `onvif://www.onvif.org/CATEGORY/VALUE` scopes; values are percent-decoded (a name
/// "Front Door" travels as `Front%20Door`). Other scopes are left to the raw list.
pub fn decode_scopes(scopes: &[String]) -> Scopes {
    let mut out = Scopes::default();
    for scope in scopes {
        let Some(prefix) = scope.get(..ONVIF_SCOPE.len()) else {
            continue;
        };
        // Scheme and host are case-insensitive in URIs, and devices do vary their case.
        if !prefix.eq_ignore_ascii_case(ONVIF_SCOPE) {
            continue;
        }
        let rest = &scope[ONVIF_SCOPE.len()..];
        let (category, value) = rest.split_once('/').unwrap_or((rest, ""));
        let value = percent_decode(value.trim_end_matches('/'));
        if value.is_empty() {
            continue;
        }
        match category.to_ascii_lowercase().as_str() {
            "name" if out.name.is_none() => out.name = Some(value),
            "hardware" if out.hardware.is_none() => out.hardware = Some(value),
            "location" => out.locations.push(value),
            "profile" => out.profiles.push(value),
            _ => {}
        }
    }
    out
}

/// `%XX` to bytes, then UTF-8 (lossy); a `%` not followed by two hex digits stays as written.
/// Control characters are dropped: the text ends up in terminals and TOML comments.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out)
        .chars()
        .filter(|c| !c.is_control())
        .collect()
}

/// The parts of an XAddr (`http://192.0.2.7:8080/onvif/device_service`) a config entry needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XAddr {
    pub https: bool,
    /// Without brackets for IPv6.
    pub host: String,
    pub port: u16,
    pub path: String,
}

pub fn parse_xaddr(text: &str) -> Option<XAddr> {
    let (https, rest) = if let Some(r) = strip_prefix_ignore_case(text, "http://") {
        (false, r)
    } else {
        (true, strip_prefix_ignore_case(text, "https://")?)
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let authority = authority.rsplit('@').next()?;
    let default_port = if https { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        (host, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (authority, default_port),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some(XAddr {
        https,
        host: host.to_owned(),
        port,
        path: if path.is_empty() { "/".into() } else { path.to_owned() },
    })
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of `../shared/testdata/onvif/axis-hikvision-agsh/Probe.xml` (a real device's
    /// answer, prefixes `SOAP-ENV`, `wsa`, `wsdd`), its placeholders filled in.
    const CAPTURE_SHAPED: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:SOAP-ENC="http://www.w3.org/2003/05/soap-encoding" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:wsa="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:wsdd="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
    <SOAP-ENV:Header>
        <wsa:MessageID>urn:uuid:01234567-dead-beef-baad-abcdeffedcba</wsa:MessageID>
        <wsa:RelatesTo>urn:uuid:6f1c0d5e-4b9a-4c1e-9a57-0d7b1f2e3a4b</wsa:RelatesTo>
        <wsa:ReplyTo SOAP-ENV:mustUnderstand="true">
            <wsa:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address>
        </wsa:ReplyTo>
        <wsa:To SOAP-ENV:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:To>
        <wsa:Action SOAP-ENV:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsa:Action>
        <wsdd:AppSequence MessageNumber="161" InstanceId="0"></wsdd:AppSequence>
    </SOAP-ENV:Header>
    <SOAP-ENV:Body>
        <wsdd:ProbeMatches>
            <wsdd:ProbeMatch>
                <wsa:EndpointReference>
                    <wsa:Address>uuid:c9790c3a-701b-464d-a189-0060351c8ada</wsa:Address>
                </wsa:EndpointReference>
                <wsdd:Types>dn:NetworkVideoTransmitter tds:Device</wsdd:Types>
                <wsdd:Scopes>onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/type/audio_encoder onvif://www.onvif.org/type/ptz onvif://www.onvif.org/hardware/HD_PREDATOR onvif://www.onvif.org/name/PREDATOR onvif://www.onvif.org/location/</wsdd:Scopes>
                <wsdd:XAddrs>http://192.0.2.7/onvif/device_service</wsdd:XAddrs>
                <wsdd:MetadataVersion>1</wsdd:MetadataVersion>
            </wsdd:ProbeMatch>
        </wsdd:ProbeMatches>
    </SOAP-ENV:Body>
</SOAP-ENV:Envelope>"#;

    /// Shaped like a Hikvision-style answer: other prefixes (`env`, `wsadis`, `d`), several
    /// XAddrs (IPv4, IPv6 link-local, HTTPS on another port), hierarchical and percent-encoded
    /// scopes, an entity in a scope, and line breaks inside the lists.
    const MULTI_ADDRESS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsadis="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:hik="http://www.hikvision.com/ver10/schema"><env:Header><wsadis:MessageID>urn:uuid:5d1a4b4c-1dd2-11b2-8d1e-c056e3b1a2f0</wsadis:MessageID><wsadis:RelatesTo>urn:uuid:0a0b0c0d-0e0f-4a1b-8c2d-3e4f5a6b7c8d</wsadis:RelatesTo><wsadis:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsadis:To><wsadis:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsadis:Action><d:AppSequence InstanceId="1700000000" MessageNumber="4"/></env:Header><env:Body><d:ProbeMatches><d:ProbeMatch><wsadis:EndpointReference><wsadis:Address>urn:uuid:5d1a4b4c-1dd2-11b2-8d1e-c056e3b1a2f0</wsadis:Address></wsadis:EndpointReference><d:Types>dn:NetworkVideoTransmitter tds:Device hik:Device</d:Types><d:Scopes>onvif://www.onvif.org/type/video_encoder
 onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/Profile/T
 onvif://www.onvif.org/MAC/c0:56:e3:b1:a2:f0 onvif://www.onvif.org/hardware/DS-2CD2143G2-I
 onvif://www.onvif.org/name/Entr%C3%A9e%20Nord%20%26%20Quai onvif://www.onvif.org/location/city/Lund
 onvif://www.onvif.org/location/building/B%202 http://www.example.org/custom?a=1&amp;b=2</d:Scopes><d:XAddrs>http://192.0.2.64/onvif/device_service http://[fe80::c256:e3ff:feb1:a2f0]/onvif/device_service https://192.0.2.64:8443/onvif/device_service</d:XAddrs><d:MetadataVersion>10</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></env:Body></env:Envelope>"#;

    #[test]
    fn a_probe_match_straight_in_the_body_is_taken() {
        let unwrapped = MULTI_ADDRESS
            .replace("<d:ProbeMatches>", "")
            .replace("</d:ProbeMatches>", "");
        let parsed = parse_probe_matches(unwrapped.as_bytes()).unwrap();
        assert_eq!(parsed.matches.len(), 1, "{parsed:?}");
        assert_eq!(
            parsed.matches[0].endpoint.as_deref(),
            Some("urn:uuid:5d1a4b4c-1dd2-11b2-8d1e-c056e3b1a2f0")
        );
        assert_eq!(parsed.matches[0].xaddrs.len(), 3);
    }

    #[test]
    fn probe_is_soap12_ws_discovery_with_the_given_id_and_types() {
        let id = message_id();
        let xml = probe(&id, "dn:NetworkVideoTransmitter");
        let mut reader = Reader::from_str(&xml);
        let mut path = Vec::new();
        let mut texts = Vec::new();
        let mut namespaces = Vec::new();
        loop {
            match reader.read_event().unwrap() {
                Event::Start(e) => {
                    for a in e.attributes() {
                        let a = a.unwrap();
                        namespaces.push((a.key.as_ref().to_owned(), a.value.into_owned()));
                    }
                    path.push(e.name().as_ref().to_owned());
                }
                Event::Text(t) if !t.xml10_content().trim().is_empty() => {
                    texts.push((path.join("/"), t.xml10_content().into_owned()))
                }
                Event::End(_) => {
                    path.pop();
                }
                Event::Eof => break,
                _ => {}
            }
        }
        let text = |p: &str| texts.iter().find(|(k, _)| k == p).map(|(_, v)| v.as_str());
        assert_eq!(text("s:Envelope/s:Header/a:MessageID"), Some(id.as_str()));
        assert_eq!(
            text("s:Envelope/s:Header/a:Action"),
            Some("http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe")
        );
        assert_eq!(
            text("s:Envelope/s:Header/a:To"),
            Some("urn:schemas-xmlsoap-org:ws:2005:04:discovery")
        );
        assert_eq!(
            text("s:Envelope/s:Body/d:Probe/d:Types"),
            Some("dn:NetworkVideoTransmitter")
        );
        for (prefix, ns) in [
            ("xmlns:s", "http://www.w3.org/2003/05/soap-envelope"),
            ("xmlns:d", "http://schemas.xmlsoap.org/ws/2005/04/discovery"),
            ("xmlns:a", "http://schemas.xmlsoap.org/ws/2004/08/addressing"),
            ("xmlns:dn", "http://www.onvif.org/ver10/network/wsdl"),
            ("xmlns:tds", "http://www.onvif.org/ver10/device/wsdl"),
        ] {
            assert!(
                namespaces.contains(&(prefix.to_owned(), ns.to_owned())),
                "{prefix} missing: {namespaces:?}"
            );
        }
        // Small enough for one datagram without fragmentation on any LAN.
        assert!(xml.len() < 1200, "{}", xml.len());
    }

    #[test]
    fn message_ids_are_fresh_version_4_uuids() {
        let a = message_id();
        let b = message_id();
        assert_ne!(a, b);
        let uuid = a.strip_prefix("urn:uuid:").unwrap();
        let groups: Vec<&str> = uuid.split('-').collect();
        assert_eq!(groups.iter().map(|g| g.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(groups[2].starts_with('4'), "{a}");
        assert!(matches!(groups[3].chars().next(), Some('8' | '9' | 'a' | 'b')), "{a}");
        assert!(uuid.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_capture_shaped_probe_match_parses() {
        let m = parse_probe_matches(CAPTURE_SHAPED.as_bytes()).unwrap();
        assert_eq!(
            m.relates_to.as_deref(),
            Some("urn:uuid:6f1c0d5e-4b9a-4c1e-9a57-0d7b1f2e3a4b")
        );
        assert_eq!(m.matches.len(), 1);
        let pm = &m.matches[0];
        // The ReplyTo address in the header is not the endpoint.
        assert_eq!(
            pm.endpoint.as_deref(),
            Some("uuid:c9790c3a-701b-464d-a189-0060351c8ada")
        );
        assert_eq!(pm.types, ["dn:NetworkVideoTransmitter", "tds:Device"]);
        assert!(pm.is_video_transmitter());
        assert_eq!(pm.scopes.len(), 7);
        assert_eq!(pm.xaddrs, ["http://192.0.2.7/onvif/device_service"]);
        assert_eq!(pm.metadata_version, Some(1));
        let s = decode_scopes(&pm.scopes);
        assert_eq!(s.name.as_deref(), Some("PREDATOR"));
        assert_eq!(s.hardware.as_deref(), Some("HD_PREDATOR"));
        assert!(s.locations.is_empty(), "an empty location/ is no location: {s:?}");
        assert_eq!(s.profiles, ["Streaming"]);
    }

    #[test]
    fn a_real_world_shaped_match_with_several_xaddrs_and_scopes_parses() {
        let m = parse_probe_matches(MULTI_ADDRESS.as_bytes()).unwrap();
        let pm = &m.matches[0];
        assert_eq!(
            pm.endpoint.as_deref(),
            Some("urn:uuid:5d1a4b4c-1dd2-11b2-8d1e-c056e3b1a2f0")
        );
        assert_eq!(pm.types, ["dn:NetworkVideoTransmitter", "tds:Device", "hik:Device"]);
        assert_eq!(
            pm.xaddrs,
            [
                "http://192.0.2.64/onvif/device_service",
                "http://[fe80::c256:e3ff:feb1:a2f0]/onvif/device_service",
                "https://192.0.2.64:8443/onvif/device_service",
            ]
        );
        assert_eq!(pm.scopes.len(), 9, "{:?}", pm.scopes);
        assert_eq!(pm.scopes[8], "http://www.example.org/custom?a=1&b=2", "entity resolved");
        assert_eq!(pm.metadata_version, Some(10));
        let s = decode_scopes(&pm.scopes);
        assert_eq!(s.name.as_deref(), Some("Entrée Nord & Quai"));
        assert_eq!(s.hardware.as_deref(), Some("DS-2CD2143G2-I"));
        assert_eq!(s.locations, ["city/Lund", "building/B 2"]);
        assert_eq!(s.profiles, ["Streaming", "T"]);
    }

    #[test]
    fn default_namespaces_and_several_matches_parse_too() {
        let xml = r#"<Envelope xmlns="http://www.w3.org/2003/05/soap-envelope"><Header><RelatesTo xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">urn:uuid:1</RelatesTo></Header><Body><ProbeMatches xmlns="http://schemas.xmlsoap.org/ws/2005/04/discovery"><ProbeMatch><EndpointReference><Address>urn:uuid:a</Address></EndpointReference><Types>tds:Device</Types><XAddrs>http://192.0.2.1/onvif/device_service</XAddrs></ProbeMatch><ProbeMatch><EndpointReference><Address>urn:uuid:b</Address></EndpointReference><Types>tdn:NetworkVideoTransmitter</Types><Scopes/><XAddrs><![CDATA[http://192.0.2.2:8000/onvif/device_service]]></XAddrs></ProbeMatch></ProbeMatches></Body></Envelope>"#;
        let m = parse_probe_matches(xml.as_bytes()).unwrap();
        assert_eq!(m.relates_to.as_deref(), Some("urn:uuid:1"));
        assert_eq!(m.matches.len(), 2);
        assert!(!m.matches[0].is_video_transmitter());
        assert!(m.matches[1].is_video_transmitter(), "any prefix");
        assert_eq!(m.matches[1].xaddrs, ["http://192.0.2.2:8000/onvif/device_service"]);
        assert!(m.matches[1].scopes.is_empty());
    }

    #[test]
    fn garbage_and_other_messages_are_errors_not_panics() {
        let hello = CAPTURE_SHAPED
            .replace("ProbeMatches>", "Hello>")
            .replace("ProbeMatch>", "Hello>");
        let deep = format!("<Envelope>{}</Envelope>", "<a>".repeat(40) + &"</a>".repeat(40));
        let huge = format!("<Envelope>{}</Envelope>", " ".repeat(MAX_MESSAGE_BYTES));
        let many_scopes = CAPTURE_SHAPED.replace(
            "onvif://www.onvif.org/location/<",
            &format!("{}<", "onvif://www.onvif.org/x ".repeat(100)),
        );
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("binary", vec![0xff, 0xfe, 0x00, 0x01], "UTF-8"),
            ("text", b"HELLO camera".to_vec(), "SOAP Envelope"),
            ("truncated", CAPTURE_SHAPED.as_bytes()[..900].to_vec(), ""),
            ("mismatched", b"<Envelope><Body></Envelope>".to_vec(), "well-formed"),
            (
                "another root",
                b"<html><body>hi</body></html>".to_vec(),
                "not a SOAP Envelope",
            ),
            ("hello", hello.into_bytes(), "without ProbeMatch"),
            (
                "entity",
                CAPTURE_SHAPED.replace("PREDATOR", "&xxe;").into_bytes(),
                "unknown entity",
            ),
            (
                "doctype",
                b"<!DOCTYPE x [<!ENTITY a \"b\">]><Envelope/>".to_vec(),
                "DOCTYPE",
            ),
            ("deep", deep.into_bytes(), "deeper"),
            ("huge", huge.into_bytes(), "more than"),
            ("many scopes", many_scopes.into_bytes(), "items"),
        ];
        for (what, bytes, why) in cases {
            let err = parse_probe_matches(&bytes).expect_err(what);
            assert!(err.contains(why), "{what}: {err}");
        }
    }

    #[test]
    fn scopes_outside_onvif_and_empty_values_are_ignored_and_case_is_forgiven() {
        let s = decode_scopes(&[
            "ONVIF://www.ONVIF.org/Name/Gate%2".into(),
            "onvif://www.onvif.org/name/second".into(),
            "onvif://www.onvif.org/hardware/".into(),
            "http://example.org/name/nope".into(),
            "onvif://www.onvif.org/location/bad%0Aline".into(),
        ]);
        assert_eq!(
            s.name.as_deref(),
            Some("Gate%2"),
            "first name wins; a broken escape stays"
        );
        assert_eq!(s.hardware, None);
        assert_eq!(s.locations, ["badline"], "control characters dropped");
    }

    #[test]
    fn xaddrs_give_scheme_host_port_and_path() {
        let x = parse_xaddr("http://192.0.2.7/onvif/device_service").unwrap();
        assert_eq!(
            x,
            XAddr {
                https: false,
                host: "192.0.2.7".into(),
                port: 80,
                path: "/onvif/device_service".into()
            }
        );
        let x = parse_xaddr("HTTPS://[fe80::1]:8443/onvif/device_service?x=1").unwrap();
        assert_eq!(
            (x.https, x.host.as_str(), x.port, x.path.as_str()),
            (true, "fe80::1", 8443, "/onvif/device_service")
        );
        let x = parse_xaddr("http://cam.example.org:8000").unwrap();
        assert_eq!(
            (x.host.as_str(), x.port, x.path.as_str()),
            ("cam.example.org", 8000, "/")
        );
        for bad in [
            "ftp://x/",
            "http://:80/",
            "http://x:notaport/",
            "192.0.2.7",
            "http://[::1/",
        ] {
            assert_eq!(parse_xaddr(bad), None, "{bad}");
        }
    }
}
