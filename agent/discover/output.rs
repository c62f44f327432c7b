//! The three ways `discover` prints what answered: a block per device for people, one JSON
//! object per line for scripts, and `[[device]]` entries for the configuration file.

use std::collections::HashSet;
use std::io::{self, Write};

use super::Device;
use super::wsd::{XAddr, parse_xaddr};

/// A block per device; multi-valued fields get a line per value, since XAddrs and scopes are
/// long and a camera has several.
pub fn table(devices: &[Device], out: &mut impl Write) -> io::Result<()> {
    for d in devices {
        writeln!(
            out,
            "{}  {}  {}",
            d.address,
            d.kind,
            printable(d.name.as_deref().unwrap_or("(no name scope)"))
        )?;
        let rows: [(&str, Vec<String>); 7] = [
            ("hardware", d.hardware.iter().cloned().collect()),
            ("location", d.location.iter().cloned().collect()),
            ("xaddrs", d.xaddrs.clone()),
            ("types", vec![d.types.join(" ")]),
            ("scopes", d.scopes.clone()),
            ("endpoint", vec![d.endpoint.clone()]),
            ("via", vec![d.via.iter().copied().collect::<Vec<_>>().join(", ")]),
        ];
        for (label, values) in rows {
            for (i, value) in values.iter().filter(|v| !v.is_empty()).enumerate() {
                let label = if i == 0 { label } else { "" };
                writeln!(out, "  {label:<9} {}", printable(value))?;
            }
        }
        writeln!(out)?;
    }
    Ok(())
}

/// One JSON object per device and line: `address`, `endpoint`, `kind`, `name`, `hardware`,
/// `location`, `profiles`, `xaddrs`, `types`, `scopes`, `via`.
pub fn json_lines(devices: &[Device], out: &mut impl Write) -> io::Result<()> {
    for d in devices {
        serde_json::to_writer(&mut *out, d)?;
        writeln!(out)?;
    }
    Ok(())
}

/// `[[device]]` entries that `check-config` accepts as they are. Every value that came from the
/// network is written through the TOML serializer (quoted and escaped) or, in comments, stripped
/// of control characters, so a hostile name cannot inject configuration.
pub fn config_snippet(devices: &[Device], out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "# Found by `camwatch discover`. Review the names, then add username and password_env or\n\
         # password_file: the ONVIF checks need the camera's login."
    )?;
    let mut taken: HashSet<String> = HashSet::new();
    for d in devices {
        let name = unique(&taken, &device_name(d));
        taken.insert(name.clone());
        let (address, xaddr) = address_and_xaddr(d);
        writeln!(out)?;
        let mut about = vec![format!("{:?}", printable(d.name.as_deref().unwrap_or("no name scope")))];
        if let Some(h) = &d.hardware {
            about.push(format!("hardware {}", printable(h)));
        }
        if let Some(l) = &d.location {
            about.push(format!("location {}", printable(l)));
        }
        writeln!(out, "# {}", about.join(", "))?;
        writeln!(out, "# {} answered from {}", printable(&d.endpoint), d.address)?;
        writeln!(out, "[[device]]")?;
        writeln!(out, "name = {}", quote(&name))?;
        writeln!(out, "kind = {}", quote(d.kind))?;
        writeln!(out, "address = {}", quote(&address))?;
        match xaddr {
            Some(x) => {
                writeln!(out, "[device.onvif]")?;
                writeln!(out, "port = {}", x.port)?;
                writeln!(out, "path = {}", quote(&x.path))?;
                writeln!(out, "https = {}", x.https)?;
            }
            None => writeln!(out, "# no usable XAddr: add [device.onvif] by hand")?,
        }
    }
    Ok(())
}

/// The address for the configuration and the XAddr its `[device.onvif]` comes from: the first
/// XAddr on the address the device answered from (a camera lists IPv6 link-local and other
/// addresses too), else its first XAddr; the XAddr's host when it is a valid `address`, else the
/// address the answer came from.
fn address_and_xaddr(d: &Device) -> (String, Option<XAddr>) {
    let parsed: Vec<XAddr> = d.xaddrs.iter().filter_map(|x| parse_xaddr(x)).collect();
    let source = d.address.to_string();
    let chosen = parsed
        .iter()
        .find(|x| x.host == source)
        .or_else(|| parsed.first())
        .cloned();
    let address = chosen
        .as_ref()
        .map(|x| x.host.clone())
        .filter(|h| crate::config::is_valid_address(h))
        .unwrap_or(source);
    (address, chosen)
}

