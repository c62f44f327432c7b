//! Footage folders on the recording server camwatch runs on (Frigate, ZoneMinder, Shinobi, NVR
//! exports): which camera has footage for which seconds, read from the paths (or modification
//! times) of the segment files.
//!
//! Memory does not grow with the number of files: the tree is walked with `read_dir` one folder
//! at a time, and what is kept is one folder's names at most plus, per leaf folder, its footage
//! as merged intervals (usually one per camera and hour). Rescans are incremental: a leaf folder
//! whose modification time has not changed, and that holds no recent footage, is not read again
//! (adding or deleting a file changes its folder's modification time; a deleted folder changes
//! its parent's and simply is not found again). File sizes are only read for the last day's
//! segments (the write rate needs them), so a scan costs about what `find` costs.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use super::onvif::search::{shown, unbelievable};
use super::{ProbeContext, ProbeError, ProbeErrorKind};
use crate::config::{FootageLayout, FootageSpec, Template, TemplatePart};
use crate::coverage::IntervalSet;
use crate::observation::footage::{CameraFootage, FolderScan, FootageObservation};

/// Without a configured segment length, a segment lasts until the next one starts when that is
/// at most this far; a longer distance is a hole after a segment as long as its neighbours (not
/// a long file).
pub const MAX_INFERRED_SEGMENT: i64 = 600;
/// Footage older than the window by more than this is forgotten between scans.
const KEEP_MARGIN: i64 = crate::coverage::MEASURED_BEYOND_REQUIRED;
/// Leaf folders holding footage this recent are read again on every scan (files may still grow).
const RECENT: i64 = 2 * 3600;
const MAX_NOTES: usize = 10;

/// Per device, what the last scan learnt, so the next one reads only what changed.
#[derive(Debug, Default)]
pub struct FootageScanner {
    caches: Mutex<HashMap<String, Arc<Mutex<Cache>>>>,
}

#[derive(Debug, Default)]
struct Cache {
    spec: Option<FootageSpec>,
    last_scan: i64,
    folders: HashMap<PathBuf, Folder>,
    /// The last inferred segment length per camera: the length given to a folder's last segment.
    typical: HashMap<String, i64>,
}

#[derive(Debug, Clone)]
struct Folder {
    mtime: SystemTime,
    newest: i64,
    unmatched: u64,
    /// `mtime` layout: files whose extension is not footage's (a snapshot beside the videos).
    not_video: u64,
    cameras: HashMap<String, Contribution>,
}

#[derive(Debug, Clone, Default)]
struct Contribution {
    intervals: IntervalSet,
    oldest: i64,
    files: u64,
    /// (segment start rounded down to the hour, bytes), recent segments only.
    hourly_bytes: BTreeMap<i64, u64>,
    /// Segments whose date is not believed (see [`unbelievable`]), left out of the above.
    doubted: Doubted,
}

