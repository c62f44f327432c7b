//! Snapshot image checks against real JPEGs made by ffmpeg and served over HTTP like a camera
//! does (Basic and Digest logins, wrong content types, huge and truncated bodies): single-shot
//! figures with `camwatch once --json`, and the daemon learning a camera's sharpness, noticing
//! blur and a frozen picture, keeping the latest pictures as files, serving them and exporting
//! metrics that promtool accepts.

mod support;

use std::path::Path;
use std::time::Duration;

use support::snapshots::{Auth, Body, SnapshotServer, ffmpeg_jpeg, stored_values};
use support::{Daemon, daemon_config, promtool_check_metrics, sample, temp_dir, wait_for, write};

const WAIT: Duration = Duration::from_secs(60);

fn camera(name: &str, uri: &str, extra: &str) -> String {
    format!(
        r#"
[[device]]
name = "{name}"
kind = "camera"
address = "127.0.0.1"
ping = "off"
{extra}
[device.snapshot]
uri = "{uri}"
"#
    )
}

fn once_json(config: &Path) -> Vec<serde_json::Value> {
    let out = support::camwatch()
        .args(["once", "--json", "-c"])
        .arg(config)
        .env("CAM_PASSWORD", "s3cret")
        .env("WRONG_PASSWORD", "guess")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "some checks fail: {}",
        support::stderr(&out)
    );
    support::stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn result<'a>(results: &'a [serde_json::Value], device: &str) -> &'a serde_json::Value {
    results
        .iter()
        .find(|r| r["device"] == device)
        .unwrap_or_else(|| panic!("no result for {device}: {results:?}"))
}

fn status_and_summary(r: &serde_json::Value) -> (&str, &str) {
    (r["status"].as_str().unwrap(), r["summary"].as_str().unwrap())
}

