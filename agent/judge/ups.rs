//! UPS rules: the room must stay powered through an outage. On battery is a warning at once and
//! a failure after the policy's time; a low battery, a short runtime or an output that is off is a
//! failure; a battery to replace, bypass, overload or alarms are warnings.
//!
//! Time on battery: the UPS's own figure when it gives one (UPS-MIB upsSecondsOnBattery, APC
//! upsBasicBatteryTimeOnBattery); otherwise (NUT, Eaton XUPS-MIB) counted from the first poll
//! that saw the UPS on battery. That start is the judge's memory, kept by the state store with
//! the check, so a restart of camwatch in the middle of an outage does not restart the count
//! (and push the failure `ups_on_battery_failed_after` back).

use serde::{Deserialize, Serialize};

use super::Verdict;
use crate::config::Policy;
use crate::model::{CheckKind, Status};
use crate::observation::ups::{BatteryStatus, OutputSource, UpsObservation};

/// What is remembered between polls (stored with the check's state, so it survives restarts).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UpsMemory {
    /// When the present outage began (Unix seconds): the first poll that saw the UPS on battery,
    /// or the start the UPS's own figure gives.
    pub on_battery_since: f64,
}

/// How long the UPS has been on battery (0 on mains, absent when its output source is unknown
/// and it does not say), and what to remember: the outage's start while it lasts.
fn time_on_battery(
    ups: &UpsObservation,
    memory: Option<&serde_json::Value>,
    now: f64,
) -> (Option<f64>, Option<UpsMemory>) {
    match ups.output_source {
        OutputSource::Battery => {
            let since = match ups.seconds_on_battery {
                Some(reported) => now - reported,
                None => memory
                    .and_then(|m| serde_json::from_value::<UpsMemory>(m.clone()).ok())
                    .map_or(now, |m| m.on_battery_since.min(now)),
            };
            (
                Some(ups.seconds_on_battery.unwrap_or(now - since)),
                Some(UpsMemory {
                    on_battery_since: since,
                }),
            )
        }
        // The UPS does not say where its power comes from: no count of its own, and no outage
        // known to be going on.
        OutputSource::Unknown => (ups.seconds_on_battery, None),
        // On mains (or bypass, off...): the outage, if any, is over.
        _ => (ups.seconds_on_battery.or(Some(0.0)), None),
    }
}

