//! Every ONVIF answer captured from real devices (../shared/testdata/onvif) through the same
//! parsing code the agent uses, with the figures that matter asserted.

use std::path::{Path, PathBuf};

use camwatch::probe::onvif::{parse, search, soap};
use camwatch::probe::xml::Element;

fn captures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/onvif");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "SKIPPED: {} is absent (a clone without ../shared); the ONVIF captures are not checked",
            dir.display()
        );
        None
    }
}

fn answer(dir: &Path, file: &str) -> Element {
    let envelope = Element::parse(&std::fs::read(dir.join(file)).unwrap()).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert!(soap::fault(&envelope).is_none(), "{file} is a fault");
    envelope
        .child("Body")
        .and_then(|b| b.children.first())
        .cloned()
        .unwrap_or_else(|| panic!("{file}: empty body"))
}

#[test]
fn every_capture_is_a_well_formed_envelope_with_an_answer_or_a_fault() {
    let Some(dir) = captures() else { return };
    let (mut count, mut templates) = (0, 0);
    for vendor in std::fs::read_dir(&dir).unwrap() {
        let vendor = vendor.unwrap().path();
        for file in std::fs::read_dir(&vendor).unwrap() {
            let file = file.unwrap().path();
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("LICENSE") {
                continue;
            }
            let bytes = std::fs::read(&file).unwrap();
            // A few captures are the source project's mock templates ({{ ... }} placeholders),
            // not device output: they only have to be refused or read without a crash.
            if String::from_utf8_lossy(&bytes).contains("{{") {
                let _ = Element::parse(&bytes);
                templates += 1;
                continue;
            }
            let envelope = Element::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(envelope.name, "Envelope", "{name}");
            let body = envelope.child("Body").unwrap_or_else(|| panic!("{name}: no Body"));
            match soap::fault(&envelope) {
                Some(fault) => assert!(!fault.reason.is_empty(), "{name}: a fault without reason"),
                None => assert!(!body.children.is_empty(), "{name}: neither answer nor fault"),
            }
            count += 1;
        }
    }
    assert!(count >= 100, "only {count} captures found ({templates} templates)");
    assert!(templates < 10, "{templates} templates: the captures changed");
}

#[test]
fn device_answers_read_as_the_devices_said() {
    let Some(dir) = captures() else { return };
    let time = parse::system_date_and_time(&answer(&dir, "axis-hikvision-agsh/GetSystemDateAndTime.xml")).unwrap();
    // 2014-12-24 19:14:37 UTC; the device's Moroccan time zone must not shift it.
    assert_eq!(time.utc_seconds, Some(1_419_448_477));
    assert_eq!(time.date_time_type.as_deref(), Some("Manual"));
    assert_eq!(time.time_zone.as_deref(), Some("MoroccoStandardTime0"));
    let time = parse::system_date_and_time(&answer(
        &dir,
        "profile-g-hammeraj/devices__get_system_date_and_time.xml",
    ))
    .unwrap();
    // UTC 2024-07-09 19:49:06, while LocalDateTime says 16:49 (BRT3): UTC wins.
    assert_eq!(time.utc_seconds, Some(1_720_554_546));

    let id = parse::device_information(&answer(&dir, "axis-hikvision-agsh/GetDeviceInformation.xml"));
    assert_eq!(id.manufacturer.as_deref(), Some("Mockup Manufacturer"));
    assert_eq!(id.model.as_deref(), Some("Mockup Model"));
    assert_eq!(id.firmware.as_deref(), Some("Mockup_15_14_13"));
    assert_eq!(id.serial.as_deref(), Some("00000000"));
    assert_eq!(id.hardware_id.as_deref(), Some("MOCKUP"));

    let mac = parse::mac_address(&answer(&dir, "axis-hikvision-agsh/device.GetNetworkInterfaces.xml"));
    assert_eq!(mac.as_deref(), Some("28:57:be:65:7d:d5"));

    let services = parse::capabilities(&answer(&dir, "axis-hikvision-agsh/GetCapabilities.xml"));
    assert_eq!(services.media.as_deref(), Some("http://192.168.68.111/onvif/services"));
}

#[test]
fn media_answers_give_profiles_encoders_and_uris() {
    let Some(dir) = captures() else { return };
    let profiles = parse::profiles(&answer(&dir, "axis-hikvision-agsh/GetProfiles.xml"));
    assert_eq!(profiles.len(), 1);
    assert_eq!(profiles[0].token, "main");
    let encoder = profiles[0].encoder.as_ref().unwrap();
    assert_eq!(encoder.encoding.as_deref(), Some("H264"));
    assert_eq!((encoder.width, encoder.height), (Some(1920), Some(1080)));
    assert_eq!(encoder.frame_rate, Some(5.0));
    assert_eq!(encoder.bitrate_kbps, Some(1000));

    let stream = parse::media_uri(&answer(&dir, "axis-hikvision-agsh/GetStreamUri.xml"));
    assert_eq!(stream.as_deref(), Some("rtsp://192.168.68.111/h264main"));
    let snapshot = parse::media_uri(&answer(&dir, "axis-hikvision-agsh/GetSnapshotUri.xml"));
    // The &amp; in the capture is one & in the URI.
    assert_eq!(
        snapshot.as_deref(),
        Some("http://192.168.68.111/onvif-cgi/jpg/image.cgi?resolution=800x600&compression=20&camera=1")
    );
}

