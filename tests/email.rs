//! Fault mail through a real SMTP server (aiosmtpd): what a message says and to whom, STARTTLS
//! with a CA the test made and AUTH, retries after 4xx and an outage, dead letters after 5xx,
//! exactly-once delivery across SIGKILLs, and grouping, reminders, escalation and recovery
//! driven by a real switch going away (a network namespace).
//!
//! Faults come from real checks: a filesystem check whose listed mount point does not exist
//! fails at once (no root needed), a ping to a test host whose link is down fails for real.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::smtp::{Received, Security, SmtpServer};
use support::{
    Daemon, TestHost, daemon_config, daemon_config_with, http, promtool_check_metrics, run, sample, stdout, temp_dir,
};

const WAIT: Duration = Duration::from_secs(60);

const POLICY: &str = r#"
[policy.default]
interval = "1s"
timeout = "900ms"
failures_before_failed = 1
successes_before_recovered = 1
ping_count = 1
"#;

/// A storage device whose filesystem check fails at once (its mount point is missing).
fn failing_disk(name: &str, site: &str, owner: &str) -> String {
    format!(
        r#"
[[device]]
name = "{name}"
kind = "storage"
site = "{site}"
room = "server room"
location = "rack 2"
owner = "{owner}"
[device.filesystem]
mountpoints = ["/camwatch-test-missing-{name}"]
"#
    )
}

/// A daemon mailing to `server` about one failing disk at site north, owned by `owner`.
fn a_disk_fault(
    dir: &tempfile::TempDir,
    server: &SmtpServer,
    owner: &str,
) -> (std::path::PathBuf, std::net::SocketAddr, Daemon) {
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            "{POLICY}{}{}",
            email_table(server, ""),
            failing_disk("nvr-disk", "north", owner)
        ),
    );
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    (path, addr, daemon)
}

fn email_table(server: &SmtpServer, extra: &str) -> String {
    format!(
        r#"
[email]
server = "127.0.0.1"
port = {port}
security = "none"
from = "camwatch <camwatch@site.example>"
to = ["maintenance@site.example"]
group_window = "1s"
retry_after = "1s"
base_url = "http://camwatch.site.example:9810"
dashboard_url = "https://grafana.site.example/d/cctv"
{extra}
"#,
        port = server.port
    )
}

fn outbox(daemon: &Daemon) -> serde_json::Value {
    let r = daemon.get("/api/v1/outbox").unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    serde_json::from_str(&r.body).unwrap()
}

