//! Replays every committed corpus file (tests/fuzz/corpus/<target>/) through its target, so
//! CI checks them on stable without cargo-fuzz. A failure names the file.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use hookline_fuzz_targets::TARGETS;

#[test]
fn every_corpus_file_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus");
    let mut failures = Vec::new();
    for (name, target) in TARGETS {
        let dir = root.join(name);
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()));
        let mut files = 0;
        for entry in entries {
            let path = entry.expect("a readable corpus directory").path();
            let data = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("corpus file {}: {e}", path.display()));
            files += 1;
            if catch_unwind(AssertUnwindSafe(|| target(&data))).is_err() {
                failures.push(path.display().to_string());
            }
        }
        assert!(files > 0, "corpus {} is empty", dir.display());
    }
    assert!(failures.is_empty(), "corpus files that fail: {failures:#?}");
}

#[test]
fn every_target_has_a_fuzz_target_wrapper() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz_targets");
    for (name, _) in TARGETS {
        let path = dir.join(format!("{name}.rs"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            text.contains(&format!("hookline_fuzz_targets::{name}(data)")),
            "{} does not call its target",
            path.display()
        );
    }
}
