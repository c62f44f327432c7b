//! What the fuzz targets (`fuzz/`, README "Fuzzing") found, kept as plain tests: each input that
//! once crashed, hung or ran away with memory (`tests/data/fuzz/TARGET/`, as libFuzzer wrote it)
//! goes through the same entry point as the fuzz target (`camwatch::fuzzing`), so the stable
//! test suite guards the fix without nightly; the unit test beside each fixed parser holds the
//! input cut down to what matters. The committed seeds are run too: every target must take them.

use std::path::Path;

use camwatch::fuzzing;

/// The fuzz entry point of each seed folder under `fuzz/seeds`.
fn target(name: &str) -> fn(&[u8]) {
    match name {
        "config" => fuzzing::config,
        "onvif" => fuzzing::onvif,
        "wsd" => fuzzing::wsd,
        "snmp" => fuzzing::snmp,
        "nut" => fuzzing::nut,
        "rtsp" => fuzzing::rtsp,
        "isapi" => fuzzing::isapi,
        "jpeg" => fuzzing::jpeg,
        "footage" => fuzzing::footage,
        other => panic!("fuzz/seeds/{other} has no fuzz target"),
    }
}

/// Runs every file of every `TARGET` folder under `dir` through its target; returns how many.
fn run_all(dir: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut count = 0;
    for folder in std::fs::read_dir(&root).unwrap() {
        let folder = folder.unwrap();
        let run = target(folder.file_name().to_str().unwrap());
        for file in std::fs::read_dir(folder.path()).unwrap() {
            let path = file.unwrap().path();
            eprintln!("{}", path.display());
            run(&std::fs::read(&path).unwrap());
            count += 1;
        }
    }
    count
}

#[test]
fn every_input_that_crashed_a_target_is_taken_now() {
    let count = run_all("tests/data/fuzz");
    assert!(count >= 1, "no fuzz findings under tests/data/fuzz");
}

#[test]
fn every_committed_seed_goes_through_its_target() {
    let count = run_all("fuzz/seeds");
    assert!(count >= 25, "only {count} seeds under fuzz/seeds");
}