fn metric(daemon: &Daemon, name: &str) -> Option<f64> {
    sample(&daemon.metrics(), name, &[r#"channel="email""#])
}

/// Messages by Message-ID, failing the test if any Message-ID arrived twice.
fn once_each(received: &[Received]) -> BTreeMap<String, Received> {
    let mut by_id = BTreeMap::new();
    for m in received {
        assert!(
            by_id.insert(m.message_id().to_owned(), m.clone()).is_none(),
            "{} arrived twice: {}",
            m.message_id(),
            m.subject()
        );
    }
    by_id
}

#[test]
fn a_fault_mail_says_what_failed_since_when_where_and_whose_and_goes_to_the_routed_team() {
    let server = SmtpServer::start(Security::Plain, None);
    let dir = temp_dir();
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            "{POLICY}{}{}{}",
            email_table(
                &server,
                r#"
[[email.route]]
kind = "storage"
to = ["storage-team@site.example"]
"#
            ),
            failing_disk("nvr-disk", "north", "ana@site.example"),
            // Another kind, another site: no route matches, the default recipients.
            failing_disk("archive", "south", "bo@site.example").replace("\"storage\"", "\"host\""),
        ),
    );
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    let received = server.wait_for_messages(2, WAIT);
    let by_subject = |needle: &str| {
        received
            .iter()
            .find(|m| m.subject().contains(needle))
            .unwrap_or_else(|| panic!("no mail about {needle}: {received:?}"))
    };
    let north = by_subject("nvr-disk");
    assert_eq!(north.subject(), "[camwatch] north: nvr-disk filesystem failed");
    let mut to = north.rcpt_tos.clone();
    to.sort();
    assert_eq!(to, ["ana@site.example", "storage-team@site.example"], "route and owner");
    assert_eq!(north.mail_from, "camwatch@site.example");
    assert!(!north.tls && north.auth.is_none());
    assert_eq!(north.content_type, "multipart/alternative");
    assert!(north.attachments.is_empty(), "no picture for a disk fault");
    assert!(
        north.message_id().starts_with("<camwatch.") && north.message_id().ends_with(".opened.0@site.example>"),
        "{}",
        north.message_id()
    );
    for expected in [
        "/camwatch-test-missing-nvr-disk is not mounted",
        "Since:",
        "Severity:  critical",
        "Location:  north / server room / rack 2",
        "Owner:     ana@site.example",
        "missing: [\"/camwatch-test-missing-nvr-disk\"]",
        "Device:    http://camwatch.site.example:9810/#device-nvr-disk",
        "Dashboard: https://grafana.site.example/d/cctv",
        "camwatch ack INCIDENT",
    ] {
        assert!(north.text.contains(expected), "{expected:?} not in:\n{}", north.text);
    }
    assert!(
        north
            .html
            .contains("<a href=\"http://camwatch.site.example:9810/#device-nvr-disk\">")
            && north.html.contains("[&#34;/camwatch-test-missing-nvr-disk&#34;]"),
        "figures HTML-escaped, links: {}",
        north.html
    );
    let south = by_subject("archive");
    assert_eq!(
        south.rcpt_tos,
        ["maintenance@site.example", "bo@site.example"],
        "no route: the default, and the owner"
    );

    // The device page the link names exists: the landing page anchors each device.
    let landing = daemon.get("/").unwrap().body;
    assert!(landing.contains(r#"id="device-nvr-disk""#), "{landing}");
    support::wait_for("the outbox figures", WAIT, || {
        metric(&daemon, "camwatch_notifications_sent_total") == Some(2.0)
    });
    let metrics = daemon.metrics();
    assert_eq!(
        sample(&metrics, "camwatch_outbox_pending", &[r#"channel="email""#]),
        Some(0.0)
    );
    assert_eq!(
        sample(&metrics, "camwatch_outbox_dead", &[r#"channel="email""#]),
        Some(0.0)
    );
    assert_eq!(promtool_check_metrics(&metrics), "", "{metrics}");
    let out = run(&["outbox", "-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out), "pending: none\ndead letters: none\n");
    // Nothing more for these faults: one mail each (reminders are hours away by default).
    daemon.terminate();
    once_each(&server.received());
    assert_eq!(server.received().len(), 2);
}

#[test]
fn starttls_with_the_sites_ca_and_auth_and_the_password_never_logged() {
    let server = SmtpServer::start(Security::StartTls, Some(("camwatch", "s3cret-smtp-pw")));
    let dir = temp_dir();
    let table = email_table(&server, "").replace(
        "security = \"none\"",
        &format!(
            "security = \"starttls\"\nca_file = \"{}\"\nusername = \"camwatch\"\npassword_env = \"CW_SMTP_PASSWORD\"",
            server.ca().display()
        ),
    );
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            "{POLICY}{table}{}",
            failing_disk("nvr-disk", "north", "ana@site.example")
        ),
    );
    let daemon = Daemon::start_with(&path, addr, dir.path().join("log"), |c| {
        c.env("CW_SMTP_PASSWORD", "s3cret-smtp-pw").env("CAMWATCH_LOG", "debug");
    });
    let received = server.wait_for_messages(1, WAIT);
    assert!(received[0].tls, "sent after STARTTLS");
    assert_eq!(received[0].auth.as_deref(), Some("camwatch"));
    // The server saves the message before its 250 reaches the agent, which logs after that.
    support::wait_for("the agent to log the send", WAIT, || {
        daemon.log_text().contains("mail sent")
    });
    let log = daemon.log_text();
    daemon.terminate();
    assert!(
        !log.contains("s3cret-smtp-pw"),
        "the password leaked into the log:\n{log}"
    );
}

#[test]
fn implicit_tls_trusts_the_sites_ca_and_an_unknown_ca_is_a_transient_error_that_says_so() {
    let server = SmtpServer::start(Security::ImplicitTls, None);
    let dir = temp_dir();
    // First without the site's CA: the platform's roots do not know it.
    let table = email_table(&server, "").replace("security = \"none\"", "security = \"tls\"");
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            "{POLICY}{table}{}",
            failing_disk("nvr-disk", "north", "ana@site.example")
        ),
    );
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    support::wait_for("a refused TLS attempt", WAIT, || {
        outbox(&daemon)["pending"][0]["last_error"].is_string()
    });
    let error = outbox(&daemon)["pending"][0]["last_error"].as_str().unwrap().to_owned();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    assert!(server.received().is_empty());
    // The CA given and reloaded: the queued message goes out.
    let config = std::fs::read_to_string(&path).unwrap().replace(
        "security = \"tls\"",
        &format!("security = \"tls\"\nca_file = \"{}\"", server.ca().display()),
    );
    support::write(&path, &config);
    assert_eq!(http(addr, "POST", "/-/reload", &[]).unwrap().status, 200);
    let received = server.wait_for_messages(1, WAIT);
    daemon.terminate();
    assert!(received[0].tls);
    assert_eq!(received.len(), 1);
}

#[test]
fn a_4xx_is_retried_until_accepted_and_a_5xx_is_a_dead_letter_without_a_retry_storm() {
    let server = SmtpServer::start(Security::Plain, None);
    server.set_mode("451");
    let dir = temp_dir();
    let (path, addr, daemon) = a_disk_fault(&dir, &server, "ana@site.example");
    support::wait_for("two refused attempts", WAIT, || {
        server.attempts().iter().filter(|(_, o)| o == "451").count() >= 2
    });
    let pending = outbox(&daemon)["pending"].clone();
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    assert!(pending[0]["last_error"].as_str().unwrap().contains("451"), "{pending}");
    server.set_mode("250");
    let received = server.wait_for_messages(1, WAIT);
    let id = received[0].message_id().to_owned();
    let attempts = server.attempts();
    assert!(
        attempts.iter().all(|(m, _)| *m == id),
        "one message, tried again: {attempts:?}"
    );
    assert_eq!(attempts.last().unwrap().1, "250");
    support::wait_for("the sent counter", WAIT, || {
        metric(&daemon, "camwatch_notifications_sent_total") == Some(1.0)
    });
    assert!(metric(&daemon, "camwatch_notifications_failed_total").unwrap() >= 2.0);

    // Now the server refuses for good: the next fault's mail is a dead letter, tried once.
    server.set_mode("550");
    let config = std::fs::read_to_string(&path).unwrap() + &failing_disk("archive", "south", "bo@site.example");
    support::write(&path, &config);
    assert_eq!(
        http(addr, "POST", "/-/reload", &[]).unwrap().status,
        200,
        "{}",
        daemon.log_text()
    );
    support::wait_for("a dead letter", WAIT, || {
        metric(&daemon, "camwatch_outbox_dead") == Some(1.0)
    });
    let dead = outbox(&daemon)["dead"].clone();
    assert_eq!(dead.as_array().unwrap().len(), 1, "{dead}");
    assert!(dead[0]["subject"].as_str().unwrap().contains("archive"), "{dead}");
    assert!(dead[0]["last_error"].as_str().unwrap().contains("550"), "{dead}");
    let dead_id = dead[0]["message_id"].as_str().unwrap().to_owned();
    let landing = daemon.get("/").unwrap().body;
    assert!(
        landing.contains("Undelivered notifications (1)") && landing.contains("550"),
        "{landing}"
    );
    let out = run(&["outbox", "-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "a dead letter is a failure: {out:?}");
    assert!(stdout(&out).contains("dead letters: 1"), "{}", stdout(&out));

    // A third fault after the server accepts again is delivered; by then the sender has made
    // many passes, and the dead letter was not among them.
    server.set_mode("250");
    let config = std::fs::read_to_string(&path).unwrap() + &failing_disk("spare", "east", "cy@site.example");
    support::write(&path, &config);
    assert_eq!(http(addr, "POST", "/-/reload", &[]).unwrap().status, 200);
    let received = server.wait_for_messages(2, WAIT);
    assert!(received[1].subject().contains("spare"), "{received:?}");
    let tries = server.attempts().iter().filter(|(m, _)| *m == dead_id).count();
    assert_eq!(tries, 1, "a dead letter is not tried again: {:?}", server.attempts());
    assert!(received.iter().all(|m| m.message_id() != dead_id));
    daemon.terminate();
}

fn kill(daemon: Daemon) {
    daemon.signal("KILL");
    let mut daemon = daemon;
    daemon.child.wait().unwrap();
}

#[test]
fn an_smtp_outage_and_a_sigkill_after_queueing_deliver_every_message_exactly_once() {
    let mut server = SmtpServer::start(Security::Plain, None);
    server.stop();
    let dir = temp_dir();
    let devices: String = ["north", "south", "east"]
        .iter()
        .map(|site| failing_disk(&format!("disk-{site}"), site, "ana@site.example"))
        .collect();
    let (path, addr) = daemon_config(dir.path(), &format!("{POLICY}{}{devices}", email_table(&server, "")));
    let log = dir.path().join("log");
    let daemon = Daemon::start(&path, addr, log.clone());
    support::wait_for("three messages queued and tried", WAIT, || {
        metric(&daemon, "camwatch_outbox_pending") == Some(3.0)
            && metric(&daemon, "camwatch_notifications_failed_total").is_some_and(|f| f >= 3.0)
    });
    let pending = outbox(&daemon)["pending"].clone();
    assert!(
        pending[0]["last_error"].as_str().unwrap().contains("onnection refused"),
        "{pending}"
    );
    kill(daemon);

    let daemon = Daemon::start(&path, addr, dir.path().join("log2"));
    assert_eq!(
        metric(&daemon, "camwatch_outbox_pending").unwrap_or(3.0),
        3.0,
        "nothing new queued for the same faults after the restart"
    );
    server.resume();
    let received = server.wait_for_messages(3, WAIT);
    support::wait_for("the outbox to empty", WAIT, || {
        metric(&daemon, "camwatch_outbox_pending") == Some(0.0)
    });
    daemon.terminate();
    let by_id = once_each(&server.received());
    assert_eq!(by_id.len(), 3, "{received:?}");
}

#[test]
fn a_sigkill_during_a_send_sends_that_message_again_with_its_message_id_and_nothing_twice() {
    let server = SmtpServer::start(Security::Plain, None);
    server.set_mode("hold");
    let dir = temp_dir();
    let devices: String = ["north", "south"]
        .iter()
        .map(|site| failing_disk(&format!("disk-{site}"), site, "ana@site.example"))
        .collect();
    let (path, addr) = daemon_config(dir.path(), &format!("{POLICY}{}{devices}", email_table(&server, "")));
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    support::wait_for("a send in flight", WAIT, || !server.attempts().is_empty());
    support::wait_for("both messages queued", WAIT, || {
        outbox(&daemon)["pending"].as_array().unwrap().len() == 2
    });
    let in_flight = server.attempts()[0].0.clone();
    kill(daemon);
    support::wait_for("the server to see the client go", WAIT, || {
        server.attempts().iter().any(|(_, o)| o == "aborted")
    });
    server.set_mode("250");

    let daemon = Daemon::start(&path, addr, dir.path().join("log2"));
    server.wait_for_messages(2, WAIT);
    support::wait_for("the outbox to empty", WAIT, || {
        metric(&daemon, "camwatch_outbox_pending") == Some(0.0)
    });
    daemon.terminate();
    let by_id = once_each(&server.received());
    assert_eq!(by_id.len(), 2);
    let tries: Vec<String> = server
        .attempts()
        .into_iter()
        .filter(|(m, _)| *m == in_flight)
        .map(|(_, o)| o)
        .collect();
    assert_eq!(tries, ["holding", "aborted", "250"], "sent again, same Message-ID");
}

/// `(subject, recipients, text)` of every message, in arrival order.
fn summary(server: &SmtpServer) -> Vec<(String, Vec<String>, String)> {
    server
        .received()
        .into_iter()
        .map(|m| (m.subject().to_owned(), m.rcpt_tos.clone(), m.text.clone()))
        .collect()
}

#[test]
fn a_dead_switch_is_one_mail_listing_what_is_behind_it_then_reminders_escalation_and_recovery() {
    let host = TestHost::new(&[3, 4, 5]);
    let server = SmtpServer::start(Security::Plain, None);
    let dir = temp_dir();
    let cameras: String = (3..=5)
        .map(|n| {
            format!(
                r#"
[[device]]
name = "cam-{n}"
kind = "camera"
address = "{}"
parent = "switch"
[device.overrides]
failures_before_failed = 3
"#,
                host.address(n)
            )
        })
        .collect();
    let table = email_table(&server, "").replace("group_window = \"1s\"", "group_window = \"6s\"")
        + "remind_every = \"3s\"\nescalate_after = \"5s\"\nescalate_to = [\"head@site.example\"]\n";
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"{POLICY}{table}
[[device]]
name = "switch"
kind = "switch"
address = "{}"
{cameras}"#,
            host.address(2)
        ),
    );
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    for device in ["switch", "cam-3", "cam-4", "cam-5"] {
        support::wait_for(&format!("{device} ok"), WAIT, || daemon.state(device, "ping") == "ok");
    }
    host.link_down();
    let opened = server.wait_for_messages(1, WAIT);
    let first = &opened[0];
    assert_eq!(first.subject(), "[camwatch] test site: switch (unreachable) failed");
    assert!(
        first.text.contains("Unreachable behind it (3): cam-3, cam-4, cam-5"),
        "{}",
        first.text
    );
    support::wait_for("a reminder and the escalation", WAIT, || {
        let s = summary(&server);
        s.iter().any(|(subject, ..)| subject.contains("Reminder"))
            && s.iter().any(|(subject, ..)| subject.contains("Escalation"))
    });
    let escalation = server
        .received()
        .into_iter()
        .find(|m| m.subject().contains("Escalation"))
        .unwrap();
    assert_eq!(escalation.rcpt_tos, ["head@site.example"]);
    assert!(
        escalation.text.contains("It was mailed to: maintenance@site.example"),
        "{}",
        escalation.text
    );

    // Someone takes it on: no more reminders.
    let incident = first
        .text
        .split("Incident:  ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let ack = run(&[
        "ack",
        incident,
        "--by",
        "ana",
        "--note",
        "on my way",
        "-c",
        path.to_str().unwrap(),
    ]);
    assert_eq!(ack.status.code(), Some(0), "{ack:?}");
    let acked_at = now();
    host.link_up();
    support::wait_for("the recovery mail", WAIT, || {
        summary(&server)
            .iter()
            .any(|(subject, ..)| subject.contains("recovered"))
    });
    daemon.terminate();
    let all = server.received();
    once_each(&all);
    let recovery = all.iter().find(|m| m.subject().contains("recovered")).unwrap();
    assert!(
        recovery
            .subject()
            .starts_with("[camwatch] test site: switch (unreachable) recovered after "),
        "{}",
        recovery.subject()
    );
    assert!(recovery.text.contains("Downtime:"), "{}", recovery.text);
    // Never a mail about a camera alone: each one names the switch.
    for m in &all {
        assert!(m.subject().contains("switch"), "{}", m.subject());
    }
    // No reminder was queued after the acknowledgement (Date is when a message was queued).
    for m in all.iter().filter(|m| m.subject().contains("Reminder")) {
        let date = chrono::DateTime::parse_from_rfc2822(m.header("Date"))
            .unwrap()
            .timestamp() as f64;
        assert!(
            date <= acked_at + 1.0,
            "reminder after the acknowledgement: {}",
            m.subject()
        );
    }
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn a_camera_picture_fault_mail_carries_the_latest_failing_snapshot() {
    use sha2::Digest;
    let dir = temp_dir();
    let black = support::snapshots::ffmpeg_jpeg(dir.path(), "black.jpg", "color=black:size=640x360", None, 0);
    let camera = support::snapshots::SnapshotServer::start();
    camera.set(
        "/cam.jpg",
        support::snapshots::Body::Rotate(vec![black.clone()]),
        support::snapshots::Auth::None,
    );
    let server = SmtpServer::start(Security::Plain, None);
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"{POLICY}{}
[[device]]
name = "gate"
kind = "camera"
address = "127.0.0.1"
ping = "off"
[device.snapshot]
uri = "{}"
"#,
            email_table(&server, ""),
            camera.url("/cam.jpg")
        ),
    );
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    let received = server.wait_for_messages(1, WAIT);
    daemon.terminate();
    let mail = &received[0];
    assert_eq!(mail.subject(), "[camwatch] test site: gate image failed");
    assert_eq!(mail.content_type, "multipart/mixed");
    assert!(mail.text.contains("the picture is black"), "{}", mail.text);
    assert!(
        mail.text
            .contains("Snapshot:  http://camwatch.site.example:9810/snapshots/gate/latest-failed.jpg"),
        "{}",
        mail.text
    );
    assert_eq!(mail.attachments.len(), 1, "{:?}", mail.attachments);
    let a = &mail.attachments[0];
    assert_eq!(a["filename"], "gate-latest-failed.jpg");
    assert_eq!(a["content_type"], "image/jpeg");
    let sha = sha2::Sha256::digest(&black)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    assert_eq!(a["sha256"], sha.as_str(), "the very picture the camera served");
}

/// A daemon watching only this host (its ping ok), scheduling no procedure, mailing to `server`
/// with `extra` in `[email]`.
fn healthy_host(dir: &tempfile::TempDir, server: &SmtpServer, extra: &str) -> (Daemon, std::net::SocketAddr) {
    let (config, addr) = daemon_config(
        dir.path(),
        &format!(
            "{POLICY}\n[procedures]\nhandover = []\ninventory = \"off\"\n\n[[device]]\nname = \"this-host\"\nkind = \"host\"\naddress = \"127.0.0.1\"\n{}",
            email_table(server, extra)
        ),
    );
    let daemon = Daemon::start(&config, addr, dir.path().join("log"));
    daemon.wait_for_state("this-host", "ping", "ok");
    (daemon, addr)
}

#[test]
fn the_shift_handover_and_the_inventory_are_mailed_to_maintenance_as_they_are_made() {
    let server = SmtpServer::start(Security::Plain, None);
    let dir = temp_dir();
    let (daemon, addr) = healthy_host(&dir, &server, "procedures = [\"handover\"]");
    let handover = http(addr, "POST", "/api/v1/procedures/handover", &[]).unwrap();
    assert_eq!(handover.status, 200, "{handover:?}");
    let inventory = http(addr, "POST", "/api/v1/procedures/inventory", &[]).unwrap();
    assert_eq!(inventory.status, 200, "{inventory:?}");
    let mail = server.wait_for_messages(1, WAIT);
    assert!(
        mail[0].subject().starts_with("[test site] Shift handover "),
        "{}",
        mail[0].subject()
    );
    assert_eq!(mail[0].header("To"), "maintenance@site.example");
    assert!(mail[0].text.contains("SHIFT HANDOVER  test site"), "{}", mail[0].text);
    // A second handover, queued after the inventory was made: the inventory (not asked for in
    // `procedures`) would have gone out before it.
    let again = http(addr, "POST", "/api/v1/procedures/handover", &[]).unwrap();
    assert_eq!(again.status, 200, "{again:?}");
    let mail = server.wait_for_messages(2, WAIT);
    let subjects: Vec<&str> = mail.iter().map(|m| m.subject()).collect();
    assert!(subjects.iter().all(|s| s.contains("Shift handover")), "{subjects:?}");
    assert_ne!(mail[0].message_id(), mail[1].message_id());
    assert!(daemon.terminate().success());
}

#[test]
fn a_fault_inside_a_maintenance_window_is_mailed_only_once_the_window_is_over() {
    let server = SmtpServer::start(Security::Plain, None);
    let dir = temp_dir();
    // The disk fails at its first check, inside a window that ends 12 s after the agent starts.
    // A whole second: the window's start is written in whole seconds.
    let end = (now() + 12.0).ceil();
    let start = chrono::DateTime::from_timestamp((end - 60.0) as i64, 0)
        .unwrap()
        .to_rfc3339();
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            "{POLICY}{}{}\n[[maintenance]]\ndevice = \"nvr-disk\"\nstart = \"{start}\"\nduration = \"60s\"\nreason = \"disk swap\"\n",
            email_table(&server, ""),
            failing_disk("nvr-disk", "north", "ana@site.example"),
        ),
    );
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    daemon.wait_for_state("nvr-disk", "filesystem", "failed");
    let open: Vec<serde_json::Value> =
        serde_json::from_str(&daemon.get("/api/v1/incidents?open=true").unwrap().body).unwrap();
    assert_eq!(open.len(), 1, "measured and an incident as usual: {open:?}");
    let mail = server.wait_for_messages(1, WAIT);
    // Seen no earlier than the window's end (the server saves a message as it accepts it).
    assert!(now() >= end, "mailed {:.1} s before the window ended", end - now());
    assert_eq!(mail[0].subject(), "[camwatch] north: nvr-disk filesystem failed");
    assert!(daemon.terminate().success());
}

