//! `[device.footage]`: where a recording server keeps its footage, and how a file's path (or its
//! modification time) tells which camera recorded it and when.

use std::path::PathBuf;

use toml::Spanned;

use super::Resolver;
use super::raw::RawFootage;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FootageSpec {
    pub root: PathBuf,
    pub layout: FootageLayout,
    /// Configured segment length; None: the distance to the next segment, capped.
    pub segment_seconds: Option<u32>,
    /// With the `mtime` layout, the file name extensions of footage (lower case, no dot); other
    /// files are not footage. Empty with a template (its file name says what footage is).
    pub extensions: Vec<String>,
    /// Cameras that must have footage (empty: whatever is found).
    pub cameras: Vec<String>,
}

/// Video files, as recorders and exports name them: what the `mtime` layout counts as footage
/// without `extensions` (ZoneMinder keeps `snapshot.jpg` and `alarm.jpg` beside event videos).
pub const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "mkv", "avi", "mov", "m4v", "ts", "webm", "flv", "mpg", "mpeg", "asf", "h264", "h265", "264", "265", "dav",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FootageLayout {
    /// Times and camera from the path.
    Template(Template),
    /// Camera from the path, the segment's end from the file's modification time.
    Mtime(CameraFrom),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraFrom {
    /// The first directory level under the root.
    Dir,
}

/// A path template split at `/`: directory components, then the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub dirs: Vec<Vec<TemplatePart>>,
    pub file: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Literal(String),
    /// `YYYY-MM-DD`
    Date,
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
    Camera,
    /// Anything (up to the next literal text).
    Any,
}

const PLACEHOLDERS: &str = "{date}, {year}, {month}, {day}, {hour}, {minute}, {second}, {camera}, {any}";

/// Parses one path component such as `{minute}.{second}.mp4`.
fn component(text: &str) -> Result<Vec<TemplatePart>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        match rest.find('{') {
            Some(0) => {
                let close = rest.find('}').ok_or_else(|| format!("unclosed {{ in {text:?}"))?;
                let part = match &rest[1..close] {
                    "date" => TemplatePart::Date,
                    "year" => TemplatePart::Year,
                    "month" => TemplatePart::Month,
                    "day" => TemplatePart::Day,
                    "hour" => TemplatePart::Hour,
                    "minute" => TemplatePart::Minute,
                    "second" => TemplatePart::Second,
                    "camera" => TemplatePart::Camera,
                    "any" => TemplatePart::Any,
                    other => return Err(format!("unknown placeholder {{{other}}}")),
                };
                // Free text ends where the next literal text starts; after it, nothing else can.
                if matches!(parts.last(), Some(TemplatePart::Camera | TemplatePart::Any)) {
                    return Err(format!(
                        "in {text:?}, {{camera}} and {{any}} must be followed by literal text"
                    ));
                }
                parts.push(part);
                rest = &rest[close + 1..];
            }
            Some(i) => {
                parts.push(TemplatePart::Literal(rest[..i].to_owned()));
                rest = &rest[i..];
            }
            None => {
                parts.push(TemplatePart::Literal(rest.to_owned()));
                rest = "";
            }
        }
    }
    Ok(parts)
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut components = text
            .trim_start_matches('/')
            .split('/')
            .map(component)
            .collect::<Result<Vec<_>, _>>()?;
        if components.iter().any(Vec::is_empty) {
            return Err("the template has an empty path component (\"//\" or a trailing \"/\")".into());
        }
        let all: Vec<&TemplatePart> = components.iter().flatten().collect();
        let has = |p: TemplatePart| all.contains(&&p);
        if !has(TemplatePart::Camera) {
            return Err("the template has no {camera}".into());
        }
        let has_day =
            has(TemplatePart::Date) || (has(TemplatePart::Year) && has(TemplatePart::Month) && has(TemplatePart::Day));
        if !has_day || !has(TemplatePart::Hour) {
            return Err("the template needs the day ({date}, or {year}, {month} and {day}) and the {hour}".into());
        }
        let file = components.pop().expect("split yields one component at least");
        Ok(Template { dirs: components, file })
    }
}

