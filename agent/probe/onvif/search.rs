//! ONVIF Profile G: a recorder's footage per camera, read through its search service.
//!
//! One poll: `GetRecordingSummary`; `FindRecordings` (at most [`MAX_RECORDINGS`], session kept
//! alive [`KEEP_ALIVE`]) and `GetRecordingSearchResults` until the search says `Completed`;
//! `GetRecordingInformation` for a recording the results describe without tracks; `FindEvents`
//! over the retention window plus a day for the recording history topics (a track's
//! `IsDataPresent`, a recording's `IsRecording`, with the state at the window's start) and
//! `GetEventSearchResults` until `Completed`. Every search opened is ended with `EndSearch`,
//! also when reading its results failed, and paging stops at three quarters of the check's
//! timeout so that there is time left to end it. Rounds, results and events are bounded, so a
//! recorder that never completes or sends without end is reported, not waited for.
//!
//! A camera's footage is its recordings' tracks (the video ones, when there are any) from
//! `DataFrom` to `DataTo`, minus the spans the events say held no data. Dates before 2000 (an
//! unset clock reads 1970) or over an hour ahead of camwatch's clock are not believed.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Request, Session, redacted};
use crate::config::OnvifRecordingsSpec;
use crate::coverage::{IntervalSet, span};
use crate::observation::footage::{CameraFootage, FootageObservation};
use crate::observation::{ProbeError, ProbeErrorKind};
use crate::probe::xml::Element;

/// How long the recorder keeps a search session the agent stopped asking about (its own
/// backstop, should the agent be cut off before `EndSearch`).
pub const KEEP_ALIVE: &str = "PT10S";
/// How long the recorder may hold one results request waiting for results.
pub const WAIT_TIME: &str = "PT1S";
/// Results asked per round.
pub const PAGE: u32 = 100;
/// Recordings read per recorder, at most (`MaxMatches`).
pub const MAX_RECORDINGS: u32 = 256;
/// Recording history events read per poll, at most (`MaxMatches`).
pub const MAX_EVENTS: u32 = 50_000;
/// Results rounds per search, and rounds in a row with neither results nor completion.
const MAX_ROUNDS: u32 = 1_000;
const MAX_IDLE_ROUNDS: u32 = 20;
/// 2000-01-01T00:00:00Z: anything earlier is a clock that was never set.
pub const OLDEST_BELIEVABLE: i64 = 946_684_800;
/// Dates further ahead of camwatch's clock than this are not believed.
pub const FUTURE_TOLERANCE: i64 = 3_600;
const DAY: i64 = 86_400;
const MAX_NOTES: usize = 20;

/// `GetRecordingSummary`: what the recorder holds, in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordingSummary {
    pub data_from: Option<i64>,
    pub data_until: Option<i64>,
    pub recordings: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Track {
    pub token: String,
    /// `Video`, `Audio`, `Metadata` or `Extended`.
    pub kind: String,
    pub data_from: Option<i64>,
    pub data_to: Option<i64>,
}

/// One `tt:RecordingInformation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recording {
    pub token: String,
    /// The source's `Name`: the camera, as the recorder names it.
    pub source_name: Option<String>,
    pub earliest: Option<i64>,
    pub latest: Option<i64>,
    pub tracks: Vec<Track>,
    /// `Initiated`, `Recording`, `Stopped`, `Removing`, `Removed` or `Unknown`.
    pub status: Option<String>,
}

impl Recording {
    /// The camera this recording belongs to: its source's name, else its token.
    pub fn camera(&self) -> &str {
        self.source_name.as_deref().unwrap_or(&self.token)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SearchState {
    Queued,
    Searching,
    Completed,
    Unknown,
}

/// One round of search results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub state: SearchState,
    pub results: Vec<T>,
}

/// What a recording history event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum History {
    /// `tns1:RecordingHistory/Track/State`, `IsDataPresent`.
    DataPresent(bool),
    /// `tns1:RecordingHistory/Recording/State`, `IsRecording`.
    Recording(bool),
    /// Any other topic (a recorder that ignores the search filter).
    Other,
}

/// One `tt:FindEventResult`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordingEvent {
    pub recording: String,
    pub track: Option<String>,
    pub time: i64,
    pub history: History,
    /// The state at the search's start point rather than a change.
    pub start_state: bool,
}