#[test]
fn a_report_is_mailed_with_the_html_report_attached_once_per_period() {
    let server = SmtpServer::start(Security::Plain, None);
    let dir = temp_dir();
    let (daemon, addr) = healthy_host(&dir, &server, "");
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let path = format!("/api/v1/reports/mail?period={today}");
    let first = http(addr, "POST", &path, &[]).unwrap();
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body, format!("report {today} queued for mail\n"));
    let again = http(addr, "POST", &path, &[]).unwrap();
    assert_eq!(again.body, format!("report {today} was queued before; not again\n"));
    let mail = server.wait_for_messages(1, WAIT);
    assert_eq!(mail[0].subject(), format!("[test site] camwatch report {today}"));
    assert!(
        mail[0].text.contains("1 devices, 0 under their availability target."),
        "{}",
        mail[0].text
    );
    assert_eq!(mail[0].attachments.len(), 1, "{:?}", mail[0].attachments);
    let attachment = &mail[0].attachments[0];
    assert_eq!(
        attachment["filename"],
        format!("camwatch-report-{today}.html"),
        "{attachment}"
    );
    let bad = http(addr, "POST", "/api/v1/reports/mail?period=soon", &[]).unwrap();
    assert_eq!(bad.status, 400);
    assert!(daemon.terminate().success());
}

