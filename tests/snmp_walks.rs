//! camwatch's SNMP readers against recorded walks of real devices, served by snmpsim: every UPS
//! walk of `../shared/testdata/snmprec` (UPS-MIB, APC PowerNet, Eaton XUPS, CyberPower), the
//! recorders (Hikvision, Dahua), the NAS and storage hosts (HOST-RESOURCES-MIB), and the
//! project's own small walks of agents that lie (`tests/data/snmprec`).
//!
//! The expected figures are written out per walk, each derived by hand from the walk's lines and
//! the MIB's definition of the object (OID cited beside it), not from camwatch's code: a reader
//! that misreads a unit or a type shows up as a mismatch against the device's own answer.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::snmpsim::Snmpsim;
use support::{camwatch, stderr, stdout, temp_dir, write};

const MIB: f64 = 1_048_576.0;
const GIB: f64 = 1_073_741_824.0;

/// The shared folder of real walks, or `None` with a printed reason when it is absent (a user's
/// fresh clone has no `../shared`; CI and this project's machines have it).
fn shared_walks() -> Option<PathBuf> {
    shared_walks_at(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/snmprec"))
}

fn shared_walks_at(dir: &Path) -> Option<PathBuf> {
    if dir.join("apc_powerchute.snmprec").is_file() {
        Some(dir.to_path_buf())
    } else {
        println!(
            "SKIPPED: the real-device SNMP walks are not at {} (a fresh clone has no ../shared); \
             the tests of the project's own walks in tests/data/snmprec still ran",
            dir.display()
        );
        None
    }
}

fn own_walks() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/snmprec")
}

/// One device per walk: its name is the walk's name, its community (read from an environment
/// variable set for the child process only) the file's stem, as snmpsim wants.
struct Poll<'a> {
    walk: &'a str,
    kind: &'a str,
    checks: &'a [&'a str],
}

fn config(sim: &Snmpsim, devices: &[Poll<'_>]) -> (tempfile::TempDir, PathBuf) {
    let dir = temp_dir();
    let mut text = String::new();
    for i in 0..devices.len() {
        text.push_str(&format!(
            "[snmp_auth.walk{i}]\nversion = \"2c\"\ncommunity_env = \"CW_TEST_COMMUNITY_{i}\"\n\n"
        ));
    }
    for (i, d) in devices.iter().enumerate() {
        let checks: Vec<String> = d.checks.iter().map(|c| format!("{c:?}")).collect();
        text.push_str(&format!(
            "[[device]]\nname = {:?}\nkind = {:?}\naddress = \"127.0.0.1\"\nping = \"off\"\n\
             [device.snmp]\nauth = \"walk{i}\"\nport = {}\nchecks = [{}]\n\n",
            d.walk,
            d.kind,
            sim.port,
            checks.join(", ")
        ));
    }
    let path = dir.path().join("camwatch.toml");
    write(&path, &text);
    (dir, path)
}

/// `camwatch ARGS -c CONFIG` with each device's community in its variable; returns the exit
/// code and the JSON lines.
fn camwatch_json(sim: &Snmpsim, devices: &[Poll<'_>], args: &[&str]) -> (Option<i32>, Vec<Value>) {
    let (_dir, path) = config(sim, devices);
    let mut command = camwatch();
    command.args(args).arg("-c").arg(&path);
    for (i, d) in devices.iter().enumerate() {
        command.env(format!("CW_TEST_COMMUNITY_{i}"), d.walk);
    }
    let out = command.output().expect("camwatch runs");
    let text = stdout(&out);
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{}", stderr(&out))))
        .collect();
    (out.status.code(), lines)
}

fn once(sim: &Snmpsim, devices: &[Poll<'_>]) -> Vec<Value> {
    let (code, lines) = camwatch_json(sim, devices, &["once", "--json"]);
    assert!(matches!(code, Some(0 | 1)), "camwatch once exited with {code:?}");
    let expected: usize = devices.iter().map(|d| d.checks.len()).sum();
    assert_eq!(lines.len(), expected, "one line per check: {lines:#?}");
    lines
}

fn result<'v>(lines: &'v [Value], device: &str, check: &str) -> &'v Value {
    lines
        .iter()
        .find(|l| l["device"] == device && l["check"] == check)
        .unwrap_or_else(|| panic!("no {check} result for {device} in {lines:#?}"))
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= 1e-9 * expected.abs().max(1.0)
}

/// A figure in `values`: `None` means it must be absent (JSON null), never 0.
fn assert_figure(values: &Value, key: &str, expected: Option<f64>, walk: &str) {
    match expected {
        None => assert!(
            values[key].is_null(),
            "{walk}: {key} must be absent (the walk has no such figure), got {}",
            values[key]
        ),
        Some(e) => {
            let actual = values[key]
                .as_f64()
                .unwrap_or_else(|| panic!("{walk}: {key} missing, expected {e}: {values}"));
            assert!(close(actual, e), "{walk}: {key} = {actual}, expected {e}");
        }
    }
}

fn notes(values: &Value) -> Vec<String> {
    values["notes"]
        .as_array()
        .unwrap_or_else(|| panic!("no notes in {values}"))
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

// ------------------------------------------------------------------------------------------
// UPS
// ------------------------------------------------------------------------------------------

/// What a UPS walk says, in camwatch's units (seconds, volts, ratios 0..1, °C).
struct Ups {
    walk: &'static str,
    protocol: &'static str,
    output_source: &'static str,
    battery_status: &'static str,
    charge: Option<f64>,
    runtime: Option<f64>,
    on_battery: Option<f64>,
    input: Option<f64>,
    output: Option<f64>,
    load: Option<f64>,
    temperature: Option<f64>,
    alarms: Option<u64>,
    replace_battery: Option<bool>,
    status: &'static str,
    /// Fragments the summary must contain.
    summary: &'static [&'static str],
    /// Fragments that must each appear in one of `values.notes`; no other notes are allowed.
    notes: &'static [&'static str],
}

/// APC PowerNet and Eaton XUPS walks hold no time-on-battery object, but they say the output is
/// on line: camwatch then reports 0 s on battery, by design (the UPS judge counts time on battery
/// itself when the UPS does not, and it is 0 on mains), which is true of a UPS on line. It stays
/// absent when the output source is unknown (see `ups-no-source`).
const ON_MAINS_SO_ZERO: Option<f64> = Some(0.0);

