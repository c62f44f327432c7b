//! Ways in for the fuzz targets (`fuzz/`, `scripts/fuzz`): each function takes the bytes a device
//! (or a user's configuration file) could send and runs them through the code the agent runs on
//! them, not a copy of it. Every function must return normally for any input: a panic, a hang or
//! a runaway allocation is a bug. Not part of the agent's interface.

use std::io;
use std::net::SocketAddr;
use std::sync::OnceLock;

use crate::config::{NutSpec, NutTls, Template};
use crate::probe::Transcript;
use crate::probe::onvif::{parse, search, soap};
use crate::probe::xml::Element;

/// A fixed "now" for the parsers that compare with the clock, so a run can be replayed.
const NOW: i64 = 1_795_939_200; // 2026-11-29T08:00:00Z

/// The conversations (NUT, RTSP) run on a runtime like the probes do; one for the whole process.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime")
    })
}

/// A peer whose every answer is `data`, in order, and who swallows what it is sent.
fn peer(data: &[u8]) -> impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + '_ {
    tokio::io::join(data, tokio::io::sink())
}

/// The configuration loader: file bytes to a resolved `Config`, or an error rendered with its
/// lines, columns and carets.
pub fn config(data: &[u8]) {
    match crate::config::parse_bytes("fuzz.toml", data.to_vec()) {
        Ok(config) => {
            for device in &config.devices {
                let _ = device.secrets();
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// An ONVIF SOAP answer (device, media, search and recording services, Profile G): the envelope,
/// its fault, and every parser the probes apply to a body.
pub fn onvif(data: &[u8]) {
    let Ok(envelope) = Element::parse(data) else {
        return;
    };
    if let Some(fault) = soap::fault(&envelope) {
        let _ = (fault.to_string(), fault.is_auth());
    }
    let Some(answer) = envelope.child("Body").and_then(|b| b.children.first()) else {
        return;
    };
    let _ = parse::system_date_and_time(answer);
    let _ = parse::device_clock_seconds(answer);
    let _ = parse::device_information(answer);
    let _ = (parse::capabilities(answer), parse::services(answer));
    let _ = parse::mac_address(answer);
    let _ = parse::profiles(answer);
    let _ = parse::media_uri(answer);
    let _ = search::search_token(answer);
    let _ = search::recording_summary(answer);
    let _ = search::recording_items(answer);
    let mut recordings = search::recording_search_results(answer).map_or_else(|_| Vec::new(), |p| p.results);
    recordings.extend(search::recording_information(answer));
    let events = search::event_search_results(answer).map_or_else(|_| Vec::new(), |p| p.results);
    for recording in &recordings {
        let _ = search::recording_footage(recording, &events, NOW);
    }
}

/// A WS-Discovery datagram as `camwatch discover` receives it, and the devices it makes printed
/// in every output format.
pub fn wsd(data: &[u8]) {
    let from: SocketAddr = ([192, 0, 2, 7], 3702).into();
    let mut collector = crate::discover::Collector::default();
    collector.accept(from, data);
    // Twice: a second answer from the same device merges into the first.
    collector.accept(from, data);
    let devices = &collector.devices;
    let mut out = io::sink();
    crate::discover::output::table(devices, &mut out).expect("a sink takes anything");
    crate::discover::output::json_lines(devices, &mut out).expect("a sink takes anything");
    crate::discover::output::config_snippet(devices, &mut out).expect("a sink takes anything");
}

/// An SNMP reply datagram (v1/v2c): judged as the client judges every datagram (snmp2's BER
/// decoding, the PDU type, request id and community), the values copied out as the client does,
/// and the readings made of them (figures, APC UPS, recorder disk tables).
pub fn snmp(data: &[u8]) {
    use crate::probe::snmp::client::Verdict;
    use crate::probe::snmp::{Reading, client, recorder, ups};
    let Ok(pdu) = snmp2::Pdu::from_bytes(data) else {
        let _ = client::judge(data, b"public", &[1]);
        return;
    };
    // Judged twice: as a stranger's reply, then as the answer to its own request id.
    let (id, community) = (pdu.req_id, pdu.community);
    let _ = client::judge(data, b"public", &[id.wrapping_add(1)]);
    let varbinds = match client::judge(data, community, &[id]) {
        Verdict::Answer((_, _, varbinds)) => varbinds,
        Verdict::Ignored(_) | Verdict::Refused(_) => client::answer_of(pdu).2,
    };
    for (oid, value) in &varbinds {
        let _ = (oid.to_string(), value.to_string());
        let _ = (value.as_f64(), value.as_i64(), value.as_text(), value.is_present());
    }
    for (entry, read) in [
        (recorder::HIK_DISK_ENTRY, recorder::hikvision as fn(_) -> _),
        (recorder::DAHUA_VOLUME_ENTRY, recorder::dahua),
    ] {
        let entry = client::Oid::parse(entry).expect("a valid OID");
        let table = recorder::rows(varbinds.clone(), &entry);
        if !table.is_empty() {
            let _ = read(table);
        }
    }
    let reading = Reading::new(varbinds);
    let _ = ups::apc(&reading);
}

/// A NUT server's side of a conversation (upsd's line protocol): logged in or not, the variable
/// list read into a UPS observation.
pub fn nut(data: &[u8]) {
    use crate::probe::nut::{Conn, Login, converse};
    let spec = NutSpec {
        ups: "ups".into(),
        port: 3493,
        tls: NutTls::None,
        ca_file: None,
        username: None,
        password: None,
    };
    let login = Login {
        username: "monitor".into(),
        password: Some("secret".to_owned().into()),
    };
    for login in [None, Some(&login)] {
        let conn = Conn::new(peer(data), "nut.example:3493".into());
        let mut transcript = Transcript::enabled();
        let _ = runtime().block_on(converse(conn, &spec, login, &mut transcript));
    }
}

/// A camera's side of an RTSP conversation: the OPTIONS and DESCRIBE answers (status lines,
/// headers, login challenges, the SDP and the H.264 parameter sets in it).
pub fn rtsp(data: &[u8]) {
    use crate::probe::rtsp::{Session, Target, describe};
    for uri in [
        "rtsp://192.0.2.10/stream1",
        "rtsp://viewer:secret@192.0.2.10:554/stream1",
    ] {
        let target = Target::parse(uri).expect("a valid URL");
        let session = Session::new(peer(data), &target, None);
        let mut transcript = Transcript::enabled();
        let _ = runtime().block_on(describe(session, target, &mut transcript));
    }
}

/// An ISAPI XML answer from a Hikvision recorder: storage (HDD list), status (uptime), a page of
/// recording search results, or a ResponseStatus.
pub fn isapi(data: &[u8]) {
    use crate::probe::isapi::{number, search, storage};
    let Ok(doc) = Element::parse(data) else {
        return;
    };
    let _ = (doc.text_at(&["statusString"]), doc.text_at(&["subStatusCode"]));
    let seen = storage::parse(&doc);
    let _ = storage::totals(&seen);
    let _ = number::<u64>(&doc, &["deviceUpTime"]);
    let _ = search::parse_page(&doc);
}

/// A snapshot from a camera: completeness, then the luma decoded (zune-jpeg, bounded in size) and
/// measured; the thumbnail written as the state stores it and read back.
pub fn jpeg(data: &[u8]) {
    use crate::probe::snapshot;
    let _ = snapshot::is_complete(data);
    if let Ok(analysis) = snapshot::analyse(data) {
        let hex: String = analysis.thumbnail.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            crate::observation::image::parse_thumbnail(&hex).as_deref(),
            Some(&analysis.thumbnail[..])
        );
    }
}

/// A footage path template from the configuration (the first line) and a recorder's path
/// matched against it (the rest), folder by folder as the scan walks them.
pub fn footage(data: &[u8]) {
    use crate::probe::footage::{Fields, match_parts};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (template, path) = text.split_once('\n').unwrap_or((text, ""));
    let Ok(template) = Template::parse(template) else {
        return;
    };
    let mut names = path.trim_start_matches('/').split('/');
    let mut fields = Fields::default();
    for parts in &template.dirs {
        let Some(name) = names.next() else { return };
        if !match_parts(parts, name, &mut fields) {
            return;
        }
    }
    if let Some(file) = names.next()
        && match_parts(&template.file, file, &mut fields)
    {
        let _ = fields.timestamp();
    }
}