/// A switch (`.2`) and a camera behind it (`.3`) whose ping is in the test host and whose
/// picture comes from `camera` on loopback.
fn switch_and_camera(host: &TestHost, camera: &support::snapshots::SnapshotServer) -> String {
    format!(
        r#"
[[device]]
name = "switch"
kind = "switch"
address = "{}"

[[device]]
name = "cam"
kind = "camera"
address = "{}"
parent = "switch"
[device.snapshot]
uri = "{}"
"#,
        host.address(2),
        host.address(3),
        camera.url("/cam.jpg")
    )
}

#[test]
fn a_camera_still_broken_when_its_switch_recovers_is_mailed_as_a_fault_of_its_own() {
    use support::snapshots::{Auth, Body, SnapshotServer, ffmpeg_jpeg};
    let host = TestHost::new(&[3]);
    let dir = temp_dir();
    let pictures: Vec<Vec<u8>> = (0..3)
        .map(|s| ffmpeg_jpeg(dir.path(), &format!("sharp{s}.jpg"), "testsrc=size=640x360", None, s))
        .collect();
    let black = ffmpeg_jpeg(dir.path(), "black.jpg", "color=black:size=640x360", None, 0);
    let camera = SnapshotServer::start();
    camera.set("/cam.jpg", Body::Rotate(pictures), Auth::None);
    let server = SmtpServer::start(Security::Plain, None);
    let table = email_table(&server, "").replace("group_window = \"1s\"", "group_window = \"3s\"");
    let (path, addr) = daemon_config(
        dir.path(),
        &format!("{POLICY}{table}{}", switch_and_camera(&host, &camera)),
    );
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    for (device, check) in [("switch", "ping"), ("cam", "ping"), ("cam", "image")] {
        support::wait_for(&format!("{device} {check} ok"), WAIT, || {
            daemon.state(device, check) == "ok"
        });
    }
    // The switch dies; the camera's picture turns black meanwhile: both of the camera's checks
    // are unreachable behind the switch, one device.
    host.link_down();
    camera.swap("/cam.jpg", vec![black]);
    support::wait_for("the camera's picture unreachable", WAIT, || {
        daemon.state("cam", "image") == "unreachable" && daemon.state("cam", "ping") == "unreachable"
    });
    let first = server.wait_for_messages(1, WAIT);
    assert_eq!(first[0].subject(), "[camwatch] test site: switch (unreachable) failed");
    assert!(
        first[0].text.contains("Unreachable behind it (1): cam\r\n"),
        "devices, not checks: {}",
        first[0].text
    );
    // The switch is back; the picture is still black: the camera's own fault, mailed.
    host.link_up();
    support::wait_for("the camera's picture failed on its own", WAIT, || {
        daemon.state("cam", "image") == "failed"
    });
    let mails = server.wait_for_messages(3, WAIT);
    let subjects: Vec<&str> = mails.iter().map(|m| m.subject()).collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.starts_with("[camwatch] test site: switch (unreachable) recovered")),
        "{subjects:?}"
    );
    let own = mails
        .iter()
        .find(|m| m.subject() == "[camwatch] test site: cam image failed")
        .unwrap_or_else(|| panic!("no mail about the camera's own fault: {subjects:?}"));
    assert!(own.text.contains("the picture is black"), "{}", own.text);
    // It counts as an open fault, not as part of a closed one.
    let open: f64 = ["critical", "major"]
        .iter()
        .filter_map(|s| {
            sample(
                &daemon.metrics(),
                "camwatch_incidents_open",
                &[&format!("severity=\"{s}\"")],
            )
        })
        .sum();
    assert_eq!(open, 1.0, "{}", daemon.metrics());
    let incidents = daemon.get("/api/v1/incidents?open=true").unwrap().body;
    let incidents: serde_json::Value = serde_json::from_str(&incidents).unwrap();
    let cam = incidents
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["device"] == "cam" && i["check"] == "image")
        .unwrap_or_else(|| panic!("{incidents}"));
    assert!(cam["joined"].is_null(), "{cam}");
    daemon.terminate();
    once_each(&server.received());
}

