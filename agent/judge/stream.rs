//! Stream rules: the camera's RTSP service describes a video track. The probe already turned
//! every refusal (no service, a refused login, no such stream, not RTSP) into an error, which
//! fails the check; what is left to judge is whether the description holds video.

use super::Verdict;
use crate::model::{CheckKind, Status};
use crate::observation::stream::{StreamObservation, describe_video};

pub fn judge(seen: &StreamObservation) -> Verdict {
    let values = serde_json::json!({
        "uri": seen.uri,
        "status_code": seen.status_code,
        "auth_required": seen.auth_required,
        "auth_scheme": seen.auth_scheme,
        "server": seen.server,
        "codec": seen.video.as_ref().map(|v| &v.codec),
        "width": seen.video.as_ref().and_then(|v| v.width),
        "height": seen.video.as_ref().and_then(|v| v.height),
        "framerate": seen.video.as_ref().and_then(|v| v.framerate),
        "media_tracks": seen.media_tracks,
    });
    let (status, summary) = match &seen.video {
        Some(video) => {
            let login = match seen.auth_scheme {
                Some(scheme) => format!(" ({scheme} login accepted)"),
                None => String::new(),
            };
            (Status::Ok, format!("{}, stream answers{login}", describe_video(video)))
        }
        None if seen.media_tracks == 0 => (
            Status::Failed,
            "the stream describes no video track (its description lists no media at all)".to_owned(),
        ),
        None => (
            Status::Failed,
            format!(
                "the stream describes no video track ({} media {}, none of them video)",
                seen.media_tracks,
                if seen.media_tracks == 1 { "track" } else { "tracks" }
            ),
        ),
    };
    Verdict::new(CheckKind::Stream, status, summary, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::stream::VideoTrack;

    fn seen(video: Option<VideoTrack>, media_tracks: u32) -> StreamObservation {
        StreamObservation {
            uri: "rtsp://192.0.2.3:554/Streaming/Channels/101".into(),
            status_code: 200,
            auth_required: true,
            auth_scheme: Some("Digest"),
            server: Some("Hikvision/V5.5.800".into()),
            video,
            media_tracks,
        }
    }

    #[test]
    fn a_video_track_is_ok_and_says_what_it_is() {
        let v = judge(&seen(
            Some(VideoTrack {
                codec: "H264".into(),
                width: Some(1920),
                height: Some(1080),
                framerate: Some(25.0),
            }),
            2,
        ));
        assert_eq!(v.status, Status::Ok);
        assert_eq!(
            v.summary,
            "H264 1920x1080 at 25 fps, stream answers (Digest login accepted)"
        );
        assert_eq!(v.values["codec"], "H264");
        assert_eq!(v.values["width"], 1920);
        assert_eq!(v.values["framerate"], 25.0);
        assert_eq!(v.values["auth_scheme"], "Digest");
        assert_eq!(v.values["media_tracks"], 2);
    }

    #[test]
    fn unknown_figures_are_left_out_of_the_summary() {
        let mut s = seen(
            Some(VideoTrack {
                codec: "H265".into(),
                width: None,
                height: None,
                framerate: Some(12.5),
            }),
            1,
        );
        s.auth_scheme = None;
        let v = judge(&s);
        assert_eq!(v.status, Status::Ok);
        assert_eq!(v.summary, "H265 at 12.5 fps, stream answers");
        assert!(v.values["width"].is_null());
    }

    #[test]
    fn no_video_track_fails() {
        let v = judge(&seen(None, 1));
        assert_eq!(v.status, Status::Failed);
        assert_eq!(
            v.summary,
            "the stream describes no video track (1 media track, none of them video)"
        );
        assert!(v.values["codec"].is_null());
        let empty = judge(&seen(None, 0));
        assert_eq!(empty.status, Status::Failed);
        assert!(empty.summary.contains("no media at all"), "{}", empty.summary);
    }
}