/// `memory` is what the previous run left (see [`UpsMemory`]); `now` is when this run started.
pub fn judge(ups: &UpsObservation, policy: &Policy, memory: Option<&serde_json::Value>, now: f64) -> Verdict {
    let mut findings: Vec<(Status, String)> = Vec::new();
    let minutes = |s: f64| format!("{:.0} min", (s / 60.0).floor());
    let (seconds_on_battery, remembered) = time_on_battery(ups, memory, now);
    match ups.output_source {
        OutputSource::Off => findings.push((Status::Failed, "output is off: nothing is powered by this UPS".into())),
        OutputSource::Battery => {
            let on_battery = seconds_on_battery.unwrap_or(0.0);
            let limit = policy.ups_on_battery_failed_after.as_secs_f64();
            let status = if on_battery >= limit {
                Status::Failed
            } else {
                Status::Warning
            };
            findings.push((
                status,
                format!(
                    "on battery for {}{}",
                    humantime::format_duration(std::time::Duration::from_secs(on_battery as u64)),
                    if status == Status::Failed {
                        format!(
                            ", longer than the {} allowed",
                            humantime::format_duration(policy.ups_on_battery_failed_after)
                        )
                    } else {
                        " (mains power lost)".to_owned()
                    }
                ),
            ));
        }
        OutputSource::Bypass => findings.push((Status::Warning, "on bypass: the load is not protected".into())),
        OutputSource::Online
        | OutputSource::Boost
        | OutputSource::Reduce
        | OutputSource::Other
        | OutputSource::Unknown => {}
    }
    match ups.battery_status {
        BatteryStatus::Depleted => findings.push((Status::Failed, "battery depleted".into())),
        BatteryStatus::Low => findings.push((Status::Failed, "battery low".into())),
        BatteryStatus::Normal | BatteryStatus::Unknown => {}
    }
    if let Some(runtime) = ups.runtime_seconds {
        let minimum = policy.ups_min_runtime.as_secs_f64();
        if runtime < minimum {
            findings.push((
                Status::Failed,
                format!(
                    "battery runtime {} is under the {} required",
                    minutes(runtime),
                    minutes(minimum)
                ),
            ));
        }
    }
    if ups.replace_battery == Some(true) {
        findings.push((Status::Warning, "the UPS asks for its battery to be replaced".into()));
    }
    if ups.overload {
        findings.push((Status::Warning, "overloaded".into()));
    }
    if let Some(alarms) = ups.alarms.filter(|a| *a > 0) {
        findings.push((
            Status::Warning,
            format!("{alarms} alarm{} present", if alarms == 1 { "" } else { "s" }),
        ));
    }
    findings.sort_by_key(|(s, _)| std::cmp::Reverse(*s));
    let worst = findings.first().map(|(s, _)| *s);
    let status = match worst {
        Some(s) => s,
        None if ups.output_source == OutputSource::Unknown => Status::Unknown,
        None => Status::Ok,
    };
    let mut summary = match status {
        Status::Unknown => "the UPS does not say where its output power comes from".to_owned(),
        Status::Ok => {
            let mut s = match ups.output_source {
                OutputSource::Boost => "on mains power (boosting low input voltage)",
                OutputSource::Reduce => "on mains power (reducing high input voltage)",
                // UPS-MIB/XUPS other(1): the UPS does not say mains, so neither does the summary
                // (a real Tripp Lite PowerAlert walk answers other); it is not battery either.
                OutputSource::Other => "output power from a source the UPS calls \"other\" (not battery)",
                _ => "on mains power",
            }
            .to_owned();
            if let Some(c) = ups.charge_ratio {
                s.push_str(&format!(", battery {:.0} %", c * 100.0));
            }
            if let Some(r) = ups.runtime_seconds {
                s.push_str(&format!(", runtime {}", minutes(r)));
            }
            s
        }
        _ => findings.iter().map(|(_, f)| f.as_str()).collect::<Vec<_>>().join("; "),
    };
    if let Some(model) = &ups.model {
        summary = format!("{model}: {summary}");
    }
    let immediate = ups.output_source == OutputSource::Battery
        || ups.output_source == OutputSource::Off
        || matches!(ups.battery_status, BatteryStatus::Low | BatteryStatus::Depleted);
    Verdict {
        check: CheckKind::Ups,
        status,
        summary,
        values: serde_json::json!({
            "protocol": ups.source_protocol,
            "manufacturer": ups.manufacturer,
            "model": ups.model,
            "overload": ups.overload,
            "output_source": ups.output_source,
            "battery_status": ups.battery_status,
            "battery_charge_ratio": ups.charge_ratio,
            "battery_runtime_seconds": ups.runtime_seconds,
            "seconds_on_battery": seconds_on_battery,
            "input_voltage_volts": ups.input_voltage_volts,
            "output_voltage_volts": ups.output_voltage_volts,
            "load_ratio": ups.load_ratio,
            "battery_temperature_celsius": ups.battery_temperature_celsius,
            "alarms": ups.alarms,
            "replace_battery": ups.replace_battery,
            "notes": ups.notes,
        }),
        immediate,
        memory: remembered.map(|m| serde_json::json!(m)),
        events: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn online() -> UpsObservation {
        let mut u = UpsObservation::new("rfc1628");
        u.output_source = OutputSource::Online;
        u.battery_status = BatteryStatus::Normal;
        u.charge_ratio = Some(1.0);
        u.runtime_seconds = Some(3600.0);
        u
    }

    #[test]
    fn mains_power_with_a_good_battery_is_ok() {
        let v = judge(&online(), &Policy::default(), None, 0.0);
        assert_eq!(v.status, Status::Ok);
        assert_eq!(v.summary, "on mains power, battery 100 %, runtime 60 min");
        assert!(!v.immediate);
        assert_eq!(v.values["battery_runtime_seconds"], 3600.0);
    }

    #[test]
    fn on_battery_warns_at_once_and_fails_after_the_policy_time() {
        let mut u = online();
        u.output_source = OutputSource::Battery;
        u.seconds_on_battery = Some(45.0);
        let v = judge(&u, &Policy::default(), None, 0.0);
        assert_eq!(v.status, Status::Warning);
        assert!(v.immediate);
        assert_eq!(v.summary, "on battery for 45s (mains power lost)");
        u.seconds_on_battery = Some(301.0);
        let v = judge(&u, &Policy::default(), None, 0.0);
        assert_eq!(v.status, Status::Failed);
        assert!(v.summary.contains("longer than the 5m allowed"), "{}", v.summary);
    }

    #[test]
    fn low_battery_and_short_runtime_fail_replace_battery_warns() {
        let mut u = online();
        u.battery_status = BatteryStatus::Low;
        assert_eq!(judge(&u, &Policy::default(), None, 0.0).status, Status::Failed);
        let mut u = online();
        u.runtime_seconds = Some(300.0);
        let v = judge(&u, &Policy::default(), None, 0.0);
        assert_eq!(v.status, Status::Failed);
        assert_eq!(v.summary, "battery runtime 5 min is under the 10 min required");
        let mut u = online();
        u.replace_battery = Some(true);
        u.alarms = Some(1);
        let v = judge(&u, &Policy::default(), None, 0.0);
        assert_eq!(v.status, Status::Warning);
        assert_eq!(
            v.summary,
            "the UPS asks for its battery to be replaced; 1 alarm present"
        );
    }

    #[test]
    fn an_other_source_is_not_called_mains() {
        let mut u = online();
        u.output_source = OutputSource::Other;
        let v = judge(&u, &Policy::default(), None, 0.0);
        assert_eq!(v.status, Status::Ok);
        assert!(!v.summary.contains("mains"), "{}", v.summary);
        assert!(v.summary.contains("\"other\" (not battery)"), "{}", v.summary);
    }

    #[test]
    fn an_unknown_source_is_not_called_on_battery() {
        let mut u = UpsObservation::new("rfc1628");
        u.charge_ratio = Some(0.9);
        let v = judge(&u, &Policy::default(), None, 0.0);
        assert_eq!(v.status, Status::Unknown);
        assert!(!v.immediate);
    }

    /// A run of the judge as the scheduler makes it: the memory as the state store hands it back
    /// (saved as text with the check's state, read again on the next run or after a restart).
    fn run(u: &UpsObservation, saved: Option<&str>, now: f64) -> (Verdict, Option<String>) {
        let memory = saved.map(|m| serde_json::from_str(m).unwrap());
        let v = judge(u, &Policy::default(), memory.as_ref(), now);
        let kept = v.memory.as_ref().map(serde_json::Value::to_string);
        (v, kept)
    }

    #[test]
    fn without_a_figure_from_the_ups_the_outage_is_counted_from_its_remembered_start() {
        // NUT never says how long; Eaton's XUPS-MIB (over SNMP) does not either.
        for protocol in ["nut", "eaton"] {
            let mut u = UpsObservation::new(protocol);
            u.output_source = OutputSource::Battery;
            let (v, saved) = run(&u, None, 1000.0);
            assert_eq!(v.status, Status::Warning, "{protocol}");
            assert_eq!(v.values["seconds_on_battery"], 0.0, "{protocol}");
            assert_eq!(saved.as_deref(), Some(r#"{"on_battery_since":1000.0}"#), "{protocol}");
            // The next run, or the first after a restart of camwatch: the same start.
            let (v, saved) = run(&u, saved.as_deref(), 1299.0);
            assert_eq!(v.status, Status::Warning, "{protocol}");
            assert_eq!(v.values["seconds_on_battery"], 299.0, "{protocol}");
            assert_eq!(v.summary, "on battery for 4m 59s (mains power lost)", "{protocol}");
            let (v, saved) = run(&u, saved.as_deref(), 1300.0);
            assert_eq!(v.status, Status::Failed, "{protocol}: {}", v.summary);
            assert_eq!(v.summary, "on battery for 5m, longer than the 5m allowed", "{protocol}");
            // A poll the UPS did not answer tells nothing new: the start is kept.
            let timeout = Err(crate::observation::ProbeError::new(
                crate::observation::ProbeErrorKind::Timeout,
                "no answer",
            ));
            let memory = saved.as_deref().map(|m| serde_json::from_str(m).unwrap());
            let missed = crate::judge::judge(CheckKind::Ups, &timeout, &Policy::default(), memory.as_ref(), 1310.0);
            assert_eq!(missed.memory, memory, "{protocol}");
            // Back on mains: 0 s, and the outage is forgotten; the next one counts from its own start.
            u.output_source = OutputSource::Online;
            let (v, saved) = run(&u, saved.as_deref(), 1400.0);
            assert_eq!(v.values["seconds_on_battery"], 0.0, "{protocol}");
            assert_eq!(saved, None, "{protocol}");
            u.output_source = OutputSource::Battery;
            let (v, _) = run(&u, saved.as_deref(), 1500.0);
            assert_eq!(v.values["seconds_on_battery"], 0.0, "{protocol}");
        }
    }

    #[test]
    fn the_ups_own_figure_wins_and_dates_the_outage() {
        let mut u = online();
        u.output_source = OutputSource::Battery;
        u.seconds_on_battery = Some(120.0);
        let (v, saved) = run(&u, Some(r#"{"on_battery_since":500.0}"#), 1000.0);
        assert_eq!(v.values["seconds_on_battery"], 120.0);
        assert_eq!(saved.as_deref(), Some(r#"{"on_battery_since":880.0}"#));
        // An output source the UPS does not give: nothing counted, nothing remembered.
        let mut unknown = UpsObservation::new("rfc1628");
        unknown.charge_ratio = Some(0.9);
        let (v, saved) = run(&unknown, saved.as_deref(), 1010.0);
        assert!(v.values["seconds_on_battery"].is_null(), "{}", v.values);
        assert_eq!(saved, None);
    }
}