/// Every UPS walk that answers a UPS MIB camwatch reads, and what it says.
const UPS_WALKS: &[Ups] = &[
    Ups {
        walk: "deltaups_rfc1628string",
        protocol: "rfc1628",
        output_source: "online",     // upsOutputSource 1.3.6.1.2.1.33.1.4.1.0 = 3 normal
        battery_status: "normal",    // upsBatteryStatus .33.1.2.1.0 = 2 batteryNormal
        charge: Some(0.29),          // upsEstimatedChargeRemaining .33.1.2.4.0 = 29 %
        runtime: Some(338.0 * 60.0), // upsEstimatedMinutesRemaining .33.1.2.3.0 = 338 min
        on_battery: Some(0.0),       // upsSecondsOnBattery .33.1.2.2.0 = 0
        input: Some(236.0),          // upsInputVoltage.1 .33.1.3.3.1.3.1 = 2360: Delta sends tenths of a volt
        output: Some(230.0),         // upsOutputVoltage.1 .33.1.4.4.1.2.1 = 2300 (tenths again)
        load: Some(0.08),            // upsOutputPercentLoad.1 .33.1.4.4.1.5.1 = 8 %
        temperature: Some(14.0),     // upsBatteryTemperature .33.1.2.7.0 = 14 °C
        alarms: None,                // upsAlarmsPresent .33.1.6.1.0 not in the walk
        replace_battery: None,       // no alarm information at all
        status: "ok",
        summary: &["on mains power, battery 29 %, runtime 338 min"],
        notes: &[
            "input voltage: 2360 read as tenths of a volt",
            "output voltage: 2300 read as tenths of a volt",
        ],
    },
    Ups {
        walk: "eaton-mgeups_9px",
        protocol: "rfc1628",
        output_source: "online",    // .33.1.4.1.0 = 3 normal
        battery_status: "normal",   // .33.1.2.1.0 = 2
        charge: Some(1.0),          // .33.1.2.4.0 = 100 %
        runtime: Some(24.0 * 60.0), // .33.1.2.3.0 = 24 min
        on_battery: Some(0.0),      // .33.1.2.2.0 = 0
        input: Some(237.0),         // .33.1.3.3.1.3.1 = 237 V
        output: Some(230.0),        // .33.1.4.4.1.2.1 = 230 V
        load: Some(0.35),           // .33.1.4.4.1.5.1 = 35 %
        // .33.1.2.7.0 = 0: the card's answer, and a legal one (degrees Centigrade); most likely
        // "no sensor", but nothing in the MIB lets a reader tell.
        temperature: Some(0.0),
        alarms: None, // .33.1.6.1.0 not in the walk
        replace_battery: None,
        status: "ok",
        summary: &["on mains power, battery 100 %, runtime 24 min"],
        notes: &[],
    },
    Ups {
        walk: "eatonupsm2_9px",
        protocol: "rfc1628",
        output_source: "online",     // .33.1.4.1.0 = 3
        battery_status: "normal",    // .33.1.2.1.0 = 2
        charge: Some(0.98),          // .33.1.2.4.0 = 98 %
        runtime: Some(430.0 * 60.0), // .33.1.2.3.0 = 430 min
        on_battery: Some(0.0),       // .33.1.2.2.0 = 0
        input: Some(239.0),          // .33.1.3.3.1.3.1 = 239
        output: Some(229.0),         // .33.1.4.4.1.2.1 = 229
        load: Some(0.09),            // .33.1.4.4.1.5.1 = 9 %
        temperature: None,           // .33.1.2.7.0 not in the walk
        alarms: None,
        replace_battery: None,
        status: "ok",
        summary: &["on mains power, battery 98 %, runtime 430 min"],
        notes: &[],
    },
    Ups {
        walk: "huaweiups_ups2000",
        protocol: "rfc1628",
        output_source: "online",  // .33.1.4.1.0 = 3
        battery_status: "normal", // .33.1.2.1.0 = Gauge32 2 (the MIB says INTEGER)
        charge: Some(1.0),        // .33.1.2.4.0 = Gauge32 100
        // .33.1.2.3.0 = Gauge32 4294967295: -1 ("unknown") stored in an unsigned type; no UPS
        // holds 8,000 years of runtime.
        runtime: None,
        on_battery: Some(0.0),   // .33.1.2.2.0 = Gauge32 0
        input: Some(233.0),      // .33.1.3.3.1.3.1 = 233
        output: Some(230.0),     // .33.1.4.4.1.2.1 = 230
        load: Some(0.27),        // .33.1.4.4.1.5.1 = 27 %
        temperature: Some(21.0), // .33.1.2.7.0 = 21
        alarms: None,
        replace_battery: None,
        status: "ok",
        // upsIdentModel .33.1.1.2.0 = "UPS2000 6kVA"; no runtime in the summary.
        summary: &["UPS2000 6kVA: on mains power, battery 100 %"],
        notes: &["estimated runtime: "],
    },
    Ups {
        walk: "netmanplus_204",
        protocol: "rfc1628",
        output_source: "online",     // .33.1.4.1.0 = 3
        battery_status: "normal",    // .33.1.2.1.0 = 2
        charge: Some(1.0),           // .33.1.2.4.0 = 100
        runtime: Some(135.0 * 60.0), // .33.1.2.3.0 = 135 min
        on_battery: Some(0.0),       // .33.1.2.2.0 = 0
        input: Some(242.0),          // .33.1.3.3.1.3.1 = 242 (phases 2 and 3 read 0: single phase)
        output: Some(231.0),         // .33.1.4.4.1.2.1 = 231
        load: Some(0.08),            // .33.1.4.4.1.5.1 = 8 %
        temperature: Some(37.0),     // .33.1.2.7.0 = 37
        alarms: None,
        replace_battery: None,
        status: "ok",
        summary: &["on mains power, battery 100 %, runtime 135 min"],
        notes: &[],
    },
    Ups {
        walk: "poweralert_ups",
        protocol: "rfc1628",
        output_source: "other",     // .33.1.4.1.0 = 1 other
        battery_status: "normal",   // .33.1.2.1.0 = 2
        charge: Some(1.0),          // .33.1.2.4.0 = 100
        runtime: Some(72.0 * 60.0), // .33.1.2.3.0 = 72 min
        on_battery: Some(0.0),      // .33.1.2.2.0 = 0
        input: Some(210.0),         // .33.1.3.3.1.3.1 = 210
        output: Some(210.0),        // .33.1.4.4.1.2.1 = 210
        load: Some(0.10),           // .33.1.4.4.1.5.1 = 10 %
        temperature: None,          // .33.1.2.7.0 = -273: "no sensor", not absolute zero
        alarms: None,
        replace_battery: None,
        status: "ok",
        // upsIdentModel .33.1.1.2.0 = "SU3000LCD2UHV"; "other" is neither mains nor battery.
        summary: &["SU3000LCD2UHV: ", "\"other\" (not battery)"],
        notes: &["battery temperature: -273"],
    },
    Ups {
        walk: "apc_powerchute",
        protocol: "apc",
        output_source: "online", // upsBasicOutputStatus 1.3.6.1.4.1.318.1.1.1.4.1.1.0 = 2 onLine
        battery_status: "unknown", // upsBasicBatteryStatus .318.1.1.1.2.1.1.0 not in the walk
        charge: Some(1.0),       // upsAdvBatteryCapacity .2.2.1.0 = Gauge32 100 %
        runtime: Some(7560.0),   // upsAdvBatteryRunTimeRemaining .2.2.3.0 = 756000 ticks (1/100 s)
        on_battery: ON_MAINS_SO_ZERO, // upsBasicBatteryTimeOnBattery .2.1.2.0 not in the walk
        input: Some(244.0),      // upsAdvInputLineVoltage .3.2.1.0 = 244 VAC
        output: Some(244.0),     // upsAdvOutputVoltage .4.2.1.0 = 244 VAC
        load: Some(0.31),        // upsAdvOutputLoad .4.2.3.0 = 31 %
        temperature: Some(21.0), // upsAdvBatteryTemperature .2.2.2.0 = 21 °C
        alarms: None,            // PowerNet-MIB has no alarm count
        replace_battery: Some(false), // upsAdvBatteryReplaceIndicator .2.2.4.0 = 1 noBatteryNeedsReplacing
        status: "ok",
        summary: &["Smart-UPS 1000: on mains power, battery 100 %, runtime 126 min"],
        notes: &[],
    },
    Ups {
        walk: "apc_smart1500",
        protocol: "apc",
        output_source: "online",      // .4.1.1.0 = 2 onLine
        battery_status: "unknown",    // .2.1.1.0 not in the walk
        charge: Some(1.0),            // upsHighPrecBatteryCapacity .2.3.1.0 = 1000 tenths of %
        runtime: Some(4560.0),        // .2.2.3.0 = 456000 ticks
        on_battery: ON_MAINS_SO_ZERO, // .2.1.2.0 not in the walk
        input: Some(247.6),           // upsHighPrecInputLineVoltage .3.3.1.0 = 2476 tenths VAC
        output: Some(247.6),          // upsHighPrecOutputVoltage .4.3.1.0 = 2476 tenths VAC
        load: Some(0.176),            // upsHighPrecOutputLoad .4.3.3.0 = 176 tenths of %
        temperature: Some(30.0),      // upsHighPrecBatteryTemperature .2.3.2.0 = 300 tenths °C
        alarms: None,
        replace_battery: Some(false), // .2.2.4.0 = 1
        status: "ok",
        // upsBasicIdentModel .1.1.1.0 not in the walk: no model prefix.
        summary: &["on mains power, battery 100 %, runtime 76 min"],
        notes: &[],
    },
    Ups {
        walk: "apc_smt750x-nmc2",
        protocol: "apc",
        output_source: "online",      // .4.1.1.0 = 2
        battery_status: "unknown",    // .2.1.1.0 not in the walk
        charge: Some(1.0),            // .2.3.1.0 = 1000
        runtime: Some(109_762.0),     // .2.2.3.0 = 10976200 ticks
        on_battery: ON_MAINS_SO_ZERO, // .2.1.2.0 not in the walk
        input: Some(119.1),           // .3.3.1.0 = 1191
        output: Some(119.1),          // .4.3.1.0 = 1191
        load: Some(0.0),              // .4.3.3.0 = 0: a present zero, not an absent figure
        temperature: Some(23.4),      // .2.3.2.0 = 234
        alarms: None,
        replace_battery: Some(false), // .2.2.4.0 = 1
        status: "ok",
        summary: &["Smart-UPS X 750: on mains power"],
        notes: &[],
    },
    Ups {
        walk: "apc_smtl1000-nmc3",
        protocol: "apc",
        output_source: "online",      // .4.1.1.0 = 2
        battery_status: "unknown",    // .2.1.1.0 not in the walk
        charge: Some(1.0),            // .2.3.1.0 = 1000
        runtime: Some(1522.0),        // .2.2.3.0 = 152200 ticks
        on_battery: ON_MAINS_SO_ZERO, // .2.1.2.0 not in the walk
        input: Some(118.0),           // .3.3.1.0 = 1180
        output: Some(118.0),          // .4.3.1.0 = 1180
        load: Some(0.378),            // .4.3.3.0 = 378
        temperature: Some(28.0),      // .2.3.2.0 = 280
        alarms: None,
        replace_battery: Some(false), // .2.2.4.0 = 1
        status: "ok",
        summary: &["Smart-UPS 1000: on mains power, battery 100 %, runtime 25 min"],
        notes: &[],
    },
    Ups {
        walk: "apc_sua1500rmi2u",
        protocol: "apc",
        output_source: "online",      // .4.1.1.0 = 2
        battery_status: "unknown",    // .2.1.1.0 not in the walk
        charge: Some(1.0),            // .2.3.1.0 = 1000
        runtime: Some(3960.0),        // .2.2.3.0 = 396000 ticks
        on_battery: ON_MAINS_SO_ZERO, // .2.1.2.0 not in the walk
        input: Some(239.0),           // .3.3.1.0 = 2390
        output: Some(239.0),          // .4.3.1.0 = 2390
        load: Some(0.169),            // .4.3.3.0 = 169
        temperature: Some(26.1),      // .2.3.2.0 = 261
        alarms: None,
        replace_battery: Some(false), // .2.2.4.0 = 1
        status: "ok",
        summary: &["Smart-UPS 1500 RM: on mains power, battery 100 %, runtime 66 min"],
        notes: &[],
    },
    Ups {
        walk: "eatonups",
        protocol: "eaton",
        output_source: "online", // xupsOutputSource 1.3.6.1.4.1.534.1.4.5.0 = 3 normal
        // XUPS-MIB reports a low battery only as an alarm, and xupsAlarms .534.1.7.1.0 is not in
        // the walk (xupsBatteryAbmStatus .534.1.2.5.0 = 4 resting is the charger's state).
        battery_status: "unknown",
        charge: Some(1.0),            // xupsBatCapacity .534.1.2.4.0 = 100 %
        runtime: Some(8620.0),        // xupsBatTimeRemaining .534.1.2.1.0 = 8620 s
        on_battery: ON_MAINS_SO_ZERO, // XUPS-MIB has no time-on-battery object
        input: Some(228.0),           // xupsInputVoltage.1 .534.1.3.4.1.2.1 = 228 (phase 1)
        output: Some(230.0),          // xupsOutputVoltage.1 .534.1.4.4.1.2.1 = 230 (phase 1)
        load: Some(0.25),             // xupsOutputLoad .534.1.4.1.0 = 25 %
        temperature: None,            // only xupsEnvAmbientTemp .534.1.6.1.0 (the room, not the battery)
        alarms: None,                 // xupsAlarms .534.1.7.1.0 not in the walk
        replace_battery: None,
        status: "ok",
        summary: &["on mains power, battery 100 %, runtime 143 min"],
        notes: &[],
    },
    Ups {
        walk: "eatonups_eaton-connectups",
        protocol: "eaton",
        output_source: "online",      // .534.1.4.5.0 = 3
        battery_status: "unknown",    // no xupsAlarms .534.1.7.1.0
        charge: Some(1.0),            // .534.1.2.4.0 = 100
        runtime: Some(1948.0),        // .534.1.2.1.0 = 1948 s
        on_battery: ON_MAINS_SO_ZERO, // no such object in XUPS-MIB
        input: Some(234.0),           // .534.1.3.4.1.2.1 = 234
        output: Some(229.0),          // .534.1.4.4.1.2.1 = 229
        load: Some(0.35),             // .534.1.4.1.0 = 35 %
        temperature: None,            // ambient only (.534.1.6.1.0 = 25)
        alarms: None,
        replace_battery: None,
        status: "ok",
        // xupsIdentModel .534.1.1.2.0 = "PW9130 1000VA-R" padded with spaces.
        summary: &["PW9130 1000VA-R: on mains power, battery 100 %, runtime 32 min"],
        notes: &[],
    },
];

