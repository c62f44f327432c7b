//! Footage from the recorder's own recording search: which channels it has
//! (`/ISAPI/ContentMgmt/InputProxy/channels`, or `/ISAPI/System/Video/inputs/channels` on a DVR),
//! then per channel `POST /ISAPI/ContentMgmt/search` over the retention window plus a day, paged:
//! the recorder answers at most `maxResults` matches (often fewer) with `responseStatusStrg`
//! `MORE` while more remain, and the next page starts at `searchResultPostion` (Hikvision's
//! spelling) advanced by `numOfMatches`, under the same `searchID`.
//!
//! Times: ISAPI writes `2026-11-29T08:00:00Z` (UTC) or with an offset (`+01:00`); some firmware
//! writes no zone at all, meaning the recorder's local time, which is converted with the offset
//! of `/ISAPI/System/time` `localTime`. Dates before 2000 (a recorder whose clock was never set)
//! are not believed: they are counted in the notes and left out.

use chrono::{DateTime, NaiveDateTime};

use super::{Client, number, storage};
use crate::config::IsapiSpec;
use crate::coverage::IntervalSet;
use crate::observation::footage::{CameraFootage, FootageObservation};
use crate::observation::{ProbeError, ProbeErrorKind};
use crate::probe::ProbeContext;
use crate::probe::http::HttpClients;
use crate::probe::xml::Element;

/// Matches asked per page; recorders answer at most this many (many cap it lower themselves).
pub const MAX_RESULTS: u32 = 50;
/// Pages read per channel at most: 400 × 50 segments is far more than a recorder keeps for one
/// channel in 90 days; a device that keeps saying MORE is not believed forever.
pub const MAX_PAGES: u32 = 400;
/// 2000-01-01T00:00:00Z: footage dated before this comes from a clock that was never set.
const Y2K: i64 = 946_684_800;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    pub id: u32,
    pub name: String,
}

/// The recorder's channels, by id and name.
pub async fn channels(client: &mut Client<'_>) -> Result<Vec<Channel>, ProbeError> {
    let doc = match client
        .get_optional("/ISAPI/ContentMgmt/InputProxy/channels", "InputProxyChannelList")
        .await?
    {
        Some(doc) => doc,
        None => {
            client
                .get("/ISAPI/System/Video/inputs/channels", "VideoInputChannelList")
                .await?
        }
    };
    let mut found: Vec<Channel> = Vec::new();
    for element in &doc.children {
        let Some(id) = number::<u32>(element, &["id"]).filter(|id| (1..=999).contains(id)) else {
            continue;
        };
        let name = element.text_at(&["name"]).unwrap_or_else(|| format!("channel {id}"));
        // Two channels of the same name would merge into one camera: keep them apart.
        let name = if found.iter().any(|c| c.name == name) {
            format!("{name} (channel {id})")
        } else {
            name
        };
        found.push(Channel { id, name });
    }
    if found.is_empty() {
        return Err(ProbeError::new(
            ProbeErrorKind::Device,
            format!(
                "{} lists no video channels, so there is no footage to search",
                client.host()
            ),
        ));
    }
    Ok(found)
}

/// A time as the recorder wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// With `Z` or an offset: an instant.
    Exact(i64),
    /// Without a zone: the recorder's wall clock.
    Local(NaiveDateTime),
}

pub fn parse_time(text: &str) -> Option<Stamp> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(Stamp::Exact(t.timestamp()));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(Stamp::Local)
}

impl Stamp {
    fn unix(self, local_offset: i64) -> i64 {
        match self {
            Self::Exact(t) => t,
            Self::Local(t) => t.and_utc().timestamp() - local_offset,
        }
    }
}

/// One recorded segment of a search answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub start: Stamp,
    pub end: Stamp,
    /// `size=` of the playback URI, in bytes.
    pub bytes: Option<u64>,
}

/// One page of a `CMSearchResult`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// `MORE`, `OK` or `NO MATCHES`, upper-cased.
    pub status: String,
    pub matches: u32,
    pub segments: Vec<Segment>,
    /// Items without readable times.
    pub unreadable: u32,
}

