//! The standard `process_*` metrics every Prometheus exporter serves, read from `/proc/self`.

#[derive(Debug, Clone, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: f64,
    pub virtual_bytes: f64,
    pub start_time_seconds: f64,
    pub open_fds: f64,
    pub max_fds: f64,
}

/// `None` where `/proc` is not there (not Linux): the metrics are then left out, not faked.
pub fn read() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<f64>().ok())?;
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
    parse(&stat, boot_time, &limits, open_fds)
}

fn parse(stat: &str, boot_time: f64, limits: &str, open_fds: f64) -> Option<ProcessStats> {
    // The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as f64;
    let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
    let max_fds = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<f64>().ok())?;
    Some(ProcessStats {
        cpu_seconds: (field(14)? + field(15)?) / ticks,
        start_time_seconds: boot_time + field(22)? / ticks,
        virtual_bytes: field(23)?,
        resident_bytes: field(24)? * page,
        open_fds,
        max_fds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let p = read().expect("/proc is readable on Linux");
        assert!(p.resident_bytes > 0.0);
        assert!(p.open_fds >= 3.0);
        assert!(p.max_fds >= p.open_fds);
        assert!(p.start_time_seconds > 1.6e9);
    }

    #[test]
    fn command_names_with_parentheses_do_not_shift_fields() {
        let mut stat = String::from("42 (we (ird) name) S");
        for n in 4..=24 {
            stat.push_str(&format!(" {n}"));
        }
        let limits = "Limit Soft Hard Units\nMax open files 1024 4096 files\n";
        let p = parse(&stat, 1000.0, limits, 5.0).unwrap();
        assert_eq!(p.virtual_bytes, 23.0);
        assert_eq!(p.max_fds, 1024.0);
    }
}
