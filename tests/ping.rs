//! Reachability against real network stacks: loopback, test hosts in network namespaces, and an
//! agent that may not open ICMP sockets.

mod support;

use std::net::TcpListener;

use support::{TestHost, run, stderr, stdout, temp_dir, write};

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn icmp_to_a_test_host_then_the_host_vanishes() {
    let host = TestHost::new(&[]);
    let dir = temp_dir();
    let path = dir.path().join("c.toml");
    write(
        &path,
        &format!(
            r#"
[[device]]
name = "cam"
kind = "camera"
address = "{}"
[device.overrides]
timeout = "1500ms"
"#,
            host.address(2)
        ),
    );
    let up = run(&["once", "--json", "-c", path.to_str().unwrap()]);
    assert_eq!(up.status.code(), Some(0), "{}{}", stdout(&up), stderr(&up));
    let seen = &json_lines(&stdout(&up))[0];
    assert_eq!(seen["status"], "ok", "{seen}");
    assert_eq!(seen["values"]["method"], "icmp");
    assert_eq!(seen["values"]["received"], 3);
    assert!(seen["values"]["rtt_seconds"].as_f64().unwrap() > 0.0, "{seen}");

    host.link_down();
    let down = run(&["once", "--json", "-c", path.to_str().unwrap()]);
    assert_eq!(down.status.code(), Some(1), "{}", stdout(&down));
    let seen = &json_lines(&stdout(&down))[0];
    assert_eq!(seen["status"], "failed", "{seen}");
    assert_eq!(seen["values"]["loss_ratio"], 1.0);
    assert!(
        seen["summary"].as_str().unwrap().contains("no reply to 3 ICMP echoes"),
        "{seen}"
    );
}

#[test]
fn explicit_tcp_ping_counts_accepted_and_refused_connections_as_up() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = support::free_port();
    let dir = temp_dir();
    let path = dir.path().join("c.toml");
    write(
        &path,
        &format!(
            r#"
[[device]]
name = "open"
kind = "camera"
address = "127.0.0.1"
ping = "tcp:{open}"
[[device]]
name = "refused"
kind = "camera"
address = "127.0.0.1"
ping = "tcp:{closed}"
"#
        ),
    );
    let out = run(&["probe", "open", "--json", "-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = &json_lines(&stdout(&out))[0];
    assert_eq!(seen["values"]["method"], format!("tcp:{open}"));
    assert!(seen["exchange"][0].as_str().unwrap().contains("accepted"), "{seen}");

    let out = run(&["probe", "refused", "--json", "-c", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let seen = &json_lines(&stdout(&out))[0];
    assert_eq!(seen["status"], "ok");
    assert!(seen["exchange"][0].as_str().unwrap().contains("refused"), "{seen}");
    drop(listener);
}

/// An unprivileged agent in a fresh network namespace, where `ping_group_range` is the kernel's
/// default (nobody may open ICMP sockets): pinging falls back to TCP and says so once.
#[test]
fn without_icmp_permission_ping_falls_back_to_tcp_and_logs_it_once() {
    let host = TestHost::new(&[]);
    let range = host
        .exec(&["sysctl", "-n", "net.ipv4.ping_group_range"])
        .output()
        .unwrap();
    let range = String::from_utf8_lossy(&range.stdout);
    assert_eq!(
        range.split_whitespace().collect::<Vec<_>>(),
        ["1", "0"],
        "a new namespace starts closed"
    );

    let dir = temp_dir();
    let path = dir.path().join("c.toml");
    // Two devices: the fallback is announced once, not once per device.
    write(
        &path,
        r#"
[policy.default]
ping_fallback_port = 9
[[device]]
name = "a"
kind = "camera"
address = "127.0.0.1"
[[device]]
name = "b"
kind = "camera"
address = "127.0.0.1"
"#,
    );
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = host
        .exec(&[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_camwatch"))
        .args(["once", "--json", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    let (out_text, err_text) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{out_text}{err_text}");
    for seen in json_lines(&out_text) {
        assert_eq!(seen["values"]["method"], "tcp:9", "{seen}");
        assert_eq!(seen["status"], "ok", "refused on port 9 proves the host is up: {seen}");
    }
    assert_eq!(
        err_text.matches("ICMP echo is not permitted for this process").count(),
        1,
        "the fallback is logged exactly once:\n{err_text}"
    );
    // The same binary as root in the same namespace uses ICMP: the fallback was about permission.
    let as_root = host
        .exec(&[
            env!("CARGO_BIN_EXE_camwatch"),
            "once",
            "--json",
            "-c",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        json_lines(&stdout(&as_root))[0]["values"]["method"],
        "icmp",
        "{}",
        stderr(&as_root)
    );
}