/// Segments left out for their date, per reason: how many, and the earliest and latest date.
#[derive(Debug, Clone, Default)]
struct Doubted(BTreeMap<&'static str, (u64, i64, i64)>);

impl Doubted {
    /// Whether `date` (a segment's start from its path, or its end from its modification time)
    /// is not believed; if so it is counted.
    fn doubts(&mut self, date: i64, now: i64) -> bool {
        let Some(why) = unbelievable(date, now) else {
            return false;
        };
        self.add(why, (1, date, date));
        true
    }

    fn add(&mut self, why: &'static str, (n, first, last): (u64, i64, i64)) {
        let (m, f, l) = self.0.entry(why).or_insert((0, first, last));
        (*m, *f, *l) = (*m + n, (*f).min(first), (*l).max(last));
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn extend(&mut self, other: &Doubted) {
        for (why, &counted) in &other.0 {
            self.add(why, counted);
        }
    }

    /// "2 segments dated 1970-01-01 00:00:00 UTC to 1970-01-01 00:10:00 UTC (before 2000: ...)".
    fn describe(&self) -> Option<String> {
        let parts: Vec<String> = (self.0.iter())
            .map(|(why, &(n, first, last))| {
                let dates = if first == last {
                    shown(first)
                } else {
                    format!("{} to {}", shown(first), shown(last))
                };
                format!("{n} segment{} dated {dates} ({why})", if n == 1 { "" } else { "s" })
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

impl FootageScanner {
    pub async fn probe(
        &self,
        spec: &FootageSpec,
        ctx: &mut ProbeContext<'_>,
    ) -> Result<FootageObservation, ProbeError> {
        let (device, window_seconds) = (ctx.device.name.as_str(), ctx.device.footage_window_seconds());
        let transcript = &mut *ctx.transcript;
        let cache = Arc::clone(
            self.caches
                .lock()
                .expect("footage cache lock")
                .entry(device.to_owned())
                .or_default(),
        );
        let spec = spec.clone();
        let observation = tokio::task::spawn_blocking(move || {
            // A scan still running from the previous poll (a slow disk) holds the lock: say so
            // rather than queue a second walk behind it.
            let mut cache = cache.try_lock().map_err(|_| {
                ProbeError::new(
                    ProbeErrorKind::Device,
                    "the previous footage scan is still running (the footage disk is slow or huge)",
                )
            })?;
            scan(&spec, &mut cache, unix_now(), window_seconds)
        })
        .await
        .map_err(|e| ProbeError::new(ProbeErrorKind::Agent, format!("footage scan failed: {e}")))??;
        transcript.note(|| {
            let folders = observation.folders.clone().unwrap_or_default();
            format!(
                "{}: {} cameras, {} folders read, {} reused, {} files not in the layout",
                observation.source,
                observation.cameras.len(),
                folders.read,
                folders.reused,
                folders.unmatched
            )
        });
        for note in &observation.notes {
            transcript.note(|| note.clone());
        }
        Ok(observation)
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Fields captured from a path.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fields {
    year: Option<i32>,
    month: Option<u32>,
    day: Option<u32>,
    hour: Option<u32>,
    minute: Option<u32>,
    second: Option<u32>,
    camera: Option<String>,
}

impl Fields {
    pub(crate) fn timestamp(&self) -> Option<i64> {
        let date = chrono::NaiveDate::from_ymd_opt(self.year?, self.month?, self.day?)?;
        let time = chrono::NaiveTime::from_hms_opt(self.hour?, self.minute.unwrap_or(0), self.second.unwrap_or(0))?;
        Some(date.and_time(time).and_utc().timestamp())
    }
}

fn digits(s: &str, n: usize) -> Option<(u32, &str)> {
    let head = s.get(..n)?;
    if !head.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((head.parse().ok()?, &s[n..]))
}

/// Matches one path component against its template parts, filling `f`.
pub(crate) fn match_parts(parts: &[TemplatePart], mut s: &str, f: &mut Fields) -> bool {
    for (i, part) in parts.iter().enumerate() {
        let rest = match part {
            TemplatePart::Literal(l) => s.strip_prefix(l.as_str()),
            TemplatePart::Date => (|| {
                let (y, r) = digits(s, 4)?;
                let (m, r) = digits(r.strip_prefix('-')?, 2)?;
                let (d, r) = digits(r.strip_prefix('-')?, 2)?;
                (f.year, f.month, f.day) = (Some(y as i32), Some(m), Some(d));
                Some(r)
            })(),
            TemplatePart::Year => digits(s, 4).map(|(v, r)| {
                f.year = Some(v as i32);
                r
            }),
            TemplatePart::Month
            | TemplatePart::Day
            | TemplatePart::Hour
            | TemplatePart::Minute
            | TemplatePart::Second => digits(s, 2).map(|(v, r)| {
                let slot = match part {
                    TemplatePart::Month => &mut f.month,
                    TemplatePart::Day => &mut f.day,
                    TemplatePart::Hour => &mut f.hour,
                    TemplatePart::Minute => &mut f.minute,
                    _ => &mut f.second,
                };
                *slot = Some(v);
                r
            }),
            TemplatePart::Camera | TemplatePart::Any => {
                // Free text runs up to the next literal (the template refuses anything else next).
                let end = match parts.get(i + 1) {
                    Some(TemplatePart::Literal(l)) => s.find(l.as_str()),
                    _ => Some(s.len()),
                };
                end.filter(|&e| e > 0).map(|e| {
                    if matches!(part, TemplatePart::Camera) {
                        f.camera = Some(s[..e].to_owned());
                    }
                    &s[e..]
                })
            }
        };
        match rest {
            Some(r) => s = r,
            None => return false,
        }
    }
    s.is_empty()
}

struct Walk<'a> {
    spec: &'a FootageSpec,
    cache: &'a mut Cache,
    now: i64,
    keep_from: i64,
    seen: HashSet<PathBuf>,
    unmatched_folders: u64,
    read: u64,
    reused: u64,
    notes: Vec<String>,
}

impl Walk<'_> {
    fn note(&mut self, text: String) {
        if self.notes.len() < MAX_NOTES {
            self.notes.push(text);
        }
    }

    /// `mtime` layout: whether a file's extension is one of footage's (any case).
    fn is_video(&self, name: &std::ffi::OsStr) -> bool {
        Path::new(name)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| self.spec.extensions.iter().any(|x| x.eq_ignore_ascii_case(e)))
    }

    /// Whether a leaf folder can keep its earlier reading.
    fn reusable(&self, path: &Path, mtime: SystemTime) -> bool {
        self.cache
            .folders
            .get(path)
            .is_some_and(|f| f.mtime == mtime && f.newest < self.cache.last_scan - RECENT)
    }

    fn template(&mut self, template: &Template, dir: &Path, depth: usize, fields: &Fields) {
        if depth == template.dirs.len() {
            return self.template_leaf(template, dir, fields);
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => return self.note(format!("cannot read folder {}: {e}", dir.display())),
        };
        // Folders in name order, which for dates and hours is time order: a camera's segment
        // length is learnt from its older folders before a newest folder holding a single segment
        // needs it (read_dir order would make that length depend on the file system). Only one
        // folder's entries are held at a time.
        let mut entries: Vec<std::fs::DirEntry> = entries.flatten().collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for entry in entries {
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let name = entry.file_name();
            let mut f = fields.clone();
            if is_dir
                && name
                    .to_str()
                    .is_some_and(|n| match_parts(&template.dirs[depth], n, &mut f))
            {
                self.template(template, &entry.path(), depth + 1, &f);
            } else {
                self.unmatched_folders += 1;
                if self.unmatched_folders == 1 {
                    self.note(format!("{} does not fit the layout", entry.path().display()));
                }
            }
        }
    }

    fn template_leaf(&mut self, template: &Template, dir: &Path, fields: &Fields) {
        let mtime = match std::fs::metadata(dir).and_then(|m| m.modified()) {
            Ok(t) => t,
            Err(e) => return self.note(format!("cannot read folder {}: {e}", dir.display())),
        };
        self.seen.insert(dir.to_path_buf());
        if self.reusable(dir, mtime) {
            self.reused += 1;
            return;
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => return self.note(format!("cannot read folder {}: {e}", dir.display())),
        };
        self.read += 1;
        // One folder's segments (start, path for sizes): the only list ever held.
        let mut segments: HashMap<String, Vec<(i64, Option<PathBuf>)>> = HashMap::new();
        // Every camera with a matching file gets an entry, believed or not.
        let mut doubted: HashMap<String, Doubted> = HashMap::new();
        let mut unmatched = 0;
        let size_from = self.now - 86_400 - MAX_INFERRED_SEGMENT;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let mut f = fields.clone();
            let start = name
                .to_str()
                .filter(|n| match_parts(&template.file, n, &mut f))
                .and_then(|_| f.timestamp());
            match (start, f.camera) {
                (Some(start), Some(camera)) if entry.file_type().is_ok_and(|t| t.is_file()) => {
                    if doubted.entry(camera.clone()).or_default().doubts(start, self.now) {
                        continue;
                    }
                    let path = (start >= size_from).then(|| entry.path());
                    segments.entry(camera).or_default().push((start, path));
                }
                _ => {
                    unmatched += 1;
                    if unmatched == 1 {
                        self.note(format!("{} does not fit the layout", entry.path().display()));
                    }
                }
            }
        }
        let mut folder = Folder {
            mtime,
            newest: i64::MIN,
            unmatched,
            not_video: 0,
            cameras: HashMap::new(),
        };
        for (camera, doubted) in doubted {
            let mut list = segments.remove(&camera).unwrap_or_default();
            list.sort_unstable_by_key(|(s, _)| *s);
            let mut c = Contribution {
                oldest: list.first().map_or(i64::MAX, |(s, _)| *s),
                doubted,
                ..Contribution::default()
            };
            // Until a distance to the next segment says otherwise, a segment is as long as the
            // camera's last one (from its older folders), or as the first distance in this
            // folder, or 10 s.
            let mut typical = self.cache.typical.get(&camera).copied().unwrap_or_else(|| {
                list.windows(2)
                    .map(|w| w[1].0 - w[0].0)
                    .find(|d| (1..=MAX_INFERRED_SEGMENT).contains(d))
                    .unwrap_or(10)
            });
            for i in 0..list.len() {
                let (start, path) = &list[i];
                let length = match (self.spec.segment_seconds, list.get(i + 1)) {
                    (Some(s), _) => i64::from(s),
                    (None, Some((next, _))) => match next - start {
                        d if d > MAX_INFERRED_SEGMENT => typical,
                        d => {
                            if d > 0 {
                                typical = d;
                            }
                            d
                        }
                    },
                    (None, None) => typical,
                };
                c.intervals.insert(*start, start + length);
                c.files += 1;
                if let Some(path) = path {
                    let size = std::fs::metadata(path).map_or(0, |m| m.len());
                    *c.hourly_bytes.entry(start.div_euclid(3600) * 3600).or_default() += size;
                }
            }
            if !list.is_empty() {
                self.cache.typical.insert(camera.clone(), typical);
            }
            folder.newest = folder
                .newest
                .max(c.intervals.iter().next_back().map_or(i64::MIN, |(_, e)| e));
            folder.cameras.insert(camera, c);
        }
        self.store(dir, folder);
    }

    /// `mtime` layout: the camera is the first folder under the root; every folder below it is
    /// read for its files, and walked for its subfolders.
    fn mtime(&mut self, dir: &Path, camera: Option<&str>, segment: i64) {
        let meta = match std::fs::metadata(dir) {
            Ok(m) => m,
            Err(e) => return self.note(format!("cannot read folder {}: {e}", dir.display())),
        };
        let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
        let reuse = camera.is_some() && self.reusable(dir, mtime);
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => return self.note(format!("cannot read folder {}: {e}", dir.display())),
        };
        if camera.is_some() {
            self.seen.insert(dir.to_path_buf());
            if reuse {
                self.reused += 1;
            } else {
                self.read += 1;
            }
        }
        let mut c = Contribution {
            oldest: i64::MAX,
            ..Contribution::default()
        };
        let (mut unmatched, mut not_video) = (0, 0);
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                let name = entry.file_name().to_string_lossy().into_owned();
                self.mtime(&entry.path(), Some(camera.unwrap_or(&name)), segment);
                continue;
            }
            if reuse {
                continue;
            }
            let Some(_) = camera else {
                unmatched += 1;
                if unmatched == 1 {
                    self.note(format!("{} is not in a camera folder", entry.path().display()));
                }
                continue;
            };
            if !self.is_video(&entry.file_name()) {
                not_video += 1;
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            let end = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            if c.doubted.doubts(end, self.now) {
                continue;
            }
            let start = end - segment;
            c.intervals.insert(start, end);
            c.oldest = c.oldest.min(start);
            c.files += 1;
            if start >= self.now - 86_400 {
                *c.hourly_bytes.entry(start.div_euclid(3600) * 3600).or_default() += meta.len();
            }
        }
        if let (Some(camera), false) = (camera, reuse) {
            let newest = c.intervals.iter().next_back().map_or(i64::MIN, |(_, e)| e);
            let mut cameras = HashMap::new();
            if c.files > 0 || !c.doubted.is_empty() {
                cameras.insert(camera.to_owned(), c);
            }
            self.store(
                dir,
                Folder {
                    mtime,
                    newest,
                    unmatched,
                    not_video,
                    cameras,
                },
            );
        } else {
            self.unmatched_folders += unmatched;
        }
    }

    fn store(&mut self, dir: &Path, mut folder: Folder) {
        for c in folder.cameras.values_mut() {
            c.intervals.drop_before(self.keep_from);
            c.hourly_bytes = c.hourly_bytes.split_off(&(self.now - 2 * 86_400));
        }
        self.cache.folders.insert(dir.to_path_buf(), folder);
    }
}

fn statvfs(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frsize = st.f_frsize as u64;
    Some((st.f_blocks as u64 * frsize, st.f_bavail as u64 * frsize))
}

/// One scan of the footage tree, reusing and updating `cache`.
fn scan(
    spec: &FootageSpec,
    cache: &mut Cache,
    now: i64,
    window_seconds: i64,
) -> Result<FootageObservation, ProbeError> {
    match std::fs::metadata(&spec.root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(ProbeError::new(
                ProbeErrorKind::Device,
                format!("footage root {} is not a folder", spec.root.display()),
            ));
        }
        Err(e) => {
            return Err(ProbeError::new(
                ProbeErrorKind::Device,
                format!("footage root {} cannot be read: {e}", spec.root.display()),
            ));
        }
    }
    if cache.spec.as_ref() != Some(spec) {
        *cache = Cache {
            spec: Some(spec.clone()),
            ..Cache::default()
        };
    }
    let mut walk = Walk {
        spec,
        cache,
        now,
        keep_from: now - window_seconds - KEEP_MARGIN,
        seen: HashSet::new(),
        unmatched_folders: 0,
        read: 0,
        reused: 0,
        notes: Vec::new(),
    };
    match &spec.layout {
        FootageLayout::Template(t) => walk.template(t, &spec.root, 0, &Fields::default()),
        FootageLayout::Mtime(_) => walk.mtime(&spec.root, None, i64::from(spec.segment_seconds.unwrap_or(60))),
    }
    let Walk {
        seen,
        unmatched_folders,
        read,
        reused,
        notes,
        ..
    } = walk;
    // Folders not seen again were deleted: their footage is gone.
    cache.folders.retain(|path, _| seen.contains(path));
    cache.last_scan = now;

    let mut cameras: BTreeMap<&str, CameraFootage> = BTreeMap::new();
    let mut sets: HashMap<&str, IntervalSet> = HashMap::new();
    let mut doubted: BTreeMap<&str, Doubted> = BTreeMap::new();
    let (mut unmatched, mut not_video) = (unmatched_folders, 0);
    for folder in cache.folders.values() {
        unmatched += folder.unmatched;
        not_video += folder.not_video;
        for (name, c) in &folder.cameras {
            let entry = cameras.entry(name).or_insert_with(|| CameraFootage::empty(name));
            if c.files > 0 {
                entry.oldest = Some(entry.oldest.map_or(c.oldest, |o| o.min(c.oldest)));
            }
            entry.files += c.files;
            entry.bytes_last_day += c.hourly_bytes.range(now - 86_400..).map(|(_, b)| b).sum::<u64>();
            sets.entry(name).or_default().extend(&c.intervals);
            if !c.doubted.is_empty() {
                doubted.entry(name).or_default().extend(&c.doubted);
            }
        }
    }
    for (name, set) in sets {
        if let Some(c) = cameras.get_mut(name) {
            c.intervals = set.to_vec();
        }
    }
    let mut notes = notes;
    if not_video > 0 {
        notes.push(format!(
            "{not_video} files in camera folders are not video (extensions {}): not counted as footage",
            spec.extensions.join(", ")
        ));
    }
    // Kept with the folders that hold them, so a reused folder's doubts are said again.
    for (name, doubted) in doubted {
        if let (Some(c), Some(why)) = (cameras.get_mut(name), doubted.describe()) {
            notes.push(format!("{name}: {why}, not believed"));
            c.untrusted = Some(why);
        }
    }
    let missing = spec
        .cameras
        .iter()
        .filter(|c| !cameras.contains_key(c.as_str()))
        .cloned()
        .collect();
    let (size_bytes, free_bytes) = statvfs(&spec.root).unwrap_or((0, 0));
    Ok(FootageObservation {
        scanned_at: now,
        source: spec.root.display().to_string(),
        size_bytes,
        free_bytes,
        cameras: cameras.into_values().collect(),
        missing,
        folders: Some(FolderScan {
            unmatched,
            not_video,
            read,
            reused,
        }),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(template: &str, path: &str) -> Option<Fields> {
        let t = Template::parse(template).unwrap();
        let mut f = Fields::default();
        let parts: Vec<&str> = path.split('/').collect();
        for (p, tp) in parts.iter().zip(t.dirs.iter().chain(std::iter::once(&t.file))) {
            if !match_parts(tp, p, &mut f) {
                return None;
            }
        }
        Some(f)
    }

    /// 2026-11-20 03:07:50 UTC (`date -u -d '2026-11-20 03:07:50' +%s`).
    const STAMP: i64 = 1_795_144_070;
    /// 2026-11-20 03:00:00 UTC.
    const HOUR: i64 = STAMP - 7 * 60 - 50;
    const FRIGATE: &str = "/{date}/{hour}/{camera}/{minute}.{second}.mp4";

    fn spec(root: &Path, layout: &str, segment_seconds: Option<u32>) -> FootageSpec {
        FootageSpec {
            root: root.to_path_buf(),
            layout: match layout {
                "mtime" => FootageLayout::Mtime(crate::config::CameraFrom::Dir),
                t => FootageLayout::Template(Template::parse(t).unwrap()),
            },
            segment_seconds,
            extensions: match layout {
                "mtime" => crate::config::VIDEO_EXTENSIONS
                    .iter()
                    .map(|e| (*e).to_owned())
                    .collect(),
                _ => Vec::new(),
            },
            cameras: Vec::new(),
        }
    }

    /// An empty Frigate segment of `camera` starting at `t`.
    fn frigate(root: &Path, camera: &str, t: i64) {
        let t = chrono::DateTime::from_timestamp(t, 0).unwrap();
        let dir = root.join(t.format("%Y-%m-%d/%H").to_string()).join(camera);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::File::create(dir.join(t.format("%M.%S.mp4").to_string())).unwrap();
    }

    /// An empty file at `root/path` modified at `t`.
    fn touched(root: &Path, path: &str, t: i64) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let f = std::fs::File::create(path).unwrap();
        f.set_modified(UNIX_EPOCH + std::time::Duration::from_secs(t as u64))
            .unwrap();
    }

    fn scanned(spec: &FootageSpec, now: i64) -> FootageObservation {
        scan(spec, &mut Cache::default(), now, 30 * 86_400).unwrap()
    }

    fn camera<'a>(seen: &'a FootageObservation, name: &str) -> &'a CameraFootage {
        seen.cameras.iter().find(|c| c.camera == name).unwrap()
    }

    #[test]
    fn a_segment_followed_by_a_long_hole_is_as_long_as_its_neighbours() {
        let dir = tempfile::tempdir().unwrap();
        // Frigate's 10 s segments for 20 minutes, nothing for 14 minutes, then 6 minutes more.
        for t in (HOUR..HOUR + 1200).chain(HOUR + 2040..HOUR + 2400).step_by(10) {
            frigate(dir.path(), "front", t);
        }
        // A camera whose first segment in the folder comes before a hole: the next distance.
        for t in [HOUR, HOUR + 900, HOUR + 905, HOUR + 910] {
            frigate(dir.path(), "gate", t);
        }
        let seen = scanned(&spec(dir.path(), FRIGATE, None), HOUR + 3600);
        assert_eq!(
            camera(&seen, "front").intervals,
            vec![(HOUR, HOUR + 1200), (HOUR + 2040, HOUR + 2400)]
        );
        assert_eq!(
            camera(&seen, "gate").intervals,
            vec![(HOUR, HOUR + 5), (HOUR + 900, HOUR + 915)]
        );
        // A configured length is the length, whatever the distance.
        let seen = scanned(&spec(dir.path(), FRIGATE, Some(4)), HOUR + 3600);
        assert_eq!(
            camera(&seen, "gate").intervals,
            vec![
                (HOUR, HOUR + 4),
                (HOUR + 900, HOUR + 904),
                (HOUR + 905, HOUR + 909),
                (HOUR + 910, HOUR + 914)
            ]
        );
    }

    #[test]
    fn under_the_mtime_layout_only_video_files_are_footage() {
        let dir = tempfile::tempdir().unwrap();
        let now = HOUR + 3 * 3600;
        // ZoneMinder events: a video per event, and a snapshot written when the event is viewed.
        for (i, t) in (HOUR - 3600..HOUR + 3600).step_by(600).enumerate() {
            let name = if i == 0 { "EVENT.MP4" } else { "event-video.mp4" };
            touched(dir.path(), &format!("door/2026-11-20/{i}/{name}"), t + 600);
            touched(dir.path(), &format!("door/2026-11-20/{i}/snapshot.jpg"), now - 10);
        }
        let mut spec = spec(dir.path(), "mtime", Some(600));
        let seen = scanned(&spec, now);
        let door = camera(&seen, "door");
        assert_eq!(door.intervals, vec![(HOUR - 3600, HOUR + 3600)]);
        assert_eq!(door.files, 12);
        let folders = seen.folders.as_ref().unwrap();
        assert_eq!((folders.unmatched, folders.not_video), (0, 12));
        assert!(
            seen.notes
                .iter()
                .any(|n| n.starts_with("12 files in camera folders are not video (extensions mp4, ")),
            "{:?}",
            seen.notes
        );
        // Configured extensions replace the usual ones.
        spec.extensions = vec!["jpg".into()];
        let door = scanned(&spec, now).cameras.remove(0);
        assert_eq!((door.intervals, door.files), (vec![(now - 610, now - 10)], 12));
    }

    #[test]
    fn segments_dated_before_2000_or_over_an_hour_ahead_are_left_out_and_said() {
        let dir = tempfile::tempdir().unwrap();
        let now = HOUR + 3 * 3600;
        // front stopped 2 h ago, plus one segment dated a year ahead and one on 1970-01-01.
        for t in (HOUR - 3600..HOUR + 3600).step_by(60) {
            frigate(dir.path(), "front", t);
        }
        frigate(dir.path(), "front", now + 365 * 86_400);
        frigate(dir.path(), "front", 0);
        // Less than an hour ahead is believed (a clock a little fast).
        frigate(dir.path(), "yard", now + 1800);
        // A camera with nothing believable.
        frigate(dir.path(), "stairs", 600);
        let seen = scanned(&spec(dir.path(), FRIGATE, None), now);
        let front = camera(&seen, "front");
        assert_eq!(front.intervals, vec![(HOUR - 3600, HOUR + 3600)]);
        assert_eq!((front.oldest, front.files), (Some(HOUR - 3600), 120));
        let why = "1 segment dated 1970-01-01 00:00:00 UTC (before 2000: the recorder's clock was not set); 1 segment dated 2027-11-20 06:00:00 UTC (in the future: the recorder's clock is ahead)";
        assert_eq!(front.untrusted.as_deref(), Some(why));
        assert!(
            seen.notes.contains(&format!("front: {why}, not believed")),
            "{:?}",
            seen.notes
        );
        assert_eq!(camera(&seen, "yard").intervals, vec![(now + 1800, now + 1810)]);
        let stairs = camera(&seen, "stairs");
        assert_eq!((stairs.intervals.len(), stairs.oldest, stairs.files), (0, None, 0));
        assert!(
            stairs
                .untrusted
                .as_deref()
                .unwrap()
                .starts_with("1 segment dated 1970-01-01 00:10:00 UTC")
        );

        // The mtime layout doubts the modification time the same way.
        let dir = tempfile::tempdir().unwrap();
        for t in (HOUR - 3600..HOUR + 3600).step_by(60) {
            touched(dir.path(), &format!("lobby/{t}.mp4"), t + 60);
        }
        touched(dir.path(), "lobby/ahead.mp4", now + 365 * 86_400);
        touched(dir.path(), "lobby/1970/unset.mp4", 60);
        let seen = scanned(&spec(dir.path(), "mtime", Some(60)), now);
        let lobby = camera(&seen, "lobby");
        assert_eq!(lobby.intervals, vec![(HOUR - 3600, HOUR + 3600)]);
        assert_eq!((lobby.oldest, lobby.files), (Some(HOUR - 3600), 120));
        assert_eq!(
            lobby.untrusted.as_deref(),
            Some(
                "1 segment dated 1970-01-01 00:01:00 UTC (before 2000: the recorder's clock was not set); 1 segment dated 2027-11-20 06:00:00 UTC (in the future: the recorder's clock is ahead)"
            )
        );
    }

    #[test]
    fn paths_give_camera_and_start() {
        let f = fields(
            "/{date}/{hour}/{camera}/{minute}.{second}.mp4",
            "2026-11-20/03/front/07.50.mp4",
        )
        .unwrap();
        assert_eq!(f.camera.as_deref(), Some("front"));
        assert_eq!(f.timestamp(), Some(STAMP));
        let f = fields(
            "/{camera}/{year}/{month}/{day}/{hour}{minute}{second}-{any}.mkv",
            "gate/2026/11/20/030750-x.mkv",
        )
        .unwrap();
        assert_eq!((f.camera.as_deref(), f.timestamp()), (Some("gate"), Some(STAMP)));
        for bad in [
            "2026-11-20/03/front/07.50.mp4.tmp",
            "2026-11-20/3/front/07.50.mp4",
            "2026-13-20/03/front/07.50.mp4",
        ] {
            assert!(
                fields("/{date}/{hour}/{camera}/{minute}.{second}.mp4", bad)
                    .and_then(|f| f.timestamp())
                    .is_none(),
                "{bad}"
            );
        }
    }
}