#[test]
fn a_fault_that_comes_and_goes_while_a_slow_send_holds_the_sender_gets_its_failure_then_its_recovery() {
    let host = TestHost::new(&[]);
    let server = SmtpServer::start(Security::Plain, None);
    server.set_mode("hold");
    let dir = temp_dir();
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"{POLICY}{}{}
[[device]]
name = "door-cam"
kind = "camera"
address = "{}"
"#,
            email_table(&server, ""),
            failing_disk("nvr-disk", "north", "ana@site.example"),
            host.address(2)
        ),
    );
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    daemon.wait_for_state("door-cam", "ping", "ok");
    support::wait_for("the disk's mail held by the server", WAIT, || {
        !server.attempts().is_empty()
    });
    // The camera is down for a few seconds (longer than the 1-s window) while that send hangs.
    host.link_down();
    daemon.wait_for_state("door-cam", "ping", "failed");
    support::wait_for("the camera's failure queued behind the held send", WAIT, || {
        outbox(&daemon)["pending"].as_array().unwrap().len() == 2
    });
    host.link_up();
    daemon.wait_for_state("door-cam", "ping", "ok");
    support::wait_for("its recovery queued too", WAIT, || {
        outbox(&daemon)["pending"].as_array().unwrap().len() == 3
    });
    server.set_mode("250");
    let mails = server.wait_for_messages(3, WAIT);
    daemon.terminate();
    let subjects: Vec<&str> = mails.iter().map(|m| m.subject()).collect();
    assert_eq!(
        subjects[1], "[camwatch] test site: door-cam (unreachable) failed",
        "{subjects:?}"
    );
    assert!(
        subjects[2].starts_with("[camwatch] test site: door-cam (unreachable) recovered after "),
        "the failure first, then the recovery: {subjects:?}"
    );
    once_each(&server.received());
}