pub fn parse_page(doc: &Element) -> Result<Page, String> {
    let status = doc
        .text_at(&["responseStatusStrg"])
        .ok_or("a CMSearchResult without responseStatusStrg")?
        .to_ascii_uppercase();
    let items: Vec<&Element> = doc
        .child("matchList")
        .map(|l| l.children.iter().filter(|c| c.name == "searchMatchItem").collect())
        .unwrap_or_default();
    let matches = match doc.text_at(&["numOfMatches"]) {
        Some(text) => text
            .parse()
            .map_err(|_| format!("numOfMatches {text:?} is not a number"))?,
        None => items.len() as u32,
    };
    let mut segments = Vec::new();
    let mut unreadable = 0;
    for item in items {
        let time = |name: &str| item.text_at(&["timeSpan", name]).as_deref().and_then(parse_time);
        let (Some(start), Some(end)) = (time("startTime"), time("endTime")) else {
            unreadable += 1;
            continue;
        };
        let bytes = item
            .text_at(&["mediaSegmentDescriptor", "playbackURI"])
            .and_then(|uri| size_of(&uri));
        segments.push(Segment { start, end, bytes });
    }
    Ok(Page {
        status,
        matches,
        segments,
        unreadable,
    })
}

/// The `size=` of a playback URI (`rtsp://.../Streaming/tracks/101/?starttime=...&size=1234`).
pub fn size_of(uri: &str) -> Option<u64> {
    let query = uri.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("size="))
        .and_then(|v| v.parse().ok())
}

/// A fresh search ID in the braced GUID form Hikvision's own clients send.
fn search_id() -> String {
    let hex: String = (0..32).map(|_| format!("{:X}", fastrand::u8(..16))).collect();
    format!(
        "{{{}-{}-{}-{}-{}}}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

fn iso(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn search_body(id: &str, track: u32, from: i64, to: i64, position: u32) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<CMSearchDescription version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">"#,
            "<searchID>{id}</searchID>",
            "<trackIDList><trackID>{track}</trackID></trackIDList>",
            "<timeSpanList><timeSpan><startTime>{from}</startTime><endTime>{to}</endTime></timeSpan></timeSpanList>",
            "<maxResults>{max}</maxResults>",
            "<searchResultPostion>{position}</searchResultPostion>",
            "<metadataList><metadataDescriptor>//recordType.meta.std-cgi.com</metadataDescriptor></metadataList>",
            "</CMSearchDescription>"
        ),
        id = id,
        track = track,
        from = iso(from),
        to = iso(to),
        max = MAX_RESULTS,
        position = position
    )
}

/// Every segment of one track in `[from, to]`, page by page.
async fn search_track(
    client: &mut Client<'_>,
    track: u32,
    from: i64,
    to: i64,
    notes: &mut Vec<String>,
) -> Result<(Vec<Segment>, u32), ProbeError> {
    let id = search_id();
    let mut position = 0;
    let mut segments = Vec::new();
    let mut unreadable = 0;
    for page_number in 1..=MAX_PAGES {
        let doc = client.search(&search_body(&id, track, from, to, position)).await?;
        let page = parse_page(&doc).map_err(|why| {
            ProbeError::new(
                ProbeErrorKind::Device,
                format!(
                    "{} answered the recording search of track {track} with {why}",
                    client.host()
                ),
            )
        })?;
        client.transcript.note(|| {
            format!(
                "  track {track} page {page_number}: {} matches from position {position}, {}",
                page.matches, page.status
            )
        });
        unreadable += page.unreadable;
        segments.extend(page.segments);
        match page.status.as_str() {
            "MORE" if page.matches == 0 => {
                notes.push(format!(
                    "track {track}: the recorder said MORE with no matches; the search stopped there"
                ));
                return Ok((segments, unreadable));
            }
            "MORE" => position += page.matches,
            "OK" | "NO MATCHES" | "NO MATCH" => return Ok((segments, unreadable)),
            other => {
                return Err(ProbeError::new(
                    ProbeErrorKind::Device,
                    format!(
                        "{} answered the recording search of track {track} with status {other:?} (ISAPI defines OK, MORE and NO MATCHES)",
                        client.host()
                    ),
                ));
            }
        }
    }
    notes.push(format!(
        "track {track}: still MORE after {MAX_PAGES} pages; the newest footage may be missing"
    ));
    Ok((segments, unreadable))
}

