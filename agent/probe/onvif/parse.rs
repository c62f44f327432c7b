//! ONVIF answers into typed facts. Each function takes the response element (the child of
//! `Body`) and is lenient where devices differ: missing optional parts become `None`, never a
//! made-up value.

use crate::observation::onvif::{DeviceTime, Encoder, Identity, Profile, Services};
use crate::probe::xml::Element;

fn date_time(e: &Element) -> Option<(i64, u32, u32, u32, u32, u32)> {
    let n = |path: &[&str]| e.text_at(path)?.parse::<i64>().ok();
    Some((
        n(&["Date", "Year"])?,
        n(&["Date", "Month"])? as u32,
        n(&["Date", "Day"])? as u32,
        n(&["Time", "Hour"])? as u32,
        n(&["Time", "Minute"])? as u32,
        n(&["Time", "Second"])? as u32,
    ))
}

pub fn system_date_and_time(response: &Element) -> Result<DeviceTime, String> {
    let sdt = response
        .first("SystemDateAndTime")
        .ok_or("no SystemDateAndTime in the answer")?;
    let utc = sdt.child("UTCDateTime").and_then(date_time);
    let unset = utc.is_some_and(|(year, ..)| year < 2000);
    let utc_seconds = utc.filter(|_| !unset).and_then(|(y, mo, d, h, mi, s)| {
        chrono::NaiveDate::from_ymd_opt(y as i32, mo, d)?
            .and_hms_opt(h, mi, s)
            .map(|t| t.and_utc().timestamp())
    });
    if utc.is_some() && !unset && utc_seconds.is_none() {
        return Err("the device's UTC date is not a real date".into());
    }
    Ok(DeviceTime {
        utc_seconds,
        unset,
        date_time_type: sdt.text_at(&["DateTimeType"]),
        time_zone: sdt.text_at(&["TimeZone", "TZ"]),
    })
}

/// The device's UTC clock in Unix seconds as it reads, whatever the year (a clock reset to 1970
/// is not "set", but a login is still checked against it); `None` when it is not a date.
pub fn device_clock_seconds(response: &Element) -> Option<i64> {
    let (y, mo, d, h, mi, s) = response
        .first("SystemDateAndTime")?
        .child("UTCDateTime")
        .and_then(date_time)?;
    chrono::NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, mo, d)?
        .and_hms_opt(h, mi, s)
        .map(|t| t.and_utc().timestamp())
}

pub fn device_information(response: &Element) -> Identity {
    let t = |name: &str| response.text_at(&[name]);
    Identity {
        manufacturer: t("Manufacturer"),
        model: t("Model"),
        firmware: t("FirmwareVersion"),
        serial: t("SerialNumber"),
        hardware_id: t("HardwareId"),
    }
}

pub fn capabilities(response: &Element) -> Services {
    let caps = response.first("Capabilities");
    let xaddr = |name: &str| caps.and_then(|c| c.child(name)).and_then(|c| c.text_at(&["XAddr"]));
    let extension = |name: &str| {
        caps.and_then(|c| c.child("Extension"))
            .and_then(|e| e.child(name))
            .and_then(|c| c.text_at(&["XAddr"]))
    };
    Services {
        media: xaddr("Media"),
        recording: extension("Recording"),
        search: extension("Search"),
        replay: extension("Replay"),
    }
}

pub fn services(response: &Element) -> Services {
    let mut found = Services::default();
    for service in response.descendants("Service") {
        let (Some(ns), Some(xaddr)) = (service.text_at(&["Namespace"]), service.text_at(&["XAddr"])) else {
            continue;
        };
        let slot = match ns.as_str() {
            "http://www.onvif.org/ver10/media/wsdl" => &mut found.media,
            "http://www.onvif.org/ver10/recording/wsdl" => &mut found.recording,
            "http://www.onvif.org/ver10/search/wsdl" => &mut found.search,
            "http://www.onvif.org/ver10/replay/wsdl" => &mut found.replay,
            _ => continue,
        };
        slot.get_or_insert(xaddr);
    }
    found
}

/// The MAC of the first network interface that has one, lower case with colons.
pub fn mac_address(response: &Element) -> Option<String> {
    response
        .descendants("HwAddress")
        .map(|e| e.text.trim().to_ascii_lowercase().replace('-', ":"))
        .find(|m| !m.is_empty())
}

pub fn profiles(response: &Element) -> Vec<Profile> {
    response
        .children
        .iter()
        .filter(|p| p.name == "Profiles")
        .map(|p| {
            let encoder = p.child("VideoEncoderConfiguration").map(|v| Encoder {
                encoding: v.text_at(&["Encoding"]),
                width: v.text_at(&["Resolution", "Width"]).and_then(|w| w.parse().ok()),
                height: v.text_at(&["Resolution", "Height"]).and_then(|h| h.parse().ok()),
                frame_rate: v
                    .text_at(&["RateControl", "FrameRateLimit"])
                    .and_then(|f| f.parse().ok()),
                bitrate_kbps: v.text_at(&["RateControl", "BitrateLimit"]).and_then(|b| b.parse().ok()),
            });
            Profile {
                token: p.attribute("token").unwrap_or_default().to_owned(),
                name: p.text_at(&["Name"]),
                encoder,
            }
        })
        .collect()
}

/// The URI of a GetStreamUri or GetSnapshotUri answer.
pub fn media_uri(response: &Element) -> Option<String> {
    response.first("MediaUri").and_then(|m| m.text_at(&["Uri"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(xml: &str) -> Element {
        Element::parse(xml.as_bytes()).unwrap()
    }

    #[test]
    fn clock_set_unset_and_invalid() {
        let t = system_date_and_time(&body(
            "<R><SystemDateAndTime><DateTimeType>NTP</DateTimeType><UTCDateTime><Time><Hour>6</Hour><Minute>0</Minute><Second>0</Second></Time><Date><Year>2026</Year><Month>11</Month><Day>29</Day></Date></UTCDateTime></SystemDateAndTime></R>",
        ))
        .unwrap();
        assert_eq!(t.utc_seconds, Some(1_795_932_000));
        assert_eq!(t.date_time_type.as_deref(), Some("NTP"));
        let unset = system_date_and_time(&body(
            "<R><SystemDateAndTime><UTCDateTime><Time><Hour>0</Hour><Minute>0</Minute><Second>0</Second></Time><Date><Year>0</Year><Month>0</Month><Day>0</Day></Date></UTCDateTime></SystemDateAndTime></R>",
        ))
        .unwrap();
        assert!(unset.unset && unset.utc_seconds.is_none());
        assert!(system_date_and_time(&body(
            "<R><SystemDateAndTime><UTCDateTime><Time><Hour>25</Hour><Minute>0</Minute><Second>0</Second></Time><Date><Year>2026</Year><Month>2</Month><Day>30</Day></Date></UTCDateTime></SystemDateAndTime></R>"
        ))
        .is_err());
    }
}