#[test]
fn a_recovery_never_overtakes_its_failure_mail_that_waits_for_a_retry() {
    let host = TestHost::new(&[]);
    let server = SmtpServer::start(Security::Plain, None);
    let dir = temp_dir();
    let table = email_table(&server, "").replace("retry_after = \"1s\"", "retry_after = \"3s\"");
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"{POLICY}{table}
[[device]]
name = "door-cam"
kind = "camera"
address = "{}"
"#,
            host.address(2)
        ),
    );
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    daemon.wait_for_state("door-cam", "ping", "ok");
    server.set_mode("451");
    host.link_down();
    support::wait_for("the failure refused twice (4xx)", WAIT, || {
        server.attempts().iter().filter(|(_, o)| o == "451").count() >= 2
    });
    // Repaired while the failure waits for its next try: the recovery is queued, due at once.
    host.link_up();
    support::wait_for("the recovery queued", WAIT, || {
        outbox(&daemon)["pending"].as_array().unwrap().len() == 2
    });
    server.set_mode("250");
    let mails = server.wait_for_messages(2, WAIT);
    daemon.terminate();
    assert_eq!(
        mails[0].subject(),
        "[camwatch] test site: door-cam (unreachable) failed"
    );
    assert!(
        mails[1].subject().contains("recovered after"),
        "the recovery after its failure: {:?}",
        mails.iter().map(|m| m.subject()).collect::<Vec<_>>()
    );
}

