//! Checks the module layering of ARCHITECTURE.md on the source itself: no import cycle
//! between top-level modules, and the few rules that keep the layers one-way (the protocol
//! and the error codes depend on nothing, the socket layer knows frames only, the log knows
//! nothing above it). Doc comments and comments are ignored: a doc link is not a dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules its code names (`crate::x`).
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut deps = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).expect("under src");
            let first = rel.components().next().expect("component");
            let module = first
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            if module == "bin" || module == "lib" || module == "layering" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            let set: &mut BTreeSet<String> = deps.entry(module.clone()).or_default();
            for line in text.lines() {
                let code = line.split("//").next().unwrap_or("");
                for (i, _) in code.match_indices("crate::") {
                    let name: String = code[i + 7..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != module {
                        set.insert(name);
                    }
                }
            }
        }
    }
    deps
}

#[test]
fn no_import_cycles() {
    let deps = dependencies();
    // Kahn's algorithm: repeatedly remove modules none of the remaining ones depend on.
    let mut left: BTreeMap<&String, BTreeSet<&String>> = deps
        .iter()
        .map(|(m, d)| (m, d.iter().filter(|x| deps.contains_key(*x)).collect()))
        .collect();
    while !left.is_empty() {
        let leaves: Vec<&String> = left
            .iter()
            .filter(|(_, d)| d.is_empty())
            .map(|(m, _)| *m)
            .collect();
        assert!(!leaves.is_empty(), "import cycle among {left:?}");
        for m in leaves {
            left.remove(m);
            for d in left.values_mut() {
                d.remove(m);
            }
        }
    }
}

#[test]
fn layers_are_one_way() {
    let deps = dependencies();
    let uses = |m: &str| deps.get(m).cloned().unwrap_or_default();
    let only = |m: &str, allowed: &[&str]| {
        let extra: Vec<String> = uses(m)
            .into_iter()
            .filter(|d| !allowed.contains(&d.as_str()))
            .collect();
        assert!(extra.is_empty(), "{m} may not depend on {extra:?}");
    };
    only("protocol", &[]);
    only("error", &[]);
    only("fs", &[]);
    only("server", &["protocol", "router", "security"]);
    // Principals, authentication and the authorizer sit low: the metadata image stores ACLs
    // and SCRAM credentials in security's types, not the other way round.
    only("security", &["config", "error", "fs", "protocol"]);
    only("peer", &[]);
    // The public test API composes nodes and names only the fault types of the router.
    only("testing", &["node", "router", "config", "peer"]);
    // The metadata quorum keeps every openraft type: only the controller (and the
    // composition in broker/node, and DescribeQuorum) may know it.
    only(
        "quorum",
        &[
            "metadata", "log", "fs", "config", "error", "protocol", "peer",
        ],
    );
    only(
        "controller",
        &["metadata", "log", "config", "error", "quorum", "security"],
    );
    let above_log = [
        "broker", "handlers", "router", "server", "node", "metadata", "group",
    ];
    for m in above_log
        .iter()
        .chain(&["replica", "controller", "coordinator", "quorum"])
    {
        assert!(!uses("log").contains(*m), "log may not depend on {m}");
    }
    assert!(
        uses("router").contains("handlers"),
        "the checker sees dependencies"
    );
}
