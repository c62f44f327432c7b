//! Reboots: "the system runs 24 hours without interruption". A boot time that moved is a reboot,
//! recorded as an event; a recent one keeps the check at warning for the policy's time.
//!
//! Telling a reboot from the counter's wrap: uptime is a 32-bit count of hundredths of a second,
//! so it wraps to zero after 497.1 days. Between two polls the counter must have advanced by the
//! time that passed; if it is lower, either it wrapped (then it equals the expected count minus
//! 2^32, give or take) or the device restarted. Wraps seen are remembered so the boot time stays
//! right after them.
//!
//! Which counter: the device's own uptime in seconds when it gives one (ISAPI `deviceUpTime`,
//! which does not wrap), else the host's (hrSystemUptime) when the agent has it, else the SNMP
//! agent's own (sysUpTime). An agent restart on a host that kept running is noted, not counted as
//! a reboot.

use serde::{Deserialize, Serialize};

use super::{Event, Verdict};
use crate::config::Policy;
use crate::model::{CheckKind, Status};
use crate::observation::uptime::UptimeObservation;

const WRAP_TICKS: f64 = 4_294_967_296.0;

/// What is remembered between polls (stored with the check's state, so it survives restarts).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UptimeMemory {
    pub polled_at: f64,
    /// Hundredths of a second (stored as u32 by earlier versions, which reads back the same).
    pub ticks: u64,
    /// "device" (ISAPI), "host" (hrSystemUptime) or "agent" (sysUpTime).
    pub counter: Counter,
    pub wraps: u32,
    pub agent_ticks: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Counter {
    Host,
    Agent,
    /// A device's own uptime in seconds (ISAPI), kept here in hundredths; it does not wrap.
    Device,
}

impl Counter {
    fn wraps(self) -> bool {
        self != Counter::Device
    }
}

/// Ticks allowed short of the expected count: slack for the answer's delay (the poll's time is
/// taken when the answer arrives) and for a device clock running 1 % slow.
fn tolerance_ticks(elapsed_seconds: f64) -> f64 {
    300.0 + elapsed_seconds * 100.0 * 0.01
}

enum Continuity {
    Continues,
    Wrapped,
    Restarted,
}

fn continuity(previous_ticks: u64, elapsed: f64, ticks: u64, wraps: bool) -> Continuity {
    let expected = previous_ticks as f64 + elapsed.max(0.0) * 100.0;
    let tolerance = tolerance_ticks(elapsed);
    let now = ticks as f64;
    if now + tolerance >= expected {
        Continuity::Continues
    } else if wraps && expected >= WRAP_TICKS && (now - (expected - WRAP_TICKS)).abs() <= tolerance {
        Continuity::Wrapped
    } else {
        Continuity::Restarted
    }
}

fn when(unix: f64) -> String {
    chrono::DateTime::from_timestamp(unix as i64, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| format!("{unix}"))
}

