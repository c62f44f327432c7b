//! `camwatch discover` against simulated ONVIF devices in a test host's network namespace: a
//! camera answering multicast and unicast, a recorder answering only unicast (as one behind a
//! router would), and a device answering garbage. camwatch runs on this side of the veth with
//! `--interface` naming it, so its multicast Probe never reaches a real network; or inside the
//! namespace, where the veth is the only way out.

mod support;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use support::wsd_devices::{Behaviour, Identity, SimDevice, interface_with};
use support::{TestHost, run, stderr, stdout, temp_dir, write};

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn ip(host: &TestHost, last: u8) -> Ipv4Addr {
    host.address(last).parse().unwrap()
}

/// A camera shaped like a Hikvision answer: several XAddrs (its address on port 8080, IPv6
/// link-local, HTTPS), percent-encoded name and location scopes.
fn camera(host: &TestHost) -> Identity {
    Identity {
        endpoint: "urn:uuid:5d1a4b4c-1dd2-11b2-8d1e-c056e3b1a2f0".into(),
        types: vec!["dn:NetworkVideoTransmitter".into(), "tds:Device".into()],
        scopes: [
            "onvif://www.onvif.org/type/video_encoder",
            "onvif://www.onvif.org/Profile/Streaming",
            "onvif://www.onvif.org/Profile/T",
            "onvif://www.onvif.org/hardware/DS-2CD2143G2-I",
            "onvif://www.onvif.org/name/Entr%C3%A9e%20Nord%20%26%20Quai",
            "onvif://www.onvif.org/location/city/Lund",
            "onvif://www.onvif.org/location/building/B%202",
        ]
        .map(String::from)
        .to_vec(),
        xaddrs: vec![
            format!("http://{}:8080/onvif/device_service", host.address(2)),
            "http://[fe80::c256:e3ff:feb1:a2f0]/onvif/device_service".into(),
            format!("https://{}/onvif/device_service", host.address(2)),
        ],
        prefixes: ("SOAP-ENV", "wsa", "d"),
    }
}

/// A recorder: a tds:Device but no NetworkVideoTransmitter, other prefixes.
fn recorder(host: &TestHost) -> Identity {
    Identity {
        endpoint: "uuid:c9790c3a-701b-464d-a189-0060351c8ada".into(),
        types: vec!["tds:Device".into()],
        scopes: [
            "onvif://www.onvif.org/Profile/G",
            "onvif://www.onvif.org/hardware/NVR-16",
            "onvif://www.onvif.org/name/NVR%201",
            "onvif://www.onvif.org/location/",
        ]
        .map(String::from)
        .to_vec(),
        xaddrs: vec![format!("http://{}/onvif/device_service", host.address(3))],
        prefixes: ("env", "wsadis", "wsdd"),
    }
}