/// UPS-like walks that answer none of the UPS MIBs camwatch reads (RFC 1628 status objects, APC
/// PowerNet, Eaton XUPS), and why.
const NOT_A_UPS: &[(&str, &str)] = &[
    ("apc", "sysDescr and sysObjectID only"),
    (
        "linux_ups-nut",
        "a Linux host exporting NUT figures through NET-SNMP-EXTEND-MIB",
    ),
    (
        "linux_ups-apcups-v1",
        "a Linux host exporting apcupsd JSON through NET-SNMP-EXTEND-MIB",
    ),
    (
        "cyberpower",
        "CyberPower CPS-MIB (1.3.6.1.4.1.3808) plus only upsIdentManufacturer of UPS-MIB",
    ),
    (
        "cyberpower_cp1000pfclcd",
        "CyberPower CPS-MIB plus only upsIdentManufacturer of UPS-MIB",
    ),
];

/// The UPS walks the shared README lists; each must be in one of the tables above.
const README_UPS_WALKS: &[&str] = &[
    "deltaups_rfc1628string",
    "eaton-mgeups_9px",
    "eatonupsm2_9px",
    "huaweiups_ups2000",
    "netmanplus_204",
    "poweralert_ups",
    "linux_ups-nut",
    "linux_ups-apcups-v1",
    "apc_smart1500",
    "apc_smt750x-nmc2",
    "apc_smtl1000-nmc3",
    "apc_sua1500rmi2u",
    "apc_powerchute",
    "apc",
    "eatonups",
    "eatonups_eaton-connectups",
    "cyberpower",
    "cyberpower_cp1000pfclcd",
];

fn assert_ups(line: &Value, want: &Ups) {
    let w = want.walk;
    let v = &line["values"];
    assert_eq!(line["status"], want.status, "{w}: {line}");
    assert_eq!(v["protocol"], want.protocol, "{w}: {v}");
    assert_eq!(v["output_source"], want.output_source, "{w}: {v}");
    assert_eq!(v["battery_status"], want.battery_status, "{w}: {v}");
    assert_figure(v, "battery_charge_ratio", want.charge, w);
    assert_figure(v, "battery_runtime_seconds", want.runtime, w);
    assert_figure(v, "seconds_on_battery", want.on_battery, w);
    assert_figure(v, "input_voltage_volts", want.input, w);
    assert_figure(v, "output_voltage_volts", want.output, w);
    assert_figure(v, "load_ratio", want.load, w);
    assert_figure(v, "battery_temperature_celsius", want.temperature, w);
    assert_eq!(v["alarms"].as_u64(), want.alarms, "{w}: alarms in {v}");
    assert!(
        want.alarms.is_some() || v["alarms"].is_null(),
        "{w}: alarms must be absent: {v}"
    );
    assert_eq!(
        v["replace_battery"].as_bool(),
        want.replace_battery,
        "{w}: replace_battery in {v}"
    );
    let summary = line["summary"].as_str().unwrap();
    for fragment in want.summary {
        assert!(summary.contains(fragment), "{w}: {fragment:?} not in {summary:?}");
    }
    if want.output_source != "battery" {
        assert!(
            !summary.contains("on battery"),
            "{w}: a false \"on battery\": {summary}"
        );
    }
    let notes = notes(v);
    for fragment in want.notes {
        assert!(
            notes.iter().any(|n| n.contains(fragment)),
            "{w}: no note with {fragment:?} in {notes:?}"
        );
    }
    assert_eq!(notes.len(), want.notes.len(), "{w}: unexpected notes {notes:?}");
}

