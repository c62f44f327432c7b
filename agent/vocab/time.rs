//! The wall clock, read in one place, and times shown to people.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in Unix seconds (0 if the clock is before 1970).
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A moment as people read it in the room's zone: "2026-10-25 01:30".
pub fn local_time(t: f64, timezone: chrono_tz::Tz) -> String {
    chrono::DateTime::from_timestamp(t as i64, 0)
        .map(|d| d.with_timezone(&timezone).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}