#[test]
fn a_refused_owner_address_is_a_dead_letter_for_that_address_and_the_team_still_gets_the_mail() {
    let server = SmtpServer::start(Security::Plain, None);
    server.refuse(&["gone@site.example"]);
    let dir = temp_dir();
    let (path, _, daemon) = a_disk_fault(&dir, &server, "gone@site.example");
    let received = server.wait_for_messages(1, WAIT);
    assert_eq!(received[0].rcpt_tos, ["maintenance@site.example"]);
    assert!(
        received[0].header("To").contains("gone@site.example"),
        "the message names everyone it was for: {:?}",
        received[0].headers
    );
    support::wait_for("the refused address as a dead letter", WAIT, || {
        metric(&daemon, "camwatch_outbox_dead") == Some(1.0)
    });
    assert_eq!(metric(&daemon, "camwatch_notifications_sent_total"), Some(1.0));
    let dead = outbox(&daemon)["dead"].clone();
    assert_eq!(dead[0]["refused"][0]["address"], "gone@site.example", "{dead}");
    assert!(
        dead[0]["refused"][0]["error"].as_str().unwrap().contains("550"),
        "{dead}"
    );
    assert_eq!(dead[0]["delivered"], serde_json::json!(["maintenance@site.example"]));
    let out = run(&["outbox", "-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let table = stdout(&out);
    assert!(
        table.contains("gone@site.example") && table.contains("550") && !table.contains("maintenance@site.example"),
        "the dead letter names the refused address only:\n{table}"
    );
    let landing = daemon.get("/").unwrap().body;
    assert!(
        landing.contains("Undelivered notifications (1)") && landing.contains("gone@site.example"),
        "{landing}"
    );
    daemon.terminate();
    assert_eq!(server.received().len(), 1, "the team got it once");
}

#[test]
fn a_server_that_accepts_and_never_greets_fails_the_send_at_its_deadline_and_it_is_tried_again() {
    // A hostile server: it takes the connection and says nothing, ever.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    std::thread::spawn({
        let held = std::sync::Arc::clone(&held);
        move || {
            for stream in silent.incoming().flatten() {
                held.lock().unwrap().push(stream);
            }
        }
    });
    let dir = temp_dir();
    let (path, addr) = daemon_config(
        dir.path(),
        &format!(
            r#"{POLICY}
[email]
server = "127.0.0.1"
port = {port}
security = "none"
from = "camwatch@site.example"
to = ["maintenance@site.example"]
group_window = "1s"
retry_after = "1s"
send_timeout = "2s"
{}"#,
            failing_disk("nvr-disk", "north", "ana@site.example")
        ),
    );
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    support::wait_for("two attempts cut at the deadline", WAIT, || {
        metric(&daemon, "camwatch_notifications_failed_total").is_some_and(|f| f >= 2.0)
    });
    let pending = outbox(&daemon)["pending"].clone();
    assert_eq!(pending.as_array().unwrap().len(), 1, "kept, to try again: {pending}");
    assert!(
        pending[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("did not finish the conversation within send_timeout (2s)"),
        "{pending}"
    );
    assert!(
        held.lock().unwrap().len() >= 2,
        "each attempt was a connection of its own"
    );
    assert_eq!(metric(&daemon, "camwatch_outbox_dead"), Some(0.0));
    daemon.terminate();
}

/// What a reader of the store saw: results, transitions and incidents as (device, check, at)
/// text, and the outbox's Message-IDs.
fn committed(data: &std::path::Path) -> std::collections::BTreeSet<String> {
    let conn = rusqlite::Connection::open(data.join("camwatch.sqlite")).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for (table, at) in [("results", "at"), ("transitions", "at"), ("incidents", "opened_at")] {
        let sql = format!("SELECT '{table} ' || device || '/' || check_name || ' ' || {at} FROM {table}");
        let mut stmt = conn.prepare(&sql).unwrap();
        seen.extend(
            stmt.query_map([], |r| r.get::<_, String>(0))
                .unwrap()
                .map(Result::unwrap),
        );
    }
    let mut stmt = conn.prepare("SELECT 'outbox ' || message_id FROM outbox").unwrap();
    seen.extend(
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap),
    );
    seen
}