/// `xs:dateTime` for a request: UTC, whole seconds.
pub fn xs_date_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// An `xs:dateTime` as devices write it (`Z`, an offset, fractions, or no zone: UTC), in whole
/// Unix seconds.
pub fn date_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp());
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc().timestamp())
}

pub(crate) fn shown(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map_or_else(|| unix.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// Why a date the recorder gave is not believed, if it is not.
pub fn unbelievable(unix: i64, now: i64) -> Option<&'static str> {
    if unix < OLDEST_BELIEVABLE {
        Some("before 2000: the recorder's clock was not set")
    } else if unix > now + FUTURE_TOLERANCE {
        Some("in the future: the recorder's clock is ahead")
    } else {
        None
    }
}

fn date_at(e: &Element, path: &[&str]) -> Result<Option<i64>, String> {
    match e.text_at(path) {
        None => Ok(None),
        Some(text) => date_time(&text)
            .map(Some)
            .ok_or_else(|| format!("{} {text:?} is not a date", path.join("/"))),
    }
}

/// An `xs:duration` (`PT1H`, `P30D`, `P1DT12H`) in whole seconds; years and months are taken as
/// 365 and 30 days.
pub fn xs_duration(text: &str) -> Option<i64> {
    let mut rest = text.trim().strip_prefix('P')?;
    let mut seconds = 0.0;
    let mut in_time = false;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('T') {
            in_time = true;
            rest = after;
            continue;
        }
        let unit = rest.find(|c: char| c.is_ascii_alphabetic())?;
        let value: f64 = rest[..unit].parse().ok().filter(|v: &f64| *v >= 0.0)?;
        let scale = match (&rest[unit..=unit], in_time) {
            ("Y", false) => 365.0 * 86_400.0,
            ("M", false) => 30.0 * 86_400.0,
            ("W", false) => 7.0 * 86_400.0,
            ("D", false) => 86_400.0,
            ("H", true) => 3600.0,
            ("M", true) => 60.0,
            ("S", true) => 1.0,
            _ => return None,
        };
        seconds += value * scale;
        rest = &rest[unit + 1..];
    }
    Some(seconds as i64)
}

/// One `trc:RecordingItem` of the recording service's `GetRecordings`: how long the recorder
/// is configured to keep it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordingItem {
    pub token: String,
    pub source_name: Option<String>,
    /// `MaximumRetentionTime` in seconds; 0 means no limit.
    pub max_retention_seconds: Option<i64>,
    pub tracks: usize,
}

/// A `GetRecordings` answer.
pub fn recording_items(response: &Element) -> Result<Vec<RecordingItem>, String> {
    response
        .children
        .iter()
        .filter(|i| i.name == "RecordingItem")
        .map(|item| {
            let token = item
                .text_at(&["RecordingToken"])
                .ok_or("a RecordingItem without RecordingToken")?;
            let max_retention_seconds =
                match item.text_at(&["Configuration", "MaximumRetentionTime"]) {
                    Some(text) => Some(xs_duration(&text).ok_or_else(|| {
                        format!("recording {token:?}: MaximumRetentionTime {text:?} is not a duration")
                    })?),
                    None => None,
                };
            Ok(RecordingItem {
                source_name: item.text_at(&["Configuration", "Source", "Name"]),
                max_retention_seconds,
                tracks: item
                    .child("Tracks")
                    .map_or(0, |t| t.children.iter().filter(|c| c.name == "Track").count()),
                token,
            })
        })
        .collect()
}

/// The token of a `FindRecordings` or `FindEvents` answer.
pub fn search_token(response: &Element) -> Result<String, String> {
    response
        .text_at(&["SearchToken"])
        .ok_or_else(|| format!("{} without a SearchToken", response.name))
}

pub fn recording_summary(response: &Element) -> Result<RecordingSummary, String> {
    let summary = response.child("Summary").ok_or("no Summary in the answer")?;
    let recordings = match summary.text_at(&["NumberRecordings"]) {
        Some(n) => Some(
            n.parse::<u64>()
                .map_err(|_| format!("NumberRecordings {n:?} is not a number"))?,
        ),
        None => None,
    };
    Ok(RecordingSummary {
        data_from: date_at(summary, &["DataFrom"])?,
        data_until: date_at(summary, &["DataUntil"])?,
        recordings,
    })
}

