//! Stamps the build with the commit it was made from and the day, for `camwatch --version` and
//! `camwatch_build_info`: a room running an unattended agent for years must be able to say which
//! code it runs. Outside a git checkout (a source package) the commit is "unknown"; a set
//! `SOURCE_DATE_EPOCH` (reproducible builds) gives the date.

use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|e| e.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    // Civil date from days since 1970 (Howard Hinnant's algorithm): no date crate in build.rs.
    let days = epoch.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    println!("cargo:rustc-env=CAMWATCH_COMMIT={commit}");
    println!("cargo:rustc-env=CAMWATCH_BUILD_DATE={year:04}-{month:02}-{day:02}");
    // A new commit re-stamps the build; nothing else does (the date is the day of that build).
    // Git says where HEAD and the branches live: in a worktree `.git` is a file, not a folder.
    for path in ["HEAD", "refs/heads", "packed-refs"] {
        let located = Command::new("git")
            .args(["rev-parse", "--git-path", path])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        // A path that does not exist would rerun this script on every build.
        if let Some(located) = located.filter(|p| std::path::Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={located}");
        }
    }
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
}