#[test]
fn a_sigkill_under_load_loses_no_committed_result_incident_or_mail_and_resumes_each_state() {
    let server = SmtpServer::start(Security::Plain, None);
    let dir = temp_dir();
    let data = dir.path().join("data");
    // 40 cameras pinged every second (40 results a second, thinned as by default), two disks
    // failing with their incidents and mail.
    let cameras: String = (0..40)
        .map(|i| format!("[[device]]\nname = \"cam-{i}\"\nkind = \"camera\"\naddress = \"127.0.0.1\"\n"))
        .collect();
    let disks = failing_disk("disk-north", "north", "ana@site.example")
        + &failing_disk("disk-south", "south", "ana@site.example");
    let (path, addr) = daemon_config_with(
        dir.path(),
        "",
        &format!("{POLICY}{}{cameras}{disks}", email_table(&server, "")),
    );
    let daemon = Daemon::start(&path, addr, dir.path().join("log"));
    server.wait_for_messages(2, WAIT);
    for i in 0..40 {
        daemon.wait_for_state(&format!("cam-{i}"), "ping", "ok");
    }
    // Under load: results keep arriving while a reader looks, and the kill comes right after.
    let before = committed(&data);
    kill(daemon);
    let after = committed(&data);
    let lost: Vec<&String> = before.difference(&after).collect();
    assert!(lost.is_empty(), "committed before the kill, gone after: {lost:?}");
    let incidents =
        |set: &std::collections::BTreeSet<String>| set.iter().filter(|s| s.starts_with("incidents ")).count();
    assert_eq!(incidents(&after), 2, "{after:?}");

    // The restart resumes every state as committed: no camera goes through unknown again, no
    // incident opens twice, no mail goes twice.
    let transitions_before = after.iter().filter(|s| s.starts_with("transitions ")).count();
    let daemon = Daemon::start(&path, addr, dir.path().join("log2"));
    for i in 0..40 {
        daemon.wait_for_state(&format!("cam-{i}"), "ping", "ok");
    }
    support::wait_for("the outbox to empty", WAIT, || {
        metric(&daemon, "camwatch_outbox_pending") == Some(0.0)
    });
    daemon.terminate();
    let end = committed(&data);
    assert_eq!(incidents(&end), 2, "{end:?}");
    assert_eq!(
        end.iter().filter(|s| s.starts_with("transitions ")).count(),
        transitions_before,
        "a state resumed without a transition"
    );
    let by_id = once_each(&server.received());
    assert_eq!(by_id.len(), 2, "{:?}", server.received());
}
