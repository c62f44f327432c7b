//! `[policy.NAME]` and `[device.camera_policy."NAME"]`: the procedure's rules (intervals,
//! thresholds, retention, the clauses quoted when a rule is broken), layered over the presets
//! and resolved once, so nothing downstream asks which value wins.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::raw::{self, RawDevice, RawPolicy};
use super::{Resolver, presets};

/// The procedure's rules, fully resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub interval: Duration,
    pub timeout: Duration,
    pub failures_before_failed: u32,
    pub successes_before_recovered: u32,
    pub ping_count: u32,
    pub ping_fallback_port: u16,
    pub ping_loss_warning_ratio: f64,
    pub ping_rtt_warning: Duration,
    pub filesystem_warning_free_percent: f64,
    pub filesystem_failed_free_percent: f64,
    /// On battery is a warning at once, and a failure after this long.
    pub ups_on_battery_failed_after: Duration,
    /// Estimated battery runtime under this is a failure.
    pub ups_min_runtime: Duration,
    /// A reboot keeps the uptime check at warning for this long (0 turns that off).
    pub uptime_warning_after_reboot: Duration,
    /// A device clock off by more than this is a warning (footage timestamps are evidence).
    pub clock_warning_offset: Duration,
    /// ... and by more than this a failure.
    pub clock_failed_offset: Duration,
    /// Mean brightness (0..1) under which a picture is black or too dark.
    pub image_dark_brightness: f64,
    /// Mean brightness (0..1) over which a picture is washed out.
    pub image_bright_brightness: f64,
    /// Contrast (standard deviation of brightness, 0..1) under which the picture is flat: a
    /// covered lens, fog, a uniform test card.
    pub image_low_contrast: f64,
    /// Sharpness under this share of the camera's own recent sharpness is blurred (scenes differ,
    /// so blur is judged against the camera itself).
    pub image_blur_ratio: f64,
    /// Identical pictures on this many polls in a row: the picture is frozen.
    pub image_frozen_polls: u32,
    /// The newest backup must be younger than this.
    pub backup_max_age: Duration,
    /// The procedure's sentence the backup rule enforces, quoted when it is broken.
    pub clause_backup: String,
    /// Footage must reach back this many days, without gaps, for every camera.
    pub retention_days: u32,
    /// A span without footage longer than this is a recording gap.
    pub max_recording_gap: Duration,
    /// Newest footage at most this old means the camera is recording now.
    pub recording_freshness: Duration,
    /// Retention forecast to fall under the requirement within this: warning.
    pub retention_forecast_warning: Duration,
    /// The procedure's sentence the retention rule enforces (`{retention_days}` and
    /// `{max_recording_gap}` are filled in where shown).
    pub clause_retention: String,
    /// The procedure's sentence the recording (24 h, no gaps) rule enforces.
    pub clause_recording: String,
    /// A recorder must be available at least this share of a month (0..1; 0.999 = 99.9 %).
    pub availability_target: f64,
    /// The procedure's sentence the availability rule enforces (`{availability_target}` filled in).
    pub clause_availability: String,
    /// Cameras of the device's footage with retention rules of their own (`[device.camera_policy]`).
    pub cameras: BTreeMap<String, Policy>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            failures_before_failed: 3,
            successes_before_recovered: 2,
            ping_count: 3,
            ping_fallback_port: 80,
            ping_loss_warning_ratio: 0.2,
            ping_rtt_warning: Duration::from_millis(500),
            filesystem_warning_free_percent: 15.0,
            filesystem_failed_free_percent: 5.0,
            ups_on_battery_failed_after: Duration::from_secs(300),
            ups_min_runtime: Duration::from_secs(600),
            uptime_warning_after_reboot: Duration::from_secs(3600),
            clock_warning_offset: Duration::from_secs(5),
            clock_failed_offset: Duration::from_secs(60),
            image_dark_brightness: 0.08,
            image_bright_brightness: 0.97,
            image_low_contrast: 0.03,
            image_blur_ratio: 0.35,
            image_frozen_polls: 3,
            backup_max_age: Duration::from_secs(7 * 86_400),
            clause_backup: "Footage is backed up at least once a week.".to_owned(),
            retention_days: 30,
            max_recording_gap: Duration::from_secs(300),
            recording_freshness: Duration::from_secs(300),
            retention_forecast_warning: Duration::from_secs(7 * 86_400),
            clause_retention: presets::COMPANY_RETENTION.to_owned(),
            clause_recording: presets::COMPANY_RECORDING.to_owned(),
            availability_target: 0.999,
            clause_availability: presets::COMPANY_AVAILABILITY.to_owned(),
            cameras: BTreeMap::new(),
        }
    }
}