#[test]
fn single_shot_figures_errors_and_logins_on_real_jpegs() {
    let dir = temp_dir();
    let sharp = ffmpeg_jpeg(dir.path(), "sharp.jpg", "testsrc=size=1280x720", None, 0);
    let black = ffmpeg_jpeg(dir.path(), "black.jpg", "color=black:size=1280x720", None, 0);
    let blurred = ffmpeg_jpeg(
        dir.path(),
        "blurred.jpg",
        "testsrc=size=1280x720",
        Some("gblur=sigma=8"),
        0,
    );
    const HUGE: u64 = 40 << 20;
    let server = SnapshotServer::start();
    let basic = Auth::Basic {
        user: "viewer".into(),
        password: "s3cret".into(),
    };
    let digest = Auth::Digest {
        user: "viewer".into(),
        password: "s3cret".into(),
    };
    server.set("/ok.jpg", Body::Rotate(vec![sharp.clone()]), Auth::None);
    server.set("/black.jpg", Body::Rotate(vec![black]), Auth::None);
    server.set("/blurred.jpg", Body::Rotate(vec![blurred]), Auth::None);
    server.set(
        "/cut.jpg",
        Body::Rotate(vec![sharp[..sharp.len() / 2].to_vec()]),
        Auth::None,
    );
    server.set("/error.jpg", Body::Text("<html>Camera busy</html>".into()), Auth::None);
    server.set("/basic.jpg", Body::Rotate(vec![sharp.clone()]), basic);
    server.set("/digest.jpg", Body::Rotate(vec![sharp.clone()]), digest.clone());
    server.set("/locked.jpg", Body::Rotate(vec![sharp.clone()]), digest);
    server.set(
        "/huge.jpg",
        Body::Huge {
            len: HUGE,
            announced: true,
        },
        Auth::None,
    );
    server.set(
        "/endless.jpg",
        Body::Huge {
            len: HUGE,
            announced: false,
        },
        Auth::None,
    );
    let login = "username = \"viewer\"\npassword_env = \"CAM_PASSWORD\"";
    let mut body = String::new();
    for (name, path, extra) in [
        ("ok", "/ok.jpg", ""),
        ("black", "/black.jpg", ""),
        ("blurred", "/blurred.jpg", ""),
        ("cut", "/cut.jpg", ""),
        ("error-page", "/error.jpg", ""),
        ("basic", "/basic.jpg", login),
        ("digest", "/digest.jpg", login),
        (
            "locked",
            "/locked.jpg",
            "username = \"viewer\"\npassword_env = \"WRONG_PASSWORD\"",
        ),
        ("no-login", "/locked.jpg", ""),
        ("huge", "/huge.jpg", ""),
    ] {
        body.push_str(&camera(name, &server.url(path), extra));
    }
    body.push_str(&camera("endless", &server.url("/endless.jpg"), ""));
    body.push_str("max_bytes = 1048576\n");
    let config = dir.path().join("camwatch.toml");
    write(
        &config,
        &format!("[agent]\ndata_dir = \"{}\"\n{body}", dir.path().display()),
    );
    let results = once_json(&config);

    // A clean test pattern: its real size and figures in range.
    let ok = result(&results, "ok");
    assert_eq!(status_and_summary(ok).0, "ok", "{ok}");
    let v = &ok["values"];
    assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(1280), Some(720)));
    assert_eq!(v["bytes"].as_u64(), Some(sharp.len() as u64));
    let brightness = v["brightness_ratio"].as_f64().unwrap();
    assert!(
        (0.3..0.7).contains(&brightness),
        "testsrc is mid-grey on average: {brightness}"
    );
    assert!(v["contrast_ratio"].as_f64().unwrap() > 0.2, "{v}");
    let sharpness = v["sharpness"].as_f64().unwrap();
    assert!(sharpness > 50.0, "{v}");

    let (status, summary) = status_and_summary(result(&results, "black"));
    assert_eq!(status, "failed");
    assert!(
        summary.starts_with("the picture is black (brightness 0 %)"),
        "{summary}"
    );

    // One blurred picture alone is not judged (no history yet), but it measures much softer.
    let blurred = result(&results, "blurred");
    assert_eq!(status_and_summary(blurred).0, "ok", "{blurred}");
    let soft = blurred["values"]["sharpness"].as_f64().unwrap();
    assert!(
        soft < 0.35 * sharpness,
        "gblur=sigma=8 measures {soft} against {sharpness}"
    );

    let (status, summary) = status_and_summary(result(&results, "cut"));
    assert_eq!(status, "failed");
    assert!(summary.starts_with("the snapshot is not a complete JPEG"), "{summary}");
    let (status, summary) = status_and_summary(result(&results, "error-page"));
    assert_eq!(status, "failed");
    assert!(summary.contains("did not send a JPEG picture"), "{summary}");

    // Logins: the password from the environment, Basic and Digest each answered.
    for (device, path, scheme) in [("basic", "/basic.jpg", "Basic "), ("digest", "/digest.jpg", "Digest ")] {
        let r = result(&results, device);
        assert_eq!(status_and_summary(r).0, "ok", "{r}");
        assert_eq!(server.served(path), 1);
        assert!(
            server.authorizations(path).iter().all(|a| a.starts_with(scheme)),
            "{:?}",
            server.authorizations(path)
        );
    }
    let (status, summary) = status_and_summary(result(&results, "locked"));
    assert_eq!(status, "failed");
    assert!(
        summary.contains("refused the camera's username and password"),
        "{summary}"
    );
    let (status, summary) = status_and_summary(result(&results, "no-login"));
    assert_eq!(status, "failed");
    assert!(summary.contains("needs a login"), "{summary}");
    assert_eq!(server.served("/locked.jpg"), 0, "no picture without the right password");

    // 40 MB where a picture was expected: refused by its announced size, or cut off at the limit.
    let (status, summary) = status_and_summary(result(&results, "huge"));
    assert_eq!(status, "failed");
    assert!(summary.contains(&format!("announced {HUGE} bytes")), "{summary}");
    let (status, summary) = status_and_summary(result(&results, "endless"));
    assert_eq!(status, "failed");
    assert!(
        summary.contains("sent more than the 1048576 bytes allowed"),
        "{summary}"
    );
    // What the server managed to write includes the kernel's socket buffers, a few MB at most.
    let streamed = server.streamed_bytes();
    assert!(
        streamed < HUGE,
        "the agent read on: {streamed} of 2 x {HUGE} bytes streamed"
    );
}