fn state(list: &Element) -> Result<SearchState, String> {
    match list.text_at(&["SearchState"]).as_deref() {
        Some("Queued") => Ok(SearchState::Queued),
        Some("Searching") => Ok(SearchState::Searching),
        Some("Completed") => Ok(SearchState::Completed),
        Some("Unknown") => Ok(SearchState::Unknown),
        Some(other) => Err(format!(
            "SearchState {other:?} is none of Queued, Searching, Completed, Unknown"
        )),
        None => Err("a result list without SearchState".into()),
    }
}

/// One `tt:RecordingInformation` element.
pub fn recording(info: &Element) -> Result<Recording, String> {
    let token = info
        .text_at(&["RecordingToken"])
        .ok_or("a RecordingInformation without RecordingToken")?;
    let tracks = info
        .children
        .iter()
        .filter(|t| t.name == "Track")
        .map(|t| {
            Ok(Track {
                token: t.text_at(&["TrackToken"]).unwrap_or_default(),
                kind: t.text_at(&["TrackType"]).unwrap_or_default(),
                data_from: date_at(t, &["DataFrom"])?,
                data_to: date_at(t, &["DataTo"])?,
            })
        })
        .collect::<Result<Vec<_>, String>>()
        .map_err(|why| format!("recording {token:?}: {why}"))?;
    let at = |name: &str| date_at(info, &[name]).map_err(|why| format!("recording {token:?}: {why}"));
    Ok(Recording {
        source_name: info.text_at(&["Source", "Name"]),
        earliest: at("EarliestRecording")?,
        latest: at("LatestRecording")?,
        tracks,
        status: info.text_at(&["RecordingStatus"]),
        token,
    })
}

/// A `GetRecordingSearchResults` answer.
pub fn recording_search_results(response: &Element) -> Result<Page<Recording>, String> {
    page(response, "RecordingInformation", recording)
}

/// One page of a search's results: its state and the items named `item`.
fn page<T>(response: &Element, item: &str, parse: fn(&Element) -> Result<T, String>) -> Result<Page<T>, String> {
    let list = response.child("ResultList").ok_or("no ResultList in the answer")?;
    Ok(Page {
        state: state(list)?,
        results: list
            .children
            .iter()
            .filter(|r| r.name == item)
            .map(parse)
            .collect::<Result<_, _>>()?,
    })
}

/// A `GetRecordingInformation` answer.
pub fn recording_information(response: &Element) -> Result<Recording, String> {
    recording(
        response
            .child("RecordingInformation")
            .ok_or("no RecordingInformation in the answer")?,
    )
}

fn flag(text: &str) -> Option<bool> {
    match text.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// The value of `<tt:SimpleItem Name="name" Value="..."/>` under `under`.
fn simple_item<'a>(under: Option<&'a Element>, name: &str) -> Option<&'a str> {
    under?
        .children
        .iter()
        .find(|i| i.name == "SimpleItem" && i.attribute("Name") == Some(name))?
        .attribute("Value")
}

/// One `tt:FindEventResult` element.
pub fn recording_event(result: &Element) -> Result<RecordingEvent, String> {
    let message = result.first("NotificationMessage");
    let inner = message
        .and_then(|m| m.child("Message"))
        .and_then(|m| m.child("Message"));
    // Prefixes differ by device (tns1:, none): compare the topic's local names.
    let topic: Vec<String> = message
        .and_then(|m| m.text_at(&["Topic"]))
        .unwrap_or_default()
        .split('/')
        .map(|part| part.rsplit(':').next().unwrap_or(part).to_owned())
        .collect();
    let data = inner.and_then(|m| m.child("Data"));
    let source = inner.and_then(|m| m.child("Source"));
    let history = match topic.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["RecordingHistory", "Track", "State"] => {
            let value = simple_item(data, "IsDataPresent").ok_or("a track state event without IsDataPresent")?;
            History::DataPresent(flag(value).ok_or_else(|| format!("IsDataPresent {value:?} is not a boolean"))?)
        }
        ["RecordingHistory", "Recording", "State"] => {
            let value = simple_item(data, "IsRecording").ok_or("a recording state event without IsRecording")?;
            History::Recording(flag(value).ok_or_else(|| format!("IsRecording {value:?} is not a boolean"))?)
        }
        _ => History::Other,
    };
    let time = match result.text_at(&["Time"]) {
        Some(t) => Some(t),
        None => inner.and_then(|m| m.attribute("UtcTime")).map(str::to_owned),
    }
    .ok_or("an event without a Time")?;
    let recording = result
        .text_at(&["RecordingToken"])
        .or_else(|| simple_item(source, "RecordingToken").map(str::to_owned))
        .unwrap_or_default();
    Ok(RecordingEvent {
        recording,
        track: result
            .text_at(&["TrackToken"])
            .or_else(|| simple_item(source, "Track").map(str::to_owned)),
        time: date_time(&time).ok_or_else(|| format!("event time {time:?} is not a date"))?,
        history,
        start_state: result.text_at(&["StartStateEvent"]).and_then(|s| flag(&s)) == Some(true),
    })
}