#[test]
fn finds_devices_by_multicast_and_unicast_ignores_garbage_and_writes_a_valid_config() {
    let host = TestHost::new(&[3, 4]);
    let cam = SimDevice::start(&host, ip(&host, 2), true, Behaviour::Answer(camera(&host)));
    let nvr = SimDevice::start(&host, ip(&host, 3), false, Behaviour::Answer(recorder(&host)));
    let junk = SimDevice::start(&host, ip(&host, 4), true, Behaviour::Garbage);
    let interface = interface_with(None, &host.address(1));
    let cidr = format!("198.18.{}.0/24", host.subnet);

    // Multicast alone: the camera answers; the recorder, deaf to multicast, stays unknown.
    let out = run(&[
        "discover",
        "--interface",
        &interface,
        "--timeout",
        "1",
        "--log-level",
        "camwatch=debug",
    ]);
    let (text, log) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{text}{log}");
    assert!(
        text.starts_with(&format!("{}  camera  Entrée Nord & Quai\n", host.address(2))),
        "{text}"
    );
    for line in [
        "  hardware  DS-2CD2143G2-I\n",
        "  location  city/Lund, building/B 2\n",
        &format!("  xaddrs    http://{}:8080/onvif/device_service\n", host.address(2)),
        "            http://[fe80::c256:e3ff:feb1:a2f0]/onvif/device_service\n",
        "  types     dn:NetworkVideoTransmitter tds:Device\n",
        "  endpoint  urn:uuid:5d1a4b4c-1dd2-11b2-8d1e-c056e3b1a2f0\n",
        "  via       multicast\n",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    assert!(!text.contains(&host.address(3)), "{text}");
    assert!(text.contains("1 ONVIF device answered in"), "{text}");
    assert!(
        text.contains(&format!("multicast on {interface} ({})", host.address(1))),
        "{text}"
    );
    // Two Probes (one per type, since a target must have every type listed), each sent twice
    // with the same MessageID, as SOAP-over-UDP repeats multicast.
    let probes = cam.seen();
    assert!(probes.iter().all(|p| p.multicast), "{probes:?}");
    let ids: BTreeSet<&str> = probes.iter().map(|p| p.message_id.as_str()).collect();
    let types: BTreeSet<&str> = probes.iter().map(|p| p.types.as_str()).collect();
    assert_eq!(probes.len(), 4, "{probes:?}");
    assert_eq!(ids.len(), 2, "{probes:?}");
    assert!(ids.iter().all(|id| id.starts_with("urn:uuid:")), "{ids:?}");
    assert_eq!(types, BTreeSet::from(["dn:NetworkVideoTransmitter", "tds:Device"]));
    assert!(nvr.seen().is_empty());
    // Every kind of junk was seen and dropped, each with its reason in the debug log.
    let from_junk = format!("from {}:3702", host.address(4));
    for why in [
        "not UTF-8",
        "not well-formed XML",
        "more than the 32768 a ProbeMatches may have",
        "without ProbeMatch",
        "not to one of our Probes",
    ] {
        assert!(
            log.lines().any(|l| l.contains(&from_junk) && l.contains(why)),
            "no {why:?} from the junk device in:\n{log}"
        );
    }
    assert!(!text.contains("Impostor"), "{text}");

    // Unicast to the test host's /24 as well: the recorder appears, and the camera is one device
    // although it answered four Probes by two routes.
    let out = run(&[
        "discover",
        "--interface",
        &interface,
        "--timeout",
        "1",
        "--cidr",
        &cidr,
        "--json",
    ]);
    let (text, log) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{text}{log}");
    let devices = json_lines(&text);
    assert_eq!(devices.len(), 2, "{text}");
    let (c, r) = (&devices[0], &devices[1]);
    assert_eq!(c["address"], host.address(2));
    assert_eq!(c["endpoint"], "urn:uuid:5d1a4b4c-1dd2-11b2-8d1e-c056e3b1a2f0");
    assert_eq!(c["kind"], "camera");
    assert_eq!(c["name"], "Entrée Nord & Quai");
    assert_eq!(c["hardware"], "DS-2CD2143G2-I");
    assert_eq!(c["location"], "city/Lund, building/B 2");
    assert_eq!(c["profiles"], serde_json::json!(["Streaming", "T"]));
    assert_eq!(c["xaddrs"].as_array().unwrap().len(), 3, "{c}");
    assert_eq!(c["scopes"].as_array().unwrap().len(), 7, "{c}");
    assert_eq!(
        c["types"],
        serde_json::json!(["dn:NetworkVideoTransmitter", "tds:Device"])
    );
    assert_eq!(c["via"], serde_json::json!(["multicast", "unicast"]));
    assert_eq!(r["address"], host.address(3));
    assert_eq!(r["kind"], "other");
    assert_eq!(r["name"], "NVR 1");
    assert_eq!(
        r["location"],
        serde_json::Value::Null,
        "an empty location scope is no location"
    );
    assert_eq!(r["via"], serde_json::json!(["unicast"]));
    // The recorder has no NetworkVideoTransmitter: it heard both unicast Probes, matched one.
    let heard: BTreeSet<String> = nvr.seen().into_iter().map(|p| p.types).collect();
    assert_eq!(
        heard,
        BTreeSet::from(["dn:NetworkVideoTransmitter".into(), "tds:Device".into()])
    );
    assert!(
        log.contains(&format!("unicast to 254 addresses of {cidr}")),
        "the summary goes to stderr with --json: {log}"
    );

    // The snippet is a configuration check-config accepts as it is.
    let out = run(&[
        "discover",
        "--interface",
        &interface,
        "--timeout",
        "1",
        "--cidr",
        &cidr,
        "--config-snippet",
    ]);
    let snippet = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{snippet}{}", stderr(&out));
    let expected_camera = format!(
        "[[device]]\nname = \"entrée-nord-quai\"\nkind = \"camera\"\naddress = \"{}\"\n[device.onvif]\nport = 8080\npath = \"/onvif/device_service\"\nhttps = false\n",
        host.address(2)
    );
    assert!(snippet.contains(&expected_camera), "{snippet}");
    assert!(
        snippet.contains("# \"Entrée Nord & Quai\", hardware DS-2CD2143G2-I, location city/Lund, building/B 2\n"),
        "{snippet}"
    );
    let expected_recorder = format!(
        "name = \"nvr-1\"\nkind = \"other\"\naddress = \"{}\"\n[device.onvif]\nport = 80\n",
        host.address(3)
    );
    assert!(snippet.contains(&expected_recorder), "{snippet}");
    let dir = temp_dir();
    let path = dir.path().join("found.toml");
    write(&path, &snippet);
    let check = run(&["check-config", "-c", path.to_str().unwrap()]);
    assert_eq!(check.status.code(), Some(0), "{}\n{snippet}", stderr(&check));
    assert!(stdout(&check).contains(": OK: 2 devices"), "{}", stdout(&check));
    drop(junk);
}

#[test]
fn when_nothing_answers_it_says_so_and_exits_1() {
    let host = TestHost::new(&[]);
    let interface = interface_with(None, &host.address(1));
    let cidr = format!("198.18.{}.0/30", host.subnet);
    let out = run(&[
        "discover",
        "--interface",
        &interface,
        "--timeout",
        "0.3",
        "--cidr",
        &cidr,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("0 ONVIF devices answered"), "{}", stdout(&out));
    assert!(stderr(&out).contains("no ONVIF device answered"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--cidr"),
        "the hint names the unicast sweep: {}",
        stderr(&out)
    );
}

/// Without `--interface` the multicast Probe follows the routing table. A namespace with no
/// route for 224.0.0.0/4 (and no default route) cannot send it: camwatch says how to fix that.
/// With the route, it goes out of the veth, and the kernel also loops it back to the devices
/// listening on that interface in the same namespace.
#[test]
fn without_interface_multicast_follows_the_routing_table() {
    let host = TestHost::new(&[]);
    let _cam = SimDevice::start(&host, ip(&host, 2), true, Behaviour::Answer(camera(&host)));
    let discover = || {
        host.exec(&[env!("CARGO_BIN_EXE_camwatch"), "discover", "--timeout", "0.5", "--json"])
            .output()
            .unwrap()
    };
    let out = discover();
    let log = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{}{log}", stdout(&out));
    assert!(log.contains("cannot send the multicast Probe"), "{log}");
    assert!(
        log.contains("--interface IF") && log.contains("ip route add 224.0.0.0/4 dev IF"),
        "{log}"
    );

    let inner = interface_with(Some(&host), &host.address(2));
    let route = host
        .exec(&["ip", "route", "add", "224.0.0.0/4", "dev", &inner])
        .output()
        .unwrap();
    assert!(route.status.success(), "{}", stderr(&route));
    let out = discover();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let devices = json_lines(&stdout(&out));
    assert_eq!(devices.len(), 1, "{}", stdout(&out));
    assert_eq!(devices[0]["name"], "Entrée Nord & Quai");
    assert_eq!(devices[0]["via"], serde_json::json!(["multicast"]));
}

/// Usage errors are found before anything is sent, and exit 2.
#[test]
fn usage_errors_exit_2() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["discover", "--cidr", "10.0.0.0/16"],
            "65536 addresses; discover sweeps at most a /20",
        ),
        (&["discover", "--cidr", "10.0.0/24"], "not an IPv4 network"),
        (&["discover", "--cidr", "239.255.255.250/32"], "not a network of hosts"),
        (
            &["discover", "--interface", "cwnope0"],
            "no network interface named \"cwnope0\"",
        ),
        (&["discover", "--timeout", "0"], "more than 0 seconds"),
        (&["discover", "--json", "--config-snippet"], "cannot be used with"),
    ];
    for (args, message) in cases {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
    }
    let many: Vec<String> = (0..5).map(|i| format!("10.{i}.0.0/20")).collect();
    let mut args = vec!["discover"];
    for c in &many {
        args.extend(["--cidr", c]);
    }
    let out = run(&args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("more than 16384 addresses"), "{}", stderr(&out));
}