impl Policy {
    /// This policy with every value `layer` sets replacing ours.
    fn layered(&self, layer: &RawPolicy) -> Policy {
        fn pick<T: Clone>(layer: &Option<Spanned<T>>, base: T) -> T {
            layer.as_ref().map_or(base, |v| v.get_ref().clone())
        }
        Policy {
            interval: pick(&layer.interval, raw::HumanDuration(self.interval)).0,
            timeout: pick(&layer.timeout, raw::HumanDuration(self.timeout)).0,
            failures_before_failed: pick(&layer.failures_before_failed, self.failures_before_failed),
            successes_before_recovered: pick(&layer.successes_before_recovered, self.successes_before_recovered),
            ping_count: pick(&layer.ping_count, self.ping_count),
            ping_fallback_port: pick(&layer.ping_fallback_port, self.ping_fallback_port),
            ping_loss_warning_ratio: pick(&layer.ping_loss_warning_ratio, self.ping_loss_warning_ratio),
            ping_rtt_warning: pick(&layer.ping_rtt_warning, raw::HumanDuration(self.ping_rtt_warning)).0,
            filesystem_warning_free_percent: pick(
                &layer.filesystem_warning_free_percent,
                self.filesystem_warning_free_percent,
            ),
            filesystem_failed_free_percent: pick(
                &layer.filesystem_failed_free_percent,
                self.filesystem_failed_free_percent,
            ),
            ups_on_battery_failed_after: pick(
                &layer.ups_on_battery_failed_after,
                raw::HumanDuration(self.ups_on_battery_failed_after),
            )
            .0,
            ups_min_runtime: pick(&layer.ups_min_runtime, raw::HumanDuration(self.ups_min_runtime)).0,
            uptime_warning_after_reboot: pick(
                &layer.uptime_warning_after_reboot,
                raw::HumanDuration(self.uptime_warning_after_reboot),
            )
            .0,
            clock_warning_offset: pick(
                &layer.clock_warning_offset,
                raw::HumanDuration(self.clock_warning_offset),
            )
            .0,
            clock_failed_offset: pick(&layer.clock_failed_offset, raw::HumanDuration(self.clock_failed_offset)).0,
            image_dark_brightness: pick(&layer.image_dark_brightness, self.image_dark_brightness),
            image_bright_brightness: pick(&layer.image_bright_brightness, self.image_bright_brightness),
            image_low_contrast: pick(&layer.image_low_contrast, self.image_low_contrast),
            image_blur_ratio: pick(&layer.image_blur_ratio, self.image_blur_ratio),
            image_frozen_polls: pick(&layer.image_frozen_polls, self.image_frozen_polls),
            backup_max_age: pick(&layer.backup_max_age, raw::HumanDuration(self.backup_max_age)).0,
            clause_backup: pick(&layer.clause_backup, self.clause_backup.clone()),
            retention_days: pick(&layer.retention_days, self.retention_days),
            max_recording_gap: pick(&layer.max_recording_gap, raw::HumanDuration(self.max_recording_gap)).0,
            recording_freshness: pick(&layer.recording_freshness, raw::HumanDuration(self.recording_freshness)).0,
            retention_forecast_warning: pick(
                &layer.retention_forecast_warning,
                raw::HumanDuration(self.retention_forecast_warning),
            )
            .0,
            clause_retention: pick(&layer.clause_retention, self.clause_retention.clone()),
            clause_recording: pick(&layer.clause_recording, self.clause_recording.clone()),
            availability_target: pick(&layer.availability_target, self.availability_target),
            clause_availability: pick(&layer.clause_availability, self.clause_availability.clone()),
            cameras: self.cameras.clone(),
        }
    }

    /// The rules for one camera of the device: its own, if it has some.
    pub fn for_camera(&self, camera: &str) -> &Policy {
        self.cameras.get(camera).unwrap_or(self)
    }
}

impl Resolver {
    /// The presets, then every `[policy.NAME]` layered over its base.
    pub(super) fn policies(&mut self, raw: &BTreeMap<String, Spanned<RawPolicy>>) -> BTreeMap<String, Policy> {
        let mut policies: BTreeMap<String, Policy> = presets::all().into_iter().collect();
        for (name, table) in raw {
            let base = self.policy_base(name, table.get_ref());
            let policy = base.layered(table.get_ref());
            self.check_policy(&policy, table.get_ref(), table.span(), &format!("policy {name:?}"));
            policies.insert(name.clone(), policy);
        }
        policies
    }