/// A `GetEventSearchResults` answer.
pub fn event_search_results(response: &Element) -> Result<Page<RecordingEvent>, String> {
    page(response, "Result", recording_event)
}

/// One recording's footage: each track (the video ones, when there are any) from `DataFrom` to
/// `DataTo`, minus the spans its events say held no data or the recording was not recording;
/// the tracks' footage united. Dates not believed are dropped: a missing start is taken from
/// the first believable event saying data is present; without one, or without a believable end,
/// the track proves nothing. The second value says why footage was not believed.
pub fn recording_footage(recording: &Recording, events: &[RecordingEvent], now: i64) -> (IntervalSet, Option<String>) {
    let video: Vec<&Track> = recording.tracks.iter().filter(|t| t.kind == "Video").collect();
    let whole = Track {
        token: String::new(),
        kind: String::new(),
        data_from: None,
        data_to: None,
    };
    let tracks: Vec<&Track> = match (video.is_empty(), recording.tracks.is_empty()) {
        (false, _) => video,
        (true, false) => recording.tracks.iter().collect(),
        (true, true) => vec![&whole],
    };
    let mut footage = IntervalSet::new();
    let mut doubt: Option<String> = None;
    let mut doubt_about = |date: i64, what: &str| {
        if let Some(why) = unbelievable(date, now) {
            doubt.get_or_insert_with(|| {
                format!("recording {} dates its {what} {} ({why})", recording.token, shown(date))
            });
            true
        } else {
            false
        }
    };
    for track in tracks {
        let mut mine: Vec<&RecordingEvent> = events
            .iter()
            .filter(|e| e.recording == recording.token && unbelievable(e.time, now).is_none())
            .filter(|e| match e.history {
                History::Recording(_) => true,
                History::DataPresent(_) => {
                    track.token.is_empty() || e.track.as_deref().is_none_or(|t| t == track.token)
                }
                History::Other => false,
            })
            .collect();
        // The start state first at equal times: a change at the start point overrides it.
        mine.sort_by_key(|e| (e.time, !e.start_state));
        let Some(to) = track.data_to.or(recording.latest) else {
            continue;
        };
        if doubt_about(to, "newest footage") {
            continue;
        }
        let from = match track.data_from.or(recording.earliest) {
            Some(from) if !doubt_about(from, "oldest footage") => Some(from),
            _ => mine
                .iter()
                .find(|e| e.history == History::DataPresent(true))
                .map(|e| e.time),
        };
        let Some(from) = from else {
            continue;
        };
        let mut track_footage = IntervalSet::from_intervals([(from, to)]);
        // Walk the history: absent while the track has no data or the recording is not recording.
        let (mut data, mut recording_on) = (true, true);
        let mut absent_since: Option<i64> = None;
        for event in mine {
            match event.history {
                History::DataPresent(present) => data = present,
                History::Recording(on) => recording_on = on,
                History::Other => {}
            }
            match (data && recording_on, absent_since) {
                (false, None) => absent_since = Some(event.time),
                (true, Some(since)) => {
                    track_footage.remove(since, event.time);
                    absent_since = None;
                }
                _ => {}
            }
        }
        if let Some(since) = absent_since {
            track_footage.remove(since, i64::MAX);
        }
        footage.extend(&track_footage);
    }
    (footage, doubt)
}