/// The recorder's UTC offset in seconds, from `/ISAPI/System/time` `localTime`.
async fn local_offset(client: &mut Client<'_>) -> Result<Option<i64>, ProbeError> {
    let Some(doc) = client.get_optional("/ISAPI/System/time", "Time").await? else {
        return Ok(None);
    };
    Ok(doc
        .text_at(&["localTime"])
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| i64::from(t.offset().local_minus_utc())))
}

/// Footage per channel, as the retention judge reads it. `window_seconds` is the policy's
/// retention; the search reaches back a day further (as footage folders are kept).
pub async fn probe(
    http: &HttpClients,
    spec: &IsapiSpec,
    ctx: &mut ProbeContext<'_>,
) -> Result<FootageObservation, ProbeError> {
    let window_seconds = ctx.device.footage_window_seconds();
    super::with_client(http, spec, ctx, async |client| {
        footage(client, &spec.channels, window_seconds).await
    })
    .await
}

async fn footage(
    client: &mut Client<'_>,
    wanted: &[String],
    window_seconds: i64,
) -> Result<FootageObservation, ProbeError> {
    let now = crate::vocab::unix_now() as i64;
    let mut notes = Vec::new();
    let channels = channels(client).await?;
    let mut missing = Vec::new();
    let judged: Vec<&Channel> = if wanted.is_empty() {
        channels.iter().collect()
    } else {
        let mut judged = Vec::new();
        for name in wanted {
            match channels.iter().find(|c| c.name.trim() == name.trim()) {
                Some(channel) => judged.push(channel),
                None => {
                    missing.push(name.clone());
                    notes.push(format!(
                        "{name} is not a channel of the recorder (it has: {})",
                        channels.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
        judged
    };
    let (size_bytes, free_bytes) = match storage::read(client).await {
        Ok(disks) => storage::totals(&disks),
        Err(e) => {
            notes.push(format!("disk sizes unknown, so no forecast: {e}"));
            (0, 0)
        }
    };
    let from = now - window_seconds - 86_400;
    // A little past now: a recorder clock slightly ahead still has its newest footage found.
    let to = now + 3600;
    let mut found = Vec::new();
    for channel in judged {
        let (segments, unreadable) = search_track(client, channel.id * 100 + 1, from, to, &mut notes).await?;
        if unreadable > 0 {
            notes.push(format!(
                "{}: {unreadable} search results without readable times were left out",
                channel.name
            ));
        }
        found.push((channel.name.clone(), segments));
    }
    let needs_offset = found
        .iter()
        .flat_map(|(_, s)| s)
        .any(|s| matches!(s.start, Stamp::Local(_)) || matches!(s.end, Stamp::Local(_)));
    let offset = if needs_offset {
        match local_offset(client).await? {
            Some(offset) => offset,
            None => {
                notes.push("the recorder gives times without a zone and does not say its own: read as UTC".into());
                0
            }
        }
    } else {
        0
    };
    let mut cameras = Vec::new();
    for (name, segments) in found {
        match camera(name, &segments, now, offset, &mut notes) {
            Ok(footage) => cameras.push(footage),
            Err(name) => missing.push(name),
        }
    }
    Ok(FootageObservation {
        scanned_at: now,
        source: format!("ISAPI search on {}", client.host()),
        size_bytes,
        free_bytes,
        cameras,
        missing,
        folders: None,
        notes,
    })
}

/// One channel's segments as footage at `now`; Err(name) when none is believable.
fn camera(
    name: String,
    segments: &[Segment],
    now: i64,
    offset: i64,
    notes: &mut Vec<String>,
) -> Result<CameraFootage, String> {
    let mut intervals = IntervalSet::new();
    let (mut unbelievable, mut future) = (0, 0);
    let mut files = 0;
    let mut bytes_last_day = 0.0;
    for segment in segments {
        let (start, end) = (segment.start.unix(offset), segment.end.unix(offset));
        if start < Y2K || end < Y2K {
            unbelievable += 1;
            continue;
        }
        if end > now + 300 {
            future += 1;
        }
        files += 1;
        intervals.insert(start, end);
        // Recorder segments run for hours: count the share written in the last 24 hours.
        if let Some(bytes) = segment.bytes
            && end > start
        {
            let overlap = (end.min(now) - start.max(now - 86_400)).max(0);
            bytes_last_day += bytes as f64 * overlap as f64 / (end - start) as f64;
        }
    }
    if unbelievable > 0 {
        notes.push(format!(
            "{name}: {unbelievable} segments dated before 2000 (a clock that was never set) were not believed"
        ));
    }
    if future > 0 {
        notes.push(format!(
            "{name}: {future} segments end in the future: the recorder's clock or time zone is wrong"
        ));
    }
    let Some((oldest, _)) = intervals.iter().next() else {
        return Err(name);
    };
    Ok(CameraFootage {
        camera: name,
        intervals: intervals.to_vec(),
        oldest: Some(oldest),
        files,
        bytes_last_day: bytes_last_day.round() as u64,
        untrusted: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_with_and_without_zone() {
        assert_eq!(parse_time("2026-11-29T08:00:00Z"), Some(Stamp::Exact(1_795_939_200)));
        assert_eq!(
            parse_time("2026-11-29T09:00:00+01:00"),
            Some(Stamp::Exact(1_795_939_200))
        );
        let local = parse_time("2026-11-29T09:00:00").unwrap();
        assert_eq!(local.unix(3600), 1_795_939_200);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn a_page_of_matches() {
        let doc = Element::parse(
            br#"<?xml version="1.0" encoding="UTF-8"?>
<CMSearchResult version="2.0" xmlns="http://www.hikvision.com/ver20/XMLSchema">
<searchID>{X}</searchID><responseStatus>true</responseStatus><responseStatusStrg>MORE</responseStatusStrg>
<numOfMatches>2</numOfMatches><matchList>
<searchMatchItem><sourceID>{S}</sourceID><trackID>101</trackID>
<timeSpan><startTime>2026-11-29T08:00:00Z</startTime><endTime>2026-11-29T09:00:00Z</endTime></timeSpan>
<mediaSegmentDescriptor><contentType>video</contentType><codecType>H.264-BP</codecType>
<playbackURI>rtsp://10.0.0.5/Streaming/tracks/101/?starttime=20261129T080000Z&amp;endtime=20261129T090000Z&amp;name=ch01_0800&amp;size=1073741824</playbackURI>
</mediaSegmentDescriptor></searchMatchItem>
<searchMatchItem><trackID>101</trackID><timeSpan><startTime>garbage</startTime><endTime>2026-11-29T09:00:00Z</endTime></timeSpan></searchMatchItem>
</matchList></CMSearchResult>"#,
        )
        .unwrap();
        let page = parse_page(&doc).unwrap();
        assert_eq!((page.status.as_str(), page.matches, page.unreadable), ("MORE", 2, 1));
        assert_eq!(page.segments[0].bytes, Some(1 << 30));
        let body = search_body("{A}", 101, 0, 3600, 50);
        assert!(body.contains("<searchResultPostion>50</searchResultPostion>"), "{body}");
        assert!(body.contains("<endTime>1970-01-01T01:00:00Z</endTime>"), "{body}");
        assert_eq!(search_id().len(), 38);
    }

    #[test]
    fn unbelievable_and_future_dates_are_noted_and_the_write_rate_prorated() {
        let now = 1_795_939_200;
        let segment = |start: i64, end: i64, bytes| Segment {
            start: Stamp::Exact(start),
            end: Stamp::Exact(end),
            bytes: Some(bytes),
        };
        let mut notes = Vec::new();
        let seen = camera(
            "Hall".into(),
            &[
                segment(3600, 7200, 1),
                // Twelve hours, half of them in the last day: half its bytes.
                segment(now - 30 * 3600, now - 18 * 3600, 1200),
                segment(now - 3600, now + 7200, 300),
            ],
            now,
            0,
            &mut notes,
        )
        .unwrap();
        assert_eq!(
            seen.intervals,
            vec![(now - 30 * 3600, now - 18 * 3600), (now - 3600, now + 7200)]
        );
        assert_eq!((seen.files, seen.bytes_last_day), (2, 600 + 100));
        assert_eq!(
            notes,
            [
                "Hall: 1 segments dated before 2000 (a clock that was never set) were not believed",
                "Hall: 1 segments end in the future: the recorder's clock or time zone is wrong"
            ]
        );
        let mut notes = Vec::new();
        assert_eq!(
            camera("Old".into(), &[segment(0, 60, 1)], now, 0, &mut notes),
            Err("Old".into())
        );
    }
}