#[test]
fn faults_from_real_devices_are_recognised() {
    let Some(dir) = captures() else { return };
    let fault = |file: &str| {
        let envelope = Element::parse(&std::fs::read(dir.join(file)).unwrap()).unwrap();
        soap::fault(&envelope).unwrap_or_else(|| panic!("{file}: no fault found"))
    };
    let invalid = fault("profile-g-hammeraj/devices__invalid_system_date_and_time_response.xml");
    assert_eq!(invalid.to_string(), "Sender/WellFormed: Well-formed error");
    assert!(!invalid.is_auth());
    let generic = fault("axis-hikvision-agsh/Error.xml");
    assert_eq!(generic.reason, "fault reason");
}

#[test]
fn profile_g_search_and_recording_answers_read_as_the_recorder_said() {
    let Some(dir) = captures() else { return };
    let summary = search::recording_summary(&answer(
        &dir,
        "profile-g-hammeraj/search__get_recording_summary__success.xml",
    ))
    .unwrap();
    // 8 recordings up to 2024-12-13 08:08:49 UTC, "from" 1970: a clock that was once unset.
    assert_eq!(summary.recordings, Some(8));
    assert_eq!(summary.data_until, Some(1_734_077_329));
    assert_eq!(summary.data_from, Some(0));
    assert!(search::unbelievable(0, 1_734_077_329).is_some());
    assert!(search::unbelievable(1_734_077_329, 1_734_077_329).is_none());

    let token = |file: &str| search::search_token(&answer(&dir, file)).unwrap();
    assert_eq!(
        token("profile-g-hammeraj/search__find_recordings_success.xml"),
        "RecordingSearchToken_1"
    );
    assert_eq!(
        token("profile-g-hammeraj/search__find_events_success.xml"),
        "SearchToken[1]"
    );

    let page = search::recording_search_results(&answer(
        &dir,
        "profile-g-hammeraj/search__get_recording_search_results_success.xml",
    ))
    .unwrap();
    assert_eq!(page.state, search::SearchState::Completed);
    assert_eq!(page.results.len(), 1);
    let recording = &page.results[0];
    assert_eq!(recording.token, "OnvifRecordingToken_1");
    assert_eq!(recording.camera(), "IpCamera_1");
    assert_eq!(recording.earliest, Some(195)); // 1970-01-01T00:03:15Z
    assert_eq!(recording.latest, Some(1_742_056_080)); // 2025-03-15T16:28:00Z
    assert_eq!(recording.status.as_deref(), Some("Stopped"));
    let kinds: Vec<&str> = recording.tracks.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(kinds, ["Video", "Audio", "Metadata"]);
    assert_eq!(recording.tracks[0].token, "videotracktoken_1");
    assert_eq!(
        (recording.tracks[0].data_from, recording.tracks[0].data_to),
        (Some(195), Some(1_742_056_080))
    );
    // Judged two minutes after its last footage, with no event to say where believable footage
    // starts: the 1970 start is not believed and nothing is counted.
    let (footage, doubt) = search::recording_footage(recording, &[], 1_742_056_080 + 120);
    assert!(footage.is_empty());
    assert_eq!(
        doubt.as_deref(),
        Some(
            "recording OnvifRecordingToken_1 dates its oldest footage 1970-01-01 00:03:15 UTC (before 2000: the recorder's clock was not set)"
        )
    );

    let items = search::recording_items(&answer(
        &dir,
        "profile-g-hammeraj/recording__get_recordings_success.xml",
    ))
    .unwrap();
    let read: Vec<(&str, Option<&str>, Option<i64>, usize)> = items
        .iter()
        .map(|i| {
            (
                i.token.as_str(),
                i.source_name.as_deref(),
                i.max_retention_seconds,
                i.tracks,
            )
        })
        .collect();
    assert_eq!(
        read,
        [
            ("SD_DISK_20200422_123501_A2388AB3", Some("paolo"), Some(3600), 3),
            ("SD_DISK_20200422_132613_45A883F5", Some("paolo2"), Some(3600), 3),
            ("SD_DISK_20200422_132655_67086B52", Some("paolo3"), Some(3600), 3),
        ]
    );
}
