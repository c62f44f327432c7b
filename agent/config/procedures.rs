//! `[procedures]`: the times of day the shift handover and the end-of-day inventory run, in the
//! agent's time zone.

use std::fmt;
use std::str::FromStr;

/// A wall-clock time of day (24-hour), as written in `[procedures]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    pub hour: u32,
    pub minute: u32,
}

impl TimeOfDay {
    pub const fn new(hour: u32, minute: u32) -> Self {
        Self { hour, minute }
    }

    /// The cron pattern "every day at this time". croner decides what happens on days whose
    /// wall clock skips or repeats this time (see `schedule::procedures`).
    pub fn cron(self) -> croner::Cron {
        croner::Cron::from_str(&format!("{} {} * * *", self.minute, self.hour))
            .expect("a validated time of day is a valid cron pattern")
    }

    /// Parses `"HH:MM"` (or `"H:MM"`), validated by croner as a daily pattern.
    pub fn parse(text: &str) -> Option<Self> {
        let (h, m) = text.split_once(':')?;
        let digits = |s: &str, max_len| !s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(h, 2) || !digits(m, 2) || m.len() != 2 {
            return None;
        }
        let time = Self::new(h.parse().ok()?, m.parse().ok()?);
        (time.hour < 24 && time.minute < 60)
            .then(|| croner::Cron::from_str(&format!("{} {} * * *", time.minute, time.hour)).ok())
            .flatten()
            .map(|_| time)
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

/// The two scheduled procedures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Procedure {
    Handover,
    Inventory,
}

impl Procedure {
    pub const ALL: [Procedure; 2] = [Self::Handover, Self::Inventory];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Handover => "handover",
            Self::Inventory => "inventory",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Procedure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When each procedure runs; an empty list never runs it on its own (it still runs on request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcedureTimes {
    pub handover: Vec<TimeOfDay>,
    pub inventory: Vec<TimeOfDay>,
}

impl Default for ProcedureTimes {
    /// Ten minutes before the usual 08:00 and 20:00 shift changes; the inventory just before
    /// midnight, so it covers the whole day.
    fn default() -> Self {
        Self {
            handover: vec![TimeOfDay::new(7, 50), TimeOfDay::new(19, 50)],
            inventory: vec![TimeOfDay::new(23, 55)],
        }
    }
}

impl ProcedureTimes {
    pub fn times(&self, procedure: Procedure) -> &[TimeOfDay] {
        match procedure {
            Procedure::Handover => &self.handover,
            Procedure::Inventory => &self.inventory,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day_parse_strictly() {
        assert_eq!(TimeOfDay::parse("07:50"), Some(TimeOfDay::new(7, 50)));
        assert_eq!(TimeOfDay::parse("7:05"), Some(TimeOfDay::new(7, 5)));
        assert_eq!(TimeOfDay::parse("23:59").map(|t| t.to_string()), Some("23:59".into()));
        for bad in [
            "24:00", "12:60", "7:5", "07:50:00", "0750", "", ":30", "ab:cd", "-1:30", "007:50", "7.50",
        ] {
            assert_eq!(TimeOfDay::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn defaults_lists_and_off() {
        let device = "[[device]]\nname = \"h\"\nkind = \"host\"\naddress = \"127.0.0.1\"\n";
        let config = crate::config::parse("t.toml", device).unwrap();
        assert_eq!(config.procedures, ProcedureTimes::default());
        let text = format!("[procedures]\nhandover = [\"19:50\", \"6:00\", \"19:50\"]\ninventory = \"off\"\n{device}");
        let config = crate::config::parse("t.toml", &text).unwrap();
        assert_eq!(
            config.procedures.handover,
            [TimeOfDay::new(6, 0), TimeOfDay::new(19, 50)]
        );
        assert!(config.procedures.inventory.is_empty());
        let text = format!("[procedures]\nhandover = []\n{device}");
        let config = crate::config::parse("t.toml", &text).unwrap();
        assert!(config.procedures.handover.is_empty());
        assert_eq!(
            config.procedures.inventory,
            [TimeOfDay::new(23, 55)],
            "unset keys keep their default"
        );
    }
}