/// The search flow of one poll, on one recorder's search service.
pub(super) struct Read<'s, 'a> {
    pub session: &'s mut Session<'a>,
    pub url: &'s str,
    /// The recording service, when the device names one: asked for each recording's maximum
    /// retention, which explains footage cut short on purpose.
    pub recording_url: Option<&'s str>,
    /// No results round starts or runs past this: what is left of the check's timeout ends the
    /// searches.
    pub paging_deadline: tokio::time::Instant,
    pub notes: Vec<String>,
}

impl Read<'_, '_> {
    fn garbage(&self, what: &str, why: String) -> ProbeError {
        ProbeError::new(
            ProbeErrorKind::Device,
            format!(
                "{} answered {what} with something camwatch cannot read: {why}",
                redacted(self.url)
            ),
        )
    }

    fn note(&mut self, note: String) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(note);
        }
    }

    /// Opens a search, reads its results round by round until it completes, and ends it
    /// whatever happened meanwhile.
    async fn search<T>(
        &mut self,
        open: Request<'_>,
        results: for<'t> fn(&'t str) -> Request<'t>,
        parse: fn(&Element) -> Result<Page<T>, String>,
        limit: u32,
    ) -> Result<Vec<T>, ProbeError> {
        let what = open.name();
        let answer = self.session.ask(self.url, open).await?;
        let token = search_token(&answer).map_err(|why| self.garbage(what, why))?;
        let found = self.rounds(&token, results, parse, limit).await;
        match self.session.ask(self.url, Request::EndSearch(&token)).await {
            Ok(_) => {}
            Err(e) => self.note(format!(
                "EndSearch of {what}'s search failed ({e}); the recorder drops it after {KEEP_ALIVE}"
            )),
        }
        found
    }

    async fn rounds<T>(
        &mut self,
        token: &str,
        results: for<'t> fn(&'t str) -> Request<'t>,
        parse: fn(&Element) -> Result<Page<T>, String>,
        limit: u32,
    ) -> Result<Vec<T>, ProbeError> {
        let request = results(token);
        let what = request.name();
        let mut found = Vec::new();
        let mut idle = 0;
        for round in 1..=MAX_ROUNDS {
            let answer = tokio::time::timeout_at(self.paging_deadline, self.session.ask(self.url, request))
                .await
                .map_err(|_| {
                    ProbeError::new(
                        ProbeErrorKind::Timeout,
                        format!(
                            "{}'s search did not complete in the time the check allows ({round} rounds of {what}, {} results): raise the device's timeout",
                            redacted(self.url),
                            found.len()
                        ),
                    )
                })??;
            let page = parse(&answer).map_err(|why| self.garbage(what, why))?;
            idle = if page.results.is_empty() && page.state != SearchState::Completed {
                idle + 1
            } else {
                0
            };
            found.extend(page.results);
            if found.len() > limit as usize {
                return Err(ProbeError::new(
                    ProbeErrorKind::Device,
                    format!(
                        "{} returned more than {limit} results to {what}, though MaxMatches asked at most {limit}",
                        redacted(self.url)
                    ),
                ));
            }
            if page.state == SearchState::Completed {
                return Ok(found);
            }
            if idle > MAX_IDLE_ROUNDS {
                return Err(ProbeError::new(
                    ProbeErrorKind::Device,
                    format!(
                        "{}'s search gave nothing in {idle} rounds of {what} in a row and did not complete",
                        redacted(self.url)
                    ),
                ));
            }
        }
        Err(ProbeError::new(
            ProbeErrorKind::Device,
            format!(
                "{}'s search did not complete in {MAX_ROUNDS} rounds of {what}",
                redacted(self.url)
            ),
        ))
    }

    pub async fn footage(
        &mut self,
        spec: &OnvifRecordingsSpec,
        now: i64,
        window: i64,
        source: String,
    ) -> Result<FootageObservation, ProbeError> {
        let answer = self.session.ask(self.url, Request::GetRecordingSummary).await?;
        let summary = recording_summary(&answer).map_err(|why| self.garbage("GetRecordingSummary", why))?;
        self.session.transcript.note(|| {
            let date = |d: Option<i64>| d.map_or_else(|| "?".to_owned(), shown);
            format!(
                "  {} recordings, footage from {} until {}",
                summary.recordings.map_or_else(|| "?".to_owned(), |n| n.to_string()),
                date(summary.data_from),
                date(summary.data_until)
            )
        });
        if let Some(n) = summary.recordings.filter(|&n| n > u64::from(MAX_RECORDINGS)) {
            return Err(ProbeError::new(
                ProbeErrorKind::Device,
                format!(
                    "{} holds {n} recordings; camwatch reads at most {MAX_RECORDINGS} per recorder",
                    redacted(self.url)
                ),
            ));
        }
        if let Some(url) = self.recording_url {
            match self
                .session
                .ask(url, Request::GetRecordings)
                .await
                .map(|a| recording_items(&a))
            {
                Ok(Ok(items)) => {
                    for item in items {
                        let Some(keeps) = item.max_retention_seconds.filter(|&k| k > 0 && k < window) else {
                            continue;
                        };
                        self.note(format!(
                            "{}: recording {} is set to keep footage at most {} (MaximumRetentionTime), {} required",
                            item.source_name.as_deref().unwrap_or(&item.token),
                            item.token,
                            span(keeps),
                            span(window)
                        ));
                    }
                }
                Ok(Err(why)) => self.note(format!("GetRecordings answered something unreadable: {why}")),
                Err(e) => self.note(format!("no recording configuration ({e})")),
            }
        }
        let mut recordings = if summary.recordings == Some(0) {
            Vec::new()
        } else {
            self.search(
                Request::FindRecordings,
                |t| Request::GetRecordingSearchResults(t),
                recording_search_results,
                MAX_RECORDINGS,
            )
            .await?
        };
        for recording in &mut recordings {
            if recording.tracks.is_empty() || recording.source_name.is_none() {
                let token = recording.token.clone();
                let answer = self
                    .session
                    .ask(self.url, Request::GetRecordingInformation(&token))
                    .await?;
                *recording =
                    recording_information(&answer).map_err(|why| self.garbage("GetRecordingInformation", why))?;
            }
        }
        // Events from the oldest footage kept (the window plus a day, as for footage folders).
        let start = now - window - DAY;
        let events = if recordings.is_empty() {
            Vec::new()
        } else {
            self.search(
                Request::FindEvents { start, end: now },
                |t| Request::GetEventSearchResults(t),
                event_search_results,
                MAX_EVENTS,
            )
            .await?
        };
        // MaxMatches reached: the search stopped there, and later gaps would go unseen.
        if events.len() >= MAX_EVENTS as usize {
            return Err(ProbeError::new(
                ProbeErrorKind::Device,
                format!(
                    "{} holds {MAX_EVENTS} or more recording history events in the retention window, more than camwatch reads: its gaps cannot all be known",
                    redacted(self.url)
                ),
            ));
        }
        let other = events.iter().filter(|e| e.history == History::Other).count();
        if other > 0 {
            self.note(format!(
                "{other} events of other topics than the recording history were ignored"
            ));
        }
        let mut cameras: BTreeMap<String, CameraFootage> = BTreeMap::new();
        let mut sets: BTreeMap<String, IntervalSet> = BTreeMap::new();
        for recording in &recordings {
            let (mut footage, doubt) = recording_footage(recording, &events, now);
            let name = recording.camera().to_owned();
            let camera = cameras
                .entry(name.clone())
                .or_insert_with(|| CameraFootage::empty(&name));
            if let Some(oldest) = footage.iter().next().map(|(s, _)| s) {
                camera.oldest = Some(camera.oldest.map_or(oldest, |o| o.min(oldest)));
            }
            if let Some(doubt) = doubt {
                self.note(format!("{name}: {doubt}, not believed"));
                camera.untrusted.get_or_insert(doubt);
            }
            if recording.status.as_deref().is_some_and(|s| s != "Recording") {
                self.note(format!(
                    "{name}: recording {} says {}",
                    recording.token,
                    recording.status.as_deref().unwrap_or_default()
                ));
            }
            footage.drop_before(start);
            sets.entry(name).or_default().extend(&footage);
        }
        for (name, set) in sets {
            if let Some(camera) = cameras.get_mut(&name) {
                camera.intervals = set.to_vec();
            }
        }
        let missing = spec
            .recordings
            .iter()
            .filter(|wanted| !cameras.contains_key(wanted.as_str()) && !recordings.iter().any(|r| &r.token == *wanted))
            .cloned()
            .collect();
        Ok(FootageObservation {
            scanned_at: now,
            source,
            size_bytes: 0,
            free_bytes: 0,
            cameras: cameras.into_values().collect(),
            missing,
            folders: None,
            notes: std::mem::take(&mut self.notes),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_932_000; // 2026-11-29 06:00:00 UTC
    const DAY: i64 = 86_400;

    fn track(token: &str, kind: &str, from: i64, to: i64) -> Track {
        Track {
            token: token.into(),
            kind: kind.into(),
            data_from: Some(from),
            data_to: Some(to),
        }
    }

    fn recording(tracks: Vec<Track>) -> Recording {
        Recording {
            token: "rec-1".into(),
            source_name: Some("Front door".into()),
            earliest: tracks.iter().filter_map(|t| t.data_from).min(),
            latest: tracks.iter().filter_map(|t| t.data_to).max(),
            tracks,
            status: Some("Recording".into()),
        }
    }

    fn data(track: &str, time: i64, present: bool) -> RecordingEvent {
        RecordingEvent {
            recording: "rec-1".into(),
            track: Some(track.into()),
            time,
            history: History::DataPresent(present),
            start_state: false,
        }
    }

    #[test]
    fn events_cut_gaps_out_of_the_video_track_and_other_tracks_do_not_count() {
        let rec = recording(vec![
            track("video", "Video", NOW - 40 * DAY, NOW),
            // Audio has a gap of its own; footage is the video.
            track("audio", "Audio", NOW - 40 * DAY, NOW),
        ]);
        let gap = NOW - 10 * DAY;
        let events = vec![
            RecordingEvent {
                start_state: true,
                ..data("video", NOW - 31 * DAY, true)
            },
            data("video", gap, false),
            data("video", gap + 3600, true),
            data("audio", NOW - DAY, false),
            data("audio", NOW - DAY + 600, true),
        ];
        let (footage, doubt) = recording_footage(&rec, &events, NOW);
        assert_eq!(footage.to_vec(), vec![(NOW - 40 * DAY, gap), (gap + 3600, NOW)]);
        assert_eq!(doubt, None);
    }

    #[test]
    fn a_stop_without_restart_ends_the_footage_and_recording_state_counts_for_every_track() {
        let rec = recording(vec![track("video", "Video", NOW - 5 * DAY, NOW)]);
        // The recording stopped two days ago and never restarted; the track stopped an hour
        // earlier and restarted for 10 minutes the day before.
        let events = vec![
            RecordingEvent {
                recording: "rec-1".into(),
                track: None,
                time: NOW - 2 * DAY,
                history: History::Recording(false),
                start_state: false,
            },
            data("video", NOW - 3 * DAY, false),
            data("video", NOW - 3 * DAY + 60, true),
        ];
        let (footage, _) = recording_footage(&rec, &events, NOW);
        assert_eq!(
            footage.to_vec(),
            vec![(NOW - 5 * DAY, NOW - 3 * DAY), (NOW - 3 * DAY + 60, NOW - 2 * DAY)]
        );
        // A start state "no data" at the window's start, then data from a later point.
        let events = vec![
            RecordingEvent {
                start_state: true,
                ..data("video", NOW - 4 * DAY, false)
            },
            data("video", NOW - DAY, true),
        ];
        let (footage, _) = recording_footage(&rec, &events, NOW);
        assert_eq!(footage.to_vec(), vec![(NOW - 5 * DAY, NOW - 4 * DAY), (NOW - DAY, NOW)]);
    }

    #[test]
    fn dates_from_an_unset_or_fast_clock_are_not_believed() {
        // All of it in 1970: nothing counts, and the reason is given.
        let rec = recording(vec![track("video", "Video", 195, 2 * DAY)]);
        let (footage, doubt) = recording_footage(&rec, &[], NOW);
        assert!(footage.is_empty());
        assert_eq!(
            doubt.as_deref(),
            Some(
                "recording rec-1 dates its newest footage 1970-01-03 00:00:00 UTC (before 2000: the recorder's clock was not set)"
            )
        );
        // Started in 1970, set since: footage counts from the first believable "data present".
        let rec = recording(vec![track("video", "Video", 195, NOW)]);
        let events = vec![RecordingEvent {
            start_state: true,
            ..data("video", NOW - 31 * DAY, true)
        }];
        let (footage, doubt) = recording_footage(&rec, &events, NOW);
        assert_eq!(footage.to_vec(), vec![(NOW - 31 * DAY, NOW)]);
        assert!(doubt.unwrap().contains("oldest footage 1970-01-01 00:03:15 UTC"));
        let (footage, _) = recording_footage(&rec, &[], NOW);
        assert!(footage.is_empty(), "no event to say where believable footage starts");
        // A newest date two hours ahead: the end cannot be believed.
        let rec = recording(vec![track("video", "Video", NOW - DAY, NOW + 7200)]);
        let (footage, doubt) = recording_footage(&rec, &[], NOW);
        assert!(footage.is_empty());
        assert!(doubt.unwrap().contains("in the future"));
        // Within the tolerance it is believed.
        let rec = recording(vec![track("video", "Video", NOW - DAY, NOW + 600)]);
        assert_eq!(
            recording_footage(&rec, &[], NOW).0.to_vec(),
            vec![(NOW - DAY, NOW + 600)]
        );
    }

    #[test]
    fn durations_as_devices_write_them() {
        assert_eq!(xs_duration("PT1H"), Some(3600));
        assert_eq!(xs_duration("P30D"), Some(30 * DAY));
        assert_eq!(xs_duration("P1DT12H30M15S"), Some(DAY + 12 * 3600 + 1815));
        assert_eq!(xs_duration("PT0S"), Some(0));
        assert_eq!(xs_duration("PT1.5S"), Some(1));
        assert_eq!(xs_duration("P1H"), None, "hours belong after the T");
        assert_eq!(xs_duration("1 hour"), None);
        assert_eq!(xs_duration("PT-5S"), None);
    }

    #[test]
    fn dates_as_devices_write_them() {
        assert_eq!(date_time("2025-03-15T16:28:00Z"), Some(1_742_056_080));
        assert_eq!(date_time("2025-03-15T17:28:00.750+01:00"), Some(1_742_056_080));
        assert_eq!(date_time("2025-03-15T16:28:00"), Some(1_742_056_080));
        assert_eq!(date_time("1970-01-01T00:03:15Z"), Some(195));
        assert_eq!(date_time("yesterday"), None);
        assert_eq!(xs_date_time(1_742_056_080), "2025-03-15T16:28:00Z");
    }

    #[test]
    fn events_parse_with_any_prefix_and_garbage_is_an_error() {
        let result = Element::parse(
            br#"<tt:Result xmlns:tt="t"><tt:RecordingToken>rec-1</tt:RecordingToken><tt:TrackToken>video</tt:TrackToken><tt:Time>2026-11-29T05:00:00Z</tt:Time><tt:Event><wsnt:NotificationMessage xmlns:wsnt="w"><wsnt:Topic Dialect="x">tns1:RecordingHistory/Track/State</wsnt:Topic><wsnt:Message><tt:Message UtcTime="2026-11-29T05:00:00Z"><tt:Source><tt:SimpleItem Name="RecordingToken" Value="rec-1"/><tt:SimpleItem Name="Track" Value="video"/></tt:Source><tt:Data><tt:SimpleItem Name="IsDataPresent" Value="false"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage></tt:Event><tt:StartStateEvent>false</tt:StartStateEvent></tt:Result>"#,
        )
        .unwrap();
        let event = recording_event(&result).unwrap();
        assert_eq!(event, data("video", NOW - 3600, false));
        let bad = Element::parse(
            br#"<Result><Time>2026-11-29T05:00:00Z</Time><Event><NotificationMessage><Topic>RecordingHistory/Track/State</Topic><Message><Message><Data><SimpleItem Name="IsDataPresent" Value="maybe"/></Data></Message></Message></NotificationMessage></Event></Result>"#,
        )
        .unwrap();
        assert_eq!(
            recording_event(&bad).unwrap_err(),
            "IsDataPresent \"maybe\" is not a boolean"
        );
        let state = Element::parse(b"<R><ResultList><SearchState>Done</SearchState></ResultList></R>").unwrap();
        assert!(event_search_results(&state).unwrap_err().contains("Done"));
    }
}