/// A name from the name scope: lower case, letters and digits kept, the rest turned into
/// single dashes, at most 48 characters; `camera-192-0-2-7` when the device has no name.
pub fn device_name(d: &Device) -> String {
    let mut slug = String::new();
    for c in d.name.as_deref().unwrap_or("").chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.chars().count() >= 48 {
            break;
        }
    }
    let slug = slug.trim_matches('-');
    if slug.is_empty() {
        let address: String = d
            .address
            .to_string()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        format!("{}-{address}", d.kind)
    } else {
        slug.to_owned()
    }
}

/// `name`, or `name-2`, `name-3`, ... whichever is free.
fn unique(taken: &HashSet<String>, name: &str) -> String {
    if !taken.contains(name) {
        return name.to_owned();
    }
    (2..)
        .map(|n| format!("{name}-{n}"))
        .find(|candidate| !taken.contains(candidate))
        .expect("some suffix is free")
}

fn quote(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Text from the network, made safe for a terminal line or a TOML comment.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn device(address: &str, name: Option<&str>, kind: &'static str, xaddrs: &[&str]) -> Device {
        Device {
            address: address.parse().unwrap(),
            endpoint: format!("urn:uuid:{address}"),
            kind,
            name: name.map(str::to_owned),
            hardware: Some("DS-2CD2143G2-I".into()),
            location: Some("city/Lund, building/B 2".into()),
            profiles: vec![],
            xaddrs: xaddrs.iter().map(|x| x.to_string()).collect(),
            types: vec!["dn:NetworkVideoTransmitter".into(), "tds:Device".into()],
            scopes: vec![],
            via: BTreeSet::from(["multicast"]),
        }
    }

    #[test]
    fn names_are_slugs_made_unique() {
        let mut d = device("192.0.2.7", Some("Entrée Nord & Quai"), "camera", &[]);
        assert_eq!(device_name(&d), "entrée-nord-quai");
        d.name = Some("  --  ".into());
        assert_eq!(device_name(&d), "camera-192-0-2-7");
        d.name = None;
        d.kind = "other";
        assert_eq!(device_name(&d), "other-192-0-2-7");
        d.name = Some("x".repeat(100));
        assert_eq!(device_name(&d).len(), 48);
        let taken: HashSet<String> = ["gate".to_owned(), "gate-2".to_owned()].into();
        assert_eq!(unique(&taken, "gate"), "gate-3");
        assert_eq!(unique(&taken, "door"), "door");
    }

    #[test]
    fn the_snippet_is_a_valid_configuration_even_with_hostile_names() {
        let devices = vec![
            device(
                "192.0.2.64",
                Some("Gate"),
                "camera",
                &[
                    "http://[fe80::1]/onvif/device_service",
                    "https://192.0.2.64:8443/onvif/device_service",
                ],
            ),
            device(
                "192.0.2.65",
                Some("Gate"),
                "other",
                &["http://nvr.example.org:8000/onvif/dev"],
            ),
            device(
                "192.0.2.66",
                Some("evil\"\n[[device]]\nname = \"x"),
                "camera",
                &["http://192.0.2.66/a\"b"],
            ),
            device("192.0.2.67", None, "camera", &[]),
        ];
        let mut out = Vec::new();
        config_snippet(&devices, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let config = crate::config::parse("snippet.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let names: Vec<&str> = config.devices.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            ["gate", "gate-2", "evil-device-name-x", "camera-192-0-2-67"],
            "{text}"
        );
        assert!(
            text.contains("port = 8443\npath = \"/onvif/device_service\"\nhttps = true"),
            "{text}"
        );
        assert!(
            text.contains("address = \"nvr.example.org\"\n[device.onvif]\nport = 8000"),
            "{text}"
        );
        assert!(text.contains("# \"Gate\", hardware DS-2CD2143G2-I, location city/Lund, building/B 2"));
        assert_eq!(config.devices[2].address.as_deref(), Some("192.0.2.66"));
        assert!(text.contains("# no usable XAddr"), "{text}");
    }
}