    /// Checks a resolved policy; `raw` says which values were written here, to point at them.
    fn check_policy(&mut self, policy: &Policy, raw: &RawPolicy, table: Range<usize>, what: &str) {
        let at = |field: Option<Range<usize>>| Some(field.unwrap_or_else(|| table.clone()));
        let span_of = |v: &Option<Spanned<raw::HumanDuration>>| v.as_ref().map(Spanned::span);
        if policy.interval < Duration::from_secs(1) {
            self.error(
                at(span_of(&raw.interval)),
                format!(
                    "{what}: interval {} is shorter than one second",
                    humantime::format_duration(policy.interval)
                ),
                "use an interval of at least \"1s\"",
            );
        }
        if policy.timeout.is_zero() {
            self.error(
                at(span_of(&raw.timeout)),
                format!("{what}: timeout is zero"),
                "give checks time to answer, e.g. \"10s\"",
            );
        }
        if policy.interval < policy.timeout {
            self.error(
                at(span_of(&raw.interval).or(span_of(&raw.timeout))),
                format!(
                    "{what}: interval {} is shorter than timeout {}, so a slow check would still be running when the next one starts",
                    humantime::format_duration(policy.interval),
                    humantime::format_duration(policy.timeout)
                ),
                "make interval at least as long as timeout, or shorten timeout",
            );
        }
        for (value, field, name) in [
            (
                policy.failures_before_failed,
                &raw.failures_before_failed,
                "failures_before_failed",
            ),
            (
                policy.successes_before_recovered,
                &raw.successes_before_recovered,
                "successes_before_recovered",
            ),
        ] {
            if value == 0 {
                self.error(
                    at(field.as_ref().map(Spanned::span)),
                    format!("{what}: {name} is 0"),
                    "set it to 1 or more",
                );
            }
        }
        if !(1..=100).contains(&policy.ping_count) {
            self.error(
                at(raw.ping_count.as_ref().map(Spanned::span)),
                format!("{what}: ping_count {} is out of range", policy.ping_count),
                "send between 1 and 100 echoes per check",
            );
        }
        if policy.ping_fallback_port == 0 {
            self.error(
                at(raw.ping_fallback_port.as_ref().map(Spanned::span)),
                format!("{what}: ping_fallback_port is 0"),
                "use a TCP port the devices listen on, such as 80 or 554",
            );
        }
        if !(0.0..=1.0).contains(&policy.ping_loss_warning_ratio) {
            self.error(
                at(raw.ping_loss_warning_ratio.as_ref().map(Spanned::span)),
                format!(
                    "{what}: ping_loss_warning_ratio {} is not a ratio",
                    policy.ping_loss_warning_ratio
                ),
                "write a ratio between 0 and 1, e.g. 0.2 for 20 %",
            );
        }
        let warn = policy.filesystem_warning_free_percent;
        let fail = policy.filesystem_failed_free_percent;
        for (value, field, name) in [
            (
                warn,
                &raw.filesystem_warning_free_percent,
                "filesystem_warning_free_percent",
            ),
            (
                fail,
                &raw.filesystem_failed_free_percent,
                "filesystem_failed_free_percent",
            ),
        ] {
            if !(0.0..=100.0).contains(&value) {
                self.error(
                    at(field.as_ref().map(Spanned::span)),
                    format!("{what}: {name} {value} is not a percentage"),
                    "write a number between 0 and 100",
                );
            }
        }
        for (value, field, name) in [
            (
                policy.image_dark_brightness,
                &raw.image_dark_brightness,
                "image_dark_brightness",
            ),
            (
                policy.image_bright_brightness,
                &raw.image_bright_brightness,
                "image_bright_brightness",
            ),
            (policy.image_low_contrast, &raw.image_low_contrast, "image_low_contrast"),
            (policy.image_blur_ratio, &raw.image_blur_ratio, "image_blur_ratio"),
            (
                policy.availability_target,
                &raw.availability_target,
                "availability_target",
            ),
        ] {
            if !(0.0..=1.0).contains(&value) {
                self.error(
                    at(field.as_ref().map(Spanned::span)),
                    format!("{what}: {name} {value} is not a ratio"),
                    "write a number between 0 and 1",
                );
            }
        }
        if policy.clock_failed_offset < policy.clock_warning_offset {
            self.error(
                at(span_of(&raw.clock_failed_offset).or(span_of(&raw.clock_warning_offset))),
                format!("{what}: clock_failed_offset is smaller than clock_warning_offset"),
                "the failed offset must be the larger one (e.g. warning \"5s\", failed \"60s\")",
            );
        }
        if policy.retention_days == 0 {
            self.error(
                at(raw.retention_days.as_ref().map(Spanned::span)),
                format!("{what}: retention_days is 0"),
                "write the number of days the procedure requires footage to be kept, e.g. 30",
            );
        }
        if policy.recording_freshness.is_zero() {
            self.error(
                at(span_of(&raw.recording_freshness)),
                format!("{what}: recording_freshness is zero, so no camera could ever count as recording"),
                "allow at least one segment's length, e.g. \"5m\"",
            );
        }
        if policy.image_frozen_polls < 2 {
            self.error(
                at(raw.image_frozen_polls.as_ref().map(Spanned::span)),
                format!("{what}: image_frozen_polls must be at least 2 (one picture cannot be frozen)"),
                "use 2 or more",
            );
        }
        self.check_backup_policy(policy, raw, &at, what);
        if fail > warn {
            self.error(
                at(raw
                    .filesystem_failed_free_percent
                    .as_ref()
                    .or(raw.filesystem_warning_free_percent.as_ref())
                    .map(Spanned::span)),
                format!(
                    "{what}: filesystem_failed_free_percent {fail} is above filesystem_warning_free_percent {warn}"
                ),
                "the failed threshold must be the lower one (e.g. warning 15, failed 5)",
            );
        }
    }