impl Resolver {
    pub(super) fn footage(&mut self, table: &Spanned<RawFootage>, device: &str) -> Option<FootageSpec> {
        let t = table.get_ref();
        let what = format!("device {device:?}: [device.footage]");
        if !t.root.get_ref().is_absolute() {
            self.error(
                Some(t.root.span()),
                format!("{what} root {:?} is not an absolute path", t.root.get_ref()),
                "write the folder the recorder writes to, like \"/media/frigate/recordings\"",
            );
        }
        let layout = match t.layout.get_ref().as_str() {
            "mtime" => {
                match t.camera_from.as_ref().map(|c| (c.get_ref().as_str(), c.span())) {
                    None | Some(("dir", _)) => {}
                    Some((other, span)) => self.error(
                        Some(span),
                        format!("{what} camera_from {other:?} is not understood"),
                        "write camera_from = \"dir\" (the camera is the first folder under root)",
                    ),
                }
                if t.segment_seconds.is_none() {
                    // A modification time is the segment's end; without a length the start is
                    // unknown, and guessing it from neighbours would need every file in memory.
                    self.error(
                        Some(t.layout.span()),
                        format!("{what} layout \"mtime\" needs segment_seconds"),
                        "add segment_seconds = N, the length of the recorder's footage files",
                    );
                }
                FootageLayout::Mtime(CameraFrom::Dir)
            }
            text => {
                if let Some(e) = &t.extensions {
                    self.error(
                        Some(e.span()),
                        format!("{what} extensions is only for layout = \"mtime\""),
                        "remove extensions: the template's file name says which files are footage",
                    );
                }
                if let Some(c) = &t.camera_from {
                    self.error(
                        Some(c.span()),
                        format!("{what} camera_from is only for layout = \"mtime\""),
                        "remove camera_from: the template's {camera} names the camera",
                    );
                }
                match Template::parse(text) {
                    Ok(template) => FootageLayout::Template(template),
                    Err(problem) => {
                        self.error(
                            Some(t.layout.span()),
                            format!("{what} layout {text:?}: {problem}"),
                            format!(
                                "write a path template under root such as \"/{{date}}/{{hour}}/{{camera}}/{{minute}}.{{second}}.mp4\" (placeholders: {PLACEHOLDERS}), or \"mtime\""
                            ),
                        );
                        return None;
                    }
                }
            }
        };
        if let Some(s) = &t.segment_seconds
            && *s.get_ref() == 0
        {
            self.error(
                Some(s.span()),
                format!("{what} segment_seconds is 0"),
                "write the length of one footage file in seconds, e.g. 10 or 60",
            );
        }
        let extensions = match (&layout, &t.extensions) {
            (FootageLayout::Template(_), _) => Vec::new(),
            (FootageLayout::Mtime(_), None) => VIDEO_EXTENSIONS.iter().map(|e| (*e).to_owned()).collect(),
            (FootageLayout::Mtime(_), Some(list)) => {
                let names: Vec<String> = (list.get_ref().iter())
                    .map(|e| e.strip_prefix('.').unwrap_or(e).to_lowercase())
                    .collect();
                if names.is_empty() || names.iter().any(|e| e.is_empty() || e.contains(['/', '.', '*'])) {
                    self.error(
                        Some(list.span()),
                        format!("{what} extensions {:?}: not a list of file name extensions", list.get_ref()),
                        "write the extensions of the recorder's video files, like [\"mp4\", \"mkv\"], or leave extensions out for the usual video ones",
                    );
                }
                names
            }
        };
        Some(FootageSpec {
            root: t.root.get_ref().clone(),
            layout,
            segment_seconds: t.segment_seconds.as_ref().map(|s| *s.get_ref()),
            extensions,
            cameras: t.cameras.clone().unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{CheckSpec, parse};
    use super::*;

    #[test]
    fn frigate_template() {
        let t = Template::parse("/{date}/{hour}/{camera}/{minute}.{second}.mp4").unwrap();
        assert_eq!(t.dirs.len(), 3);
        assert_eq!(
            t.file,
            vec![
                TemplatePart::Minute,
                TemplatePart::Literal(".".into()),
                TemplatePart::Second,
                TemplatePart::Literal(".mp4".into())
            ]
        );
        assert!(Template::parse("/{date}/{camera}/{minute}.mp4").is_err());
        assert!(Template::parse("/{date}/{hour}/{minute}.mp4").is_err());
        assert!(
            Template::parse("/{date}/{hour}/{cam}/x.mp4")
                .unwrap_err()
                .contains("{cam}")
        );
    }

    #[test]
    fn footage_table_mistakes_point_at_the_key() {
        let head = "[[device]]\nname = \"nvr\"\nkind = \"host\"\n[device.footage]\n";
        let err = parse(
            "t.toml",
            &format!("{head}root = \"/srv\"\nlayout = \"/{{date}}/{{camera}}/x\"\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("t.toml:6:10: error: device \"nvr\": [device.footage] layout"),
            "{err}"
        );
        assert!(err.contains("fix: write a path template"), "{err}");
        let err = parse("t.toml", &format!("{head}root = \"srv\"\nlayout = \"mtime\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("t.toml:5:8: error"), "{err}");
        assert!(
            err.contains("t.toml:6:10: error: device \"nvr\": [device.footage] layout \"mtime\" needs segment_seconds"),
            "{err}"
        );
        let ok = parse(
            "t.toml",
            &format!("{head}root = \"/srv\"\nlayout = \"mtime\"\ncamera_from = \"dir\"\nsegment_seconds = 60\ncameras = [\"a\"]\n"),
        )
        .unwrap();
        let CheckSpec::Retention(crate::config::RetentionSource::Folders(spec)) = &ok.devices[0].checks[0] else {
            panic!("{:?}", ok.devices[0].checks)
        };
        assert_eq!(spec.layout, FootageLayout::Mtime(CameraFrom::Dir));
        assert_eq!(
            (spec.segment_seconds, spec.cameras.clone()),
            (Some(60), vec!["a".to_owned()])
        );
        assert!(spec.extensions.contains(&"mp4".to_owned()) && !spec.extensions.contains(&"jpg".to_owned()));
    }

    #[test]
    fn extensions_are_for_the_mtime_layout_and_name_file_endings() {
        let head = "[[device]]\nname = \"zm\"\nkind = \"host\"\n[device.footage]\nroot = \"/srv\"\n";
        let spec = |body: &str| -> Result<FootageSpec, String> {
            let config = parse("t.toml", &format!("{head}{body}")).map_err(|e| e.to_string())?;
            match &config.devices[0].checks[0] {
                CheckSpec::Retention(crate::config::RetentionSource::Folders(spec)) => Ok(FootageSpec::clone(spec)),
                other => panic!("{other:?}"),
            }
        };
        let ok = spec("layout = \"mtime\"\nsegment_seconds = 60\nextensions = [\".MKV\", \"jpg\"]\n").unwrap();
        assert_eq!(ok.extensions, vec!["mkv".to_owned(), "jpg".to_owned()]);
        let err = spec("layout = \"mtime\"\nsegment_seconds = 60\nextensions = []\n").unwrap_err();
        assert!(
            err.contains(
                "t.toml:8:14: error: device \"zm\": [device.footage] extensions []: not a list of file name extensions"
            ),
            "{err}"
        );
        assert!(
            err.contains("fix: write the extensions of the recorder's video files"),
            "{err}"
        );
        assert!(spec("layout = \"mtime\"\nsegment_seconds = 60\nextensions = [\"*.mp4\"]\n").is_err());
        let err = spec("layout = \"/{date}/{hour}/{camera}/{minute}.mp4\"\nextensions = [\"mp4\"]\n").unwrap_err();
        assert!(
            err.contains(
                "t.toml:7:14: error: device \"zm\": [device.footage] extensions is only for layout = \"mtime\""
            ),
            "{err}"
        );
    }
}