pub fn judge(seen: &UptimeObservation, policy: &Policy, memory: Option<&serde_json::Value>) -> Verdict {
    let previous: Option<UptimeMemory> = memory.and_then(|m| serde_json::from_value(m.clone()).ok());
    let (ticks, counter) = match (seen.device_seconds, seen.host_ticks, seen.agent_ticks) {
        (Some(s), _, _) => (s.saturating_mul(100), Counter::Device),
        (None, Some(t), _) => (u64::from(t), Counter::Host),
        (None, None, Some(t)) => (u64::from(t), Counter::Agent),
        (None, None, None) => unreachable!("the probes refuse observations without uptime"),
    };
    let mut notes = Vec::new();
    let mut wraps = 0;
    let mut rebooted = false;
    if let Some(prev) = previous.filter(|p| p.counter == counter) {
        let elapsed = seen.polled_at - prev.polled_at;
        match continuity(prev.ticks, elapsed, ticks, counter.wraps()) {
            Continuity::Continues => wraps = prev.wraps,
            Continuity::Wrapped => {
                wraps = prev.wraps + 1;
                notes.push("the uptime counter wrapped after 497 days; not a reboot".to_owned());
            }
            Continuity::Restarted => rebooted = true,
        }
        if counter == Counter::Host
            && let (Some(prev_agent), Some(agent)) = (prev.agent_ticks, seen.agent_ticks)
            && matches!(
                continuity(u64::from(prev_agent), elapsed, u64::from(agent), true),
                Continuity::Restarted
            )
            && !rebooted
        {
            notes.push("the SNMP agent restarted while the host kept running".to_owned());
        }
    }
    let uptime = (ticks as f64 + f64::from(wraps) * WRAP_TICKS) / 100.0;
    let boot_time = seen.polled_at - uptime;
    let recent = uptime < policy.uptime_warning_after_reboot.as_secs_f64();
    let up_for = humantime::format_duration(std::time::Duration::from_secs(uptime as u64));
    let (status, summary) = if recent {
        (
            Status::Warning,
            format!(
                "restarted {up_for} ago, at {}: operation was interrupted",
                when(boot_time)
            ),
        )
    } else {
        (Status::Ok, format!("up {up_for}, since {}", when(boot_time)))
    };
    let events = if rebooted {
        vec![Event {
            kind: crate::vocab::EventKind::Reboot,
            at: boot_time,
            summary: format!("rebooted at {} (uptime counter went back to {up_for})", when(boot_time)),
        }]
    } else {
        Vec::new()
    };
    let memory = UptimeMemory {
        polled_at: seen.polled_at,
        ticks,
        counter,
        wraps,
        agent_ticks: seen.agent_ticks,
    };
    Verdict {
        check: CheckKind::Uptime,
        status,
        summary: if notes.is_empty() {
            summary
        } else {
            format!("{summary} ({})", notes.join("; "))
        },
        values: serde_json::json!({
            "uptime_seconds": uptime,
            "boot_time_seconds": boot_time,
            "counter": counter,
            "rebooted": rebooted,
            "engine_boots": seen.engine_boots,
            "notes": notes,
        }),
        immediate: rebooted,
        memory: serde_json::to_value(memory).ok(),
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: f64 = 86_400.0;

    fn seen(at: f64, host: Option<u32>, agent: Option<u32>) -> UptimeObservation {
        UptimeObservation {
            polled_at: at,
            agent_ticks: agent,
            host_ticks: host,
            device_seconds: None,
            engine_boots: None,
            description: None,
            name: None,
        }
    }

    fn step(previous: Option<&Verdict>, observation: &UptimeObservation) -> Verdict {
        judge(
            observation,
            &Policy::default(),
            previous.and_then(|v| v.memory.as_ref()),
        )
    }

    #[test]
    fn a_steady_counter_is_one_boot() {
        let t0 = 1_800_000_000.0;
        let first = step(None, &seen(t0, Some(10 * 86_400 * 100), None));
        assert_eq!(first.status, Status::Ok);
        assert!(first.events.is_empty());
        assert_eq!(first.values["boot_time_seconds"], t0 - 10.0 * DAY);
        let second = step(Some(&first), &seen(t0 + 60.0, Some(10 * 86_400 * 100 + 6_000), None));
        assert!(second.events.is_empty());
        assert_eq!(second.values["boot_time_seconds"], t0 - 10.0 * DAY);
    }

    #[test]
    fn a_counter_that_went_back_is_a_reboot_recorded_once() {
        let t0 = 1_800_000_000.0;
        let first = step(None, &seen(t0, None, Some(5_000_000)));
        let rebooted = step(Some(&first), &seen(t0 + 120.0, None, Some(3_000)));
        assert_eq!(rebooted.events.len(), 1);
        assert_eq!(rebooted.events[0].at, t0 + 120.0 - 30.0);
        assert_eq!(rebooted.status, Status::Warning);
        assert!(rebooted.immediate);
        assert!(
            rebooted.summary.starts_with("restarted 30s ago"),
            "{}",
            rebooted.summary
        );
        let after = step(Some(&rebooted), &seen(t0 + 180.0, None, Some(9_000)));
        assert!(after.events.is_empty(), "the same reboot is not counted again");
        assert!(!after.immediate);
    }

    #[test]
    fn the_497_day_wrap_is_not_a_reboot_and_keeps_the_boot_time() {
        let t0 = 1_800_000_000.0;
        let near_wrap = u32::MAX - 3_000; // 30 s before the wrap
        let first = step(None, &seen(t0, None, Some(near_wrap)));
        let boot = first.values["boot_time_seconds"].as_f64().unwrap();
        let wrapped = step(Some(&first), &seen(t0 + 60.0, None, Some(3_000 - 1)));
        assert!(wrapped.events.is_empty(), "{:?}", wrapped.summary);
        assert!(wrapped.summary.contains("wrapped"), "{}", wrapped.summary);
        assert!((wrapped.values["boot_time_seconds"].as_f64().unwrap() - boot).abs() < 1.0);
        assert_eq!(wrapped.status, Status::Ok);
    }

    #[test]
    fn a_device_counter_in_seconds_never_wraps() {
        let t0 = 1_800_000_000.0;
        // 600 days up: beyond what 32-bit hundredths can count, exact in seconds.
        let mut long = seen(t0, None, None);
        long.device_seconds = Some(600 * 86_400);
        let first = step(None, &long);
        assert_eq!(first.values["boot_time_seconds"], t0 - 600.0 * DAY);
        assert_eq!(first.values["counter"], "device");
        let mut back = seen(t0 + 60.0, None, None);
        back.device_seconds = Some(20);
        let rebooted = step(Some(&first), &back);
        assert_eq!(rebooted.events.len(), 1);
        assert_eq!(rebooted.events[0].at, t0 + 40.0);
        let mut on = seen(t0 + 120.0, None, None);
        on.device_seconds = Some(80);
        assert!(step(Some(&rebooted), &on).events.is_empty());
    }

    #[test]
    fn an_agent_restart_on_a_running_host_is_noted_not_counted() {
        let t0 = 1_800_000_000.0;
        let first = step(None, &seen(t0, Some(90_000_000), Some(80_000_000)));
        let second = step(Some(&first), &seen(t0 + 60.0, Some(90_006_000), Some(500)));
        assert!(second.events.is_empty());
        assert!(
            second
                .summary
                .contains("SNMP agent restarted while the host kept running"),
            "{}",
            second.summary
        );
    }
}
