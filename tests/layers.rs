//! The layers of `agent/`, kept by a test rather than by goodwill: every `crate::` path in a
//! module may name only modules of its own layer or below, and no two top-level modules may
//! import each other, directly or round a longer cycle. The order is the README's ("Design"):
//! the shared vocabulary at the bottom, then pure domain rules, configuration, observations,
//! probes, judges, the state store, the scheduler, what the outputs share, notifications and
//! reports, procedures, outputs, and the commands that wire them together on top.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom first. A module may import its own layer and those before it.
const LAYERS: &[&[&str]] = &[
    &["vocab"],
    &["model"],
    &["coverage", "availability", "maintenance"],
    &["config"],
    &["observation"],
    &["probe", "discover", "web"],
    &["judge"],
    &["state"],
    &["schedule"],
    &["shared"],
    &["report", "notify"],
    &["procedures"],
    &["output"],
    &["daemon", "oneshot", "client", "fuzzing"],
];

/// The ground floor imports nothing of camwatch at all.
const GROUND: &[&str] = &["vocab"];

/// Imports that the layers would allow but the design does not: judges read observations, never
/// a prober (so a judge stays pure and a new protocol never edits another protocol's prober).
const FORBIDDEN: &[(&str, &str)] = &[("judge", "probe")];

fn agent_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("agent")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `agent/` belongs to (`probe/snmp/ups.rs` -> `probe`).
fn top_module(agent: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(agent).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// Every top-level module named by a `crate::` path in `source`, with the line it is on. Paths
/// inside `use crate::{a, b::{c, d}}` groups are found too, over several lines. Comments are
/// skipped: a doc link is no import.
fn crate_paths(source: &str) -> Vec<(usize, String)> {
    let code: Vec<&str> = source
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect();
    let text = code.join("\n");
    let line_at = |offset: usize| text[..offset].matches('\n').count() + 1;
    let ident = |s: &str| -> String { s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect() };
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("crate::") {
        let start = from + at + "crate::".len();
        from = start;
        let after = &text[start..];
        if !after.starts_with('{') {
            found.push((line_at(start), ident(after)));
            continue;
        }
        // A group: the first name after `{` and after each `,` at the group's own depth.
        let mut depth = 0;
        let mut expect_name = true;
        for (i, c) in after.char_indices() {
            match c {
                '{' => {
                    depth += 1;
                    expect_name = depth == 1;
                }
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                ',' if depth == 1 => expect_name = true,
                c if expect_name && (c.is_alphanumeric() || c == '_') => {
                    found.push((line_at(start + i), ident(&after[i..])));
                    expect_name = false;
                }
                _ => {}
            }
        }
    }
    found
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The import graph between top-level modules: (from, to) -> where.
fn import_graph() -> BTreeMap<(String, String), Vec<String>> {
    let agent = agent_dir();
    let mut files = Vec::new();
    rust_files(&agent, &mut files);
    files.sort();
    let mut graph: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for file in files {
        let from = top_module(&agent, &file);
        if from == "main" || from == "lib" {
            continue; // the binary and the crate root sit above every layer
        }
        let source = std::fs::read_to_string(&file).unwrap();
        for (line, to) in crate_paths(&source) {
            if to == from || to == "exit" || to == "build" {
                continue; // `exit` and `build` are constants of the crate root, imported by anyone
            }
            let at = format!("{}:{line}", file.strip_prefix(&agent).unwrap().display());
            graph.entry((from.clone(), to)).or_default().push(at);
        }
    }
    graph
}

#[test]
fn every_module_has_a_layer() {
    let agent = agent_dir();
    let mut files = Vec::new();
    rust_files(&agent, &mut files);
    let mut missing = BTreeSet::new();
    for file in &files {
        let module = top_module(&agent, file);
        if module != "main" && module != "lib" && layer_of(&module).is_none() {
            missing.insert(module);
        }
    }
    assert!(
        missing.is_empty(),
        "modules without a layer (add them to LAYERS here and to the README's design table): {missing:?}"
    );
}

#[test]
fn no_import_runs_from_a_lower_layer_up() {
    let mut upward = Vec::new();
    let mut places_count = 0;
    for ((from, to), places) in import_graph() {
        let (Some(low), Some(high)) = (layer_of(&from), layer_of(&to)) else {
            continue; // reported by every_module_has_a_layer, or not a module (a macro, a constant)
        };
        if GROUND.contains(&from.as_str()) || high > low || FORBIDDEN.contains(&(from.as_str(), to.as_str())) {
            places_count += places.len();
            upward.push(format!("{from} -> {to} at {}", places.join(", ")));
        }
    }
    assert!(
        upward.is_empty(),
        "{places_count} path(s) in {} pair(s) of modules run from a lower layer up, out of the ground floor or where the design forbids:\n{}",
        upward.len(),
        upward.join("\n")
    );
}

#[test]
fn no_cycle_between_top_level_modules() {
    let graph = import_graph();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to) in graph.keys() {
        if layer_of(to).is_some() {
            edges.entry(from.clone()).or_default().insert(to.clone());
        }
    }
    // A cycle exists if some module reaches itself; report each one found with its path.
    let mut cycles = Vec::new();
    for start in edges.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in edges.get(&node).into_iter().flatten() {
                if next == start {
                    cycles.push(format!("{} -> {start}", path.join(" -> ")));
                } else if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(
        cycles.is_empty(),
        "import cycles between top-level modules:\n{}",
        cycles.join("\n")
    );
}

/// The parser must see what it is looking for, so that a broken one cannot pass the real tree
/// by seeing nothing.
#[test]
fn the_parser_finds_grouped_and_plain_paths_but_not_comments() {
    let source = "use crate::{config::{Config, Device}, state::Hub,\n    model};\nlet x = crate::probe::run(); // crate::daemon\n/// [`crate::output`]\n";
    let found = crate_paths(source);
    let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["config", "state", "model", "probe"]);
    assert_eq!(found[2].0, 2, "the line of a name in a group that spans lines");
}