fn ups_devices<'a>(walks: impl Iterator<Item = &'a str>) -> Vec<Poll<'a>> {
    walks
        .map(|walk| Poll {
            walk,
            kind: "ups",
            checks: &["ups"],
        })
        .collect()
}

/// Whether a walk holds any object of a UPS MIB: UPS-MIB, APC PowerNet UPS, Eaton XUPS, CPS-MIB.
fn looks_like_a_ups(walk: &Path) -> bool {
    let text = std::fs::read(walk).unwrap();
    String::from_utf8_lossy(&text).lines().any(|l| {
        [
            "1.3.6.1.2.1.33.",
            "1.3.6.1.4.1.318.1.1.1.",
            "1.3.6.1.4.1.534.1.",
            "1.3.6.1.4.1.3808.1.1.1.",
        ]
        .iter()
        .any(|p| l.starts_with(p))
    })
}

#[test]
fn every_real_ups_walk_reads_as_the_walk_says() {
    let Some(dir) = shared_walks() else { return };
    // Every UPS walk there is must be covered: the README's list, and any walk holding UPS MIB
    // objects (a walk added later fails here until it gets its table row).
    let covered: BTreeSet<&str> = UPS_WALKS
        .iter()
        .map(|u| u.walk)
        .chain(NOT_A_UPS.iter().map(|(w, _)| *w))
        .collect();
    assert_eq!(covered.len(), UPS_WALKS.len() + NOT_A_UPS.len(), "a walk listed twice");
    for walk in README_UPS_WALKS {
        assert!(
            dir.join(format!("{walk}.snmprec")).is_file(),
            "{walk}.snmprec is missing from {}",
            dir.display()
        );
        assert!(covered.contains(walk), "{walk} has no expectations");
    }
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".snmprec"))
        else {
            continue;
        };
        if looks_like_a_ups(&path) {
            assert!(covered.contains(stem), "UPS walk {stem} has no expectations");
        }
    }

    let sim = Snmpsim::start(&dir);
    let devices = ups_devices(covered.iter().copied());
    let lines = once(&sim, &devices);
    for want in UPS_WALKS {
        assert_ups(result(&lines, want.walk, "ups"), want);
    }
    for (walk, why) in NOT_A_UPS {
        let line = result(&lines, walk, "ups");
        assert_eq!(line["status"], "unknown", "{walk} ({why}): {line}");
        let summary = line["summary"].as_str().unwrap();
        assert!(
            summary.starts_with("not supported by this device: the SNMP agent answers, but not as a UPS"),
            "{walk} ({why}): {summary}"
        );
        assert_eq!(line["values"]["error"], "unsupported", "{walk}: {line}");
    }
}

/// `probe` shows what went over the wire: the OIDs asked and the raw values answered.
#[test]
fn probe_of_a_real_ups_lists_the_raw_exchange() {
    let Some(dir) = shared_walks() else { return };
    let sim = Snmpsim::start(&dir);
    let devices = ups_devices(["apc_powerchute"].into_iter());
    let (code, lines) = camwatch_json(&sim, &devices, &["probe", "apc_powerchute", "--json"]);
    assert_eq!(code, Some(0), "{lines:#?}");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let exchange: Vec<&str> = lines[0]["exchange"]
        .as_array()
        .unwrap_or_else(|| panic!("no exchange in {}", lines[0]))
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    // UPS-MIB is asked first and is not there; then PowerNet answers with the walk's values.
    for wanted in [
        "  1.3.6.1.2.1.33.1.4.1.0 = noSuchInstance",
        "  1.3.6.1.4.1.318.1.1.1.1.1.1.0 = STRING \"Smart-UPS 1000\"",
        "  1.3.6.1.4.1.318.1.1.1.2.2.1.0 = UNSIGNED 100",
        "  1.3.6.1.4.1.318.1.1.1.2.2.3.0 = TIMETICKS 756000",
        "  1.3.6.1.4.1.318.1.1.1.4.1.1.0 = INTEGER 2",
        "  1.3.6.1.4.1.318.1.1.1.4.2.3.0 = UNSIGNED 31",
    ] {
        assert!(exchange.contains(&wanted), "{wanted:?} not in {exchange:#?}");
    }
    assert!(
        exchange
            .iter()
            .any(|l| l.starts_with("GET ") && l.contains("1.3.6.1.4.1.318.1.1.1.2.2.3.0")),
        "{exchange:#?}"
    );
    assert_eq!(lines[0]["values"]["battery_runtime_seconds"], 7560.0);
}

// ------------------------------------------------------------------------------------------
// Recorders and uptime
// ------------------------------------------------------------------------------------------

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// sysUpTime is static in snmpsim: the boot time must be the poll's time minus that uptime.
fn assert_uptime(line: &Value, ticks: u64, before: f64, after: f64) {
    assert_eq!(line["status"], "ok", "{line}");
    let v = &line["values"];
    let uptime = ticks as f64 / 100.0;
    assert_figure(v, "uptime_seconds", Some(uptime), "uptime");
    assert_eq!(v["counter"], "agent", "sysUpTime is the agent's counter: {v}");
    assert_eq!(v["rebooted"], false);
    let boot = v["boot_time_seconds"].as_f64().unwrap();
    assert!(
        boot >= before - uptime - 1.0 && boot <= after - uptime + 1.0,
        "boot time {boot} is not the poll time ({before}..{after}) minus {uptime} s"
    );
}