    /// `[device.camera_policy."NAME"]`: each camera's rules, from the device's policy (or the one
    /// the camera names) with the camera's own retention keys on top.
    fn camera_policies(
        &mut self,
        d: &RawDevice,
        name: &str,
        device_policy: &Policy,
        policies: &BTreeMap<String, Policy>,
    ) -> BTreeMap<String, Policy> {
        let mut cameras = BTreeMap::new();
        for (camera, table) in &d.camera_policy {
            let t = table.get_ref();
            let base = match &t.policy {
                Some(p) => match policies.get(p.get_ref()) {
                    Some(found) => found.clone(),
                    None => {
                        let known: Vec<&str> = policies.keys().map(String::as_str).collect();
                        self.error(
                            Some(p.span()),
                            format!("device {name:?} camera {camera:?}: unknown policy {:?}", p.get_ref()),
                            format!("define [policy.{}] or use one of: {}", p.get_ref(), known.join(", ")),
                        );
                        continue;
                    }
                },
                None => device_policy.clone(),
            };
            let layer = RawPolicy {
                retention_days: t.retention_days.clone(),
                max_recording_gap: t.max_recording_gap.clone(),
                recording_freshness: t.recording_freshness.clone(),
                retention_forecast_warning: t.retention_forecast_warning.clone(),
                clause_retention: t.clause_retention.clone(),
                clause_recording: t.clause_recording.clone(),
                ..RawPolicy::default()
            };
            let mut policy = base.layered(&layer);
            policy.cameras.clear();
            self.check_policy(
                &policy,
                &layer,
                table.span(),
                &format!("device {name:?} camera {camera:?}"),
            );
            cameras.insert(camera.clone(), policy);
        }
        cameras
    }

    /// A device's rules: its policy (or `default`), its `[device.overrides]`, and its cameras'.
    pub(super) fn device_policy(
        &mut self,
        d: &RawDevice,
        name: &str,
        policy_name: &str,
        policies: &BTreeMap<String, Policy>,
    ) -> Policy {
        let base = match policies.get(policy_name) {
            Some(p) => p.clone(),
            None => {
                let known: Vec<&str> = policies.keys().map(String::as_str).collect();
                self.error(
                    d.policy.as_ref().map(Spanned::span),
                    format!("device {name:?}: unknown policy {policy_name:?}"),
                    format!("define [policy.{policy_name}] or use one of: {}", known.join(", ")),
                );
                Policy::default()
            }
        };
        let policy = match &d.overrides {
            Some(o) => {
                if let Some(extends) = &o.get_ref().extends {
                    self.error(
                        Some(extends.span()),
                        format!("device {name:?}: extends belongs in a [policy.NAME] table, not in overrides"),
                        "define [policy.NAME] with extends = \"...\" and set policy = \"NAME\" on the device",
                    );
                }
                let p = base.layered(o.get_ref());
                self.check_policy(&p, o.get_ref(), o.span(), &format!("device {name:?} overrides"));
                p
            }
            None => base,
        };
        let mut policy = policy;
        policy.cameras = self.camera_policies(d, name, &policy, policies);
        policy
    }

    /// The one shared allocation of `policy`: the first device that resolved to an equal policy
    /// made it, later ones share it. Devices on the same named policy without overrides (most of
    /// a site) then cost one pointer each instead of a copy of every clause. A linear search: a
    /// configuration has few distinct policies, and each comparison stops at the first field
    /// that differs.
    pub(super) fn intern_policy(&mut self, policy: Policy) -> Arc<Policy> {
        if let Some(shared) = self.policies.iter().find(|p| ***p == policy) {
            return Arc::clone(shared);
        }
        let shared = Arc::new(policy);
        self.policies.push(Arc::clone(&shared));
        shared
    }
}