#[test]
fn the_daemon_learns_sharpness_sees_blur_and_a_frozen_picture_and_keeps_the_latest_pictures() {
    let dir = temp_dir();
    let sharp: Vec<Vec<u8>> = (0..4)
        .map(|s| ffmpeg_jpeg(dir.path(), &format!("sharp{s}.jpg"), "testsrc=size=1280x720", None, s))
        .collect();
    let blurred: Vec<Vec<u8>> = (0..2)
        .map(|s| {
            ffmpeg_jpeg(
                dir.path(),
                &format!("blurred{s}.jpg"),
                "testsrc=size=1280x720",
                Some("gblur=sigma=8"),
                s,
            )
        })
        .collect();
    let server = SnapshotServer::start();
    server.set("/cam.jpg", Body::Rotate(sharp.clone()), Auth::None);
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"
[policy.default]
interval = "1s"
timeout = "900ms"
failures_before_failed = 1
successes_before_recovered = 1
image_frozen_polls = 3
{}"#,
            camera("gate", &server.url("/cam.jpg"), "")
        ),
    );
    let data = dir.path().join("data");
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    let image = |d: &Daemon| d.check("gate", "image");

    // Sharp, changing pictures: ok once the usual sharpness is learnt.
    wait_for("the sharpness to be learnt", WAIT, || {
        let c = image(&daemon);
        c["status"] == "ok" && c["values"]["sharpness_reference"].is_number()
    });
    let kept_ok = data.join("snapshots/gate/latest-ok.jpg");
    wait_for("the latest good picture to be kept", WAIT, || kept_ok.exists());
    let served = daemon.get("/snapshots/gate/latest-ok.jpg").unwrap();
    assert_eq!(served.status, 200, "{served:?}");
    assert!(
        served.headers.to_ascii_lowercase().contains("content-type: image/jpeg"),
        "{served:?}"
    );
    let on_disk = std::fs::read(&kept_ok).unwrap();
    assert!(sharp.contains(&on_disk), "the kept file is one of the pictures served");
    assert_eq!(daemon.get("/snapshots/gate/latest-failed.jpg").unwrap().status, 404);
    let metrics = daemon.metrics();
    let gate = [r#"device="gate""#];
    assert_eq!(
        sample(&metrics, "camwatch_camera_image_ok", &gate),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, "camwatch_camera_frozen", &gate),
        Some(0.0),
        "{metrics}"
    );
    let brightness = sample(&metrics, "camwatch_camera_brightness_ratio", &gate).unwrap();
    assert!((0.3..0.7).contains(&brightness), "{brightness}");
    assert!(sample(&metrics, "camwatch_camera_contrast_ratio", &gate).unwrap() > 0.2);
    let usual = sample(&metrics, "camwatch_camera_sharpness", &gate).unwrap();
    assert!(usual > 50.0, "{usual}");
    assert_eq!(promtool_check_metrics(&metrics), "", "{metrics}");
    let page = daemon.get("/").unwrap().body;
    assert!(page.contains(r#"<img src="/snapshots/gate/latest-ok.jpg?t="#), "{page}");
    assert!(!page.contains("<script"), "the page works without JavaScript");

    // Someone knocks the focus: blurred against the camera's own usual sharpness.
    server.swap("/cam.jpg", blurred.clone());
    wait_for("the blur to be noticed", WAIT, || image(&daemon)["status"] == "warning");
    let c = image(&daemon);
    assert!(
        c["summary"].as_str().unwrap().starts_with("the picture is blurred"),
        "{c}"
    );
    assert_eq!(daemon.state("gate", "image"), "warning");
    let kept_failed = data.join("snapshots/gate/latest-failed.jpg");
    wait_for("the blurred picture to be kept", WAIT, || {
        std::fs::read(&kept_failed).is_ok_and(|f| blurred.contains(&f))
    });
    assert_eq!(daemon.get("/snapshots/gate/latest-failed.jpg").unwrap().status, 200);
    let metrics = daemon.metrics();
    assert_eq!(
        sample(&metrics, "camwatch_camera_image_ok", &gate),
        Some(0.0),
        "{metrics}"
    );
    assert!(sample(&metrics, "camwatch_camera_sharpness", &gate).unwrap() < 0.35 * usual);
    let page = daemon.get("/").unwrap().body;
    assert!(
        page.contains(r#"<img src="/snapshots/gate/latest-failed.jpg?t="#),
        "{page}"
    );

    // Only configured cameras and the two kept files are served; nothing else is reachable.
    for bad in [
        "/snapshots/elsewhere/latest-ok.jpg",
        "/snapshots/..%2F..%2Fetc/latest-ok.jpg",
        "/snapshots/gate/..%2F..%2Fcamwatch.sqlite",
        "/snapshots/gate/camwatch.toml",
    ] {
        assert_eq!(daemon.get(bad).unwrap().status, 404, "{bad}");
    }

    // The encoder hangs on one picture: frozen on exactly the 3rd identical poll.
    let still = sharp[0].clone();
    server.swap("/cam.jpg", vec![still]);
    wait_for("the frozen picture to be noticed", WAIT, || {
        image(&daemon)["values"]["frozen"] == true
    });
    let c = image(&daemon);
    assert_eq!(c["status"], "failed", "{c}");
    assert!(
        c["summary"]
            .as_str()
            .unwrap()
            .contains("has not changed for 3 polls in a row"),
        "{c}"
    );
    assert_eq!(daemon.state("gate", "image"), "failed");
    assert_eq!(sample(&daemon.metrics(), "camwatch_camera_frozen", &gate), Some(1.0));
    let status = daemon.terminate();
    assert!(status.success(), "{status}");

    let results = stored_values(&data, "gate", "image");
    let first_frozen = results
        .iter()
        .position(|(_, _, v)| v["frozen"] == true)
        .expect("a frozen result is stored");
    let fingerprint = &results[first_frozen].2["fingerprint"];
    assert_eq!(results[first_frozen].2["same_polls"], 3);
    assert!(
        results[first_frozen - 2..first_frozen]
            .iter()
            .all(|(status, _, v)| &v["fingerprint"] == fingerprint && status == "ok"),
        "the two polls before were the same picture, still ok: {:?}",
        &results[first_frozen - 3..=first_frozen]
    );
    assert_ne!(&results[first_frozen - 3].2["fingerprint"], fingerprint);

    // The count survives a restart: the next identical picture is frozen at once.
    let daemon = Daemon::start(&path, addr, dir.path().join("log2"));
    wait_for("the first poll after the restart", WAIT, || {
        stored_values(&data, "gate", "image").len() > results.len()
    });
    let after = stored_values(&data, "gate", "image");
    let (status, _, values) = &after[results.len()];
    assert_eq!(status, "failed");
    assert!(values["same_polls"].as_u64().unwrap() > 3, "{values}");
    // And the pictures kept before the restart are shown again (found on disk, not polled anew:
    // the camera is frozen, so no good picture has come since).
    wait_for("the kept good picture on the page", WAIT, || {
        daemon
            .get("/")
            .unwrap()
            .body
            .contains("/snapshots/gate/latest-ok.jpg?t=")
    });
}