#[test]
fn real_recorders_report_uptime_and_drives_or_say_why_not() {
    let Some(dir) = shared_walks() else { return };
    let sim = Snmpsim::start(&dir);
    let checks: &[&str] = &["uptime", "recorder_disks"];
    let devices: Vec<Poll<'_>> = ["hikvision-nvr", "hikvision-nvr_1", "dahua-nvr"]
        .into_iter()
        .map(|walk| Poll {
            walk,
            kind: "recorder",
            checks,
        })
        .collect();
    let before = unix_now();
    let lines = once(&sim, &devices);
    let after = unix_now();

    // hikvision-nvr: sysUpTime 1.3.6.1.2.1.1.3.0 = 85447143 ticks.
    assert_uptime(result(&lines, "hikvision-nvr", "uptime"), 85_447_143, before, after);
    // hikDiskTable 1.3.6.1.4.1.50001.1.241.1 has one row with the two-part index "1.0": free
    // space (column 4) 2715648 MB and capacity (column 5) 3815447 MB, in MiB ("100 means 100M";
    // a 4 TB drive holds 3815447.8 MiB). Status (column 3) is not in the walk.
    let disks = result(&lines, "hikvision-nvr", "recorder_disks");
    assert_eq!(disks["status"], "warning", "{disks}");
    let v = &disks["values"];
    assert_eq!(v["vendor"], "hikvision");
    let list = v["disks"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    let disk = &list[0];
    assert_eq!(disk["id"], "1.0", "{disk}");
    assert_eq!(disk["state"], "unknown", "{disk}");
    assert!(
        disk["name"].is_null(),
        "hikDiskVolume (column 2) is not in the walk: {disk}"
    );
    assert_figure(disk, "capacity_bytes", Some(3_815_447.0 * MIB), "hikvision-nvr");
    assert_figure(disk, "free_bytes", Some(2_715_648.0 * MIB), "hikvision-nvr");
    assert!(
        notes(v)
            .iter()
            .any(|n| n == "disk 1.0: the recorder does not report its status"),
        "{v}"
    );
    assert!(
        disks["summary"]
            .as_str()
            .unwrap()
            .contains("disk 1.0 is in a state camwatch does not know"),
        "{disks}"
    );

    // hikvision-nvr_1: three objects only, neither sysUpTime nor a disk table.
    let uptime = result(&lines, "hikvision-nvr_1", "uptime");
    assert_eq!(uptime["status"], "unknown", "{uptime}");
    assert_eq!(
        uptime["summary"],
        "not supported by this device: neither sysUpTime nor hrSystemUptime, so its uptime is unknown"
    );
    for walk in ["hikvision-nvr_1", "dahua-nvr"] {
        let disks = result(&lines, walk, "recorder_disks");
        assert_eq!(disks["status"], "unknown", "{walk}: {disks}");
        assert_eq!(
            disks["summary"],
            "not supported by this device: no Hikvision hikDiskTable or Dahua \
             physicalVolumeInfoTable, so its drives cannot be checked",
            "{walk}"
        );
    }
    // dahua-nvr: sysUpTime = 24641813 ticks; its walk holds no physicalVolumeInfoTable
    // (1.3.6.1.4.1.1004849.2.4.1.1), only the device identity under 1004849.2.1.
    assert_uptime(result(&lines, "dahua-nvr", "uptime"), 24_641_813, before, after);
}

// ------------------------------------------------------------------------------------------
// NAS and storage hosts (HOST-RESOURCES-MIB)
// ------------------------------------------------------------------------------------------

/// A fixed-disk or network-disk row of hrStorageTable (1.3.6.1.2.1.25.2.3.1): hrStorageDescr
/// (column 3), hrStorageAllocationUnits (4, bytes), hrStorageSize (5) and hrStorageUsed (6), both
/// in allocation units.
struct Row {
    index: u32,
    name: &'static str,
    unit: u64,
    size: u64,
    used: u64,
}

const fn row(index: u32, name: &'static str, unit: u64, size: u64, used: u64) -> Row {
    Row {
        index,
        name,
        unit,
        size,
        used,
    }
}

/// Per walk: the rows that must be reported, and the descriptions of rows that must not be
/// (RAM, virtual memory, "other" memory, and disk-typed pseudo mounts under /dev, /run, /sys).
const STORAGE_WALKS: &[(&str, &[Row], &[&str])] = &[
    (
        "dsm_ds214se-dsm7",
        &[
            row(31, "/", 4096, 612_766, 269_359),
            row(42, "/tmp", 4096, 31_063, 141),
            row(45, "/volume1", 4096, 1_450_978_620, 34_511_122),
        ],
        &[
            "Physical memory", // row 1, hrStorageRam
            "Virtual memory",  // row 3, hrStorageVirtualMemory
            "Memory buffers",  // row 6, hrStorageOther
            "Cached memory",   // row 7
            "Shared memory",   // row 8
            "Swap space",      // row 10, hrStorageVirtualMemory
            "/dev/shm",        // row 36, hrStorageFixedDisk but a pseudo mount
            "/run",            // row 38
            "/sys/fs/cgroup",  // row 39
        ],
    ),
    (
        "qnap",
        &[
            row(31, "/mnt/HDA_ROOT", 4096, 126_325, 30_999),
            row(33, "/share/CACHEDEV1_DATA", 16_384, 1_430_382_622, 1_004_424_133),
            row(34, "/share/CACHEDEV2_DATA", 16_384, 1_790_302_775, 1_079_398_137),
            row(35, "/share/CACHEDEV3_DATA", 32_768, 1_195_594_638, 1_060_565_037),
            row(36, "/mnt/ext", 4096, 90_876, 84_621),
        ],
        &[
            "Physical memory",
            "Virtual memory",
            "Swap space",
            "/sys/fs/cgroup/memory", // row 32: fixed disk typed, pseudo mount, size 0
        ],
    ),
    (
        "truenas_11-3",
        &[
            row(31, "/", 512, 100_555_936, 2_089_067),
            row(33, "/etc", 4096, 4_194_240, 2361),
            row(34, "/mnt", 4096, 524_288, 2),
            row(35, "/var", 4096, 132_271_424, 8510),
            row(37, "/var/db/system", 512, 98_466_917, 48),
            row(38, "/var/db/system/cores", 512, 98_466_915, 46),
            row(39, "/var/db/system/samba4", 512, 98_466_921, 52),
            row(
                40,
                "/var/db/system/syslog-ee21f3733ab34d689aed5079e9ac663b",
                512,
                98_466_980,
                111,
            ),
            row(
                41,
                "/var/db/system/rrd-ee21f3733ab34d689aed5079e9ac663b",
                512,
                98_468_507,
                1638,
            ),
            row(
                42,
                "/var/db/system/configs-ee21f3733ab34d689aed5079e9ac663b",
                512,
                98_466_915,
                46,
            ),
            row(43, "/var/db/system/webui", 512, 98_466_915, 46),
        ],
        &[
            "Physical memory",
            "Real memory",
            "Virtual memory",
            "Shared virtual memory",
            "Swap space",
            "/dev",    // row 32, fixed disk typed devfs
            "/dev/fd", // row 36, hrStorageNetworkDisk typed fdescfs
        ],
    ),
];

/// Storage walks without any hrStorageTable row.
const NO_STORAGE_TABLE: &[&str] = &["dsm_ds916", "linux"];

fn assert_volumes(walk: &str, line: &Value, rows: &[Row], left_out: &[&str]) {
    let volumes = line["values"]["volumes"]
        .as_array()
        .unwrap_or_else(|| panic!("{walk}: no volumes in {line}"));
    let names: Vec<&str> = volumes.iter().map(|v| v["name"].as_str().unwrap()).collect();
    let wanted: Vec<&str> = rows.iter().map(|r| r.name).collect();
    assert_eq!(names, wanted, "{walk}: volumes (table order)");
    for (volume, row) in volumes.iter().zip(rows) {
        let what = format!("{walk} hrStorage row {}", row.index);
        assert_figure(volume, "size_bytes", Some((row.size * row.unit) as f64), &what);
        assert_figure(volume, "used_bytes", Some((row.used * row.unit) as f64), &what);
    }
    for name in left_out {
        assert!(!names.contains(name), "{walk}: {name} must be left out");
    }
}

#[test]
fn real_nas_walks_report_their_disk_volumes_in_bytes() {
    let Some(dir) = shared_walks() else { return };
    let sim = Snmpsim::start(&dir);
    let devices: Vec<Poll<'_>> = STORAGE_WALKS
        .iter()
        .map(|(walk, _, _)| *walk)
        .chain(NO_STORAGE_TABLE.iter().copied())
        .map(|walk| Poll {
            walk,
            kind: "storage",
            checks: &["storage"],
        })
        .collect();
    let lines = once(&sim, &devices);
    for (walk, rows, left_out) in STORAGE_WALKS {
        assert_volumes(walk, result(&lines, walk, "storage"), rows, left_out);
    }
    // Only CACHEDEV3 (1 - 1060565037/1195594638 = 11.3 % free) and /mnt/ext (6.9 % free) are
    // under the default 15 % warning level.
    let qnap = result(&lines, "qnap", "storage");
    assert_eq!(qnap["status"], "warning", "{qnap}");
    assert!(
        qnap["summary"]
            .as_str()
            .unwrap()
            .starts_with("/share/CACHEDEV3_DATA is filling up: 11.3 % free"),
        "{qnap}"
    );
    for walk in ["dsm_ds214se-dsm7", "truenas_11-3"] {
        assert_eq!(result(&lines, walk, "storage")["status"], "ok", "{walk}");
    }
    // The Synology's disk devices (hrDeviceType 1.3.6.1.2.1.25.3.1.6 diskStorage, rows 393248,
    // 393249, 393296) have no hrDeviceStatus (column 5) in the walk: unknown, not "down", and
    // not counted as running either.
    let summary = result(&lines, "dsm_ds214se-dsm7", "storage")["summary"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        summary.ends_with(" with enough space, 3 disks of unknown status"),
        "{summary}"
    );
    let dsm = &result(&lines, "dsm_ds214se-dsm7", "storage")["values"]["disks"];
    assert_eq!(
        dsm,
        &serde_json::json!([
            {"name": "RAID disk (/dev/md0)", "status": "unknown"},
            {"name": "RAID disk (/dev/md1)", "status": "unknown"},
            {"name": "LVM volume (vg1-syno_vg_reserved_area)", "status": "unknown"},
        ])
    );
    for walk in NO_STORAGE_TABLE {
        let line = result(&lines, walk, "storage");
        assert_eq!(line["status"], "unknown", "{walk}: {line}");
        assert_eq!(
            line["summary"], "not supported by this device: no HOST-RESOURCES-MIB storage table (hrStorageTable)",
            "{walk}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// The project's own walks of agents that lie (always run)
// ------------------------------------------------------------------------------------------

/// The lying UPS agents of tests/data/snmprec, each with what a careful reader makes of it.
const LYING_UPS: &[Ups] = &[
    Ups {
        walk: "ups-unknowns",
        protocol: "rfc1628",
        output_source: "online",  // upsOutputSource 1.3.6.1.2.1.33.1.4.1.0 = 3 normal
        battery_status: "normal", // upsBatteryStatus .33.1.2.1.0 = 2
        charge: None,             // .33.1.2.4.0 = -1
        runtime: None,            // .33.1.2.3.0 = -1
        // .33.1.2.2.0 = -1 is left out, but the output is on mains: 0 s on battery.
        on_battery: ON_MAINS_SO_ZERO,
        input: None,                  // .33.1.3.3.1.3.1 = -1
        output: None,                 // .33.1.4.4.1.2.1 = -1
        load: None,                   // .33.1.4.4.1.5.1 = -1
        temperature: None,            // .33.1.2.7.0 = -1
        alarms: Some(0),              // upsAlarmsPresent .33.1.6.1.0 = 0
        replace_battery: Some(false), // no alarm at all, so no upsAlarmBatteryBad either
        status: "ok",
        summary: &["on mains power"],
        notes: &[
            "seconds on battery: the agent reports -1 (unknown); left out",
            "estimated runtime: the agent reports -1 (unknown); left out",
            "battery charge: the agent reports -1 (unknown); left out",
            "battery temperature: the agent reports -1 (unknown); left out",
            "output load: the agent reports -1 (unknown); left out",
            "input voltage: the agent reports -1 (unknown); left out",
            "output voltage: the agent reports -1 (unknown); left out",
        ],
    },
    Ups {
        walk: "ups-wrong-types",
        protocol: "rfc1628",
        output_source: "online",    // .33.1.4.1.0 = Gauge32 3
        battery_status: "normal",   // .33.1.2.1.0 = Gauge32 2
        charge: Some(0.87),         // .33.1.2.4.0 = OCTET STRING " 87\0 "
        runtime: Some(45.0 * 60.0), // .33.1.2.3.0 = TimeTicks 45: still minutes, as the MIB says
        on_battery: Some(0.0),      // .33.1.2.2.0 = TimeTicks 0
        input: Some(231.0),         // .33.1.3.3.1.3.1 = Gauge32 231
        output: Some(230.0),        // .33.1.4.4.1.2.1 = Gauge32 230
        load: Some(0.19),           // .33.1.4.4.1.5.1 = TimeTicks 19 (%)
        temperature: Some(24.0),    // .33.1.2.7.0 = Gauge32 24
        alarms: Some(1),            // .33.1.6.1.0 = Gauge32 1
        // upsAlarmDescr.1 .33.1.6.2.1.2.1 = upsAlarmBatteryBad 1.3.6.1.2.1.33.1.6.3.1
        replace_battery: Some(true),
        status: "warning",
        // upsIdentModel .33.1.1.2.0 = "Liar 3000   \0\0"; the empty manufacturer is ignored.
        summary: &["Liar 3000: the UPS asks for its battery to be replaced; 1 alarm present"],
        notes: &[],
    },
    Ups {
        walk: "ups-no-source",
        protocol: "rfc1628",
        output_source: "unknown",   // upsOutputSource .33.1.4.1.0 is missing
        battery_status: "normal",   // .33.1.2.1.0 = 2 (enough to be a UPS-MIB agent)
        charge: Some(1.0),          // .33.1.2.4.0 = 100
        runtime: Some(52.0 * 60.0), // .33.1.2.3.0 = 52 min
        on_battery: None,           // neither reported nor knowable without an output source
        input: Some(230.1),         // upsInputVoltage.7 .33.1.3.3.1.3.7 = 2301 tenths (row 7, no row 1)
        output: Some(229.8),        // upsOutputVoltage.7 .33.1.4.4.1.2.7 = 2298 tenths
        load: Some(0.42),           // upsOutputPercentLoad.7 .33.1.4.4.1.5.7 = 42
        temperature: None,          // .33.1.2.7.0 = noSuchObject
        alarms: None,
        replace_battery: None,
        status: "unknown",
        summary: &["the UPS does not say where its output power comes from"],
        notes: &[
            "input voltage: 2301 read as tenths of a volt (230.1 V)",
            "output voltage: 2298 read as tenths of a volt (229.8 V)",
        ],
    },
    Ups {
        walk: "ups-on-battery",
        protocol: "rfc1628",
        output_source: "battery",   // .33.1.4.1.0 = 5 battery
        battery_status: "normal",   // .33.1.2.1.0 = 2
        charge: Some(0.81),         // .33.1.2.4.0 = 81
        runtime: Some(30.0 * 60.0), // .33.1.2.3.0 = 30 min
        on_battery: Some(95.0),     // .33.1.2.2.0 = 95 s
        input: Some(0.0),           // .33.1.3.3.1.3.1 = 0: the mains are gone, a true zero
        output: Some(229.0),        // .33.1.4.4.1.2.1 = 229
        load: Some(0.40),           // .33.1.4.4.1.5.1 = 40
        temperature: None,          // not in the walk
        alarms: None,
        replace_battery: None,
        status: "warning",
        summary: &["on battery for 1m 35s (mains power lost)"],
        notes: &[],
    },
    Ups {
        walk: "apc-lying",
        protocol: "apc",
        output_source: "online",  // upsBasicOutputStatus 1.3.6.1.4.1.318.1.1.1.4.1.1.0 = 2
        battery_status: "normal", // upsBasicBatteryStatus .2.1.1.0 = 2 batteryNormal
        // upsHighPrecBatteryCapacity .2.3.1.0 = Gauge32 4294967295 (-1 stored unsigned): not
        // believed; upsAdvBatteryCapacity .2.2.1.0 = 97 % is used instead.
        charge: Some(0.97),
        runtime: Some(2700.0), // upsAdvBatteryRunTimeRemaining .2.2.3.0 = INTEGER 270000 (still 1/100 s)
        on_battery: Some(0.0), // upsBasicBatteryTimeOnBattery .2.1.2.0 = INTEGER 0
        input: None,           // no input voltage object in the walk
        output: Some(230.1),   // upsHighPrecOutputVoltage .4.3.1.0 = 2301 tenths
        load: Some(0.254),     // upsHighPrecOutputLoad .4.3.3.0 = 254 tenths of %
        temperature: None,
        alarms: None,
        replace_battery: Some(true), // upsAdvBatteryReplaceIndicator .2.2.4.0 = 2 batteryNeedsReplacing
        status: "warning",
        // upsBasicIdentModel .1.1.1.0 = "Smart-UPS 750   " (padded).
        summary: &["Smart-UPS 750: the UPS asks for its battery to be replaced"],
        notes: &["battery charge: the agent reports 4294967295 (unknown); left out"],
    },
    Ups {
        walk: "ups-runtime-zero",
        protocol: "rfc1628",
        output_source: "online",  // upsOutputSource .33.1.4.1.0 = 3 normal
        battery_status: "normal", // upsBatteryStatus .33.1.2.1.0 = 2 batteryNormal
        charge: Some(1.0),        // .33.1.2.4.0 = 100
        // upsEstimatedMinutesRemaining .33.1.2.3.0 = INTEGER 0 beside batteryNormal: not
        // estimated (batteryNormal is a runtime above the low-battery time), not 0 min.
        runtime: None,
        on_battery: Some(0.0), // .33.1.2.2.0 = 0
        input: None,
        output: None,
        load: None,
        temperature: None,
        alarms: Some(0), // .33.1.6.1.0 = 0
        replace_battery: Some(false),
        status: "ok",
        summary: &["on mains power, battery 100 %"],
        notes: &["estimated runtime: 0 min beside batteryNormal"],
    },
    Ups {
        walk: "ups-runtime-zero-ticks",
        protocol: "rfc1628",
        output_source: "online",
        battery_status: "normal",
        charge: Some(1.0),
        runtime: None, // .33.1.2.3.0 = TimeTicks 0 beside batteryNormal: not estimated
        on_battery: ON_MAINS_SO_ZERO,
        input: None,
        output: None,
        load: None,
        temperature: None,
        alarms: Some(0),
        replace_battery: Some(false),
        status: "ok",
        summary: &["on mains power, battery 100 %"],
        notes: &["estimated runtime: 0 min beside batteryNormal"],
    },
    Ups {
        walk: "eaton-ffff",
        protocol: "eaton",
        output_source: "online",  // xupsOutputSource 1.3.6.1.4.1.534.1.4.5.0 = 3 normal
        battery_status: "normal", // xupsAlarms .534.1.7.1.0 = 0
        charge: Some(1.0),        // xupsBatCapacity .534.1.2.4.0 = 100
        // xupsBatTimeRemaining .534.1.2.1.0 = 65535 (0xFFFF, unknown): UPS-MIB's
        // upsEstimatedMinutesRemaining 1.3.6.1.2.1.33.1.2.3.0 = 42 min stands in.
        runtime: Some(42.0 * 60.0),
        on_battery: ON_MAINS_SO_ZERO,
        input: None,
        output: None,
        load: Some(0.23), // xupsOutputLoad .534.1.4.1.0 = 23
        temperature: None,
        alarms: Some(0),
        replace_battery: None,
        status: "ok",
        summary: &["9PX 1500: on mains power, battery 100 %, runtime 42 min"],
        notes: &[
            "estimated runtime: the agent reports 65535 (0xFFFF, unknown); left out",
            "estimated runtime: from UPS-MIB upsEstimatedMinutesRemaining",
        ],
    },
    Ups {
        walk: "eaton-ffff-alone",
        protocol: "eaton",
        output_source: "online",
        battery_status: "normal",
        charge: Some(0.95),
        runtime: None, // xupsBatTimeRemaining = 65535 and no UPS-MIB: unknown, not 18 h
        on_battery: ON_MAINS_SO_ZERO,
        input: None,
        output: None,
        load: None,
        temperature: None,
        alarms: Some(0),
        replace_battery: None,
        status: "ok",
        summary: &["on mains power, battery 95 %"],
        notes: &["estimated runtime: the agent reports 65535 (0xFFFF, unknown); left out"],
    },
];

#[test]
fn lying_agents_give_a_right_figure_an_explained_gap_or_a_clear_error() {
    let sim = Snmpsim::start(&own_walks());
    let mut devices = ups_devices(LYING_UPS.iter().map(|u| u.walk));
    devices.push(Poll {
        walk: "storage-lying",
        kind: "storage",
        checks: &["storage"],
    });
    for walk in ["hik-disks", "dahua-disks"] {
        devices.push(Poll {
            walk,
            kind: "recorder",
            checks: &["uptime", "recorder_disks"],
        });
    }
    let before = unix_now();
    let lines = once(&sim, &devices);
    let after = unix_now();
    for want in LYING_UPS {
        assert_ups(result(&lines, want.walk, "ups"), want);
    }

    // storage-lying: hrStorageTable rows 7..13.
    let storage = result(&lines, "storage-lying", "storage");
    assert_volumes(
        "storage-lying",
        storage,
        &[
            // Row 9: hrStorageSize -1294967296 and hrStorageUsed -1794967296 are Integer32
            // overflows of 3000000000 and 2500000000 units of 4096 bytes (12.3 TB); the
            // description "/footage  \0" is padded.
            row(9, "/footage", 4096, 3_000_000_000, 2_500_000_000),
            // Row 10: hrStorageNetworkDisk.
            row(10, "/mnt/archive", 65_536, 1_000_000, 250_000),
            // Row 12: empty hrStorageDescr, named by its index.
            row(12, "storage 12", 512, 2048, 1024),
        ],
        // Rows 7 (RAM), 8 (virtual memory), 11 (no allocation unit), 13 (/run/lock, pseudo).
        &["Physical memory", "Virtual memory", "/srv/nounit", "/run/lock"],
    );
    let v = &storage["values"];
    assert_eq!(v["volumes"][1]["kind"], "network_disk");
    let storage_notes = notes(v);
    assert_eq!(
        storage_notes
            .iter()
            .filter(|n| *n == "/footage: the agent's 32-bit counter overflowed; read as unsigned")
            .count(),
        2,
        "{storage_notes:?}"
    );
    assert!(
        storage_notes.contains(&"/srv/nounit: size, used space or allocation unit missing; left out".to_owned()),
        "{storage_notes:?}"
    );
    // hrDeviceStatus (1.3.6.1.2.1.25.3.2.1.5) of the two diskStorage devices: 2 running, 5 down.
    assert_eq!(
        v["disks"],
        serde_json::json!([
            {"name": "SCSI disk (/dev/sda)", "status": "running"},
            {"name": "SCSI disk (/dev/sdb)", "status": "down"},
        ])
    );
    assert_eq!(storage["status"], "failed", "{storage}");
    assert_eq!(storage["summary"], "disk SCSI disk (/dev/sdb) is down");

    // hik-disks: sysUpTime = 8640000 ticks (one day); hikDiskTable rows 1..4 with hikDiskVolume
    // (column 2), hikDiskStatus (3), free MB (4), capacity MB (5).
    assert_uptime(result(&lines, "hik-disks", "uptime"), 8_640_000, before, after);
    let hik = result(&lines, "hik-disks", "recorder_disks");
    let expected = [
        // (id, name, state, capacity MiB, free MiB)
        ("1", Some("hd1"), "normal", 3_815_447.0, 0.0), // status 0 normal; full is normal
        ("2", Some("hd2"), "smart_failed", 1_907_729.0, 1000.0), // status 3 smartfailed
        ("3", None, "empty", 0.0, 0.0),                 // status 6 notOnline with capacity 0
        ("4", Some("hd4"), "idle", 953_869.0, 500_000.0), // status 5 idle
    ];
    let disks = hik["values"]["disks"].as_array().unwrap();
    assert_eq!(disks.len(), expected.len(), "{hik}");
    for (disk, (id, name, state, capacity, free)) in disks.iter().zip(expected) {
        assert_eq!(disk["id"], id, "{disk}");
        assert_eq!(disk["name"].as_str(), name, "{disk}");
        assert_eq!(disk["state"], state, "{disk}");
        assert_figure(disk, "capacity_bytes", Some(capacity * MIB), "hik-disks");
        assert_figure(disk, "free_bytes", Some(free * MIB), "hik-disks");
    }
    assert_eq!(hik["status"], "failed", "{hik}");
    assert_eq!(hik["summary"], "disk 2 (hd2) failed its SMART self-check");

    // dahua-disks: sysUpTime sent as INTEGER 12345600 (still hundredths of a second).
    assert_uptime(result(&lines, "dahua-disks", "uptime"), 12_345_600, before, after);
    // physicalVolumeInfoTable 1.3.6.1.4.1.1004849.2.4.1.1: name (column 4), status text (5),
    // usage % (6), total GB (7; binary GB, as the recorder's own pages show a 4 TB drive as
    // 3726 GB).
    let dahua = result(&lines, "dahua-disks", "recorder_disks");
    let disks = dahua["values"]["disks"].as_array().unwrap();
    assert_eq!(disks.len(), 2, "{dahua}");
    assert_eq!(disks[0]["name"], "HDD1");
    assert_eq!(disks[0]["state"], "normal"); // "Running"
    assert_eq!(disks[0]["reported"], "Running");
    assert_figure(&disks[0], "capacity_bytes", Some(3726.0 * GIB), "dahua-disks");
    // 37 % used: 63 % of 3726 GiB free (whole bytes).
    assert_figure(
        &disks[0],
        "free_bytes",
        Some((3726.0 * GIB * 0.63).floor()),
        "dahua-disks",
    );
    assert_eq!(disks[1]["name"], "HDD2");
    assert_eq!(disks[1]["state"], "abnormal"); // " Error " (padded)
    assert_eq!(disks[1]["reported"], "Error");
    // Total " 931.5 " as a padded string; 0 % used.
    assert_figure(&disks[1], "capacity_bytes", Some(931.5 * GIB), "dahua-disks");
    assert_figure(&disks[1], "free_bytes", Some(931.5 * GIB), "dahua-disks");
    assert_eq!(dahua["status"], "failed", "{dahua}");
    assert_eq!(dahua["summary"], "disk 2 (HDD2) is abnormal");
}

/// A walk that lacks every UPS object, and a walk asked for what it does not have, are unknown
/// with the reason, never failed: the recorder walk has no UPS MIB, the UPS walk no disk table
/// and no storage table.
#[test]
fn walks_asked_for_what_they_do_not_have_are_unknown_with_the_reason() {
    let sim = Snmpsim::start(&own_walks());
    let devices = [
        Poll {
            walk: "hik-disks",
            kind: "ups",
            checks: &["ups"],
        },
        Poll {
            walk: "ups-on-battery",
            kind: "recorder",
            checks: &["recorder_disks", "storage", "uptime"],
        },
    ];
    let lines = once(&sim, &devices);
    let ups = result(&lines, "hik-disks", "ups");
    assert_eq!(ups["status"], "unknown", "{ups}");
    assert_eq!(
        ups["summary"],
        "not supported by this device: the SNMP agent answers, but not as a UPS (UPS-MIB (RFC 1628), \
         APC PowerNet-MIB, Eaton XUPS-MIB not found)"
    );
    for (check, summary) in [
        (
            "recorder_disks",
            "not supported by this device: no Hikvision hikDiskTable or Dahua \
             physicalVolumeInfoTable, so its drives cannot be checked",
        ),
        (
            "storage",
            "not supported by this device: no HOST-RESOURCES-MIB storage table (hrStorageTable)",
        ),
        (
            "uptime",
            "not supported by this device: neither sysUpTime nor hrSystemUptime, so its uptime is unknown",
        ),
    ] {
        let line = result(&lines, "ups-on-battery", check);
        assert_eq!(line["status"], "unknown", "{line}");
        assert_eq!(line["values"]["error"], "unsupported", "{line}");
        assert_eq!(line["summary"], summary);
    }
}

/// Storage rows named by device (`/dev/hd4`, as AIX names them) take their mount point from
/// hrFSTable (hrFSStorageIndex), so a 96 %-full `/var` is seen; a row whose hrStorageSize wrapped
/// past 2^32 units (used > size) is left out with a note, never called full.
#[test]
fn volumes_are_named_through_hr_fs_table_and_a_wrapped_size_is_not_a_full_disk() {
    let sim = Snmpsim::start(&own_walks());
    let devices: Vec<Poll<'_>> = ["storage-dev-paths", "storage-wrapped"]
        .into_iter()
        .map(|walk| Poll {
            walk,
            kind: "storage",
            checks: &["storage"],
        })
        .collect();
    let lines = once(&sim, &devices);

    let aix = result(&lines, "storage-dev-paths", "storage");
    // hrFSTable rows 11-13: hrFSStorageIndex 1, 2, 3 -> /, /usr, /var; row 14 maps row 4 to
    // /proc (a pseudo mount); storage row 5 (/dev/hd3) has no hrFSTable row and stays a device.
    assert_volumes(
        "storage-dev-paths",
        aix,
        &[
            row(1, "/", 4096, 1_000_000, 100_000),
            row(2, "/usr", 4096, 2_000_000, 1_000_000),
            row(3, "/var", 4096, 1_000_000, 960_000),
        ],
        &["/proc", "/dev/hd3", "/dev/hd4"],
    );
    assert_eq!(aix["status"], "failed", "{aix}");
    assert!(
        aix["summary"]
            .as_str()
            .unwrap()
            .starts_with("/var is nearly full: 4.0 % free"),
        "{aix}"
    );

    let wrapped = result(&lines, "storage-wrapped", "storage");
    // Row 1: hrStorageSize 1073741824 units, hrStorageUsed 3000000000 (sent as -1294967296).
    assert_volumes(
        "storage-wrapped",
        wrapped,
        &[row(2, "/", 4096, 1_000_000, 100_000)],
        &["/footage"],
    );
    assert_eq!(wrapped["status"], "ok", "{wrapped}");
    let notes = notes(&wrapped["values"]);
    assert!(
        notes.iter().any(|n| n
            == "/footage: 3000000000 units used of 1073741824: the agent's hrStorageSize wrapped \
                past 2^32 units; left out"),
        "{notes:?}"
    );
}

/// A Hikvision recorder with the default checks of its kind (uptime, storage, recorder_disks):
/// it has no HOST-RESOURCES-MIB, so the storage check is unknown "not supported by this device",
/// not failed (no failure exit, no incident), `probe` says the check cannot be served and
/// `check-config` warns of it before the first poll.
#[test]
fn the_default_storage_check_of_a_hikvision_recorder_is_not_supported_not_failed() {
    let sim = Snmpsim::start(&own_walks());
    let dir = temp_dir();
    let path = dir.path().join("camwatch.toml");
    write(
        &path,
        &format!(
            "[[device]]\nname = \"nvr\"\nkind = \"recorder\"\naddress = \"127.0.0.1\"\nping = \"off\"\n\
             [device.snmp]\nport = {}\nrecorder_vendor = \"hikvision\"\n\
             [device.snmp.credentials]\nversion = \"2c\"\ncommunity_env = \"CW_TEST_COMMUNITY\"\n",
            sim.port
        ),
    );
    let run = |args: &[&str]| {
        camwatch()
            .args(args)
            .arg("-c")
            .arg(&path)
            .env("CW_TEST_COMMUNITY", "hik-nvr-defaults")
            .output()
            .expect("camwatch runs")
    };
    let out = run(&["once", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "no check failed: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let lines: Vec<Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let storage = result(&lines, "nvr", "storage");
    assert_eq!(storage["status"], "unknown", "{storage}");
    assert_eq!(
        storage["summary"],
        "not supported by this device: no HOST-RESOURCES-MIB storage table (hrStorageTable)"
    );
    assert_eq!(storage["values"]["error"], "unsupported", "{storage}");
    assert_eq!(result(&lines, "nvr", "recorder_disks")["status"], "ok");
    assert_eq!(result(&lines, "nvr", "uptime")["status"], "ok");

    let out = run(&["probe", "nvr"]);
    let text = stdout(&out);
    assert!(
        text.contains(
            "nvr: the storage check cannot be served by this device (not supported by this device: \
             no HOST-RESOURCES-MIB storage table (hrStorageTable))"
        ),
        "{text}"
    );
    assert!(!text.contains("the uptime check cannot be served"), "{text}");

    let out = run(&["check-config"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let warnings = stderr(&out);
    assert!(
        warnings.contains(
            "device \"nvr\": the storage check cannot be served: Hikvision recorders have no \
                           HOST-RESOURCES-MIB storage table (hrStorageTable)"
        ),
        "{warnings}"
    );
}

/// noSuchObject (snmprec tag 128) reaches camwatch as such and is shown raw by `probe`.
#[test]
fn probe_shows_no_such_object_from_a_lying_agent() {
    let sim = Snmpsim::start(&own_walks());
    let devices = ups_devices(["ups-no-source"].into_iter());
    let (code, lines) = camwatch_json(&sim, &devices, &["probe", "ups-no-source", "--json"]);
    assert_eq!(code, Some(0), "status unknown is not a failure: {lines:#?}");
    let exchange = lines[0]["exchange"].as_array().unwrap();
    for wanted in [
        "  1.3.6.1.2.1.33.1.2.7.0 = noSuchObject",
        "  1.3.6.1.2.1.33.1.4.1.0 = noSuchInstance",
        "  1.3.6.1.2.1.33.1.3.3.1.3.7 = INTEGER 2301",
    ] {
        assert!(exchange.iter().any(|l| l == wanted), "{wanted:?} not in {exchange:#?}");
    }
}

#[test]
fn shared_walk_tests_skip_with_a_message_when_the_folder_is_absent() {
    let absent = Path::new(env!("CARGO_MANIFEST_DIR")).join("../no-such-shared/testdata/snmprec");
    assert_eq!(shared_walks_at(&absent), None);
    // And the real folder is found where it is present (here and in CI), so the tests above ran.
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/snmprec");
    if real.is_dir() {
        assert_eq!(shared_walks_at(&real), Some(real));
    }
}
